/*
 * Concurrency test for the shared cache: readers race the one writer.
 *
 * Reader threads (plain pthreads registered as QSBR readers, as worker
 * lcores are) look up a fixed key set in bursts of 32 and check that every
 * hit is internally consistent: the entry's wire bytes name its own key, a
 * version, and a payload whose checksum matches, and versions of a key
 * never go backwards for one reader. Meanwhile the writer inserts,
 * replaces, deletes, purges zones and clears under a budget small enough
 * to evict, reclaiming as it goes. At the end every entry must be freed.
 * Built plainly, with ASan and with TSan by tests/run-sanitizers.sh: a
 * use-after-free or a race on an entry shows up there. LV_TEST_SECONDS
 * sets the run time (default 2).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
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

#include "test_eal.h"
#include <rte_eal.h>

#include "levee/cache.h"
#include "levee/hash.h"

#define SEED     0x5eed5eed12345678ull
#define NKEYS    256
#define NREADERS 3
#define NZONES   4
#define HDR      12 /* key(2) version(4) payload length(2) ... checksum(4) */

struct reader {
	pthread_t tid;
	struct lv_cache *c;
	unsigned id;
	uint64_t lookups, hits, bad;
	uint32_t last_version[NKEYS];
	char first_error[160];
};

static struct lv_query queries[NKEYS];
static int stop;

