/*
 * Unit tests for turning an upstream's answer into a cache entry
 * (dns/upstream_entry.c) and for serving it aged (dataplane/response.c).
 *
 * Upstream messages are built byte by byte, compression pointers and all.
 * Each entry is then written as a response to a parsed client query with
 * the dataplane's writer and read back with ldns, so what is checked is
 * what a client would get: names, types, TTLs, counts and flags.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "levee/csum.h"
#include "levee/query.h"
#include "levee/response.h"
#include "levee/upstream_entry.h"

#define SEED 0x5eed5eed5eed5eedull

static const struct lv_ttl_policy POLICY = {
    .min_ttl = 0, .max_ttl = 86400, .neg_max_ttl = 3600, .servfail_ttl = 5};

struct msg {
	uint8_t b[8192];
	unsigned len;
};

static void u8(struct msg *m, uint8_t v)
{
	m->b[m->len++] = v;
}
static void u16(struct msg *m, uint16_t v)
{
	u8(m, (uint8_t)(v >> 8));
	u8(m, (uint8_t)v);
}
static void u32(struct msg *m, uint32_t v)
{
	u16(m, (uint16_t)(v >> 16));
	u16(m, (uint16_t)v);
}
static void bytes(struct msg *m, const void *p, unsigned n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}
/* A name in text with dots, written uncompressed. */
static void name(struct msg *m, const char *text)
{
	while (*text) {
		const char *dot = strchr(text, '.');
		unsigned n =
		    dot ? (unsigned)(dot - text) : (unsigned)strlen(text);
		u8(m, (uint8_t)n);
		bytes(m, text, n);
		text += n + (dot ? 1 : 0);
	}
	u8(m, 0);
}
static void ptr(struct msg *m, uint16_t to)
{
	u16(m, (uint16_t)(0xc000 | to));
}
/* type, class IN, ttl; the RDATA follows with rdlen patched by end_rr */
static unsigned rr(struct msg *m, uint16_t type, uint32_t ttl)
{
	u16(m, type);
	u16(m, 1);
	u32(m, ttl);
	u16(m, 0);
	return m->len;
}
static void end_rr(struct msg *m, unsigned rd)
{
	m->b[rd - 2] = (uint8_t)((m->len - rd) >> 8);
	m->b[rd - 1] = (uint8_t)(m->len - rd);
}
static void header(struct msg *m, uint16_t id, uint16_t flags, uint16_t an,
		   uint16_t ns, uint16_t ar)
{
	m->len = 0;
	u16(m, id);
	u16(m, flags);
	u16(m, 1);
	u16(m, an);
	u16(m, ns);
	u16(m, ar);
}
static void question(struct msg *m, const char *qname, uint16_t type)
{
	name(m, qname);
	u16(m, type);
	u16(m, 1);
}

/* The client's query: qname as the client wrote it, EDNS 4096. */
static void client_query(struct msg *m, struct lv_query *q, const char *qname,
			 uint16_t type, bool do_bit)
{
	header(m, 0x4242, LV_FLAG_RD, 0, 0, 1);
	question(m, qname, type);
	u8(m, 0);
	u16(m, LV_TYPE_OPT);
	u16(m, 4096);
	u32(m, do_bit ? LV_EDNS_DO : 0);
	u16(m, 0);
	assert_int_equal(lv_query_parse(m->b, (uint16_t)m->len, SEED, q),
			 LV_PARSE_OK);
}

/* Write e as the answer to the client query in m (aged), parse it back. */
static ldns_pkt *answer(struct msg *m, const struct lv_query *q,
			const struct lv_cache_entry *e, uint32_t age,
			uint16_t *len)
{
	static uint8_t buf[65536];
	ldns_pkt *pkt = NULL;
	bool tc;

	memcpy(buf, m->b, q->question_end);
	*len = lv_response_from_entry_aged(buf, sizeof(buf) - 1, q, e, 65535,
					   age, &tc);
	assert_true(*len > 0);
	assert_int_equal(ldns_wire2pkt(&pkt, buf, *len), LDNS_STATUS_OK);
	return pkt;
}

static char *rr_text(ldns_rr_list *l, size_t i)
{
	return ldns_rr2str(ldns_rr_list_rr(l, i));
}

static void assert_rr(ldns_rr_list *l, size_t i, const char *want)
{
	char *s = rr_text(l, i);
	assert_string_equal(s, want);
	free(s);
}

