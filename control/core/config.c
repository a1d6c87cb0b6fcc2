/*
 * levee's configuration: the command line and the YAML file.
 *
 * Runs once at start-up, before the EAL, and again on SIGHUP
 * (lv_config_reload); nothing here is on a packet's walk. The command line
 * is handled in three explicit steps: collect the options (checking every
 * value), read the file named by --config, then apply the collected
 * options over what the file set. One table of settings serves both the
 * options and the file keys, so that a value is checked, and an error is
 * worded, the same way wherever it comes from.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <yaml.h>

#include "levee/config.h"
#include "levee/log.h"
#include "levee/wire.h"

/* Settings that are one value both on the command line and in the file. */
enum setting {
	S_IFACE,
	S_WORKERS,
	S_UDP_MAX,
	S_MISS_RING,
	S_IDLE_SLEEP,
	S_TCP_IDLE,
	S_TCP_MAX,
	S_TCP_PER_CLIENT,
	S_TCP_OUTBUF,
	S_HUGEPAGES,
	S_IN_MEMORY,
	S_TUNE_KERNEL,
	S_LOG_LEVEL,
	S_CACHE_MEMORY,
	S_CACHE_ENTRIES,
	S_IXFR_HISTORY,
	S_MAX_REQUESTS,
	S_FWD_TIMEOUT,
	S_FWD_ATTEMPT,
	S_FWD_TCP_IDLE,
	S_FWD_WAITERS,
	S_MIN_TTL,
	S_MAX_TTL,
	S_NEG_TTL,
	S_SERVFAIL_TTL,
	S_FWD_FAILS,
	S_FWD_PROBE,
	S_FWD_PROBE_MAX,
	S_FWD_PREFETCH,
	S_FWD_STALE_WINDOW,
	S_FWD_STALE_TTL,
	S_FWD_STALE_WAIT,
	S_FWD_SELECTION,
	S_FWD_PROBE_QUERY,
	S_FWD_SERVE_STALE,
	S_FWD_LOOP_DETECT,
	S_FWD_LOOP_MARKER,
	S_FWD_LOOP_PROBE,
	S_COUNT
};

/* Options that are not settings; values above any character. */
enum {
	O_CONFIG = 256 + S_COUNT,
	O_ZONE,
	O_ADDRESS,
	O_GATEWAY,
	O_NO_IN_MEMORY,
	O_TUNE_KERNEL,
	O_KEY,
	O_KEY_FILE,
	O_ALLOW_TRANSFER,
	O_NOTIFY,
	O_TCP_LISTEN,
	O_FORWARD,
	O_LISTEN
};

/* Lists whose items are strings with a grammar of their own, the same on
 * the command line and in the file. */
enum list_kind { L_ACL, L_NOTIFY, L_TCP_LISTEN, L_LISTEN };

static const struct {
	const char *option;  /* long option without "--"; NULL: file only */
	const char *section; /* YAML section */
	const char *key;     /* key in that section */
} settings[S_COUNT] = {
    [S_IFACE] = {"iface", "server", "interface"},
    [S_WORKERS] = {"workers", "server", "workers"},
    [S_UDP_MAX] = {"udp-max", "server", "udp-max-payload"},
    [S_MISS_RING] = {"miss-ring", "server", "miss-ring-size"},
    [S_IDLE_SLEEP] = {"idle-sleep-us", "server", "idle-sleep-us"},
    [S_TCP_IDLE] = {"tcp-idle-timeout", "server", "tcp-idle-timeout-ms"},
    [S_TCP_MAX] = {"tcp-max-clients", "server", "tcp-max-clients"},
    [S_TCP_PER_CLIENT] = {"tcp-max-per-client", "server", "tcp-max-per-client"},
    [S_TCP_OUTBUF] = {"tcp-out-buffer", "server", "tcp-out-buffer"},
    [S_HUGEPAGES] = {"hugepages", "server", "hugepages"},
    [S_IN_MEMORY] = {NULL, "server", "in-memory"},
    [S_TUNE_KERNEL] = {NULL, "server", "tune-kernel"},
    [S_LOG_LEVEL] = {"log-level", "server", "log-level"},
    [S_CACHE_MEMORY] = {"cache-memory", "cache", "memory"},
    [S_CACHE_ENTRIES] = {"cache-entries", "cache", "entries"},
    [S_IXFR_HISTORY] = {"ixfr-history", "transfer", "ixfr-history"},
    [S_MAX_REQUESTS] = {"max-requests", "server", "max-requests"},
    [S_FWD_TIMEOUT] = {"forward-timeout", "forwarding", "timeout-ms"},
    [S_FWD_ATTEMPT] = {"forward-attempt-timeout", "forwarding",
		       "attempt-timeout-ms"},
    [S_FWD_TCP_IDLE] = {"forward-tcp-idle", "forwarding",
			"tcp-idle-timeout-ms"},
    [S_FWD_WAITERS] = {"forward-max-waiters", "forwarding", "max-waiters"},
    [S_MIN_TTL] = {"cache-min-ttl", "cache", "min-ttl"},
    [S_MAX_TTL] = {"cache-max-ttl", "cache", "max-ttl"},
    [S_NEG_TTL] = {"cache-negative-max-ttl", "cache", "negative-max-ttl"},
    [S_SERVFAIL_TTL] = {"cache-servfail-ttl", "cache", "servfail-ttl"},
    [S_FWD_FAILS] = {"forward-fail-threshold", "forwarding", "fail-threshold"},
    [S_FWD_PROBE] = {"forward-probe-interval", "forwarding",
		     "probe-interval-ms"},
    [S_FWD_PROBE_MAX] = {"forward-probe-max-interval", "forwarding",
			 "probe-max-interval-ms"},
    [S_FWD_PREFETCH] = {"forward-prefetch", "forwarding", "prefetch-percent"},
    [S_FWD_STALE_WINDOW] = {"forward-stale-window", "forwarding",
			    "stale-window"},
    [S_FWD_STALE_TTL] = {"forward-stale-answer-ttl", "forwarding",
			 "stale-answer-ttl"},
    [S_FWD_STALE_WAIT] = {"forward-stale-client-timeout", "forwarding",
			  "stale-client-timeout-ms"},
    [S_FWD_SELECTION] = {"forward-selection", "forwarding", "selection"},
    [S_FWD_PROBE_QUERY] = {"forward-probe-query", "forwarding", "probe-query"},
    [S_FWD_SERVE_STALE] = {"forward-serve-stale", "forwarding", "serve-stale"},
    [S_FWD_LOOP_DETECT] = {"forward-loop-detect", "forwarding", "loop-detect"},
    [S_FWD_LOOP_MARKER] = {"forward-loop-marker", "forwarding", "loop-marker"},
    [S_FWD_LOOP_PROBE] = {"forward-loop-probe-interval", "forwarding",
			  "loop-probe-interval-ms"},
};

/* The forwarder's integer settings: range, and where each goes. */
static const struct {
	uint32_t min, max;
	size_t offset; /* in struct lv_forward_limits */
} fwd_ranges[] = {
    [S_FWD_TIMEOUT -
     S_FWD_TIMEOUT] = {100, 60000,
		       offsetof(struct lv_forward_limits, timeout_ms)},
    [S_FWD_ATTEMPT - S_FWD_TIMEOUT] = {50, 30000,
				       offsetof(struct lv_forward_limits,
						attempt_timeout_ms)},
    [S_FWD_TCP_IDLE -
	S_FWD_TIMEOUT] = {100, 3600000,
			  offsetof(struct lv_forward_limits, tcp_idle_ms)},
    [S_FWD_WAITERS -
	S_FWD_TIMEOUT] = {1, LV_CONFIG_REQUESTS_MAX,
			  offsetof(struct lv_forward_limits, max_waiters)},
    [S_MIN_TTL - S_FWD_TIMEOUT] = {0, 604800,
				   offsetof(struct lv_forward_limits, min_ttl)},
    [S_MAX_TTL - S_FWD_TIMEOUT] = {1, 604800,
				   offsetof(struct lv_forward_limits, max_ttl)},
    [S_NEG_TTL -
	S_FWD_TIMEOUT] = {0, 86400,
			  offsetof(struct lv_forward_limits, negative_max_ttl)},
    [S_SERVFAIL_TTL -
	S_FWD_TIMEOUT] = {0, 300,
			  offsetof(struct lv_forward_limits, servfail_ttl)},
    [S_FWD_FAILS -
	S_FWD_TIMEOUT] = {1, 100,
			  offsetof(struct lv_forward_limits, fail_threshold)},
    [S_FWD_PROBE -
	S_FWD_TIMEOUT] = {100, 600000,
			  offsetof(struct lv_forward_limits, probe_ms)},
    [S_FWD_PROBE_MAX -
	S_FWD_TIMEOUT] = {1000, 3600000,
			  offsetof(struct lv_forward_limits, probe_max_ms)},
    [S_FWD_PREFETCH -
	S_FWD_TIMEOUT] = {0, 90,
			  offsetof(struct lv_forward_limits, prefetch_pct)},
    [S_FWD_STALE_WINDOW -
	S_FWD_TIMEOUT] = {1, 604800,
			  offsetof(struct lv_forward_limits, stale_window)},
    [S_FWD_STALE_TTL -
	S_FWD_TIMEOUT] = {1, 3600,
			  offsetof(struct lv_forward_limits, stale_ttl)},
    [S_FWD_STALE_WAIT -
	S_FWD_TIMEOUT] = {0, 30000,
			  offsetof(struct lv_forward_limits, stale_wait_ms)},
};

static const char *const selections[] = {"weighted-latency", "first-available",
					 "round-robin"};

static const char *const log_levels[] = {"error", "warning", "info", "debug"};

#define GW_EXPECTED "an IPv4 or IPv6 address without a prefix"
#define ADDR_EXPECTED                                                          \
	"an IPv4 or IPv6 address with an optional /PREFIX (0..32, 0..128)"
#define ZONE_EXPECTED "ORIGIN=FILE (a domain name, \"=\", a zone file)"
#define NAME_EXPECTED "a domain name"
#define ACL_EXPECTED                                                           \
	"PREFIX, key=NAME or PREFIX,key=NAME (PREFIX: an address with an "     \
	"optional /LEN)"
#define REMOTE_EXPECTED "ADDR[@PORT][,key=NAME]"
#define LISTEN_EXPECTED "ADDR[@PORT]"
#define FORWARD_EXPECTED                                                       \
	"SUFFIX=ADDR[@PORT][,ADDR[@PORT]...] (a domain name, \"=\", "          \
	"upstream resolvers)"
#define UPSTREAM_EXPECTED "ADDR[@PORT]"
#define KEY_EXPECTED      "[ALGORITHM:]NAME:SECRET (SECRET in base64)"
#define KEY_FILE_EXPECTED                                                      \
	"[ALGORITHM:]NAME:PATH (PATH: a file holding the base64 secret)"
#define SECRET_FILE_EXPECTED "expected the secret alone, in base64"
#define DEFAULT_ALGORITHM    "hmac-sha256"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		/* one line, whatever the value quoted in it held (a YAML
		 * "a\nb" or a tab): control characters become '?' */
		for (char *c = err; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	}
	return -1;
}

/* ---- values ---------------------------------------------------------- */

/* Decimal digits only: no sign, no spaces, no base prefix. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

unsigned lv_addr_to_sockaddr(const struct lv_addr *a, uint16_t port,
			     struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a->addr, 4);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	memcpy(&s6->sin6_addr, a->addr, 16);
	return sizeof(*s6);
}

int lv_config_parse_size(const char *s, uint64_t *out)
{
	size_t n = strlen(s);
	unsigned shift = 0;
	uint64_t v;
	char num[32];

	if (n == 0 || n >= sizeof(num))
		return -1;
	switch (s[n - 1]) {
	case 'k':
	case 'K':
		shift = 10;
		n--;
		break;
	case 'm':
	case 'M':
		shift = 20;
		n--;
		break;
	case 'g':
	case 'G':
		shift = 30;
		n--;
		break;
	}
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_u64(num, &v) < 0 || v > (UINT64_MAX >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

int lv_config_parse_addr(const char *s, struct lv_addr *a)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	uint64_t prefix;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, a->addr) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, a->addr) == 1)
		a->family = AF_INET6;
	else
		return -1;
	prefix = a->family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		uint64_t max = prefix;

		/* at most 3 digits: "/0032" is not a prefix length */
		if (strlen(slash + 1) > 3 ||
		    parse_u64(slash + 1, &prefix) < 0 || prefix > max)
			return -1;
	}
	a->prefix_len = (uint8_t)prefix;
	return 0;
}

