/*
 * Lookups in the in-memory zones: names in a zone (the node index, built
 * by zone.c while loading, empty non-terminals included) and zones in a
 * zone set (closest enclosing zone).
 *
 * Control plane. Building (lv_zone_add_node and friends, lv_zoneset_add,
 * lv_zoneset_take) happens on one thread before a zone or set is
 * published; lookups read only and may run on any thread holding a
 * reference (the event loop on a miss, the reload thread).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "levee/config.h"
#include "levee/hash.h"
#include "zone_int.h"

static int name_cmp(const uint8_t *a, unsigned al, const uint8_t *b,
		    unsigned bl)
{
	if (al != bl)
		return al < bl ? -1 : 1;
	return memcmp(a, b, al);
}

/* --- names --- */

unsigned lv_name_len(const uint8_t *p, unsigned max)
{
	unsigned i = 0;

	while (i < max && i < LV_DNS_MAX_NAME) {
		uint8_t l = p[i];
		if (l == 0)
			return i + 1;
		if (l > LV_DNS_MAX_LABEL)
			return 0;
		i += 1u + l;
	}
	return 0;
}

bool lv_name_in_zone(const uint8_t *lname, unsigned name_len,
		     const uint8_t *origin, unsigned origin_len)
{
	unsigned i = 0;

	/* walk label starts until the remaining suffix is origin_len long */
	while (i < name_len && name_len - i > origin_len)
		i += 1u + lname[i];
	return i < name_len && name_len - i == origin_len &&
	       memcmp(lname + i, origin, origin_len) == 0;
}

/* --- the index --- */

static uint64_t name_hash(const uint8_t *name, unsigned len)
{
	return lv_cache_key_hash(0x6c65766565ull, name, len, 0, 0, 0);
}

int lv_zone_index_grow(struct lv_zone *z)
{
	size_t size = z->index ? (z->index_mask + 1) * 2 : 1024;
	uint32_t *idx = calloc(size, sizeof(*idx));

	if (idx == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < z->node_count; i++) {
		const struct lv_znode *n = &z->nodes[i];
		size_t s = name_hash(n->name, n->name_len) & (size - 1);
		while (idx[s] != 0)
			s = (s + 1) & (size - 1);
		idx[s] = (uint32_t)i + 1;
	}
	free(z->index);
	z->index = idx;
	z->index_mask = size - 1;
	return 0;
}

const struct lv_znode *lv_zone_node(const struct lv_zone *z,
				    const uint8_t *lname, unsigned name_len)
{
	size_t s = name_hash(lname, name_len) & z->index_mask;

	for (; z->index[s] != 0; s = (s + 1) & z->index_mask) {
		const struct lv_znode *n = &z->nodes[z->index[s] - 1];
		if (name_cmp(n->name, n->name_len, lname, name_len) == 0)
			return n;
	}
	return NULL;
}

const struct lv_zrrset *lv_znode_rrset(const struct lv_znode *n, uint16_t type)
{
	for (unsigned i = 0; i < n->rrset_count; i++)
		if (n->rrsets[i].type == type)
			return &n->rrsets[i];
	return NULL;
}

