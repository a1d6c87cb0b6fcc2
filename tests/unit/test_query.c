/*
 * Unit tests for the fast-path query parser (dataplane/query.c).
 *
 * lv_query_parse() is pure, so no EAL is needed. Every verdict of enum
 * lv_parse_result is reached from a hand-built message, with the fields
 * of struct lv_query the verdict promises checked; the question name's
 * limits (label 63/64, name 255/256, pointers, running past the end) and
 * the OPT record's (truncated, malformed options, version) each have a
 * case. A seeded loop of random and mutated messages closes the file: the
 * parser must return a known verdict and never read outside [0, len)
 * (every message lives in a heap block of exactly its length, so an ASan
 * build catches a stray read).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "levee/hash.h"
#include "levee/query.h"

#define SEED 0x0123456789abcdefull

#define OPCODE(n) ((uint16_t)((n) << 11))

/* A message under construction. */
struct msg {
	uint8_t b[2048];
	unsigned len;
};

static void put8(struct msg *m, uint8_t v)
{
	assert_true(m->len + 1 <= sizeof(m->b));
	m->b[m->len++] = v;
}

static void put16(struct msg *m, uint16_t v)
{
	put8(m, (uint8_t)(v >> 8));
	put8(m, (uint8_t)v);
}

static void put_bytes(struct msg *m, const void *p, unsigned n)
{
	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void header(struct msg *m, uint16_t id, uint16_t flags, uint16_t qd,
		   uint16_t an, uint16_t ns, uint16_t ar)
{
	m->len = 0;
	put16(m, id);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
}

/* "www.Example.COM" (or "." for the root) in wire form, case kept. */
static void name(struct msg *m, const char *text)
{
	if (strcmp(text, ".") != 0) {
		while (*text) {
			const char *dot = strchr(text, '.');
			size_t l = dot ? (size_t)(dot - text) : strlen(text);
			put8(m, (uint8_t)l);
			put_bytes(m, text, (unsigned)l);
			text += l + (dot ? 1 : 0);
		}
	}
	put8(m, 0);
}

/* OPT with no options: owner root, type 41, size, ext rcode, version,
 * flags (DO), rdlen 0. */
static void opt(struct msg *m, uint16_t size, uint8_t version, uint16_t flags)
{
	put8(m, 0);
	put16(m, LV_TYPE_OPT);
	put16(m, size);
	put8(m, 0);
	put8(m, version);
	put16(m, flags);
	put16(m, 0);
}

/* A standard query for text/qtype/IN, RD set, optional OPT. */
static void query(struct msg *m, const char *text, uint16_t qtype, int edns,
		  uint16_t edns_flags)
{
	header(m, 0xbeef, LV_FLAG_RD, 1, 0, 0, edns ? 1 : 0);
	name(m, text);
	put16(m, qtype);
	put16(m, LV_CLASS_IN);
	if (edns)
		opt(m, 4096, 0, edns_flags);
}

/* Parse from a heap copy of exactly m->len bytes (ASan sees overreads). */
static enum lv_parse_result parse(const struct msg *m, struct lv_query *q)
{
	uint8_t *copy = malloc(m->len ? m->len : 1);
	assert_non_null(copy);
	memcpy(copy, m->b, m->len);
	memset(q, 0xa5, sizeof(*q)); /* nothing may rely on a zeroed struct */
	enum lv_parse_result r =
	    lv_query_parse(copy, (uint16_t)m->len, SEED, q);
	free(copy);
	return r;
}

static uint64_t key_hash(const struct lv_query *q)
{
	return lv_cache_key_hash(SEED, q->lname, q->qname_len, q->qtype,
				 q->qclass, lv_key_bits(q->do_bit, q->cd));
}

/* --- OK --- */

static void test_ok_lowercases(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;
	static const uint8_t want[] = "\x03www\x07"
				      "example\x03"
				      "com";

	query(&m, "WwW.ExAmPlE.CoM", LV_TYPE_AAAA, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_OK);
	assert_int_equal(q.id, 0xbeef);
	assert_int_equal(q.flags, LV_FLAG_RD);
	assert_int_equal(q.qname_len, 17);
	assert_memory_equal(q.lname, want, 17); /* includes the root byte */
	assert_int_equal(q.qtype, LV_TYPE_AAAA);
	assert_int_equal(q.qclass, LV_CLASS_IN);
	assert_int_equal(q.question_end, 12 + 17 + 4);
	assert_int_equal(q.question_ok, 1);
	assert_int_equal(q.has_edns, 0);
	assert_int_equal(q.do_bit, 0);
	assert_int_equal(q.edns_udp_size, 0);
	assert_true(q.hash == key_hash(&q));
}

/* Bytes outside A-Z are left alone: digits, '-', '_', high bytes, and
 * the characters just around the letters ('@' 0x40, '[' 0x5b). */
static void test_ok_lowercase_only_ascii_letters(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;
	const uint8_t label[] = {'@', 'A', 'Z', '[',  '`',  'a',  'z', '{',
				 '0', '-', '_', 0xc1, 0xff, 0x00, 0x20};
	const uint8_t lower[] = {'@', 'a', 'z', '[',  '`',  'a',  'z', '{',
				 '0', '-', '_', 0xc1, 0xff, 0x00, 0x20};

	header(&m, 1, 0, 1, 0, 0, 0);
	put8(&m, sizeof(label));
	put_bytes(&m, label, sizeof(label));
	put8(&m, 0);
	put16(&m, LV_TYPE_TXT);
	put16(&m, LV_CLASS_CH);
	assert_int_equal(parse(&m, &q), LV_PARSE_OK);
	assert_int_equal(q.qname_len, 1 + sizeof(label) + 1);
	assert_int_equal(q.lname[0], sizeof(label));
	assert_memory_equal(q.lname + 1, lower, sizeof(lower));
	assert_int_equal(q.lname[1 + sizeof(label)], 0);
	assert_int_equal(q.qclass, LV_CLASS_CH);
}

static void test_hash_key(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query a, b;

	/* case-insensitively equal names hash alike */
	query(&m, "www.example.com", LV_TYPE_A, 0, 0);
	assert_int_equal(parse(&m, &a), LV_PARSE_OK);
	query(&m, "WWW.EXAMPLE.COM", LV_TYPE_A, 0, 0);
	assert_int_equal(parse(&m, &b), LV_PARSE_OK);
	assert_true(a.hash == b.hash);
	assert_true(a.hash == key_hash(&a));

	/* the DO bit is part of the key */
	query(&m, "www.example.com", LV_TYPE_A, 1, LV_EDNS_DO);
	assert_int_equal(parse(&m, &b), LV_PARSE_OK);
	assert_int_equal(b.do_bit, 1);
	assert_true(a.hash != b.hash);
	assert_true(b.hash == key_hash(&b));

	/* EDNS without DO keys like no EDNS */
	query(&m, "www.example.com", LV_TYPE_A, 1, 0);
	assert_int_equal(parse(&m, &b), LV_PARSE_OK);
	assert_true(a.hash == b.hash);

	/* qtype */
	query(&m, "www.example.com", LV_TYPE_AAAA, 0, 0);
	assert_int_equal(parse(&m, &b), LV_PARSE_OK);
	assert_true(a.hash != b.hash);

	/* qclass */
	header(&m, 0xbeef, LV_FLAG_RD, 1, 0, 0, 0);
	name(&m, "www.example.com");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_CH);
	assert_int_equal(parse(&m, &b), LV_PARSE_OK);
	assert_true(a.hash != b.hash);
	assert_true(b.hash == key_hash(&b));

	/* a different name */
	query(&m, "www.example.org", LV_TYPE_A, 0, 0);
	assert_int_equal(parse(&m, &b), LV_PARSE_OK);
	assert_true(a.hash != b.hash);

	/* another seed */
	query(&m, "www.example.com", LV_TYPE_A, 0, 0);
	assert_int_equal(lv_query_parse(m.b, (uint16_t)m.len, SEED + 1, &b),
			 LV_PARSE_OK);
	assert_true(a.hash != b.hash);
}

