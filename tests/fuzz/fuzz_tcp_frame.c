/*
 * libFuzzer target for the TCP stream framing (control/services/tcp_frame.c,
 * what tcp.c feeds every recv() into).
 *
 * Input: two bytes that seed the split points, then a byte stream of
 * length-prefixed messages (any bytes: prefixes split anywhere, zero
 * lengths, a last message cut short). A reference reader here walks the
 * stream at once; the stream is then fed to lv_tcp_frame_take() three
 * ways (whole, a byte at a time, in chunks of pseudo-random sizes from
 * the seed) and each way must give the reference's messages, equal and in
 * order, and leave exactly the reference's unfinished tail in the frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "levee/tcp_frame.h"
#include "levee/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ref {
	size_t n_msgs;
	size_t off[1024]; /* where each message's bytes start */
	uint16_t len[1024];
	size_t tail; /* bytes of an unfinished prefix or message */
	size_t end;  /* bytes checked: the stream, or fewer when full */
};

static void reference(const uint8_t *s, size_t n, struct ref *r)
{
	size_t at = 0;

	r->n_msgs = 0;
	while (n - at >= 2 && r->n_msgs < 1024) {
		uint16_t len = lv_wire_get16(s + at);
		if (n - at - 2 < len)
			break;
		r->off[r->n_msgs] = at + 2;
		r->len[r->n_msgs++] = len;
		at += 2u + len;
	}
	r->end = r->n_msgs == 1024 ? at : n;
	r->tail = r->end - at;
}

/* xorshift: chunk sizes from the seed, reproducible per input */
static uint32_t next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* mode 0: whole; 1: a byte at a time; 2: chunks from the seed */
static void feed(const uint8_t *s, const struct ref *r, int mode, uint32_t seed)
{
	struct lv_tcp_frame f = {0};
	size_t at = 0, got = 0;

	while (at < r->end) {
		size_t chunk = r->end - at;
		if (mode == 1)
			chunk = 1;
		else if (mode == 2 && chunk > 1)
			chunk = 1 + next(&seed) % (next(&seed) % 4 ? 8 : 700);
		if (chunk > r->end - at)
			chunk = r->end - at;
		const uint8_t *p = s + at;
		size_t n = chunk;
		while (n > 0) {
			int rc = lv_tcp_frame_take(&f, &p, &n);
			if (rc < 0)
				abort(); /* out of memory: not an input's fault */
			if (rc == 0) {
				if (n != 0)
					abort(); /* incomplete but input left */
				break;
			}
			if (got >= r->n_msgs ||
			    lv_tcp_frame_msg_len(&f) != r->len[got] ||
			    memcmp(lv_tcp_frame_msg(&f), s + r->off[got],
				   r->len[got]) != 0)
				abort(); /* a message the stream did not hold */
			got++;
			lv_tcp_frame_clear(&f);
		}
		at += chunk;
	}
	if (got != r->n_msgs || f.len != r->tail ||
	    lv_tcp_frame_empty(&f) != (r->tail == 0) || lv_tcp_frame_done(&f))
		abort(); /* a message lost, or the tail not held */
	lv_tcp_frame_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ref r;
	uint32_t seed;

	if (size < 2)
		return 0;
	seed = 0x9e3779b9u ^ lv_wire_get16(data);
	reference(data + 2, size - 2, &r);
	for (int mode = 0; mode < 3; mode++)
		feed(data + 2, &r, mode, seed);
	return 0;
}
