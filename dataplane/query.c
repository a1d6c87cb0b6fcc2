/*
 * DNS query parser for the fast path: the second step of a packet's walk,
 * after the frame classifier has found a UDP datagram to port 53 and before
 * the cache lookup. Reads the message in place; writes only the caller's
 * struct lv_query. Checks are ordered cheapest first, each with its reason.
 */
#include <string.h>

#include "levee/query.h"
#include "levee/hash.h"

/*
 * Find the end of the question name by its length bytes alone, validating
 * labels. Returns the name's wire length (with the root label), or 0 when it
 * is malformed.
 */
static unsigned qname_extent(const uint8_t *dns, unsigned len)
{
	unsigned pos = LV_DNS_HDR_LEN;

	for (;;) {
		if (pos >= len)
			return 0; /* name runs past the message */
		uint8_t l = dns[pos];
		if (l == 0)
			break;
		/* 0xC0 is a compression pointer (not allowed in the question
		 * we echo and key on), 0x40/0x80 are obsolete label types:
		 * RFC 6891 §5 */
		if (l > LV_DNS_MAX_LABEL)
			return 0;
		pos += 1 + l;
		/* the name, with the root still to come, must fit 255 */
		if (pos - LV_DNS_HDR_LEN + 1 > LV_DNS_MAX_NAME)
			return 0;
	}
	return pos + 1 - LV_DNS_HDR_LEN;
}

/* ASCII A-Z to a-z in eight bytes at once: a byte gets 0x20 added when its
 * top bit is clear and its value lies in 'A'..'Z'. The per-byte sums below
 * stay under 0x100, so no carry crosses into the next byte. Length bytes
 * (at most 63) are below 'A' and never change. */
static inline uint64_t lower8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull;
	const uint64_t high = 0x8080808080808080ull;
	uint64_t low7 = w & ~high;
	uint64_t ge_a = low7 + ones * (0x80 - 'A');
	uint64_t gt_z = low7 + ones * (0x80 - 'Z' - 1);

	return w | ((ge_a & ~gt_z & ~w & high) >> 2);
}

/* Copy n name bytes lowercased, eight at a time (the last word may overlap
 * the one before it), and zero the eight bytes after them. Never reads
 * past n. */
static void copy_lower(uint8_t *dst, const uint8_t *src, unsigned n)
{
	static const uint8_t zero[8];
	uint64_t w;
	unsigned i = 0;

	if (n >= 8) {
		for (; i + 8 <= n; i += 8) {
			memcpy(&w, src + i, 8);
			w = lower8(w);
			memcpy(dst + i, &w, 8);
		}
		if (i < n) {
			memcpy(&w, src + n - 8, 8);
			w = lower8(w);
			memcpy(dst + n - 8, &w, 8);
		}
	} else {
		for (; i < n; i++)
			dst[i] = lv_wire_lower(src[i]);
	}
	memcpy(dst + n, zero, 8);
}

/* Validate the question name and copy it lowercased into q->lname.
 * Returns the offset just past the name, or 0 when it is malformed. */
static unsigned parse_qname(const uint8_t *dns, unsigned len,
			    struct lv_query *q)
{
	unsigned n = qname_extent(dns, len);

	if (n == 0)
		return 0;
	copy_lower(q->lname, dns + LV_DNS_HDR_LEN, n);
	q->qname_len = (uint16_t)n;
	return LV_DNS_HDR_LEN + n;
}

/* EDNS options are TLVs that must tile the RDATA exactly (RFC 6891 §6.1.2). */
static int options_well_formed(const uint8_t *p, unsigned rdlen)
{
	unsigned pos = 0;

	while (pos + 4 <= rdlen)
		pos += 4 + lv_wire_get16(p + pos + 2);
	return pos == rdlen;
}

/*
 * Parse the first additional record, which must be the OPT for the fast
 * path. pos is its offset. Returns the result and advances *end past it.
 */
/* Inlined into lv_query_parse: find_opt's call must not turn the hot
 * path's OPT into a function call. */
static inline __attribute__((always_inline)) enum lv_parse_result
parse_opt(const uint8_t *dns, unsigned len, unsigned pos, struct lv_query *q,
	  unsigned *end)
{
	if (pos + LV_DNS_OPT_RR_LEN > len)
		return LV_PARSE_FORMERR;
	/* OPT's owner is the root; anything else is some other record
	 * (TSIG, SIG(0), ...) that the control plane has to judge */
	if (dns[pos] != 0 || lv_wire_get16(dns + pos + 1) != LV_TYPE_OPT)
		return LV_PARSE_PUNT;
	unsigned rdlen = lv_wire_get16(dns + pos + 9);
	if (pos + LV_DNS_OPT_RR_LEN + rdlen > len)
		return LV_PARSE_FORMERR;
	if (!options_well_formed(dns + pos + LV_DNS_OPT_RR_LEN, rdlen))
		return LV_PARSE_FORMERR;
	q->has_edns = 1;
	q->edns_udp_size = lv_wire_get16(dns + pos + 3);
	q->edns_version = dns[pos + 6];
	q->do_bit = (lv_wire_get16(dns + pos + 7) & LV_EDNS_DO) ? 1 : 0;
	*end = pos + LV_DNS_OPT_RR_LEN + rdlen;
	return LV_PARSE_OK;
}

