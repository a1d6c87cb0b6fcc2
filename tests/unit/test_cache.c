/*
 * Unit tests for the shared cache (control/cache.c, dataplane/cache_lookup.c).
 *
 * Single-threaded: the test is both the writer and a reader (id 0). It
 * covers insert, lookup, replace, delete, delete_zone, clear, a forced
 * digest collision (a miss, never a wrong answer), FIFO eviction under a
 * small budget, rte_hash's -ENOSPC when a key's two buckets are full, and
 * the table footprint estimate against DPDK's own heap statistics.
 * The concurrent case is tests/unit/test_cache_concurrency.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_eal.h"
#include <rte_eal.h>
#include <rte_malloc.h>

#include "levee/cache.h"
#include "levee/hash.h"

#define SEED 0x1234567890abcdefull

/* "www.example.com" → wire form; returns its length. */
static uint8_t to_wire(const char *text, uint8_t *out)
{
	uint8_t n = 0;
	while (*text) {
		const char *dot = strchr(text, '.');
		size_t l = dot ? (size_t)(dot - text) : strlen(text);
		out[n++] = (uint8_t)l;
		memcpy(out + n, text, l);
		n += (uint8_t)l;
		text += l + (dot ? 1 : 0);
	}
	out[n++] = 0;
	return n;
}

/* An entry whose wire holds one byte: `tag`. */
static struct lv_cache_entry *make(const char *name, uint16_t qtype,
				   uint8_t do_bit, uint32_t zone, uint8_t tag)
{
	uint8_t wn[LV_DNS_MAX_NAME + 1];
	uint8_t wire[1] = {tag};
	struct lv_cache_entry_spec s = {
	    .name = wn,
	    .name_len = to_wire(name, wn),
	    .qtype = qtype,
	    .qclass = LV_CLASS_IN,
	    .do_bit = do_bit,
	    .flags = LV_FLAG_AA,
	    .ancount = 1,
	    .wire = wire,
	    .wire_len = 1,
	    .zone_id = zone,
	};
	return lv_cache_entry_new(&s, SEED);
}

static void make_query(struct lv_query *q, const char *name, uint16_t qtype,
		       uint8_t do_bit)
{
	memset(q, 0, sizeof(*q));
	q->qname_len = to_wire(name, q->lname);
	for (unsigned i = 0; i < q->qname_len; i++)
		q->lname[i] = lv_wire_lower(q->lname[i]);
	q->qtype = qtype;
	q->qclass = LV_CLASS_IN;
	q->do_bit = do_bit;
	q->hash = lv_cache_key_hash(SEED, q->lname, q->qname_len, qtype,
				    LV_CLASS_IN, do_bit);
}

static const struct lv_cache_entry *lookup1(struct lv_cache *c,
					    const struct lv_query *q)
{
	const struct lv_query *qs[1] = {q};
	const struct lv_cache_entry *out[1];
	lv_cache_lookup_bulk(c, qs, 1, out);
	return out[0];
}

static const struct lv_cache_entry *find(struct lv_cache *c, const char *name,
					 uint16_t qtype, uint8_t do_bit)
{
	struct lv_query q;
	make_query(&q, name, qtype, do_bit);
	return lookup1(c, &q);
}

static struct lv_cache *new_cache(size_t mem, uint32_t max_entries)
{
	static unsigned seq;
	char name[24], err[256] = "";
	snprintf(name, sizeof(name), "tc%u", seq++);
	struct lv_cache_params p = {
	    .memory_bytes = mem,
	    .max_entries = max_entries,
	    .hash_seed = SEED,
	    .max_readers = 2,
	    .socket_id = -1,
	    .name = name,
	};
	struct lv_cache *c = lv_cache_create(&p, err, sizeof(err));
	if (c == NULL)
		fail_msg("lv_cache_create: %s", err);
	lv_cache_reader_register(c, 0);
	return c;
}

static void done(struct lv_cache *c)
{
	lv_cache_reader_unregister(c, 0);
	lv_cache_destroy(c);
}

