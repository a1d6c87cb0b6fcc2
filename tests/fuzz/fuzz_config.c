/*
 * libFuzzer target for the YAML configuration (control/core/config.c,
 * lv_config_load_file) and the snapshot built from it (control/core/conf.c:
 * the TSIG keyring).
 *
 * Input: a config file, written to a memfd and read by its /proc path (a
 * relative zone or secret-file path is then joined to /proc/self/fd/; a
 * secret file that is not a regular file is refused, so nothing blocks).
 * What the operator is promised: either a configuration, whose every zone
 * has an origin and a file and every key a name and secret, or exactly
 * one printable line "<file>:<line>: <what>" naming the file and line
 * (a key's own errors from lv_conf_new name "<file>:<line>" too).
 */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "levee/conf.h"
#include "levee/config.h"
#include "levee/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* "<path>:<line>: <what>" somewhere at the start (a key's message may lead
 * with "key NAME: " before its own "where"), printable, one line. */
static void check_error(const char *err, const char *path)
{
	const char *p = strstr(err, path);

	for (const char *c = err; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			abort(); /* not one printable line */
	if (strcmp(err, "out of memory") == 0)
		return;
	if (p == NULL || p[strlen(path)] != ':')
		abort(); /* the file is not named */
	p += strlen(path) + 1;
	if (*p < '1' || *p > '9')
		abort(); /* no line */
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p != ':' || p[1] != ' ' || p[2] == '\0')
		abort(); /* no "<line>: <what>" */
}

static void check_config(const struct lv_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_zones; i++)
		if (cfg->zones[i].origin == NULL || cfg->zones[i].file == NULL)
			abort();
	for (unsigned i = 0; i < cfg->n_keys; i++)
		if (cfg->keys[i].name == NULL || cfg->keys[i].secret == NULL ||
		    cfg->keys[i].algorithm == NULL)
			abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	lv_log_set_level("error"); /* a key file's mode warning */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[1024];
	struct lv_config cfg;
	struct lv_conf *conf;
	int fd = memfd_create("fuzz_config", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	lv_config_init(&cfg);
	err[0] = '\0';
	if (lv_config_load_file(path, &cfg, err, sizeof(err)) != 0) {
		check_error(err, path);
	} else {
		check_config(&cfg);
		conf = lv_conf_new(&cfg, err, sizeof(err));
		if (conf == NULL)
			check_error(err, path);
		else
			lv_conf_put(conf);
	}
	lv_config_free(&cfg);
	close(fd);
	return 0;
}
