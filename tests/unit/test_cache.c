/*
 * Unit tests for the shared cache (cache/cache.c, cache/cache_lookup.c).
 *
 * Single-threaded: the test is both the writer and a reader (id 0). It
 * covers insert, lookup, replace, delete, per-zone purges in steps (and
 * the zone index under them), the non-blocking grace period, clear, a forced
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
#include <time.h>
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

static void insert_named(struct lv_cache *c, const char *fmt, int i,
			 uint32_t zone, uint8_t tag)
{
	char name[64];
	snprintf(name, sizeof(name), fmt, i);
	assert_int_equal(
	    lv_cache_insert(c, make(name, LV_TYPE_A, 0, zone, tag)), 0);
}

static const struct lv_cache_entry *find_named(struct lv_cache *c,
					       const char *fmt, int i)
{
	char name[64];
	snprintf(name, sizeof(name), fmt, i);
	return find(c, name, LV_TYPE_A, 0);
}

/*
 * A purge unlinks only its zone's entries, in steps of at most `max`;
 * entries stay served until their step; what is inserted with the same id
 * after the purge started is kept; an entry replaced or deleted while it
 * waits leaves the purge list.
 */
static void test_purge_zone_steps(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1 << 22, 4000);
	struct lv_cache_stats st;
	unsigned n;

	for (int i = 0; i < 300; i++)
		insert_named(c, "n%d.test", i, 7 + i % 3, 1); /* 7, 8, 9 */
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.zones, 3);
	assert_false(lv_cache_purge_pending(c));

	lv_cache_purge_zone(c, 7); /* 100 entries: 0, 3, 6, ... */
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.zones, 2);
	assert_int_equal(st.entries, 300); /* nothing unlinked yet */
	assert_true(lv_cache_purge_pending(c));
	assert_non_null(find_named(c, "n%d.test", 0));

	/* After the swap: zone 7 answers again (a kept enclosing zone),
	 * one old entry is replaced and one is deleted while waiting. */
	insert_named(c, "new%d.test", 0, 7, 2);
	insert_named(c, "n%d.test", 3, 7, 2);
	uint8_t wn[64];
	uint8_t wl = to_wire("n6.test", wn);
	assert_int_equal(lv_cache_delete(c, wn, wl, LV_TYPE_A, LV_CLASS_IN, 0),
			 0);

	/* 98 left on the purge list: steps of 40, 40, 18. */
	assert_true(lv_cache_purge_step(c, 40, &n));
	assert_int_equal(n, 40);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 301 - 1 - 40);
	/* oldest first: n0 (the first inserted) is gone, n297 still here */
	assert_null(find_named(c, "n%d.test", 0));
	assert_non_null(find_named(c, "n%d.test", 297));
	assert_true(lv_cache_purge_step(c, 40, &n));
	assert_int_equal(n, 40);
	assert_false(lv_cache_purge_step(c, 40, &n));
	assert_int_equal(n, 18);
	assert_false(lv_cache_purge_step(c, 40, &n));
	assert_int_equal(n, 0);
	assert_false(lv_cache_purge_pending(c));

	for (int i = 0; i < 300; i++) {
		const struct lv_cache_entry *e = find_named(c, "n%d.test", i);
		if (i == 3) {
			assert_non_null(e); /* the replacement, zone 7 */
			assert_int_equal(e->wire[0], 2);
		} else if (i % 3 == 0) {
			assert_null(e);
		} else {
			assert_non_null(e);
			assert_int_equal(e->zone_id, 7 + i % 3);
		}
	}
	assert_non_null(find_named(c, "new%d.test", 0));
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 202);
	assert_int_equal(st.purged, 98);
	assert_int_equal(st.purge_steps, 3);
	assert_int_equal(st.deletes, 99);
	assert_int_equal(st.replaces, 1);
	assert_int_equal(st.zones, 3); /* 7 again, 8, 9 */

	/* The new zone-7 entries form their own list. */
	assert_int_equal(lv_cache_delete_zone(c, 7), 2);
	assert_null(find_named(c, "new%d.test", 0));
	assert_int_equal(lv_cache_delete_zone(c, 7), 0);
	assert_int_equal(lv_cache_delete_zone(c, 12345), 0);
	done(c);
}

/* Evicted entries leave the purge list too, and two purges queue. */
static void test_purge_with_eviction(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1 << 22, 100);
	struct lv_cache_stats st;
	unsigned n;

	for (int i = 0; i < 100; i++)
		insert_named(c, "n%d.test", i, 1 + i % 2, 0);
	lv_cache_purge_zone(c, 1);
	lv_cache_purge_zone(c, 2);
	/* the table is full: 30 inserts evict the 30 oldest, which were
	 * waiting for their purge */
	for (int i = 0; i < 30; i++)
		insert_named(c, "e%d.test", i, 3, 0);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.evictions_nospace, 30);
	unsigned total = 0;
	while (lv_cache_purge_step(c, 16, &n))
		total += n;
	total += n;
	assert_int_equal(total, 70);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 30);
	assert_int_equal(st.purged, 70);
	for (int i = 0; i < 30; i++)
		assert_non_null(find_named(c, "e%d.test", i));
	done(c);
}

