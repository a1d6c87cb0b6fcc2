/*
 * Benchmark: which rte_hash key for the answer cache?
 *
 * A: the 8-byte seeded digest (lv_cache_key_hash) as the key and as the
 *    signature, each hit checked against the entry's full key: the real
 *    lv_cache_lookup_bulk() of cache/cache_lookup.c.
 * B: the full key padded to a fixed 260 bytes (name padded to 255, type,
 *    class, DO), the same digest as the signature, no check needed.
 *
 * Both tables hold the same ~1M names; lookups follow a Zipf (s = 1.0)
 * popularity over them, in bursts of 32 as a worker does, on one core.
 * The timed loop includes what the parser would do per query for each
 * design (copy the lowercased name, compute the digest; B also writes the
 * padded key), so the figures compare whole lookups. Run by hand; the
 * figures and the command are in docs/cache.md.
 *
 *   build-cache/bench/cache_keys [names] [lookups per round] [rounds]
 *   (defaults 1000000 1000000 21)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_hash.h>
#include <rte_malloc.h>

#include "levee/cache.h"
#include "levee/hash.h"

#define SEED        0x0123456789abcdefull
#define PAD_KEY_LEN 260 /* 255 name + pad, type, class, DO */
#define BURST       LV_CACHE_BULK_MAX

struct padded_key {
	uint8_t name[256]; /* zero-padded */
	uint16_t qtype;
	uint8_t do_bit;
	uint8_t qclass_lo; /* class IN fits; keeps the key at 260 bytes */
};

static uint8_t *names; /* NAME_STRIDE bytes per name, wire form */
static uint8_t *name_lens;
#define NAME_STRIDE 64

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* Unique names of 2-4 labels plus a TLD, 20-40 bytes typically: the first
 * label carries the index in base 36, then random letters. */
static void make_names(uint32_t n)
{
	static const char *tld[] = {"com", "net", "org", "de", "uk", "io"};
	names = malloc((size_t)n * NAME_STRIDE);
	name_lens = malloc(n);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *p = names + (size_t)i * NAME_STRIDE, len = 0;
		unsigned labels = 1 + rnd() % 3;
		for (unsigned l = 0; l < labels; l++) {
			unsigned ll = 1 + rnd() % 10;
			uint8_t *lab = p + len++;
			if (l == 0)
				for (uint32_t v = i;; v /= 36) {
					p[len++] = "0123456789abcdefghijklmnopq"
						   "rstuvwxyz"[v % 36];
					if (v < 36)
						break;
				}
			for (unsigned c = 0; c < ll; c++)
				p[len++] = (uint8_t)('a' + rnd() % 26);
			*lab = (uint8_t)(p + len - lab - 1);
		}
		const char *t = tld[rnd() % 6];
		p[len++] = (uint8_t)strlen(t);
		memcpy(p + len, t, strlen(t));
		len += (uint8_t)strlen(t);
		p[len++] = 0;
		name_lens[i] = len;
	}
}

/* Zipf(s = 1) ranks mapped to names through a random permutation, so
 * popular names are spread over the tables. */
