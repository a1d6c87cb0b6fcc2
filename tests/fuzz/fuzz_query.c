/*
 * libFuzzer target for the query parser and the response writer
 * (dataplane/query.c, dataplane/response.c).
 *
 * The input is one DNS message. It is parsed from a heap block of exactly
 * its length (ASan catches a read past the end); the verdict's promises
 * are checked; then, as a worker would, the answer is written in place:
 * an error for FORMERR/NOTIMP/BADVERS, and for OK both an error (REFUSED)
 * and an answer from a small fixed cache entry, each into buffers of
 * several sizes allocated exactly (ASan catches a write past room).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "levee/hash.h"
#include "levee/query.h"
#include "levee/response.h"

#define SEED    0x243f6a8885a308d3ull
#define OUR_MAX 1232

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One A record owned by the question name (a pointer to offset 12). */
static const uint8_t A_RR[] = {0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
			       0x0e, 0x10, 0x00, 0x04, 192,  0,    2,    1};

static void check_query(const uint8_t *msg, unsigned len,
			enum lv_parse_result r, const struct lv_query *q)
{
	CHECK(r <= LV_PARSE_DROP_RESPONSE);
	if (r == LV_PARSE_DROP_RUNT) {
		CHECK(len < 12);
		return;
	}
	CHECK(q->id == lv_wire_get16(msg));
	CHECK(q->flags == lv_wire_get16(msg + 2));
	if (q->question_ok) {
		CHECK(q->qname_len >= 1 && q->qname_len <= LV_DNS_MAX_NAME);
		CHECK(q->question_end == 12 + q->qname_len + 4);
		CHECK(q->question_end <= len);
		CHECK(q->lname[q->qname_len - 1] == 0);
		for (unsigned i = 0; i < q->qname_len; i++)
			CHECK(q->lname[i] == lv_wire_lower(msg[12 + i]));
	}
	if (r == LV_PARSE_OK) {
		CHECK(q->question_ok);
		CHECK(!q->has_edns || q->edns_version == 0);
		CHECK(q->cd == ((q->flags & LV_FLAG_CD) ? 1 : 0));
		CHECK(q->hash == lv_cache_key_hash(
				     SEED, q->lname, q->qname_len, q->qtype,
				     q->qclass, lv_key_bits(q->do_bit, q->cd)));
	}
	if (r == LV_PARSE_BADVERS)
		CHECK(q->question_ok && q->has_edns && q->edns_version > 0);
	if (!q->has_edns)
		CHECK(q->do_bit == 0);
}

/* The query copied into an exact block of room bytes. */
static uint8_t *in_room(const uint8_t *msg, unsigned len, unsigned room)
{
	uint8_t *b = malloc(room ? room : 1);
	CHECK(b != NULL);
	memcpy(b, msg, len < room ? len : room);
	return b;
}

/* What every response written over msg must satisfy. */
static void check_response(const uint8_t *msg, const uint8_t *b, unsigned len,
			   unsigned room, const struct lv_query *q)
{
	if (len == 0)
		return;
	CHECK(len <= room);
	CHECK(len >= 12);
	CHECK(lv_wire_get16(b) == q->id);
	CHECK(lv_wire_get16(b + 2) & LV_FLAG_QR);
	if (q->question_ok) {
		CHECK(lv_wire_get16(b + 4) == 1);
		CHECK(len >= q->question_end);
		CHECK(memcmp(b + 12, msg + 12, q->question_end - 12) == 0);
	} else {
		CHECK(lv_wire_get16(b + 4) == 0);
	}
}

static void error_answer(const uint8_t *msg, unsigned len,
			 const struct lv_query *q, unsigned rcode,
			 unsigned room)
{
	uint8_t *b = in_room(msg, len, room);
	unsigned n = lv_response_error(b, (uint16_t)room, q, rcode, OUR_MAX);
	check_response(msg, b, n, room, q);
	if (n != 0)
		CHECK((lv_wire_get16(b + 2) & LV_FLAG_RCODE) == (rcode & 15));
	free(b);
}

static void entry_answer(const uint8_t *msg, unsigned len,
			 const struct lv_query *q,
			 const struct lv_cache_entry *e, unsigned room)
{
	uint8_t *b = in_room(msg, len, room);
	bool tc = false;
	unsigned n =
	    lv_response_from_entry(b, (uint16_t)room, q, e, OUR_MAX, &tc);
	check_response(msg, b, n, room, q);
	if (n != 0) {
		CHECK(n <= lv_response_limit(q, OUR_MAX));
		CHECK(!!(lv_wire_get16(b + 2) & LV_FLAG_TC) == tc);
		if (!tc)
			CHECK(memcmp(b + q->question_end, e->wire,
				     e->wire_len) == 0);
	}
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > UINT16_MAX)
		return 0;
	unsigned len = (unsigned)size;
	uint8_t *msg = malloc(len ? len : 1);
	CHECK(msg != NULL);
	memcpy(msg, data, len);

	struct lv_query q;
	memset(&q, 0x5a, sizeof(q));
	enum lv_parse_result r = lv_query_parse(msg, (uint16_t)len, SEED, &q);
	check_query(msg, len, r, &q);

	/* rooms: the query's own length, a tight MTU, a roomy buffer, and
	 * sizes around the question's end */
	unsigned rooms[6] = {len, 1500 - 42, 4096, 12, 0, 0};
	unsigned n_rooms = 4;
	if (q.question_ok) {
		rooms[n_rooms++] = q.question_end;
		rooms[n_rooms++] = q.question_end + LV_DNS_OPT_RR_LEN - 1;
	}

	static const unsigned rcode_of[] = {
	    [LV_PARSE_FORMERR] = LV_RCODE_FORMERR,
	    [LV_PARSE_NOTIMP] = LV_RCODE_NOTIMP,
	    [LV_PARSE_BADVERS] = LV_RCODE_BADVERS,
	};
	if (r == LV_PARSE_FORMERR || r == LV_PARSE_NOTIMP ||
	    r == LV_PARSE_BADVERS) {
		for (unsigned i = 0; i < n_rooms; i++)
			error_answer(msg, len, &q, rcode_of[r], rooms[i]);
	}
	if (r == LV_PARSE_OK) {
		/* a fixed entry, and one too big for any UDP limit */
		static uint8_t big[1300];
		struct lv_cache_entry e = {
		    .qtype = LV_TYPE_A,
		    .qclass = LV_CLASS_IN,
		    .flags = LV_FLAG_AA,
		    .ancount = 1,
		    .wire = A_RR,
		    .wire_len = sizeof(A_RR),
		};
		struct lv_cache_entry e_big = e;
		e_big.wire = big;
		e_big.wire_len = sizeof(big);
		for (unsigned i = 0; i < n_rooms; i++) {
			error_answer(msg, len, &q, LV_RCODE_REFUSED, rooms[i]);
			entry_answer(msg, len, &q, &e, rooms[i]);
			entry_answer(msg, len, &q, &e_big, rooms[i]);
		}
	}
	free(msg);
	return 0;
}
