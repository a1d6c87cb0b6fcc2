/*
 * Zone reload (control/services/reload.c) against a real cache: a changed zone is
 * re-read in the reload thread and published, its old cache entries are
 * gone before the reload returns, an unchanged zone keeps its entries, a
 * zone that fails to load keeps serving its old version, and a reader
 * running all the while never sees an old entry after the reload returned.
 * The publication runs in bounded steps (lv_reload_step): batches of
 * unlinks, a grace period that is polled, never waited for, and a SIGHUP
 * that arrives meanwhile is queued.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_eal.h"
#include <rte_eal.h>

#include "levee/answer.h"
#include "levee/control.h"
#include "levee/query.h"

#define ZONE_HEAD                                                              \
	"$ORIGIN %s.\n$TTL 300\n@ IN SOA ns hm %u 7200 3600 1209600 60\n"      \
	"@ IN NS ns\nns IN A 192.0.2.1\n"

struct fixture {
	char dir[64];
	char file_a[128], file_b[128];
	struct lv_control ctl;
};

static void write_zone(const char *path, const char *origin, unsigned serial,
		       const char *extra)
{
	/* a new modification time even on a coarse clock */
	usleep(20000);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, ZONE_HEAD, origin, serial);
	fputs(extra, f);
	fclose(f);
}

/* A parsed query for name (dotted, no trailing dot) type A. */
static void make_query(const char *name, uint64_t seed, struct lv_query *q,
		       uint8_t *wire)
{
	static const uint8_t hdr[12] = {0x12, 0x34, 0, 0, 0, 1,
					0,    0,    0, 0, 0, 0};
	unsigned pos = 12;
	const char *p = name;

	memcpy(wire, hdr, 12);
	while (*p) {
		const char *dot = strchr(p, '.');
		unsigned l = dot ? (unsigned)(dot - p) : (unsigned)strlen(p);
		wire[pos++] = (uint8_t)l;
		memcpy(wire + pos, p, l);
		pos += l;
		p += l + (dot ? 1 : 0);
	}
	wire[pos++] = 0;
	wire[pos++] = 0;
	wire[pos++] = 1; /* A */
	wire[pos++] = 0;
	wire[pos++] = 1; /* IN */
	assert_int_equal(lv_query_parse(wire, (uint16_t)pos, seed, q),
			 LV_PARSE_OK);
}

/* Answer the query from the current zones and publish it, as miss.c does. */
static const struct lv_cache_entry *fill(struct lv_control *ctl,
					 const char *name)
{
	uint8_t wire[300];
	struct lv_query q;
	struct lv_answer_result res;

	make_query(name, ctl->hash_seed, &q, wire);
	assert_int_equal(
	    lv_answer_build(ctl->zones, &q, 0, ctl->hash_seed, &res), 0);
	assert_non_null(res.entry);
	assert_true(res.cacheable);
	const struct lv_cache_entry *e = res.entry;
	assert_int_equal(lv_cache_insert(ctl->cache, res.entry), 0);
	return e;
}

static const struct lv_cache_entry *lookup(struct lv_control *ctl,
					   const char *name)
{
	uint8_t wire[300];
	struct lv_query q;
	const struct lv_query *qs[1] = {&q};
	const struct lv_cache_entry *out[1];

	make_query(name, ctl->hash_seed, &q, wire);
	lv_cache_lookup_bulk(ctl->cache, qs, 1, out);
	return out[0];
}

/* Wait for the reload thread's eventfd and swap in its result. */
static void finish(struct lv_control *ctl)
{
	struct pollfd p = {.fd = ctl->reload_efd, .events = POLLIN};
	uint64_t v;

	assert_int_equal(poll(&p, 1, 30000), 1);
	assert_int_equal(read(ctl->reload_efd, &v, sizeof(v)), sizeof(v));
	lv_reload_finish(ctl);
}

/* Run the publication's steps as the event loop does, one a round;
 * returns how many rounds had work. A reader thread may be descheduled
 * for a while: the bound is 10 s, not a number of rounds. */
static unsigned publish(struct lv_control *ctl)
{
	unsigned rounds = 0;
	time_t deadline = time(NULL) + 10;

	while (lv_reload_step(ctl)) {
		rounds++;
		assert_true(time(NULL) <= deadline);
	}
	return rounds;
}

