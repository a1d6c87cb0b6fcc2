/*
 * The forwarder: rules, fetches (one per cache key in flight, with its
 * waiting requests), tries across upstreams, the TCP refetch of truncated
 * answers, and caching what comes back. See include/levee/forward.h.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <ldns/ldns.h>

#include "levee/control.h"
#include "levee/forward.h"
#include "levee/log.h"
#include "levee/upstream.h"
#include "levee/upstream_entry.h"

/* Our query: header, the name, type and class, our OPT with the loop
 * marker. */
#define QUERY_MAX                                                              \
	(LV_DNS_HDR_LEN + LV_DNS_MAX_NAME + 4 + LV_DNS_OPT_RR_LEN +            \
	 LV_LOOP_OPTION_MAX)
/* A lookup on an upstream found looping moves on this long after: the
 * loop signal's answer, a millisecond away on the usual path, ends it
 * first; one through a forwarder that strips the marker is not left
 * waiting for its attempt timeout. */
#define LOOP_KICK_MS 100
/* The UDP payload size we announce upstream: what we can receive, but no
 * more than what travels unfragmented (the DNS flag day 2020 figure). */
#define UPSTREAM_EDNS_SIZE 1232

/* Counters of one rule name, kept across reloads (rules are rebuilt from
 * each snapshot; these are found again by name): why clients got
 * SERVFAIL under it, counted per client answered. */
struct rule_stats {
	struct rule_stats *next;
	uint8_t lname[LV_DNS_MAX_NAME + 1];
	uint8_t len;
	char name[LV_DNS_MAX_NAME * 4 + 2]; /* as printed */
	uint64_t servfail_timeout;          /* every try went unanswered */
	uint64_t servfail_down;     /* every upstream of the rule was down */
	uint64_t servfail_upstream; /* the upstream's own SERVFAIL */
	uint64_t servfail_local;    /* no query could leave, or no memory */
	uint64_t servfail_overload; /* the name had max-waiters waiting */
	uint64_t stale_answers;     /* answered stale instead (RFC 8767) */
	uint64_t servfail_looping;  /* its upstreams loop (and are down) */
};

enum servfail_cause { SF_TIMEOUT, SF_DOWN, SF_LOCAL, SF_LOOP };

struct fwd_rule {
	uint8_t lname[LV_DNS_MAX_NAME + 1]; /* lowercased wire form */
	struct rule_stats *st;
	uint8_t len;
	unsigned n;
	uint32_t total_weight;
	struct lv_upstream *ups[LV_CONFIG_UPSTREAMS_MAX];
	uint16_t weight[LV_CONFIG_UPSTREAMS_MAX];
	unsigned next_rr; /* round-robin: where the next fetch starts */
	int selection;    /* the rule's own, or -1: the global one */
};

/* The rules of one snapshot; fetches that started with them hold them. */
struct fwd_rules {
	unsigned refs;
	struct lv_conf *conf; /* referenced: tells when to rebuild */
	unsigned n;
	struct fwd_rule rule[];
};

struct fetch {
	struct lv_forward *f;
	struct fetch *hnext;
	struct lv_query key; /* the first waiter's query: the cache key */
	struct fwd_rules *rules;
	struct fwd_rule *rule; /* its round-robin place moves */
	int cur;               /* upstream index tried now; -1: none is up */
	unsigned tries;        /* sends so far */
	bool sent;             /* a try left: an upstream was asked */
	bool tcp;              /* this try is over TCP (a TC=1 refetch) */
	/* a refresh (prefetch): started with nobody waiting, while the
	 * cache still answers; its failure never replaces that answer */
	bool prefetch;
	/* the client-response timer fired and served the waiters stale;
	 * the fetch goes on, to renew the answer */
	bool stale_served;
	struct lv_upstream *last_up;    /* of the latest try sent */
	struct lv_ev_timer stale_timer; /* RFC 8767's client-response timer */
	uint16_t loop_at; /* in msg: our marker hop's upstream; 0: none */
	uint64_t deadline_ns;
	struct lv_upstream_query uq;
	struct lv_request *waiters;
	unsigned n_waiters;
	uint16_t msg_len;
	uint8_t msg[QUERY_MAX];
};

struct lv_forward {
	struct lv_control *ctl;
	struct lv_deferrer d;
	struct lv_upstreams *ups;
	struct fwd_rules *rules;
	struct fwd_rule *wanted;       /* wants()'s rule, for take() */
	struct rule_stats *rule_stats; /* every rule name seen */
	struct fetch **table;          /* by key hash, chained */
	unsigned cap;                  /* power of two */
	struct lv_forward_stats st;
	struct lv_ev_timer loop_kick; /* moves lookups off looping upstreams */
};

/* --- rules --- */

static void rules_put(struct fwd_rules *rs)
{
	if (rs != NULL && --rs->refs == 0) {
		lv_conf_put(rs->conf);
		free(rs);
	}
}

/* A rule's name as lowercased wire form. false when it will not convert
 * (the parser checked it, so only on out of memory). */
static bool rule_name(const char *name, struct fwd_rule *r)
{
	ldns_rdf *rdf = NULL;

	if (ldns_str2rdf_dname(&rdf, name) != LDNS_STATUS_OK)
		return false;
	ldns_dname2canonical(rdf);
	r->len = (uint8_t)ldns_rdf_size(rdf);
	memcpy(r->lname, ldns_rdf_data(rdf), r->len);
	ldns_rdf_deep_free(rdf);
	return true;
}

/* The counters of the rule named r->lname, created on first use. */
static struct rule_stats *rule_stats_get(struct lv_forward *f,
					 const struct fwd_rule *r)
{
	struct rule_stats *s;
	size_t at = 0;

	for (s = f->rule_stats; s != NULL; s = s->next)
		if (s->len == r->len && memcmp(s->lname, r->lname, r->len) == 0)
			return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->len = r->len;
	memcpy(s->lname, r->lname, r->len);
	/* lowercased text, each label and a dot; the root is "." */
	for (unsigned i = 0; r->lname[i] != 0; i += r->lname[i] + 1u) {
		for (unsigned k = 1; k <= r->lname[i]; k++) {
			uint8_t ch = r->lname[i + k];
			at += (size_t)snprintf(
			    s->name + at, sizeof(s->name) - at,
			    ch > ' ' && ch < 127 && ch != '.' ? "%c" : "\\%03u",
			    ch);
		}
		s->name[at++] = '.';
	}
	if (at == 0)
		s->name[at++] = '.';
	s->name[at] = '\0';
	s->next = f->rule_stats;
	f->rule_stats = s;
	return s;
}

