/*
 * From an upstream resolver's answer to a cache entry.
 *
 * Owns nothing: lv_upstream_entry_build() reads an upstream's DNS message,
 * checks that it answers the key query, and returns a new cache entry
 * (struct lv_cache_entry, LV_ORIGIN_UPSTREAM) laid out for a response
 * whose question is echoed at offset 12, plus how long it may be cached.
 * The entry is the caller's: publish it with lv_cache_insert() when
 * cacheable, else free it after answering from it.
 *
 * TTL rules (docs/forwarding.md "Caching"): a positive answer lives as
 * long as the smallest TTL of its answer and authority records, clamped to
 * [min_ttl, max_ttl], and every record's TTL in the entry is clamped the
 * same way (so a client is never told to keep a record longer, or shorter,
 * than the cache does); a denial (NXDOMAIN, or NOERROR without answer
 * records or with an SOA in authority: NODATA after a CNAME chain) lives
 * min(SOA TTL, SOA MINIMUM) of the SOA in its authority section, capped by
 * neg_max_ttl (RFC 2308 §5) and by the TTLs of a chain before it, no
 * record in it says longer, the SOA says exactly that, and it is not
 * cached without an SOA; SERVFAIL lives servfail_ttl; every other rcode,
 * and a truncated answer, is not cached. A TTL of 0 is not cached.
 *
 * No DPDK, no ldns: any thread (the forwarder calls it on the control
 * plane's event loop).
 */
#ifndef LEVEE_UPSTREAM_ENTRY_H
#define LEVEE_UPSTREAM_ENTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "levee/cache.h"
#include "levee/query.h"

struct lv_ttl_policy {
	uint32_t min_ttl;      /* default 0 */
	uint32_t max_ttl;      /* default 86400 */
	uint32_t neg_max_ttl;  /* default 3600 */
	uint32_t servfail_ttl; /* default 5 */
};

struct lv_upstream_result {
	/* the answer as an entry, owned by the caller (NULL only on error) */
	struct lv_cache_entry *entry;
	uint32_t ttl;   /* how long it may be cached (0: not at all) */
	uint8_t rcode;  /* the upstream's header rcode */
	bool cacheable; /* ttl > 0 and the rules above allow it */
	bool truncated; /* the upstream set TC */
};

/*
 * Turn msg[0..len), an upstream's answer to the key of q (lname,
 * qname_len, qtype, qclass, do_bit; CD from q->flags), into an entry. The
 * answer must be a response (QR=1, opcode QUERY) with exactly q's question
 * (the name compared without regard to case) and well-formed sections
 * (names compressed anywhere, no pointer loops, every RR inside the
 * message). The OPT and any TSIG are left out. The entry's wire bytes are
 * compressed again for the response's layout: pointers only to names of
 * the echoed question or earlier in the entry. Header flags: RA set, AA
 * never, AD only when the key has DO and the upstream set it. 0, or
 * -EBADMSG (malformed, or not an answer to q), -E2BIG (more than 64 KiB
 * once laid out), -ENOMEM.
 */
int lv_upstream_entry_build(const uint8_t *msg, uint16_t len,
			    const struct lv_query *q,
			    const struct lv_ttl_policy *p, uint64_t hash_seed,
			    struct lv_upstream_result *res);

/* An entry answering q with a bare rcode (SERVFAIL once every upstream
 * failed), cached ttl seconds. NULL when out of memory. */
struct lv_cache_entry *lv_upstream_entry_rcode(const struct lv_query *q,
					       uint8_t rcode, uint32_t ttl,
					       uint64_t hash_seed);

/*
 * A stale copy of old, an expired upstream entry (RFC 8767): the same
 * answer with every TTL set to ttl (stale-answer-ttl), living ttl seconds
 * and kept keep seconds after that, marked stale so that answers from it
 * carry the Extended DNS Error "Stale Answer" (RFC 8914, code 3), and
 * never asking for a prefetch (its refresh is tried once it expires). The
 * caller sets stored_at. NULL when out of memory.
 */
struct lv_cache_entry *lv_upstream_entry_stale(const struct lv_cache_entry *old,
					       uint32_t ttl, uint32_t keep,
					       uint64_t hash_seed);

#endif
