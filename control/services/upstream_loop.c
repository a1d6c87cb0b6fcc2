/*
 * Upstream loops: the looping state of each upstream, its loop probes and
 * their schedule. See include/levee/upstream.h ("Loops"), include/levee/
 * loop.h (the marker and the probe name) and docs/forwarding.md
 * "Forwarding loops". Control plane only, on the event loop's thread.
 *
 * A loop probe is a query for our probe name under the suffix of a rule
 * that forwards to the upstream, with our marker. It tells one of three
 * things:
 *  - it came back to us as a query (the forwarder sees our probe name or
 *    our hop, lv_upstream_loop_found, while it is out), or its answer is
 *    the loop signal (SERVFAIL echoing a marker with our hop in it; that
 *    is also how an upstream that holds *us* looping answers, refusing to
 *    forward): the upstream loops;
 *  - it got any other answer: no loop through it now;
 *  - no answer (timeout, refused): nothing is known; asked again sooner.
 * Loop probes are not health samples: one that went round a loop of two
 * forwarders may be slow or lost for reasons that say nothing of the
 * upstream itself.
 */
#include <stdlib.h>
#include <string.h>

#include "levee/log.h"
#include "levee/upstream.h"

/* A hint probes an upstream at most this often. */
#define HINT_MS 1000
/* The first probe of an upstream new in the rules waits this long, and a
 * random part of as much again: soon after start-up (the listening
 * sockets are up by then) without every upstream probed in one burst. */
#define FIRST_PROBE_MS 100u
/* Periodic probes wait the interval less up to a tenth of it, at random,
 * so that two instances started together drift apart. */
#define JITTER_DIV 10

static const char *const how_text[] = {
    [LV_LOOP_BY_MARKER] = "a query came back to us with our loop marker",
    [LV_LOOP_BY_PROBE] = "our loop probe name came back to us as a query",
    [LV_LOOP_BY_SIGNAL] = "an answer said our query looped (the loop "
			  "signal)"};

static void loop_probe_send(struct lv_upstream *up);

static void on_loop_timer(struct lv_ev_timer *t)
{
	loop_probe_send(t->data);
}

/* Never called: finish() hands the loop probe's end to
 * lv_upstream_loop_probe_done(); set so that the query is complete. */
static void on_loop_probe(struct lv_upstream_query *uq, int status,
			  const uint8_t *msg, uint16_t len)
{
	(void)uq;
	(void)status;
	(void)msg;
	(void)len;
}

void lv_upstream_loop_init(struct lv_upstream *up)
{
	lv_ev_timer_init(&up->loop_timer, on_loop_timer, up);
	up->loop_probe.done = on_loop_probe;
	up->loop_probe.data = up;
	up->loop_probe.fd = -1;
}

void lv_upstream_loop_fini(struct lv_upstream *up)
{
	lv_upstream_cancel(&up->loop_probe);
	lv_ev_timer_stop(lv_upstreams_loop(up->set), &up->loop_timer);
}

static void arm(struct lv_upstream *up, uint32_t ms)
{
	if (lv_ev_timer_start(lv_upstreams_loop(up->set), &up->loop_timer,
			      ms) != 0)
		lv_err("upstream %s: out of memory arming its loop probe",
		       up->name);
}

/* The next loop probe of up, unless one is out (its end arms it). A
 * looping upstream, or one whose probe got no answer, is asked again after
 * loop_delay_ms, doubling from probe-interval-ms up to the smaller of
 * probe-max-interval-ms and the loop probe interval: a loop that is gone
 * is noticed within that. One not looping waits the interval (none: 0). */
static void schedule(struct lv_upstream *up, bool backoff)
{
	const struct lv_forward_limits *lim = lv_upstreams_limits(up->set);
	uint32_t cap = lim->probe_max_ms;

	lv_ev_timer_stop(lv_upstreams_loop(up->set), &up->loop_timer);
	if (!lim->loop_detect || !up->loop_in_rules || up->loop_probe.active)
		return;
	if (lim->loop_probe_ms != 0 && lim->loop_probe_ms < cap)
		cap = lim->loop_probe_ms;
	if (backoff || up->looping) {
		up->loop_delay_ms = up->loop_delay_ms == 0 ? lim->probe_ms
				    : up->loop_delay_ms > cap / 2
					? cap
					: up->loop_delay_ms * 2;
		if (up->loop_delay_ms > cap)
			up->loop_delay_ms = cap;
		arm(up, up->loop_delay_ms);
		return;
	}
	up->loop_delay_ms = 0;
	if (lim->loop_probe_ms != 0)
		arm(up, lim->loop_probe_ms -
			    arc4random_uniform(lim->loop_probe_ms / JITTER_DIV +
					       1));
}

