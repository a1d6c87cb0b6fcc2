/*
 * Configuration snapshots; see include/levee/conf.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "levee/conf.h"
#include "levee/log.h"
#include "levee/tsig.h"

void lv_conf_put(struct lv_conf *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	lv_tsig_keyring_free(c->keys);
	lv_config_free(&c->cfg);
	free(c);
}

/* The keyring of cfg's keys; *out NULL when there are none. */
static int build_keys(const struct lv_config *cfg, struct lv_tsig_keyring **out,
		      char *err, size_t errlen)
{
	char why[256];
	struct lv_tsig_keyring *kr;

	*out = NULL;
	if (cfg->n_keys == 0)
		return 0;
	kr = lv_tsig_keyring_new();
	if (kr == NULL) {
		snprintf(err, errlen, "TSIG keys: out of memory");
		return -1;
	}
	for (unsigned i = 0; i < cfg->n_keys; i++) {
		const struct lv_key_conf *k = &cfg->keys[i];
		if (lv_tsig_keyring_add(kr, k->name, k->algorithm, k->secret,
					why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", k->where, why);
			/* one line: the key's algorithm or name, quoted in
			 * it, may hold a control character (found by
			 * fuzz_config: a tab in a YAML algorithm) */
			for (char *c = err; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					*c = '?';
			lv_tsig_keyring_free(kr);
			return -1;
		}
	}
	*out = kr;
	return 0;
}

struct lv_conf *lv_conf_new(struct lv_config *cfg, char *err, size_t errlen)
{
	struct lv_conf *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		snprintf(err, errlen, "configuration: out of memory");
		return NULL;
	}
	if (build_keys(cfg, &c->keys, err, errlen) != 0) {
		free(c);
		return NULL;
	}
	c->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg)); /* empty: lv_config_free does nothing */
	c->refs = 1;
	return c;
}

/* ---- restart-only settings ------------------------------------------ */

static void *dup_mem(const void *p, size_t n)
{
	void *d;

	if (p == NULL || n == 0)
		return NULL;
	d = malloc(n);
	if (d != NULL)
		memcpy(d, p, n);
	return d;
}

static char *dup_str(const char *s)
{
	return s ? strdup(s) : NULL;
}

static bool same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_addrs(const struct lv_addr *a, unsigned na,
		       const struct lv_addr *b, unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++)
		if (a[i].family != b[i].family ||
		    a[i].prefix_len != b[i].prefix_len ||
		    memcmp(a[i].addr, b[i].addr, 16) != 0)
			return false;
	return true;
}

static bool same_remotes(const struct lv_remote_conf *a, unsigned na,
			 const struct lv_remote_conf *b, unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++)
		if (!same_addrs(&a[i].addr, 1, &b[i].addr, 1) ||
		    a[i].port != b[i].port || !same_str(a[i].key, b[i].key))
			return false;
	return true;
}

static bool same_strv(char *const *a, int na, char *const *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (!same_str(a[i], b[i]))
			return false;
	return true;
}

/* Replace fresh's list with a copy of running's. false: out of memory. */
static bool copy_addrs(struct lv_addr **dst, unsigned *nd,
		       const struct lv_addr *src, unsigned ns)
{
	free(*dst);
	*dst = dup_mem(src, ns * sizeof(*src));
	*nd = *dst ? ns : 0;
	return ns == 0 || *dst != NULL;
}

static bool copy_remotes(struct lv_remote_conf **dst, unsigned *nd,
			 const struct lv_remote_conf *src, unsigned ns)
{
	for (unsigned i = 0; i < *nd; i++)
		free((*dst)[i].key);
	free(*dst);
	*dst = dup_mem(src, ns * sizeof(*src));
	*nd = *dst ? ns : 0;
	for (unsigned i = 0; i < *nd; i++)
		(*dst)[i].key = dup_str(src[i].key);
	return ns == 0 || *dst != NULL;
}

static bool copy_strv(char ***dst, int *nd, char *const *src, int ns)
{
	for (int i = 0; *dst && i < *nd; i++)
		free((*dst)[i]);
	free(*dst);
	*nd = 0;
	*dst = calloc((size_t)ns + 1, sizeof(char *));
	if (*dst == NULL)
		return false;
	for (int i = 0; i < ns; i++)
		(*dst)[i] = strdup(src[i]);
	*nd = ns;
	return true;
}

