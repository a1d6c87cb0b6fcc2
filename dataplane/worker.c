/*
 * The worker poll loop: the whole walk of a packet on a worker lcore.
 *
 *   rx_burst → classify frame → parse query → bulk cache lookup →
 *   write answer in place → append control-plane answers → tx_burst →
 *   quiescent state
 *
 * No locks, no allocation, no syscalls: everything a burst needs lives in
 * this lcore's struct lv_worker (its burst scratch among it) or on its
 * stack. Misses leave through the control ring; nothing here waits for the
 * control plane, except in replay mode (lossless), where waiting is the
 * point.
 */
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#include "levee/response.h"
#include "levee/worker.h"

#define PREFETCH_AHEAD 4

static inline bool stopping(const struct lv_worker *w)
{
	/* acquire: pairs with lv_worker_request_stop() */
	return __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) != 0;
}

static inline void drop(struct lv_worker *w, struct rte_mbuf *m,
			enum lv_drop_reason why)
{
	LV_STAT_INC(w->stats.drop[why]);
	rte_pktmbuf_free(m);
}

/* An error answer written by the dataplane itself (FORMERR, NOTIMP,
 * BADVERS). Returns true when m now holds a reply. */
static bool answer_error(struct lv_worker *w, struct rte_mbuf *m,
			 const struct lv_pkt_info *pi, const struct lv_query *q,
			 unsigned rcode)
{
	uint8_t *dns = rte_pktmbuf_mtod_offset(m, uint8_t *, pi->dns_off);
	uint16_t len = lv_response_error(dns, lv_pkt_dns_room(m, pi), q, rcode,
					 w->udp_max);
	if (len == 0) {
		drop(w, m, LV_DROP_NO_ROOM);
		return false;
	}
	lv_pkt_finish_reply(m, pi, len, &w->tx_offload);
	LV_STAT_INC(w->stats.rcode[rcode]);
	return true;
}

/* Classify and parse one frame; route it by verdict. Returns true when it
 * became a reply (stored by the caller). */
static bool triage(struct lv_worker *w, struct lv_worker_burst *c,
		   struct rte_mbuf *m, unsigned slot)
{
	struct lv_pkt_info *pi = &c->pi[slot];
	struct lv_query *q = &c->q[slot];
	unsigned v = lv_pkt_classify(m, c->filter, pi);

	if (v != LV_PKT_DNS) {
		if (w->to_kernel &&
		    lv_pkt_for_kernel(m, c->filter, LV_PKT_DROP_REASON(v)))
			c->to_kernel[c->n_kernel++] = m;
		else
			drop(w, m, LV_PKT_DROP_REASON(v));
		return false;
	}
	const uint8_t *dns = rte_pktmbuf_mtod_offset(m, uint8_t *, pi->dns_off);
	switch (lv_query_parse(dns, pi->dns_len, w->hash_seed, q)) {
	case LV_PARSE_OK:
		LV_STAT_INC(w->stats.queries);
		LV_STAT_INC(w->stats.qtype[lv_stats_qtype_slot(q->qtype)]);
		c->lookup_q[c->n_lookup] = q;
		c->lookup_m[c->n_lookup] = m;
		c->lookup_slot[c->n_lookup++] = slot;
		return false;
	case LV_PARSE_PUNT:
		LV_STAT_INC(w->stats.queries);
		LV_STAT_INC(w->stats.qtype[lv_stats_qtype_slot(q->qtype)]);
		LV_STAT_INC(w->stats.punts);
		c->to_control[c->n_control++] = m;
		return false;
	case LV_PARSE_FORMERR:
		LV_STAT_INC(w->stats.queries);
		return answer_error(w, m, pi, q, LV_RCODE_FORMERR);
	case LV_PARSE_NOTIMP:
		LV_STAT_INC(w->stats.queries);
		return answer_error(w, m, pi, q, LV_RCODE_NOTIMP);
	case LV_PARSE_BADVERS:
		LV_STAT_INC(w->stats.queries);
		return answer_error(w, m, pi, q, LV_RCODE_BADVERS);
	case LV_PARSE_DROP_RESPONSE:
		drop(w, m, LV_DROP_QR_SET);
		return false;
	case LV_PARSE_DROP_RUNT:
	default:
		drop(w, m, LV_DROP_RUNT_DNS);
		return false;
	}
}

/* Ask the control plane to refresh q's key before its entry expires:
 * the query's key goes on the worker's prefetch ring (a copy, since the
 * mbuf becomes the answer). Lost, and counted, when the ring is full. */
static __attribute__((noinline)) void ask_refresh(struct lv_worker *w,
						  const struct lv_query *q)
{
	if (rte_ring_sp_enqueue_elem(w->prefetch, (void *)(uintptr_t)q,
				     sizeof(*q)) == 0)
		LV_STAT_INC(w->stats.prefetch_asked);
	else
		LV_STAT_INC(w->stats.prefetch_ring_full);
}