static bool rule_build(struct lv_forward *f, const struct lv_forward_conf *c,
		       struct fwd_rule *r)
{
	if (!rule_name(c->name, r) || (r->st = rule_stats_get(f, r)) == NULL)
		return false;
	r->n = 0;
	r->total_weight = 0;
	r->selection = c->selection;
	for (unsigned i = 0; i < c->n_upstreams; i++) {
		const struct lv_upstream_conf *u = &c->upstreams[i];
		struct lv_upstream *up =
		    lv_upstream_get(f->ups, &u->addr, u->port);
		if (up == NULL)
			return false;
		r->ups[r->n] = up;
		r->weight[r->n++] = u->weight;
		r->total_weight += u->weight;
	}
	return r->n > 0;
}

static bool same_rules(const struct fwd_rules *a, const struct fwd_rules *b)
{
	if (a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++) {
		const struct fwd_rule *x = &a->rule[i], *y = &b->rule[i];
		if (x->len != y->len || memcmp(x->lname, y->lname, x->len) ||
		    x->n != y->n || x->selection != y->selection ||
		    memcmp(x->ups, y->ups, x->n * sizeof(x->ups[0])) ||
		    memcmp(x->weight, y->weight, x->n * sizeof(x->weight[0])))
			return false;
	}
	return true;
}

/* The rules of the snapshot current now, built when it changed. When
 * they are the same as before, the old ones stay (now for this snapshot),
 * so fetches in flight still count as current (fetch_answered). */
static struct fwd_rules *build_rules(struct lv_forward *f)
{
	struct lv_conf *conf = f->ctl->conf;
	const struct lv_config *cfg = &conf->cfg;
	struct fwd_rules *rs;

	lv_upstreams_configure(f->ups, &cfg->fwd);
	if (f->ctl->cache != NULL)
		lv_cache_set_prefetch(f->ctl->cache, cfg->fwd.prefetch_pct);
	rs = calloc(1, sizeof(*rs) + cfg->n_forwards * sizeof(rs->rule[0]));
	if (rs == NULL)
		return f->rules; /* keep the old ones; try again next miss */
	rs->refs = 1;
	rs->conf = lv_conf_get(conf);
	for (unsigned i = 0; i < cfg->n_forwards; i++)
		if (rule_build(f, &cfg->forwards[i], &rs->rule[rs->n]))
			rs->n++;
	if (rs->n < cfg->n_forwards)
		lv_warn("forwarding: %u of %u rules set up (out of memory)",
			rs->n, cfg->n_forwards);
	if (f->rules != NULL && same_rules(f->rules, rs)) {
		lv_conf_put(f->rules->conf);
		f->rules->conf = rs->conf; /* the reference moves over */
		free(rs);
		return f->rules;
	}
	rules_put(f->rules);
	f->rules = rs;
	return rs;
}

static void loop_rules(struct lv_forward *f, const struct fwd_rules *rs);

static struct fwd_rules *current_rules(struct lv_forward *f)
{
	struct fwd_rules *rs;

	if (f->rules != NULL && f->rules->conf == f->ctl->conf)
		return f->rules;
	rs = build_rules(f);
	loop_rules(f, rs); /* probes for new upstreams, settings */
	return rs;
}

/* The rule with the longest name that lname is at or below. */
static struct fwd_rule *match(struct fwd_rules *rs, const uint8_t *lname,
			      unsigned len)
{
	for (unsigned off = 0; off < len; off += lname[off] + 1u) {
		for (unsigned i = 0; i < rs->n; i++)
			if (rs->rule[i].len == len - off &&
			    memcmp(rs->rule[i].lname, lname + off, len - off) ==
				0)
				return &rs->rule[i];
		if (lname[off] == 0)
			break;
	}
	return NULL;
}

/* --- the fetch table --- */

static bool same_key(const struct lv_query *a, const struct lv_query *b)
{
	return a->hash == b->hash && a->qname_len == b->qname_len &&
	       a->qtype == b->qtype && a->qclass == b->qclass &&
	       a->do_bit == b->do_bit &&
	       (a->flags & LV_FLAG_CD) == (b->flags & LV_FLAG_CD) &&
	       memcmp(a->lname, b->lname, a->qname_len) == 0;
}

static struct fetch **slot(struct lv_forward *f, uint64_t hash)
{
	return &f->table[hash & (f->cap - 1)];
}

static struct fetch *find(struct lv_forward *f, const struct lv_query *q)
{
	struct fetch *ft = *slot(f, q->hash);

	while (ft != NULL && !same_key(&ft->key, q))
		ft = ft->hnext;
	return ft;
}

/* Double the table when it holds as many fetches as slots. */
static void maybe_grow(struct lv_forward *f)
{
	unsigned cap = f->cap * 2;
	struct fetch **t;

	if (f->st.in_flight < f->cap || (t = calloc(cap, sizeof(*t))) == NULL)
		return;
	for (unsigned i = 0; i < f->cap; i++) {
		while (f->table[i] != NULL) {
			struct fetch *ft = f->table[i];
			f->table[i] = ft->hnext;
			ft->hnext = t[ft->key.hash & (cap - 1)];
			t[ft->key.hash & (cap - 1)] = ft;
		}
	}
	free(f->table);
	f->table = t;
	f->cap = cap;
}

static void fetch_free(struct fetch *ft)
{
	struct lv_forward *f = ft->f;
	struct fetch **p = slot(f, ft->key.hash);

	while (*p != ft)
		p = &(*p)->hnext;
	*p = ft->hnext;
	lv_upstream_cancel(&ft->uq);
	lv_ev_timer_stop(f->ctl->loop, &ft->stale_timer);
	rules_put(ft->rules);
	f->st.in_flight--;
	free(ft);
}

/* --- forwarding loops (docs/forwarding.md "Forwarding loops") --- */

static void fetch_try(struct fetch *ft, bool advance);

/* Is an upstream of r looping? (When none is up, the rule's SERVFAIL is
 * then counted as looping, not down.) */
static bool loop_in_rule(const struct fwd_rule *r)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->ups[i]->looping)
			return true;
	return false;
}

/* The rules (or the settings) changed: the upstreams they name are
 * loop-probed, under their most specific rule's name. */
static void loop_rules(struct lv_forward *f, const struct fwd_rules *rs)
{
	lv_upstreams_loop_begin(f->ups);
	for (unsigned i = 0; rs != NULL && i < rs->n; i++)
		for (unsigned k = 0; k < rs->rule[i].n; k++)
			lv_upstream_loop_rule(rs->rule[i].ups[k],
					      rs->rule[i].lname,
					      rs->rule[i].len);
	lv_upstreams_loop_end(f->ups);
}

