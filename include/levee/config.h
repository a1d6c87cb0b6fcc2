/*
 * levee's configuration: command line and YAML file.
 *
 * Control plane only, and only from one thread at a time: the parser uses
 * getopt_long(), whose state is global. lv_config_parse() fills a struct
 * lv_config that the caller owns and releases with lv_config_free(). Every
 * error is one line in err naming the option, file, line or key and what
 * was expected. The command line overrides the file, key by key; zones and
 * addresses given on the command line are added to those of the file.
 * docs/configuration.md lists every option and key.
 */
#ifndef LEVEE_CONFIG_H
#define LEVEE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct lv_addr {
	int family;         /* AF_INET or AF_INET6 */
	uint8_t addr[16];   /* network order; IPv4 in the first 4 bytes */
	uint8_t prefix_len; /* 32 or 128 when none was given */
};

/* A TSIG key (RFC 8945): checked when the keyring is built at start-up.
 * The secret is given inline (--key, keys[].secret) or read from a file
 * (--key-file, keys[].secret-file) while the configuration is parsed, so
 * that it need not appear on the command line; either way secret holds
 * it, and lv_config_free() wipes it. */
struct lv_key_conf {
	char *name;        /* as written */
	char *algorithm;   /* "hmac-sha256" unless given */
	char *secret;      /* base64 */
	char *secret_file; /* the file it was read from; NULL: inline */
	char *where;       /* "FILE:LINE", "--key" or "--key-file" */
};

/* A secret file holds at most this many bytes (the base64 secret and
 * surrounding whitespace): a 512-bit key is 88 characters. */
#define LV_CONFIG_SECRET_FILE_MAX 4096

/* Who may transfer a zone: "PREFIX", "key=NAME" or "PREFIX,key=NAME".
 * A query matches when its source is in prefix (any source when !has_prefix)
 * and, when key is set, it is signed with that key. */
struct lv_acl_conf {
	bool has_prefix;
	struct lv_addr prefix;
	char *key;     /* NULL: unsigned queries match too */
	unsigned line; /* in the config file, for messages; 0: an option */
};

/* A remote server: "ADDR[@PORT][,key=NAME]" (NOTIFY targets) or
 * "ADDR[@PORT]" (extra TCP listeners). */
struct lv_remote_conf {
	struct lv_addr addr; /* prefix_len is the full length */
	uint16_t port;       /* 53 unless given */
	char *key;           /* NULL: unsigned */
	unsigned line;       /* in the config file; 0: an option */
};

struct lv_zone_conf {
	char *origin; /* as written, absolute or not */
	char *file;   /* relative paths from a config file are already
	               * joined to the file's directory */
	char *where;  /* where it was configured, for messages:
	               * "FILE:LINE" or "--zone ORIGIN=FILE" */
	/* the zone's own transfer ACL and NOTIFY targets (zones[].allow-
	 * transfer, zones[].notify); when not given (has_* false), the
	 * transfer section's apply */
	bool has_acl, has_notify;
	struct lv_acl_conf *acl;
	unsigned n_acl;
	struct lv_remote_conf *notify;
	unsigned n_notify;
};

/* An upstream resolver of a forwarding rule (docs/forwarding.md). */
struct lv_upstream_conf {
	struct lv_addr addr; /* prefix_len is the full length */
	uint16_t port;       /* 53 unless given */
	uint16_t weight;     /* share of first tries, 1 unless given */
};

/* A forwarding rule: names at or below `name` that no local zone holds go
 * to its upstreams; the longest matching name wins. */
struct lv_forward_conf {
	char *name;  /* as written, absolute or not */
	char *where; /* "FILE:LINE" or "--forward ARG", for messages */
	struct lv_upstream_conf *upstreams;
	unsigned n_upstreams;
	/* forward[].selection: an enum lv_fwd_selection for this rule, or
	 * -1 (the default): forwarding.selection's */
	int selection;
};

/* What the forwarder waits and caches (docs/forwarding.md gives the
 * reasons for each default). */
