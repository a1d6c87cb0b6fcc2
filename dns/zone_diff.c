/*
 * Zone diffs: what changed between two loaded versions of a zone, for IXFR
 * (RFC 1995) and for refusing a reload whose content changed without a
 * larger serial. Control plane: the reload thread builds a diff from the old
 * and the new struct lv_zone (dns/zone_int.h); the event loop reads it
 * and drops it later, long after both zones may have been freed.
 *
 * The walk: every node of the old zone is looked up in the new one by name
 * (the zones' hash index) and the two nodes' RRsets, both sorted by type,
 * are merged; two RRsets of one type are merged RR by RR in canonical
 * RDATA order, the order zone.c stores them in. Then every node of the new
 * zone with data that the old one lacks (or holds as an empty non-terminal)
 * is added whole. Each zone is read once, nothing is sorted.
 *
 * While building, RRs collect in two growing arrays of small entries
 * (offsets, not pointers) and the names and RDATA in one growing byte
 * buffer; at the end all of it is copied into one allocation of the exact
 * size, the struct lv_zdiff that lives on.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "levee/zone_diff.h"
#include "zone_int.h"

/* One RR of a diff, 16 bytes. owner and rdata are offsets into the diff's
 * bytes; at owner sit the name's length byte and the name, stored once per
 * node and shared by its RRs. The RDATA of an RR whose RRset changed TTL
 * is stored once for both its removal and its addition. */
struct entry {
	uint32_t owner;
	uint32_t rdata;
	uint32_t ttl;
	uint16_t type;
	uint16_t rdlen;
};

struct lv_zdiff {
	atomic_uint refs;
	uint32_t from_serial, to_serial;
	size_t n_removed, n_added;
	size_t size; /* of this whole allocation */
	struct entry old_soa, new_soa;
	const uint8_t *bytes;   /* after the entries */
	struct entry entries[]; /* n_removed removed, then n_added added */
};

/* --- building --- */

struct list {
	struct entry *e;
	size_t n, cap;
};

struct builder {
	const struct lv_zone *old, *new;
	struct list removed, added;
	uint8_t *bytes;
	size_t n_bytes, cap_bytes;
	const struct lv_znode *owner_node; /* whose name is at owner_off */
	uint32_t owner_off;
};

/* An RRset with no RRs: the missing side when a type is on one side only. */
static const struct lv_zrrset no_rrs;

/* Append n bytes; *off is where they start. Offsets are 32-bit. */
static int bytes_put(struct builder *b, const void *p, size_t n, uint32_t *off)
{
	if (n > UINT32_MAX - b->n_bytes)
		return -EOVERFLOW;
	if (n > b->cap_bytes - b->n_bytes) {
		size_t cap = b->cap_bytes ? b->cap_bytes : 4096;
		while (cap - b->n_bytes < n)
			cap *= 2;
		uint8_t *bytes = realloc(b->bytes, cap);
		if (bytes == NULL)
			return -ENOMEM;
		b->bytes = bytes;
		b->cap_bytes = cap;
	}
	if (n > 0)
		memcpy(b->bytes + b->n_bytes, p, n);
	*off = (uint32_t)b->n_bytes;
	b->n_bytes += n;
	return 0;
}

/* The offset of node's name in the bytes, written on first use. */
static int owner_offset(struct builder *b, const struct lv_znode *node,
			uint32_t *off)
{
	uint32_t name_off;

	if (b->owner_node != node) {
		int ret = bytes_put(b, &node->name_len, 1, &b->owner_off);
		if (ret == 0)
			ret =
			    bytes_put(b, node->name, node->name_len, &name_off);
		if (ret != 0)
			return ret;
		b->owner_node = node;
	}
	*off = b->owner_off;
	return 0;
}

static int list_push(struct list *l, const struct entry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct entry *n = realloc(l->e, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		l->e = n;
		l->cap = cap;
	}
	l->e[l->n++] = *e;
	return 0;
}

