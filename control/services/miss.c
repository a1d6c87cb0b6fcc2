/*
 * The miss handler: where a query the cache could not answer finishes its
 * walk. The worker handed the whole mbuf over; the control plane re-reads it
 * with the same classifier and parser, answers from the zones, publishes
 * the answer in the cache (only the control plane writes it), writes the
 * response over the query with the dataplane's own writer and gives the
 * mbuf back to the worker's reply ring for transmission.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "levee/answer.h"
#include "levee/hash.h"
#include "levee/control.h"
#include "levee/log.h"
#include "levee/loop.h"
#include "levee/request.h"
#include "levee/response.h"
#include "levee/tsig.h"

#define MISS_BURST 64

/* A poller per worker: the rings have no descriptor to wait on (workers
 * make no syscalls), so the event loop calls these each round. */
struct miss_source {
	struct lv_ev_poller poller;
	struct lv_control *ctl;
	struct lv_worker *w;
};

struct lv_miss {
	unsigned n;
	struct miss_source src[];
};

static void count_answer(struct lv_control *ctl, unsigned rcode, bool tc)
{
	LV_STAT_INC(ctl->stats.rcode[rcode < LV_RCODE_MAX ? rcode : 0]);
	if (tc)
		LV_STAT_INC(ctl->stats.truncated);
}

/* Answer from a published or fresh entry. */
static uint16_t write_entry(struct lv_control *ctl, uint8_t *dns, uint16_t room,
			    const struct lv_query *q,
			    const struct lv_cache_entry *e)
{
	uint32_t age = e->origin == LV_ORIGIN_UPSTREAM
			   ? lv_cache_entry_age(e, lv_cache_now(ctl->cache))
			   : 0;
	bool tc;
	uint16_t len = lv_response_from_entry_aged(dns, room, q, e,
						   ctl->cfg->udp_max, age, &tc);
	if (len)
		count_answer(ctl, e->rcode, tc);
	return len;
}

static uint16_t write_error(struct lv_control *ctl, uint8_t *dns, uint16_t room,
			    const struct lv_query *q, unsigned rcode)
{
	uint16_t len =
	    lv_response_error(dns, room, q, rcode, ctl->cfg->udp_max);

	if (len)
		count_answer(ctl, rcode, false);
	return len;
}

/* Park q, which a deferring subsystem wants, as a request from where it
 * came, and hand it over: 0, no answer now. When the table is full
 * (counted there as refused) a datagram is dropped, since its client
 * retries; a TCP client, which would wait for nothing, gets SERVFAIL. */
static uint16_t defer(struct lv_control *ctl, uint8_t *dns, uint16_t room,
		      const struct lv_query *q, struct lv_origin *from)
{
	struct lv_request *r = NULL;

	switch (from->transport) {
	case LV_REQ_PORT:
		r = lv_request_park_frame(ctl->requests, from->w, from->m,
					  from->pi, q);
		break;
	case LV_REQ_SOCKET:
		r = lv_request_park_socket(ctl->requests, from->fd, from->peer,
					   from->peer_len, dns, q);
		break;
	case LV_REQ_STREAM:
		r = lv_request_park_stream(ctl->requests, from->deliver,
					   from->sink, dns, q);
		break;
	}
	from->parked = r;
	if (r != NULL) {
		/* the forwarder judges loops by the query's marker before it
		 * coalesces (docs/forwarding.md "Forwarding loops"); the
		 * request keeps only header and question, so the marker is
		 * read here, once per deferred miss, never on a worker */
		if (ctl->cfg->fwd.loop_detect && from->msg != NULL)
			r->loop_scan = (uint8_t)lv_loop_mark_scan(
			    from->msg, from->msg_len, &r->loop);
		ctl->deferrer->take(ctl->deferrer->data, r);
		return 0;
	}
	from->refused = true;
	return from->transport == LV_REQ_STREAM
		   ? write_error(ctl, dns, room, q, LV_RCODE_SERVFAIL)
		   : 0;
}

/* A cacheable query: the cache may have been filled since the worker
 * missed (several misses for one name in flight); else a deferring
 * subsystem may take it (from != NULL: it may wait), else build and
 * insert. */