/* Zone origins and ldns: reject what ldns would not load as a name. */
static int check_dname(const char *s)
{
	ldns_rdf *rdf = NULL;

	if (*s == '\0' || ldns_str2rdf_dname(&rdf, s) != LDNS_STATUS_OK)
		return -1;
	ldns_rdf_deep_free(rdf);
	return 0;
}

/* A Linux interface name: 1..15 bytes (IFNAMSIZ - 1), no '/', ',', space. */
static int check_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15)
		return -1;
	for (; *s != '\0'; s++)
		if (*s == '/' || *s == ',' || *s == '=' ||
		    isspace((unsigned char)*s))
			return -1;
	return 0;
}

/* n hex digits at s. */
static int hexn(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return -1;
	return 0;
}

/* "0000:03:00.0" or "03:00.0" (domain:bus:device.function). */
static int check_pci(const char *s)
{
	if (strlen(s) == 12 && hexn(s, 4) == 0 && s[4] == ':')
		s += 5;
	return strlen(s) == 7 && hexn(s, 2) == 0 && s[2] == ':' &&
		       hexn(s + 3, 2) == 0 && s[5] == '.' && s[6] >= '0' &&
		       s[6] <= '7'
		   ? 0
		   : -1;
}

static enum lv_iface_kind iface_kind(const char *s)
{
	if (strncmp(s, "pcap:", 5) == 0) {
		const char *comma = strchr(s + 5, ',');

		if (comma == NULL || comma == s + 5 || comma[1] == '\0' ||
		    strchr(comma + 1, ',') != NULL)
			return LV_IFACE_NONE;
		return LV_IFACE_PCAP;
	}
	if (strncmp(s, "af_packet:", 10) == 0)
		return check_ifname(s + 10) == 0 ? LV_IFACE_AF_PACKET
						 : LV_IFACE_NONE;
	if (strncmp(s, "af_xdp:", 7) == 0)
		return check_ifname(s + 7) == 0 ? LV_IFACE_AF_XDP
						: LV_IFACE_NONE;
	if (strncmp(s, "net_", 4) == 0 && s[4] != '\0')
		return LV_IFACE_DEVARGS;
	if (check_pci(s) == 0)
		return LV_IFACE_PCI;
	return LV_IFACE_NONE;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
	    !strcasecmp(s, "on"))
		*out = true;
	else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") ||
		 !strcasecmp(s, "off"))
		*out = false;
	else
		return -1;
	return 0;
}

/* What a setting accepts, for "expected ..." in messages. */
static void setting_expected(enum setting id, char *buf, size_t len)
{
	switch (id) {
	case S_IFACE:
		snprintf(buf, len,
			 "pcap:IN,OUT, af_packet:IFNAME, "
			 "af_xdp:IFNAME, a PCI address like "
			 "0000:03:00.0 or net_... devargs");
		break;
	case S_WORKERS:
		snprintf(buf, len, "an integer 1..%u", LV_CONFIG_WORKERS_MAX);
		break;
	case S_UDP_MAX:
		snprintf(buf, len, "an integer %u..%u", LV_CONFIG_UDP_MIN,
			 LV_CONFIG_UDP_MAX);
		break;
	case S_MISS_RING:
		snprintf(buf, len, "a power of two %u..%u", LV_CONFIG_RING_MIN,
			 LV_CONFIG_RING_MAX);
		break;
	case S_IDLE_SLEEP:
		snprintf(buf, len, "an integer 0..%u",
			 LV_CONFIG_IDLE_SLEEP_MAX);
		break;
	case S_TCP_IDLE:
		snprintf(buf, len, "an integer %u..%u", LV_CONFIG_TCP_IDLE_MIN,
			 LV_CONFIG_TCP_IDLE_MAX);
		break;
	case S_TCP_MAX:
	case S_TCP_PER_CLIENT:
		snprintf(buf, len, "an integer 1..%u",
			 LV_CONFIG_TCP_CLIENTS_MAX);
		break;
	case S_TCP_OUTBUF:
		snprintf(buf, len,
			 "a size of 64K..1G (a number with an optional K, M or "
			 "G suffix)");
		break;
	case S_HUGEPAGES:
		snprintf(buf, len, "auto, on or off");
		break;
	case S_IN_MEMORY:
	case S_TUNE_KERNEL:
	case S_FWD_SERVE_STALE:
		snprintf(buf, len, "true or false");
		break;
	case S_FWD_LOOP_DETECT:
	case S_FWD_LOOP_MARKER:
		snprintf(buf, len, "on or off (true or false)");
		break;
	case S_FWD_LOOP_PROBE:
		snprintf(buf, len, "0 (no loop probes) or an integer %u..%u",
			 LV_CONFIG_LOOP_PROBE_MIN, LV_CONFIG_LOOP_PROBE_MAX);
		break;
	case S_LOG_LEVEL:
		snprintf(buf, len, "error, warning, info or debug");
		break;
	case S_FWD_SELECTION:
		snprintf(buf, len,
			 "weighted-latency, first-available or round-robin");
		break;
	case S_FWD_PROBE_QUERY:
		snprintf(buf, len, "a name and a type, like \". SOA\"");
		break;
	case S_CACHE_MEMORY:
		snprintf(buf, len,
			 "a size of at least 1M (a number with an "
			 "optional K, M or G suffix)");
		break;
	case S_CACHE_ENTRIES:
		snprintf(buf, len, "an integer 0..%u", LV_CONFIG_ENTRIES_MAX);
		break;
	case S_IXFR_HISTORY:
		snprintf(buf, len, "an integer 0..%u",
			 LV_CONFIG_IXFR_HISTORY_MAX);
		break;
	case S_MAX_REQUESTS:
		snprintf(buf, len, "an integer 1..%u", LV_CONFIG_REQUESTS_MAX);
		break;
	case S_FWD_TIMEOUT:
	case S_FWD_ATTEMPT:
	case S_FWD_TCP_IDLE:
	case S_FWD_WAITERS:
	case S_MIN_TTL:
	case S_MAX_TTL:
	case S_NEG_TTL:
	case S_SERVFAIL_TTL:
	case S_FWD_FAILS:
	case S_FWD_PROBE:
	case S_FWD_PROBE_MAX:
	case S_FWD_PREFETCH:
	case S_FWD_STALE_WINDOW:
	case S_FWD_STALE_TTL:
	case S_FWD_STALE_WAIT:
		snprintf(buf, len, "an integer %u..%u",
			 fwd_ranges[id - S_FWD_TIMEOUT].min,
			 fwd_ranges[id - S_FWD_TIMEOUT].max);
		break;
	default:
		snprintf(buf, len, "a value");
	}
}

/* Integer settings: their range and where they go. */
static int set_uint(enum setting id, const char *v, struct lv_config *cfg)
{
	uint64_t u;

	if (parse_u64(v, &u) < 0)
		return -1;
	switch (id) {
	case S_WORKERS:
		if (u < 1 || u > LV_CONFIG_WORKERS_MAX)
			return -1;
		cfg->workers = (unsigned)u;
		return 0;
	case S_UDP_MAX:
		if (u < LV_CONFIG_UDP_MIN || u > LV_CONFIG_UDP_MAX)
			return -1;
		cfg->udp_max = (uint16_t)u;
		return 0;
	case S_MISS_RING:
		if (u < LV_CONFIG_RING_MIN || u > LV_CONFIG_RING_MAX ||
		    (u & (u - 1)) != 0)
			return -1;
		cfg->miss_ring_size = (uint32_t)u;
		return 0;
	case S_IDLE_SLEEP:
		if (u > LV_CONFIG_IDLE_SLEEP_MAX)
			return -1;
		cfg->idle_sleep_us = (uint32_t)u;
		return 0;
	case S_TCP_IDLE:
		if (u < LV_CONFIG_TCP_IDLE_MIN || u > LV_CONFIG_TCP_IDLE_MAX)
			return -1;
		cfg->tcp_idle_timeout_ms = (uint32_t)u;
		return 0;
	case S_TCP_MAX:
	case S_TCP_PER_CLIENT:
		if (u < 1 || u > LV_CONFIG_TCP_CLIENTS_MAX)
			return -1;
		*(id == S_TCP_MAX ? &cfg->tcp_max_clients
				  : &cfg->tcp_max_per_client) = (uint32_t)u;
		return 0;
	case S_CACHE_ENTRIES:
		if (u > LV_CONFIG_ENTRIES_MAX)
			return -1;
		cfg->cache_entries = (uint32_t)u;
		return 0;
	case S_IXFR_HISTORY:
		if (u > LV_CONFIG_IXFR_HISTORY_MAX)
			return -1;
		cfg->ixfr_history = (uint32_t)u;
		return 0;
	case S_MAX_REQUESTS:
		if (u < 1 || u > LV_CONFIG_REQUESTS_MAX)
			return -1;
		cfg->max_requests = (uint32_t)u;
		return 0;
	case S_FWD_TIMEOUT:
	case S_FWD_ATTEMPT:
	case S_FWD_TCP_IDLE:
	case S_FWD_WAITERS:
	case S_MIN_TTL:
	case S_MAX_TTL:
	case S_NEG_TTL:
	case S_SERVFAIL_TTL:
	case S_FWD_FAILS:
	case S_FWD_PROBE:
	case S_FWD_PROBE_MAX:
	case S_FWD_PREFETCH:
	case S_FWD_STALE_WINDOW:
	case S_FWD_STALE_TTL:
	case S_FWD_STALE_WAIT:
		if (u < fwd_ranges[id - S_FWD_TIMEOUT].min ||
		    u > fwd_ranges[id - S_FWD_TIMEOUT].max)
			return -1;
		*(uint32_t *)((char *)&cfg->fwd +
			      fwd_ranges[id - S_FWD_TIMEOUT].offset) =
		    (uint32_t)u;
		return 0;
	case S_FWD_LOOP_PROBE:
		/* 0 turns the probes off; below a second they would be
		 * traffic of their own */
		if (u != 0 && (u < LV_CONFIG_LOOP_PROBE_MIN ||
			       u > LV_CONFIG_LOOP_PROBE_MAX))
			return -1;
		cfg->fwd.loop_probe_ms = (uint32_t)u;
		return 0;
	default:
		return -1;
	}
}

/* One of selections[] into fwd->selection. 0 or -1. */
static int set_selection(const char *v, struct lv_forward_limits *fwd)
{
	for (unsigned i = 0; i < sizeof(selections) / sizeof(*selections); i++)
		if (strcmp(v, selections[i]) == 0) {
			fwd->selection = (enum lv_fwd_selection)i;
			return 0;
		}
	return -1;
}

/* Check v and store it in cfg. 0, -1 when invalid, -2 out of memory. */
static int set_value(struct lv_config *cfg, enum setting id, const char *v)
{
	enum lv_iface_kind kind;
	uint64_t size;
	char *dup;

	switch (id) {
	case S_IFACE:
		kind = iface_kind(v);
		if (kind == LV_IFACE_NONE)
			return -1;
		if ((dup = strdup(v)) == NULL)
			return -2;
		free(cfg->iface);
		cfg->iface = dup;
		cfg->iface_kind = kind;
		return 0;
	case S_HUGEPAGES:
		if (!strcmp(v, "auto"))
			cfg->hugepages = LV_HUGE_AUTO;
		else if (!strcmp(v, "on"))
			cfg->hugepages = LV_HUGE_ON;
		else if (!strcmp(v, "off"))
			cfg->hugepages = LV_HUGE_OFF;
		else
			return -1;
		return 0;
	case S_IN_MEMORY:
		return parse_bool(v, &cfg->in_memory);
	case S_TUNE_KERNEL:
		return parse_bool(v, &cfg->tune_kernel);
	case S_LOG_LEVEL:
		for (size_t i = 0; i < 4; i++) {
			if (strcmp(v, log_levels[i]) != 0)
				continue;
			if ((dup = strdup(v)) == NULL)
				return -2;
			free(cfg->log_level);
			cfg->log_level = dup;
			return 0;
		}
		return -1;
	case S_CACHE_MEMORY:
		if (lv_config_parse_size(v, &size) < 0 ||
		    size < LV_CONFIG_CACHE_MEM_MIN)
			return -1;
		cfg->cache_memory = size;
		return 0;
	case S_TCP_OUTBUF:
		if (lv_config_parse_size(v, &size) < 0 || size < (64u << 10) ||
		    size > (1u << 30))
			return -1;
		cfg->tcp_out_buffer = size;
		return 0;
	case S_FWD_SELECTION:
		return set_selection(v, &cfg->fwd);
	case S_FWD_PROBE_QUERY:
		return lv_config_probe_query(v, &cfg->fwd);
	case S_FWD_SERVE_STALE:
		return parse_bool(v, &cfg->fwd.serve_stale);
	case S_FWD_LOOP_DETECT:
		return parse_bool(v, &cfg->fwd.loop_detect);
	case S_FWD_LOOP_MARKER:
		return parse_bool(v, &cfg->fwd.loop_marker);
	default:
		return set_uint(id, v, cfg);
	}
}

