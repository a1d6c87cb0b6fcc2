/*
 * Host sockets as a port: see include/levee/sockport.h.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_udp.h>

#include "levee/sockport.h"

#define BATCH   32
#define CMSG_SZ CMSG_SPACE(sizeof(struct in6_pktinfo))

/* The synthetic addresses: the client is 100.64.0.0/16 + slot, levee is
 * 100.127.255.254 (shared address space, RFC 6598: never a real source a
 * port sees, and not one the classifier refuses). */
#define SYN_CLIENT_NET  0x64400000u /* 100.64.0.0 */
#define SYN_SERVICE     0x647ffffeu /* 100.127.255.254 */
#define SYN_SERVICE_MAC "\x02\x00\x5e\x00\x00\x53"
#define SYN_CLIENT_MAC  "\x02\x00\x5e\x00\x00\x01"

/* One client: where its query came from and to. */
struct slot {
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} peer;
	socklen_t peer_len;
	uint16_t gen; /* never 0: the synthetic source port */
	union {
		struct in_pktinfo v4;
		struct in6_pktinfo v6;
	} to;
	uint8_t has_to;
};

struct lv_sockq {
	int fd;
	int family;
	uint16_t port_id;
	struct rte_mempool *pool;
	uint32_t next_slot;
	uint16_t gen;
	/* replies whose client slot was reused before they came (this
	 * queue's worker writes it; stats read it, relaxed, like counters) */
	uint64_t late_replies;
	struct slot slots[LV_SOCKQ_SLOTS];
	/* batch scratch */
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} names[BATCH];
	uint8_t cmsg[BATCH][CMSG_SZ];
};

static int open_socket(const struct lv_addr *a, uint16_t port, char *err,
		       size_t errlen)
{
	struct sockaddr_storage sa;
	socklen_t len = (socklen_t)lv_addr_to_sockaddr(a, port, &sa);
	int fd =
	    socket(a->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, big = 4 << 20;
	char text[INET6_ADDRSTRLEN];

	inet_ntop(a->family, a->addr, text, sizeof(text));
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    (a->family == AF_INET
		 ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
		 : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one,
			      sizeof(one)) ||
		       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				  sizeof(one))) != 0)
		goto fail;
	/* bursts of queries wait in the kernel while the worker is busy */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&sa, len) != 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "--listen %s@%u: %s", text, port,
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

struct lv_sockq *lv_sockq_open(const struct lv_addr *addr, uint16_t port,
			       uint16_t port_id, struct rte_mempool *pool,
			       char *err, size_t errlen)
{
	struct lv_sockq *sq = rte_zmalloc("lv_sockq", sizeof(*sq), 64);

	if (sq == NULL) {
		snprintf(err, errlen, "--listen: out of DPDK memory");
		return NULL;
	}
	sq->fd = open_socket(addr, port, err, errlen);
	if (sq->fd < 0) {
		rte_free(sq);
		return NULL;
	}
	sq->family = addr->family;
	sq->port_id = port_id;
	sq->pool = pool;
	sq->gen = 1;
	return sq;
}

void lv_sockq_close(struct lv_sockq *sq)
{
	if (sq == NULL)
		return;
	close(sq->fd);
	rte_free(sq);
}

/* --- receive --- */

static void prepare_rx(struct lv_sockq *sq, struct rte_mbuf **m, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t *data = rte_pktmbuf_mtod(m[i], uint8_t *);
		sq->iov[i].iov_base = data + LV_SOCKQ_HDRS;
		sq->iov[i].iov_len =
		    rte_pktmbuf_tailroom(m[i]) + m[i]->data_len - LV_SOCKQ_HDRS;
		sq->msgs[i].msg_hdr =
		    (struct msghdr){.msg_name = &sq->names[i],
				    .msg_namelen = sizeof(sq->names[i]),
				    .msg_iov = &sq->iov[i],
				    .msg_iovlen = 1,
				    .msg_control = sq->cmsg[i],
				    .msg_controllen = CMSG_SZ};
	}
}

/* Remember who sent datagram i; returns its slot. */
static uint32_t take_slot(struct lv_sockq *sq, unsigned i)
{
	uint32_t s = sq->next_slot++ & (LV_SOCKQ_SLOTS - 1);
	struct slot *sl = &sq->slots[s];
	struct msghdr *h = &sq->msgs[i].msg_hdr;

	if (s == LV_SOCKQ_SLOTS - 1 && ++sq->gen == 0)
		sq->gen = 1; /* a new lap: old replies no longer match */
	memcpy(&sl->peer, &sq->names[i], h->msg_namelen);
	sl->peer_len = h->msg_namelen;
	sl->gen = sq->gen;
	sl->has_to = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			memcpy(&sl->to.v4, CMSG_DATA(c), sizeof(sl->to.v4));
			sl->has_to = 1;
		} else if (c->cmsg_level == IPPROTO_IPV6 &&
			   c->cmsg_type == IPV6_PKTINFO) {
			memcpy(&sl->to.v6, CMSG_DATA(c), sizeof(sl->to.v6));
			sl->has_to = 1;
		}
	}
	return s;
}

