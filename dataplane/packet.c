/*
 * Frame classification and reply rewriting: the edges of a packet's walk.
 * The checks a bypass path must make itself, cheapest first: Ethernet type
 * (one or two VLAN tags are looked through), IP header sanity (no IPv4
 * options, no IPv6 extension headers, no fragments), lengths against what
 * was actually received (a capture's snap length cuts frames short), UDP to
 * port 53, the service address, and last the source: a query from an
 * address or port the kernel would never answer is dropped. A frame is
 * dropped for its checksum only when the driver flagged it bad, or when it
 * is an IPv6 UDP checksum of zero, which RFC 8200 §8.1 forbids.
 */
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "levee/csum.h"
#include "levee/packet.h"

#define UDP_HDR_LEN  8
#define IPV4_HDR_LEN 20
#define IPV6_HDR_LEN 40
#define IPV4_TTL     64

int lv_addr_filter_add(struct lv_addr_filter *f, bool ipv6, const uint8_t *addr,
		       unsigned prefix_len)
{
	if (f->n_v4 + f->n_v6 >= LV_MAX_SERVICE_ADDRS)
		return -1;
	if (ipv6) {
		memcpy(f->v6[f->n_v6++], addr, 16);
		return 0;
	}
	memcpy(&f->v4[f->n_v4++], addr, 4);
	/* /31 (RFC 3021) and /32 have no broadcast address */
	if (prefix_len >= 31)
		return 0;
	uint32_t a;
	memcpy(&a, addr, 4);
	uint32_t bcast =
	    rte_cpu_to_be_32(rte_be_to_cpu_32(a) | (UINT32_MAX >> prefix_len));
	for (unsigned i = 0; i < f->n_v4_bcast; i++)
		if (f->v4_bcast[i] == bcast)
			return 0;
	f->v4_bcast[f->n_v4_bcast++] = bcast;
	return 0;
}

static bool v4_is_service(const struct lv_addr_filter *f, uint32_t dst)
{
	if (f->n_v4 == 0 && f->n_v6 == 0)
		return true;
	for (unsigned i = 0; i < f->n_v4; i++)
		if (f->v4[i] == dst)
			return true;
	return false;
}

static bool v6_is_service(const struct lv_addr_filter *f, const uint8_t *dst)
{
	if (f->n_v4 == 0 && f->n_v6 == 0)
		return true;
	for (unsigned i = 0; i < f->n_v6; i++)
		if (memcmp(f->v6[i], dst, 16) == 0)
			return true;
	return false;
}

/* UDP header at off, ip_payload bytes of IP payload: check and fill pi. */
static unsigned classify_udp(const struct rte_mbuf *m, unsigned off,
			     unsigned ip_payload, struct lv_pkt_info *pi)
{
	const struct rte_udp_hdr *udp =
	    rte_pktmbuf_mtod_offset(m, const struct rte_udp_hdr *, off);
	if (ip_payload < UDP_HDR_LEN)
		return LV_PKT_DROP(LV_DROP_TRUNCATED);
	if (udp->dst_port != RTE_BE16(LV_DNS_PORT))
		return LV_PKT_DROP(LV_DROP_NOT_PORT53);
	unsigned udp_len = rte_be_to_cpu_16(udp->dgram_len);
	/* the UDP length may be less than the IP payload (padding), never
	 * more */
	if (udp_len < UDP_HDR_LEN || udp_len > ip_payload)
		return LV_PKT_DROP(LV_DROP_TRUNCATED);
	/* a two-bit state: BAD|GOOD together mean NONE (not checked) */
	if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
	    RTE_MBUF_F_RX_L4_CKSUM_BAD)
		return LV_PKT_DROP(LV_DROP_BAD_CHECKSUM);
	pi->l4_off = (uint16_t)off;
	pi->dns_off = (uint16_t)(off + UDP_HDR_LEN);
	pi->dns_len = (uint16_t)(udp_len - UDP_HDR_LEN);
	return LV_PKT_DNS;
}

/* The UDP source port of the datagram classify_udp() accepted. */
static inline uint16_t udp_src_port(const struct rte_mbuf *m,
				    const struct lv_pkt_info *pi)
{
	return rte_pktmbuf_mtod_offset(m, const struct rte_udp_hdr *,
				       pi->l4_off)
	    ->src_port;
}

/* IPv4 first octets no query may come from: "this network" 0/8 and
 * loopback 127/8 never arrive from a wire (RFC 1122 §3.2.1.3, RFC 1812
 * §5.3.7), and a multicast 224/4 source would make us answer a group. One
 * byte load and compare instead of three range tests. */
