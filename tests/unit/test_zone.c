/*
 * Unit tests for zone loading and the zone set (dns/zone.c).
 *
 * Every load error is checked with its exact one-line message: each bad
 * zone is written to a temporary file from a string in this file, so the
 * line numbers in the expectations can be counted by eye. The good zones
 * are those of tests/unit/data/zones, shared with test_answer.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../dns/zone_int.h"
#include "levee/config.h"
#include "levee/zone.h"

#define HEAD                                                                   \
	"$ORIGIN example.com.\n"                                               \
	"$TTL 300\n"                                                           \
	"@ SOA ns hm 1 2 3 4 5\n"                                              \
	"@ NS ns\n"

static char tmp_path[64];

static const char *write_zone(const char *text)
{
	strcpy(tmp_path, "/tmp/lv_test_zone_XXXXXX");
	int fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return tmp_path;
}

/* Load text as example.com and expect "<file>:<line>: <what>". */
static void expect_error(const char *text, int line, const char *what)
{
	const char *file = write_zone(text);
	char err[512], want[512];
	struct lv_zone *z = (struct lv_zone *)1;

	assert_int_equal(
	    lv_zone_load("example.com", file, &z, err, sizeof(err)), -EINVAL);
	assert_null(z);
	snprintf(want, sizeof(want), "%s:%d: %s", file, line, what);
	assert_string_equal(err, want);
	unlink(file);
}

static struct lv_zone *load_ok(const char *origin, const char *text)
{
	const char *file = write_zone(text);
	struct lv_zone *z = NULL;
	char err[512] = "";

	int ret = lv_zone_load(origin, file, &z, err, sizeof(err));
	if (ret != 0)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(ret, 0);
	unlink(file);
	return z;
}

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_error(HEAD "www A 1.2.3\n", 5,
		     "Syntax error, could not parse the RR's rdata");
	expect_error(HEAD "\n\n; comment\nwww A 1.2.3.4\nbad IN A x\n", 9,
		     "Syntax error, could not parse the RR's rdata");
	expect_error(HEAD "x TXT ( \"a\"\n \"b\" )\nwww A 1.2.3\n", 7,
		     "Syntax error, could not parse the RR's rdata");
	expect_error(HEAD "www A\n", 5, "Syntax error, value expected");
	expect_error(HEAD "$INCLUDE other.zone\n", 5,
		     "$INCLUDE is not supported");
	/* RFC 3597 generic RDATA (\\#) of a known type: ldns decodes it as
	 * that type, so RDATA that does not hold what the type says (a
	 * name cut short, an A of three bytes) is refused like any other
	 * syntax error, and good RDATA is the same record as its usual form */
	expect_error(HEAD "y MX \\# 3 000a05\n", 5, "Label length overflow");
	expect_error(HEAD "y A \\# 3 c00002\n", 5, "Packet size overflow");
	struct lv_zone *z = load_ok("example.com", HEAD "y A \\# 4 c0000201\n"
							"y A 192.0.2.1\n");
	assert_int_equal(lv_zone_records(z), 3); /* SOA, NS, one A */
	lv_zone_free(z);
}

static void test_semantic_errors(void **state)
{
	(void)state;
	expect_error("$ORIGIN example.com.\n@ 300 NS ns\nx 300 A 1.1.1.1\n", 3,
		     "no SOA record at the apex example.com.");
	/* found by fuzz_zone: no records at all reached qsort with a NULL
	 * array (undefined behaviour, UBSan's nonnull-attribute) */
	expect_error("", 1, "no SOA record at the apex example.com.");
	expect_error("; nothing but a comment\n$TTL 300\n", 2,
		     "no SOA record at the apex example.com.");
	expect_error(HEAD "@ SOA ns hm 2 2 3 4 5\n", 5,
		     "more than one SOA record at example.com.");
	expect_error(HEAD "x SOA ns hm 1 2 3 4 5\n", 5,
		     "SOA at x.example.com. is not at the zone apex "
		     "example.com.");
	expect_error(HEAD "www A 1.1.1.1\n\nwww CNAME x\n", 7,
		     "CNAME at www.example.com. beside other data");
	expect_error(HEAD "www CNAME x\nwww A 1.1.1.1\n", 6,
		     "CNAME at www.example.com. beside other data");
	expect_error(HEAD "www CNAME x\nwww CNAME y\n", 6,
		     "more than one CNAME record at www.example.com.");
	expect_error(HEAD "www.other.org. A 1.2.3.4\n", 5,
		     "owner www.other.org. is outside the zone example.com.");
	expect_error(HEAD "com. A 1.2.3.4\n", 5,
		     "owner com. is outside the zone example.com.");
	expect_error(HEAD "www CH A 1.2.3.4\n", 5,
		     "class CH is not supported, only IN");
	/* the first error in the file wins */
	expect_error(HEAD "a CNAME x\na A 1.1.1.1\nb CNAME x\nb CNAME y\n", 6,
		     "CNAME at a.example.com. beside other data");
}

