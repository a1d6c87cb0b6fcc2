/*
 * An upstream's answer, read with every name decompressed and written
 * again for the cache: see include/levee/upstream_entry.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "levee/csum.h"
#include "levee/upstream_entry.h"

#define MSG_MAX      65535
#define RR_MAX       4096 /* records kept from one answer */
#define DICT_MAX     512  /* name suffixes remembered for compression */
#define POINTER_MAX  0x3fff
#define HOPS_MAX     64          /* compression pointers followed in one name */
#define TTL_MAX_SANE 0x7fffffffu /* RFC 2181 §8: larger means 0 */

enum section { SEC_ANSWER, SEC_AUTHORITY, SEC_ADDITIONAL };

/* A name suffix already in the output, for compression. */
struct dict_entry {
	uint16_t pos;        /* in the message as answered */
	uint8_t len;         /* of the suffix, wire form with root */
	const uint8_t *name; /* lowercased suffix (in arena or q->lname) */
};

struct builder {
	const uint8_t *in;
	size_t in_len;
	uint8_t *out; /* the message as answered; wire starts at wire0 */
	size_t len, wire0;
	struct dict_entry dict[DICT_MAX];
	unsigned n_dict;
	uint8_t arena[DICT_MAX * 16]; /* lowercased names for dict */
	size_t arena_len;
	struct lv_cache_rr rrs[RR_MAX];
	struct lv_cache_rrset sets[RR_MAX];
	unsigned n_rrs, n_sets;
	uint16_t counts[3];
	uint16_t targets[RR_MAX]; /* pointers written into wire, for rotation */
	unsigned n_targets;
	/* for TTLs */
	uint32_t min_ttl_an_ns;
	bool has_soa;
	uint32_t soa_ttl, soa_minimum;
	size_t soa_ttl_pos;
};

/* --- reading --- */

/*
 * Read the name at *pos of the input, following pointers (each one must
 * point before the label it replaces, so there is no loop), into out
 * (wire form, case kept, at most 255 bytes). *pos moves past the name as
 * it lies in the input. 0, or -1 when malformed.
 */
static int read_name(const struct builder *b, size_t *pos, uint8_t *out,
		     unsigned *out_len)
{
	size_t p = *pos, limit = *pos;
	unsigned n = 0, hops = 0;
	bool jumped = false;

	for (;;) {
		if (p >= b->in_len)
			return -1;
		uint8_t c = b->in[p];
		if ((c & 0xc0) == 0xc0) {
			if (p + 1 >= b->in_len || ++hops > HOPS_MAX)
				return -1;
			size_t to = ((size_t)(c & 0x3f) << 8) | b->in[p + 1];
			if (!jumped)
				*pos = p + 2;
			jumped = true;
			if (to >= limit)
				return -1; /* forward or self: a loop */
			limit = to;
			p = to;
			continue;
		}
		if (c & 0xc0)
			return -1; /* extended label types */
		if (p + 1 + c > b->in_len || n + 1 + c > LV_DNS_MAX_NAME)
			return -1;
		memcpy(out + n, b->in + p, 1u + c);
		n += 1u + c;
		p += 1u + c;
		if (c == 0)
			break;
	}
	if (!jumped)
		*pos = p;
	*out_len = n;
	return 0;
}

static void lower_copy(uint8_t *dst, const uint8_t *src, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		dst[i] = lv_wire_lower(src[i]);
}

/* --- writing --- */

static bool room(const struct builder *b, size_t n)
{
	return b->len + n <= MSG_MAX;
}

static void dict_add(struct builder *b, uint16_t pos, const uint8_t *lname,
		     unsigned len)
{
	if (b->n_dict < DICT_MAX && pos <= POINTER_MAX && len > 1)
		b->dict[b->n_dict++] = (struct dict_entry){
		    .pos = pos, .len = (uint8_t)len, .name = lname};
}

