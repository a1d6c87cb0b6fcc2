/*
 * Start-up, the event loop and shutdown of the control plane (main lcore).
 *
 * Start-up order: zones first (a bad zone fails before EAL is touched),
 * then EAL, the mbuf pool, the port, the cache, the workers' rings, and the
 * workers. The event loop (control/core/evloop.c) then runs the sources each
 * subsystem registered; it never spins: with nothing to do it sleeps
 * LV_EV_POLL_IDLE_NS per round.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_random.h>

#include "levee/control.h"
#include "levee/exception.h"
#include "levee/forward.h"
#include "levee/log.h"
#include "levee/pcap_source.h"
#include "levee/request.h"
#include "levee/sockport.h"
#include "levee/tcp.h"
#include "levee/tsig.h"

#define MBUF_HEADROOM_SLACK 256
/* frames for the kernel waiting per worker: ARP, ND, ping and TCP come in
 * bursts far smaller than DNS; a full ring drops (counted) rather than
 * drain the pool the ports receive into */
#define LV_KERNEL_RING 1024
/* an AF_XDP socket's fill and completion rings (libxdp defaults) */
#define LV_XDP_RINGS 4096

/* Zones, checked before EAL starts so a bad zone fails fast. */
static int load_zones(struct lv_control *ctl)
{
	char err[512];
	struct lv_zoneset *zs;

	if (lv_zoneset_load(ctl->cfg->zones, ctl->cfg->n_zones, &zs, err,
			    sizeof(err)) != 0) {
		lv_err("%s", err);
		return -1;
	}
	for (unsigned i = 0; i < lv_zoneset_count(zs); i++) {
		const struct lv_zone *z = lv_zoneset_zone(zs, i);
		lv_info("zone %s serial %u loaded (%zu records)",
			lv_zone_origin(z), lv_zone_serial(z),
			lv_zone_records(z));
	}
	ctl->zones = zs;
	return 0;
}

static int build_filter(struct lv_control *ctl)
{
	struct lv_addr_filter *f = &ctl->filter;

	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; i < ctl->cfg->n_addrs; i++) {
		const struct lv_addr *a = &ctl->cfg->addrs[i];
		if (lv_addr_filter_add(f, a->family == AF_INET6, a->addr,
				       a->prefix_len) != 0) {
			lv_err("too many service addresses (at most %d)",
			       LV_MAX_SERVICE_ADDRS);
			return -1;
		}
	}
	return 0;
}

/*
 * The AF_XDP PMD of DPDK 22.11 (xdp_umem_configure) registers as its UMEM
 * the area from the pool's first memory chunk (page-aligned) of
 * populated_size x rte_mempool_calc_obj_size() bytes: it takes the mbufs
 * for packed end to end. A default pool is not: objects may not cross a
 * page (4 KiB without hugepages: one 2368-byte mbuf per page), so 42 % of
 * the mbufs lie beyond the UMEM. The kernel silently skips such addresses
 * on the fill ring and rejects them on the TX ring (tx_invalid_descs, the
 * mbuf never completes), and the fill ring, refilled one for one with what
 * is received, empties: the port goes deaf. Fixed in DPDK 24.07 (commit
 * 97039941b2, "net/af_xdp: parse UMEM map info from mempool").
 *
 * Packed: no IOVA-contiguity demand, so objects follow each other at the
 * object size (vdev ports do no DMA; PCI ports keep the default pool).
 */
static struct rte_mempool *pool_create_packed(const char *name, unsigned n,
					      unsigned cache,
					      uint16_t data_room, int socket)
{
	struct rte_pktmbuf_pool_private priv = {
	    .mbuf_data_room_size = data_room,
	    .mbuf_priv_size = 0,
	};
	struct rte_mempool *mp = rte_mempool_create_empty(
	    name, n, sizeof(struct rte_mbuf) + data_room, cache, sizeof(priv),
	    socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);

	if (mp == NULL)
		return NULL;
	if (rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL) !=
	    0)
		goto fail;
	rte_pktmbuf_pool_init(mp, &priv);
	if (rte_mempool_populate_default(mp) < 0 || mp->populated_size != n)
		goto fail;
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	return mp;
fail:
	rte_mempool_free(mp);
	rte_errno = ENOMEM;
	return NULL;
}

