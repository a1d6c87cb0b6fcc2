/*
 * libFuzzer target: an upstream resolver's answer, as the forwarder hands
 * it to lv_upstream_entry_build() (dns/upstream_entry.c), then the entry
 * served aged by the dataplane's writer (dataplane/response.c).
 *
 * The input is the upstream message whole. It is read as the answer to
 * one of a few client queries (the first byte's low bits pick which, so a
 * mutated question still meets a matching key). Checks:
 * - a message the builder takes gives an entry whose sections, written
 *   after the client's question, make a well-formed message (every name
 *   resolvable with backward pointers, exactly the records the header
 *   counts, nothing left over), and whose every RR offset and TTL offset
 *   lies inside the entry's wire bytes;
 * - the same answer written aged (several ages) keeps its length, and the
 *   checksum shortcut equals summing every byte;
 * - the cache TTL follows the rules' bounds; nothing is read past the
 *   input (the input is copied to a heap block of exactly its size).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdbool.h>

#include "levee/csum.h"
#include "levee/query.h"
#include "levee/response.h"
#include "levee/upstream_entry.h"

#define SEED 0x1234567887654321ull
#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #c);                                 \
			abort();                                               \
		}                                                              \
	} while (0)

/* Client queries (wire form), with EDNS 4096 and DO set or not. */
static const struct {
	const char *name; /* wire form */
	uint8_t len;
	uint16_t type;
	uint8_t do_bit;
} QUERIES[] = {
    {"\x03www\x07"
     "example\x03"
     "com",
     17, 1, 0},
    {"\x03www\x07"
     "example\x03"
     "com",
     17, 28, 1},
    {"\x02"
     "nx\x07"
     "example\x03"
     "com",
     16, 1, 0},
    {"", 1, 2, 0},
};

static uint16_t client_query(uint8_t *b, unsigned k, struct lv_query *q)
{
	unsigned n = 0;

	memset(b, 0, 12);
	b[1] = 0x42;
	b[2] = 0x01; /* RD */
	b[5] = 1;
	b[11] = 1;
	n = 12;
	memcpy(b + n, QUERIES[k].name, QUERIES[k].len);
	n += QUERIES[k].len;
	lv_wire_put16(b + n, QUERIES[k].type);
	lv_wire_put16(b + n + 2, 1);
	n += 4;
	b[n] = 0;
	lv_wire_put16(b + n + 1, LV_TYPE_OPT);
	lv_wire_put16(b + n + 3, 4096);
	lv_wire_put32(b + n + 5, QUERIES[k].do_bit ? LV_EDNS_DO : 0);
	lv_wire_put16(b + n + 9, 0);
	n += 11;
	CHECK(lv_query_parse(b, (uint16_t)n, SEED, q) == LV_PARSE_OK);
	return (uint16_t)n;
}

static void check_entry(const struct lv_cache_entry *e)
{
	CHECK(e->rr_count == e->ancount + e->nscount + e->arcount);
	for (unsigned i = 0; i < e->rr_count; i++) {
		CHECK(e->rrs[i].offset < e->wire_len);
		CHECK(e->rrs[i].ttl_offset + 4u <= e->wire_len);
		CHECK(i == 0 || e->rrs[i].offset > e->rrs[i - 1].offset);
	}
	for (unsigned s = 0; s < e->rrset_count; s++)
		CHECK(e->rrsets[s].first_rr + e->rrsets[s].rr_count <=
		      e->rr_count);
}

/* Skip a name at *pos of m[0..len): labels, pointers only backwards. */
static bool skip_name(const uint8_t *m, unsigned len, unsigned *pos)
{
	unsigned p = *pos, limit = *pos, hops = 0;
	bool jumped = false;

	for (;;) {
		if (p >= len)
			return false;
		if ((m[p] & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++hops > 128)
				return false;
			unsigned to = ((m[p] & 0x3fu) << 8) | m[p + 1];
			if (!jumped)
				*pos = p + 2;
			jumped = true;
			if (to >= limit)
				return false;
			limit = p = to;
			continue;
		}
		if (m[p] & 0xc0 || p + 1 + m[p] > len)
			return false;
		if (m[p] == 0)
			break;
		p += 1u + m[p];
	}
	if (!jumped)
		*pos = p + 1;
	return true;
}

/* The response is well formed: its question and exactly the records its
 * header counts, names resolvable, nothing left over. */
static void check_wire(const uint8_t *m, unsigned len)
{
	unsigned pos = 12, rrs = 0;

	CHECK(len >= 12 && lv_wire_get16(m + 4) == 1);
	CHECK(skip_name(m, len, &pos) && pos + 4 <= len);
	pos += 4;
	for (unsigned s = 0; s < 3; s++)
		rrs += lv_wire_get16(m + 6 + 2 * s);
	for (unsigned i = 0; i < rrs; i++) {
		CHECK(skip_name(m, len, &pos) && pos + 10 <= len);
		pos += 10u + lv_wire_get16(m + pos + 8);
		CHECK(pos <= len);
	}
	CHECK(pos == len);
}

/* Write e (aged) after the client's question; check what a client gets. */
static void check_written(const uint8_t *query, uint16_t qlen,
			  const struct lv_query *q,
			  const struct lv_cache_entry *e)
{
	static uint8_t buf[70000];
	uint16_t first = 0;

	for (uint32_t age = 0; age < 200000; age = age * 7 + 1) {
		bool tc;
		memcpy(buf, query, qlen);
		uint16_t len = lv_response_from_entry_aged(buf, 65535, q, e,
							   65535, age, &tc);
		CHECK(len > 0 && !tc);
		CHECK(first == 0 || len == first);
		first = len;
		CHECK(lv_response_sum(buf, len, q, e) == lv_csum(buf, len));
		check_wire(buf, len);
		CHECK(lv_wire_get16(buf + 6) == e->ancount &&
		      lv_wire_get16(buf + 8) == e->nscount &&
		      lv_wire_get16(buf + 10) == e->arcount + 1); /* our OPT */
		CHECK(!(lv_wire_get16(buf + 2) & LV_FLAG_AA) &&
		      (lv_wire_get16(buf + 2) & LV_FLAG_RA));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct lv_ttl_policy pol = {.min_ttl = 10,
						 .max_ttl = 1000,
						 .neg_max_ttl = 300,
						 .servfail_ttl = 5};
	uint8_t query[300];
	struct lv_query q;
	struct lv_upstream_result res;

	if (size == 0 || size > 65535)
		return 0;
	unsigned k = data[0] % (sizeof(QUERIES) / sizeof(QUERIES[0]));
	uint16_t qlen = client_query(query, k, &q);
	uint8_t *msg = malloc(size);
	memcpy(msg, data, size);
	int rc =
	    lv_upstream_entry_build(msg, (uint16_t)size, &q, &pol, SEED, &res);
	free(msg);
	if (rc != 0) {
		CHECK(res.entry == NULL);
		return 0;
	}
	CHECK(res.entry != NULL);
	CHECK(res.entry->hash == q.hash);
	CHECK(!res.cacheable || res.ttl > 0);
	CHECK(!res.truncated || !res.cacheable);
	if (res.cacheable && res.rcode == LV_RCODE_NOERROR &&
	    res.entry->ancount > 0)
		CHECK(res.ttl >= pol.min_ttl && res.ttl <= pol.max_ttl);
	check_entry(res.entry);
	/* an answer that fits one message with our question and OPT */
	if (q.question_end + res.entry->wire_len + LV_DNS_OPT_RR_LEN <= 65535)
		check_written(query, qlen, &q, res.entry);
	lv_cache_entry_free(res.entry);
	return 0;
}
