/*
 * Unit tests for frame classification and reply rewriting
 * (dataplane/packet.c).
 *
 * Frames are built byte by byte (Ethernet, IPv4 or IPv6, UDP, a small DNS
 * query) into mbufs from a small pool; EAL runs without hugepages, PCI or
 * shared files. lv_pkt_classify() is driven through every drop reason it
 * can return, and lv_pkt_finish_reply() is checked field by field, with
 * checksums verified by an independent ones'-complement sum here and by
 * DPDK's own verify helpers.
 */
/* rte_ipv{4,6}_udptcp_cksum_verify are still experimental in 22.11 */
#define ALLOW_EXPERIMENTAL_API

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_eal.h"
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "levee/packet.h"

static struct rte_mempool *pool;

/* 192.0.2.53 (the service), 198.51.100.7 (the client), 2001:db8::53/::7 */
static const uint8_t SRV4[4] = {192, 0, 2, 53};
static const uint8_t CLI4[4] = {198, 51, 100, 7};
static const uint8_t SRV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				 0,    0,    0,    0,    0, 0, 0, 0x53};
static const uint8_t CLI6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				 0,    0,    0,    0,    0, 0, 0, 0x07};
static const uint8_t MAC_CLI[6] = {0x02, 0, 0, 0, 0, 0x07};
static const uint8_t MAC_SRV[6] = {0x02, 0, 0, 0, 0, 0x53};

/* a.example/A/IN, RD: 27 bytes */
static const uint8_t DNSQ[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00,
			       0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 'a',
			       0x07, 'e',  'x',  'a',  'm',  'p',  'l',
			       'e',  0x00, 0x00, 0x01, 0x00, 0x01};

#define ETH_LEN 14
#define V4_LEN  20
#define V6_LEN  40
#define UDP_LEN 8

struct frame {
	uint8_t b[2048];
	unsigned len;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void eth(struct frame *f, uint16_t type)
{
	memcpy(f->b, MAC_SRV, 6); /* destination: us */
	memcpy(f->b + 6, MAC_CLI, 6);
	put16(f->b + 12, type);
}

static void udp(uint8_t *p, uint16_t sport, uint16_t dport, unsigned dns_len)
{
	put16(p, sport);
	put16(p + 2, dport);
	put16(p + 4, (uint16_t)(UDP_LEN + dns_len));
	put16(p + 6, 0xabcd); /* whatever the client sent */
	memcpy(p + UDP_LEN, DNSQ,
	       dns_len < sizeof(DNSQ) ? dns_len : sizeof(DNSQ));
}

/* Client → service UDP/53 over IPv4 carrying dns_len bytes of DNSQ. */
static void v4_frame(struct frame *f, unsigned dns_len)
{
	memset(f, 0, sizeof(*f));
	eth(f, RTE_ETHER_TYPE_IPV4);
	uint8_t *ip = f->b + ETH_LEN;
	ip[0] = 0x45;
	ip[1] = 0x10; /* a TOS value the reply clears */
	put16(ip + 2, (uint16_t)(V4_LEN + UDP_LEN + dns_len));
	put16(ip + 4, 0x1111);
	put16(ip + 6, 0x4000); /* DF: not a fragment */
	ip[8] = 57;
	ip[9] = IPPROTO_UDP;
	put16(ip + 10, 0xdead); /* the classifier does not check it */
	memcpy(ip + 12, CLI4, 4);
	memcpy(ip + 16, SRV4, 4);
	udp(ip + V4_LEN, 40000, 53, dns_len);
	f->len = ETH_LEN + V4_LEN + UDP_LEN + dns_len;
}

static void v6_frame(struct frame *f, unsigned dns_len)
{
	memset(f, 0, sizeof(*f));
	eth(f, RTE_ETHER_TYPE_IPV6);
	uint8_t *ip = f->b + ETH_LEN;
	ip[0] = 0x60;
	ip[1] = 0x01; /* flow label bits */
	put16(ip + 4, (uint16_t)(UDP_LEN + dns_len));
	ip[6] = IPPROTO_UDP;
	ip[7] = 50;
	memcpy(ip + 8, CLI6, 16);
	memcpy(ip + 24, SRV6, 16);
	udp(ip + V6_LEN, 40001, 53, dns_len);
	f->len = ETH_LEN + V6_LEN + UDP_LEN + dns_len;
}

/* Push a VLAN tag (type tpid, VLAN id vid) right after the MACs, in
 * front of whatever tags or Ethernet type the frame has. */
static void tag(struct frame *f, uint16_t tpid, uint16_t vid)
{
	memmove(f->b + 16, f->b + 12, f->len - 12);
	put16(f->b + 12, tpid);
	put16(f->b + 14, vid);
	f->len += 4;
}

/* A fresh mbuf holding the frame. */
static struct rte_mbuf *load(const struct frame *f)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	assert_non_null(m);
	char *p = rte_pktmbuf_append(m, (uint16_t)f->len);
	assert_non_null(p);
	memcpy(p, f->b, f->len);
	return m;
}

static const struct lv_addr_filter ANY;

/* Classify frame f (with ol_flags) against filter flt. */
static unsigned classify_flags(const struct frame *f,
			       const struct lv_addr_filter *flt,
			       uint64_t ol_flags, struct lv_pkt_info *pi)
{
	struct rte_mbuf *m = load(f);
	m->ol_flags = ol_flags;
	memset(pi, 0xee, sizeof(*pi));
	unsigned v = lv_pkt_classify(m, flt, pi);
	rte_pktmbuf_free(m);
	return v;
}

static unsigned classify(const struct frame *f, struct lv_pkt_info *pi)
{
	return classify_flags(f, &ANY, 0, pi);
}

#define DROP(r) LV_PKT_DROP(LV_DROP_##r)

/* --- classification --- */

static void test_v4_ok(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	v4_frame(&f, sizeof(DNSQ));
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	assert_int_equal(pi.l3_off, ETH_LEN);
	assert_int_equal(pi.l4_off, ETH_LEN + V4_LEN);
	assert_int_equal(pi.dns_off, ETH_LEN + V4_LEN + UDP_LEN);
	assert_int_equal(pi.dns_len, sizeof(DNSQ));
	assert_int_equal(pi.ipv6, 0);

	/* an empty UDP payload is classified (the DNS parser calls it a
	 * runt) */
	v4_frame(&f, 0);
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	assert_int_equal(pi.dns_len, 0);
}

static void test_v6_ok(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	v6_frame(&f, sizeof(DNSQ));
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	assert_int_equal(pi.l3_off, ETH_LEN);
	assert_int_equal(pi.l4_off, ETH_LEN + V6_LEN);
	assert_int_equal(pi.dns_off, ETH_LEN + V6_LEN + UDP_LEN);
	assert_int_equal(pi.dns_len, sizeof(DNSQ));
	assert_int_equal(pi.ipv6, 1);
}

