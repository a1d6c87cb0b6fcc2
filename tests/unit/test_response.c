/*
 * Unit tests for the response writer (dataplane/response.c and the size
 * limit in include/levee/response.h).
 *
 * Queries are built as wire bytes and parsed with lv_query_parse(), so the
 * writer sees exactly what a worker would hand it; the cache entry is built
 * by hand (struct lv_cache_entry holds only pointers to caller memory here,
 * no cache and no EAL are involved). Each response is checked byte by
 * byte: header flags and counts, the question left as the client wrote it
 * (case and all), the entry's wire bytes, and the OPT we append.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "levee/hash.h"
#include "levee/query.h"
#include "levee/response.h"

#define SEED    0x5eed5eed5eed5eedull
#define OUR_MAX 1232

/* "\x03WwW\x07ExAmPlE\x03CoM\x00": 17 bytes, question ends at 33 */
static const char QNAME[] = "\x03WwW\x07"
			    "ExAmPlE\x03"
			    "CoM";
#define QNAME_LEN 17
#define QEND      (12 + QNAME_LEN + 4)

/* One A record, owner a pointer to the question name at offset 12. */
static const uint8_t A_RR[] = {0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
			       0x0e, 0x10, 0x00, 0x04, 192,  0,    2,    1};

static uint8_t big_wire[2048];

struct buf {
	uint8_t b[4096];
	unsigned len;
};

static void put16(struct buf *m, uint16_t v)
{
	m->b[m->len++] = (uint8_t)(v >> 8);
	m->b[m->len++] = (uint8_t)v;
}

/*
 * A query for QNAME/A/IN with header flags `flags`; with an OPT when
 * edns_size != 0 (version, DO as given). Parsed into q; the expected
 * verdict is checked.
 */
static void make_query(struct buf *m, struct lv_query *q, uint16_t flags,
		       uint16_t edns_size, uint8_t version, int do_bit,
		       enum lv_parse_result want)
{
	memset(m, 0, sizeof(*m));
	put16(m, 0x1234);
	put16(m, flags);
	put16(m, 1);
	put16(m, 0);
	put16(m, 0);
	put16(m, edns_size ? 1 : 0);
	memcpy(m->b + m->len, QNAME, QNAME_LEN);
	m->len += QNAME_LEN;
	put16(m, LV_TYPE_A);
	put16(m, LV_CLASS_IN);
	if (edns_size) {
		m->b[m->len++] = 0;
		put16(m, LV_TYPE_OPT);
		put16(m, edns_size);
		m->b[m->len++] = 0;
		m->b[m->len++] = version;
		put16(m, do_bit ? LV_EDNS_DO : 0);
		put16(m, 0);
	}
	assert_int_equal(lv_query_parse(m->b, (uint16_t)m->len, SEED, q), want);
}

/* The A entry, or one whose wire is wire_len filler bytes. */
static void make_entry(struct lv_cache_entry *e, uint16_t wire_len)
{
	memset(e, 0, sizeof(*e));
	e->qtype = LV_TYPE_A;
	e->qclass = LV_CLASS_IN;
	e->flags = LV_FLAG_AA;
	e->rcode = LV_RCODE_NOERROR;
	e->ancount = 1;
	if (wire_len == 0) {
		e->wire = A_RR;
		e->wire_len = sizeof(A_RR);
	} else {
		assert_true(wire_len <= sizeof(big_wire));
		for (unsigned i = 0; i < sizeof(big_wire); i++)
			big_wire[i] = (uint8_t)(i * 7);
		e->wire = big_wire;
		e->wire_len = wire_len;
	}
}

static uint16_t get16(const struct buf *m, unsigned off)
{
	return lv_wire_get16(m->b + off);
}

static void check_counts(const struct buf *m, uint16_t qd, uint16_t an,
			 uint16_t ns, uint16_t ar)
{
	assert_int_equal(get16(m, 4), qd);
	assert_int_equal(get16(m, 6), an);
	assert_int_equal(get16(m, 8), ns);
	assert_int_equal(get16(m, 10), ar);
}

