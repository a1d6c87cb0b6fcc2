/*
 * Authoritative zones and the zone set.
 *
 * Control plane only (never the dataplane). A zone is loaded from a master
 * file with ldns into a new, self-contained object: lv_zone_load() touches
 * no shared state except an atomic counter for zone ids, so the reload
 * thread may build a new zone set while the event loop answers from the
 * old one. Once built, a zone and a zone set are read-only and may be read
 * from any number of threads; they are freed by whoever owns them, after
 * every reader has moved on (read-copy-update, docs/zones.md).
 *
 * Every loaded zone instance has a unique nonzero zone_id; cache entries
 * built from it carry that id so that a reload can purge them with
 * lv_cache_delete_zone(). No ldns type appears in this header.
 */
#ifndef LEVEE_ZONE_H
#define LEVEE_ZONE_H

#include <stddef.h>
#include <stdint.h>

struct lv_zone;
struct lv_zoneset;
struct lv_zone_conf;

/*
 * Load the zone `origin` (text, trailing dot optional) from `file`.
 * Refuses the zone on the first syntax or semantic error, writing one line
 * "file:line: what is wrong" into err (see docs/zones.md for the checks).
 * On success *zone is a new zone owned by the caller (lv_zone_free()).
 * Returns 0, -EINVAL for a bad zone, -ENOENT/-EACCES/... when the file
 * cannot be opened, -ENOMEM. Thread: control plane, any thread.
 */
int lv_zone_load(const char *origin, const char *file, struct lv_zone **zone,
		 char *err, size_t errlen);

/* Drop a reference: the zone is freed with the last one. A loaded zone
 * has one; a zone set frees (drops) its own zones' references. */
void lv_zone_free(struct lv_zone *zone);

/* Take another reference, so that the zone outlives its zone set (an
 * outgoing transfer keeps the version it started with across reloads).
 * Any control-plane thread; release with lv_zone_free(). */
struct lv_zone *lv_zone_ref(const struct lv_zone *zone);

/* Accessors; the zone must stay alive while their results are used. */
uint32_t lv_zone_id(const struct lv_zone *zone);        /* unique, nonzero */
uint32_t lv_zone_serial(const struct lv_zone *zone);    /* SOA serial */
size_t lv_zone_records(const struct lv_zone *zone);     /* RRs after merging */
const char *lv_zone_origin(const struct lv_zone *zone); /* "example.com." */
const char *lv_zone_file(const struct lv_zone *zone);

/* An empty zone set. NULL on ENOMEM. Thread: control plane. */
struct lv_zoneset *lv_zoneset_new(void);

/*
 * Add zone to zs; zs takes ownership on success. -EEXIST when a zone with
 * the same origin is already in zs (the zone is then still the caller's).
 */
int lv_zoneset_add(struct lv_zoneset *zs, struct lv_zone *zone);

/*
 * Build a zone set from configured zones: load each one, add it. On any
 * error nothing is returned (everything loaded so far is freed) and err
 * holds the one-line reason. For the start-up and the reload thread.
 */
int lv_zoneset_load(const struct lv_zone_conf *confs, unsigned n,
		    struct lv_zoneset **zs, char *err, size_t errlen);

/*
 * The closest enclosing zone of lname (lowercased wire-form name of
 * name_len bytes), or NULL when no zone in zs is at or above it.
 * Read-only: any thread holding a reference to zs.
 */
const struct lv_zone *lv_zoneset_find(const struct lv_zoneset *zs,
				      const uint8_t *lname, unsigned name_len);

/*
 * Give fresh (not yet published) the IXFR history of the version it
 * replaces: old's differences plus d (old → fresh; the reference is
 * taken over), the oldest dropped beyond keep. keep 0: no history (d is
 * released). 0 or -ENOMEM (fresh then has none). Reload thread.
 */
struct lv_zdiff;
int lv_zone_set_history(struct lv_zone *fresh, const struct lv_zone *old,
			struct lv_zdiff *d, unsigned keep);
unsigned lv_zone_history_count(const struct lv_zone *zone);
const struct lv_zdiff *lv_zone_history(const struct lv_zone *zone, unsigned i);

/* Number of zones and the i-th one (e.g. to purge their zone ids). */
unsigned lv_zoneset_count(const struct lv_zoneset *zs);
const struct lv_zone *lv_zoneset_zone(const struct lv_zoneset *zs, unsigned i);

/* Remove the i-th zone from zs and hand it to the caller (a reload moves
 * unchanged zones into the new set this way). NULL if i is out of range. */
struct lv_zone *lv_zoneset_take(struct lv_zoneset *zs, unsigned i);

/* Free zs and every zone in it. NULL is fine. */
void lv_zoneset_free(struct lv_zoneset *zs);

#endif
