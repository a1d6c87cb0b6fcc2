/*
 * Configuration and zone reload on SIGHUP.
 *
 * The event loop starts a DPDK control thread (never a worker lcore) that
 * reads the configuration file and the command line again into a new
 * snapshot (control/core/conf.c: validated whole, restart-only settings kept as
 * running and named in one warning line) and parses every zone whose file
 * changed (path, inode, size or modification time), or that is new.
 * Parsing happens there, off the event loop, which keeps answering misses
 * from the zones it has. A configuration that cannot be read changes
 * nothing; a zone that fails to load is logged with its file, line and the
 * ldns error and keeps serving its old version.
 *
 * When the thread is done it signals the eventfd and the event loop
 * publishes the result in steps, so that a large zone never stalls the
 * misses and TCP queries the same thread serves:
 *
 *   1. lv_reload_finish (one call, no walk of the cache): make the new
 *      snapshot current (ACLs, NOTIFY targets, keys, TCP limits from then
 *      on come from it; a zone's own allow-transfer included), build the
 *      new zone set, move the cache entries of every replaced or removed
 *      zone (and of the zones enclosing a newly added one, whose answers
 *      for names below it changed) onto the cache's purge list (O(1) a
 *      zone), swap the zone set pointer, and register a poller with the
 *      event loop.
 *   2. PUB_UNLINK, one lv_reload_step per event-loop round (the poller):
 *      unlink at most LV_RELOAD_PURGE_BATCH of those entries (about 0.2 ms
 *      for 2048 on this project's machines: docs/performance.md).
 *   3. PUB_GRACE: take a QSBR token, then poll it once a round without
 *      waiting until every worker has passed a quiescent state.
 *   4. Log "zone X serial S loaded (N records)", send NOTIFY, free the old
 *      zones, remove the poller.
 *
 * Ordering. From the "loaded" line on no worker serves old data: every old
 * entry was unlinked before the token of step 3 was taken, and every
 * worker has reported since. Before that line a worker may still answer
 * from an old entry that waits for its step. Misses are answered from the
 * new zone set from the swap on, and no entry computed from the old set
 * can be published after it: the miss path (control/services/miss.c answer_query)
 * builds an answer from ctl->zones and inserts it in one call on this
 * thread, never across a round, so an insert after the swap was computed
 * from the new set. Entries a kept enclosing zone publishes after the
 * swap keep their zone id but are not purged: lv_cache_purge_zone() took
 * only the entries published before it. A request that parks between
 * building its answer and inserting it (none does: parked requests wait
 * for their answer, they do not carry one to insert) would have to drop
 * the answer when the zone set changed meanwhile.
 *
 * A SIGHUP that arrives while a reload is parsing or publishing is queued
 * (several coalesce into one) and starts once the publication ended: the
 * reload thread compares the files with the zones being published, so it
 * cannot start before they are the current set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "levee/control.h"
#include "levee/forward.h"
#include "levee/log.h"
#include "levee/notify.h"
#include "levee/zone_diff.h"

/* Old cache entries unlinked per event-loop round while a reload is
 * published: about 0.2 ms of the loop's time (docs/performance.md). */
#define LV_RELOAD_PURGE_BATCH 2048

struct reload_zone {
	char *origin; /* normalised: lowercase with the trailing dot */
	char *file;
	struct stat st;
	struct lv_zone *fresh; /* loaded by the thread; NULL: keep current */
};

/* Where a publication stands (lv_reload_step). */
enum publish_state {
	PUB_IDLE,   /* nothing published, or the last one is complete */
	PUB_UNLINK, /* unlinking the old entries, a batch a round */
	PUB_GRACE,  /* waiting, without blocking, for every worker */
};

