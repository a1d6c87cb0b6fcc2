/*
 * libFuzzer target for a packet's whole walk on a worker, minus the cache:
 * frame classification (dataplane/packet.c), query parsing, writing the
 * answer in place, and rewriting the frame into the reply.
 *
 * No EAL: the frame sits in a heap block and a struct rte_mbuf on the
 * stack describes it (buf_addr, data_off, data_len, buf_len); the code
 * under test uses only those fields and DPDK's inline helpers. The block
 * is exactly headroom + frame + tailroom, so ASan sees any access outside.
 * The first input byte picks the RX checksum flags, the tailroom and the
 * TX offloads; the rest is the frame.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rte_ipv{4,6}_udptcp_cksum_verify are still experimental in 22.11 */
#define ALLOW_EXPERIMENTAL_API

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "levee/packet.h"
#include "levee/query.h"
#include "levee/response.h"

#define SEED     0x13198a2e03707344ull
#define HEADROOM 128

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t A_RR[] = {0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
			       0x0e, 0x10, 0x00, 0x04, 192,  0,    2,    1};

static const uint64_t rx_flags[4] = {
    0,
    RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD,
    RTE_MBUF_F_RX_L4_CKSUM_BAD,
    RTE_MBUF_F_RX_IP_CKSUM_BAD,
};

/* Write the DNS answer for the query at dns; its length or 0. */
static uint16_t answer(uint8_t *dns, uint16_t dns_len, uint16_t room)
{
	struct lv_query q;
	static const struct lv_cache_entry e = {
	    .qtype = LV_TYPE_A,
	    .qclass = LV_CLASS_IN,
	    .flags = LV_FLAG_AA,
	    .ancount = 1,
	    .wire = A_RR,
	    .wire_len = sizeof(A_RR),
	};
	bool tc;

	switch (lv_query_parse(dns, dns_len, SEED, &q)) {
	case LV_PARSE_OK:
		return lv_response_from_entry(dns, room, &q, &e, 1232, &tc);
	case LV_PARSE_FORMERR:
		return lv_response_error(dns, room, &q, LV_RCODE_FORMERR, 1232);
	case LV_PARSE_NOTIMP:
		return lv_response_error(dns, room, &q, LV_RCODE_NOTIMP, 1232);
	case LV_PARSE_BADVERS:
		return lv_response_error(dns, room, &q, LV_RCODE_BADVERS, 1232);
	default:
		return 0;
	}
}

static void check_reply(const struct rte_mbuf *m, const struct lv_pkt_info *pi,
			uint16_t dns_len, const struct lv_tx_offload *tx)
{
	CHECK(m->data_len == pi->dns_off + dns_len);
	CHECK(m->data_len <= m->buf_len - m->data_off);
	if (pi->ipv6) {
		const struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(
		    m, const struct rte_ipv6_hdr *, pi->l3_off);
		const struct rte_udp_hdr *udp = rte_pktmbuf_mtod_offset(
		    m, const struct rte_udp_hdr *, pi->l4_off);
		CHECK(rte_be_to_cpu_16(ip->payload_len) == 8 + dns_len);
		if (!tx->udp_cksum)
			CHECK(rte_ipv6_udptcp_cksum_verify(ip, udp) == 0);
	} else {
		const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(
		    m, const struct rte_ipv4_hdr *, pi->l3_off);
		const struct rte_udp_hdr *udp = rte_pktmbuf_mtod_offset(
		    m, const struct rte_udp_hdr *, pi->l4_off);
		CHECK(rte_be_to_cpu_16(ip->total_length) == 28 + dns_len);
		if (!tx->ipv4_cksum)
			CHECK(rte_raw_cksum(ip, 20) == 0xffff);
		if (!tx->udp_cksum)
			CHECK(rte_ipv4_udptcp_cksum_verify(ip, udp) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 9000)
		return 0;
	uint8_t ctl = data[0];
	unsigned frame_len = (unsigned)size - 1;
	unsigned tailroom = (ctl & 0x10) ? 0 : 1500;
	unsigned buf_len = HEADROOM + frame_len + tailroom;
	uint8_t *buf = malloc(buf_len);
	CHECK(buf != NULL);
	memcpy(buf + HEADROOM, data + 1, frame_len);

	struct rte_mbuf m;
	memset(&m, 0, sizeof(m));
	m.buf_addr = buf;
	m.buf_len = (uint16_t)buf_len;
	m.data_off = HEADROOM;
	m.data_len = (uint16_t)frame_len;
	m.pkt_len = frame_len;
	m.nb_segs = 1;
	m.ol_flags = rx_flags[ctl & 3];

	/* any destination, or 192.0.2.53/24 (its broadcast 192.0.2.255 a
	 * source never answered) and 2001:db8::53 */
	static const uint8_t srv4[4] = {192, 0, 2, 53};
	static const uint8_t srv6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x53};
	struct lv_addr_filter filter;
	memset(&filter, 0, sizeof(filter));
	if (ctl & 0x20) {
		CHECK(lv_addr_filter_add(&filter, false, srv4, 24) == 0);
		CHECK(lv_addr_filter_add(&filter, true, srv6, 64) == 0);
	}
	struct lv_pkt_info pi;
	unsigned v = lv_pkt_classify(&m, &filter, &pi);
	CHECK(v <= LV_DROP_MAX);
	if (v == LV_PKT_DNS) {
		CHECK(pi.dns_off + pi.dns_len <= frame_len);
		uint8_t *dns =
		    rte_pktmbuf_mtod_offset(&m, uint8_t *, pi.dns_off);
		uint16_t room = lv_pkt_dns_room(&m, &pi);
		CHECK(room == frame_len + tailroom - pi.dns_off);
		uint16_t n = answer(dns, pi.dns_len, room);
		CHECK(n <= room);
		if (n != 0) {
			struct lv_tx_offload tx = {
			    .ipv4_cksum = (ctl >> 2) & 1,
			    .udp_cksum = (ctl >> 3) & 1,
			};
			lv_pkt_finish_reply(&m, &pi, n, &tx);
			check_reply(&m, &pi, n, &tx);
		}
	}
	free(buf);
	return 0;
}
