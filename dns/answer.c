/*
 * The authoritative answer builder: zone data → a cache entry.
 *
 * Control plane, on a cache miss. It finds the closest enclosing zone,
 * walks the zone per RFC 1034 §4.3.2 (exact match, in-zone CNAME chain,
 * NODATA, NXDOMAIN, empty non-terminals) with Knot DNS 3.2's choices where
 * the RFCs leave one (ANY, additional records, no NS in authority), and
 * writes the answer, authority and additional sections as they will sit in
 * the response: after a question whose name is at offset 12, with name
 * compression against that question and every earlier name, so that the
 * size (and so truncation) matches a real server. The bytes, the per-RR
 * TTL offsets and the per-RRset descriptors become a struct lv_cache_entry
 * that the dataplane copies behind the echoed question.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "levee/answer.h"
#include "zone_int.h"

#define MSG_MAX         65535u
#define PTR_MAX         0x3fffu /* a compression pointer holds 14 bits */
#define MAX_RRS         8192u   /* > MSG_MAX / 11, the smallest possible RR */
#define MAX_NAME_LABELS 128u

enum { SEC_ANSWER = 0, SEC_AUTHORITY = 1, SEC_ADDITIONAL = 2 };

struct builder {
	const struct lv_zone *z;
	size_t len;        /* bytes of msg[] used, header included */
	size_t wire_start; /* 12 + qname_len + 4: where the sections begin */
	size_t suffix;     /* the last owner written: RDATA compresses on it */
	uint16_t counts[3];
	uint32_t min_ttl;
	unsigned n_rrs, n_sets;
	struct lv_cache_rr rrs[MAX_RRS];
	uint16_t target_pos[MAX_RRS]; /* where each RR's target name went */
	struct lv_cache_rrset sets[MAX_RRS];
	uint16_t set_start[MAX_RRS]; /* absolute, to find pointer targets */
	uint16_t set_end[MAX_RRS];
	const struct lv_zrrset *written[MAX_RRS]; /* no duplicate RRsets */
	uint8_t msg[MSG_MAX];
};

/*
 * Compression, the way Knot does it (measured against knotd 3.2: sizes
 * match byte for byte). No dictionary of every name written: an owner
 * name is a pointer to a "hint", the place where that very name already
 * sits (the question for answers at the qname, the CNAME's RDATA for the
 * next link of a chain, the NS/MX/SRV RDATA for additional records, the
 * first RR's owner for the rest of an RRset); any other name shares only
 * its longest common suffix with one reference name: the RR's owner for
 * names in RDATA, the previous owner for an owner without a hint.
 */

/* Label start positions of the name at msg[pos], pointers followed. */
static unsigned ref_labels(const struct builder *b, size_t pos,
			   uint16_t out[MAX_NAME_LABELS])
{
	unsigned n = 0;

	for (unsigned hops = 0; hops < 64 && pos < b->len;) {
		uint8_t l = b->msg[pos];
		if ((l & 0xc0) == 0xc0) {
			pos = (size_t)(l & 0x3f) << 8 | b->msg[pos + 1];
			hops++;
			continue;
		}
		if (l == 0 || n == MAX_NAME_LABELS)
			break;
		out[n++] = (uint16_t)pos;
		pos += 1u + l;
	}
	return n;
}

static bool label_equal(const struct builder *b, size_t pos,
			const uint8_t *label)
{
	if (b->msg[pos] != label[0])
		return false;
	for (unsigned i = 1; i <= label[0]; i++)
		if (lv_wire_lower(b->msg[pos + i]) != label[i])
			return false;
	return true;
}

/* A pointer into an RRset pins its RRs' order. */
static void note_pointer(struct builder *b, unsigned target)
{
	for (unsigned s = 0; s < b->n_sets; s++) {
		/* the RRset being written ends where the message does */
		size_t end = s + 1 == b->n_sets ? b->len : b->set_end[s];
		if (target >= b->set_start[s] && target < end)
			b->sets[s].rotatable = 0;
	}
}

static void put_pointer(struct builder *b, unsigned target)
{
	lv_wire_put16(b->msg + b->len, (uint16_t)(0xc000u | target));
	b->len += 2;
	note_pointer(b, target);
}

/* Write lname (lowercased, uncompressed) sharing its longest common
 * suffix with the name at msg[ref] (ref 0: none). Room was checked. */