/* Append a node and index it; the index keeps a load factor <= 1/2. */
int lv_zone_add_node(struct lv_zone *z, size_t *cap, const uint8_t *name,
		     unsigned len)
{
	if (z->node_count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct lv_znode *n = realloc(z->nodes, ncap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		z->nodes = n;
		*cap = ncap;
	}
	z->nodes[z->node_count++] =
	    (struct lv_znode){.name = name, .name_len = (uint8_t)len};
	if (2 * z->node_count > z->index_mask + 1)
		return lv_zone_index_grow(z); /* indexes the new node too */
	size_t s = name_hash(name, len) & z->index_mask;
	while (z->index[s] != 0)
		s = (s + 1) & z->index_mask;
	z->index[s] = (uint32_t)z->node_count;
	return 0;
}

/* Empty non-terminals: every missing name between a node and the apex. */
int lv_zone_add_empty_nonterminals(struct lv_zone *z, size_t *cap)
{
	size_t real = z->node_count;

	for (size_t i = 0; i < real; i++) {
		const uint8_t *name = z->nodes[i].name;
		unsigned len = z->nodes[i].name_len;
		while (len > z->origin_len) {
			len -= 1u + name[0];
			name += 1u + name[0];
			if (lv_zone_node(z, name, len) != NULL)
				break; /* its ancestors are known already */
			int ret = lv_zone_add_node(z, cap, name, len);
			if (ret != 0)
				return ret;
		}
	}
	return 0;
}

/* --- the zone set --- */

struct lv_zoneset {
	struct lv_zone **zones;
	unsigned count, cap;
};

struct lv_zoneset *lv_zoneset_new(void)
{
	return calloc(1, sizeof(struct lv_zoneset));
}

int lv_zoneset_add(struct lv_zoneset *zs, struct lv_zone *zone)
{
	for (unsigned i = 0; i < zs->count; i++)
		if (name_cmp(zs->zones[i]->origin, zs->zones[i]->origin_len,
			     zone->origin, zone->origin_len) == 0)
			return -EEXIST;
	if (zs->count == zs->cap) {
		unsigned cap = zs->cap ? zs->cap * 2 : 8;
		struct lv_zone **z = realloc(zs->zones, cap * sizeof(*z));
		if (z == NULL)
			return -ENOMEM;
		zs->zones = z;
		zs->cap = cap;
	}
	zs->zones[zs->count++] = zone;
	return 0;
}

int lv_zoneset_load(const struct lv_zone_conf *confs, unsigned n,
		    struct lv_zoneset **out, char *err, size_t errlen)
{
	struct lv_zoneset *zs = lv_zoneset_new();
	int ret = zs ? 0 : -ENOMEM;

	*out = NULL;
	for (unsigned i = 0; i < n && ret == 0; i++) {
		struct lv_zone *z;
		ret = lv_zone_load(confs[i].origin, confs[i].file, &z, err,
				   errlen);
		if (ret != 0)
			break;
		ret = lv_zoneset_add(zs, z);
		if (ret == -EEXIST)
			snprintf(err, errlen, "%s: zone %s is configured twice",
				 confs[i].file, z->origin_text);
		if (ret != 0)
			lv_zone_free(z);
	}
	if (ret == -ENOMEM && zs == NULL)
		snprintf(err, errlen, "zones: out of memory");
	if (ret != 0) {
		lv_zoneset_free(zs);
		return ret;
	}
	*out = zs;
	return 0;
}

const struct lv_zone *lv_zoneset_find(const struct lv_zoneset *zs,
				      const uint8_t *lname, unsigned name_len)
{
	const struct lv_zone *best = NULL;

	/* few zones: a scan for the longest origin that encloses lname */
	for (unsigned i = 0; i < zs->count; i++) {
		const struct lv_zone *z = zs->zones[i];
		if ((best == NULL || z->origin_len > best->origin_len) &&
		    lv_name_in_zone(lname, name_len, z->origin, z->origin_len))
			best = z;
	}
	return best;
}

unsigned lv_zoneset_count(const struct lv_zoneset *zs)
{
	return zs->count;
}

const struct lv_zone *lv_zoneset_zone(const struct lv_zoneset *zs, unsigned i)
{
	return i < zs->count ? zs->zones[i] : NULL;
}

struct lv_zone *lv_zoneset_take(struct lv_zoneset *zs, unsigned i)
{
	struct lv_zone *z;

	if (i >= zs->count)
		return NULL;
	z = zs->zones[i];
	memmove(&zs->zones[i], &zs->zones[i + 1],
		(zs->count - i - 1) * sizeof(*zs->zones));
	zs->count--;
	return z;
}

void lv_zoneset_free(struct lv_zoneset *zs)
{
	if (zs == NULL)
		return;
	for (unsigned i = 0; i < zs->count; i++)
		lv_zone_free(zs->zones[i]);
	free(zs->zones);
	free(zs);
}
