/*
 * The control plane: start-up, the event loop on the main lcore, the miss
 * handler, zone reloads, stats and shutdown.
 *
 * Everything here runs on the main lcore's thread except the zone-reload
 * parser (a DPDK control thread, control/services/reload.c), which builds new zones
 * off the event loop and hands them over through an eventfd. struct
 * lv_control is owned by the main thread; workers see only their own
 * struct lv_worker and the cache.
 */
#ifndef LEVEE_CONTROL_H
#define LEVEE_CONTROL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <rte_mempool.h>

#include "levee/cache.h"
#include "levee/conf.h"
#include "levee/config.h"
#include "levee/evloop.h"
#include "levee/hostnet.h"
#include "levee/packet.h"
#include "levee/port.h"
#include "levee/request.h"
#include "levee/stats.h"
#include "levee/worker.h"
#include "levee/zone.h"

#define LV_MAX_WORKERS 127

struct lv_reload;       /* control/services/reload.c */
struct lv_tsig_keyring; /* dns/tsig.c */
struct lv_notify;       /* control/services/notify.c */
struct lv_local;        /* control/services/local.c */
struct lv_miss;         /* control/services/miss.c */
struct lv_requests;     /* control/core/request.c */
struct lv_forward;      /* control/services/forward.c */

/*
 * A subsystem that answers some cache misses later (the forwarder): wants()
 * says whether it takes a query the cache missed (parsed, unsigned); if
 * so the query is parked as a request from where it came and take() gets
 * it, to answer (lv_request_answer_*) or drop (lv_request_drop) later.
 * Event loop only.
 */
struct lv_deferrer {
	bool (*wants)(void *data, const struct lv_query *q);
	void (*take)(void *data, struct lv_request *r);
	/* a worker answered q from an entry late in its TTL: refresh the
	 * key in the background, nobody waiting (NULL: no prefetch) */
	void (*refresh)(void *data, const struct lv_query *q);
	void *data;
};

/*
 * Where a query came from, for parking it: the frame (port), the kernel
 * socket and peer (socket) or the stream's delivery (TCP). parked is set
 * when the query was parked instead of answered.
 */
struct lv_origin {
	enum lv_request_transport transport;
	struct lv_worker *w;
	const struct rte_mbuf *m;
	const struct lv_pkt_info *pi;
	int fd;
	const struct sockaddr *peer;
	socklen_t peer_len;
	lv_request_deliver_fn deliver;
	void *sink;
	/* the whole query as received (set by lv_control_answer_from): the
	 * miss path reads the loop marker in its OPT when it parks it */
	const uint8_t *msg;
	uint16_t msg_len;
	struct lv_request *parked;
	bool refused; /* a deferrer wanted it but the table was full */
};

/* Replay mode's progress, for telling the end from a stall. */
struct lv_replay {
	uint64_t last_rx, last_tx;
	uint64_t last_change_tsc;
	bool busy; /* the last round did work */
};

struct lv_control {
	/* the configuration snapshot current now, and shortcuts into it
	 * (replaced together by lv_control_set_conf on a reload) */
	struct lv_conf *conf;
	struct lv_config *cfg;
	struct lv_port_plan plan;
	struct lv_port port;
	struct rte_mempool *pool;
	uint16_t pool_data_room; /* bytes per mbuf, for the reply pool too */
	/* queries waiting to be answered, and their reply buffers; the
	 * subsystem that makes them wait (NULL: none, all answered at once) */
	struct lv_requests *requests;
	const struct lv_deferrer *deferrer;
	struct lv_cache *cache;
	struct lv_zoneset *zones;     /* read by the event loop only */
	struct lv_tsig_keyring *keys; /* conf's TSIG keys; NULL: none */
	uint64_t hash_seed;
	struct lv_addr_filter filter;
	/* the synthetic frames of --listen sockets: no address filter
	 * (host/sockport.c; the kernel chose what reached the socket) */
	struct lv_addr_filter sock_filter;
	unsigned n_workers;
	struct lv_worker *workers[LV_MAX_WORKERS];
	/* answers written and drops made by the control plane itself */
	struct lv_stats stats;
	/* the exception path (live ports): the TAP and the host changes made
	 * for it, undone at exit (control/services/exception.c) */
	bool tap_up;
	uint16_t tap_port;
	char tap_name[16];
	struct lv_hostnet host;
	struct lv_ev_poller tap_poller; /* the TAP's frames, both ways */
	/* host-local queries: a UDP socket per service address
	 * (control/services/local.c), live ports only */
	struct lv_local *local;
	/* the workers' miss rings (control/services/miss.c) */
	struct lv_miss *miss;
	/* the TCP server (control/services/tcp.c), live ports only */
	struct lv_tcp *tcp;
	/* NOTIFY to secondaries after reloads (control/services/notify.c) */
	struct lv_notify *notify;
	/* forwarding to upstream resolvers (control/services/forward.c):
	 * the deferrer of misses that no local zone holds */
	struct lv_forward *forward;
	/* replay mode: the input's frame count ends the run */
	bool replay;
	uint64_t replay_frames;
	struct lv_replay replay_progress;
	struct lv_ev_poller replay_poller;
	/* the event loop (control/core/evloop.c) and the sources of loop.c */
	struct lv_evloop *loop;
	int sigfd;
	struct lv_ev_io sig_io;
	struct lv_ev_timer reclaim_timer;
	int exit_code;
	int reload_efd;
	struct lv_reload *reload;
	bool eal_up;
};

