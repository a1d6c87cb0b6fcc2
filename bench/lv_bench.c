/*
 * The in-process benchmark: the real poll-loop code, fed from memory.
 *
 * No NIC. EAL starts (hugepages when mounted and free, else --no-huge), a
 * zone of N seeded A records is written to a temporary file and loaded with
 * the real zone loader, and every name is answered once by the real answer
 * builder and published in the real cache, so every query below is a hit.
 * M query frames (Ethernet/IPv4/UDP/DNS, EDNS on a stated share) whose names
 * follow a Zipf law over the N names are prebuilt in plain memory.
 *
 * The measured loop stands in for one worker's poll loop: a ring of R mbufs
 * plays the RX descriptor ring; each burst of 32 is handed to the real
 * lv_worker_handle_burst() (answers come back in place), then the worker
 * reports its quiescent state, as lv_worker_main() does once per iteration.
 * Only those two calls are timed (rte_rdtsc around them). Outside the timed
 * region the burst's answers are checked (a sample) and its mbufs are
 * refilled with the frames they will carry R/32 bursts later, the way a NIC
 * would DMA them: by the time a frame is processed its bytes have left L1.
 *
 * A second pass over the same frames times the stages separately with the
 * same dataplane functions: classify+parse (lv_pkt_classify,
 * lv_query_parse), lookup (lv_cache_lookup_bulk), write
 * (lv_response_from_entry, lv_pkt_finish_reply).
 *
 * Two more passes print figures beside it in the same run: the same
 * frames answered from upstream entries that age (every name re-inserted
 * as a forwarded answer, so each hit takes its age from the burst's one
 * clock read and writes its TTL less the age; "aged_ns_per_query"), and
 * the same queries through a host socket port on loopback (--listen: a
 * client socket sends bursts with sendmmsg, lv_sockq_rx /
 * lv_worker_handle_burst / lv_sockq_tx answer them, the client reads them
 * back with recvmmsg; both sides' system calls are in
 * "socket_ns_per_query").
 *
 * --callgrind runs a short, untimed version for
 * valgrind --tool=callgrind --toggle-collect=lv_worker_handle_burst and
 * prints how many queries went through lv_worker_handle_burst.
 *
 * The bench fails loudly (exit 1) if anything it measured was not a hit
 * answered NOERROR with the right address.
 */
#define _GNU_SOURCE /* sendmmsg, recvmmsg */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include "levee/answer.h"
#include "levee/cache.h"
#include "levee/packet.h"
#include "levee/port.h"
#include "levee/query.h"
#include "levee/response.h"
#include "levee/sockport.h"
#include "levee/worker.h"
#include "levee/zone.h"

#define ORIGIN       "example.com."
#define FRAME_MAX    112
#define SERVICE_ADDR RTE_IPV4(198, 51, 100, 53)
#define L2L3L4       (14 + 20 + 8)
#define SAMPLE_EVERY 64 /* check every answer of one burst in this many */
#define HUGE_NEEDED  (256ull << 20)

struct opts {
	uint32_t names;
	uint32_t frames; /* prebuilt query frames (--queries) */
	uint64_t count;  /* queries measured per pass */
	double seconds;  /* stop a pass early after this long (0: never) */
	double zipf;
	uint64_t seed;
	unsigned edns_pct;
	unsigned ring; /* mbufs standing in for the RX ring */
	unsigned lcore;
	bool offload; /* a NIC that completes checksums */
	int huge;     /* -1 auto, 0 never */
	bool callgrind;
};

/* A prebuilt query: the bytes a NIC would have written into an mbuf. */
struct frame {
	uint32_t name_idx;
	uint16_t len;
	uint16_t qend; /* end of the question, from the DNS header */
	uint8_t bytes[FRAME_MAX];
} __attribute__((aligned(64)));

