/*
 * Zone loading with ldns: master file → struct lv_zone.
 *
 * Control plane. A master file is read RR by RR with ldns so that every
 * error names file:line; each record is checked as it is read (class,
 * owner inside the zone, refused features, SOA placement), then all records
 * are sorted to merge duplicates, group RRsets and run the checks that need
 * a whole name (one SOA, one CNAME, CNAME beside other data). The result is
 * the read-only struct lv_zone of dns/zone_int.h: a node array with a
 * hash index, empty non-terminals included, that answer.c walks on cache
 * misses. Nothing here touches shared state except the zone id counter, so
 * a reload thread may load while the event loop answers from the old set.
 * Lookups and the zone set are in zone_lookup.c.
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "levee/zone_diff.h"
#include "zone_int.h"

/* Zone ids: unique per loaded instance, never 0 (0 means "no zone"). */
static uint32_t next_zone_id;

static uint32_t new_zone_id(void)
{
	uint32_t id;

	/* relaxed: only uniqueness matters, no data is published by it */
	do {
		id = __atomic_add_fetch(&next_zone_id, 1, __ATOMIC_RELAXED);
	} while (id == 0);
	return id;
}

/* --- names --- */

static void name_lower(uint8_t *p, unsigned len)
{
	for (unsigned i = 0; i < len;) {
		uint8_t l = p[i++];
		for (unsigned j = 0; j < l && i < len; j++, i++)
			p[i] = lv_wire_lower(p[i]);
	}
}

/* Lowercase the domain names in RDATA whose position the type fixes. */
static void rdata_lower_names(uint16_t type, uint8_t *rd, unsigned rdlen)
{
	struct lv_rdata_names where = lv_rdata_names(type);
	unsigned off = where.skip, n;

	for (unsigned i = 0; i < where.names && off < rdlen; i++, off += n) {
		n = lv_name_len(rd + off, rdlen - off);
		if (n == 0)
			return;
		name_lower(rd + off, n);
	}
}

/* Every domain name in RDATA whose position the type fixes is a whole
 * name of at most 255 bytes. ldns does not hold that line when it appends
 * the origin to a relative name (found by fuzz_zone: an NS target of 275
 * bytes loaded, and its answer could not be parsed). */
static bool rdata_names_ok(uint16_t type, const uint8_t *rd, unsigned rdlen)
{
	struct lv_rdata_names where = lv_rdata_names(type);
	unsigned off = where.skip, n;

	for (unsigned i = 0; i < where.names && off < rdlen; i++, off += n) {
		n = lv_name_len(rd + off, rdlen - off);
		if (n == 0)
			return false;
	}
	return true;
}

/* --- a chunked arena: one free for the whole zone --- */

#define ARENA_CHUNK 65536

struct chunk {
	struct chunk *next;
	size_t used, size;
	uint8_t data[];
};