struct lv_reload {
	pthread_t thread;
	bool running;
	bool queued; /* a SIGHUP arrived while a reload was under way */
	enum publish_state pub;
	struct lv_zoneset *old;        /* replaced and removed zones */
	const struct lv_zone **loaded; /* new versions (owned by ctl->zones) */
	unsigned n_loaded;
	uint64_t grace_token;
	struct lv_ev_poller poller; /* lv_reload_step, while publishing */
	uint64_t purged_before;     /* the cache's purged counter at the swap */
	uint64_t swap_ms;           /* lv_monotonic_ms() at the swap */
	unsigned rounds;            /* event-loop rounds of this publication */
	/* the event loop's CPU time in this reload's steps (the swap, each
	 * round's step): when the current one began, and the longest */
	uint64_t step_cpu_at;
	uint64_t step_cpu_max;
	int efd;
	struct lv_ev_io efd_io; /* the thread is done: publish */
	bool owns_efd;          /* created here (not by a unit test) */
	/* the snapshot current when the thread started (read-only for it;
	 * not replaced before the thread is joined), and the thread's new
	 * one with the restart-only settings it wanted to change */
	const struct lv_conf *conf_running;
	struct lv_conf *next_conf;
	char kept[256];
	/* the zones now serving, in zone-set order (event loop's) */
	struct reload_zone *cur;
	unsigned n_cur;
	/* the thread's result, handed over through efd */
	struct reload_zone *next;
	unsigned n_next;
	bool failed; /* the configuration could not be read */
	/* the zone set serving when the thread started: read-only, and not
	 * freed before the thread is joined (lv_reload_finish) */
	const struct lv_zoneset *serving;
};

static char *normalise_origin(const char *o)
{
	size_t n = strlen(o);
	char *s = malloc(n + 2);

	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = (char)(o[i] >= 'A' && o[i] <= 'Z' ? o[i] + 32 : o[i]);
	if (n == 0 || s[n - 1] != '.')
		s[n++] = '.';
	s[n] = '\0';
	return s;
}

static void free_zones(struct reload_zone *z, unsigned n)
{
	for (unsigned i = 0; i < n && z; i++) {
		free(z[i].origin);
		free(z[i].file);
		lv_zone_free(z[i].fresh);
	}
	free(z);
}

/* Describe zone conf c. */
static int describe(struct reload_zone *z, const struct lv_zone_conf *c)
{
	memset(z, 0, sizeof(*z));
	z->origin = normalise_origin(c->origin);
	z->file = strdup(c->file);
	if (stat(c->file, &z->st) != 0)
		memset(&z->st, 0, sizeof(z->st));
	return z->origin && z->file ? 0 : -ENOMEM;
}

/* This thread's CPU time in ns: what a step costs the event loop. A
 * host that pauses the CPU (a shared VM) adds to the wall clock, not to
 * this, so the longest step logged is levee's own. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The step begun at r->step_cpu_at ends (or is measured so far). */
static void step_done(struct lv_reload *r)
{
	uint64_t spent = thread_cpu_ns() - r->step_cpu_at;

	if (spent > r->step_cpu_max)
		r->step_cpu_max = spent;
}

static void on_thread_done(struct lv_ev_io *io, uint32_t events)
{
	uint64_t v;

	(void)events;
	if (read(io->fd, &v, sizeof(v)) == sizeof(v))
		lv_reload_finish(io->data);
}

int lv_reload_init(struct lv_control *ctl)
{
	struct lv_reload *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -1;
	ctl->reload = r;
	if (ctl->reload_efd < 0) {
		ctl->reload_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (ctl->reload_efd < 0) {
			lv_err("reload: eventfd: %s", strerror(errno));
			return -1;
		}
		r->owns_efd = true;
	}
	r->efd = ctl->reload_efd;
	/* unit tests drive the hand-over themselves, without a loop */
	if (ctl->loop != NULL && r->efd >= 0 &&
	    lv_ev_io_add(ctl->loop, &r->efd_io, r->efd, EPOLLIN, on_thread_done,
			 ctl) != 0)
		return -1;
	r->cur = calloc(ctl->cfg->n_zones + 1, sizeof(*r->cur));
	if (r->cur == NULL)
		return -1;
	for (unsigned i = 0; i < ctl->cfg->n_zones; i++) {
		const struct lv_zone_conf *c = &ctl->cfg->zones[i];
		if (describe(&r->cur[i], c) != 0)
			return -1;
		r->n_cur++;
	}
	return 0;
}