static uint16_t answer_query(struct lv_control *ctl, uint8_t *dns,
			     uint16_t room, const struct lv_query *q,
			     struct lv_origin *from)
{
	const struct lv_query *qs[1] = {q};
	const struct lv_cache_entry *hit[1];
	struct lv_answer_result res;
	uint16_t len;

	lv_cache_lookup_bulk(ctl->cache, qs, 1, hit);
	if (hit[0] != NULL)
		return write_entry(ctl, dns, room, q, hit[0]);
	if (from != NULL && ctl->deferrer != NULL && ctl->requests != NULL &&
	    ctl->deferrer->wants(ctl->deferrer->data, q))
		return defer(ctl, dns, room, q, from);
	if (lv_answer_build(ctl->zones, q, q->do_bit, ctl->hash_seed, &res) !=
	    0)
		return write_error(ctl, dns, room, q, LV_RCODE_SERVFAIL);
	if (res.entry == NULL)
		return write_error(ctl, dns, room, q, res.rcode);
	/* written before publication: once inserted, the entry is the
	 * cache's, though only this thread could free it */
	len = write_entry(ctl, dns, room, q, res.entry);
	if (!res.cacheable || lv_cache_insert(ctl->cache, res.entry) != 0)
		lv_cache_entry_free(res.entry);
	return len;
}

/* RFC 6891 §6.1.1: a second OPT is FORMERR. ldns takes each OPT out of
 * the additional section it reports, so the difference counts them. */
static bool more_than_one_opt(const uint8_t *dns, const ldns_pkt *pkt)
{
	return lv_wire_get16(dns + 10) - ldns_pkt_arcount(pkt) > 1;
}

/* Answer a query whose TSIG verified (or failed: NOTAUTH), and sign the
 * answer (RFC 8945 §5.3); 0 when the signed answer does not fit. */
static uint16_t sign_answer(struct lv_tsig_state *st, uint8_t *dns,
			    uint16_t len, uint16_t room)
{
	return len ? (uint16_t)lv_tsig_sign(st, dns, len, room,
					    (uint64_t)time(NULL))
		   : 0;
}

/*
 * A query the fast path would not judge: it carries records beyond one OPT.
 * A TSIG is checked first (RFC 8945 §5.2) with the configured keys: a bad
 * one is NOTAUTH with the TSIG error, a good one gets a signed answer.
 * Then ldns reads the whole message; what it cannot parse, or a second
 * OPT, is FORMERR. Records in the answer, authority or additional sections
 * of a query are otherwise ignored and the question answered as usual, as
 * Knot does.
 */
static uint16_t answer_punt(struct lv_control *ctl, uint8_t *dns, uint16_t len,
			    uint16_t room, struct lv_query *q, bool *signed_)
{
	struct lv_tsig_state st;
	size_t ulen;
	enum lv_tsig_verdict v = lv_tsig_verify(
	    ctl->keys, dns, len, (uint64_t)time(NULL), &st, &ulen);
	ldns_pkt *pkt = NULL;
	uint16_t out;

	*signed_ = v == LV_TSIG_NOTAUTH || v == LV_TSIG_VERIFIED;
	if (v == LV_TSIG_FORMERR)
		return write_error(ctl, dns, room, q, LV_RCODE_FORMERR);
	if (v == LV_TSIG_NOTAUTH)
		return sign_answer(
		    &st, dns, write_error(ctl, dns, room, q, LV_RCODE_NOTAUTH),
		    room);
	len = (uint16_t)ulen;
	if (ldns_wire2pkt(&pkt, dns, len) != LDNS_STATUS_OK ||
	    more_than_one_opt(dns, pkt)) {
		ldns_pkt_free(pkt);
		out = write_error(ctl, dns, room, q, LV_RCODE_FORMERR);
		return v == LV_TSIG_VERIFIED ? sign_answer(&st, dns, out, room)
					     : out;
	}
	q->has_edns = ldns_pkt_edns(pkt);
	q->edns_udp_size = ldns_pkt_edns_udp_size(pkt);
	q->edns_version = ldns_pkt_edns_version(pkt);
	q->do_bit = ldns_pkt_edns_do(pkt);
	q->hash =
	    lv_cache_key_hash(ctl->hash_seed, q->lname, q->qname_len, q->qtype,
			      q->qclass, lv_key_bits(q->do_bit, q->cd));
	if (q->has_edns && q->edns_version > 0)
		out = write_error(ctl, dns, room, q, LV_RCODE_BADVERS);
	else
		out = answer_query(ctl, dns, room, q, NULL);
	ldns_pkt_free(pkt);
	return v == LV_TSIG_VERIFIED ? sign_answer(&st, dns, out, room) : out;
}

