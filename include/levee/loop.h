/*
 * Forwarding loops: the wire side of their detection (docs/forwarding.md
 * "Forwarding loops").
 *
 * Two forwarders that each forward to the other pass one client query
 * back and forth until something gives. levee finds such loops with
 *  - a marker, an EDNS option in every query it forwards: the hops the
 *    query took so far, each the forwarding instance's random id and the
 *    upstream that hop sent it to. A query that arrives carrying our own
 *    id has come back: the upstream in our hop leads into a loop;
 *  - a probe name unique to this process, "lv-loop-<id>-<up>-<nonce>"
 *    under a rule's suffix, sent to each upstream now and then: when it
 *    arrives here as a query, upstream <up> forwards it back to us (this
 *    finds forwarders that strip unknown options);
 *  - the loop signal: the SERVFAIL levee answers a looped query with
 *    echoes the query's marker, so the instance that sent it learns, from
 *    its own hop in it, which of its upstreams loops.
 *
 * This module is the format only: finding the marker in a message,
 * writing it, the instance id, the probe name. Pure functions over caller
 * buffers, no allocation. Control plane only (never on a worker: the
 * dataplane's parser takes the option as any other and ignores it).
 */
#ifndef LEVEE_LOOP_H
#define LEVEE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/* The marker's EDNS option code, from the range RFC 6891 §9 leaves for
 * local and experimental use (65001-65534): not registered with IANA, so
 * another experiment could use the same code; the data is long enough
 * (whole 10-byte hops, ids that must match ours) that a stray option is
 * not taken for a loop. Resolvers ignore options they do not know (RFC
 * 6891 §6.1.2). */
#define LV_EDNS_LOOP_MARK 65389
/* A hop: the instance id (8 bytes, network
 * order) and the upstream it was sent to, that instance's number for it
 * (2 bytes). */
#define LV_LOOP_HOP_LEN 10
/* Hops a marker holds at most: a query that arrives with this many is
 * not forwarded (unless one is ours: then it looped), so ours makes at
 * most this many in what we send; a longer chain of forwarders is a loop
 * through instances that do not all mark, or worse. */
#define LV_LOOP_HOPS_MAX 8
#define LV_LOOP_MARK_MAX (LV_LOOP_HOPS_MAX * LV_LOOP_HOP_LEN)
/* The option as written: code, length, hops. */
#define LV_LOOP_OPTION_MAX (4 + LV_LOOP_MARK_MAX)

/* The marker of one message: n hops in hop[] (n 0: none). */
struct lv_loop_mark {
	uint8_t n;
	uint8_t hop[LV_LOOP_MARK_MAX];
};

enum lv_loop_scan {
	LV_LOOP_NONE = 0, /* no OPT, no marker, or one that does not parse */
	LV_LOOP_FOUND,    /* mark holds its hops */
	LV_LOOP_TOO_DEEP  /* more than LV_LOOP_HOPS_MAX hops: mark empty */
};

/* This process's instance id: 64 random bits (arc4random), drawn on the
 * first call; never 0. */
uint64_t lv_loop_instance(void);

/*
 * Find the marker in the OPT record of the DNS message msg[0..len) (a
 * query or a response: every section is walked, each offset checked
 * against len) and copy its hops into *mark. A marker whose length is
 * not a whole number of hops, or is 0, is ignored (LV_LOOP_NONE).
 */
enum lv_loop_scan lv_loop_mark_scan(const uint8_t *msg, uint16_t len,
				    struct lv_loop_mark *mark);

/* The first hop of mark with our instance id, or -1. *upstream: the
 * upstream number it names. */
int lv_loop_mark_ours(const struct lv_loop_mark *mark, uint16_t *upstream);

/* Write the option (code, length, the hops of prev, then ours with
 * upstream number 0) at out, which has LV_LOOP_OPTION_MAX bytes; prev may
 * be NULL and must hold fewer than LV_LOOP_HOPS_MAX hops. Returns the
 * bytes written; *ours: the offset in out of our hop's upstream number,
 * for lv_loop_mark_target. */
uint16_t lv_loop_option_put(uint8_t *out, const struct lv_loop_mark *prev,
			    uint16_t *ours);

/* Write the option echoing mark as it is (the loop signal). Returns the
 * bytes written (0: mark is empty). */
uint16_t lv_loop_option_echo(uint8_t *out, const struct lv_loop_mark *mark);

/* Our hop in a written option names upstream number up. */
void lv_loop_mark_target(uint8_t *opt, uint16_t ours, uint16_t up);

/*
 * The probe name for upstream number up under the rule name suffix (both
 * lowercased wire form; for the root, or a suffix too long to hold our
 * 47-byte label, "invalid." is used: see docs/forwarding.md), with a
 * fresh 64-bit nonce, into out (256 bytes). Returns its length.
 */
unsigned lv_loop_probe_name(uint8_t *out, const uint8_t *suffix,
			    unsigned suffix_len, uint16_t up);

/* Is lname (lowercased wire form) shaped as one of our probe names (our
 * id in it)? *up: the upstream number it carries. Another instance's
 * probe name is not. Whether it is the one we sent (its nonce) is the
 * caller's to check. */
bool lv_loop_probe_match(const uint8_t *lname, unsigned len, uint16_t *up);

#endif