static void test_root_name(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	query(&m, ".", LV_TYPE_NS, 0, 0);
	assert_int_equal(m.len, 12 + 1 + 4);
	assert_int_equal(parse(&m, &q), LV_PARSE_OK);
	assert_int_equal(q.qname_len, 1);
	assert_int_equal(q.lname[0], 0);
	assert_int_equal(q.qtype, LV_TYPE_NS);
	assert_int_equal(q.question_end, 17);
	assert_true(q.hash == key_hash(&q));

	query(&m, ".", LV_TYPE_SOA, 1, LV_EDNS_DO);
	assert_int_equal(parse(&m, &q), LV_PARSE_OK);
	assert_int_equal(q.qname_len, 1);
	assert_int_equal(q.has_edns, 1);
	assert_int_equal(q.do_bit, 1);
	assert_int_equal(q.question_end, 17);
}

/* --- EDNS --- */

static void test_edns(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	header(&m, 7, 0, 1, 0, 0, 1);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	opt(&m, 1400, 0, LV_EDNS_DO | 0x0001); /* a Z bit too: ignored */
	assert_int_equal(parse(&m, &q), LV_PARSE_OK);
	assert_int_equal(q.has_edns, 1);
	assert_int_equal(q.edns_udp_size, 1400);
	assert_int_equal(q.edns_version, 0);
	assert_int_equal(q.do_bit, 1);
	assert_int_equal(q.question_end, 12 + 11 + 4);

	/* sizes below 512 are reported as sent (the limit clamps later) */
	header(&m, 7, 0, 1, 0, 0, 1);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	opt(&m, 0, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_OK);
	assert_int_equal(q.has_edns, 1);
	assert_int_equal(q.edns_udp_size, 0);
	assert_int_equal(q.do_bit, 0);
}

