/*
 * levee-testpark: levee with a test deferrer, for the system test of
 * requests that wait (tests/system/test_request_park.py). Never installed
 * and never built into levee itself.
 *
 * A query whose first label is "w<digits>" (w300.levee.test) and that the
 * cache missed is parked as a request, whatever its transport (a frame
 * from the port, a host-local datagram, a TCP message), and answered
 * <digits> milliseconds later from the zones, exactly as it would have
 * been at once. Queries sent w300, w100, w200 are therefore answered
 * w100, w200, w300: out of order, after their receive buffers went back.
 */
#include <stdbool.h>
#include <stdint.h>

#include "levee/control.h"
#include "levee/log.h"
#include "levee/request.h"

#define PARK_MAX_MS 60000

struct park {
	struct lv_control *ctl;
	struct lv_deferrer d;
};

static struct park park;

/* The delay the name asks for; -1 when it asks for none. */
static long delay_ms(const struct lv_query *q)
{
	const uint8_t *l = q->lname;
	long ms = 0;

	if (l[0] < 2 || l[1] != 'w')
		return -1;
	for (unsigned i = 2; i <= l[0]; i++) {
		if (l[i] < '0' || l[i] > '9' || ms > PARK_MAX_MS)
			return -1;
		ms = ms * 10 + (l[i] - '0');
	}
	return ms;
}

static bool wants(void *data, const struct lv_query *q)
{
	(void)data;
	return delay_ms(q) >= 0;
}

static void wake(struct lv_ev_timer *t)
{
	struct lv_request *r = t->data;

	lv_control_answer_request(park.ctl, r);
}

static void take(void *data, struct lv_request *r)
{
	struct park *p = data;

	lv_ev_timer_init(&r->timer, wake, r);
	lv_ev_timer_start(p->ctl->loop, &r->timer, (uint64_t)delay_ms(&r->q));
}

static int open_park(struct lv_control *ctl)
{
	park.ctl = ctl;
	park.d =
	    (struct lv_deferrer){.wants = wants, .take = take, .data = &park};
	ctl->deferrer = &park.d;
	lv_info("test deferrer: queries for w<ms>.* wait <ms> milliseconds");
	return 0;
}

static void close_park(struct lv_control *ctl)
{
	ctl->deferrer = NULL;
}

static const struct lv_extension park_ext = {open_park, close_park};

int main(int argc, char **argv)
{
	return lv_main(argc, argv, &park_ext);
}