void lv_reload_fini(struct lv_control *ctl)
{
	struct lv_reload *r = ctl->reload;

	if (r == NULL)
		return;
	if (r->running)
		pthread_join(r->thread, NULL);
	lv_ev_io_del(&r->efd_io);
	if (r->owns_efd) {
		close(r->efd);
		ctl->reload_efd = -1;
	}
	if (r->pub != PUB_IDLE && ctl->loop != NULL)
		lv_ev_poller_remove(ctl->loop, &r->poller);
	/* stopped mid-publication: the old zones are read by no worker (the
	 * cache holds copies), and the cache frees its own entries */
	lv_zoneset_free(r->old);
	free(r->loaded);
	free_zones(r->cur, r->n_cur);
	free_zones(r->next, r->n_next);
	lv_conf_put(r->next_conf);
	free(r);
	ctl->reload = NULL;
}

static const struct reload_zone *find_cur(const struct lv_reload *r,
					  const char *origin)
{
	for (unsigned i = 0; i < r->n_cur; i++)
		if (strcmp(r->cur[i].origin, origin) == 0)
			return &r->cur[i];
	return NULL;
}

static bool unchanged(const struct reload_zone *a, const struct reload_zone *b)
{
	return strcmp(a->file, b->file) == 0 && a->st.st_dev == b->st.st_dev &&
	       a->st.st_ino == b->st.st_ino && a->st.st_size == b->st.st_size &&
	       a->st.st_mtim.tv_sec == b->st.st_mtim.tv_sec &&
	       a->st.st_mtim.tv_nsec == b->st.st_mtim.tv_nsec;
}

/* The zone list after the reload: the new configuration's (the file's
 * zones and those of the command line, read again). */
static int next_zone_list(struct lv_reload *r, const struct lv_config *fc)
{
	unsigned n = 0;

	r->next = calloc(fc->n_zones + 1, sizeof(*r->next));
	if (r->next == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < fc->n_zones; i++)
		if (describe(&r->next[n++], &fc->zones[i]) != 0)
			return -ENOMEM;
	r->n_next = n;
	return 0;
}

static int find_in_set(const struct lv_zoneset *zs, const char *origin)
{
	for (unsigned i = 0; i < lv_zoneset_count(zs); i++)
		if (strcasecmp(lv_zone_origin(lv_zoneset_zone(zs, i)),
			       origin) == 0)
			return (int)i;
	return -1;
}

/*
 * A new version of a zone we serve: compare it with the old one. Equal:
 * nothing to publish. Changed without a serial increase (RFC 1982): the
 * secondaries could never see the change, so the reload is refused and
 * the old version kept. Otherwise the difference joins the new version's
 * IXFR history. Returns whether fresh should be published.
 */
static bool accept_version(struct lv_zone *fresh, const struct lv_zone *old,
			   unsigned ixfr_history)
{
	struct lv_zdiff *d = NULL;
	int rc = lv_zone_diff(old, fresh, &d);

	if (rc != 0) {
		lv_err("zone %s not reloaded, old version kept: cannot "
		       "compare the versions: %s",
		       lv_zone_origin(old), strerror(-rc));
		return false;
	}
	if (d == NULL) {
		lv_info("zone %s: file changed, content did not (serial %u)",
			lv_zone_origin(old), lv_zone_serial(old));
		return false;
	}
	if (!lv_serial_lt(lv_zdiff_from_serial(d), lv_zdiff_to_serial(d))) {
		lv_err("zone %s not reloaded, old version kept: the content "
		       "changed but the serial did not increase (%u, was %u)",
		       lv_zone_origin(old), lv_zdiff_to_serial(d),
		       lv_zdiff_from_serial(d));
		lv_zdiff_put(d);
		return false;
	}
	if (lv_zone_set_history(fresh, old, d, ixfr_history) != 0)
		lv_warn("zone %s: out of memory for its IXFR history; "
			"IXFR clients get the whole zone",
			lv_zone_origin(old));
	return true;
}

