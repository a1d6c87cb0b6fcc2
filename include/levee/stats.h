/*
 * Per-lcore counters.
 *
 * Each worker owns one struct lv_stats and is its only writer: it bumps
 * counters with LV_STAT_ADD (a relaxed atomic store of a plain increment,
 * which compiles to an ordinary add on x86-64 and keeps race detectors
 * quiet). The control plane reads them with relaxed loads and sums them
 * (lv_stats_sum); a sum may be a few packets behind, never torn.
 */
#ifndef LEVEE_STATS_H
#define LEVEE_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "levee/wire.h"

/* Why a received frame got no answer. Each has its own counter. */
#define LV_DROP_REASONS(X)                                                     \
	X(NOT_IP, "not IPv4/IPv6")                                             \
	X(VLAN_NOT_IP, "VLAN-tagged, not IPv4/IPv6 inside (or over two tags)") \
	X(RUNT_L2, "frame shorter than its headers")                           \
	X(TRUNCATED, "frame cut short (capture snap length or IP length)")     \
	X(IP_OPTIONS, "IPv4 options or IPv6 extension headers")                \
	X(FRAGMENT, "IP fragment")                                             \
	X(BAD_CHECKSUM, "checksum flagged bad by the driver")                  \
	X(NOT_UDP, "not UDP")                                                  \
	X(NOT_PORT53, "UDP not to port 53")                                    \
	X(NOT_OUR_ADDRESS, "not to a service address")                         \
	X(UDP6_ZERO_CHECKSUM, "IPv6 UDP checksum 0 (RFC 8200 8.1)")            \
	X(SOURCE_PORT_0, "UDP source port 0")                                  \
	X(BAD_SOURCE, "source never answered: 0/8, 127/8, multicast, bcast")   \
	X(MULTI_SEGMENT, "multi-segment mbuf")                                 \
	X(RUNT_DNS, "DNS message shorter than a header")                       \
	X(QR_SET, "QR=1: a response, never answered")                          \
	X(NO_ROOM, "answer does not fit the buffer")                           \
	X(MISS_RING_FULL, "miss ring full")                                    \
	X(TX_FULL, "TX queue full")                                            \
	X(KERNEL_RING_FULL, "exception ring to the kernel full")               \
	X(KERNEL_TX_FULL, "TAP did not take a frame for the kernel")           \
	X(PORT_RING_FULL, "reply ring full for a frame from the kernel")       \
	X(CONTROL_ERROR, "control plane could not answer")

/* Query types counted one by one (per qtype counters); the rest are
 * "other". */
#define LV_QTYPES(X)                                                           \
	X(OTHER, 0)                                                            \
	X(A, 1)                                                                \
	X(NS, 2)                                                               \
	X(CNAME, 5)                                                            \
	X(SOA, 6)                                                              \
	X(PTR, 12)                                                             \
	X(MX, 15)                                                              \
	X(TXT, 16)                                                             \
	X(AAAA, 28)                                                            \
	X(SRV, 33)                                                             \
	X(NAPTR, 35)                                                           \
	X(DS, 43)                                                              \
	X(DNSKEY, 48)                                                          \
	X(SVCB, 64)                                                            \
	X(HTTPS, 65)                                                           \
	X(ANY, 255)

enum lv_qtype_slot {
#define LV_X(name, code) LV_QTYPE_##name,
	LV_QTYPES(LV_X)
#undef LV_X
	    LV_QTYPE_MAX
};

/* qtype -> LV_QTYPE_* slot for the types below 256 (0, OTHER, for the
 * rest): a table load instead of a switch's compare chain on the hit path */
static const uint8_t lv_stats_qtype_slots[256] = {
#define LV_X(name, code) [code] = LV_QTYPE_##name,
    LV_QTYPES(LV_X)
#undef LV_X
};

static inline unsigned lv_stats_qtype_slot(uint16_t qtype)
{
	return qtype < 256 ? lv_stats_qtype_slots[qtype] : LV_QTYPE_OTHER;
}

enum lv_drop_reason {
#define LV_X(name, text) LV_DROP_##name,
	LV_DROP_REASONS(LV_X)
#undef LV_X
	    LV_DROP_MAX
};

struct lv_stats {
	uint64_t rx;      /* frames received */
	uint64_t tx;      /* responses handed to the driver */
	uint64_t queries; /* DNS queries parsed (any outcome) */
	uint64_t cache_hits;
	uint64_t cache_hits_aged; /* of cache_hits: upstream answers, aged */
	uint64_t cache_expired;   /* of cache_misses: the entry had expired */
	/* hits late in an upstream entry's TTL that asked for its refresh,
	 * and those the full prefetch ring lost */
	uint64_t prefetch_asked;
	uint64_t prefetch_ring_full;
	uint64_t cache_misses; /* sent to the control plane */
	uint64_t punts;        /* valid queries sent to the control plane */
	uint64_t from_control; /* frames the control plane handed over and
				* this worker sent: miss answers, and the
				* kernel's frames on live ports */
	uint64_t to_kernel;   /* frames handed to the kernel (exception path) */
	uint64_t from_kernel; /* frames the kernel sent out through the port */
	uint64_t local_queries; /* datagrams on the host-local sockets */
	/* the TCP server (control plane) */
	uint64_t tcp_accepted;
	uint64_t tcp_queries;
	uint64_t tcp_closed_idle;     /* idle timeout */
	uint64_t tcp_closed_overflow; /* did not read its answers */
	uint64_t tcp_closed_limit;    /* made room for, or refused by, limits */
	uint64_t tcp_closed_peer;     /* the client closed (or reset) */
	uint64_t truncated;           /* TC=1 answers */
	/* zone transfers (control plane) */
	uint64_t xfr_axfr;         /* AXFR started */
	uint64_t xfr_ixfr;         /* IXFR answered with differences */
	uint64_t xfr_ixfr_full;    /* IXFR answered with the whole zone */
	uint64_t xfr_ixfr_current; /* IXFR from a client already current */
	uint64_t xfr_refused;      /* not allowed, or not our zone */
	uint64_t xfr_done;         /* last message written */
	uint64_t xfr_aborted;      /* the connection closed before it */
	uint64_t xfr_messages;
	uint64_t notify_sent;     /* NOTIFY datagrams, retries included */
	uint64_t notify_answered; /* acknowledged by the secondary */
	uint64_t notify_failed;   /* no answer after every retry */
	uint64_t drop[LV_DROP_MAX];
	uint64_t rcode[LV_RCODE_MAX];
	uint64_t qtype[LV_QTYPE_MAX]; /* queries the workers parsed, by type */
} __attribute__((aligned(64)));

#define LV_STAT_ADD(field, n)                                                  \
	__atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)
#define LV_STAT_INC(field) LV_STAT_ADD(field, 1)

/* Add src into dst field by field (relaxed loads of src). */
void lv_stats_sum(struct lv_stats *dst, const struct lv_stats *src);
/* Name of a drop reason, for printing. */
const char *lv_drop_reason_text(enum lv_drop_reason r);
const char *lv_drop_reason_name(enum lv_drop_reason r);
/* Print a summary, one counter per line, zero counters left out. */
void lv_stats_print(FILE *f, const struct lv_stats *s);

#endif