static const uint8_t v4_bad_first_octet[256] = {
    [0] = 1,
    [127] = 1,
    [224 ... 239] = 1,
};

/*
 * A query the kernel would never answer, by its source, cheapest check
 * first; each is a compare on a header already in cache.
 */
static inline unsigned v4_source_verdict(const struct rte_mbuf *m,
					 const struct lv_addr_filter *f,
					 const struct rte_ipv4_hdr *ip,
					 const struct lv_pkt_info *pi)
{
	/* port 0 is reserved (RFC 768 has no port 0 to send from): an answer
	 * to it is undeliverable */
	if (udp_src_port(m, pi) == 0)
		return LV_PKT_DROP(LV_DROP_SOURCE_PORT_0);
	/* 0/8, 127/8, 224/4 by the first octet (network order: byte 0) */
	if (v4_bad_first_octet[((const uint8_t *)&ip->src_addr)[0]])
		return LV_PKT_DROP(LV_DROP_BAD_SOURCE);
	/* the limited broadcast, and a subnet's directed broadcast: the
	 * answer would go to every host on it (RFC 1812 §5.3.7) */
	if (ip->src_addr == UINT32_MAX)
		return LV_PKT_DROP(LV_DROP_BAD_SOURCE);
	for (unsigned i = 0; i < f->n_v4_bcast; i++)
		if (f->v4_bcast[i] == ip->src_addr)
			return LV_PKT_DROP(LV_DROP_BAD_SOURCE);
	return LV_PKT_DNS;
}

/* The same for IPv6. */
static inline unsigned v6_source_verdict(const struct rte_mbuf *m,
					 const struct rte_ipv6_hdr *ip,
					 const struct lv_pkt_info *pi)
{
	const struct rte_udp_hdr *udp =
	    rte_pktmbuf_mtod_offset(m, const struct rte_udp_hdr *, pi->l4_off);
	uint64_t hi, lo;

	/* the UDP checksum is mandatory over IPv6: zero is no checksum,
	 * which a receiver must discard (RFC 8200 §8.1) */
	if (udp->dgram_cksum == 0)
		return LV_PKT_DROP(LV_DROP_UDP6_ZERO_CHECKSUM);
	/* port 0: as for IPv4 */
	if (udp->src_port == 0)
		return LV_PKT_DROP(LV_DROP_SOURCE_PORT_0);
	/* ff00::/8 multicast is never a source (RFC 4291 §2.7) */
	if (ip->src_addr[0] == 0xff)
		return LV_PKT_DROP(LV_DROP_BAD_SOURCE);
	/* :: (unspecified, RFC 4291 §2.5.2) and ::1 (loopback, §2.5.3, the
	 * IPv6 127/8) never arrive from a wire */
	memcpy(&hi, ip->src_addr, 8);
	memcpy(&lo, ip->src_addr + 8, 8);
	if (hi == 0 && (lo == 0 || lo == rte_cpu_to_be_64(1)))
		return LV_PKT_DROP(LV_DROP_BAD_SOURCE);
	return LV_PKT_DNS;
}

/* Inlined into both callers: the untagged hot path keeps no call. */
static inline __attribute__((always_inline)) unsigned
classify_ipv4(const struct rte_mbuf *m, unsigned off,
	      const struct lv_addr_filter *f, struct lv_pkt_info *pi)
{
	if (m->data_len < off + IPV4_HDR_LEN)
		return LV_PKT_DROP(LV_DROP_RUNT_L2);
	const struct rte_ipv4_hdr *ip =
	    rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, off);
	if (ip->version_ihl != RTE_IPV4_VHL_DEF) {
		/* version 4 with a longer header carries options; anything
		 * else under the IPv4 ethertype is not IPv4 at all */
		return (ip->version_ihl >> 4) == 4 &&
			       (ip->version_ihl & 0xf) > 5
			   ? LV_PKT_DROP(LV_DROP_IP_OPTIONS)
			   : LV_PKT_DROP(LV_DROP_NOT_IP);
	}
	unsigned total = rte_be_to_cpu_16(ip->total_length);
	if (total < IPV4_HDR_LEN || total > m->data_len - off)
		return LV_PKT_DROP(LV_DROP_TRUNCATED);
	/* MF set or a non-zero offset: a fragment */
	if (ip->fragment_offset &
	    rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
		return LV_PKT_DROP(LV_DROP_FRAGMENT);
	if (ip->next_proto_id != IPPROTO_UDP)
		return LV_PKT_DROP(LV_DROP_NOT_UDP);
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) ==
	    RTE_MBUF_F_RX_IP_CKSUM_BAD)
		return LV_PKT_DROP(LV_DROP_BAD_CHECKSUM);
	unsigned v =
	    classify_udp(m, off + IPV4_HDR_LEN, total - IPV4_HDR_LEN, pi);
	if (v != LV_PKT_DNS)
		return v;
	if (!v4_is_service(f, ip->dst_addr))
		return LV_PKT_DROP(LV_DROP_NOT_OUR_ADDRESS);
	/* only a query we would answer is judged by its source: anything
	 * else keeps its verdict above (and its way to the kernel) */
	v = v4_source_verdict(m, f, ip, pi);
	if (v != LV_PKT_DNS)
		return v;
	pi->l3_off = (uint16_t)off;
	pi->ipv6 = 0;
	return LV_PKT_DNS;
}

