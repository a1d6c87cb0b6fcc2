/*
 * Unit tests for the TSIG module (dns/tsig.c, include/levee/tsig.h).
 *
 * The point is interoperation: requests signed by ldns (ldns_pkt_tsig_sign)
 * must verify with lv_tsig_verify(), and what lv_tsig_sign() writes must
 * verify with ldns_pkt_tsig_verify() and, along a transfer stream, with
 * ldns_pkt_tsig_verify_next(..., tsig_timers_only = 1). ldns 1.8.3 knows
 * hmac-md5, -sha1, -sha256 and -sha512 (its hmac-sha384 is misspelt), so
 * sha224 and sha384 are checked against requests dnspython 2.3 signed at a
 * fixed time, kept here as bytes. Then the errors of RFC 8945 §5.2 (BADKEY,
 * BADSIG, BADTIME, FORMERR) and the key parser's messages. No network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "levee/tsig.h"

#define SECRET    "x7t2Zkc5FRgT9Z9llnaSrkJVyL6ritdvZNBMMFgmxLI="
#define OTHER_SEC "dLyNrZTl7DM9v2yuzL3NLfo5lTBtqhiYMWub50VvnhM="
#define QID       0x1234
#define BUF       4096

struct alg_case {
	const char *ours; /* as configured */
	const char *ldns; /* ldns's name for it */
	const char *key;  /* a key of that algorithm in the test keyring */
	unsigned mac_len;
};

static const struct alg_case ALGS[] = {
    {"hmac-sha256", "hmac-sha256.", "k-sha256.", 32},
    {"hmac-sha1", "hmac-sha1.", "k-sha1.", 20},
    {"hmac-md5", "hmac-md5.sig-alg.reg.int.", "k-md5.", 16},
    {"hmac-sha512", "hmac-sha512.", "k-sha512.", 64},
};
#define N_ALGS (sizeof(ALGS) / sizeof(ALGS[0]))
#define SHA256 (&ALGS[0])

static struct lv_tsig_keyring *ring;

/* A request signed by ldns, its wire form copied into buf (which
 * lv_tsig_verify() may change). */
struct query {
	ldns_pkt *pkt;
	uint8_t buf[BUF];
	size_t len;
};

static int setup(void **state)
{
	static const char *more[][2] = {{"k-sha224.", "hmac-sha224"},
					{"k-sha384.", "hmac-sha384"}};
	char err[256];
	size_t i;

	(void)state;
	ring = lv_tsig_keyring_new();
	if (!ring)
		return -1;
	for (i = 0; i < N_ALGS; i++)
		if (lv_tsig_keyring_add(ring, ALGS[i].key, ALGS[i].ours, SECRET,
					err, sizeof(err)))
			return -1;
	for (i = 0; i < 2; i++)
		if (lv_tsig_keyring_add(ring, more[i][0], more[i][1], SECRET,
					err, sizeof(err)))
			return -1;
	if (lv_tsig_keyring_add(ring, "k.example.com.", "hmac-sha256", SECRET,
				err, sizeof(err)))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	lv_tsig_keyring_free(ring);
	return 0;
}

static uint16_t arcount(const uint8_t *m)
{
	return lv_wire_get16(m + 10);
}

/* An AXFR for example.com. signed by ldns with key_name and secret. */
static void ldns_query(struct query *q, const char *key_name,
		       const char *secret, const char *ldns_alg)
{
	uint8_t *wire = NULL;

	q->pkt = ldns_pkt_query_new(ldns_dname_new_frm_str("example.com."),
				    LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN, 0);
	assert_non_null(q->pkt);
	ldns_pkt_set_id(q->pkt, QID);
	assert_int_equal(
	    ldns_pkt_tsig_sign(q->pkt, key_name, secret, 300, ldns_alg, NULL),
	    LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt2wire(&wire, q->pkt, &q->len), LDNS_STATUS_OK);
	assert_true(q->len <= BUF);
	memcpy(q->buf, wire, q->len);
	free(wire);
}

/* The request MAC as ldns keeps it: MAC size and MAC (INT16_DATA). */
static const ldns_rdf *ldns_mac(const ldns_pkt *pkt)
{
	return ldns_rr_rdf(ldns_pkt_tsig(pkt), 3);
}

static enum lv_tsig_verdict verify_at(struct query *q, uint64_t now,
				      struct lv_tsig_state *st, size_t *ulen)
{
	return lv_tsig_verify(ring, q->buf, q->len, now, st, ulen);
}

static enum lv_tsig_verdict verify(struct query *q, struct lv_tsig_state *st,
				   size_t *ulen)
{
	return verify_at(q, (uint64_t)time(NULL), st, ulen);
}

