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
#include "levee/config.h"
#include "levee/hostnet.h"
#include "levee/packet.h"
#include "levee/port.h"
#include "levee/stats.h"
#include "levee/worker.h"
#include "levee/zone.h"

#define LV_MAX_WORKERS 127

struct lv_reload;       /* control/reload.c */
struct lv_tsig_keyring; /* control/tsig.c */
struct lv_notify;       /* control/notify.c */

struct lv_control {
	struct lv_config *cfg;
	struct lv_port_plan plan;
	struct lv_port port;
	struct rte_mempool *pool;
	struct lv_cache *cache;
	struct lv_zoneset *zones;     /* read by the event loop only */
	struct lv_tsig_keyring *keys; /* TSIG keys; NULL: none configured */
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
	/* host-local queries: a UDP socket per service address
	 * (control/local.c), live ports only */
	int local_fds[LV_MAX_SERVICE_ADDRS];
	unsigned n_local;
	/* the TCP server (control/tcp.c), live ports only */
	struct lv_tcp *tcp;
	/* NOTIFY to secondaries after reloads (control/notify.c) */
	struct lv_notify *notify;
	/* replay mode: the input's frame count ends the run */
	bool replay;
	uint64_t replay_frames;
	/* event loop */
	int epfd;
	int sigfd;
	int reload_efd;
	struct lv_reload *reload;
	bool quit;
	bool eal_up;
};

/* Milliseconds of CLOCK_MONOTONIC, for the event loop's timers (TCP idle
 * time, transfer durations, NOTIFY retries). Control plane only. */
static inline uint64_t lv_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run levee with a parsed configuration; returns the process exit code.
 * argv0 is the program name handed to EAL. (control/control.c) */
int lv_control_run(struct lv_config *cfg, const char *argv0);

/* Print the summed counters and the cache's, on stdout. */
void lv_control_print_stats(const struct lv_control *ctl);

/* Block the control plane's signals in the calling thread; call first
 * thing in main, before any thread exists. (control/loop.c) */
void lv_control_block_signals(void);

/* Signals and the reload eventfd; the loop; their teardown.
 * (control/loop.c) */
int lv_control_events_init(struct lv_control *ctl);
void lv_control_events_fini(struct lv_control *ctl);
/* Run until SIGINT/SIGTERM, or until a replay is complete; returns the
 * exit code. */
int lv_control_loop(struct lv_control *ctl);

/* Answer every miss and punt waiting in worker w's ring, as far as its
 * reply rings have room. Returns how many were handled. (control/miss.c) */
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
 * thread; queued (once) while a reload is parsing or being published.
 * (control/reload.c) */
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