/* ---- lists ----------------------------------------------------------- */

static int add_zone(struct lv_config *cfg, const char *origin, const char *file,
		    const char *where)
{
	struct lv_zone_conf *z;

	z = realloc(cfg->zones, (cfg->n_zones + 1) * sizeof(*z));
	if (z == NULL)
		return -1;
	cfg->zones = z;
	z = &cfg->zones[cfg->n_zones];
	memset(z, 0, sizeof(*z));
	z->origin = strdup(origin);
	z->file = strdup(file);
	z->where = strdup(where);
	cfg->n_zones++; /* counted even if a strdup failed: free() copes */
	return z->origin && z->file && z->where ? 0 : -1;
}

/* Append a to the list (*list, *n). 0 or -1 (out of memory). */
static int append_addr(struct lv_addr **list, unsigned *n,
		       const struct lv_addr *a)
{
	struct lv_addr *l = realloc(*list, (*n + 1) * sizeof(*l));

	if (l == NULL)
		return -1;
	*list = l;
	l[(*n)++] = *a;
	return 0;
}

static int add_addr(struct lv_config *cfg, const struct lv_addr *a)
{
	return append_addr(&cfg->addrs, &cfg->n_addrs, a);
}

/* A gateway is an address without a prefix, one per family. 0, -1 when it
 * has a prefix or its family has one already, -2 out of memory. */
static int add_gateway(struct lv_config *cfg, const struct lv_addr *a)
{
	unsigned full = a->family == AF_INET ? 32 : 128;

	if (a->prefix_len != full)
		return -1;
	for (unsigned i = 0; i < cfg->n_gateways; i++)
		if (cfg->gateways[i].family == a->family)
			return -1;
	return append_addr(&cfg->gateways, &cfg->n_gateways, a) < 0 ? -2 : 0;
}

/* Append to eal_argv, keeping it NULL-terminated. */
static int add_eal(struct lv_config *cfg, const char *arg)
{
	char **v = realloc(cfg->eal_argv, (cfg->eal_argc + 2) * sizeof(*v));

	if (v == NULL)
		return -1;
	cfg->eal_argv = v;
	v[cfg->eal_argc] = strdup(arg);
	if (v[cfg->eal_argc] == NULL)
		return -1;
	v[++cfg->eal_argc] = NULL;
	return 0;
}

/* Origins are equal ignoring case and one trailing dot. */
static bool same_origin(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

bool lv_config_same_name(const char *a, const char *b)
{
	return same_origin(a, b);
}

static int check_duplicate_zones(const struct lv_config *cfg, char *err,
				 size_t errlen)
{
	for (unsigned i = 1; i < cfg->n_zones; i++)
		for (unsigned j = 0; j < i; j++)
			if (same_origin(cfg->zones[i].origin,
					cfg->zones[j].origin))
				return fail(err, errlen,
					    "%s: duplicate zone \"%s\" (first "
					    "at %s)",
					    cfg->zones[i].where,
					    cfg->zones[i].origin,
					    cfg->zones[j].where);
	return 0;
}

/* ---- transfer lists -------------------------------------------------- */

/* "key=NAME" → a copy of NAME; NULL when s is not that (or no memory:
 * *oom set). */
static char *key_ref(const char *s, bool *oom_)
{
	char *k;

	if (strncmp(s, "key=", 4) != 0 || check_dname(s + 4) < 0)
		return NULL;
	if ((k = strdup(s + 4)) == NULL)
		*oom_ = true;
	return k;
}

int lv_config_parse_host_port(const char *s, size_t n, struct lv_addr *a,
			      uint16_t *port)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *at = memchr(s, '@', n);
	uint64_t p = 53;

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[at ? (size_t)(at - s) : n] = '\0';
	if (strchr(buf, '/') || lv_config_parse_addr(buf, a) < 0)
		return -1;
	if (at) {
		char num[8];
		size_t pn = n - (size_t)(at - s) - 1;
		if (pn == 0 || pn >= sizeof(num))
			return -1;
		memcpy(num, at + 1, pn);
		num[pn] = '\0';
		if (parse_u64(num, &p) < 0 || p == 0 || p > 65535)
			return -1;
	}
	*port = (uint16_t)p;
	return 0;
}

/* Parse one ACL item into *acl. 0, -1 bad, -2 out of memory. */
static int parse_acl(const char *s, struct lv_acl_conf *acl)
{
	const char *comma = strchr(s, ',');
	bool no_mem = false;

	memset(acl, 0, sizeof(*acl));
	if (strncmp(s, "key=", 4) == 0) {
		acl->key = key_ref(s, &no_mem);
		return acl->key ? 0 : no_mem ? -2 : -1;
	}
	char buf[INET6_ADDRSTRLEN + 8];
	size_t n = comma ? (size_t)(comma - s) : strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (lv_config_parse_addr(buf, &acl->prefix) < 0)
		return -1;
	acl->has_prefix = true;
	if (comma && (acl->key = key_ref(comma + 1, &no_mem)) == NULL)
		return no_mem ? -2 : -1;
	return 0;
}

/* Parse a NOTIFY target (keyed: may carry ",key=NAME") or a listener. */
static int parse_remote(const char *s, bool keyed, struct lv_remote_conf *r)
{
	const char *comma = strchr(s, ',');
	size_t n = comma ? (size_t)(comma - s) : strlen(s);
	bool no_mem = false;

	memset(r, 0, sizeof(*r));
	if (n == 0 || lv_config_parse_host_port(s, n, &r->addr, &r->port) < 0)
		return -1;
	if (comma && (!keyed || (r->key = key_ref(comma + 1, &no_mem)) == NULL))
		return no_mem ? -2 : -1;
	return 0;
}

static void *grow(void *list, unsigned n, size_t size)
{
	return realloc(list, (n + 1) * size);
}

/* Parse s as an item of kind and append it to its list: zone z's own
 * (NULL: the global one). 0, -1 bad value, -2 out of memory. */
static int add_list_item(struct lv_config *cfg, struct lv_zone_conf *z,
			 enum list_kind kind, const char *s, unsigned line)
{
	struct lv_acl_conf acl;
	struct lv_remote_conf r;
	int rc = kind == L_ACL ? parse_acl(s, &acl)
			       : parse_remote(s, kind == L_NOTIFY, &r);
	struct lv_acl_conf **al = z ? &z->acl : &cfg->acl;
	unsigned *an = z ? &z->n_acl : &cfg->n_acl;
	struct lv_remote_conf **rl = kind == L_TCP_LISTEN ? &cfg->tcp_listen
				     : kind == L_LISTEN   ? &cfg->listen
				     : z                  ? &z->notify
							  : &cfg->notify;
	unsigned *rn = kind == L_TCP_LISTEN ? &cfg->n_tcp_listen
		       : kind == L_LISTEN   ? &cfg->n_listen
		       : z                  ? &z->n_notify
					    : &cfg->n_notify;
	void *l;

	if (rc < 0)
		return rc;
	acl.line = r.line = line;
	if (kind == L_ACL) {
		if ((l = grow(*al, *an, sizeof(acl))) == NULL) {
			free(acl.key);
			return -2;
		}
		*al = l;
		(*al)[(*an)++] = acl;
		return 0;
	}
	if ((l = grow(*rl, *rn, sizeof(r))) == NULL) {
		free(r.key);
		return -2;
	}
	*rl = l;
	(*rl)[(*rn)++] = r;
	return 0;
}

static const char *list_expected(enum list_kind kind)
{
	return kind == L_ACL      ? ACL_EXPECTED
	       : kind == L_NOTIFY ? REMOTE_EXPECTED
				  : LISTEN_EXPECTED;
}

/* secret_file: where secret was read from, NULL when given inline. */
static int add_key(struct lv_config *cfg, const char *name, const char *alg,
		   const char *secret, const char *secret_file,
		   const char *where)
{
	struct lv_key_conf *k = grow(cfg->keys, cfg->n_keys, sizeof(*k));

	if (k == NULL)
		return -2;
	cfg->keys = k;
	k = &cfg->keys[cfg->n_keys++];
	memset(k, 0, sizeof(*k));
	k->name = strdup(name);
	k->algorithm = strdup(alg ? alg : DEFAULT_ALGORITHM);
	k->secret = strdup(secret);
	k->secret_file = secret_file ? strdup(secret_file) : NULL;
	k->where = strdup(where);
	return k->name && k->algorithm && k->secret && k->where &&
		       (secret_file == NULL || k->secret_file)
		   ? 0
		   : -2;
}

/* Base64 as RFC 4648 writes it (what tsig.c decodes): groups of four of
 * A-Z a-z 0-9 + /, with one or two '=' only at the very end. */
