/*
 * The lock-free shared answer cache.
 *
 * Concurrency protocol
 * --------------------
 * - One writer: the control-plane thread. It alone calls lv_cache_create(),
 *   lv_cache_insert(), lv_cache_delete*(), lv_cache_purge_*(),
 *   lv_cache_clear(), lv_cache_reclaim(), lv_cache_grace_*(),
 *   lv_cache_synchronize(), lv_cache_get_stats() and lv_cache_destroy(). These functions are not thread-safe against each
 *   other; they need no lock because only one thread calls them.
 * - Many readers: worker lcores call lv_cache_lookup_bulk(). A lookup takes
 *   no lock, never waits for the writer and writes nothing shared: it reads
 *   the table (rte_hash in lock-free RW-concurrency mode, keyed by the
 *   64-bit digest of lv_cache_key_hash()) and the immutable entries it
 *   points to, and checks every hit against the entry's full key.
 * - Entries are immutable once published. Replacing one publishes a new
 *   entry under the same key (an atomic pointer store with release order
 *   inside rte_hash); the reader's acquire load of that pointer makes the
 *   entry's bytes visible before it is dereferenced.
 * - Memory is freed only after every registered reader has reported a
 *   quiescent state (rte_rcu_qsbr) after the entry was unlinked: an unlinked
 *   entry (replaced, deleted or evicted) is stamped with a QSBR token and
 *   parked on a writer-only list; lv_cache_reclaim() frees those whose token
 *   every reader has passed, lv_cache_grace_start()/_done() poll for a
 *   token without blocking, lv_cache_synchronize() waits for all of them.
 *   Deleted keys' table slots are returned to rte_hash at the same moment
 *   (rte_hash_free_key_with_position), never earlier. A worker reports once
 *   per poll-loop iteration, between bursts, when it holds no entry
 *   pointer; a worker that is about to sleep goes offline first.
 * - The memory budget (live entry bytes plus the table) is enforced by the
 *   writer: an insert that would pass it, or that the table refuses for want
 *   of a free slot in the key's buckets (-ENOSPC), evicts in insertion
 *   (FIFO) order first. Readers cannot mark entries as used (they write
 *   nothing shared), which rules out LRU; see docs/cache.md.
 * - Zone purges cost O(the zone's entries), in bounded steps: the writer
 *   keeps a list per zone id through the entries (zone_link), which no
 *   reader touches.
 */
#ifndef LEVEE_CACHE_H
#define LEVEE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "levee/query.h"

#define LV_CACHE_BULK_MAX 32 /* one rx burst */

/* The zone id of forwarded answers: they all share one list, so a reload
 * that changes the rules or adds a zone purges them in one call. Zones
 * get ids from 1 (dns/zone.c). */
#define LV_ZONE_ID_UPSTREAM 0u

/* Where an entry came from: decides whether its TTLs age. */
enum lv_entry_origin {
	LV_ORIGIN_ZONE = 0,    /* local zone: TTLs served exactly, no aging */
	LV_ORIGIN_UPSTREAM = 1 /* forwarded answer: TTLs age, and it expires */
};

/* One resource record inside an entry's wire bytes. */
struct lv_cache_rr {
	uint16_t offset;     /* start of the RR within wire[] */
	uint16_t ttl_offset; /* its 32-bit TTL field within wire[] */
};

/* One RRset: consecutive RRs sharing owner, type and class. */
struct lv_cache_rrset {
	uint16_t first_rr; /* index into rrs[] */
	uint16_t rr_count;
	uint8_t section;   /* 0 answer, 1 authority, 2 additional */
	uint8_t rotatable; /* no compression pointer points into its RRs, so
	                    * they may be reordered (RRset rotation, later) */
};

/* A link of a circular doubly-linked list (writer-only): an entry is on
 * exactly one such list while it is published, so it can leave it in O(1)
 * without knowing which list that is. */
struct lv_cache_link {
	struct lv_cache_link *next, *prev;
};