/* How old an upstream entry is now (it was checked unexpired by the
 * lookup a moment ago); a hit late in its TTL asks for a refresh, once
 * per entry. Out of line: zone entries never age. */
static __attribute__((noinline)) uint32_t
entry_age(struct lv_worker *w, struct lv_worker_burst *c,
	  const struct lv_cache_entry *e, const struct lv_query *q)
{
	LV_STAT_INC(w->stats.cache_hits_aged);
	if (unlikely(e->stale))
		LV_STAT_INC(w->stats.cache_hits_stale);
	if (c->now == UINT64_MAX)
		c->now = lv_cache_now(w->cache);
	if (w->prefetch != NULL &&
	    lv_cache_entry_wants_refresh(w->cache, e, c->now))
		ask_refresh(w, q);
	return lv_cache_entry_age(e, c->now);
}

/* Write the cached answer over query i of the lookup batch. */
static bool answer_hit(struct lv_worker *w, struct lv_worker_burst *c,
		       unsigned i)
{
	struct rte_mbuf *m = c->lookup_m[i];
	const struct lv_pkt_info *pi = &c->pi[c->lookup_slot[i]];
	const struct lv_cache_entry *e = c->hit[i];
	uint8_t *dns = rte_pktmbuf_mtod_offset(m, uint8_t *, pi->dns_off);
	uint32_t age = unlikely(e->origin == LV_ORIGIN_UPSTREAM)
			   ? entry_age(w, c, e, c->lookup_q[i])
			   : 0;
	bool tc;
	uint16_t len = lv_response_from_entry_aged(dns, lv_pkt_dns_room(m, pi),
						   c->lookup_q[i], e,
						   w->udp_max, age, &tc);
	if (len == 0) {
		drop(w, m, LV_DROP_NO_ROOM);
		return false;
	}
	/* without UDP checksum offload, the entry's precomputed sum spares
	 * summing the answer's bytes again */
	int32_t sum = w->tx_offload.udp_cksum
			  ? -1
			  : lv_response_sum(dns, len, c->lookup_q[i], e);
	if (sum >= 0)
		lv_pkt_finish_reply_summed(m, pi, len, &w->tx_offload,
					   (uint16_t)sum);
	else
		lv_pkt_finish_reply(m, pi, len, &w->tx_offload);
	LV_STAT_INC(w->stats.cache_hits);
	LV_STAT_INC(w->stats.rcode[e->rcode]);
	if (tc)
		LV_STAT_INC(w->stats.truncated);
	return true;
}

/* Hand misses and punts to the control plane. */
static void send_to_control(struct lv_worker *w, struct lv_worker_burst *c)
{
	unsigned n = c->n_control;
	unsigned done = rte_ring_enqueue_burst(w->to_control,
					       (void **)c->to_control, n, NULL);
	/* replay: the control plane is behind, not gone; wait for it */
	while (done < n && w->lossless && !stopping(w))
		done += rte_ring_enqueue_burst(w->to_control,
					       (void **)(c->to_control + done),
					       n - done, NULL);
	w->to_control_sent += done;
	for (unsigned i = done; i < n; i++)
		drop(w, c->to_control[i], LV_DROP_MISS_RING_FULL);
}

/* Hand the burst's exception frames to the control plane for the TAP. */
static void send_to_kernel(struct lv_worker *w, struct lv_worker_burst *c)
{
	unsigned n = c->n_kernel;
	unsigned done = rte_ring_enqueue_burst(w->to_kernel,
					       (void **)c->to_kernel, n, NULL);

	LV_STAT_ADD(w->stats.to_kernel, done);
	for (unsigned i = done; i < n; i++)
		drop(w, c->to_kernel[i], LV_DROP_KERNEL_RING_FULL);
}

/* May this queue be polled? Live: always. Replay: only when enough mbufs
 * are free and the control plane has finished every query handed to it. */
static inline bool may_receive(const struct lv_worker *w)
{
	if (!w->lossless)
		return true;
	/* acquire: pairs with lv_worker_control_done() */
	return __atomic_load_n(&w->to_control_done, __ATOMIC_ACQUIRE) ==
		   w->to_control_sent &&
	       rte_mempool_avail_count(w->pool) >= w->rx_min_free;
}

static uint16_t handle_burst(struct lv_worker *w,
			     const struct lv_addr_filter *filter,
			     struct rte_mbuf **pkts, uint16_t n,
			     struct rte_mbuf **tx)
{
	struct lv_worker_burst *c = &w->burst;
	uint16_t ntx = 0;

