/*
 * The response writer: the step of a packet's walk after the cache lookup
 * (or after the control plane computed an answer). It turns the query's own
 * buffer into the response: the header is rewritten, the question stays
 * where it is (echoed exactly as asked, case and all), and the cached
 * sections and a per-query OPT follow it.
 */
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>

#include "levee/csum.h"
#include "levee/response.h"

/* Flags every response carries over from the query: RD (RFC 1035 §4.1.1)
 * and CD (RFC 6840 §5.9); and the opcode, so NOTIMP names what it refused. */
#define LV_FLAGS_ECHOED (LV_FLAG_RD | LV_FLAG_CD | LV_FLAG_OPCODE)

static void write_counts(uint8_t *dns, uint16_t qd, uint16_t an, uint16_t ns,
			 uint16_t ar)
{
	lv_wire_put16(dns + 4, qd);
	lv_wire_put16(dns + 6, an);
	lv_wire_put16(dns + 8, ns);
	lv_wire_put16(dns + 10, ar);
}

/* Our OPT: root owner, our payload size, the extended rcode's upper bits,
 * version 0, the query's DO bit (RFC 3225 §3), no options. */
static void write_opt(uint8_t *p, uint16_t our_max, unsigned rcode,
		      uint8_t do_bit)
{
	p[0] = 0;
	lv_wire_put16(p + 1, LV_TYPE_OPT);
	lv_wire_put16(p + 3, our_max);
	p[5] = (uint8_t)(rcode >> 4);
	p[6] = 0;
	lv_wire_put16(p + 7, do_bit ? LV_EDNS_DO : 0);
	lv_wire_put16(p + 9, 0);
}

/* The OPT of an answer from e: none without EDNS; a stale copy's carries
 * the Extended DNS Error "Stale Answer" (RFC 8767 §4, RFC 8914 §4.4). */
static inline unsigned entry_opt_len(const struct lv_query *q,
				     const struct lv_cache_entry *e)
{
	if (!q->has_edns)
		return 0;
	return LV_DNS_OPT_RR_LEN + (unlikely(e->stale) ? LV_EDE_OPT_LEN : 0);
}

/* Append the "Stale Answer" EDE option to the OPT written at p (out of
 * line: only stale copies come here). */
static __attribute__((noinline)) void add_stale_ede(uint8_t *p)
{
	lv_wire_put16(p + 9, LV_EDE_OPT_LEN);
	lv_wire_put16(p + 11, LV_EDNS_EDE);
	lv_wire_put16(p + 13, 2);
	lv_wire_put16(p + 15, LV_EDE_STALE_ANSWER);
}

/* Write each TTL of e's RRs [first, end), which were copied to
 * out + (their offset in wire) + shift, as the entry's less age (at 0 at
 * least). Out of line: zone entries never come here. */
static __attribute__((noinline)) void age_ttls(uint8_t *out,
					       const struct lv_cache_entry *e,
					       unsigned first, unsigned end,
					       int shift, uint32_t age)
{
	for (unsigned i = first; i < end; i++) {
		unsigned off = e->rrs[i].ttl_offset;
		uint32_t ttl = lv_wire_get32(e->wire + off);
		lv_wire_put32(out + (int)off + shift,
			      ttl > age ? ttl - age : 0);
	}
}

/* Is every additional RRset free of compression pointers into it? Then
 * the additional RRs point only before the additional section, and any of
 * them may be left out or moved up without breaking a pointer. */
static bool additional_movable(const struct lv_cache_entry *e, unsigned first)
{
	for (unsigned i = first; i < e->rrset_count; i++)
		if (!e->rrsets[i].rotatable)
			return false;
	return true;
}

/*
 * The entry does not fit whole. Answer and authority are indivisible; the
 * additional section is optional (RFC 2181 §9: leaving some of it out needs
 * no TC). Write answer and authority to out, then every additional RRset
 * that still fits in budget bytes, in order, as Knot does; when some RRset
 * is the target of a compression pointer, stop at the first one that does
 * not fit instead. Whole RRsets only. Returns the bytes written and sets
 * *arcount, or -1 when answer and authority alone do not fit.
 * Out of line: only oversized answers come here.
 */
static __attribute__((noinline)) int
write_without_additional(uint8_t *out, const struct lv_cache_entry *e,
			 unsigned budget, uint32_t age, uint16_t *arcount)
{
	unsigned i = 0, pos;
	bool movable;

	while (i < e->rrset_count && e->rrsets[i].section != 2)
		i++;
	if (i == e->rrset_count)
		return -1;
	pos = e->rrs[e->rrsets[i].first_rr].offset;
	if (pos > budget)
		return -1;
	memcpy(out, e->wire, pos);
	if (age)
		age_ttls(out, e, 0, e->rrsets[i].first_rr, 0, age);
	movable = additional_movable(e, i);
	*arcount = 0;
	for (; i < e->rrset_count; i++) {
		const struct lv_cache_rrset *set = &e->rrsets[i];
		unsigned next = set->first_rr + set->rr_count;
		unsigned from = e->rrs[set->first_rr].offset;
		unsigned to =
		    next < e->rr_count ? e->rrs[next].offset : e->wire_len;
		if (pos + (to - from) <= budget) {
			memcpy(out + pos, e->wire + from, to - from);
			if (age)
				age_ttls(out, e, set->first_rr, next,
					 (int)pos - (int)from, age);
			pos += to - from;
			*arcount = (uint16_t)(*arcount + set->rr_count);
		} else if (!movable) {
			break;
		}
	}
	return (int)pos;
}

