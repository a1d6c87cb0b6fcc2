/*
 * Outgoing zone transfers; see include/levee/xfr.h and docs/transfers.md.
 *
 * A transfer is a list of segments walked by a cursor: AXFR is [SOA, the
 * zone's records, SOA]; an incremental IXFR is [SOA, then per difference
 * (old SOA, removed, new SOA, added), SOA]; an up-to-date IXFR client gets
 * [SOA]. Each call to lv_xfr_next() fills one message with as many
 * records as fit, compressing owner names against the zone origin and the
 * previous owner.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <ldns/ldns.h>

#include "levee/control.h"
#include "levee/log.h"
#include "levee/query.h"
#include "levee/response.h"
#include "levee/tsig.h"
#include "levee/xfr.h"
#include "levee/zone_diff.h"
#include "zone_int.h"

#define PTR_MAX_OFFSET 0x3fff /* a compression pointer's reach */

enum seg_kind {
	SEG_SOA,     /* the zone's SOA */
	SEG_BODY,    /* every record of the zone but the apex SOA */
	SEG_OLD_SOA, /* one step of an IXFR: the SOA it starts from, */
	SEG_REMOVED, /* the records it removes, */
	SEG_NEW_SOA, /* the SOA it ends at */
	SEG_ADDED    /* and the records it adds */
};

struct segment {
	enum seg_kind kind;
	const struct lv_zdiff *diff; /* the zone's history holds it */
};

/* One record to write: owner and RDATA in wire form, names lowercased. */
struct rr {
	const uint8_t *owner;
	uint8_t owner_len;
	uint16_t type;
	uint32_t ttl;
	const uint8_t *rdata;
	uint16_t rdlen;
};

struct lv_xfr {
	struct lv_zone *zone; /* our reference: the version transferred */
	uint16_t id, flags;   /* the request's */
	uint8_t question[LV_DNS_MAX_NAME + 4];
	uint16_t question_len;
	bool edns;
	bool ixfr;
	bool signed_; /* every message carries a TSIG (RFC 8945 §5.3.1) */
	struct lv_tsig_state tsig;
	/* the snapshot tsig.key lives in: a reload may replace the keys
	 * while the transfer runs; it finishes with the key it began with */
	struct lv_conf *conf;
	struct segment *seg;
	unsigned n_seg;
	/* the cursor: segment, then node / RRset / RR inside a body */
	unsigned at;
	size_t node, rrset, rrn;
	/* for the log line at the end */
	char peer[INET6_ADDRSTRLEN];
	unsigned messages;
	uint64_t records, bytes, started_ms;
	bool finished;
};

bool lv_xfr_is_request(const uint8_t *dns, uint16_t len)
{
	unsigned off = LV_DNS_HDR_LEN;
	uint16_t flags;

	if (len < LV_DNS_HDR_LEN + 5 || lv_wire_get16(dns + 4) != 1)
		return false;
	flags = lv_wire_get16(dns + 2);
	if ((flags & LV_FLAG_QR) || (flags & LV_FLAG_OPCODE) != 0)
		return false;
	/* step over the question name: labels only, no pointers */
	while (off < len && dns[off] != 0 && dns[off] <= LV_DNS_MAX_LABEL)
		off += 1u + dns[off];
	if (off + 5 > len || dns[off] != 0)
		return false;
	uint16_t qtype = lv_wire_get16(dns + off + 1);
	return qtype == LV_TYPE_AXFR || qtype == LV_TYPE_IXFR;
}

/* --- the cursor --- */

static void soa_rr(const struct lv_zone *z, struct rr *rr)
{
	*rr = (struct rr){
	    z->origin,   z->origin_len,        LV_TYPE_SOA,
	    z->soa->ttl, z->soa->rrs[0].rdata, z->soa->rrs[0].rdlen};
}

/* Skip to the next record of the body from (node, rrset, rrn) on, the
 * apex SOA left out; false at the end of the zone. */