	c->filter = filter;
	c->now = UINT64_MAX;
	c->n_lookup = 0;
	c->n_control = 0;
	c->n_kernel = 0;
	for (unsigned i = 0; i < n && i < PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (unsigned i = 0; i < n; i++) {
		if (i + PREFETCH_AHEAD < n)
			rte_prefetch0(
			    rte_pktmbuf_mtod(pkts[i + PREFETCH_AHEAD], void *));
		if (triage(w, c, pkts[i], i))
			tx[ntx++] = pkts[i];
	}
	if (c->n_lookup) {
		unsigned expired = lv_cache_lookup_bulk(w->cache, c->lookup_q,
							c->n_lookup, c->hit);
		if (unlikely(expired))
			LV_STAT_ADD(w->stats.cache_expired, expired);
		for (unsigned i = 0; i < c->n_lookup; i++) {
			if (c->hit[i] == NULL) {
				LV_STAT_INC(w->stats.cache_misses);
				c->to_control[c->n_control++] = c->lookup_m[i];
			} else if (answer_hit(w, c, i)) {
				tx[ntx++] = c->lookup_m[i];
			}
		}
	}
	if (c->n_control)
		send_to_control(w, c);
	if (c->n_kernel)
		send_to_kernel(w, c);
	return ntx;
}

uint16_t lv_worker_handle_burst(struct lv_worker *w, struct rte_mbuf **pkts,
				uint16_t n, struct rte_mbuf **tx)
{
	return handle_burst(w, w->filter, pkts, n, tx);
}

/* Append answers the control plane left for this queue, up to room. */
static uint16_t take_replies(struct lv_worker *w, struct lv_worker_queue *wq,
			     struct rte_mbuf **tx, uint16_t room)
{
	if (wq->replies == NULL || room == 0)
		return 0;
	uint16_t n = (uint16_t)rte_ring_dequeue_burst(wq->replies, (void **)tx,
						      room, NULL);
	LV_STAT_ADD(w->stats.from_control, n);
	return n;
}

static void transmit(struct lv_worker *w, const struct lv_worker_queue *wq,
		     struct rte_mbuf **tx, uint16_t n)
{
	uint16_t sent = unlikely(wq->tx != NULL)
			    ? wq->tx(wq->io, tx, n)
			    : rte_eth_tx_burst(wq->port, wq->queue, tx, n);

	/* replay: a capture file is not a lossy link */
	while (sent < n && w->lossless && !stopping(w))
		sent +=
		    rte_eth_tx_burst(wq->port, wq->queue, tx + sent, n - sent);
	LV_STAT_ADD(w->stats.tx, sent);
	for (uint16_t i = sent; i < n; i++)
		drop(w, tx[i], LV_DROP_TX_FULL);
}

/* One poll of one queue: receive, answer, add control answers, send.
 * Returns how many frames it received or sent. */
static unsigned poll_queue(struct lv_worker *w, struct lv_worker_queue *wq)
{
	struct rte_mbuf *rx[LV_BURST];
	struct rte_mbuf *tx[2 * LV_BURST];
	uint16_t nrx = 0, ntx = 0;

	if (may_receive(w))
		nrx = unlikely(wq->rx != NULL)
			  ? wq->rx(wq->io, rx, LV_BURST)
			  : rte_eth_rx_burst(wq->port, wq->queue, rx, LV_BURST);
	if (nrx) {
		LV_STAT_ADD(w->stats.rx, nrx);
		ntx = handle_burst(w, wq->filter ? wq->filter : w->filter, rx,
				   nrx, tx);
	}
	ntx += take_replies(w, wq, tx + ntx, LV_BURST);
	if (ntx)
		transmit(w, wq, tx, ntx);
	return nrx + ntx;
}

/* Nothing to do for idle_polls polls: sleep a little, offline for RCU so
 * that the writer does not wait for a sleeping reader. Out of line: the
 * busy path never comes here. */
static __attribute__((noinline)) void idle_sleep(struct lv_worker *w)
{
	lv_cache_reader_offline(w->cache, w->id);
	rte_delay_us_sleep(w->idle_sleep_us);
	lv_cache_reader_online(w->cache, w->id);
}

int lv_worker_main(void *arg)
{
	struct lv_worker *w = arg;

	uint32_t empty = 0;

	lv_cache_reader_register(w->cache, w->id);
	while (!stopping(w)) {
		unsigned work = 0;
		for (unsigned i = 0; i < w->n_queues; i++)
			work += poll_queue(w, &w->queues[i]);
		/* no entry pointer survives an iteration */
		lv_cache_reader_quiescent(w->cache, w->id);
		empty = work ? 0 : empty + 1;
		if (unlikely(w->idle_sleep_us && empty >= w->idle_polls)) {
			idle_sleep(w);
			empty = 0;
		}
	}
	lv_cache_reader_offline(w->cache, w->id);
	lv_cache_reader_unregister(w->cache, w->id);
	return 0;
}