/* Our marker in a new fetch's query: the hops of the query that started
 * it, then ours (its upstream number written before each try). The hops
 * of clients that join later are not added (one fetch, one query): a
 * loop through them is found by a probe (loop_joined). */
static void loop_mark_query(struct fetch *ft, const struct lv_loop_mark *from)
{
	const struct lv_forward_limits *lim = &ft->f->ctl->cfg->fwd;
	uint8_t *opt = ft->msg + ft->msg_len - LV_DNS_OPT_RR_LEN;
	uint16_t ours, n;

	if (!lim->loop_detect || !lim->loop_marker)
		return;
	n = lv_loop_option_put(ft->msg + ft->msg_len, from, &ours);
	lv_wire_put16(opt + 9, n); /* build_query's OPT, last, was empty */
	ft->loop_at = (uint16_t)(ft->msg_len + ours);
	ft->msg_len = (uint16_t)(ft->msg_len + n);
}

/* Did r come from up's address (any port: a forwarder asks from a port
 * of its own)? A stream's peer is the TCP server's, not kept in the
 * request: not checked. */
static bool loop_from(const struct lv_request *r, const struct lv_upstream *up)
{
	const struct sockaddr_storage *peer = &r->from.sock.peer;
	const uint8_t *src;
	int family;

	if (r->transport == LV_REQ_SOCKET) {
		family = peer->ss_family;
		src =
		    family == AF_INET
			? (const uint8_t *)&((const struct sockaddr_in *)peer)
			      ->sin_addr
			: (const uint8_t *)&((const struct sockaddr_in6 *)peer)
			      ->sin6_addr;
	} else if (r->transport == LV_REQ_PORT) {
		/* the frame's IP source: offset 12 in IPv4, 8 in IPv6 */
		family = r->from.frame.pi.ipv6 ? AF_INET6 : AF_INET;
		src = r->from.frame.hdrs + r->from.frame.pi.l3_off +
		      (family == AF_INET ? 12 : 8);
	} else {
		return false;
	}
	if (family != up->sa.ss_family)
		return false;
	if (family == AF_INET)
		return memcmp(src,
			      &((const struct sockaddr_in *)&up->sa)->sin_addr,
			      4) == 0;
	return memcmp(src, &((const struct sockaddr_in6 *)&up->sa)->sin6_addr,
		      16) == 0;
}

/* Is r, a query whose marker holds our hop naming upstream number n, our
 * own query come back: is a lookup of its key in flight whose latest try
 * went to upstream n? Only then does the hop prove a loop: our id is in
 * every query we send, so an upstream (or whoever it forwards to) could
 * put it in a query of its own. */
static bool loop_ours_back(struct lv_forward *f, const struct lv_request *r,
			   uint16_t n)
{
	const struct fetch *ft = find(f, &r->q);

	return ft != NULL && ft->sent && ft->loop_at != 0 &&
	       lv_wire_get16(ft->msg + ft->loop_at) == n;
}

/* A query with our id (in its marker or probe name) that is none of ours
 * in flight: an old one come back late, or forged. It marks nothing, is
 * answered a plain SERVFAIL (so that no other instance takes it for the
 * loop signal) and makes the upstream it names a loop probe (a hint: at
 * most one a second), which finds the loop if there is one. */
static void loop_unverified(struct lv_forward *f, struct lv_request *r,
			    struct lv_upstream *up)
{
	f->st.loop_unverified++;
	if (up != NULL)
		lv_upstream_loop_hint(up);
	lv_control_answer_request_rcode(f->ctl, r, LV_RCODE_SERVFAIL);
}

/*
 * A miss for f->wanted arrived, before it may join a fetch (a query that
 * came back to us would join our own lookup of the name and wait for it
 * until both timed out). Answered here (true):
 *  - the probe name last sent to an upstream, or a query marked with our
 *    hop while our lookup of its key is out to the upstream the hop
 *    names: it came back, that upstream loops; SERVFAIL with the marker
 *    echoed (the loop signal);
 *  - one with our id that is neither (loop_unverified);
 *  - one carrying LV_LOOP_HOPS_MAX hops or more none of them ours: too
 *    deep to forward.
 * One without a marker from an upstream's address is a hint that it may
 * forward back to us (it may strip options).
 */
static bool loop_arrived(struct lv_forward *f, struct lv_request *r)
{
	struct fwd_rule *rule = f->wanted;
	struct lv_upstream *up;
	enum lv_loop_how how;
	uint16_t n;

	if (!f->ctl->cfg->fwd.loop_detect)
		return false;
	if (lv_loop_probe_match(r->q.lname, r->q.qname_len, &n)) {
		how = LV_LOOP_BY_PROBE;
	} else if (r->loop.n > 0 && lv_loop_mark_ours(&r->loop, &n) >= 0) {
		how = LV_LOOP_BY_MARKER;
	} else if (r->loop_scan == LV_LOOP_TOO_DEEP ||
		   r->loop.n >= LV_LOOP_HOPS_MAX) {
		f->st.loop_too_deep++;
		lv_control_answer_request_rcode(f->ctl, r, LV_RCODE_SERVFAIL);
		return true;
	} else {
		for (unsigned i = 0; r->loop.n == 0 && i < rule->n; i++)
			if (loop_from(r, rule->ups[i]))
				lv_upstream_loop_hint(rule->ups[i]);
		return false;
	}
	up = lv_upstream_by_number(f->ups, n);
	if (up == NULL ||
	    !(how == LV_LOOP_BY_PROBE
		  ? lv_upstream_loop_is_probe(up, r->q.lname, r->q.qname_len)
		  : loop_ours_back(f, r, n))) {
		loop_unverified(f, r, up);
		return true;
	}
	f->st.loop_queries++;
	lv_upstream_loop_found(up, how);
	lv_control_answer_request_loop(f->ctl, r, &r->loop);
	return true;
}

/* A query marked by another instance joined our lookup in flight: if our
 * upstream forwards to that instance and it to us, each side's query now
 * waits on the other's (neither carries the other's hop). A probe of our
 * upstream (a hint, so at most one a second) finds such a loop at once. */
static void loop_joined(struct fetch *ft, const struct lv_request *r)
{
	if (r->loop.n > 0 && ft->cur >= 0 && ft->f->ctl->cfg->fwd.loop_detect)
		lv_upstream_loop_hint(ft->rule->ups[ft->cur]);
}

