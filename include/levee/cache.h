/*
 * The lock-free shared answer cache.
 *
 * Concurrency protocol
 * --------------------
 * - One writer: the control-plane lcore. It alone calls lv_cache_insert(),
 *   lv_cache_delete*(), lv_cache_evict*(), lv_cache_reclaim() and
 *   lv_cache_synchronize(). These functions are not thread-safe against
 *   each other; they need no lock because only one thread calls them.
 * - Many readers: worker lcores call lv_cache_lookup_bulk(). A lookup takes
 *   no lock, never waits for the writer and writes nothing shared: it reads
 *   the table (rte_hash in lock-free RW-concurrency mode) and the immutable
 *   entries it points to.
 * - Entries are immutable once published. Replacing one publishes a new
 *   entry under the same key (an atomic pointer store with release order
 *   inside rte_hash); the reader's acquire load of that pointer makes the
 *   entry's bytes visible before it is dereferenced.
 * - Memory is freed only after every registered reader has reported a
 *   quiescent state (rte_rcu_qsbr) after the entry was unlinked. A worker
 *   reports once per poll-loop iteration, between bursts, when it holds no
 *   entry pointer; a worker that is about to sleep goes offline first.
 * - The memory budget (entry bytes plus the table) is enforced by the
 *   writer: an insert that would pass it, or that the table refuses for want
 *   of a free slot in the key's buckets, evicts in insertion (FIFO) order
 *   first. Readers cannot mark entries as used (they write nothing shared),
 *   which rules out LRU; see docs/architecture.md.
 */
#ifndef LEVEE_CACHE_H
#define LEVEE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "levee/query.h"

#define LV_CACHE_BULK_MAX 32 /* one rx burst */

