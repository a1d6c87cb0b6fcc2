/*
 * Unit tests for the answer builder (dns/answer.c).
 *
 * Each test loads the zones of tests/unit/data/zones, builds the answer
 * for one question, puts header + question (in the client's case) + the
 * entry's wire bytes together as the dataplane would, and decodes the
 * message with ldns: so every compression pointer is checked to be valid,
 * and the records are compared as text. Message sizes are those knotd
 * 3.2.6 sent for the same zones and questions (without EDNS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "levee/answer.h"
#include "levee/config.h"
#include "levee/hash.h"
#include "levee/zone.h"

static char data_dir[512];

static void find_data_dir(void)
{
	const char *slash = strrchr(__FILE__, '/');
	int n = slash ? (int)(slash - __FILE__) : 1;

	snprintf(data_dir, sizeof(data_dir), "%.*s/data/zones", slash ? n : 1,
		 slash ? __FILE__ : ".");
}

static int setup(void **state)
{
	static char files[3][600];
	static const char *origins[3] = {"example.com", "sub.example.com.",
					 "other.org"};
	struct lv_zone_conf confs[3];
	struct lv_zoneset *zs;
	char err[256];

	find_data_dir();
	for (int i = 0; i < 3; i++) {
		snprintf(files[i], sizeof(files[i]), "%s/%s%szone", data_dir,
			 origins[i],
			 origins[i][strlen(origins[i]) - 1] == '.' ? "" : ".");
		confs[i] = (struct lv_zone_conf){.origin = (char *)origins[i],
						 .file = files[i]};
	}
	int ret = lv_zoneset_load(confs, 3, &zs, err, sizeof(err));
	if (ret != 0)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(ret, 0);
	*state = zs;
	return 0;
}

static int teardown(void **state)
{
	lv_zoneset_free(*state);
	return 0;
}

/* The outcome of one question, decoded. */
struct asked {
	struct lv_answer_result res;
	ldns_pkt *pkt;
	size_t size; /* whole message, no EDNS */
	uint8_t msg[65536];
};

static void make_query(const char *name, uint16_t qtype, uint16_t qclass,
		       struct lv_query *q, uint8_t *qname)
{
	ldns_rdf *rdf = ldns_dname_new_frm_str(name);

	assert_non_null(rdf);
	memset(q, 0, sizeof(*q));
	q->qname_len = (uint16_t)ldns_rdf_size(rdf);
	memcpy(qname, ldns_rdf_data(rdf), q->qname_len);
	for (unsigned i = 0; i < q->qname_len; i++)
		q->lname[i] = lv_wire_lower(qname[i]);
	q->qtype = qtype;
	q->qclass = qclass;
	q->question_ok = 1;
	ldns_rdf_deep_free(rdf);
}

/* Ask zs; on an entry, assemble the response the dataplane would send. */
static struct asked *ask(void **state, const char *name, uint16_t qtype,
			 uint16_t qclass)
{
	struct asked *a = calloc(1, sizeof(*a));
	uint8_t qname[LV_DNS_MAX_NAME + 1];
	struct lv_query q;

	make_query(name, qtype, qclass, &q, qname);
	assert_int_equal(lv_answer_build(*state, &q, 0, 7, &a->res), 0);
	const struct lv_cache_entry *e = a->res.entry;
	if (e == NULL)
		return a;
	uint8_t *m = a->msg;
	lv_wire_put16(m, 0x1234);
	lv_wire_put16(m + 2, LV_FLAG_QR | e->flags | e->rcode);
	lv_wire_put16(m + 4, 1);
	lv_wire_put16(m + 6, e->ancount);
	lv_wire_put16(m + 8, e->nscount);
	lv_wire_put16(m + 10, e->arcount);
	memcpy(m + 12, qname, q.qname_len); /* the client's case */
	lv_wire_put16(m + 12 + q.qname_len, qtype);
	lv_wire_put16(m + 14 + q.qname_len, qclass);
	memcpy(m + 16 + q.qname_len, e->wire, e->wire_len);
	a->size = 16u + q.qname_len + e->wire_len;
	assert_int_equal(ldns_wire2pkt(&a->pkt, m, a->size), LDNS_STATUS_OK);
	return a;
}

