/*
 * Unit tests for zone diffs (dns/zone_diff.c).
 *
 * Each case writes an old and a new version of example.com to a temporary
 * directory, loads both with lv_zone_load(), diffs them, and frees both
 * zones before looking at the diff: a diff must not point into either zone.
 * The last case diffs a generated pair of 200,000-RR zones and prints how
 * long that took.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../dns/zone_int.h"
#include "levee/wire.h"
#include "levee/zone.h"
#include "levee/zone_diff.h"

/* An apex with a given serial and SOA TTL; `ns` gives the NS a target. */
#define APEX(serial, soa_ttl)                                                  \
	"$ORIGIN example.com.\n"                                               \
	"$TTL 300\n"                                                           \
	"@ " #soa_ttl " SOA ns hostmaster " #serial " 7200 900 1209600 300\n"  \
	"@ NS ns\n"                                                            \
	"ns A 192.0.2.53\n"
#define HEAD  APEX(1, 300)
#define HEAD2 APEX(2, 300)

#define A(a, b, c, d) (const uint8_t[]){a, b, c, d}, 4

static char tmp_dir[64];
static unsigned file_no;

static int make_tmp_dir(void **state)
{
	(void)state;
	strcpy(tmp_dir, "/tmp/lv_test_zone_diff_XXXXXX");
	return mkdtemp(tmp_dir) != NULL ? 0 : -1;
}

static int remove_tmp_dir(void **state)
{
	(void)state;
	return rmdir(tmp_dir);
}

static struct lv_zone *load(const char *text)
{
	char path[128], err[512] = "";
	struct lv_zone *z = NULL;

	snprintf(path, sizeof(path), "%s/%u.zone", tmp_dir, file_no++);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	int ret = lv_zone_load("example.com", path, &z, err, sizeof(err));
	if (ret != 0)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(ret, 0);
	unlink(path);
	return z;
}

/* The diff of two zone texts; both zones are freed before it returns. */
static struct lv_zdiff *diff_of(const char *old_text, const char *new_text)
{
	struct lv_zone *old = load(old_text), *new = load(new_text);
	struct lv_zdiff *d = (struct lv_zdiff *)1;

	assert_int_equal(lv_zone_diff(old, new, &d), 0);
	lv_zone_free(old);
	lv_zone_free(new);
	return d;
}

/* "www.example.com." in wire form; returns its length. */
static unsigned wire_name(const char *text, uint8_t *out)
{
	unsigned n = 0;

	while (*text != '\0') {
		const char *dot = strchr(text, '.');
		assert_non_null(dot);
		out[n++] = (uint8_t)(dot - text);
		memcpy(out + n, text, (size_t)(dot - text));
		n += (unsigned)(dot - text);
		text = dot + 1;
	}
	out[n++] = 0;
	return n;
}

static bool rr_is(const struct lv_zdiff_rr *rr, const char *owner,
		  uint16_t type, uint32_t ttl, const void *rdata,
		  unsigned rdlen)
{
	uint8_t name[LV_DNS_MAX_NAME];
	unsigned len = wire_name(owner, name);

	return rr->owner_len == len && memcmp(rr->owner, name, len) == 0 &&
	       rr->type == type && rr->ttl == ttl && rr->rdlen == rdlen &&
	       memcmp(rr->rdata, rdata, rdlen) == 0;
}

/* How many RRs of the removed (or added) list are exactly this one. */
static int count_rr(const struct lv_zdiff *d, bool added, const char *owner,
		    uint16_t type, uint32_t ttl, const void *rdata,
		    unsigned rdlen)
{
	size_t n = added ? lv_zdiff_added_count(d) : lv_zdiff_removed_count(d);
	struct lv_zdiff_rr rr;
	int found = 0;

	for (size_t i = 0; i < n; i++) {
		if (added)
			lv_zdiff_added(d, i, &rr);
		else
			lv_zdiff_removed(d, i, &rr);
		found += rr_is(&rr, owner, type, ttl, rdata, rdlen);
	}
	return found;
}