/* Answer dns; *opt_last: the answer (if any) ends with our own OPT, as
 * the writers put one last for a query with EDNS, unless a TSIG follows
 * it. */
static uint16_t dispatch(struct lv_control *ctl, uint8_t *dns, uint16_t len,
			 uint16_t room, bool tcp, struct lv_origin *from,
			 bool *opt_last)
{
	struct lv_query q;
	bool signed_ = false;
	uint16_t out;

	*opt_last = false;
	switch (lv_query_parse(dns, len, ctl->hash_seed, &q)) {
	case LV_PARSE_OK:
		q.tcp = tcp;
		*opt_last = q.has_edns;
		return answer_query(ctl, dns, room, &q, from);
	case LV_PARSE_PUNT:
		q.tcp = tcp;
		out = answer_punt(ctl, dns, len, room, &q, &signed_);
		*opt_last = q.has_edns && !signed_;
		return out;
	case LV_PARSE_FORMERR:
		*opt_last = q.has_edns;
		return write_error(ctl, dns, room, &q, LV_RCODE_FORMERR);
	case LV_PARSE_NOTIMP:
		*opt_last = q.has_edns;
		return write_error(ctl, dns, room, &q, LV_RCODE_NOTIMP);
	case LV_PARSE_BADVERS:
		*opt_last = true; /* an extended rcode is always in an OPT */
		return write_error(ctl, dns, room, &q, LV_RCODE_BADVERS);
	default:
		return 0; /* a response or a runt: never answered */
	}
}

/*
 * RFC 7828: over TCP, an answer to a query with an OPT may carry
 * edns-tcp-keepalive, the idle timeout in units of 100 ms. Added when the
 * response ends with our own, option-less OPT (opt_last: the writer put
 * it there; not after a TSIG). The bytes are checked again, but they
 * alone do not tell: the end of a question or of a TSIG's MAC can read
 * as an option-less OPT (fuzz_control_answer found a FORMERR answer
 * without OPT whose question the option overwrote).
 */
static uint16_t add_tcp_keepalive(uint8_t *dns, uint16_t len, uint16_t room,
				  uint32_t idle_ms, bool opt_last)
{
	uint8_t *opt = dns + len - LV_DNS_OPT_RR_LEN;
	uint32_t units = idle_ms / 100;

	if (!opt_last || len < LV_DNS_HDR_LEN + LV_DNS_OPT_RR_LEN ||
	    lv_wire_get16(dns + 10) == 0 || len + 6u > room || opt[0] != 0 ||
	    lv_wire_get16(opt + 1) != LV_TYPE_OPT ||
	    lv_wire_get16(opt + 9) != 0)
		return len;
	lv_wire_put16(opt + 9, 6);
	lv_wire_put16(dns + len, LV_EDNS_TCP_KEEPALIVE);
	lv_wire_put16(dns + len + 2, 2);
	lv_wire_put16(dns + len + 4,
		      (uint16_t)(units > 0xffff ? 0xffff : units));
	return (uint16_t)(len + 6);
}

uint16_t lv_control_answer_from(struct lv_control *ctl, uint8_t *dns,
				uint16_t len, uint16_t room, bool tcp,
				struct lv_origin *from)
{
	uint16_t out;
	bool opt_last;