struct umem_span {
	uintptr_t base;
	uint64_t size;
	uint32_t frame;
	uint32_t header;
	unsigned outside;
};

static void check_in_umem(struct rte_mempool *mp, void *arg, void *obj,
			  unsigned idx)
{
	struct umem_span *u = arg;
	uintptr_t start = (uintptr_t)obj - u->header;

	(void)mp;
	(void)idx;
	if (start < u->base || start - u->base + u->frame > u->size)
		u->outside++;
}

/* Does the UMEM the 22.11 PMD will derive cover every mbuf? */
static bool pool_fits_umem(struct rte_mempool *mp)
{
	struct rte_mempool_memhdr *first = STAILQ_FIRST(&mp->mem_list);
	uintptr_t addr = (uintptr_t)first->addr;
	struct umem_span u = {
	    .base = addr & ~(uintptr_t)(getpagesize() - 1),
	    .frame = rte_mempool_calc_obj_size(mp->elt_size, mp->flags, NULL),
	    .header = mp->header_size,
	};

	u.size = (uint64_t)mp->populated_size * u.frame + (addr - u.base);
	rte_mempool_obj_iter(mp, check_in_umem, &u);
	if (u.outside)
		lv_err("mbuf pool: %u of %u mbufs beyond the UMEM's %llu bytes",
		       u.outside, mp->populated_size,
		       (unsigned long long)u.size);
	return u.outside == 0;
}

/* An AF_XDP port, given as af_xdp:IF or as raw net_af_xdp devargs. */
static bool uses_umem(const struct lv_port_plan *plan)
{
	return plan->kind == LV_PORT_AF_XDP ||
	       (plan->kind == LV_PORT_DEVARGS &&
		strncmp(plan->devargs, "net_af_xdp", 10) == 0);
}

/* Mbufs: every RX and TX descriptor, both rings per worker, bursts in
 * flight, and the per-lcore caches. */
static int create_pool(struct lv_control *ctl, uint32_t max_frame)
{
	const struct lv_config *cfg = ctl->cfg;
	/* every ring a worker's mbufs can wait in: RX and TX descriptors,
	 * the miss and reply rings, the exception ring, an AF_XDP socket's
	 * fill and completion rings, the bursts in flight */
	unsigned per_worker = LV_PORT_RX_DESC + LV_PORT_TX_DESC +
			      2 * cfg->miss_ring_size + LV_KERNEL_RING +
			      LV_XDP_RINGS + 4 * LV_BURST;
	/* and the TAP's descriptors, the control plane's bursts and the
	 * per-lcore caches */
	unsigned n = cfg->mbufs ? cfg->mbufs : per_worker * cfg->workers + 4096;
	unsigned room = RTE_MBUF_DEFAULT_DATAROOM;

	if (max_frame > room)
		room = max_frame;
	if ((unsigned)cfg->udp_max + MBUF_HEADROOM_SLACK > room)
		room = (unsigned)cfg->udp_max + MBUF_HEADROOM_SLACK;
	ctl->pool_data_room = (uint16_t)room;

	if (uses_umem(&ctl->plan))
		ctl->pool = pool_create_packed(
		    "lv_mbufs", n, 256, (uint16_t)(room + RTE_PKTMBUF_HEADROOM),
		    (int)rte_socket_id());
	else
		ctl->pool = rte_pktmbuf_pool_create(
		    "lv_mbufs", n, 256, 0,
		    (uint16_t)(room + RTE_PKTMBUF_HEADROOM),
		    (int)rte_socket_id());
	if (ctl->pool == NULL) {
		lv_err("mbuf pool of %u x %u bytes: %s", n, room,
		       rte_strerror(rte_errno));
		return -1;
	}
	if (uses_umem(&ctl->plan) && !pool_fits_umem(ctl->pool)) {
		lv_err("mbuf pool: not one packed area; the AF_XDP port's UMEM "
		       "would not cover every mbuf");
		return -1;
	}
	return 0;
}