/* www.example.com A: upstream AA set, its own name case, TTL 300. */
static void test_basic_answer(void **state)
{
	struct msg up, cq;
	struct lv_query q;
	struct lv_upstream_result res;
	uint16_t len;
	unsigned rd;

	(void)state;
	client_query(&cq, &q, "WwW.ExAmPlE.CoM", LV_TYPE_A, false);
	header(&up, 7, LV_FLAG_QR | LV_FLAG_AA | LV_FLAG_RD | LV_FLAG_RA, 1, 0,
	       0);
	question(&up, "www.example.com", LV_TYPE_A);
	ptr(&up, 12);
	rd = rr(&up, LV_TYPE_A, 300);
	bytes(&up, "\xc0\x00\x02\x01", 4);
	end_rr(&up, rd);
	assert_int_equal(lv_upstream_entry_build(up.b, (uint16_t)up.len, &q,
						 &POLICY, SEED, &res),
			 0);
	assert_non_null(res.entry);
	assert_int_equal(res.rcode, 0);
	assert_int_equal(res.ttl, 300);
	assert_true(res.cacheable);
	assert_false(res.truncated);
	assert_int_equal(res.entry->origin, LV_ORIGIN_UPSTREAM);
	assert_int_equal(res.entry->hash, q.hash); /* the client's key */
	ldns_pkt *p = answer(&cq, &q, res.entry, 0, &len);
	assert_true(ldns_pkt_ra(p));
	assert_false(ldns_pkt_aa(p));
	assert_int_equal(ldns_pkt_ancount(p), 1);
	/* the owner points at the echoed question: the client's case */
	assert_rr(ldns_pkt_answer(p), 0,
		  "WwW.ExAmPlE.CoM.\t300\tIN\tA\t192.0.2.1\n");
	ldns_pkt_free(p);
	lv_cache_entry_free(res.entry);
}

/* A CNAME chain compressed every which way by the upstream: pointers into
 * the question, into the CNAME's RDATA, and an NS in authority with glue.
 * The smallest TTL of answer and authority wins; additional does not. */
static void test_chain_and_compression(void **state)
{
	struct msg up, cq;
	struct lv_query q;
	struct lv_upstream_result res;
	uint16_t len;
	unsigned rd, target;

	(void)state;
	client_query(&cq, &q, "www.example.com", LV_TYPE_A, false);
	header(&up, 7, LV_FLAG_QR | LV_FLAG_RA, 2, 1, 1);
	question(&up, "www.example.com", LV_TYPE_A); /* 12: www, 16: example */
	ptr(&up, 12);
	rd = rr(&up, LV_TYPE_CNAME, 600);
	target = up.len;
	u8(&up, 3);
	bytes(&up, "web", 3);
	ptr(&up, 16); /* web.example.com */
	end_rr(&up, rd);
	ptr(&up, (uint16_t)target);
	rd = rr(&up, LV_TYPE_A, 120);
	bytes(&up, "\xc0\x00\x02\x07", 4);
	end_rr(&up, rd);
	ptr(&up, 16);
	rd = rr(&up, LV_TYPE_NS, 3600);
	u8(&up, 2);
	bytes(&up, "ns", 2);
	ptr(&up, 16);
	end_rr(&up, rd);
	name(&up, "ns.example.com");
	rd = rr(&up, LV_TYPE_A, 5); /* additional: not in the TTL */
	bytes(&up, "\xc0\x00\x02\x35", 4);
	end_rr(&up, rd);
	assert_int_equal(lv_upstream_entry_build(up.b, (uint16_t)up.len, &q,
						 &POLICY, SEED, &res),
			 0);
	assert_int_equal(res.ttl, 120);
	ldns_pkt *p = answer(&cq, &q, res.entry, 0, &len);
	assert_rr(ldns_pkt_answer(p), 0,
		  "www.example.com.\t600\tIN\tCNAME\tweb.example.com.\n");
	assert_rr(ldns_pkt_answer(p), 1,
		  "web.example.com.\t120\tIN\tA\t192.0.2.7\n");
	assert_rr(ldns_pkt_authority(p), 0,
		  "example.com.\t3600\tIN\tNS\tns.example.com.\n");
	assert_rr(ldns_pkt_additional(p), 0,
		  "ns.example.com.\t5\tIN\tA\t192.0.2.53\n");
	/* compressed again: far smaller than every name written out */
	assert_true(res.entry->wire_len < up.len - 12 - 21);
	/* the CNAME's RDATA is a pointer target: its RRset may not move */
	assert_int_equal(res.entry->rrsets[0].rotatable, 0);
	ldns_pkt_free(p);
	lv_cache_entry_free(res.entry);
}