/* Inlined into both callers: the untagged hot path keeps no call. */
static inline __attribute__((always_inline)) unsigned
classify_ipv6(const struct rte_mbuf *m, unsigned off,
	      const struct lv_addr_filter *f, struct lv_pkt_info *pi)
{
	if (m->data_len < off + IPV6_HDR_LEN)
		return LV_PKT_DROP(LV_DROP_RUNT_L2);
	const struct rte_ipv6_hdr *ip =
	    rte_pktmbuf_mtod_offset(m, const struct rte_ipv6_hdr *, off);
	if ((rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6)
		return LV_PKT_DROP(LV_DROP_NOT_IP);
	unsigned payload = rte_be_to_cpu_16(ip->payload_len);
	if (payload > m->data_len - off - IPV6_HDR_LEN)
		return LV_PKT_DROP(LV_DROP_TRUNCATED);
	switch (ip->proto) {
	case IPPROTO_UDP:
		break;
	case IPPROTO_FRAGMENT:
		return LV_PKT_DROP(LV_DROP_FRAGMENT);
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_ESP:
	case 135: /* mobility */
	case 139: /* HIP */
	case 140: /* shim6 */
		return LV_PKT_DROP(LV_DROP_IP_OPTIONS);
	default:
		return LV_PKT_DROP(LV_DROP_NOT_UDP);
	}
	unsigned v = classify_udp(m, off + IPV6_HDR_LEN, payload, pi);
	if (v != LV_PKT_DNS)
		return v;
	if (!v6_is_service(f, ip->dst_addr))
		return LV_PKT_DROP(LV_DROP_NOT_OUR_ADDRESS);
	/* as for IPv4: only a query we would answer is judged by source */
	v = v6_source_verdict(m, ip, pi);
	if (v != LV_PKT_DNS)
		return v;
	pi->l3_off = (uint16_t)off;
	pi->ipv6 = 1;
	return LV_PKT_DNS;
}

static inline bool is_vlan_tag(uint16_t be_type)
{
	return be_type == RTE_BE16(RTE_ETHER_TYPE_VLAN) ||
	       be_type == RTE_BE16(RTE_ETHER_TYPE_QINQ);
}

/*
 * Look through up to two VLAN tags (802.1Q, or 802.1ad QinQ with an inner
 * 802.1Q) at the Ethernet type. Sets *l3 to where the layer-3 header
 * starts and *type (network order) to what it is. LV_PKT_DNS when a type
 * was found, RUNT_L2 when a tag is cut short, VLAN_NOT_IP beyond two tags.
 */
static unsigned l2_walk(const struct rte_mbuf *m, unsigned *l3, uint16_t *type)
{
	const struct rte_ether_hdr *eth =
	    rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	unsigned off = sizeof(*eth);
	uint16_t t = eth->ether_type;

	for (unsigned tags = 0; is_vlan_tag(t); tags++) {
		if (tags == 2)
			return LV_PKT_DROP(LV_DROP_VLAN_NOT_IP);
		if (m->data_len < off + sizeof(struct rte_vlan_hdr))
			return LV_PKT_DROP(LV_DROP_RUNT_L2);
		t = rte_pktmbuf_mtod_offset(m, const struct rte_vlan_hdr *, off)
			->eth_proto;
		off += sizeof(struct rte_vlan_hdr);
	}
	*l3 = off;
	*type = t;
	return LV_PKT_DNS;
}

/* A tagged frame (or not IP at all): out of line, so that the untagged
 * path stays two compares on the Ethernet type. */
static __attribute__((noinline)) unsigned
classify_tagged(const struct rte_mbuf *m, const struct lv_addr_filter *f,
		struct lv_pkt_info *pi)
{
	const struct rte_ether_hdr *eth =
	    rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	unsigned off, v;
	uint16_t type;

	if (!is_vlan_tag(eth->ether_type))
		return LV_PKT_DROP(LV_DROP_NOT_IP);
	v = l2_walk(m, &off, &type);
	if (v != LV_PKT_DNS)
		return v;
	if (type == RTE_BE16(RTE_ETHER_TYPE_IPV4))
		return classify_ipv4(m, off, f, pi);
	if (type == RTE_BE16(RTE_ETHER_TYPE_IPV6))
		return classify_ipv6(m, off, f, pi);
	return LV_PKT_DROP(LV_DROP_VLAN_NOT_IP);
}

unsigned lv_pkt_classify(const struct rte_mbuf *m,
			 const struct lv_addr_filter *f, struct lv_pkt_info *pi)
{
	if (m->nb_segs != 1)
		return LV_PKT_DROP(LV_DROP_MULTI_SEGMENT);
	if (m->data_len < sizeof(struct rte_ether_hdr))
		return LV_PKT_DROP(LV_DROP_RUNT_L2);
	const struct rte_ether_hdr *eth =
	    rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4))
		return classify_ipv4(m, sizeof(*eth), f, pi);
	if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6))
		return classify_ipv6(m, sizeof(*eth), f, pi);
	return classify_tagged(m, f, pi);
}

