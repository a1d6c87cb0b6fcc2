/*
 * Unit tests for the TCP stream framing (control/services/tcp_frame.c):
 * messages come out whole and in order whatever the split of the stream
 * (every split point of a two-message stream, a byte at a time, all at
 * once), a zero-length prefix is an empty message, a 65535-byte message
 * grows the buffer, and a half-read prefix or message leaves the frame
 * non-empty. tests/fuzz/fuzz_tcp_frame.c checks the same on any input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "levee/tcp_frame.h"

/* A stream of two messages, "abc" and "hello!". */
static const uint8_t STREAM[] = {0,   3,   'a', 'b', 'c', 0,  6,
				 'h', 'e', 'l', 'l', 'o', '!'};

struct got {
	unsigned n;
	uint8_t msg[4][8];
	uint16_t len[4];
};

/* Feed s[0..len) in chunks: split at `at` (0: one chunk). */
static void feed(struct lv_tcp_frame *f, const uint8_t *s, size_t len,
		 size_t at, struct got *g)
{
	size_t cuts[3] = {0, at ? at : len, len};

	for (unsigned c = 0; c < 2; c++) {
		const uint8_t *p = s + cuts[c];
		size_t n = cuts[c + 1] - cuts[c];
		while (n > 0) {
			int rc = lv_tcp_frame_take(f, &p, &n);
			assert_true(rc >= 0);
			if (rc == 0) {
				assert_int_equal(n, 0);
				break;
			}
			assert_true(g->n < 4);
			g->len[g->n] = lv_tcp_frame_msg_len(f);
			memcpy(g->msg[g->n], lv_tcp_frame_msg(f), g->len[g->n]);
			g->n++;
			lv_tcp_frame_clear(f);
		}
	}
}

static void test_every_split(void **state)
{
	(void)state;
	for (size_t at = 0; at < sizeof(STREAM); at++) {
		struct lv_tcp_frame f = {0};
		struct got g = {0};
		feed(&f, STREAM, sizeof(STREAM), at, &g);
		assert_int_equal(g.n, 2);
		assert_int_equal(g.len[0], 3);
		assert_memory_equal(g.msg[0], "abc", 3);
		assert_int_equal(g.len[1], 6);
		assert_memory_equal(g.msg[1], "hello!", 6);
		assert_true(lv_tcp_frame_empty(&f));
		lv_tcp_frame_free(&f);
	}
}

static void test_byte_at_a_time(void **state)
{
	struct lv_tcp_frame f = {0};
	unsigned done = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(STREAM); i++) {
		const uint8_t *p = STREAM + i;
		size_t n = 1;
		int rc = lv_tcp_frame_take(&f, &p, &n);
		assert_int_equal(n, 0);
		/* complete exactly at the last byte of each message */
		assert_int_equal(rc, i == 4 || i == 12);
		if (rc == 1) {
			done++;
			lv_tcp_frame_clear(&f);
		} else {
			assert_false(lv_tcp_frame_empty(&f));
		}
	}
	assert_int_equal(done, 2);
	lv_tcp_frame_free(&f);
}

static void test_zero_length_message(void **state)
{
	static const uint8_t s[] = {0, 0, 0, 1, 'x'};
	struct lv_tcp_frame f = {0};
	const uint8_t *p = s;
	size_t n = sizeof(s);

	(void)state;
	assert_int_equal(lv_tcp_frame_take(&f, &p, &n), 1);
	assert_int_equal(lv_tcp_frame_msg_len(&f), 0);
	assert_int_equal(n, 3); /* the next message is left for later */
	lv_tcp_frame_clear(&f);
	assert_int_equal(lv_tcp_frame_take(&f, &p, &n), 1);
	assert_int_equal(lv_tcp_frame_msg_len(&f), 1);
	assert_int_equal(lv_tcp_frame_msg(&f)[0], 'x');
	lv_tcp_frame_free(&f);
}

static void test_largest_message(void **state)
{
	size_t len = 2 + UINT16_MAX + 2;
	uint8_t *s = malloc(len);
	struct lv_tcp_frame f = {0};
	const uint8_t *p = s;
	size_t n = len;

	(void)state;
	assert_non_null(s);
	s[0] = s[1] = 0xff;
	for (size_t i = 2; i < 2 + UINT16_MAX; i++)
		s[i] = (uint8_t)i;
	s[len - 2] = 0; /* and the first byte of a next prefix */
	s[len - 1] = 5;
	assert_int_equal(lv_tcp_frame_take(&f, &p, &n), 1);
	assert_int_equal(lv_tcp_frame_msg_len(&f), UINT16_MAX);
	assert_memory_equal(lv_tcp_frame_msg(&f), s + 2, UINT16_MAX);
	assert_int_equal(n, 2);
	lv_tcp_frame_clear(&f);
	n = 1; /* half a prefix */
	assert_int_equal(lv_tcp_frame_take(&f, &p, &n), 0);
	assert_false(lv_tcp_frame_empty(&f));
	assert_false(lv_tcp_frame_done(&f));
	lv_tcp_frame_free(&f);
	assert_true(lv_tcp_frame_empty(&f));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_split),
	    cmocka_unit_test(test_byte_at_a_time),
	    cmocka_unit_test(test_zero_length_message),
	    cmocka_unit_test(test_largest_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
