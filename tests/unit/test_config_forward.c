/*
 * Unit tests for forwarding in the configuration (control/core/config.c,
 * config_forward.c): --forward and its knobs, the file's forward: and
 * forwarding: sections, defaults, and each error message word for word.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "levee/config.h"
#include "levee/wire.h"

static char err[512];

static int run(struct lv_config *cfg, ...)
{
	char *argv[64] = {"levee"};
	int argc = 1;
	va_list ap;

	va_start(ap, cfg);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	err[0] = '\0';
	lv_config_init(cfg);
	return lv_config_parse(argc, argv, cfg, err, sizeof(err));
}

#define RUN_FAILS(msg, ...)                                                    \
	do {                                                                   \
		struct lv_config c_;                                           \
		assert_int_equal(run(&c_, __VA_ARGS__, NULL), -1);             \
		assert_string_equal(err, msg);                                 \
		lv_config_free(&c_);                                           \
	} while (0)

/* Write text to a temporary YAML file; its path in path. */
static void yaml(char *path, size_t len, const char *text)
{
	snprintf(path, len, "/tmp/lvtest-config-forward-%d.yaml",
		 (int)getpid());
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int load(struct lv_config *c, const char *text, char *path, size_t len)
{
	yaml(path, len, text);
	lv_config_init(c);
	err[0] = '\0';
	return lv_config_load_file(path, c, err, sizeof(err));
}

static void assert_upstream(const struct lv_upstream_conf *u, const char *addr,
			    uint16_t port, uint16_t weight)
{
	char text[INET6_ADDRSTRLEN];

	inet_ntop(u->addr.family, u->addr.addr, text, sizeof(text));
	assert_string_equal(text, addr);
	assert_int_equal(u->port, port);
	assert_int_equal(u->weight, weight);
}

static void test_defaults(void **state)
{
	struct lv_config c;

	(void)state;
	lv_config_init(&c);
	assert_int_equal(c.n_forwards, 0);
	assert_int_equal(c.fwd.timeout_ms, 3000);
	assert_int_equal(c.fwd.attempt_timeout_ms, 1000);
	assert_int_equal(c.fwd.tcp_idle_ms, 10000);
	assert_int_equal(c.fwd.max_waiters, 4096);
	assert_int_equal(c.fwd.min_ttl, 0);
	assert_int_equal(c.fwd.max_ttl, 86400);
	assert_int_equal(c.fwd.negative_max_ttl, 3600);
	assert_int_equal(c.fwd.servfail_ttl, 5);
	lv_config_free(&c);
}

static void test_forward_option(void **state)
{
	struct lv_config c;

	(void)state;
	assert_int_equal(run(&c, "--iface", "pcap:a,b", "--forward",
			     "sd.test.=192.0.2.1,192.0.2.2@5353,2001:db8::1",
			     "--forward", ".=10.0.0.1@53", "--forward-timeout",
			     "2000", "--cache-servfail-ttl", "0",
			     "--forward-max-waiters", "10", NULL),
			 0);
	assert_int_equal(c.n_zones, 0); /* forwarding alone is enough */
	assert_int_equal(c.n_forwards, 2);
	assert_string_equal(c.forwards[0].name, "sd.test.");
	assert_int_equal(c.forwards[0].n_upstreams, 3);
	assert_upstream(&c.forwards[0].upstreams[0], "192.0.2.1", 53, 1);
	assert_upstream(&c.forwards[0].upstreams[1], "192.0.2.2", 5353, 1);
	assert_upstream(&c.forwards[0].upstreams[2], "2001:db8::1", 53, 1);
	assert_string_equal(c.forwards[1].name, ".");
	assert_upstream(&c.forwards[1].upstreams[0], "10.0.0.1", 53, 1);
	assert_int_equal(c.fwd.timeout_ms, 2000);
	assert_int_equal(c.fwd.servfail_ttl, 0);
	assert_int_equal(c.fwd.max_waiters, 10);
	lv_config_free(&c);
}

static void test_forward_option_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "sd.test.",     "sd.test.=",          "=192.0.2.1",
	    "sd.test.=x",   "sd.test.=1.2.3.4@0", "sd.test.=1.2.3.4,",
	    "a..b=1.2.3.4", "sd.test.=10.0.0.0/8"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[512];
		snprintf(want, sizeof(want),
			 "--forward: expected SUFFIX=ADDR[@PORT][,ADDR[@PORT]"
			 "...] (a domain name, \"=\", upstream resolvers), got "
			 "\"%s\"",
			 bad[i]);
		RUN_FAILS(want, "--iface", "pcap:a,b", "--forward", bad[i]);
	}
	RUN_FAILS("--forward-timeout: expected an integer 100..60000, got "
		  "\"99\"",
		  "--iface", "pcap:a,b", "--forward", ".=1.2.3.4",
		  "--forward-timeout", "99");
	RUN_FAILS("--forward SD.test=1.2.3.4: a forwarding rule for "
		  "SD.test is already given at --forward sd.test.=1.2.3.5",
		  "--iface", "pcap:a,b", "--forward", "sd.test.=1.2.3.5",
		  "--forward", "SD.test=1.2.3.4");
}

