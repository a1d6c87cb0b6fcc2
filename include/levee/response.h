/*
 * Writing a DNS response in place over the query.
 *
 * Owns nothing: every function rewrites the caller's buffer (the query's
 * own mbuf data) from the byte after the echoed question on. Pure and
 * allocation-free: any worker lcore; the control plane uses the same code
 * for answers it computes, so there is one response writer.
 *
 * Size limit (RFC 1035 §4.2.1, RFC 6891 §6.2.5): 512 without EDNS;
 * otherwise min(max(client size, 512), our size); over TCP, 65535. An answer above the
 * limit is sent with TC=1 and the question and OPT only.
 */
#ifndef LEVEE_RESPONSE_H
#define LEVEE_RESPONSE_H

#include <stdbool.h>
#include <stdint.h>

#include "levee/cache.h"
#include "levee/query.h"

/* Largest UDP payload this query may receive. */
static inline uint16_t lv_response_limit(const struct lv_query *q,
					 uint16_t our_max)
{
	/* RFC 7766: over TCP only the 2-byte length prefix limits it */
	if (q->tcp)
		return UINT16_MAX;
	if (!q->has_edns)
		return LV_DNS_MIN_UDP;
	uint16_t theirs = q->edns_udp_size < LV_DNS_MIN_UDP ? LV_DNS_MIN_UDP
							    : q->edns_udp_size;
	return theirs < our_max ? theirs : our_max;
}

/*
 * Answer q from entry e, age seconds after it was stored: every TTL
 * written is the entry's less age, never below 0 (RFC 1035 §6.1.2; a zone
 * entry's age is always 0 and its TTLs are written exactly). dns points at
 * the query's DNS header; room is how many bytes may be written from
 * dns[0]. Returns the response length, or 0 when even the truncated form
 * does not fit in room (caller drops, counted). *truncated is set when
 * TC=1 was sent.
 */
uint16_t lv_response_from_entry_aged(uint8_t *dns, uint16_t room,
				     const struct lv_query *q,
				     const struct lv_cache_entry *e,
				     uint16_t our_max, uint32_t age,
				     bool *truncated);

/* The same with age 0: a zone entry, or an answer just fetched. */
static inline uint16_t lv_response_from_entry(uint8_t *dns, uint16_t room,
					      const struct lv_query *q,
					      const struct lv_cache_entry *e,
					      uint16_t our_max, bool *truncated)
{
	return lv_response_from_entry_aged(dns, room, q, e, our_max, 0,
					   truncated);
}

/*
 * The ones' complement sum (lv_csum: folded, not inverted) of a
 * response of len bytes that lv_response_from_entry() wrote from e in full
 * (neither truncated nor with additional RRsets left out), from the entry's
 * precomputed wire_sum: only the header, question and OPT are summed
 * (and, for an aged upstream entry, the difference its TTLs make).
 * -1 when the response is not such a full answer.
 */
int32_t lv_response_sum(const uint8_t *dns, uint16_t len,
			const struct lv_query *q,
			const struct lv_cache_entry *e);

/*
 * Answer q with an error rcode (FORMERR, NOTIMP, REFUSED, SERVFAIL, or the
 * extended BADVERS). The question is echoed when q->question_ok; the OPT is
 * added when the query had one (always for BADVERS). Returns the length, or
 * 0 when it does not fit in room.
 */
uint16_t lv_response_error(uint8_t *dns, uint16_t room,
			   const struct lv_query *q, unsigned rcode,
			   uint16_t our_max);

#endif
