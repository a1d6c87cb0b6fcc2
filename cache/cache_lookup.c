/*
 * The reader half of the shared cache: bulk lookup and QSBR reporting.
 *
 * Runs on worker lcores, between parsing a burst of queries and writing
 * the answers in place. Nothing here allocates, logs, locks or makes a
 * system call, and nothing here writes memory another thread reads except
 * the reader's own QSBR counter (which is how the writer learns that the
 * reader has moved on). The writer half is cache/cache.c; the protocol
 * is in include/levee/cache.h and docs/cache.md.
 */
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_hash.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include "levee/cache.h"

void lv_cache_reader_register(struct lv_cache *c, unsigned id)
{
	/* The registration bitmap is updated with atomics inside librte_rcu;
	 * going online then stores the current token (relaxed) followed by a
	 * full fence, so the writer either waits for this reader or the
	 * reader's first lookup already sees every unlink before that token. */
	rte_rcu_qsbr_thread_register(c->qsbr, id);
	rte_rcu_qsbr_thread_online(c->qsbr, id);
}

void lv_cache_reader_quiescent(struct lv_cache *c, unsigned id)
{
	/* Store-release of the token: every load of an entry this reader made
	 * before this point happens before the writer's acquire load of the
	 * counter in rte_rcu_qsbr_check(), hence before it frees the entry. */
	rte_rcu_qsbr_quiescent(c->qsbr, id);
}

void lv_cache_reader_offline(struct lv_cache *c, unsigned id)
{
	/* Store-release of "offline": same guarantee as a quiescent report,
	 * and the writer stops waiting for this reader until it is online. */
	rte_rcu_qsbr_thread_offline(c->qsbr, id);
}

void lv_cache_reader_online(struct lv_cache *c, unsigned id)
{
	rte_rcu_qsbr_thread_online(c->qsbr, id);
}

void lv_cache_reader_unregister(struct lv_cache *c, unsigned id)
{
	/* Offline first (inline, visible to race detectors), then drop the
	 * registration bit. */
	rte_rcu_qsbr_thread_offline(c->qsbr, id);
	rte_rcu_qsbr_thread_unregister(c->qsbr, id);
}

/* Does entry e answer query q? The digest matched in the table; this checks
 * the full key so that a 64-bit collision is a miss, never a wrong answer.
 * Cheapest fields first, the name last. */
static inline int key_matches(const struct lv_cache_entry *e,
			      const struct lv_query *q)
{
	return e->hash == q->hash && e->qtype == q->qtype &&
	       e->qclass == q->qclass && e->do_bit == q->do_bit &&
	       e->cd == q->cd && e->name_len == q->qname_len &&
	       memcmp(e->name, q->lname, e->name_len) == 0;
}

uint64_t lv_cache_now(const struct lv_cache *c)
{
	/* rdtsc, a subtraction and a multiplication by 1/Hz: no system
	 * call, no division. The TSC is invariant on the CPUs DPDK supports
	 * (it checks at start-up). */
	uint64_t cycles = rte_get_tsc_cycles() - c->tsc_base;
	return (uint64_t)(((unsigned __int128)cycles * c->tsc_inv) >>
			  (64 - LV_CACHE_TICK_SHIFT));
}

/* Out of line: only upstream entries come here, zone hits never do. */
static __attribute__((noinline)) bool
expired_now(const struct lv_cache *c, const struct lv_cache_entry *e,
	    uint64_t *now)
{
	if (*now == UINT64_MAX)
		*now = lv_cache_now(c);
	return lv_cache_entry_expired(e, *now);
}

unsigned lv_cache_lookup_bulk(const struct lv_cache *c,
			      const struct lv_query *const q[], unsigned n,
			      const struct lv_cache_entry *out[])
{
	const void *keys[LV_CACHE_BULK_MAX];
	hash_sig_t sigs[LV_CACHE_BULK_MAX];
	void *data[LV_CACHE_BULK_MAX];
	uint64_t hits = 0;
	uint64_t now = UINT64_MAX; /* read once, at the first upstream hit */
	unsigned i, expired = 0;

	if (n > LV_CACHE_BULK_MAX)
		n = LV_CACHE_BULK_MAX;
	for (i = 0; i < n; i++) {
		/* The rte_hash key is the 8-byte digest itself; the signature
		 * is derived from it, so no hash function runs here. */
		keys[i] = &q[i]->hash;
		sigs[i] = lv_cache_sig(q[i]->hash);
		out[i] = NULL;
	}
	if (n == 0)
		return 0;

	/* Lock-free lookup: rte_hash loads each bucket's key index and each
	 * key's data pointer with acquire order, pairing with the writer's
	 * release stores, so an entry's bytes are visible before we read
	 * them. It retries internally if a cuckoo move raced with it. */
	if (rte_hash_lookup_with_hash_bulk_data(c->table, keys, sigs, n, &hits,
						data) <= 0)
		return 0;

	/* Start fetching every hit's key fields and name (name[] begins
	 * right after the header in data[]) before checking any of them. */
	for (uint64_t m = hits; m != 0; m &= m - 1) {
		const uint8_t *e = data[__builtin_ctzll(m)];
		rte_prefetch0(e);
		rte_prefetch0(e + 64);
		rte_prefetch0(e + 128);
	}

	for (uint64_t m = hits; m != 0; m &= m - 1) {
		i = (unsigned)__builtin_ctzll(m);
		const struct lv_cache_entry *e = data[i];
		/* TSan cannot see the acquire inside librte_hash: say it. */
		LV_TSAN_ACQUIRE(e);
		if (!key_matches(e, q[i]))
			continue;
		if (unlikely(e->origin == LV_ORIGIN_UPSTREAM) &&
		    expired_now(c, e, &now)) {
			expired++; /* a miss: the forwarder fetches it anew */
			continue;
		}
		out[i] = e;
	}
	return expired;
}
