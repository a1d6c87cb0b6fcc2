/*
 * The writer half of the shared cache: entries, insert/replace/delete,
 * FIFO eviction under a memory budget, and deferred freeing.
 *
 * Runs on the control-plane thread only (the miss handler inserts what it
 * computed, zone reloads purge, the event loop reclaims). The readers are
 * worker lcores in cache/cache_lookup.c; they take no lock, so every
 * unlinked entry is parked on a pending list stamped with a QSBR token and
 * freed only when every online reader has reported a quiescent state after
 * that token. include/levee/cache.h states the protocol; docs/cache.md
 * explains the budget and the key choice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "levee/cache.h"
#include "levee/csum.h"
#include "levee/hash.h"
#include "levee/wire.h"

/* The lookup and a hit's answer read only the entry's first 64 bytes (and
 * name[] after the header): keep what they need there. */
_Static_assert(offsetof(struct lv_cache_entry, wire) + sizeof(void *) <= 64,
	       "an entry's reader fields must fit one cache line");

/* Entry size assumed when max_entries is derived from the budget. */
#define ENTRY_ESTIMATE 256
/* rte_malloc's per-allocation header and alignment padding (one element
 * header of a cache line plus up to a line of padding). */
#define RTE_ALLOC_OVERHEAD 128
/* rte_hash allocations besides the arrays: struct rte_hash, the tailq
 * entry, the ring header, the change counter. Measured against
 * rte_malloc_get_socket_stats() in tests/unit/test_cache.c. */
#define TABLE_FIXED_BYTES 2048
/* How many times an insert retries after rte_hash_add says -ENOSPC. */
#define ADD_RETRIES 64

