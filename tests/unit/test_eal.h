/*
 * EAL for unit tests that need DPDK memory (rte_hash, mempools).
 *
 * No hugepages, no shared config files, no telemetry socket, no PCI scan,
 * one lcore and a per-process file prefix, so tests run side by side and
 * beside a running levee. (DPDK 22.11 refuses --in-memory together with
 * --no-huge; --no-shconf and the prefix give the same isolation.) The
 * runtime directory EAL creates is removed again by lv_test_eal_fini().
 */
#ifndef LEVEE_TEST_EAL_H
#define LEVEE_TEST_EAL_H

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_eal.h>

/* Start EAL for test `name`; 0, or -1 after printing why. */
static inline int lv_test_eal_init(const char *name)
{
	char prog[64], prefix[96];
	snprintf(prog, sizeof(prog), "%s", name);
	snprintf(prefix, sizeof(prefix), "--file-prefix=lv%s_%d", name,
		 (int)getpid());
	char *argv[] = {prog,
			"--no-huge",
			"-m",
			"256",
			"--no-pci",
			"--no-shconf",
			"--no-telemetry",
			prefix,
			"-l",
			"0",
			"--log-level=lib.*:error",
			NULL};
	if (rte_eal_init((int)(sizeof(argv) / sizeof(*argv)) - 1, argv) < 0) {
		fprintf(stderr, "%s: rte_eal_init failed\n", name);
		return -1;
	}
	return 0;
}

/* Stop EAL and remove its (empty) runtime directory. */
static inline void lv_test_eal_fini(void)
{
	char rundir[PATH_MAX];

	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(rundir);
}

#endif