static void test_not_ip(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	/* ARP */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + 12, RTE_ETHER_TYPE_ARP);
	assert_int_equal(classify(&f, &pi), DROP(NOT_IP));

	/* IPv6 ethertype over an IPv4 header */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + 12, RTE_ETHER_TYPE_IPV6);
	f.len += 20;
	assert_int_equal(classify(&f, &pi), DROP(NOT_IP));
}

static void test_v4_options(void **state)
{
	(void)state;
	struct frame f, o;
	struct lv_pkt_info pi;

	/* ihl 6: four bytes of options (NOPs) before UDP */
	v4_frame(&f, sizeof(DNSQ));
	memcpy(o.b, f.b, ETH_LEN + V4_LEN);
	memset(o.b + ETH_LEN + V4_LEN, 1, 4);
	memcpy(o.b + ETH_LEN + V4_LEN + 4, f.b + ETH_LEN + V4_LEN,
	       f.len - ETH_LEN - V4_LEN);
	o.len = f.len + 4;
	o.b[ETH_LEN] = 0x46;
	put16(o.b + ETH_LEN + 2, (uint16_t)(o.len - ETH_LEN));
	assert_int_equal(classify(&o, &pi), DROP(IP_OPTIONS));
	/* ihl 15 */
	o.b[ETH_LEN] = 0x4f;
	assert_int_equal(classify(&o, &pi), DROP(IP_OPTIONS));
	/* ihl below 5 is no valid header: not IPv4 */
	v4_frame(&f, sizeof(DNSQ));
	f.b[ETH_LEN] = 0x44;
	assert_int_equal(classify(&f, &pi), LV_PKT_DROP(LV_DROP_NOT_IP));
	/* nor is version 6 under the IPv4 ethertype */
	f.b[ETH_LEN] = 0x65;
	assert_int_equal(classify(&f, &pi), LV_PKT_DROP(LV_DROP_NOT_IP));
}

static void test_v4_fragment(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + 6, 0x2000); /* MF */
	assert_int_equal(classify(&f, &pi), DROP(FRAGMENT));
	put16(f.b + ETH_LEN + 6, 0x0001); /* offset 8 */
	assert_int_equal(classify(&f, &pi), DROP(FRAGMENT));
	put16(f.b + ETH_LEN + 6, 0x5fff); /* DF|MF, last offset */
	assert_int_equal(classify(&f, &pi), DROP(FRAGMENT));
	put16(f.b + ETH_LEN + 6, 0x1fff); /* largest offset */
	assert_int_equal(classify(&f, &pi), DROP(FRAGMENT));
	put16(f.b + ETH_LEN + 6, 0x0000); /* no DF: a whole datagram */
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	put16(f.b + ETH_LEN + 6, 0x8000); /* the reserved bit alone */
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
}

static void test_v6_extension_headers(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;
	static const struct {
		uint8_t next;
		unsigned verdict;
	} cases[] = {
	    {IPPROTO_FRAGMENT, DROP(FRAGMENT)},
	    {IPPROTO_HOPOPTS, DROP(IP_OPTIONS)},
	    {IPPROTO_ROUTING, DROP(IP_OPTIONS)},
	    {IPPROTO_DSTOPTS, DROP(IP_OPTIONS)},
	    {IPPROTO_AH, DROP(IP_OPTIONS)},
	    {IPPROTO_ESP, DROP(IP_OPTIONS)},
	    {135, DROP(IP_OPTIONS)},
	    {IPPROTO_TCP, DROP(NOT_UDP)},
	    {IPPROTO_ICMPV6, DROP(NOT_UDP)},
	    {59 /* no next header */, DROP(NOT_UDP)},
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* the UDP header follows an 8-byte extension header that
		 * names UDP next: the classifier must not look through it */
		struct frame x;
		v6_frame(&f, sizeof(DNSQ));
		memcpy(x.b, f.b, ETH_LEN + V6_LEN);
		memset(x.b + ETH_LEN + V6_LEN, 0, 8);
		x.b[ETH_LEN + V6_LEN] = IPPROTO_UDP;
		memcpy(x.b + ETH_LEN + V6_LEN + 8, f.b + ETH_LEN + V6_LEN,
		       f.len - ETH_LEN - V6_LEN);
		x.len = f.len + 8;
		x.b[ETH_LEN + 6] = cases[i].next;
		put16(x.b + ETH_LEN + 4, (uint16_t)(x.len - ETH_LEN - V6_LEN));
		assert_int_equal(classify(&x, &pi), cases[i].verdict);
	}
}

static void test_not_udp(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	v4_frame(&f, sizeof(DNSQ));
	f.b[ETH_LEN + 9] = IPPROTO_TCP;
	assert_int_equal(classify(&f, &pi), DROP(NOT_UDP));
	f.b[ETH_LEN + 9] = IPPROTO_ICMP;
	assert_int_equal(classify(&f, &pi), DROP(NOT_UDP));
	v6_frame(&f, sizeof(DNSQ));
	f.b[ETH_LEN + 6] = IPPROTO_TCP;
	assert_int_equal(classify(&f, &pi), DROP(NOT_UDP));
}

static void test_not_port53(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + V4_LEN + 2, 5353);
	assert_int_equal(classify(&f, &pi), DROP(NOT_PORT53));
	/* from port 53 to another port: a response to someone, not a query */
	put16(f.b + ETH_LEN + V4_LEN, 53);
	put16(f.b + ETH_LEN + V4_LEN + 2, 40000);
	assert_int_equal(classify(&f, &pi), DROP(NOT_PORT53));
	/* byte order: 53 << 8 */
	put16(f.b + ETH_LEN + V4_LEN + 2, 0x3500);
	assert_int_equal(classify(&f, &pi), DROP(NOT_PORT53));

	v6_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + V6_LEN + 2, 5353);
	assert_int_equal(classify(&f, &pi), DROP(NOT_PORT53));
}

static void test_truncated(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	/* IPv4 total length beyond the frame (a snap length cut it) */
	v4_frame(&f, sizeof(DNSQ));
	f.len -= 1;
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + 2, 0xffff);
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));
	/* total length below the header */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + 2, 19);
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));
	put16(f.b + ETH_LEN + 2, 0);
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));
	/* IP payload too short for a UDP header */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + 2, V4_LEN + 7);
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));

	/* UDP length beyond the IP payload */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + V4_LEN + 4, UDP_LEN + sizeof(DNSQ) + 1);
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));
	/* UDP length below its own header */
	put16(f.b + ETH_LEN + V4_LEN + 4, 7);
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));
	put16(f.b + ETH_LEN + V4_LEN + 4, 0);
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));

	/* IPv6 payload length beyond the frame */
	v6_frame(&f, sizeof(DNSQ));
	f.len -= 1;
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));
	v6_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + V6_LEN + 4, UDP_LEN + sizeof(DNSQ) + 1);
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));
	/* payload length 0 (a jumbogram, or nothing) */
	v6_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + 4, 0);
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));
}