static uint32_t *make_queries(uint32_t n, uint32_t count)
{
	double *cdf = malloc(sizeof(double) * n);
	uint32_t *perm = malloc(sizeof(uint32_t) * n);
	uint32_t *q = malloc(sizeof(uint32_t) * count);
	double sum = 0;
	for (uint32_t k = 0; k < n; k++) {
		sum += 1.0 / (k + 1);
		cdf[k] = sum;
		perm[k] = k;
	}
	for (uint32_t k = n - 1; k > 0; k--) {
		uint32_t j = (uint32_t)(rnd() % (k + 1)), t = perm[k];
		perm[k] = perm[j];
		perm[j] = t;
	}
	for (uint32_t i = 0; i < count; i++) {
		double u = (double)(rnd() >> 11) / 9007199254740992.0 * sum;
		uint32_t lo = 0, hi = n - 1;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		q[i] = perm[lo];
	}
	free(cdf);
	free(perm);
	return q;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* What the parser leaves for one query, for either design. */
static void fill_query(struct lv_query *q, uint32_t i)
{
	q->qname_len = name_lens[i];
	memcpy(q->lname, names + (size_t)i * NAME_STRIDE, q->qname_len);
	q->qtype = LV_TYPE_A;
	q->qclass = LV_CLASS_IN;
	q->do_bit = 0;
	q->hash = lv_cache_key_hash(SEED, q->lname, q->qname_len, LV_TYPE_A,
				    LV_CLASS_IN, 0);
}

static double run_digest(struct lv_cache *c, const uint32_t *qs, uint32_t count,
			 uint64_t *hits)
{
	static struct lv_query q[BURST];
	const struct lv_query *qp[BURST];
	const struct lv_cache_entry *out[BURST];
	for (unsigned j = 0; j < BURST; j++)
		qp[j] = &q[j];
	*hits = 0;
	double t0 = now_ns();
	for (uint32_t i = 0; i + BURST <= count; i += BURST) {
		for (unsigned j = 0; j < BURST; j++)
			fill_query(&q[j], qs[i + j]);
		lv_cache_lookup_bulk(c, qp, BURST, out);
		/* Touch the answer as the response writer will. */
		for (unsigned j = 0; j < BURST; j++)
			if (out[j])
				*hits += 1 + out[j]->wire[0];
	}
	return (now_ns() - t0) / count;
}

static double run_padded(struct rte_hash *h, const uint32_t *qs, uint32_t count,
			 uint64_t *hits)
{
	static struct lv_query q[BURST];
	static struct padded_key k[BURST];
	const void *kp[BURST];
	hash_sig_t sig[BURST];
	void *data[BURST];
	uint64_t mask;
	for (unsigned j = 0; j < BURST; j++)
		kp[j] = &k[j];
	*hits = 0;
	double t0 = now_ns();
	for (uint32_t i = 0; i + BURST <= count; i += BURST) {
		for (unsigned j = 0; j < BURST; j++) {
			fill_query(&q[j], qs[i + j]);
			memset(&k[j], 0, sizeof(k[j]));
			memcpy(k[j].name, q[j].lname, q[j].qname_len);
			k[j].qtype = q[j].qtype;
			k[j].qclass_lo = (uint8_t)q[j].qclass;
			k[j].do_bit = q[j].do_bit;
			sig[j] = lv_cache_sig(q[j].hash);
		}
		rte_hash_lookup_with_hash_bulk_data(h, kp, sig, BURST, &mask,
						    data);
		/* Touch the answer as the response writer will: B also needs
		 * the entry, only later. */
		for (uint64_t m = mask; m; m &= m - 1) {
			const struct lv_cache_entry *e =
			    data[__builtin_ctzll(m)];
			*hits += 1 + e->wire[0];
		}
	}
	return (now_ns() - t0) / count;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)atol(argv[1]) : 1000000;
	uint32_t count = argc > 2 ? (uint32_t)atol(argv[2]) : 1000000;
	unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 21;
	char prefix[64], err[256];
	snprintf(prefix, sizeof(prefix), "--file-prefix=lvbench_keys_%d",
		 (int)getpid());
	char *eal[] = {"cache_keys",
		       "--no-huge",
		       "-m",
		       "1024",
		       "--no-pci",
		       "--no-shconf",
		       "--no-telemetry",
		       prefix,
		       "-l",
		       "0",
		       "--log-level=lib.*:error"};
	if (rte_eal_init(11, eal) < 0) {
		fprintf(stderr, "cache_keys: rte_eal_init failed\n");
		return 1;
	}
	make_names(n);
	uint32_t *qs = make_queries(n, count);

	/* A: the real cache. */
	struct lv_cache_params p = {.memory_bytes = (size_t)4 << 30,
				    .max_entries = n,
				    .hash_seed = SEED,
				    .max_readers = 1,
				    .socket_id = 0,
				    .name = "bench_a"};
	struct lv_cache *c = lv_cache_create(&p, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "cache_keys: %s\n", err);
		return 1;
	}
	lv_cache_reader_register(c, 0);
	/* B: a plain LF table keyed by the padded key. */
	struct rte_hash_parameters hp = {
	    .name = "bench_b",
	    .entries = n + n / 8,
	    .key_len = PAD_KEY_LEN,
	    .socket_id = 0,
	    .extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};
	struct rte_hash *hb = rte_hash_create(&hp);
	if (hb == NULL) {
		fprintf(stderr, "cache_keys: rte_hash_create(B) failed\n");
		return 1;
	}

	uint8_t wire[64] = {0};
	for (uint32_t i = 0; i < n; i++) {
		struct lv_cache_entry_spec s = {
		    .name = names + (size_t)i * NAME_STRIDE,
		    .name_len = name_lens[i],
		    .qtype = LV_TYPE_A,
		    .qclass = LV_CLASS_IN,
		    .wire = wire,
		    .wire_len = 16,
		};
		struct lv_cache_entry *e = lv_cache_entry_new(&s, SEED);
		if (e == NULL || lv_cache_insert(c, e) != 0) {
			fprintf(stderr, "cache_keys: insert A %u failed\n", i);
			return 1;
		}
		struct padded_key k;
		memset(&k, 0, sizeof(k));
		memcpy(k.name, e->name, e->name_len);
		k.qtype = LV_TYPE_A;
		k.qclass_lo = LV_CLASS_IN;
		if (rte_hash_add_key_with_hash_data(
			hb, &k, lv_cache_sig(e->hash), e) != 0) {
			fprintf(stderr, "cache_keys: insert B %u failed\n", i);
			return 1;
		}
	}
	struct lv_cache_stats st;
	lv_cache_get_stats(c, &st);
	uint64_t avg_len = 0;
	for (uint32_t i = 0; i < n; i++)
		avg_len += name_lens[i];
	printf("%u names (mean %.1f bytes), %u Zipf(1.0) lookups per round, "
	       "%u rounds, bursts of %u\n",
	       n, (double)avg_len / n, count, rounds, BURST);
	printf("table A (8-byte digest key): %.1f MB; table B (%u-byte key): "
	       "~%.1f MB (key store %u bytes a slot)\n",
	       st.table_bytes / 1e6, PAD_KEY_LEN,
	       ((double)(hp.entries + 1) * ((8 + PAD_KEY_LEN + 15) & ~15) +
		(double)st.table_bytes - (double)(n + n / 8 + 1) * 16) /
		   1e6,
	       (8 + PAD_KEY_LEN + 15) & ~15);

	/* Short rounds, A and B alternating, medians and minima: the machine
	 * is shared and noisy (docs/cache.md). */
	double a[64], b[64];
	uint64_t ha = 0, hb_hits = 0;
	if (rounds > 64)
		rounds = 64;
	run_digest(c, qs, count, &ha); /* warm up both */
	run_padded(hb, qs, count, &hb_hits);
	for (unsigned r = 0; r < rounds; r++) {
		a[r] = run_digest(c, qs, count, &ha);
		b[r] = run_padded(hb, qs, count, &hb_hits);
		printf("round %u: A %.1f ns/lookup, B %.1f ns/lookup\n", r,
		       a[r], b[r]);
	}
	qsort(a, rounds, sizeof(double), cmp_double);
	qsort(b, rounds, sizeof(double), cmp_double);
	printf("median: A (digest + verify) %.1f ns/lookup, B (padded key) "
	       "%.1f ns/lookup, B/A %.2f\n",
	       a[rounds / 2], b[rounds / 2], b[rounds / 2] / a[rounds / 2]);
	printf("min:    A %.1f ns/lookup, B %.1f ns/lookup, B/A %.2f\n", a[0],
	       b[0], b[0] / a[0]);
	printf("checksums (hits + answer bytes) A %" PRIu64 " B %" PRIu64 "\n",
	       ha, hb_hits);

	rte_hash_free(hb);
	lv_cache_reader_unregister(c, 0);
	lv_cache_destroy(c);
	char rundir[96];
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(rundir);
	free(qs);
	free(names);
	free(name_lens);
	return 0;
}