static void test_insert_lookup(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1 << 20, 1000);
	struct lv_cache_entry *e = make("WWW.Example.COM", LV_TYPE_A, 0, 1, 7);
	assert_non_null(e);
	assert_memory_equal(e->name, "\3www\7example\3com", 17); /* lowered */
	assert_int_equal(lv_cache_insert(c, e), 0);

	const struct lv_cache_entry *h =
	    find(c, "www.example.com", LV_TYPE_A, 0);
	assert_ptr_equal(h, e);
	assert_int_equal(h->wire[0], 7);
	assert_int_equal(h->ancount, 1);
	assert_int_equal(h->flags, LV_FLAG_AA);
	/* Every part of the key counts. */
	assert_null(find(c, "www.example.com", LV_TYPE_A, 1));
	assert_null(find(c, "www.example.com", LV_TYPE_AAAA, 0));
	assert_null(find(c, "ww.example.com", LV_TYPE_A, 0));

	/* Bulk: hits and misses mixed, in order. */
	struct lv_query q[3];
	make_query(&q[0], "nope.example.com", LV_TYPE_A, 0);
	make_query(&q[1], "www.example.com", LV_TYPE_A, 0);
	make_query(&q[2], "www.example.com", LV_TYPE_MX, 0);
	const struct lv_query *qs[3] = {&q[0], &q[1], &q[2]};
	const struct lv_cache_entry *out[3];
	lv_cache_lookup_bulk(c, qs, 3, out);
	assert_null(out[0]);
	assert_ptr_equal(out[1], e);
	assert_null(out[2]);

	struct lv_cache_stats st;
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.inserts, 1);
	assert_int_equal(st.memory_bytes, st.table_bytes + e->mem_size);
	done(c);
}

static void test_bad_spec(void **state)
{
	(void)state;
	uint8_t wire[4] = {0};
	struct lv_cache_rr rr = {.offset = 2,
				 .ttl_offset = 2}; /* TTL past end */
	struct lv_cache_entry_spec s = {
	    .name = (const uint8_t *)"\0",
	    .name_len = 1,
	    .wire = wire,
	    .wire_len = 4,
	    .rrs = &rr,
	    .rr_count = 1,
	};
	assert_null(lv_cache_entry_new(&s, SEED));
	s.name_len = 0;
	assert_null(lv_cache_entry_new(&s, SEED));
	assert_null(lv_cache_entry_new(NULL, SEED));
	rr.ttl_offset = 0;
	s.name_len = 1;
	struct lv_cache_entry *e = lv_cache_entry_new(&s, SEED);
	assert_non_null(e);
	assert_int_equal(e->rrs[0].offset, 2);
	lv_cache_entry_free(e);
}

static void test_replace(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1 << 20, 1000);
	struct lv_cache_entry *a = make("a.test", LV_TYPE_A, 0, 1, 1);
	struct lv_cache_entry *b = make("a.test", LV_TYPE_A, 0, 1, 2);
	assert_int_equal(lv_cache_insert(c, a), 0);
	assert_int_equal(lv_cache_insert(c, b), 0);
	assert_ptr_equal(find(c, "a.test", LV_TYPE_A, 0), b);

	struct lv_cache_stats st;
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.replaces, 1);
	assert_int_equal(st.inserts, 2);
	assert_int_equal(st.pending_free, 1); /* a waits for reader 0 */
	assert_int_equal(st.memory_bytes, st.table_bytes + b->mem_size);

	lv_cache_reclaim(c); /* reader 0 has not reported: nothing freed */
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.pending_free, 1);
	lv_cache_reader_quiescent(c, 0);
	lv_cache_reclaim(c);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.pending_free, 0);
	assert_int_equal(st.reclaimed, 1);
	done(c);
}

static void test_delete(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1 << 20, 1000);
	assert_int_equal(lv_cache_insert(c, make("d.test", LV_TYPE_A, 1, 1, 1)),
			 0);
	uint8_t wn[64];
	uint8_t n = to_wire("d.test", wn);
	assert_int_equal(lv_cache_delete(c, wn, n, LV_TYPE_A, LV_CLASS_IN, 0),
			 -ENOENT); /* DO differs */
	assert_int_equal(lv_cache_delete(c, wn, n, LV_TYPE_A, LV_CLASS_IN, 1),
			 0);
	assert_null(find(c, "d.test", LV_TYPE_A, 1));
	assert_int_equal(lv_cache_delete(c, wn, n, LV_TYPE_A, LV_CLASS_IN, 1),
			 -ENOENT);

	/* The key can come back before the old slot is reclaimed. */
	struct lv_cache_entry *e = make("d.test", LV_TYPE_A, 1, 1, 9);
	assert_int_equal(lv_cache_insert(c, e), 0);
	assert_ptr_equal(find(c, "d.test", LV_TYPE_A, 1), e);

	struct lv_cache_stats st;
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.deletes, 1);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.pending_free, 1);
	/* synchronize waits for online readers; reader 0 is this thread,
	 * so it goes offline first (as a worker does before it sleeps). */
	lv_cache_reader_offline(c, 0);
	lv_cache_synchronize(c);
	lv_cache_reader_online(c, 0);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.pending_free, 0);
	assert_int_equal(st.synchronizes, 1);
	done(c);
}

