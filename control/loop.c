/*
 * The control plane's event loop (main lcore). Each round drains the
 * workers' miss rings, frees cache memory the workers have moved past, and
 * waits for signals or the reload eventfd: not at all when there was work,
 * up to LOOP_IDLE_NS when there was none. In replay mode it also decides
 * when the run is over: every frame of the capture received, and every one
 * of them answered or counted as dropped.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "levee/control.h"
#include "levee/exception.h"
#include "levee/local.h"
#include "levee/notify.h"
#include "levee/tcp.h"
#include "levee/log.h"

#define LOOP_IDLE_NS         200000 /* 0.2 ms: the most a miss waits for us */
#define REPLAY_STALL_SECONDS 30

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

int lv_control_events_init(struct lv_control *ctl)
{
	struct epoll_event ev = {.events = EPOLLIN};
	sigset_t set;

	control_signals(&set);
	ctl->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	ctl->reload_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ctl->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ctl->sigfd < 0 || ctl->reload_efd < 0 || ctl->epfd < 0) {
		lv_err("event loop set-up: %s", strerror(errno));
		return -1;
	}
	ev.data.fd = ctl->sigfd;
	epoll_ctl(ctl->epfd, EPOLL_CTL_ADD, ctl->sigfd, &ev);
	ev.data.fd = ctl->reload_efd;
	epoll_ctl(ctl->epfd, EPOLL_CTL_ADD, ctl->reload_efd, &ev);
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
	if (ctl->epfd >= 0)
		close(ctl->epfd);
	if (ctl->sigfd >= 0)
		close(ctl->sigfd);
	if (ctl->reload_efd >= 0)
		close(ctl->reload_efd);
	ctl->epfd = ctl->sigfd = ctl->reload_efd = -1;
}

static void handle_signal(struct lv_control *ctl)
{
	struct signalfd_siginfo si;

	while (read(ctl->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			lv_info("signal %u: stopping", si.ssi_signo);
			ctl->quit = true;
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

static void wait_events(struct lv_control *ctl, bool busy)
{
	struct epoll_event ev[64];
	struct timespec ts = {0, busy ? 0 : LOOP_IDLE_NS};
	int n = epoll_pwait2(ctl->epfd, ev, 64, &ts, NULL);

	for (int i = 0; i < n; i++) {
		if (ev[i].data.fd == ctl->sigfd) {
			handle_signal(ctl);
		} else if (ev[i].data.fd == ctl->reload_efd) {
			uint64_t v;
			if (read(ctl->reload_efd, &v, sizeof(v)) == sizeof(v))
				lv_reload_finish(ctl);
		} else if (!lv_local_serve(ctl, ev[i].data.fd) &&
			   !lv_notify_event(ctl, ev[i].data.fd)) {
			lv_tcp_event(ctl, ev[i].data.fd, ev[i].events);
		}
	}
}

/* Frames that were queries but got no response, by the counters. */
static uint64_t unanswered(const struct lv_stats *s)
{
	return s->drop[LV_DROP_NO_ROOM] + s->drop[LV_DROP_MISS_RING_FULL] +
	       s->drop[LV_DROP_TX_FULL] + s->drop[LV_DROP_CONTROL_ERROR];
}

struct replay_progress {
	uint64_t last_rx, last_tx;
	uint64_t last_change_tsc;
};

/*
 * Replay is over when every frame of the capture was received and each
 * was either answered or dropped with a counter. Returns -1 while it is
 * running, else the exit code. A run that makes no progress for
 * REPLAY_STALL_SECONDS (a frame the PMD lost for want of an mbuf) fails.
 */
static int replay_status(struct lv_control *ctl, struct replay_progress *p)
{
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

int lv_control_loop(struct lv_control *ctl)
{
	struct replay_progress progress = {.last_change_tsc =
					       rte_get_tsc_cycles()};
	int rc = 0;

	lv_info("serving with %u worker(s)", ctl->n_workers);
	while (!ctl->quit) {
		unsigned handled = 0;
		for (unsigned i = 0; i < ctl->n_workers; i++)
			handled += lv_miss_drain(ctl, ctl->workers[i]);
		handled += lv_exception_poll(ctl);
		handled += lv_reload_step(ctl);
		lv_cache_reclaim(ctl->cache);
		lv_tcp_sweep(ctl);
		lv_notify_tick(ctl);
		if (ctl->replay && handled == 0) {
			rc = replay_status(ctl, &progress);
			if (rc >= 0)
				break;
			rc = 0;
		}
		wait_events(ctl, handled != 0);
	}
	return rc;
}