/* SIGHUP's path: start the thread, wait for its eventfd, publish. */
static void reload(struct lv_control *ctl)
{
	lv_reload_start(ctl);
	finish(ctl);
	publish(ctl);
}

static uint32_t zone_id_of(const struct lv_control *ctl, const char *origin)
{
	for (unsigned i = 0; i < lv_zoneset_count(ctl->zones); i++) {
		const struct lv_zone *z = lv_zoneset_zone(ctl->zones, i);
		if (strcmp(lv_zone_origin(z), origin) == 0)
			return lv_zone_id(z);
	}
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/lvtest_reload_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->file_a, sizeof(f->file_a), "%s/a.zone", f->dir);
	snprintf(f->file_b, sizeof(f->file_b), "%s/b.zone", f->dir);
	write_zone(f->file_a, "a.test", 1, "www IN A 192.0.2.10\n");
	write_zone(f->file_b, "b.test", 1, "www IN A 192.0.2.20\n");
	/* a command line, as levee gets it: a reload reads it again */
	char za[160], zb[160];
	snprintf(za, sizeof(za), "a.test=%s", f->file_a);
	snprintf(zb, sizeof(zb), "b.test=%s", f->file_b);
	char *argv[] = {"levee",  "--iface", "pcap:in.pcap,out.pcap",
			"--zone", za,        "--zone",
			zb,       NULL};
	struct lv_config cfg;
	lv_config_init(&cfg);
	assert_int_equal(lv_config_parse(7, argv, &cfg, err, sizeof(err)), 0);
	struct lv_conf *conf = lv_conf_new(&cfg, err, sizeof(err));
	assert_non_null(conf);
	lv_config_free(&cfg);
	lv_control_set_conf(&f->ctl, conf);
	f->ctl.hash_seed = 0x5eed;
	assert_int_equal(lv_zoneset_load(f->ctl.cfg->zones, f->ctl.cfg->n_zones,
					 &f->ctl.zones, err, sizeof(err)),
			 0);
	struct lv_cache_params p = {.memory_bytes = 64 << 20,
				    .hash_seed = f->ctl.hash_seed,
				    .max_readers = 1,
				    .name = "lv_reload_test"};
	f->ctl.cache = lv_cache_create(&p, err, sizeof(err));
	assert_non_null(f->ctl.cache);
	f->ctl.reload_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(lv_reload_init(&f->ctl), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	lv_reload_fini(&f->ctl);
	close(f->ctl.reload_efd);
	lv_cache_destroy(f->ctl.cache);
	lv_zoneset_free(f->ctl.zones);
	lv_conf_put(f->ctl.conf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_changed_zone_replaces_entries(void **state)
{
	struct fixture *f = *state;
	struct lv_control *ctl = &f->ctl;
	uint32_t old_a = zone_id_of(ctl, "a.test.");
	uint32_t old_b = zone_id_of(ctl, "b.test.");

	fill(ctl, "www.a.test");
	const struct lv_cache_entry *b_entry = fill(ctl, "www.b.test");
	write_zone(f->file_a, "a.test", 2,
		   "www IN A 192.0.2.11\nnew IN A 192.0.2.12\n");
	reload(ctl);

	assert_int_not_equal(zone_id_of(ctl, "a.test."), old_a);
	assert_int_equal(zone_id_of(ctl, "b.test."), old_b);
	/* a's entry is gone; b was unchanged and keeps its entry */
	assert_null(lookup(ctl, "www.a.test"));
	assert_ptr_equal(lookup(ctl, "www.b.test"), b_entry);
	/* the new version answers, also for a name only it has */
	const struct lv_cache_entry *e = fill(ctl, "www.a.test");
	assert_int_equal(e->zone_id, zone_id_of(ctl, "a.test."));
	static const uint8_t addr[4] = {192, 0, 2, 11};
	assert_memory_equal(e->wire + e->wire_len - 4, addr, 4);
	assert_non_null(fill(ctl, "new.a.test"));
}

static void test_failed_zone_keeps_old_version(void **state)
{
	struct fixture *f = *state;
	struct lv_control *ctl = &f->ctl;
	uint32_t old_a = zone_id_of(ctl, "a.test.");
	const struct lv_cache_entry *e = fill(ctl, "www.a.test");

	write_zone(f->file_a, "a.test", 3, "www IN A not-an-address\n");
	reload(ctl);
	assert_int_equal(zone_id_of(ctl, "a.test."), old_a);
	assert_ptr_equal(lookup(ctl, "www.a.test"), e);
	/* fixed file: the next reload takes it */
	write_zone(f->file_a, "a.test", 4, "www IN A 192.0.2.14\n");
	reload(ctl);
	assert_int_not_equal(zone_id_of(ctl, "a.test."), old_a);
	assert_null(lookup(ctl, "www.a.test"));
}

struct reader {
	struct lv_control *ctl;
	uint32_t old_zone;
	int reload_returned;
	int stop;
	unsigned long stale_after_reload;
	unsigned long lookups;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	lv_cache_reader_register(r->ctl->cache, 0);
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		int returned =
		    __atomic_load_n(&r->reload_returned, __ATOMIC_ACQUIRE);
		const struct lv_cache_entry *e = lookup(r->ctl, "www.a.test");
		if (returned && e && e->zone_id == r->old_zone)
			r->stale_after_reload++;
		r->lookups++;
		lv_cache_reader_quiescent(r->ctl->cache, 0);
	}
	lv_cache_reader_offline(r->ctl->cache, 0);
	lv_cache_reader_unregister(r->ctl->cache, 0);
	return NULL;
}

static void test_no_reader_sees_old_data_after_reload(void **state)
{
	struct fixture *f = *state;
	struct reader r = {.ctl = &f->ctl};
	pthread_t t;

	r.old_zone = zone_id_of(&f->ctl, "a.test.");
	fill(&f->ctl, "www.a.test");
	assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
	usleep(20000);
	write_zone(f->file_a, "a.test", 5, "www IN A 192.0.2.15\n");
	reload(&f->ctl);
	__atomic_store_n(&r.reload_returned, 1, __ATOMIC_RELEASE);
	usleep(50000);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_true(r.lookups > 0);
	assert_int_equal(r.stale_after_reload, 0);
}

/* a.test with names h0 .. h<n-1>, serial `serial`. */
static void write_big_zone(const char *path, unsigned serial, unsigned n,
			   const char *addr)
{
	size_t cap = (size_t)n * 40 + 64, len = 0;
	char *extra = malloc(cap);

	assert_non_null(extra);
	extra[0] = '\0';
	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(extra + len, cap - len, "h%u IN A %s\n",
					i, addr);
	write_zone(path, "a.test", serial, extra);
	free(extra);
}

static void fill_n(struct lv_control *ctl, const char *fmt, unsigned n)
{
	char name[64];
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), fmt, i);
		fill(ctl, name);
	}
}