/*
 * Turn the stripped request in buf (len bytes) into message number msgno
 * of a response: QR and AA set, rcode, one TXT record "msg N" for the
 * question name. Returns the new length.
 */
static size_t make_response(uint8_t *buf, size_t len, int msgno, int rcode)
{
	char text[16];
	uint8_t *p = buf + len;
	size_t tlen = (size_t)snprintf(text, sizeof(text), "msg %d", msgno);

	buf[2] |= 0x84;
	buf[3] = (uint8_t)((buf[3] & 0xf0) | rcode);
	lv_wire_put16(buf + 6, 1);
	p[0] = 0xc0; /* the question name */
	p[1] = 0x0c;
	lv_wire_put16(p + 2, LV_TYPE_TXT);
	lv_wire_put16(p + 4, LV_CLASS_IN);
	lv_wire_put32(p + 6, 3600);
	lv_wire_put16(p + 10, (uint16_t)(tlen + 1));
	p[12] = (uint8_t)tlen;
	memcpy(p + 13, text, tlen);
	return len + 13 + tlen;
}

/* Parse what we signed with ldns; the caller frees it. */
static ldns_pkt *ldns_parse(const uint8_t *wire, size_t len)
{
	ldns_pkt *pkt = NULL;

	assert_int_equal(ldns_wire2pkt(&pkt, wire, len), LDNS_STATUS_OK);
	assert_non_null(ldns_pkt_tsig(pkt));
	return pkt;
}

static uint16_t tsig_u16(const ldns_pkt *pkt, size_t field)
{
	return ldns_rdf2native_int16(ldns_rr_rdf(ldns_pkt_tsig(pkt), field));
}

/* ---- keys ---- */