static uint32_t pow2_ceil(uint32_t v)
{
	uint32_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

/* Key slots beyond max_entries: room for deleted keys whose slot waits for
 * a grace period, so that a full cache does not block on every insert. */
static uint32_t key_slack(uint32_t max_entries)
{
	uint32_t s = max_entries / 8;
	return s < 64 ? 64 : s;
}

size_t lv_cache_table_bytes(uint32_t max_entries, uint32_t max_readers)
{
	uint32_t slots = max_entries + key_slack(max_entries);
	/* rte_hash (DPDK 22.11, single writer, 8-byte key):
	 * - buckets: pow2(slots) / 8 buckets of 64 bytes (8 x 16-bit
	 *   signature, 8 x 32-bit key index, flags, next pointer);
	 * - key store: slots + 1 entries of 16 bytes (data pointer + key);
	 * - free-slot ring: pow2(slots + 1) 32-bit indices. */
	size_t b = (size_t)pow2_ceil(slots) / 8 * 64;
	b += (size_t)(slots + 1) * 16;
	b += (size_t)pow2_ceil(slots + 1) * 4;
	b += TABLE_FIXED_BYTES + 6 * RTE_ALLOC_OVERHEAD;
	b += rte_rcu_qsbr_get_memsize(max_readers) + RTE_ALLOC_OVERHEAD;
	b += sizeof(struct lv_cache) + RTE_ALLOC_OVERHEAD;
	return b;
}

/* --- create / destroy --- */

struct lv_cache *lv_cache_create(const struct lv_cache_params *p, char *err,
				 size_t errlen)
{
	struct lv_cache *c = NULL;
	const char *base = p && p->name ? p->name : "lv_cache";

	if (p == NULL || p->max_readers == 0) {
		snprintf(err, errlen, "cache: max_readers must be at least 1");
		goto fail;
	}
	uint32_t max_entries = p->max_entries;
	if (max_entries == 0) {
		/* Derive the table size from the budget: each entry costs
		 * about ENTRY_ESTIMATE bytes plus its share of the table. */
		size_t per = ENTRY_ESTIMATE + 48;
		size_t n = p->memory_bytes / per;
		max_entries = n > (1u << 28) ? (1u << 28) : (uint32_t)n;
	}
	if (max_entries < 8)
		max_entries = 8; /* rte_hash's minimum: one bucket */
	size_t table = lv_cache_table_bytes(max_entries, p->max_readers);
	if (table >= p->memory_bytes) {
		snprintf(err, errlen,
			 "cache %s: memory %zu bytes is below the table's own "
			 "%zu bytes for %u entries",
			 base, p->memory_bytes, table, max_entries);
		goto fail;
	}

	c = rte_zmalloc_socket("lv_cache", sizeof(*c), 64, p->socket_id);
	if (c == NULL) {
		snprintf(err, errlen, "cache %s: out of DPDK memory", base);
		goto fail;
	}
	snprintf(c->name, sizeof(c->name), "%s", base);
	c->hash_seed = p->hash_seed;
	c->max_readers = p->max_readers;
	c->hash_entries = max_entries + key_slack(max_entries);
	c->budget = p->memory_bytes;
	c->st.memory_limit = p->memory_bytes;
	c->st.table_bytes = table;
	c->st.memory_bytes = table;
	c->st.max_entries = max_entries;
	c->purge.next = c->purge.prev = &c->purge;
	c->tsc_base = rte_get_tsc_cycles();
	uint64_t hz = rte_get_tsc_hz();
	if (hz < 2)
		hz = 2; /* EAL measured it; never divide by 0 (or overflow) */
	c->tsc_inv = (uint64_t)(((unsigned __int128)1 << 64) / hz);

	size_t qsz = rte_rcu_qsbr_get_memsize(p->max_readers);
	c->qsbr = rte_zmalloc_socket("lv_cache_qsbr", qsz, 64, p->socket_id);
	if (c->qsbr == NULL || rte_rcu_qsbr_init(c->qsbr, p->max_readers)) {
		snprintf(err, errlen,
			 "cache %s: QSBR variable for %u readers: %s", base,
			 p->max_readers, rte_strerror(rte_errno));
		goto fail;
	}

	struct rte_hash_parameters hp = {
	    .name = c->name,
	    .entries = c->hash_entries,
	    .key_len = sizeof(uint64_t), /* the digest */
	    .socket_id = p->socket_id,
	    /* Lock-free readers; we free deleted key slots ourselves
		 * after a grace period (implied by this flag). */
	    .extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};
	c->table = rte_hash_create(&hp);
	if (c->table == NULL) {
		snprintf(err, errlen,
			 "cache %s: rte_hash_create(%u entries): %s", base,
			 c->hash_entries, rte_strerror(rte_errno));
		goto fail;
	}
	return c;

fail:
	if (c) {
		rte_free(c->qsbr);
		rte_free(c);
	}
	return NULL;
}

static void free_list(struct lv_cache_entry *e)
{
	while (e) {
		struct lv_cache_entry *next = e->fifo_next;
		free(e);
		e = next;
	}
}

void lv_cache_destroy(struct lv_cache *c)
{
	if (c == NULL)
		return;
	/* No reader is left (the caller's contract): free without waiting. */
	free_list(c->pending_head);
	free_list(c->fifo_head);
	for (uint32_t i = 0; i < c->zone_cap; i++)
		free(c->zone_index[i]);
	free(c->zone_index);
	free(c->exp_heap);
	rte_hash_free(c->table);
	rte_free(c->qsbr);
	rte_free(c);
}

/* --- per-zone lists --- */

/* One zone id's entries: a circular list through their zone_link, with
 * this record's head as its sentinel. Writer-only. */
struct lv_cache_zone {
	uint32_t id;
	struct lv_cache_link head;
};

static void link_init(struct lv_cache_link *l)
{
	l->next = l->prev = l;
}

static bool link_empty(const struct lv_cache_link *l)
{
	return l->next == l;
}

static void link_append(struct lv_cache_link *head, struct lv_cache_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

static void link_remove(struct lv_cache_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
}

/* Move every link of `from` to the end of `to`; `from` becomes empty. */
static void link_splice(struct lv_cache_link *to, struct lv_cache_link *from)
{
	if (link_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	link_init(from);
}

static struct lv_cache_entry *entry_of(struct lv_cache_link *l)
{
	return (struct lv_cache_entry *)((char *)l -
					 offsetof(struct lv_cache_entry,
						  zone_link));
}

/* Zone ids are small consecutive integers: Fibonacci hashing spreads them. */
static uint32_t zone_slot(const struct lv_cache *c, uint32_t id)
{
	return (uint32_t)(id * 2654435769u) & (c->zone_cap - 1);
}

/* The index slot holding id, or the empty slot where it would go. */
static uint32_t zone_find_slot(const struct lv_cache *c, uint32_t id)
{
	uint32_t i = zone_slot(c, id);

	while (c->zone_index[i] && c->zone_index[i]->id != id)
		i = (i + 1) & (c->zone_cap - 1);
	return i;
}

/* Double the index (kept at most half full). -ENOMEM leaves it as it was. */
static int zone_index_grow(struct lv_cache *c)
{
	uint32_t old_cap = c->zone_cap;
	struct lv_cache_zone **old = c->zone_index;
	uint32_t cap = old_cap ? old_cap * 2 : 16;
	struct lv_cache_zone **idx = calloc(cap, sizeof(*idx));

	if (idx == NULL)
		return -ENOMEM;
	c->zone_index = idx;
	c->zone_cap = cap;
	for (uint32_t i = 0; i < old_cap; i++)
		if (old[i])
			c->zone_index[zone_find_slot(c, old[i]->id)] = old[i];
	free(old);
	return 0;
}

/* The list for zone id, created if need be; NULL on ENOMEM. */
static struct lv_cache_zone *zone_get(struct lv_cache *c, uint32_t id)
{
	if ((c->st.zones + 1) * 2 > c->zone_cap && zone_index_grow(c) != 0)
		return NULL;
	uint32_t i = zone_find_slot(c, id);
	if (c->zone_index[i])
		return c->zone_index[i];
	struct lv_cache_zone *z = malloc(sizeof(*z));
	if (z == NULL)
		return NULL;
	z->id = id;
	link_init(&z->head);
	c->zone_index[i] = z;
	c->st.zones++;
	return z;
}

/* Take zone id's record out of the index (linear probing: shift back the
 * records after it that would no longer be found) and return it. */
static struct lv_cache_zone *zone_take(struct lv_cache *c, uint32_t id)
{
	if (c->zone_cap == 0)
		return NULL;
	uint32_t i = zone_find_slot(c, id), mask = c->zone_cap - 1;
	struct lv_cache_zone *z = c->zone_index[i];

	if (z == NULL)
		return NULL;
	c->zone_index[i] = NULL;
	for (uint32_t j = (i + 1) & mask; c->zone_index[j];
	     j = (j + 1) & mask) {
		uint32_t home = zone_slot(c, c->zone_index[j]->id);
		/* j's record may move to the hole at i unless its home lies
		 * cyclically in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			c->zone_index[i] = c->zone_index[j];
			c->zone_index[j] = NULL;
			i = j;
		}
	}
	c->st.zones--;
	return z;
}

/* --- the expiry heap (upstream entries, soonest expiry on top) --- */

/* An entry kept to be served stale stays in the table (a miss for the
 * dataplane) until its drop time: the heap orders by that. Eviction still
 * takes an entry past its TTL first (victim()). */
static uint64_t expires_at(const struct lv_cache_entry *e)
{
	return lv_cache_entry_drop_at(e);
}

static void heap_set(struct lv_cache *c, uint32_t i, struct lv_cache_entry *e)
{
	c->exp_heap[i] = e;
	e->exp_idx = i + 1;
}

static void heap_up(struct lv_cache *c, uint32_t i)
{
	struct lv_cache_entry *e = c->exp_heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (expires_at(c->exp_heap[parent]) <= expires_at(e))
			break;
		heap_set(c, i, c->exp_heap[parent]);
		i = parent;
	}
	heap_set(c, i, e);
}

static void heap_down(struct lv_cache *c, uint32_t i)
{
	struct lv_cache_entry *e = c->exp_heap[i];

	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		uint64_t best = expires_at(e);
		if (l < c->exp_n && expires_at(c->exp_heap[l]) < best)
			best = expires_at(c->exp_heap[m = l]);
		if (l + 1 < c->exp_n && expires_at(c->exp_heap[l + 1]) < best)
			m = l + 1;
		if (m == i)
			break;
		heap_set(c, i, c->exp_heap[m]);
		i = m;
	}
	heap_set(c, i, e);
}

/* 0, or -ENOMEM (the entry is then not inserted). */
static int heap_reserve(struct lv_cache *c)
{
	if (c->exp_n < c->exp_cap)
		return 0;
	uint32_t cap = c->exp_cap ? c->exp_cap * 2 : 1024;
	struct lv_cache_entry **h = realloc(c->exp_heap, cap * sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	c->exp_heap = h;
	c->exp_cap = cap;
	return 0;
}

static void heap_push(struct lv_cache *c, struct lv_cache_entry *e)
{
	c->exp_heap[c->exp_n++] = e;
	heap_up(c, c->exp_n - 1);
}

static void heap_remove(struct lv_cache *c, struct lv_cache_entry *e)
{
	uint32_t i = e->exp_idx - 1;
	struct lv_cache_entry *last = c->exp_heap[--c->exp_n];

	e->exp_idx = 0;
	if (i == c->exp_n)
		return;
	heap_set(c, i, last);
	heap_up(c, i);
	heap_down(c, last->exp_idx - 1);
}

/* The soonest-expiring upstream entry if it has expired, else NULL. */
static struct lv_cache_entry *expired_top(const struct lv_cache *c,
					  uint64_t now)
{
	if (c->exp_n == 0 || expires_at(c->exp_heap[0]) > now)
		return NULL;
	return c->exp_heap[0];
}

/* The heap's top if it is past its TTL (an answer nobody is served any
 * more, unless stale), else NULL: eviction takes it before any live
 * entry. */
static struct lv_cache_entry *past_ttl_top(const struct lv_cache *c,
					   uint64_t now)
{
	if (c->exp_n == 0 || !lv_cache_entry_expired(c->exp_heap[0], now))
		return NULL;
	return c->exp_heap[0];
}

/* --- unlinking and deferred freeing --- */

static void fifo_append(struct lv_cache *c, struct lv_cache_entry *e)
{
	e->fifo_next = NULL;
	e->fifo_prev = c->fifo_tail;
	if (c->fifo_tail)
		c->fifo_tail->fifo_next = e;
	else
		c->fifo_head = e;
	c->fifo_tail = e;
}

/* Take e off the FIFO and off its zone's (or the purge) list. The zone
 * link shares its bytes with retire_token and key_pos, so this comes
 * before either is written. */
static void fifo_remove(struct lv_cache *c, struct lv_cache_entry *e)
{
	if (e->exp_idx) {
		heap_remove(c, e);
		c->st.upstream_entries--;
	}
	link_remove(&e->zone_link);
	if (e->fifo_prev)
		e->fifo_prev->fifo_next = e->fifo_next;
	else
		c->fifo_head = e->fifo_next;
	if (e->fifo_next)
		e->fifo_next->fifo_prev = e->fifo_prev;
	else
		c->fifo_tail = e->fifo_prev;
	e->fifo_next = e->fifo_prev = NULL;
}

/* Park an unlinked entry until readers have passed `token`. Tokens only
 * grow, so the pending list stays sorted by token. */
static void retire(struct lv_cache *c, struct lv_cache_entry *e, int32_t pos,
		   uint64_t token)
{
	e->key_pos = pos;
	e->retire_token = token;
	e->fifo_next = NULL;
	if (c->pending_tail)
		c->pending_tail->fifo_next = e;
	else
		c->pending_head = e;
	c->pending_tail = e;
	c->st.pending_free++;
	c->st.pending_bytes += e->mem_size;
	if (pos >= 0)
		c->pending_keys++;
}

/* Take e out of the table and the FIFO; the caller retires it. Returns
 * the key slot rte_hash keeps for it until the grace period ends. */
static int32_t unlink_entry(struct lv_cache *c, struct lv_cache_entry *e)
{
	/* rte_hash clears the bucket's key index with a release store; a
	 * reader that already loaded the pointer keeps using the entry until
	 * its next quiescent report, which is what the token waits for. */
	int32_t pos = rte_hash_del_key_with_hash(c->table, &e->hash,
						 lv_cache_sig(e->hash));
	fifo_remove(c, e);
	c->st.entries--;
	c->st.memory_bytes -= e->mem_size;
	return pos >= 0 ? pos : -1;
}

/* Unlink and retire one entry with its own token. */
static void drop_entry(struct lv_cache *c, struct lv_cache_entry *e)
{
	int32_t pos = unlink_entry(c, e);
	/* The token is taken after the unlink: rte_rcu_qsbr_start()
	 * increments it with release order, so a reader that acquires this
	 * token value in its quiescent report sees the entry gone. */
	retire(c, e, pos, rte_rcu_qsbr_start(c->qsbr));
}

static void free_pending_head(struct lv_cache *c)
{
	struct lv_cache_entry *e = c->pending_head;

	c->pending_head = e->fifo_next;
	if (c->pending_head == NULL)
		c->pending_tail = NULL;
	if (e->key_pos >= 0) {
		/* Lock-free mode never recycles a deleted key's slot by
		 * itself; only now may a new key take it. */
		rte_hash_free_key_with_position(c->table, e->key_pos);
		c->pending_keys--;
	}
	c->st.pending_free--;
	c->st.pending_bytes -= e->mem_size;
	c->st.reclaimed++;
	free(e);
}

void lv_cache_reclaim(struct lv_cache *c)
{
	/* rte_rcu_qsbr_check() loads each reader's counter with acquire
	 * order, pairing with the reader's release store in its quiescent
	 * report: the reader's loads of the entry happen before our free. */
	while (
	    c->pending_head &&
	    rte_rcu_qsbr_check(c->qsbr, c->pending_head->retire_token, false))
		free_pending_head(c);
}

void lv_cache_synchronize(struct lv_cache *c)
{
	if (c->pending_head == NULL)
		return;
	/* rte_rcu_qsbr_synchronize() itself lives in librte_rcu, which race
	 * detectors cannot see into; the inline start/check pair is the
	 * same wait, in our own code. */
	uint64_t t = rte_rcu_qsbr_start(c->qsbr);
	rte_rcu_qsbr_check(c->qsbr, t, true);
	c->st.synchronizes++;
	while (c->pending_head)
		free_pending_head(c);
}

/* --- insert --- */

static struct lv_cache_entry *table_find(const struct lv_cache *c,
					 uint64_t digest)
{
	void *data = NULL;
	if (rte_hash_lookup_with_hash_data(c->table, &digest,
					   lv_cache_sig(digest), &data) < 0)
		return NULL;
	return data;
}

/* Make sure rte_hash has a free key slot: deleted keys hold theirs until
 * their grace period ends. Reclaim first; wait for readers only when the
 * slack is used up. */
static void ensure_key_slot(struct lv_cache *c)
{
	if (c->st.entries + c->pending_keys < c->hash_entries)
		return;
	lv_cache_reclaim(c);
	if (c->st.entries + c->pending_keys >= c->hash_entries)
		lv_cache_synchronize(c);
}

/* The entry to evict: an expired upstream one if there is one (it
 * answers nobody any more), else the oldest. */
static struct lv_cache_entry *victim(struct lv_cache *c, uint64_t now)
{
	struct lv_cache_entry *x = past_ttl_top(c, now);

	return x ? x : c->fifo_head;
}

/* Evict until e fits the budget and the entry limit, expired entries
 * first, then oldest-first. `old` is the entry e will replace (its bytes
 * are given back by the replace); returns it, or NULL if it was evicted on
 * the way. */
static struct lv_cache_entry *make_room(struct lv_cache *c,
					const struct lv_cache_entry *e,
					struct lv_cache_entry *old)
{
	uint64_t now = lv_cache_now(c);

	while (c->fifo_head &&
	       c->st.memory_bytes - (old ? old->mem_size : 0) + e->mem_size >
		   c->budget) {
		struct lv_cache_entry *x = victim(c, now);
		if (x == old)
			old = NULL;
		c->st.expired += past_ttl_top(c, now) == x;
		drop_entry(c, x);
		c->st.evictions++;
	}
	while (old == NULL && c->fifo_head &&
	       c->st.entries >= c->st.max_entries) {
		struct lv_cache_entry *x = victim(c, now);
		c->st.expired += past_ttl_top(c, now) == x;
		drop_entry(c, x);
		c->st.evictions_nospace++;
	}
	return old;
}

unsigned lv_cache_expire_step(struct lv_cache *c, unsigned max)
{
	uint64_t now = lv_cache_now(c);
	struct lv_cache_entry *x;
	unsigned n = 0;

	while (n < max && (x = expired_top(c, now)) != NULL) {
		drop_entry(c, x);
		c->st.expired++;
		n++;
	}
	return n;
}

int lv_cache_insert(struct lv_cache *c, struct lv_cache_entry *e)
{
	int ret;

	if (c == NULL || e == NULL)
		return -EINVAL;
	if (c->st.table_bytes + e->mem_size > c->budget)
		return -E2BIG;

	/* Before anything changes, so that -ENOMEM leaves the cache as it
	 * was; evicting below never frees a zone's record. */
	struct lv_cache_zone *zone = zone_get(c, e->zone_id);
	if (zone == NULL ||
	    (e->origin == LV_ORIGIN_UPSTREAM && heap_reserve(c) != 0))
		return -ENOMEM;
	/* an upstream answer's stored_at is its arrival time, which the
	 * caller set (it may have answered from the entry already) */
	if (e->origin != LV_ORIGIN_UPSTREAM)
		e->stored_at = lv_cache_now(c);
	e->exp_idx = 0;

	lv_cache_reclaim(c);
	/* Any entry under the same digest: the same key, or (once in 2^64)
	 * another key, which this one then displaces. */
	struct lv_cache_entry *old = make_room(c, e, table_find(c, e->hash));
	if (old == NULL)
		ensure_key_slot(c);

	/* Everything e holds was written above by this thread; the release
	 * store of the data pointer inside rte_hash publishes it. TSan cannot
	 * see that store, so state it. */
	LV_TSAN_RELEASE(e);
	for (unsigned tries = 0;; tries++) {
		ret = rte_hash_add_key_with_hash_data(c->table, &e->hash,
						      lv_cache_sig(e->hash), e);
		if (ret == 0)
			break;
		/* -ENOSPC: the cuckoo path found no free slot near the key's
		 * two buckets. Free one (oldest first: deleting clears its
		 * bucket slot at once) and retry. An existing key never gets
		 * here: rte_hash updates it in place before allocating. */
		if (ret != -ENOSPC || c->fifo_head == NULL ||
		    tries >= ADD_RETRIES)
			return ret;
		drop_entry(c, c->fifo_head);
		c->st.evictions_nospace++;
		ensure_key_slot(c);
	}

	if (old) {
		/* The new pointer is in place (release store); retire the old
		 * entry with a token taken after that store. Its key slot now
		 * belongs to e. */
		fifo_remove(c, old);
		c->st.entries--;
		c->st.memory_bytes -= old->mem_size;
		retire(c, old, -1, rte_rcu_qsbr_start(c->qsbr));
		c->st.replaces++;
	}
	fifo_append(c, e);
	if (e->origin == LV_ORIGIN_UPSTREAM) {
		heap_push(c, e); /* room was reserved above */
		c->st.upstream_entries++;
	}
	link_append(&zone->head, &e->zone_link);
	c->st.entries++;
	c->st.memory_bytes += e->mem_size;
	c->st.inserts++;
	return 0;
}

/* --- delete --- */

int lv_cache_delete(struct lv_cache *c, const uint8_t *lname, uint8_t name_len,
		    uint16_t qtype, uint16_t qclass, uint8_t do_bit)
{
	do_bit = do_bit ? 1 : 0;
	uint64_t h = lv_cache_key_hash(c->hash_seed, lname, name_len, qtype,
				       qclass, lv_key_bits(do_bit, 0));
	struct lv_cache_entry *e = table_find(c, h);

	/* The digest may belong to another key: check the full key. */
	if (e == NULL || e->qtype != qtype || e->qclass != qclass ||
	    e->do_bit != do_bit || e->cd || e->name_len != name_len ||
	    memcmp(e->name, lname, name_len) != 0)
		return -ENOENT;
	drop_entry(c, e);
	c->st.deletes++;
	return 0;
}

/* Retire a batch of unlinked entries (chained through fifo_next, key_pos
 * set) with one token: one atomic increment for the whole batch. */
static void retire_batch(struct lv_cache *c, struct lv_cache_entry *batch)
{
	struct lv_cache_entry *next;
	uint64_t t = rte_rcu_qsbr_start(c->qsbr); /* after every unlink */

	for (struct lv_cache_entry *e = batch; e; e = next) {
		next = e->fifo_next;
		retire(c, e, e->key_pos, t);
	}
}

void lv_cache_clear(struct lv_cache *c)
{
	struct lv_cache_entry *batch = NULL, *next;
	unsigned n = 0;

	for (struct lv_cache_entry *e = c->fifo_head; e; e = next) {
		next = e->fifo_next;
		e->key_pos = unlink_entry(c, e);
		e->fifo_next = batch; /* fifo_remove cleared it */
		batch = e;
		n++;
	}
	if (n == 0)
		return;
	retire_batch(c, batch);
	c->st.deletes += n;
}

void lv_cache_purge_zone(struct lv_cache *c, uint32_t zone_id)
{
	struct lv_cache_zone *z = zone_take(c, zone_id);

	if (z == NULL)
		return;
	/* O(1): the zone's entries join the purge list whole; a later entry
	 * of the same id gets a new record (zone_get) and is not purged. */
	link_splice(&c->purge, &z->head);
	free(z);
}

bool lv_cache_purge_step(struct lv_cache *c, unsigned max, unsigned *unlinked)
{
	struct lv_cache_entry *batch = NULL;
	unsigned n = 0;

	while (n < max && !link_empty(&c->purge)) {
		struct lv_cache_entry *e = entry_of(c->purge.next);
		e->key_pos = unlink_entry(c, e); /* takes it off the list */
		e->fifo_next = batch;
		batch = e;
		n++;
	}
	if (n) {
		retire_batch(c, batch);
		c->st.deletes += n;
		c->st.purged += n;
		c->st.purge_steps++;
	}
	if (unlinked)
		*unlinked = n;
	return !link_empty(&c->purge);
}

bool lv_cache_purge_pending(const struct lv_cache *c)
{
	return !link_empty(&c->purge);
}

unsigned lv_cache_delete_zone(struct lv_cache *c, uint32_t zone_id)
{
	unsigned total = 0, n;

	lv_cache_purge_zone(c, zone_id);
	while (lv_cache_purge_step(c, 4096, &n))
		total += n;
	return total + n;
}

uint64_t lv_cache_grace_start(struct lv_cache *c)
{
	c->st.grace_periods++;
	/* Release RMW on the token, after every unlink the caller made:
	 * a reader that reports this token has dropped those entries. */
	return rte_rcu_qsbr_start(c->qsbr);
}

bool lv_cache_grace_done(struct lv_cache *c, uint64_t token)
{
	/* wait=false: one pass over the readers' counters (acquire loads),
	 * never a spin. */
	bool done = rte_rcu_qsbr_check(c->qsbr, token, false) == 1;

	lv_cache_reclaim(c);
	return done;
}

/* --- introspection --- */

void lv_cache_get_stats(const struct lv_cache *c, struct lv_cache_stats *s)
{
	*s = c->st;
}

void lv_cache_set_prefetch(struct lv_cache *c, uint32_t pct)
{
	/* relaxed: see prefetch_pct in include/levee/cache.h */
	__atomic_store_n(&c->prefetch_pct, pct, __ATOMIC_RELAXED);
}

uint64_t lv_cache_hash_seed(const struct lv_cache *c)
{
	return c->hash_seed;
}