/* The OPT we append at off: our size, ext rcode, version 0, DO, no rdata. */
static void check_opt(const struct buf *m, unsigned off, uint16_t size,
		      uint8_t ext_rcode, int do_bit)
{
	assert_int_equal(m->b[off], 0);
	assert_int_equal(get16(m, off + 1), LV_TYPE_OPT);
	assert_int_equal(get16(m, off + 3), size);
	assert_int_equal(m->b[off + 5], ext_rcode);
	assert_int_equal(m->b[off + 6], 0);
	assert_int_equal(get16(m, off + 7), do_bit ? LV_EDNS_DO : 0);
	assert_int_equal(get16(m, off + 9), 0);
}

static void check_question(const struct buf *m)
{
	assert_int_equal(get16(m, 0), 0x1234);
	assert_memory_equal(m->b + 12, QNAME, QNAME_LEN);
	assert_int_equal(get16(m, 12 + QNAME_LEN), LV_TYPE_A);
	assert_int_equal(get16(m, 12 + QNAME_LEN + 2), LV_CLASS_IN);
}

/* --- lv_response_limit --- */

static void test_limit(void **state)
{
	(void)state;
	struct lv_query q;

	memset(&q, 0, sizeof(q));
	/* no EDNS: 512 whatever we could send */
	assert_int_equal(lv_response_limit(&q, 1232), 512);
	assert_int_equal(lv_response_limit(&q, 4096), 512);
	/* EDNS below 512 counts as 512 (RFC 6891 §6.2.5) */
	q.has_edns = 1;
	q.edns_udp_size = 0;
	assert_int_equal(lv_response_limit(&q, 1232), 512);
	q.edns_udp_size = 511;
	assert_int_equal(lv_response_limit(&q, 1232), 512);
	q.edns_udp_size = 512;
	assert_int_equal(lv_response_limit(&q, 1232), 512);
	/* otherwise the smaller of theirs and ours */
	q.edns_udp_size = 1000;
	assert_int_equal(lv_response_limit(&q, 1232), 1000);
	q.edns_udp_size = 4096;
	assert_int_equal(lv_response_limit(&q, 1232), 1232);
	q.edns_udp_size = 1232;
	assert_int_equal(lv_response_limit(&q, 1232), 1232);
	q.edns_udp_size = 65535;
	assert_int_equal(lv_response_limit(&q, 65535), 65535);
	/* through the parser */
	struct buf m;
	make_query(&m, &q, 0, 4096, 0, 0, LV_PARSE_OK);
	assert_int_equal(lv_response_limit(&q, 1232), 1232);
	make_query(&m, &q, 0, 100, 0, 0, LV_PARSE_OK);
	assert_int_equal(lv_response_limit(&q, 1232), 512);
}

/* --- lv_response_from_entry --- */

static void test_full_answer_edns(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;
	struct lv_cache_entry e;
	bool tc = true;

	/* RD, CD, AD and Z set by the client: RD and CD come back */
	make_query(&m, &q, LV_FLAG_RD | LV_FLAG_CD | LV_FLAG_AD | LV_FLAG_Z,
		   4096, 0, 1, LV_PARSE_OK);
	make_entry(&e, 0);
	uint16_t len =
	    lv_response_from_entry(m.b, sizeof(m.b), &q, &e, OUR_MAX, &tc);
	m.len = len;
	assert_int_equal(len, QEND + sizeof(A_RR) + LV_DNS_OPT_RR_LEN);
	assert_false(tc);
	check_question(&m);
	assert_int_equal(get16(&m, 2),
			 LV_FLAG_QR | LV_FLAG_AA | LV_FLAG_RD | LV_FLAG_CD);
	check_counts(&m, 1, 1, 0, 1);
	assert_memory_equal(m.b + QEND, A_RR, sizeof(A_RR));
	check_opt(&m, QEND + sizeof(A_RR), OUR_MAX, 0, 1);
}