static void test_key_parsing(void **state)
{
	struct lv_tsig_keyring *r = lv_tsig_keyring_new();
	const struct lv_tsig_key *k;
	char err[256];

	(void)state;
	assert_int_equal(
	    lv_tsig_keyring_add(r, "XFR-Key", "HMAC-SHA256", SECRET, err, 256),
	    0);
	assert_int_equal(lv_tsig_keyring_add(r, "old.",
					     "hmac-md5.sig-alg.reg.int", SECRET,
					     err, 256),
			 0);
	k = lv_tsig_keyring_find(r, "xfr-key.");
	assert_non_null(k);
	assert_ptr_equal(lv_tsig_keyring_find(r, "XFR-KEY"), k);
	assert_string_equal(lv_tsig_key_name(k), "xfr-key.");
	assert_string_equal(lv_tsig_key_algorithm(k), "hmac-sha256");
	assert_string_equal(
	    lv_tsig_key_algorithm(lv_tsig_keyring_find(r, "old")), "hmac-md5");
	assert_null(lv_tsig_keyring_find(r, "other."));
	/* xfr-key. 10 + hmac-sha256. 13 + 10 + 16 + 32 + 6 */
	assert_int_equal(lv_tsig_space(k), 9 + 10 + 13 + 16 + 32 + 6);

	assert_int_equal(
	    lv_tsig_keyring_add(r, "x", "hmac-foo", SECRET, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "key x: unknown algorithm hmac-foo");
	assert_int_equal(lv_tsig_keyring_add(r, "xfr-key2.", "hmac-sha256",
					     "not base64!", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "key xfr-key2.: secret is not base64");
	assert_int_equal(lv_tsig_keyring_add(r, "y", "hmac-sha1",
					     "QUJD=A==", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "key y: secret is not base64");
	assert_int_equal(
	    lv_tsig_keyring_add(r, "y", "hmac-sha1", "", err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "key y: secret is empty");
	assert_int_equal(
	    lv_tsig_keyring_add(r, "", "hmac-sha1", SECRET, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "key name is empty");
	assert_int_equal(lv_tsig_keyring_add(r, "a..b", "hmac-sha1", SECRET,
					     err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "key a..b: not a domain name"));
	assert_int_equal(lv_tsig_keyring_add(r, "xfr-KEY.", "hmac-sha1", SECRET,
					     err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "key xfr-KEY.: defined twice");
	assert_null(strchr(err, '\n'));
	lv_tsig_keyring_free(r);
}

/* ---- requests from ldns ---- */

static void test_ldns_request_verifies(void **state)
{
	struct lv_tsig_state st;
	struct query q;
	size_t i, ulen;

	(void)state;
	for (i = 0; i < N_ALGS; i++) {
		ldns_query(&q, ALGS[i].key, SECRET, ALGS[i].ldns);
		assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_VERIFIED);
		assert_int_equal(st.error, 0);
		assert_ptr_equal(st.key,
				 lv_tsig_keyring_find(ring, ALGS[i].key));
		assert_int_equal(st.orig_id, QID);
		assert_int_equal(st.mac_len, ALGS[i].mac_len);
		assert_memory_equal(st.mac, ldns_rdf_data(ldns_mac(q.pkt)) + 2,
				    st.mac_len);
		/* stripped in place: the request as if unsigned */
		assert_int_equal(arcount(q.buf), 0);
		assert_int_equal(ulen, 12 + 13 + 4);
		ldns_pkt_free(q.pkt);
	}
}

/* §4.3.2: the MAC covers the Original ID, not the ID the message arrived
 * with (a forwarder may have changed it). */
static void test_original_id(void **state)
{
	struct lv_tsig_state st;
	struct query q;
	uint8_t copy[BUF];
	size_t ulen;

	(void)state;
	ldns_query(&q, SHA256->key, SECRET, SHA256->ldns);
	memcpy(copy, q.buf, q.len);
	lv_wire_put16(q.buf, 0x9999);
	assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_VERIFIED);
	assert_int_equal(st.orig_id, QID);
	assert_int_equal(lv_wire_get16(q.buf), 0x9999);
	memcpy(q.buf, copy, q.len);
	lv_wire_put16(q.buf + q.len - 6, 0x9999); /* the Original ID field */
	assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_NOTAUTH);
	assert_int_equal(st.error, LV_TSIG_ERR_BADSIG);
	ldns_pkt_free(q.pkt);
}

/* dnspython 2.3: make_query("example.com.", "SOA"), id 0x4242, use_tsig
 * with key k-sha224. (hmac-sha224) and SECRET, signed at T_DNSPYTHON. */
#define T_DNSPYTHON 1700000000
static const uint8_t DNSPYTHON_SHA224[] = {
    0x42, 0x42, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d,
    0x00, 0x00, 0x06, 0x00, 0x01, 0x08, 0x6b, 0x2d, 0x73, 0x68, 0x61, 0x32,
    0x32, 0x34, 0x00, 0x00, 0xfa, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x39, 0x0b, 0x68, 0x6d, 0x61, 0x63, 0x2d, 0x73, 0x68, 0x61, 0x32, 0x32,
    0x34, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x00, 0x01, 0x2c, 0x00, 0x1c,
    0xf3, 0xf0, 0x88, 0x5e, 0xa5, 0x03, 0xd5, 0xb0, 0xc0, 0x7c, 0x07, 0x13,
    0xb7, 0xe0, 0x53, 0xdc, 0x2c, 0xa1, 0x7b, 0x45, 0x2a, 0xf2, 0x13, 0xfa,
    0xec, 0x00, 0x01, 0x6d, 0x42, 0x42, 0x00, 0x00, 0x00, 0x00};
/* The same with k-sha384. (hmac-sha384). */
static const uint8_t DNSPYTHON_SHA384[] = {
    0x42, 0x42, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d,
    0x00, 0x00, 0x06, 0x00, 0x01, 0x08, 0x6b, 0x2d, 0x73, 0x68, 0x61, 0x33,
    0x38, 0x34, 0x00, 0x00, 0xfa, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x4d, 0x0b, 0x68, 0x6d, 0x61, 0x63, 0x2d, 0x73, 0x68, 0x61, 0x33, 0x38,
    0x34, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x00, 0x01, 0x2c, 0x00, 0x30,
    0x3e, 0x74, 0x4f, 0xed, 0x7d, 0xbb, 0xbb, 0xd0, 0x3d, 0x79, 0x5e, 0x12,
    0x92, 0x4d, 0x9a, 0x65, 0x0e, 0x9c, 0x66, 0xab, 0xc1, 0xce, 0xb8, 0xd7,
    0x4b, 0xfc, 0xf5, 0xa1, 0xe6, 0x1b, 0xfb, 0x2e, 0xd1, 0xb5, 0x7a, 0x7d,
    0x3d, 0xb3, 0x5a, 0xa5, 0x27, 0x7e, 0xee, 0x47, 0x44, 0x69, 0x48, 0xcb,
    0x42, 0x42, 0x00, 0x00, 0x00, 0x00};

static void check_dnspython(const uint8_t *wire, size_t len, unsigned mac_len)
{
	struct lv_tsig_state st;
	uint8_t buf[256];
	size_t ulen;

	memcpy(buf, wire, len);
	assert_int_equal(
	    lv_tsig_verify(ring, buf, len, T_DNSPYTHON + 300, &st, &ulen),
	    LV_TSIG_VERIFIED);
	assert_int_equal(st.mac_len, mac_len);
	assert_int_equal(ulen, 12 + 13 + 4);
	memcpy(buf, wire, len);
	buf[len - 7] ^= 1; /* the last MAC byte */
	assert_int_equal(
	    lv_tsig_verify(ring, buf, len, T_DNSPYTHON, &st, &ulen),
	    LV_TSIG_NOTAUTH);
	assert_int_equal(st.error, LV_TSIG_ERR_BADSIG);
	memcpy(buf, wire, len);
	assert_int_equal(
	    lv_tsig_verify(ring, buf, len, T_DNSPYTHON + 301, &st, &ulen),
	    LV_TSIG_NOTAUTH);
	assert_int_equal(st.error, LV_TSIG_ERR_BADTIME);
}

static void test_dnspython_sha224_sha384(void **state)
{
	(void)state;
	check_dnspython(DNSPYTHON_SHA224, sizeof(DNSPYTHON_SHA224), 28);
	check_dnspython(DNSPYTHON_SHA384, sizeof(DNSPYTHON_SHA384), 48);
}

/* ---- responses, checked by ldns ---- */

static void test_response_verifies_in_ldns(void **state)
{
	struct lv_tsig_state st;
	struct query q;
	ldns_pkt *resp;
	size_t i, ulen, len, out;

	(void)state;
	for (i = 0; i < N_ALGS; i++) {
		ldns_query(&q, ALGS[i].key, SECRET, ALGS[i].ldns);
		assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_VERIFIED);
		len = make_response(q.buf, ulen, 1, 0);
		out = lv_tsig_sign(&st, q.buf, len, BUF, (uint64_t)time(NULL));
		assert_int_equal(out, len + lv_tsig_space(st.key) - 6);
		assert_int_equal(arcount(q.buf), 1);
		resp = ldns_parse(q.buf, out);
		assert_true(ldns_pkt_tsig_verify(resp, q.buf, out, ALGS[i].key,
						 SECRET, ldns_mac(q.pkt)));
		assert_false(ldns_pkt_tsig_verify(resp, q.buf, out, ALGS[i].key,
						  OTHER_SEC, ldns_mac(q.pkt)));
		assert_memory_equal(st.mac, ldns_rdf_data(ldns_mac(resp)) + 2,
				    ALGS[i].mac_len);
		ldns_pkt_free(resp);
		ldns_pkt_free(q.pkt);
	}
}

/* §5.3.1: three messages of one transfer, each checked by ldns against
 * the MAC of the one before. */
static void test_stream_verifies_in_ldns(void **state)
{
	const struct alg_case *a;
	struct lv_tsig_state st;
	uint8_t msgs[3][BUF];
	size_t lens[3], i, n, ulen;
	ldns_pkt *pkts[3];
	struct query q;

	(void)state;
	for (i = 0; i < N_ALGS; i++) {
		a = &ALGS[i];
		ldns_query(&q, a->key, SECRET, a->ldns);
		assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_VERIFIED);
		for (n = 0; n < 3; n++) {
			memcpy(msgs[n], q.buf, ulen);
			lens[n] = make_response(msgs[n], ulen, (int)n + 1, 0);
			lens[n] = lv_tsig_sign(&st, msgs[n], lens[n], BUF,
					       (uint64_t)time(NULL));
			assert_int_not_equal(lens[n], 0);
			pkts[n] = ldns_parse(msgs[n], lens[n]);
		}
		assert_int_equal(st.signed_msgs, 3);
		assert_true(ldns_pkt_tsig_verify(pkts[0], msgs[0], lens[0],
						 a->key, SECRET,
						 ldns_mac(q.pkt)));
		for (n = 1; n < 3; n++)
			assert_true(ldns_pkt_tsig_verify_next(
			    pkts[n], msgs[n], lens[n], a->key, SECRET,
			    ldns_mac(pkts[n - 1]), 1));
		/* out of order, or a byte changed: no */
		assert_false(ldns_pkt_tsig_verify_next(pkts[2], msgs[2],
						       lens[2], a->key, SECRET,
						       ldns_mac(pkts[0]), 1));
		msgs[1][lens[1] - lv_tsig_space(st.key) + 6 - 1] ^= 1;
		assert_false(ldns_pkt_tsig_verify_next(pkts[1], msgs[1],
						       lens[1], a->key, SECRET,
						       ldns_mac(pkts[0]), 1));
		for (n = 0; n < 3; n++)
			ldns_pkt_free(pkts[n]);
		ldns_pkt_free(q.pkt);
	}
}

/* A request we sign ourselves (as for a NOTIFY we send) verifies in ldns
 * as a request, and with us. */
static void test_our_request_verifies(void **state)
{
	const struct lv_tsig_key *k = lv_tsig_keyring_find(ring, "k-sha256");
	struct lv_tsig_state st, got;
	struct query q;
	ldns_pkt *pkt;
	size_t len, ulen;

	(void)state;
	ldns_query(&q, SHA256->key, SECRET, SHA256->ldns);
	assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_VERIFIED);
	lv_tsig_state_init(&st, k);
	len = lv_tsig_sign(&st, q.buf, ulen, BUF, (uint64_t)time(NULL));
	assert_int_not_equal(len, 0);
	pkt = ldns_parse(q.buf, len);
	assert_true(ldns_pkt_tsig_verify(pkt, q.buf, len, lv_tsig_key_name(k),
					 SECRET, NULL));
	ldns_pkt_free(pkt);
	q.len = len;
	assert_int_equal(verify(&q, &got, &ulen), LV_TSIG_VERIFIED);
	ldns_pkt_free(q.pkt);
}