static int dict_find(const struct builder *b, const uint8_t *lname,
		     unsigned len)
{
	for (unsigned i = 0; i < b->n_dict; i++)
		if (b->dict[i].len == len &&
		    memcmp(b->dict[i].name, lname, len) == 0)
			return b->dict[i].pos;
	return -1;
}

/* Remember where a pointer into the entry's own bytes points. */
static void note_target(struct builder *b, unsigned pos)
{
	if (pos >= b->wire0 && b->n_targets < RR_MAX)
		b->targets[b->n_targets++] = (uint16_t)(pos - b->wire0);
}

/*
 * Write name (wire form, case kept, len bytes) at the end of the output,
 * compressed against the names written before when compress is set: the
 * longest suffix already there becomes a pointer. Every new label is
 * remembered as a target for later names. 0 or -E2BIG.
 */
static int put_name(struct builder *b, const uint8_t *name, unsigned len,
		    bool compress)
{
	uint8_t lower[LV_DNS_MAX_NAME + 1];
	const uint8_t *kept = NULL;
	unsigned off = 0;
	int at = -1;

	lower_copy(lower, name, len);
	if (compress)
		for (off = 0; name[off] != 0; off += name[off] + 1u)
			if ((at = dict_find(b, lower + off, len - off)) >= 0)
				break;
	if (at < 0)
		off = len; /* the whole name, root included */
	if (!room(b, off + (at >= 0 ? 2 : 0)))
		return -E2BIG;
	/* the labels written here become targets for later names, while
	 * the arena has room for their lowercased form */
	if (off > 1 && b->arena_len + len <= sizeof(b->arena)) {
		memcpy(b->arena + b->arena_len, lower, len);
		kept = b->arena + b->arena_len;
		b->arena_len += len;
	}
	for (unsigned i = 0; kept && i < off && name[i] != 0; i += name[i] + 1u)
		dict_add(b, (uint16_t)(b->len + i), kept + i, len - i);
	memcpy(b->out + b->len, name, off);
	b->len += off;
	if (at >= 0) {
		lv_wire_put16(b->out + b->len, (uint16_t)(0xc000 | at));
		b->len += 2;
		note_target(b, (unsigned)at);
	}
	return 0;
}

static int put_bytes(struct builder *b, const uint8_t *p, size_t n)
{
	if (!room(b, n))
		return -E2BIG;
	memcpy(b->out + b->len, p, n);
	b->len += n;
	return 0;
}

/* How a type's RDATA holds names: the fixed bytes before the first name,
 * the number of names, whether they may be compressed (RFC 1035 types,
 * RFC 3597 §4) and the fixed bytes after. Others are opaque. */
struct rdata_shape {
	uint8_t lead, names, trail;
	bool compress;
};

static bool rdata_shape(uint16_t type, struct rdata_shape *s)
{
	switch (type) {
	case 2:  /* NS */
	case 3:  /* MD */
	case 4:  /* MF */
	case 5:  /* CNAME */
	case 7:  /* MB */
	case 8:  /* MG */
	case 9:  /* MR */
	case 12: /* PTR */
		*s = (struct rdata_shape){0, 1, 0, true};
		return true;
	case 6: /* SOA */
		*s = (struct rdata_shape){0, 2, 20, true};
		return true;
	case 14: /* MINFO */
		*s = (struct rdata_shape){0, 2, 0, true};
		return true;
	case 15: /* MX */
		*s = (struct rdata_shape){2, 1, 0, true};
		return true;
	case 17: /* RP: decompressed, never compressed again */
		*s = (struct rdata_shape){0, 2, 0, false};
		return true;
	case 18: /* AFSDB */
	case 21: /* RT */
	case 36: /* KX */
		*s = (struct rdata_shape){2, 1, 0, false};
		return true;
	case 33: /* SRV */
		*s = (struct rdata_shape){6, 1, 0, false};
		return true;
	case 39: /* DNAME */
		*s = (struct rdata_shape){0, 1, 0, false};
		return true;
	default:
		return false;
	}
}