static void test_full_answer_no_edns(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;
	struct lv_cache_entry e;
	bool tc = true;

	make_query(&m, &q, 0, 0, 0, 0, LV_PARSE_OK);
	make_entry(&e, 0);
	e.rcode = LV_RCODE_NXDOMAIN;
	e.ancount = 0;
	e.nscount = 1;
	e.arcount = 2;
	uint16_t len =
	    lv_response_from_entry(m.b, sizeof(m.b), &q, &e, OUR_MAX, &tc);
	m.len = len;
	assert_int_equal(len, QEND + sizeof(A_RR));
	assert_false(tc);
	check_question(&m);
	/* RD not asked for: not set; rcode from the entry */
	assert_int_equal(get16(&m, 2),
			 LV_FLAG_QR | LV_FLAG_AA | LV_RCODE_NXDOMAIN);
	check_counts(&m, 1, 0, 1, 2);
	assert_memory_equal(m.b + QEND, A_RR, sizeof(A_RR));
}

/* The DO bit of the OPT follows the query, not the entry. */
static void test_do_echo(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;
	struct lv_cache_entry e;
	bool tc;

	make_query(&m, &q, LV_FLAG_RD, 1232, 0, 0, LV_PARSE_OK);
	make_entry(&e, 0);
	e.arcount = 1;
	uint16_t len =
	    lv_response_from_entry(m.b, sizeof(m.b), &q, &e, 4000, &tc);
	m.len = len;
	check_counts(&m, 1, 1, 0, 2);
	check_opt(&m, len - LV_DNS_OPT_RR_LEN, 4000, 0, 0);
}

static void test_truncated_no_edns(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;
	struct lv_cache_entry e;
	bool tc = false;

	make_query(&m, &q, LV_FLAG_RD, 0, 0, 0, LV_PARSE_OK);
	make_entry(&e, 600);
	e.ancount = 20;
	e.nscount = 2;
	e.arcount = 3;
	uint16_t len =
	    lv_response_from_entry(m.b, sizeof(m.b), &q, &e, OUR_MAX, &tc);
	m.len = len;
	assert_true(tc);
	assert_int_equal(len, QEND);
	check_question(&m);
	assert_int_equal(get16(&m, 2),
			 LV_FLAG_QR | LV_FLAG_AA | LV_FLAG_RD | LV_FLAG_TC);
	check_counts(&m, 1, 0, 0, 0);
}

static void test_truncated_edns(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;
	struct lv_cache_entry e;
	bool tc = false;

	/* client says 1000: the 1100-byte answer does not fit */
	make_query(&m, &q, 0, 1000, 0, 1, LV_PARSE_OK);
	make_entry(&e, 1100);
	uint16_t len =
	    lv_response_from_entry(m.b, sizeof(m.b), &q, &e, OUR_MAX, &tc);
	m.len = len;
	assert_true(tc);
	assert_int_equal(len, QEND + LV_DNS_OPT_RR_LEN);
	check_question(&m);
	assert_int_equal(get16(&m, 2), LV_FLAG_QR | LV_FLAG_AA | LV_FLAG_TC);
	check_counts(&m, 1, 0, 0, 1);
	check_opt(&m, QEND, OUR_MAX, 0, 1);

	/* the client could take it, but our own maximum is smaller */
	make_query(&m, &q, 0, 4096, 0, 0, LV_PARSE_OK);
	make_entry(&e, 1300);
	len = lv_response_from_entry(m.b, sizeof(m.b), &q, &e, OUR_MAX, &tc);
	assert_true(tc);
	assert_int_equal(len, QEND + LV_DNS_OPT_RR_LEN);
}