static uint32_t checksum(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint8_t key_name(unsigned k, uint8_t *out)
{
	char label[8];
	snprintf(label, sizeof(label), "k%03u", k);
	out[0] = 4;
	memcpy(out + 1, label, 4);
	memcpy(out + 5, "\4test\0", 6);
	return 11;
}

/* wire = key, version, payload length, payload, checksum of all before. */
static struct lv_cache_entry *make_entry(unsigned k, uint32_t version,
					 uint16_t plen)
{
	uint8_t name[16], wire[HDR + 512];
	lv_wire_put16(wire, (uint16_t)k);
	lv_wire_put32(wire + 2, version);
	lv_wire_put16(wire + 6, plen);
	for (unsigned i = 0; i < plen; i++)
		wire[8 + i] = (uint8_t)(version * 31 + k + i);
	lv_wire_put32(wire + 8 + plen, checksum(wire, 8u + plen));
	struct lv_cache_entry_spec s = {
	    .name = name,
	    .name_len = key_name(k, name),
	    .qtype = LV_TYPE_A,
	    .qclass = LV_CLASS_IN,
	    .wire = wire,
	    .wire_len = (uint16_t)(HDR + plen),
	    .zone_id = 1 + k % NZONES,
	};
	return lv_cache_entry_new(&s, SEED);
}

/* 0 if e is a whole, self-consistent answer for key k. */
static int check_entry(const struct lv_cache_entry *e, unsigned k,
		       struct reader *r, char *why, size_t whylen)
{
	if (e->wire_len < HDR) {
		snprintf(why, whylen, "key %u: wire_len %u", k, e->wire_len);
		return -1;
	}
	uint16_t plen = lv_wire_get16(e->wire + 6);
	uint32_t version = lv_wire_get32(e->wire + 2);
	if (lv_wire_get16(e->wire) != k || e->wire_len != HDR + plen ||
	    e->zone_id != 1 + k % NZONES) {
		snprintf(why, whylen, "key %u: entry for key %u len %u", k,
			 lv_wire_get16(e->wire), e->wire_len);
		return -1;
	}
	if (lv_wire_get32(e->wire + 8 + plen) != checksum(e->wire, 8u + plen)) {
		snprintf(why, whylen, "key %u v%u: bad checksum", k, version);
		return -1;
	}
	if (version < r->last_version[k]) {
		snprintf(why, whylen, "key %u: version %u after %u", k, version,
			 r->last_version[k]);
		return -1;
	}
	r->last_version[k] = version;
	return 0;
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint32_t rnd = 0x9e3779b9u * (r->id + 1);
	const struct lv_query *qs[LV_CACHE_BULK_MAX];
	const struct lv_cache_entry *out[LV_CACHE_BULK_MAX];
	unsigned ks[LV_CACHE_BULK_MAX];
	char why[160];

	lv_cache_reader_register(r->c, r->id);
	for (uint64_t it = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); it++) {
		for (unsigned i = 0; i < LV_CACHE_BULK_MAX; i++) {
			rnd = rnd * 1103515245u + 12345u;
			ks[i] = (rnd >> 8) % NKEYS;
			qs[i] = &queries[ks[i]];
		}
		lv_cache_lookup_bulk(r->c, qs, LV_CACHE_BULK_MAX, out);
		for (unsigned i = 0; i < LV_CACHE_BULK_MAX; i++) {
			r->lookups++;
			if (out[i] == NULL)
				continue;
			r->hits++;
			if (check_entry(out[i], ks[i], r, why, sizeof(why))) {
				if (r->bad++ == 0)
					snprintf(r->first_error,
						 sizeof(r->first_error), "%s",
						 why);
			}
		}
		/* As a worker does between bursts. */
		lv_cache_reader_quiescent(r->c, r->id);
		if (it % 4096 == 4095) {
			/* A worker going to sleep and waking up. */
			lv_cache_reader_offline(r->c, r->id);
			sched_yield();
			lv_cache_reader_online(r->c, r->id);
		}
	}
	lv_cache_reader_unregister(r->c, r->id);
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void writer_run(struct lv_cache *c, double seconds, uint64_t *ops)
{
	uint32_t versions[NKEYS] = {0};
	uint32_t rnd = 12345;
	uint8_t name[16];
	double end = now() + seconds;
	uint64_t grace = 0;
	bool grace_armed = false;

	for (uint64_t n = 0;; n++) {
		if ((n & 255) == 0 && now() >= end)
			break;
		rnd = rnd * 1103515245u + 12345u;
		unsigned k = (rnd >> 8) % NKEYS, op = (rnd >> 20) % 1000;
		if (op < 880) {
			uint16_t plen = (uint16_t)((rnd >> 4) % 300);
			struct lv_cache_entry *e =
			    make_entry(k, ++versions[k], plen);
			assert_non_null(e);
			assert_int_equal(lv_cache_insert(c, e), 0);
		} else if (op < 980) {
			uint8_t len = key_name(k, name);
			int rc = lv_cache_delete(c, name, len, LV_TYPE_A,
						 LV_CLASS_IN, 0);
			assert_true(rc == 0 || rc == -ENOENT);
		} else if (op < 985) {
			lv_cache_delete_zone(c, 1 + k % NZONES);
		} else if (op < 990) {
			/* a reload's purge: detached now, unlinked in steps
			 * while inserts, deletes and readers go on */
			lv_cache_purge_zone(c, 1 + k % NZONES);
		} else if (op < 998) {
			lv_cache_purge_step(c, 1 + k % 64, NULL);
		} else if (op < 999) {
			lv_cache_clear(c);
		} else if (rnd & 1) {
			lv_cache_synchronize(c);
		} else if (!grace_armed) {
			grace = lv_cache_grace_start(c);
			grace_armed = true;
		}
		if (grace_armed && lv_cache_grace_done(c, grace))
			grace_armed = false;
		lv_cache_reclaim(c);
		*ops = n + 1;
	}
}

static void test_readers_race_writer(void **state)
{
	(void)state;
	const char *env = getenv("LV_TEST_SECONDS");
	double seconds = env ? atof(env) : 2.0;
	char err[256] = "";

	for (unsigned k = 0; k < NKEYS; k++) {
		struct lv_query *q = &queries[k];
		q->qname_len = key_name(k, q->lname);
		q->qtype = LV_TYPE_A;
		q->qclass = LV_CLASS_IN;
		q->hash = lv_cache_key_hash(SEED, q->lname, q->qname_len,
					    LV_TYPE_A, LV_CLASS_IN, 0);
	}
	/* Room for about 150 of the 256 keys at ~300 bytes each: evicts. */
	struct lv_cache_params p = {
	    .memory_bytes = lv_cache_table_bytes(NKEYS, NREADERS) + 45000,
	    .max_entries = NKEYS,
	    .hash_seed = SEED,
	    .max_readers = NREADERS,
	    .socket_id = -1,
	    .name = "conc",
	};
	struct lv_cache *c = lv_cache_create(&p, err, sizeof(err));
	if (c == NULL)
		fail_msg("lv_cache_create: %s", err);

	struct reader rs[NREADERS];
	memset(rs, 0, sizeof(rs));
	for (unsigned i = 0; i < NREADERS; i++) {
		rs[i].c = c;
		rs[i].id = i;
		assert_int_equal(
		    pthread_create(&rs[i].tid, NULL, reader_main, &rs[i]), 0);
	}
	uint64_t ops = 0;
	writer_run(c, seconds, &ops);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < NREADERS; i++)
		pthread_join(rs[i].tid, NULL);

	lv_cache_synchronize(c);
	struct lv_cache_stats st;
	lv_cache_get_stats(c, &st);
	uint64_t lookups = 0, hits = 0, bad = 0;
	for (unsigned i = 0; i < NREADERS; i++) {
		lookups += rs[i].lookups;
		hits += rs[i].hits;
		bad += rs[i].bad;
		if (rs[i].bad)
			print_message("reader %u: %s\n", i, rs[i].first_error);
	}
	print_message(
	    "%.1f s: %" PRIu64 " writer ops (%" PRIu64 " inserts, %" PRIu64
	    " replaces, %" PRIu64 " deletes, %" PRIu64 " evictions, %" PRIu64
	    " nospace, %" PRIu64 " reclaimed, %" PRIu64 " waits); %" PRIu64
	    " lookups, %" PRIu64 " hits\n",
	    seconds, ops, st.inserts, st.replaces, st.deletes, st.evictions,
	    st.evictions_nospace, st.reclaimed, st.synchronizes, lookups, hits);
	assert_int_equal(bad, 0);
	assert_true(hits > 0);
	assert_true(st.memory_bytes <= st.memory_limit);
	assert_int_equal(st.pending_free, 0);
	assert_int_equal(st.pending_bytes, 0);
	/* Everything unlinked has been freed; the rest goes with destroy. */
	assert_int_equal(st.reclaimed + st.entries, st.inserts);
	lv_cache_clear(c);
	lv_cache_synchronize(c);
	lv_cache_get_stats(c, &st);
	assert_int_equal(st.reclaimed, st.inserts);
	lv_cache_destroy(c);
}

int main(void)
{
	if (lv_test_eal_init("test_cache_concurrency") != 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_readers_race_writer),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	lv_test_eal_fini();
	return rc;
}
