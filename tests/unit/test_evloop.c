/*
 * The control plane's event loop (control/evloop.c): descriptors reach the
 * callback they registered, timers fire in deadline order whatever order
 * they were armed in, a moved or stopped timer does not fire at its old
 * time, a callback may remove another descriptor whose event is waiting
 * in the same round, pollers run every round and keep the loop from
 * sleeping while they have work, and a loop with nothing to do sleeps
 * until its next timer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "levee/evloop.h"

struct fired {
	int order[64];
	unsigned n;
};

struct tagged_timer {
	struct lv_ev_timer t;
	int tag;
	struct fired *log;
};

static void on_tagged(struct lv_ev_timer *t)
{
	struct tagged_timer *tt = t->data;

	tt->log->order[tt->log->n++] = tt->tag;
}

static void run_until(struct lv_evloop *l, struct fired *f, unsigned want,
		      unsigned max_rounds)
{
	for (unsigned i = 0; i < max_rounds && f->n < want; i++)
		lv_evloop_run_once(l);
}

static void test_timers_fire_in_deadline_order(void **state)
{
	struct lv_evloop *l = lv_evloop_new();
	struct fired f = {0};
	struct tagged_timer t[32];
	/* armed in a scrambled order: deadlines 1..32 ms */
	unsigned perm[32];

	(void)state;
	assert_non_null(l);
	for (unsigned i = 0; i < 32; i++)
		perm[i] = (i * 13 + 5) % 32;
	uint64_t base = lv_ev_now_ns();
	for (unsigned i = 0; i < 32; i++) {
		struct tagged_timer *x = &t[perm[i]];
		x->tag = (int)perm[i];
		x->log = &f;
		lv_ev_timer_init(&x->t, on_tagged, x);
		assert_int_equal(
		    lv_ev_timer_at(l, &x->t, base + (perm[i] + 1) * 1000000u),
		    0);
	}
	/* stop one, move another to the end */
	lv_ev_timer_stop(l, &t[7].t);
	assert_false(lv_ev_timer_armed(&t[7].t));
	assert_int_equal(lv_ev_timer_at(l, &t[3].t, base + 40 * 1000000u), 0);
	run_until(l, &f, 31, 100000);
	assert_int_equal(f.n, 31);
	int expect = 0;
	for (unsigned i = 0; i < 30; i++) {
		if (expect == 3 || expect == 7)
			expect++;
		if (expect == 3 || expect == 7)
			expect++;
		assert_int_equal(f.order[i], expect);
		expect++;
	}
	assert_int_equal(f.order[30], 3);
	assert_true(lv_ev_now_ns() >= base + 40 * 1000000u);
	lv_evloop_free(l);
}

/* With nothing but a timer 30 ms away, one round sleeps until it. */
static void test_idle_round_sleeps_until_timer(void **state)
{
	struct lv_evloop *l = lv_evloop_new();
	struct fired f = {0};
	struct tagged_timer t = {.tag = 1, .log = &f};

	(void)state;
	lv_ev_timer_init(&t.t, on_tagged, &t);
	lv_ev_timer_start(l, &t.t, 30);
	uint64_t t0 = lv_ev_now_ns();
	lv_evloop_run_once(l);
	uint64_t slept = lv_ev_now_ns() - t0;
	assert_int_equal(f.n, 1);
	assert_true(slept >= 29 * 1000000u);
	lv_evloop_free(l);
}

struct pair {
	struct lv_ev_io a, b;
	int fd_a, fd_b;
	unsigned calls_a, calls_b;
};

/* a's callback removes b, whose event waits in the same round */
static void on_a(struct lv_ev_io *io, uint32_t events)
{
	struct pair *p = io->data;

	assert_true(events & EPOLLIN);
	p->calls_a++;
	lv_ev_io_del(&p->b);
	lv_ev_io_del(&p->a);
}

static void on_b(struct lv_ev_io *io, uint32_t events)
{
	struct pair *p = io->data;

	(void)events;
	p->calls_b++;
	lv_ev_io_del(&p->a);
	lv_ev_io_del(&p->b);
}