static void put_name(struct builder *b, const uint8_t *lname, size_t ref)
{
	uint16_t rl[MAX_NAME_LABELS];
	const uint8_t *nl[MAX_NAME_LABELS];
	unsigned m = ref ? ref_labels(b, ref, rl) : 0, n = 0, c = 0;

	for (const uint8_t *p = lname; *p != 0 && n < MAX_NAME_LABELS;
	     p += 1u + *p)
		nl[n++] = p;
	while (c < n && c < m && label_equal(b, rl[m - 1 - c], nl[n - 1 - c]))
		c++;
	if (c > 0 && rl[m - c] > PTR_MAX)
		c = 0;
	size_t prefix = c > 0 ? (size_t)(nl[n - c] - lname)
			      : lv_name_len(lname, LV_DNS_MAX_NAME);
	memcpy(b->msg + b->len, lname, prefix);
	b->len += prefix;
	if (c > 0)
		put_pointer(b, rl[m - c]);
}

/* An owner: a pointer to its hint when there is one. */
static void put_owner(struct builder *b, const uint8_t *lname, size_t hint)
{
	size_t at = b->len;

	if (hint != 0 && hint <= PTR_MAX)
		put_pointer(b, (unsigned)hint);
	else
		put_name(b, lname, b->suffix);
	b->suffix = at;
}

static void put_rdata(struct builder *b, uint16_t type, const struct lv_zrr *rr,
		      size_t owner_pos, uint16_t *target_pos)
{
	/* RDATA names: compressed (against the owner) only in RFC 1035
	 * types (RFC 3597 §4); SRV's target is written whole but, like the
	 * others, remembered as the hint for its additional records */
	struct lv_rdata_names where = lv_rdata_names(type);
	unsigned skip = where.skip, names = where.names, off;
	bool compress = where.compressible;
	memcpy(b->msg + b->len, rr->rdata, skip);
	b->len += skip;
	off = skip;
	*target_pos = 0;
	for (; names > 0 && off < rr->rdlen; names--) {
		unsigned n = lv_name_len(rr->rdata + off, rr->rdlen - off);
		if (n == 0)
			break; /* cannot happen: ldns parsed it */
		if (*target_pos == 0 && b->len <= PTR_MAX)
			*target_pos = (uint16_t)b->len;
		put_name(b, rr->rdata + off, compress ? owner_pos : 0);
		off += n;
	}
	memcpy(b->msg + b->len, rr->rdata + off, rr->rdlen - off);
	b->len += rr->rdlen - off;
}

static bool already_written(const struct builder *b, const struct lv_zrrset *s)
{
	for (unsigned i = 0; i < b->n_sets; i++)
		if (b->written[i] == s)
			return true;
	return false;
}

/*
 * Append the RRset s owned by lname to section sec with TTL ttl; hint is
 * where lname already sits in msg[] (0: nowhere yet). -EMSGSIZE when it
 * cannot fit (checked uncompressed, before writing, so that nothing is
 * ever half-written).
 */
static int put_rrset(struct builder *b, const uint8_t *lname, unsigned name_len,
		     const struct lv_zrrset *s, uint32_t ttl, unsigned sec,
		     size_t hint)
{
	size_t need = 0;

	for (unsigned i = 0; i < s->count; i++)
		need += name_len + 10u + s->rrs[i].rdlen;
	if (need > MSG_MAX - b->len || b->n_rrs + s->count > MAX_RRS ||
	    b->n_sets == MAX_RRS)
		return -EMSGSIZE;
	unsigned si = b->n_sets++;
	b->sets[si] = (struct lv_cache_rrset){.first_rr = (uint16_t)b->n_rrs,
					      .rr_count = s->count,
					      .section = (uint8_t)sec,
					      .rotatable = 1};
	b->written[si] = s;
	b->set_start[si] = (uint16_t)b->len;
	for (unsigned i = 0; i < s->count; i++) {
		unsigned ri = b->n_rrs++;
		struct lv_cache_rr *rr = &b->rrs[ri];
		size_t owner_pos = b->len;
		rr->offset = (uint16_t)(b->len - b->wire_start);
		put_owner(b, lname, hint);
		if (hint == 0) /* the rest of the RRset points at this one */
			hint = owner_pos;
		lv_wire_put16(b->msg + b->len, s->type);
		lv_wire_put16(b->msg + b->len + 2, LV_CLASS_IN);
		rr->ttl_offset = (uint16_t)(b->len + 4 - b->wire_start);
		lv_wire_put32(b->msg + b->len + 4, ttl);
		size_t rdlen_at = b->len + 8;
		b->len += 10;
		put_rdata(b, s->type, &s->rrs[i], owner_pos,
			  &b->target_pos[ri]);
		lv_wire_put16(b->msg + rdlen_at,
			      (uint16_t)(b->len - rdlen_at - 2));
		b->set_end[si] = (uint16_t)b->len;
	}
	b->counts[sec] += s->count;
	if (ttl < b->min_ttl)
		b->min_ttl = ttl;
	return 0;
}