/*
 * The publication runs in bounded steps: the swap happens at once (a miss
 * is answered from the new version, and that entry survives the purge),
 * the old entries keep answering until their batch, at most 2048 go per
 * round, another zone's entries are never touched, and the grace period
 * is one more round when no reader holds anything.
 */
static void test_publication_in_steps(void **state)
{
	struct fixture *f = *state;
	struct lv_control *ctl = &f->ctl;
	struct lv_cache_stats st0, st;

	write_big_zone(f->file_a, 2, 5000, "192.0.2.30");
	reload(ctl);
	uint32_t old_a = zone_id_of(ctl, "a.test.");
	fill_n(ctl, "h%u.a.test", 5000);
	fill(ctl, "www.b.test");
	lv_cache_get_stats(ctl->cache, &st0);

	write_big_zone(f->file_a, 3, 5000, "192.0.2.31");
	lv_reload_start(ctl);
	finish(ctl);
	/* swapped, nothing unlinked yet */
	uint32_t new_a = zone_id_of(ctl, "a.test.");
	assert_int_not_equal(new_a, old_a);
	const struct lv_cache_entry *e = lookup(ctl, "h7.a.test");
	assert_non_null(e);
	assert_int_equal(e->zone_id, old_a);
	/* a name not cached yet comes from the new version */
	e = fill(ctl, "h4999.a.test");
	assert_int_equal(e->zone_id, new_a);

	assert_true(lv_reload_step(ctl)); /* 2048 unlinked */
	lv_cache_get_stats(ctl->cache, &st);
	assert_int_equal(st.purged - st0.purged, 2048);
	assert_true(lv_reload_step(ctl)); /* 2048 more */
	/* 4999 old entries (h4999 was replaced): the last 903, then the
	 * grace period, which no reader holds up */
	assert_int_equal(publish(ctl), 1);
	lv_cache_get_stats(ctl->cache, &st);
	assert_int_equal(st.purged - st0.purged, 4999);
	assert_int_equal(st.purge_steps - st0.purge_steps, 3);
	assert_int_equal(st.grace_periods - st0.grace_periods, 1);
	assert_int_equal(st.synchronizes, 0);
	assert_int_equal(st.entries, 2); /* www.b.test, h4999 (new) */
	assert_null(lookup(ctl, "h7.a.test"));
	e = lookup(ctl, "h4999.a.test");
	assert_non_null(e);
	assert_int_equal(e->zone_id, new_a);
	assert_non_null(lookup(ctl, "www.b.test"));
	assert_false(lv_reload_step(ctl));
}