static void test_exactly_at_limit(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;
	struct lv_cache_entry e;
	bool tc = true;

	/* no EDNS: 512 bytes fit, 513 do not */
	make_query(&m, &q, 0, 0, 0, 0, LV_PARSE_OK);
	make_entry(&e, 512 - QEND);
	uint16_t len =
	    lv_response_from_entry(m.b, sizeof(m.b), &q, &e, OUR_MAX, &tc);
	assert_false(tc);
	assert_int_equal(len, 512);
	assert_memory_equal(m.b + QEND, big_wire, 512 - QEND);

	make_query(&m, &q, 0, 0, 0, 0, LV_PARSE_OK);
	make_entry(&e, 512 - QEND + 1);
	len = lv_response_from_entry(m.b, sizeof(m.b), &q, &e, OUR_MAX, &tc);
	assert_true(tc);
	assert_int_equal(len, QEND);

	/* EDNS 1232: the OPT counts towards the limit */
	make_query(&m, &q, 0, 1232, 0, 0, LV_PARSE_OK);
	make_entry(&e, 1232 - QEND - LV_DNS_OPT_RR_LEN);
	len = lv_response_from_entry(m.b, sizeof(m.b), &q, &e, OUR_MAX, &tc);
	assert_false(tc);
	assert_int_equal(len, 1232);
	m.len = len;
	check_opt(&m, 1232 - LV_DNS_OPT_RR_LEN, OUR_MAX, 0, 0);

	make_query(&m, &q, 0, 1232, 0, 0, LV_PARSE_OK);
	make_entry(&e, 1232 - QEND - LV_DNS_OPT_RR_LEN + 1);
	len = lv_response_from_entry(m.b, sizeof(m.b), &q, &e, OUR_MAX, &tc);
	assert_true(tc);
	assert_int_equal(len, QEND + LV_DNS_OPT_RR_LEN);
}

static void test_room(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;
	struct lv_cache_entry e;
	bool tc;
	const unsigned full = QEND + sizeof(A_RR) + LV_DNS_OPT_RR_LEN;

	/* exactly the room needed */
	make_query(&m, &q, 0, 1232, 0, 0, LV_PARSE_OK);
	make_entry(&e, 0);
	tc = true;
	assert_int_equal(
	    lv_response_from_entry(m.b, full, &q, &e, OUR_MAX, &tc), full);
	assert_false(tc);

	/* one byte less: the truncated form still fits */
	make_query(&m, &q, 0, 1232, 0, 0, LV_PARSE_OK);
	tc = false;
	uint16_t len =
	    lv_response_from_entry(m.b, full - 1, &q, &e, OUR_MAX, &tc);
	assert_true(tc);
	assert_int_equal(len, QEND + LV_DNS_OPT_RR_LEN);
	m.len = len;
	check_counts(&m, 1, 0, 0, 1);

	/* room for the question and OPT exactly */
	make_query(&m, &q, 0, 1232, 0, 0, LV_PARSE_OK);
	assert_int_equal(lv_response_from_entry(m.b, QEND + LV_DNS_OPT_RR_LEN,
						&q, &e, OUR_MAX, &tc),
			 QEND + LV_DNS_OPT_RR_LEN);

	/* too small even for that: 0, and the buffer beyond room untouched */
	make_query(&m, &q, 0, 1232, 0, 0, LV_PARSE_OK);
	struct buf before = m;
	assert_int_equal(lv_response_from_entry(m.b,
						QEND + LV_DNS_OPT_RR_LEN - 1,
						&q, &e, OUR_MAX, &tc),
			 0);
	assert_memory_equal(m.b, before.b, sizeof(m.b));
	assert_int_equal(lv_response_from_entry(m.b, 0, &q, &e, OUR_MAX, &tc),
			 0);

	/* without EDNS: the question alone */
	make_query(&m, &q, 0, 0, 0, 0, LV_PARSE_OK);
	assert_int_equal(
	    lv_response_from_entry(m.b, QEND, &q, &e, OUR_MAX, &tc), QEND);
	assert_true(tc);
	assert_int_equal(
	    lv_response_from_entry(m.b, QEND - 1, &q, &e, OUR_MAX, &tc), 0);
}