/* The IP destination of an IPv4/IPv6 frame (header at off): ours or
 * multicast/broadcast? */
static bool ip_dst_for_kernel(const struct rte_mbuf *m, unsigned off,
			      uint16_t ethertype,
			      const struct lv_addr_filter *f)
{
	if (ethertype == RTE_ETHER_TYPE_IPV4) {
		const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(
		    m, const struct rte_ipv4_hdr *, off);
		uint32_t dst = rte_be_to_cpu_32(ip->dst_addr);
		/* 224.0.0.0/4 multicast, and the limited broadcast */
		return (dst >> 28) == 0xe || dst == UINT32_MAX ||
		       (f->n_v4 && v4_is_service(f, ip->dst_addr));
	}
	const struct rte_ipv6_hdr *ip6 =
	    rte_pktmbuf_mtod_offset(m, const struct rte_ipv6_hdr *, off);
	/* ff00::/8, neighbour solicitations among them; fe80::/10, the
	 * TAP's link-local address, which ND answers may be sent to */
	return ip6->dst_addr[0] == 0xff ||
	       (ip6->dst_addr[0] == 0xfe &&
		(ip6->dst_addr[1] & 0xc0) == 0x80) ||
	       (f->n_v6 && v6_is_service(f, ip6->dst_addr));
}

bool lv_pkt_for_kernel(const struct rte_mbuf *m, const struct lv_addr_filter *f,
		       enum lv_drop_reason why)
{
	unsigned off;
	uint16_t type;

	switch (why) {
	case LV_DROP_NOT_IP:
	case LV_DROP_VLAN_NOT_IP:
	case LV_DROP_IP_OPTIONS:
	case LV_DROP_FRAGMENT:
	case LV_DROP_NOT_UDP:
	case LV_DROP_NOT_PORT53:
	case LV_DROP_NOT_OUR_ADDRESS:
		break;
	default:
		return false; /* broken frames stay dropped */
	}
	/* tagged frames go to the kernel with their tags: it answers them
	 * on a VLAN interface of the TAP, when there is one */
	if (l2_walk(m, &off, &type) != LV_PKT_DNS)
		return false; /* more than two tags */
	type = rte_be_to_cpu_16(type);
	if (type == RTE_ETHER_TYPE_ARP)
		return true;
	if (why == LV_DROP_NOT_IP || why == LV_DROP_VLAN_NOT_IP)
		return false; /* other ethertypes, or IP that is not */
	return ip_dst_for_kernel(m, off, type, f);
}

static void swap_l2(struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ether_addr tmp = eth->src_addr;
	eth->src_addr = eth->dst_addr;
	eth->dst_addr = tmp;
}

static void swap_ports(struct rte_udp_hdr *udp, uint16_t udp_len)
{
	uint16_t p = udp->src_port;
	udp->src_port = udp->dst_port;
	udp->dst_port = p;
	udp->dgram_len = rte_cpu_to_be_16(udp_len);
	udp->dgram_cksum = 0;
}

/* No precomputed sum of the DNS message: checksum all of it. */
#define NO_SUM (-1)

/*
 * The UDP checksum: the pseudo header (addresses, protocol, UDP length),
 * the UDP header (checksum field zero) and the DNS message, whose sum the
 * caller may already know (dns_sum >= 0).
 */