static int build(const struct msg *up, const struct lv_query *q,
		 const struct lv_ttl_policy *pol,
		 struct lv_upstream_result *res)
{
	return lv_upstream_entry_build(up->b, (uint16_t)up->len, q, pol, SEED,
				       res);
}

/* example.com's SOA (owner and names pointing at offset 15, the question's
 * "example.com"), with this TTL and MINIMUM, as an authority record. */
static void put_soa(struct msg *up, uint32_t ttl, uint32_t minimum)
{
	unsigned rd;

	ptr(up, 15);
	rd = rr(up, LV_TYPE_SOA, ttl);
	u8(up, 2);
	bytes(up, "ns", 2);
	ptr(up, 15);
	u8(up, 4);
	bytes(up, "host", 4);
	ptr(up, 15);
	u32(up, 1);
	u32(up, 3600);
	u32(up, 600);
	u32(up, 86400);
	u32(up, minimum);
	end_rr(up, rd);
}

/* The response's first authority record is that SOA, with TTL ttl. */
static void assert_soa(ldns_pkt *p, uint32_t ttl, uint32_t minimum)
{
	char text[160];

	snprintf(text, sizeof(text),
		 "example.com.\t%u\tIN\tSOA\tns.example.com. host.example.com. "
		 "1 3600 600 86400 %u\n",
		 ttl, minimum);
	assert_rr(ldns_pkt_authority(p), 0, text);
}

/* Negative answers: min(SOA TTL, MINIMUM), capped; the SOA's TTL says it. */
static void negative(uint16_t rcode, uint32_t soa_ttl, uint32_t minimum,
		     uint32_t cap, uint32_t want)
{
	struct msg up, cq;
	struct lv_query q;
	struct lv_upstream_result res;
	struct lv_ttl_policy pol = POLICY;
	uint16_t len;

	pol.neg_max_ttl = cap;
	client_query(&cq, &q, "nx.example.com", LV_TYPE_A, false);
	header(&up, 7, (uint16_t)(LV_FLAG_QR | LV_FLAG_RA | rcode), 0, 1, 0);
	question(&up, "nx.example.com", LV_TYPE_A);
	put_soa(&up, soa_ttl, minimum);
	assert_int_equal(build(&up, &q, &pol, &res), 0);
	assert_int_equal(res.rcode, rcode);
	assert_int_equal(res.ttl, want);
	assert_true(res.cacheable);
	ldns_pkt *p = answer(&cq, &q, res.entry, 0, &len);
	assert_int_equal(ldns_pkt_get_rcode(p), rcode);
	assert_soa(p, want, minimum);
	ldns_pkt_free(p);
	lv_cache_entry_free(res.entry);
}

/* A denial at the end of a CNAME chain (RFC 2308 §2.1, §2.2): the CNAME
 * in the answer, the SOA in authority. The entry lives the negative TTL
 * (or the CNAME's, when shorter), and no record says longer. */
static void denial_after_cname(uint16_t rcode, uint32_t cname_ttl,
			       uint32_t soa_ttl, uint32_t minimum,
			       uint32_t want)
{
	struct msg up, cq;
	struct lv_query q;
	struct lv_upstream_result res;
	uint16_t len;
	unsigned rd;
	char text[160];

	client_query(&cq, &q, "nx.example.com", LV_TYPE_A, false);
	header(&up, 7, (uint16_t)(LV_FLAG_QR | LV_FLAG_RA | rcode), 1, 1, 0);
	question(&up, "nx.example.com", LV_TYPE_A);
	ptr(&up, 12); /* nx.example.com */
	rd = rr(&up, LV_TYPE_CNAME, cname_ttl);
	u8(&up, 1);
	bytes(&up, "t", 1);
	ptr(&up, 15);
	end_rr(&up, rd);
	put_soa(&up, soa_ttl, minimum);
	assert_int_equal(build(&up, &q, &POLICY, &res), 0);
	assert_int_equal(res.ttl, want);
	assert_true(res.cacheable);
	ldns_pkt *p = answer(&cq, &q, res.entry, 0, &len);
	assert_int_equal(ldns_pkt_get_rcode(p), rcode);
	snprintf(text, sizeof(text),
		 "nx.example.com.\t%u\tIN\tCNAME\tt.example.com.\n",
		 cname_ttl < want ? cname_ttl : want);
	assert_rr(ldns_pkt_answer(p), 0, text);
	assert_soa(p, want, minimum);
	ldns_pkt_free(p);
	lv_cache_entry_free(res.entry);
}