/* Copy one RR of set at node into the bytes; *e describes it. */
static int put_rr(struct builder *b, const struct lv_znode *node,
		  const struct lv_zrrset *set, const struct lv_zrr *rr,
		  struct entry *e)
{
	*e = (struct entry){
	    .ttl = set->ttl, .type = set->type, .rdlen = rr->rdlen};
	int ret = owner_offset(b, node, &e->owner);
	if (ret == 0)
		ret = bytes_put(b, rr->rdata, rr->rdlen, &e->rdata);
	return ret;
}

static int emit(struct builder *b, struct list *l, const struct lv_znode *node,
		const struct lv_zrrset *set, const struct lv_zrr *rr)
{
	struct entry e;
	int ret = put_rr(b, node, set, rr, &e);

	return ret != 0 ? ret : list_push(l, &e);
}

/* An RR in both versions whose RRset changed TTL: removed with the old TTL,
 * added with the new, its RDATA stored once. */
static int emit_both(struct builder *b, const struct lv_znode *node,
		     const struct lv_zrrset *o, const struct lv_zrrset *n,
		     const struct lv_zrr *rr)
{
	struct entry e;
	int ret = put_rr(b, node, o, rr, &e);

	if (ret == 0)
		ret = list_push(&b->removed, &e);
	e.ttl = n->ttl;
	return ret != 0 ? ret : list_push(&b->added, &e);
}

/* --- comparing --- */

/* Canonical RDATA order (RFC 4034 §6.3), as zone.c sorts each RRset. */
static int rdata_cmp(const struct lv_zrr *a, const struct lv_zrr *b)
{
	int c = memcmp(a->rdata, b->rdata,
		       a->rdlen < b->rdlen ? a->rdlen : b->rdlen);

	if (c != 0 || a->rdlen == b->rdlen)
		return c;
	return a->rdlen < b->rdlen ? -1 : 1;
}

static int rdata_qsort_cmp(const void *a, const void *b)
{
	return rdata_cmp(a, b);
}

/* set's RRs in canonical order. zone.c stores them so; should that ever
 * change, sort a copy (*copy, the caller frees it) rather than diff
 * wrongly. NULL on ENOMEM. */
static const struct lv_zrr *canonical_rrs(const struct lv_zrrset *set,
					  struct lv_zrr **copy)
{
	size_t i = 1;

	*copy = NULL;
	while (i < set->count && rdata_cmp(&set->rrs[i - 1], &set->rrs[i]) < 0)
		i++;
	if (i >= set->count)
		return set->rrs;
	*copy = malloc(set->count * sizeof(**copy));
	if (*copy == NULL)
		return NULL;
	memcpy(*copy, set->rrs, set->count * sizeof(**copy));
	qsort(*copy, set->count, sizeof(**copy), rdata_qsort_cmp);
	return *copy;
}

/* Merge two sorted RR arrays of one type at one name (either may be empty). */
static int merge_rrs(struct builder *b, const struct lv_znode *node,
		     const struct lv_zrrset *o, const struct lv_zrr *orr,
		     const struct lv_zrrset *n, const struct lv_zrr *nrr)
{
	size_t i = 0, j = 0;
	int ret = 0;

	while (ret == 0 && (i < o->count || j < n->count)) {
		int c = i == o->count   ? 1
			: j == n->count ? -1
					: rdata_cmp(&orr[i], &nrr[j]);
		if (c < 0)
			ret = emit(b, &b->removed, node, o, &orr[i++]);
		else if (c > 0)
			ret = emit(b, &b->added, node, n, &nrr[j++]);
		else {
			if (o->ttl != n->ttl)
				ret = emit_both(b, node, o, n, &orr[i]);
			i++;
			j++;
		}
	}
	return ret;
}

