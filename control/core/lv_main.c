/*
 * The program around the control plane: parse the configuration, answer
 * --help and --version, set the log level, and hand over to the control
 * plane (control/core/control.c), which starts everything. Shared by levee
 * (control/core/main.c) and test builds that add an extension (tests/park).
 */
#include <stdio.h>

#include "levee/config.h"
#include "levee/control.h"
#include "levee/log.h"

int lv_main(int argc, char **argv, const struct lv_extension *ext)
{
	struct lv_config cfg;
	char err[1024];
	int rc;

	lv_control_block_signals();
	lv_config_init(&cfg);
	if (lv_config_parse(argc, argv, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "levee: %s\n", err);
		lv_config_free(&cfg);
		return 2;
	}
	if (cfg.show_help) {
		lv_config_usage(stdout);
		lv_config_free(&cfg);
		return 0;
	}
	if (cfg.show_version) {
		printf("levee %s\n", LV_VERSION);
		lv_config_free(&cfg);
		return 0;
	}
	if (cfg.log_level && lv_log_set_level(cfg.log_level) != 0) {
		fprintf(stderr,
			"levee: --log-level %s: expected error, "
			"warning, info or debug\n",
			cfg.log_level);
		lv_config_free(&cfg);
		return 2;
	}
	rc = lv_control_run_with(&cfg, argv[0], ext);
	lv_config_free(&cfg);
	return rc;
}