static void load_changed(struct lv_reload *r)
{
	char err[1024];

	for (unsigned i = 0; i < r->n_next; i++) {
		struct reload_zone *z = &r->next[i];
		const struct reload_zone *old = find_cur(r, z->origin);
		int at = find_in_set(r->serving, z->origin);
		const struct lv_zone *was =
		    at < 0 ? NULL : lv_zoneset_zone(r->serving, (unsigned)at);
		if (old && unchanged(old, z))
			continue;
		if (lv_zone_load(z->origin, z->file, &z->fresh, err,
				 sizeof(err)) == 0) {
			if (was &&
			    !accept_version(z->fresh, was,
					    r->next_conf->cfg.ixfr_history)) {
				lv_zone_free(z->fresh);
				z->fresh = NULL;
			}
			continue;
		}
		z->fresh = NULL;
		if (old)
			lv_err("zone %s not reloaded, old version kept: %s",
			       z->origin, err);
		else
			lv_err("zone %s not loaded: %s", z->origin, err);
	}
}

static void *reload_thread(void *arg)
{
	struct lv_reload *r = arg;
	char err[1024];
	uint64_t one = 1;

	r->failed = false;
	r->next_conf = lv_conf_reread(r->conf_running, r->kept, sizeof(r->kept),
				      err, sizeof(err));
	if (r->next_conf == NULL) {
		lv_err("reload: %s; nothing changed", err);
		r->failed = true;
	} else if (next_zone_list(r, &r->next_conf->cfg) != 0) {
		lv_err("reload: out of memory; nothing changed");
		r->failed = true;
	} else {
		load_changed(r);
	}
	if (write(r->efd, &one, sizeof(one)) != sizeof(one))
		lv_err("reload: cannot signal the event loop");
	return NULL;
}

void lv_reload_start(struct lv_control *ctl)
{
	struct lv_reload *r = ctl->reload;

	if (r->running || r->pub != PUB_IDLE) {
		if (!r->queued)
			lv_info("reload: the previous reload is still %s; "
				"SIGHUP queued until it is published",
				r->running ? "reading files" : "publishing");
		r->queued = true;
		return;
	}
	lv_info("reload: re-reading %s", ctl->cfg->config_file
					     ? ctl->cfg->config_file
					     : "the zone files");
	r->serving = ctl->zones;
	r->conf_running = ctl->conf;
	int rc = rte_ctrl_thread_create(&r->thread, "lv-reload", NULL,
					reload_thread, r);
	if (rc != 0) {
		lv_err("reload: cannot start its thread: %s", strerror(rc));
		return;
	}
	r->running = true;
}

/* Is `outer` a proper ancestor of `inner` (both normalised)? */
static bool encloses(const char *outer, const char *inner)
{
	size_t lo = strlen(outer), li = strlen(inner);

	if (strcmp(outer, ".") == 0)
		return strcmp(inner, ".") != 0;
	return li > lo && strcmp(inner + li - lo, outer) == 0 &&
	       inner[li - lo - 1] == '.';
}

/* Entries of the zones enclosing a new zone may answer names that now
 * belong to it: unlink them too. */
static void purge_enclosing(struct lv_control *ctl, const struct lv_zoneset *zs,
			    const char *origin)
{
	for (unsigned i = 0; i < lv_zoneset_count(zs); i++) {
		const struct lv_zone *z = lv_zoneset_zone(zs, i);
		if (encloses(lv_zone_origin(z), origin))
			lv_cache_purge_zone(ctl->cache, lv_zone_id(z));
	}
}

static void forget(struct reload_zone *z)
{
	free(z->origin);
	free(z->file);
	lv_zone_free(z->fresh);
	memset(z, 0, sizeof(*z));
}

/* Move the zones to serve from the reload result and the old set into a
 * new set. Zones left in `old` afterwards are replaced or removed. */
static struct lv_zoneset *assemble(struct lv_control *ctl,
				   struct lv_zoneset *old)
{
	struct lv_reload *r = ctl->reload;
	struct lv_zoneset *zs = lv_zoneset_new();
	unsigned kept = 0;