struct bench {
	struct opts o;
	bool huge;
	uint8_t (*names)[32]; /* wire form of the first label + length */
	struct frame *frames;
	struct lv_zoneset *zs;
	struct lv_cache *cache;
	struct rte_mempool *pool;
	struct rte_mbuf **ring;
	struct lv_worker *w;
	struct lv_addr_filter filter;
	uint64_t handled;  /* queries given to lv_worker_handle_burst */
	uint64_t verified; /* answers checked byte by byte */
	double tsc_hz;
	bool aged; /* the cache holds upstream entries: TTLs are aged */
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("lv_bench: FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* --- seeded randomness (splitmix64: reproducible across runs) --- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* --- EAL --- */

/* EAL's per-process runtime directory, removed at exit (it is empty: no
 * shared config, no telemetry). */
static char eal_rundir[PATH_MAX];

static void remove_eal_rundir(void)
{
	rmdir(eal_rundir);
}

static void start_eal(struct bench *b, const char *argv0)
{
	char lcores[16], prefix[64];
	char *argv[16];
	int argc = 0;

	b->huge = !b->o.callgrind && b->o.huge != 0 &&
		  lv_hugepages_available(HUGE_NEEDED >> 20);
	snprintf(lcores, sizeof(lcores), "%u", b->o.lcore);
	snprintf(prefix, sizeof(prefix), "--file-prefix=lv_bench_%d",
		 (int)getpid());
	argv[argc++] = (char *)argv0;
	argv[argc++] = "-l";
	argv[argc++] = lcores;
	argv[argc++] = "--no-pci";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "--log-level=lib.eal:error";
	argv[argc++] = prefix;
	if (b->huge) {
		/* no files left under /dev/hugepages, no shared config */
		argv[argc++] = "--in-memory";
	} else {
		/* EAL refuses --in-memory with --no-huge */
		argv[argc++] = "--no-huge";
		argv[argc++] = "-m";
		argv[argc++] = b->o.callgrind ? "256" : "1024";
		argv[argc++] = "--no-shconf";
	}
	argv[argc] = NULL;
	if (rte_eal_init(argc, argv) < 0)
		die("rte_eal_init: %s", rte_strerror(rte_errno));
	b->tsc_hz = (double)rte_get_tsc_hz();
	snprintf(eal_rundir, sizeof(eal_rundir), "%s",
		 rte_eal_get_runtime_dir());
	atexit(remove_eal_rundir);
}

/* --- the zone and the cache --- */

/* Name i: one label of 2..10 seeded letters and 6 hex digits of i (unique,
 * and the same length distribution whatever N is), under ORIGIN. */
static void make_names(struct bench *b)
{
	uint64_t s = b->o.seed ^ 0x6e616d6573ull;

	b->names = malloc((size_t)b->o.names * sizeof(*b->names));
	if (b->names == NULL)
		die("out of memory for %u names", b->o.names);
	for (uint32_t i = 0; i < b->o.names; i++) {
		uint8_t *n = b->names[i];
		unsigned letters = 2 + (unsigned)(rng_next(&s) % 9);
		unsigned l = 0;
		for (; l < letters; l++)
			n[1 + l] = (uint8_t)('a' + rng_next(&s) % 26);
		l += (unsigned)sprintf((char *)n + 1 + l, "%06x", i);
		n[0] = (uint8_t)l;
	}
}

static uint32_t addr_of(uint32_t i)
{
	return RTE_IPV4(10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
}

static void load_zone(struct bench *b)
{
	char path[] = "/tmp/lv_bench_zone_XXXXXX";
	char err[512];
	struct lv_zone *z;
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (f == NULL)
		die("temporary zone file: %s", strerror(errno));
	fprintf(f, "$ORIGIN " ORIGIN "\n$TTL 3600\n"
		   "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
		   "@ IN NS ns1\nns1 IN A 192.0.2.53\n");
	for (uint32_t i = 0; i < b->o.names; i++) {
		uint32_t a = addr_of(i);
		fprintf(f, "%.*s IN A %u.%u.%u.%u\n", b->names[i][0],
			(const char *)b->names[i] + 1, a >> 24,
			(a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
	}
	if (fclose(f) != 0)
		die("writing %s: %s", path, strerror(errno));
	int rc = lv_zone_load(ORIGIN, path, &z, err, sizeof(err));
	unlink(path);
	if (rc != 0)
		die("lv_zone_load: %s", err);
	b->zs = lv_zoneset_new();
	if (b->zs == NULL || lv_zoneset_add(b->zs, z) != 0)
		die("zone set");
}

/* Wire form of name i under ORIGIN; returns its length. */
static unsigned name_wire(const struct bench *b, uint32_t i, uint8_t *out)
{
	static const uint8_t origin[] = "\7example\3com";
	unsigned l = b->names[i][0] + 1u;

	memcpy(out, b->names[i], l);
	memcpy(out + l, origin, sizeof(origin)); /* with the root's 0 */
	return l + (unsigned)sizeof(origin);
}

static void insert_answers(struct bench *b, bool upstream);

static void fill_cache(struct bench *b)
{
	char err[256];
	struct lv_cache_params p = {
	    .memory_bytes = (size_t)b->o.names * 1024 + (256u << 20),
	    .max_entries = b->o.names,
	    .hash_seed = rng_next(&(uint64_t){b->o.seed ^ 0x68617368ull}),
	    .max_readers = 1,
	    .socket_id = (int)rte_socket_id(),
	    .name = "lv_bench_cache",
	};
	b->cache = lv_cache_create(&p, err, sizeof(err));
	if (b->cache == NULL)
		die("lv_cache_create: %s", err);
	insert_answers(b, false);
	struct lv_cache_stats cs;
	lv_cache_get_stats(b->cache, &cs);
	if (cs.entries != b->o.names || cs.evictions || cs.evictions_nospace)
		die("cache holds %" PRIu64 " of %u names (%" PRIu64
		    " evictions)",
		    cs.entries, b->o.names,
		    cs.evictions + cs.evictions_nospace);
}

/* Answer every name with the real builder and publish it; upstream: as a
 * forwarded answer that ages (stored at time 0 of the cache's clock, kept
 * a day), replacing the zone entry under the same key. */
static void insert_answers(struct bench *b, bool upstream)
{
	uint64_t seed = lv_cache_hash_seed(b->cache);
	struct lv_query q;
	struct lv_answer_result res;

	memset(&q, 0, sizeof(q));
	q.qtype = LV_TYPE_A;
	q.qclass = LV_CLASS_IN;
	q.question_ok = 1;
	for (uint32_t i = 0; i < b->o.names; i++) {
		q.qname_len = (uint16_t)name_wire(b, i, q.lname);
		q.question_end = (uint16_t)(LV_DNS_HDR_LEN + q.qname_len + 4);
		if (lv_answer_build(b->zs, &q, 0, seed, &res) != 0)
			die("lv_answer_build failed for name %u", i);
		if (res.entry == NULL || res.rcode != LV_RCODE_NOERROR ||
		    !res.cacheable || res.entry->ancount != 1)
			die("name %u: not a cacheable one-record answer "
			    "(rcode %u)",
			    i, res.rcode);
		if (upstream) {
			res.entry->origin = LV_ORIGIN_UPSTREAM;
			res.entry->flags = LV_FLAG_RA;
			res.entry->min_ttl = 86400;
			res.entry->stored_at = 0;
		}
		int rc = lv_cache_insert(b->cache, res.entry);
		if (rc != 0)
			die("lv_cache_insert name %u: %s", i, strerror(-rc));
		if (upstream && (i & 4095) == 0) {
			/* the replaced entries; this thread is the reader */
			lv_cache_reader_quiescent(b->cache, 0);
			lv_cache_reclaim(b->cache);
		}
	}
	b->aged = upstream;
}

/* --- query frames --- */

/* Zipf(s) over ranks 1..n: cumulative weights, then a seeded permutation
 * maps ranks to names so that popular names are not neighbours in the
 * zone or in insertion (allocation) order. */
static void make_frames(struct bench *b)
{
	uint32_t n = b->o.names;
	double *cdf = malloc((size_t)n * sizeof(*cdf));
	uint32_t *perm = malloc((size_t)n * sizeof(*perm));
	uint64_t s = b->o.seed ^ 0x7a697066ull;
	double sum = 0;

	b->frames = aligned_alloc(64, (size_t)b->o.frames * sizeof(*b->frames));
	if (cdf == NULL || perm == NULL || b->frames == NULL)
		die("out of memory for %u frames", b->o.frames);
	for (uint32_t k = 0; k < n; k++) {
		sum += pow((double)k + 1, -b->o.zipf);
		cdf[k] = sum;
		perm[k] = k;
	}
	for (uint32_t k = n - 1; k > 0; k--) {
		uint32_t j = (uint32_t)(rng_next(&s) % (k + 1));
		uint32_t t = perm[k];
		perm[k] = perm[j];
		perm[j] = t;
	}
	for (uint32_t f = 0; f < b->o.frames; f++) {
		double u = rng_unit(&s) * sum;
		uint32_t lo = 0, hi = n - 1;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		struct frame *fr = &b->frames[f];
		fr->name_idx = perm[lo];
		bool edns = rng_next(&s) % 100 < b->o.edns_pct;
		uint8_t *p = fr->bytes;
		struct rte_ether_hdr *eth = (struct rte_ether_hdr *)p;
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(p + 14);
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(p + 34);
		uint8_t *dns = p + L2L3L4;

		memset(p, 0, FRAME_MAX);
		memcpy(eth->dst_addr.addr_bytes, "\x02\0\0\0\0\x01", 6);
		memcpy(eth->src_addr.addr_bytes, "\x02\0\0\0\0\x02", 6);
		eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
		unsigned qn = name_wire(b, fr->name_idx, dns + 12);
		lv_wire_put16(dns, (uint16_t)rng_next(&s));
		lv_wire_put16(dns + 2, LV_FLAG_RD);
		lv_wire_put16(dns + 4, 1);
		lv_wire_put16(dns + 10, edns ? 1 : 0);
		unsigned pos = 12 + qn;
		lv_wire_put16(dns + pos, LV_TYPE_A);
		lv_wire_put16(dns + pos + 2, LV_CLASS_IN);
		pos += 4;
		fr->qend = (uint16_t)pos;
		if (edns) { /* root, OPT, 1232, ext-rcode 0, v0, DO=0, no opts */
			dns[pos] = 0;
			lv_wire_put16(dns + pos + 1, LV_TYPE_OPT);
			lv_wire_put16(dns + pos + 3, LV_DNS_DEFAULT_UDP);
			pos += LV_DNS_OPT_RR_LEN;
		}
		fr->len = (uint16_t)(L2L3L4 + pos);
		ip->version_ihl = RTE_IPV4_VHL_DEF;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + 8 + pos));
		ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
		ip->time_to_live = 64;
		ip->next_proto_id = IPPROTO_UDP;
		ip->src_addr = rte_cpu_to_be_32(
		    RTE_IPV4(192, 0, 2, 1 + (unsigned)(rng_next(&s) % 250)));
		ip->dst_addr = rte_cpu_to_be_32(SERVICE_ADDR);
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		udp->src_port =
		    rte_cpu_to_be_16((uint16_t)(1024 + rng_next(&s) % 64000));
		udp->dst_port = RTE_BE16(LV_DNS_PORT);
		udp->dgram_len = rte_cpu_to_be_16((uint16_t)(8 + pos));
		udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
	}
	free(cdf);
	free(perm);
}

/* --- the worker --- */

static void make_worker(struct bench *b)
{
	unsigned n = b->o.ring + 2 * LV_BURST;

	b->pool = rte_pktmbuf_pool_create("lv_bench_mbufs", n, 0, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	b->ring = calloc(b->o.ring, sizeof(*b->ring));
	if (b->pool == NULL || b->ring == NULL ||
	    rte_pktmbuf_alloc_bulk(b->pool, b->ring, b->o.ring) != 0)
		die("mbuf pool of %u: %s", n, rte_strerror(rte_errno));

	b->filter.n_v4 = 1;
	b->filter.v4[0] = rte_cpu_to_be_32(SERVICE_ADDR);
	/* as control.c create_workers() sets one up */
	struct lv_worker *w = rte_zmalloc_socket(
	    "lv_worker", sizeof(*w), RTE_CACHE_LINE_SIZE, (int)rte_socket_id());
	if (w == NULL)
		die("worker struct");
	w->id = 0;
	w->lcore = rte_lcore_id();
	w->cache = b->cache;
	w->hash_seed = lv_cache_hash_seed(b->cache);
	w->filter = &b->filter;
	w->tx_offload.ipv4_cksum = b->o.offload;
	w->tx_offload.udp_cksum = b->o.offload;
	w->udp_max = LV_DNS_DEFAULT_UDP;
	w->lossless = false;
	w->pool = b->pool;
	w->rx_min_free = 2 * LV_BURST;
	w->to_control =
	    rte_ring_create("lv_bench_miss", 1024, (int)rte_socket_id(),
			    RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (w->to_control == NULL)
		die("miss ring: %s", rte_strerror(rte_errno));
	w->n_queues = 1;
	b->w = w;
	lv_cache_reader_register(b->cache, w->id);
}

/* What the NIC does: the frame's bytes into the mbuf, lengths, no flags. */
static inline void refill(struct rte_mbuf *m, const struct frame *f)
{
	rte_memcpy(rte_pktmbuf_mtod(m, void *), f->bytes, f->len);
	m->data_len = f->len;
	m->pkt_len = f->len;
	m->ol_flags = 0;
}

/* Slot k of the ring carries frame (pos + k) mod M at its next use. */
static void refill_burst(struct bench *b, unsigned first_slot, uint64_t pos)
{
	for (unsigned k = 0; k < LV_BURST; k++)
		refill(b->ring[first_slot + k],
		       &b->frames[(pos + k) % b->o.frames]);
}

static void prime_ring(struct bench *b, uint64_t pos)
{
	for (unsigned s = 0; s < b->o.ring; s += LV_BURST)
		refill_burst(b, s, pos + s);
}

/* One answer, checked: the reply to frame f, NOERROR, one A record with
 * the name's own address, ports swapped. */
/* The zone's TTL (3600) exactly, or for an aged entry 3600 less the age
 * (the second may have ticked since the answer was written). */
static bool ttl_is_wrong(const struct bench *b, uint32_t ttl)
{
	if (!b->aged)
		return ttl != 3600;
	uint64_t age = lv_cache_now(b->cache) >> LV_CACHE_TICK_SHIFT;
	return ttl + age != 3600 && ttl + age != 3601;
}

static void check_answer(const struct bench *b, const struct rte_mbuf *m,
			 const struct frame *f)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *dns = p + L2L3L4;
	const struct rte_udp_hdr *udp = (const void *)(p + 34);
	const uint8_t *qdns = f->bytes + L2L3L4;
	uint16_t flags = lv_wire_get16(dns + 2);
	const uint8_t *rr = dns + f->qend;

	if (m->data_len < L2L3L4 + f->qend + 16)
		die("answer to name %u is %u bytes", f->name_idx, m->data_len);
	if (lv_wire_get16(dns) != lv_wire_get16(qdns) ||
	    !(flags & LV_FLAG_QR) || (flags & LV_FLAG_RCODE) != 0 ||
	    (flags & LV_FLAG_TC) || lv_wire_get16(dns + 4) != 1 ||
	    lv_wire_get16(dns + 6) != 1)
		die("answer to name %u: id/flags/counts wrong (flags %#x "
		    "ancount %u)",
		    f->name_idx, flags, lv_wire_get16(dns + 6));
	if (memcmp(dns + 12, qdns + 12, f->qend - 12) != 0)
		die("answer to name %u: question not echoed", f->name_idx);
	if (lv_wire_get16(rr) != 0xc00c || lv_wire_get16(rr + 2) != LV_TYPE_A ||
	    lv_wire_get16(rr + 10) != 4 ||
	    lv_wire_get32(rr + 12) != addr_of(f->name_idx))
		die("answer to name %u: not its A record", f->name_idx);
	if (ttl_is_wrong(b, lv_wire_get32(rr + 6)))
		die("answer to name %u: TTL %u", f->name_idx,
		    lv_wire_get32(rr + 6));
	if (udp->src_port != RTE_BE16(LV_DNS_PORT))
		die("answer to name %u: UDP ports not swapped", f->name_idx);
}

struct pass_result {
	uint64_t queries;
	uint64_t cycles; /* inside the timed region */
	double wall;     /* seconds for the whole pass */
};

/* The full path, as the poll loop runs it. */
static struct pass_result run_full(struct bench *b, uint64_t count, bool timed)
{
	struct lv_worker *w = b->w;
	struct rte_mbuf *tx[LV_BURST];
	struct pass_result r = {0, 0, 0};
	unsigned nslot = b->o.ring / LV_BURST;
	uint64_t pos = 0, burst = 0;
	double t0 = now_s(), deadline = t0 + b->o.seconds;

	prime_ring(b, pos);
	while (r.queries < count) {
		unsigned slot = (unsigned)(burst % nslot) * LV_BURST;
		struct rte_mbuf **pkts = &b->ring[slot];
		uint64_t c0 = rte_rdtsc();
		uint16_t ntx = lv_worker_handle_burst(w, pkts, LV_BURST, tx);
		lv_cache_reader_quiescent(b->cache, w->id);
		r.cycles += rte_rdtsc() - c0;

		/* untimed: check, then refill for this slot's next turn */
		if (ntx != LV_BURST)
			die("burst %" PRIu64 ": %u of %u answered", burst, ntx,
			    LV_BURST);
		if (burst % SAMPLE_EVERY == 0 || !timed)
			for (unsigned k = 0; k < LV_BURST; k++) {
				check_answer(
				    b, pkts[k],
				    &b->frames[(pos + k) % b->o.frames]);
				b->verified++;
			}
		refill_burst(b, slot, pos + b->o.ring);
		r.queries += LV_BURST;
		pos += LV_BURST;
		burst++;
		if (timed && b->o.seconds > 0 && (burst & 1023) == 0 &&
		    now_s() > deadline)
			break;
	}
	b->handled += r.queries;
	r.wall = now_s() - t0;
	return r;
}

struct stage_result {
	uint64_t queries;
	uint64_t parse, lookup, write; /* cycles */
};

/* The same frames, each stage timed on its own. */
static struct stage_result run_stages(struct bench *b, uint64_t count)
{
	struct lv_query q[LV_BURST];
	struct lv_pkt_info pi[LV_BURST];
	const struct lv_query *qp[LV_BURST];
	const struct lv_cache_entry *hit[LV_BURST];
	const struct lv_worker *w = b->w;
	struct stage_result r = {0, 0, 0, 0};
	unsigned nslot = b->o.ring / LV_BURST;
	uint64_t pos = 0, burst = 0;
	double deadline = now_s() + b->o.seconds;

	for (unsigned k = 0; k < LV_BURST; k++)
		qp[k] = &q[k];
	prime_ring(b, pos);
	while (r.queries < count) {
		unsigned slot = (unsigned)(burst % nslot) * LV_BURST;
		struct rte_mbuf **pkts = &b->ring[slot];
		unsigned bad = 0;
		uint64_t c0 = rte_rdtsc();
		for (unsigned k = 0; k < LV_BURST; k++) {
			struct rte_mbuf *m = pkts[k];
			bad |= lv_pkt_classify(m, w->filter, &pi[k]);
			bad |=
			    lv_query_parse(rte_pktmbuf_mtod_offset(
					       m, uint8_t *, pi[k].dns_off),
					   pi[k].dns_len, w->hash_seed, &q[k]);
		}
		uint64_t c1 = rte_rdtsc();
		lv_cache_lookup_bulk(b->cache, qp, LV_BURST, hit);
		uint64_t c2 = rte_rdtsc();
		for (unsigned k = 0; k < LV_BURST; k++) {
			struct rte_mbuf *m = pkts[k];
			bool tc;
			uint16_t len =
			    hit[k] == NULL
				? 0
				: lv_response_from_entry(
				      rte_pktmbuf_mtod_offset(m, uint8_t *,
							      pi[k].dns_off),
				      lv_pkt_dns_room(m, &pi[k]), &q[k], hit[k],
				      w->udp_max, &tc);
			bad |= len == 0;
			lv_pkt_finish_reply(m, &pi[k], len, &w->tx_offload);
		}
		uint64_t c3 = rte_rdtsc();
		lv_cache_reader_quiescent(b->cache, w->id);
		r.parse += c1 - c0;
		r.lookup += c2 - c1;
		r.write += c3 - c2;

		if (bad)
			die("stage pass, burst %" PRIu64 ": a frame was not a "
			    "parsed hit",
			    burst);
		if (burst % SAMPLE_EVERY == 0)
			for (unsigned k = 0; k < LV_BURST; k++) {
				check_answer(
				    b, pkts[k],
				    &b->frames[(pos + k) % b->o.frames]);
				b->verified++;
			}
		refill_burst(b, slot, pos + b->o.ring);
		r.queries += LV_BURST;
		pos += LV_BURST;
		burst++;
		if (b->o.seconds > 0 && (burst & 1023) == 0 &&
		    now_s() > deadline)
			break;
	}
	return r;
}

/* Every query handed to the worker was a hit answered NOERROR; nothing
 * dropped, nothing sent to the control plane. */
static void check_worker_stats(const struct bench *b)
{
	const struct lv_stats *s = &b->w->stats;
	uint64_t drops = 0;

	for (unsigned i = 0; i < LV_DROP_MAX; i++)
		drops += s->drop[i];
	if (s->queries != b->handled || s->cache_hits != b->handled ||
	    s->cache_misses != 0 || s->punts != 0 || drops != 0 ||
	    s->rcode[LV_RCODE_NOERROR] != b->handled || s->truncated != 0 ||
	    rte_ring_count(b->w->to_control) != 0)
		die("worker stats: queries %" PRIu64 " hits %" PRIu64
		    " misses %" PRIu64 " punts %" PRIu64 " drops %" PRIu64
		    " noerror %" PRIu64 " truncated %" PRIu64
		    ", expected %" PRIu64 " hits and nothing else",
		    s->queries, s->cache_hits, s->cache_misses, s->punts, drops,
		    s->rcode[LV_RCODE_NOERROR], s->truncated, b->handled);
}

/* A free UDP port on 127.0.0.1 (checked, not held). */
static uint16_t free_udp_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		die("free port: %s", strerror(errno));
	close(fd);
	return ntohs(sa.sin_port);
}

/*
 * The socket port on loopback: bursts of 32 of the same query frames' DNS
 * messages sent by a client socket (sendmmsg), taken by lv_sockq_rx,
 * answered by lv_worker_handle_burst, sent by lv_sockq_tx and read back by
 * the client (recvmmsg), all on this lcore and all timed: the figure holds
 * both sides' system calls and the kernel's loopback path.
 */
static void run_socket(struct bench *b)
{
	static struct lv_addr_filter any; /* the socket queues' filter */
	struct lv_addr lo = {.family = AF_INET, .prefix_len = 32};
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint16_t port = free_udp_port();
	char err[256];
	struct mmsghdr msgs[LV_BURST];
	struct iovec iov[LV_BURST];
	static uint8_t answers[LV_BURST][2048];
	uint64_t queries = 0, cycles = 0, bad = 0;
	uint64_t count = b->o.count / 20 ? b->o.count / 20 : LV_BURST;

	memcpy(lo.addr, &to.sin_addr, 4);
	to.sin_port = htons(port);
	struct lv_sockq *sq = lv_sockq_open(&lo, port, LV_SOCK_PORT_BASE,
					    b->pool, err, sizeof(err));
	int cl = socket(AF_INET, SOCK_DGRAM, 0);
	if (sq == NULL || cl < 0)
		die("socket port: %s", sq ? strerror(errno) : err);
	b->w->filter = &any;
	for (uint64_t pos = 0; queries < count; pos += LV_BURST) {
		struct rte_mbuf *rx[LV_BURST], *tx[2 * LV_BURST];
		uint16_t nrx = 0, ntx;
		for (unsigned k = 0; k < LV_BURST; k++) {
			const struct frame *f =
			    &b->frames[(pos + k) % b->o.frames];
			iov[k] = (struct iovec){(void *)(f->bytes + L2L3L4),
						f->len - (unsigned)L2L3L4};
			msgs[k].msg_hdr =
			    (struct msghdr){.msg_name = &to,
					    .msg_namelen = sizeof(to),
					    .msg_iov = &iov[k],
					    .msg_iovlen = 1};
		}
		uint64_t c0 = rte_rdtsc();
		if (sendmmsg(cl, msgs, LV_BURST, 0) != LV_BURST)
			die("sendmmsg: %s", strerror(errno));
		while (nrx < LV_BURST)
			nrx += lv_sockq_rx(sq, rx + nrx, LV_BURST - nrx);
		ntx = lv_worker_handle_burst(b->w, rx, nrx, tx);
		lv_cache_reader_quiescent(b->cache, b->w->id);
		if (lv_sockq_tx(sq, tx, ntx) != ntx)
			die("socket port: %u answers not sent", ntx);
		for (unsigned k = 0; k < LV_BURST; k++) {
			iov[k] = (struct iovec){answers[k], sizeof(answers[k])};
			msgs[k].msg_hdr = (struct msghdr){.msg_iov = &iov[k],
							  .msg_iovlen = 1};
		}
		for (int got = 0; got < LV_BURST;) {
			int n = recvmmsg(cl, msgs + got,
					 LV_BURST - (unsigned)got, 0, NULL);
			if (n <= 0)
				die("recvmmsg: %s", strerror(errno));
			got += n;
		}
		cycles += rte_rdtsc() - c0;
		for (unsigned k = 0; k < LV_BURST; k++)
			bad += msgs[k].msg_len < 28 ||
			       (lv_wire_get16(answers[k] + 2) & 0x800f) !=
				   0x8000 ||
			       lv_wire_get16(answers[k] + 6) != 1;
		queries += LV_BURST;
	}
	if (bad)
		die("socket port: %" PRIu64 " answers wrong", bad);
	printf("result socket_ns_per_query %.1f (%" PRIu64
	       " queries, loopback, client and server on one core)\n",
	       (double)cycles * 1e9 / b->tsc_hz / (double)queries, queries);
	close(cl);
	lv_sockq_close(sq);
}

static void usage(const char *argv0)
{
	fprintf(
	    stderr,
	    "usage: %s [--names N] [--queries M] [--count Q] [--seconds S]\n"
	    "          [--zipf S] [--seed X] [--edns PCT] [--ring R]\n"
	    "          [--lcore L] [--offload] [--no-huge] [--callgrind]\n"
	    "  --names N    cached names (default 1000000)\n"
	    "  --queries M  prebuilt query frames, Zipf over the names "
	    "(default 1048576)\n"
	    "  --count Q    queries measured per pass (default 20000000)\n"
	    "  --seconds S  end a pass after S seconds (default: no limit)\n"
	    "  --zipf S     Zipf exponent (default 1.0)\n"
	    "  --edns PCT   share of queries with an OPT, DO=0 (default 50)\n"
	    "  --ring R     mbufs standing in for the RX ring (default "
	    "1024)\n"
	    "  --offload    act as a NIC with IPv4/UDP checksum offload\n"
	    "  --no-huge    do not use hugepages even if free\n"
	    "  --callgrind  short untimed run for valgrind --tool=callgrind\n",
	    argv0);
	exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"names", required_argument, NULL, 'n'},
	    {"queries", required_argument, NULL, 'q'},
	    {"count", required_argument, NULL, 'c'},
	    {"seconds", required_argument, NULL, 's'},
	    {"zipf", required_argument, NULL, 'z'},
	    {"seed", required_argument, NULL, 'S'},
	    {"edns", required_argument, NULL, 'e'},
	    {"ring", required_argument, NULL, 'r'},
	    {"lcore", required_argument, NULL, 'l'},
	    {"offload", no_argument, NULL, 'o'},
	    {"no-huge", no_argument, NULL, 'H'},
	    {"callgrind", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool names_set = false, frames_set = false, count_set = false;
	int c;

	*o = (struct opts){.names = 1000000,
			   .frames = 1u << 20,
			   .count = 20000000,
			   .zipf = 1.0,
			   .seed = 1,
			   .edns_pct = 50,
			   .ring = 1024,
			   .lcore = 1,
			   .huge = -1};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->names = (uint32_t)strtoul(optarg, NULL, 0);
			names_set = true;
			break;
		case 'q':
			o->frames = (uint32_t)strtoul(optarg, NULL, 0);
			frames_set = true;
			break;
		case 'c':
			o->count = strtoull(optarg, NULL, 0);
			count_set = true;
			break;
		case 's':
			o->seconds = strtod(optarg, NULL);
			break;
		case 'z':
			o->zipf = strtod(optarg, NULL);
			break;
		case 'S':
			o->seed = strtoull(optarg, NULL, 0);
			break;
		case 'e':
			o->edns_pct = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			o->ring = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'l':
			o->lcore = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			o->offload = true;
			break;
		case 'H':
			o->huge = 0;
			break;
		case 'C':
			o->callgrind = true;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (o->callgrind) {
		/* valgrind runs ~50x slower: a smaller zone and run. Names
		 * have the same length distribution whatever N is, so the
		 * per-query instruction count does not depend on N. */
		if (!names_set)
			o->names = 50000;
		if (!frames_set)
			o->frames = 1u << 16;
		if (!count_set)
			o->count = 100000;
	}
	o->ring &= ~(unsigned)(LV_BURST - 1);
	if (o->names == 0 || o->names > (1u << 24) || o->frames < o->ring ||
	    o->ring == 0 || o->edns_pct > 100 || o->zipf < 0 || o->count == 0)
		usage(argv[0]);
	o->count = (o->count + LV_BURST - 1) / LV_BURST * LV_BURST;
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct lv_cache_stats cs;
	double t;

	parse_opts(argc, argv, &b.o);
	start_eal(&b, argv[0]);
	printf("levee in-process benchmark\n");
	printf("config names %u frames %u count %" PRIu64
	       " zipf %.2f edns %u%% seed %" PRIu64 " ring %u lcore %u "
	       "checksums %s hugepages %s\n",
	       b.o.names, b.o.frames, b.o.count, b.o.zipf, b.o.edns_pct,
	       b.o.seed, b.o.ring, rte_lcore_id(),
	       b.o.offload ? "offloaded" : "software",
	       b.huge ? "yes(2MiB,--in-memory)" : "no(--no-huge)");

	t = now_s();
	make_names(&b);
	load_zone(&b);
	printf("setup zone_load_s %.2f\n", now_s() - t);
	long rss0 = rss_kb();
	t = now_s();
	fill_cache(&b);
	long rss1 = rss_kb();
	printf("setup cache_fill_s %.2f\n", now_s() - t);
	t = now_s();
	make_frames(&b);
	make_worker(&b);
	{
		/* distinct names among the frames: how much of the cache the
		 * query stream touches */
		uint8_t *seen = calloc(b.o.names, 1);
		uint32_t distinct = 0;
		for (uint32_t f = 0; f < b.o.frames && seen; f++)
			if (!seen[b.frames[f].name_idx]) {
				seen[b.frames[f].name_idx] = 1;
				distinct++;
			}
		free(seen);
		printf("setup frames_s %.2f distinct_names %u\n", now_s() - t,
		       distinct);
	}

	lv_cache_get_stats(b.cache, &cs);
	printf("cache entries %" PRIu64 " memory_bytes %" PRIu64
	       " table_bytes %" PRIu64 "\n",
	       cs.entries, cs.memory_bytes, cs.table_bytes);
	printf("result bytes_per_name %.1f\n",
	       (double)cs.memory_bytes / (double)cs.entries);
	printf("result entry_bytes_per_name %.1f\n",
	       (double)(cs.memory_bytes - cs.table_bytes) / (double)cs.entries);
	if (rss0 > 0 && rss1 > 0)
		printf("result rss_bytes_per_name %.1f\n",
		       (double)(rss1 - rss0) * 1024.0 / (double)cs.entries);

	if (b.o.callgrind) {
		/* every answer checked; nothing timed */
		run_full(&b, b.o.count, false);
		check_worker_stats(&b);
		printf("callgrind_queries %" PRIu64 "\n", b.handled);
		printf("verified answers %" PRIu64 " all hits\n", b.verified);
		return 0;
	}

	/* warm-up: one lap of the ring, every answer checked */
	run_full(&b, b.o.ring * 4ull, false);
	struct pass_result fr = run_full(&b, b.o.count, true);
	check_worker_stats(&b);
	struct stage_result sr = run_stages(&b, b.o.count);

	double ns = 1e9 / b.tsc_hz;
	double per_q = (double)fr.cycles * ns / (double)fr.queries;
	printf("tsc_hz %.0f\n", b.tsc_hz);
	printf("full queries %" PRIu64 " timed_s %.3f wall_s %.3f\n",
	       fr.queries, (double)fr.cycles / b.tsc_hz, fr.wall);
	printf("result ns_per_query %.1f\n", per_q);
	printf("result mqps %.2f\n", 1e3 / per_q);
	printf("result wall_mqps %.2f\n", (double)fr.queries / fr.wall / 1e6);
	printf("result stage_parse_ns %.1f\n",
	       (double)sr.parse * ns / (double)sr.queries);
	printf("result stage_lookup_ns %.1f\n",
	       (double)sr.lookup * ns / (double)sr.queries);
	printf("result stage_write_ns %.1f\n",
	       (double)sr.write * ns / (double)sr.queries);
	printf("result stage_sum_ns %.1f\n",
	       (double)(sr.parse + sr.lookup + sr.write) * ns /
		   (double)sr.queries);
	printf("verified answers %" PRIu64 " (sampled) all hits, %" PRIu64
	       " queries through lv_worker_handle_burst, 0 misses\n",
	       b.verified, b.handled);
	printf("target 100 ns/query: %s\n", per_q <= 100 ? "met" : "missed");

	/* the same frames from aging upstream entries, at least a second
	 * old so that every answer's TTL is rewritten */
	while (lv_cache_now(b.cache) < LV_CACHE_TICKS(1))
		rte_delay_ms(10);
	insert_answers(&b, true);
	/* the replaced zone entries: this thread is their only reader */
	lv_cache_reader_quiescent(b.cache, b.w->id);
	lv_cache_reclaim(b.cache);
	run_full(&b, b.o.ring * 4ull, false);
	struct pass_result ar = run_full(&b, b.o.count, true);
	printf("result aged_ns_per_query %.1f (entries aged %" PRIu64 " s)\n",
	       (double)ar.cycles * ns / (double)ar.queries,
	       lv_cache_now(b.cache) >> LV_CACHE_TICK_SHIFT);
	printf("result aged_hits %" PRIu64 "\n", b.w->stats.cache_hits_aged);
	run_socket(&b);
	return 0;
}
