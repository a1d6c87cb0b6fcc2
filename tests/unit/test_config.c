/*
 * Unit tests for the configuration parser (control/core/config.c): every
 * command-line option, every YAML key, every error message word for word,
 * the file-then-command-line precedence, relative zone paths, duplicate
 * zones, addresses and sizes. No EAL: the parser runs before it.
 * Inputs are in tests/unit/data/config/.
 */
#include <limits.h>
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
#include <sys/stat.h>

#include <cmocka.h>

#include "test_capture.h"

#include "levee/conf.h"
#include "levee/config.h"

static char data_dir[PATH_MAX]; /* tests/unit/data/config, found in main */
static char err[512];

/* data_dir/name */
static const char *data(const char *name)
{
	static char buf[4][PATH_MAX + 64];
	static unsigned n;
	char *b = buf[n++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", data_dir, name);
	return b;
}

/* Parse "levee" followed by the NULL-terminated arguments into cfg. */
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

/* Parse and expect failure with exactly msg. */
#define RUN_FAILS(msg, ...)                                                    \
	do {                                                                   \
		struct lv_config c_;                                           \
		assert_int_equal(run(&c_, __VA_ARGS__, NULL), -1);             \
		assert_string_equal(err, msg);                                 \
		lv_config_free(&c_);                                           \
	} while (0)

/* Load a data file alone and expect failure with "PATH:" + rest. */
static void load_fails(const char *name, const char *rest)
{
	struct lv_config c;
	char want[PATH_MAX + 512];
	const char *path = data(name);

	lv_config_init(&c);
	assert_int_equal(lv_config_load_file(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s%s", path, rest);
	assert_string_equal(err, want);
	lv_config_free(&c);
}

static void test_defaults(void **state)
{
	struct lv_config c;

	(void)state;
	lv_config_init(&c);
	assert_int_equal(c.workers, 1);
	assert_int_equal(c.udp_max, 1232);
	assert_true(c.cache_memory == 256ull << 20);
	assert_int_equal(c.cache_entries, 0);
	assert_int_equal(c.miss_ring_size, 4096);
	assert_int_equal(c.idle_sleep_us, 50);
	assert_int_equal(c.tcp_idle_timeout_ms, 10000);
	assert_int_equal(c.tcp_max_clients, 4096);
	assert_int_equal(c.tcp_max_per_client, 512);
	assert_true(c.tcp_out_buffer == 1u << 20);
	assert_int_equal(c.mbufs, 0);
	assert_int_equal(c.hugepages, LV_HUGE_AUTO);
	assert_true(c.in_memory);
	assert_string_equal(c.log_level, "info");
	assert_null(c.iface);
	assert_null(c.config_file);
	assert_int_equal(c.n_zones, 0);
	assert_int_equal(c.n_addrs, 0);
	assert_int_equal(c.eal_argc, 0);
	lv_config_free(&c);
	lv_config_free(NULL);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(lv_config_parse_size("4096", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(lv_config_parse_size("1K", &v), 0);
	assert_true(v == 1024);
	assert_int_equal(lv_config_parse_size("1k", &v), 0);
	assert_true(v == 1024);
	assert_int_equal(lv_config_parse_size("256M", &v), 0);
	assert_true(v == 256ull << 20);
	assert_int_equal(lv_config_parse_size("2g", &v), 0);
	assert_true(v == 2ull << 30);
	assert_int_equal(lv_config_parse_size("0", &v), 0);
	assert_true(v == 0);
	const char *bad[] = {"",
			     "M",
			     "1T",
			     "-1",
			     "1.5M",
			     " 1M",
			     "1M ",
			     "1MB",
			     "0x10",
			     "18446744073709551616",
			     "17179869184G"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(lv_config_parse_size(bad[i], &v), -1);
}

static void test_parse_addr(void **state)
{
	struct lv_addr a;
	uint8_t v6[16];

	(void)state;
	assert_int_equal(lv_config_parse_addr("192.0.2.53", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.prefix_len, 32);
	assert_memory_equal(a.addr, "\xc0\x00\x02\x35", 4);

	assert_int_equal(lv_config_parse_addr("192.0.2.53/24", &a), 0);
	assert_int_equal(a.prefix_len, 24); /* host bits kept */
	assert_memory_equal(a.addr, "\xc0\x00\x02\x35", 4);

	assert_int_equal(lv_config_parse_addr("2001:db8::53/64", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.prefix_len, 64);
	inet_pton(AF_INET6, "2001:db8::53", v6);
	assert_memory_equal(a.addr, v6, 16);

	assert_int_equal(lv_config_parse_addr("::1", &a), 0);
	assert_int_equal(a.prefix_len, 128);
	assert_int_equal(lv_config_parse_addr("10.0.0.1/0", &a), 0);
	assert_int_equal(a.prefix_len, 0);
	assert_int_equal(lv_config_parse_addr("2001:db8::/128", &a), 0);
	assert_int_equal(a.prefix_len, 128);

	const char *bad[] = {"",
			     "x",
			     "192.0.2.1/33",
			     "2001:db8::1/129",
			     "192.0.2.1/",
			     "192.0.2.1/abc",
			     "192.0.2.1/-1",
			     "192.0.2.1/0024",
			     "/24",
			     "192.0.2.256",
			     "192.0.2.1/24/1",
			     "2001:db8::1::2"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(lv_config_parse_addr(bad[i], &a), -1);
}

/* Every option at once, and the EAL arguments after "--". */
static void test_cli_every_option(void **state)
{
	struct lv_config c;

	(void)state;
	assert_int_equal(
	    run(&c, "--zone", "example.com.=/z/example.com", "--zone",
		"example.net=rel.zone", "--address", "192.0.2.1", "--address",
		"2001:db8::1/64", "--iface", "pcap:in.pcap,out.pcap",
		"--workers", "127", "--udp-max", "4096", "--cache-memory", "1M",
		"--cache-entries", "1073741824", "--miss-ring", "64",
		"--idle-sleep-us", "0", "--gateway", "192.0.2.254", "--gateway",
		"2001:db8::fffe", "--hugepages", "on", "--no-in-memory",
		"--log-level", "warning", "--", "-l", "0-3", "--zone", "x",
		NULL),
	    0);
	assert_string_equal(err, "");
	assert_int_equal(c.n_zones, 2);
	assert_string_equal(c.zones[0].origin, "example.com.");
	assert_string_equal(c.zones[0].file, "/z/example.com");
	assert_string_equal(c.zones[0].where,
			    "--zone example.com.=/z/example.com");
	assert_string_equal(c.zones[1].origin, "example.net");
	assert_string_equal(c.zones[1].file, "rel.zone"); /* as given */
	assert_int_equal(c.n_addrs, 2);
	assert_int_equal(c.addrs[0].family, AF_INET);
	assert_int_equal(c.addrs[0].prefix_len, 32);
	assert_int_equal(c.addrs[1].family, AF_INET6);
	assert_int_equal(c.addrs[1].prefix_len, 64);
	assert_string_equal(c.iface, "pcap:in.pcap,out.pcap");
	assert_int_equal(c.iface_kind, LV_IFACE_PCAP);
	assert_int_equal(c.workers, 127);
	assert_int_equal(c.udp_max, 4096);
	assert_true(c.cache_memory == 1ull << 20);
	assert_int_equal(c.cache_entries, 1u << 30);
	assert_int_equal(c.miss_ring_size, 64);
	assert_int_equal(c.idle_sleep_us, 0);
	assert_int_equal(c.n_gateways, 2);
	assert_int_equal(c.gateways[0].family, AF_INET);
	assert_int_equal(c.gateways[1].family, AF_INET6);
	assert_int_equal(c.hugepages, LV_HUGE_ON);
	assert_false(c.in_memory);
	assert_string_equal(c.log_level, "warning");
	assert_null(c.config_file);
	assert_false(c.show_help);
	assert_false(c.show_version);
	/* after "--", nothing is parsed, not even --zone */
	assert_int_equal(c.eal_argc, 4);
	assert_string_equal(c.eal_argv[0], "-l");
	assert_string_equal(c.eal_argv[1], "0-3");
	assert_string_equal(c.eal_argv[2], "--zone");
	assert_string_equal(c.eal_argv[3], "x");
	assert_null(c.eal_argv[4]);
	/* the command line is kept for lv_config_reload */
	assert_int_equal(c.argc, 37);
	assert_string_equal(c.argv[0], "levee");
	lv_config_free(&c);
}

static void test_cli_values(void **state)
{
	struct lv_config c;

	(void)state;
	/* "=" form, other hugepages and log levels, the range ends */
	assert_int_equal(run(&c, "--zone=a.=a", "--iface=af_xdp:eth0",
			     "--workers=1", "--udp-max=512",
			     "--miss-ring=1048576", "--hugepages=off",
			     "--log-level=error", "--cache-memory=3G",
			     "--cache-entries=0", "--max-requests=1", NULL),
			 0);
	assert_int_equal(c.max_requests, 1);
	assert_int_equal(c.workers, 1);
	assert_int_equal(c.udp_max, 512);
	assert_int_equal(c.miss_ring_size, 1048576);
	assert_int_equal(c.hugepages, LV_HUGE_OFF);
	assert_string_equal(c.log_level, "error");
	assert_true(c.cache_memory == 3ull << 30);
	assert_int_equal(c.eal_argc, 0);
	assert_null(c.eal_argv);
	lv_config_free(&c);

	/* the last of a repeated option wins */
	assert_int_equal(run(&c, "--zone", "a.=a", "--iface", "net_tap0",
			     "--workers", "2", "--workers", "5", "--hugepages",
			     "auto", "--log-level", "debug", "--", NULL),
			 0);
	assert_int_equal(c.workers, 5);
	assert_int_equal(c.hugepages, LV_HUGE_AUTO);
	assert_string_equal(c.log_level, "debug");
	assert_int_equal(c.eal_argc, 0);
	lv_config_free(&c);
}

static void test_cli_iface_forms(void **state)
{
	static const struct {
		const char *spec;
		enum lv_iface_kind kind;
	} ok[] = {
	    {"pcap:in.pcap,out.pcap", LV_IFACE_PCAP},
	    {"pcap:/tmp/a b.pcap,/tmp/c.pcap", LV_IFACE_PCAP},
	    {"af_packet:eth0", LV_IFACE_AF_PACKET},
	    {"af_xdp:enp3s0f0np0", LV_IFACE_AF_XDP},
	    {"0000:03:00.0", LV_IFACE_PCI},
	    {"03:00.1", LV_IFACE_PCI},
	    {"0000:af:1f.7", LV_IFACE_PCI},
	    {"net_pcap0,rx_pcap=a.pcap,tx_pcap=b.pcap", LV_IFACE_DEVARGS},
	    {"net_tap0,iface=tap0", LV_IFACE_DEVARGS},
	};
	struct lv_config c;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(
		    run(&c, "--zone", "a.=a", "--iface", ok[i].spec, NULL), 0);
		assert_string_equal(c.iface, ok[i].spec);
		assert_int_equal(c.iface_kind, ok[i].kind);
		lv_config_free(&c);
	}
}

#define IFACE_EXPECTED                                                         \
	"expected pcap:IN,OUT, af_packet:IFNAME, af_xdp:IFNAME, a PCI "        \
	"address like 0000:03:00.0 or net_... devargs"

static void test_cli_iface_errors(void **state)
{
	const char *bad[] = {"pcap:in.pcap",
			     "pcap:,out.pcap",
			     "pcap:in.pcap,",
			     "pcap:a,b,c",
			     "pcap:",
			     "af_packet:",
			     "af_packet:a/b",
			     "af_xdp:",
			     "af_xdp:abcdefghijklmnop",
			     "0000:03:00",
			     "0000:03:00.8",
			     "000:03:00.0",
			     "0000:g3:00.0",
			     "net_",
			     "eth0",
			     ""};
	char want[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want),
			 "--iface: " IFACE_EXPECTED ", got \"%s\"", bad[i]);
		RUN_FAILS(want, "--zone", "a.=a", "--iface", bad[i]);
	}
}

static void test_cli_errors(void **state)
{
	(void)state;
	RUN_FAILS("--workers: expected an integer 1..127, got \"x\"",
		  "--workers", "x");
	RUN_FAILS("--workers: expected an integer 1..127, got \"0\"",
		  "--workers", "0");
	RUN_FAILS("--workers: expected an integer 1..127, got \"128\"",
		  "--workers", "128");
	RUN_FAILS("--workers: expected an integer 1..127, got \"-1\"",
		  "--workers", "-1");
	RUN_FAILS("--workers: expected an integer 1..127, got \"\"",
		  "--workers=");
	RUN_FAILS("--udp-max: expected an integer 512..4096, got \"511\"",
		  "--udp-max", "511");
	RUN_FAILS("--udp-max: expected an integer 512..4096, got \"4097\"",
		  "--udp-max", "4097");
	RUN_FAILS("--cache-memory: expected a size of at least 1M (a number "
		  "with an optional K, M or G suffix), got \"1023K\"",
		  "--cache-memory", "1023K");
	RUN_FAILS("--cache-memory: expected a size of at least 1M (a number "
		  "with an optional K, M or G suffix), got \"lots\"",
		  "--cache-memory", "lots");
	RUN_FAILS("--cache-entries: expected an integer 0..1073741824, got "
		  "\"1073741825\"",
		  "--cache-entries", "1073741825");
	RUN_FAILS("--max-requests: expected an integer 1..1048576, got \"0\"",
		  "--max-requests", "0");
	RUN_FAILS("--max-requests: expected an integer 1..1048576, got "
		  "\"1048577\"",
		  "--max-requests", "1048577");
	RUN_FAILS("--miss-ring: expected a power of two 64..1048576, got "
		  "\"100\"",
		  "--miss-ring", "100");
	RUN_FAILS("--miss-ring: expected a power of two 64..1048576, got "
		  "\"32\"",
		  "--miss-ring", "32");
	RUN_FAILS("--miss-ring: expected a power of two 64..1048576, got "
		  "\"2097152\"",
		  "--miss-ring", "2097152");
	RUN_FAILS("--gateway: expected an IPv4 or IPv6 address without a "
		  "prefix (one per address family)",
		  "--gateway", "192.0.2.1", "--gateway", "192.0.2.2");
	RUN_FAILS("--gateway: expected an IPv4 or IPv6 address without a "
		  "prefix (one per address family)",
		  "--gateway", "192.0.2.1/24");
	RUN_FAILS("--tcp-idle-timeout: expected an integer 100..3600000, got "
		  "\"50\"",
		  "--tcp-idle-timeout", "50");
	RUN_FAILS("--tcp-max-clients: expected an integer 1..1000000, got "
		  "\"0\"",
		  "--tcp-max-clients", "0");
	RUN_FAILS("--tcp-out-buffer: expected a size of 64K..1G (a number "
		  "with an optional K, M or G suffix), got \"1K\"",
		  "--tcp-out-buffer", "1K");
	RUN_FAILS("--idle-sleep-us: expected an integer 0..100000, got "
		  "\"100001\"",
		  "--idle-sleep-us", "100001");
	RUN_FAILS("--hugepages: expected auto, on or off, got \"yes\"",
		  "--hugepages", "yes");
	RUN_FAILS("--log-level: expected error, warning, info or debug, got "
		  "\"verbose\"",
		  "--log-level", "verbose");
	RUN_FAILS("--config: expected a file name, got \"\"", "--config=");
	RUN_FAILS("--zone: expected ORIGIN=FILE (a domain name, \"=\", a zone "
		  "file), got \"example.com\"",
		  "--zone", "example.com");
	RUN_FAILS("--zone: expected ORIGIN=FILE (a domain name, \"=\", a zone "
		  "file), got \"=a.zone\"",
		  "--zone", "=a.zone");
	RUN_FAILS("--zone: expected ORIGIN=FILE (a domain name, \"=\", a zone "
		  "file), got \"example.com=\"",
		  "--zone", "example.com=");
	RUN_FAILS("--zone: expected ORIGIN=FILE (a domain name, \"=\", a zone "
		  "file), got \"a..b=x\"",
		  "--zone", "a..b=x");
	RUN_FAILS("--address: expected an IPv4 or IPv6 address with an "
		  "optional /PREFIX (0..32, 0..128), got \"192.0.2.1/33\"",
		  "--address", "192.0.2.1/33");
	RUN_FAILS("--address: expected an IPv4 or IPv6 address with an "
		  "optional /PREFIX (0..32, 0..128), got \"2001:db8::1/129\"",
		  "--address", "2001:db8::1/129");
	RUN_FAILS("--address: expected an IPv4 or IPv6 address with an "
		  "optional /PREFIX (0..32, 0..128), got \"localhost\"",
		  "--address", "localhost");
}

static void test_cli_syntax_errors(void **state)
{
	(void)state;
	RUN_FAILS("unknown option \"--frobnicate\" (see --help)",
		  "--frobnicate");
	RUN_FAILS("unknown option \"--frobnicate=1\" (see --help)",
		  "--frobnicate=1");
	RUN_FAILS("unknown option \"-x\" (see --help)", "-x");
	RUN_FAILS("unknown option \"--help=1\" (see --help)", "--help=1");
	RUN_FAILS("--workers: missing value (expected an integer 1..127)",
		  "--zone", "a.=a", "--workers");
	RUN_FAILS("--zone: missing value (expected ORIGIN=FILE (a domain "
		  "name, \"=\", a zone file))",
		  "--zone");
	RUN_FAILS("--config: missing value (expected a file name)", "--config");
	RUN_FAILS("unexpected argument \"extra\" (EAL arguments go after --)",
		  "--zone", "a.=a", "extra");
	/* a bad value is reported before anything else is looked at */
	RUN_FAILS("--workers: expected an integer 1..127, got \"x\"",
		  "--config", "/nonexistent.yaml", "--workers", "x");
}

static void test_cli_required(void **state)
{
	struct lv_config c;

	(void)state;
	RUN_FAILS("nothing to serve: give --zone ORIGIN=FILE or --forward "
		  "SUFFIX=ADDR (zones: or forward: in the config)",
		  "--iface", "pcap:a,b");
	RUN_FAILS("nowhere to serve: give --iface (a bypass port) or --listen "
		  "ADDR[@PORT] (host sockets)",
		  "--zone", "a.=a");
	RUN_FAILS("--zone A.=y: duplicate zone \"A.\" (first at --zone a=x)",
		  "--iface", "pcap:a,b", "--zone", "a=x", "--zone", "A.=y");

	/* --help and --version need nothing else */
	assert_int_equal(run(&c, "--help", NULL), 0);
	assert_true(c.show_help);
	lv_config_free(&c);
	assert_int_equal(run(&c, "-h", NULL), 0);
	assert_true(c.show_help);
	lv_config_free(&c);
	assert_int_equal(run(&c, "--version", NULL), 0);
	assert_true(c.show_version);
	assert_false(c.show_help);
	lv_config_free(&c);
	assert_int_equal(run(&c, "-V", "--config", "/nonexistent", NULL), 0);
	assert_true(c.show_version);
	lv_config_free(&c);
}

/* Every key of the file. */
static void test_file_gateways(void **state)
{
	struct lv_config c;

	(void)state;
	lv_config_init(&c);
	assert_int_equal(
	    lv_config_load_file(data("gateways.yaml"), &c, err, sizeof(err)),
	    0);
	assert_int_equal(c.n_gateways, 2);
	assert_int_equal(c.gateways[0].family, AF_INET);
	assert_int_equal(c.gateways[1].family, AF_INET6);
	lv_config_free(&c);
}

static void test_file_every_key(void **state)
{
	struct lv_config c;
	char want[PATH_MAX + 64];

	(void)state;
	lv_config_init(&c);
	assert_int_equal(
	    lv_config_load_file(data("full.yaml"), &c, err, sizeof(err)), 0);
	assert_string_equal(c.config_file, data("full.yaml"));
	assert_string_equal(c.iface, "pcap:in.pcap,out.pcap");
	assert_int_equal(c.iface_kind, LV_IFACE_PCAP);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.n_addrs, 2);
	assert_int_equal(c.addrs[0].family, AF_INET);
	assert_int_equal(c.addrs[0].prefix_len, 32);
	assert_int_equal(c.addrs[1].family, AF_INET6);
	assert_int_equal(c.addrs[1].prefix_len, 64);
	assert_int_equal(c.udp_max, 1400);
	assert_int_equal(c.miss_ring_size, 8192);
	assert_int_equal(c.idle_sleep_us, 200);
	assert_int_equal(c.hugepages, LV_HUGE_OFF);
	assert_false(c.in_memory);
	assert_string_equal(c.log_level, "debug");
	assert_true(c.cache_memory == 64ull << 20);
	assert_int_equal(c.cache_entries, 100000);
	assert_int_equal(c.n_zones, 2);
	assert_string_equal(c.zones[0].origin, "example.com.");
	/* relative to the file's directory; absolute kept */
	snprintf(want, sizeof(want), "%s/example.com.zone", data_dir);
	assert_string_equal(c.zones[0].file, want);
	snprintf(want, sizeof(want), "%s:16", data("full.yaml"));
	assert_string_equal(c.zones[0].where, want);
	assert_string_equal(c.zones[1].origin, "example.net");
	assert_string_equal(c.zones[1].file, "/var/lib/levee/example.net.zone");
	assert_int_equal(c.eal_argc, 2);
	assert_string_equal(c.eal_argv[0], "--no-pci");
	assert_string_equal(c.eal_argv[1], "--log-level=lib.eal:debug");
	assert_null(c.eal_argv[2]);
	lv_config_free(&c);

	/* an empty file changes nothing */
	lv_config_init(&c);
	assert_int_equal(
	    lv_config_load_file(data("empty.yaml"), &c, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 1);
	assert_int_equal(c.n_zones, 0);
	lv_config_free(&c);
}

/* A config named without a directory: zone paths stay as written. */
static void test_file_relative_to_cwd(void **state)
{
	struct lv_config c;
	char cwd[PATH_MAX];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(data_dir), 0);
	lv_config_init(&c);
	assert_int_equal(
	    lv_config_load_file("minimal.yaml", &c, err, sizeof(err)), 0);
	assert_string_equal(c.zones[0].file, "zones/example.org.zone");
	assert_string_equal(c.zones[0].where, "minimal.yaml:7");
	lv_config_free(&c);
	assert_int_equal(chdir(cwd), 0);
}

/* File first, command line over it; lists appended. */
static void test_file_then_cli(void **state)
{
	struct lv_config c;
	char want[PATH_MAX + 64];

	(void)state;
	assert_int_equal(run(&c, "--workers", "2", "--zone", "cli.=cli.zone",
			     "--config", data("minimal.yaml"), "--address",
			     "2001:db8::1", "--iface", "pcap:a,b", "--", "-l",
			     "0-1", NULL),
			 0);
	assert_string_equal(c.config_file, data("minimal.yaml"));
	assert_int_equal(c.workers, 2);    /* command line wins */
	assert_int_equal(c.udp_max, 1400); /* file, no option given */
	assert_string_equal(c.iface, "pcap:a,b");
	assert_int_equal(c.iface_kind, LV_IFACE_PCAP);
	assert_int_equal(c.miss_ring_size, 4096); /* neither: default */
	assert_int_equal(c.n_zones, 2);
	assert_string_equal(c.zones[0].origin, "example.org.");
	snprintf(want, sizeof(want), "%s/zones/example.org.zone", data_dir);
	assert_string_equal(c.zones[0].file, want);
	assert_string_equal(c.zones[1].origin, "cli.");
	assert_string_equal(c.zones[1].file, "cli.zone");
	assert_int_equal(c.n_addrs, 2);
	assert_int_equal(c.addrs[0].family, AF_INET);
	assert_int_equal(c.addrs[1].family, AF_INET6);
	assert_int_equal(c.eal_argc, 3); /* the file's, then after "--" */
	assert_string_equal(c.eal_argv[0], "--no-pci");
	assert_string_equal(c.eal_argv[1], "-l");
	assert_string_equal(c.eal_argv[2], "0-1");
	lv_config_free(&c);

	/* the file alone can supply interface and zones */
	assert_int_equal(
	    run(&c, "--config", data("full.yaml"), "--no-in-memory", NULL), 0);
	assert_int_equal(c.workers, 4);
	assert_false(c.in_memory);
	lv_config_free(&c);
}

static void test_file_duplicates(void **state)
{
	const char *dup = data("dup_zones.yaml");
	const char *min = data("minimal.yaml");
	char want[3 * PATH_MAX];

	(void)state;
	/* within the file: case and the trailing dot do not matter */
	snprintf(want, sizeof(want),
		 ":6: duplicate zone \"EXAMPLE.com\" (first at %s:2)", dup);
	load_fails("dup_zones.yaml", want);

	/* between the file and the command line */
	snprintf(want, sizeof(want),
		 "--zone EXAMPLE.ORG=x: duplicate zone \"EXAMPLE.ORG\" (first "
		 "at %s:7)",
		 min);
	RUN_FAILS(want, "--config", min, "--zone", "EXAMPLE.ORG=x");

	/* and through lv_config_parse, the file's own message */
	snprintf(want, sizeof(want),
		 "%s:6: duplicate zone \"EXAMPLE.com\" (first at %s:2)", dup,
		 dup);
	RUN_FAILS(want, "--config", dup, "--iface", "pcap:a,b");
}

/* SIGHUP: the file is read again and the command line still wins. */
static void test_reload(void **state)
{
	char path[] = "/tmp/levee-test-config-XXXXXX";
	struct lv_config c, fresh;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("server: {interface: \"pcap:a,b\", workers: 3, udp-max-payload: "
	      "1400}\nzones: [{origin: a., file: a.zone}]\n",
	      f);
	fclose(f);
	assert_int_equal(
	    run(&c, "--config", path, "--workers", "2", "--", "--no-pci", NULL),
	    0);
	assert_int_equal(c.workers, 2);
	assert_int_equal(c.udp_max, 1400);

	f = fopen(path, "w");
	fputs("server: {interface: \"pcap:a,b\", workers: 5, udp-max-payload: "
	      "1300}\nzones: [{origin: a., file: a.zone}, {origin: b., file: "
	      "/b.zone}]\n",
	      f);
	fclose(f);
	assert_int_equal(lv_config_reload(&c, &fresh, err, sizeof(err)), 0);
	assert_int_equal(fresh.workers, 2);    /* still the command line's */
	assert_int_equal(fresh.udp_max, 1300); /* the new file's */
	assert_int_equal(fresh.n_zones, 2);
	assert_string_equal(fresh.zones[1].file, "/b.zone");
	assert_int_equal(fresh.eal_argc, 1);
	assert_int_equal(c.udp_max, 1400); /* the old one is untouched */
	lv_config_free(&fresh);

	/* a broken file on reload is an error, the old config stays */
	f = fopen(path, "w");
	fputs("server: {workers: many}\n", f);
	fclose(f);
	assert_int_equal(lv_config_reload(&c, &fresh, err, sizeof(err)), -1);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want),
		 "%s:1: server.workers: expected an integer 1..127, got "
		 "\"many\"",
		 path);
	assert_string_equal(err, want);
	lv_config_free(&fresh);
	lv_config_free(&c);
	unlink(path);
}

/* keys:, transfer:, per-zone allow-transfer/notify, tcp-listen, and the
 * same through the command line. */
static void test_transfer(void **state)
{
	const struct lv_acl_conf *acl;
	const struct lv_remote_conf *nt;
	struct lv_config c;
	unsigned n;

	(void)state;
	assert_int_equal(run(&c, "--config", data("transfer.yaml"), "--key",
			     "hmac-sha1:cli-key:Y2xp", "--allow-transfer",
			     "key=cli-key", "--ixfr-history", "5", "--notify",
			     "192.0.2.9", "--tcp-listen", "[::1]", NULL),
			 -1);
	assert_string_equal(err, "--tcp-listen: expected ADDR[@PORT], got "
				 "\"[::1]\"");
	lv_config_free(&c);
	assert_int_equal(run(&c, "--config", data("transfer.yaml"), "--key",
			     "hmac-sha1:cli-key:Y2xp", "--allow-transfer",
			     "key=cli-key", "--ixfr-history", "5", "--notify",
			     "192.0.2.9", "--zone", "example.org=x.zone", NULL),
			 0);
	assert_int_equal(c.n_keys, 3);
	assert_string_equal(c.keys[0].name, "xfr-key.");
	assert_string_equal(c.keys[0].algorithm, "hmac-sha512");
	assert_string_equal(c.keys[1].algorithm, "hmac-sha256");
	assert_string_equal(c.keys[2].name, "cli-key");
	assert_string_equal(c.keys[2].algorithm, "hmac-sha1");
	assert_string_equal(c.keys[2].secret, "Y2xp");
	assert_int_equal(c.ixfr_history, 5);
	assert_int_equal(c.n_tcp_listen, 2);
	assert_int_equal(c.tcp_listen[0].port, 5353);
	assert_int_equal(c.tcp_listen[1].port, 53);
	assert_int_equal(c.tcp_listen[1].addr.family, AF_INET6);
	/* example.com and the command-line zone: the global lists */
	lv_config_zone_acl(&c, "EXAMPLE.com", &acl, &n);
	assert_int_equal(n, 4);
	assert_true(acl[0].has_prefix);
	assert_int_equal(acl[0].prefix.prefix_len, 24);
	assert_null(acl[0].key);
	assert_false(acl[1].has_prefix);
	assert_string_equal(acl[1].key, "xfr-key.");
	assert_true(acl[2].has_prefix);
	assert_int_equal(acl[2].prefix.family, AF_INET6);
	assert_string_equal(acl[2].key, "xfr-key");
	assert_string_equal(acl[3].key, "cli-key");
	lv_config_zone_notify(&c, "example.org.", &nt, &n);
	assert_int_equal(n, 2);
	assert_int_equal(nt[0].port, 5300);
	assert_string_equal(nt[0].key, "notify-key");
	assert_int_equal(nt[1].port, 53);
	assert_null(nt[1].key);
	/* example.net: its own (empty) ACL and its own target */
	lv_config_zone_acl(&c, "example.net", &acl, &n);
	assert_int_equal(n, 0);
	lv_config_zone_notify(&c, "example.net", &nt, &n);
	assert_int_equal(n, 1);
	assert_null(nt[0].key);
	lv_config_free(&c);

	load_fails("transfer_badkey.yaml",
		   ":2: transfer.allow: key \"nokey.\" is not defined (keys:, "
		   "--key or --key-file)");
}

/* found by fuzz_config: a key whose algorithm holds a tab made
 * lv_conf_new's message two lines; it names the key's file:line, on one */
static void test_key_error_one_line(void **state)
{
	struct lv_config c;
	char want[PATH_MAX + 16];
	const char *path = data("key_bad_algorithm.yaml");

	(void)state;
	lv_config_init(&c);
	assert_int_equal(lv_config_load_file(path, &c, err, sizeof(err)), 0);
	assert_null(lv_conf_new(&c, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:2: ", path);
	assert_memory_equal(err, want, strlen(want));
	assert_non_null(strstr(err, "hm?ac-sha512"));
	for (const char *p = err; *p; p++)
		assert_true((unsigned char)*p >= 0x20);
	lv_config_free(&c);
}

static void test_transfer_errors(void **state)
{
	(void)state;
	RUN_FAILS("--key: expected [ALGORITHM:]NAME:SECRET (SECRET in base64), "
		  "got \"nosecret\"",
		  "--key", "nosecret");
	RUN_FAILS("--allow-transfer: expected PREFIX, key=NAME or "
		  "PREFIX,key=NAME (PREFIX: an address with an optional /LEN), "
		  "got \"10.0.0.0/8,kee=x\"",
		  "--allow-transfer", "10.0.0.0/8,kee=x");
	RUN_FAILS("--notify: expected ADDR[@PORT][,key=NAME], got "
		  "\"192.0.2.1@0\"",
		  "--notify", "192.0.2.1@0");
	RUN_FAILS("--ixfr-history: expected an integer 0..1000, got \"1001\"",
		  "--ixfr-history", "1001");
	RUN_FAILS(
	    "transfer.allow: key \"nokey\" is not defined (keys:, --key or "
	    "--key-file)",
	    "--zone", "a=b", "--iface", "af_packet:x", "--allow-transfer",
	    "key=nokey");
	RUN_FAILS("--key: duplicate key \"k.\" (first at --key)", "--zone",
		  "a=b", "--iface", "af_packet:x", "--key", "k:YQ==", "--key",
		  "k.:Yg==");
	load_fails("transfer_badacl.yaml",
		   ":5: zones[0].allow-transfer: expected PREFIX, key=NAME or "
		   "PREFIX,key=NAME (PREFIX: an address with an optional "
		   "/LEN), got \"10.53.0.0/33\"");
}

static void test_file_errors(void **state)
{
	(void)state;
	load_fails(
	    "unknown_key.yaml",
	    ":3: unknown key \"workerz\" in server (expected one of: "
	    "interface, workers, addresses, udp-max-payload, "
	    "miss-ring-size, hugepages, in-memory, log-level, "
	    "idle-sleep-us, gateways, tcp-idle-timeout-ms, "
	    "tcp-max-clients, tcp-max-per-client, tcp-out-buffer, tcp-listen, "
	    "tune-kernel, max-requests, listen)");
	load_fails("unknown_section.yaml",
		   ":3: unknown key \"zone\" in the top level (expected one "
		   "of: server, cache, zones, eal, transfer, keys, forward, "
		   "forwarding)");
	load_fails("bad_gateways.yaml",
		   ":2: server.gateways: expected an IPv4 or IPv6 address "
		   "without a prefix, got \"192.0.2.253\"");
	load_fails("bad_workers.yaml",
		   ":2: server.workers: expected an integer 1..127, got "
		   "\"abc\"");
	/* a quoted value with a newline in it made
	 * the message two lines */
	load_fails("bad_newline.yaml",
		   ":2: server.workers: expected an integer 1..127, got "
		   "\"4?5\"");
	load_fails("bad_memory.yaml",
		   ":2: cache.memory: expected a size of at least 1M (a number "
		   "with an optional K, M or G suffix), got \"512K\"");
	load_fails("bad_address.yaml",
		   ":4: server.addresses: expected an IPv4 or IPv6 address "
		   "with an optional /PREFIX (0..32, 0..128), got "
		   "\"192.0.2.2/33\"");
	load_fails("bad_section.yaml",
		   ":1: server: expected a mapping of keys, got a list");
	load_fails("syntax.yaml",
		   ":3: YAML syntax error: did not find expected "
		   "key (while parsing a block mapping)");
	load_fails("dup_key.yaml",
		   ":4: duplicate key \"workers\" in server (first at line 2)");
	load_fails("zone_no_file.yaml", ":4: zones[1]: missing \"file\"");
	load_fails("zone_bad_origin.yaml",
		   ":2: zones[0].origin: expected a domain name, got "
		   "\"bad..name\"");
	load_fails("zone_unknown_key.yaml",
		   ":3: unknown key \"path\" in zones[0] (expected one of: "
		   "origin, file, allow-transfer, notify)");
	load_fails("zones_not_list.yaml",
		   ":2: zones: expected a list of {origin, file} mappings, got "
		   "a mapping");
	load_fails("eal_not_list.yaml",
		   ":1: eal: expected a list of strings, got a value");
	load_fails("top_list.yaml",
		   ":1: expected a mapping of sections (server, cache, zones, "
		   "eal, transfer, keys, forward, forwarding), got a list");
	load_fails("nonexistent.yaml", ": cannot open: No such file or "
				       "directory");
	load_fails(".", ": cannot open: Is a directory");
}

/* ---- TSIG secrets from files ----------------------------------------- */

static char key_dir[] = "/tmp/levee-test-keys-XXXXXX";

/* key_dir/name */
static const char *key_path(const char *name)
{
	static char buf[4][PATH_MAX];
	static unsigned n;
	char *b = buf[n++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", key_dir, name);
	return b;
}

/* Write text to key_dir/name with the given mode; returns its path. */
static const char *put_file(const char *name, const char *text, mode_t mode)
{
	const char *path = key_path(name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static int key_dir_setup(void **state)
{
	(void)state;
	return mkdtemp(key_dir) != NULL ? 0 : -1;
}

static int key_dir_teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", key_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* --key-file [ALG:]NAME:PATH: the secret is read once, whitespace around
 * it cut; the path may hold colons; nothing is warned for mode 0600. */
static void test_key_file_cli(void **state)
{
	const char *k1 = put_file("k1.key", "  c2VjcmV0MQ==\n\n", 0600);
	const char *k2 = put_file("k2.key", "c2VjcmV0Mg==", 0400);
	const char *k3 = put_file("a:b.key", "c2VjcmV0Mw==\n", 0600);
	char o1[PATH_MAX + 16], o2[PATH_MAX + 32], o3[PATH_MAX + 16];
	struct lv_config c;

	(void)state;
	snprintf(o1, sizeof(o1), "k1:%s", k1);
	snprintf(o2, sizeof(o2), "HMAC-SHA512:k2.:%s", k2);
	snprintf(o3, sizeof(o3), "k3:%s", k3);
	lv_test_capture_start();
	assert_int_equal(run(&c, "--zone", "a=b", "--iface", "af_packet:x",
			     "--key-file", o1, "--key", "k0:YQ==", "--key-file",
			     o2, "--key-file", o3, "--allow-transfer", "key=k3",
			     NULL),
			 0);
	assert_string_equal(lv_test_capture_end(), "");
	assert_int_equal(c.n_keys, 4);
	assert_string_equal(c.keys[0].name, "k1");
	assert_string_equal(c.keys[0].algorithm, "hmac-sha256");
	assert_string_equal(c.keys[0].secret, "c2VjcmV0MQ==");
	assert_string_equal(c.keys[0].secret_file, k1);
	assert_string_equal(c.keys[0].where, "--key-file");
	assert_string_equal(c.keys[1].name, "k0");
	assert_null(c.keys[1].secret_file);
	assert_string_equal(c.keys[2].name, "k2.");
	assert_string_equal(c.keys[2].algorithm, "HMAC-SHA512");
	assert_string_equal(c.keys[2].secret, "c2VjcmV0Mg==");
	assert_string_equal(c.keys[3].name, "k3");
	assert_string_equal(c.keys[3].secret, "c2VjcmV0Mw==");
	assert_string_equal(c.keys[3].secret_file, k3);
	/* the saved command line (re-parsed on SIGHUP) has only the path */
	for (int i = 0; i < c.argc; i++)
		assert_null(strstr(c.argv[i], "c2VjcmV0"));
	lv_config_free(&c);
}

/* Every way a secret file can be unusable: one line naming the option and
 * the path, never the content. */
static void test_key_file_cli_errors(void **state)
{
	char big[LV_CONFIG_SECRET_FILE_MAX + 8], want[2 * PATH_MAX],
	    opt[PATH_MAX];
	const char *bad;

	(void)state;
	RUN_FAILS("--key-file: expected [ALGORITHM:]NAME:PATH (PATH: a file "
		  "holding the base64 secret), got \"nopath\"",
		  "--key-file", "nopath");
	RUN_FAILS("--key-file: expected [ALGORITHM:]NAME:PATH (PATH: a file "
		  "holding the base64 secret), got \"k:\"",
		  "--key-file", "k:");
	RUN_FAILS("--key-file: expected [ALGORITHM:]NAME:PATH (PATH: a file "
		  "holding the base64 secret), got \"bad..name:/x\"",
		  "--key-file", "bad..name:/x");

	snprintf(opt, sizeof(opt), "k:%s", key_path("absent.key"));
	snprintf(want, sizeof(want),
		 "--key-file: cannot read secret file %s: No such file or "
		 "directory",
		 key_path("absent.key"));
	RUN_FAILS(want, "--key-file", opt);

	snprintf(opt, sizeof(opt), "k:%s", key_dir);
	snprintf(want, sizeof(want),
		 "--key-file: cannot read secret file %s: Is a directory",
		 key_dir);
	RUN_FAILS(want, "--key-file", opt);

	snprintf(opt, sizeof(opt), "k:%s", "/dev/null");
	RUN_FAILS("--key-file: cannot read secret file /dev/null: not a "
		  "regular file",
		  "--key-file", opt);

	bad = put_file("empty.key", " \n\t\n", 0600);
	snprintf(opt, sizeof(opt), "k:%s", bad);
	snprintf(want, sizeof(want),
		 "--key-file: secret file %s is empty (expected the secret "
		 "alone, in base64)",
		 bad);
	RUN_FAILS(want, "--key-file", opt);

	bad = put_file("notb64.key", "c2Vj cmV0\n", 0600);
	snprintf(opt, sizeof(opt), "k:%s", bad);
	snprintf(want, sizeof(want),
		 "--key-file: secret file %s is not base64 (expected the "
		 "secret alone, in base64)",
		 bad);
	RUN_FAILS(want, "--key-file", opt);

	/* a BIND key file is not what is expected */
	bad = put_file("bind.key",
		       "key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret "
		       "\"c2VjcmV0\";\n};\n",
		       0600);
	snprintf(opt, sizeof(opt), "k:%s", bad);
	snprintf(want, sizeof(want),
		 "--key-file: secret file %s is not base64 (expected the "
		 "secret alone, in base64)",
		 bad);
	RUN_FAILS(want, "--key-file", opt);

	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bad = put_file("big.key", big, 0600);
	snprintf(opt, sizeof(opt), "k:%s", bad);
	snprintf(want, sizeof(want),
		 "--key-file: secret file %s is larger than 4096 bytes "
		 "(expected the secret alone, in base64)",
		 bad);
	RUN_FAILS(want, "--key-file", opt);

	/* a path that cannot be opened for another reason (root reads
	 * any mode, so a 0000 file would not fail here) */
	snprintf(opt, sizeof(opt), "k:%s/k1.key/x", key_dir);
	put_file("k1.key", "YQ==\n", 0600);
	snprintf(want, sizeof(want),
		 "--key-file: cannot read secret file %s/k1.key/x: Not a "
		 "directory",
		 key_dir);
	RUN_FAILS(want, "--key-file", opt);
}

/* A secret file others may read: one warning line, and it still works. */
static void test_key_file_mode_warning(void **state)
{
	const char *k = put_file("open.key", "YWJj\n", 0644);
	char opt[PATH_MAX], want[2 * PATH_MAX];
	struct lv_config c;

	(void)state;
	snprintf(opt, sizeof(opt), "k:%s", k);
	lv_test_capture_start();
	assert_int_equal(run(&c, "--zone", "a=b", "--iface", "af_packet:x",
			     "--key-file", opt, NULL),
			 0);
	lv_test_capture_end();
	snprintf(want, sizeof(want),
		 "levee: warning: --key-file: secret file %s is readable by "
		 "group or others (mode 0644): chmod 600 it\n",
		 k);
	/* read once: warned once */
	assert_string_equal(lv_test_captured, want);
	assert_string_equal(c.keys[0].secret, "YWJj");
	lv_config_free(&c);
	/* read again (SIGHUP, the reload thread): not warned again... */
	lv_test_capture_start();
	assert_int_equal(run(&c, "--zone", "a=b", "--iface", "af_packet:x",
			     "--key-file", opt, NULL),
			 0);
	assert_string_equal(lv_test_capture_end(), "");
	lv_config_free(&c);
	/* ...until its mode changes */
	assert_int_equal(chmod(k, 0604), 0);
	lv_test_capture_start();
	assert_int_equal(run(&c, "--zone", "a=b", "--iface", "af_packet:x",
			     "--key-file", opt, NULL),
			 0);
	lv_test_capture_end();
	assert_non_null(
	    strstr(lv_test_captured, "(mode 0604): chmod 600 it\n"));
	lv_config_free(&c);

	k = put_file("group.key", "YWJj\n", 0640);
	snprintf(opt, sizeof(opt), "k:%s", k);
	lv_test_capture_start();
	assert_int_equal(run(&c, "--zone", "a=b", "--iface", "af_packet:x",
			     "--key-file", opt, NULL),
			 0);
	lv_test_capture_end();
	assert_non_null(
	    strstr(lv_test_captured, "(mode 0640): chmod 600 it\n"));
	lv_config_free(&c);
}

/* keys[].secret-file, relative to the config file's directory, and never
 * together with secret. */
static void test_key_file_yaml(void **state)
{
	const char *cfg;
	char want[3 * PATH_MAX];
	struct lv_config c;

	(void)state;
	assert_int_equal(mkdir(key_path("sub"), 0700), 0);
	put_file("sub/rel.key", "cmVsYXRpdmU=\n", 0600);
	cfg = put_file("keys.yaml",
		       "keys:\n"
		       "  - name: inline\n"
		       "    secret: aW5saW5l\n"
		       "  - name: rel\n"
		       "    algorithm: hmac-sha1\n"
		       "    secret-file: sub/rel.key\n",
		       0600);
	lv_test_capture_start();
	lv_config_init(&c);
	assert_int_equal(lv_config_load_file(cfg, &c, err, sizeof(err)), 0);
	assert_string_equal(lv_test_capture_end(), "");
	assert_int_equal(c.n_keys, 2);
	assert_null(c.keys[0].secret_file);
	assert_string_equal(c.keys[0].secret, "aW5saW5l");
	assert_string_equal(c.keys[1].name, "rel");
	assert_string_equal(c.keys[1].algorithm, "hmac-sha1");
	assert_string_equal(c.keys[1].secret, "cmVsYXRpdmU=");
	assert_string_equal(c.keys[1].secret_file, key_path("sub/rel.key"));
	snprintf(want, sizeof(want), "%s:4", cfg);
	assert_string_equal(c.keys[1].where, want);
	lv_config_free(&c);

	/* both */
	cfg = put_file("both.yaml",
		       "keys:\n"
		       "  - name: k\n"
		       "    secret: YQ==\n"
		       "    secret-file: sub/rel.key\n",
		       0600);
	lv_config_init(&c);
	assert_int_equal(lv_config_load_file(cfg, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s:4: keys[0]: give \"secret\" or \"secret-file\", not both",
		 cfg);
	assert_string_equal(err, want);
	lv_config_free(&c);

	/* neither */
	cfg = put_file("neither.yaml",
		       "keys:\n"
		       "  - name: a\n"
		       "    secret: YQ==\n"
		       "  - name: k\n"
		       "    algorithm: hmac-sha256\n",
		       0600);
	lv_config_init(&c);
	assert_int_equal(lv_config_load_file(cfg, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s:4: keys[1]: missing \"secret\" or \"secret-file\"", cfg);
	assert_string_equal(err, want);
	lv_config_free(&c);

	/* missing file: FILE:LINE, the key and the joined path */
	cfg = put_file("missing.yaml",
		       "keys:\n"
		       "  - name: k\n"
		       "    secret-file: sub/absent.key\n",
		       0600);
	lv_config_init(&c);
	assert_int_equal(lv_config_load_file(cfg, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s:3: keys[0].secret-file: cannot read secret file %s: No "
		 "such file or directory",
		 cfg, key_path("sub/absent.key"));
	assert_string_equal(err, want);
	lv_config_free(&c);

	/* not base64, and an absolute path is taken as it is */
	put_file("sub/bad.key", "secret!\n", 0600);
	snprintf(want, sizeof(want),
		 "keys:\n  - name: k\n    secret-file: %s\n",
		 key_path("sub/bad.key"));
	cfg = put_file("bad.yaml", want, 0600);
	lv_config_init(&c);
	assert_int_equal(lv_config_load_file(cfg, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s:3: keys[0].secret-file: secret file %s is not base64 "
		 "(expected the secret alone, in base64)",
		 cfg, key_path("sub/bad.key"));
	assert_string_equal(err, want);
	lv_config_free(&c);

	/* an empty value */
	cfg = put_file("novalue.yaml", "keys:\n  - name: k\n    secret-file:\n",
		       0600);
	lv_config_init(&c);
	assert_int_equal(lv_config_load_file(cfg, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s:3: keys[0].secret-file: expected a value", cfg);
	assert_string_equal(err, want);
	lv_config_free(&c);

	/* readable by others: warned with FILE:LINE */
	put_file("sub/open.key", "YQ==\n", 0604);
	cfg = put_file("open.yaml",
		       "keys:\n  - name: k\n    secret-file: sub/open.key\n",
		       0600);
	lv_config_init(&c);
	lv_test_capture_start();
	assert_int_equal(lv_config_load_file(cfg, &c, err, sizeof(err)), 0);
	lv_test_capture_end();
	snprintf(want, sizeof(want),
		 "levee: warning: %s:3: keys[0].secret-file: secret file %s "
		 "is readable by group or others (mode 0604): chmod 600 it\n",
		 cfg, key_path("sub/open.key"));
	assert_string_equal(lv_test_captured, want);
	lv_config_free(&c);

	/* SIGHUP reads the secret file again */
	put_file("sub/rel.key", "bmV3\n", 0600);
	cfg = key_path("keys.yaml");
	assert_int_equal(run(&c, "--config", cfg, "--zone", "a=b", "--iface",
			     "af_packet:x", NULL),
			 0);
	assert_string_equal(c.keys[1].secret, "bmV3");
	put_file("sub/rel.key", "bmV3ZXI=\n", 0600);
	struct lv_config fresh;
	assert_int_equal(lv_config_reload(&c, &fresh, err, sizeof(err)), 0);
	assert_string_equal(fresh.keys[1].secret, "bmV3ZXI=");
	lv_config_free(&fresh);
	lv_config_free(&c);
}

static int find_data_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (getenv("LV_TEST_DATA") != NULL) {
		snprintf(data_dir, sizeof(data_dir), "%s",
			 getenv("LV_TEST_DATA"));
		return 0;
	}
	/* __FILE__ is absolute, or relative to the build root, which is two
	 * levels above this test's executable (BUILD/tests/unit/test_config) */
	if (__FILE__[0] == '/') {
		snprintf(exe, sizeof(exe), "%s", __FILE__);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return -1;
		exe[n] = '\0';
		for (int up = 0; up < 3 && (slash = strrchr(exe, '/')); up++)
			*slash = '\0';
		snprintf(exe + strlen(exe), sizeof(exe) - strlen(exe), "/%s",
			 __FILE__);
	}
	*strrchr(exe, '/') = '\0';
	if (realpath(exe, data_dir) == NULL)
		return -1;
	strncat(data_dir, "/data/config",
		sizeof(data_dir) - strlen(data_dir) - 1);
	return access(data_dir, R_OK) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_parse_size),
	    cmocka_unit_test(test_parse_addr),
	    cmocka_unit_test(test_cli_every_option),
	    cmocka_unit_test(test_cli_values),
	    cmocka_unit_test(test_cli_iface_forms),
	    cmocka_unit_test(test_cli_iface_errors),
	    cmocka_unit_test(test_cli_errors),
	    cmocka_unit_test(test_cli_syntax_errors),
	    cmocka_unit_test(test_cli_required),
	    cmocka_unit_test(test_file_every_key),
	    cmocka_unit_test(test_file_gateways),
	    cmocka_unit_test(test_file_relative_to_cwd),
	    cmocka_unit_test(test_file_then_cli),
	    cmocka_unit_test(test_file_duplicates),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_transfer),
	    cmocka_unit_test(test_transfer_errors),
	    cmocka_unit_test(test_key_error_one_line),
	    cmocka_unit_test(test_reload),
	    cmocka_unit_test(test_key_file_cli),
	    cmocka_unit_test(test_key_file_cli_errors),
	    cmocka_unit_test(test_key_file_mode_warning),
	    cmocka_unit_test(test_key_file_yaml),
	};

	if (find_data_dir() < 0) {
		fprintf(stderr, "test_config: cannot find data/config\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, key_dir_setup, key_dir_teardown);
}