/* The grace period never blocks the loop: a reader that does not report
 * keeps the publication waiting, round after round, until it does. */
static void test_grace_period_does_not_block(void **state)
{
	struct fixture *f = *state;
	struct lv_control *ctl = &f->ctl;

	lv_cache_reader_register(ctl->cache, 0); /* this thread */
	fill(ctl, "www.a.test");
	write_zone(f->file_a, "a.test", 6, "www IN A 192.0.2.16\n");
	lv_reload_start(ctl);
	finish(ctl);
	assert_true(lv_reload_step(ctl)); /* the one old entry */
	for (int i = 0; i < 1000; i++)
		assert_true(lv_reload_step(ctl)); /* waiting for reader 0 */
	struct lv_cache_stats st;
	lv_cache_get_stats(ctl->cache, &st);
	assert_int_equal(st.pending_free, 1);
	lv_cache_reader_quiescent(ctl->cache, 0);
	assert_false(lv_reload_step(ctl));
	lv_cache_get_stats(ctl->cache, &st);
	assert_int_equal(st.pending_free, 0);
	assert_int_equal(st.synchronizes, 0);
	lv_cache_reader_unregister(ctl->cache, 0);
}

/* A SIGHUP during a publication waits for it, then runs: the file written
 * meanwhile is published by the queued reload. */
static void test_sighup_during_publication_is_queued(void **state)
{
	struct fixture *f = *state;
	struct lv_control *ctl = &f->ctl;
	struct pollfd p = {.fd = ctl->reload_efd, .events = POLLIN};

	lv_cache_reader_register(ctl->cache, 0);
	fill(ctl, "www.a.test");
	write_zone(f->file_a, "a.test", 7, "www IN A 192.0.2.17\n");
	lv_reload_start(ctl);
	finish(ctl);
	assert_true(lv_reload_step(ctl));
	assert_true(lv_reload_step(ctl)); /* in its grace period */
	write_zone(f->file_a, "a.test", 8, "www IN A 192.0.2.18\n");
	lv_reload_start(ctl);                  /* queued */
	lv_reload_start(ctl);                  /* coalesced */
	assert_int_equal(poll(&p, 1, 300), 0); /* no thread started */
	lv_cache_reader_quiescent(ctl->cache, 0);
	/* the publication ends and the queued reload starts */
	assert_false(lv_reload_step(ctl));
	finish(ctl);
	/* a worker that sleeps is not waited for */
	lv_cache_reader_offline(ctl->cache, 0);
	publish(ctl);
	const struct lv_zone *a =
	    lv_zoneset_find(ctl->zones, (const uint8_t *)"\1a\4test", 8);
	assert_non_null(a);
	assert_int_equal(lv_zone_serial(a), 8);
	assert_int_equal(poll(&p, 1, 100), 0); /* only one queued reload */
	assert_false(lv_reload_step(ctl));
	lv_cache_reader_unregister(ctl->cache, 0);
}

static void write_config(const struct fixture *f, const char *path,
			 const char *sub_file)
{
	FILE *c = fopen(path, "w");
	assert_non_null(c);
	fprintf(c,
		"zones:\n  - origin: a.test.\n    file: %s\n"
		"  - origin: b.test.\n    file: %s\n",
		f->file_a, f->file_b);
	if (sub_file)
		fprintf(c, "  - origin: sub.a.test.\n    file: %s\n", sub_file);
	fclose(c);
}

