/*
 * Unit tests for the forwarding-loop marker and probe names
 * (control/services/loop.c): a marker written after another's hops is
 * found again with both hops, ours recognised with the upstream number it
 * names; a marker behind answer records and compression pointers is
 * found; a list of LV_LOOP_HOPS_MAX hops is too deep; a marker of a bad
 * length, a cut-short message and a message without OPT give none; the
 * echo is the marker as it came; probe names carry our id and the
 * upstream number, the root rule's under invalid., and another
 * instance's probe name is not ours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "levee/loop.h"
#include "levee/wire.h"

/* A query for "a.test. A" with an OPT holding option bytes opt[0..n). */
static uint16_t query(uint8_t *m, const uint8_t *opt, uint16_t n)
{
	static const uint8_t q[] = {1,   'a', 4, 't', 'e', 's',
				    't', 0,   0, 1,   0,   1};
	uint16_t at = LV_DNS_HDR_LEN;

	memset(m, 0, LV_DNS_HDR_LEN);
	lv_wire_put16(m + 4, 1);
	lv_wire_put16(m + 10, 1);
	memcpy(m + at, q, sizeof(q));
	at += sizeof(q);
	m[at] = 0;
	lv_wire_put16(m + at + 1, LV_TYPE_OPT);
	lv_wire_put16(m + at + 3, 1232);
	memset(m + at + 5, 0, 4);
	lv_wire_put16(m + at + 9, n);
	memcpy(m + at + 11, opt, n);
	return (uint16_t)(at + 11 + n);
}

static void test_marker_round_trip(void **state)
{
	uint8_t opt[2 * LV_LOOP_OPTION_MAX], m[512];
	struct lv_loop_mark prev = {.n = 1}, got;
	uint16_t ours, up = 0, n;

	(void)state;
	/* another instance's hop: id 1, its upstream 7 */
	memset(prev.hop, 0, 8);
	prev.hop[7] = 1;
	lv_wire_put16(prev.hop + 8, 7);
	n = lv_loop_option_put(opt, &prev, &ours);
	assert_int_equal(n, 4 + 2 * LV_LOOP_HOP_LEN);
	lv_loop_mark_target(opt, ours, 42);
	assert_int_equal(lv_loop_mark_scan(m, query(m, opt, n), &got),
			 LV_LOOP_FOUND);
	assert_int_equal(got.n, 2);
	assert_memory_equal(got.hop, prev.hop, LV_LOOP_HOP_LEN);
	assert_int_equal(lv_loop_mark_ours(&got, &up), 1);
	assert_int_equal(up, 42);
	/* the echo is the marker as it came */
	assert_int_equal(lv_loop_option_echo(opt + LV_LOOP_OPTION_MAX, &got),
			 n);
	assert_memory_equal(opt + LV_LOOP_OPTION_MAX, opt, n);
	/* only another's hop: not ours */
	assert_int_equal(lv_loop_mark_ours(&prev, &up), -1);
}

static void test_marker_after_other_options(void **state)
{
	uint8_t opt[64], m[512];
	struct lv_loop_mark got;
	uint16_t ours, n;

	(void)state;
	/* a cookie-like option first */
	lv_wire_put16(opt, 10);
	lv_wire_put16(opt + 2, 8);
	memset(opt + 4, 0xab, 8);
	n = (uint16_t)(12 + lv_loop_option_put(opt + 12, NULL, &ours));
	assert_int_equal(lv_loop_mark_scan(m, query(m, opt, n), &got),
			 LV_LOOP_FOUND);
	assert_int_equal(got.n, 1);
}

/* An answer: a record with a compressed owner before the OPT. */
static void test_marker_in_an_answer(void **state)
{
	uint8_t opt[LV_LOOP_OPTION_MAX], m[512], r[512];
	struct lv_loop_mark got;
	uint16_t ours, n, len, q_end = LV_DNS_HDR_LEN + 12;
	uint16_t up = 0;

	(void)state;
	n = lv_loop_option_put(opt, NULL, &ours);
	lv_loop_mark_target(opt, ours, 3);
	len = query(m, opt, n);
	memcpy(r, m, q_end);
	lv_wire_put16(r + 2, LV_FLAG_QR | LV_RCODE_SERVFAIL);
	lv_wire_put16(r + 6, 1);
	/* a.test. A 192.0.2.1, owner a pointer to the question's name */
	lv_wire_put16(r + q_end, 0xc000 | LV_DNS_HDR_LEN);
	lv_wire_put16(r + q_end + 2, 1);
	lv_wire_put16(r + q_end + 4, 1);
	lv_wire_put32(r + q_end + 6, 60);
	lv_wire_put16(r + q_end + 10, 4);
	memcpy(r + q_end + 12, "\xc0\x00\x02\x01", 4);
	memcpy(r + q_end + 16, m + q_end, len - q_end);
	assert_int_equal(lv_loop_mark_scan(r, (uint16_t)(len + 16), &got),
			 LV_LOOP_FOUND);
	assert_int_equal(lv_loop_mark_ours(&got, &up), 0);
	assert_int_equal(up, 3);
	/* cut short anywhere: nothing found, nothing read past the end */
	for (uint16_t cut = 0; cut < len + 16; cut++)
		assert_int_equal(lv_loop_mark_scan(r, cut, &got), LV_LOOP_NONE);
}