static void test_yaml_forward(void **state)
{
	char path[128];
	struct lv_config c;

	(void)state;
	assert_int_equal(
	    load(&c,
		 "forward:\n"
		 "  - name: sd.test.\n"
		 "    upstreams: [\"192.0.2.1@5300\", "
		 "{address: \"2001:db8::2\", port: 54, weight: 3}]\n"
		 "  - name: .\n"
		 "    upstreams: 10.0.0.1\n"
		 "forwarding:\n"
		 "  timeout-ms: 2500\n"
		 "  attempt-timeout-ms: 400\n"
		 "  tcp-idle-timeout-ms: 5000\n"
		 "  max-waiters: 100\n"
		 "cache:\n"
		 "  min-ttl: 5\n"
		 "  max-ttl: 600\n"
		 "  negative-max-ttl: 60\n"
		 "  servfail-ttl: 3\n",
		 path, sizeof(path)),
	    0);
	assert_int_equal(c.n_forwards, 2);
	assert_upstream(&c.forwards[0].upstreams[0], "192.0.2.1", 5300, 1);
	assert_upstream(&c.forwards[0].upstreams[1], "2001:db8::2", 54, 3);
	assert_upstream(&c.forwards[1].upstreams[0], "10.0.0.1", 53, 1);
	assert_int_equal(c.fwd.timeout_ms, 2500);
	assert_int_equal(c.fwd.attempt_timeout_ms, 400);
	assert_int_equal(c.fwd.tcp_idle_ms, 5000);
	assert_int_equal(c.fwd.max_waiters, 100);
	assert_int_equal(c.fwd.min_ttl, 5);
	assert_int_equal(c.fwd.max_ttl, 600);
	assert_int_equal(c.fwd.negative_max_ttl, 60);
	assert_int_equal(c.fwd.servfail_ttl, 3);
	lv_config_free(&c);
	unlink(path);
}

/* Health and selection: defaults, the file's keys, the probe's question
 * in wire form. */
static void test_health_settings(void **state)
{
	char path[128];
	struct lv_config c;
	static const uint8_t example_com[] = "\7example\3com";

	(void)state;
	lv_config_init(&c);
	assert_int_equal(c.fwd.selection, LV_SELECT_WEIGHTED_LATENCY);
	assert_int_equal(c.fwd.fail_threshold, 3);
	assert_int_equal(c.fwd.probe_ms, 1000);
	assert_int_equal(c.fwd.probe_max_ms, 60000);
	assert_int_equal(c.fwd.probe_qname_len, 1); /* the root */
	assert_int_equal(c.fwd.probe_qname[0], 0);
	assert_int_equal(c.fwd.probe_qtype, LV_TYPE_SOA);
	lv_config_free(&c);
	assert_int_equal(load(&c,
			      "forward:\n  - name: .\n    upstreams: 10.0.0.1\n"
			      "forwarding:\n"
			      "  selection: round-robin\n"
			      "  fail-threshold: 5\n"
			      "  probe-interval-ms: 500\n"
			      "  probe-max-interval-ms: 8000\n"
			      "  probe-query: \"Example.COM. A\"\n",
			      path, sizeof(path)),
			 0);
	assert_int_equal(c.fwd.selection, LV_SELECT_ROUND_ROBIN);
	assert_int_equal(c.fwd.fail_threshold, 5);
	assert_int_equal(c.fwd.probe_ms, 500);
	assert_int_equal(c.fwd.probe_max_ms, 8000);
	assert_int_equal(c.fwd.probe_qname_len, sizeof(example_com));
	assert_memory_equal(c.fwd.probe_qname, example_com,
			    sizeof(example_com));
	assert_int_equal(c.fwd.probe_qtype, LV_TYPE_A);
	lv_config_free(&c);
	unlink(path);
	/* a rule's own selection; the other rule keeps the global one */
	assert_int_equal(load(&c,
			      "forward:\n"
			      "  - name: sd.test.\n    upstreams: 10.0.0.1\n"
			      "    selection: first-available\n"
			      "  - name: .\n    upstreams: 10.0.0.2\n",
			      path, sizeof(path)),
			 0);
	assert_int_equal(c.forwards[0].selection, LV_SELECT_FIRST_AVAILABLE);
	assert_int_equal(c.forwards[1].selection, -1);
	lv_config_free(&c);
	assert_int_equal(load(&c,
			      "forward:\n"
			      "  - name: sd.test.\n    upstreams: 10.0.0.1\n"
			      "    selection: fastest\n",
			      path, sizeof(path)),
			 -1);
	assert_non_null(strstr(err, ":4: forward[0].selection: expected "
				    "weighted-latency, first-available or "
				    "round-robin, got fastest"));
	lv_config_free(&c);
	unlink(path);
	RUN_FAILS("--forward-selection: expected weighted-latency, "
		  "first-available or round-robin, got \"fastest\"",
		  "--iface", "pcap:a,b", "--forward", ".=1.2.3.4",
		  "--forward-selection", "fastest");
	RUN_FAILS("--forward-probe-query: expected a name and a type, like "
		  "\". SOA\", got \".\"",
		  "--iface", "pcap:a,b", "--forward", ".=1.2.3.4",
		  "--forward-probe-query", ".");
}