static int create_cache(struct lv_control *ctl)
{
	char err[256];
	struct lv_cache_params p = {
	    .memory_bytes = ctl->cfg->cache_memory,
	    .max_entries = ctl->cfg->cache_entries,
	    .hash_seed = ctl->hash_seed,
	    .max_readers = ctl->n_workers,
	    .socket_id = (int)rte_socket_id(),
	    .name = "lv_cache",
	};

	ctl->cache = lv_cache_create(&p, err, sizeof(err));
	if (ctl->cache == NULL) {
		lv_err("cache: %s", err);
		return -1;
	}
	return 0;
}

static struct rte_ring *make_ring(const char *what, unsigned id, unsigned n)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "lv_%s_%u", what, id);
	/* single producer, single consumer: one worker, one control plane */
	return rte_ring_create(name, n, (int)rte_socket_id(),
			       RING_F_SP_ENQ | RING_F_SC_DEQ);
}

/* Worker id's ring of refresh requests: struct lv_query elements. */
static struct rte_ring *make_prefetch_ring(unsigned id)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "lv_prefetch_%u", id);
	/* single producer, single consumer, like make_ring()'s */
	return rte_ring_create_elem(name, sizeof(struct lv_query),
				    LV_PREFETCH_RING, (int)rte_socket_id(),
				    RING_F_SP_ENQ | RING_F_SC_DEQ);
}

static bool has_port(const struct lv_control *ctl)
{
	return ctl->plan.kind != LV_PORT_NONE;
}

/* Worker w's queue of the port: queue w->id, and the exception ring on
 * live ports (they hand the kernel's traffic to the control plane). */
static int add_port_queue(struct lv_control *ctl, struct lv_worker *w)
{
	struct lv_worker_queue *q = &w->queues[w->n_queues++];

	q->port = ctl->port.port_id;
	q->queue = (uint16_t)w->id; /* worker i owns queue i */
	q->replies = make_ring("reply", w->id, ctl->cfg->miss_ring_size);
	if (!ctl->replay)
		w->to_kernel = make_ring("kernel", w->id, LV_KERNEL_RING);
	return q->replies == NULL || (!ctl->replay && w->to_kernel == NULL) ? -1
									    : 0;
}

/* Worker w's socket queue on every --listen address (SO_REUSEPORT: the
 * kernel spreads clients over the workers' sockets). */
static int add_socket_queues(struct lv_control *ctl, struct lv_worker *w)
{
	char err[256];

	for (unsigned i = 0; i < ctl->cfg->n_listen; i++) {
		const struct lv_remote_conf *l = &ctl->cfg->listen[i];
		struct lv_worker_queue *q;
		struct lv_sockq *sq;

		if (w->n_queues == LV_WORKER_MAX_QUEUES) {
			lv_err("--listen: at most %d addresses",
			       LV_WORKER_MAX_QUEUES - 1);
			return -1;
		}
		sq = lv_sockq_open(&l->addr, l->port,
				   (uint16_t)(LV_SOCK_PORT_BASE + i), ctl->pool,
				   err, sizeof(err));
		if (sq == NULL) {
			lv_err("%s", err);
			return -1;
		}
		q = &w->queues[w->n_queues++];
		*q = (struct lv_worker_queue){
		    .port = (uint16_t)(LV_SOCK_PORT_BASE + i),
		    .rx = lv_sockq_rx,
		    .tx = lv_sockq_tx,
		    .io = sq,
		    .filter = &ctl->sock_filter,
		    .replies = make_ring("sreply", w->id * 64 + i,
					 ctl->cfg->miss_ring_size)};
		if (q->replies == NULL)
			return -1;
	}
	return 0;
}