static void test_ethernet_padding(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	/* a 5-byte payload padded to the 60-byte minimum frame */
	v4_frame(&f, 5);
	assert_int_equal(f.len, 47);
	memset(f.b + f.len, 0x55, 60 - f.len);
	f.len = 60;
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	assert_int_equal(pi.dns_len, 5);

	/* a full query with trailing bytes after the IP datagram */
	v4_frame(&f, sizeof(DNSQ));
	memset(f.b + f.len, 0xaa, 100);
	f.len += 100;
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	assert_int_equal(pi.dns_len, sizeof(DNSQ));

	/* the UDP length shorter than the IP payload: UDP decides */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + V4_LEN + 4, UDP_LEN + 12);
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	assert_int_equal(pi.dns_len, 12);

	v6_frame(&f, sizeof(DNSQ));
	memset(f.b + f.len, 0, 20);
	f.len += 20;
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	assert_int_equal(pi.dns_len, sizeof(DNSQ));
}

static void test_bad_checksum(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	v4_frame(&f, sizeof(DNSQ));
	assert_int_equal(
	    classify_flags(&f, &ANY, RTE_MBUF_F_RX_IP_CKSUM_BAD, &pi),
	    DROP(BAD_CHECKSUM));
	assert_int_equal(
	    classify_flags(&f, &ANY, RTE_MBUF_F_RX_L4_CKSUM_BAD, &pi),
	    DROP(BAD_CHECKSUM));
	assert_int_equal(classify_flags(&f, &ANY,
					RTE_MBUF_F_RX_IP_CKSUM_GOOD |
					    RTE_MBUF_F_RX_L4_CKSUM_BAD,
					&pi),
			 DROP(BAD_CHECKSUM));
	assert_int_equal(classify_flags(&f, &ANY,
					RTE_MBUF_F_RX_IP_CKSUM_GOOD |
					    RTE_MBUF_F_RX_L4_CKSUM_GOOD,
					&pi),
			 LV_PKT_DNS);
	assert_int_equal(classify_flags(&f, &ANY, RTE_MBUF_F_RX_RSS_HASH, &pi),
			 LV_PKT_DNS);

	v6_frame(&f, sizeof(DNSQ));
	assert_int_equal(
	    classify_flags(&f, &ANY, RTE_MBUF_F_RX_L4_CKSUM_BAD, &pi),
	    DROP(BAD_CHECKSUM));
	assert_int_equal(
	    classify_flags(&f, &ANY, RTE_MBUF_F_RX_L4_CKSUM_GOOD, &pi),
	    LV_PKT_DNS);
}

/*
 * Known bug (dataplane/packet.c, classify_udp and classify_ipv4): the
 * checksum state is a two-bit field, and RTE_MBUF_F_RX_{IP,L4}_CKSUM_NONE
 * is BAD|GOOD ("not correct in the packet data, but the integrity is
 * verified" — virtio reports it for guest-to-guest traffic). Testing the
 * BAD bit alone dropped those valid frames as BAD_CHECKSUM (a regression
 * test: the classifier now compares the two-bit state).
 */
static void test_checksum_none_is_not_bad(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	v4_frame(&f, sizeof(DNSQ));
	assert_int_equal(
	    classify_flags(&f, &ANY, RTE_MBUF_F_RX_L4_CKSUM_NONE, &pi),
	    LV_PKT_DNS);
	assert_int_equal(
	    classify_flags(&f, &ANY, RTE_MBUF_F_RX_IP_CKSUM_NONE, &pi),
	    LV_PKT_DNS);
	v6_frame(&f, sizeof(DNSQ));
	assert_int_equal(
	    classify_flags(&f, &ANY, RTE_MBUF_F_RX_L4_CKSUM_NONE, &pi),
	    LV_PKT_DNS);
}

static void test_address_filter(void **state)
{
	(void)state;
	struct frame f4, f6;
	struct lv_pkt_info pi;
	struct lv_addr_filter flt;

	v4_frame(&f4, sizeof(DNSQ));
	v6_frame(&f6, sizeof(DNSQ));

	/* empty lists: any destination */
	memset(&flt, 0, sizeof(flt));
	assert_int_equal(classify_flags(&f4, &flt, 0, &pi), LV_PKT_DNS);
	assert_int_equal(classify_flags(&f6, &flt, 0, &pi), LV_PKT_DNS);

	/* two v4 addresses, ours second; one v6 */
	flt.n_v4 = 2;
	memcpy(&flt.v4[0], CLI4, 4);
	memcpy(&flt.v4[1], SRV4, 4);
	flt.n_v6 = 1;
	memcpy(flt.v6[0], SRV6, 16);
	assert_int_equal(classify_flags(&f4, &flt, 0, &pi), LV_PKT_DNS);
	assert_int_equal(classify_flags(&f6, &flt, 0, &pi), LV_PKT_DNS);

	/* another destination */
	struct frame o4 = f4, o6 = f6;
	o4.b[ETH_LEN + 19] = 54;
	o6.b[ETH_LEN + 39] = 0x54;
	assert_int_equal(classify_flags(&o4, &flt, 0, &pi),
			 DROP(NOT_OUR_ADDRESS));
	assert_int_equal(classify_flags(&o6, &flt, 0, &pi),
			 DROP(NOT_OUR_ADDRESS));
	/* the source address is not what is matched */
	memcpy(o4.b + ETH_LEN + 12, SRV4, 4);
	assert_int_equal(classify_flags(&o4, &flt, 0, &pi),
			 DROP(NOT_OUR_ADDRESS));

	/* only IPv6 service addresses: IPv4 is answered nowhere (the lists
	 * are "any" only when both are empty) */
	memset(&flt, 0, sizeof(flt));
	flt.n_v6 = 1;
	memcpy(flt.v6[0], SRV6, 16);
	assert_int_equal(classify_flags(&f4, &flt, 0, &pi),
			 DROP(NOT_OUR_ADDRESS));
	assert_int_equal(classify_flags(&f6, &flt, 0, &pi), LV_PKT_DNS);
	/* and the other way round */
	memset(&flt, 0, sizeof(flt));
	flt.n_v4 = 1;
	memcpy(&flt.v4[0], SRV4, 4);
	assert_int_equal(classify_flags(&f4, &flt, 0, &pi), LV_PKT_DNS);
	assert_int_equal(classify_flags(&f6, &flt, 0, &pi),
			 DROP(NOT_OUR_ADDRESS));

	/* a full list, ours last */
	memset(&flt, 0, sizeof(flt));
	flt.n_v4 = LV_MAX_SERVICE_ADDRS;
	for (unsigned i = 0; i < LV_MAX_SERVICE_ADDRS; i++)
		flt.v4[i] = rte_cpu_to_be_32(0x0a000000u + i);
	memcpy(&flt.v4[LV_MAX_SERVICE_ADDRS - 1], SRV4, 4);
	assert_int_equal(classify_flags(&f4, &flt, 0, &pi), LV_PKT_DNS);
}

/* What the classifier drops for f (against flt), and whether that frame
 * would go to the kernel on a live port. */