/* How a rule's first try picks an upstream (docs/forwarding.md). */
enum lv_fwd_selection {
	LV_SELECT_WEIGHTED_LATENCY = 0, /* by weight among the fast ones */
	LV_SELECT_FIRST_AVAILABLE,      /* the first up, in listed order */
	LV_SELECT_ROUND_ROBIN           /* each up one in turn */
};

struct lv_forward_limits {
	uint32_t timeout_ms;         /* a client query's whole budget: 3000 */
	uint32_t attempt_timeout_ms; /* one upstream try: 1000 */
	uint32_t tcp_idle_ms;        /* upstream TCP kept idle: 10000 */
	uint32_t max_waiters;        /* clients waiting on one key: 4096 */
	uint32_t min_ttl;            /* answers cached at least: 0 s */
	uint32_t max_ttl;            /* at most: 86400 s */
	uint32_t negative_max_ttl;   /* NXDOMAIN/NODATA at most: 3600 s */
	uint32_t servfail_ttl;       /* SERVFAIL, upstreams failed: 5 s */
	/* health: tries failed in a row before a probe decides: 3 */
	uint32_t fail_threshold;
	uint32_t probe_ms;     /* first probe of a down upstream: 1000 */
	uint32_t probe_max_ms; /* probes back off up to: 60000 */
	/* prefetch: an answer hit in the last prefetch_pct % of its TTL is
	 * refreshed once in the background: 10 (0: off) */
	uint32_t prefetch_pct;
	/* serve-stale (RFC 8767): expired answers kept stale_window s
	 * (86400) and served with TTL stale_ttl (30) when the upstreams
	 * fail, or when none answered within stale_wait_ms (1800; 0: only
	 * once every try failed) */
	uint32_t stale_window;
	uint32_t stale_ttl;
	uint32_t stale_wait_ms;
	bool serve_stale; /* true */
	enum lv_fwd_selection selection;
	/* the probe's question, lowercased wire form: ". SOA" */
	uint8_t probe_qname[256];
	uint8_t probe_qname_len;
	uint16_t probe_qtype;
	/* forwarding loops (docs/forwarding.md "Forwarding loops") */
	bool loop_detect;       /* find and stop them: on */
	bool loop_marker;       /* the EDNS marker in forwarded queries: on */
	uint32_t loop_probe_ms; /* a loop probe per upstream: 30000; 0: none */
};

enum lv_hugepages { LV_HUGE_AUTO = 0, LV_HUGE_ON, LV_HUGE_OFF };

/* The form of cfg->iface, checked by the parser; the string is kept whole. */
enum lv_iface_kind {
	LV_IFACE_NONE = 0,  /* no interface given */
	LV_IFACE_PCAP,      /* "pcap:IN,OUT" */
	LV_IFACE_AF_PACKET, /* "af_packet:IFNAME" */
	LV_IFACE_AF_XDP,    /* "af_xdp:IFNAME" */
	LV_IFACE_PCI,       /* "0000:03:00.0" or "03:00.0" */
	LV_IFACE_DEVARGS    /* raw EAL vdev devargs, "net_..." */
};

/* Limits the parser enforces (docs/configuration.md). */
#define LV_CONFIG_WORKERS_MAX        127 /* RTE_MAX_LCORE - 1: one lcore controls */
#define LV_CONFIG_UDP_MIN            512
#define LV_CONFIG_UDP_MAX            4096
#define LV_CONFIG_CACHE_MEM_MIN      (1ull << 20)
#define LV_CONFIG_ENTRIES_MAX        (1u << 30) /* RTE_HASH_ENTRIES_MAX */
#define LV_CONFIG_TCP_IDLE_MIN       100
#define LV_CONFIG_TCP_IDLE_MAX       3600000
#define LV_CONFIG_TCP_CLIENTS_MAX    1000000
#define LV_CONFIG_IDLE_POLLS         1024
#define LV_CONFIG_IDLE_SLEEP_MAX     100000
#define LV_CONFIG_IDLE_SLEEP_DEFAULT 50
#define LV_CONFIG_RING_MIN           64
#define LV_CONFIG_RING_MAX           1048576
#define LV_CONFIG_IXFR_HISTORY_MAX   1000
#define LV_CONFIG_IXFR_HISTORY_DEF   16
#define LV_CONFIG_REQUESTS_MAX       1048576
#define LV_CONFIG_REQUESTS_DEF       4096
#define LV_CONFIG_UPSTREAMS_MAX      64   /* per forwarding rule */
#define LV_CONFIG_LOOP_PROBE_MIN     1000 /* loop-probe-interval-ms */
#define LV_CONFIG_LOOP_PROBE_MAX     3600000
#define LV_CONFIG_WEIGHT_MAX         1000