/* Skip the name at pos (labels, ending in the root or a compression
 * pointer). Returns the offset just past it, or 0 when it runs past len or
 * uses an obsolete label type. */
static unsigned skip_name(const uint8_t *dns, unsigned len, unsigned pos)
{
	while (pos < len) {
		uint8_t l = dns[pos];
		if (l == 0)
			return pos + 1;
		if ((l & 0xc0) == 0xc0)
			return pos + 2 <= len ? pos + 2 : 0;
		if (l > LV_DNS_MAX_LABEL)
			return 0;
		pos += 1 + l;
	}
	return 0;
}

/*
 * An error answer or a punted query still owes the client an OPT when the
 * query had one (RFC 6891 §7), wherever it sits. Walk every section; fill
 * the EDNS fields only when each record is whole and there is exactly one
 * OPT, in the additional section, that parse_opt() accepts. Cold: only
 * NOTIMP, FORMERR without a question, and punts come here; the walk is
 * bounded by len (every step advances).
 */
static __attribute__((noinline)) void find_opt(const uint8_t *dns, unsigned len,
					       struct lv_query *q)
{
	unsigned qd = lv_wire_get16(dns + 4);
	unsigned before_ar = lv_wire_get16(dns + 6) + lv_wire_get16(dns + 8);
	unsigned rrs = before_ar + lv_wire_get16(dns + 10);
	unsigned pos = LV_DNS_HDR_LEN, opt = 0, end;

	for (unsigned i = 0; i < qd; i++) {
		pos = skip_name(dns, len, pos);
		if (pos == 0 || pos + 4 > len)
			return;
		pos += 4;
	}
	for (unsigned i = 0; i < rrs; i++) {
		unsigned start = pos;
		pos = skip_name(dns, len, pos);
		if (pos == 0 || pos + 10 > len)
			return;
		unsigned rdlen = lv_wire_get16(dns + pos + 8);
		if (pos + 10 + rdlen > len)
			return;
		if (lv_wire_get16(dns + pos) == LV_TYPE_OPT) {
			/* outside the additional section, or a second one:
			 * FORMERR material, not an OPT to honour */
			if (i < before_ar || opt != 0)
				return;
			opt = start;
		}
		pos += 10 + rdlen;
	}
	if (opt != 0)
		(void)parse_opt(dns, len, opt, q, &end);
}

enum lv_parse_result lv_query_parse(const uint8_t *dns, uint16_t len,
				    uint64_t hash_seed, struct lv_query *q)
{
	q->question_ok = 0;
	q->tcp = 0;
	q->has_edns = 0;
	q->do_bit = 0;
	q->edns_udp_size = 0;
	q->edns_version = 0;

	if (len < LV_DNS_HDR_LEN)
		return LV_PARSE_DROP_RUNT;
	q->id = lv_wire_get16(dns);
	q->flags = lv_wire_get16(dns + 2);
	q->cd = (q->flags & LV_FLAG_CD) ? 1 : 0;
	/* never answer a response: reflection loops start there */
	if (q->flags & LV_FLAG_QR)
		return LV_PARSE_DROP_RESPONSE;

	uint16_t qdcount = lv_wire_get16(dns + 4);
	unsigned pos = 0;
	if (qdcount == 1) {
		pos = parse_qname(dns, len, q);
		if (pos != 0 && pos + 4 <= len) {
			q->qtype = lv_wire_get16(dns + pos);
			q->qclass = lv_wire_get16(dns + pos + 2);
			pos += 4;
			q->question_end = (uint16_t)pos;
			q->question_ok = 1;
		}
	}
	/* an opcode we do not implement is NOTIMP whatever its body holds
	 * (RFC 1035 §4.1.1); the question is echoed when it parsed */
	if ((q->flags & LV_FLAG_OPCODE) != (LV_OPCODE_QUERY << 11)) {
		find_opt(dns, len, q);
		return LV_PARSE_NOTIMP;
	}
	/* RFC 9619: a QUERY carries exactly one question */
	if (!q->question_ok) {
		find_opt(dns, len, q);
		return LV_PARSE_FORMERR;
	}

	uint16_t ancount = lv_wire_get16(dns + 6);
	uint16_t nscount = lv_wire_get16(dns + 8);
	uint16_t arcount = lv_wire_get16(dns + 10);
	if (ancount != 0 || nscount != 0 || arcount > 1) {
		/* the control plane's own reading replaces this, but its
		 * TSIG errors are written from q as it stands */
		find_opt(dns, len, q);
		return LV_PARSE_PUNT;
	}
	if (arcount == 1) {
		unsigned end;
		enum lv_parse_result r = parse_opt(dns, len, pos, q, &end);
		if (r != LV_PARSE_OK)
			return r;
		pos = end;
	}
	/* bytes beyond the records the header announces */
	if (pos != len)
		return LV_PARSE_FORMERR;
	/* RFC 6891 §6.1.3: we speak EDNS version 0 only */
	if (q->has_edns && q->edns_version > 0)
		return LV_PARSE_BADVERS;

	q->hash = lv_cache_key_hash_padded(hash_seed, q->lname, q->qname_len,
					   q->qtype, q->qclass,
					   lv_key_bits(q->do_bit, q->cd));
	return LV_PARSE_OK;
}