/* Copy the RDATA of rdlen bytes at in[pos], names rewritten. 0, -EBADMSG,
 * -E2BIG. */
static int put_rdata(struct builder *b, uint16_t type, size_t pos,
		     uint16_t rdlen)
{
	struct rdata_shape s;
	size_t end = pos + rdlen;
	uint8_t name[LV_DNS_MAX_NAME + 1];
	unsigned nlen;
	int rc;

	/* fixed-size types of the wrong size are a broken answer, not one
	 * to pass on (a resolver reading it would misparse what follows) */
	if ((type == LV_TYPE_A && rdlen != 4) ||
	    (type == LV_TYPE_AAAA && rdlen != 16))
		return -EBADMSG;
	if (!rdata_shape(type, &s))
		return put_bytes(b, b->in + pos, rdlen);
	if (pos + s.lead > end || (rc = put_bytes(b, b->in + pos, s.lead)) < 0)
		return pos + s.lead > end ? -EBADMSG : rc;
	pos += s.lead;
	for (unsigned i = 0; i < s.names; i++) {
		if (read_name(b, &pos, name, &nlen) < 0 || pos > end)
			return -EBADMSG;
		if ((rc = put_name(b, name, nlen, s.compress)) < 0)
			return rc;
	}
	if (pos + s.trail != end)
		return -EBADMSG;
	return put_bytes(b, b->in + pos, s.trail);
}