static void test_negative_ttls(void **state)
{
	(void)state;
	negative(LV_RCODE_NXDOMAIN, 300, 60, 3600, 60);    /* MINIMUM */
	negative(LV_RCODE_NXDOMAIN, 30, 60, 3600, 30);     /* SOA TTL */
	negative(LV_RCODE_NXDOMAIN, 7200, 7200, 900, 900); /* the cap */
	negative(LV_RCODE_NOERROR, 300, 45, 3600, 45);     /* NODATA */
	/* after a CNAME: the negative TTL, not the CNAME's 300 */
	denial_after_cname(LV_RCODE_NOERROR, 300, 3600, 60, 60);
	denial_after_cname(LV_RCODE_NXDOMAIN, 300, 3600, 60, 60);
	/* a CNAME shorter than the denial bounds it */
	denial_after_cname(LV_RCODE_NXDOMAIN, 20, 3600, 60, 20);
	/* the cap (POLICY's negative max) applies after a CNAME too */
	denial_after_cname(LV_RCODE_NOERROR, 86400, 86400, 86400,
			   POLICY.neg_max_ttl);
}

/* Header-only answers of each rcode: what is cached, and how long. */
static void bare(uint16_t flags, bool want_cacheable, uint32_t want_ttl,
		 bool want_tc)
{
	struct msg up, cq;
	struct lv_query q;
	struct lv_upstream_result res;

	client_query(&cq, &q, "x.example.com", LV_TYPE_A, false);
	header(&up, 7, (uint16_t)(LV_FLAG_QR | flags), 0, 0, 0);
	question(&up, "x.example.com", LV_TYPE_A);
	assert_int_equal(build(&up, &q, &POLICY, &res), 0);
	assert_int_equal(res.cacheable, want_cacheable);
	assert_int_equal(res.ttl, want_ttl);
	assert_int_equal(res.truncated, want_tc);
	assert_non_null(res.entry); /* the waiting clients are answered */
	lv_cache_entry_free(res.entry);
}

static void test_rcodes(void **state)
{
	(void)state;
	bare(LV_RCODE_SERVFAIL, true, 5, false);
	bare(LV_RCODE_REFUSED, false, 0, false);
	bare(LV_RCODE_FORMERR, false, 0, false);
	bare(LV_RCODE_NOTIMP, false, 0, false);
	bare(LV_RCODE_NXDOMAIN, false, 0, false); /* no SOA */
	bare(LV_RCODE_NOERROR, false, 0, false);  /* NODATA, no SOA */
	bare(LV_FLAG_TC, false, 0, true);         /* truncated, empty */
}

/* An answer must be a response to this very question. */
static void test_mismatch_refused(void **state)
{
	struct msg up, cq;
	struct lv_query q;
	struct lv_upstream_result res;

	(void)state;
	client_query(&cq, &q, "www.example.com", LV_TYPE_A, false);
	header(&up, 7, LV_FLAG_QR, 0, 0, 0);
	question(&up, "www.example.net", LV_TYPE_A);
	assert_int_equal(build(&up, &q, &POLICY, &res), -EBADMSG);
	header(&up, 7, LV_FLAG_QR, 0, 0, 0);
	question(&up, "www.example.com", LV_TYPE_AAAA);
	assert_int_equal(build(&up, &q, &POLICY, &res), -EBADMSG);
	header(&up, 7, 0 /* a query, not a response */, 0, 0, 0);
	question(&up, "www.example.com", LV_TYPE_A);
	assert_int_equal(build(&up, &q, &POLICY, &res), -EBADMSG);
	assert_null(res.entry);
}

