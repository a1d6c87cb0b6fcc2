/*
 * The control plane's event loop; see include/levee/evloop.h.
 *
 * One epoll instance whose events carry the registration (data.ptr), one
 * binary min-heap of timer pointers ordered by deadline, and a list of
 * pollers. A round: pollers, then epoll_pwait2 with a timeout from the
 * heap's top (nanosecond resolution, so the 0.2 ms poll interval is kept
 * exactly), then the ready descriptors, then the due timers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "levee/evloop.h"

#define EV_BATCH 64 /* events taken per round */

struct lv_evloop {
	int epfd;
	bool stop;
	/* timers: heap[0] is the earliest */
	struct lv_ev_timer **heap;
	unsigned n_timers, heap_cap;
	struct lv_ev_poller *pollers;
	/* the round being dispatched, so that removing a descriptor can
	 * cancel its events still waiting in it */
	struct epoll_event ready[EV_BATCH];
	int n_ready, next_ready;
};

uint64_t lv_ev_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct lv_evloop *lv_evloop_new(void)
{
	struct lv_evloop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void lv_evloop_free(struct lv_evloop *l)
{
	if (l == NULL)
		return;
	for (unsigned i = 0; i < l->n_timers; i++)
		l->heap[i]->heap_idx = 0;
	free(l->heap);
	close(l->epfd);
	free(l);
}

/* --- descriptors --- */

int lv_ev_io_add(struct lv_evloop *l, struct lv_ev_io *io, int fd,
		 uint32_t events, lv_ev_io_cb cb, void *data)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	io->fd = fd;
	io->events = events;
	io->cb = cb;
	io->data = data;
	io->loop = l;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		io->loop = NULL;
		return -errno;
	}
	return 0;
}

int lv_ev_io_modify(struct lv_ev_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	if (io->loop == NULL)
		return -EINVAL;
	if (events == io->events)
		return 0;
	if (epoll_ctl(io->loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) != 0)
		return -errno;
	io->events = events;
	return 0;
}

void lv_ev_io_del(struct lv_ev_io *io)
{
	struct lv_evloop *l = io->loop;

	if (l == NULL)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	/* its owner may free io once this returns: events of it already
	 * taken in this round must not reach it */
	for (int i = l->next_ready; i < l->n_ready; i++)
		if (l->ready[i].data.ptr == io)
			l->ready[i].data.ptr = NULL;
	io->loop = NULL;
}

/* --- timers: a binary min-heap of deadlines --- */

static bool earlier(const struct lv_ev_timer *a, const struct lv_ev_timer *b)
{
	return a->deadline_ns < b->deadline_ns;
}

static void heap_set(struct lv_evloop *l, unsigned i, struct lv_ev_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i + 1;
}

