/*
 * The forwarding-loop marker and probe names on the wire: see
 * include/levee/loop.h. Every read is checked against the message length;
 * nothing here allocates.
 */
#include <stdlib.h>
#include <string.h>

#include "levee/loop.h"
#include "levee/wire.h"

/* "lv-loop-" 16 hex digits of the id, "-", 4 of the upstream number, "-",
 * 16 of a nonce: no cache between here and the loop answers a probe from
 * an earlier one, and nobody who has not seen the probe can send us its
 * name (the forwarder takes only the name last sent as a loop). */
#define PROBE_PREFIX     "lv-loop-"
#define PROBE_PREFIX_LEN 8
#define PROBE_NONCE_AT   (PROBE_PREFIX_LEN + 16 + 1 + 4 + 1)
#define PROBE_LABEL_LEN  (PROBE_NONCE_AT + 16)

static uint64_t instance;

uint64_t lv_loop_instance(void)
{
	while (instance == 0)
		arc4random_buf(&instance, sizeof(instance));
	return instance;
}

/* Skip a name at *pos (labels or a compression pointer); false when it
 * runs past len or is malformed. */
static bool skip_name(const uint8_t *msg, uint16_t len, uint32_t *pos)
{
	for (unsigned labels = 0; labels < 128; labels++) {
		uint8_t l;

		if (*pos >= len)
			return false;
		l = msg[*pos];
		if ((l & 0xc0) == 0xc0) { /* a pointer ends the name */
			*pos += 2;
			return *pos <= len;
		}
		if (l & 0xc0)
			return false; /* 0x40, 0x80: no such label types */
		*pos += 1u + l;
		if (l == 0)
			return true;
	}
	return false;
}

/* The marker's data in the OPT RDATA opt[0..rdlen), if any. */
static enum lv_loop_scan scan_options(const uint8_t *opt, uint16_t rdlen,
				      struct lv_loop_mark *mark)
{
	uint32_t pos = 0;

	while (pos + 4 <= rdlen) {
		uint16_t code = lv_wire_get16(opt + pos);
		uint16_t olen = lv_wire_get16(opt + pos + 2);

		if (pos + 4 + olen > rdlen)
			return LV_LOOP_NONE;
		if (code == LV_EDNS_LOOP_MARK) {
			if (olen == 0 || olen % LV_LOOP_HOP_LEN != 0)
				return LV_LOOP_NONE;
			if (olen > LV_LOOP_MARK_MAX)
				return LV_LOOP_TOO_DEEP;
			mark->n = (uint8_t)(olen / LV_LOOP_HOP_LEN);
			memcpy(mark->hop, opt + pos + 4, olen);
			return LV_LOOP_FOUND;
		}
		pos += 4u + olen;
	}
	return LV_LOOP_NONE;
}

enum lv_loop_scan lv_loop_mark_scan(const uint8_t *msg, uint16_t len,
				    struct lv_loop_mark *mark)
{
	uint32_t pos = LV_DNS_HDR_LEN;
	unsigned qd, rr, ar;

	mark->n = 0;
	if (len < LV_DNS_HDR_LEN)
		return LV_LOOP_NONE;
	qd = lv_wire_get16(msg + 4);
	rr = lv_wire_get16(msg + 6) + lv_wire_get16(msg + 8);
	ar = lv_wire_get16(msg + 10);
	if (ar == 0)
		return LV_LOOP_NONE;
	for (unsigned i = 0; i < qd; i++) {
		if (!skip_name(msg, len, &pos) || pos + 4 > len)
			return LV_LOOP_NONE;
		pos += 4;
	}
	for (unsigned i = 0; i < rr + ar; i++) {
		uint16_t type, rdlen;

		if (!skip_name(msg, len, &pos) || pos + 10 > len)
			return LV_LOOP_NONE;
		type = lv_wire_get16(msg + pos);
		rdlen = lv_wire_get16(msg + pos + 8);
		pos += 10;
		if (pos + rdlen > len)
			return LV_LOOP_NONE;
		/* the OPT counts only in the additional section (RFC 6891
		 * §6.1.1); the first one decides */
		if (i >= rr && type == LV_TYPE_OPT)
			return scan_options(msg + pos, rdlen, mark);
		pos += rdlen;
	}
	return LV_LOOP_NONE;
}

static void put_id(uint8_t *p, uint64_t id)
{
	lv_wire_put32(p, (uint32_t)(id >> 32));
	lv_wire_put32(p + 4, (uint32_t)id);
}

static uint64_t get_id(const uint8_t *p)
{
	return (uint64_t)lv_wire_get32(p) << 32 | lv_wire_get32(p + 4);
}