static void test_delete_zone_and_clear(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1 << 20, 1000);
	char name[32];
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		assert_int_equal(
		    lv_cache_insert(
			c, make(name, LV_TYPE_A, 0, i % 3 == 0 ? 7 : 8, 0)),
		    0);
	}
	assert_int_equal(lv_cache_delete_zone(c, 7), 10);
	assert_int_equal(lv_cache_delete_zone(c, 7), 0);
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		const struct lv_cache_entry *e = find(c, name, LV_TYPE_A, 0);
		if (i % 3 == 0)
			assert_null(e);
		else
			assert_non_null(e);
	}
	struct lv_cache_stats st;
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 20);
	assert_int_equal(st.pending_free, 10);

	lv_cache_clear(c);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.memory_bytes, st.table_bytes);
	assert_int_equal(st.pending_free, 30);
	assert_null(find(c, "n1.test", LV_TYPE_A, 0));
	lv_cache_reader_quiescent(c, 0);
	lv_cache_reclaim(c);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.pending_free, 0);
	assert_int_equal(st.reclaimed, 30);
	done(c);
}

/* Two keys with one digest: the table holds one of them; a lookup for the
 * other finds the digest and must reject it on the full key. */
static void test_collision(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1 << 20, 1000);
	struct lv_cache_entry *a = make("a.test", LV_TYPE_A, 0, 1, 1);
	struct lv_cache_entry *b = make("b.test", LV_TYPE_A, 0, 1, 2);
	b->hash = a->hash; /* forced collision */
	assert_int_equal(lv_cache_insert(c, a), 0);

	struct lv_query qb;
	make_query(&qb, "b.test", LV_TYPE_A, 0);
	qb.hash = a->hash;
	assert_null(lookup1(c, &qb)); /* digest hit, key miss */

	/* b displaces a (same digest); now a's query misses. */
	assert_int_equal(lv_cache_insert(c, b), 0);
	assert_ptr_equal(lookup1(c, &qb), b);
	assert_null(find(c, "a.test", LV_TYPE_A, 0));
	/* Deleting a must not delete b. */
	uint8_t wn[64];
	uint8_t n = to_wire("a.test", wn);
	assert_int_equal(lv_cache_delete(c, wn, n, LV_TYPE_A, LV_CLASS_IN, 0),
			 -ENOENT);
	assert_ptr_equal(lookup1(c, &qb), b);
	done(c);
}

/* A budget for about 40 entries; 500 inserts. Memory never passes the
 * limit and what survives is the newest run of inserts. */
static void test_budget_fifo(void **state)
{
	(void)state;
	struct lv_cache_entry *probe = make("n000.test", LV_TYPE_A, 0, 1, 0);
	size_t per = probe->mem_size;
	lv_cache_entry_free(probe);
	size_t mem = lv_cache_table_bytes(1000, 2) + 40 * per + per / 2;
	struct lv_cache *c = new_cache(mem, 1000);
	struct lv_cache_stats st;
	char name[32];

	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "n%03d.test", i);
		assert_int_equal(
		    lv_cache_insert(c, make(name, LV_TYPE_A, 0, 1, (uint8_t)i)),
		    0);
		lv_cache_get_stats(c, &st);
		assert_true(st.memory_bytes <= st.memory_limit);
		lv_cache_reader_quiescent(c, 0);
	}
	assert_int_equal(st.entries, 40);
	assert_int_equal(st.evictions, 460);
	assert_int_equal(st.evictions_nospace, 0);
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "n%03d.test", i);
		const struct lv_cache_entry *e = find(c, name, LV_TYPE_A, 0);
		if (i < 460)
			assert_null(e);
		else
			assert_non_null(e);
	}
	/* An entry larger than the whole budget is refused, not inserted. */
	uint8_t big[2000] = {0};
	struct lv_cache_entry_spec s = {.name = (const uint8_t *)"\0",
					.name_len = 1,
					.wire = big,
					.wire_len = sizeof(big)};
	struct lv_cache_entry *e = lv_cache_entry_new(&s, SEED);
	struct lv_cache *tiny = new_cache(lv_cache_table_bytes(8, 2) + 1000, 8);
	assert_int_equal(lv_cache_insert(tiny, e), -E2BIG);
	lv_cache_entry_free(e);
	done(tiny);
	done(c);
}