/* The answer msg[0..len) to ft's try is the loop signal (SERVFAIL with a
 * marker whose hop of ours names the upstream asked, as our query's
 * did): that upstream loops, and the try failed. */
static bool loop_signalled(struct fetch *ft, const uint8_t *msg, uint16_t len)
{
	struct lv_loop_mark mark;
	uint16_t n;

	if (!ft->f->ctl->cfg->fwd.loop_detect || ft->last_up == NULL ||
	    (lv_wire_get16(msg + 2) & 0xf) != LV_RCODE_SERVFAIL ||
	    lv_loop_mark_scan(msg, len, &mark) != LV_LOOP_FOUND ||
	    lv_loop_mark_ours(&mark, &n) < 0 || n != ft->last_up->number)
		return false;
	lv_upstream_loop_found(ft->last_up, LV_LOOP_BY_SIGNAL);
	return true;
}

/* The rule's upstreams are out of rotation, some looping: SERVFAIL to
 * every waiter, with its own marker echoed. Another instance that sent
 * one learns that its path through us loops (as the instance at the
 * other end of the loop, whose probe we refuse, must: else it would take
 * our SERVFAIL for "no loop" and send us its clients again). Which
 * waiter is that instance cannot be told by its address (a forwarder's
 * queries leave from whatever source its route picks), so an instance
 * outside the loop that forwards to us is told too, and holds us looping
 * until our rule's loop is gone (docs/forwarding.md "Forwarding loops"). */
static void loop_answer_waiters(struct fetch *ft)
{
	ft->rule->st->servfail_looping += ft->n_waiters;
	while (ft->waiters != NULL) {
		struct lv_request *r = ft->waiters;
		ft->waiters = r->owner_next;
		lv_control_answer_request_loop(ft->f->ctl, r, &r->loop);
	}
	ft->n_waiters = 0;
}

/* Lookups still waiting on an upstream found looping move on to the next
 * upstream, or end (SF_LOOP). Collected first: moving one may end it, and
 * never another. */
static void loop_kick(struct lv_ev_timer *t)
{
	struct lv_forward *f = t->data;
	struct fetch **move;
	size_t n = 0;

	if (f->st.in_flight == 0 ||
	    (move = calloc(f->st.in_flight, sizeof(*move))) == NULL)
		return; /* no memory: they end at their attempt timeout */
	for (unsigned i = 0; i < f->cap; i++)
		for (struct fetch *ft = f->table[i]; ft != NULL; ft = ft->hnext)
			if (ft->uq.active && ft->uq.up->looping &&
			    n < f->st.in_flight)
				move[n++] = ft;
	for (size_t i = 0; i < n; i++) {
		lv_upstream_cancel(&move[i]->uq);
		move[i]->tcp = false;
		fetch_try(move[i], true);
	}
	free(move);
}

static void loop_started(void *data, struct lv_upstream *up)
{
	struct lv_forward *f = data;

	(void)up;
	if (!lv_ev_timer_armed(&f->loop_kick) &&
	    lv_ev_timer_start(f->ctl->loop, &f->loop_kick, LOOP_KICK_MS) != 0)
		lv_err("forwarding: out of memory arming the loop timer");
}

static void loop_print_stats(const struct lv_forward *f, FILE *out)
{
	for (const struct rule_stats *r = f->rule_stats; r != NULL; r = r->next)
		fprintf(out, "rule[%s].servfail_looping %llu\n", r->name,
			(unsigned long long)r->servfail_looping);
	for (struct lv_upstream *up = lv_upstreams_first(f->ups); up != NULL;
	     up = up->next)
		fprintf(out,
			"upstream[%s].looping %u\nupstream[%s].loops %llu\n"
			"upstream[%s].loop_probes %llu\n",
			up->name, up->looping ? 1u : 0u, up->name,
			(unsigned long long)up->st.loops, up->name,
			(unsigned long long)up->st.loop_probes);
}

/* --- ending a fetch --- */

static void answer_all(struct fetch *ft, const struct lv_cache_entry *e,
		       unsigned rcode)
{
	struct lv_control *ctl = ft->f->ctl;

	while (ft->waiters != NULL) {
		struct lv_request *r = ft->waiters;
		ft->waiters = r->owner_next;
		if (e != NULL)
			lv_control_answer_request_entry(ctl, r, e);
		else
			lv_control_answer_request_rcode(ctl, r, rcode);
	}
	ft->n_waiters = 0;
}

/* Would the key still be forwarded by the rule the fetch started with? A
 * reload since may have changed the rules or added a local zone for it
 * (lv_forward_reloaded purged the cache then): its answer is not cached. */
static bool still_forwarded(const struct fetch *ft)
{
	const struct lv_control *ctl = ft->f->ctl;

	return ft->rules == ft->f->rules &&
	       (ctl->zones == NULL ||
		lv_zoneset_find(ctl->zones, ft->key.lname, ft->key.qname_len) ==
		    NULL);
}

/* --- serve-stale (RFC 8767) --- */

/* The answer to give while the key's upstreams fail: the cache's
 * unexpired entry for it (a stale copy made earlier, or the answer a
 * failed refresh was renewing), else a stale copy of the expired one if
 * its stale window is still open, published so that the workers serve it
 * for stale-answer-ttl seconds (less when the window closes sooner)
 * before the key is asked of the upstreams again (RFC 8767's
 * failure-recheck, at the dataplane's speed). NULL: none, or serve-stale
 * is off. */
static const struct lv_cache_entry *stale_answer(struct fetch *ft)
{
	struct lv_control *ctl = ft->f->ctl;
	const struct lv_forward_limits *lim = &ctl->cfg->fwd;
	uint64_t now = lv_cache_now(ctl->cache);
	const struct lv_cache_entry *old;
	struct lv_cache_entry *e;

	if (!lim->serve_stale ||
	    (old = lv_cache_find(ctl->cache, &ft->key)) == NULL ||
	    old->origin != LV_ORIGIN_UPSTREAM ||
	    old->rcode == LV_RCODE_SERVFAIL)
		return NULL;
	if (!lv_cache_entry_expired(old, now))
		return old;
	/* the window as kept, or as configured now if a reload shortened
	 * it; the copy lives no longer than what is left of it */
	uint64_t until = RTE_MIN(lv_cache_entry_drop_at(old),
				 lv_cache_entry_expiry(old) +
				     LV_CACHE_TICKS(lim->stale_window));
	uint64_t left = now < until ? (until - now) >> LV_CACHE_TICK_SHIFT : 0;
	uint32_t ttl = (uint32_t)RTE_MIN(left, (uint64_t)lim->stale_ttl);
	if (ttl == 0 || !still_forwarded(ft))
		return NULL; /* not a whole second of the window left */
	e = lv_upstream_entry_stale(old, ttl, (uint32_t)(left - ttl),
				    ctl->hash_seed);
	if (e == NULL)
		return NULL;
	e->stored_at = now;
	if (lv_cache_insert(ctl->cache, e) != 0) {
		lv_cache_entry_free(e);
		return NULL;
	}
	/* the writer may read e until its next call into the cache: the
	 * answers written from it make none */
	ft->f->st.stale_copies++;
	return e;
}