/* ---- errors ---- */

/* Where things are in ldns_query()'s request: the question ends at 29;
 * the TSIG owner k-sha256. is 10 bytes, then type, class, TTL, RDLENGTH;
 * the RDATA at 49 starts with hmac-sha256. (13 bytes). */
#define TSIG_AT   29
#define CLASS_AT  (TSIG_AT + 10 + 2)
#define TTL_AT    (CLASS_AT + 2)
#define RDLEN_AT  (TTL_AT + 4)
#define RDATA_AT  (RDLEN_AT + 2)
#define MACLEN_AT (RDATA_AT + 13 + 6 + 2)
#define MAC_AT    (MACLEN_AT + 2)

static uint64_t request_time(const struct query *q)
{
	const ldns_rdf *t = ldns_rr_rdf(ldns_pkt_tsig(q->pkt), 1);

	return (uint64_t)lv_wire_get16(ldns_rdf_data(t)) << 32 |
	       lv_wire_get32(ldns_rdf_data(t) + 2);
}

/* Cut n bytes at off (n < 0: open -n bytes of zeros), adjusting the TSIG
 * RDLENGTH by as much when the change is inside the RDATA. */
static void splice(struct query *q, size_t off, long n)
{
	uint16_t rdlen = lv_wire_get16(q->buf + RDLEN_AT);

	if (n > 0)
		memmove(q->buf + off, q->buf + off + n, q->len - off - n);
	else
		memmove(q->buf + off - n, q->buf + off, q->len - off);
	if (n < 0)
		memset(q->buf + off, 0, (size_t)-n);
	q->len = (size_t)((long)q->len - n);
	if (off >= RDATA_AT)
		lv_wire_put16(q->buf + RDLEN_AT, (uint16_t)(rdlen - n));
}