static bool is_base64(const char *s, size_t n)
{
	size_t pad = 0;

	if (n == 0 || n % 4 != 0)
		return false;
	while (pad < 2 && s[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/')
			return false;
	return true;
}

/*
 * The secret files already warned about, so that one read again (each
 * SIGHUP parses the whole configuration anew) is warned about once, and
 * again only once its mode or content changes. Taken by whichever thread
 * parses a configuration.
 */
#define N_WARNED 16
static pthread_mutex_t warned_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	dev_t dev;
	ino_t ino;
	mode_t mode;
	struct timespec ctime;
} warned[N_WARNED];
static unsigned n_warned;

static bool first_warning(const struct stat *st)
{
	bool first = true;
	unsigned i;

	pthread_mutex_lock(&warned_lock);
	for (i = 0; i < n_warned && first; i++)
		first = !(warned[i].dev == st->st_dev &&
			  warned[i].ino == st->st_ino &&
			  warned[i].mode == st->st_mode &&
			  warned[i].ctime.tv_sec == st->st_ctim.tv_sec &&
			  warned[i].ctime.tv_nsec == st->st_ctim.tv_nsec);
	if (first) {
		i = n_warned < N_WARNED ? n_warned++ : n_warned - 1;
		warned[i].dev = st->st_dev;
		warned[i].ino = st->st_ino;
		warned[i].mode = st->st_mode;
		warned[i].ctime = st->st_ctim;
	}
	pthread_mutex_unlock(&warned_lock);
	return first;
}

/*
 * Read a TSIG secret from path into *secret (heap, the caller frees): the
 * file's content with leading and trailing whitespace cut, which must be
 * base64. in names the option or FILE:LINE: key for messages, which never
 * show the secret. Warns (one line, see first_warning()) when group or
 * others may read the file, as ssh does for private keys, but goes on. 0, -1 with one line in
 * err, -2 out of memory.
 */
static int read_secret_file(const char *path, const char *in, char **secret,
			    char *err, size_t errlen)
{
	char buf[LV_CONFIG_SECRET_FILE_MAX + 1];
	size_t n = 0, start = 0;
	struct stat st;
	ssize_t got;
	int fd, rc = -1;

	*secret = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail(err, errlen, "%s: cannot read secret file %s: %s",
			    in, path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fail(err, errlen, "%s: cannot read secret file %s: %s", in,
		     path,
		     S_ISDIR(st.st_mode) ? strerror(EISDIR)
					 : "not a regular file");
		goto out;
	}
	while (n < sizeof(buf) &&
	       (got = read(fd, buf + n, sizeof(buf) - n)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fail(err, errlen, "%s: cannot read secret file %s: %s",
			     in, path, strerror(errno));
			goto out;
		}
		n += (size_t)got;
	}
	if (n == sizeof(buf)) {
		fail(err, errlen,
		     "%s: secret file %s is larger than %d bytes "
		     "(" SECRET_FILE_EXPECTED ")",
		     in, path, LV_CONFIG_SECRET_FILE_MAX);
		goto out;
	}
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	while (start < n && isspace((unsigned char)buf[start]))
		start++;
	if (start == n) {
		fail(err, errlen,
		     "%s: secret file %s is empty (" SECRET_FILE_EXPECTED ")",
		     in, path);
		goto out;
	}
	if (!is_base64(buf + start, n - start)) {
		fail(err, errlen,
		     "%s: secret file %s is not base64 (" SECRET_FILE_EXPECTED
		     ")",
		     in, path);
		goto out;
	}
	if ((*secret = strndup(buf + start, n - start)) == NULL) {
		rc = -2;
		goto out;
	}
	if ((st.st_mode & (S_IRGRP | S_IROTH)) && first_warning(&st))
		lv_warn("%s: secret file %s is readable by group or others "
			"(mode %04o): chmod 600 it",
			in, path, (unsigned)(st.st_mode & 07777));
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* Is s (of length n) an algorithm name rather than a key name? */
static bool looks_like_algorithm(const char *s, size_t n)
{
	return n > 5 && strncasecmp(s, "hmac-", 5) == 0;
}

/*
 * --key-file [ALGORITHM:]NAME:PATH. The path may hold colons; the name may
 * not. A first part that starts with "hmac-" is the algorithm when two
 * more parts follow. 0, -1 bad value (the caller words it), -2 out of
 * memory, -3 the file could not be used (message in err).
 */
static int parse_key_file_option(struct lv_config *cfg, const char *s,
				 char *err, size_t errlen)
{
	const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char alg[64], name[LDNS_MAX_DOMAINLEN * 4 + 1], *secret;
	bool has_alg = c2 && looks_like_algorithm(s, (size_t)(c1 - s));
	const char *n0 = has_alg ? c1 + 1 : s, *n1 = has_alg ? c2 : c1;
	int rc;

	if (c1 == NULL || (has_alg && (size_t)(c1 - s) >= sizeof(alg)) ||
	    (size_t)(n1 - n0) >= sizeof(name) || n1 == n0 || n1[1] == '\0')
		return -1;
	snprintf(name, sizeof(name), "%.*s", (int)(n1 - n0), n0);
	if (has_alg)
		snprintf(alg, sizeof(alg), "%.*s", (int)(c1 - s), s);
	if (check_dname(name) < 0)
		return -1;
	rc = read_secret_file(n1 + 1, "--key-file", &secret, err, errlen);
	if (rc < 0)
		return rc == -1 ? -3 : rc;
	rc = add_key(cfg, name, has_alg ? alg : NULL, secret, n1 + 1,
		     "--key-file");
	explicit_bzero(secret, strlen(secret));
	free(secret);
	return rc;
}

/* --key [ALGORITHM:]NAME:SECRET, the form kdig -y takes. */
static int parse_key_option(struct lv_config *cfg, const char *s)
{
	const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char alg[64], name[LDNS_MAX_DOMAINLEN * 4 + 1];
	const char *n0 = c2 ? c1 + 1 : s, *n1 = c2 ? c2 : c1;

	if (c1 == NULL || (c2 && (size_t)(c1 - s) >= sizeof(alg)) ||
	    (size_t)(n1 - n0) >= sizeof(name) || n1 == n0 || n1[1] == '\0')
		return -1;
	snprintf(name, sizeof(name), "%.*s", (int)(n1 - n0), n0);
	if (c2)
		snprintf(alg, sizeof(alg), "%.*s", (int)(c1 - s), s);
	if (check_dname(name) < 0 || (c2 && alg[0] == '\0'))
		return -1;
	return add_key(cfg, name, c2 ? alg : NULL, n1 + 1, NULL, "--key");
}

static const struct lv_key_conf *find_key(const struct lv_config *cfg,
					  const char *name)
{
	for (unsigned i = 0; i < cfg->n_keys; i++)
		if (same_origin(cfg->keys[i].name, name))
			return &cfg->keys[i];
	return NULL;
}

/* key (NULL: none) must be defined; in names the list for messages, and
 * line (0: an option) the line of the config file that gave the item. */
static int check_key_ref(const struct lv_config *cfg, const char *key,
			 unsigned line, const char *in, char *err,
			 size_t errlen)
{
	if (key == NULL || find_key(cfg, key) != NULL)
		return 0;
	if (line > 0 && cfg->config_file != NULL)
		return fail(err, errlen,
			    "%s:%u: %s: key \"%s\" is not defined (keys:, "
			    "--key or --key-file)",
			    cfg->config_file, line, in, key);
	return fail(err, errlen,
		    "%s: key \"%s\" is not defined (keys:, --key or "
		    "--key-file)",
		    in, key);
}

/* Keys are unique; every key an ACL or NOTIFY target names exists. Each
 * message names the file and line (or the option) that gave the item. */
static int check_keys(const struct lv_config *cfg, char *err, size_t errlen)
{
	char in[64 + 4096];

	for (unsigned i = 1; i < cfg->n_keys; i++)
		for (unsigned j = 0; j < i; j++)
			if (same_origin(cfg->keys[i].name, cfg->keys[j].name))
				return fail(err, errlen,
					    "%s: duplicate key \"%s\" (first "
					    "at %s)",
					    cfg->keys[i].where,
					    cfg->keys[i].name,
					    cfg->keys[j].where);
	for (unsigned i = 0; i < cfg->n_acl; i++)
		if (check_key_ref(cfg, cfg->acl[i].key, cfg->acl[i].line,
				  "transfer.allow", err, errlen) < 0)
			return -1;
	for (unsigned i = 0; i < cfg->n_notify; i++)
		if (check_key_ref(cfg, cfg->notify[i].key, cfg->notify[i].line,
				  "transfer.notify", err, errlen) < 0)
			return -1;
	for (unsigned z = 0; z < cfg->n_zones; z++) {
		const struct lv_zone_conf *zc = &cfg->zones[z];
		/* an item of the file names its own line; else the zone's
		 * "where" says which option or line gave the zone */
		char here[64 + 4096];
		snprintf(in, sizeof(in), "%s: zone %s", zc->where, zc->origin);
		snprintf(here, sizeof(here), "zone %s", zc->origin);
		for (unsigned i = 0; i < zc->n_acl; i++)
			if (check_key_ref(cfg, zc->acl[i].key, zc->acl[i].line,
					  zc->acl[i].line ? here : in, err,
					  errlen) < 0)
				return -1;
		for (unsigned i = 0; i < zc->n_notify; i++)
			if (check_key_ref(cfg, zc->notify[i].key,
					  zc->notify[i].line,
					  zc->notify[i].line ? here : in, err,
					  errlen) < 0)
				return -1;
	}
	return 0;
}

static const struct lv_zone_conf *zone_conf(const struct lv_config *cfg,
					    const char *origin)
{
	for (unsigned i = 0; i < cfg->n_zones; i++)
		if (same_origin(cfg->zones[i].origin, origin))
			return &cfg->zones[i];
	return NULL;
}

void lv_config_zone_acl(const struct lv_config *cfg, const char *origin,
			const struct lv_acl_conf **acl, unsigned *n)
{
	const struct lv_zone_conf *z = zone_conf(cfg, origin);

	*acl = z && z->has_acl ? z->acl : cfg->acl;
	*n = z && z->has_acl ? z->n_acl : cfg->n_acl;
}

void lv_config_zone_notify(const struct lv_config *cfg, const char *origin,
			   const struct lv_remote_conf **notify, unsigned *n)
{
	const struct lv_zone_conf *z = zone_conf(cfg, origin);

	*notify = z && z->has_notify ? z->notify : cfg->notify;
	*n = z && z->has_notify ? z->n_notify : cfg->n_notify;
}

/* ---- life cycle ------------------------------------------------------ */

void lv_config_init_forward_limits(struct lv_forward_limits *fwd)
{
	*fwd =
	    (struct lv_forward_limits){.timeout_ms = 3000,
				       .attempt_timeout_ms = 1000,
				       .tcp_idle_ms = 10000,
				       .max_waiters = 4096,
				       .min_ttl = 0,
				       .max_ttl = 86400,
				       .negative_max_ttl = 3600,
				       .servfail_ttl = 5,
				       .fail_threshold = 3,
				       .probe_ms = 1000,
				       .probe_max_ms = 60000,
				       .prefetch_pct = 10,
				       .serve_stale = true,
				       .stale_window = 86400,
				       .stale_ttl = 30,
				       .stale_wait_ms = 1800,
				       .selection = LV_SELECT_WEIGHTED_LATENCY,
				       /* ". SOA" */
				       .probe_qname_len = 1,
				       .probe_qtype = LV_TYPE_SOA,
				       .loop_detect = true,
				       .loop_marker = true,
				       .loop_probe_ms = 30000};
}

void lv_config_init(struct lv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = 1;
	cfg->udp_max = 1232;
	cfg->cache_memory = 256ull << 20;
	cfg->cache_entries = 0;
	cfg->miss_ring_size = 4096;
	cfg->idle_sleep_us = LV_CONFIG_IDLE_SLEEP_DEFAULT;
	cfg->tcp_idle_timeout_ms = 10000;
	cfg->tcp_max_clients = 4096;
	cfg->tcp_max_per_client = 512;
	cfg->tcp_out_buffer = 1u << 20;
	cfg->ixfr_history = LV_CONFIG_IXFR_HISTORY_DEF;
	cfg->max_requests = LV_CONFIG_REQUESTS_DEF;
	lv_config_init_forward_limits(&cfg->fwd);
	cfg->mbufs = 0;
	cfg->hugepages = LV_HUGE_AUTO;
	cfg->in_memory = true;
	cfg->log_level = strdup("info"); /* NULL on OOM: readers check */
	cfg->iface_kind = LV_IFACE_NONE;
}

static void free_acl(struct lv_acl_conf *a, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(a[i].key);
	free(a);
}

static void free_remotes(struct lv_remote_conf *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(r[i].key);
	free(r);
}

static void free_strv(char **v, int n)
{
	for (int i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

void lv_config_free(struct lv_config *cfg)
{
	if (cfg == NULL)
		return;
	for (unsigned i = 0; i < cfg->n_zones; i++) {
		struct lv_zone_conf *z = &cfg->zones[i];
		free(z->origin);
		free(z->file);
		free(z->where);
		free_acl(z->acl, z->n_acl);
		free_remotes(z->notify, z->n_notify);
	}
	free(cfg->zones);
	for (unsigned i = 0; i < cfg->n_keys; i++) {
		struct lv_key_conf *k = &cfg->keys[i];
		free(k->name);
		free(k->algorithm);
		if (k->secret != NULL) /* no copy of it left behind */
			explicit_bzero(k->secret, strlen(k->secret));
		free(k->secret);
		free(k->secret_file);
		free(k->where);
	}
	free(cfg->keys);
	free_acl(cfg->acl, cfg->n_acl);
	free_remotes(cfg->notify, cfg->n_notify);
	free_remotes(cfg->tcp_listen, cfg->n_tcp_listen);
	free_remotes(cfg->listen, cfg->n_listen);
	lv_config_forward_free(cfg);
	free(cfg->addrs);
	free(cfg->gateways);
	free(cfg->config_file);
	free(cfg->iface);
	free(cfg->log_level);
	free_strv(cfg->eal_argv, cfg->eal_argc);
	free_strv(cfg->argv, cfg->argc);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- the YAML file --------------------------------------------------- */

struct yfile {
	const char *path;
	yaml_document_t *doc;
	struct lv_config *cfg;
	char *err;
	size_t errlen;
};

static const char *const top_keys[] = {"server",  "cache",     "zones",
				       "eal",     "transfer",  "keys",
				       "forward", "forwarding"};
static const char *const server_keys[] = {
    "interface",           "workers",
    "addresses",           "udp-max-payload",
    "miss-ring-size",      "hugepages",
    "in-memory",           "log-level",
    "idle-sleep-us",       "gateways",
    "tcp-idle-timeout-ms", "tcp-max-clients",
    "tcp-max-per-client",  "tcp-out-buffer",
    "tcp-listen",          "tune-kernel",
    "max-requests",        "listen"};
static const int server_ids[] = {S_IFACE,
				 S_WORKERS,
				 -1,
				 S_UDP_MAX,
				 S_MISS_RING,
				 S_HUGEPAGES,
				 S_IN_MEMORY,
				 S_LOG_LEVEL,
				 S_IDLE_SLEEP,
				 -2,
				 S_TCP_IDLE,
				 S_TCP_MAX,
				 S_TCP_PER_CLIENT,
				 S_TCP_OUTBUF,
				 -3,
				 S_TUNE_KERNEL,
				 S_MAX_REQUESTS,
				 -6};
static const char *const cache_keys[] = {"memory",           "entries",
					 "min-ttl",          "max-ttl",
					 "negative-max-ttl", "servfail-ttl"};
static const int cache_ids[] = {S_CACHE_MEMORY, S_CACHE_ENTRIES,
				S_MIN_TTL,      S_MAX_TTL,
				S_NEG_TTL,      S_SERVFAIL_TTL};
static const char *const forwarding_keys[] = {"timeout-ms",
					      "attempt-timeout-ms",
					      "tcp-idle-timeout-ms",
					      "max-waiters",
					      "fail-threshold",
					      "probe-interval-ms",
					      "probe-max-interval-ms",
					      "selection",
					      "probe-query",
					      "prefetch-percent",
					      "serve-stale",
					      "stale-window",
					      "stale-answer-ttl",
					      "stale-client-timeout-ms",
					      "loop-detect",
					      "loop-marker",
					      "loop-probe-interval-ms"};
static const int forwarding_ids[] = {
    S_FWD_TIMEOUT,     S_FWD_ATTEMPT,    S_FWD_TCP_IDLE,    S_FWD_WAITERS,
    S_FWD_FAILS,       S_FWD_PROBE,      S_FWD_PROBE_MAX,   S_FWD_SELECTION,
    S_FWD_PROBE_QUERY, S_FWD_PREFETCH,   S_FWD_SERVE_STALE, S_FWD_STALE_WINDOW,
    S_FWD_STALE_TTL,   S_FWD_STALE_WAIT, S_FWD_LOOP_DETECT, S_FWD_LOOP_MARKER,
    S_FWD_LOOP_PROBE};
static const char *const forward_keys[] = {"name", "upstreams", "selection"};
static const char *const upstream_keys[] = {"address", "port", "weight"};
static const char *const zone_keys[] = {"origin", "file", "allow-transfer",
					"notify"};
static const char *const transfer_keys[] = {"allow", "notify", "ixfr-history"};
static const int transfer_ids[] = {-4, -5, S_IXFR_HISTORY};
static const char *const key_keys[] = {"name", "algorithm", "secret",
				       "secret-file"};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static unsigned long line_of(const yaml_node_t *n)
{
	return (unsigned long)n->start_mark.line +
	       1; /* libyaml counts from 0 */
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* An empty value ("key:" with nothing after it) or an explicit null. */
static bool is_null(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE &&
	       n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (n->data.scalar.length == 0 || !strcmp(scalar(n), "~") ||
		!strcmp(scalar(n), "null"));
}

static const char *kind_of(const yaml_node_t *n)
{
	return n->type == YAML_SEQUENCE_NODE  ? "a list"
	       : n->type == YAML_MAPPING_NODE ? "a mapping"
					      : "a value";
}

static yaml_node_t *node(struct yfile *y, int id)
{
	return yaml_document_get_node(y->doc, id);
}

static int unknown_key(struct yfile *y, const yaml_node_t *k, const char *in,
		       const char *const *keys, int nkeys)
{
	char list[256] = "";

	for (int i = 0; i < nkeys; i++) {
		if (i > 0)
			strncat(list, ", ", sizeof(list) - strlen(list) - 1);
		strncat(list, keys[i], sizeof(list) - strlen(list) - 1);
	}
	return fail(y->err, y->errlen,
		    "%s:%lu: unknown key \"%s\" in %s (expected one of: %s)",
		    y->path, line_of(k), scalar(k), in, list);
}

/* Index of pair's key in keys; -1 (message set) if unknown or repeated. */
static int map_key(struct yfile *y, const yaml_node_t *map,
		   const yaml_node_pair_t *pair, const char *in,
		   const char *const *keys, int nkeys)
{
	const yaml_node_t *k = node(y, pair->key);
	int i;

	if (k->type != YAML_SCALAR_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s: expected a key, got %s", y->path,
			    line_of(k), in, kind_of(k));
	for (i = 0; i < nkeys && strcmp(scalar(k), keys[i]) != 0; i++)
		;
	if (i == nkeys)
		return unknown_key(y, k, in, keys, nkeys);
	for (const yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < pair; p++) {
		const yaml_node_t *pk = node(y, p->key);

		if (pk->type == YAML_SCALAR_NODE &&
		    !strcmp(scalar(pk), keys[i]))
			return fail(y->err, y->errlen,
				    "%s:%lu: duplicate key \"%s\" in %s (first "
				    "at line %lu)",
				    y->path, line_of(k), keys[i], in,
				    line_of(pk));
	}
	return i;
}

static int oom(char *err, size_t errlen)
{
	return fail(err, errlen, "out of memory");
}

static int yaml_setting(struct yfile *y, enum setting id, const yaml_node_t *v)
{
	char exp[160];
	int rc = -1;

	if (v->type == YAML_SCALAR_NODE)
		rc = set_value(y->cfg, id, scalar(v));
	if (rc == 0)
		return 0;
	if (rc == -2)
		return oom(y->err, y->errlen);
	setting_expected(id, exp, sizeof(exp));
	if (v->type != YAML_SCALAR_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s.%s: expected %s, got %s", y->path,
			    line_of(v), settings[id].section, settings[id].key,
			    exp, kind_of(v));
	return fail(y->err, y->errlen, "%s:%lu: %s.%s: expected %s, got \"%s\"",
		    y->path, line_of(v), settings[id].section, settings[id].key,
		    exp, scalar(v));
}

static int yaml_one_gateway(struct yfile *y, const yaml_node_t *v)
{
	struct lv_addr a;
	int rc = lv_config_parse_addr(scalar(v), &a) < 0
		     ? -1
		     : add_gateway(y->cfg, &a);

	if (rc == -2)
		return oom(y->err, y->errlen);
	if (rc < 0)
		return fail(y->err, y->errlen,
			    "%s:%lu: server.gateways: expected " GW_EXPECTED
			    ", got \"%s\"",
			    y->path, line_of(v), scalar(v));
	return 0;
}

/* server.gateways: a list of gateway addresses, or one. */
static int yaml_gateways(struct yfile *y, const yaml_node_t *v)
{
	const yaml_node_item_t *it;

	if (v->type == YAML_SCALAR_NODE)
		return yaml_one_gateway(y, v);
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: server.gateways: expected a list of "
			    "addresses, got %s",
			    y->path, line_of(v), kind_of(v));
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		const yaml_node_t *n = node(y, *it);
		if (n->type != YAML_SCALAR_NODE)
			return fail(
			    y->err, y->errlen,
			    "%s:%lu: server.gateways: expected " GW_EXPECTED
			    ", got %s",
			    y->path, line_of(n), kind_of(n));
		if (yaml_one_gateway(y, n) < 0)
			return -1;
	}
	return 0;
}

/* server.addresses: a list of addresses, or one. */
static int yaml_addresses(struct yfile *y, const yaml_node_t *v)
{
	const yaml_node_item_t *it, *end;
	struct lv_addr a;

	if (v->type == YAML_MAPPING_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: server.addresses: expected a list of "
			    "addresses, got a mapping",
			    y->path, line_of(v));
	if (v->type == YAML_SCALAR_NODE)
		return lv_config_parse_addr(scalar(v), &a) < 0
			   ? fail(y->err, y->errlen,
				  "%s:%lu: server.addresses: "
				  "expected " ADDR_EXPECTED ", got \"%s\"",
				  y->path, line_of(v), scalar(v))
		       : add_addr(y->cfg, &a) < 0 ? oom(y->err, y->errlen)
						  : 0;
	end = v->data.sequence.items.top;
	for (it = v->data.sequence.items.start; it < end; it++) {
		const yaml_node_t *n = node(y, *it);

		if (n->type != YAML_SCALAR_NODE)
			return fail(
			    y->err, y->errlen,
			    "%s:%lu: server.addresses: expected " ADDR_EXPECTED
			    ", got %s",
			    y->path, line_of(n), kind_of(n));
		if (yaml_addresses(y, n) < 0)
			return -1;
	}
	return 0;
}

/* A list of strings of the given kind (or one), appended to zone z's
 * list (NULL: the global one). in names the key for messages. */
static int yaml_list(struct yfile *y, const yaml_node_t *v, enum list_kind kind,
		     struct lv_zone_conf *z, const char *in)
{
	const yaml_node_item_t *it;

	if (v->type == YAML_MAPPING_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s: expected a list of %s, got a mapping",
			    y->path, line_of(v), in, list_expected(kind));
	if (v->type == YAML_SCALAR_NODE) {
		if (is_null(v))
			return 0;
		int rc = add_list_item(y->cfg, z, kind, scalar(v),
				       (unsigned)line_of(v));
		if (rc == -2)
			return oom(y->err, y->errlen);
		if (rc < 0)
			return fail(y->err, y->errlen,
				    "%s:%lu: %s: expected %s, got \"%s\"",
				    y->path, line_of(v), in,
				    list_expected(kind), scalar(v));
		return 0;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		const yaml_node_t *n = node(y, *it);
		if (n->type != YAML_SCALAR_NODE)
			return fail(y->err, y->errlen,
				    "%s:%lu: %s: expected %s, got %s", y->path,
				    line_of(n), in, list_expected(kind),
				    kind_of(n));
		if (yaml_list(y, n, kind, z, in) < 0)
			return -1;
	}
	return 0;
}

/* One key of a section: ids >= 0 are settings, the rest lists. */
static int yaml_section_value(struct yfile *y, const char *section,
			      const char *key, int id, const yaml_node_t *v)
{
	char in[64];

	snprintf(in, sizeof(in), "%s.%s", section, key);
	switch (id) {
	case -1:
		return yaml_addresses(y, v);
	case -2:
		return yaml_gateways(y, v);
	case -3:
		return yaml_list(y, v, L_TCP_LISTEN, NULL, in);
	case -4:
		return yaml_list(y, v, L_ACL, NULL, in);
	case -5:
		return yaml_list(y, v, L_NOTIFY, NULL, in);
	case -6:
		return yaml_list(y, v, L_LISTEN, NULL, in);
	default:
		return yaml_setting(y, (enum setting)id, v);
	}
}

/* A zone or secret file named in the config is relative to the config's
 * directory. */
static char *join_dir(const char *cfg_path, const char *file)
{
	const char *slash = strrchr(cfg_path, '/');
	size_t d;
	char *out;

	if (file[0] == '/' || slash == NULL)
		return strdup(file);
	d = (size_t)(slash - cfg_path);
	out = malloc(d + 1 + strlen(file) + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, cfg_path, d);
	out[d] = '/';
	strcpy(out + d + 1, file);
	return out;
}

/* keys[i]: the secret, inline or from secret-file (joined to the config
 * file's directory like zone paths). *secret is a copy, *file the path
 * read or NULL. 0, -1 (message set). */
static int yaml_key_secret(struct yfile *y, const char *in,
			   const yaml_node_t *item, const yaml_node_t *inline_,
			   const yaml_node_t *file, char **secret, char **path)
{
	char where[64 + 4096];
	int rc;

	*secret = *path = NULL;
	if (inline_ != NULL && file != NULL)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s: give \"secret\" or \"secret-file\", "
			    "not both",
			    y->path, line_of(file), in);
	if (inline_ == NULL && file == NULL)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s: missing \"secret\" or "
			    "\"secret-file\"",
			    y->path, line_of(item), in);
	if (inline_ != NULL) {
		*secret = strdup(scalar(inline_));
		return *secret ? 0 : oom(y->err, y->errlen);
	}
	if ((*path = join_dir(y->path, scalar(file))) == NULL)
		return oom(y->err, y->errlen);
	snprintf(where, sizeof(where), "%s:%lu: %s.secret-file", y->path,
		 line_of(file), in);
	rc = read_secret_file(*path, where, secret, y->err, y->errlen);
	if (rc == 0)
		return 0;
	free(*path);
	*path = NULL;
	return rc == -2 ? oom(y->err, y->errlen) : -1;
}

/* One item of keys:, a mapping of name, algorithm, secret or secret-file. */
static int yaml_key(struct yfile *y, const char *in, const yaml_node_t *item)
{
	const yaml_node_t *n[4] = {0};
	char where[64 + 4096], *secret, *path;
	int rc;

	if (item->type != YAML_MAPPING_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s: expected a mapping with name, "
			    "algorithm and secret (or secret-file), got %s",
			    y->path, line_of(item), in, kind_of(item));
	for (const yaml_node_pair_t *p = item->data.mapping.pairs.start;
	     p < item->data.mapping.pairs.top; p++) {
		int k = map_key(y, item, p, in, key_keys, N_OF(key_keys));
		if (k < 0)
			return -1;
		n[k] = node(y, p->value);
		if (n[k]->type != YAML_SCALAR_NODE || is_null(n[k]))
			return fail(y->err, y->errlen,
				    "%s:%lu: %s.%s: expected a value", y->path,
				    line_of(n[k]), in, key_keys[k]);
	}
	if (n[0] == NULL)
		return fail(y->err, y->errlen, "%s:%lu: %s: missing \"name\"",
			    y->path, line_of(item), in);
	if (check_dname(scalar(n[0])) < 0)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s.name: expected " NAME_EXPECTED
			    ", got \"%s\"",
			    y->path, line_of(n[0]), in, scalar(n[0]));
	if (yaml_key_secret(y, in, item, n[2], n[3], &secret, &path) < 0)
		return -1;
	snprintf(where, sizeof(where), "%s:%lu", y->path, line_of(item));
	rc = add_key(y->cfg, scalar(n[0]), n[1] ? scalar(n[1]) : NULL, secret,
		     path, where);
	explicit_bzero(secret, strlen(secret));
	free(secret);
	free(path);
	return rc < 0 ? oom(y->err, y->errlen) : 0;
}

/* keys: a list of {name, algorithm, secret | secret-file}; algorithm may
 * be left out. */
static int yaml_keys(struct yfile *y, const yaml_node_t *v)
{
	const yaml_node_item_t *it;
	unsigned i = 0;
	char in[32];

	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: keys: expected a list of {name, "
			    "algorithm, secret} mappings, got %s",
			    y->path, line_of(v), kind_of(v));
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++, i++) {
		snprintf(in, sizeof(in), "keys[%u]", i);
		if (yaml_key(y, in, node(y, *it)) < 0)
			return -1;
	}
	return 0;
}