static bool for_kernel(const struct frame *f, const struct lv_addr_filter *flt)
{
	struct lv_pkt_info pi;
	struct rte_mbuf *m = load(f);
	unsigned v = lv_pkt_classify(m, flt, &pi);
	bool k =
	    v != LV_PKT_DNS && lv_pkt_for_kernel(m, flt, LV_PKT_DROP_REASON(v));
	rte_pktmbuf_free(m);
	return k;
}

static void test_exception_path_choice(void **state)
{
	(void)state;
	struct frame f;
	struct lv_addr_filter flt;
	static const uint8_t MCAST4[4] = {224, 0, 0, 251};
	static const uint8_t SOLICITED[16] = {0xff, 2, 0, 0, 0,    0, 0, 0,
					      0,    0, 0, 1, 0xff, 0, 0, 0x53};

	memset(&flt, 0, sizeof(flt));
	flt.n_v4 = 1;
	memcpy(&flt.v4[0], SRV4, 4);
	flt.n_v6 = 1;
	memcpy(flt.v6[0], SRV6, 16);

	/* a query for us is answered, never handed on */
	v4_frame(&f, sizeof(DNSQ));
	assert_false(for_kernel(&f, &flt));
	/* ARP goes to the kernel; a tag in front of something that is
	 * neither IP nor ARP (here the IPv4 header read as a tag) does not */
	put16(f.b + 12, RTE_ETHER_TYPE_ARP);
	assert_true(for_kernel(&f, &flt));
	put16(f.b + 12, RTE_ETHER_TYPE_VLAN);
	assert_false(for_kernel(&f, &flt));
	/* tagged ARP, and tagged TCP to a service address, go with their
	 * tags; a frame with three tags does not */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + 12, RTE_ETHER_TYPE_ARP);
	tag(&f, RTE_ETHER_TYPE_VLAN, 100);
	assert_true(for_kernel(&f, &flt));
	v4_frame(&f, sizeof(DNSQ));
	f.b[ETH_LEN + 9] = IPPROTO_TCP;
	tag(&f, RTE_ETHER_TYPE_VLAN, 100);
	assert_true(for_kernel(&f, &flt));
	tag(&f, RTE_ETHER_TYPE_QINQ, 7);
	assert_true(for_kernel(&f, &flt));
	tag(&f, RTE_ETHER_TYPE_QINQ, 8);
	assert_false(for_kernel(&f, &flt));
	/* a query from a source never answered is dropped, not handed on */
	v4_frame(&f, sizeof(DNSQ));
	f.b[ETH_LEN + 12] = 127;
	assert_false(for_kernel(&f, &flt));
	/* TCP and ICMP to a service address: the kernel's */
	v4_frame(&f, sizeof(DNSQ));
	f.b[ETH_LEN + 9] = IPPROTO_TCP;
	assert_true(for_kernel(&f, &flt));
	f.b[ETH_LEN + 9] = IPPROTO_ICMP;
	assert_true(for_kernel(&f, &flt));
	/* ... to some other unicast address: not ours, dropped */
	memcpy(f.b + ETH_LEN + 16, CLI4, 4);
	assert_false(for_kernel(&f, &flt));
	/* UDP to another port on a multicast group: the kernel's */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + V4_LEN + 2, 5353);
	memcpy(f.b + ETH_LEN + 16, MCAST4, 4);
	assert_true(for_kernel(&f, &flt));
	/* UDP/53 to another address: dropped */
	v4_frame(&f, sizeof(DNSQ));
	memcpy(f.b + ETH_LEN + 16, CLI4, 4);
	assert_false(for_kernel(&f, &flt));
	/* a fragment for us: the kernel reassembles it */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + 6, 0x2000);
	assert_true(for_kernel(&f, &flt));
	/* broken frames stay dropped: cut short */
	v4_frame(&f, sizeof(DNSQ));
	f.b[ETH_LEN + 9] = IPPROTO_TCP;
	f.len -= 10;
	assert_false(for_kernel(&f, &flt));
	/* IPv6: neighbour solicitation to the solicited-node group, and
	 * TCP to the service address, go; TCP elsewhere does not */
	v6_frame(&f, sizeof(DNSQ));
	f.b[ETH_LEN + 6] = IPPROTO_ICMPV6;
	memcpy(f.b + ETH_LEN + 24, SOLICITED, 16);
	assert_true(for_kernel(&f, &flt));
	v6_frame(&f, sizeof(DNSQ));
	f.b[ETH_LEN + 6] = IPPROTO_TCP;
	assert_true(for_kernel(&f, &flt));
	memcpy(f.b + ETH_LEN + 24, CLI6, 16);
	assert_false(for_kernel(&f, &flt));
	/* to a link-local address (the TAP's): the kernel's */
	static const uint8_t LL[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0,
				       0,    0,    0, 0, 0, 0, 0, 0x53};
	memcpy(f.b + ETH_LEN + 24, LL, 16);
	assert_true(for_kernel(&f, &flt));
}

/* One or two VLAN tags: classified by what they carry, the layers found
 * past the tags. */
static void test_vlan(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	/* 802.1Q, IPv4 */
	v4_frame(&f, sizeof(DNSQ));
	tag(&f, RTE_ETHER_TYPE_VLAN, 100);
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	assert_int_equal(pi.l3_off, ETH_LEN + 4);
	assert_int_equal(pi.l4_off, ETH_LEN + 4 + V4_LEN);
	assert_int_equal(pi.dns_off, ETH_LEN + 4 + V4_LEN + UDP_LEN);
	assert_int_equal(pi.dns_len, sizeof(DNSQ));
	assert_int_equal(pi.ipv6, 0);
	/* 802.1ad outer tag over an 802.1Q inner one, IPv6 */
	v6_frame(&f, sizeof(DNSQ));
	tag(&f, RTE_ETHER_TYPE_VLAN, 100);
	tag(&f, RTE_ETHER_TYPE_QINQ, 200);
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	assert_int_equal(pi.l3_off, ETH_LEN + 8);
	assert_int_equal(pi.dns_off, ETH_LEN + 8 + V6_LEN + UDP_LEN);
	assert_int_equal(pi.ipv6, 1);
	/* a lone 802.1ad tag */
	v4_frame(&f, sizeof(DNSQ));
	tag(&f, RTE_ETHER_TYPE_QINQ, 100);
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	assert_int_equal(pi.l3_off, ETH_LEN + 4);
	/* three tags: not looked through, and not "not IP" */
	tag(&f, RTE_ETHER_TYPE_VLAN, 1);
	tag(&f, RTE_ETHER_TYPE_QINQ, 2);
	assert_int_equal(classify(&f, &pi), DROP(VLAN_NOT_IP));
	/* a tagged ARP */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + 12, RTE_ETHER_TYPE_ARP);
	tag(&f, RTE_ETHER_TYPE_VLAN, 100);
	assert_int_equal(classify(&f, &pi), DROP(VLAN_NOT_IP));
	/* what is inside is judged as untagged: options, another port */
	v4_frame(&f, sizeof(DNSQ));
	f.b[ETH_LEN] = 0x46;
	tag(&f, RTE_ETHER_TYPE_VLAN, 100);
	assert_int_equal(classify(&f, &pi), DROP(IP_OPTIONS));
	v6_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + V6_LEN + 2, 5353);
	tag(&f, RTE_ETHER_TYPE_VLAN, 100);
	assert_int_equal(classify(&f, &pi), DROP(NOT_PORT53));
	/* cut short: in the tag, at the inner type, in the IP header */
	v4_frame(&f, sizeof(DNSQ));
	tag(&f, RTE_ETHER_TYPE_VLAN, 100);
	for (unsigned len = ETH_LEN; len < ETH_LEN + 4; len++) {
		f.len = len;
		assert_int_equal(classify(&f, &pi), DROP(RUNT_L2));
	}
	f.len = ETH_LEN + 4 + V4_LEN - 1;
	assert_int_equal(classify(&f, &pi), DROP(RUNT_L2));
	v4_frame(&f, sizeof(DNSQ));
	tag(&f, RTE_ETHER_TYPE_VLAN, 100);
	tag(&f, RTE_ETHER_TYPE_QINQ, 100);
	f.len = ETH_LEN + 6;
	assert_int_equal(classify(&f, &pi), DROP(RUNT_L2));
}

