/*
 * The control plane for the fuzz targets that answer through it
 * (fuzz_control_answer, fuzz_xfr): EAL without hugepages or PCI, a
 * configuration as levee parses it (one zone with an IXFR history, a TSIG
 * key, transfer ACLs), the zone set, and no sockets. Built once in
 * LLVMFuzzerInitialize and kept for the process; what an input changes
 * (the cache, when the target uses one) is the target's to undo.
 *
 * The zone: example.com, serial 2, with the difference from serial 1; the
 * key: hmac-sha256 "key.example." with the secret FUZZ_KEY_SECRET (what
 * tests/fuzz/run.sh signs its TSIG seeds with); transfers: 127.0.0.0/8
 * unsigned, 2001:db8::/32 with the key, others refused.
 */
#ifndef LEVEE_FUZZ_CONTROL_H
#define LEVEE_FUZZ_CONTROL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "levee/conf.h"
#include "levee/config.h"
#include "levee/control.h"
#include "levee/log.h"
#include "levee/zone.h"
#include "levee/zone_diff.h"

#include "../unit/test_eal.h"

#define FUZZ_KEY_SECRET "x7t2Zkc5FRgT9Z9llnaSrkJVyL6ritdvZNBMMFgmxLI="

#define FUZZ_ZONE_HEAD                                                         \
	"$ORIGIN example.com.\n$TTL 300\n"                                     \
	"@ SOA ns hostmaster %u 7200 3600 1209600 60\n"                        \
	"@ NS ns\n@ MX 10 mail\n@ A 192.0.2.1\n@ AAAA 2001:db8::1\n"           \
	"ns A 192.0.2.53\nmail A 192.0.2.25\nwww CNAME @\n"                    \
	"a.b.c TXT \"deep\"\n_sip._udp SRV 0 5 5060 www\n"
/* serial 2 adds a name and a large RRset (TC over UDP) */
#define FUZZ_ZONE_V2                                                           \
	"new A 192.0.2.2\n"                                                    \
	"big TXT \"%0200d\"\nbig TXT \"%0201d\"\nbig TXT \"%0202d\"\n"         \
	"big TXT \"%0203d\"\nbig TXT \"%0204d\"\nbig TXT \"%0205d\"\n"

static int fuzz_zone_fd(unsigned serial)
{
	int fd = memfd_create("fuzz_zone", MFD_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(dup(fd), "w") : NULL;

	if (f == NULL)
		abort();
	fprintf(f, FUZZ_ZONE_HEAD, serial);
	if (serial >= 2)
		fprintf(f, FUZZ_ZONE_V2, 0, 1, 2, 3, 4, 5);
	fclose(f);
	return fd;
}

/* EAL once per process, as the unit tests start it (no hugepages, a
 * per-process file prefix), removed again at exit. */
static void fuzz_eal_init(const char *target)
{
	if (lv_test_eal_init(target) != 0)
		abort();
	atexit(lv_test_eal_fini);
}

/* ctl's configuration and zones, as described above. */
static void fuzz_control_init(struct lv_control *ctl)
{
	int v1 = fuzz_zone_fd(1), v2 = fuzz_zone_fd(2);
	char zone[64], err[512];
	struct lv_config cfg;
	struct lv_zone *old, *fresh;
	struct lv_zdiff *d = NULL;

	snprintf(zone, sizeof(zone), "example.com=/proc/self/fd/%d", v2);
	char *argv[] = {"levee",
			"--iface",
			"pcap:in.pcap,out.pcap",
			"--zone",
			zone,
			"--key",
			"hmac-sha256:key.example.:" FUZZ_KEY_SECRET,
			"--allow-transfer",
			"127.0.0.0/8",
			"--allow-transfer",
			"2001:db8::/32,key=key.example.",
			"--log-level",
			"error",
			NULL};
	lv_config_init(&cfg);
	if (lv_config_parse((int)(sizeof(argv) / sizeof(*argv)) - 1, argv, &cfg,
			    err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz: config: %s\n", err);
		abort();
	}
	struct lv_conf *conf = lv_conf_new(&cfg, err, sizeof(err));
	if (conf == NULL)
		abort();
	lv_config_free(&cfg);
	lv_control_set_conf(ctl, conf);
	ctl->hash_seed = 0x5eed;
	/* serial 2 with its history from serial 1, as a reload leaves it */
	snprintf(zone, sizeof(zone), "/proc/self/fd/%d", v1);
	if (lv_zone_load("example.com", zone, &old, err, sizeof(err)) != 0)
		abort();
	snprintf(zone, sizeof(zone), "/proc/self/fd/%d", v2);
	if (lv_zone_load("example.com", zone, &fresh, err, sizeof(err)) != 0 ||
	    lv_zone_diff(old, fresh, &d) != 0 || d == NULL ||
	    lv_zone_set_history(fresh, old, d, 16) != 0)
		abort();
	lv_zone_free(old);
	ctl->zones = lv_zoneset_new();
	if (ctl->zones == NULL || lv_zoneset_add(ctl->zones, fresh) != 0)
		abort();
	close(v1);
	close(v2);
}

#endif