/* server: and cache: mappings of settings. */
static int yaml_section(struct yfile *y, const yaml_node_t *v, const char *name,
			const char *const *keys, const int *ids, int nkeys)
{
	const yaml_node_pair_t *p;

	if (is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s: expected a mapping of keys, got %s",
			    y->path, line_of(v), name, kind_of(v));
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		int i = map_key(y, v, p, name, keys, nkeys);
		const yaml_node_t *val = node(y, p->value);

		if (i < 0)
			return -1;
		if (yaml_section_value(y, name, keys[i], ids[i], val) < 0)
			return -1;
	}
	return 0;
}

/* Add zone number i from its origin and file nodes. */
static int yaml_add_zone(struct yfile *y, unsigned i, const yaml_node_t *item,
			 const yaml_node_t *origin, const yaml_node_t *file)
{
	char where[64 + 4096];
	char *path;
	int rc;

	if (origin == NULL || file == NULL)
		return fail(y->err, y->errlen,
			    "%s:%lu: zones[%u]: missing \"%s\"", y->path,
			    line_of(item), i,
			    origin == NULL ? "origin" : "file");
	if (origin->type != YAML_SCALAR_NODE || check_dname(scalar(origin)))
		return fail(y->err, y->errlen,
			    "%s:%lu: zones[%u].origin: expected " NAME_EXPECTED
			    ", got \"%s\"",
			    y->path, line_of(origin), i,
			    origin->type == YAML_SCALAR_NODE ? scalar(origin)
							     : kind_of(origin));
	if (file->type != YAML_SCALAR_NODE || scalar(file)[0] == '\0')
		return fail(
		    y->err, y->errlen,
		    "%s:%lu: zones[%u].file: expected a path, got \"%s\"",
		    y->path, line_of(file), i,
		    file->type == YAML_SCALAR_NODE ? scalar(file)
						   : kind_of(file));
	if ((path = join_dir(y->path, scalar(file))) == NULL)
		return oom(y->err, y->errlen);
	snprintf(where, sizeof(where), "%s:%lu", y->path, line_of(item));
	rc = add_zone(y->cfg, scalar(origin), path, where);
	free(path);
	return rc < 0 ? oom(y->err, y->errlen) : 0;
}

