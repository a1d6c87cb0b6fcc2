/*
 * Upstream resolvers: the exchanges the forwarder has with them, over UDP
 * and TCP, and their counters.
 *
 * Owns one struct lv_upstream per distinct address and port ever
 * configured (kept across reloads, so counters survive a SIGHUP and a
 * query in flight never outlives its upstream), the UDP sockets of
 * exchanges in flight and the TCP connections to each upstream.
 *
 * UDP: every query gets its own socket, bound to a random source port and
 * connected to the upstream, and a random ID: the kernel delivers only
 * datagrams from the upstream's address and port, and an answer is taken
 * only when its ID and question (name compared without case, type, class)
 * are the query's; anything else is dropped and counted (mismatched), so a
 * spoofer must guess a 16-bit ID and a 16-bit port at once. An ICMP
 * unreachable ends the exchange at once (refused), not at its timeout.
 *
 * TCP: connections are persistent and shared by all queries to the
 * upstream, queries pipelined with IDs unique on their connection and
 * answers matched out of order (RFC 7766 §6.2.1.1). Every write is
 * complete (partial writes are buffered and finished on EPOLLOUT). A
 * connection idle for its idle time is closed. A reset or close with
 * queries outstanding resends each of them once on a fresh connection;
 * a second failure ends the exchange (reset), so the caller can try
 * another upstream: no query is lost to a silently dropped connection.
 *
 * Health (control/services/upstream_health.c, docs/forwarding.md
 * "Upstream health and selection"): every exchange's end updates its
 * upstream's smoothed answer time (srtt_us), tries in flight and failures
 * in a row. When fail_threshold tries in a row failed, a probe (the
 * configured question, ". SOA" by default) is sent: an answer of any
 * rcode keeps the upstream up (so one dead name never takes it down);
 * none marks it down, logged in one line, and it is probed again with
 * backoff (probe-interval-ms doubling up to probe-max-interval-ms) until
 * it answers, when it is up again (one line). The forwarder sends no
 * client query to a down upstream.
 *
 * Loops (control/services/upstream_loop.c, docs/forwarding.md
 * "Forwarding loops"): an upstream found to forward our queries back to
 * us (by the forwarder: the marker or a probe name in a query that
 * arrived, the loop signal in an answer; or by its loop probe) is marked
 * looping, logged in one line and counted, and is out of rotation like a
 * down one. Every upstream the rules name gets a loop probe soon after it
 * appears in them and every loop-probe-interval-ms; a looping one is
 * probed with the health probes' backoff (probe-interval-ms doubling, up
 * to the smaller of probe-max-interval-ms and loop-probe-interval-ms)
 * until a probe is answered without coming back, when it is back in
 * rotation (one line).
 *
 * Control plane only, on the event loop's thread. Counters are plain
 * fields read by the same thread when stats are printed.
 */
#ifndef LEVEE_UPSTREAM_H
#define LEVEE_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "levee/config.h"
#include "levee/evloop.h"
#include "levee/loop.h"
#include "levee/wire.h"

/* Queries one TCP connection carries at once before another is opened,
 * and connections per upstream. */
#define LV_UPSTREAM_TCP_PIPELINE 256
#define LV_UPSTREAM_TCP_CONNS    4

struct lv_upstream_stats {
	uint64_t queries_udp;
	uint64_t queries_tcp;
	uint64_t answers[16]; /* by header rcode */
	uint64_t timeouts;
	uint64_t truncated;   /* UDP answers with TC=1 */
	uint64_t refused;     /* ICMP unreachable, or the connection refused */
	uint64_t send_errors; /* the socket would not take the query */
	uint64_t mismatched;  /* answers dropped: wrong ID or question */
	uint64_t tcp_opened;
	uint64_t tcp_reset;  /* closed or reset with queries outstanding */
	uint64_t tcp_resent; /* queries resent on a fresh connection */
	/* TCP tries refused: every connection had its pipeline full */
	uint64_t tcp_busy;
	uint64_t latency_us_sum; /* of answers taken */
	uint64_t latency_count;
	uint64_t probes;        /* health probes sent */
	uint64_t probes_failed; /* of them, unanswered */
	uint64_t downs;         /* times it was taken out of rotation */
	uint64_t prefetches;    /* refresh queries (prefetch) sent to it */
	/* clients answered stale when it was the last one tried */
	uint64_t stale_answers;
	uint64_t loops;       /* times it was found looping */
	uint64_t loop_probes; /* loop probes sent */
};