/* The old and the new RRset of one type at one name (&no_rrs: none). */
static int diff_rrset(struct builder *b, const struct lv_znode *node,
		      const struct lv_zrrset *o, const struct lv_zrrset *n)
{
	struct lv_zrr *ocopy, *ncopy;
	int ret = -ENOMEM;

	if (o == b->old->soa || n == b->new->soa)
		return 0; /* the apex SOA is carried apart */
	const struct lv_zrr *orr = canonical_rrs(o, &ocopy);
	const struct lv_zrr *nrr = canonical_rrs(n, &ncopy);
	if ((orr != NULL || o->count == 0) && (nrr != NULL || n->count == 0))
		ret = merge_rrs(b, node, o, orr, n, nrr);
	free(ocopy);
	free(ncopy);
	return ret;
}

/* The old and the new node of one name (NULL: none); merge their RRsets,
 * both sorted by type. */
static int diff_node(struct builder *b, const struct lv_znode *on,
		     const struct lv_znode *nn)
{
	const struct lv_znode *owner = on != NULL ? on : nn;
	unsigned oc = on != NULL ? on->rrset_count : 0;
	unsigned nc = nn != NULL ? nn->rrset_count : 0;
	unsigned i = 0, j = 0;
	int ret = 0;

	while (ret == 0 && (i < oc || j < nc)) {
		/* the smaller type next; UINT32_MAX: that side is done */
		uint32_t ot = i < oc ? on->rrsets[i].type : UINT32_MAX;
		uint32_t nt = j < nc ? nn->rrsets[j].type : UINT32_MAX;
		uint32_t type = ot < nt ? ot : nt;
		const struct lv_zrrset *o =
		    ot == type ? &on->rrsets[i++] : &no_rrs;
		const struct lv_zrrset *n =
		    nt == type ? &nn->rrsets[j++] : &no_rrs;
		ret = diff_rrset(b, owner, o, n);
	}
	return ret;
}

/* Every name of the old zone against the new zone, then the names with
 * data that only the new zone has. Empty non-terminals hold nothing. */
static int diff_nodes(struct builder *b)
{
	const struct lv_zone *old = b->old, *new = b->new;
	int ret = 0;

	for (size_t i = 0; i < old->node_count && ret == 0; i++) {
		const struct lv_znode *on = &old->nodes[i];
		if (on->rrset_count > 0)
			ret = diff_node(
			    b, on, lv_zone_node(new, on->name, on->name_len));
	}
	for (size_t i = 0; i < new->node_count &&ret == 0; i++) {
		const struct lv_znode *nn = &new->nodes[i];
		if (nn->rrset_count == 0)
			continue;
		const struct lv_znode *on =
		    lv_zone_node(old, nn->name, nn->name_len);
		if (on == NULL || on->rrset_count == 0)
			ret = diff_node(b, NULL, nn);
	}
	return ret;
}

static bool same_soa(const struct lv_zone *old, const struct lv_zone *new)
{
	const struct lv_zrr *o = &old->soa->rrs[0], *n = &new->soa->rrs[0];

	return old->soa->ttl == new->soa->ttl &&
	       o->rdlen == n->rdlen &&memcmp(o->rdata, n->rdata, o->rdlen) == 0;
}

/* --- the diff --- */

static void copy_entries(struct entry *dst, const struct list *l)
{
	if (l->n > 0)
		memcpy(dst, l->e, l->n * sizeof(*dst));
}

/* Copy what b collected into one allocation of the exact size. */
static int assemble(struct builder *b, struct lv_zdiff **out)
{
	struct entry old_soa, new_soa;
	int ret = put_rr(b, b->old->apex, b->old->soa, &b->old->soa->rrs[0],
			 &old_soa);
	if (ret == 0)
		ret = put_rr(b, b->new->apex, b->new->soa, &b->new->soa->rrs[0],
			     &new_soa);
	if (ret != 0)
		return ret;
	size_t n = b->removed.n + b->added.n;
	size_t size =
	    sizeof(struct lv_zdiff) + n * sizeof(struct entry) + b->n_bytes;
	struct lv_zdiff *d = malloc(size);
	if (d == NULL)
		return -ENOMEM;
	*d = (struct lv_zdiff){
	    .from_serial = b->old->serial,
	    .to_serial = b->new->serial,
	    .n_removed = b->removed.n,
	    .n_added = b->added.n,
	    .size = size,
	    .old_soa = old_soa,
	    .new_soa = new_soa,
	    .bytes = (const uint8_t *)(d->entries + n),
	};
	atomic_init(&d->refs, 1);
	copy_entries(d->entries, &b->removed);
	copy_entries(d->entries + b->removed.n, &b->added);
	memcpy(d->entries + n, b->bytes, b->n_bytes);
	*out = d;
	return 0;
}