/* Answer every waiter from the stale entry e, and count them. */
static void answer_stale(struct fetch *ft, const struct lv_cache_entry *e)
{
	ft->rule->st->stale_answers += ft->n_waiters;
	ft->f->st.stale_answers += ft->n_waiters;
	if (ft->last_up != NULL)
		ft->last_up->st.stale_answers += ft->n_waiters;
	answer_all(ft, e, LV_RCODE_NOERROR);
}

/* RFC 8767's client-response timer: the upstreams have not answered in
 * stale-client-timeout-ms; answer the waiters stale if there is a stale
 * answer, and keep fetching (a fresh answer replaces the stale copy). */
static void on_stale_timer(struct lv_ev_timer *t)
{
	struct fetch *ft = t->data;
	const struct lv_cache_entry *e = stale_answer(ft);

	if (e == NULL)
		return;
	ft->stale_served = true;
	answer_stale(ft, e);
}

/* Arm the client-response timer of a fetch a client now waits on for the
 * first time (a new one, or a refresh a client joined) whose key has an
 * expired answer kept to be served stale. */
static void arm_stale_timer(struct fetch *ft)
{
	struct lv_control *ctl = ft->f->ctl;
	const struct lv_forward_limits *lim = &ctl->cfg->fwd;
	const struct lv_cache_entry *old;

	if (lim->serve_stale && lim->stale_wait_ms > 0 &&
	    (old = lv_cache_find(ctl->cache, &ft->key)) != NULL &&
	    old->origin == LV_ORIGIN_UPSTREAM && old->stale_keep > 0 &&
	    lv_ev_timer_start(ctl->loop, &ft->stale_timer,
			      lim->stale_wait_ms) != 0)
		lv_err("forwarding: out of memory arming a client-response "
		       "timer; its clients wait for the upstreams");
}

/* Every try failed: the stale answer if there is one (RFC 8767), else
 * SERVFAIL to the waiters, cached briefly so that a dead name does not
 * send every client's retry upstream. */
static void fetch_fail(struct fetch *ft, enum servfail_cause why)
{
	struct lv_control *ctl = ft->f->ctl;
	uint32_t ttl = ctl->cfg->fwd.servfail_ttl;
	struct lv_cache_entry *e = NULL;
	struct rule_stats *rs = ft->rule->st;
	/* a loop is answered with its signal, never stale: the other side
	 * must learn of it */
	const struct lv_cache_entry *stale =
	    why != SF_LOOP ? stale_answer(ft) : NULL;

	ft->f->st.failed++;
	if (stale != NULL) {
		answer_stale(ft, stale);
		fetch_free(ft);
		return;
	}
	if (why == SF_LOOP)
		loop_answer_waiters(ft); /* uncached, as SF_DOWN */
	else if (why == SF_DOWN)
		rs->servfail_down += ft->n_waiters;
	else if (why == SF_TIMEOUT && ft->sent)
		rs->servfail_timeout += ft->n_waiters;
	else
		rs->servfail_local += ft->n_waiters;
	/* cached only when an upstream was asked and did not answer: a
	 * local failure (no socket, no route) says nothing of the name, and
	 * with every upstream down the first probe answered should end it */
	if (ttl > 0 && ft->sent && why != SF_DOWN && why != SF_LOOP &&
	    !ft->prefetch && still_forwarded(ft))
		e = lv_upstream_entry_rcode(&ft->key, LV_RCODE_SERVFAIL, ttl,
					    ctl->hash_seed);
	if (e != NULL)
		e->stored_at = lv_cache_now(ctl->cache);
	answer_all(ft, e, LV_RCODE_SERVFAIL);
	if (e != NULL && lv_cache_insert(ctl->cache, e) != 0)
		lv_cache_entry_free(e);
	fetch_free(ft);
}

/* --- tries --- */

/* The first try goes to an upstream drawn by weight; later ones go round
 * the rule's list from there. */
/* weighted-latency: each upstream that is up is drawn with a chance in
 * proportion to weight / (srtt + 1 ms): two equally fast ones share by
 * weight, one ten times slower (beyond the first millisecond) gets a tenth
 * of its share, and none is starved, so its srtt stays current. One not
 * measured yet counts as fastest, so it is measured soon. */
static int by_weight_and_latency(const struct fwd_rule *r)
{
	uint32_t score[LV_CONFIG_UPSTREAMS_MAX];
	uint32_t total = 0, x;
	unsigned i;

	for (i = 0; i < r->n; i++) {
		/* weight <= 1000: at most 2^34 / 1000 < 2^24 each, 2^30 in
		 * all for 64 upstreams */
		score[i] = lv_upstream_is_up(r->ups[i])
			       ? (uint32_t)(((uint64_t)r->weight[i] << 24) /
					    (r->ups[i]->srtt_us + 1000u))
			       : 0;
		if (score[i] == 0 && lv_upstream_is_up(r->ups[i]))
			score[i] = 1;
		total += score[i];
	}
	if (total == 0)
		return -1;
	x = arc4random_uniform(total);
	for (i = 0; x >= score[i]; i++)
		x -= score[i];
	return (int)i;
}

/* The upstream for a fetch's first try, by the configured selection,
 * among those up; -1 when none is. */
static int first_upstream(struct fwd_rule *r, enum lv_fwd_selection how)
{
	switch (how) {
	case LV_SELECT_FIRST_AVAILABLE:
		for (unsigned i = 0; i < r->n; i++)
			if (lv_upstream_is_up(r->ups[i]))
				return (int)i;
		return -1;
	case LV_SELECT_ROUND_ROBIN:
		for (unsigned k = 0; k < r->n; k++) {
			unsigned i = (r->next_rr + k) % r->n;
			if (lv_upstream_is_up(r->ups[i])) {
				r->next_rr = i + 1;
				return (int)i;
			}
		}
		return -1;
	default:
		return by_weight_and_latency(r);
	}
}

/* The next upstream after cur, round the rule's list, that is up (cur
 * itself last); -1 when none is. */