/* NODATA and NXDOMAIN: the SOA, TTL min(SOA TTL, MINIMUM) (RFC 2308 §5). */
static int put_negative(struct builder *b)
{
	const struct lv_zone *z = b->z;
	const struct lv_zrr *soa = &z->soa->rrs[0];
	uint32_t minimum = lv_wire_get32(soa->rdata + soa->rdlen - 4);
	uint32_t ttl = z->soa->ttl < minimum ? z->soa->ttl : minimum;

	return put_rrset(b, z->origin, z->origin_len, z->soa, ttl,
			 SEC_AUTHORITY, 0);
}

static bool visited(const struct lv_znode *const *seen, unsigned n,
		    const uint8_t *lname, unsigned len)
{
	for (unsigned i = 0; i < n; i++)
		if (seen[i]->name_len == len &&
		    memcmp(seen[i]->name, lname, len) == 0)
			return true;
	return false;
}

/*
 * RFC 1034 §4.3.2 step 3 inside one zone (no delegations, no wildcards:
 * the loader refuses them). Sets *rcode; returns 0 or -EMSGSIZE.
 */
static int resolve(struct builder *b, const uint8_t *lname, unsigned len,
		   uint16_t qtype, uint8_t *rcode)
{
	const struct lv_znode *seen[LV_ANSWER_MAX_CNAME + 1];
	const struct lv_zone *z = b->z;
	size_t hint = LV_DNS_HDR_LEN; /* the question's name */

	*rcode = LV_RCODE_NOERROR;
	for (unsigned hop = 0;; hop++) {
		const struct lv_znode *n = lv_zone_node(z, lname, len);
		if (n == NULL) {
			*rcode = LV_RCODE_NXDOMAIN; /* even after a CNAME */
			return put_negative(b);
		}
		if (n->rrset_count == 0)
			return put_negative(b); /* empty non-terminal */
		/* ANY over UDP: one RRset, the lowest type (as Knot 3.2) */
		const struct lv_zrrset *s = qtype == LV_TYPE_ANY
						? &n->rrsets[0]
						: lv_znode_rrset(n, qtype);
		if (s != NULL)
			return put_rrset(b, n->name, n->name_len, s, s->ttl,
					 SEC_ANSWER, hint);
		s = lv_znode_rrset(n, LV_TYPE_CNAME);
		if (s == NULL)
			return put_negative(b); /* NODATA */
		int ret = put_rrset(b, n->name, n->name_len, s, s->ttl,
				    SEC_ANSWER, hint);
		if (ret != 0)
			return ret;
		seen[hop] = n;
		hint = b->target_pos[b->n_rrs - 1]; /* the CNAME's RDATA */
		lname = s->rrs[0].rdata;
		len = lv_name_len(lname, s->rrs[0].rdlen);
		/* Knot follows only while the target is in the same zone */
		if (!lv_name_in_zone(lname, len, z->origin, z->origin_len) ||
		    visited(seen, hop + 1, lname, len) ||
		    hop + 1 > LV_ANSWER_MAX_CNAME - 1)
			return 0;
	}
}

/* Where the name that may earn additional records sits in RDATA. */
static int additional_offset(uint16_t type)
{
	switch (type) {
	case LV_TYPE_NS:
		return 0;
	case LV_TYPE_MX:
		return 2;
	case LV_TYPE_SRV:
		return 6;
	default:
		return -1;
	}
}

/* A and AAAA of in-zone NS, MX and SRV targets, like Knot. What does not
 * fit is left out (no TC for the additional section, RFC 2181 §9). */
