/*
 * Cache entries: building the immutable answer a cache slot points to.
 *
 * The answer builder (dns/answer.c) and the cache writer (cache/cache.c)
 * share this: an entry is a single heap block holding the lowercased
 * name, the answer's wire sections after the question, and the RR and
 * RRset descriptors (include/levee/cache.h describes the layout). No DPDK
 * here: entries are built on the control plane with malloc, published by
 * the cache writer, and freed by it after a grace period. Any thread may
 * build one; it belongs to its builder until inserted.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "levee/cache.h"
#include "levee/csum.h"
#include "levee/hash.h"
#include "levee/wire.h"

/* malloc's own header per entry (glibc: one size_t, 16-byte rounding),
 * counted in the entry's mem_size against the cache's budget. */
#define ALLOC_OVERHEAD 16

static int spec_ok(const struct lv_cache_entry_spec *s)
{
	if (s == NULL || s->name == NULL || s->name_len == 0)
		return 0;
	if ((s->wire_len && !s->wire) || (s->rr_count && !s->rrs) ||
	    (s->rrset_count && !s->rrsets))
		return 0;
	for (unsigned i = 0; i < s->rr_count; i++)
		if (s->rrs[i].offset >= s->wire_len ||
		    (uint32_t)s->rrs[i].ttl_offset + 4 > s->wire_len)
			return 0;
	for (unsigned i = 0; i < s->rrset_count; i++)
		if ((uint32_t)s->rrsets[i].first_rr + s->rrsets[i].rr_count >
		    s->rr_count)
			return 0;
	return 1;
}

struct lv_cache_entry *lv_cache_entry_new(const struct lv_cache_entry_spec *s,
					  uint64_t hash_seed)
{
	if (!spec_ok(s))
		return NULL;

	/* data[]: name first (a lookup reads it right after the header),
	 * then wire, then the 2-byte-aligned arrays. */
	size_t name_off = 0;
	size_t wire_off = name_off + s->name_len;
	size_t rrs_off = (wire_off + s->wire_len + 1) & ~(size_t)1;
	size_t rrsets_off = rrs_off + sizeof(struct lv_cache_rr) * s->rr_count;
	size_t data_len =
	    rrsets_off + sizeof(struct lv_cache_rrset) * s->rrset_count;
	size_t size = sizeof(struct lv_cache_entry) + data_len;

	struct lv_cache_entry *e = malloc(size);
	if (e == NULL)
		return NULL;
	memset(e, 0, sizeof(*e));

	uint8_t *name = e->data + name_off;
	for (unsigned i = 0; i < s->name_len; i++)
		name[i] = lv_wire_lower(s->name[i]);
	if (s->wire_len)
		memcpy(e->data + wire_off, s->wire, s->wire_len);
	if (s->rr_count)
		memcpy(e->data + rrs_off, s->rrs,
		       sizeof(struct lv_cache_rr) * s->rr_count);
	if (s->rrset_count)
		memcpy(e->data + rrsets_off, s->rrsets,
		       sizeof(struct lv_cache_rrset) * s->rrset_count);

	e->name = name;
	e->wire = e->data + wire_off;
	e->rrs = (const struct lv_cache_rr *)(e->data + rrs_off);
	e->rrsets = (const struct lv_cache_rrset *)(e->data + rrsets_off);
	e->qtype = s->qtype;
	e->qclass = s->qclass;
	e->name_len = s->name_len;
	e->do_bit = s->do_bit ? 1 : 0;
	e->origin = s->origin;
	e->rcode = s->rcode & 0x0f;
	e->flags = s->flags;
	e->ancount = s->ancount;
	e->nscount = s->nscount;
	e->arcount = s->arcount;
	e->wire_len = s->wire_len;
	e->rr_count = s->rr_count;
	e->rrset_count = s->rrset_count;
	e->wire_sum = lv_csum(e->wire, e->wire_len);
	e->zone_id = s->zone_id;
	e->min_ttl = s->min_ttl;
	e->cd = s->cd ? 1 : 0;
	e->stored_at = 0; /* lv_cache_insert() stamps it */
	e->mem_size = size + ALLOC_OVERHEAD;
	e->key_pos = -1;
	e->hash = lv_cache_key_hash(hash_seed, name, e->name_len, e->qtype,
				    e->qclass, lv_key_bits(e->do_bit, e->cd));
	return e;
}

void lv_cache_entry_free(struct lv_cache_entry *e)
{
	free(e);
}