/* Put Ethernet + IPv4 + UDP for payload_len bytes from slot s in front. */
static void synthesize(struct lv_sockq *sq, struct rte_mbuf *m, uint32_t s,
		       unsigned payload_len)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)p;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	memcpy(&eth->dst_addr, SYN_SERVICE_MAC, 6);
	memcpy(&eth->src_addr, SYN_CLIENT_MAC, 6);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + 8 + payload_len));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(SYN_CLIENT_NET | s);
	ip->dst_addr = rte_cpu_to_be_32(SYN_SERVICE);
	udp->src_port = rte_cpu_to_be_16(sq->slots[s].gen);
	udp->dst_port = rte_cpu_to_be_16(53);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(8 + payload_len));
	udp->dgram_cksum = 0;
	m->data_len = (uint16_t)(LV_SOCKQ_HDRS + payload_len);
	m->pkt_len = m->data_len;
	m->port = sq->port_id;
	/* the kernel checked the real datagram */
	m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
}

uint16_t lv_sockq_rx(void *arg, struct rte_mbuf **pkts, uint16_t n)
{
	struct lv_sockq *sq = arg;
	int got;

	if (n > BATCH)
		n = BATCH;
	if (rte_pktmbuf_alloc_bulk(sq->pool, pkts, n) != 0)
		return 0; /* no mbufs now: the kernel keeps the datagrams */
	prepare_rx(sq, pkts, n);
	got = recvmmsg(sq->fd, sq->msgs, n, MSG_DONTWAIT, NULL);
	if (got < 0)
		got = 0;
	for (int i = 0; i < got; i++) {
		uint32_t s = take_slot(sq, (unsigned)i);
		synthesize(sq, pkts[i], s, sq->msgs[i].msg_len);
	}
	if ((uint16_t)got < n)
		rte_pktmbuf_free_bulk(pkts + got, n - (unsigned)got);
	return (uint16_t)got;
}

/* --- send --- */

/* The slot a reply frame is addressed to, or NULL when it is not one of
 * ours or the slot was reused since. Sets *payload and *len. */
static struct slot *reply_slot(struct lv_sockq *sq, struct rte_mbuf *m,
			       uint8_t **payload, unsigned *len)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(p + 14);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint32_t dst = rte_be_to_cpu_32(ip->dst_addr);
	uint32_t s = dst - SYN_CLIENT_NET;
	unsigned udp_len = rte_be_to_cpu_16(udp->dgram_len);

	if (m->data_len < LV_SOCKQ_HDRS ||
	    (dst & 0xffff0000u) != SYN_CLIENT_NET || udp_len < 8 ||
	    LV_SOCKQ_HDRS + udp_len - 8 > m->data_len ||
	    sq->slots[s].gen != rte_be_to_cpu_16(udp->dst_port))
		return NULL;
	*payload = (uint8_t *)(udp + 1);
	*len = udp_len - 8;
	return &sq->slots[s];
}

static void set_source(struct msghdr *h, uint8_t *buf, const struct slot *sl,
		       int family)
{
	struct cmsghdr *c;

	if (!sl->has_to)
		return;
	h->msg_control = buf;
	h->msg_controllen = CMSG_SZ;
	c = CMSG_FIRSTHDR(h);
	if (family == AF_INET) {
		struct in_pktinfo pi = {.ipi_spec_dst = sl->to.v4.ipi_addr};
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		h->msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		struct in6_pktinfo pi = {.ipi6_addr = sl->to.v6.ipi6_addr};
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		h->msg_controllen = CMSG_SPACE(sizeof(pi));
	}
}

uint16_t lv_sockq_tx(void *arg, struct rte_mbuf **pkts, uint16_t n)
{
	struct lv_sockq *sq = arg;
	struct rte_mbuf *unsent[2 * BATCH];
	struct rte_mbuf *batch[BATCH];
	unsigned n_unsent = 0, done = 0;

	if (n > 2 * BATCH)
		n = 2 * BATCH; /* the worker sends at most two bursts */

	while (done < n) {
		unsigned k = 0;
		for (; done < n && k < BATCH; done++) {
			uint8_t *payload;
			unsigned len;
			struct slot *sl =
			    reply_slot(sq, pkts[done], &payload, &len);
			if (sl == NULL) {
				/* too late: the slot serves a newer client */
				rte_pktmbuf_free(pkts[done]);
				__atomic_store_n(&sq->late_replies,
						 sq->late_replies + 1,
						 __ATOMIC_RELAXED);
				continue;
			}
			sq->iov[k] = (struct iovec){payload, len};
			sq->msgs[k].msg_hdr =
			    (struct msghdr){.msg_name = &sl->peer,
					    .msg_namelen = sl->peer_len,
					    .msg_iov = &sq->iov[k],
					    .msg_iovlen = 1};
			set_source(&sq->msgs[k].msg_hdr, sq->cmsg[k], sl,
				   sq->family);
			batch[k++] = pkts[done];
		}
		int sent = k ? sendmmsg(sq->fd, sq->msgs, k, MSG_DONTWAIT) : 0;
		if (sent < 0)
			sent = 0;
		rte_pktmbuf_free_bulk(batch, (unsigned)sent);
		for (unsigned i = (unsigned)sent; i < k; i++)
			unsent[n_unsent++] = batch[i];
	}
	/* the sent (and late) ones are freed; the others go to the tail,
	 * for the caller to drop and count */
	unsigned kept = n - n_unsent;
	memcpy(pkts + kept, unsent, n_unsent * sizeof(*pkts));
	return (uint16_t)kept;
}

uint64_t lv_sockq_late_replies(const struct lv_sockq *sq)
{
	return __atomic_load_n(&sq->late_replies, __ATOMIC_RELAXED);
}
