/*
 * The configuration as an immutable, reference-counted snapshot.
 *
 * A snapshot holds one whole parsed configuration (struct lv_config) and
 * what is derived from it (the TSIG keyring). It is never changed once
 * built. ctl->conf is the one current at any moment; SIGHUP builds a new
 * one in the reload thread (lv_conf_reread: the file and the command line
 * read again, validated whole, restart-only settings carried over from
 * the running one) and the event loop swaps the pointer. Subsystems take
 * what they need from the snapshot current when they need it (ACLs,
 * NOTIFY targets, TSIG keys, zones, TCP limits); whatever outlives one
 * event-loop callback and points into a snapshot (a zone transfer signing
 * with a key) holds a reference, so the old snapshot is freed only when
 * the last such user lets go.
 *
 * Threads: lv_conf_new and lv_conf_reread may run on any thread (the
 * reload thread builds the next snapshot while the loop serves from the
 * current one, which it only reads); references are taken and dropped on
 * the event loop's thread only, so the count needs no atomics.
 */
#ifndef LEVEE_CONF_H
#define LEVEE_CONF_H

#include <stddef.h>

#include "levee/config.h"

struct lv_tsig_keyring;

struct lv_conf {
	struct lv_config cfg;
	struct lv_tsig_keyring *keys; /* NULL: no keys configured */
	unsigned refs;
};

/*
 * A snapshot of *cfg, which is moved in (left initialised and empty for
 * the caller's lv_config_free). NULL with a one-line message in err when
 * a TSIG key is bad (naming where it was configured) or memory runs out;
 * *cfg is then still the caller's. One reference, the caller's.
 */
struct lv_conf *lv_conf_new(struct lv_config *cfg, char *err, size_t errlen);

/*
 * For SIGHUP: read running's configuration file and command line again
 * into a new snapshot. Settings that cannot change without a restart
 * (interface, workers, addresses, gateways, UDP payload size, memory and
 * ring sizes, EAL arguments, extra TCP listeners, ...) keep running's
 * values; their names, when the file changed them, are written to
 * `kept` ("" when none). NULL with a one-line message in err when the
 * file cannot be read or is invalid: nothing changes then.
 */
struct lv_conf *lv_conf_reread(const struct lv_conf *running, char *kept,
			       size_t keptlen, char *err, size_t errlen);

/* Take and drop a reference (event loop only). The last put frees. */
static inline struct lv_conf *lv_conf_get(struct lv_conf *c)
{
	c->refs++;
	return c;
}
void lv_conf_put(struct lv_conf *c);

#endif