static bool body_settle(struct lv_xfr *x)
{
	const struct lv_zone *z = x->zone;

	for (; x->node < z->node_count; x->node++, x->rrset = 0) {
		const struct lv_znode *n = &z->nodes[x->node];
		for (; x->rrset < n->rrset_count; x->rrset++, x->rrn = 0) {
			const struct lv_zrrset *s = &n->rrsets[x->rrset];
			if (s == z->soa)
				continue;
			if (x->rrn < s->count)
				return true;
		}
	}
	return false;
}

static void from_diff(struct rr *rr, const struct lv_zdiff_rr *d)
{
	*rr = (struct rr){d->owner, d->owner_len, d->type,
			  d->ttl,   d->rdata,     d->rdlen};
}

/* A record of a diff segment, if the cursor is still inside it. */
static bool diff_rr(const struct lv_xfr *x, const struct segment *s,
		    struct rr *rr)
{
	struct lv_zdiff_rr d;
	bool removed = s->kind == SEG_REMOVED;
	size_t n = removed ? lv_zdiff_removed_count(s->diff)
			   : lv_zdiff_added_count(s->diff);

	if (x->rrn >= n)
		return false;
	if (removed)
		lv_zdiff_removed(s->diff, x->rrn, &d);
	else
		lv_zdiff_added(s->diff, x->rrn, &d);
	from_diff(rr, &d);
	return true;
}

/* The zone record under the body cursor; false past the last. */
static bool body_rr(struct lv_xfr *x, struct rr *rr)
{
	if (!body_settle(x))
		return false;
	const struct lv_znode *n = &x->zone->nodes[x->node];
	const struct lv_zrrset *set = &n->rrsets[x->rrset];
	*rr = (struct rr){n->name,
			  n->name_len,
			  set->type,
			  set->ttl,
			  set->rrs[x->rrn].rdata,
			  set->rrs[x->rrn].rdlen};
	return true;
}

/* The record under the cursor; false when the transfer is complete. */
static bool cursor_rr(struct lv_xfr *x, struct rr *rr)
{
	while (x->at < x->n_seg) {
		const struct segment *s = &x->seg[x->at];
		struct lv_zdiff_rr d;
		switch (s->kind) {
		case SEG_SOA:
			soa_rr(x->zone, rr);
			return true;
		case SEG_OLD_SOA:
			lv_zdiff_old_soa(s->diff, &d);
			from_diff(rr, &d);
			return true;
		case SEG_NEW_SOA:
			lv_zdiff_new_soa(s->diff, &d);
			from_diff(rr, &d);
			return true;
		case SEG_REMOVED:
		case SEG_ADDED:
			if (diff_rr(x, s, rr))
				return true;
			break;
		case SEG_BODY:
			if (body_rr(x, rr))
				return true;
			break;
		}
		x->at++;
		x->node = x->rrset = x->rrn = 0;
	}
	return false;
}

static void cursor_advance(struct lv_xfr *x)
{
	enum seg_kind k = x->seg[x->at].kind;

	if (k == SEG_BODY || k == SEG_REMOVED || k == SEG_ADDED) {
		x->rrn++;
		return;
	}
	x->at++;
	x->node = x->rrset = x->rrn = 0;
}

/* --- writing a message --- */

struct msg {
	uint8_t *p;
	unsigned len, limit;
	uint16_t ancount;
	uint16_t origin_off; /* the origin written whole here; 0: not yet */
	uint16_t owner_off;  /* the previous owner, written whole; 0: none */
	const uint8_t *owner;
	const struct lv_zone *z;
};

/* Write name, compressed against the origin (every in-zone name ends in
 * it) and, for owners, against the previous owner. */
