/*
 * The difference between two versions of one zone: the RRs removed and the
 * RRs added, with the old and the new SOA. It is what an IXFR answer
 * (RFC 1995) sends for one step of a zone's history, and what a reload
 * checks before it accepts new content: content that changed needs a
 * larger serial (lv_serial_lt).
 *
 * Threads: lv_zone_diff() runs wherever both zones are alive and read-only
 * (the reload thread). The diff it returns is immutable and self-contained:
 * it copies every owner name and RDATA into its own single allocation and
 * points into neither zone, so the zones may be freed while it lives on in
 * the history of later versions. Any thread may read a diff it holds a
 * reference to, and take or drop references (lv_zdiff_get/lv_zdiff_put,
 * atomic); the thread that drops the last one frees it. Handing a diff to
 * another thread must itself publish it (a ring, a mutex, a release store),
 * as for any object. No ldns type appears here.
 */
#ifndef LEVEE_ZONE_DIFF_H
#define LEVEE_ZONE_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lv_zone;
struct lv_zdiff;

/*
 * One RR of a diff, class IN. owner: lowercased, uncompressed wire form;
 * rdata: wire form as the zone holds it (the names whose position the type
 * fixes lowercased, docs/zones.md). Both point into the diff: valid while
 * the caller holds a reference to it.
 */
struct lv_zdiff_rr {
	const uint8_t *owner;
	uint8_t owner_len;
	uint16_t type;
	uint32_t ttl;
	const uint8_t *rdata;
	uint16_t rdlen;
};

/*
 * Compare two versions of the same zone. *diff is NULL when the zones are
 * identical: every RRset, TTLs included, the SOA included. Otherwise *diff
 * is a new diff (one reference, the caller's) holding
 *   - removed: the RRs in old and not in new,
 *   - added: the RRs in new and not in old,
 * both without the apex SOA, and the old and the new SOA RR with their
 * serials. RR identity is (owner, type, RDATA); an RRset whose TTL changed
 * is removed whole (old TTL) and added whole (new TTL). Empty non-terminals
 * hold no RRs and never appear. RRs come grouped by owner and type.
 *
 * A change of the SOA alone (a serial bump, a new refresh time) gives a
 * diff with no removed and no added RRs rather than NULL: IXFR needs that
 * step of the history, and a reload can refuse every change whose serial
 * did not grow with one test:
 *     diff != NULL && !lv_serial_lt(from_serial, to_serial).
 *
 * Cost: one pass over each zone's nodes with a hash lookup in the other,
 * O(records); no sorting. Returns 0, -EINVAL when the zones have different
 * origins, -ENOMEM, or -EOVERFLOW when the changed names and RDATA exceed
 * 4 GiB. Thread: any, while both zones stay alive (the reload thread).
 */
int lv_zone_diff(const struct lv_zone *old, const struct lv_zone *new,
		 struct lv_zdiff **diff);

/* The old zone's serial and the new zone's. */
uint32_t lv_zdiff_from_serial(const struct lv_zdiff *d);
uint32_t lv_zdiff_to_serial(const struct lv_zdiff *d);

/* Number of RRs removed and added (the apex SOA not counted). */
size_t lv_zdiff_removed_count(const struct lv_zdiff *d);
size_t lv_zdiff_added_count(const struct lv_zdiff *d);

/* The i-th removed or added RR into *rr; i must be below the count. */
void lv_zdiff_removed(const struct lv_zdiff *d, size_t i,
		      struct lv_zdiff_rr *rr);
void lv_zdiff_added(const struct lv_zdiff *d, size_t i, struct lv_zdiff_rr *rr);

/* The old and the new apex SOA RR. */
void lv_zdiff_old_soa(const struct lv_zdiff *d, struct lv_zdiff_rr *rr);
void lv_zdiff_new_soa(const struct lv_zdiff *d, struct lv_zdiff_rr *rr);

/* Bytes the diff holds (its one allocation), for stats and docs. */
size_t lv_zdiff_bytes(const struct lv_zdiff *d);

/* Take one more reference to d (which the caller holds); returns d. */
struct lv_zdiff *lv_zdiff_get(struct lv_zdiff *d);

/* Drop one reference; the last one frees d. NULL is fine. */
void lv_zdiff_put(struct lv_zdiff *d);

/*
 * RFC 1982 serial number arithmetic: true when a is before b. Serials
 * exactly 2^31 apart are not ordered (RFC 1982 §3.2 leaves it undefined):
 * false both ways, as for equal serials. Pure; any thread.
 */
bool lv_serial_lt(uint32_t a, uint32_t b);

#endif
