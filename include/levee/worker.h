/*
 * The worker poll loop.
 *
 * A worker lcore owns a set of (port, queue) pairs: only it calls rx_burst
 * and tx_burst on them. Per iteration it receives a burst, classifies and
 * parses every frame, looks the queries up in the shared cache in bulk,
 * writes the answers over the queries, appends the answers the control plane
 * computed (from the queue's reply ring, of which the worker is the only
 * consumer), transmits, and reports a quiescent state to the cache.
 *
 * struct lv_worker is set up by the control plane before the lcore starts
 * and is read-only afterwards, except for `stats` and `burst` (written
 * only by the worker) and `stop` (written by the control plane). Mbufs
 * received are the worker's until transmitted, freed, or enqueued to the
 * control ring (then the control plane's, until it enqueues them to a
 * reply ring).
 */
#ifndef LEVEE_WORKER_H
#define LEVEE_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "levee/cache.h"
#include "levee/packet.h"
#include "levee/stats.h"

#define LV_BURST             32
#define LV_WORKER_MAX_QUEUES 16
/* Refresh requests a worker may have waiting for the control plane: one
 * per hot entry near its expiry, drained every event-loop round. */
#define LV_PREFETCH_RING 1024

/* A queue's own receive and transmit, for queues that are not DPDK
 * ports (host sockets, host/sockport.c): same contract as
 * rte_eth_rx_burst / rte_eth_tx_burst. */
typedef uint16_t (*lv_queue_io_fn)(void *io, struct rte_mbuf **pkts,
				   uint16_t n);

struct lv_worker_queue {
	uint16_t port;
	uint16_t queue;
	/* NULL for a DPDK port; else the queue's own I/O on io */
	lv_queue_io_fn rx, tx;
	void *io;
	/* the service addresses of this queue's frames (a socket queue's
	 * synthetic frames have their own) */
	const struct lv_addr_filter *filter;
	/* answers from the control plane that leave by this queue (SP/SC:
	 * control produces, this worker consumes); NULL on all but one queue
	 * per port */
	struct rte_ring *replies;
};

/* One burst's scratch: the parsed queries and packet facts, the lookups,
 * the frames leaving for the control plane or the kernel. Kept in the
 * worker (its lcore only, one burst at a time), cache-line aligned, not
 * on the lcore's stack: there its place moved with the size of the
 * process's environment, and with it which of its lines shared 4 KiB
 * offsets with the mbuf data the write stage touches (4K aliasing, up to
 * 40 % on the hit path; docs/performance.md "Issue 11"). */
struct lv_worker_burst {
	struct lv_query q[LV_BURST];
	struct lv_pkt_info pi[LV_BURST];
	const struct lv_query *lookup_q[LV_BURST];
	const struct lv_cache_entry *hit[LV_BURST];
	struct rte_mbuf *lookup_m[LV_BURST];
	unsigned lookup_slot[LV_BURST];
	struct rte_mbuf *to_control[LV_BURST];
	struct rte_mbuf *to_kernel[LV_BURST];
	unsigned n_lookup;
	unsigned n_control;
	unsigned n_kernel;
	const struct lv_addr_filter *filter; /* the queue's */
	/* lv_cache_now() for this burst's aged answers, read at the first
	 * one (UINT64_MAX until then): one clock read per burst */
	uint64_t now;
};

struct lv_worker {
	unsigned id; /* index, and the cache reader id */
	unsigned lcore;
	struct lv_cache *cache;
	uint64_t hash_seed;
	const struct lv_addr_filter *filter;
	struct lv_tx_offload tx_offload;
	uint16_t udp_max;
	/* Replay mode: a file is not a lossy link. Wait for ring and TX space
	 * instead of dropping, and poll RX only when rx_min_free mbufs are
	 * free (the pcap PMD discards a frame it read if no mbuf is left). */
	bool lossless;
	struct rte_mempool *pool;
	unsigned rx_min_free;
	/* misses and punts to the control plane (SP/SC: this worker produces,
	 * the control plane consumes) */
	struct rte_ring *to_control;
	/* refresh requests (prefetch): the keys (struct lv_query elements)
	 * of upstream entries answered late in their TTL, one per entry
	 * (SP/SC like to_control; lv_cache_entry_wants_refresh) */
	struct rte_ring *prefetch;
	/* the exception path: frames for the kernel (ARP, ICMP, TCP, ...),
	 * which the control plane writes to the TAP (SP/SC like to_control);
	 * NULL in replay mode, where such frames are counted drops */
	struct rte_ring *to_kernel;
	/* Live ports on shared CPUs: after idle_polls empty polls in a row
	 * the worker goes offline for RCU and sleeps idle_sleep_us
	 * (0: never; the benchmark and dedicated cores use 0). */
	uint32_t idle_sleep_us;
	uint32_t idle_polls;
	unsigned n_queues;
	struct lv_worker_queue queues[LV_WORKER_MAX_QUEUES];
	/* set by the control plane to end the loop; read with acquire */
	uint32_t stop;
	/* mbufs handed to the control plane (written by the worker only) and
	 * those it has finished with, replied or dropped (written by the
	 * control plane only, with release). Replay mode reads the next burst
	 * only when the two are equal, so that which queries hit the cache
	 * depends on the capture alone, never on timing. */
	uint64_t to_control_sent;
	uint64_t to_control_done;
	struct lv_stats stats;
	/* the worker's own (lv_worker_handle_burst) */
	struct lv_worker_burst burst __rte_cache_aligned;
} __rte_cache_aligned;

/* lcore entry point (rte_eal_remote_launch); arg is the struct lv_worker. */
int lv_worker_main(void *arg);

/*
 * Handle n received frames: answers are written in place and stored in
 * tx[] (returned count); misses and punts go to the control ring; the rest
 * are freed and counted. The poll loop's core, exported for the benchmark.
 * Worker lcore only.
 */
uint16_t lv_worker_handle_burst(struct lv_worker *w, struct rte_mbuf **pkts,
				uint16_t n, struct rte_mbuf **tx);

/* The address filter of w's queue for port (the worker's own when none
 * is set): what frames from that port are classified against. */
static inline const struct lv_addr_filter *
lv_worker_filter(const struct lv_worker *w, uint16_t port)
{
	for (unsigned i = 0; i < w->n_queues; i++)
		if (w->queues[i].port == port && w->queues[i].filter)
			return w->queues[i].filter;
	return w->filter;
}

/* The reply ring of w for port (NULL when w serves no queue of it):
 * where the control plane puts frames for w to transmit. */
static inline struct rte_ring *lv_worker_reply_ring(const struct lv_worker *w,
						    uint16_t port)
{
	for (unsigned i = 0; i < w->n_queues; i++)
		if (w->queues[i].port == port && w->queues[i].replies)
			return w->queues[i].replies;
	return NULL;
}

/* The control plane is done with n more of w's mbufs (control plane). */
static inline void lv_worker_control_done(struct lv_worker *w, unsigned n)
{
	/* release: the replies enqueued before this are visible to the
	 * worker once it sees the new count (acquire in the worker) */
	__atomic_store_n(&w->to_control_done, w->to_control_done + n,
			 __ATOMIC_RELEASE);
}

/* Ask the worker to stop (control plane). */
static inline void lv_worker_request_stop(struct lv_worker *w)
{
	/* release: pairs with the worker's acquire load so everything the
	 * control plane wrote before asking is seen by the worker */
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
}

#endif