/* zones[i].allow-transfer and .notify, for the zone just added. */
static int yaml_zone_lists(struct yfile *y, unsigned i, const yaml_node_t *acl,
			   const yaml_node_t *notify)
{
	struct lv_zone_conf *z = &y->cfg->zones[y->cfg->n_zones - 1];
	char in[64];

	if (acl) {
		z->has_acl = true;
		snprintf(in, sizeof(in), "zones[%u].allow-transfer", i);
		if (yaml_list(y, acl, L_ACL, z, in) < 0)
			return -1;
	}
	if (notify) {
		z->has_notify = true;
		snprintf(in, sizeof(in), "zones[%u].notify", i);
		if (yaml_list(y, notify, L_NOTIFY, z, in) < 0)
			return -1;
	}
	return 0;
}

static int yaml_zones(struct yfile *y, const yaml_node_t *v)
{
	const yaml_node_item_t *it;
	unsigned i = 0;
	char in[32];

	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: zones: expected a list of {origin, file} "
			    "mappings, got %s",
			    y->path, line_of(v), kind_of(v));
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++, i++) {
		const yaml_node_t *item = node(y, *it), *n[4] = {0};

		snprintf(in, sizeof(in), "zones[%u]", i);
		if (item->type != YAML_MAPPING_NODE)
			return fail(
			    y->err, y->errlen,
			    "%s:%lu: %s: expected a mapping with origin "
			    "and file, got %s",
			    y->path, line_of(item), in, kind_of(item));
		for (const yaml_node_pair_t *p = item->data.mapping.pairs.start;
		     p < item->data.mapping.pairs.top; p++) {
			int k = map_key(y, item, p, in, zone_keys, 4);

			if (k < 0)
				return -1;
			n[k] = node(y, p->value);
		}
		if (yaml_add_zone(y, i, item, n[0], n[1]) < 0 ||
		    yaml_zone_lists(y, i, n[2], n[3]) < 0)
			return -1;
	}
	return 0;
}

/* One upstream: "ADDR[@PORT]" or {address, port, weight}. */
static int yaml_upstream(struct yfile *y, struct lv_forward_conf *f,
			 const yaml_node_t *u, const char *in)
{
	const yaml_node_t *n[3] = {0};
	char buf[INET6_ADDRSTRLEN + 8];
	uint64_t port = 53, weight = 1;
	int rc;

	if (u->type == YAML_SCALAR_NODE) {
		rc = lv_config_forward_upstream(f, scalar(u), 1);
		goto done;
	}
	if (u->type != YAML_MAPPING_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s: expected " UPSTREAM_EXPECTED
			    " or {address, port, weight}, got %s",
			    y->path, line_of(u), in, kind_of(u));
	for (const yaml_node_pair_t *p = u->data.mapping.pairs.start;
	     p < u->data.mapping.pairs.top; p++) {
		int k = map_key(y, u, p, in, upstream_keys, 3);
		if (k < 0)
			return -1;
		n[k] = node(y, p->value);
		if (n[k]->type != YAML_SCALAR_NODE)
			return fail(y->err, y->errlen,
				    "%s:%lu: %s.%s: expected a value, got %s",
				    y->path, line_of(n[k]), in,
				    upstream_keys[k], kind_of(n[k]));
	}
	if (n[0] == NULL)
		return fail(y->err, y->errlen, "%s:%lu: %s: no address",
			    y->path, line_of(u), in);
	if ((n[1] && (parse_u64(scalar(n[1]), &port) < 0 || port == 0 ||
		      port > 65535)) ||
	    (n[2] && parse_u64(scalar(n[2]), &weight) < 0))
		return fail(y->err, y->errlen,
			    "%s:%lu: %s: expected port 1..65535 and weight "
			    "1..%u",
			    y->path, line_of(u), in, LV_CONFIG_WEIGHT_MAX);
	snprintf(buf, sizeof(buf), "%s@%u", scalar(n[0]), (unsigned)port);
	rc = lv_config_forward_upstream(f, buf,
					weight > 65535 ? 0 : (unsigned)weight);
done:
	if (rc == -2)
		return oom(y->err, y->errlen);
	if (rc < 0)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s: expected " UPSTREAM_EXPECTED
			    " (an address, not a name; at most %u upstreams, "
			    "weight 1..%u)",
			    y->path, line_of(u), in, LV_CONFIG_UPSTREAMS_MAX,
			    LV_CONFIG_WEIGHT_MAX);
	return 0;
}

/* forward[i]: {name, upstreams, selection}. */
static int yaml_forward(struct yfile *y, const yaml_node_t *item, unsigned i)
{
	const yaml_node_t *n[3] = {0};
	char in[48], where[4096 + 32];
	struct lv_forward_conf *f;
	int rc;

	snprintf(in, sizeof(in), "forward[%u]", i);
	if (item->type != YAML_MAPPING_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s: expected a mapping with name and "
			    "upstreams, got %s",
			    y->path, line_of(item), in, kind_of(item));
	for (const yaml_node_pair_t *p = item->data.mapping.pairs.start;
	     p < item->data.mapping.pairs.top; p++) {
		int k = map_key(y, item, p, in, forward_keys, 3);
		if (k < 0)
			return -1;
		n[k] = node(y, p->value);
	}
	if (n[0] == NULL || n[0]->type != YAML_SCALAR_NODE || n[1] == NULL)
		return fail(y->err, y->errlen,
			    "%s:%lu: %s: needs name (a domain name) and "
			    "upstreams (a list)",
			    y->path, line_of(item), in);
	snprintf(where, sizeof(where), "%s:%lu", y->path, line_of(item));
	f = lv_config_forward_add(y->cfg, scalar(n[0]), where, &rc);
	if (f == NULL)
		return rc == -2
			   ? oom(y->err, y->errlen)
			   : fail(y->err, y->errlen,
				  "%s:%lu: %s.name: expected " NAME_EXPECTED
				  ", got \"%s\"",
				  y->path, line_of(n[0]), in, scalar(n[0]));
	if (n[2] != NULL) {
		struct lv_forward_limits sel;
		if (n[2]->type != YAML_SCALAR_NODE ||
		    set_selection(scalar(n[2]), &sel) != 0)
			return fail(y->err, y->errlen,
				    "%s:%lu: %s.selection: expected "
				    "weighted-latency, first-available or "
				    "round-robin, got %s",
				    y->path, line_of(n[2]), in,
				    n[2]->type == YAML_SCALAR_NODE
					? scalar(n[2])
					: kind_of(n[2]));
		f->selection = (int)sel.selection;
	}
	snprintf(in, sizeof(in), "forward[%u].upstreams", i);
	if (n[1]->type != YAML_SEQUENCE_NODE)
		return yaml_upstream(y, f, n[1], in);
	for (const yaml_node_item_t *it = n[1]->data.sequence.items.start;
	     it < n[1]->data.sequence.items.top; it++)
		if (yaml_upstream(y, f, node(y, *it), in) < 0)
			return -1;
	return 0;
}

static int yaml_forwards(struct yfile *y, const yaml_node_t *v)
{
	unsigned i = 0;

	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: forward: expected a list of {name, "
			    "upstreams} mappings, got %s",
			    y->path, line_of(v), kind_of(v));
	for (const yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++, i++)
		if (yaml_forward(y, node(y, *it), i) < 0)
			return -1;
	return 0;
}

static int yaml_eal(struct yfile *y, const yaml_node_t *v)
{
	const yaml_node_item_t *it;

	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: eal: expected a list of strings, got %s",
			    y->path, line_of(v), kind_of(v));
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		const yaml_node_t *n = node(y, *it);

		if (n->type != YAML_SCALAR_NODE)
			return fail(y->err, y->errlen,
				    "%s:%lu: eal: expected a list of strings, "
				    "got %s in it",
				    y->path, line_of(n), kind_of(n));
		if (add_eal(y->cfg, scalar(n)) < 0)
			return oom(y->err, y->errlen);
	}
	return 0;
}

static int yaml_root(struct yfile *y, const yaml_node_t *root)
{
	const yaml_node_pair_t *p;
	int rc = 0;

	if (root == NULL || is_null(root))
		return 0; /* an empty file sets nothing */
	if (root->type != YAML_MAPPING_NODE)
		return fail(y->err, y->errlen,
			    "%s:%lu: expected a mapping of sections (server, "
			    "cache, zones, eal, transfer, keys, forward, "
			    "forwarding), got %s",
			    y->path, line_of(root), kind_of(root));
	for (p = root->data.mapping.pairs.start;
	     rc == 0 && p < root->data.mapping.pairs.top; p++) {
		const yaml_node_t *v = node(y, p->value);

		switch (map_key(y, root, p, "the top level", top_keys,
				N_OF(top_keys))) {
		case 0:
			rc = yaml_section(y, v, "server", server_keys,
					  server_ids, N_OF(server_keys));
			break;
		case 1:
			rc = yaml_section(y, v, "cache", cache_keys, cache_ids,
					  N_OF(cache_keys));
			break;
		case 2:
			rc = yaml_zones(y, v);
			break;
		case 3:
			rc = yaml_eal(y, v);
			break;
		case 4:
			rc = yaml_section(y, v, "transfer", transfer_keys,
					  transfer_ids, N_OF(transfer_keys));
			break;
		case 5:
			rc = yaml_keys(y, v);
			break;
		case 6:
			rc = yaml_forwards(y, v);
			break;
		case 7:
			rc =
			    yaml_section(y, v, "forwarding", forwarding_keys,
					 forwarding_ids, N_OF(forwarding_keys));
			break;
		default:
			rc = -1;
		}
	}
	return rc;
}

static int yaml_syntax_error(const yaml_parser_t *ps, const char *path,
			     char *err, size_t errlen)
{
	/* reader errors (bad encoding) have no problem_mark, only mark */
	size_t line = ps->error == YAML_READER_ERROR ? ps->mark.line
						     : ps->problem_mark.line;

	if (ps->error == YAML_MEMORY_ERROR || ps->problem == NULL)
		return oom(err, errlen);
	if (ps->context != NULL)
		return fail(err, errlen, "%s:%zu: YAML syntax error: %s (%s)",
			    path, line + 1, ps->problem, ps->context);
	return fail(err, errlen, "%s:%zu: YAML syntax error: %s", path,
		    line + 1, ps->problem);
}