/* How a loop through an upstream was found, for the log line. */
enum lv_loop_how {
	LV_LOOP_BY_MARKER, /* a query came back with our hop in its marker */
	LV_LOOP_BY_PROBE,  /* our probe name came back as a query */
	LV_LOOP_BY_SIGNAL  /* an answer echoed a marker with our hop */
};

struct lv_upstreams;
struct lv_upstream;
struct lv_upstream_tcp;
struct lv_upstream_query;

/* The exchange ended: status 0 with the answer msg[0..len) (valid during
 * the call only), or -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EIO. The
 * query is idle again when this is called, and may be sent anew from it. */
typedef void (*lv_upstream_done_fn)(struct lv_upstream_query *uq, int status,
				    const uint8_t *msg, uint16_t len);

/*
 * One exchange, owned (embedded) by the caller. The caller sets qname
 * (lowercased wire form), qname_len, qtype, qclass, done and data before
 * lv_upstream_send(); the rest is the module's.
 */
struct lv_upstream_query {
	const uint8_t *qname;
	uint8_t qname_len;
	uint16_t qtype, qclass;
	lv_upstream_done_fn done;
	void *data;
	/* the module's */
	struct lv_upstream *up;
	bool active;
	bool tcp;
	bool resent; /* already resent once on a fresh TCP connection */
	uint16_t id;
	uint16_t msg_len;
	uint8_t *msg; /* the caller's query; ID written here */
	uint64_t sent_ns;
	int fd; /* UDP */
	struct lv_ev_io io;
	struct lv_ev_timer timer;
	struct lv_upstream_tcp *conn; /* TCP */
	struct lv_upstream_query *conn_prev, *conn_next;
};

struct lv_upstream {
	struct lv_upstreams *set;
	struct sockaddr_storage sa;
	socklen_t sa_len;
	char name[64]; /* "ADDR@PORT" for logs and counters */
	struct lv_upstream_stats st;
	struct lv_upstream_tcp *conns;
	unsigned n_conns;
	uint32_t tcp_idle_ms; /* from the snapshot of the latest send */
	/* health (upstream_health.c) */
	bool down;          /* out of rotation, being probed */
	unsigned fails;     /* tries failed in a row */
	unsigned in_flight; /* exchanges outstanding, probes included */
	uint32_t srtt_us;   /* smoothed answer time; 0: none yet */
	uint32_t probe_delay_ms;
	struct lv_ev_timer probe_timer;
	struct lv_upstream_query probe; /* .active while a probe is out */
	uint8_t probe_qname[256];
	uint8_t probe_msg[LV_DNS_HDR_LEN + 256 + 4];
	/* its number in the set (0, 1, ... in creation order, kept across
	 * reloads): what loop markers and probe names call it */
	uint16_t number;
	/* loops (upstream_loop.c) */
	bool looping;           /* forwards our queries back: out of rotation */
	bool loop_in_rules;     /* a current rule names it: it is loop-probed */
	uint64_t loop_seen_ns;  /* a loop through it was last seen */
	uint64_t loop_hint_ns;  /* a hint last sent it a loop probe */
	uint32_t loop_delay_ms; /* the next loop probe's wait, backing off */
	struct lv_ev_timer loop_timer;
	struct lv_upstream_query loop_probe; /* .active while one is out */
	uint8_t loop_suffix[256];            /* the probe name's suffix */
	uint8_t loop_suffix_len;
	uint8_t loop_qname[256];
	uint8_t loop_msg[LV_DNS_HDR_LEN + 256 + 4 + LV_DNS_OPT_RR_LEN +
			 LV_LOOP_OPTION_MAX];
	struct lv_upstream *next;
};

/* A set on loop. NULL when out of memory. */
struct lv_upstreams *lv_upstreams_new(struct lv_evloop *loop);
/* End every exchange (done is not called) and free the set. */
void lv_upstreams_free(struct lv_upstreams *set);

/* The upstream for addr and port, created on first use. NULL: no memory. */
struct lv_upstream *lv_upstream_get(struct lv_upstreams *set,
				    const struct lv_addr *addr, uint16_t port);

