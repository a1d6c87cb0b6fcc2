/*
 * The control plane's event loop: descriptors, timers and pollers, each
 * registered by the subsystem that owns it, dispatched to the callback it
 * gave.
 *
 * Control plane only: every function here runs on the event loop's thread
 * (the main lcore). The loop knows no subsystem: TCP, NOTIFY, host-local
 * sockets, signals, the reload hand-over and the miss rings all register
 * the same way, and adding one touches no other.
 *
 * Three kinds of source:
 * - a descriptor (struct lv_ev_io): epoll with data.ptr naming the
 *   registration, so a ready descriptor goes straight to its callback;
 * - a timer (struct lv_ev_timer): one binary min-heap of deadlines for the
 *   whole loop; the earliest one sets how long the loop may wait;
 * - a poller (struct lv_ev_poller): work that has no descriptor to wait on
 *   (DPDK rings filled by worker lcores, which make no syscalls). Each
 *   round calls every poller; while any reports work the loop does not
 *   sleep, otherwise it waits at most LV_EV_POLL_IDLE_NS, which bounds how
 *   long a miss can wait for the control plane.
 *
 * Every struct is owned by its subsystem (usually embedded in its own
 * state) and must stay valid while registered. A callback may register,
 * change or remove any source, its own included: removing a descriptor
 * also cancels the events of it still waiting in the current round.
 */
#ifndef LEVEE_EVLOOP_H
#define LEVEE_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

/* The longest a round waits while pollers are registered: 0.2 ms, the most
 * a miss waits for the control plane when it is idle. */
#define LV_EV_POLL_IDLE_NS 200000

struct lv_evloop;
struct lv_ev_io;
struct lv_ev_timer;
struct lv_ev_poller;

/* events: EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLERR, EPOLLHUP as reported */
typedef void (*lv_ev_io_cb)(struct lv_ev_io *io, uint32_t events);
typedef void (*lv_ev_timer_cb)(struct lv_ev_timer *t);
/* returns how much work it did (0: none) */
typedef unsigned (*lv_ev_poll_cb)(struct lv_ev_poller *p);

struct lv_ev_io {
	int fd;
	uint32_t events; /* what is registered now */
	lv_ev_io_cb cb;
	void *data; /* the owner's */
	struct lv_evloop *loop;
};

struct lv_ev_timer {
	uint64_t deadline_ns; /* CLOCK_MONOTONIC */
	unsigned heap_idx;    /* position + 1 in the heap; 0: not armed */
	lv_ev_timer_cb cb;
	void *data;
};

struct lv_ev_poller {
	lv_ev_poll_cb cb;
	void *data;
	struct lv_ev_poller *next;
};

/* A new loop; NULL when out of memory or descriptors (errno says). */
struct lv_evloop *lv_evloop_new(void);
/* Free the loop. Sources still registered are forgotten, not called;
 * their descriptors are the owners' to close. NULL is a no-op. */
void lv_evloop_free(struct lv_evloop *l);

/* Watch fd for events (EPOLLIN, EPOLLOUT, EPOLLRDHUP); cb gets io.
 * 0, or -errno. */
int lv_ev_io_add(struct lv_evloop *l, struct lv_ev_io *io, int fd,
		 uint32_t events, lv_ev_io_cb cb, void *data);
/* Change what io waits for (no syscall when unchanged). 0, or -errno. */
int lv_ev_io_modify(struct lv_ev_io *io, uint32_t events);
/* Stop watching io (before its fd is closed). Safe when not added. */
void lv_ev_io_del(struct lv_ev_io *io);

/* Prepare a timer (not armed). */
void lv_ev_timer_init(struct lv_ev_timer *t, lv_ev_timer_cb cb, void *data);
/* Arm t to fire after ms milliseconds, moving it if armed. 0, or -ENOMEM. */
int lv_ev_timer_start(struct lv_evloop *l, struct lv_ev_timer *t, uint64_t ms);
/* Arm t to fire at deadline_ns (CLOCK_MONOTONIC). 0, or -ENOMEM. */
int lv_ev_timer_at(struct lv_evloop *l, struct lv_ev_timer *t,
		   uint64_t deadline_ns);
/* Disarm t. Safe when not armed. */
void lv_ev_timer_stop(struct lv_evloop *l, struct lv_ev_timer *t);
static inline bool lv_ev_timer_armed(const struct lv_ev_timer *t)
{
	return t->heap_idx != 0;
}

/* Call cb every round (see above). p stays registered until the loop is
 * freed or lv_ev_poller_remove. */
void lv_ev_poller_add(struct lv_evloop *l, struct lv_ev_poller *p,
		      lv_ev_poll_cb cb, void *data);
void lv_ev_poller_remove(struct lv_evloop *l, struct lv_ev_poller *p);

/* One round: call the pollers, wait for descriptors (not at all when a
 * poller did work or a timer is due; else until the next deadline, at
 * most LV_EV_POLL_IDLE_NS while pollers exist), dispatch what is ready,
 * run the timers that are due. Returns the work done (pollers' sum plus
 * events and timers handled). */
unsigned lv_evloop_run_once(struct lv_evloop *l);

/* Run rounds until lv_evloop_stop(). */
void lv_evloop_run(struct lv_evloop *l);
/* Make lv_evloop_run() return after the current round. */
void lv_evloop_stop(struct lv_evloop *l);
bool lv_evloop_stopped(const struct lv_evloop *l);

/* CLOCK_MONOTONIC in nanoseconds and milliseconds. Any thread. */
uint64_t lv_ev_now_ns(void);
static inline uint64_t lv_ev_now_ms(void)
{
	return lv_ev_now_ns() / 1000000;
}

#endif
