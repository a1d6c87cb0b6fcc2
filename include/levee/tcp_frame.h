/*
 * DNS over a byte stream (RFC 1035 §4.2.2, RFC 7766 §8): every message is
 * preceded by its length in two bytes, network order. This module turns
 * bytes, in whatever chunks the socket delivers them (a length prefix
 * split between two reads, many messages in one), back into whole
 * messages, one at a time.
 *
 * Pure functions over a caller-owned struct lv_tcp_frame: no sockets, no
 * event loop, so the TCP server (control/services/tcp.c), its unit test
 * and its fuzz target (tests/fuzz/fuzz_tcp_frame.c) run the same code.
 * Control plane only; one frame per stream, used by one thread. The frame
 * owns its buffer (lv_tcp_frame_free); a complete message is borrowed
 * until lv_tcp_frame_clear().
 */
#ifndef LEVEE_TCP_FRAME_H
#define LEVEE_TCP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lv_tcp_frame {
	uint8_t *buf;      /* the length prefix, then the message so far */
	uint32_t len, cap; /* bytes in buf, bytes allocated */
};

/*
 * Take bytes from (*p, *n) into f, up to the end of the message being
 * read: *p and *n are advanced past what was taken. Returns 1 when f's
 * message is complete (lv_tcp_frame_msg; the rest of the input is left
 * for the next call, after lv_tcp_frame_clear), 0 when all of the input
 * was taken and the message is not complete yet, -ENOMEM (nothing taken).
 * A complete message must be cleared before more is taken.
 */
int lv_tcp_frame_take(struct lv_tcp_frame *f, const uint8_t **p, size_t *n);

/* Is a message complete in f? */
bool lv_tcp_frame_done(const struct lv_tcp_frame *f);

/* The complete message and its length (0 for a zero-length prefix). */
static inline const uint8_t *lv_tcp_frame_msg(const struct lv_tcp_frame *f)
{
	return f->buf + 2;
}
static inline uint16_t lv_tcp_frame_msg_len(const struct lv_tcp_frame *f)
{
	return (uint16_t)(f->len - 2);
}

/* Forget the message (complete or not); the buffer is kept for the next. */
static inline void lv_tcp_frame_clear(struct lv_tcp_frame *f)
{
	f->len = 0;
}

/* Nothing read of a next message: no half-read prefix or message. */
static inline bool lv_tcp_frame_empty(const struct lv_tcp_frame *f)
{
	return f->len == 0;
}

/* Free f's buffer; f is empty afterwards. */
void lv_tcp_frame_free(struct lv_tcp_frame *f);

#endif
