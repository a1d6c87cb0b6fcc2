/*
 * Summing and printing the per-lcore counters (control plane only). Workers
 * write their own struct lv_stats; this file only reads them, with relaxed
 * loads, so a sum may trail the workers by a few packets but is never torn.
 */
#include <stddef.h>

#include "levee/stats.h"

static const char *const drop_names[LV_DROP_MAX] = {
#define LV_X(name, text) #name,
    LV_DROP_REASONS(LV_X)
#undef LV_X
};

static const char *const drop_texts[LV_DROP_MAX] = {
#define LV_X(name, text) text,
    LV_DROP_REASONS(LV_X)
#undef LV_X
};

static const char *const qtype_names[LV_QTYPE_MAX] = {
#define LV_X(name, code) #name,
    LV_QTYPES(LV_X)
#undef LV_X
};

static const char *const rcode_names[LV_RCODE_MAX] = {
    [LV_RCODE_NOERROR] = "noerror",   [LV_RCODE_FORMERR] = "formerr",
    [LV_RCODE_SERVFAIL] = "servfail", [LV_RCODE_NXDOMAIN] = "nxdomain",
    [LV_RCODE_NOTIMP] = "notimp",     [LV_RCODE_REFUSED] = "refused",
    [LV_RCODE_NOTAUTH] = "notauth",   [LV_RCODE_BADVERS] = "badvers",
};

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* The control plane's transfer and NOTIFY counters, summed and printed
 * alike. */
#define TRANSFER_COUNTERS(X)                                                   \
	X(xfr_axfr)                                                            \
	X(xfr_ixfr)                                                            \
	X(xfr_ixfr_full)                                                       \
	X(xfr_ixfr_current)                                                    \
	X(xfr_refused)                                                         \
	X(xfr_done)                                                            \
	X(xfr_aborted)                                                         \
	X(xfr_messages)                                                        \
	X(notify_sent)                                                         \
	X(notify_answered)                                                     \
	X(notify_failed)

void lv_stats_sum(struct lv_stats *dst, const struct lv_stats *src)
{
	dst->rx += LOAD(src->rx);
	dst->tx += LOAD(src->tx);
	dst->queries += LOAD(src->queries);
	dst->cache_hits += LOAD(src->cache_hits);
	dst->cache_hits_aged += LOAD(src->cache_hits_aged);
	dst->cache_expired += LOAD(src->cache_expired);
	dst->prefetch_asked += LOAD(src->prefetch_asked);
	dst->prefetch_ring_full += LOAD(src->prefetch_ring_full);
	dst->cache_misses += LOAD(src->cache_misses);
	dst->punts += LOAD(src->punts);
	dst->from_control += LOAD(src->from_control);
	dst->to_kernel += LOAD(src->to_kernel);
	dst->from_kernel += LOAD(src->from_kernel);
	dst->local_queries += LOAD(src->local_queries);
	dst->tcp_accepted += LOAD(src->tcp_accepted);
	dst->tcp_queries += LOAD(src->tcp_queries);
	dst->tcp_closed_idle += LOAD(src->tcp_closed_idle);
	dst->tcp_closed_overflow += LOAD(src->tcp_closed_overflow);
	dst->tcp_closed_limit += LOAD(src->tcp_closed_limit);
	dst->tcp_closed_peer += LOAD(src->tcp_closed_peer);
	dst->truncated += LOAD(src->truncated);
#define LV_X(f) dst->f += LOAD(src->f);
	TRANSFER_COUNTERS(LV_X)
#undef LV_X
	for (unsigned i = 0; i < LV_DROP_MAX; i++)
		dst->drop[i] += LOAD(src->drop[i]);
	for (unsigned i = 0; i < LV_RCODE_MAX; i++)
		dst->rcode[i] += LOAD(src->rcode[i]);
	for (unsigned i = 0; i < LV_QTYPE_MAX; i++)
		dst->qtype[i] += LOAD(src->qtype[i]);
}

const char *lv_drop_reason_name(enum lv_drop_reason r)
{
	return r < LV_DROP_MAX ? drop_names[r] : "?";
}

const char *lv_drop_reason_text(enum lv_drop_reason r)
{
	return r < LV_DROP_MAX ? drop_texts[r] : "?";
}

static void print_lower(FILE *f, const char *prefix, const char *name,
			uint64_t v)
{
	fputs(prefix, f);
	for (const char *p = name; *p; p++)
		fputc(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p, f);
	fprintf(f, " %llu\n", (unsigned long long)v);
}

void lv_stats_print(FILE *f, const struct lv_stats *s)
{
	fprintf(f, "stats:\n");
	fprintf(f, "rx %llu\n", (unsigned long long)s->rx);
	fprintf(f, "tx %llu\n", (unsigned long long)s->tx);
	fprintf(f, "queries %llu\n", (unsigned long long)s->queries);
	fprintf(f, "cache_hits %llu\n", (unsigned long long)s->cache_hits);
	fprintf(f, "cache_misses %llu\n", (unsigned long long)s->cache_misses);
	fprintf(f, "cache_hits_aged %llu\n",
		(unsigned long long)s->cache_hits_aged);
	fprintf(f, "cache_expired %llu\n",
		(unsigned long long)s->cache_expired);
	fprintf(f, "prefetch_asked %llu\n",
		(unsigned long long)s->prefetch_asked);
	fprintf(f, "prefetch_ring_full %llu\n",
		(unsigned long long)s->prefetch_ring_full);
	fprintf(f, "punts %llu\n", (unsigned long long)s->punts);
	fprintf(f, "from_control %llu\n", (unsigned long long)s->from_control);
	fprintf(f, "truncated %llu\n", (unsigned long long)s->truncated);
	fprintf(f, "to_kernel %llu\n", (unsigned long long)s->to_kernel);
	fprintf(f, "from_kernel %llu\n", (unsigned long long)s->from_kernel);
	fprintf(f, "local_queries %llu\n",
		(unsigned long long)s->local_queries);
	fprintf(f, "tcp_accepted %llu\n", (unsigned long long)s->tcp_accepted);
	fprintf(f, "tcp_queries %llu\n", (unsigned long long)s->tcp_queries);
	fprintf(f, "tcp_closed_idle %llu\n",
		(unsigned long long)s->tcp_closed_idle);
	fprintf(f, "tcp_closed_overflow %llu\n",
		(unsigned long long)s->tcp_closed_overflow);
	fprintf(f, "tcp_closed_limit %llu\n",
		(unsigned long long)s->tcp_closed_limit);
	fprintf(f, "tcp_closed_peer %llu\n",
		(unsigned long long)s->tcp_closed_peer);
#define LV_X(name) fprintf(f, #name " %llu\n", (unsigned long long)s->name);
	TRANSFER_COUNTERS(LV_X)
#undef LV_X
	for (unsigned i = 0; i < LV_DROP_MAX; i++)
		if (s->drop[i])
			print_lower(f, "drop_", drop_names[i], s->drop[i]);
	for (unsigned i = 0; i < LV_RCODE_MAX; i++) {
		if (!s->rcode[i])
			continue;
		if (rcode_names[i])
			print_lower(f, "rcode_", rcode_names[i], s->rcode[i]);
		else
			fprintf(f, "rcode_%u %llu\n", i,
				(unsigned long long)s->rcode[i]);
	}
	for (unsigned i = 0; i < LV_QTYPE_MAX; i++)
		if (s->qtype[i])
			print_lower(f, "qtype_", qtype_names[i], s->qtype[i]);
	fflush(f);
}