/* Header (RD; the ID is set when sent), our probe name, type A, and an
 * OPT with our marker naming up. Even with loop-marker off: the probe's
 * name tells the same id, and the marker is what lets the other end of a
 * loop that already holds us looping say so (it refuses the probe with
 * the marker echoed; a bare SERVFAIL would read as "no loop"). */
static uint16_t loop_probe_build(struct lv_upstream *up)
{
	uint8_t *m = up->loop_msg, *p;
	unsigned n = lv_loop_probe_name(up->loop_qname, up->loop_suffix,
					up->loop_suffix_len, up->number);
	uint16_t ours, len;

	memset(m, 0, LV_DNS_HDR_LEN);
	lv_wire_put16(m + 2, LV_FLAG_RD);
	lv_wire_put16(m + 4, 1);
	lv_wire_put16(m + 10, 1);
	p = m + LV_DNS_HDR_LEN;
	memcpy(p, up->loop_qname, n);
	p += n;
	lv_wire_put16(p, LV_TYPE_A);
	lv_wire_put16(p + 2, LV_CLASS_IN);
	p += 4;
	p[0] = 0;
	lv_wire_put16(p + 1, LV_TYPE_OPT);
	lv_wire_put16(p + 3, 1232);
	memset(p + 5, 0, 6);
	len = lv_loop_option_put(p + LV_DNS_OPT_RR_LEN, NULL, &ours);
	lv_loop_mark_target(p + LV_DNS_OPT_RR_LEN, ours, up->number);
	lv_wire_put16(p + 9, len);
	p += len;
	up->loop_probe.qname = up->loop_qname;
	up->loop_probe.qname_len = (uint8_t)n;
	up->loop_probe.qtype = LV_TYPE_A;
	up->loop_probe.qclass = LV_CLASS_IN;
	return (uint16_t)(p + LV_DNS_OPT_RR_LEN - m);
}

static void loop_probe_send(struct lv_upstream *up)
{
	const struct lv_forward_limits *lim = lv_upstreams_limits(up->set);
	uint16_t len;

	if (!lim->loop_detect || !up->loop_in_rules || up->loop_probe.active)
		return;
	len = loop_probe_build(up);
	if (lv_upstream_send(up, &up->loop_probe, up->loop_msg, len, false,
			     lim->attempt_timeout_ms, lim->tcp_idle_ms) != 0) {
		schedule(up, true); /* not sent: says nothing, try again */
		return;
	}
	up->st.loop_probes++;
}

bool lv_upstream_loop_is_probe(const struct lv_upstream *up,
			       const uint8_t *lname, unsigned len)
{
	return up->loop_probe.qname_len == len && len != 0 &&
	       memcmp(up->loop_qname, lname, len) == 0;
}

static void mark_looping(struct lv_upstream *up, const char *why)
{
	const struct lv_forward_limits *lim = lv_upstreams_limits(up->set);

	up->looping = true;
	up->st.loops++;
	up->loop_delay_ms = 0;
	lv_warn("upstream %s LOOPS: %s; it forwards our queries back to us, so "
		"no client query goes there (its rule answers SERVFAIL if it "
		"has no other upstream) until a loop probe (from every %u ms, "
		"backing off) is answered without coming back",
		up->name, why, lim->probe_ms);
	schedule(up, true);
	lv_upstreams_loop_notify(up);
}

static void mark_not_looping(struct lv_upstream *up, const char *why)
{
	up->looping = false;
	up->loop_delay_ms = 0;
	lv_warn("upstream %s no longer loops: %s; back in rotation", up->name,
		why);
}

