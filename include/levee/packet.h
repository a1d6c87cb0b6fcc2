/*
 * Frame classification and in-place reply rewriting.
 *
 * The first and last steps of a packet's walk on a worker: lv_pkt_classify()
 * decides whether a received frame is a UDP DNS query levee answers on the
 * fast path (and where its DNS message starts), and lv_pkt_finish_reply()
 * turns the same mbuf into the reply frame once the DNS response has been
 * written over the query. Pure per-packet code: any worker lcore, and the
 * control plane for frames handed to it. The mbuf stays the caller's.
 */
#ifndef LEVEE_PACKET_H
#define LEVEE_PACKET_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "levee/stats.h"

#define LV_MAX_SERVICE_ADDRS 16

/* The service addresses a worker answers on. An empty list (pcap replay
 * without --address) answers UDP/53 to any destination. v4_bcast holds the
 * directed broadcast of each IPv4 service address's subnet (from the
 * --address prefix length; none for /31 and /32): a query from one of those
 * is never answered. Network order. Built once at start-up with
 * lv_addr_filter_add(), read-only afterwards. */
struct lv_addr_filter {
	uint8_t n_v4;
	uint8_t n_v6;
	uint8_t n_v4_bcast;
	uint32_t v4[LV_MAX_SERVICE_ADDRS];
	uint32_t v4_bcast[LV_MAX_SERVICE_ADDRS];
	uint8_t v6[LV_MAX_SERVICE_ADDRS][16];
};

/*
 * Add a service address (16 bytes for IPv6, else 4, network order) and,
 * for IPv4 with prefix_len below 31, its subnet's broadcast address. f
 * must start zeroed. 0, or -1 when f already holds LV_MAX_SERVICE_ADDRS
 * addresses. Control plane, start-up only (f is not yet shared).
 */
int lv_addr_filter_add(struct lv_addr_filter *f, bool ipv6, const uint8_t *addr,
		       unsigned prefix_len);

/* Where the layers of a classified frame start (offsets into the mbuf). */
struct lv_pkt_info {
	uint16_t l3_off;
	uint16_t l4_off;
	uint16_t dns_off;
	uint16_t dns_len;
	uint8_t ipv6;
};

/* How the port completes checksums on transmit. */
struct lv_tx_offload {
	uint8_t ipv4_cksum; /* RTE_ETH_TX_OFFLOAD_IPV4_CKSUM */
	uint8_t udp_cksum;  /* RTE_ETH_TX_OFFLOAD_UDP_CKSUM */
};

/* Result of classification: LV_PKT_DNS, or the drop reason + 1. */
#define LV_PKT_DNS                  0
#define LV_PKT_DROP(reason)         ((reason) + 1)
#define LV_PKT_DROP_REASON(verdict) ((enum lv_drop_reason)((verdict)-1))

/*
 * Classify frame m. Returns LV_PKT_DNS with *pi filled for a UDP datagram
 * to port 53 on a service address from a source that may be answered, or
 * LV_PKT_DROP(reason). A frame with one or two VLAN tags (802.1Q 0x8100,
 * 802.1ad 0x88a8) is classified by what it carries, with pi->l3_off past
 * the tags: the reply keeps them, since lv_pkt_finish_reply() rewrites the
 * frame in place and swaps only the MACs.
 */
unsigned lv_pkt_classify(const struct rte_mbuf *m,
			 const struct lv_addr_filter *f,
			 struct lv_pkt_info *pi);

/*
 * A frame classified as not for the fast path (why): should it go to the
 * kernel through the exception path? ARP, and IP traffic addressed to a
 * service address or to a multicast or broadcast address (IPv6 neighbour
 * discovery, DHCP...), yes: the kernel owns those. Frames that are broken
 * (runt, cut short, bad checksum, multi-segment) or addressed elsewhere, no.
 */
bool lv_pkt_for_kernel(const struct rte_mbuf *m, const struct lv_addr_filter *f,
		       enum lv_drop_reason why);

/* Bytes the DNS response may occupy from the DNS header on. */
static inline uint16_t lv_pkt_dns_room(const struct rte_mbuf *m,
				       const struct lv_pkt_info *pi)
{
	uint32_t room =
	    (uint32_t)rte_pktmbuf_tailroom(m) + m->data_len - pi->dns_off;
	return room > UINT16_MAX ? UINT16_MAX : (uint16_t)room;
}

/*
 * The DNS response (dns_len bytes) is in place: swap MACs, addresses and
 * ports, set lengths, and complete or request the checksums.
 */
void lv_pkt_finish_reply(struct rte_mbuf *m, const struct lv_pkt_info *pi,
			 uint16_t dns_len, const struct lv_tx_offload *tx);

/*
 * The same, when the caller already knows dns_sum, the ones' complement sum
 * of the DNS message (lv_csum: folded, not inverted): a software UDP
 * checksum then sums only the headers.
 */
void lv_pkt_finish_reply_summed(struct rte_mbuf *m,
				const struct lv_pkt_info *pi, uint16_t dns_len,
				const struct lv_tx_offload *tx,
				uint16_t dns_sum);

#endif