/* --- lv_response_error --- */

static void test_error_formerr_no_question(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;

	/* a header with QDCOUNT 0 */
	memset(&m, 0, sizeof(m));
	put16(&m, 0x4321);
	put16(&m, LV_FLAG_RD | LV_FLAG_AD);
	put16(&m, 0);
	put16(&m, 0);
	put16(&m, 0);
	put16(&m, 0);
	assert_int_equal(lv_query_parse(m.b, (uint16_t)m.len, SEED, &q),
			 LV_PARSE_FORMERR);
	uint16_t len =
	    lv_response_error(m.b, sizeof(m.b), &q, LV_RCODE_FORMERR, OUR_MAX);
	m.len = len;
	assert_int_equal(len, LV_DNS_HDR_LEN);
	assert_int_equal(get16(&m, 0), 0x4321);
	assert_int_equal(get16(&m, 2),
			 LV_FLAG_QR | LV_FLAG_RD | LV_RCODE_FORMERR);
	check_counts(&m, 0, 0, 0, 0);

	/* room */
	assert_int_equal(lv_response_error(m.b, LV_DNS_HDR_LEN, &q,
					   LV_RCODE_FORMERR, OUR_MAX),
			 LV_DNS_HDR_LEN);
	assert_int_equal(lv_response_error(m.b, LV_DNS_HDR_LEN - 1, &q,
					   LV_RCODE_FORMERR, OUR_MAX),
			 0);
}

/* FORMERR for trailing bytes after a valid OPT: question and OPT echoed. */
static void test_error_formerr_with_question(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;

	make_query(&m, &q, 0, 1232, 0, 1, LV_PARSE_OK);
	m.b[m.len++] = 0xff; /* trailing garbage */
	assert_int_equal(lv_query_parse(m.b, (uint16_t)m.len, SEED, &q),
			 LV_PARSE_FORMERR);
	assert_int_equal(q.question_ok, 1);
	uint16_t len =
	    lv_response_error(m.b, sizeof(m.b), &q, LV_RCODE_FORMERR, OUR_MAX);
	m.len = len;
	assert_int_equal(len, QEND + LV_DNS_OPT_RR_LEN);
	check_question(&m);
	assert_int_equal(get16(&m, 2), LV_FLAG_QR | LV_RCODE_FORMERR);
	check_counts(&m, 1, 0, 0, 1);
	check_opt(&m, QEND, OUR_MAX, 0, 1);
}

static void test_error_notimp(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;
	const uint16_t notify = (uint16_t)(4 << 11);

	make_query(&m, &q, notify | LV_FLAG_AA | LV_FLAG_RD, 0, 0, 0,
		   LV_PARSE_NOTIMP);
	assert_int_equal(q.question_ok, 1);
	uint16_t len =
	    lv_response_error(m.b, sizeof(m.b), &q, LV_RCODE_NOTIMP, OUR_MAX);
	m.len = len;
	assert_int_equal(len, QEND);
	check_question(&m);
	/* opcode and RD echoed; the client's AA is not */
	assert_int_equal(get16(&m, 2),
			 LV_FLAG_QR | notify | LV_FLAG_RD | LV_RCODE_NOTIMP);
	check_counts(&m, 1, 0, 0, 0);
}