/* Classify f from IPv4 source src (four bytes). */
static unsigned classify_from4(struct frame *f, uint8_t a, uint8_t b, uint8_t c,
			       uint8_t d, const struct lv_addr_filter *flt)
{
	struct lv_pkt_info pi;
	const uint8_t src[4] = {a, b, c, d};

	memcpy(f->b + ETH_LEN + 12, src, 4);
	return classify_flags(f, flt, 0, &pi);
}

static void test_bad_source_v4(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	v4_frame(&f, sizeof(DNSQ));
	/* 0/8, 127/8, 224/4, the limited broadcast */
	assert_int_equal(classify_from4(&f, 0, 0, 0, 0, &ANY),
			 DROP(BAD_SOURCE));
	assert_int_equal(classify_from4(&f, 0, 255, 255, 255, &ANY),
			 DROP(BAD_SOURCE));
	assert_int_equal(classify_from4(&f, 127, 0, 0, 1, &ANY),
			 DROP(BAD_SOURCE));
	assert_int_equal(classify_from4(&f, 127, 255, 255, 254, &ANY),
			 DROP(BAD_SOURCE));
	assert_int_equal(classify_from4(&f, 224, 0, 0, 0, &ANY),
			 DROP(BAD_SOURCE));
	assert_int_equal(classify_from4(&f, 239, 255, 255, 255, &ANY),
			 DROP(BAD_SOURCE));
	assert_int_equal(classify_from4(&f, 255, 255, 255, 255, &ANY),
			 DROP(BAD_SOURCE));
	/* their neighbours are answered */
	assert_int_equal(classify_from4(&f, 1, 0, 0, 0, &ANY), LV_PKT_DNS);
	assert_int_equal(classify_from4(&f, 126, 255, 255, 255, &ANY),
			 LV_PKT_DNS);
	assert_int_equal(classify_from4(&f, 128, 0, 0, 0, &ANY), LV_PKT_DNS);
	assert_int_equal(classify_from4(&f, 223, 255, 255, 255, &ANY),
			 LV_PKT_DNS);
	assert_int_equal(classify_from4(&f, 240, 0, 0, 1, &ANY), LV_PKT_DNS);
	assert_int_equal(classify_from4(&f, 255, 255, 255, 254, &ANY),
			 LV_PKT_DNS);

	/* UDP source port 0; an IPv4 checksum of 0 is "none" and fine */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + V4_LEN, 0);
	assert_int_equal(classify(&f, &pi), DROP(SOURCE_PORT_0));
	put16(f.b + ETH_LEN + V4_LEN, 1);
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	put16(f.b + ETH_LEN + V4_LEN + 6, 0);
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);

	/* only queries we would answer are judged by their source: to
	 * another port, to another address, they keep their verdict */
	v4_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + V4_LEN + 2, 5353);
	assert_int_equal(classify_from4(&f, 127, 0, 0, 1, &ANY),
			 DROP(NOT_PORT53));
	struct lv_addr_filter flt;
	memset(&flt, 0, sizeof(flt));
	assert_int_equal(lv_addr_filter_add(&flt, false, CLI4, 32), 0);
	v4_frame(&f, sizeof(DNSQ));
	assert_int_equal(classify_from4(&f, 0, 0, 0, 0, &flt),
			 DROP(NOT_OUR_ADDRESS));
}

/* The directed broadcast of each service address's subnet. */
static void test_bad_source_broadcast(void **state)
{
	(void)state;
	struct frame f;
	struct lv_addr_filter flt;
	static const uint8_t NET10[4] = {10, 1, 2, 3};

	memset(&flt, 0, sizeof(flt));
	assert_int_equal(lv_addr_filter_add(&flt, false, SRV4, 24), 0);
	assert_int_equal(lv_addr_filter_add(&flt, true, SRV6, 64), 0);
	assert_int_equal(lv_addr_filter_add(&flt, false, NET10, 9), 0);
	/* the same subnet again: one broadcast */
	static const uint8_t SRV4B[4] = {192, 0, 2, 54};
	assert_int_equal(lv_addr_filter_add(&flt, false, SRV4B, 24), 0);
	assert_int_equal(flt.n_v4, 3);
	assert_int_equal(flt.n_v6, 1);
	assert_int_equal(flt.n_v4_bcast, 2);
	assert_int_equal(rte_be_to_cpu_32(flt.v4_bcast[0]), 0xc00002ff);
	assert_int_equal(rte_be_to_cpu_32(flt.v4_bcast[1]), 0x0a7fffff);

	v4_frame(&f, sizeof(DNSQ));
	assert_int_equal(classify_from4(&f, 192, 0, 2, 255, &flt),
			 DROP(BAD_SOURCE));
	assert_int_equal(classify_from4(&f, 10, 127, 255, 255, &flt),
			 DROP(BAD_SOURCE));
	/* a host on the subnet, and the network address, are answered */
	assert_int_equal(classify_from4(&f, 192, 0, 2, 254, &flt), LV_PKT_DNS);
	assert_int_equal(classify_from4(&f, 192, 0, 2, 0, &flt), LV_PKT_DNS);
	assert_int_equal(classify_from4(&f, 10, 255, 255, 255, &flt),
			 LV_PKT_DNS);

	/* /31 (RFC 3021) and /32 have no broadcast */
	memset(&flt, 0, sizeof(flt));
	assert_int_equal(lv_addr_filter_add(&flt, false, SRV4, 31), 0);
	assert_int_equal(lv_addr_filter_add(&flt, false, NET10, 32), 0);
	assert_int_equal(flt.n_v4_bcast, 0);
	assert_int_equal(classify_from4(&f, 192, 0, 2, 53, &flt), LV_PKT_DNS);
	/* /0: everything is the one subnet, 255.255.255.255 its broadcast */
	assert_int_equal(lv_addr_filter_add(&flt, false, NET10, 0), 0);
	assert_int_equal(flt.n_v4_bcast, 1);
	assert_int_equal(flt.v4_bcast[0], UINT32_MAX);

	/* full */
	memset(&flt, 0, sizeof(flt));
	for (unsigned i = 0; i < LV_MAX_SERVICE_ADDRS; i++)
		assert_int_equal(
		    lv_addr_filter_add(&flt, i & 1, i & 1 ? SRV6 : SRV4, 24),
		    0);
	assert_int_equal(lv_addr_filter_add(&flt, false, SRV4, 24), -1);
	assert_int_equal(lv_addr_filter_add(&flt, true, SRV6, 64), -1);
	assert_int_equal(flt.n_v4 + flt.n_v6, LV_MAX_SERVICE_ADDRS);
}