/* Broken messages are refused whole, never read past their end. */
static void test_malformed(void **state)
{
	struct msg up, cq;
	struct lv_query q;
	struct lv_upstream_result res;
	unsigned rd, at;

	(void)state;
	client_query(&cq, &q, "www.example.com", LV_TYPE_A, false);
	/* an RR cut short */
	header(&up, 7, LV_FLAG_QR, 1, 0, 0);
	question(&up, "www.example.com", LV_TYPE_A);
	ptr(&up, 12);
	rd = rr(&up, LV_TYPE_A, 300);
	bytes(&up, "\xc0\x00", 2);
	up.b[rd - 1] = 4; /* claims 4 bytes */
	assert_int_equal(build(&up, &q, &POLICY, &res), -EBADMSG);
	/* a pointer to itself */
	header(&up, 7, LV_FLAG_QR, 1, 0, 0);
	question(&up, "www.example.com", LV_TYPE_A);
	at = up.len;
	ptr(&up, (uint16_t)at);
	rd = rr(&up, LV_TYPE_A, 300);
	bytes(&up, "\xc0\x00\x02\x01", 4);
	end_rr(&up, rd);
	assert_int_equal(build(&up, &q, &POLICY, &res), -EBADMSG);
	/* a pointer forward */
	header(&up, 7, LV_FLAG_QR, 1, 0, 0);
	question(&up, "www.example.com", LV_TYPE_A);
	ptr(&up, (uint16_t)(up.len + 20));
	rd = rr(&up, LV_TYPE_A, 300);
	bytes(&up, "\xc0\x00\x02\x01", 4);
	end_rr(&up, rd);
	assert_int_equal(build(&up, &q, &POLICY, &res), -EBADMSG);
	/* an NS whose RDATA name runs past its RDLENGTH */
	header(&up, 7, LV_FLAG_QR, 1, 0, 0);
	question(&up, "www.example.com", LV_TYPE_NS);
	client_query(&cq, &q, "www.example.com", LV_TYPE_NS, false);
	ptr(&up, 12);
	rd = rr(&up, LV_TYPE_NS, 300);
	name(&up, "ns.example.com");
	up.b[rd - 1] = 3;
	assert_int_equal(build(&up, &q, &POLICY, &res), -EBADMSG);
	/* an A record of 16 bytes (fuzz_upstream's seed a_with_16_bytes) */
	client_query(&cq, &q, "www.example.com", LV_TYPE_A, false);
	header(&up, 7, LV_FLAG_QR, 1, 0, 0);
	question(&up, "www.example.com", LV_TYPE_A);
	ptr(&up, 12);
	rd = rr(&up, LV_TYPE_A, 300);
	bytes(&up, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	end_rr(&up, rd);
	assert_int_equal(build(&up, &q, &POLICY, &res), -EBADMSG);
	/* too short for a header */
	assert_int_equal(
	    lv_upstream_entry_build(up.b, 11, &q, &POLICY, SEED, &res),
	    -EBADMSG);
}

/* OPT and TSIG are the upstream's, not the answer's; AD only with DO. */
static void test_opt_dropped_ad_with_do(void **state)
{
	for (int do_bit = 0; do_bit <= 1; do_bit++) {
		struct msg up, cq;
		struct lv_query q;
		struct lv_upstream_result res;
		uint16_t len;
		unsigned rd;

		client_query(&cq, &q, "www.example.com", LV_TYPE_A, do_bit);
		header(&up, 7, LV_FLAG_QR | LV_FLAG_AD, 1, 0, 1);
		question(&up, "www.example.com", LV_TYPE_A);
		ptr(&up, 12);
		rd = rr(&up, LV_TYPE_A, 300);
		bytes(&up, "\xc0\x00\x02\x01", 4);
		end_rr(&up, rd);
		u8(&up, 0);
		u16(&up, LV_TYPE_OPT);
		u16(&up, 1232);
		u32(&up, 0);
		u16(&up, 0);
		assert_int_equal(build(&up, &q, &POLICY, &res), 0);
		assert_int_equal(res.entry->arcount, 0);
		ldns_pkt *p = answer(&cq, &q, res.entry, 0, &len);
		assert_int_equal(ldns_pkt_ad(p), do_bit);
		assert_int_equal(ldns_pkt_arcount(p), 0); /* only our OPT */
		ldns_pkt_free(p);
		lv_cache_entry_free(res.entry);
		(void)state;
	}
}

/* Served aged: every TTL less the age, never below 0, and the checksum
 * shortcut still right. */
static void test_aged(void **state)
{
	struct msg up, cq;
	struct lv_query q;
	struct lv_upstream_result res;
	uint16_t len;
	unsigned rd;

	(void)state;
	client_query(&cq, &q, "www.example.com", LV_TYPE_A, false);
	header(&up, 7, LV_FLAG_QR, 2, 0, 0);
	question(&up, "www.example.com", LV_TYPE_A);
	for (int i = 0; i < 2; i++) {
		ptr(&up, 12);
		rd = rr(&up, LV_TYPE_A, i ? 300 : 250);
		bytes(&up, i ? "\xc0\x00\x02\x02" : "\xc0\x00\x02\x01", 4);
		end_rr(&up, rd);
	}
	assert_int_equal(build(&up, &q, &POLICY, &res), 0);
	struct {
		uint32_t age, ttl0, ttl1;
	} cases[] = {{0, 250, 300}, {1, 249, 299}, {100, 150, 200},
		     {260, 0, 40},  {300, 0, 0},   {100000, 0, 0}};
	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		static uint8_t buf[4096];
		bool tc;
		ldns_pkt *p = answer(&cq, &q, res.entry, cases[c].age, &len);
		ldns_rr_list *an = ldns_pkt_answer(p);
		assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(an, 0)),
				 cases[c].ttl0);
		assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(an, 1)),
				 cases[c].ttl1);
		ldns_pkt_free(p);
		/* the shortcut sum equals summing every byte, at both
		 * parities of the question's end */
		memcpy(buf, cq.b, q.question_end);
		len = lv_response_from_entry_aged(
		    buf, sizeof(buf), &q, res.entry, 4096, cases[c].age, &tc);
		assert_int_equal(lv_response_sum(buf, len, &q, res.entry),
				 lv_csum(buf, len));
	}
	lv_cache_entry_free(res.entry);
	/* an odd question end: one more byte of name */
	client_query(&cq, &q, "wwww.example.com", LV_TYPE_A, false);
	header(&up, 7, LV_FLAG_QR, 1, 0, 0);
	question(&up, "wwww.example.com", LV_TYPE_A);
	ptr(&up, 12);
	rd = rr(&up, LV_TYPE_A, 0x12345);
	bytes(&up, "\xc0\x00\x02\x01", 4);
	end_rr(&up, rd);
	assert_int_equal(build(&up, &q, &POLICY, &res), 0);
	for (uint32_t age = 0; age < 70000; age += 6553) {
		static uint8_t buf[4096];
		bool tc;
		memcpy(buf, cq.b, q.question_end);
		len = lv_response_from_entry_aged(buf, sizeof(buf), &q,
						  res.entry, 4096, age, &tc);
		assert_int_equal(lv_response_sum(buf, len, &q, res.entry),
				 lv_csum(buf, len));
	}
	lv_cache_entry_free(res.entry);
}