static void done(struct asked *a)
{
	if (a->res.entry != NULL)
		lv_cache_entry_free(a->res.entry);
	ldns_pkt_free(a->pkt);
	free(a);
}

/* The section as text, one "owner ttl class type rdata" per line. */
static char *section_text(const ldns_rr_list *l)
{
	size_t cap = 4096, len = 0;
	char *out = calloc(1, cap);

	for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++) {
		char *s = ldns_rr2str(ldns_rr_list_rr(l, i));
		for (char *p = s; *p; p++)
			if (*p == '\t')
				*p = ' ';
		len += (size_t)snprintf(out + len, cap - len, "%s", s);
		free(s);
	}
	return out;
}

static void check_section(const ldns_rr_list *l, const char *expected)
{
	char *got = section_text(l);
	assert_string_equal(got, expected);
	free(got);
}

static void check(struct asked *a, unsigned rcode, const char *an,
		  const char *ns, const char *ar)
{
	assert_non_null(a->res.entry);
	assert_true(a->res.cacheable);
	assert_int_equal(a->res.rcode, rcode);
	assert_int_equal(ldns_pkt_get_rcode(a->pkt), rcode);
	assert_true(ldns_pkt_aa(a->pkt));
	check_section(ldns_pkt_answer(a->pkt), an);
	check_section(ldns_pkt_authority(a->pkt), ns);
	check_section(ldns_pkt_additional(a->pkt), ar);
}

