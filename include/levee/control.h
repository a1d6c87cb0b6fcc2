/*
 * The control plane: start-up, the event loop on the main lcore, the miss
 * handler, zone reloads, stats and shutdown.
 *
 * Everything here runs on the main lcore's thread except the zone-reload
 * parser (a DPDK control thread, control/reload.c), which builds new zones
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
#include "levee/stats.h"
#include "levee/worker.h"
#include "levee/zone.h"

#define LV_MAX_WORKERS 127
/* queries that may wait at once (control/request.c); the forwarder's
 * configuration will set it */
#define LV_REQUESTS_MAX 4096

struct lv_reload;       /* control/reload.c */
struct lv_tsig_keyring; /* control/tsig.c */
struct lv_notify;       /* control/notify.c */
struct lv_local;        /* control/local.c */
struct lv_miss;         /* control/miss.c */
struct lv_requests;     /* control/request.c */

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
	/* queries waiting to be answered, and their reply buffers */
	struct lv_requests *requests;
	struct lv_cache *cache;
	struct lv_zoneset *zones;     /* read by the event loop only */
	struct lv_tsig_keyring *keys; /* conf's TSIG keys; NULL: none */
	uint64_t hash_seed;
	struct lv_addr_filter filter;
	unsigned n_workers;
	struct lv_worker *workers[LV_MAX_WORKERS];
	/* answers written and drops made by the control plane itself */
	struct lv_stats stats;
	/* the exception path (live ports): the TAP and the host changes made
	 * for it, undone at exit (control/exception.c) */
	bool tap_up;
	uint16_t tap_port;
	char tap_name[16];
	struct lv_hostnet host;
	struct lv_ev_poller tap_poller; /* the TAP's frames, both ways */
	/* host-local queries: a UDP socket per service address
	 * (control/local.c), live ports only */
	struct lv_local *local;
	/* the workers' miss rings (control/miss.c) */
	struct lv_miss *miss;
	/* the TCP server (control/tcp.c), live ports only */
	struct lv_tcp *tcp;
	/* NOTIFY to secondaries after reloads (control/notify.c) */
	struct lv_notify *notify;
	/* replay mode: the input's frame count ends the run */
	bool replay;
	uint64_t replay_frames;
	struct lv_replay replay_progress;
	struct lv_ev_poller replay_poller;
	/* the event loop (control/evloop.c) and the sources of loop.c */
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
 * the program name handed to EAL. (control/control.c) */
int lv_control_run(struct lv_config *cfg, const char *argv0);

/* Make conf the current snapshot (ctl takes the caller's reference) and
 * drop ctl's reference to the previous one. Event loop only. */
void lv_control_set_conf(struct lv_control *ctl, struct lv_conf *conf);

/* Print the summed counters and the cache's, on stdout. */
void lv_control_print_stats(const struct lv_control *ctl);

/* Block the control plane's signals in the calling thread; call first
 * thing in main, before any thread exists. (control/loop.c) */
void lv_control_block_signals(void);

/* Signals, the cache's reclaim timer, and every subsystem's sources
 * registered with ctl->loop; their teardown. (control/loop.c) */
int lv_control_events_init(struct lv_control *ctl);
void lv_control_events_fini(struct lv_control *ctl);
/* Run until SIGINT/SIGTERM, or until a replay is complete; returns the
 * exit code. */
int lv_control_loop(struct lv_control *ctl);

/* Register a poller per worker that answers every miss and punt waiting
 * in its ring, as far as its reply rings have room; and remove them.
 * (control/miss.c) */
int lv_miss_open(struct lv_control *ctl);
void lv_miss_close(struct lv_control *ctl);
/* Drain worker w's miss ring once; returns how many were handled. */
unsigned lv_miss_drain(struct lv_control *ctl, struct lv_worker *w);

/* Answer the DNS message dns[0..len) in place, as the control plane does
 * for a miss: from the cache, else from the zones (publishing the answer);
 * errors as the fast path would answer them. room is the buffer's size.
 * Returns the response length, or 0 for a message that gets no answer.
 * tcp: no UDP size limit, and edns-tcp-keepalive in the OPT (RFC 7828).
 * Used for misses and for queries on the kernel sockets. (control/miss.c) */
uint16_t lv_control_answer(struct lv_control *ctl, uint8_t *dns, uint16_t len,
			   uint16_t room, bool tcp);

/* SIGHUP: start re-reading the config and changed zones in a control
 * thread (no-op if one is running). (control/reload.c) */
void lv_reload_start(struct lv_control *ctl);
/* The reload thread signalled reload_efd: publish its result. */
void lv_reload_finish(struct lv_control *ctl);
int lv_reload_init(struct lv_control *ctl);
void lv_reload_fini(struct lv_control *ctl);

/* Sum the workers' and the control plane's counters into out. */
void lv_control_sum_stats(const struct lv_control *ctl, struct lv_stats *out);

#endif