/* Upstreams in the order they were created (for counters). */
struct lv_upstream *lv_upstreams_first(struct lv_upstreams *set);

/*
 * Send the query msg[0..len) (a whole DNS message; its ID is chosen here)
 * to up over UDP or TCP, and wait at most timeout_ms for the answer; a
 * TCP connection opened for it idles tcp_idle_ms. msg must stay valid and
 * unchanged until done is called or the exchange is cancelled. 0, or a
 * negative errno when it could not be sent at all (done is not called).
 */
int lv_upstream_send(struct lv_upstream *up, struct lv_upstream_query *uq,
		     uint8_t *msg, uint16_t len, bool tcp, uint32_t timeout_ms,
		     uint32_t tcp_idle_ms);

/* End the exchange without calling done (safe when idle). */
void lv_upstream_cancel(struct lv_upstream_query *uq);

/* The health settings (fail_threshold, probe_ms, probe_max_ms, the probe
 * question, attempt_timeout_ms for the probe's wait) from the snapshot
 * now current; called when it changes. */
void lv_upstreams_configure(struct lv_upstreams *set,
			    const struct lv_forward_limits *lim);

/* May client queries go to up (it is neither down nor looping)? What
 * the stats print as upstream[ADDR@PORT].up. */
static inline bool lv_upstream_is_up(const struct lv_upstream *up)
{
	return !up->down && !up->looping;
}

/* The upstream numbered n (struct lv_upstream.number), or NULL. */
struct lv_upstream *lv_upstream_by_number(struct lv_upstreams *set, uint16_t n);

/* A loop through up was found (how): mark it looping (the first time: one
 * line, loops counted, the forwarder told through the callback, its loop
 * probes backing off), and note when. A no-op while loop detection is off. */
void lv_upstream_loop_found(struct lv_upstream *up, enum lv_loop_how how);

/* Is lname (lowercased wire form, a query's name) the probe name of the
 * loop probe last sent to up, nonce and all? Only that one proves a loop:
 * a name shaped like ours but not sent (an old probe, or forged by
 * someone who learnt our id) does not. */
bool lv_upstream_loop_is_probe(const struct lv_upstream *up,
			       const uint8_t *lname, unsigned len);

/* A query from up's address arrived for a name a rule forwards to it
 * without a marker: probe it for a loop now, unless it was in the last
 * second (or is looping, or a loop probe is out). */
void lv_upstream_loop_hint(struct lv_upstream *up);

/* The rules changed (or the settings): lv_upstreams_loop_begin, then
 * lv_upstream_loop_rule for each upstream of each rule with the rule's
 * name (lowercased wire form), then lv_upstreams_loop_end, which probes
 * upstreams new in the rules soon and forgets the loop state of those no
 * rule names any more (nothing goes there). */
void lv_upstreams_loop_begin(struct lv_upstreams *set);
void lv_upstream_loop_rule(struct lv_upstream *up, const uint8_t *lname,
			   unsigned len);
void lv_upstreams_loop_end(struct lv_upstreams *set);

/* Who is told when an upstream starts looping (the forwarder, to move the
 * lookups waiting on it on at once). */
void lv_upstreams_on_loop(struct lv_upstreams *set,
			  void (*fn)(void *data, struct lv_upstream *up),
			  void *data);

/* --- internal to upstream.c and upstream_health.c --- */
void lv_upstream_health_init(struct lv_upstream *up);
void lv_upstream_health_fini(struct lv_upstream *up);
/* An exchange of up ended (status as done gets it), sent at sent_ns. */
void lv_upstream_health_note(struct lv_upstream *up, int status,
			     uint64_t sent_ns);
/* The probe's exchange ended. */
void lv_upstream_probe_done(struct lv_upstream *up, int status);
void lv_upstream_loop_init(struct lv_upstream *up);
void lv_upstream_loop_fini(struct lv_upstream *up);
/* The loop probe's exchange ended (msg[0..len) the answer, status 0). */
void lv_upstream_loop_probe_done(struct lv_upstream *up, int status,
				 const uint8_t *msg, uint16_t len);
/* Tell the forwarder that up started looping. */
void lv_upstreams_loop_notify(struct lv_upstream *up);
const struct lv_forward_limits *lv_upstreams_limits(struct lv_upstreams *set);
struct lv_evloop *lv_upstreams_loop(struct lv_upstreams *set);

#endif