static void put_additionals(struct builder *b)
{
	static const uint16_t types[] = {LV_TYPE_A, LV_TYPE_AAAA};
	unsigned n_answer_sets = b->n_sets;

	for (unsigned si = 0; si < n_answer_sets; si++) {
		if (b->sets[si].section != SEC_ANSWER)
			continue;
		const struct lv_zrrset *s = b->written[si];
		int off = additional_offset(s->type);
		for (unsigned i = 0; off >= 0 && i < s->count; i++) {
			const uint8_t *t = s->rrs[i].rdata + off;
			unsigned len = lv_name_len(t, s->rrs[i].rdlen - off);
			if (len == 0 || !lv_name_in_zone(t, len, b->z->origin,
							 b->z->origin_len))
				continue;
			const struct lv_znode *n = lv_zone_node(b->z, t, len);
			for (unsigned k = 0; n != NULL && k < 2; k++) {
				const struct lv_zrrset *a =
				    lv_znode_rrset(n, types[k]);
				if (a != NULL && !already_written(b, a))
					(void)put_rrset(
					    b, n->name, n->name_len, a, a->ttl,
					    SEC_ADDITIONAL,
					    b->target_pos[b->sets[si].first_rr +
							  i]);
			}
		}
	}
}

/* Knot's answers to what is not a plain question (checked with knotd). */
static uint8_t meta_rcode(const struct lv_query *q)
{
	if (q->qtype == 0 || q->qtype == LV_TYPE_AXFR)
		return LV_RCODE_NOTIMP; /* no AXFR over UDP */
	if (q->qtype == LV_TYPE_IXFR)
		return LV_RCODE_NOTAUTH; /* no transfer ACL */
	if (q->qclass != LV_CLASS_IN && q->qclass != LV_CLASS_ANY)
		return LV_RCODE_REFUSED;
	return LV_RCODE_NOERROR;
}

static struct lv_cache_entry *make_entry(const struct builder *b,
					 const struct lv_query *q,
					 uint8_t do_bit, uint8_t rcode,
					 uint64_t hash_seed)
{
	struct lv_cache_entry_spec spec = {
	    .name = q->lname,
	    .name_len = (uint8_t)q->qname_len,
	    .qtype = q->qtype,
	    .qclass = q->qclass,
	    .do_bit = do_bit,
	    .cd = q->cd,
	    .origin = LV_ORIGIN_ZONE,
	    .rcode = rcode,
	    .flags = LV_FLAG_AA,
	    .ancount = b->counts[SEC_ANSWER],
	    .nscount = b->counts[SEC_AUTHORITY],
	    .arcount = b->counts[SEC_ADDITIONAL],
	    .wire = b->msg + b->wire_start,
	    .wire_len = (uint16_t)(b->len - b->wire_start),
	    .rrs = b->rrs,
	    .rr_count = (uint16_t)b->n_rrs,
	    .rrsets = b->sets,
	    .rrset_count = (uint16_t)b->n_sets,
	    .zone_id = b->z->zone_id,
	    .min_ttl = b->n_rrs ? b->min_ttl : 0,
	};
	return lv_cache_entry_new(&spec, hash_seed);
}

int lv_answer_build(const struct lv_zoneset *zs, const struct lv_query *q,
		    uint8_t do_bit, uint64_t hash_seed,
		    struct lv_answer_result *res)
{
	struct builder *b = NULL;
	uint8_t rcode;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	res->rcode = meta_rcode(q);
	const struct lv_zone *z = lv_zoneset_find(zs, q->lname, q->qname_len);
	if (res->rcode == LV_RCODE_NOERROR && z == NULL)
		res->rcode = LV_RCODE_REFUSED; /* not ours: no local zone */
	if (res->rcode != LV_RCODE_NOERROR)
		return 0;
	b = malloc(sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->z = z;
	b->n_rrs = b->n_sets = 0;
	b->suffix = LV_DNS_HDR_LEN;
	memset(b->counts, 0, sizeof(b->counts));
	b->min_ttl = UINT32_MAX;
	/* the question as the response will carry it (case aside) */
	memset(b->msg, 0, LV_DNS_HDR_LEN);
	memcpy(b->msg + LV_DNS_HDR_LEN, q->lname, q->qname_len);
	b->len = LV_DNS_HDR_LEN + q->qname_len;
	lv_wire_put16(b->msg + b->len, q->qtype);
	lv_wire_put16(b->msg + b->len + 2, q->qclass);
	b->len += 4;
	b->wire_start = b->len;
	ret = resolve(b, q->lname, q->qname_len, q->qtype, &rcode);
	if (ret != 0)
		goto out;
	put_additionals(b);
	res->entry = make_entry(b, q, do_bit, rcode, hash_seed);
	if (res->entry == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	res->rcode = rcode;
	res->cacheable = true;
	res->zone_id = z->zone_id;
out:
	free(b);
	return ret;
}
