/*
 * The control plane's events (main lcore): signals, the sources every
 * subsystem registers with the event loop (control/core/evloop.c), and, in
 * replay mode, the decision that the run is over: every frame of the
 * capture received, and every one of them answered or counted as dropped.
 *
 * The loop itself names no subsystem: each one registers its descriptors,
 * timers and pollers when it opens (lv_local_open, lv_tcp_open,
 * lv_notify_open, lv_reload_init, lv_miss_open, lv_exception_open) and
 * removes them when it closes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "levee/forward.h"
#include "levee/control.h"
#include "levee/local.h"
#include "levee/log.h"
#include "levee/notify.h"
#include "levee/tcp.h"

#define REPLAY_STALL_SECONDS 30
#define RECLAIM_EVERY_MS     1  /* cache memory the workers moved past */
#define EXPIRE_PER_TICK      64 /* expired entries unlinked per reclaim */

/* The signals the event loop reads from its signalfd. */
static void control_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

void lv_control_block_signals(void)
{
	sigset_t set;

	/* before EAL starts its threads, so that every thread inherits the
	 * mask: a signal that arrives during start-up then waits for the
	 * signalfd instead of killing the process (SIGUSR1, SIGHUP) */
	control_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void on_signal(struct lv_ev_io *io, uint32_t events)
{
	struct lv_control *ctl = io->data;
	struct signalfd_siginfo si;

	(void)events;
	while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			lv_info("signal %u: stopping", si.ssi_signo);
			lv_evloop_stop(ctl->loop);
			break;
		case SIGHUP:
			lv_reload_start(ctl);
			break;
		case SIGUSR1:
			lv_control_print_stats(ctl);
			break;
		}
	}
}

static void on_reclaim(struct lv_ev_timer *t)
{
	struct lv_control *ctl = t->data;

	lv_cache_reclaim(ctl->cache);
	/* expired upstream answers leave in small steps, never a long walk */
	lv_cache_expire_step(ctl->cache, EXPIRE_PER_TICK);
	lv_ev_timer_start(ctl->loop, t, RECLAIM_EVERY_MS);
}

/* Frames that were queries but got no response, by the counters. */
static uint64_t unanswered(const struct lv_stats *s)
{
	return s->drop[LV_DROP_NO_ROOM] + s->drop[LV_DROP_MISS_RING_FULL] +
	       s->drop[LV_DROP_TX_FULL] + s->drop[LV_DROP_CONTROL_ERROR];
}

/*
 * Replay is over when every frame of the capture was received and each
 * was either answered or dropped with a counter. Returns -1 while it is
 * running, else the exit code. A run that makes no progress for
 * REPLAY_STALL_SECONDS (a frame the PMD lost for want of an mbuf) fails.
 */
static int replay_status(struct lv_control *ctl)
{
	struct lv_replay *p = &ctl->replay_progress;
	struct lv_stats s;
	uint64_t drops = 0, now = rte_get_tsc_cycles();

	lv_control_sum_stats(ctl, &s);
	for (unsigned i = 0; i < LV_DROP_MAX; i++)
		drops += s.drop[i];
	if (s.rx == ctl->replay_frames && s.tx + drops == s.rx) {
		uint64_t lost = unanswered(&s);
		if (lost == 0)
			return 0;
		lv_err("replay: %llu queries got no response",
		       (unsigned long long)lost);
		return 1;
	}
	if (s.rx != p->last_rx || s.tx != p->last_tx) {
		p->last_rx = s.rx;
		p->last_tx = s.tx;
		p->last_change_tsc = now;
	} else if (now - p->last_change_tsc >
		   REPLAY_STALL_SECONDS * rte_get_tsc_hz()) {
		struct rte_eth_stats es;
		rte_eth_stats_get(ctl->port.port_id, &es);
		lv_err("replay stalled: %llu of %llu frames received, %llu "
		       "answered, %llu dropped, %llu lost by the driver "
		       "(rx_nombuf)",
		       (unsigned long long)s.rx,
		       (unsigned long long)ctl->replay_frames,
		       (unsigned long long)s.tx, (unsigned long long)drops,
		       (unsigned long long)es.rx_nombuf);
		return 1;
	}
	return -1;
}

/* Replay mode: check for the end once the other pollers had nothing to
 * do in the previous round (every poller runs each round; this one is
 * registered first, so it runs last). */
static unsigned poll_replay(struct lv_ev_poller *p)
{
	struct lv_control *ctl = p->data;
	int rc;

	if (ctl->replay_progress.busy) {
		ctl->replay_progress.busy = false;
		return 0;
	}
	rc = replay_status(ctl);
	if (rc >= 0) {
		ctl->exit_code = rc;
		lv_evloop_stop(ctl->loop);
	}
	return 0;
}

int lv_control_events_init(struct lv_control *ctl)
{
	sigset_t set;
	int rc;

	control_signals(&set);
	ctl->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (ctl->sigfd < 0) {
		lv_err("event loop set-up: signalfd: %s", strerror(errno));
		return -1;
	}
	rc = lv_ev_io_add(ctl->loop, &ctl->sig_io, ctl->sigfd, EPOLLIN,
			  on_signal, ctl);
	if (rc != 0) {
		lv_err("event loop set-up: %s", strerror(-rc));
		return -1;
	}
	lv_ev_timer_init(&ctl->reclaim_timer, on_reclaim, ctl);
	lv_ev_timer_start(ctl->loop, &ctl->reclaim_timer, RECLAIM_EVERY_MS);
	if (ctl->replay) {
		ctl->replay_progress.last_change_tsc = rte_get_tsc_cycles();
		lv_ev_poller_add(ctl->loop, &ctl->replay_poller, poll_replay,
				 ctl);
	}
	if (lv_miss_open(ctl) != 0 || lv_forward_open(ctl) != 0)
		return -1;
	if (!ctl->replay && (lv_local_open(ctl) != 0 || lv_tcp_open(ctl) != 0 ||
			     lv_notify_open(ctl) != 0))
		return -1;
	return lv_reload_init(ctl);
}

void lv_control_events_fini(struct lv_control *ctl)
{
	lv_reload_fini(ctl);
	lv_notify_close(ctl);
	lv_tcp_close(ctl);
	lv_local_close(ctl);
	lv_forward_close(ctl);
	lv_miss_close(ctl);
	if (ctl->loop)
		lv_ev_timer_stop(ctl->loop, &ctl->reclaim_timer);
	lv_ev_io_del(&ctl->sig_io);
	if (ctl->sigfd >= 0)
		close(ctl->sigfd);
	ctl->sigfd = -1;
}

int lv_control_loop(struct lv_control *ctl)
{
	lv_info("serving with %u worker(s)", ctl->n_workers);
	ctl->exit_code = 0;
	while (!lv_evloop_stopped(ctl->loop)) {
		/* replay: a round that did work is not the end */
		if (lv_evloop_run_once(ctl->loop) != 0)
			ctl->replay_progress.busy = true;
	}
	return ctl->exit_code;
}