#define REMOVED(d, ...) count_rr(d, false, __VA_ARGS__)
#define ADDED(d, ...)   count_rr(d, true, __VA_ARGS__)

static void expect_counts(const struct lv_zdiff *d, size_t removed,
			  size_t added)
{
	assert_non_null(d);
	assert_int_equal(lv_zdiff_removed_count(d), removed);
	assert_int_equal(lv_zdiff_added_count(d), added);
}

/* --- cases --- */

static void test_identical_zones_give_null(void **state)
{
	(void)state;
	const char *text = HEAD "www A 192.0.2.1\nwww TXT \"hi\"\n";
	assert_null(diff_of(text, text));
}

static void test_origins_must_match(void **state)
{
	(void)state;
	char path[128], err[256];
	struct lv_zone *a = load(HEAD), *b = NULL;
	struct lv_zdiff *d = (struct lv_zdiff *)1;

	snprintf(path, sizeof(path), "%s/other.zone", tmp_dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("@ 300 SOA ns hm 1 2 3 4 5\n@ 300 NS ns\n", fp);
	fclose(fp);
	assert_int_equal(lv_zone_load("example.net", path, &b, err, 256), 0);
	unlink(path);
	assert_int_equal(lv_zone_diff(a, b, &d), -EINVAL);
	assert_null(d);
	lv_zone_free(a);
	lv_zone_free(b);
}

/* A serial bump alone is a step of the history (IXFR sends its two SOAs):
 * an empty diff, not NULL. */
static void test_soa_only_change_gives_empty_diff(void **state)
{
	(void)state;
	struct lv_zdiff *d =
	    diff_of(HEAD "www A 192.0.2.1\n", HEAD2 "www A 192.0.2.1\n");
	struct lv_zdiff_rr old_soa, new_soa;
	uint8_t apex[LV_DNS_MAX_NAME];
	unsigned apex_len = wire_name("example.com.", apex);

	expect_counts(d, 0, 0);
	assert_int_equal(lv_zdiff_from_serial(d), 1);
	assert_int_equal(lv_zdiff_to_serial(d), 2);
	lv_zdiff_old_soa(d, &old_soa);
	lv_zdiff_new_soa(d, &new_soa);
	assert_int_equal(old_soa.owner_len, apex_len);
	assert_memory_equal(old_soa.owner, apex, apex_len);
	assert_memory_equal(new_soa.owner, apex, apex_len);
	assert_int_equal(old_soa.type, LV_TYPE_SOA);
	assert_int_equal(new_soa.ttl, 300);
	/* RDATA: ns.example.com. hostmaster.example.com. then 5 numbers */
	assert_int_equal(old_soa.rdlen, 16 + 24 + 20);
	assert_int_equal(lv_wire_get32(old_soa.rdata + 40), 1);
	assert_int_equal(lv_wire_get32(new_soa.rdata + 40), 2);
	assert_int_equal(lv_wire_get32(new_soa.rdata + 44), 7200);
	lv_zdiff_put(d);
}

/* Any change, even to the SOA TTL alone, with the serial not increased:
 * what a reload must refuse. */
static void test_change_without_serial_increase(void **state)
{
	(void)state;
	struct lv_zdiff *d = diff_of(HEAD, APEX(1, 600));

	expect_counts(d, 0, 0);
	assert_false(
	    lv_serial_lt(lv_zdiff_from_serial(d), lv_zdiff_to_serial(d)));
	lv_zdiff_put(d);
	d = diff_of(HEAD, HEAD "www A 192.0.2.1\n");
	expect_counts(d, 0, 1);
	assert_int_equal(lv_zdiff_to_serial(d), 1);
	lv_zdiff_put(d);
}

static void test_rr_added_to_rrset(void **state)
{
	(void)state;
	struct lv_zdiff *d = diff_of(HEAD "www A 192.0.2.1\n", HEAD2
				     "www A 192.0.2.1\nwww A 192.0.2.2\n");

	expect_counts(d, 0, 1);
	assert_int_equal(
	    ADDED(d, "www.example.com.", LV_TYPE_A, 300, A(192, 0, 2, 2)), 1);
	lv_zdiff_put(d);
}

static void test_rr_removed_from_rrset(void **state)
{
	(void)state;
	struct lv_zdiff *d =
	    diff_of(HEAD "www A 192.0.2.1\nwww A 192.0.2.2\nwww A 192.0.2.3\n",
		    HEAD2 "www A 192.0.2.1\nwww A 192.0.2.3\n");

	expect_counts(d, 1, 0);
	assert_int_equal(
	    REMOVED(d, "www.example.com.", LV_TYPE_A, 300, A(192, 0, 2, 2)), 1);
	lv_zdiff_put(d);
}

static void test_whole_rrset_added_and_removed(void **state)
{
	(void)state;
	const char *without = HEAD "www A 192.0.2.1\n";
	const char *with = HEAD2 "www A 192.0.2.1\n"
				 "www MX 10 mx1\nwww MX 20 mx2\n";
	const uint8_t mx1[] = "\0\x0a\3mx1\7example\3com";
	const uint8_t mx2[] = "\0\x14\3mx2\7example\3com";

	struct lv_zdiff *d = diff_of(without, with);
	expect_counts(d, 0, 2);
	assert_int_equal(
	    ADDED(d, "www.example.com.", LV_TYPE_MX, 300, mx1, sizeof(mx1)), 1);
	assert_int_equal(
	    ADDED(d, "www.example.com.", LV_TYPE_MX, 300, mx2, sizeof(mx2)), 1);
	lv_zdiff_put(d);

	d = diff_of(with, without);
	expect_counts(d, 2, 0);
	assert_int_equal(
	    REMOVED(d, "www.example.com.", LV_TYPE_MX, 300, mx1, sizeof(mx1)),
	    1);
	lv_zdiff_put(d);
}

/* a.b.c is new and brings the empty non-terminals b.c and c: they hold no
 * RRs, so only a.b.c's RR is added. */
static void test_new_name_under_new_empty_non_terminals(void **state)
{
	(void)state;
	struct lv_zdiff *d = diff_of(HEAD "www A 192.0.2.1\n", HEAD2
				     "www A 192.0.2.1\na.b.c TXT \"deep\"\n");

	expect_counts(d, 0, 1);
	assert_int_equal(
	    ADDED(d, "a.b.c.example.com.", LV_TYPE_TXT, 300, "\4deep", 5), 1);
	lv_zdiff_put(d);
}

/* A name that was an empty non-terminal gets data, and back. */
static void test_empty_non_terminal_gets_data(void **state)
{
	(void)state;
	const char *ent = HEAD "x.y A 192.0.2.1\n";
	const char *real = HEAD2 "x.y A 192.0.2.1\ny A 192.0.2.9\n";

	struct lv_zdiff *d = diff_of(ent, real);
	expect_counts(d, 0, 1);
	assert_int_equal(
	    ADDED(d, "y.example.com.", LV_TYPE_A, 300, A(192, 0, 2, 9)), 1);
	lv_zdiff_put(d);

	d = diff_of(real, ent);
	expect_counts(d, 1, 0);
	assert_int_equal(
	    REMOVED(d, "y.example.com.", LV_TYPE_A, 300, A(192, 0, 2, 9)), 1);
	lv_zdiff_put(d);
}

static void test_name_removed(void **state)
{
	(void)state;
	struct lv_zdiff *d =
	    diff_of(HEAD "www A 192.0.2.1\nwww TXT \"hi\"\nold.x A 192.0.2.7\n",
		    HEAD2 "www A 192.0.2.1\n");

	expect_counts(d, 2, 0);
	assert_int_equal(
	    REMOVED(d, "www.example.com.", LV_TYPE_TXT, 300, "\2hi", 3), 1);
	assert_int_equal(
	    REMOVED(d, "old.x.example.com.", LV_TYPE_A, 300, A(192, 0, 2, 7)),
	    1);
	lv_zdiff_put(d);
}

static void test_ttl_change_replaces_whole_rrset(void **state)
{
	(void)state;
	struct lv_zdiff *d =
	    diff_of(HEAD "www A 192.0.2.1\nwww A 192.0.2.2\nwww A 192.0.2.3\n",
		    HEAD2 "www 60 A 192.0.2.1\nwww 60 A 192.0.2.2\n"
			  "www 60 A 192.0.2.3\n");

	expect_counts(d, 3, 3);
	for (uint8_t i = 1; i <= 3; i++) {
		assert_int_equal(REMOVED(d, "www.example.com.", LV_TYPE_A, 300,
					 A(192, 0, 2, i)),
				 1);
		assert_int_equal(ADDED(d, "www.example.com.", LV_TYPE_A, 60,
				       A(192, 0, 2, i)),
				 1);
	}
	lv_zdiff_put(d);
}

/* TTL and members change together: the old set out, the new set in. */
static void test_ttl_and_member_change(void **state)
{
	(void)state;
	struct lv_zdiff *d =
	    diff_of(HEAD "www A 192.0.2.1\nwww A 192.0.2.2\n",
		    HEAD2 "www 60 A 192.0.2.2\nwww 60 A 192.0.2.3\n");

	expect_counts(d, 2, 2);
	assert_int_equal(
	    REMOVED(d, "www.example.com.", LV_TYPE_A, 300, A(192, 0, 2, 1)), 1);
	assert_int_equal(
	    REMOVED(d, "www.example.com.", LV_TYPE_A, 300, A(192, 0, 2, 2)), 1);
	assert_int_equal(
	    ADDED(d, "www.example.com.", LV_TYPE_A, 60, A(192, 0, 2, 2)), 1);
	assert_int_equal(
	    ADDED(d, "www.example.com.", LV_TYPE_A, 60, A(192, 0, 2, 3)), 1);
	lv_zdiff_put(d);
}

static void test_type_change_at_a_name(void **state)
{
	(void)state;
	const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	struct lv_zdiff *d =
	    diff_of(HEAD "www A 192.0.2.1\n", HEAD2 "www AAAA 2001:db8::1\n");

	expect_counts(d, 1, 1);
	assert_int_equal(
	    REMOVED(d, "www.example.com.", LV_TYPE_A, 300, A(192, 0, 2, 1)), 1);
	assert_int_equal(
	    ADDED(d, "www.example.com.", LV_TYPE_AAAA, 300, v6, 16), 1);
	lv_zdiff_put(d);
}

/* Owners and the names in MX RDATA are compared without case. */
static void test_names_compared_without_case(void **state)
{
	(void)state;
	struct lv_zdiff *d =
	    diff_of(HEAD "WWW.Sub A 192.0.2.1\nwww MX 10 MAIL.Example.COM.\n",
		    HEAD "www.sub A 192.0.2.1\nWww MX 10 mail.example.com.\n");

	assert_null(d);
}

/* Reverse the RRs of owner's RRset of type in z (a test owns its zone). */
static void reverse_rrset(struct lv_zone *z, const char *owner, uint16_t type)
{
	uint8_t name[LV_DNS_MAX_NAME];
	unsigned len = wire_name(owner, name);
	const struct lv_znode *node = lv_zone_node(z, name, len);
	assert_non_null(node);
	struct lv_zrrset *set = (struct lv_zrrset *)lv_znode_rrset(node, type);
	assert_non_null(set);
	for (unsigned i = 0, j = set->count - 1u; i < j; i++, j--) {
		struct lv_zrr t = set->rrs[i];
		set->rrs[i] = set->rrs[j];
		set->rrs[j] = t;
	}
}

/* zone.c stores each RRset in canonical RDATA order, which the diff's
 * merge relies on; were that to change, the diff must stay right. */
static void test_rrset_order_does_not_matter(void **state)
{
	(void)state;
	struct lv_zone *old = load(HEAD "www A 192.0.2.1\nwww A 192.0.2.2\n"
					"www A 192.0.2.3\n");
	struct lv_zone *new = load(HEAD2 "www A 192.0.2.1\nwww A 192.0.2.3\n"
					 "www A 192.0.2.4\n");
	struct lv_zdiff *d = NULL;

	reverse_rrset(new, "www.example.com.", LV_TYPE_A);
	assert_int_equal(lv_zone_diff(old, new, &d), 0);
	lv_zone_free(old);
	lv_zone_free(new);
	expect_counts(d, 1, 1);
	assert_int_equal(
	    REMOVED(d, "www.example.com.", LV_TYPE_A, 300, A(192, 0, 2, 2)), 1);
	assert_int_equal(
	    ADDED(d, "www.example.com.", LV_TYPE_A, 300, A(192, 0, 2, 4)), 1);
	lv_zdiff_put(d);
}

static void test_reference_counting(void **state)
{
	(void)state;
	struct lv_zdiff *d = diff_of(HEAD, HEAD2);
	struct lv_zdiff_rr soa;

	assert_ptr_equal(lv_zdiff_get(d), d);
	assert_ptr_equal(lv_zdiff_get(d), d);
	lv_zdiff_put(d);
	lv_zdiff_put(d);
	lv_zdiff_new_soa(d, &soa); /* still held once: readable */
	assert_int_equal(soa.type, LV_TYPE_SOA);
	assert_true(lv_zdiff_bytes(d) > soa.rdlen);
	lv_zdiff_put(d); /* the last one: freed (ASan: no leak, no double
			    free) */
	lv_zdiff_put(NULL);
}

static void test_serial_arithmetic(void **state)
{
	(void)state;
	assert_true(lv_serial_lt(1, 2));
	assert_false(lv_serial_lt(2, 1));
	assert_false(lv_serial_lt(5, 5));
	assert_false(lv_serial_lt(0, 0));
	/* wraparound: 2^32 - 1 is before 0, 1 and 2^31 - 2 */
	assert_true(lv_serial_lt(UINT32_MAX, 0));
	assert_true(lv_serial_lt(UINT32_MAX, 1));
	assert_false(lv_serial_lt(0, UINT32_MAX));
	assert_true(lv_serial_lt(UINT32_MAX, 0x7ffffffe));
	/* the largest step forward: 2^31 - 1 */
	assert_true(lv_serial_lt(0, 0x7fffffff));
	assert_false(lv_serial_lt(0x7fffffff, 0));
	assert_true(lv_serial_lt(0x80000000, UINT32_MAX));
	/* exactly 2^31 apart: undefined (RFC 1982 §3.2), false both ways */
	assert_false(lv_serial_lt(0, 0x80000000));
	assert_false(lv_serial_lt(0x80000000, 0));
	assert_false(lv_serial_lt(12345, 12345 + 0x80000000u));
	assert_false(lv_serial_lt(12345 + 0x80000000u, 12345));
	/* 2^31 + 1 ahead is behind */
	assert_false(lv_serial_lt(0, 0x80000001));
	assert_true(lv_serial_lt(0x80000001, 0));
}

/* --- a big zone pair --- */

#define BIG_NAMES 100000
#define BIG_STEP  250 /* names per kind of change; 4 kinds */

/*
 * Version 1: names n0..n99999, each with an A and a TXT (200,000 RRs).
 * Version 2, 1,000 changes in four kinds of 250 names each:
 *   n0..n249     A RDATA changed        1 removed, 1 added each
 *   n250..n499   name removed           2 removed each
 *   n500..n749   TXT TTL 300 -> 60      1 removed, 1 added each
 *   m0..m249     new name, A and TXT    2 added each
 * That is 1,000 RRs removed and 1,000 added.
 */
static struct lv_zone *load_big(int version)
{
	char path[128], err[512] = "";
	struct lv_zone *z = NULL;

	snprintf(path, sizeof(path), "%s/big%d.zone", tmp_dir, version);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "%s", version == 1 ? HEAD : HEAD2);
	for (int i = 0; i < BIG_NAMES; i++) {
		bool changed = version == 2 && i < 3 * BIG_STEP;
		if (changed && i >= BIG_STEP && i < 2 * BIG_STEP)
			continue; /* removed */
		if (changed && i < BIG_STEP)
			fprintf(fp, "n%d A 10.254.0.%d\n", i, i);
		else
			fprintf(fp, "n%d A 10.%d.%d.%d\n", i, i >> 16,
				(i >> 8) & 255, i & 255);
		fprintf(fp, "n%d %s TXT \"text %d\"\n", i,
			changed && i >= 2 * BIG_STEP ? "60" : "300", i);
	}
	for (int i = 0; version == 2 && i < BIG_STEP; i++)
		fprintf(fp, "m%d A 10.255.0.%d\nm%d TXT \"new %d\"\n", i,
			i & 255, i, i);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(lv_zone_load("example.com", path, &z, err, 512), 0);
	unlink(path);
	return z;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_big_zone_pair(void **state)
{
	(void)state;
	struct lv_zone *v1 = load_big(1), *v2 = load_big(2);
	struct lv_zdiff *d = NULL, *back = NULL;
	struct timespec t0;

	/* + SOA, NS, ns A */
	assert_int_equal(lv_zone_records(v1), 2 * BIG_NAMES + 3);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(lv_zone_diff(v1, v2, &d), 0);
	double took = seconds_since(&t0);
	assert_int_equal(lv_zone_diff(v2, v1, &back), 0);
	lv_zone_free(v1);
	lv_zone_free(v2);

	expect_counts(d, 4 * BIG_STEP, 4 * BIG_STEP);
	expect_counts(back, 4 * BIG_STEP, 4 * BIG_STEP);
	assert_int_equal(
	    REMOVED(d, "n7.example.com.", LV_TYPE_A, 300, A(10, 0, 0, 7)), 1);
	assert_int_equal(
	    ADDED(d, "n7.example.com.", LV_TYPE_A, 300, A(10, 254, 0, 7)), 1);
	assert_int_equal(REMOVED(d, "n600.example.com.", LV_TYPE_TXT, 300,
				 "\x08text 600", 9),
			 1);
	assert_int_equal(
	    ADDED(d, "n600.example.com.", LV_TYPE_TXT, 60, "\x08text 600", 9),
	    1);
	assert_int_equal(lv_zdiff_from_serial(back), 2);
	printf("zone_diff: %d-RR zones, %d RRs changed: diff in %.1f ms, "
	       "%zu bytes held\n",
	       2 * BIG_NAMES, 8 * BIG_STEP, took * 1e3, lv_zdiff_bytes(d));
	lv_zdiff_put(d);
	lv_zdiff_put(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_identical_zones_give_null),
	    cmocka_unit_test(test_origins_must_match),
	    cmocka_unit_test(test_soa_only_change_gives_empty_diff),
	    cmocka_unit_test(test_change_without_serial_increase),
	    cmocka_unit_test(test_rr_added_to_rrset),
	    cmocka_unit_test(test_rr_removed_from_rrset),
	    cmocka_unit_test(test_whole_rrset_added_and_removed),
	    cmocka_unit_test(test_new_name_under_new_empty_non_terminals),
	    cmocka_unit_test(test_empty_non_terminal_gets_data),
	    cmocka_unit_test(test_name_removed),
	    cmocka_unit_test(test_ttl_change_replaces_whole_rrset),
	    cmocka_unit_test(test_ttl_and_member_change),
	    cmocka_unit_test(test_type_change_at_a_name),
	    cmocka_unit_test(test_names_compared_without_case),
	    cmocka_unit_test(test_rrset_order_does_not_matter),
	    cmocka_unit_test(test_reference_counting),
	    cmocka_unit_test(test_serial_arithmetic),
	    cmocka_unit_test(test_big_zone_pair),
	};
	return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