	if (zs == NULL)
		return NULL;
	for (unsigned i = 0; i < r->n_next; i++) {
		struct reload_zone *z = &r->next[i];
		const struct reload_zone *was = find_cur(r, z->origin);
		struct lv_zone *zone = z->fresh;
		if (zone == NULL) {
			int at = find_in_set(old, z->origin);
			if (at < 0) { /* a new zone that failed */
				forget(z);
				continue;
			}
			zone = lv_zoneset_take(old, (unsigned)at);
			/* remember the version served, so that the next
			 * SIGHUP retries a file that failed */
			z->st = was->st;
		}
		if (lv_zoneset_add(zs, zone) != 0) {
			lv_err("zone %s listed twice; the second is ignored",
			       z->origin);
			lv_zone_free(zone);
			z->fresh = NULL;
			forget(z);
			continue;
		}
		r->next[kept] = *z;
		r->next[kept].fresh = zone == z->fresh ? zone : NULL;
		if (i != kept)
			memset(z, 0, sizeof(*z));
		kept++;
	}
	r->n_next = kept;
	return zs;
}

static void log_changes(struct lv_control *ctl, const struct lv_zoneset *old)
{
	struct lv_reload *r = ctl->reload;

	for (unsigned i = 0; i < lv_zoneset_count(old); i++)
		if (find_in_set(ctl->zones,
				lv_zone_origin(lv_zoneset_zone(old, i))) < 0)
			lv_info("zone %s removed",
				lv_zone_origin(lv_zoneset_zone(old, i)));
	for (unsigned i = 0; i < r->n_loaded; i++)
		lv_info("zone %s serial %u loaded (%zu records)",
			lv_zone_origin(r->loaded[i]),
			lv_zone_serial(r->loaded[i]),
			lv_zone_records(r->loaded[i]));
	if (r->n_loaded == 0 && lv_zoneset_count(old) == 0)
		lv_info("reload: no zone changed");
}

/* The new versions to log and NOTIFY once published; the zone set owns
 * them from the swap on. */
static int keep_loaded(struct lv_reload *r)
{
	r->loaded = calloc(r->n_next + 1, sizeof(*r->loaded));
	if (r->loaded == NULL)
		return -ENOMEM;
	r->n_loaded = 0;
	for (unsigned i = 0; i < r->n_next; i++)
		if (r->next[i].fresh)
			r->loaded[r->n_loaded++] = r->next[i].fresh;
	return 0;
}

static void drop_result(struct lv_reload *r)
{
	free_zones(r->next, r->n_next);
	r->next = NULL;
	r->n_next = 0;
}

/* The event loop's poller while a publication runs: work done while
 * steps remain, so that the loop does not sleep between them. */
static unsigned publish_poll(struct lv_ev_poller *p)
{
	return lv_reload_step(p->data) ? 1 : 0;
}