static void test_bad_source_v6(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;
	uint8_t *src = f.b + ETH_LEN + 8;
	static const uint8_t ALL_NODES[16] = {0xff, 2, 0, 0, 0, 0, 0, 0,
					      0,    0, 0, 0, 0, 0, 0, 1};

	v6_frame(&f, sizeof(DNSQ));
	memcpy(src, ALL_NODES, 16);
	assert_int_equal(classify(&f, &pi), DROP(BAD_SOURCE));
	src[1] = 0x0e; /* ff0e:: global scope */
	assert_int_equal(classify(&f, &pi), DROP(BAD_SOURCE));
	src[0] = 0xfe; /* fe0e::1: not multicast */
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	/* :: and ::1; ::2 and 1:: are answered */
	memset(src, 0, 16);
	assert_int_equal(classify(&f, &pi), DROP(BAD_SOURCE));
	src[15] = 1;
	assert_int_equal(classify(&f, &pi), DROP(BAD_SOURCE));
	src[15] = 2;
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	src[15] = 0;
	src[0] = 1;
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	src[0] = 0;
	src[7] = 1;
	src[15] = 1;
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);

	/* UDP checksum 0 is not allowed over IPv6; source port 0 */
	v6_frame(&f, sizeof(DNSQ));
	put16(f.b + ETH_LEN + V6_LEN + 6, 0);
	assert_int_equal(classify(&f, &pi), DROP(UDP6_ZERO_CHECKSUM));
	put16(f.b + ETH_LEN + V6_LEN + 6, 0xffff);
	assert_int_equal(classify(&f, &pi), LV_PKT_DNS);
	put16(f.b + ETH_LEN + V6_LEN, 0);
	assert_int_equal(classify(&f, &pi), DROP(SOURCE_PORT_0));
	/* both: the checksum is the first check */
	put16(f.b + ETH_LEN + V6_LEN + 6, 0);
	assert_int_equal(classify(&f, &pi), DROP(UDP6_ZERO_CHECKSUM));
	/* tagged frames are judged alike */
	v6_frame(&f, sizeof(DNSQ));
	memcpy(f.b + ETH_LEN + 8, ALL_NODES, 16);
	tag(&f, RTE_ETHER_TYPE_VLAN, 5);
	assert_int_equal(classify(&f, &pi), DROP(BAD_SOURCE));
}

static void test_runt(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	v4_frame(&f, sizeof(DNSQ));
	for (unsigned n = 0; n < ETH_LEN; n++) {
		f.len = n;
		assert_int_equal(classify(&f, &pi), DROP(RUNT_L2));
	}
	/* an IPv4 ethertype and a partial header */
	for (unsigned n = ETH_LEN; n < ETH_LEN + V4_LEN; n++) {
		f.len = n;
		assert_int_equal(classify(&f, &pi), DROP(RUNT_L2));
	}
	/* a whole IPv4 header, the UDP header cut: truncated */
	v4_frame(&f, sizeof(DNSQ));
	f.len = ETH_LEN + V4_LEN + 4;
	put16(f.b + ETH_LEN + 2, V4_LEN + 4);
	assert_int_equal(classify(&f, &pi), DROP(TRUNCATED));

	v6_frame(&f, sizeof(DNSQ));
	for (unsigned n = ETH_LEN; n < ETH_LEN + V6_LEN; n++) {
		f.len = n;
		assert_int_equal(classify(&f, &pi), DROP(RUNT_L2));
	}
}

static void test_multi_segment(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;

	v4_frame(&f, sizeof(DNSQ));
	struct rte_mbuf *m = load(&f);
	struct rte_mbuf *tail = rte_pktmbuf_alloc(pool);
	assert_non_null(tail);
	assert_non_null(rte_pktmbuf_append(tail, 10));
	assert_int_equal(rte_pktmbuf_chain(m, tail), 0);
	assert_int_equal(lv_pkt_classify(m, &ANY, &pi), DROP(MULTI_SEGMENT));
	rte_pktmbuf_free(m);
}

/* Random frames: a verdict, and DNS bytes inside the frame. */
static void test_random_frames(void **state)
{
	(void)state;
	uint64_t s = 0x1234567;
	struct frame f;
	struct lv_pkt_info pi;
	unsigned dns = 0;

	for (unsigned iter = 0; iter < 20000; iter++) {
		if (iter & 1)
			v4_frame(&f, sizeof(DNSQ));
		else
			v6_frame(&f, sizeof(DNSQ));
		/* a few random bytes in the headers, a random length */
		for (unsigned k = 0; k < 3; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			unsigned at =
			    (unsigned)(s >> 33) % (ETH_LEN + V6_LEN + UDP_LEN);
			f.b[at] = (uint8_t)(s >> 20);
		}
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		if ((s >> 40) % 4 == 0)
			f.len = (unsigned)(s >> 33) % (f.len + 32);
		unsigned v = classify(&f, &pi);
		assert_true(v == LV_PKT_DNS || (v >= 1 && v <= LV_DROP_MAX));
		if (v == LV_PKT_DNS) {
			dns++;
			assert_true(pi.dns_off + pi.dns_len <= f.len);
			assert_int_equal(pi.dns_off, pi.l4_off + UDP_LEN);
			assert_int_equal(
			    pi.l4_off, pi.l3_off + (pi.ipv6 ? V6_LEN : V4_LEN));
			assert_int_equal(get16(f.b + pi.l4_off + 2), 53);
		}
	}
	assert_true(dns > 0);
}

/* --- finish_reply --- */