static int create_workers(struct lv_control *ctl)
{
	unsigned lcore, i = 0;

	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		if (i == ctl->n_workers)
			break;
		struct lv_worker *w = rte_zmalloc_socket(
		    "lv_worker", sizeof(*w), RTE_CACHE_LINE_SIZE,
		    (int)rte_lcore_to_socket_id(lcore));
		if (w == NULL)
			return -1;
		w->id = i;
		w->lcore = lcore;
		w->cache = ctl->cache;
		w->hash_seed = ctl->hash_seed;
		w->filter = &ctl->filter;
		w->tx_offload = ctl->port.tx_offload;
		w->udp_max = ctl->cfg->udp_max;
		w->lossless = ctl->replay;
		/* replay never idles: the input is all there */
		w->idle_sleep_us = ctl->replay ? 0 : ctl->cfg->idle_sleep_us;
		w->idle_polls = LV_CONFIG_IDLE_POLLS;
		w->pool = ctl->pool;
		w->rx_min_free = 2 * LV_BURST;
		w->to_control = make_ring("miss", i, ctl->cfg->miss_ring_size);
		w->prefetch = make_prefetch_ring(i);
		ctl->workers[i++] = w;
		if (w->to_control == NULL || w->prefetch == NULL ||
		    (has_port(ctl) && add_port_queue(ctl, w) != 0) ||
		    add_socket_queues(ctl, w) != 0) {
			lv_err("worker %u rings: %s", i - 1,
			       rte_strerror(rte_errno));
			return -1;
		}
	}
	if (i < ctl->n_workers) {
		lv_err("--workers %u needs %u worker lcores, EAL has %u",
		       ctl->n_workers, ctl->n_workers, i);
		return -1;
	}
	return 0;
}

void lv_control_sum_stats(const struct lv_control *ctl, struct lv_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < ctl->n_workers; i++)
		if (ctl->workers[i])
			lv_stats_sum(out, &ctl->workers[i]->stats);
	lv_stats_sum(out, &ctl->stats);
}

/* --listen queues: answers that came after their client's slot was
 * reused (host/sockport.c). */
static uint64_t late_replies(const struct lv_control *ctl)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < ctl->n_workers; i++) {
		const struct lv_worker *w = ctl->workers[i];
		for (unsigned q = 0; w != NULL && q < w->n_queues; q++)
			if (w->queues[q].rx == lv_sockq_rx)
				n += lv_sockq_late_replies(w->queues[q].io);
	}
	return n;
}

static void print_stats_to(const struct lv_control *ctl, FILE *out)
{
	struct lv_stats s;
	struct lv_cache_stats cs;

	lv_control_sum_stats(ctl, &s);
	lv_stats_print(out, &s);
	if (ctl->cache) {
		lv_cache_get_stats(ctl->cache, &cs);
		fprintf(
		    out,
		    "cache_entries %llu\ncache_memory_bytes %llu\n"
		    "cache_evictions %llu\n",
		    (unsigned long long)cs.entries,
		    (unsigned long long)cs.memory_bytes,
		    (unsigned long long)(cs.evictions + cs.evictions_nospace));
	}
	fprintf(out, "tcp_open %u\n", lv_tcp_open_connections(ctl));
	if (ctl->cfg->n_listen > 0)
		fprintf(out, "drop_late_reply %llu\n",
			(unsigned long long)late_replies(ctl));
	if (ctl->forward)
		lv_forward_print_stats(ctl->forward, out);
	if (ctl->requests) {
		struct lv_request_stats rq;
		lv_requests_get_stats(ctl->requests, &rq);
		fprintf(out,
			"requests_parked %llu\nrequests_answered %llu\n"
			"requests_refused %llu\nrequests_dropped %llu\n"
			"requests_in_flight %llu\n",
			(unsigned long long)rq.parked,
			(unsigned long long)rq.answered,
			(unsigned long long)rq.refused,
			(unsigned long long)rq.dropped,
			(unsigned long long)rq.in_flight);
	}
	if (ctl->pool)
		fprintf(out, "mbufs_free %u\n",
			rte_mempool_avail_count(ctl->pool));
	/* what the driver saw: frames it could not hand over count here */
	struct rte_eth_stats es;
	if (ctl->port.started && rte_eth_stats_get(ctl->port.port_id, &es) == 0)
		fprintf(out,
			"port_ipackets %llu\nport_imissed %llu\nport_ierrors "
			"%llu\nport_rx_nombuf %llu\nport_opackets %llu\n"
			"port_oerrors %llu\n",
			(unsigned long long)es.ipackets,
			(unsigned long long)es.imissed,
			(unsigned long long)es.ierrors,
			(unsigned long long)es.rx_nombuf,
			(unsigned long long)es.opackets,
			(unsigned long long)es.oerrors);
	/* per worker: how evenly RSS or the kernel's fan-out spread flows */
	for (unsigned i = 0; i < ctl->n_workers; i++)
		if (ctl->workers[i])
			fprintf(
			    out, "worker%u_rx %llu\n", i,
			    (unsigned long long)__atomic_load_n(
				&ctl->workers[i]->stats.rx, __ATOMIC_RELAXED));
}