/* Prefetch and serve-stale keys: defaults, the file, the command line,
 * and one-line errors naming the key. */
static void test_prefetch_stale_settings(void **state)
{
	char path[128];
	struct lv_config c;

	(void)state;
	lv_config_init(&c);
	assert_int_equal(c.fwd.prefetch_pct, 10);
	assert_true(c.fwd.serve_stale);
	assert_int_equal(c.fwd.stale_window, 86400);
	assert_int_equal(c.fwd.stale_ttl, 30);
	assert_int_equal(c.fwd.stale_wait_ms, 1800);
	lv_config_free(&c);
	assert_int_equal(load(&c,
			      "forward:\n  - name: .\n    upstreams: 10.0.0.1\n"
			      "forwarding:\n"
			      "  prefetch-percent: 0\n"
			      "  serve-stale: false\n"
			      "  stale-window: 3600\n"
			      "  stale-answer-ttl: 5\n"
			      "  stale-client-timeout-ms: 0\n",
			      path, sizeof(path)),
			 0);
	assert_int_equal(c.fwd.prefetch_pct, 0);
	assert_false(c.fwd.serve_stale);
	assert_int_equal(c.fwd.stale_window, 3600);
	assert_int_equal(c.fwd.stale_ttl, 5);
	assert_int_equal(c.fwd.stale_wait_ms, 0);
	lv_config_free(&c);
	unlink(path);
	assert_int_equal(load(&c, "forwarding:\n  stale-answer-ttl: 0\n", path,
			      sizeof(path)),
			 -1);
	assert_non_null(strstr(err, ":2: forwarding.stale-answer-ttl: expected "
				    "an integer 1..3600, got \"0\""));
	lv_config_free(&c);
	unlink(path);
	RUN_FAILS("--forward-serve-stale: expected true or false, got \"yes "
		  "please\"",
		  "--iface", "pcap:a,b", "--forward", ".=1.2.3.4",
		  "--forward-serve-stale", "yes please");
	RUN_FAILS("--forward-prefetch: expected an integer 0..90, got \"91\"",
		  "--iface", "pcap:a,b", "--forward", ".=1.2.3.4",
		  "--forward-prefetch", "91");
	RUN_FAILS("--forward-stale-client-timeout: expected an integer "
		  "0..30000, got \"30001\"",
		  "--iface", "pcap:a,b", "--forward", ".=1.2.3.4",
		  "--forward-stale-client-timeout", "30001");
}

static void yaml_fails(const char *text, const char *rest)
{
	char path[128], want[640];
	struct lv_config c;

	assert_int_equal(load(&c, text, path, sizeof(path)), -1);
	snprintf(want, sizeof(want), "%s%s", path, rest);
	assert_string_equal(err, want);
	lv_config_free(&c);
	unlink(path);
}

