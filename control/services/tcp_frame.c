/*
 * Reassembly of length-prefixed DNS messages from a byte stream; see
 * include/levee/tcp_frame.h. The first step of a TCP query's walk: the
 * TCP server (tcp.c) feeds what recv() returned, and answers each message
 * this completes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "levee/tcp_frame.h"
#include "levee/wire.h"

#define FIRST_CAP 512 /* most queries fit; grown by doubling */

/* Bytes the current message needs in buf: its prefix, then its length. */
static uint32_t wanted(const struct lv_tcp_frame *f)
{
	return f->len < 2 ? 2u : 2u + lv_wire_get16(f->buf);
}

bool lv_tcp_frame_done(const struct lv_tcp_frame *f)
{
	return f->len >= 2 && f->len == wanted(f);
}

static int reserve(struct lv_tcp_frame *f, uint32_t need)
{
	uint32_t cap = f->cap ? f->cap : FIRST_CAP;
	uint8_t *b;

	if (need <= f->cap)
		return 0;
	while (cap < need)
		cap *= 2; /* need <= 2 + UINT16_MAX: no overflow */
	b = realloc(f->buf, cap);
	if (b == NULL)
		return -ENOMEM;
	f->buf = b;
	f->cap = cap;
	return 0;
}

int lv_tcp_frame_take(struct lv_tcp_frame *f, const uint8_t **p, size_t *n)
{
	while (*n > 0 && !lv_tcp_frame_done(f)) {
		/* the prefix first (it may come one byte at a time), then
		 * at most the rest of the message it announces */
		uint32_t want = wanted(f) - f->len;
		size_t take = want < *n ? want : *n;
		if (reserve(f, f->len + (uint32_t)take) != 0)
			return -ENOMEM;
		memcpy(f->buf + f->len, *p, take);
		f->len += (uint32_t)take;
		*p += take;
		*n -= take;
	}
	return lv_tcp_frame_done(f) ? 1 : 0;
}

void lv_tcp_frame_free(struct lv_tcp_frame *f)
{
	free(f->buf);
	f->buf = NULL;
	f->len = f->cap = 0;
}