static void expect_formerr(struct query *q)
{
	uint8_t before[BUF];
	struct lv_tsig_state st;
	size_t ulen;

	memcpy(before, q->buf, q->len);
	assert_int_equal(verify(q, &st, &ulen), LV_TSIG_FORMERR);
	assert_int_equal(ulen, q->len);
	assert_memory_equal(before, q->buf, q->len); /* untouched */
}

static void test_badsig(void **state)
{
	struct lv_tsig_state st;
	struct query q;
	ldns_pkt *resp;
	size_t ulen, len;

	(void)state;
	ldns_query(&q, SHA256->key, OTHER_SEC, SHA256->ldns);
	assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_NOTAUTH);
	assert_int_equal(st.error, LV_TSIG_ERR_BADSIG);
	assert_int_equal(ulen, TSIG_AT);
	assert_int_equal(arcount(q.buf), 0);
	/* §5.3.2: answered with an unsigned TSIG */
	len = make_response(q.buf, ulen, 1, LV_RCODE_NOTAUTH);
	len = lv_tsig_sign(&st, q.buf, len, BUF, (uint64_t)time(NULL));
	resp = ldns_parse(q.buf, len);
	assert_int_equal(tsig_u16(resp, 5), LV_TSIG_ERR_BADSIG);
	assert_int_equal(ldns_rdf_size(ldns_mac(resp)), 2); /* MAC size 0 */
	assert_int_equal(tsig_u16(resp, 4), QID);
	ldns_pkt_free(resp);
	ldns_pkt_free(q.pkt);
}