static void test_refused_features(void **state)
{
	(void)state;
	expect_error(HEAD "sub NS ns.sub\n", 5,
		     "NS at sub.example.com.: delegations are not supported "
		     "yet");
	expect_error(HEAD "*.x A 1.1.1.1\n", 5,
		     "wildcard owner *.x.example.com. is not supported yet");
	expect_error(HEAD "x DNAME y.org.\n", 5,
		     "DNAME at x.example.com. is not supported yet");
	/* found by fuzz_zone: a record of type 0 loaded, and a query for
	 * it is NOTIMP, so the zone held an RRset nothing could answer */
	expect_error(HEAD "x TYPE0 \\# 0\n", 5,
		     "type 0 at x.example.com. is not a data type");
	expect_error(HEAD "x TYPE255 \\# 1 00\n", 5,
		     "type 255 at x.example.com. is not a data type");
	expect_error(HEAD "x TYPE41 \\# 0\n", 5,
		     "type 41 at x.example.com. is not a data type");
	/* found by fuzz_zone: ldns appends the origin to a relative name
	 * without holding it to 255 bytes, so an NS or MX target of 266
	 * bytes loaded and its answer could not be parsed */
	char text[1024], label[64];
	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(text, sizeof(text), HEAD "x MX 10 %s.%s.%s.%.60s\n", label,
		 label, label, label);
	expect_error(text, 5,
		     "a name in the RDATA at x.example.com. is longer than "
		     "255 bytes");
	snprintf(text, sizeof(text), HEAD "%s.%s.%s.%.60s A 192.0.2.1\n", label,
		 label, label, label);
	expect_error(text, 5, "owner name of 266 bytes is longer than 255");
}

static void test_allowed_beside_cname(void **state)
{
	(void)state;
	/* RRSIG and NSEC may sit beside a CNAME (RFC 4035 §2.5) */
	struct lv_zone *z =
	    load_ok("example.com.", HEAD
		    "www CNAME x\nwww NSEC z.example.com. CNAME RRSIG NSEC\n"
		    "www RRSIG CNAME 8 3 300 20300101000000 20200101000000 "
		    "1 example.com. AAAA\n");
	assert_int_equal(lv_zone_records(z), 5);
	lv_zone_free(z);
}

static void test_counts_and_merging(void **state)
{
	(void)state;
	struct lv_zone *z =
	    load_ok("Example.COM",
		    HEAD "www A 1.1.1.1\nWWW A 1.1.1.1\nwww.example.com. 60 A "
			 "1.1.1.1\n@ SOA ns hm 1 2 3 4 5\n");
	assert_int_equal(lv_zone_records(z), 3); /* SOA, NS, one A */
	assert_int_equal(lv_zone_serial(z), 1);
	assert_string_equal(lv_zone_origin(z), "example.com.");
	assert_int_not_equal(lv_zone_id(z), 0);
	const struct lv_znode *n =
	    lv_zone_node(z, (const uint8_t *)"\3www\7example\3com", 17);
	assert_non_null(n);
	assert_int_equal(n->rrset_count, 1);
	assert_int_equal(n->rrsets[0].count, 1);
	assert_int_equal(n->rrsets[0].ttl, 60); /* the last line's TTL */
	lv_zone_free(z);
	/* a duplicate on the last line still gives the RRset its TTL, even
	 * when another RR of the set lies between */
	z = load_ok("example.com", HEAD "www 100 A 1.1.1.1\nwww 200 A 1.1.1.2\n"
					"www 300 A 1.1.1.1\n");
	n = lv_zone_node(z, (const uint8_t *)"\3www\7example\3com", 17);
	assert_non_null(n);
	assert_int_equal(n->rrsets[0].count, 2);
	assert_int_equal(n->rrsets[0].ttl, 300);
	lv_zone_free(z);
}