int lv_config_load_file(const char *path, struct lv_config *cfg, char *err,
			size_t errlen)
{
	yaml_parser_t ps;
	yaml_document_t doc;
	struct yfile y = {path, &doc, cfg, err, errlen};
	struct stat st;
	char *dup;
	FILE *f;
	int rc = -1;

	f = fopen(path, "rb");
	if (f == NULL)
		return fail(err, errlen, "%s: cannot open: %s", path,
			    strerror(errno));
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f); /* fopen() lets a directory through */
		return fail(err, errlen, "%s: cannot open: %s", path,
			    strerror(EISDIR));
	}
	if (!yaml_parser_initialize(&ps)) {
		fclose(f);
		return oom(err, errlen);
	}
	yaml_parser_set_input_file(&ps, f);
	if (!yaml_parser_load(&ps, &doc)) {
		yaml_syntax_error(&ps, path, err, errlen);
		goto out;
	}
	if ((dup = strdup(path)) == NULL) {
		oom(err, errlen);
	} else {
		free(cfg->config_file);
		cfg->config_file = dup;
		rc = yaml_root(&y, yaml_document_get_root_node(&doc));
		if (rc == 0)
			rc = check_duplicate_zones(cfg, err, errlen);
		/* each message names this file and its line itself */
		if (rc == 0)
			rc = check_keys(cfg, err, errlen);
	}
	yaml_document_delete(&doc);
out:
	yaml_parser_delete(&ps);
	fclose(f);
	return rc;
}

/* ---- the command line ------------------------------------------------ */

/*
 * The options as given, every value already checked, waiting to be applied
 * over the file. Strings point into argv.
 */
struct cli {
	const char *config;
	const char *value[S_COUNT]; /* last one given wins; NULL: not given */
	bool no_in_memory;
	bool tune_kernel;
	const char **zones; /* "ORIGIN=FILE" */
	unsigned n_zones;
	struct lv_addr *addrs;
	unsigned n_addrs;
	struct lv_addr *gateways;
	unsigned n_gateways;
	/* --key, --key-file, --allow-transfer, --notify, --tcp-listen, in
	 * order; key is the index of a --key-file's key in scratch */
	struct {
		int opt;
		const char *arg;
		unsigned key;
	} * lists;
	unsigned n_lists;
	/* every list option applied once, to check it; a --key-file's
	 * secret is read there, once, and copied from there when applied */
	struct lv_config scratch;
	int eal_first; /* index in argv of the first EAL argument */
	bool help, version;
};

static const struct option long_options[] = {
    {"config", required_argument, NULL, O_CONFIG},
    {"zone", required_argument, NULL, O_ZONE},
    {"address", required_argument, NULL, O_ADDRESS},
    {"gateway", required_argument, NULL, O_GATEWAY},
    {"iface", required_argument, NULL, 256 + S_IFACE},
    {"workers", required_argument, NULL, 256 + S_WORKERS},
    {"udp-max", required_argument, NULL, 256 + S_UDP_MAX},
    {"cache-memory", required_argument, NULL, 256 + S_CACHE_MEMORY},
    {"cache-entries", required_argument, NULL, 256 + S_CACHE_ENTRIES},
    {"miss-ring", required_argument, NULL, 256 + S_MISS_RING},
    {"idle-sleep-us", required_argument, NULL, 256 + S_IDLE_SLEEP},
    {"tcp-idle-timeout", required_argument, NULL, 256 + S_TCP_IDLE},
    {"tcp-max-clients", required_argument, NULL, 256 + S_TCP_MAX},
    {"tcp-max-per-client", required_argument, NULL, 256 + S_TCP_PER_CLIENT},
    {"tcp-out-buffer", required_argument, NULL, 256 + S_TCP_OUTBUF},
    {"hugepages", required_argument, NULL, 256 + S_HUGEPAGES},
    {"log-level", required_argument, NULL, 256 + S_LOG_LEVEL},
    {"no-in-memory", no_argument, NULL, O_NO_IN_MEMORY},
    {"tune-kernel", no_argument, NULL, O_TUNE_KERNEL},
    {"key", required_argument, NULL, O_KEY},
    {"key-file", required_argument, NULL, O_KEY_FILE},
    {"allow-transfer", required_argument, NULL, O_ALLOW_TRANSFER},
    {"notify", required_argument, NULL, O_NOTIFY},
    {"tcp-listen", required_argument, NULL, O_TCP_LISTEN},
    {"ixfr-history", required_argument, NULL, 256 + S_IXFR_HISTORY},
    {"max-requests", required_argument, NULL, 256 + S_MAX_REQUESTS},
    {"forward", required_argument, NULL, O_FORWARD},
    {"listen", required_argument, NULL, O_LISTEN},
    {"forward-timeout", required_argument, NULL, 256 + S_FWD_TIMEOUT},
    {"forward-attempt-timeout", required_argument, NULL, 256 + S_FWD_ATTEMPT},
    {"forward-tcp-idle", required_argument, NULL, 256 + S_FWD_TCP_IDLE},
    {"forward-max-waiters", required_argument, NULL, 256 + S_FWD_WAITERS},
    {"forward-fail-threshold", required_argument, NULL, 256 + S_FWD_FAILS},
    {"forward-probe-interval", required_argument, NULL, 256 + S_FWD_PROBE},
    {"forward-probe-max-interval", required_argument, NULL,
     256 + S_FWD_PROBE_MAX},
    {"forward-selection", required_argument, NULL, 256 + S_FWD_SELECTION},
    {"forward-probe-query", required_argument, NULL, 256 + S_FWD_PROBE_QUERY},
    {"forward-prefetch", required_argument, NULL, 256 + S_FWD_PREFETCH},
    {"forward-serve-stale", required_argument, NULL, 256 + S_FWD_SERVE_STALE},
    {"forward-stale-window", required_argument, NULL, 256 + S_FWD_STALE_WINDOW},
    {"forward-stale-answer-ttl", required_argument, NULL,
     256 + S_FWD_STALE_TTL},
    {"forward-stale-client-timeout", required_argument, NULL,
     256 + S_FWD_STALE_WAIT},
    {"forward-loop-detect", required_argument, NULL, 256 + S_FWD_LOOP_DETECT},
    {"forward-loop-marker", required_argument, NULL, 256 + S_FWD_LOOP_MARKER},
    {"forward-loop-probe-interval", required_argument, NULL,
     256 + S_FWD_LOOP_PROBE},
    {"cache-min-ttl", required_argument, NULL, 256 + S_MIN_TTL},
    {"cache-max-ttl", required_argument, NULL, 256 + S_MAX_TTL},
    {"cache-negative-max-ttl", required_argument, NULL, 256 + S_NEG_TTL},
    {"cache-servfail-ttl", required_argument, NULL, 256 + S_SERVFAIL_TTL},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* What an option's value should look like, for "expected ...". */
static void option_expected(int val, char *buf, size_t len)
{
	if (val == O_CONFIG)
		snprintf(buf, len, "a file name");
	else if (val == O_ZONE)
		snprintf(buf, len, ZONE_EXPECTED);
	else if (val == O_ADDRESS)
		snprintf(buf, len, ADDR_EXPECTED);
	else if (val == O_GATEWAY)
		snprintf(buf, len, GW_EXPECTED);
	else if (val == O_KEY)
		snprintf(buf, len, KEY_EXPECTED);
	else if (val == O_KEY_FILE)
		snprintf(buf, len, KEY_FILE_EXPECTED);
	else if (val == O_ALLOW_TRANSFER)
		snprintf(buf, len, ACL_EXPECTED);
	else if (val == O_NOTIFY)
		snprintf(buf, len, REMOTE_EXPECTED);
	else if (val == O_TCP_LISTEN || val == O_LISTEN)
		snprintf(buf, len, LISTEN_EXPECTED);
	else if (val == O_FORWARD)
		snprintf(buf, len, FORWARD_EXPECTED);
	else
		setting_expected((enum setting)(val - 256), buf, len);
}

static const char *option_name(int val)
{
	for (const struct option *o = long_options; o->name != NULL; o++)
		if (o->val == val)
			return o->name;
	return "?";
}

/* --key-file is not here: its file is read once, by cli_list. */
static int apply_list_option(struct lv_config *cfg, int val, const char *arg)
{
	switch (val) {
	case O_KEY:
		return parse_key_option(cfg, arg);
	case O_ALLOW_TRANSFER:
		return add_list_item(cfg, NULL, L_ACL, arg, 0);
	case O_NOTIFY:
		return add_list_item(cfg, NULL, L_NOTIFY, arg, 0);
	case O_FORWARD:
		return lv_config_forward_option(cfg, arg);
	case O_LISTEN:
		return add_list_item(cfg, NULL, L_LISTEN, arg, 0);
	default:
		return add_list_item(cfg, NULL, L_TCP_LISTEN, arg, 0);
	}
}

static int cli_zone(struct cli *c, const char *v)
{
	const char **z;
	const char *eq = strchr(v, '=');
	char origin[LDNS_MAX_DOMAINLEN * 4 + 1];
	size_t n = eq != NULL ? (size_t)(eq - v) : 0;

	if (eq == NULL || n == 0 || n >= sizeof(origin) || eq[1] == '\0')
		return -1;
	memcpy(origin, v, n);
	origin[n] = '\0';
	if (check_dname(origin) < 0)
		return -1;
	z = realloc(c->zones, (c->n_zones + 1) * sizeof(*z));
	if (z == NULL)
		return -2;
	c->zones = z;
	c->zones[c->n_zones++] = v;
	return 0;
}

static int cli_address(struct cli *c, const char *v)
{
	struct lv_addr a, *n;

	if (lv_config_parse_addr(v, &a) < 0)
		return -1;
	n = realloc(c->addrs, (c->n_addrs + 1) * sizeof(*n));
	if (n == NULL)
		return -2;
	c->addrs = n;
	c->addrs[c->n_addrs++] = a;
	return 0;
}

/* A list option: checked now (into c->scratch), applied later. 0, -1 bad
 * value, -2 out of memory, -3 message in err. */
static int cli_list(struct cli *c, int val, const char *arg, char *err,
		    size_t errlen)
{
	unsigned key = c->scratch.n_keys;
	int rc = val == O_KEY_FILE
		     ? parse_key_file_option(&c->scratch, arg, err, errlen)
		     : apply_list_option(&c->scratch, val, arg);
	void *l;

	if (rc < 0)
		return rc;
	if ((l = realloc(c->lists, (c->n_lists + 1) * sizeof(*c->lists))) ==
	    NULL)
		return -2;
	c->lists = l;
	c->lists[c->n_lists].opt = val;
	c->lists[c->n_lists].key = key;
	c->lists[c->n_lists++].arg = arg;
	return 0;
}

/* One option and its value. 0, -1 bad value, -2 out of memory, -3 the
 * message is in err. */
static int cli_option(struct cli *c, int val, const char *arg, char *err,
		      size_t errlen)
{
	switch (val) {
	case 'h':
		c->help = true;
		return 0;
	case 'V':
		c->version = true;
		return 0;
	case O_CONFIG:
		if (arg[0] == '\0')
			return -1;
		c->config = arg;
		return 0;
	case O_ZONE:
		return cli_zone(c, arg);
	case O_ADDRESS:
		return cli_address(c, arg);
	case O_GATEWAY: {
		struct lv_addr a;
		if (lv_config_parse_addr(arg, &a) < 0)
			return -1;
		/* checked against the others when applied */
		return append_addr(&c->gateways, &c->n_gateways, &a) < 0 ? -2
									 : 0;
	}
	case O_NO_IN_MEMORY:
		c->no_in_memory = true;
		return 0;
	case O_TUNE_KERNEL:
		c->tune_kernel = true;
		return 0;
	case O_KEY:
	case O_KEY_FILE:
	case O_ALLOW_TRANSFER:
	case O_NOTIFY:
	case O_TCP_LISTEN:
	case O_FORWARD:
	case O_LISTEN:
		return cli_list(c, val, arg, err, errlen);
	default:
		/* check now, so a bad option is reported before the file is
		 * read; the value is applied over the file later */
		c->value[val - 256] = arg;
		return set_value(&c->scratch, (enum setting)(val - 256), arg);
	}
}

/* getopt's '?': an unknown option, or a value given to a flag. */
static int cli_unknown(int argc, char **argv, char *err, size_t errlen)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";

	if (strncmp(arg, "--", 2) != 0 && optopt != 0)
		return fail(err, errlen, "unknown option \"-%c\" (see --help)",
			    optopt);
	return fail(err, errlen, "unknown option \"%s\" (see --help)", arg);
}