static void note(char *kept, size_t len, const char *name)
{
	size_t at = strlen(kept);

	snprintf(kept + at, len - at, "%s%s", at ? ", " : "", name);
}

/* The scalar settings fixed at start-up: field, name in the messages. */
#define SCALAR_RESTART_SETTINGS(X)                                             \
	X(workers, "workers")                                                  \
	X(udp_max, "udp-max-payload")                                          \
	X(cache_memory, "cache memory")                                        \
	X(cache_entries, "cache entries")                                      \
	X(miss_ring_size, "miss-ring-size")                                    \
	X(idle_sleep_us, "idle-sleep-us")                                      \
	X(mbufs, "mbufs")                                                      \
	X(max_requests, "max-requests")                                        \
	X(hugepages, "hugepages")                                              \
	X(in_memory, "in-memory")                                              \
	X(tune_kernel, "tune-kernel")

/*
 * Give fresh the running process's value of every setting that needs a
 * restart, naming in kept those fresh wanted to change. false when out
 * of memory.
 */
static bool keep_restart_settings(const struct lv_config *run,
				  struct lv_config *fresh, char *kept,
				  size_t keptlen)
{
	bool ok = true;

	kept[0] = '\0';
#define LV_X(field, name)                                                      \
	if (fresh->field != run->field) {                                      \
		note(kept, keptlen, name);                                     \
		fresh->field = run->field;                                     \
	}
	SCALAR_RESTART_SETTINGS(LV_X)
#undef LV_X
	if (!same_str(fresh->iface, run->iface)) {
		note(kept, keptlen, "interface");
		free(fresh->iface);
		fresh->iface = dup_str(run->iface);
		fresh->iface_kind = run->iface_kind;
	}
	if (!same_addrs(fresh->addrs, fresh->n_addrs, run->addrs,
			run->n_addrs)) {
		note(kept, keptlen, "addresses");
		ok &= copy_addrs(&fresh->addrs, &fresh->n_addrs, run->addrs,
				 run->n_addrs);
	}
	if (!same_addrs(fresh->gateways, fresh->n_gateways, run->gateways,
			run->n_gateways)) {
		note(kept, keptlen, "gateways");
		ok &= copy_addrs(&fresh->gateways, &fresh->n_gateways,
				 run->gateways, run->n_gateways);
	}
	if (!same_remotes(fresh->tcp_listen, fresh->n_tcp_listen,
			  run->tcp_listen, run->n_tcp_listen)) {
		note(kept, keptlen, "tcp-listen");
		ok &= copy_remotes(&fresh->tcp_listen, &fresh->n_tcp_listen,
				   run->tcp_listen, run->n_tcp_listen);
	}
	if (!same_remotes(fresh->listen, fresh->n_listen, run->listen,
			  run->n_listen)) {
		note(kept, keptlen, "listen");
		ok &= copy_remotes(&fresh->listen, &fresh->n_listen,
				   run->listen, run->n_listen);
	}
	if (!same_strv(fresh->eal_argv, fresh->eal_argc, run->eal_argv,
		       run->eal_argc)) {
		note(kept, keptlen, "eal");
		ok &= copy_strv(&fresh->eal_argv, &fresh->eal_argc,
				run->eal_argv, run->eal_argc);
	}
	return ok;
}

struct lv_conf *lv_conf_reread(const struct lv_conf *running, char *kept,
			       size_t keptlen, char *err, size_t errlen)
{
	struct lv_config fresh;
	struct lv_conf *c;

	kept[0] = '\0';
	if (lv_config_reload(&running->cfg, &fresh, err, errlen) != 0) {
		lv_config_free(&fresh);
		return NULL;
	}
	if (!keep_restart_settings(&running->cfg, &fresh, kept, keptlen)) {
		snprintf(err, errlen, "configuration: out of memory");
		lv_config_free(&fresh);
		return NULL;
	}
	c = lv_conf_new(&fresh, err, errlen);
	lv_config_free(&fresh);
	return c;
}
