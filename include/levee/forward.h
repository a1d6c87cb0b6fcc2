/*
 * The forwarder: cache misses for names that no local zone holds and a
 * forwarding rule covers go to upstream resolvers, and their answers are
 * cached by TTL (docs/forwarding.md).
 *
 * It is the control plane's deferrer (struct lv_deferrer): a miss it wants
 * is parked as a request (the receive buffer goes back at once) and joins
 * the fetch for its cache key (lowercased name, type, class, DO, CD), so
 * concurrent misses for one key make one upstream query (coalescing); the
 * waiters are bounded per key (forwarding.max-waiters; refused ones get
 * SERVFAIL and are counted). A fetch tries the rule's upstreams in turn
 * (the first by weight, at random), each for at most attempt-timeout-ms
 * and all for at most timeout-ms, over UDP; an answer with TC=1 is asked
 * again of the same upstream over TCP, and the whole answer is cached and
 * served to every waiter, to UDP clients whose size it fits and truncated
 * (TC=1, from the cache) to the others. When every try fails, the waiters
 * get SERVFAIL, which is cached for servfail-ttl seconds.
 *
 * Forwarding loops (docs/forwarding.md): every query we forward carries
 * our loop marker; a miss that carries our own hop, or our loop probe
 * name, has come back to us and is answered SERVFAIL with the marker
 * echoed (the loop signal) before it can join a fetch, and the upstream
 * that leads into the loop is taken out of rotation; an answer carrying
 * the signal does the same for the upstream it came from.
 *
 * Rules come from the configuration snapshot current when a miss arrives
 * (a SIGHUP may change them); a fetch keeps the rules it started with.
 * Local zones come first: a name inside a local zone is never forwarded.
 *
 * Control plane only, on the event loop's thread.
 */
#ifndef LEVEE_FORWARD_H
#define LEVEE_FORWARD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct lv_control;
struct lv_forward;

struct lv_forward_stats {
	uint64_t fetches;         /* upstream lookups started */
	uint64_t coalesced;       /* misses that joined a fetch in flight */
	uint64_t waiters_refused; /* a key had max-waiters already */
	uint64_t answered;        /* fetches that ended with an answer */
	uint64_t cached;          /* answers put in the cache */
	uint64_t not_cached;      /* answers passed on uncached */
	uint64_t failed;          /* fetches that ended in SERVFAIL */
	uint64_t tcp_refetch;     /* TC=1 answers asked again over TCP */
	uint64_t bad_answers;     /* malformed answers, another try made */
	uint64_t in_flight;       /* fetches now */
	/* answers that arrived after a reload made their rule or zone
	 * change: passed on to their waiters, not cached */
	uint64_t stale_config;
	uint64_t purges; /* reloads that dropped every forwarded answer */
	/* lookups answered SERVFAIL at once: every upstream of the rule
	 * was down */
	uint64_t all_down;
	/* prefetch: refreshes started for hot answers late in their TTL,
	 * and requests left alone (a fetch for the key was in flight, the
	 * cache held a fresh answer already, or no rule forwards it now) */
	uint64_t prefetches;
	uint64_t prefetch_skipped;
	/* serve-stale: clients the forwarder answered stale (the workers'
	 * answers from stale copies are cache_hits_stale), and the stale
	 * copies it published */
	uint64_t stale_answers;
	uint64_t stale_copies;
	/* forwarding loops (docs/forwarding.md "Forwarding loops"): queries
	 * refused because they had come back to us (the probe name last
	 * sent, or our marker hop while that lookup is out), queries refused
	 * for carrying LV_LOOP_HOPS_MAX hops or more, queries with our id
	 * that were none of ours out (refused, a probe sent instead of
	 * marking anything), lookups ended at once because the rule's
	 * upstreams were out of rotation, one or more of them looping */
	uint64_t loop_queries;
	uint64_t loop_too_deep;
	uint64_t loop_unverified;
	uint64_t all_looping;
};

/* Make the forwarder ctl's deferrer. 0, or -1 after logging why. */
int lv_forward_open(struct lv_control *ctl);
/* End every fetch (waiters dropped) and free the forwarder. */
void lv_forward_close(struct lv_control *ctl);

/* A reload is swapping in the configuration now current (ctl->conf) and
 * zone set: when the rules changed or zone_added (a local zone appeared,
 * taking names that were forwarded), every cached forwarded answer is
 * purged (lv_cache_purge_zone of LV_ZONE_ID_UPSTREAM, stepped by the
 * reload), and fetches in flight will not cache what they get. */
void lv_forward_reloaded(struct lv_forward *f, bool zone_added);

/* Print the forwarder's counters and each upstream's, as NAME VALUE
 * lines of the stats block (forward_*, upstream[ADDR@PORT].*). */
void lv_forward_print_stats(const struct lv_forward *f, FILE *out);

#endif
