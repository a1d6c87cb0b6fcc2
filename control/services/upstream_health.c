/*
 * Upstream health: smoothed answer times, failures in a row, the probe
 * that decides whether an upstream is down, and the backoff of probes
 * while it is. See include/levee/upstream.h ("Health") and
 * docs/forwarding.md. Control plane only, on the event loop's thread.
 */
#include <errno.h>
#include <string.h>

#include "levee/log.h"
#include "levee/upstream.h"

static void probe_send(struct lv_upstream *up);

static void on_probe_timer(struct lv_ev_timer *t)
{
	probe_send(t->data);
}

/* The probe's done: never called, finish() hands a probe's end to
 * lv_upstream_probe_done() instead; set so that the query is complete. */
static void on_probe(struct lv_upstream_query *uq, int status,
		     const uint8_t *msg, uint16_t len)
{
	(void)uq;
	(void)status;
	(void)msg;
	(void)len;
}

void lv_upstream_health_init(struct lv_upstream *up)
{
	lv_ev_timer_init(&up->probe_timer, on_probe_timer, up);
	up->probe.done = on_probe;
	up->probe.data = up;
	up->probe.fd = -1;
}

void lv_upstream_health_fini(struct lv_upstream *up)
{
	lv_upstream_cancel(&up->probe);
	lv_ev_timer_stop(lv_upstreams_loop(up->set), &up->probe_timer);
}

/* RFC 6298's smoothing, 1/8 of each new sample: a few slow answers move
 * it, one does not. */
static void sample_rtt(struct lv_upstream *up, uint64_t sent_ns)
{
	uint64_t now = lv_ev_now_ns();
	uint32_t rtt = now > sent_ns ? (uint32_t)((now - sent_ns) / 1000) : 0;

	if (rtt == 0)
		rtt = 1; /* 0 means "none yet" */
	up->srtt_us =
	    up->srtt_us == 0 ? rtt : up->srtt_us - up->srtt_us / 8 + rtt / 8;
}

static void mark_up(struct lv_upstream *up, const char *why)
{
	up->down = false;
	up->fails = 0;
	up->probe_delay_ms = 0;
	lv_ev_timer_stop(lv_upstreams_loop(up->set), &up->probe_timer);
	lv_info("upstream %s is up again: %s", up->name, why);
}

void lv_upstream_health_note(struct lv_upstream *up, int status,
			     uint64_t sent_ns)
{
	const struct lv_forward_limits *lim = lv_upstreams_limits(up->set);

	if (status == 0) {
		sample_rtt(up, sent_ns);
		up->fails = 0;
		if (up->down) /* sent while every upstream was down */
			mark_up(up, "it answered a query");
		return;
	}
	/* a try that timed out took at least that long: an upstream that
	 * keeps timing out must not keep the time of its last answer, or
	 * weighted-latency would keep choosing it first */
	if (status == -ETIMEDOUT)
		sample_rtt(up, sent_ns);
	up->fails++;
	/* one name that never answers must not take the upstream down:
	 * the probe, a question any server answers, decides */
	if (!up->down && !up->probe.active && up->fails >= lim->fail_threshold)
		probe_send(up);
}

/* The probe's message: header (ID set when sent), RD, the question. */
static uint16_t probe_build(struct lv_upstream *up,
			    const struct lv_forward_limits *lim)
{
	uint8_t *m = up->probe_msg;

	memset(m, 0, LV_DNS_HDR_LEN);
	lv_wire_put16(m + 2, LV_FLAG_RD);
	lv_wire_put16(m + 4, 1);
	memcpy(up->probe_qname, lim->probe_qname, lim->probe_qname_len);
	memcpy(m + LV_DNS_HDR_LEN, lim->probe_qname, lim->probe_qname_len);
	lv_wire_put16(m + LV_DNS_HDR_LEN + lim->probe_qname_len,
		      lim->probe_qtype);
	lv_wire_put16(m + LV_DNS_HDR_LEN + lim->probe_qname_len + 2,
		      LV_CLASS_IN);
	up->probe.qname = up->probe_qname;
	up->probe.qname_len = lim->probe_qname_len;
	up->probe.qtype = lim->probe_qtype;
	up->probe.qclass = LV_CLASS_IN;
	return (uint16_t)(LV_DNS_HDR_LEN + lim->probe_qname_len + 4);
}

static void probe_send(struct lv_upstream *up)
{
	const struct lv_forward_limits *lim = lv_upstreams_limits(up->set);
	uint16_t len = probe_build(up, lim);

	up->st.probes++;
	if (lv_upstream_send(up, &up->probe, up->probe_msg, len, false,
			     lim->attempt_timeout_ms, lim->tcp_idle_ms) == 0)
		return;
	/* not sent (no socket, no memory): that says nothing of the
	 * upstream, so it is not marked down; try again later */
	if (lv_ev_timer_start(lv_upstreams_loop(up->set), &up->probe_timer,
			      lim->probe_ms) != 0)
		lv_err("upstream %s: out of memory arming its probe", up->name);
}

void lv_upstream_probe_done(struct lv_upstream *up, int status)
{
	const struct lv_forward_limits *lim = lv_upstreams_limits(up->set);

	if (status == 0) {
		/* any answer, whatever its rcode: the server is there */
		if (up->down)
			mark_up(up, "it answered the probe");
		else
			up->fails = 0;
		return;
	}
	up->st.probes_failed++;
	if (!up->down) {
		if (up->fails < lim->fail_threshold)
			return; /* an answer came meanwhile: still up */
		up->down = true;
		up->st.downs++;
		up->probe_delay_ms = lim->probe_ms;
		lv_warn(
		    "upstream %s is down: %u tries in a row failed and the "
		    "probe got no answer; no client query goes there until "
		    "a probe (every %u ms, backing off to %u ms) is answered",
		    up->name, up->fails, lim->probe_ms, lim->probe_max_ms);
	} else {
		up->probe_delay_ms = up->probe_delay_ms * 2 > lim->probe_max_ms
					 ? lim->probe_max_ms
					 : up->probe_delay_ms * 2;
	}
	if (lv_ev_timer_start(lv_upstreams_loop(up->set), &up->probe_timer,
			      up->probe_delay_ms) != 0)
		lv_err("upstream %s: out of memory arming its probe", up->name);
}