int lv_loop_mark_ours(const struct lv_loop_mark *mark, uint16_t *upstream)
{
	uint64_t me = lv_loop_instance();

	for (unsigned i = 0; i < mark->n; i++) {
		const uint8_t *h = mark->hop + i * LV_LOOP_HOP_LEN;
		if (get_id(h) == me) {
			*upstream = lv_wire_get16(h + 8);
			return (int)i;
		}
	}
	return -1;
}

uint16_t lv_loop_option_put(uint8_t *out, const struct lv_loop_mark *prev,
			    uint16_t *ours)
{
	unsigned n = prev != NULL && prev->n < LV_LOOP_HOPS_MAX ? prev->n : 0;
	uint16_t dlen = (uint16_t)((n + 1) * LV_LOOP_HOP_LEN);
	uint8_t *h = out + 4 + n * LV_LOOP_HOP_LEN;

	lv_wire_put16(out, LV_EDNS_LOOP_MARK);
	lv_wire_put16(out + 2, dlen);
	if (n > 0)
		memcpy(out + 4, prev->hop, n * LV_LOOP_HOP_LEN);
	put_id(h, lv_loop_instance());
	lv_wire_put16(h + 8, 0);
	*ours = (uint16_t)(h + 8 - out);
	return (uint16_t)(4 + dlen);
}

uint16_t lv_loop_option_echo(uint8_t *out, const struct lv_loop_mark *mark)
{
	uint16_t dlen = (uint16_t)(mark->n * LV_LOOP_HOP_LEN);

	if (mark->n == 0 || mark->n > LV_LOOP_HOPS_MAX)
		return 0;
	lv_wire_put16(out, LV_EDNS_LOOP_MARK);
	lv_wire_put16(out + 2, dlen);
	memcpy(out + 4, mark->hop, dlen);
	return (uint16_t)(4 + dlen);
}

void lv_loop_mark_target(uint8_t *opt, uint16_t ours, uint16_t up)
{
	lv_wire_put16(opt + ours, up);
}

static const char hex[] = "0123456789abcdef";

static void put_hex(uint8_t *p, uint64_t v, unsigned digits)
{
	for (unsigned i = digits; i-- > 0; v >>= 4)
		p[i] = (uint8_t)hex[v & 0xf];
}

/* The value of digits lowercase hex digits at p; false on another byte. */
static bool get_hex(const uint8_t *p, unsigned digits, uint64_t *v)
{
	*v = 0;
	for (unsigned i = 0; i < digits; i++) {
		const char *d = memchr(hex, p[i], 16);
		if (p[i] == 0 || d == NULL)
			return false;
		*v = *v << 4 | (uint64_t)(d - hex);
	}
	return true;
}

/* "invalid.": RFC 6761 §6.4 asks resolvers to answer it NXDOMAIN
 * themselves, so a probe under the root rule to a resolver that follows
 * it ends there, while a forwarder passes it on. */
static const uint8_t invalid_tld[] = "\7invalid";

unsigned lv_loop_probe_name(uint8_t *out, const uint8_t *suffix,
			    unsigned suffix_len, uint16_t up)
{
	uint8_t *l = out + 1;
	uint64_t nonce;

	/* the root, or a suffix too long for our label beside it */
	if (suffix_len <= 1 || 1u + PROBE_LABEL_LEN + suffix_len > 255) {
		suffix = invalid_tld;
		suffix_len = sizeof(invalid_tld);
	}
	out[0] = PROBE_LABEL_LEN;
	memcpy(l, PROBE_PREFIX, PROBE_PREFIX_LEN);
	put_hex(l + PROBE_PREFIX_LEN, lv_loop_instance(), 16);
	l[PROBE_PREFIX_LEN + 16] = '-';
	put_hex(l + PROBE_PREFIX_LEN + 17, up, 4);
	l[PROBE_PREFIX_LEN + 21] = '-';
	arc4random_buf(&nonce, sizeof(nonce));
	put_hex(l + PROBE_NONCE_AT, nonce, 16);
	memcpy(out + 1 + PROBE_LABEL_LEN, suffix, suffix_len);
	return 1u + PROBE_LABEL_LEN + suffix_len;
}

bool lv_loop_probe_match(const uint8_t *lname, unsigned len, uint16_t *up)
{
	const uint8_t *l = lname + 1;
	uint64_t id, n;

	if (len < 2u + PROBE_LABEL_LEN || lname[0] != PROBE_LABEL_LEN ||
	    memcmp(l, PROBE_PREFIX, PROBE_PREFIX_LEN) != 0 ||
	    !get_hex(l + PROBE_PREFIX_LEN, 16, &id) ||
	    id != lv_loop_instance() || l[PROBE_PREFIX_LEN + 16] != '-' ||
	    !get_hex(l + PROBE_PREFIX_LEN + 17, 4, &n))
		return false;
	*up = (uint16_t)n;
	return true;
}