uint16_t lv_response_from_entry_aged(uint8_t *dns, uint16_t room,
				     const struct lv_query *q,
				     const struct lv_cache_entry *e,
				     uint16_t our_max, uint32_t age,
				     bool *truncated)
{
	unsigned qend = q->question_end;
	unsigned opt_len = entry_opt_len(q, e);
	unsigned full = qend + e->wire_len + opt_len;
	unsigned limit = lv_response_limit(q, our_max);
	uint16_t flags =
	    LV_FLAG_QR | (q->flags & LV_FLAGS_ECHOED) | e->flags | e->rcode;
	unsigned cap = limit < room ? limit : room;
	uint16_t arcount = e->arcount;
	unsigned len;
	int body = -1;

	if (full <= cap) {
		memcpy(dns + qend, e->wire, e->wire_len);
		if (age)
			age_ttls(dns + qend, e, 0, e->rr_count, 0, age);
		body = e->wire_len;
	} else if (qend + opt_len <= cap) {
		body = write_without_additional(
		    dns + qend, e, cap - qend - opt_len, age, &arcount);
	}
	if (body >= 0) {
		write_counts(dns, 1, e->ancount, e->nscount,
			     (uint16_t)(arcount + (opt_len ? 1 : 0)));
		len = qend + (unsigned)body;
		*truncated = false;
	} else {
		/* no partial RRsets: question and OPT only, TC=1; the full
		 * answer is for TCP */
		if (qend + opt_len > room)
			return 0;
		flags |= LV_FLAG_TC;
		write_counts(dns, 1, 0, 0, opt_len ? 1 : 0);
		len = qend;
		*truncated = true;
	}
	lv_wire_put16(dns + 2, flags);
	if (opt_len) {
		write_opt(dns + len, our_max, e->rcode, q->do_bit);
		if (opt_len > LV_DNS_OPT_RR_LEN)
			add_stale_ede(dns + len);
		len += opt_len;
	}
	return (uint16_t)len;
}

uint16_t lv_response_error(uint8_t *dns, uint16_t room,
			   const struct lv_query *q, unsigned rcode,
			   uint16_t our_max)
{
	unsigned qend = q->question_ok ? q->question_end : LV_DNS_HDR_LEN;
	/* an extended rcode can only be sent in an OPT */
	bool with_opt = q->has_edns || rcode > LV_FLAG_RCODE;
	unsigned len = qend + (with_opt ? LV_DNS_OPT_RR_LEN : 0);

	if (len > room)
		return 0;
	lv_wire_put16(dns + 2,
		      (uint16_t)(LV_FLAG_QR | (q->flags & LV_FLAGS_ECHOED) |
				 (rcode & LV_FLAG_RCODE)));
	write_counts(dns, q->question_ok ? 1 : 0, 0, 0, with_opt ? 1 : 0);
	if (with_opt)
		write_opt(dns + qend, our_max, rcode, q->do_bit);
	return (uint16_t)len;
}

/* A block's sum placed at byte offset off: at an odd offset its bytes sit
 * in the other half of each 16-bit word (RFC 1071 §2 (B)). */
static inline uint32_t sum_at(uint16_t sum, unsigned off)
{
	return off & 1 ? rte_bswap16(sum) : sum;
}

/* What an upstream entry's aged TTLs, written at out (out's offset qend
 * in the message), add to the sum of its wire bytes (RFC 1624: each
 * 16-bit word changed adds the new word and the old one's complement).
 * Out of line: zone entries never come here. */
static __attribute__((noinline)) uint32_t
aged_difference(const uint8_t *out, const struct lv_cache_entry *e,
		unsigned qend)
{
	uint32_t d = 0;

	for (unsigned i = 0; i < e->rr_count; i++) {
		unsigned off = e->rrs[i].ttl_offset;
		for (unsigned w = 0; w < 4; w += 2) {
			uint16_t old = lv_wire_get16(e->wire + off + w);
			uint16_t now = lv_wire_get16(out + off + w);
			if (old == now)
				continue;
			/* lv_csum sums host-order words of the bytes as they
			 * lie; get16 read them big-endian: swap back */
			d += sum_at(rte_cpu_to_be_16(now), qend + off + w);
			d += sum_at(rte_cpu_to_be_16((uint16_t)~old),
				    qend + off + w);
		}
	}
	return d;
}

int32_t lv_response_sum(const uint8_t *dns, uint16_t len,
			const struct lv_query *q,
			const struct lv_cache_entry *e)
{
	unsigned qend = q->question_end;
	unsigned opt_off = qend + e->wire_len;
	unsigned opt_len = entry_opt_len(q, e);
	uint32_t sum;

	if (len != opt_off + opt_len)
		return -1;
	sum = lv_csum(dns, qend) + sum_at(e->wire_sum, qend);
	if (e->origin == LV_ORIGIN_UPSTREAM)
		sum += aged_difference(dns + qend, e, qend);
	if (opt_len)
		sum += sum_at(lv_csum(dns + opt_off, opt_len), opt_off);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (int32_t)sum;
}