/*
 * Filled by lv_config_parse() or lv_config_load_file(); owned by the caller.
 * Every pointer is heap memory freed by lv_config_free().
 */
struct lv_config {
	char *config_file; /* NULL when none */
	struct lv_zone_conf *zones;
	unsigned n_zones;
	struct lv_addr *addrs;
	unsigned n_addrs;
	struct lv_addr *gateways; /* at most one per address family */
	unsigned n_gateways;
	char *iface;             /* e.g. "pcap:IN.pcap,OUT.pcap"; NULL: none */
	unsigned workers;        /* default 1 */
	uint16_t udp_max;        /* our max UDP payload, default 1232 */
	uint64_t cache_memory;   /* bytes, default 256 MiB */
	uint32_t cache_entries;  /* table size; 0 derives it from memory */
	uint32_t miss_ring_size; /* per worker, power of two, default 4096 */
	uint32_t tcp_idle_timeout_ms; /* default 10000 */
	uint32_t tcp_max_clients;     /* default 4096 */
	uint32_t tcp_max_per_client;  /* default 512 */
	uint64_t tcp_out_buffer;      /* bytes, default 1 MiB */
	/* TCP on ordinary host sockets, besides the service addresses */
	struct lv_remote_conf *tcp_listen;
	unsigned n_tcp_listen;
	/* UDP and TCP on host sockets (--listen): the workers serve UDP
	 * there with the same code as on a port */
	struct lv_remote_conf *listen;
	unsigned n_listen;
	/* zone transfers (docs/transfers.md) */
	struct lv_key_conf *keys;
	unsigned n_keys;
	struct lv_acl_conf *acl; /* transfer.allow: zones without their own */
	unsigned n_acl;
	struct lv_remote_conf *notify; /* transfer.notify: likewise */
	unsigned n_notify;
	uint32_t ixfr_history;  /* differences kept per zone, default 16 */
	uint32_t idle_sleep_us; /* a worker sleeps this long after
				 * LV_CONFIG_IDLE_POLLS empty polls; 0: never */
	uint32_t mbufs;         /* mbuf pool size; 0: derived */
	uint32_t max_requests;  /* queries that may wait at once, each with
				 * a reply buffer; default 4096 */
	/* forwarding to upstream resolvers (docs/forwarding.md) */
	struct lv_forward_conf *forwards;
	unsigned n_forwards;
	struct lv_forward_limits fwd;
	enum lv_hugepages hugepages;
	bool in_memory;   /* EAL --in-memory, default true */
	bool tune_kernel; /* raise the host's TCP backlog sysctls when low
			   * (journalled, restored at exit); default false */
	char *log_level;  /* "error", "warning", "info" (default), "debug" */
	int eal_argc;     /* the file's eal: list, then arguments after "--" */
	char **eal_argv;  /* eal_argc strings and a NULL; no program name */
	bool show_help;
	bool show_version;
	enum lv_iface_kind iface_kind; /* form of iface */
	int argc;                      /* copy of the command line given to */
	char **argv; /* lv_config_parse(), for lv_config_reload() */
};

/* Set every field to its default. Any thread; cfg is the caller's. */
void lv_config_init(struct lv_config *cfg);
/* The forwarding defaults alone (also what lv_config_init sets). */
void lv_config_init_forward_limits(struct lv_forward_limits *fwd);

/* Free everything cfg points to and zero it (lv_config_init() to reuse).
 * NULL is a no-op. */
void lv_config_free(struct lv_config *cfg);