/*
 * A published answer. Everything the dataplane needs to write the response
 * after the echoed question: header bits, section counts and the wire bytes
 * of the answer, authority and additional sections (no OPT: that is built
 * per query). Compression pointers in wire[] may point only at offset 12
 * (the question name, which the response echoes with the same length) or
 * inside wire[] itself, which starts at offset 12 + name_len + 4.
 */
struct lv_cache_entry {
	/* What a reader touches, in the first 64 bytes (the lookup
	 * prefetches them; keep them together): */
	uint64_t hash; /* lv_cache_key_hash() of the key below */
	uint16_t qtype;
	uint16_t qclass;
	uint8_t name_len; /* of name[], wire form incl. root */
	uint8_t do_bit;
	uint8_t cd;     /* key: the query's CD bit (RFC 4035 §3.2.2) */
	uint8_t origin; /* enum lv_entry_origin */
	uint16_t flags; /* header bits the answer sets: AA, or RA (AD) */
	uint16_t ancount;
	uint16_t nscount;
	uint16_t arcount; /* without the OPT */
	uint16_t wire_len;
	uint16_t rr_count;
	uint16_t rrset_count;
	/* ones' complement sum of wire[] (lv_csum: folded, not
	 * inverted), as if it started at an even offset: the UDP checksum of
	 * a full answer then needs only the header, question and OPT summed */
	uint16_t wire_sum;
	uint8_t rcode; /* 4-bit header rcode */
	/* upstream entries: a stale copy (docs/forwarding.md "Serve-stale"):
	 * an expired answer served again for a short TTL while its
	 * upstreams fail; an answer to an EDNS query carries the Extended
	 * DNS Error "Stale Answer" (RFC 8914, code 3) */
	uint8_t stale;
	/* The one field readers write: the first worker to answer from the
	 * entry late in its TTL sets it (an atomic exchange) and asks the
	 * control plane to refresh the key, so each entry asks once. Relaxed
	 * order: the flag guards nothing but itself (the request carries the
	 * query's key, not the entry). */
	uint8_t prefetch_asked;
	/* upstream entries: how long it lives, from stored_at, in seconds */
	uint32_t min_ttl;
	/* lv_cache_now() (ticks) when the answer arrived: an upstream
	 * entry's age is now - stored_at (its builder's caller sets it before answering
	 * from it; lv_cache_insert() stamps zone entries) */
	uint64_t stored_at;
	const uint8_t *name; /* lowercased qname */
	const uint8_t *wire;
	/* read only by oversized or aged answers */
	const struct lv_cache_rr *rrs;
	const struct lv_cache_rrset *rrsets;
	/* writer-only from here */
	uint32_t zone_id;  /* zone instance that produced it (0: none) */
	uint32_t exp_idx;  /* upstream: place + 1 in the expiry heap; 0: none */
	uint32_t mem_size; /* bytes charged to the cache's budget */
	/* upstream: seconds past its expiry that the entry is kept, to be
	 * served stale when its upstreams fail (0: dropped at expiry) */
	uint32_t stale_keep;
	/* FIFO eviction order; once unlinked, fifo_next chains the entry on
	 * the pending-free list */
	struct lv_cache_entry *fifo_next;
	struct lv_cache_entry *fifo_prev;
	union {
		/* while published: its place in its zone's list (or in the
		 * list of entries waiting to be purged) */
		struct lv_cache_link zone_link;
		/* once unlinked: when it may be freed */
		struct {
			uint64_t retire_token; /* QSBR token at unlink */
			int32_t key_pos;       /* rte_hash key slot, or -1 */
		};
	};
	uint8_t data[]; /* name, wire, rrs and rrsets live here */
};

/* What the control plane hands lv_cache_entry_new(); it copies all of it. */
struct lv_cache_entry_spec {
	const uint8_t *name; /* lowercased qname, wire form */
	uint8_t name_len;
	uint16_t qtype;
	uint16_t qclass;
	uint8_t do_bit;
	uint8_t cd;
	uint8_t origin;
	uint8_t rcode;
	uint16_t flags;
	uint16_t ancount, nscount, arcount;
	const uint8_t *wire;
	uint16_t wire_len;
	const struct lv_cache_rr *rrs;
	uint16_t rr_count;
	const struct lv_cache_rrset *rrsets;
	uint16_t rrset_count;
	uint32_t zone_id;
	uint32_t min_ttl; /* upstream entries: seconds it may be served */
};

