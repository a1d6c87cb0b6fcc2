/*
 * Forwarding rules in the configuration: the command line's
 * `--forward SUFFIX=ADDR[@PORT][,ADDR[@PORT]...]` and the file's
 * `forward:` list (whose YAML walk is in config.c, beside the other
 * sections) both end here. Control plane, configuration parsing only.
 */
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "levee/config.h"
#include "levee/log.h"

/* The name as an ldns dname, for comparing rules: NULL when invalid. */
static ldns_rdf *rule_name(const char *s)
{
	ldns_rdf *rdf = NULL;

	if (*s == '\0' || ldns_str2rdf_dname(&rdf, s) != LDNS_STATUS_OK)
		return NULL;
	ldns_dname2canonical(rdf);
	return rdf;
}

struct lv_forward_conf *lv_config_forward_add(struct lv_config *cfg,
					      const char *name,
					      const char *where, int *rc)
{
	ldns_rdf *rdf = rule_name(name);
	struct lv_forward_conf *f;

	*rc = -1;
	if (rdf == NULL)
		return NULL;
	ldns_rdf_deep_free(rdf);
	*rc = -2;
	f = realloc(cfg->forwards, (cfg->n_forwards + 1) * sizeof(*f));
	if (f == NULL)
		return NULL;
	cfg->forwards = f;
	f = &cfg->forwards[cfg->n_forwards];
	memset(f, 0, sizeof(*f));
	f->selection = -1;
	f->name = strdup(name);
	f->where = strdup(where);
	cfg->n_forwards++; /* freed with cfg even when a strdup failed */
	if (f->name == NULL || f->where == NULL)
		return NULL;
	*rc = 0;
	return f;
}

int lv_config_forward_upstream(struct lv_forward_conf *f, const char *s,
			       unsigned weight)
{
	struct lv_upstream_conf u;
	struct lv_upstream_conf *l;

	if (weight < 1 || weight > LV_CONFIG_WEIGHT_MAX ||
	    f->n_upstreams >= LV_CONFIG_UPSTREAMS_MAX ||
	    lv_config_parse_host_port(s, strlen(s), &u.addr, &u.port) < 0)
		return -1;
	u.weight = (uint16_t)weight;
	l = realloc(f->upstreams, (f->n_upstreams + 1) * sizeof(*l));
	if (l == NULL)
		return -2;
	f->upstreams = l;
	f->upstreams[f->n_upstreams++] = u;
	return 0;
}

int lv_config_forward_option(struct lv_config *cfg, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char name[LDNS_MAX_DOMAINLEN * 4 + 1];
	char where[64 + 4096];
	struct lv_forward_conf *f;
	size_t n = eq ? (size_t)(eq - arg) : 0;
	int rc;

	if (eq == NULL || n == 0 || n >= sizeof(name) || eq[1] == '\0')
		return -1;
	memcpy(name, arg, n);
	name[n] = '\0';
	snprintf(where, sizeof(where), "--forward %s", arg);
	if ((f = lv_config_forward_add(cfg, name, where, &rc)) == NULL)
		return rc;
	for (const char *p = eq + 1; *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char one[128];

		if (len == 0 || len >= sizeof(one))
			return -1;
		memcpy(one, p, len);
		one[len] = '\0';
		if ((rc = lv_config_forward_upstream(f, one, 1)) < 0)
			return rc;
		p += len + (comma ? 1 : 0);
		if (comma && *p == '\0')
			return -1; /* a trailing comma */
	}
	return 0;
}

int lv_config_forward_check(const struct lv_config *cfg, char *err,
			    size_t errlen)
{
	for (unsigned i = 0; i < cfg->n_forwards; i++) {
		const struct lv_forward_conf *f = &cfg->forwards[i];

		if (f->n_upstreams == 0) {
			snprintf(err, errlen,
				 "%s: forwarding rule for %s has no upstreams",
				 f->where, f->name);
			return -1;
		}
		for (unsigned j = 0; j < i; j++) {
			if (!lv_config_same_name(f->name,
						 cfg->forwards[j].name))
				continue;
			snprintf(err, errlen,
				 "%s: a forwarding rule for %s is already "
				 "given at %s",
				 f->where, f->name, cfg->forwards[j].where);
			return -1;
		}
	}
	return 0;
}

int lv_config_probe_query(const char *v, struct lv_forward_limits *fwd)
{
	const char *sp = strchr(v, ' ');
	char name[LDNS_MAX_DOMAINLEN * 4 + 1];
	ldns_rdf *rdf;
	ldns_rr_type type;

	if (sp == NULL || sp == v || (size_t)(sp - v) >= sizeof(name))
		return -1;
	memcpy(name, v, (size_t)(sp - v));
	name[sp - v] = '\0';
	while (*sp == ' ')
		sp++;
	type = ldns_get_rr_type_by_name(sp);
	if (*sp == '\0' || type == 0 || (rdf = rule_name(name)) == NULL)
		return -1;
	fwd->probe_qname_len = (uint8_t)ldns_rdf_size(rdf);
	memcpy(fwd->probe_qname, ldns_rdf_data(rdf), fwd->probe_qname_len);
	fwd->probe_qtype = (uint16_t)type;
	ldns_rdf_deep_free(rdf);
	return 0;
}

void lv_config_forward_free(struct lv_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_forwards; i++) {
		free(cfg->forwards[i].name);
		free(cfg->forwards[i].where);
		free(cfg->forwards[i].upstreams);
	}
	free(cfg->forwards);
	cfg->forwards = NULL;
	cfg->n_forwards = 0;
}