	if (from != NULL) {
		from->parked = NULL;
		from->refused = false;
		from->msg = dns;
		from->msg_len = len;
	}
	out = dispatch(ctl, dns, len, room, tcp, from, &opt_last);
	if (out && tcp)
		out = add_tcp_keepalive(
		    dns, out, room, ctl->cfg->tcp_idle_timeout_ms, opt_last);
	return out;
}

uint16_t lv_control_answer(struct lv_control *ctl, uint8_t *dns, uint16_t len,
			   uint16_t room, bool tcp)
{
	return lv_control_answer_from(ctl, dns, len, room, tcp, NULL);
}

/* Write r's answer with write(ctl, dns, room, &r->q, arg) and send it. */
static void
answer_request_with(struct lv_control *ctl, struct lv_request *r,
		    uint16_t (*write)(struct lv_control *, uint8_t *, uint16_t,
				      const struct lv_query *, const void *),
		    const void *arg)
{
	uint16_t room, len;
	uint8_t *dns = lv_request_answer_begin(ctl->requests, r, &room);

	if (dns == NULL)
		return; /* no reply buffer: dropped and counted */
	len = write(ctl, dns, room, &r->q, arg);
	if (len && r->q.tcp)
		len = add_tcp_keepalive(dns, len, room,
					ctl->cfg->tcp_idle_timeout_ms,
					r->q.has_edns);
	lv_request_answer_end(ctl->requests, r, len);
}

static uint16_t write_entry_arg(struct lv_control *ctl, uint8_t *dns,
				uint16_t room, const struct lv_query *q,
				const void *e)
{
	return write_entry(ctl, dns, room, q, e);
}

static uint16_t write_rcode_arg(struct lv_control *ctl, uint8_t *dns,
				uint16_t room, const struct lv_query *q,
				const void *rcode)
{
	return write_error(ctl, dns, room, q, *(const unsigned *)rcode);
}

static uint16_t write_query_arg(struct lv_control *ctl, uint8_t *dns,
				uint16_t room, const struct lv_query *q,
				const void *unused)
{
	(void)unused;
	return answer_query(ctl, dns, room, q, NULL);
}

/* SERVFAIL with the loop marker echoed: the option appended to the OPT
 * the writer put last (checked as in add_tcp_keepalive; it then finds
 * an OPT with options and adds no keepalive, which a SERVFAIL can miss). */
static uint16_t write_loop_arg(struct lv_control *ctl, uint8_t *dns,
			       uint16_t room, const struct lv_query *q,
			       const void *mark)
{
	uint16_t len = write_error(ctl, dns, room, q, LV_RCODE_SERVFAIL);
	uint8_t option[LV_LOOP_OPTION_MAX];
	uint16_t n = lv_loop_option_echo(option, mark);
	uint8_t *opt;

	if (n == 0 || !q->has_edns || len < LV_DNS_HDR_LEN + LV_DNS_OPT_RR_LEN)
		return len;
	opt = dns + len - LV_DNS_OPT_RR_LEN;
	if (lv_wire_get16(dns + 10) == 0 || len + n > room || opt[0] != 0 ||
	    lv_wire_get16(opt + 1) != LV_TYPE_OPT ||
	    lv_wire_get16(opt + 9) != 0)
		return len;
	lv_wire_put16(opt + 9, n);
	memcpy(dns + len, option, n);
	return (uint16_t)(len + n);
}

void lv_control_answer_request_loop(struct lv_control *ctl,
				    struct lv_request *r,
				    const struct lv_loop_mark *m)
{
	answer_request_with(ctl, r, write_loop_arg, m);
}

void lv_control_answer_request(struct lv_control *ctl, struct lv_request *r)
{
	answer_request_with(ctl, r, write_query_arg, NULL);
}

void lv_control_answer_request_entry(struct lv_control *ctl,
				     struct lv_request *r,
				     const struct lv_cache_entry *e)
{
	answer_request_with(ctl, r, write_entry_arg, e);
}

void lv_control_answer_request_rcode(struct lv_control *ctl,
				     struct lv_request *r, unsigned rcode)
{
	answer_request_with(ctl, r, write_rcode_arg, &rcode);
}