static void check_badkey(const char *key, const char *alg)
{
	struct lv_tsig_state st;
	struct query q;
	ldns_pkt *resp;
	char *owner;
	size_t ulen, len;

	ldns_query(&q, key, SECRET, alg);
	assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_NOTAUTH);
	assert_int_equal(st.error, LV_TSIG_ERR_BADKEY);
	assert_int_equal(arcount(q.buf), 0);
	len = make_response(q.buf, ulen, 1, LV_RCODE_NOTAUTH);
	len = lv_tsig_sign(&st, q.buf, len, BUF, (uint64_t)time(NULL));
	assert_int_not_equal(len, 0);
	resp = ldns_parse(q.buf, len);
	assert_int_equal(tsig_u16(resp, 5), LV_TSIG_ERR_BADKEY);
	assert_int_equal(ldns_rdf_size(ldns_mac(resp)), 2);
	owner = ldns_rdf2str(ldns_rr_owner(ldns_pkt_tsig(resp)));
	assert_string_equal(owner, key);
	free(owner);
	owner = ldns_rdf2str(ldns_rr_rdf(ldns_pkt_tsig(resp), 0));
	assert_string_equal(owner, alg);
	free(owner);
	ldns_pkt_free(resp);
	ldns_pkt_free(q.pkt);
}

static void test_badkey(void **state)
{
	struct lv_tsig_state st;
	struct query q;
	size_t ulen;

	(void)state;
	check_badkey("nobody.", "hmac-sha256.");
	check_badkey("k-sha256.", "hmac-sha1."); /* not the key's algorithm */
	/* no keyring at all */
	ldns_query(&q, SHA256->key, SECRET, SHA256->ldns);
	assert_int_equal(lv_tsig_verify(NULL, q.buf, q.len,
					(uint64_t)time(NULL), &st, &ulen),
			 LV_TSIG_NOTAUTH);
	assert_int_equal(st.error, LV_TSIG_ERR_BADKEY);
	assert_null(st.key);
	ldns_pkt_free(q.pkt);
}

static void test_badtime(void **state)
{
	uint8_t copy[BUF];
	struct lv_tsig_state st;
	const ldns_rdf *other;
	struct query q;
	ldns_pkt *resp;
	uint64_t t, now;
	size_t ulen, len;

	(void)state;
	ldns_query(&q, SHA256->key, SECRET, SHA256->ldns);
	t = request_time(&q);
	memcpy(copy, q.buf, q.len);
	assert_int_equal(verify_at(&q, t + 300, &st, &ulen), LV_TSIG_VERIFIED);
	memcpy(q.buf, copy, q.len);
	assert_int_equal(verify_at(&q, t - 300, &st, &ulen), LV_TSIG_VERIFIED);
	memcpy(q.buf, copy, q.len);
	assert_int_equal(verify_at(&q, t - 301, &st, &ulen), LV_TSIG_NOTAUTH);
	assert_int_equal(st.error, LV_TSIG_ERR_BADTIME);
	memcpy(q.buf, copy, q.len);
	now = t + 1000;
	assert_int_equal(verify_at(&q, now, &st, &ulen), LV_TSIG_NOTAUTH);
	assert_int_equal(st.error, LV_TSIG_ERR_BADTIME);
	assert_int_equal(arcount(q.buf), 0);

	/* signed, the client's time signed, our time in Other Data */
	len = make_response(q.buf, ulen, 1, LV_RCODE_NOTAUTH);
	len = lv_tsig_sign(&st, q.buf, len, BUF, now);
	assert_int_equal(len, make_response(copy, TSIG_AT, 1, 9) +
				  lv_tsig_space(st.key));
	resp = ldns_parse(q.buf, len);
	assert_int_equal(tsig_u16(resp, 5), LV_TSIG_ERR_BADTIME);
	other = ldns_rr_rdf(ldns_pkt_tsig(resp), 6);
	assert_int_equal(ldns_rdf_size(other), 2 + 6);
	assert_int_equal(lv_wire_get16(ldns_rdf_data(other)), 6);
	assert_int_equal((uint64_t)lv_wire_get16(ldns_rdf_data(other) + 2)
				 << 32 |
			     lv_wire_get32(ldns_rdf_data(other) + 4),
			 now);
	assert_memory_equal(ldns_rdf_data(ldns_rr_rdf(ldns_pkt_tsig(resp), 1)),
			    ldns_rdf_data(ldns_rr_rdf(ldns_pkt_tsig(q.pkt), 1)),
			    6);
	assert_true(ldns_pkt_tsig_verify(resp, q.buf, len, SHA256->key, SECRET,
					 ldns_mac(q.pkt)));
	ldns_pkt_free(resp);
	ldns_pkt_free(q.pkt);
}