static void put_name(struct msg *m, const uint8_t *name, unsigned len,
		     bool is_owner)
{
	const struct lv_zone *z = m->z;
	unsigned start = m->len;

	if (is_owner && m->owner && m->owner_off &&
	    lv_name_len(m->owner, LV_DNS_MAX_NAME) == len &&
	    memcmp(m->owner, name, len) == 0) {
		lv_wire_put16(m->p + m->len, (uint16_t)(0xc000 | m->owner_off));
		m->len += 2;
		return;
	}
	if (!lv_name_in_zone(name, len, z->origin, z->origin_len)) {
		memcpy(m->p + m->len, name, len);
		m->len += len;
	} else {
		unsigned prefix = len - z->origin_len;
		memcpy(m->p + m->len, name, prefix);
		m->len += prefix;
		if (m->origin_off) {
			lv_wire_put16(m->p + m->len,
				      (uint16_t)(0xc000 | m->origin_off));
			m->len += 2;
		} else {
			if (m->len <= PTR_MAX_OFFSET)
				m->origin_off = (uint16_t)m->len;
			memcpy(m->p + m->len, z->origin, z->origin_len);
			m->len += z->origin_len;
		}
	}
	if (is_owner) {
		m->owner = name;
		m->owner_off = start <= PTR_MAX_OFFSET ? (uint16_t)start : 0;
	}
}

/* RDATA, its embedded names compressed where the type allows (RFC 3597
 * §4); returns false on RDATA that does not hold the names it should. */
static bool put_rdata(struct msg *m, const struct rr *rr)
{
	struct lv_rdata_names rn = lv_rdata_names(rr->type);
	unsigned off = rn.skip;

	if (!rn.compressible || rn.names == 0 || rr->rdlen < off) {
		memcpy(m->p + m->len, rr->rdata, rr->rdlen);
		m->len += rr->rdlen;
		return true;
	}
	memcpy(m->p + m->len, rr->rdata, off);
	m->len += off;
	for (unsigned i = 0; i < rn.names; i++) {
		unsigned nl = lv_name_len(rr->rdata + off, rr->rdlen - off);
		if (nl == 0)
			return false;
		put_name(m, rr->rdata + off, nl, false);
		off += nl;
	}
	memcpy(m->p + m->len, rr->rdata + off, rr->rdlen - off);
	m->len += rr->rdlen - off;
	return true;
}

/* Append rr if it fits (counted uncompressed, so it always fits when
 * written); false, with the message as it was, when it does not. */
static bool put_rr(struct msg *m, const struct rr *rr)
{
	struct msg before = *m;
	unsigned rdlen_at;

	if (m->len + rr->owner_len + 10u + rr->rdlen > m->limit ||
	    m->ancount == UINT16_MAX)
		return false;
	put_name(m, rr->owner, rr->owner_len, true);
	lv_wire_put16(m->p + m->len, rr->type);
	lv_wire_put16(m->p + m->len + 2, LV_CLASS_IN);
	lv_wire_put32(m->p + m->len + 4, rr->ttl);
	rdlen_at = m->len + 8;
	m->len += 10;
	if (!put_rdata(m, rr)) {
		*m = before; /* RDATA whose names do not parse */
		return false;
	}
	lv_wire_put16(m->p + rdlen_at, (uint16_t)(m->len - rdlen_at - 2));
	m->ancount++;
	return true;
}

static void put_header(struct msg *m, const struct lv_xfr *x, bool first)
{
	lv_wire_put16(m->p, x->id);
	lv_wire_put16(m->p + 2,
		      (uint16_t)(LV_FLAG_QR | LV_FLAG_AA |
				 (x->flags & (LV_FLAG_OPCODE | LV_FLAG_RD))));
	lv_wire_put16(m->p + 4, first ? 1 : 0);
	memset(m->p + 6, 0, 6);
	m->len = LV_DNS_HDR_LEN;
	if (first) {
		memcpy(m->p + m->len, x->question, x->question_len);
		m->len += x->question_len;
	}
}

/* An OPT closes every message of a transfer asked for with EDNS. */
static void put_opt(struct msg *m, const struct lv_control *ctl)
{
	uint8_t *o = m->p + m->len;

	o[0] = 0;
	lv_wire_put16(o + 1, LV_TYPE_OPT);
	lv_wire_put16(o + 3, ctl->cfg->udp_max);
	lv_wire_put32(o + 5, 0);
	lv_wire_put16(o + 9, 0);
	m->len += LV_DNS_OPT_RR_LEN;
	lv_wire_put16(m->p + 10, 1);
}