static void test_removed_descriptor_gets_no_event(void **state)
{
	struct lv_evloop *l = lv_evloop_new();
	struct pair p = {0};
	uint64_t one = 1;

	(void)state;
	p.fd_a = eventfd(0, EFD_NONBLOCK);
	p.fd_b = eventfd(0, EFD_NONBLOCK);
	assert_int_equal(lv_ev_io_add(l, &p.a, p.fd_a, EPOLLIN, on_a, &p), 0);
	assert_int_equal(lv_ev_io_add(l, &p.b, p.fd_b, EPOLLIN, on_b, &p), 0);
	assert_int_equal(write(p.fd_a, &one, 8), 8);
	assert_int_equal(write(p.fd_b, &one, 8), 8);
	/* both are ready in one round: whichever runs first removes the
	 * other, which must then not be called */
	lv_evloop_run_once(l);
	assert_int_equal(p.calls_a + p.calls_b, 1);
	/* nothing is registered now but a short timer: the removed
	 * descriptors stay silent although still readable */
	struct fired f = {0};
	struct tagged_timer t = {.tag = 1, .log = &f};
	lv_ev_timer_init(&t.t, on_tagged, &t);
	lv_ev_timer_start(l, &t.t, 5);
	lv_evloop_run_once(l);
	assert_int_equal(f.n, 1);
	assert_int_equal(p.calls_a + p.calls_b, 1);
	close(p.fd_a);
	close(p.fd_b);
	lv_evloop_free(l);
}

struct counter {
	struct lv_ev_poller p;
	unsigned rounds, work_left;
};

static unsigned poll_count(struct lv_ev_poller *p)
{
	struct counter *c = p->data;

	c->rounds++;
	if (c->work_left == 0)
		return 0;
	c->work_left--;
	return 1;
}

/* Every round calls the pollers; once they are idle, a round waits about
 * LV_EV_POLL_IDLE_NS (not until the far timer). */
static void test_pollers_bound_the_wait(void **state)
{
	struct lv_evloop *l = lv_evloop_new();
	struct counter c = {.work_left = 1000};
	struct fired f = {0};
	struct tagged_timer far = {.tag = 1, .log = &f};

	(void)state;
	lv_ev_poller_add(l, &c.p, poll_count, &c);
	lv_ev_timer_init(&far.t, on_tagged, &far);
	lv_ev_timer_start(l, &far.t, 10000);
	for (unsigned i = 0; i < 1000; i++)
		assert_true(lv_evloop_run_once(l) >= 1);
	assert_int_equal(c.rounds, 1000);
	/* idle: the round waits the poll interval, not until the timer 10 s
	 * away (the upper bound is far from both, so load cannot flake it) */
	uint64_t t0 = lv_ev_now_ns();
	assert_int_equal(lv_evloop_run_once(l), 0);
	uint64_t waited = lv_ev_now_ns() - t0;
	assert_true(waited >= LV_EV_POLL_IDLE_NS / 2);
	assert_true(waited < 5000000000u);
	assert_int_equal(f.n, 0);
	lv_ev_poller_remove(l, &c.p);
	unsigned r = c.rounds;
	lv_ev_timer_start(l, &far.t, 1);
	lv_evloop_run_once(l);
	assert_int_equal(c.rounds, r);
	assert_int_equal(f.n, 1);
	lv_evloop_free(l);
}

/* A timer that re-arms itself for "now" runs once per round, so the
 * descriptors still get their turn. */
struct rearming {
	struct lv_ev_timer t;
	struct lv_evloop *l;
	unsigned runs;
};

static void rearm_now(struct lv_ev_timer *t)
{
	struct rearming *r = t->data;

	r->runs++;
	lv_ev_timer_start(r->l, t, 0);
}

static void test_rearmed_timer_does_not_starve(void **state)
{
	struct rearming r = {.l = lv_evloop_new()};

	(void)state;
	lv_ev_timer_init(&r.t, rearm_now, &r);
	lv_ev_timer_start(r.l, &r.t, 0);
	for (unsigned i = 0; i < 5; i++)
		lv_evloop_run_once(r.l);
	assert_int_equal(r.runs, 5);
	lv_ev_timer_stop(r.l, &r.t);
	lv_evloop_free(r.l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timers_fire_in_deadline_order),
	    cmocka_unit_test(test_idle_round_sleeps_until_timer),
	    cmocka_unit_test(test_removed_descriptor_gets_no_event),
	    cmocka_unit_test(test_pollers_bound_the_wait),
	    cmocka_unit_test(test_rearmed_timer_does_not_starve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