static void test_formerr(void **state)
{
	static const uint8_t a_rr[] = {0xc0, 0x0c, 0, 1, 0,   1, 0, 0,
				       0,    60,   0, 4, 192, 0, 2, 1};
	uint8_t tsig[BUF];
	size_t tsig_len;
	struct query q;

	(void)state;
	ldns_query(&q, SHA256->key, SECRET, SHA256->ldns);
	assert_int_equal(lv_wire_get16(q.buf + TSIG_AT + 10), LV_TYPE_TSIG);
	tsig_len = q.len - TSIG_AT;
	memcpy(tsig, q.buf + TSIG_AT, tsig_len);

	q.len--; /* the record runs past the end */
	expect_formerr(&q);
	q.len++;
	lv_wire_put16(q.buf + MACLEN_AT, 200); /* MAC size past RDATA */
	expect_formerr(&q);
	lv_wire_put16(q.buf + MACLEN_AT, 32);
	lv_wire_put16(q.buf + q.len - 2, 1); /* other len past RDATA */
	expect_formerr(&q);
	lv_wire_put16(q.buf + q.len - 2, 0);
	lv_wire_put16(q.buf + CLASS_AT, LV_CLASS_IN); /* §4.2: ANY */
	expect_formerr(&q);
	lv_wire_put16(q.buf + CLASS_AT, LV_CLASS_ANY);
	lv_wire_put32(q.buf + TTL_AT, 1); /* §4.2: TTL 0 */
	expect_formerr(&q);
	lv_wire_put32(q.buf + TTL_AT, 0);
	q.buf[q.len++] = 0; /* a byte after the TSIG */
	expect_formerr(&q);
	q.len--;

	/* the TSIG not last, or two of them */
	memcpy(q.buf + q.len, a_rr, sizeof(a_rr));
	q.len += sizeof(a_rr);
	lv_wire_put16(q.buf + 10, 2);
	expect_formerr(&q);
	memcpy(q.buf + TSIG_AT + tsig_len, tsig, tsig_len);
	q.len = TSIG_AT + 2 * tsig_len;
	expect_formerr(&q);
	/* in the answer section */
	q.len = TSIG_AT + tsig_len;
	lv_wire_put16(q.buf + 6, 1);
	lv_wire_put16(q.buf + 10, 0);
	expect_formerr(&q);
	lv_wire_put16(q.buf + 6, 0);
	lv_wire_put16(q.buf + 10, 1);

	/* a MAC shorter than 16 (half of SHA-256's) or longer than 32 */
	splice(&q, MAC_AT + 15, 17);
	lv_wire_put16(q.buf + MACLEN_AT, 15);
	expect_formerr(&q);
	splice(&q, MAC_AT + 15, -18);
	lv_wire_put16(q.buf + MACLEN_AT, 33);
	expect_formerr(&q);
	ldns_pkt_free(q.pkt);
}

/* RFC 8945 wants the owner and algorithm names uncompressed. */
static void test_formerr_compressed_names(void **state)
{
	struct query q;

	(void)state;
	ldns_query(&q, SHA256->key, SECRET, SHA256->ldns);
	splice(&q, RDATA_AT, 11); /* hmac-sha256. -> a pointer to it */
	q.buf[RDATA_AT] = 0xc0;
	q.buf[RDATA_AT + 1] = TSIG_AT;
	expect_formerr(&q);
	ldns_pkt_free(q.pkt);

	/* a compressed owner is read whole: here example.com., no such key */
	ldns_query(&q, SHA256->key, SECRET, SHA256->ldns);
	splice(&q, TSIG_AT, 8); /* k-sha256. -> a pointer to example.com. */
	q.buf[TSIG_AT] = 0xc0;
	q.buf[TSIG_AT + 1] = 12;
	struct lv_tsig_state st;
	size_t ulen;
	assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_NOTAUTH);
	assert_int_equal(st.error, LV_TSIG_ERR_BADKEY);
	ldns_pkt_free(q.pkt);
}

/* ldns (and dnspython) compress the TSIG owner against the question:
 * accepted, the key found by its whole name. A pointer forwards is not. */