void lv_control_print_stats(const struct lv_control *ctl)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);

	/* the block is built whole, then written in one go: a reader of the
	 * output (a file, a pipe) never sees half of it */
	if (mem == NULL) {
		print_stats_to(ctl, stdout);
	} else {
		print_stats_to(ctl, mem);
		if (fclose(mem) == 0)
			fwrite(buf, 1, len, stdout);
		free(buf);
	}
	fflush(stdout);
}

/* The replay capture: Ethernet, and how many frames end the run. */
static int inspect_replay(struct lv_control *ctl, uint32_t *max_frame)
{
	struct lv_pcap_info info;
	char err[512];

	ctl->replay = ctl->plan.kind == LV_PORT_PCAP;
	*max_frame = 0;
	if (!ctl->replay)
		return 0;
	if (lv_pcap_inspect(ctl->plan.rx_path, &info, err, sizeof(err)) != 0) {
		lv_err("%s", err);
		return -1;
	}
	if (ctl->n_workers != 1) {
		lv_err("--workers %u: a pcap replay device has one queue; use "
		       "--workers 1",
		       ctl->n_workers);
		return -1;
	}
	ctl->replay_frames = info.frames;
	*max_frame = info.max_caplen;
	lv_info("replaying %s: %llu frames (%llu cut short by the snap "
		"length), answers to %s",
		ctl->plan.rx_path, (unsigned long long)info.frames,
		(unsigned long long)info.cut_short, ctl->plan.tx_path);
	return 0;
}

static int start(struct lv_control *ctl, const char *argv0)
{
	char err[1024];
	uint32_t max_frame;

	ctl->n_workers = ctl->cfg->workers;
	if (lv_port_plan(ctl->cfg->iface, ctl->n_workers, &ctl->plan, err,
			 sizeof(err)) != 0) {
		lv_err("%s", err);
		return -1;
	}
	/* a live port sees traffic that is not ours: answer only what is
	 * addressed to the service addresses */
	if (has_port(ctl) && ctl->plan.kind != LV_PORT_PCAP &&
	    ctl->cfg->n_addrs == 0) {
		lv_err("--iface %s: a live port needs --address (the service "
		       "addresses levee answers on)",
		       ctl->cfg->iface);
		return -1;
	}
	if (inspect_replay(ctl, &max_frame) != 0 || build_filter(ctl) != 0 ||
	    load_zones(ctl) != 0)
		return -1;
	if (lv_eal_start(argv0, ctl->cfg, &ctl->plan, err, sizeof(err)) != 0) {
		lv_err("%s", err);
		return -1;
	}
	ctl->eal_up = true;
	ctl->hash_seed = rte_rand();
	if (create_pool(ctl, max_frame) != 0)
		return -1;
	if (has_port(ctl) &&
	    (lv_port_open(&ctl->plan, (uint16_t)ctl->n_workers, ctl->pool,
			  &ctl->port, err, sizeof(err)) != 0 ||
	     lv_port_check_payload(&ctl->plan, &ctl->port, ctl->cfg->udp_max,
				   ctl->filter.n_v6 > 0, err,
				   sizeof(err)) != 0)) {
		lv_err("%s", err);
		return -1;
	}
	if (create_cache(ctl) != 0 || create_workers(ctl) != 0)
		return -1;
	ctl->loop = lv_evloop_new();
	if (ctl->loop == NULL) {
		lv_err("event loop: %s", strerror(errno));
		return -1;
	}
	ctl->requests = lv_requests_new(ctl->loop, ctl->cfg->max_requests,
					ctl->pool_data_room,
					(int)rte_socket_id(), err, sizeof(err));
	if (ctl->requests == NULL) {
		lv_err("%s", err);
		return -1;
	}
	/* replay has no kernel to talk to: no TAP, no sockets; host sockets
	 * alone need no exception path */
	if (has_port(ctl) && !ctl->replay && lv_exception_open(ctl) != 0)
		return -1;
	return lv_control_events_init(ctl);
}