static void test_exact(void **state)
{
	struct asked *a = ask(state, "example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, 0, "example.com. 3600 IN A 192.0.2.1\n", "", "");
	assert_int_equal(a->res.entry->min_ttl, 3600);
	done(a);
}

static void test_mx_additionals_mixed_case(void **state)
{
	struct asked *a = ask(state, "ExAmple.COM.", LV_TYPE_MX, LV_CLASS_IN);
	check(a, 0,
	      "ExAmple.COM. 3600 IN MX 10 mail.ExAmple.COM.\n"
	      "ExAmple.COM. 3600 IN MX 20 mail.other.org.\n",
	      "",
	      "mail.ExAmple.COM. 3600 IN A 192.0.2.25\n"
	      "mail.ExAmple.COM. 3600 IN AAAA 2001:db8::25\n");
	assert_int_equal(a->size, 124); /* knotd: 124 */
	/* the additionals point into the first MX's RDATA */
	assert_int_equal(a->res.entry->rrset_count, 3);
	assert_int_equal(a->res.entry->rrsets[0].rotatable, 0);
	assert_int_equal(a->res.entry->rrsets[1].rotatable, 1);
	assert_int_equal(a->res.entry->rrsets[1].section, 2);
	done(a);
}

static void test_ns_and_srv_additionals(void **state)
{
	struct asked *a = ask(state, "example.com.", LV_TYPE_NS, LV_CLASS_IN);
	check(a, 0,
	      "example.com. 3600 IN NS ns1.example.com.\n"
	      "example.com. 3600 IN NS ns2.example.net.\n",
	      "",
	      "ns1.example.com. 3600 IN A 192.0.2.53\n"
	      "ns1.example.com. 3600 IN AAAA 2001:db8::53\n");
	assert_int_equal(a->size, 120);
	done(a);
	a = ask(state, "_sip._udp.example.com.", LV_TYPE_SRV, LV_CLASS_IN);
	check(a, 0,
	      "_sip._udp.example.com. 3600 IN SRV 0 5 5060 sip.example.com.\n",
	      "", "sip.example.com. 3600 IN A 192.0.2.60\n");
	assert_int_equal(a->size, 90);
	done(a);
	/* an MX target that is a CNAME earns nothing (as Knot) */
	a = ask(state, "mxonly.example.com.", LV_TYPE_MX, LV_CLASS_IN);
	assert_int_equal(ldns_pkt_arcount(a->pkt), 2);
	assert_int_equal(a->size, 121);
	done(a);
}

static void test_cname_chain(void **state)
{
	struct asked *a =
	    ask(state, "Www.example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, 0,
	      "Www.example.com. 3600 IN CNAME web.example.com.\n"
	      "web.example.com. 3600 IN CNAME host.a.b.example.com.\n"
	      "host.a.b.example.com. 3600 IN A 192.0.2.80\n",
	      "", "");
	assert_int_equal(a->size, 90);
	/* the next owner points into each CNAME's RDATA */
	assert_int_equal(a->res.entry->rrsets[0].rotatable, 0);
	assert_int_equal(a->res.entry->rrsets[2].rotatable, 1);
	done(a);
	/* asking for the CNAME itself does not follow it */
	a = ask(state, "www.example.com.", LV_TYPE_CNAME, LV_CLASS_IN);
	check(a, 0, "www.example.com. 3600 IN CNAME web.example.com.\n", "",
	      "");
	done(a);
}

static void test_cname_loop_and_exits(void **state)
{
	struct asked *a =
	    ask(state, "loop1.example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, 0,
	      "loop1.example.com. 3600 IN CNAME loop2.example.com.\n"
	      "loop2.example.com. 3600 IN CNAME loop1.example.com.\n",
	      "", "");
	assert_int_equal(a->size, 75);
	done(a);
	/* out of the zone: stop, NOERROR */
	a = ask(state, "ext.example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, 0, "ext.example.com. 3600 IN CNAME www.other.org.\n", "", "");
	assert_int_equal(a->size, 60);
	done(a);
	/* to a name that does not exist: NXDOMAIN, like Knot */
	a = ask(state, "dangling.example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, LV_RCODE_NXDOMAIN,
	      "dangling.example.com. 3600 IN CNAME nothere.example.com.\n",
	      "example.com. 300 IN SOA ns1.example.com. "
	      "hostmaster.example.com. 2024010101 7200 3600 1209600 300\n",
	      "");
	assert_int_equal(a->size, 111);
	done(a);
	/* below the origin but in a child zone with no delegation: Knot
	 * stays in the parent, which has no such name */
	a = ask(state, "tosub.example.com.", LV_TYPE_A, LV_CLASS_IN);
	assert_int_equal(a->res.rcode, LV_RCODE_NXDOMAIN);
	assert_int_equal(a->size, 108);
	done(a);
}

static const char soa300[] = "example.com. 300 IN SOA ns1.example.com. "
			     "hostmaster.example.com. 2024010101 7200 3600 "
			     "1209600 300\n";

static void test_negative(void **state)
{
	struct asked *a =
	    ask(state, "nope.example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, LV_RCODE_NXDOMAIN, "", soa300, "");
	assert_int_equal(a->size, 85);
	assert_int_equal(a->res.entry->min_ttl, 300); /* min(3600, 300) */
	done(a);
	a = ask(state, "example.com.", LV_TYPE_AAAA, LV_CLASS_IN);
	check(a, 0, "", soa300, "");
	done(a);
	/* empty non-terminal: NODATA */
	a = ask(state, "a.b.example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, 0, "", soa300, "");
	assert_int_equal(a->size, 84);
	done(a);
	a = ask(state, "b.example.com.", LV_TYPE_TXT, LV_CLASS_IN);
	check(a, 0, "", soa300, "");
	done(a);
	/* below an empty non-terminal: NXDOMAIN */
	a = ask(state, "x.b.example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, LV_RCODE_NXDOMAIN, "", soa300, "");
	done(a);
	/* the SOA TTL is the smaller one: here the record's own (RFC 2308) */
	a = ask(state, "nope.sub.example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, LV_RCODE_NXDOMAIN, "",
	      "sub.example.com. 600 IN SOA ns1.sub.example.com. "
	      "hm.sub.example.com. 7 7200 3600 1209600 900\n",
	      "");
	done(a);
}

static void test_any(void **state)
{
	/* one RRset, the lowest type, as knotd 3.2 over UDP */
	struct asked *a =
	    ask(state, "t3.example.com.", LV_TYPE_ANY, LV_CLASS_IN);
	check(a, 0, "t3.example.com. 3600 IN A 1.1.1.1\n", "", "");
	assert_int_equal(a->size, 48);
	done(a);
	a = ask(state, "t1.example.com.", LV_TYPE_ANY, LV_CLASS_IN);
	check(a, 0, "t1.example.com. 3600 IN MX 1 mail.example.com.\n", "",
	      "mail.example.com. 3600 IN A 192.0.2.25\n"
	      "mail.example.com. 3600 IN AAAA 2001:db8::25\n");
	assert_int_equal(a->size, 97);
	done(a);
	a = ask(state, "www.example.com.", LV_TYPE_ANY, LV_CLASS_IN);
	check(a, 0, "www.example.com. 3600 IN CNAME web.example.com.\n", "",
	      "");
	done(a);
}

static void test_zone_data_rules(void **state)
{
	/* RDATA names are lowercased at load, as Knot does */
	struct asked *a =
	    ask(state, "mixed.example.com.", LV_TYPE_MX, LV_CLASS_IN);
	check(a, 0, "mixed.example.com. 3600 IN MX 1 mail.example.com.\n", "",
	      "mail.example.com. 3600 IN A 192.0.2.25\n"
	      "mail.example.com. 3600 IN AAAA 2001:db8::25\n");
	assert_int_equal(a->size, 100);
	done(a);
	/* differing TTLs: the RRset takes the last one in the file */
	a = ask(state, "ttlm.example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, 0,
	      "ttlm.example.com. 50 IN A 1.1.1.1\n"
	      "ttlm.example.com. 50 IN A 1.1.1.2\n"
	      "ttlm.example.com. 50 IN A 1.1.1.3\n",
	      "", "");
	assert_int_equal(a->size, 82);
	/* TTL offsets lead to the TTLs */
	const struct lv_cache_entry *e = a->res.entry;
	assert_int_equal(e->rr_count, 3);
	for (unsigned i = 0; i < e->rr_count; i++)
		assert_int_equal(lv_wire_get32(e->wire + e->rrs[i].ttl_offset),
				 50);
	assert_int_equal(e->rrs[0].offset, 0);
	assert_int_equal(e->rrs[1].offset, 16);
	assert_int_equal(e->rrsets[0].rotatable, 1);
	done(a);
	a = ask(state, "dup.example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, 0, "dup.example.com. 3600 IN A 1.1.1.1\n", "", "");
	done(a);
}

static void test_closest_zone(void **state)
{
	struct asked *a =
	    ask(state, "www.sub.example.com.", LV_TYPE_A, LV_CLASS_IN);
	check(a, 0, "www.sub.example.com. 600 IN A 192.0.2.100\n", "", "");
	assert_int_equal(a->size, 53);
	done(a);
	a = ask(state, "sub.example.com.", LV_TYPE_NS, LV_CLASS_IN);
	check(a, 0, "sub.example.com. 600 IN NS ns1.sub.example.com.\n", "",
	      "ns1.sub.example.com. 600 IN A 192.0.2.99\n");
	assert_int_equal(a->size, 67);
	done(a);
	a = ask(state, "www.other.org.", LV_TYPE_A, LV_CLASS_IN);
	check(a, 0, "www.other.org. 300 IN A 198.51.100.80\n", "", "");
	done(a);
	const struct lv_zoneset *zs = *state;
	const struct lv_zone *z = lv_zoneset_find(
	    zs, (const uint8_t *)"\3www\3sub\7example\3com", 21);
	assert_string_equal(lv_zone_origin(z), "sub.example.com.");
	z = lv_zoneset_find(zs, (const uint8_t *)"\3sub\7example\3com", 17);
	assert_string_equal(lv_zone_origin(z), "sub.example.com.");
	z = lv_zoneset_find(zs, (const uint8_t *)"\3xub\7example\3com", 17);
	assert_string_equal(lv_zone_origin(z), "example.com.");
	assert_null(lv_zoneset_find(zs, (const uint8_t *)"\3com", 5));
	assert_null(lv_zoneset_find(zs, (const uint8_t *)"", 1));
}

static void expect_rcode(void **state, const char *name, uint16_t qtype,
			 uint16_t qclass, unsigned rcode)
{
	struct asked *a = ask(state, name, qtype, qclass);
	assert_null(a->res.entry);
	assert_false(a->res.cacheable);
	assert_int_equal(a->res.rcode, rcode);
	assert_int_equal(a->res.zone_id, 0);
	done(a);
}

static void test_refused_and_meta(void **state)
{
	expect_rcode(state, "example.net.", LV_TYPE_A, LV_CLASS_IN,
		     LV_RCODE_REFUSED);
	expect_rcode(state, "com.", LV_TYPE_A, LV_CLASS_IN, LV_RCODE_REFUSED);
	expect_rcode(state, "example.com.", LV_TYPE_A, LV_CLASS_CH,
		     LV_RCODE_REFUSED);
	expect_rcode(state, "example.com.", LV_TYPE_A, 254, LV_RCODE_REFUSED);
	expect_rcode(state, "example.com.", LV_TYPE_AXFR, LV_CLASS_IN,
		     LV_RCODE_NOTIMP);
	expect_rcode(state, "example.net.", LV_TYPE_AXFR, LV_CLASS_CH,
		     LV_RCODE_NOTIMP);
	expect_rcode(state, "example.com.", 0, LV_CLASS_IN, LV_RCODE_NOTIMP);
	expect_rcode(state, "example.com.", LV_TYPE_IXFR, LV_CLASS_IN,
		     LV_RCODE_NOTAUTH);
	/* class ANY is answered as IN; other meta types are NODATA */
	struct asked *a = ask(state, "example.com.", LV_TYPE_A, LV_CLASS_ANY);
	check(a, 0, "example.com. 3600 IN A 192.0.2.1\n", "", "");
	done(a);
	a = ask(state, "example.com.", LV_TYPE_TSIG, LV_CLASS_IN);
	check(a, 0, "", soa300, "");
	done(a);
}

static void test_entry_key(void **state)
{
	const struct lv_zoneset *zs = *state;
	struct asked *a =
	    ask(state, "WWW.example.com.", LV_TYPE_A, LV_CLASS_IN);
	const struct lv_cache_entry *e = a->res.entry;

	assert_int_equal(e->name_len, 17);
	assert_memory_equal(e->name, "\3www\7example\3com", 17);
	assert_int_equal(e->hash, lv_cache_key_hash(7, e->name, 17, 1, 1, 0));
	assert_int_equal(e->origin, LV_ORIGIN_ZONE);
	assert_int_equal(e->flags, LV_FLAG_AA);
	assert_int_equal(e->zone_id, lv_zone_id(lv_zoneset_zone(zs, 0)));
	assert_int_equal(a->res.zone_id, e->zone_id);
	assert_int_not_equal(e->zone_id, 0);
	done(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact),
	    cmocka_unit_test(test_mx_additionals_mixed_case),
	    cmocka_unit_test(test_ns_and_srv_additionals),
	    cmocka_unit_test(test_cname_chain),
	    cmocka_unit_test(test_cname_loop_and_exits),
	    cmocka_unit_test(test_negative),
	    cmocka_unit_test(test_any),
	    cmocka_unit_test(test_zone_data_rules),
	    cmocka_unit_test(test_closest_zone),
	    cmocka_unit_test(test_refused_and_meta),
	    cmocka_unit_test(test_entry_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