static void test_ldns_compressed_owner(void **state)
{
	struct lv_tsig_state st;
	struct query q;
	size_t ulen;

	(void)state;
	ldns_query(&q, "k.example.com.", SECRET, SHA256->ldns);
	assert_int_equal(q.buf[TSIG_AT], 1);
	assert_int_equal(q.buf[TSIG_AT + 2], 0xc0);
	assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_VERIFIED);
	assert_string_equal(lv_tsig_key_name(st.key), "k.example.com.");
	ldns_pkt_free(q.pkt);
	ldns_query(&q, "k.example.com.", SECRET, SHA256->ldns);
	q.buf[TSIG_AT + 3] = (uint8_t)(TSIG_AT + 8); /* forwards */
	expect_formerr(&q);
	ldns_pkt_free(q.pkt);
}

static void test_unsigned(void **state)
{
	struct lv_tsig_state st;
	uint8_t *wire = NULL, before[BUF];
	ldns_pkt *pkt;
	size_t len, ulen;

	(void)state;
	pkt = ldns_pkt_query_new(ldns_dname_new_frm_str("example.com."),
				 LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0);
	ldns_pkt_set_edns_udp_size(pkt, 1232);
	assert_int_equal(ldns_pkt2wire(&wire, pkt, &len), LDNS_STATUS_OK);
	assert_int_equal(arcount(wire), 1); /* the OPT */
	memcpy(before, wire, len);
	assert_int_equal(
	    lv_tsig_verify(ring, wire, len, (uint64_t)time(NULL), &st, &ulen),
	    LV_TSIG_UNSIGNED);
	assert_int_equal(ulen, len);
	assert_memory_equal(before, wire, len);
	free(wire);
	ldns_pkt_free(pkt);
}

/* §5.2.2.1: a MAC truncated to no less than half the digest is checked
 * over its length, and that truncated MAC is what the response covers. */
static void test_truncated_mac(void **state)
{
	struct lv_tsig_state st;
	uint8_t trunc[2 + 16];
	ldns_rdf *mac;
	ldns_pkt *resp;
	struct query q;
	size_t ulen, len;

	(void)state;
	ldns_query(&q, SHA256->key, SECRET, SHA256->ldns);
	memcpy(trunc + 2, q.buf + MAC_AT, 16);
	lv_wire_put16(trunc, 16);
	splice(&q, MAC_AT + 16, 16);
	lv_wire_put16(q.buf + MACLEN_AT, 16);
	assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_VERIFIED);
	assert_int_equal(st.mac_len, 16);
	len = make_response(q.buf, ulen, 1, 0);
	len = lv_tsig_sign(&st, q.buf, len, BUF, (uint64_t)time(NULL));
	resp = ldns_parse(q.buf, len);
	mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, sizeof(trunc),
				    trunc);
	assert_true(
	    ldns_pkt_tsig_verify(resp, q.buf, len, SHA256->key, SECRET, mac));
	ldns_rdf_deep_free(mac);
	ldns_pkt_free(resp);
	ldns_pkt_free(q.pkt);
}

/* No room: nothing written, the chain not advanced. */
static void test_sign_no_room(void **state)
{
	struct lv_tsig_state st, before_st;
	uint8_t before[BUF];
	struct query q;
	size_t ulen, len, need;

	(void)state;
	ldns_query(&q, SHA256->key, SECRET, SHA256->ldns);
	assert_int_equal(verify(&q, &st, &ulen), LV_TSIG_VERIFIED);
	len = make_response(q.buf, ulen, 1, 0);
	need = lv_tsig_space(st.key) - 6;
	memcpy(before, q.buf, len);
	before_st = st;
	assert_int_equal(
	    lv_tsig_sign(&st, q.buf, len, len + need - 1, (uint64_t)time(NULL)),
	    0);
	assert_memory_equal(before, q.buf, len);
	assert_memory_equal(&before_st, &st, sizeof(st));
	assert_int_equal(
	    lv_tsig_sign(&st, q.buf, len, len + need, (uint64_t)time(NULL)),
	    len + need);
	ldns_pkt_free(q.pkt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_parsing),
	    cmocka_unit_test(test_ldns_request_verifies),
	    cmocka_unit_test(test_original_id),
	    cmocka_unit_test(test_dnspython_sha224_sha384),
	    cmocka_unit_test(test_response_verifies_in_ldns),
	    cmocka_unit_test(test_stream_verifies_in_ldns),
	    cmocka_unit_test(test_our_request_verifies),
	    cmocka_unit_test(test_badsig),
	    cmocka_unit_test(test_badkey),
	    cmocka_unit_test(test_badtime),
	    cmocka_unit_test(test_formerr),
	    cmocka_unit_test(test_formerr_compressed_names),
	    cmocka_unit_test(test_ldns_compressed_owner),
	    cmocka_unit_test(test_unsigned),
	    cmocka_unit_test(test_truncated_mac),
	    cmocka_unit_test(test_sign_no_room),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