/* OPT with rdata built from the given bytes; rdlen as given. */
static enum lv_parse_result parse_with_rdata(const void *rd, unsigned rd_len,
					     uint16_t rdlen, struct lv_query *q)
{
	struct msg m;
	header(&m, 7, 0, 1, 0, 0, 1);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	put8(&m, 0);
	put16(&m, LV_TYPE_OPT);
	put16(&m, 1232);
	put8(&m, 0);
	put8(&m, 0);
	put16(&m, LV_EDNS_DO);
	put16(&m, rdlen);
	put_bytes(&m, rd, rd_len);
	return parse(&m, q);
}

static void test_edns_options(void **state)
{
	(void)state;
	struct lv_query q;
	/* cookie (10) with 8 bytes, then padding (12) with 0 bytes */
	static const uint8_t two[] = {0, 10, 0, 8, 1, 2,  3, 4,
				      5, 6,  7, 8, 0, 12, 0, 0};
	/* NSID (3), empty */
	static const uint8_t nsid[] = {0, 3, 0, 0};

	assert_int_equal(parse_with_rdata(two, sizeof(two), sizeof(two), &q),
			 LV_PARSE_OK);
	assert_int_equal(q.has_edns, 1);
	assert_int_equal(q.do_bit, 1);
	assert_int_equal(q.edns_udp_size, 1232);
	assert_int_equal(parse_with_rdata(nsid, 4, 4, &q), LV_PARSE_OK);

	/* an option whose length runs past the rdata */
	static const uint8_t over[] = {0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8};
	assert_int_equal(parse_with_rdata(over, sizeof(over), sizeof(over), &q),
			 LV_PARSE_FORMERR);
	/* ... even when the message has the bytes (rdlen says less) */
	static const uint8_t over2[] = {0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	assert_int_equal(parse_with_rdata(over2, sizeof(over2), 12, &q),
			 LV_PARSE_FORMERR);
	/* a partial option header (3 bytes; 4 + 3) */
	static const uint8_t part[] = {0, 3, 0};
	assert_int_equal(parse_with_rdata(part, 3, 3, &q), LV_PARSE_FORMERR);
	static const uint8_t part2[] = {0, 3, 0, 0, 0, 10, 0};
	assert_int_equal(parse_with_rdata(part2, 7, 7, &q), LV_PARSE_FORMERR);
	/* option length 0xffff */
	static const uint8_t huge[] = {0, 10, 0xff, 0xff};
	assert_int_equal(parse_with_rdata(huge, 4, 4, &q), LV_PARSE_FORMERR);
	/* rdlen past the end of the message */
	assert_int_equal(parse_with_rdata(nsid, 4, 5, &q), LV_PARSE_FORMERR);
	assert_int_equal(parse_with_rdata(nsid, 4, 0xffff, &q),
			 LV_PARSE_FORMERR);
	/* rdlen shorter than the bytes: the rest is trailing garbage */
	assert_int_equal(parse_with_rdata(nsid, 4, 0, &q), LV_PARSE_FORMERR);
}

static void test_badvers(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	header(&m, 9, LV_FLAG_RD, 1, 0, 0, 1);
	name(&m, "Example.NET");
	put16(&m, LV_TYPE_MX);
	put16(&m, LV_CLASS_IN);
	opt(&m, 1232, 1, LV_EDNS_DO);
	assert_int_equal(parse(&m, &q), LV_PARSE_BADVERS);
	assert_int_equal(q.question_ok, 1);
	assert_int_equal(q.question_end, 12 + 13 + 4);
	assert_int_equal(q.has_edns, 1);
	assert_int_equal(q.edns_version, 1);
	assert_int_equal(q.do_bit, 1);
	assert_int_equal(q.id, 9);

	/* version 255 too */
	m.b[12 + 13 + 4 + 6] = 255;
	assert_int_equal(parse(&m, &q), LV_PARSE_BADVERS);
	assert_int_equal(q.edns_version, 255);

	/* a malformed message with version 1 is FORMERR first */
	put8(&m, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
}

/* --- drops --- */

static void test_runt(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	query(&m, "www.example.com", LV_TYPE_A, 0, 0);
	for (unsigned n = 0; n < LV_DNS_HDR_LEN; n++) {
		m.len = n;
		assert_int_equal(parse(&m, &q), LV_PARSE_DROP_RUNT);
		assert_int_equal(q.question_ok, 0);
		assert_int_equal(q.has_edns, 0);
	}
	/* a bare header is not a runt: it has no question */
	m.len = LV_DNS_HDR_LEN;
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
}

static void test_response_dropped(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	query(&m, "www.example.com", LV_TYPE_A, 0, 0);
	m.b[2] |= 0x80;
	assert_int_equal(parse(&m, &q), LV_PARSE_DROP_RESPONSE);
	/* whatever else it holds */
	m.b[2] |= 0x78;
	assert_int_equal(parse(&m, &q), LV_PARSE_DROP_RESPONSE);
	header(&m, 1, LV_FLAG_QR, 0, 5, 5, 5);
	assert_int_equal(parse(&m, &q), LV_PARSE_DROP_RESPONSE);
}

/* --- NOTIMP --- */

static void test_notimp(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;
	static const unsigned opcodes[] = {1, 2, 3, 4, 5, 6, 15};

	for (unsigned i = 0; i < sizeof(opcodes) / sizeof(opcodes[0]); i++) {
		uint16_t flags = OPCODE(opcodes[i]) | LV_FLAG_AA;
		header(&m, 2, flags, 1, 0, 0, 0);
		name(&m, "Zone.Example");
		put16(&m, LV_TYPE_SOA);
		put16(&m, LV_CLASS_IN);
		assert_int_equal(parse(&m, &q), LV_PARSE_NOTIMP);
		assert_int_equal(q.flags, flags);
		assert_int_equal(q.question_ok, 1);
		assert_int_equal(q.question_end, m.len);
		assert_int_equal(q.qtype, LV_TYPE_SOA);
	}

	/* UPDATE carries records in the other sections: still NOTIMP */
	header(&m, 2, OPCODE(5), 1, 1, 2, 0);
	name(&m, "zone.example");
	put16(&m, LV_TYPE_SOA);
	put16(&m, LV_CLASS_IN);
	put_bytes(&m, "\xc0\x0c\x00\x01\x00\xff\x00\x00\x00\x00\x00\x00", 12);
	assert_int_equal(parse(&m, &q), LV_PARSE_NOTIMP);
	assert_int_equal(q.question_ok, 1);
	assert_int_equal(q.question_end, 12 + 14 + 4);

	/* NOTIFY whose question does not parse: NOTIMP, nothing echoed */
	header(&m, 2, OPCODE(4), 1, 0, 0, 0);
	put_bytes(&m, "\x04zone\xc0\x0c", 7);
	put16(&m, LV_TYPE_SOA);
	put16(&m, LV_CLASS_IN);
	assert_int_equal(parse(&m, &q), LV_PARSE_NOTIMP);
	assert_int_equal(q.question_ok, 0);

	/* and with no question at all */
	header(&m, 2, OPCODE(4), 0, 0, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_NOTIMP);
	assert_int_equal(q.question_ok, 0);
	header(&m, 2, OPCODE(4), 2, 0, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_NOTIMP);
	assert_int_equal(q.question_ok, 0);
}

/* --- FORMERR: the question --- */

static void test_qdcount(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	header(&m, 3, 0, 0, 0, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	assert_int_equal(q.question_ok, 0);

	/* QDCOUNT 0 followed by a question-shaped body */
	header(&m, 3, 0, 0, 0, 0, 0);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	assert_int_equal(q.question_ok, 0);

	/* two well-formed questions */
	header(&m, 3, 0, 2, 0, 0, 0);
	for (int i = 0; i < 2; i++) {
		name(&m, "a.example");
		put16(&m, LV_TYPE_A);
		put16(&m, LV_CLASS_IN);
	}
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	assert_int_equal(q.question_ok, 0);

	header(&m, 3, 0, 0xffff, 0, 0, 0);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
}

static void test_compression_pointer(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	/* www + pointer to offset 12 */
	header(&m, 4, 0, 1, 0, 0, 0);
	put_bytes(&m, "\x03www\xc0\x0c", 6);
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	assert_int_equal(q.question_ok, 0);

	/* a pointer as the whole name */
	header(&m, 4, 0, 1, 0, 0, 0);
	put_bytes(&m, "\xc0\x0c", 2);
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);

	/* the obsolete label types 0x40 and 0x80 */
	static const uint8_t kinds[] = {0x40, 0x41, 0x80, 0xbf, 0xff};
	for (unsigned i = 0; i < sizeof(kinds); i++) {
		header(&m, 4, 0, 1, 0, 0, 0);
		put_bytes(&m, "\x01x", 2);
		put8(&m, kinds[i]);
		put8(&m, 0);
		put8(&m, 0);
		put16(&m, LV_TYPE_A);
		put16(&m, LV_CLASS_IN);
		assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	}
}

/* One label of n bytes ('a' .. ) then the root. */
static void label_of(struct msg *m, unsigned n)
{
	put8(m, (uint8_t)n);
	for (unsigned i = 0; i < n; i++)
		put8(m, (uint8_t)('A' + i % 26));
}

static void test_label_length(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	header(&m, 5, 0, 1, 0, 0, 0);
	label_of(&m, 63);
	put8(&m, 0);
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	assert_int_equal(parse(&m, &q), LV_PARSE_OK);
	assert_int_equal(q.qname_len, 65);
	assert_int_equal(q.lname[63], 'a' + 62 % 26);

	header(&m, 5, 0, 1, 0, 0, 0);
	label_of(&m, 64);
	put8(&m, 0);
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	assert_int_equal(q.question_ok, 0);
}

/* A name of exactly `total` wire bytes (root included), labels <= 63. */
static void name_of_len(struct msg *m, unsigned total)
{
	unsigned left = total - 1; /* bytes before the root */
	while (left > 0) {
		unsigned l = left - 1 > 63 ? 63 : left - 1;
		/* never leave a remainder of 1 (a length byte alone) */
		if (left - (l + 1) == 1)
			l--;
		label_of(m, l);
		left -= l + 1;
	}
	put8(m, 0);
}

static void test_name_length(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	for (unsigned total = 250; total <= 255; total++) {
		header(&m, 6, 0, 1, 0, 0, 0);
		name_of_len(&m, total);
		assert_int_equal(m.len, 12 + total);
		put16(&m, LV_TYPE_A);
		put16(&m, LV_CLASS_IN);
		assert_int_equal(parse(&m, &q), LV_PARSE_OK);
		assert_int_equal(q.qname_len, total);
		assert_int_equal(q.lname[total - 1], 0);
		assert_int_equal(q.question_end, 12 + total + 4);
		assert_true(q.hash == key_hash(&q));
	}
	/* 63+63+63+61 labels: 255 bytes exactly, the classic maximum */
	header(&m, 6, 0, 1, 0, 0, 0);
	label_of(&m, 63);
	label_of(&m, 63);
	label_of(&m, 63);
	label_of(&m, 61);
	put8(&m, 0);
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	assert_int_equal(parse(&m, &q), LV_PARSE_OK);
	assert_int_equal(q.qname_len, 255);

	for (unsigned total = 256; total <= 260; total++) {
		header(&m, 6, 0, 1, 0, 0, 0);
		name_of_len(&m, total);
		put16(&m, LV_TYPE_A);
		put16(&m, LV_CLASS_IN);
		assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
		assert_int_equal(q.question_ok, 0);
	}
	/* a long run of one-byte labels */
	header(&m, 6, 0, 1, 0, 0, 0);
	for (int i = 0; i < 200; i++)
		label_of(&m, 1);
	put8(&m, 0);
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
}

static void test_name_past_end(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	/* every cut inside "\x03www\x07example\x03com\x00" */
	query(&m, "www.example.com", LV_TYPE_A, 0, 0);
	for (unsigned n = 13; n < 12 + 17; n++) {
		struct msg cut = m;
		cut.len = n;
		assert_int_equal(parse(&cut, &q), LV_PARSE_FORMERR);
		assert_int_equal(q.question_ok, 0);
	}
	/* a label length pointing past the end */
	header(&m, 8, 0, 1, 0, 0, 0);
	put_bytes(&m, "\x3fwww", 4);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
}

static void test_missing_type_class(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	query(&m, "www.example.com", LV_TYPE_A, 0, 0);
	for (unsigned n = 12 + 17; n < 12 + 17 + 4; n++) {
		struct msg cut = m;
		cut.len = n;
		assert_int_equal(parse(&cut, &q), LV_PARSE_FORMERR);
		assert_int_equal(q.question_ok, 0);
	}
}

/* --- PUNT --- */

static void test_punt_counts(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	/* ANCOUNT, NSCOUNT != 0 (with and without the records present) */
	static const uint16_t counts[][3] = {{1, 0, 0},      {0, 1, 0},
					     {0, 0, 2},      {1, 1, 1},
					     {0xffff, 0, 0}, {0, 0, 0xffff}};
	for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		header(&m, 10, 0, 1, counts[i][0], counts[i][1], counts[i][2]);
		name(&m, "a.example");
		put16(&m, LV_TYPE_A);
		put16(&m, LV_CLASS_IN);
		assert_int_equal(parse(&m, &q), LV_PARSE_PUNT);
		assert_int_equal(q.question_ok, 1);
	}
	/* ARCOUNT 2 with two OPTs present */
	header(&m, 10, 0, 1, 0, 0, 2);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	opt(&m, 1232, 0, 0);
	opt(&m, 1232, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_PUNT);
}

static void test_punt_tsig(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	/* a TSIG as the only additional record: owner is the key name */
	header(&m, 11, 0, 1, 0, 0, 1);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	name(&m, "key.example");
	put16(&m, LV_TYPE_TSIG);
	put16(&m, LV_CLASS_ANY);
	put16(&m, 0);
	put16(&m, 0);
	put16(&m, 4);
	put_bytes(&m, "\x00\x00\x00\x00", 4);
	assert_int_equal(parse(&m, &q), LV_PARSE_PUNT);
	assert_int_equal(q.question_ok, 1);
	assert_int_equal(q.has_edns, 0);

	/* root owner but not type OPT (SIG(0) is type 24) */
	header(&m, 11, 0, 1, 0, 0, 1);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	put8(&m, 0);
	put16(&m, 24);
	put16(&m, LV_CLASS_ANY);
	put16(&m, 0);
	put16(&m, 0);
	put16(&m, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_PUNT);

	/* an OPT-typed record under a non-root owner is not our OPT */
	header(&m, 11, 0, 1, 0, 0, 1);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	put_bytes(&m, "\xc0\x0c", 2);
	put16(&m, LV_TYPE_OPT);
	put16(&m, 1232);
	put16(&m, 0);
	put16(&m, 0);
	put16(&m, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_PUNT);
}

/* A TSIG-shaped record (owner key.example, 4 bytes of RDATA). */
static void tsig_rr(struct msg *m)
{
	name(m, "key.example");
	put16(m, LV_TYPE_TSIG);
	put16(m, LV_CLASS_ANY);
	put16(m, 0);
	put16(m, 0);
	put16(m, 4);
	put_bytes(m, "\x00\x00\x00\x00", 4);
}

static void check_edns(const struct lv_query *q, uint16_t size, int do_bit)
{
	assert_int_equal(q->has_edns, 1);
	assert_int_equal(q->edns_udp_size, size);
	assert_int_equal(q->edns_version, 0);
	assert_int_equal(q->do_bit, do_bit);
}

/*
 * RFC 6891 §7: the answer to a query with an OPT carries one, errors
 * included. The parser finds the OPT for NOTIMP, for FORMERR without a
 * question, and for punted queries (whose TSIG errors are written from q),
 * wherever it sits; only a whole message with one OPT, in the additional
 * section, counts.
 */
static void test_opt_found_for_errors(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	/* NOTIFY (SOA question, an SOA-shaped answer record) with an OPT */
	header(&m, 2, OPCODE(4), 1, 1, 0, 1);
	name(&m, "zone.example");
	put16(&m, LV_TYPE_SOA);
	put16(&m, LV_CLASS_IN);
	put_bytes(
	    &m, "\xc0\x0c\x00\x06\x00\x01\x00\x00\x00\x00\x00\x02\xc0\x0c", 14);
	opt(&m, 1400, 0, LV_EDNS_DO);
	assert_int_equal(parse(&m, &q), LV_PARSE_NOTIMP);
	check_edns(&q, 1400, 1);
	/* an OPT of version 1 still counts: NOTIMP is decided first */
	header(&m, 2, OPCODE(2), 1, 0, 0, 1);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	opt(&m, 512, 1, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_NOTIMP);
	assert_int_equal(q.has_edns, 1);
	assert_int_equal(q.edns_version, 1);

	/* QDCOUNT 0 and 2, with an OPT */
	header(&m, 3, 0, 0, 0, 0, 1);
	opt(&m, 1232, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	assert_int_equal(q.question_ok, 0);
	check_edns(&q, 1232, 0);
	header(&m, 3, 0, 2, 0, 0, 1);
	for (int i = 0; i < 2; i++) {
		name(&m, "a.example");
		put16(&m, LV_TYPE_A);
		put16(&m, LV_CLASS_IN);
	}
	opt(&m, 4096, 0, LV_EDNS_DO);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	check_edns(&q, 4096, 1);

	/* OPT then TSIG (the shape of a signed query): punted, EDNS known */
	header(&m, 11, 0, 1, 0, 0, 2);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	opt(&m, 1232, 0, LV_EDNS_DO);
	tsig_rr(&m);
	assert_int_equal(parse(&m, &q), LV_PARSE_PUNT);
	assert_int_equal(q.question_ok, 1);
	check_edns(&q, 1232, 1);
	/* TSIG before the OPT: found all the same */
	header(&m, 11, 0, 1, 0, 0, 2);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	tsig_rr(&m);
	opt(&m, 999, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_PUNT);
	check_edns(&q, 999, 0);
	/* and after an answer record */
	header(&m, 11, 0, 1, 1, 0, 1);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	put_bytes(
	    &m,
	    "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x01\x02\x03\x04",
	    16);
	opt(&m, 1232, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_PUNT);
	check_edns(&q, 1232, 0);
}

/* What does not count as the query's OPT. */
static void test_opt_not_found(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	/* two OPTs (FORMERR for the control plane, RFC 6891 §6.1.1) */
	header(&m, 11, 0, 1, 0, 0, 2);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	opt(&m, 1232, 0, 0);
	opt(&m, 1232, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_PUNT);
	assert_int_equal(q.has_edns, 0);
	/* an OPT in the answer section */
	header(&m, 11, 0, 1, 1, 0, 0);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	opt(&m, 1232, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_PUNT);
	assert_int_equal(q.has_edns, 0);
	/* a record cut short before the OPT */
	header(&m, 11, OPCODE(4), 1, 1, 0, 1);
	name(&m, "a.example");
	put16(&m, LV_TYPE_SOA);
	put16(&m, LV_CLASS_IN);
	put_bytes(&m, "\xc0\x0c\x00\x06\x00\x01\x00\x00\x00\x00\x00\x40", 12);
	opt(&m, 1232, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_NOTIMP);
	assert_int_equal(q.has_edns, 0);
	/* the OPT itself cut short, or with options that do not tile */
	header(&m, 11, OPCODE(4), 1, 0, 0, 1);
	name(&m, "a.example");
	put16(&m, LV_TYPE_SOA);
	put16(&m, LV_CLASS_IN);
	opt(&m, 1232, 0, 0);
	m.len -= 1;
	assert_int_equal(parse(&m, &q), LV_PARSE_NOTIMP);
	assert_int_equal(q.has_edns, 0);
	m.len -= 1;
	put16(&m, 3); /* rdlen 3: three bytes that are not an option */
	put_bytes(&m, "\x00\x0a\x00", 3);
	assert_int_equal(parse(&m, &q), LV_PARSE_NOTIMP);
	assert_int_equal(q.has_edns, 0);
	/* a question that does not parse: the OPT cannot be found */
	header(&m, 3, 0, 1, 0, 0, 1);
	put8(&m, 64);
	for (int i = 0; i < 64; i++)
		put8(&m, 'a');
	put8(&m, 0);
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	opt(&m, 1232, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	assert_int_equal(q.has_edns, 0);
	/* counts that promise more records than there are */
	header(&m, 3, 0, 0, 0, 0, 2);
	opt(&m, 1232, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	assert_int_equal(q.has_edns, 0);
}

/* --- FORMERR: the OPT and what follows --- */

static void test_opt_truncated(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	query(&m, "www.example.com", LV_TYPE_A, 1, LV_EDNS_DO);
	unsigned full = m.len;
	for (unsigned n = 12 + 17 + 4; n < full; n++) {
		struct msg cut = m;
		cut.len = n;
		enum lv_parse_result r = parse(&cut, &q);
		assert_int_equal(r, LV_PARSE_FORMERR);
		assert_int_equal(q.question_ok, 1);
		assert_int_equal(q.has_edns, 0);
	}
	/* ARCOUNT 1 and nothing after the question */
	header(&m, 12, 0, 1, 0, 0, 1);
	name(&m, "a.example");
	put16(&m, LV_TYPE_A);
	put16(&m, LV_CLASS_IN);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
}

static void test_trailing_bytes(void **state)
{
	(void)state;
	struct msg m;
	struct lv_query q;

	query(&m, "www.example.com", LV_TYPE_A, 0, 0);
	put8(&m, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	assert_int_equal(q.question_ok, 1);

	/* an OPT that ARCOUNT does not announce */
	query(&m, "www.example.com", LV_TYPE_A, 0, 0);
	opt(&m, 1232, 0, 0);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);

	/* bytes after the OPT */
	query(&m, "www.example.com", LV_TYPE_A, 1, 0);
	put_bytes(&m, "xyz", 3);
	assert_int_equal(parse(&m, &q), LV_PARSE_FORMERR);
	assert_int_equal(q.question_ok, 1);
	assert_int_equal(q.has_edns, 1);
}

/* --- robustness --- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic for a given seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* What every verdict promises about q. */
static void check_invariants(const uint8_t *b, unsigned len,
			     enum lv_parse_result r, const struct lv_query *q)
{
	assert_true(r <= LV_PARSE_DROP_RESPONSE);
	if (r == LV_PARSE_DROP_RUNT) {
		assert_true(len < LV_DNS_HDR_LEN);
		return;
	}
	assert_true(len >= LV_DNS_HDR_LEN);
	assert_int_equal(q->id, lv_wire_get16(b));
	assert_int_equal(q->flags, lv_wire_get16(b + 2));
	if (r == LV_PARSE_DROP_RESPONSE)
		return;
	if (q->question_ok) {
		assert_true(q->qname_len >= 1 &&
			    q->qname_len <= LV_DNS_MAX_NAME);
		assert_int_equal(q->lname[q->qname_len - 1], 0);
		assert_int_equal(q->question_end, 12 + q->qname_len + 4);
		assert_true(q->question_end <= len);
		for (unsigned i = 0; i < q->qname_len; i++)
			assert_int_equal(q->lname[i], lv_wire_lower(b[12 + i]));
	}
	if (r == LV_PARSE_OK || r == LV_PARSE_BADVERS)
		assert_int_equal(q->question_ok, 1);
	if (r == LV_PARSE_OK) {
		assert_true(q->hash == key_hash(q));
		assert_true(q->has_edns ? q->edns_version == 0 : 1);
	}
	if (r == LV_PARSE_BADVERS)
		assert_true(q->has_edns && q->edns_version > 0);
	if (!q->has_edns)
		assert_int_equal(q->do_bit, 0);
}

static void parse_checked(const uint8_t *src, unsigned len)
{
	struct lv_query q;
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, src, len);
	enum lv_parse_result r = lv_query_parse(copy, (uint16_t)len, SEED, &q);
	check_invariants(copy, len, r, &q);
	free(copy);
}

static void test_random_bytes(void **state)
{
	(void)state;
	uint8_t buf[600];

	rng_state = 0x9e3779b97f4a7c15ull;
	for (unsigned iter = 0; iter < 20000; iter++) {
		unsigned len = (unsigned)(rng() % sizeof(buf));
		for (unsigned i = 0; i < len; i++)
			buf[i] = (uint8_t)rng();
		/* random headers are mostly QR=1 or QDCOUNT != 1: steer half
		 * of them into the body's code */
		if ((iter & 1) && len >= 12) {
			buf[2] &= 0x07;
			buf[4] = 0;
			buf[5] = 1;
			buf[6] = buf[7] = buf[8] = buf[9] = 0;
			buf[10] = 0;
			buf[11] = (uint8_t)(rng() & 1);
		}
		parse_checked(buf, len);
	}
}

/* Mutations of valid queries: flips, truncations and byte overwrites. */
static void test_mutated_queries(void **state)
{
	(void)state;
	struct msg seeds[4];

	query(&seeds[0], "www.Example.com", LV_TYPE_A, 0, 0);
	query(&seeds[1], "www.example.com", LV_TYPE_AAAA, 1, LV_EDNS_DO);
	query(&seeds[2], ".", LV_TYPE_NS, 1, 0);
	header(&seeds[3], 1, 0, 1, 0, 0, 0);
	name_of_len(&seeds[3], 255);
	put16(&seeds[3], LV_TYPE_A);
	put16(&seeds[3], LV_CLASS_IN);

	rng_state = 42;
	for (unsigned iter = 0; iter < 50000; iter++) {
		struct msg m = seeds[iter % 4];
		unsigned edits = 1 + (unsigned)(rng() % 4);
		for (unsigned e = 0; e < edits; e++) {
			unsigned at = (unsigned)(rng() % m.len);
			switch (rng() % 4) {
			case 0:
				m.b[at] ^= (uint8_t)(1u << (rng() % 8));
				break;
			case 1:
				m.b[at] = (uint8_t)rng();
				break;
			case 2:
				m.len = at;
				break;
			default:
				if (m.len < sizeof(m.b))
					m.b[m.len++] = (uint8_t)rng();
				break;
			}
			if (m.len == 0)
				break;
		}
		parse_checked(m.b, m.len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ok_lowercases),
	    cmocka_unit_test(test_ok_lowercase_only_ascii_letters),
	    cmocka_unit_test(test_hash_key),
	    cmocka_unit_test(test_root_name),
	    cmocka_unit_test(test_edns),
	    cmocka_unit_test(test_edns_options),
	    cmocka_unit_test(test_badvers),
	    cmocka_unit_test(test_runt),
	    cmocka_unit_test(test_response_dropped),
	    cmocka_unit_test(test_notimp),
	    cmocka_unit_test(test_qdcount),
	    cmocka_unit_test(test_compression_pointer),
	    cmocka_unit_test(test_label_length),
	    cmocka_unit_test(test_name_length),
	    cmocka_unit_test(test_name_past_end),
	    cmocka_unit_test(test_missing_type_class),
	    cmocka_unit_test(test_punt_counts),
	    cmocka_unit_test(test_punt_tsig),
	    cmocka_unit_test(test_opt_found_for_errors),
	    cmocka_unit_test(test_opt_not_found),
	    cmocka_unit_test(test_opt_truncated),
	    cmocka_unit_test(test_trailing_bytes),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_mutated_queries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