/* A stale copy: every TTL the stale-answer TTL, the checksum shortcut
 * still right, and the EDE "Stale Answer" in the OPT of an EDNS client
 * (none without EDNS). */
static void test_stale_copy(void **state)
{
	struct msg up, cq;
	struct lv_query q;
	struct lv_upstream_result res;
	uint16_t len;
	unsigned rd;
	static uint8_t buf[4096];
	bool tc;

	(void)state;
	client_query(&cq, &q, "www.example.com", LV_TYPE_A, false);
	header(&up, 7, LV_FLAG_QR, 2, 0, 0);
	question(&up, "www.example.com", LV_TYPE_A);
	for (int i = 0; i < 2; i++) {
		ptr(&up, 12);
		rd = rr(&up, LV_TYPE_A, i ? 300 : 7);
		bytes(&up, i ? "\xc0\x00\x02\x02" : "\xc0\x00\x02\x01", 4);
		end_rr(&up, rd);
	}
	assert_int_equal(build(&up, &q, &POLICY, &res), 0);
	struct lv_cache_entry *e =
	    lv_upstream_entry_stale(res.entry, 30, 1000, SEED);
	assert_non_null(e);
	assert_int_equal(e->stale, 1);
	assert_int_equal(e->prefetch_asked, 1); /* never prefetched */
	assert_int_equal(e->min_ttl, 30);
	assert_int_equal(e->stale_keep, 1000);
	assert_int_equal(e->hash, res.entry->hash);
	for (uint32_t age = 0; age < 3; age++) {
		ldns_pkt *p = answer(&cq, &q, e, age, &len);
		ldns_rr_list *an = ldns_pkt_answer(p);
		assert_int_equal(ldns_rr_list_rr_count(an), 2);
		for (size_t i = 0; i < 2; i++)
			assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(an, i)),
					 30 - age);
		/* the OPT's RDATA: EDE (15), length 2, INFO-CODE 3 */
		ldns_rdf *opt = ldns_pkt_edns_data(p);
		assert_non_null(opt);
		assert_int_equal(ldns_rdf_size(opt), 6);
		assert_memory_equal(ldns_rdf_data(opt), "\0\x0f\0\x02\0\x03",
				    6);
		ldns_pkt_free(p);
		memcpy(buf, cq.b, q.question_end);
		len = lv_response_from_entry_aged(buf, sizeof(buf), &q, e, 4096,
						  age, &tc);
		assert_int_equal(lv_response_sum(buf, len, &q, e),
				 lv_csum(buf, len));
	}
	/* the original is unchanged */
	ldns_pkt *p = answer(&cq, &q, res.entry, 0, &len);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)),
			 7);
	assert_null(ldns_pkt_edns_data(p));
	ldns_pkt_free(p);
	/* a client without EDNS: no OPT at all */
	struct msg plain;
	struct lv_query pq;
	header(&plain, 0x4343, LV_FLAG_RD, 0, 0, 0);
	question(&plain, "www.example.com", LV_TYPE_A);
	assert_int_equal(
	    lv_query_parse(plain.b, (uint16_t)plain.len, SEED, &pq),
	    LV_PARSE_OK);
	memcpy(buf, plain.b, pq.question_end);
	len =
	    lv_response_from_entry_aged(buf, sizeof(buf), &pq, e, 4096, 0, &tc);
	assert_int_equal(lv_wire_get16(buf + 10), 0); /* ARCOUNT */
	assert_int_equal(lv_response_sum(buf, len, &pq, e), lv_csum(buf, len));
	lv_cache_entry_free(e);
	lv_cache_entry_free(res.entry);
}

