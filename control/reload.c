/*
 * Configuration and zone reload on SIGHUP.
 *
 * The event loop starts a DPDK control thread (never a worker lcore) that
 * reads the configuration file and the command line again into a new
 * snapshot (control/conf.c: validated whole, restart-only settings kept as
 * running and named in one warning line) and parses every zone whose file
 * changed (path, inode, size or modification time), or that is new.
 * Parsing happens there, off the event loop, which keeps answering misses
 * from the zones it has. A configuration that cannot be read changes
 * nothing; a zone that fails to load is logged with its file, line and the
 * ldns error and keeps serving its old version.
 *
 * When the thread is done it signals the eventfd and the event loop
 * publishes the result (lv_reload_finish): it makes the new snapshot
 * current (ACLs, NOTIFY targets, keys, TCP limits from then on come from
 * it; a zone's own allow-transfer included), builds the new zone set,
 * unlinks every cache entry made from a replaced or removed zone (and from
 * the zones enclosing a newly added one, whose answers for names below it
 * changed), waits until every worker has passed a quiescent state, frees the
 * old zones, and only then logs "zone X serial S loaded (N records)". From
 * that line on no worker serves old data. Misses are answered on the event
 * loop from whichever zone set is current when they are dequeued, so no
 * answer computed from the old version can be published after the swap.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "levee/control.h"
#include "levee/log.h"
#include "levee/notify.h"
#include "levee/zone_diff.h"

struct reload_zone {
	char *origin; /* normalised: lowercase with the trailing dot */
	char *file;
	struct stat st;
	struct lv_zone *fresh; /* loaded by the thread; NULL: keep current */
};

struct lv_reload {
	pthread_t thread;
	bool running;
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

	if (r->running) {
		lv_info("reload already running; SIGHUP ignored");
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
			lv_cache_delete_zone(ctl->cache, lv_zone_id(z));
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
	unsigned changed = 0;

	for (unsigned i = 0; i < lv_zoneset_count(old); i++)
		if (find_in_set(ctl->zones,
				lv_zone_origin(lv_zoneset_zone(old, i))) < 0)
			lv_info("zone %s removed",
				lv_zone_origin(lv_zoneset_zone(old, i)));
	for (unsigned i = 0; i < r->n_next; i++) {
		const struct lv_zone *z = r->next[i].fresh;
		if (z) {
			lv_info("zone %s serial %u loaded (%zu records)",
				lv_zone_origin(z), lv_zone_serial(z),
				lv_zone_records(z));
			changed++;
		}
	}
	if (changed == 0 &&
	    lv_zoneset_count(old) == lv_zoneset_count(ctl->zones))
		lv_info("reload: no zone changed");
}

/* RFC 1996: tell the secondaries of every zone that has a new version. */
static void notify_changes(struct lv_control *ctl)
{
	struct lv_reload *r = ctl->reload;

	for (unsigned i = 0; i < r->n_next; i++)
		if (r->next[i].fresh)
			lv_notify_zone(ctl, r->next[i].fresh);
}

void lv_reload_finish(struct lv_control *ctl)
{
	struct lv_reload *r = ctl->reload;
	struct lv_zoneset *old = ctl->zones, *zs;

	pthread_join(r->thread, NULL);
	r->running = false;
	zs = r->failed ? NULL : assemble(ctl, old);
	if (zs == NULL) {
		free_zones(r->next, r->n_next);
		r->next = NULL;
		r->n_next = 0;
		lv_conf_put(r->next_conf);
		r->next_conf = NULL;
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
	for (unsigned i = 0; i < lv_zoneset_count(old); i++)
		lv_cache_delete_zone(ctl->cache,
				     lv_zone_id(lv_zoneset_zone(old, i)));
	for (unsigned i = 0; i < r->n_next; i++)
		if (r->next[i].fresh && !find_cur(r, r->next[i].origin))
			purge_enclosing(ctl, zs, r->next[i].origin);
	ctl->zones = zs;
	/* every worker passes a quiescent state: none holds an unlinked
	 * entry, and unlinked entries are freed */
	lv_cache_synchronize(ctl->cache);
	log_changes(ctl, old);
	notify_changes(ctl);
	lv_zoneset_free(old);
	/* the zone set owns the fresh zones now */
	for (unsigned i = 0; i < r->n_next; i++)
		r->next[i].fresh = NULL;
	free_zones(r->cur, r->n_cur);
	r->cur = r->next;
	r->n_cur = r->n_next;
	r->next = NULL;
	r->n_next = 0;
}
