/*
 * Control-plane logging: "levee: <level>: message" lines on stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "levee/log.h"

static enum lv_log_level threshold = LV_LOG_INFO;
static const char *const level_names[] = {"error", "warning", "info", "debug"};

int lv_log_set_level(const char *name)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(*level_names);
	     i++) {
		if (strcmp(name, level_names[i]) == 0) {
			threshold = (enum lv_log_level)i;
			return 0;
		}
	}
	return -1;
}

void lv_log(enum lv_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (level > threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one call per line so lines from threads never interleave */
	fprintf(stderr, "levee: %s: %s\n", level_names[level], line);
}