static void launch_workers(struct lv_control *ctl)
{
	for (unsigned i = 0; i < ctl->n_workers; i++)
		rte_eal_remote_launch(lv_worker_main, ctl->workers[i],
				      ctl->workers[i]->lcore);
}

static void drain(struct rte_ring *r)
{
	struct rte_mbuf *m;

	while (r != NULL && rte_ring_dequeue(r, (void **)&m) == 0)
		rte_pktmbuf_free(m);
}

/* Stop the workers, then free what they and the rings still hold. */
static void stop_workers(struct lv_control *ctl)
{
	for (unsigned i = 0; i < ctl->n_workers; i++)
		if (ctl->workers[i])
			lv_worker_request_stop(ctl->workers[i]);
	rte_eal_mp_wait_lcore();
	for (unsigned i = 0; i < ctl->n_workers; i++) {
		struct lv_worker *w = ctl->workers[i];
		if (w == NULL)
			continue;
		drain(w->to_control);
		drain(w->to_kernel);
		for (unsigned q = 0; q < w->n_queues; q++)
			drain(w->queues[q].replies);
	}
}

/* Undo start(). Workers are stopped by whoever launched them. */
static void teardown(struct lv_control *ctl)
{
	lv_control_events_fini(ctl);
	/* host settings back as they were, before the port goes away */
	if (ctl->eal_up)
		lv_exception_close(ctl);
	lv_requests_free(ctl->requests);
	ctl->requests = NULL;
	lv_evloop_free(ctl->loop);
	ctl->loop = NULL;
	lv_port_close(&ctl->port);
	for (unsigned i = 0; i < ctl->n_workers; i++) {
		struct lv_worker *w = ctl->workers[i];
		if (w == NULL)
			continue;
		rte_ring_free(w->to_control);
		rte_ring_free(w->prefetch);
		rte_ring_free(w->to_kernel);
		for (unsigned q = 0; q < w->n_queues; q++) {
			rte_ring_free(w->queues[q].replies);
			if (w->queues[q].rx == lv_sockq_rx)
				lv_sockq_close(w->queues[q].io);
		}
		rte_free(w);
	}
	if (ctl->cache)
		lv_cache_destroy(ctl->cache);
	lv_zoneset_free(ctl->zones);
	rte_mempool_free(ctl->pool);
	if (ctl->eal_up) {
		/* EAL leaves its (empty, per-process) runtime directory
		 * behind; rmdir removes it only if nothing is left in it */
		char rundir[PATH_MAX];
		snprintf(rundir, sizeof(rundir), "%s",
			 rte_eal_get_runtime_dir());
		rte_eal_cleanup();
		rmdir(rundir);
	}
}

/* The snapshot current from now on (event loop; start-up and reloads). */
void lv_control_set_conf(struct lv_control *ctl, struct lv_conf *conf)
{
	struct lv_conf *old = ctl->conf;

	ctl->conf = conf;
	ctl->cfg = &conf->cfg;
	ctl->keys = conf->keys;
	if (conf->cfg.log_level)
		lv_log_set_level(conf->cfg.log_level);
	lv_conf_put(old);
}

int lv_control_run(struct lv_config *cfg, const char *argv0)
{
	return lv_control_run_with(cfg, argv0, NULL);
}

int lv_control_run_with(struct lv_config *cfg, const char *argv0,
			const struct lv_extension *ext)
{
	struct lv_control ctl;
	char err[512];
	struct lv_conf *conf = lv_conf_new(cfg, err, sizeof(err));
	int rc;

	/* TSIG keys are checked here, before EAL starts: one line naming a
	 * bad key */
	if (conf == NULL) {
		lv_err("%s", err);
		return 1;
	}
	memset(&ctl, 0, sizeof(ctl));
	lv_control_set_conf(&ctl, conf);
	ctl.sigfd = ctl.reload_efd = -1;
	if (start(&ctl, argv0) != 0 || (ext && ext->open(&ctl) != 0)) {
		teardown(&ctl);
		lv_conf_put(ctl.conf);
		return 1;
	}
	launch_workers(&ctl);
	rc = lv_control_loop(&ctl);
	stop_workers(&ctl);
	lv_control_print_stats(&ctl);
	if (ext)
		ext->close(&ctl);
	teardown(&ctl);
	lv_conf_put(ctl.conf);
	return rc;
}