int lv_zone_diff(const struct lv_zone *old, const struct lv_zone *new,
		 struct lv_zdiff **diff)
{
	struct builder b = {.old = old, .new = new};
	int ret = 0;

	*diff = NULL;
	if (old->origin_len != new->origin_len ||
	    memcmp(old->origin, new->origin, old->origin_len) != 0)
		return -EINVAL;
	ret = diff_nodes(&b);
	if (ret == 0 &&
	    (b.removed.n > 0 || b.added.n > 0 || !same_soa(old, new)))
		ret = assemble(&b, diff);
	free(b.removed.e);
	free(b.added.e);
	free(b.bytes);
	return ret;
}

/* --- reading --- */

static void to_rr(const struct lv_zdiff *d, const struct entry *e,
		  struct lv_zdiff_rr *rr)
{
	*rr = (struct lv_zdiff_rr){
	    .owner = d->bytes + e->owner + 1,
	    .owner_len = d->bytes[e->owner],
	    .type = e->type,
	    .ttl = e->ttl,
	    .rdata = d->bytes + e->rdata,
	    .rdlen = e->rdlen,
	};
}

uint32_t lv_zdiff_from_serial(const struct lv_zdiff *d)
{
	return d->from_serial;
}

uint32_t lv_zdiff_to_serial(const struct lv_zdiff *d)
{
	return d->to_serial;
}

size_t lv_zdiff_removed_count(const struct lv_zdiff *d)
{
	return d->n_removed;
}

size_t lv_zdiff_added_count(const struct lv_zdiff *d)
{
	return d->n_added;
}

void lv_zdiff_removed(const struct lv_zdiff *d, size_t i,
		      struct lv_zdiff_rr *rr)
{
	to_rr(d, &d->entries[i], rr);
}

void lv_zdiff_added(const struct lv_zdiff *d, size_t i, struct lv_zdiff_rr *rr)
{
	to_rr(d, &d->entries[d->n_removed + i], rr);
}

void lv_zdiff_old_soa(const struct lv_zdiff *d, struct lv_zdiff_rr *rr)
{
	to_rr(d, &d->old_soa, rr);
}

void lv_zdiff_new_soa(const struct lv_zdiff *d, struct lv_zdiff_rr *rr)
{
	to_rr(d, &d->new_soa, rr);
}

size_t lv_zdiff_bytes(const struct lv_zdiff *d)
{
	return d->size;
}

/* --- references --- */

struct lv_zdiff *lv_zdiff_get(struct lv_zdiff *d)
{
	/* relaxed: the caller holds a reference, so d is alive and its
	 * contents visible to this thread already; a new reference publishes
	 * nothing (passing it to another thread is the caller's publication) */
	atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
	return d;
}

void lv_zdiff_put(struct lv_zdiff *d)
{
	if (d == NULL)
		return;
	/* acq_rel: release orders this thread's reads of d before its
	 * decrement, and acquire makes the thread that drops the last
	 * reference see every other thread's decrement, so every read of d
	 * anywhere happens before the free below */
	if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1)
		free(d);
}

/* --- serials --- */

bool lv_serial_lt(uint32_t a, uint32_t b)
{
	/* RFC 1982 §3.2: a < b when b is 1 to 2^31 - 1 ahead, modulo 2^32 */
	uint32_t ahead = b - a;

	return ahead != 0 && ahead < UINT32_C(0x80000000);
}