static void log_end(const struct lv_xfr *x, const char *how)
{
	lv_info("%s of %s serial %u to %s %s: %u messages, %llu records, "
		"%llu bytes, %llu ms",
		x->ixfr ? "IXFR" : "AXFR", x->zone->origin_text,
		x->zone->serial, x->peer, how, x->messages,
		(unsigned long long)x->records, (unsigned long long)x->bytes,
		(unsigned long long)(lv_monotonic_ms() - x->started_ms));
}

uint16_t lv_xfr_next(struct lv_control *ctl, struct lv_xfr *x, uint8_t *out,
		     bool *last)
{
	struct msg m = {.p = out, .z = x->zone};
	struct rr rr;

	m.limit = LV_XFR_MSG_MAX - (x->edns ? LV_DNS_OPT_RR_LEN : 0) -
		  (x->signed_ ? (unsigned)lv_tsig_space(x->tsig.key) : 0);
	put_header(&m, x, x->messages == 0);
	while (cursor_rr(x, &rr)) {
		if (!put_rr(&m, &rr)) {
			if (m.ancount > 0)
				break;
			lv_err("%s of %s to %s: a record (type %u) does not "
			       "fit in a message or its RDATA is malformed; "
			       "transfer abandoned",
			       x->ixfr ? "IXFR" : "AXFR", x->zone->origin_text,
			       x->peer, rr.type);
			return 0;
		}
		cursor_advance(x);
	}
	lv_wire_put16(out + 6, m.ancount);
	if (x->edns)
		put_opt(&m, ctl);
	if (x->signed_) {
		m.len = (unsigned)lv_tsig_sign(
		    &x->tsig, out, m.len, LV_XFR_MSG_MAX, (uint64_t)time(NULL));
		if (m.len == 0) {
			lv_err("%s of %s to %s: cannot sign a message; "
			       "transfer abandoned",
			       x->ixfr ? "IXFR" : "AXFR", x->zone->origin_text,
			       x->peer);
			return 0;
		}
	}
	x->messages++;
	x->records += m.ancount;
	x->bytes += m.len;
	LV_STAT_INC(ctl->stats.xfr_messages);
	*last = x->at >= x->n_seg;
	if (*last && !x->finished) {
		x->finished = true;
		LV_STAT_INC(ctl->stats.xfr_done);
		log_end(x, "done");
	}
	return (uint16_t)m.len;
}

/* --- starting one --- */

