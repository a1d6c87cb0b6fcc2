/*
 * The response writer: the step of a packet's walk after the cache lookup
 * (or after the control plane computed an answer). It turns the query's own
 * buffer into the response: the header is rewritten, the question stays
 * where it is (echoed exactly as asked, case and all), and the cached
 * sections and a per-query OPT follow it.
 */
#include <string.h>

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

/*
 * The entry does not fit whole. Answer and authority are indivisible; the
 * additional section is optional (RFC 2181 §9: leaving it out needs no TC),
 * so keep as many of its RRsets, in order, as fit in budget bytes of
 * sections. Compression pointers only point backwards, so dropping trailing
 * RRsets never breaks one. Returns the section bytes to send and sets
 * *arcount, or returns -1 when answer and authority alone do not fit.
 * Out of line: only oversized answers come here.
 */
static __attribute__((noinline)) int
fit_without_additional(const struct lv_cache_entry *e, unsigned budget,
		       uint16_t *arcount)
{
	unsigned i = 0, end;

	while (i < e->rrset_count && e->rrsets[i].section != 2)
		i++;
	end = i < e->rrset_count ? e->rrs[e->rrsets[i].first_rr].offset
				 : e->wire_len;
	if (end > budget || i == e->rrset_count)
		return -1;
	*arcount = 0;
	for (; i < e->rrset_count; i++) {
		const struct lv_cache_rrset *set = &e->rrsets[i];
		unsigned next = set->first_rr + set->rr_count;
		unsigned set_end =
		    next < e->rr_count ? e->rrs[next].offset : e->wire_len;
		if (set_end > budget)
			break;
		end = set_end;
		*arcount = (uint16_t)(*arcount + set->rr_count);
	}
	return (int)end;
}

uint16_t lv_response_from_entry(uint8_t *dns, uint16_t room,
				const struct lv_query *q,
				const struct lv_cache_entry *e,
				uint16_t our_max, bool *truncated)
{
	unsigned qend = q->question_end;
	unsigned opt_len = q->has_edns ? LV_DNS_OPT_RR_LEN : 0;
	unsigned full = qend + e->wire_len + opt_len;
	unsigned limit = lv_response_limit(q, our_max);
	uint16_t flags =
	    LV_FLAG_QR | (q->flags & LV_FLAGS_ECHOED) | e->flags | e->rcode;
	unsigned cap = limit < room ? limit : room;
	uint16_t arcount = e->arcount;
	unsigned len;
	int body = -1;

	if (full <= cap)
		body = e->wire_len;
	else if (qend + opt_len <= cap)
		body =
		    fit_without_additional(e, cap - qend - opt_len, &arcount);
	if (body >= 0) {
		memcpy(dns + qend, e->wire, (unsigned)body);
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
