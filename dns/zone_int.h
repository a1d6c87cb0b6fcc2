/*
 * The in-memory form of a zone, shared by zone.c (which builds it) and
 * answer.c (which reads it). Private to control/: nothing outside the zone
 * and answer modules may depend on this layout.
 *
 * A zone is a flat array of nodes, one per owner name, plus one node per
 * empty non-terminal (a name with no data but with descendants), indexed
 * by an open-addressing hash table on the lowercased wire-form name. All
 * names are stored lowercased and uncompressed. RDATA is stored in wire
 * form without compression, domain names in it lowercased where the type's
 * layout is known (docs/zones.md). Read-only once lv_zone_load() returns.
 */
#ifndef LEVEE_CONTROL_ZONE_INT_H
#define LEVEE_CONTROL_ZONE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "levee/wire.h"
#include "levee/zone.h"

struct lv_zrr {
	const uint8_t *rdata;
	uint16_t rdlen;
};

/* The RRs of an RRset are in canonical RDATA order (bytewise, as sorted
 * at load), which zone_diff.c relies on; nodes are in (name length, bytes)
 * order, not DNSSEC canonical order. */
struct lv_zrrset {
	uint16_t type;
	uint16_t count;
	uint32_t ttl; /* one TTL per RRset: the last one in file order */
	struct lv_zrr *rrs;
};

struct lv_znode {
	const uint8_t *name; /* lowercased wire form */
	uint8_t name_len;
	uint16_t rrset_count;     /* 0: empty non-terminal */
	struct lv_zrrset *rrsets; /* sorted by type */
};

struct lv_zone {
	char *origin_text; /* "example.com." */
	char *file;
	uint8_t origin[LV_DNS_MAX_NAME];
	uint8_t origin_len;
	uint32_t zone_id;
	uint32_t refs; /* lv_zone_ref()/lv_zone_free(), atomically */
	uint32_t serial;
	size_t records;
	struct lv_znode *nodes;
	size_t node_count;
	uint32_t *index; /* node index + 1, 0 = empty slot */
	size_t index_mask;
	const struct lv_znode *apex;
	const struct lv_zrrset *soa;
	void *blob; /* all names, RRsets, RRs and RDATA */
	/* IXFR: the differences that led to this version, oldest first,
	 * the last one ending at this serial (a reference to each) */
	struct lv_zdiff **history;
	unsigned n_history;
};

/* Building the index (zone.c, while loading; zone_lookup.c). 0 or
 * -ENOMEM. cap is the capacity of z->nodes, which grows as needed. */
int lv_zone_index_grow(struct lv_zone *z);
int lv_zone_add_node(struct lv_zone *z, size_t *cap, const uint8_t *name,
		     unsigned len);
int lv_zone_add_empty_nonterminals(struct lv_zone *z, size_t *cap);

/* The node for lname, an exact match (including empty non-terminals). */
const struct lv_znode *lv_zone_node(const struct lv_zone *z,
				    const uint8_t *lname, unsigned name_len);
/* The RRset of this type at node, or NULL. */
const struct lv_zrrset *lv_znode_rrset(const struct lv_znode *n, uint16_t type);
/* True when lname is at or below origin (both lowercased wire form). */
bool lv_name_in_zone(const uint8_t *lname, unsigned name_len,
		     const uint8_t *origin, unsigned origin_len);
/* Wire length of the uncompressed name at p (max bytes readable), 0 if bad. */
unsigned lv_name_len(const uint8_t *p, unsigned max);

/* Where the domain names sit in a type's RDATA: `names` consecutive names
 * after `skip` fixed bytes. `compressible`: an RFC 1035 type, whose names a
 * server may compress (RFC 3597 §4); the others (RP, AFSDB, RT, KX, SRV)
 * are written whole. Types with no embedded name the server needs to
 * lowercase or compress: names 0. */
struct lv_rdata_names {
	uint8_t skip;
	uint8_t names;
	bool compressible;
};

static inline struct lv_rdata_names lv_rdata_names(uint16_t type)
{
	switch (type) {
	case LV_TYPE_NS:
	case 3: /* MD */
	case 4: /* MF */
	case LV_TYPE_CNAME:
	case 7: /* MB */
	case 8: /* MG */
	case 9: /* MR */
	case LV_TYPE_PTR:
		return (struct lv_rdata_names){0, 1, true};
	case LV_TYPE_SOA:
	case 14: /* MINFO */
		return (struct lv_rdata_names){0, 2, true};
	case LV_TYPE_MX:
		return (struct lv_rdata_names){2, 1, true};
	case 17: /* RP */
		return (struct lv_rdata_names){0, 2, false};
	case 18: /* AFSDB */
	case 21: /* RT */
	case 36: /* KX */
		return (struct lv_rdata_names){2, 1, false};
	case LV_TYPE_SRV:
		return (struct lv_rdata_names){6, 1, false};
	default:
		return (struct lv_rdata_names){0, 0, false};
	}
}

#endif