static void test_error_badvers(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;

	make_query(&m, &q, LV_FLAG_RD, 1232, 1, 1, LV_PARSE_BADVERS);
	uint16_t len =
	    lv_response_error(m.b, sizeof(m.b), &q, LV_RCODE_BADVERS, OUR_MAX);
	m.len = len;
	assert_int_equal(len, QEND + LV_DNS_OPT_RR_LEN);
	check_question(&m);
	/* BADVERS = 16: header rcode 0, OPT extended rcode 1 */
	assert_int_equal(get16(&m, 2), LV_FLAG_QR | LV_FLAG_RD);
	check_counts(&m, 1, 0, 0, 1);
	check_opt(&m, QEND, OUR_MAX, 1, 1);

	/* an extended rcode needs an OPT even if the query had none */
	make_query(&m, &q, 0, 0, 0, 0, LV_PARSE_OK);
	len =
	    lv_response_error(m.b, sizeof(m.b), &q, LV_RCODE_BADVERS, OUR_MAX);
	m.len = len;
	assert_int_equal(len, QEND + LV_DNS_OPT_RR_LEN);
	check_counts(&m, 1, 0, 0, 1);
	check_opt(&m, QEND, OUR_MAX, 1, 0);

	/* room: the OPT must fit too */
	make_query(&m, &q, LV_FLAG_RD, 1232, 1, 1, LV_PARSE_BADVERS);
	assert_int_equal(lv_response_error(m.b, QEND + LV_DNS_OPT_RR_LEN - 1,
					   &q, LV_RCODE_BADVERS, OUR_MAX),
			 0);
}

static void test_error_refused(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;

	make_query(&m, &q, LV_FLAG_RD | LV_FLAG_CD, 4096, 0, 1, LV_PARSE_OK);
	uint16_t len =
	    lv_response_error(m.b, sizeof(m.b), &q, LV_RCODE_REFUSED, OUR_MAX);
	m.len = len;
	assert_int_equal(len, QEND + LV_DNS_OPT_RR_LEN);
	check_question(&m);
	assert_int_equal(get16(&m, 2), LV_FLAG_QR | LV_FLAG_RD | LV_FLAG_CD |
					   LV_RCODE_REFUSED);
	check_counts(&m, 1, 0, 0, 1);
	check_opt(&m, QEND, OUR_MAX, 0, 1);

	/* without EDNS: no OPT */
	make_query(&m, &q, 0, 0, 0, 0, LV_PARSE_OK);
	len =
	    lv_response_error(m.b, sizeof(m.b), &q, LV_RCODE_SERVFAIL, OUR_MAX);
	m.len = len;
	assert_int_equal(len, QEND);
	assert_int_equal(get16(&m, 2), LV_FLAG_QR | LV_RCODE_SERVFAIL);
	check_counts(&m, 1, 0, 0, 0);
}

/* The whole error answer, byte for byte: header (ID 0x1234, flags, QD as
 * given, AN 0, NS 0, AR 1), the question when qd, our OPT (DO as given). */
static void check_error_bytes(const struct buf *m, uint16_t len, uint16_t flags,
			      int qd, int do_bit)
{
	uint8_t want[128];
	unsigned n = 0;

	want[n++] = 0x12;
	want[n++] = 0x34;
	want[n++] = (uint8_t)(flags >> 8);
	want[n++] = (uint8_t)flags;
	static const uint8_t counts[8] = {0, 0, 0, 0, 0, 0, 0, 1};
	memcpy(want + n, counts, 8);
	want[n + 1] = (uint8_t)qd;
	n += 8;
	if (qd) {
		memcpy(want + n, QNAME, QNAME_LEN);
		n += QNAME_LEN;
		static const uint8_t a_in[4] = {0, 1, 0, 1};
		memcpy(want + n, a_in, 4);
		n += 4;
	}
	const uint8_t opt[LV_DNS_OPT_RR_LEN] = {
	    0, 0, 41, OUR_MAX >> 8, OUR_MAX & 0xff, 0, 0, do_bit ? 0x80 : 0,
	    0, 0, 0};
	memcpy(want + n, opt, sizeof(opt));
	n += sizeof(opt);
	assert_int_equal(len, n);
	assert_memory_equal(m->b, want, n);
}

/*
 * RFC 6891 §7: NOTIMP, NOTAUTH, REFUSED and FORMERR to a query with a
 * parseable OPT carry an OPT, whichever path found it: the parser finds
 * the OPT for NOTIMP, for FORMERR without a question and for punted
 * queries (the TSIG NOTAUTH path writes from that q).
 */
