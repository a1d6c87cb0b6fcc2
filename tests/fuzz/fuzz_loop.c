/*
 * libFuzzer target for the forwarding-loop marker (control/services/
 * loop.c, what the miss path runs on every forwarded miss and the
 * forwarder on every upstream SERVFAIL).
 *
 * Input: a DNS message (any bytes). lv_loop_mark_scan() must read
 * nothing past it, and a marker it finds must have 1..LV_LOOP_HOPS_MAX
 * hops; echoed (the loop signal) into a query of our own, and with our
 * hop appended (what a forwarded query carries, when it has fewer than
 * LV_LOOP_HOPS_MAX), it must be found again the same, ours last; one hop
 * more than a marker holds is too deep.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "levee/loop.h"
#include "levee/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A query for the root with an OPT holding option bytes opt[0..n). */
static uint16_t query(uint8_t *m, const uint8_t *opt, uint16_t n)
{
	memset(m, 0, LV_DNS_HDR_LEN + 5 + LV_DNS_OPT_RR_LEN);
	lv_wire_put16(m + 4, 1);
	lv_wire_put16(m + 10, 1);
	lv_wire_put16(m + LV_DNS_HDR_LEN + 1, 1);
	lv_wire_put16(m + LV_DNS_HDR_LEN + 3, 1);
	m[LV_DNS_HDR_LEN + 5] = 0;
	lv_wire_put16(m + LV_DNS_HDR_LEN + 6, LV_TYPE_OPT);
	lv_wire_put16(m + LV_DNS_HDR_LEN + 14, n);
	memcpy(m + LV_DNS_HDR_LEN + 5 + LV_DNS_OPT_RR_LEN, opt, n);
	return (uint16_t)(LV_DNS_HDR_LEN + 5 + LV_DNS_OPT_RR_LEN + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lv_loop_mark mark, again;
	uint8_t opt[LV_LOOP_OPTION_MAX + 10], m[64 + LV_LOOP_OPTION_MAX + 10];
	uint8_t *copy;
	uint16_t n, ours, up;

	if (size > 65535)
		return 0;
	/* a copy of exactly size bytes, so ASan sees any read past it */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (lv_loop_mark_scan(copy, (uint16_t)size, &mark) != LV_LOOP_FOUND) {
		free(copy);
		return 0;
	}
	free(copy);
	if (mark.n == 0 || mark.n > LV_LOOP_HOPS_MAX)
		abort();
	n = lv_loop_option_echo(opt, &mark);
	if (lv_loop_mark_scan(m, query(m, opt, n), &again) != LV_LOOP_FOUND ||
	    again.n != mark.n ||
	    memcmp(again.hop, mark.hop, mark.n * LV_LOOP_HOP_LEN) != 0)
		abort();
	/* libFuzzer's comparison tracing learns our id: an input may hold
	 * our hop already, and then that one is found first */
	if (lv_loop_mark_ours(&mark, &up) >= 0)
		return 0;
	if (mark.n == LV_LOOP_HOPS_MAX) { /* the forwarder refuses it */
		lv_wire_put16(opt, LV_EDNS_LOOP_MARK);
		lv_wire_put16(opt + 2, LV_LOOP_MARK_MAX + LV_LOOP_HOP_LEN);
		memset(opt + 4, 0, LV_LOOP_MARK_MAX + LV_LOOP_HOP_LEN);
		if (lv_loop_mark_scan(m, query(m, opt, LV_LOOP_OPTION_MAX + 10),
				      &again) != LV_LOOP_TOO_DEEP)
			abort();
		return 0;
	}
	n = lv_loop_option_put(opt, &mark, &ours);
	lv_loop_mark_target(opt, ours, 7);
	if (lv_loop_mark_scan(m, query(m, opt, n), &again) != LV_LOOP_FOUND ||
	    again.n != mark.n + 1 || lv_loop_mark_ours(&again, &up) < 0 ||
	    up != 7)
		abort();
	return 0;
}