static bool prefix_match(const struct lv_addr *p, int family,
			 const uint8_t *addr)
{
	unsigned bits = p->prefix_len, bytes = bits / 8;

	if (p->family != family)
		return false;
	if (memcmp(p->addr, addr, bytes) != 0)
		return false;
	if (bits % 8 == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
	return (p->addr[bytes] & mask) == (addr[bytes] & mask);
}

/* May peer (unsigned: key NULL) transfer zone z? */
static bool allowed(const struct lv_control *ctl, const struct lv_zone *z,
		    int family, const uint8_t *peer, const char *key)
{
	const struct lv_acl_conf *acl;
	unsigned n;

	lv_config_zone_acl(ctl->cfg, z->origin_text, &acl, &n);
	for (unsigned i = 0; i < n; i++) {
		if (acl[i].has_prefix &&
		    !prefix_match(&acl[i].prefix, family, peer))
			continue;
		if (acl[i].key == NULL)
			return true;
		if (key != NULL && lv_config_same_name(acl[i].key, key))
			return true;
	}
	return false;
}

/* A one-message answer: the query echoed with rcode. */
static uint16_t error_answer(struct lv_control *ctl, const uint8_t *dns,
			     uint16_t len, const struct lv_query *q,
			     unsigned rcode, uint8_t *out)
{
	uint16_t n;

	memcpy(out, dns, len);
	n = lv_response_error(out, LV_XFR_MSG_MAX, q, rcode, ctl->cfg->udp_max);
	if (n)
		LV_STAT_INC(ctl->stats.rcode[rcode < LV_RCODE_MAX ? rcode : 0]);
	return n;
}

static struct lv_xfr *new_xfr(const uint8_t *dns, const struct lv_query *q,
			      const struct lv_zone *z, int family,
			      const uint8_t *peer)
{
	struct lv_xfr *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->zone = lv_zone_ref(z);
	x->id = q->id;
	x->flags = q->flags;
	x->question_len = (uint16_t)(q->question_end - LV_DNS_HDR_LEN);
	memcpy(x->question, dns + LV_DNS_HDR_LEN, x->question_len);
	x->edns = q->has_edns;
	x->ixfr = q->qtype == LV_TYPE_IXFR;
	inet_ntop(family, peer, x->peer, sizeof(x->peer));
	x->started_ms = lv_monotonic_ms();
	return x;
}

static bool axfr_segments(struct lv_xfr *x)
{
	x->seg = calloc(3, sizeof(*x->seg));
	if (x->seg == NULL)
		return false;
	x->seg[0].kind = SEG_SOA;
	x->seg[1].kind = SEG_BODY;
	x->seg[2].kind = SEG_SOA;
	x->n_seg = 3;
	return true;
}

/* The first step of z's history that starts at serial, when the steps
 * from there on reach z's serial without a gap; -1 otherwise. */
static int history_from(const struct lv_zone *z, uint32_t serial)
{
	unsigned n = lv_zone_history_count(z);

	for (unsigned i = 0; i < n; i++) {
		if (lv_zdiff_from_serial(lv_zone_history(z, i)) != serial)
			continue;
		for (unsigned j = i; j + 1 < n; j++)
			if (lv_zdiff_to_serial(lv_zone_history(z, j)) !=
			    lv_zdiff_from_serial(lv_zone_history(z, j + 1)))
				return -1;
		if (lv_zdiff_to_serial(lv_zone_history(z, n - 1)) != z->serial)
			return -1;
		return (int)i;
	}
	return -1;
}

/* RFC 1995 §4: SOA, then per step (old SOA, removed, new SOA, added),
 * then SOA. */
static bool ixfr_diff_segments(struct lv_xfr *x, unsigned first)
{
	unsigned steps = lv_zone_history_count(x->zone) - first, k = 0;

	x->seg = calloc(2 + 4 * (size_t)steps, sizeof(*x->seg));
	if (x->seg == NULL)
		return false;
	x->seg[k++].kind = SEG_SOA;
	for (unsigned i = first; i < first + steps; i++) {
		const struct lv_zdiff *d = lv_zone_history(x->zone, i);
		x->seg[k++] = (struct segment){SEG_OLD_SOA, d};
		x->seg[k++] = (struct segment){SEG_REMOVED, d};
		x->seg[k++] = (struct segment){SEG_NEW_SOA, d};
		x->seg[k++] = (struct segment){SEG_ADDED, d};
	}
	x->seg[k++].kind = SEG_SOA;
	x->n_seg = k;
	return true;
}

/* What the records after the question say: the IXFR client's serial (the
 * SOA in the authority section, RFC 1995 §3). */
struct extras {
	bool has_serial;
	uint32_t serial;
};

/* Read the request's other sections with ldns; false: malformed. */
static bool read_extras(const uint8_t *dns, uint16_t len, struct extras *e)
{
	ldns_pkt *pkt = NULL;
	ldns_rr_list *auth;

	memset(e, 0, sizeof(*e));
	if (ldns_wire2pkt(&pkt, dns, len) != LDNS_STATUS_OK)
		return false;
	auth = ldns_pkt_authority(pkt);
	for (size_t i = 0; auth && i < ldns_rr_list_rr_count(auth); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(auth, i);
		const ldns_rdf *serial = ldns_rr_rdf(rr, 2);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || !serial ||
		    ldns_rdf_size(serial) != 4)
			continue;
		e->has_serial = true;
		e->serial = ldns_rdf2native_int32(serial);
		break;
	}
	ldns_pkt_free(pkt);
	return true;
}