static void test_too_deep_and_malformed(void **state)
{
	uint8_t opt[4 + 100], m[512];
	struct lv_loop_mark got;

	(void)state;
	lv_wire_put16(opt, LV_EDNS_LOOP_MARK);
	lv_wire_put16(opt + 2, LV_LOOP_MARK_MAX + LV_LOOP_HOP_LEN);
	memset(opt + 4, 0x11, LV_LOOP_MARK_MAX + LV_LOOP_HOP_LEN);
	assert_int_equal(lv_loop_mark_scan(
			     m, query(m, opt, 4 + LV_LOOP_MARK_MAX + 10), &got),
			 LV_LOOP_TOO_DEEP);
	/* as many hops as a marker holds: found (one may be ours) */
	lv_wire_put16(opt + 2, LV_LOOP_MARK_MAX);
	assert_int_equal(
	    lv_loop_mark_scan(m, query(m, opt, 4 + LV_LOOP_MARK_MAX), &got),
	    LV_LOOP_FOUND);
	assert_int_equal(got.n, LV_LOOP_HOPS_MAX);
	lv_wire_put16(opt + 2, 15); /* not whole hops */
	assert_int_equal(lv_loop_mark_scan(m, query(m, opt, 19), &got),
			 LV_LOOP_NONE);
	lv_wire_put16(opt + 2, 0);
	assert_int_equal(lv_loop_mark_scan(m, query(m, opt, 4), &got),
			 LV_LOOP_NONE);
	/* option longer than the OPT */
	lv_wire_put16(opt + 2, 20);
	assert_int_equal(lv_loop_mark_scan(m, query(m, opt, 14), &got),
			 LV_LOOP_NONE);
	/* no OPT at all */
	lv_wire_put16(m + 10, 0);
	assert_int_equal(lv_loop_mark_scan(m, LV_DNS_HDR_LEN + 12, &got),
			 LV_LOOP_NONE);
	assert_int_equal(got.n, 0);
}

static void test_probe_names(void **state)
{
	static const uint8_t sd[] = "\2sd\4test";
	uint8_t name[256], other[256];
	unsigned n;
	uint16_t up = 0;

	(void)state;
	n = lv_loop_probe_name(name, sd, sizeof(sd), 0x1234);
	assert_int_equal(n, 1 + 46 + sizeof(sd));
	assert_memory_equal(name + 1, "lv-loop-", 8);
	assert_memory_equal(name + n - sizeof(sd), sd, sizeof(sd));
	assert_true(lv_loop_probe_match(name, n, &up));
	assert_int_equal(up, 0x1234);
	/* the root rule's probe is under invalid. */
	n = lv_loop_probe_name(name, (const uint8_t *)"", 1, 5);
	assert_int_equal(n, 1 + 46 + 9);
	assert_memory_equal(name + 47, "\7invalid", 9);
	/* each name has a nonce of its own (64 bits: equal by chance
	 * once in 2^64) */
	assert_int_equal(lv_loop_probe_name(other, (const uint8_t *)"", 1, 5),
			 n);
	assert_memory_not_equal(other + 31, name + 31, 16);
	/* another instance's id: not ours */
	memcpy(other, name, n);
	other[9] = other[9] == 'a' ? 'b' : 'a';
	assert_false(lv_loop_probe_match(other, n, &up));
	assert_false(lv_loop_probe_match(sd, sizeof(sd), &up));
	/* under a suffix too long for our label beside it: invalid. */
	memset(other, 'x', sizeof(other));
	other[0] = other[64] = other[128] = other[192] = 63;
	other[220] = 0;
	n = lv_loop_probe_name(name, other, 221, 1);
	assert_int_equal(n, 1 + 46 + 9);
	assert_memory_equal(name + 47, "\7invalid", 9);
	assert_true(lv_loop_probe_match(name, n, &up));
	assert_int_equal(up, 1);
	/* the longest suffix that still fits is kept */
	other[192] = 255 - 1 - 46 - 193 - 1;
	other[193 + other[192]] = 0;
	n = lv_loop_probe_name(name, other, 193u + other[192] + 1u, 1);
	assert_int_equal(n, 255);
	assert_memory_equal(name + 47, other, 208);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_marker_round_trip),
	    cmocka_unit_test(test_marker_after_other_options),
	    cmocka_unit_test(test_marker_in_an_answer),
	    cmocka_unit_test(test_too_deep_and_malformed),
	    cmocka_unit_test(test_probe_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