void lv_reload_finish(struct lv_control *ctl)
{
	struct lv_reload *r = ctl->reload;
	struct lv_zoneset *old = ctl->zones, *zs;

	r->step_cpu_at = thread_cpu_ns();
	r->step_cpu_max = 0;
	pthread_join(r->thread, NULL);
	r->running = false;
	zs = r->failed ? NULL : assemble(ctl, old);
	if (zs == NULL) {
		drop_result(r);
		lv_conf_put(r->next_conf);
		r->next_conf = NULL;
		if (r->queued) {
			r->queued = false;
			lv_reload_start(ctl);
		}
		return;
	}
	/* the new snapshot first: NOTIFY targets and ACLs of the zones
	 * published below come from it */
	if (r->kept[0])
		lv_warn("reload: %s changed in the configuration; kept as "
			"running until a restart",
			r->kept);
	lv_control_set_conf(ctl, r->next_conf);
	r->next_conf = NULL;
	/* assemble() has moved the kept zones into zs, so zs is published
	 * even when this fails; only the log lines and NOTIFY are lost */
	if (keep_loaded(r) != 0)
		lv_err("reload: out of memory; new zone versions published "
		       "without their log lines and NOTIFY");
	/* What `old` still holds was replaced or removed; O(1) a zone. */
	for (unsigned i = 0; i < lv_zoneset_count(old); i++)
		lv_cache_purge_zone(ctl->cache,
				    lv_zone_id(lv_zoneset_zone(old, i)));
	bool zone_added = false;
	for (unsigned i = 0; i < r->n_next; i++)
		if (r->next[i].fresh && !find_cur(r, r->next[i].origin)) {
			purge_enclosing(ctl, zs, r->next[i].origin);
			zone_added = true;
		}
	/* The swap: the next miss is answered from zs. */
	ctl->zones = zs;
	/* forwarded answers for names a new zone now holds, or that other
	 * rules now send elsewhere, go with the same unlink steps */
	if (ctl->forward != NULL)
		lv_forward_reloaded(ctl->forward, zone_added);
	r->old = old;
	/* the zone set owns the fresh zones now */
	for (unsigned i = 0; i < r->n_next; i++)
		r->next[i].fresh = NULL;
	free_zones(r->cur, r->n_cur);
	r->cur = r->next;
	r->n_cur = r->n_next;
	r->next = NULL;
	r->n_next = 0;
	struct lv_cache_stats st;
	lv_cache_get_stats(ctl->cache, &st);
	r->purged_before = st.purged;
	r->swap_ms = lv_monotonic_ms();
	r->rounds = 0;
	r->pub = PUB_UNLINK;
	step_done(r); /* the swap */
	/* one step a round; unit tests, without a loop, call
	 * lv_reload_step themselves */
	if (ctl->loop != NULL)
		lv_ev_poller_add(ctl->loop, &r->poller, publish_poll, ctl);
}

/* Every worker has dropped the old entries: tell the secondaries (RFC
 * 1996), free the old zones, say so (with the longest step's CPU time),
 * run a queued SIGHUP. */
static void publish_done(struct lv_control *ctl)
{
	struct lv_reload *r = ctl->reload;
	struct lv_cache_stats st;

	log_changes(ctl, r->old);
	for (unsigned i = 0; i < r->n_loaded; i++)
		lv_notify_zone(ctl, r->loaded[i]);
	lv_zoneset_free(r->old);
	r->old = NULL;
	free(r->loaded);
	r->loaded = NULL;
	r->n_loaded = 0;
	r->pub = PUB_IDLE;
	if (ctl->loop != NULL)
		lv_ev_poller_remove(ctl->loop, &r->poller);
	step_done(r); /* this last one, the old zones freed, so far */
	lv_cache_get_stats(ctl->cache, &st);
	lv_info("reload: %llu cached answers of the old versions unlinked; "
		"published in %u event-loop rounds over %llu ms, the longest "
		"step %.2f ms of CPU time",
		(unsigned long long)(st.purged - r->purged_before), r->rounds,
		(unsigned long long)(lv_monotonic_ms() - r->swap_ms),
		(double)r->step_cpu_max / 1e6);
	if (r->queued) {
		r->queued = false;
		lv_reload_start(ctl);
	}
}

bool lv_reload_step(struct lv_control *ctl)
{
	struct lv_reload *r = ctl->reload;

	if (r->pub != PUB_IDLE) {
		r->rounds++;
		r->step_cpu_at = thread_cpu_ns();
	}
	switch (r->pub) {
	case PUB_IDLE:
		return false;
	case PUB_UNLINK:
		if (!lv_cache_purge_step(ctl->cache, LV_RELOAD_PURGE_BATCH,
					 NULL)) {
			/* taken after the last unlink (release RMW inside) */
			r->grace_token = lv_cache_grace_start(ctl->cache);
			r->pub = PUB_GRACE;
		}
		step_done(r);
		return true;
	case PUB_GRACE:
		if (!lv_cache_grace_done(ctl->cache, r->grace_token)) {
			step_done(r);
			return true;
		}
		publish_done(ctl); /* measures its step before its line */
		return r->pub != PUB_IDLE;
	}
	return false;
}