/*
 * A zone added below a served one (sub.a.test. under a.test.): the
 * enclosing zone's entries built before the swap are purged (they may
 * answer names that now belong to the new zone), another zone's stay, and
 * an entry a.test. publishes after the swap (same zone id) is kept.
 */
static void test_new_zone_purges_enclosing_zone(void **state)
{
	struct fixture *f = *state;
	struct lv_control *ctl = &f->ctl;
	char conf[160], sub[160];

	snprintf(conf, sizeof(conf), "%s/levee.yaml", f->dir);
	snprintf(sub, sizeof(sub), "%s/sub.zone", f->dir);
	write_config(f, conf, NULL);
	write_zone(sub, "sub.a.test", 1, "www IN A 192.0.2.40\n");
	/* the same zones, now from a configuration file that a reload reads
	 * again */
	char err[256];
	char *argv[] = {"levee",    "--iface", "pcap:in.pcap,out.pcap",
			"--config", conf,      NULL};
	struct lv_config cfg;
	lv_config_init(&cfg);
	assert_int_equal(lv_config_parse(5, argv, &cfg, err, sizeof(err)), 0);
	struct lv_conf *c = lv_conf_new(&cfg, err, sizeof(err));
	assert_non_null(c);
	lv_config_free(&cfg);
	lv_reload_fini(ctl);
	lv_control_set_conf(ctl, c);
	assert_int_equal(lv_reload_init(ctl), 0);

	uint32_t a_id = zone_id_of(ctl, "a.test.");
	fill(ctl, "www.a.test");
	const struct lv_cache_entry *e = fill(ctl, "www.sub.a.test");
	assert_int_equal(e->zone_id, a_id); /* NXDOMAIN from a.test. */
	const struct lv_cache_entry *b_entry = fill(ctl, "www.b.test");

	write_config(f, conf, sub);
	lv_reload_start(ctl);
	finish(ctl);
	uint32_t sub_id = zone_id_of(ctl, "sub.a.test.");
	assert_int_not_equal(sub_id, 0);
	assert_int_equal(zone_id_of(ctl, "a.test."), a_id); /* kept */
	/* after the swap: a.test. publishes again under the same id */
	e = fill(ctl, "ns.a.test");
	assert_int_equal(e->zone_id, a_id);
	publish(ctl);

	assert_null(lookup(ctl, "www.a.test"));
	assert_null(lookup(ctl, "www.sub.a.test"));
	assert_ptr_equal(lookup(ctl, "ns.a.test"), e);
	assert_ptr_equal(lookup(ctl, "www.b.test"), b_entry);
	struct lv_cache_stats st;
	lv_cache_get_stats(ctl->cache, &st);
	assert_int_equal(st.purged, 2);
	e = fill(ctl, "www.sub.a.test");
	assert_int_equal(e->zone_id, sub_id);
	static const uint8_t addr[4] = {192, 0, 2, 40};
	assert_memory_equal(e->wire + e->wire_len - 4, addr, 4);
}

/* Stopping (SIGTERM) in the middle of a publication: lv_reload_fini frees
 * the old zones and the cache frees the entries still waiting (the
 * teardown runs both; a double free or a leak of the old set would show
 * under the sanitizers and valgrind). */
static void test_stop_during_publication(void **state)
{
	struct fixture *f = *state;
	struct lv_control *ctl = &f->ctl;

	write_big_zone(f->file_a, 2, 3000, "192.0.2.50");
	reload(ctl);
	fill_n(ctl, "h%u.a.test", 3000);
	write_big_zone(f->file_a, 3, 3000, "192.0.2.51");
	lv_reload_start(ctl);
	finish(ctl);
	assert_true(lv_reload_step(ctl)); /* 2048 of 3000 unlinked */
	struct lv_cache_stats st;
	lv_cache_get_stats(ctl->cache, &st);
	assert_int_equal(st.entries, 3000 - 2048);
	assert_true(lv_cache_purge_pending(ctl->cache));
	/* the teardown stops here */
}

int main(void)
{
	if (lv_test_eal_init("test_reload") != 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_changed_zone_replaces_entries,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_zone_keeps_old_version,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_no_reader_sees_old_data_after_reload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_publication_in_steps, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_grace_period_does_not_block,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_sighup_during_publication_is_queued, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_zone_purges_enclosing_zone,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_during_publication, setup,
					    teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	lv_test_eal_fini();
	return rc;
}
