/*
 * levee's configuration: command line and YAML file.
 *
 * Control plane only. lv_config_parse() fills a struct lv_config that the
 * caller owns and releases with lv_config_free(). Every error is one line
 * in err naming the option, file, line or key and what was expected.
 * The command line overrides the file, key by key; zones and addresses
 * given on the command line are added to those of the file.
 * docs/configuration.md lists every key.
 */
#ifndef LEVEE_CONFIG_H
#define LEVEE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct lv_zone_conf {
	char *origin; /* as written, absolute or not */
	char *file;
};

struct lv_addr {
	int family;         /* AF_INET or AF_INET6 */
	uint8_t addr[16];   /* network order; IPv4 in the first 4 bytes */
	uint8_t prefix_len; /* 32 or 128 when none was given */
};

enum lv_hugepages { LV_HUGE_AUTO = 0, LV_HUGE_ON, LV_HUGE_OFF };

struct lv_config {
	char *config_file;    /* NULL when none */
	struct lv_zone_conf *zones;
	unsigned n_zones;
	struct lv_addr *addrs;
	unsigned n_addrs;
	char *iface;          /* e.g. "pcap:IN.pcap,OUT.pcap" */
	unsigned workers;     /* default 1 */
	uint16_t udp_max;     /* our max UDP payload, default 1232 */
	uint64_t cache_memory;/* bytes, default 256 MiB */
	uint32_t cache_entries; /* table size; 0 derives it from memory */
	uint32_t miss_ring_size;/* per worker, power of two, default 4096 */
	uint32_t mbufs;       /* mbuf pool size; 0: derived */
	uint32_t reload_grace_ms; /* wait before old-zone entries are freed */
	enum lv_hugepages hugepages;
	bool in_memory;       /* EAL --in-memory, default true */
	char *log_level;      /* "info" default */
	int eal_argc;         /* arguments after "--" */
	char **eal_argv;
	bool show_help;
	bool show_version;
};

void lv_config_init(struct lv_config *cfg);
void lv_config_free(struct lv_config *cfg);

/* Parse argv (the file named by --config is read too). 0, or -1 with a
 * one-line message in err. */
int lv_config_parse(int argc, char **argv, struct lv_config *cfg, char *err,
		    size_t errlen);

/* Read a YAML file into cfg (used for --config and again on SIGHUP). */
int lv_config_load_file(const char *path, struct lv_config *cfg, char *err,
			size_t errlen);

/* "192.0.2.1", "2001:db8::1/64" → addr. 0 or -1. */
int lv_config_parse_addr(const char *s, struct lv_addr *a);

/* "256M", "1G", "4096" → bytes. 0 or -1. */
int lv_config_parse_size(const char *s, uint64_t *out);

void lv_config_usage(FILE *f);

#endif