static void test_error_opt_each_rcode(void **state)
{
	(void)state;
	struct buf m;
	struct lv_query q;
	const uint16_t notify = (uint16_t)(4 << 11);
	uint16_t len;

	/* NOTIMP: a NOTIFY with an OPT */
	make_query(&m, &q, notify | LV_FLAG_RD, 1400, 0, 1, LV_PARSE_NOTIMP);
	len = lv_response_error(m.b, sizeof(m.b), &q, LV_RCODE_NOTIMP, OUR_MAX);
	check_error_bytes(
	    &m, len, LV_FLAG_QR | notify | LV_FLAG_RD | LV_RCODE_NOTIMP, 1, 1);

	/* REFUSED (a name in no zone: the control plane's answer) */
	make_query(&m, &q, LV_FLAG_RD, 4096, 0, 0, LV_PARSE_OK);
	len =
	    lv_response_error(m.b, sizeof(m.b), &q, LV_RCODE_REFUSED, OUR_MAX);
	check_error_bytes(&m, len, LV_FLAG_QR | LV_FLAG_RD | LV_RCODE_REFUSED,
			  1, 0);

	/* NOTAUTH: OPT then a TSIG, punted; written from the parser's q */
	make_query(&m, &q, LV_FLAG_RD, 1232, 0, 1, LV_PARSE_OK);
	static const uint8_t tsig[] = {3, 'k', 'e', 'y', 0, 0, 250, 0, 255, 0,
				       0, 0,   0,   0,   4, 0, 0,   0, 0};
	memcpy(m.b + m.len, tsig, sizeof(tsig));
	m.len += sizeof(tsig);
	m.b[11] = 2; /* ARCOUNT: OPT and TSIG */
	assert_int_equal(lv_query_parse(m.b, (uint16_t)m.len, SEED, &q),
			 LV_PARSE_PUNT);
	len =
	    lv_response_error(m.b, sizeof(m.b), &q, LV_RCODE_NOTAUTH, OUR_MAX);
	check_error_bytes(&m, len, LV_FLAG_QR | LV_FLAG_RD | LV_RCODE_NOTAUTH,
			  1, 1);

	/* FORMERR: QDCOUNT 0 with an OPT, no question to echo */
	make_query(&m, &q, LV_FLAG_RD, 1232, 0, 1, LV_PARSE_OK);
	memmove(m.b + 12, m.b + QEND, LV_DNS_OPT_RR_LEN);
	m.len = 12 + LV_DNS_OPT_RR_LEN;
	m.b[5] = 0; /* QDCOUNT 0 */
	assert_int_equal(lv_query_parse(m.b, (uint16_t)m.len, SEED, &q),
			 LV_PARSE_FORMERR);
	len =
	    lv_response_error(m.b, sizeof(m.b), &q, LV_RCODE_FORMERR, OUR_MAX);
	check_error_bytes(&m, len, LV_FLAG_QR | LV_FLAG_RD | LV_RCODE_FORMERR,
			  0, 1);
	/* room: without space for the OPT, nothing is written */
	assert_int_equal(
	    lv_response_error(m.b, LV_DNS_HDR_LEN + LV_DNS_OPT_RR_LEN - 1, &q,
			      LV_RCODE_FORMERR, OUR_MAX),
	    0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit),
	    cmocka_unit_test(test_full_answer_edns),
	    cmocka_unit_test(test_full_answer_no_edns),
	    cmocka_unit_test(test_do_echo),
	    cmocka_unit_test(test_truncated_no_edns),
	    cmocka_unit_test(test_truncated_edns),
	    cmocka_unit_test(test_exactly_at_limit),
	    cmocka_unit_test(test_room),
	    cmocka_unit_test(test_error_formerr_no_question),
	    cmocka_unit_test(test_error_formerr_with_question),
	    cmocka_unit_test(test_error_notimp),
	    cmocka_unit_test(test_error_badvers),
	    cmocka_unit_test(test_error_refused),
	    cmocka_unit_test(test_error_opt_each_rcode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