static int next_upstream(const struct fwd_rule *r, int cur)
{
	for (unsigned k = 1; k <= r->n; k++) {
		unsigned i = ((unsigned)cur + k) % r->n;
		if (lv_upstream_is_up(r->ups[i]))
			return (int)i;
	}
	return -1;
}

/* Our query for the key: RD, the client's CD, EDNS with our size and the
 * key's DO. The ID is the upstream module's. */
static void build_query(struct fetch *ft)
{
	const struct lv_query *q = &ft->key;
	uint8_t *p = ft->msg;

	memset(p, 0, LV_DNS_HDR_LEN);
	lv_wire_put16(p + 2, LV_FLAG_RD | (q->flags & LV_FLAG_CD));
	lv_wire_put16(p + 4, 1);
	lv_wire_put16(p + 10, 1);
	p += LV_DNS_HDR_LEN;
	memcpy(p, q->lname, q->qname_len);
	p += q->qname_len;
	lv_wire_put16(p, q->qtype);
	lv_wire_put16(p + 2, q->qclass);
	p += 4;
	p[0] = 0; /* root owner */
	lv_wire_put16(p + 1, LV_TYPE_OPT);
	lv_wire_put16(p + 3, UPSTREAM_EDNS_SIZE);
	p[5] = 0;
	p[6] = 0;
	lv_wire_put16(p + 7, q->do_bit ? LV_EDNS_DO : 0);
	lv_wire_put16(p + 9, 0);
	ft->msg_len = (uint16_t)(p + LV_DNS_OPT_RR_LEN - ft->msg);
}

/* Send the next try: to upstream cur, or (advance) the next one. Ends
 * the fetch when time or tries run out. */
static void fetch_try(struct fetch *ft, bool advance)
{
	const struct lv_forward_limits *lim = &ft->f->ctl->cfg->fwd;
	unsigned max_tries = 2 * ft->rule->n + 1;

	for (;;) {
		uint64_t now = lv_ev_now_ns();
		uint64_t left_ms;

		if (advance && ft->cur >= 0)
			ft->cur = next_upstream(ft->rule, ft->cur);
		advance = true;
		if (ft->cur < 0) {
			/* every upstream of the rule is down: SERVFAIL now,
			 * not after timeouts (their probes bring them back) */
			if (loop_in_rule(ft->rule)) {
				ft->f->st.all_looping++;
				fetch_fail(ft, SF_LOOP);
				return;
			}
			ft->f->st.all_down++;
			fetch_fail(ft, SF_DOWN);
			return;
		}
		if (now >= ft->deadline_ns || ft->tries >= max_tries) {
			fetch_fail(ft, SF_TIMEOUT);
			return;
		}
		left_ms = (ft->deadline_ns - now + 999999) / 1000000;
		ft->tries++;
		if (ft->loop_at != 0) /* our hop names the upstream asked */
			lv_loop_mark_target(ft->msg, ft->loop_at,
					    ft->rule->ups[ft->cur]->number);
		if (lv_upstream_send(
			ft->rule->ups[ft->cur], &ft->uq, ft->msg, ft->msg_len,
			ft->tcp,
			(uint32_t)RTE_MIN(left_ms, lim->attempt_timeout_ms),
			lim->tcp_idle_ms) == 0) {
			ft->sent = true;
			ft->last_up = ft->rule->ups[ft->cur];
			if (ft->prefetch)
				ft->rule->ups[ft->cur]->st.prefetches++;
			return;
		}
		ft->tcp = false;
	}
}

/* An upstream's rcode that another upstream may not repeat: a broken or
 * misconfigured upstream (SERVFAIL included: one resolver's failure, a
 * lame delegation or a dead backend behind it, need not be another's). */
static bool worth_another_try(const struct fetch *ft, unsigned rcode)
{
	/* another upstream, not the same one again (the others down) */
	return (rcode == LV_RCODE_REFUSED || rcode == LV_RCODE_FORMERR ||
		rcode == LV_RCODE_NOTIMP || rcode == LV_RCODE_SERVFAIL) &&
	       ft->tries < ft->rule->n &&
	       next_upstream(ft->rule, ft->cur) != ft->cur;
}

/* An answer: cache it when it may be, and give it to every waiter. */
static void fetch_answered(struct fetch *ft, const uint8_t *msg, uint16_t len)
{
	struct lv_forward *f = ft->f;
	struct lv_control *ctl = f->ctl;
	struct lv_ttl_policy pol = {.min_ttl = ctl->cfg->fwd.min_ttl,
				    .max_ttl = ctl->cfg->fwd.max_ttl,
				    .neg_max_ttl =
					ctl->cfg->fwd.negative_max_ttl,
				    .servfail_ttl = ctl->cfg->fwd.servfail_ttl};
	struct lv_upstream_result res;

	if (lv_upstream_entry_build(msg, len, &ft->key, &pol, ctl->hash_seed,
				    &res) != 0 ||
	    res.entry == NULL) {
		f->st.bad_answers++;
		ft->tcp = false;
		fetch_try(ft, true);
		return;
	}
	if (worth_another_try(ft, res.rcode)) {
		lv_cache_entry_free(res.entry);
		ft->tcp = false;
		fetch_try(ft, true);
		return;
	}
	/* the upstreams' own failure: a stale answer is better (RFC 8767
	 * §5 counts SERVFAIL as a failed refresh) */
	if (res.rcode == LV_RCODE_SERVFAIL) {
		const struct lv_cache_entry *stale = stale_answer(ft);
		if (stale != NULL) {
			lv_cache_entry_free(res.entry);
			f->st.failed++;
			answer_stale(ft, stale);
			fetch_free(ft);
			return;
		}
	}
	f->st.answered++;
	if (res.rcode == LV_RCODE_SERVFAIL)
		ft->rule->st->servfail_upstream += ft->n_waiters;
	res.entry->stored_at = lv_cache_now(ctl->cache); /* its arrival */
	/* kept past its expiry to be served stale (not a SERVFAIL) */
	if (ctl->cfg->fwd.serve_stale && res.rcode != LV_RCODE_SERVFAIL)
		res.entry->stale_keep = ctl->cfg->fwd.stale_window;
	/* written before publication: once inserted the entry is the
	 * cache's (and may be evicted by the next insert) */
	answer_all(ft, res.entry, res.rcode);
	if (res.cacheable && !still_forwarded(ft)) {
		f->st.stale_config++;
		res.cacheable = false;
	}
	/* a refresh that got SERVFAIL leaves the answer it was renewing */
	if (ft->prefetch && res.rcode == LV_RCODE_SERVFAIL)
		res.cacheable = false;
	if (res.cacheable && lv_cache_insert(ctl->cache, res.entry) == 0) {
		f->st.cached++;
	} else {
		f->st.not_cached++;
		lv_cache_entry_free(res.entry);
	}
	fetch_free(ft);
}