struct lv_cache_params {
	size_t memory_bytes;  /* budget: entries + table */
	uint32_t max_entries; /* table size; 0: derived from memory_bytes */
	uint64_t hash_seed;
	uint32_t max_readers; /* worker lcores that will look up */
	int socket_id;
	const char *name; /* unique per process (rte_hash name) */
};

struct lv_cache;

struct lv_cache_stats {
	uint64_t entries;
	uint64_t memory_bytes; /* charged now */
	uint64_t memory_limit;
	uint64_t inserts;
	uint64_t replaces;
	uint64_t deletes;
	uint64_t evictions;         /* for the memory budget */
	uint64_t evictions_nospace; /* the table's buckets were full */
	uint64_t reclaimed;         /* entries freed after a grace period */
	uint64_t pending_free;      /* unlinked, waiting for readers */
	uint64_t pending_bytes; /* their mem_size: not charged to the budget */
	uint64_t table_bytes;   /* the table's share of memory_bytes */
	uint64_t max_entries;   /* the table's size */
	uint64_t synchronizes;  /* blocking waits for readers */
	uint64_t purged;        /* entries unlinked by purge steps */
	uint64_t purge_steps;   /* lv_cache_purge_step() calls that unlinked */
	uint64_t grace_periods; /* lv_cache_grace_start() calls */
	uint64_t zones;         /* zone ids with a list of entries */
	uint64_t expired;       /* upstream entries unlinked once expired */
	uint64_t upstream_entries; /* of entries: upstream ones now */
};

/* --- control plane (the one writer) --- */

/* Allocate an entry (one malloc) and copy spec into it: name (lowercased
 * on the way), wire, rrs and rrsets land in data[]; hash is computed with
 * hash_seed and mem_size is set. The caller owns the result until
 * lv_cache_insert() succeeds. NULL on a bad spec (name_len 0 or above 255,
 * an RR offset outside wire, an RRset outside rrs) or ENOMEM. Control
 * plane, any thread (it touches no cache). */
struct lv_cache_entry *lv_cache_entry_new(const struct lv_cache_entry_spec *s,
					  uint64_t hash_seed);
/* Free an entry that was never published (NULL is a no-op). */
void lv_cache_entry_free(struct lv_cache_entry *e);

/* Create the cache: the rte_hash (lock-free RW concurrency, 8-byte digest
 * keys, sized max_entries or derived from memory_bytes) and the QSBR
 * variable for max_readers, both in DPDK memory (EAL must be up). Fails
 * when the table alone would not fit in memory_bytes. NULL and a one-line
 * reason in err on failure. Control plane. */
struct lv_cache *lv_cache_create(const struct lv_cache_params *p, char *err,
				 size_t errlen);
/* Free every entry, pending or live, and the table. No reader may be
 * looking up any more (they have stopped or unregistered). NULL is a
 * no-op. */
void lv_cache_destroy(struct lv_cache *c);

/* Bytes the table costs for max_entries entries and max_readers readers:
 * what lv_cache_create() charges to the budget before any entry. */
size_t lv_cache_table_bytes(uint32_t max_entries, uint32_t max_readers);

/* Publish e, replacing any entry with the same key (or, rarely, the same
 * 64-bit digest); the replaced one is freed after a grace period. Evicts
 * first when the budget or the table requires it (FIFO order). On 0,
 * ownership of e passes to the cache; the writer may keep reading e until
 * its next call into the cache (which may evict and free it). On error the
 * caller still owns e: -EINVAL (NULL), -E2BIG (e alone passes the
 * budget), -ENOSPC (the table refused it even after evicting), -ENOMEM
 * (no memory for its zone id's list, the first entry of a zone only). e->hash
 * must come from lv_cache_entry_new() with lv_cache_hash_seed(c). */