static int cli_collect(int argc, char **argv, struct cli *c, char *err,
		       size_t errlen)
{
	char exp[200];
	int val, last = 1, rc = 0;

	lv_config_init(&c->scratch);
	optind = 0; /* glibc: start over, so that parse may be called again */
	opterr = 0; /* we word the messages */
	/* "+": stop at the first non-option, never permute argv;
	 * ":": report a missing value apart from an unknown option */
	while (rc == 0 && (val = getopt_long(argc, argv, "+:hV", long_options,
					     NULL)) != -1) {
		if (val == '?') {
			rc = cli_unknown(argc, argv, err, errlen);
		} else if (val == ':') {
			option_expected(optopt, exp, sizeof(exp));
			rc = fail(err, errlen,
				  "--%s: missing value (expected %s)",
				  option_name(optopt), exp);
		} else if ((rc = cli_option(c, val, optarg, err, errlen)) ==
			   -2) {
			rc = oom(err, errlen);
		} else if (rc == -3) {
			rc = -1; /* worded where it was found */
		} else if (rc < 0) {
			option_expected(val, exp, sizeof(exp));
			rc = fail(err, errlen, "--%s: expected %s, got \"%s\"",
				  option_name(val), exp, optarg);
		}
		last = optind;
	}
	if (rc < 0)
		return rc;
	/* getopt stepped over a "--" iff optind moved past it without
	 * returning an option */
	if (optind == last + 1 && !strcmp(argv[last], "--"))
		c->eal_first = optind;
	else if (optind < argc)
		return fail(
		    err, errlen,
		    "unexpected argument \"%s\" (EAL arguments go after "
		    "--)",
		    argv[optind]);
	else
		c->eal_first = argc;
	return 0;
}

/* Apply the collected options over what the file set. */
static int cli_apply(const struct cli *c, int argc, char **argv,
		     struct lv_config *cfg, char *err, size_t errlen)
{
	char where[64 + 4096];

	for (int id = 0; id < S_COUNT; id++)
		if (c->value[id] != NULL &&
		    set_value(cfg, (enum setting)id, c->value[id]) < 0)
			return oom(err, errlen); /* checked when collected */
	if (c->no_in_memory)
		cfg->in_memory = false;
	if (c->tune_kernel)
		cfg->tune_kernel = true;
	for (unsigned i = 0; i < c->n_zones; i++) {
		const char *eq = strchr(c->zones[i], '=');
		char origin[LDNS_MAX_DOMAINLEN * 4 + 1];

		snprintf(origin, sizeof(origin), "%.*s",
			 (int)(eq - c->zones[i]), c->zones[i]);
		snprintf(where, sizeof(where), "--zone %s", c->zones[i]);
		if (add_zone(cfg, origin, eq + 1, where) < 0)
			return oom(err, errlen);
	}
	for (unsigned i = 0; i < c->n_addrs; i++)
		if (add_addr(cfg, &c->addrs[i]) < 0)
			return oom(err, errlen);
	for (unsigned i = 0; i < c->n_gateways; i++) {
		int rc = add_gateway(cfg, &c->gateways[i]);
		if (rc == -2)
			return oom(err, errlen);
		if (rc < 0)
			return fail(err, errlen,
				    "--gateway: expected " GW_EXPECTED
				    " (one per address family)");
	}
	for (unsigned i = 0; i < c->n_lists; i++) {
		const struct lv_key_conf *k;
		int rc;

		if (c->lists[i].opt == O_KEY_FILE) {
			k = &c->scratch.keys[c->lists[i].key];
			rc = add_key(cfg, k->name, k->algorithm, k->secret,
				     k->secret_file, k->where);
		} else {
			rc = apply_list_option(cfg, c->lists[i].opt,
					       c->lists[i].arg);
		}
		if (rc < 0)
			return oom(err, errlen); /* checked when collected */
	}
	for (int i = c->eal_first; i < argc; i++)
		if (add_eal(cfg, argv[i]) < 0)
			return oom(err, errlen);
	return 0;
}

/* What must be there once the file and the options are merged. */
static int check_complete(const struct lv_config *cfg, char *err, size_t errlen)
{
	if (cfg->n_zones == 0 && cfg->n_forwards == 0)
		return fail(err, errlen,
			    "nothing to serve: give --zone ORIGIN=FILE or "
			    "--forward SUFFIX=ADDR (zones: or forward: in the "
			    "config)");
	if (cfg->iface == NULL && cfg->n_listen == 0)
		return fail(err, errlen,
			    "nowhere to serve: give --iface (a bypass port) or "
			    "--listen ADDR[@PORT] (host sockets)");
	if (check_duplicate_zones(cfg, err, errlen) < 0 ||
	    lv_config_forward_check(cfg, err, errlen) < 0)
		return -1;
	return check_keys(cfg, err, errlen);
}

static int save_argv(struct lv_config *cfg, int argc, char **argv)
{
	free_strv(cfg->argv, cfg->argc);
	cfg->argc = 0;
	cfg->argv = calloc((size_t)argc + 1, sizeof(char *));
	if (cfg->argv == NULL)
		return -1;
	for (; cfg->argc < argc; cfg->argc++)
		if ((cfg->argv[cfg->argc] = strdup(argv[cfg->argc])) == NULL)
			return -1;
	return 0;
}

int lv_config_parse(int argc, char **argv, struct lv_config *cfg, char *err,
		    size_t errlen)
{
	struct cli c;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (save_argv(cfg, argc, argv) < 0) {
		oom(err, errlen);
		goto out;
	}
	/* 1. collect and check the options */
	if (cli_collect(argc, argv, &c, err, errlen) < 0)
		goto out;
	cfg->show_help = c.help;
	cfg->show_version = c.version;
	if (c.help || c.version) {
		rc = 0; /* nothing else is needed to print help */
		goto out;
	}
	/* 2. read the file */
	if (c.config != NULL &&
	    lv_config_load_file(c.config, cfg, err, errlen) < 0)
		goto out;
	/* 3. apply the options over it */
	if (cli_apply(&c, argc, argv, cfg, err, errlen) < 0)
		goto out;
	rc = check_complete(cfg, err, errlen);
out:
	free(c.zones);
	free(c.addrs);
	free(c.gateways);
	free(c.lists);
	lv_config_free(&c.scratch);
	return rc;
}

int lv_config_reload(const struct lv_config *old, struct lv_config *fresh,
		     char *err, size_t errlen)
{
	lv_config_init(fresh);
	if (old->argv == NULL)
		return fail(err, errlen, "reload: no command line to re-read");
	return lv_config_parse(old->argc, old->argv, fresh, err, errlen);
}

void lv_config_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: levee [options] [-- EAL arguments]\n"
	    "Kernel-bypass authoritative DNS responder.\n"
	    "\n"
	    "  --config FILE          YAML configuration; options below "
	    "override it\n"
	    "  --zone ORIGIN=FILE     serve a zone (repeatable)\n"
	    "  --address IP[/PREFIX]  service address, IPv4 or IPv6 "
	    "(repeatable)\n"
	    "  --gateway IP           default gateway for the service "
	    "addresses (one per family)\n"
	    "  --iface SPEC           pcap:IN,OUT | af_packet:IFNAME | "
	    "af_xdp:IFNAME |\n"
	    "                         PCI address (0000:03:00.0) | "
	    "net_... devargs\n"
	    "  --workers N            worker lcores, 1..%u (default 1)\n"
	    "  --udp-max N            largest UDP payload sent, %u..%u "
	    "(default 1232)\n"
	    "  --cache-memory SIZE    cache budget, K/M/G suffix, at least "
	    "1M (default 256M)\n"
	    "  --cache-entries N      cache table size, 0 derives it "
	    "(default 0)\n"
	    "  --miss-ring N          per-worker miss ring, power of two "
	    "%u..%u (default 4096)\n"
	    "  --idle-sleep-us N      a worker sleeps N us after %u empty "
	    "polls, 0..%u; 0 never (default %u)\n"
	    "  --tcp-idle-timeout MS  close a TCP connection idle this long "
	    "(default 10000)\n"
	    "  --tcp-max-clients N    TCP connections in all (default "
	    "4096)\n"
	    "  --tcp-max-per-client N TCP connections per client address "
	    "(default 512)\n"
	    "  --tcp-out-buffer SIZE  unsent answers per connection before "
	    "it is closed (default 1M)\n"
	    "  --hugepages MODE       auto | on | off (default auto)\n"
	    "  --no-in-memory         do not give the EAL --in-memory\n"
	    "  --tune-kernel          raise net.core.somaxconn and "
	    "tcp_max_syn_backlog when low\n"
	    "                         (restored at exit)\n"
	    "  --log-level LEVEL      error | warning | info | debug "
	    "(default info)\n"
	    "  --tcp-listen ADDR[@PORT]  also serve TCP on this host "
	    "socket (repeatable)\n"
	    "  --key [ALG:]NAME:SECRET   a TSIG key (default hmac-sha256; "
	    "repeatable)\n"
	    "  --key-file [ALG:]NAME:PATH  a TSIG key whose base64 secret is "
	    "in the file PATH\n"
	    "                         (keeps it off the command line; "
	    "repeatable)\n"
	    "  --allow-transfer ACL   PREFIX, key=NAME or PREFIX,key=NAME "
	    "may transfer (repeatable)\n"
	    "  --notify ADDR[@PORT][,key=NAME]  send NOTIFY there after "
	    "a reload (repeatable)\n"
	    "  --ixfr-history N       differences kept per zone for IXFR, "
	    "0..%u (default %u)\n"
	    "  --max-requests N       queries that may wait at once, 1..%u "
	    "(default %u)\n"
	    "  --listen ADDR[@PORT]   serve UDP and TCP on host sockets "
	    "(repeatable; no --iface needed)\n"
	    "\n"
	    "Forwarding (docs/forwarding.md):\n"
	    "  --forward SUFFIX=ADDR[@PORT][,ADDR[@PORT]...]  send misses "
	    "under SUFFIX there\n"
	    "                         (repeatable; longest suffix wins; local "
	    "zones first)\n"
	    "  --forward-timeout MS   a client query's whole budget "
	    "(default 3000)\n"
	    "  --forward-attempt-timeout MS  one upstream try (default "
	    "1000)\n"
	    "  --forward-tcp-idle MS  upstream TCP kept idle (default "
	    "10000)\n"
	    "  --forward-max-waiters N  clients waiting on one name "
	    "(default 4096)\n"
	    "  --forward-selection P  weighted-latency | first-available | "
	    "round-robin\n"
	    "  --forward-fail-threshold N  tries failed in a row before a "
	    "probe (default 3)\n"
	    "  --forward-probe-interval MS  first probe of a down upstream "
	    "(default 1000)\n"
	    "  --forward-probe-max-interval MS  probe backoff cap "
	    "(default 60000)\n"
	    "  --forward-probe-query \"NAME TYPE\"  the probe (default "
	    "\". SOA\")\n"
	    "  --forward-prefetch PCT  refresh hot answers in their last PCT "
	    "%% of TTL (10; 0 off)\n"
	    "  --forward-serve-stale true|false  expired answers when "
	    "upstreams fail (true)\n"
	    "  --forward-stale-window S  how long past expiry (86400)\n"
	    "  --forward-stale-answer-ttl S  their TTL (30)\n"
	    "  --forward-stale-client-timeout MS  stale after this wait "
	    "(1800; 0: after failure only)\n"
	    "  --forward-loop-detect on|off  find forwarding loops and "
	    "stop them (default on)\n"
	    "  --forward-loop-marker on|off  mark forwarded queries with "
	    "an EDNS option (default on)\n"
	    "  --forward-loop-probe-interval MS  loop probe per upstream, "
	    "0: none (default 30000)\n"
	    "  --cache-min-ttl S, --cache-max-ttl S, "
	    "--cache-negative-max-ttl S,\n"
	    "  --cache-servfail-ttl S  bounds of forwarded answers' TTLs "
	    "(0, 86400, 3600, 5)\n"
	    "\n"
	    "  -h, --help             print this and exit\n"
	    "  -V, --version          print the version and exit\n"
	    "\n"
	    "Arguments after -- go to the DPDK EAL unchanged.\n"
	    "See docs/configuration.md for the file's keys.\n",
	    LV_CONFIG_WORKERS_MAX, LV_CONFIG_UDP_MIN, LV_CONFIG_UDP_MAX,
	    LV_CONFIG_RING_MIN, LV_CONFIG_RING_MAX, LV_CONFIG_IDLE_POLLS,
	    LV_CONFIG_IDLE_SLEEP_MAX, LV_CONFIG_IDLE_SLEEP_DEFAULT,
	    LV_CONFIG_IXFR_HISTORY_MAX, LV_CONFIG_IXFR_HISTORY_DEF,
	    LV_CONFIG_REQUESTS_MAX, LV_CONFIG_REQUESTS_DEF);
}