void lv_upstream_loop_found(struct lv_upstream *up, enum lv_loop_how how)
{
	/* an old marker may name an upstream no rule forwards to now */
	if (!lv_upstreams_limits(up->set)->loop_detect || !up->loop_in_rules)
		return;
	up->loop_seen_ns = lv_ev_now_ns();
	if (!up->looping)
		mark_looping(up, how_text[how]);
}

void lv_upstream_loop_hint(struct lv_upstream *up)
{
	const struct lv_forward_limits *lim = lv_upstreams_limits(up->set);
	uint64_t now = lv_ev_now_ns();

	if (!lim->loop_detect || up->looping || !up->loop_in_rules ||
	    up->loop_probe.active ||
	    (up->loop_hint_ns != 0 &&
	     now - up->loop_hint_ns < HINT_MS * 1000000ull))
		return;
	up->loop_hint_ns = now;
	lv_ev_timer_stop(lv_upstreams_loop(up->set), &up->loop_timer);
	loop_probe_send(up);
}

/* Does the answer msg[0..len) to up's loop probe carry the loop signal:
 * SERVFAIL with a marker whose hop of ours names up (the probe's)? */
static bool signals_loop(const struct lv_upstream *up, const uint8_t *msg,
			 uint16_t len)
{
	struct lv_loop_mark mark;
	uint16_t n;

	return (lv_wire_get16(msg + 2) & 0xf) == LV_RCODE_SERVFAIL &&
	       lv_loop_mark_scan(msg, len, &mark) == LV_LOOP_FOUND &&
	       lv_loop_mark_ours(&mark, &n) >= 0 && n == up->number;
}

void lv_upstream_loop_probe_done(struct lv_upstream *up, int status,
				 const uint8_t *msg, uint16_t len)
{
	bool came_back = up->loop_seen_ns >= up->loop_probe.sent_ns;
	bool was_looping = up->looping;

	if (status == 0 && !came_back && !signals_loop(up, msg, len)) {
		if (up->looping)
			mark_not_looping(up, "a loop probe was answered "
					     "without coming back to us");
		schedule(up, false);
		return;
	}
	/* no answer says nothing (a loop that eats its queries is found by
	 * them coming back); else a loop: found now (mark_looping has then
	 * scheduled the re-probe, with its first wait), or again */
	if (came_back || status == 0)
		lv_upstream_loop_found(up, came_back ? LV_LOOP_BY_PROBE
						     : LV_LOOP_BY_SIGNAL);
	if (was_looping || !up->looping)
		schedule(up, true);
}

void lv_upstreams_loop_begin(struct lv_upstreams *set)
{
	for (struct lv_upstream *up = lv_upstreams_first(set); up != NULL;
	     up = up->next)
		up->loop_in_rules = false;
}

/* The probe goes under the longest name of the rules that forward to up:
 * the most specific one is the likeliest to be forwarded back by a peer
 * that forwards only some names (the root rule's is under invalid.). */
void lv_upstream_loop_rule(struct lv_upstream *up, const uint8_t *lname,
			   unsigned len)
{
	if (!up->loop_in_rules || len > up->loop_suffix_len) {
		memcpy(up->loop_suffix, lname, len);
		up->loop_suffix_len = (uint8_t)len;
	}
	up->loop_in_rules = true;
}

void lv_upstreams_loop_end(struct lv_upstreams *set)
{
	const struct lv_forward_limits *lim = lv_upstreams_limits(set);

	for (struct lv_upstream *up = lv_upstreams_first(set); up != NULL;
	     up = up->next) {
		bool probing =
		    up->loop_probe.active || lv_ev_timer_armed(&up->loop_timer);

		if (!up->loop_in_rules || !lim->loop_detect) {
			/* nothing goes there (or nothing is checked): its
			 * state would only be stale when it comes back */
			lv_upstream_loop_fini(up);
			if (up->looping)
				mark_not_looping(
				    up, !lim->loop_detect
					    ? "loop detection is off"
					    : "no rule forwards to it now");
			continue;
		}
		if (!probing && (lim->loop_probe_ms != 0 || up->looping))
			arm(up, up->looping
				    ? lim->probe_ms
				    : FIRST_PROBE_MS + arc4random_uniform(
							   FIRST_PROBE_MS + 1));
	}
}