/* IXFR (RFC 1995 §4): a client as new as we are gets our SOA alone;
 * otherwise the differences from its serial when we hold them all, else
 * the whole zone in AXFR form. */
static bool ixfr_segments(struct lv_control *ctl, struct lv_xfr *x,
			  uint32_t client)
{
	int first;

	if (!lv_serial_lt(client, x->zone->serial)) {
		x->seg = calloc(1, sizeof(*x->seg));
		if (x->seg == NULL)
			return false;
		x->seg[0].kind = SEG_SOA;
		x->n_seg = 1;
		LV_STAT_INC(ctl->stats.xfr_ixfr_current);
		return true;
	}
	first = history_from(x->zone, client);
	if (first >= 0) {
		LV_STAT_INC(ctl->stats.xfr_ixfr);
		return ixfr_diff_segments(x, (unsigned)first);
	}
	LV_STAT_INC(ctl->stats.xfr_ixfr_full);
	return axfr_segments(x);
}

/* A transfer request on its way through lv_xfr_start(). */
struct request {
	uint8_t *dns; /* a copy, its TSIG record stripped when signed */
	uint16_t len;
	struct lv_query q;
	enum lv_parse_result parsed;
	struct lv_tsig_state tsig;
	bool signed_; /* answers carry a TSIG (signed or an error) */
	int family;
	const uint8_t *peer;
	char who[INET6_ADDRSTRLEN];
	uint8_t *out;
};

/* The one-message answer rcode, with its TSIG when the request had one. */
static uint16_t reply_error(struct lv_control *ctl, struct request *r,
			    unsigned rcode)
{
	uint16_t n = error_answer(ctl, r->dns, r->len, &r->q, rcode, r->out);

	if (n && r->signed_)
		n = (uint16_t)lv_tsig_sign(&r->tsig, r->out, n, LV_XFR_MSG_MAX,
					   (uint64_t)time(NULL));
	return n;
}

static const char *kind(const struct request *r)
{
	return r->q.qtype == LV_TYPE_IXFR ? "IXFR" : "AXFR";
}

/* TSIG first (RFC 8945 §5.2): a bad signature is answered before the
 * request is looked at. Returns false when the answer is decided. */
static bool check_tsig(struct lv_control *ctl, struct request *r,
		       uint16_t *out_len)
{
	size_t ulen;
	enum lv_tsig_verdict v = lv_tsig_verify(
	    ctl->keys, r->dns, r->len, (uint64_t)time(NULL), &r->tsig, &ulen);

	r->len = (uint16_t)ulen;
	r->parsed = lv_query_parse(r->dns, r->len, ctl->hash_seed, &r->q);
	if (r->parsed == LV_PARSE_DROP_RUNT ||
	    r->parsed == LV_PARSE_DROP_RESPONSE)
		return false; /* never answered */
	if (v == LV_TSIG_FORMERR) {
		*out_len = reply_error(ctl, r, LV_RCODE_FORMERR);
		return false;
	}
	r->signed_ = v == LV_TSIG_VERIFIED || v == LV_TSIG_NOTAUTH;
	if (v == LV_TSIG_NOTAUTH) {
		lv_info("%s from %s: TSIG error %u; NOTAUTH", kind(r), r->who,
			r->tsig.error);
		LV_STAT_INC(ctl->stats.xfr_refused);
		*out_len = reply_error(ctl, r, LV_RCODE_NOTAUTH);
		return false;
	}
	return true;
}

/* The zone and the client's right to it; NULL when refused (answered). */
static const struct lv_zone *check_zone(struct lv_control *ctl,
					struct request *r, uint16_t *out_len)
{
	const struct lv_zone *z =
	    lv_zoneset_find(ctl->zones, r->q.lname, r->q.qname_len);
	const char *key = r->signed_ ? lv_tsig_key_name(r->tsig.key) : NULL;