/* cache-min-ttl and -max-ttl bound each record's TTL as well. */
static void test_clamped(void **state)
{
	struct msg up, cq;
	struct lv_query q;
	struct lv_upstream_result res;
	struct lv_ttl_policy pol = POLICY;
	uint16_t len;
	unsigned rd;

	(void)state;
	pol.min_ttl = 30;
	pol.max_ttl = 100;
	client_query(&cq, &q, "www.example.com", LV_TYPE_A, false);
	header(&up, 7, LV_FLAG_QR, 2, 0, 0);
	question(&up, "www.example.com", LV_TYPE_A);
	for (int i = 0; i < 2; i++) {
		ptr(&up, 12);
		rd = rr(&up, LV_TYPE_A, i ? 5000 : 5);
		bytes(&up, i ? "\xc0\x00\x02\x02" : "\xc0\x00\x02\x01", 4);
		end_rr(&up, rd);
	}
	assert_int_equal(build(&up, &q, &pol, &res), 0);
	assert_int_equal(res.ttl, 30);
	ldns_pkt *p = answer(&cq, &q, res.entry, 0, &len);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)),
			 30);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 1)),
			 100);
	ldns_pkt_free(p);
	lv_cache_entry_free(res.entry);
}

/* The SERVFAIL entry for a name whose upstreams all failed. */
static void test_rcode_entry(void **state)
{
	struct msg cq;
	struct lv_query q;
	uint16_t len;

	(void)state;
	client_query(&cq, &q, "www.example.com", LV_TYPE_A, true);
	struct lv_cache_entry *e =
	    lv_upstream_entry_rcode(&q, LV_RCODE_SERVFAIL, 5, SEED);
	assert_non_null(e);
	assert_int_equal(e->hash, q.hash);
	assert_int_equal(e->min_ttl, 5);
	ldns_pkt *p = answer(&cq, &q, e, 0, &len);
	assert_int_equal(ldns_pkt_get_rcode(p), LV_RCODE_SERVFAIL);
	assert_true(ldns_pkt_ra(p));
	ldns_pkt_free(p);
	lv_cache_entry_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_answer),
	    cmocka_unit_test(test_chain_and_compression),
	    cmocka_unit_test(test_negative_ttls),
	    cmocka_unit_test(test_rcodes),
	    cmocka_unit_test(test_mismatch_refused),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_opt_dropped_ad_with_do),
	    cmocka_unit_test(test_aged),
	    cmocka_unit_test(test_stale_copy),
	    cmocka_unit_test(test_clamped),
	    cmocka_unit_test(test_rcode_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