int lv_cache_insert(struct lv_cache *c, struct lv_cache_entry *e);

/* Unlink the entry for this key (name lowercased, wire form; CD clear),
 * if any; freed after a grace period. 0, or -ENOENT. */
int lv_cache_delete(struct lv_cache *c, const uint8_t *lname, uint8_t name_len,
		    uint16_t qtype, uint16_t qclass, uint8_t do_bit);

/*
 * Zone purges (a reload), in steps that never hold the writer long.
 *
 * The cache keeps, per zone id, a list of the entries published with it.
 * lv_cache_purge_zone() moves that whole list onto the cache's purge list
 * in O(1): those entries stay in the table (and answer) until
 * lv_cache_purge_step() unlinks them, at most `max` per call, oldest
 * purge first. Entries published with the same zone id after the call
 * start a new list and are not purged (they were computed after the
 * caller swapped its zone set). An entry that is replaced, deleted or
 * evicted while it waits leaves the purge list with it.
 */
void lv_cache_purge_zone(struct lv_cache *c, uint32_t zone_id);
/* Unlink at most max entries of the purge list; they share one QSBR token
 * and are freed by lv_cache_reclaim() after a grace period. *unlinked (if
 * not NULL) gets how many. Returns whether entries remain to purge. */
bool lv_cache_purge_step(struct lv_cache *c, unsigned max, unsigned *unlinked);
/* Whether the purge list holds entries. */
bool lv_cache_purge_pending(const struct lv_cache *c);

/* Unlink every entry of zone_id at once: lv_cache_purge_zone() and then
 * lv_cache_purge_step() until nothing remains (this also finishes purges
 * already started). Costs O(the entries purged), not O(the cache), but
 * without a bound: tests and small caches. Returns how many were
 * unlinked. */
unsigned lv_cache_delete_zone(struct lv_cache *c, uint32_t zone_id);

/* Unlink at most max upstream entries whose time has run out (expired
 * at now = lv_cache_now()), soonest first; they are freed after a grace
 * period. Returns how many. The event loop calls it periodically so that
 * expired answers do not hold memory until the budget forces them out
 * (eviction also takes expired entries before live ones). */
unsigned lv_cache_expire_step(struct lv_cache *c, unsigned max);

/* Unlink every entry; they are freed after a grace period. */
void lv_cache_clear(struct lv_cache *c);

/* Free what every reader has moved past. Cheap; call from the event loop. */
void lv_cache_reclaim(struct lv_cache *c);

/* A grace period that does not block: lv_cache_grace_start() returns a
 * token taken now; lv_cache_grace_done() says whether every online reader
 * has reported a quiescent state since (rte_rcu_qsbr_check without
 * waiting), and frees what it can (lv_cache_reclaim). Once it returned
 * true, no reader holds an entry unlinked before the start. */
uint64_t lv_cache_grace_start(struct lv_cache *c);
bool lv_cache_grace_done(struct lv_cache *c, uint64_t token);

/* Block until every online reader has passed a quiescent state, then free
 * everything unlinked before the call. After it returns no reader holds
 * an entry unlinked before the call. For teardown, tests, and an insert
 * that ran out of key slots; the event loop uses the pair above. */
void lv_cache_synchronize(struct lv_cache *c);

/* Copy the counters. Writer thread (they are plain writer-owned fields). */
void lv_cache_get_stats(const struct lv_cache *c, struct lv_cache_stats *s);
/* The seed to pass to lv_query_parse() and lv_cache_entry_new(). Constant
 * after create: any thread. */
uint64_t lv_cache_hash_seed(const struct lv_cache *c);

/* The cache's clock counts ticks of 1/1024 s: fine enough to tell the
 * last tenth of a 2 s TTL (prefetch), while ages in whole seconds are a
 * shift away, never a division. */
#define LV_CACHE_TICK_SHIFT     10
#define LV_CACHE_TICKS(seconds) ((uint64_t)(seconds) << LV_CACHE_TICK_SHIFT)

