/*
 * The authoritative answer builder.
 *
 * Control plane only: called by the miss handler for each query the cache
 * could not answer. It reads a zone set (read-only, shared with the reload
 * thread by read-copy-update) and returns either a new cache entry holding
 * the answer, authority and additional sections in wire form, or a bare
 * rcode (REFUSED, NOTIMP, NOTAUTH) that the caller writes with
 * lv_response_error(). The rules follow RFC 1034 §4.3.2 and Knot DNS 3.2
 * where the RFCs leave a choice; docs/zones.md lists them and every known
 * difference from Knot. No ldns type appears in this header.
 */
#ifndef LEVEE_ANSWER_H
#define LEVEE_ANSWER_H

#include <stdbool.h>
#include <stdint.h>

#include "levee/cache.h"
#include "levee/query.h"
#include "levee/zone.h"

/* Longest CNAME chain followed inside one zone (Knot stops on loops too). */
#define LV_ANSWER_MAX_CNAME 16

struct lv_answer_result {
	/* The answer as an unpublished cache entry (lv_cache_entry_new()),
	 * owned by the caller: insert it (when cacheable) or free it with
	 * lv_cache_entry_free(). NULL when only rcode is to be sent. */
	struct lv_cache_entry *entry;
	/* The header rcode: the entry's own, or the error to send. */
	uint8_t rcode;
	/* May be inserted into the cache (every zone answer is; errors are
	 * not: a reload could change them and nothing would purge them). */
	bool cacheable;
	/* Zone instance that answered, 0 for none (also in entry->zone_id). */
	uint32_t zone_id;
};

/*
 * Answer query q from zs. q must hold a parsed question (question_ok):
 * lname, qname_len, qtype, qclass. do_bit and hash_seed go into the entry's
 * key (the answer itself carries no DNSSEC records yet). The wire bytes are
 * laid out for a response whose question name sits at offset 12 with
 * q->qname_len bytes, compressed as a real server would.
 * Returns 0 with *res filled, or a negative errno (-ENOMEM; -EMSGSIZE when
 * the answer section alone exceeds 64 KiB): the caller then sends
 * SERVFAIL. Thread: control plane (any thread holding a reference to zs).
 */
int lv_answer_build(const struct lv_zoneset *zs, const struct lv_query *q,
		    uint8_t do_bit, uint64_t hash_seed,
		    struct lv_answer_result *res);

#endif