static void test_yaml_forward_errors(void **state)
{
	(void)state;
	yaml_fails("forward: x\n",
		   ":1: forward: expected a list of {name, upstreams} "
		   "mappings, got a value");
	yaml_fails("forward:\n  - name: sd.test.\n",
		   ":2: forward[0]: needs name (a domain name) and upstreams "
		   "(a list)");
	yaml_fails("forward:\n  - name: sd.test.\n    upstreams: [bad]\n",
		   ":3: forward[0].upstreams: expected ADDR[@PORT] (an "
		   "address, not a name; at most 64 upstreams, weight "
		   "1..1000)");
	yaml_fails("forward:\n  - name: sd.test.\n    upstreams:\n"
		   "      - {address: 1.2.3.4, port: 0}\n",
		   ":4: forward[0].upstreams: expected port 1..65535 and "
		   "weight 1..1000");
	yaml_fails("forward:\n  - name: sd.test.\n    upstreams:\n"
		   "      - {address: 1.2.3.4, weight: 0}\n",
		   ":4: forward[0].upstreams: expected ADDR[@PORT] (an "
		   "address, not a name; at most 64 upstreams, weight "
		   "1..1000)");
	yaml_fails("forward:\n  - name: sd.test.\n    upstreams: [1.2.3.4]\n"
		   "    via: x\n",
		   ":4: unknown key \"via\" in forward[0] (expected one of: "
		   "name, upstreams, selection)");
	yaml_fails("forwarding:\n  timeout-ms: 10\n",
		   ":2: forwarding.timeout-ms: expected an integer "
		   "100..60000, got \"10\"");
	yaml_fails("cache:\n  servfail-ttl: 301\n",
		   ":2: cache.servfail-ttl: expected an integer 0..300, got "
		   "\"301\"");
}

/* Forwarding loops: defaults, the file's keys, the options, and one-line
 * errors naming the key. */
static void test_loop_settings(void **state)
{
	char path[128];
	struct lv_config c;

	(void)state;
	lv_config_init(&c);
	assert_true(c.fwd.loop_detect);
	assert_true(c.fwd.loop_marker);
	assert_int_equal(c.fwd.loop_probe_ms, 30000);
	lv_config_free(&c);
	assert_int_equal(load(&c,
			      "forward:\n  - name: .\n    upstreams: 10.0.0.1\n"
			      "forwarding:\n"
			      "  loop-detect: false\n"
			      "  loop-marker: off\n"
			      "  loop-probe-interval-ms: 0\n",
			      path, sizeof(path)),
			 0);
	assert_false(c.fwd.loop_detect);
	assert_false(c.fwd.loop_marker);
	assert_int_equal(c.fwd.loop_probe_ms, 0);
	lv_config_free(&c);
	unlink(path);
	assert_int_equal(run(&c, "--iface", "pcap:a,b", "--forward",
			     ".=1.2.3.4", "--forward-loop-marker", "off",
			     "--forward-loop-probe-interval", "5000", NULL),
			 0);
	assert_true(c.fwd.loop_detect);
	assert_false(c.fwd.loop_marker);
	assert_int_equal(c.fwd.loop_probe_ms, 5000);
	lv_config_free(&c);
	RUN_FAILS("--forward-loop-probe-interval: expected 0 (no loop probes) "
		  "or an integer 1000..3600000, got \"10\"",
		  "--iface", "pcap:a,b", "--forward", ".=1.2.3.4",
		  "--forward-loop-probe-interval", "10");
	RUN_FAILS("--forward-loop-detect: expected on or off (true or false), "
		  "got \"maybe\"",
		  "--iface", "pcap:a,b", "--forward", ".=1.2.3.4",
		  "--forward-loop-detect", "maybe");
	yaml_fails("forwarding:\n  loop-marker: 2\n",
		   ":2: forwarding.loop-marker: expected on or off (true or "
		   "false), got \"2\"");
	yaml_fails("forwarding:\n  loop-probe-interval-ms: 3600001\n",
		   ":2: forwarding.loop-probe-interval-ms: expected 0 (no loop "
		   "probes) or an integer 1000..3600000, got \"3600001\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_forward_option),
	    cmocka_unit_test(test_forward_option_errors),
	    cmocka_unit_test(test_yaml_forward),
	    cmocka_unit_test(test_yaml_forward_errors),
	    cmocka_unit_test(test_health_settings),
	    cmocka_unit_test(test_prefetch_stale_settings),
	    cmocka_unit_test(test_loop_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