/* Ticks since the cache was created, from the TSC (no system call): the
 * clock of stored_at, expiry, prefetch and the stale window, the same on
 * every thread. */
uint64_t lv_cache_now(const struct lv_cache *c);

/* An upstream entry's age at now in whole seconds, and whether it has
 * expired (served no more: an expired entry is a miss). Zone entries
 * never age. */
static inline uint32_t lv_cache_entry_age(const struct lv_cache_entry *e,
					  uint64_t now)
{
	return now > e->stored_at
		   ? (uint32_t)((now - e->stored_at) >> LV_CACHE_TICK_SHIFT)
		   : 0;
}
/* When an upstream entry expires, in ticks. */
static inline uint64_t lv_cache_entry_expiry(const struct lv_cache_entry *e)
{
	return e->stored_at + LV_CACHE_TICKS(e->min_ttl);
}
static inline bool lv_cache_entry_expired(const struct lv_cache_entry *e,
					  uint64_t now)
{
	return e->origin == LV_ORIGIN_UPSTREAM &&
	       now >= lv_cache_entry_expiry(e);
}

/* Upstream entries hit with at most pct % of their TTL left are to be
 * refreshed (lv_cache_entry_wants_refresh); 0 turns prefetch off. */
void lv_cache_set_prefetch(struct lv_cache *c, uint32_t pct);

/* When an upstream entry stops being kept (its expiry plus stale_keep):
 * the expiry heap's order, and the expiry sweep's limit. */
static inline uint64_t lv_cache_entry_drop_at(const struct lv_cache_entry *e)
{
	return lv_cache_entry_expiry(e) + LV_CACHE_TICKS(e->stale_keep);
}

/* --- readers (worker lcores) --- */

/* Register reader `id` (0..max_readers-1) and bring it online. Call once on
 * the reader's own lcore (or thread) before its first lookup. Each id is
 * used by one thread only. The control plane's own lookups need no id: it
 * is the thread that frees. */
void lv_cache_reader_register(struct lv_cache *c, unsigned id);
/* The reader holds no entry pointer now. Once per poll-loop iteration. */
void lv_cache_reader_quiescent(struct lv_cache *c, unsigned id);
/* Before a reader sleeps or stops (offline: the writer no longer waits
 * for it, and it must hold no entry pointer), and after it wakes. */
void lv_cache_reader_offline(struct lv_cache *c, unsigned id);
void lv_cache_reader_online(struct lv_cache *c, unsigned id);
/* Go offline and unregister: after it, the id may be registered again. */
void lv_cache_reader_unregister(struct lv_cache *c, unsigned id);

/*
 * Look up n (<= LV_CACHE_BULK_MAX) parsed queries; out[i] is the entry
 * answering q[i] or NULL. A hit is checked against the entry's full key
 * (name, type, class, DO, CD), so a hash collision is a miss, never a
 * wrong answer; an upstream entry past its TTL is a miss too (the clock
 * is read only when such an entry is found). Returns how many hits were
 * expired entries. The pointers stay valid until the caller's next
 * quiescent report. Any registered reader (or the writer).
 * Allocation-free, lock-free, no system call.
 */
unsigned lv_cache_lookup_bulk(const struct lv_cache *c,
			      const struct lv_query *const q[], unsigned n,
			      const struct lv_cache_entry *out[]);

/* --- internals shared by cache/cache.c and cache/cache_lookup.c ---
 * Other modules use only the functions above. */

struct rte_hash;
struct rte_rcu_qsbr;
struct lv_cache_zone; /* cache/cache.c: one zone id's list of entries */