static void on_upstream(struct lv_upstream_query *uq, int status,
			const uint8_t *msg, uint16_t len)
{
	struct fetch *ft = uq->data;

	if (status != 0 || loop_signalled(ft, msg, len)) {
		ft->tcp = false;
		fetch_try(ft, true);
		return;
	}
	if ((lv_wire_get16(msg + 2) & LV_FLAG_TC) && !ft->tcp) {
		/* the whole answer is cached, not the truncated one
		 * (docs/forwarding.md "Truncated answers") */
		ft->f->st.tcp_refetch++;
		ft->tcp = true;
		fetch_try(ft, false);
		return;
	}
	fetch_answered(ft, msg, len);
}

/* --- the deferrer --- */

static bool wants(void *data, const struct lv_query *q)
{
	struct lv_forward *f = data;
	struct fwd_rules *rs = current_rules(f);

	f->wanted = NULL;
	if (rs == NULL || rs->n == 0 ||
	    (f->ctl->zones != NULL &&
	     lv_zoneset_find(f->ctl->zones, q->lname, q->qname_len) != NULL))
		return false;
	f->wanted = match(rs, q->lname, q->qname_len);
	return f->wanted != NULL;
}

static struct fetch *fetch_new(struct lv_forward *f, const struct lv_query *q)
{
	struct fetch *ft = calloc(1, sizeof(*ft));

	if (ft == NULL)
		return NULL;
	ft->f = f;
	ft->key = *q;
	ft->rules = f->rules;
	ft->rules->refs++;
	ft->rule = f->wanted;
	ft->cur = first_upstream(
	    ft->rule, ft->rule->selection >= 0
			  ? (enum lv_fwd_selection)ft->rule->selection
			  : f->ctl->cfg->fwd.selection);
	ft->deadline_ns =
	    lv_ev_now_ns() + f->ctl->cfg->fwd.timeout_ms * 1000000ull;
	ft->uq.qname = ft->key.lname;
	ft->uq.qname_len = (uint8_t)ft->key.qname_len;
	ft->uq.qtype = q->qtype;
	ft->uq.qclass = q->qclass;
	ft->uq.done = on_upstream;
	ft->uq.data = ft;
	ft->uq.fd = -1;
	lv_ev_timer_init(&ft->stale_timer, on_stale_timer, ft);
	build_query(ft);
	ft->hnext = *slot(f, q->hash);
	*slot(f, q->hash) = ft;
	f->st.in_flight++;
	f->st.fetches++;
	return ft;
}

/* r would join ft, a fetch in flight for its key. Answered here (true):
 * stale at once when ft's client-response timer has fired (as the workers
 * answer from the stale copy), SERVFAIL when max-waiters wait already.
 * Else it joins: a refresh it joins is a client's lookup from now on (its
 * failure is answered as any other's). */
static bool take_joins(struct fetch *ft, struct lv_request *r)
{
	struct lv_forward *f = ft->f;
	const struct lv_cache_entry *e;

	if (ft->stale_served && (e = stale_answer(ft)) != NULL) {
		ft->rule->st->stale_answers++;
		f->st.stale_answers++;
		if (ft->last_up != NULL)
			ft->last_up->st.stale_answers++;
		lv_control_answer_request_entry(f->ctl, r, e);
		return true;
	}
	if (ft->n_waiters >= f->ctl->cfg->fwd.max_waiters) {
		f->st.waiters_refused++;
		ft->rule->st->servfail_overload++;
		lv_control_answer_request_rcode(f->ctl, r, LV_RCODE_SERVFAIL);
		return true;
	}
	f->st.coalesced++;
	if (ft->prefetch) { /* its first client: the timer is theirs now */
		ft->prefetch = false;
		arm_stale_timer(ft);
	}
	loop_joined(ft, r);
	return false;
}

static void take(void *data, struct lv_request *r)
{
	struct lv_forward *f = data;
	struct fetch *ft;
	bool fresh;

	if (loop_arrived(f, r)) /* before it may join a fetch */
		return;
	ft = find(f, &r->q);
	fresh = ft == NULL;
	if (fresh) {
		maybe_grow(f);
		ft = fetch_new(f, &r->q);
		if (ft == NULL) {
			f->wanted->st->servfail_local++;
			lv_control_answer_request_rcode(f->ctl, r,
							LV_RCODE_SERVFAIL);
			return;
		}
		loop_mark_query(ft, &r->loop);
	} else if (take_joins(ft, r)) {
		return; /* answered (stale, or SERVFAIL: too many wait) */
	}
	r->owner = ft;
	r->owner_next = ft->waiters;
	ft->waiters = r;
	ft->n_waiters++;
	if (fresh) {
		arm_stale_timer(ft);
		fetch_try(ft, false);
	}
}

/* Does the cache answer q's key with an entry that is not late in its
 * TTL (a refresh already renewed it)? */
static bool fresh_in_cache(const struct lv_forward *f, const struct lv_query *q)
{
	const struct lv_cache *c = f->ctl->cache;
	const struct lv_query *qs[1] = {q};
	const struct lv_cache_entry *e[1];

	return lv_cache_lookup_bulk(c, qs, 1, e) == 0 && e[0] != NULL &&
	       (e[0]->origin != LV_ORIGIN_UPSTREAM ||
		!lv_cache_entry_late(c, e[0], lv_cache_now(c)));
}

/* A worker answered q late in its entry's TTL: fetch the key again now,
 * in the background, so that the answer is renewed before it expires and
 * a hot name never misses. Not when a fetch for the key is in flight (one
 * refresh per key, no stampede), when the cache already holds a renewed
 * answer, or when no rule forwards it any more. */
static void refresh(void *data, const struct lv_query *q)
{
	struct lv_forward *f = data;
	struct fetch *ft;

	if (!wants(f, q) || find(f, q) != NULL || fresh_in_cache(f, q)) {
		f->st.prefetch_skipped++;
		return;
	}
	maybe_grow(f);
	if ((ft = fetch_new(f, q)) == NULL) {
		f->st.prefetch_skipped++;
		return;
	}
	ft->prefetch = true;
	loop_mark_query(ft, NULL); /* our own query: our hop alone */
	f->st.prefetches++;
	fetch_try(ft, false);
}