static uint16_t udp_cksum(const void *src, const void *dst, size_t addr_len,
			  const struct rte_udp_hdr *udp, int32_t dns_sum)
{
	uint32_t proto_len = rte_cpu_to_be_32(IPPROTO_UDP << 16 |
					      rte_be_to_cpu_16(udp->dgram_len));
	uint64_t acc = lv_csum_add(0, src, addr_len);

	acc = lv_csum_add(acc, dst, addr_len);
	acc = lv_csum_add(acc, &proto_len, 4);
	if (dns_sum == NO_SUM)
		acc = lv_csum_add(acc, udp, rte_be_to_cpu_16(udp->dgram_len));
	else
		acc = lv_csum_add(acc, udp, sizeof(*udp)) + (uint32_t)dns_sum;
	uint16_t c = (uint16_t)~lv_csum_fold(acc);
	/* RFC 768: a computed zero is sent as all ones */
	return c == 0 ? 0xffff : c;
}

static void finish_ipv4(struct rte_mbuf *m, const struct lv_pkt_info *pi,
			uint16_t udp_len, const struct lv_tx_offload *tx,
			int32_t dns_sum)
{
	struct rte_ipv4_hdr *ip =
	    rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, pi->l3_off);
	struct rte_udp_hdr *udp =
	    rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *, pi->l4_off);
	uint32_t a = ip->src_addr;

	ip->src_addr = ip->dst_addr;
	ip->dst_addr = a;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(IPV4_HDR_LEN + udp_len));
	ip->time_to_live = IPV4_TTL;
	ip->fragment_offset = 0;
	ip->type_of_service = 0;
	ip->hdr_checksum = 0;
	swap_ports(udp, udp_len);
	m->l2_len = pi->l3_off;
	m->l3_len = IPV4_HDR_LEN;
	if (tx->ipv4_cksum)
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
	else
		ip->hdr_checksum = (uint16_t)~lv_csum(ip, IPV4_HDR_LEN);
	if (tx->udp_cksum) {
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM;
		udp->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	} else {
		udp->dgram_cksum =
		    udp_cksum(&ip->src_addr, &ip->dst_addr, 4, udp, dns_sum);
	}
}

static void finish_ipv6(struct rte_mbuf *m, const struct lv_pkt_info *pi,
			uint16_t udp_len, const struct lv_tx_offload *tx,
			int32_t dns_sum)
{
	struct rte_ipv6_hdr *ip =
	    rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, pi->l3_off);
	struct rte_udp_hdr *udp =
	    rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *, pi->l4_off);
	uint8_t a[16];

	memcpy(a, ip->src_addr, 16);
	memcpy(ip->src_addr, ip->dst_addr, 16);
	memcpy(ip->dst_addr, a, 16);
	ip->payload_len = rte_cpu_to_be_16(udp_len);
	ip->hop_limits = IPV4_TTL;
	swap_ports(udp, udp_len);
	m->l2_len = pi->l3_off;
	m->l3_len = IPV6_HDR_LEN;
	/* the UDP checksum is mandatory over IPv6 (RFC 8200 §8.1) */
	if (tx->udp_cksum) {
		m->ol_flags |= RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
		udp->dgram_cksum = rte_ipv6_phdr_cksum(ip, m->ol_flags);
	} else {
		udp->dgram_cksum =
		    udp_cksum(ip->src_addr, ip->dst_addr, 16, udp, dns_sum);
	}
}

static void finish_reply(struct rte_mbuf *m, const struct lv_pkt_info *pi,
			 uint16_t dns_len, const struct lv_tx_offload *tx,
			 int32_t dns_sum)
{
	uint16_t udp_len = (uint16_t)(UDP_HDR_LEN + dns_len);

	m->data_len = (uint16_t)(pi->dns_off + dns_len);
	m->pkt_len = m->data_len;
	/* keep only the buffer-ownership bits: RX flags mean nothing now */
	m->ol_flags &= RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL;
	swap_l2(m);
	if (pi->ipv6)
		finish_ipv6(m, pi, udp_len, tx, dns_sum);
	else
		finish_ipv4(m, pi, udp_len, tx, dns_sum);
}

void lv_pkt_finish_reply(struct rte_mbuf *m, const struct lv_pkt_info *pi,
			 uint16_t dns_len, const struct lv_tx_offload *tx)
{
	finish_reply(m, pi, dns_len, tx, NO_SUM);
}

void lv_pkt_finish_reply_summed(struct rte_mbuf *m,
				const struct lv_pkt_info *pi, uint16_t dns_len,
				const struct lv_tx_offload *tx,
				uint16_t dns_sum)
{
	finish_reply(m, pi, dns_len, tx, dns_sum);
}