static uint16_t answer_mbuf(struct lv_control *ctl, struct lv_worker *w,
			    struct rte_mbuf *m, struct lv_pkt_info *pi,
			    struct lv_origin *from)
{
	if (lv_pkt_classify(m, lv_worker_filter(w, m->port), pi) != LV_PKT_DNS)
		return 0;
	uint8_t *dns = rte_pktmbuf_mtod_offset(m, uint8_t *, pi->dns_off);
	*from = (struct lv_origin){
	    .transport = LV_REQ_PORT, .w = w, .m = m, .pi = pi};
	return lv_control_answer_from(ctl, dns, pi->dns_len,
				      lv_pkt_dns_room(m, pi), false, from);
}

static unsigned reply_room(struct lv_worker *w)
{
	unsigned room = MISS_BURST;

	for (unsigned i = 0; i < w->n_queues; i++)
		if (w->queues[i].replies)
			room = RTE_MIN(
			    room, rte_ring_free_count(w->queues[i].replies));
	return room;
}

unsigned lv_miss_drain(struct lv_control *ctl, struct lv_worker *w)
{
	struct rte_mbuf *m[MISS_BURST];
	unsigned n = rte_ring_dequeue_burst(w->to_control, (void **)m,
					    reply_room(w), NULL);

	for (unsigned i = 0; i < n; i++) {
		struct lv_pkt_info pi;
		struct lv_origin from = {.parked = NULL};
		uint16_t len = answer_mbuf(ctl, w, m[i], &pi, &from);
		struct rte_ring *r = lv_worker_reply_ring(w, m[i]->port);

		if (from.parked != NULL || from.refused) {
			/* the request holds what its answer needs; or the
			 * table was full (counted as requests_refused) */
			rte_pktmbuf_free(m[i]);
			continue;
		}
		if (len == 0 || r == NULL) {
			LV_STAT_INC(ctl->stats.drop[LV_DROP_CONTROL_ERROR]);
			rte_pktmbuf_free(m[i]);
			continue;
		}
		lv_pkt_finish_reply(m[i], &pi, len, &w->tx_offload);
		/* room was reserved above, so this cannot fail */
		if (rte_ring_enqueue(r, m[i]) != 0) {
			LV_STAT_INC(ctl->stats.drop[LV_DROP_CONTROL_ERROR]);
			rte_pktmbuf_free(m[i]);
		}
	}
	if (n)
		lv_worker_control_done(w, n);
	return n;
}

/* The worker's refresh requests (prefetch), each to the deferrer, which
 * fetches the key in the background. */
static unsigned drain_prefetch(struct lv_control *ctl, struct lv_worker *w)
{
	struct lv_query q[8];
	unsigned n = rte_ring_sc_dequeue_burst_elem(w->prefetch, q,
						    sizeof(q[0]), 8, NULL);

	for (unsigned i = 0; i < n; i++)
		if (ctl->deferrer != NULL && ctl->deferrer->refresh != NULL)
			ctl->deferrer->refresh(ctl->deferrer->data, &q[i]);
	return n;
}

static unsigned poll_worker(struct lv_ev_poller *p)
{
	struct miss_source *s = p->data;
	unsigned n = lv_miss_drain(s->ctl, s->w);

	if (s->w->prefetch != NULL)
		n += drain_prefetch(s->ctl, s->w);
	return n;
}

int lv_miss_open(struct lv_control *ctl)
{
	struct lv_miss *m =
	    calloc(1, sizeof(*m) + ctl->n_workers * sizeof(m->src[0]));

	if (m == NULL)
		return -1;
	ctl->miss = m;
	for (unsigned i = 0; i < ctl->n_workers; i++) {
		struct miss_source *s = &m->src[m->n++];
		s->ctl = ctl;
		s->w = ctl->workers[i];
		lv_ev_poller_add(ctl->loop, &s->poller, poll_worker, s);
	}
	return 0;
}

void lv_miss_close(struct lv_control *ctl)
{
	struct lv_miss *m = ctl->miss;

	if (m == NULL)
		return;
	for (unsigned i = 0; i < m->n; i++)
		lv_ev_poller_remove(ctl->loop, &m->src[i].poller);
	free(m);
	ctl->miss = NULL;
}