void lv_forward_reloaded(struct lv_forward *f, bool zone_added)
{
	const struct fwd_rules *before = f->rules;
	const struct fwd_rules *now = current_rules(f);

	/* a changed rule set is a new object; the same rules stay the same
	 * object (current_rules); rules that could not be rebuilt (no
	 * memory: the old ones stay, for another snapshot) are purged too,
	 * since the next miss may install different ones */
	if (now == NULL || now != before || now->conf != f->ctl->conf ||
	    zone_added) {
		lv_cache_purge_zone(f->ctl->cache, LV_ZONE_ID_UPSTREAM);
		f->st.purges++;
	}
}

/* --- life --- */

/* Each fetch in flight holds a UDP socket of its own (a random port per
 * query), and there may be as many as requests may wait, beside the TCP
 * clients: raise the soft descriptor limit to cover them, else the
 * process's default 1024 turns a burst of distinct misses into failed
 * sends. One warning line when the hard limit is lower. */
static void raise_fd_limit(const struct lv_config *cfg)
{
	rlim_t want = (rlim_t)cfg->max_requests + cfg->tcp_max_clients + 1024;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want
			  ? want
			  : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		lv_warn(
		    "forwarding: open files limited to %llu, below the %llu "
		    "that requests (%u) and TCP clients (%u) may need: "
		    "raise the hard limit (ulimit -Hn)",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)want,
		    cfg->max_requests, cfg->tcp_max_clients);
}

int lv_forward_open(struct lv_control *ctl)
{
	struct lv_forward *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->ups = lv_upstreams_new(ctl->loop)) == NULL ||
	    (f->table = calloc(64, sizeof(*f->table))) == NULL) {
		lv_err("forwarding: out of memory");
		if (f != NULL)
			lv_upstreams_free(f->ups);
		free(f);
		return -1;
	}
	f->cap = 64;
	f->ctl = ctl;
	lv_ev_timer_init(&f->loop_kick, loop_kick, f);
	lv_upstreams_on_loop(f->ups, loop_started, f);
	f->d = (struct lv_deferrer){
	    .wants = wants, .take = take, .refresh = refresh, .data = f};
	ctl->forward = f;
	ctl->deferrer = &f->d;
	current_rules(f);
	raise_fd_limit(ctl->cfg);
	return 0;
}

void lv_forward_close(struct lv_control *ctl)
{
	struct lv_forward *f = ctl->forward;

	if (f == NULL)
		return;
	for (unsigned i = 0; i < f->cap; i++) {
		while (f->table[i] != NULL) {
			struct fetch *ft = f->table[i];
			while (ft->waiters != NULL) {
				struct lv_request *r = ft->waiters;
				ft->waiters = r->owner_next;
				lv_request_drop(ctl->requests, r);
			}
			fetch_free(ft);
		}
	}
	if (ctl->deferrer == &f->d)
		ctl->deferrer = NULL;
	lv_ev_timer_stop(ctl->loop, &f->loop_kick);
	lv_upstreams_free(f->ups);
	rules_put(f->rules);
	while (f->rule_stats != NULL) {
		struct rule_stats *s = f->rule_stats;
		f->rule_stats = s->next;
		free(s);
	}
	free(f->table);
	free(f);
	ctl->forward = NULL;
}

void lv_forward_print_stats(const struct lv_forward *f, FILE *out)
{
	static const char *const rc[16] = {
	    "noerror",  "formerr", "servfail", "nxdomain", "notimp",  "refused",
	    "yxdomain", "yxrrset", "nxrrset",  "notauth",  "notzone", "rcode11",
	    "rcode12",  "rcode13", "rcode14",  "rcode15"};
	const struct lv_forward_stats *s = &f->st;

#define P(field)                                                               \
	fprintf(out, "forward_" #field " %llu\n", (unsigned long long)s->field)
	P(fetches);
	P(coalesced);
	P(waiters_refused);
	P(answered);
	P(cached);
	P(not_cached);
	P(failed);
	P(tcp_refetch);
	P(bad_answers);
	P(in_flight);
	P(stale_config);
	P(purges);
	P(all_down);
	P(prefetches);
	P(prefetch_skipped);
	P(stale_answers);
	P(stale_copies);
	P(loop_queries);
	P(loop_too_deep);
	P(loop_unverified);
	P(all_looping);
#undef P
	loop_print_stats(f, out);
	for (const struct rule_stats *r = f->rule_stats; r != NULL; r = r->next)
		fprintf(out,
			"rule[%s].servfail_timeout %llu\n"
			"rule[%s].servfail_down %llu\n"
			"rule[%s].servfail_upstream %llu\n"
			"rule[%s].servfail_local %llu\n"
			"rule[%s].servfail_overload %llu\n"
			"rule[%s].stale_answers %llu\n",
			r->name, (unsigned long long)r->servfail_timeout,
			r->name, (unsigned long long)r->servfail_down, r->name,
			(unsigned long long)r->servfail_upstream, r->name,
			(unsigned long long)r->servfail_local, r->name,
			(unsigned long long)r->servfail_overload, r->name,
			(unsigned long long)r->stale_answers);
	for (struct lv_upstream *up = lv_upstreams_first(f->ups); up != NULL;
	     up = up->next) {
		const struct lv_upstream_stats *u = &up->st;
#define U(field)                                                               \
	fprintf(out, "upstream[%s]." #field " %llu\n", up->name,               \
		(unsigned long long)u->field)
		U(queries_udp);
		U(queries_tcp);
		U(timeouts);
		U(truncated);
		U(refused);
		U(send_errors);
		U(mismatched);
		U(tcp_opened);
		U(tcp_reset);
		U(tcp_resent);
		U(tcp_busy);
		U(probes);
		U(probes_failed);
		U(downs);
		U(prefetches);
		U(stale_answers);
		U(latency_us_sum);
		U(latency_count);
#undef U
		/* The state, one-hot: exactly one of .up, .down and .looping
		 * (printed with the loop counters) is 1; looping wins over
		 * down, as it is what must be fixed. */
		fprintf(out,
			"upstream[%s].up %u\nupstream[%s].down %u\n"
			"upstream[%s].srtt_us %u\nupstream[%s].in_flight %u\n",
			up->name, lv_upstream_is_up(up) ? 1u : 0u, up->name,
			up->down && !up->looping ? 1u : 0u, up->name,
			up->srtt_us, up->name, up->in_flight);
		for (unsigned i = 0; i < 16; i++)
			if (u->answers[i])
				fprintf(out, "upstream[%s].answers_%s %llu\n",
					up->name, rc[i],
					(unsigned long long)u->answers[i]);
	}
}