static void *arena_alloc(struct chunk **arena, size_t n)
{
	struct chunk *c = *arena;

	n = (n + 7) & ~(size_t)7;
	if (c == NULL || c->size - c->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		c = malloc(sizeof(*c) + size);
		if (c == NULL)
			return NULL;
		c->next = *arena;
		c->used = 0;
		c->size = size;
		*arena = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

static void arena_free(struct chunk *c)
{
	while (c != NULL) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
}

/* --- loading state --- */

struct rec {
	const uint8_t *owner;
	const uint8_t *rdata;
	uint32_t ttl;
	uint32_t line;
	uint32_t ttl_line; /* the line ttl came from (a later duplicate's) */
	uint16_t type;
	uint16_t rdlen;
	uint8_t owner_len;
};

struct loader {
	const char *file;
	struct lv_zone *z;
	struct chunk *arena;
	struct rec *recs;
	size_t n_recs, cap_recs;
	char *err;
	size_t errlen;
	int last_line;
};

static int fail(struct loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->file, line);

	if (n >= 0 && (size_t)n < ld->errlen) {
		va_start(ap, fmt);
		vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void name_text(const uint8_t *name, char *out, size_t outlen)
{
	ldns_rdf *rdf = ldns_dname_new_frm_data(lv_name_len(name, 255), name);
	char *s = rdf != NULL ? ldns_rdf2str(rdf) : NULL;

	snprintf(out, outlen, "%s", s != NULL ? s : "?");
	free(s);
	ldns_rdf_deep_free(rdf);
}

static bool is_wildcard(const uint8_t *owner)
{
	return owner[0] == 1 && owner[1] == '*';
}

/* Types a record in a zone may have: not 0 (reserved), OPT (41) nor the
 * QTYPEs and meta types of 128..255 (AXFR, ANY, TSIG, ...; RFC 6895
 * §3.1). A query for one never reaches the zone (answer.c), so such a
 * record could never be answered. */
static bool is_data_type(uint16_t type)
{
	return type != 0 && type != LV_TYPE_OPT && (type < 128 || type > 255);
}

/* Per-record checks, in the order an operator reads the line. */
static int check_rr(struct loader *ld, const ldns_rr *rr, const uint8_t *owner,
		    unsigned owner_len, int line)
{
	struct lv_zone *z = ld->z;
	uint16_t type = ldns_rr_get_type(rr);
	char name[LDNS_MAX_DOMAINLEN * 4 + 2];

	if (owner_len > LV_DNS_MAX_NAME)
		return fail(ld, line,
			    "owner name of %u bytes is longer than "
			    "255",
			    owner_len);
	if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
		char *cls = ldns_rr_class2str(ldns_rr_get_class(rr));
		fail(ld, line, "class %s is not supported, only IN",
		     cls != NULL ? cls : "?");
		free(cls);
		return -EINVAL;
	}
	name_text(owner, name, sizeof(name));
	if (!lv_name_in_zone(owner, owner_len, z->origin, z->origin_len))
		return fail(ld, line, "owner %s is outside the zone %s", name,
			    z->origin_text);
	bool apex = owner_len == z->origin_len;
	if (!is_data_type(type))
		return fail(ld, line, "type %u at %s is not a data type", type,
			    name);
	if (is_wildcard(owner))
		return fail(ld, line, "wildcard owner %s is not supported yet",
			    name);
	if (type == LV_TYPE_DNAME)
		return fail(ld, line, "DNAME at %s is not supported yet", name);
	if (type == LV_TYPE_NS && !apex)
		return fail(ld, line,
			    "NS at %s: delegations are not supported yet",
			    name);
	if (type == LV_TYPE_SOA && !apex)
		return fail(ld, line, "SOA at %s is not at the zone apex %s",
			    name, z->origin_text);
	return 0;
}

static int add_rec(struct loader *ld, const ldns_rr *rr, int line)
{
	ldns_rdf *own = ldns_rr_owner(rr);
	unsigned owner_len = (unsigned)ldns_rdf_size(own);
	uint16_t type = ldns_rr_get_type(rr);
	ldns_buffer *buf = ldns_buffer_new(512);
	int ret = -ENOMEM;

	if (buf == NULL)
		return -ENOMEM;
	if (ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK)
		goto out;
	size_t rdlen = ldns_buffer_position(buf);
	uint8_t *owner = arena_alloc(&ld->arena, owner_len + rdlen);
	if (owner == NULL)
		goto out;
	memcpy(owner, ldns_rdf_data(own), owner_len);
	name_lower(owner, owner_len);
	ret = check_rr(ld, rr, owner, owner_len, line);
	if (ret != 0)
		goto out;
	if (ld->n_recs == ld->cap_recs) {
		size_t cap = ld->cap_recs ? ld->cap_recs * 2 : 1024;
		struct rec *r = realloc(ld->recs, cap * sizeof(*r));
		ret = -ENOMEM;
		if (r == NULL)
			goto out;
		ld->recs = r;
		ld->cap_recs = cap;
	}
	uint8_t *rd = owner + owner_len;
	memcpy(rd, ldns_buffer_begin(buf), rdlen);
	if (!rdata_names_ok(type, rd, (unsigned)rdlen)) {
		char name[LDNS_MAX_DOMAINLEN * 4 + 2];
		name_text(owner, name, sizeof(name));
		ret = fail(ld, line,
			   "a name in the RDATA at %s is longer than 255 bytes",
			   name);
		goto out;
	}
	rdata_lower_names(type, rd, (unsigned)rdlen);
	ld->recs[ld->n_recs++] = (struct rec){
	    .owner = owner,
	    .rdata = rd,
	    .ttl = ldns_rr_ttl(rr),
	    .line = (uint32_t)line,
	    .ttl_line = (uint32_t)line,
	    .type = type,
	    .rdlen = (uint16_t)rdlen,
	    .owner_len = (uint8_t)owner_len,
	};
	ret = 0;
out:
	ldns_buffer_free(buf);
	return ret;
}

/* Read the file RR by RR. $ORIGIN and $TTL are handled by ldns. */
static int read_file(struct loader *ld, FILE *fp)
{
	ldns_rdf *origin =
	    ldns_dname_new_frm_data(ld->z->origin_len, ld->z->origin);
	ldns_rdf *prev = ldns_rdf_clone(origin);
	uint32_t default_ttl = 3600;
	int line = 1, ret = 0;

	if (origin == NULL || prev == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	while (!feof(fp)) {
		ldns_rr *rr = NULL;
		int start = line; /* ldns counts the newlines it has read */
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, fp, &default_ttl,
						      &origin, &prev, &line);
		if (st == LDNS_STATUS_SYNTAX_EMPTY ||
		    st == LDNS_STATUS_SYNTAX_TTL ||
		    st == LDNS_STATUS_SYNTAX_ORIGIN)
			continue;
		if (st == LDNS_STATUS_SYNTAX_INCLUDE) {
			ret = fail(ld, start, "$INCLUDE is not supported");
			goto out;
		}
		if (st != LDNS_STATUS_OK) {
			ret =
			    fail(ld, start, "%s", ldns_get_errorstr_by_id(st));
			goto out;
		}
		ret = add_rec(ld, rr, start);
		ldns_rr_free(rr);
		if (ret != 0)
			goto out;
	}
	ld->last_line = line > 1 ? line - 1 : 1;
out:
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	return ret;
}

/* --- grouping and whole-name checks --- */

static int name_cmp(const uint8_t *a, unsigned al, const uint8_t *b,
		    unsigned bl)
{
	if (al != bl)
		return al < bl ? -1 : 1;
	return memcmp(a, b, al);
}

static int rec_cmp(const void *pa, const void *pb)
{
	const struct rec *a = pa, *b = pb;
	int c = name_cmp(a->owner, a->owner_len, b->owner, b->owner_len);

	if (c != 0)
		return c;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	/* RDATA in canonical order (RFC 4034 §6.3), the order Knot serves */
	c = memcmp(a->rdata, b->rdata,
		   a->rdlen < b->rdlen ? a->rdlen : b->rdlen);
	if (c != 0)
		return c;
	if (a->rdlen != b->rdlen)
		return a->rdlen < b->rdlen ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

static bool same_rr(const struct rec *a, const struct rec *b)
{
	return a->type == b->type && a->rdlen == b->rdlen &&
	       name_cmp(a->owner, a->owner_len, b->owner, b->owner_len) == 0 &&
	       memcmp(a->rdata, b->rdata, a->rdlen) == 0;
}

/* Drop duplicates (same owner, type and RDATA) keeping the first line. */
static void merge_duplicates(struct loader *ld)
{
	size_t out = 0;

	for (size_t i = 0; i < ld->n_recs; i++) {
		if (out > 0 && same_rr(&ld->recs[out - 1], &ld->recs[i])) {
			/* the RRset's TTL follows the last line (like Knot) */
			if (ld->recs[i].line > ld->recs[out - 1].ttl_line) {
				ld->recs[out - 1].ttl = ld->recs[i].ttl;
				ld->recs[out - 1].ttl_line = ld->recs[i].line;
			}
			continue;
		}
		ld->recs[out++] = ld->recs[i];
	}
	ld->n_recs = out;
}

/* Lines of the first and second records (file order) in recs[a..b). */
static void first_lines(const struct rec *r, size_t a, size_t b,
			uint32_t *first, uint32_t *second)
{
	*first = *second = UINT32_MAX;
	for (size_t i = a; i < b; i++) {
		if (r[i].line < *first) {
			*second = *first;
			*first = r[i].line;
		} else if (r[i].line < *second) {
			*second = r[i].line;
		}
	}
}

struct name_err {
	uint32_t line;
	char msg[64 + LDNS_MAX_DOMAINLEN * 4 + 2]; /* the longest name fits */
};

static void note_err(struct name_err *e, uint32_t line, const char *what,
		     const uint8_t *owner)
{
	char name[LDNS_MAX_DOMAINLEN * 4 + 2];

	if (line >= e->line)
		return;
	e->line = line;
	name_text(owner, name, sizeof(name));
	snprintf(e->msg, sizeof(e->msg), what, name);
}

/* Checks over one name's records recs[a..b) (sorted by type). */
static void check_name(const struct rec *r, size_t a, size_t b,
		       struct name_err *e)
{
	uint32_t cname_first = UINT32_MAX, other_first = UINT32_MAX;
	uint32_t first, second;
	size_t i = a;

	while (i < b) {
		size_t j = i;
		while (j < b && r[j].type == r[i].type)
			j++;
		first_lines(r, i, j, &first, &second);
		if (r[i].type == LV_TYPE_SOA && second != UINT32_MAX)
			note_err(e, second, "more than one SOA record at %s",
				 r[i].owner);
		if (r[i].type == LV_TYPE_CNAME) {
			if (second != UINT32_MAX)
				note_err(e, second,
					 "more than one CNAME record at %s",
					 r[i].owner);
			cname_first = first;
		} else if (r[i].type != LV_TYPE_RRSIG && r[i].type != 47) {
			/* 47 = NSEC: RFC 4035 allows it beside a CNAME */
			if (first < other_first)
				other_first = first;
		}
		i = j;
	}
	if (cname_first != UINT32_MAX && other_first != UINT32_MAX)
		note_err(e,
			 cname_first > other_first ? cname_first : other_first,
			 "CNAME at %s beside other data", r[a].owner);
}

/* Build nodes, RRsets and RRs from the sorted, merged records. */
static int build_nodes(struct loader *ld)
{
	struct lv_zone *z = ld->z;
	struct rec *r = ld->recs;
	size_t cap = 0, nsets = 0;
	int ret = lv_zone_index_grow(z);

	for (size_t i = 0; i < ld->n_recs; i++)
		if (i == 0 || r[i].type != r[i - 1].type ||
		    name_cmp(r[i].owner, r[i].owner_len, r[i - 1].owner,
			     r[i - 1].owner_len) != 0)
			nsets++;
	struct lv_zrrset *sets =
	    arena_alloc(&ld->arena, (nsets + 1) * sizeof(*sets));
	struct lv_zrr *rrs =
	    arena_alloc(&ld->arena, (ld->n_recs + 1) * sizeof(*rrs));
	if (ret != 0 || sets == NULL || rrs == NULL)
		return -ENOMEM;
	struct lv_zrrset *set = NULL;
	uint32_t set_line = 0;
	for (size_t i = 0; i < ld->n_recs; i++) {
		bool new_name =
		    i == 0 || name_cmp(r[i].owner, r[i].owner_len,
				       r[i - 1].owner, r[i - 1].owner_len) != 0;
		if (new_name) {
			ret = lv_zone_add_node(z, &cap, r[i].owner,
					       r[i].owner_len);
			if (ret != 0)
				return ret;
		}
		struct lv_znode *node = &z->nodes[z->node_count - 1];
		if (new_name || r[i].type != r[i - 1].type) {
			set = sets++;
			*set =
			    (struct lv_zrrset){.type = r[i].type, .rrs = rrs};
			set_line = 0;
			if (node->rrset_count++ == 0)
				node->rrsets = set;
		}
		/* one TTL per RRset: the last one in file order, like Knot */
		if (r[i].ttl_line >= set_line) {
			set->ttl = r[i].ttl;
			set_line = r[i].ttl_line;
		}
		*rrs++ =
		    (struct lv_zrr){.rdata = r[i].rdata, .rdlen = r[i].rdlen};
		set->count++;
	}
	return lv_zone_add_empty_nonterminals(z, &cap);
}

static int finish(struct loader *ld)
{
	struct lv_zone *z = ld->z;
	struct name_err e = {.line = UINT32_MAX};

	/* an empty file has no records and recs is NULL, which qsort may
	 * not be given (C11 7.22.5: even with a count of 0) */
	if (ld->n_recs == 0)
		return fail(ld, ld->last_line, "no SOA record at the apex %s",
			    z->origin_text);
	qsort(ld->recs, ld->n_recs, sizeof(*ld->recs), rec_cmp);
	merge_duplicates(ld);
	for (size_t i = 0; i < ld->n_recs;) {
		size_t j = i;
		while (j < ld->n_recs &&
		       name_cmp(ld->recs[j].owner, ld->recs[j].owner_len,
				ld->recs[i].owner, ld->recs[i].owner_len) == 0)
			j++;
		check_name(ld->recs, i, j, &e);
		i = j;
	}
	if (e.line != UINT32_MAX)
		return fail(ld, (int)e.line, "%s", e.msg);
	int ret = build_nodes(ld);
	if (ret != 0)
		return ret;
	z->records = ld->n_recs;
	z->apex = lv_zone_node(z, z->origin, z->origin_len);
	z->soa = z->apex ? lv_znode_rrset(z->apex, LV_TYPE_SOA) : NULL;
	if (z->soa == NULL)
		return fail(ld, ld->last_line, "no SOA record at the apex %s",
			    z->origin_text);
	const struct lv_zrr *soa = &z->soa->rrs[0];
	unsigned n1 = lv_name_len(soa->rdata, soa->rdlen);
	unsigned n2 = n1 ? lv_name_len(soa->rdata + n1, soa->rdlen - n1) : 0;
	if (n2 == 0 || n1 + n2 + 20 != soa->rdlen)
		return fail(ld, ld->last_line, "malformed SOA at %s",
			    z->origin_text);
	z->serial = lv_wire_get32(soa->rdata + n1 + n2);
	return 0;
}

/* --- the zone --- */

/* s for a one-line message: control characters as '?' (found by
 * fuzz_zone: an origin with a backspace in it reached the message). */
static void printable(const char *s, char *out, size_t outlen)
{
	size_t i = 0;

	for (; s[i] != '\0' && i + 1 < outlen; i++)
		out[i] =
		    (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
}

static int set_origin(struct lv_zone *z, const char *origin)
{
	ldns_rdf *rdf = NULL;
	char *s = NULL;

	if (ldns_str2rdf_dname(&rdf, origin) != LDNS_STATUS_OK)
		return -EINVAL;
	z->origin_len = (uint8_t)ldns_rdf_size(rdf);
	memcpy(z->origin, ldns_rdf_data(rdf), z->origin_len);
	name_lower(z->origin, z->origin_len);
	ldns_rdf_deep_free(rdf);
	rdf = ldns_dname_new_frm_data(z->origin_len, z->origin);
	s = rdf ? ldns_rdf2str(rdf) : NULL;
	ldns_rdf_deep_free(rdf);
	z->origin_text = s;
	return s != NULL ? 0 : -ENOMEM;
}

int lv_zone_load(const char *origin, const char *file, struct lv_zone **zone,
		 char *err, size_t errlen)
{
	struct lv_zone *z = calloc(1, sizeof(*z));
	struct loader ld = {.file = file, .z = z, .err = err, .errlen = errlen};
	FILE *fp = NULL;
	int ret = -ENOMEM;

	*zone = NULL;
	if (z != NULL)
		z->refs = 1;
	if (z == NULL || (z->file = strdup(file)) == NULL)
		goto out;
	ret = set_origin(z, origin);
	if (ret != 0) {
		char shown[LDNS_MAX_DOMAINLEN * 4 + 2];
		printable(origin, shown, sizeof(shown));
		snprintf(err, errlen, "%s: bad zone origin '%s'", file, shown);
		goto out;
	}
	fp = fopen(file, "r");
	if (fp == NULL) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		goto out;
	}
	/* ldns allocates and frees a line buffer per RR at the top of the
	 * heap; with glibc's default 128 KiB pad that is a brk() pair per
	 * record (200k names: 3 s of system time). A 1 MiB pad makes it 0.5 s.
	 * Process-wide, harmless: the heap keeps at most 1 MiB spare. */
	mallopt(M_TOP_PAD, 1 << 20);
	ret = read_file(&ld, fp);
	if (ret == 0)
		ret = finish(&ld);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", file);
out:
	if (fp != NULL)
		fclose(fp);
	free(ld.recs);
	if (z != NULL)
		z->blob = ld.arena;
	if (ret != 0) {
		lv_zone_free(z);
		return ret;
	}
	z->zone_id = new_zone_id();
	*zone = z;
	return 0;
}

int lv_zone_set_history(struct lv_zone *fresh, const struct lv_zone *old,
			struct lv_zdiff *d, unsigned keep)
{
	unsigned n = old->n_history + 1, skip = n > keep ? n - keep : 0;

	if (keep == 0) {
		lv_zdiff_put(d);
		return 0;
	}
	fresh->history = calloc(n - skip, sizeof(*fresh->history));
	if (fresh->history == NULL) {
		lv_zdiff_put(d);
		return -ENOMEM;
	}
	for (unsigned i = skip; i < old->n_history; i++)
		fresh->history[fresh->n_history++] =
		    lv_zdiff_get(old->history[i]);
	fresh->history[fresh->n_history++] = d;
	return 0;
}

unsigned lv_zone_history_count(const struct lv_zone *z)
{
	return z->n_history;
}

const struct lv_zdiff *lv_zone_history(const struct lv_zone *z, unsigned i)
{
	return i < z->n_history ? z->history[i] : NULL;
}

struct lv_zone *lv_zone_ref(const struct lv_zone *zone)
{
	struct lv_zone *z = (struct lv_zone *)zone; /* refs is not content */

	/* relaxed: the caller already holds a reference, so the zone cannot
	 * go away meanwhile, and taking one publishes nothing */
	__atomic_fetch_add(&z->refs, 1, __ATOMIC_RELAXED);
	return z;
}

void lv_zone_free(struct lv_zone *z)
{
	if (z == NULL)
		return;
	/* acq_rel: whoever drops the last reference must see every other
	 * holder's reads finished before it frees */
	if (__atomic_sub_fetch(&z->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (unsigned i = 0; i < z->n_history; i++)
		lv_zdiff_put(z->history[i]);
	free(z->history);
	arena_free(z->blob);
	free(z->nodes);
	free(z->index);
	free(z->origin_text);
	free(z->file);
	free(z);
}

uint32_t lv_zone_id(const struct lv_zone *z)
{
	return z->zone_id;
}

uint32_t lv_zone_serial(const struct lv_zone *z)
{
	return z->serial;
}

size_t lv_zone_records(const struct lv_zone *z)
{
	return z->records;
}

const char *lv_zone_origin(const struct lv_zone *z)
{
	return z->origin_text;
}

const char *lv_zone_file(const struct lv_zone *z)
{
	return z->file;
}