/* Many zone ids: the index grows, and taking records out of it (linear
 * probing's backward shift) never loses another zone's list. */
static void test_zone_index(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1 << 24, 8000);
	struct lv_cache_stats st;

	for (int i = 0; i < 3000; i++)
		insert_named(c, "z%d.test", i, 1 + (uint32_t)i % 1000, 0);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.zones, 1000);
	/* every third zone, in a scattered order */
	unsigned purged = 0;
	for (uint32_t k = 0; k < 1000; k++) {
		uint32_t z = 1 + (k * 7919) % 1000;
		if (z % 3 == 0)
			purged += lv_cache_delete_zone(c, z);
	}
	assert_int_equal(purged, 333 * 3);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.zones, 667);
	for (int i = 0; i < 3000; i++) {
		const struct lv_cache_entry *e = find_named(c, "z%d.test", i);
		uint32_t z = 1 + (uint32_t)i % 1000;
		if (z % 3 == 0)
			assert_null(e);
		else
			assert_non_null(e);
	}
	/* the remaining lists are whole */
	purged = 0;
	for (uint32_t z = 1; z <= 1000; z++)
		purged += lv_cache_delete_zone(c, z);
	assert_int_equal(purged, 667 * 3);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.zones, 0);
	done(c);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The figure behind reload.c's batch size: a 200,000-entry zone among
 * others, purged in steps of 2048. Prints the slowest step and the total
 * (no bound asserted on a shared machine's wall clock); the counts, and
 * which entries survive, are exact. */
static void test_purge_large_zone(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1ull << 28, 262144);
	struct lv_cache_stats st;
	unsigned n, steps = 0;
	double worst = 0, total = 0;

	for (int i = 0; i < 200000; i++) {
		insert_named(c, "h%d.big.test", i, 1, 0);
		if (i % 10 == 0)
			insert_named(c, "s%d.small.test", i, 2, 0);
	}
	lv_cache_purge_zone(c, 1);
	bool more;
	do {
		double t0 = now_ms();
		more = lv_cache_purge_step(c, 2048, &n);
		double dt = now_ms() - t0;
		total += dt;
		worst = dt > worst ? dt : worst;
		steps++;
		lv_cache_reader_quiescent(c, 0);
		lv_cache_reclaim(c);
	} while (more);
	print_message("purge of 200000 entries: %u steps of 2048, slowest "
		      "%.3f ms, total %.1f ms\n",
		      steps, worst, total);
	assert_int_equal(steps, 98);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 20000);
	assert_int_equal(st.purged, 200000);
	assert_non_null(find_named(c, "s%d.small.test", 199990));
	assert_null(find_named(c, "h%d.big.test", 199999));
	done(c);
}

/* The grace period that does not block: done only once every online
 * reader has reported since the start; an offline reader is not waited
 * for; pending entries are freed on the way. */
static void test_grace_nonblocking(void **state)
{
	(void)state;
	struct lv_cache *c = new_cache(1 << 20, 1000);
	struct lv_cache_stats st;

	lv_cache_reader_register(c, 1);
	for (int i = 0; i < 10; i++)
		insert_named(c, "g%d.test", i, 5, 0);
	assert_int_equal(lv_cache_delete_zone(c, 5), 10);
	uint64_t t = lv_cache_grace_start(c);
	assert_false(lv_cache_grace_done(c, t));
	lv_cache_reader_quiescent(c, 0);
	assert_false(lv_cache_grace_done(c, t)); /* reader 1 has not */
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.pending_free, 10);
	lv_cache_reader_quiescent(c, 1);
	assert_true(lv_cache_grace_done(c, t));
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.pending_free, 0);
	assert_int_equal(st.reclaimed, 10);
	assert_int_equal(st.grace_periods, 1);

	/* a reader that went offline is not waited for */
	t = lv_cache_grace_start(c);
	lv_cache_reader_offline(c, 1);
	assert_false(lv_cache_grace_done(c, t));
	lv_cache_reader_quiescent(c, 0);
	assert_true(lv_cache_grace_done(c, t));
	assert_int_equal(st.synchronizes, 0);
	lv_cache_reader_unregister(c, 1);
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
	    cmocka_unit_test(test_purge_zone_steps),
	    cmocka_unit_test(test_purge_with_eviction),
	    cmocka_unit_test(test_zone_index),
	    cmocka_unit_test(test_purge_large_zone),
	    cmocka_unit_test(test_grace_nonblocking),
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