static uint32_t clamp(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Group RR i with the RR before it when they share owner, type, class and
 * section; else open a new RRset. */
static void add_to_rrset(struct builder *b, unsigned i, enum section sec,
			 const uint8_t *owner, unsigned owner_len,
			 uint16_t type, uint16_t class, uint8_t *prev_owner,
			 unsigned *prev_len, uint32_t *prev_tc)
{
	uint32_t tc = ((uint32_t)type << 16) | class;
	struct lv_cache_rrset *last =
	    b->n_sets ? &b->sets[b->n_sets - 1] : NULL;

	if (last != NULL && last->section == sec && *prev_tc == tc &&
	    *prev_len == owner_len &&
	    memcmp(prev_owner, owner, owner_len) == 0) {
		last->rr_count++;
		return;
	}
	b->sets[b->n_sets++] = (struct lv_cache_rrset){.first_rr = (uint16_t)i,
						       .rr_count = 1,
						       .section = sec,
						       .rotatable = 1};
	memcpy(prev_owner, owner, owner_len);
	*prev_len = owner_len;
	*prev_tc = tc;
}

/*
 * Read count RRs of section sec from *pos and write them out. OPT and
 * TSIG are skipped. TTLs: clamped to [lo, hi] (0 when above 2^31 - 1).
 */
static int put_section(struct builder *b, size_t *pos, unsigned count,
		       enum section sec, uint32_t lo, uint32_t hi)
{
	uint8_t owner[LV_DNS_MAX_NAME + 1], lowner[LV_DNS_MAX_NAME + 1];
	uint8_t prev[LV_DNS_MAX_NAME + 1];
	unsigned olen, prev_len = 0;
	uint32_t prev_tc = 0;
	int rc;

	for (unsigned k = 0; k < count; k++) {
		if (read_name(b, pos, owner, &olen) < 0 ||
		    *pos + 10 > b->in_len)
			return -EBADMSG;
		const uint8_t *f = b->in + *pos;
		uint16_t type = lv_wire_get16(f), class = lv_wire_get16(f + 2);
		uint32_t ttl = lv_wire_get32(f + 4);
		uint16_t rdlen = lv_wire_get16(f + 8);
		size_t rd = *pos + 10;

		if (rd + rdlen > b->in_len)
			return -EBADMSG;
		*pos = rd + rdlen;
		if (type == LV_TYPE_OPT || type == 250 /* TSIG */)
			continue;
		if (b->n_rrs >= RR_MAX)
			return -E2BIG;
		ttl = clamp(ttl > TTL_MAX_SANE ? 0 : ttl, lo, hi);
		unsigned i = b->n_rrs++;
		b->rrs[i].offset = (uint16_t)(b->len - b->wire0);
		if ((rc = put_name(b, owner, olen, true)) < 0 || !room(b, 10))
			return rc < 0 ? rc : -E2BIG;
		uint8_t *fix = b->out + b->len;
		lv_wire_put16(fix, type);
		lv_wire_put16(fix + 2, class);
		lv_wire_put32(fix + 4, ttl);
		b->rrs[i].ttl_offset = (uint16_t)(b->len + 4 - b->wire0);
		b->len += 10;
		size_t rd_out = b->len;
		if ((rc = put_rdata(b, type, rd, rdlen)) < 0)
			return rc;
		if (b->len - rd_out > 0xffff)
			return -E2BIG;
		lv_wire_put16(fix + 8, (uint16_t)(b->len - rd_out));
		lower_copy(lowner, owner, olen);
		add_to_rrset(b, i, sec, lowner, olen, type, class, prev,
			     &prev_len, &prev_tc);
		b->counts[sec]++;
		if (sec != SEC_ADDITIONAL && ttl < b->min_ttl_an_ns)
			b->min_ttl_an_ns = ttl;
		if (sec == SEC_AUTHORITY && type == LV_TYPE_SOA &&
		    !b->has_soa && rdlen >= 22) {
			b->has_soa = true;
			b->soa_ttl = ttl;
			b->soa_minimum = lv_wire_get32(b->out + b->len - 4);
			b->soa_ttl_pos = rd_out - 6; /* its TTL field */
		}
	}
	return 0;
}

/* An RRset some pointer points into cannot be reordered. */
static void mark_targets(struct builder *b)
{
	for (unsigned t = 0; t < b->n_targets; t++) {
		for (unsigned s = 0; s < b->n_sets; s++) {
			const struct lv_cache_rrset *set = &b->sets[s];
			unsigned next = set->first_rr + set->rr_count;
			unsigned from = b->rrs[set->first_rr].offset;
			unsigned to = next < b->n_rrs
					  ? b->rrs[next].offset
					  : (unsigned)(b->len - b->wire0);
			if (b->targets[t] >= from && b->targets[t] < to)
				b->sets[s].rotatable = 0;
		}
	}
}

/* Does the question at in[12..] ask exactly q's? *pos moves past it. */
static bool same_question(const struct builder *b, const struct lv_query *q,
			  size_t *pos)
{
	uint8_t name[LV_DNS_MAX_NAME + 1];
	unsigned len;

	if (lv_wire_get16(b->in + 4) != 1 ||
	    read_name(b, pos, name, &len) < 0 || *pos + 4 > b->in_len ||
	    len != q->qname_len)
		return false;
	for (unsigned i = 0; i < len; i++)
		if (lv_wire_lower(name[i]) != q->lname[i])
			return false;
	bool same = lv_wire_get16(b->in + *pos) == q->qtype &&
		    lv_wire_get16(b->in + *pos + 2) == q->qclass;
	*pos += 4;
	return same;
}

/* A denial (RFC 2308): NXDOMAIN, or NOERROR with no answer records or
 * with an SOA in authority (NODATA at the end of a CNAME chain, §2.2). */
static bool is_denial(const struct builder *b, unsigned rcode)
{
	return rcode == LV_RCODE_NXDOMAIN ||
	       (rcode == LV_RCODE_NOERROR &&
		(b->counts[SEC_ANSWER] == 0 || b->has_soa));
}

/* How long the answer may be cached (see the header). */
static uint32_t cache_ttl(const struct builder *b, unsigned rcode,
			  const struct lv_ttl_policy *p)
{
	if (is_denial(b, rcode)) {
		if (!b->has_soa)
			return 0;
		uint32_t t =
		    b->soa_ttl < b->soa_minimum ? b->soa_ttl : b->soa_minimum;
		if (t > p->neg_max_ttl)
			t = p->neg_max_ttl;
		/* a chain before the denial lives no longer than itself */
		return t < b->min_ttl_an_ns ? t : b->min_ttl_an_ns;
	}
	if (rcode == LV_RCODE_NOERROR)
		return clamp(b->min_ttl_an_ns, p->min_ttl, p->max_ttl);
	if (rcode == LV_RCODE_SERVFAIL)
		return p->servfail_ttl;
	return 0;
}

/* Every record's TTL as the entry says it: a positive answer's clamped to
 * [min_ttl, max_ttl]; a denial's at most its cache TTL, the SOA's exactly
 * that (RFC 2308 §5: a client keeps the denial no longer than we do). */
static void set_ttls(struct builder *b, bool denial, uint32_t ttl,
		     const struct lv_ttl_policy *p)
{
	uint8_t *wire = b->out + b->wire0;

	for (unsigned i = 0; i < b->n_rrs; i++) {
		uint8_t *at = wire + b->rrs[i].ttl_offset;
		uint32_t t = lv_wire_get32(at);
		lv_wire_put32(at, denial ? (t < ttl ? t : ttl)
					 : clamp(t, p->min_ttl, p->max_ttl));
	}
	if (denial && b->has_soa)
		lv_wire_put32(b->out + b->soa_ttl_pos, ttl);
}

static struct lv_cache_entry *make_entry(const struct builder *b,
					 const struct lv_query *q,
					 unsigned rcode, uint16_t flags,
					 uint32_t ttl, uint64_t seed)
{
	struct lv_cache_entry_spec spec = {
	    .name = q->lname,
	    .name_len = (uint8_t)q->qname_len,
	    .qtype = q->qtype,
	    .qclass = q->qclass,
	    .do_bit = q->do_bit,
	    .cd = q->cd,
	    .origin = LV_ORIGIN_UPSTREAM,
	    .rcode = (uint8_t)rcode,
	    .flags = flags,
	    .ancount = b ? b->counts[SEC_ANSWER] : 0,
	    .nscount = b ? b->counts[SEC_AUTHORITY] : 0,
	    .arcount = b ? b->counts[SEC_ADDITIONAL] : 0,
	    .wire = b ? b->out + b->wire0 : NULL,
	    .wire_len = b ? (uint16_t)(b->len - b->wire0) : 0,
	    .rrs = b ? b->rrs : NULL,
	    .rr_count = b ? (uint16_t)b->n_rrs : 0,
	    .rrsets = b ? b->sets : NULL,
	    .rrset_count = b ? (uint16_t)b->n_sets : 0,
	    .zone_id = LV_ZONE_ID_UPSTREAM,
	    .min_ttl = ttl,
	};
	return lv_cache_entry_new(&spec, seed);
}

/* Read every section of the answer into b, TTLs as sent (set_ttls
 * applies the policy once the kind of answer is known). 0, -EBADMSG or
 * -E2BIG. */
static int read_sections(struct builder *b, size_t pos)
{
	int rc;

	for (unsigned s = SEC_ANSWER; s <= SEC_ADDITIONAL; s++)
		if ((rc = put_section(b, &pos, lv_wire_get16(b->in + 6 + 2 * s),
				      (enum section)s, 0, TTL_MAX_SANE)) < 0)
			return rc;
	return 0;
}

int lv_upstream_entry_build(const uint8_t *msg, uint16_t len,
			    const struct lv_query *q,
			    const struct lv_ttl_policy *p, uint64_t hash_seed,
			    struct lv_upstream_result *res)
{
	struct builder *b;
	size_t pos = LV_DNS_HDR_LEN;
	uint16_t flags;
	unsigned rcode;
	int rc = -EBADMSG;

	memset(res, 0, sizeof(*res));
	if (len < LV_DNS_HDR_LEN)
		return -EBADMSG;
	flags = lv_wire_get16(msg + 2);
	if (!(flags & LV_FLAG_QR) || (flags & LV_FLAG_OPCODE) != 0)
		return -EBADMSG;
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->out = malloc(MSG_MAX)) == NULL) {
		free(b);
		return -ENOMEM;
	}
	b->in = msg;
	b->in_len = len;
	b->min_ttl_an_ns = UINT32_MAX;
	if (!same_question(b, q, &pos))
		goto out;
	rcode = flags & LV_FLAG_RCODE;
	/* the question as the response will echo it: q's own bytes */
	memset(b->out, 0, LV_DNS_HDR_LEN);
	memcpy(b->out + LV_DNS_HDR_LEN, q->lname, q->qname_len);
	b->wire0 = LV_DNS_HDR_LEN + q->qname_len + 4u;
	b->len = b->wire0;
	for (unsigned i = 0; q->lname[i] != 0; i += q->lname[i] + 1u)
		dict_add(b, (uint16_t)(LV_DNS_HDR_LEN + i), q->lname + i,
			 q->qname_len - i);
	if ((rc = read_sections(b, pos)) < 0)
		goto out;
	mark_targets(b);
	res->rcode = (uint8_t)rcode;
	res->truncated = (flags & LV_FLAG_TC) != 0;
	res->ttl = cache_ttl(b, rcode, p);
	if (res->ttl == UINT32_MAX) /* no record: nothing says how long */
		res->ttl = 0;
	set_ttls(b, is_denial(b, rcode), res->ttl, p);
	res->cacheable = res->ttl > 0 && !res->truncated;
	res->entry = make_entry(
	    b, q, rcode,
	    (uint16_t)(LV_FLAG_RA |
		       (q->do_bit && (flags & LV_FLAG_AD) ? LV_FLAG_AD : 0)),
	    res->ttl, hash_seed);
	rc = res->entry ? 0 : -ENOMEM;