static void sift_up(struct lv_evloop *l, unsigned i)
{
	struct lv_ev_timer *t = l->heap[i];

	while (i > 0 && earlier(t, l->heap[(i - 1) / 2])) {
		heap_set(l, i, l->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(l, i, t);
}

static void sift_down(struct lv_evloop *l, unsigned i)
{
	struct lv_ev_timer *t = l->heap[i];

	for (;;) {
		unsigned c = 2 * i + 1;
		if (c >= l->n_timers)
			break;
		if (c + 1 < l->n_timers && earlier(l->heap[c + 1], l->heap[c]))
			c++;
		if (!earlier(l->heap[c], t))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

void lv_ev_timer_init(struct lv_ev_timer *t, lv_ev_timer_cb cb, void *data)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->data = data;
}

void lv_ev_timer_stop(struct lv_evloop *l, struct lv_ev_timer *t)
{
	unsigned i;

	if (t->heap_idx == 0)
		return;
	i = t->heap_idx - 1;
	t->heap_idx = 0;
	if (i == --l->n_timers)
		return;
	/* the last timer takes t's place and moves whichever way it must */
	struct lv_ev_timer *m = l->heap[l->n_timers];
	heap_set(l, i, m);
	sift_up(l, i);
	sift_down(l, m->heap_idx - 1);
}

int lv_ev_timer_at(struct lv_evloop *l, struct lv_ev_timer *t,
		   uint64_t deadline_ns)
{
	lv_ev_timer_stop(l, t);
	if (l->n_timers == l->heap_cap) {
		unsigned cap = l->heap_cap ? 2 * l->heap_cap : 64;
		struct lv_ev_timer **h = realloc(l->heap, cap * sizeof(*h));
		if (h == NULL)
			return -ENOMEM;
		l->heap = h;
		l->heap_cap = cap;
	}
	t->deadline_ns = deadline_ns;
	heap_set(l, l->n_timers++, t);
	sift_up(l, l->n_timers - 1);
	return 0;
}

int lv_ev_timer_start(struct lv_evloop *l, struct lv_ev_timer *t, uint64_t ms)
{
	return lv_ev_timer_at(l, t, lv_ev_now_ns() + ms * 1000000u);
}

/* Fire the timers due by now, at most as many as were armed when the
 * round began: a callback that re-arms its timer for a time already past
 * runs again next round, so no timer can starve the descriptors. */
static unsigned run_timers(struct lv_evloop *l, uint64_t now)
{
	unsigned fired = 0, budget = l->n_timers;

	while (budget-- > 0 && l->n_timers > 0 &&
	       l->heap[0]->deadline_ns <= now) {
		struct lv_ev_timer *t = l->heap[0];
		lv_ev_timer_stop(l, t);
		t->cb(t);
		fired++;
	}
	return fired;
}

/* --- pollers --- */

void lv_ev_poller_add(struct lv_evloop *l, struct lv_ev_poller *p,
		      lv_ev_poll_cb cb, void *data)
{
	p->cb = cb;
	p->data = data;
	p->next = l->pollers;
	l->pollers = p;
}

void lv_ev_poller_remove(struct lv_evloop *l, struct lv_ev_poller *p)
{
	for (struct lv_ev_poller **pp = &l->pollers; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			p->next = NULL;
			return;
		}
	}
}

static unsigned run_pollers(struct lv_evloop *l)
{
	unsigned work = 0;
	struct lv_ev_poller *p = l->pollers, *next;

	for (; p != NULL; p = next) {
		next = p->next; /* p may remove itself */
		work += p->cb(p);
	}
	return work;
}

/* --- the round --- */

/* How long this round may wait, in ns; -1: until an event. */
static int64_t wait_ns(const struct lv_evloop *l, bool busy, uint64_t now)
{
	int64_t w = -1;

	if (busy)
		return 0;
	if (l->pollers != NULL)
		w = LV_EV_POLL_IDLE_NS;
	if (l->n_timers > 0) {
		uint64_t d = l->heap[0]->deadline_ns;
		int64_t until = d <= now ? 0 : (int64_t)(d - now);
		if (w < 0 || until < w)
			w = until;
	}
	return w;
}

unsigned lv_evloop_run_once(struct lv_evloop *l)
{
	unsigned work = run_pollers(l);
	int64_t w = wait_ns(l, work != 0, lv_ev_now_ns());
	struct timespec ts = {(time_t)(w / 1000000000), (long)(w % 1000000000)};
	int n =
	    epoll_pwait2(l->epfd, l->ready, EV_BATCH, w < 0 ? NULL : &ts, NULL);

	l->n_ready = n < 0 ? 0 : n;
	for (l->next_ready = 0; l->next_ready < l->n_ready;) {
		struct epoll_event *ev = &l->ready[l->next_ready++];
		struct lv_ev_io *io = ev->data.ptr;
		if (io != NULL) { /* NULL: removed earlier in this round */
			io->cb(io, ev->events);
			work++;
		}
	}
	l->n_ready = l->next_ready = 0;
	return work + run_timers(l, lv_ev_now_ns());
}

void lv_evloop_run(struct lv_evloop *l)
{
	while (!l->stop)
		lv_evloop_run_once(l);
}

void lv_evloop_stop(struct lv_evloop *l)
{
	l->stop = true;
}

bool lv_evloop_stopped(const struct lv_evloop *l)
{
	return l->stop;
}