/* Ones'-complement sum of 16-bit big-endian words (odd tail padded). */
static uint32_t sum16(uint32_t s, const uint8_t *p, unsigned n)
{
	for (unsigned i = 0; i + 1 < n; i += 2)
		s += get16(p + i);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The pseudo-header sum (RFC 768, RFC 8200 §8.1) of the frame's UDP. */
static uint32_t pseudo_sum(const uint8_t *frame, int v6, unsigned udp_len)
{
	const uint8_t *ip = frame + ETH_LEN;
	uint32_t s = 0;
	if (v6)
		s = sum16(s, ip + 8, 32);
	else
		s = sum16(s, ip + 12, 8);
	return s + IPPROTO_UDP + udp_len;
}

/* A reply of dns_len bytes written over the query in m (the DNS bytes). */
static void write_dns(struct rte_mbuf *m, const struct lv_pkt_info *pi,
		      unsigned dns_len)
{
	uint8_t *d = rte_pktmbuf_mtod_offset(m, uint8_t *, pi->dns_off);
	assert_true(pi->dns_off + dns_len <=
		    (unsigned)(m->buf_len - m->data_off));
	for (unsigned i = 0; i < dns_len; i++)
		d[i] = (uint8_t)(i * 13 + 1);
	d[2] |= 0x80; /* QR */
}

/* Classify f, write a dns_len reply, finish it. */
static struct rte_mbuf *reply(const struct frame *f, unsigned dns_len,
			      const struct lv_tx_offload *tx,
			      struct lv_pkt_info *pi)
{
	struct rte_mbuf *m = load(f);
	m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD |
		      RTE_MBUF_F_RX_L4_CKSUM_GOOD | RTE_MBUF_F_RX_RSS_HASH;
	assert_int_equal(lv_pkt_classify(m, &ANY, pi), LV_PKT_DNS);
	assert_true(lv_pkt_dns_room(m, pi) >= dns_len);
	write_dns(m, pi, dns_len);
	lv_pkt_finish_reply(m, pi, (uint16_t)dns_len, tx);
	return m;
}

static void check_common(struct rte_mbuf *m, const struct lv_pkt_info *pi,
			 unsigned dns_len, uint16_t client_port)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	assert_int_equal(m->data_len, pi->dns_off + dns_len);
	assert_int_equal(m->pkt_len, pi->dns_off + dns_len);
	assert_int_equal(m->nb_segs, 1);
	assert_memory_equal(p, MAC_CLI, 6);
	assert_memory_equal(p + 6, MAC_SRV, 6);
	const uint8_t *u = p + pi->l4_off;
	assert_int_equal(get16(u), 53);
	assert_int_equal(get16(u + 2), client_port);
	assert_int_equal(get16(u + 4), UDP_LEN + dns_len);
	for (unsigned i = 0; i < dns_len; i++)
		assert_int_equal(p[pi->dns_off + i],
				 (uint8_t)((i * 13 + 1) | (i == 2 ? 0x80 : 0)));
	assert_int_equal(m->l2_len, ETH_LEN);
}

static void check_v4_reply(struct rte_mbuf *m, const struct lv_pkt_info *pi,
			   unsigned dns_len, int sw_ip, int sw_udp)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *ip = p + ETH_LEN;
	unsigned udp_len = UDP_LEN + dns_len;

	check_common(m, pi, dns_len, 40000);
	assert_int_equal(get16(p + 12), RTE_ETHER_TYPE_IPV4);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(get16(ip + 2), V4_LEN + udp_len);
	assert_int_equal(get16(ip + 6), 0);
	assert_int_equal(ip[8], 64);
	assert_int_equal(ip[9], IPPROTO_UDP);
	assert_memory_equal(ip + 12, SRV4, 4);
	assert_memory_equal(ip + 16, CLI4, 4);
	assert_int_equal(m->l3_len, V4_LEN);

	const struct rte_ipv4_hdr *h = (const struct rte_ipv4_hdr *)ip;
	if (sw_ip) {
		assert_int_equal(fold(sum16(0, ip, V4_LEN)), 0xffff);
		assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM, 0);
	} else {
		assert_int_equal(get16(ip + 10), 0);
		assert_true(m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM);
		assert_true(m->ol_flags & RTE_MBUF_F_TX_IPV4);
	}
	const uint8_t *u = ip + V4_LEN;
	if (sw_udp) {
		assert_int_not_equal(get16(u + 6), 0);
		assert_int_equal(
		    fold(sum16(pseudo_sum(p, 0, udp_len), u, udp_len)), 0xffff);
		assert_int_equal(rte_ipv4_udptcp_cksum_verify(h, u), 0);
		assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_UDP_CKSUM, 0);
	} else {
		assert_true(m->ol_flags & RTE_MBUF_F_TX_UDP_CKSUM);
		assert_true(m->ol_flags & RTE_MBUF_F_TX_IPV4);
		assert_int_equal(get16(u + 6), fold(pseudo_sum(p, 0, udp_len)));
		/* what DPDK's own helper computes, in wire order */
		assert_int_equal(((const struct rte_udp_hdr *)u)->dgram_cksum,
				 rte_ipv4_phdr_cksum(h, m->ol_flags));
	}
	if (sw_ip && sw_udp)
		assert_true(m->ol_flags == 0);
	/* no RX flag survives */
	assert_int_equal(m->ol_flags & (RTE_MBUF_F_RX_IP_CKSUM_GOOD |
					RTE_MBUF_F_RX_L4_CKSUM_GOOD |
					RTE_MBUF_F_RX_RSS_HASH),
			 0);
}

static void check_v6_reply(struct rte_mbuf *m, const struct lv_pkt_info *pi,
			   unsigned dns_len, int sw_udp)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *ip = p + ETH_LEN;
	unsigned udp_len = UDP_LEN + dns_len;

	check_common(m, pi, dns_len, 40001);
	assert_int_equal(get16(p + 12), RTE_ETHER_TYPE_IPV6);
	assert_int_equal(ip[0] >> 4, 6);
	assert_int_equal(get16(ip + 4), udp_len);
	assert_int_equal(ip[6], IPPROTO_UDP);
	assert_int_equal(ip[7], 64);
	assert_memory_equal(ip + 8, SRV6, 16);
	assert_memory_equal(ip + 24, CLI6, 16);
	assert_int_equal(m->l3_len, V6_LEN);

	const struct rte_ipv6_hdr *h = (const struct rte_ipv6_hdr *)ip;
	const uint8_t *u = ip + V6_LEN;
	if (sw_udp) {
		assert_int_not_equal(get16(u + 6), 0);
		assert_int_equal(
		    fold(sum16(pseudo_sum(p, 1, udp_len), u, udp_len)), 0xffff);
		assert_int_equal(rte_ipv6_udptcp_cksum_verify(h, u), 0);
		assert_true(m->ol_flags == 0);
	} else {
		assert_true(m->ol_flags & RTE_MBUF_F_TX_UDP_CKSUM);
		assert_true(m->ol_flags & RTE_MBUF_F_TX_IPV6);
		assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_IPV4, 0);
		assert_int_equal(get16(u + 6), fold(pseudo_sum(p, 1, udp_len)));
		assert_int_equal(((const struct rte_udp_hdr *)u)->dgram_cksum,
				 rte_ipv6_phdr_cksum(h, m->ol_flags));
	}
}