static void test_empty_nonterminals(void **state)
{
	(void)state;
	struct lv_zone *z =
	    load_ok("example.com", HEAD "a.b.c A 1.1.1.1\nx.c A 1.1.1.1\n");
	const struct lv_znode *n;

	n = lv_zone_node(z, (const uint8_t *)"\1b\1c\7example\3com", 17);
	assert_non_null(n);
	assert_int_equal(n->rrset_count, 0);
	n = lv_zone_node(z, (const uint8_t *)"\1c\7example\3com", 15);
	assert_non_null(n);
	assert_int_equal(n->rrset_count, 0);
	n = lv_zone_node(z, (const uint8_t *)"\1a\1b\1c\7example\3com", 19);
	assert_non_null(n);
	assert_int_equal(n->rrset_count, 1);
	assert_null(lv_zone_node(z, (const uint8_t *)"\1d\7example\3com", 15));
	assert_null(lv_zone_node(z, (const uint8_t *)"\3com", 5));
	lv_zone_free(z);
}

static void test_open_errors(void **state)
{
	(void)state;
	struct lv_zone *z;
	char err[256];

	assert_int_equal(lv_zone_load("example.com", "/nonexistent/zone", &z,
				      err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err,
			    "/nonexistent/zone: No such file or directory");
	/* found by fuzz_zone: the bad origin was quoted raw, a control
	 * character and all, breaking the one-line message */
	assert_int_equal(
	    lv_zone_load("m.\b..", "/nonexistent/zone", &z, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "/nonexistent/zone: bad zone origin 'm.?..'");
}

static void test_zoneset(void **state)
{
	(void)state;
	struct lv_zone *a = load_ok("example.com", HEAD);
	struct lv_zone *b = load_ok("example.com.", HEAD);
	struct lv_zone *c = load_ok(".", "@ 300 SOA ns. hm. 1 2 3 4 5\n");
	struct lv_zoneset *zs = lv_zoneset_new();

	assert_int_not_equal(lv_zone_id(a), lv_zone_id(b));
	assert_int_equal(lv_zoneset_add(zs, a), 0);
	assert_int_equal(lv_zoneset_add(zs, b), -EEXIST);
	lv_zone_free(b);
	assert_int_equal(lv_zoneset_add(zs, c), 0);
	assert_int_equal(lv_zoneset_count(zs), 2);
	assert_ptr_equal(lv_zoneset_zone(zs, 0), a);
	assert_ptr_equal(
	    lv_zoneset_find(zs, (const uint8_t *)"\1x\7example\3com", 15), a);
	assert_ptr_equal(lv_zoneset_find(zs, (const uint8_t *)"\3org", 5), c);
	assert_ptr_equal(lv_zoneset_find(zs, (const uint8_t *)"", 1), c);
	lv_zoneset_free(zs);
}

static void test_zoneset_load_error(void **state)
{
	(void)state;
	const char *file = write_zone(HEAD "x DNAME y.\n");
	struct lv_zone_conf conf = {.origin = "example.com",
				    .file = (char *)file};
	struct lv_zoneset *zs = (struct lv_zoneset *)1;
	char err[512], want[512];

	assert_int_equal(lv_zoneset_load(&conf, 1, &zs, err, sizeof(err)),
			 -EINVAL);
	assert_null(zs);
	snprintf(want, sizeof(want),
		 "%s:5: DNAME at x.example.com. is not supported yet", file);
	assert_string_equal(err, want);
	unlink(file);
}

/* 200k names load whole, empty non-terminals included. How long it takes
 * is a benchmark's figure (docs/performance.md), not a test's: a timed
 * assertion fails on a loaded machine. */
static void test_large_zone(void **state)
{
	(void)state;
	char path[] = "/tmp/lv_test_big_XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct lv_zone *z;
	char err[256];

	fputs(HEAD, f);
	for (int i = 0; i < 200000; i++)
		fprintf(f, "h%d.d%d A 10.%d.%d.%d\n", i, i % 1000,
			(i >> 16) & 255, (i >> 8) & 255, i & 255);
	fclose(f);
	assert_int_equal(
	    lv_zone_load("example.com", path, &z, err, sizeof(err)), 0);
	assert_int_equal(lv_zone_records(z), 200002);
	/* d0..d999 are empty non-terminals */
	const struct lv_znode *n =
	    lv_zone_node(z, (const uint8_t *)"\4d999\7example\3com", 18);
	assert_non_null(n);
	assert_int_equal(n->rrset_count, 0);
	lv_zone_free(z);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_semantic_errors),
	    cmocka_unit_test(test_refused_features),
	    cmocka_unit_test(test_allowed_beside_cname),
	    cmocka_unit_test(test_counts_and_merging),
	    cmocka_unit_test(test_empty_nonterminals),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_zoneset),
	    cmocka_unit_test(test_zoneset_load_error),
	    cmocka_unit_test(test_large_zone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