out:
	free(b->out);
	free(b);
	return rc;
}

struct lv_cache_entry *lv_upstream_entry_rcode(const struct lv_query *q,
					       uint8_t rcode, uint32_t ttl,
					       uint64_t hash_seed)
{
	return make_entry(NULL, q, rcode, LV_FLAG_RA, ttl, hash_seed);
}

struct lv_cache_entry *lv_upstream_entry_stale(const struct lv_cache_entry *old,
					       uint32_t ttl, uint32_t keep,
					       uint64_t hash_seed)
{
	const struct lv_cache_entry_spec spec = {.name = old->name,
						 .name_len = old->name_len,
						 .qtype = old->qtype,
						 .qclass = old->qclass,
						 .do_bit = old->do_bit,
						 .cd = old->cd,
						 .origin = LV_ORIGIN_UPSTREAM,
						 .rcode = old->rcode,
						 .flags = old->flags,
						 .ancount = old->ancount,
						 .nscount = old->nscount,
						 .arcount = old->arcount,
						 .wire = old->wire,
						 .wire_len = old->wire_len,
						 .rrs = old->rrs,
						 .rr_count = old->rr_count,
						 .rrsets = old->rrsets,
						 .rrset_count =
						     old->rrset_count,
						 .zone_id = old->zone_id,
						 .min_ttl = ttl};
	struct lv_cache_entry *e = lv_cache_entry_new(&spec, hash_seed);

	if (e == NULL)
		return NULL;
	/* not published yet: its bytes are still ours to write */
	uint8_t *wire = (uint8_t *)(uintptr_t)e->wire;
	for (unsigned i = 0; i < e->rr_count; i++)
		lv_wire_put32(wire + e->rrs[i].ttl_offset, ttl);
	e->wire_sum = lv_csum(e->wire, e->wire_len);
	e->stale = 1;
	/* never prefetched: the refresh is tried when the copy expires, so
	 * the upstreams are asked about once per stale-answer TTL (RFC 8767's
	 * failure recheck), not twice */
	e->prefetch_asked = 1;
	e->stale_keep = keep;
	return e;
}