static const struct lv_tx_offload NO_OFFLOAD = {0, 0};
static const struct lv_tx_offload FULL_OFFLOAD = {1, 1};

static void test_reply_v4_software(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;
	/* shorter than the query, equal, longer, odd, large */
	static const unsigned lens[] = {12, 27, 45, 101, 1232};

	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		v4_frame(&f, sizeof(DNSQ));
		struct rte_mbuf *m = reply(&f, lens[i], &NO_OFFLOAD, &pi);
		check_v4_reply(m, &pi, lens[i], 1, 1);
		rte_pktmbuf_free(m);
	}
	/* a padded frame: the padding is cut off */
	v4_frame(&f, 5);
	memset(f.b + f.len, 0x55, 60 - f.len);
	f.len = 60;
	struct rte_mbuf *m = reply(&f, 12, &NO_OFFLOAD, &pi);
	check_v4_reply(m, &pi, 12, 1, 1);
	rte_pktmbuf_free(m);
}

static void test_reply_v6_software(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;
	static const unsigned lens[] = {12, 27, 45, 101, 1232};

	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		v6_frame(&f, sizeof(DNSQ));
		struct rte_mbuf *m = reply(&f, lens[i], &NO_OFFLOAD, &pi);
		check_v6_reply(m, &pi, lens[i], 1);
		rte_pktmbuf_free(m);
	}
}

static void test_reply_offload(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;
	struct rte_mbuf *m;
	const struct lv_tx_offload ip_only = {1, 0}, udp_only = {0, 1};

	v4_frame(&f, sizeof(DNSQ));
	m = reply(&f, 77, &FULL_OFFLOAD, &pi);
	check_v4_reply(m, &pi, 77, 0, 0);
	rte_pktmbuf_free(m);

	m = reply(&f, 77, &ip_only, &pi);
	check_v4_reply(m, &pi, 77, 0, 1);
	rte_pktmbuf_free(m);

	m = reply(&f, 77, &udp_only, &pi);
	check_v4_reply(m, &pi, 77, 1, 0);
	rte_pktmbuf_free(m);

	v6_frame(&f, sizeof(DNSQ));
	m = reply(&f, 77, &FULL_OFFLOAD, &pi);
	check_v6_reply(m, &pi, 77, 0);
	rte_pktmbuf_free(m);

	/* IPv4 checksum offload means nothing for IPv6 */
	m = reply(&f, 77, &ip_only, &pi);
	check_v6_reply(m, &pi, 77, 1);
	rte_pktmbuf_free(m);
}

/*
 * A tagged query's reply keeps its tags byte for byte; the layers behind
 * them are rewritten as for an untagged one, checksums over the right
 * bytes, and the offload's l2_len covers the tags.
 */
static void test_reply_vlan(void **state)
{
	(void)state;
	struct frame f;
	struct lv_pkt_info pi;
	const struct lv_tx_offload *modes[] = {&NO_OFFLOAD, &FULL_OFFLOAD};

	for (unsigned k = 0; k < 2; k++) {
		for (unsigned v6 = 0; v6 < 2; v6++) {
			if (v6)
				v6_frame(&f, sizeof(DNSQ));
			else
				v4_frame(&f, sizeof(DNSQ));
			tag(&f, RTE_ETHER_TYPE_VLAN, 0x2064);
			if (v6)
				tag(&f, RTE_ETHER_TYPE_QINQ, 0x0c8);
			unsigned tags = v6 ? 8 : 4;
			struct frame want = f;
			struct rte_mbuf *m = reply(&f, 61, modes[k], &pi);
			const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
			const uint8_t *ip = p + ETH_LEN + tags;
			const uint8_t *u = ip + (v6 ? V6_LEN : V4_LEN);

			assert_int_equal(pi.l3_off, ETH_LEN + tags);
			assert_int_equal(m->l2_len, ETH_LEN + tags);
			assert_int_equal(m->data_len, pi.dns_off + 61);
			assert_memory_equal(p, MAC_CLI, 6);
			assert_memory_equal(p + 6, MAC_SRV, 6);
			/* tags and inner Ethernet type unchanged */
			assert_memory_equal(p + 12, want.b + 12, tags + 2);
			assert_int_equal(get16(u), 53);
			assert_int_equal(get16(u + 2), v6 ? 40001 : 40000);
			assert_int_equal(get16(u + 4), UDP_LEN + 61);
			if (v6) {
				assert_memory_equal(ip + 8, SRV6, 16);
				assert_memory_equal(ip + 24, CLI6, 16);
				assert_int_equal(get16(ip + 4), UDP_LEN + 61);
			} else {
				assert_memory_equal(ip + 12, SRV4, 4);
				assert_memory_equal(ip + 16, CLI4, 4);
				assert_int_equal(get16(ip + 2),
						 V4_LEN + UDP_LEN + 61);
			}
			if (modes[k] == &NO_OFFLOAD) {
				if (!v6)
					assert_int_equal(
					    fold(sum16(0, ip, V4_LEN)), 0xffff);
				uint32_t ps =
				    sum16(0, ip + (v6 ? 8 : 12), v6 ? 32 : 8) +
				    IPPROTO_UDP + UDP_LEN + 61;
				assert_int_equal(
				    fold(sum16(ps, u, UDP_LEN + 61)), 0xffff);
			} else {
				assert_true(m->ol_flags &
					    RTE_MBUF_F_TX_UDP_CKSUM);
			}
			rte_pktmbuf_free(m);
		}
	}
}

int main(void)
{
	if (lv_test_eal_init("test_packet") != 0)
		return 1;
	pool = rte_pktmbuf_pool_create(
	    "lvtest_pkt", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (pool == NULL) {
		fprintf(stderr, "test_packet: mbuf pool: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v4_ok),
	    cmocka_unit_test(test_v6_ok),
	    cmocka_unit_test(test_not_ip),
	    cmocka_unit_test(test_v4_options),
	    cmocka_unit_test(test_v4_fragment),
	    cmocka_unit_test(test_v6_extension_headers),
	    cmocka_unit_test(test_not_udp),
	    cmocka_unit_test(test_not_port53),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_ethernet_padding),
	    cmocka_unit_test(test_bad_checksum),
	    cmocka_unit_test(test_checksum_none_is_not_bad),
	    cmocka_unit_test(test_address_filter),
	    cmocka_unit_test(test_vlan),
	    cmocka_unit_test(test_bad_source_v4),
	    cmocka_unit_test(test_bad_source_broadcast),
	    cmocka_unit_test(test_bad_source_v6),
	    cmocka_unit_test(test_exception_path_choice),
	    cmocka_unit_test(test_runt),
	    cmocka_unit_test(test_multi_segment),
	    cmocka_unit_test(test_random_frames),
	    cmocka_unit_test(test_reply_v4_software),
	    cmocka_unit_test(test_reply_v6_software),
	    cmocka_unit_test(test_reply_offload),
	    cmocka_unit_test(test_reply_vlan),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rte_mempool_free(pool);
	lv_test_eal_fini();
	return rc;
}