struct lv_cache {
	/* Read by every lookup, written once by lv_cache_create(): its own
	 * cache line, away from the writer's counters (no false sharing). */
	struct rte_hash *table __attribute__((aligned(64)));
	struct rte_rcu_qsbr *qsbr;
	uint64_t hash_seed;
	uint32_t max_readers;
	/* an upstream entry answered with at most this percentage of its
	 * TTL left asks for a refresh (0: never); lv_cache_set_prefetch(),
	 * on reloads only (relaxed: a reader seeing the old value a little
	 * longer only prefetches by the old rule) */
	uint32_t prefetch_pct;
	uint64_t tsc_base; /* lv_cache_now()'s zero, in TSC cycles */
	/* 2^64 / TSC Hz, rounded down: seconds = cycles * tsc_inv >> 64,
	 * ticks = cycles * tsc_inv >> (64 - LV_CACHE_TICK_SHIFT): a
	 * multiplication instead of a division on the hit path (at most one
	 * cycle's worth early at a tick's edge) */
	uint64_t tsc_inv;

	/* Writer-only from here. */
	struct lv_cache_entry *fifo_head __attribute__((aligned(64)));
	struct lv_cache_entry *fifo_tail;    /* newest */
	struct lv_cache_entry *pending_head; /* oldest token first */
	struct lv_cache_entry *pending_tail;
	uint32_t hash_entries; /* key slots given to rte_hash */
	uint32_t pending_keys; /* key slots waiting for a grace period */
	/* zone id -> its entries: open addressing, linear probing */
	struct lv_cache_zone **zone_index;
	uint32_t zone_cap; /* slots in zone_index, a power of two */
	/* entries of purged zones still in the table, oldest first */
	struct lv_cache_link purge;
	/* upstream entries by expiry time (stored_at + min_ttl): a binary
	 * min-heap, so eviction and the expiry sweep find the soonest */
	struct lv_cache_entry **exp_heap;
	uint32_t exp_n, exp_cap;
	size_t budget; /* memory_bytes */
	struct lv_cache_stats st;
	char name[32];
};

/* Is an unexpired upstream entry at now (ticks) in the last part of its
 * TTL, where a hit asks for a refresh (prefetch_pct)? Any thread. */
static inline bool lv_cache_entry_late(const struct lv_cache *c,
				       const struct lv_cache_entry *e,
				       uint64_t now)
{
	uint64_t left = lv_cache_entry_expiry(e) - now;
	/* relaxed: a percentage, read alone; see prefetch_pct */
	uint32_t pct = __atomic_load_n(&c->prefetch_pct, __ATOMIC_RELAXED);

	return left * 100 <= LV_CACHE_TICKS(e->min_ttl) * pct;
}

/* Should this answer from an unexpired upstream entry at now ask for the
 * key's refresh? Only late in its TTL, and only the first time (the flag
 * is claimed here). Any reader; the claim is the entry's one
 * reader-written byte. */
static inline bool lv_cache_entry_wants_refresh(const struct lv_cache *c,
						const struct lv_cache_entry *e,
						uint64_t now)
{
	uint8_t *asked = (uint8_t *)(uintptr_t)&e->prefetch_asked;

	if (!lv_cache_entry_late(c, e, now) ||
	    __atomic_load_n(asked, __ATOMIC_RELAXED))
		return false;
	/* relaxed: only the flag itself is decided here (one asker) */
	return __atomic_exchange_n(asked, 1, __ATOMIC_RELAXED) == 0;
}

/* The rte_hash signature of a digest: rte_hash takes a 32-bit hash; the
 * digest is already well mixed (fmix64), so its high half serves. */
static inline uint32_t lv_cache_sig(uint64_t digest)
{
	return (uint32_t)(digest >> 32);
}

/*
 * ThreadSanitizer cannot see the acquire/release pair inside rte_hash
 * (Debian's DPDK is not instrumented), so the two halves state it:
 * the writer releases an entry before publishing it, a reader acquires it
 * after a lookup returns it. No code in other builds.
 */
#if defined(__SANITIZE_THREAD__)
#define LV_CACHE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LV_CACHE_TSAN 1
#endif
#endif
#ifdef LV_CACHE_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define LV_TSAN_ACQUIRE(p) __tsan_acquire((void *)(uintptr_t)(p))
#define LV_TSAN_RELEASE(p) __tsan_release((void *)(uintptr_t)(p))
#else
#define LV_TSAN_ACQUIRE(p) ((void)(p))
#define LV_TSAN_RELEASE(p) ((void)(p))
#endif

#endif
