/*
 * Zone reload (control/reload.c) against a real cache: a changed zone is
 * re-read in the reload thread and published, its old cache entries are
 * gone before the reload returns, an unchanged zone keeps its entries, a
 * zone that fails to load keeps serving its old version, and a reader
 * running all the while never sees an old entry after the reload returned.
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

/* SIGHUP's path: start the thread, wait for its eventfd, publish. */
static void reload(struct lv_control *ctl)
{
	struct pollfd p = {.fd = ctl->reload_efd, .events = POLLIN};
	uint64_t v;

	lv_reload_start(ctl);
	assert_int_equal(poll(&p, 1, 30000), 1);
	assert_int_equal(read(ctl->reload_efd, &v, sizeof(v)), sizeof(v));
	lv_reload_finish(ctl);
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
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	lv_test_eal_fini();
	return rc;
}