/* Where an entry came from: decides whether its TTLs age. */
enum lv_entry_origin {
	LV_ORIGIN_ZONE = 0,    /* local zone: TTLs served exactly, no aging */
	LV_ORIGIN_UPSTREAM = 1 /* forwarded answer: TTLs age (later issue) */
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

/*
 * A published answer. Everything the dataplane needs to write the response
 * after the echoed question: header bits, section counts and the wire bytes
 * of the answer, authority and additional sections (no OPT: that is built
 * per query). Compression pointers in wire[] may point only at offset 12
 * (the question name, which the response echoes with the same length) or
 * inside wire[] itself, which starts at offset 12 + name_len + 4.
 */
struct lv_cache_entry {
	uint64_t hash;     /* lv_cache_key_hash() of the key below */
	uint16_t qtype;
	uint16_t qclass;
	uint8_t name_len;  /* of name[], wire form incl. root */
	uint8_t do_bit;
	uint8_t origin;    /* enum lv_entry_origin */
	uint8_t rcode;     /* 4-bit header rcode */
	uint16_t flags;    /* header bits the answer sets: AA (RA later) */
	uint16_t ancount;
	uint16_t nscount;
	uint16_t arcount;  /* without the OPT */
	uint16_t wire_len;
	uint16_t rr_count;
	uint16_t rrset_count;
	uint32_t zone_id;  /* zone instance that produced it (0: none) */
	uint32_t min_ttl;  /* smallest TTL in the entry (expiry, later) */
	uint64_t stored_at;/* control-plane clock at insert (aging, later) */
	size_t mem_size;   /* bytes charged to the cache's budget */
	const uint8_t *name; /* lowercased qname */
	const uint8_t *wire;
	const struct lv_cache_rr *rrs;
	const struct lv_cache_rrset *rrsets;
	/* writer-only bookkeeping (FIFO eviction order, zone purge) */
	struct lv_cache_entry *fifo_next;
	struct lv_cache_entry *fifo_prev;
	uint8_t data[]; /* name, wire, rrs and rrsets live here */
};

/* What the control plane hands lv_cache_entry_new(); it copies all of it. */
struct lv_cache_entry_spec {
	const uint8_t *name; /* lowercased qname, wire form */
	uint8_t name_len;
	uint16_t qtype;
	uint16_t qclass;
	uint8_t do_bit;
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
	uint32_t min_ttl;
};

struct lv_cache_params {
	size_t memory_bytes;   /* budget: entries + table */
	uint32_t max_entries;  /* table size; 0: derived from memory_bytes */
	uint64_t hash_seed;
	uint32_t max_readers;  /* worker lcores that will look up */
	int socket_id;
	const char *name;      /* unique per process (rte_hash name) */
};

struct lv_cache;

struct lv_cache_stats {
	uint64_t entries;
	uint64_t memory_bytes;     /* charged now */
	uint64_t memory_limit;
	uint64_t inserts;
	uint64_t replaces;
	uint64_t deletes;
	uint64_t evictions;        /* for the memory budget */
	uint64_t evictions_nospace;/* the table's buckets were full */
	uint64_t reclaimed;        /* entries freed after a grace period */
	uint64_t pending_free;     /* unlinked, waiting for readers */
};

/* --- control plane (the one writer) --- */

/* Allocate an entry (malloc) and copy spec into it. NULL on bad spec/ENOMEM. */
struct lv_cache_entry *lv_cache_entry_new(const struct lv_cache_entry_spec *s,
					  uint64_t hash_seed);
/* Free an entry that was never published. */
void lv_cache_entry_free(struct lv_cache_entry *e);

/* Create the cache. NULL and a reason in err on failure. */
struct lv_cache *lv_cache_create(const struct lv_cache_params *p, char *err,
				 size_t errlen);
void lv_cache_destroy(struct lv_cache *c);

/* Publish e (ownership passes to the cache), replacing any entry with the
 * same key; the replaced one is freed after a grace period. Evicts first
 * when the budget or the table requires it. 0 or a negative errno. */
int lv_cache_insert(struct lv_cache *c, struct lv_cache_entry *e);

/* Unlink the entry for this key, if any. 0, or -ENOENT. */
int lv_cache_delete(struct lv_cache *c, const uint8_t *lname, uint8_t name_len,
		    uint16_t qtype, uint16_t qclass, uint8_t do_bit);

/* Unlink every entry whose zone_id is zone_id. Returns how many. */
unsigned lv_cache_delete_zone(struct lv_cache *c, uint32_t zone_id);

/* Unlink every entry. */
void lv_cache_clear(struct lv_cache *c);

/* Free what every reader has moved past. Cheap; call from the event loop. */
void lv_cache_reclaim(struct lv_cache *c);

/* Block until every online reader has passed a quiescent state, then free
 * everything unlinked before the call. After it returns no reader holds
 * an entry unlinked before the call. */
void lv_cache_synchronize(struct lv_cache *c);

void lv_cache_get_stats(const struct lv_cache *c, struct lv_cache_stats *s);
uint64_t lv_cache_hash_seed(const struct lv_cache *c);

/* --- readers (worker lcores) --- */

/* Register reader `id` (0..max_readers-1) and bring it online. Call once on
 * the reader's own lcore before its first lookup. */
void lv_cache_reader_register(struct lv_cache *c, unsigned id);
/* The reader holds no entry pointer now. Once per poll-loop iteration. */
void lv_cache_reader_quiescent(struct lv_cache *c, unsigned id);
/* Before a reader sleeps or stops, and after it wakes. */
void lv_cache_reader_offline(struct lv_cache *c, unsigned id);
void lv_cache_reader_online(struct lv_cache *c, unsigned id);
void lv_cache_reader_unregister(struct lv_cache *c, unsigned id);

/*
 * Look up n (<= LV_CACHE_BULK_MAX) parsed queries; out[i] is the entry
 * answering q[i] or NULL. A hit is checked against the entry's full key
 * (name, type, class, DO), so a hash collision is a miss, never a wrong
 * answer. The pointers stay valid until the caller's next quiescent report.
 */
void lv_cache_lookup_bulk(const struct lv_cache *c,
			  const struct lv_query *const q[], unsigned n,
			  const struct lv_cache_entry *out[]);

#endif