/* max_entries caps the number of entries even when bytes remain. */
static void test_entry_cap(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1 << 22, 16);
	char name[32];
	/* Evicted keys hold their rte_hash slot until a grace period; with
	 * reader 0 offline every reclaim frees them at once. */
	lv_cache_reader_offline(c, 0);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "c%d.test", i);
		assert_int_equal(
		    lv_cache_insert(c, make(name, LV_TYPE_A, 0, 1, 0)), 0);
	}
	struct lv_cache_stats st;
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 16);
	assert_int_equal(st.evictions_nospace, 84);
	assert_null(find(c, "c83.test", LV_TYPE_A, 0));
	assert_non_null(find(c, "c84.test", LV_TYPE_A, 0));
	assert_int_equal(st.synchronizes, 0);
	assert_true(st.reclaimed >= 83);
	lv_cache_reader_online(c, 0);
	done(c);
}

/* Entries whose digests share one signature all land in the same two
 * buckets (16 slots): the 17th makes rte_hash_add say -ENOSPC, and the
 * cache evicts oldest-first until it fits. */
static void test_nospace(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1 << 22, 1000);
	struct lv_cache_entry *es[40];
	char name[32];
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "s%d.test", i);
		es[i] = make(name, LV_TYPE_A, 0, 1, 0);
		es[i]->hash = 0xabcd123400000000ull | (uint64_t)i;
		assert_int_equal(lv_cache_insert(c, es[i]), 0);
	}
	struct lv_cache_stats st;
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 16);
	assert_int_equal(st.evictions_nospace, 24);
	assert_int_equal(st.evictions, 0);
	for (int i = 0; i < 40; i++) {
		struct lv_query q;
		snprintf(name, sizeof(name), "s%d.test", i);
		make_query(&q, name, LV_TYPE_A, 0);
		q.hash = 0xabcd123400000000ull | (uint64_t)i;
		const struct lv_cache_entry *e = lookup1(c, &q);
		if (i < 24)
			assert_null(e);
		else
			assert_ptr_equal(e, es[i]);
	}
	done(c);
}

/* The budget charges lv_cache_table_bytes() for the table: check it
 * against what DPDK's heap really gave out. */
static void test_table_footprint(void **state)
{
	(void)state;
	static const uint32_t sizes[] = {1000, 100000, 1000000};
	for (unsigned i = 0; i < 3; i++) {
		struct rte_malloc_socket_stats a, b;
		rte_malloc_get_socket_stats(0, &a);
		struct lv_cache *c = new_cache(1ull << 30, sizes[i]);
		rte_malloc_get_socket_stats(0, &b);
		double used =
		    (double)(b.heap_allocsz_bytes - a.heap_allocsz_bytes);
		double est = (double)lv_cache_table_bytes(sizes[i], 2);
		print_message("table for %u entries: estimate %.0f, heap %.0f "
			      "bytes (%.1f per entry)\n",
			      sizes[i], est, used, used / sizes[i]);
		assert_true(est >= used * 0.95 && est <= used * 1.25);
		done(c);
	}
}

int main(void)
{
	if (lv_test_eal_init("test_cache") != 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_insert_lookup),
	    cmocka_unit_test(test_bad_spec),
	    cmocka_unit_test(test_replace),
	    cmocka_unit_test(test_delete),
	    cmocka_unit_test(test_delete_zone_and_clear),
	    cmocka_unit_test(test_collision),
	    cmocka_unit_test(test_budget_fifo),
	    cmocka_unit_test(test_entry_cap),
	    cmocka_unit_test(test_nospace),
	    cmocka_unit_test(test_table_footprint),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	lv_test_eal_fini();
	return rc;
}