	if (z == NULL || z->origin_len != r->q.qname_len ||
	    (r->q.qclass != LV_CLASS_IN && r->q.qclass != LV_CLASS_ANY)) {
		LV_STAT_INC(ctl->stats.xfr_refused);
		*out_len = reply_error(ctl, r, LV_RCODE_NOTAUTH);
		return NULL;
	}
	if (!allowed(ctl, z, r->family, r->peer, key)) {
		lv_info("%s of %s from %s%s%s refused (not in the ACL)",
			kind(r), z->origin_text, r->who,
			key ? " with key " : "", key ? key : "");
		LV_STAT_INC(ctl->stats.xfr_refused);
		*out_len = reply_error(ctl, r, LV_RCODE_REFUSED);
		return NULL;
	}
	return z;
}

struct lv_xfr *lv_xfr_start(struct lv_control *ctl, const uint8_t *dns,
			    uint16_t len, int family, const uint8_t *peer,
			    uint8_t *out, uint16_t *out_len)
{
	static uint8_t copy[LV_XFR_MSG_MAX]; /* event loop only */
	struct request r = {.dns = copy,
			    .len = len,
			    .family = family,
			    .peer = peer,
			    .out = out};
	const struct lv_zone *z;
	struct extras ex = {0};
	struct lv_xfr *x;

	*out_len = 0;
	memcpy(copy, dns, len);
	inet_ntop(family, peer, r.who, sizeof(r.who));
	if (!check_tsig(ctl, &r, out_len))
		return NULL;
	if (r.parsed != LV_PARSE_OK && r.parsed != LV_PARSE_PUNT) {
		*out_len = reply_error(ctl, &r,
				       r.parsed == LV_PARSE_BADVERS
					   ? LV_RCODE_BADVERS
					   : LV_RCODE_FORMERR);
		return NULL;
	}
	if ((r.parsed == LV_PARSE_PUNT && !read_extras(r.dns, r.len, &ex)) ||
	    (r.q.qtype == LV_TYPE_IXFR && !ex.has_serial)) {
		/* RFC 1995 §3: an IXFR carries the client's SOA */
		*out_len = reply_error(ctl, &r, LV_RCODE_FORMERR);
		return NULL;
	}
	if ((z = check_zone(ctl, &r, out_len)) == NULL)
		return NULL;
	x = new_xfr(r.dns, &r.q, z, family, peer);
	if (x != NULL && ctl->conf != NULL)
		x->conf = lv_conf_get(ctl->conf);
	if (x == NULL ||
	    !(x->ixfr ? ixfr_segments(ctl, x, ex.serial) : axfr_segments(x))) {
		if (x)
			x->finished = true; /* nothing was started */
		lv_xfr_free(ctl, x);
		*out_len = reply_error(ctl, &r, LV_RCODE_SERVFAIL);
		return NULL;
	}
	x->signed_ = r.signed_;
	x->tsig = r.tsig;
	if (x->ixfr) {
		lv_info("IXFR of %s from serial %u to %u for %s started",
			z->origin_text, ex.serial, z->serial, x->peer);
	} else {
		LV_STAT_INC(ctl->stats.xfr_axfr);
		lv_info("AXFR of %s serial %u to %s%s%s started",
			z->origin_text, z->serial, x->peer,
			x->signed_ ? " with key " : "",
			x->signed_ ? lv_tsig_key_name(x->tsig.key) : "");
	}
	return x;
}

void lv_xfr_free(struct lv_control *ctl, struct lv_xfr *x)
{
	if (x == NULL)
		return;
	if (!x->finished) {
		LV_STAT_INC(ctl->stats.xfr_aborted);
		log_end(x, "aborted (the connection closed)");
	}
	lv_zone_free(x->zone);
	lv_conf_put(x->conf);
	free(x->seg);
	free(x);
}