/*
 * Parse argv (argv[0] is the program name): collect the options, read the
 * file named by --config, then apply the options over it. Checks that a
 * zone and an interface are given, unless --help or --version is. cfg must
 * have been through lv_config_init(). 0, or -1 with a one-line message in
 * err; cfg then holds partial values for lv_config_free(). argv is copied,
 * not kept. Control plane, main thread only (getopt state is global).
 */
int lv_config_parse(int argc, char **argv, struct lv_config *cfg, char *err,
		    size_t errlen);

/*
 * Read a YAML file into cfg (used for --config and again on SIGHUP): keys
 * in the file replace cfg's values, zones, addresses and eal arguments are
 * appended. Relative zone paths are joined to the file's directory. Does
 * not require zones or an interface. 0, or -1 with a one-line message in
 * err. Control plane only.
 */
int lv_config_load_file(const char *path, struct lv_config *cfg, char *err,
			size_t errlen);

/*
 * For SIGHUP: build a fresh configuration in fresh (initialised here) by
 * re-reading old's file and applying old's command line again, so that the
 * command line keeps overriding the file. old is not changed. 0, or -1
 * with a message in err (fresh must still be freed). Main thread only.
 */
int lv_config_reload(const struct lv_config *old, struct lv_config *fresh,
		     char *err, size_t errlen);

/*
 * "192.0.2.1", "2001:db8::1/64" → addr. Host bits may be set (an interface
 * address). 0, or -1 when the address or the prefix length is invalid.
 * Any thread.
 */
int lv_config_parse_addr(const char *s, struct lv_addr *a);

/* a and port as a socket address in ss; returns its length. Any thread. */
struct sockaddr_storage;
unsigned lv_addr_to_sockaddr(const struct lv_addr *a, uint16_t port,
			     struct sockaddr_storage *ss);

/* The transfer ACL and NOTIFY targets that apply to zone `origin`: its
 * own when configured, else the transfer section's. Any thread. */
void lv_config_zone_acl(const struct lv_config *cfg, const char *origin,
			const struct lv_acl_conf **acl, unsigned *n);
void lv_config_zone_notify(const struct lv_config *cfg, const char *origin,
			   const struct lv_remote_conf **notify, unsigned *n);

/* Domain names (as written in the config) equal, ignoring case and one
 * trailing dot. Any thread. */
bool lv_config_same_name(const char *a, const char *b);

/* "ADDR" or "ADDR@PORT" (no prefix length; port 53 when none) among the
 * first n bytes of s. 0 or -1. Any thread. */
int lv_config_parse_host_port(const char *s, size_t n, struct lv_addr *a,
			      uint16_t *port);

/* forwarding.probe-query / --forward-probe-query: "NAME TYPE" (". SOA")
 * into fwd's probe_qname (lowercased wire form) and probe_qtype. 0, or -1
 * when it is not a name and a known type. */
int lv_config_probe_query(const char *v, struct lv_forward_limits *fwd);

/*
 * Forwarding rules (control/core/config_forward.c). lv_config_forward_add
 * appends a rule for name (checked: a domain name) with no upstreams and
 * returns it (NULL: -1 bad name, -2 out of memory in *rc);
 * lv_config_forward_upstream appends "ADDR[@PORT]" with weight to it (0,
 * -1 bad value or too many, -2 out of memory); lv_config_forward_option
 * parses the command line's "SUFFIX=ADDR[@PORT][,ADDR[@PORT]...]" (0, -1,
 * -2). lv_config_forward_check: every rule has an upstream and no name is
 * given twice (0, or -1 with a one-line message naming where).
 */
struct lv_forward_conf *lv_config_forward_add(struct lv_config *cfg,
					      const char *name,
					      const char *where, int *rc);
int lv_config_forward_upstream(struct lv_forward_conf *f, const char *s,
			       unsigned weight);
int lv_config_forward_option(struct lv_config *cfg, const char *arg);
int lv_config_forward_check(const struct lv_config *cfg, char *err,
			    size_t errlen);
void lv_config_forward_free(struct lv_config *cfg);

/* "256M", "1G", "4096" → bytes (K, M, G are powers of 1024). 0 or -1. */
int lv_config_parse_size(const char *s, uint64_t *out);

/* Print a concise usage text to f. Any thread. */
void lv_config_usage(FILE *f);

#endif