/* Milliseconds of CLOCK_MONOTONIC, for the event loop's timers (TCP idle
 * time, transfer durations, NOTIFY retries). Control plane only. */
static inline uint64_t lv_monotonic_ms(void)
{
	return lv_ev_now_ms();
}

/* Run levee with a parsed configuration, which is moved into the first
 * snapshot (cfg is left empty); returns the process exit code. argv0 is
 * the program name handed to EAL. (control/core/control.c) */
int lv_control_run(struct lv_config *cfg, const char *argv0);

/* Something built beside levee's own subsystems, opened once they all
 * are (before the workers start) and closed before they are: a test's
 * deferrer (tests/park). open returns 0, or -1 after logging why. */
struct lv_extension {
	int (*open)(struct lv_control *ctl);
	void (*close)(struct lv_control *ctl);
};
int lv_control_run_with(struct lv_config *cfg, const char *argv0,
			const struct lv_extension *ext);

/* The whole program: parse argv, then run (with ext, may be NULL).
 * Returns the exit code. (control/core/lv_main.c) */
int lv_main(int argc, char **argv, const struct lv_extension *ext);

/* Make conf the current snapshot (ctl takes the caller's reference) and
 * drop ctl's reference to the previous one. Event loop only. */
void lv_control_set_conf(struct lv_control *ctl, struct lv_conf *conf);

/* Print the summed counters and the cache's, on stdout. */
void lv_control_print_stats(const struct lv_control *ctl);

/* Block the control plane's signals in the calling thread; call first
 * thing in main, before any thread exists. (control/core/loop.c) */
void lv_control_block_signals(void);

/* Signals, the cache's reclaim timer, and every subsystem's sources
 * registered with ctl->loop; their teardown. (control/core/loop.c) */
int lv_control_events_init(struct lv_control *ctl);
void lv_control_events_fini(struct lv_control *ctl);
/* Run until SIGINT/SIGTERM, or until a replay is complete; returns the
 * exit code. */
int lv_control_loop(struct lv_control *ctl);

/* Register a poller per worker that answers every miss and punt waiting
 * in its ring, as far as its reply rings have room; and remove them.
 * (control/services/miss.c) */
int lv_miss_open(struct lv_control *ctl);
void lv_miss_close(struct lv_control *ctl);
/* Drain worker w's miss ring once; returns how many were handled. */
unsigned lv_miss_drain(struct lv_control *ctl, struct lv_worker *w);

/* Answer the DNS message dns[0..len) in place, as the control plane does
 * for a miss: from the cache, else from the zones (publishing the answer);
 * errors as the fast path would answer them. room is the buffer's size.
 * Returns the response length, or 0 for a message that gets no answer.
 * tcp: no UDP size limit, and edns-tcp-keepalive in the OPT (RFC 7828).
 * Used for misses and for queries on the kernel sockets. (control/services/miss.c) */
uint16_t lv_control_answer(struct lv_control *ctl, uint8_t *dns, uint16_t len,
			   uint16_t room, bool tcp);

/* The same for a query from `from`, which a deferrer may take: then 0 is
 * returned and from->parked is the request (the caller lets go of the
 * query's buffer; a stream keeps the request in its list). */
uint16_t lv_control_answer_from(struct lv_control *ctl, uint8_t *dns,
				uint16_t len, uint16_t room, bool tcp,
				struct lv_origin *from);

/* Answer parked request r from the cache or the zones now, as an
 * unparked query would have been, and free it. */
void lv_control_answer_request(struct lv_control *ctl, struct lv_request *r);

/* Answer parked request r from entry e (an upstream's answer, which the
 * caller may then publish or free), or with a bare rcode, and free r. */
void lv_control_answer_request_entry(struct lv_control *ctl,
				     struct lv_request *r,
				     const struct lv_cache_entry *e);
void lv_control_answer_request_rcode(struct lv_control *ctl,
				     struct lv_request *r, unsigned rcode);
/* Answer parked request r SERVFAIL with the loop marker m echoed in its
 * OPT (the loop signal, include/levee/loop.h), and free r. Without an
 * OPT in the answer (the query had none) it is a plain SERVFAIL. */
void lv_control_answer_request_loop(struct lv_control *ctl,
				    struct lv_request *r,
				    const struct lv_loop_mark *m);

/* SIGHUP: start re-reading the config and changed zones in a control
 * thread; queued (once) while a reload is parsing or being published.
 * (control/services/reload.c) */
void lv_reload_start(struct lv_control *ctl);
/* The reload thread signalled reload_efd: swap in the new zone set and
 * start purging the old entries (bounded, no walk of the cache). */
void lv_reload_finish(struct lv_control *ctl);
/* Advance a publication by one bounded step (unlink a batch of old
 * entries, or poll the grace period; at the end log, NOTIFY, free the old
 * zones). Once per event-loop round; true while work remains. */
bool lv_reload_step(struct lv_control *ctl);
int lv_reload_init(struct lv_control *ctl);
void lv_reload_fini(struct lv_control *ctl);

/* Sum the workers' and the control plane's counters into out. */
void lv_control_sum_stats(const struct lv_control *ctl, struct lv_stats *out);

#endif
