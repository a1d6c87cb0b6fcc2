/*
 * Unit tests for the host-side network changes (host/hostnet.c): each
 * change is made, checked with iproute2 and /proc/sys, restored, and
 * checked to be exactly as before. Then the port quieting end to end: a
 * UDP datagram from a peer namespace to a service address on a dummy
 * "TAP" (a veth: this kernel has no dummy driver) is delivered through the port veth, then dropped once the port is
 * quieted (strict rp_filter alone drops IPv4; loose "all" undoes that),
 * and delivered again after restore. The journal file: a child process
 * journals changes and dies without restoring (a crash); a second opener
 * is refused while it lives and undoes its changes after; bad, foreign
 * and half-undoable journal files are refused with one line naming them.
 *
 * Runs as root: the process first moves into a network namespace of its
 * own (unshare(CLONE_NEWNET)), so every interface, address, route and
 * net/ sysctl it touches is private (/proc/sys/net follows the opener's
 * namespace, which test_sysctl checks) and vanishes with the process. The
 * peer namespace is a second unshare kept alive by an open nsfs fd. Fails
 * (exit 1, the reason on stderr) when it cannot have a namespace: a test
 * that cannot run is a failure, never a skip (docs/testing.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_capture.h"

#include "levee/hostnet.h"

static char err[512];
static char out[8192];
static int ns_main = -1; /* the test's namespace */

/* Run a shell command; fail the test if it fails. */
static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* A command's stdout, in out. */
static const char *run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	FILE *p;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	return out;
}

static void read_sysctl(const char *path, char *val, size_t len)
{
	char full[256];
	FILE *f;

	snprintf(full, sizeof(full), "/proc/sys/%s", path);
	f = fopen(full, "r");
	assert_non_null(f);
	assert_non_null(fgets(val, (int)len, f));
	fclose(f);
	val[strcspn(val, "\n")] = '\0';
}

static void assert_sysctl(const char *path, const char *want)
{
	char val[64];

	read_sysctl(path, val, sizeof(val));
	assert_string_equal(val, want);
}

static struct lv_addr addr(const char *s)
{
	struct lv_addr a;

	memset(&a, 0, sizeof(a));
	a.family = strchr(s, ':') ? AF_INET6 : AF_INET;
	a.prefix_len = a.family == AF_INET ? 32 : 128;
	assert_int_equal(inet_pton(a.family, s, a.addr), 1);
	return a;
}

static struct lv_addr prefixed(const char *s, unsigned len)
{
	struct lv_addr a = addr(s);

	a.prefix_len = (uint8_t)len;
	return a;
}

static void test_ifindex_mac(void **state)
{
	uint8_t mac[6];
	char want[32];

	(void)state;
	sh("ip link add lvnld0 address 02:53:00:00:00:0a type veth peer name "
	   "lvnld0p && ip link set lvnld0p up");
	assert_int_equal(lv_hostnet_ifindex("lvnld0", err, sizeof(err)),
			 (int)if_nametoindex("lvnld0"));
	assert_int_equal(lv_hostnet_get_mac("lvnld0", mac, err, sizeof(err)),
			 0);
	snprintf(want, sizeof(want), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
		 mac[1], mac[2], mac[3], mac[4], mac[5]);
	assert_string_equal(want, "02:53:00:00:00:0a");

	assert_int_equal(lv_hostnet_ifindex("lvnlnone", err, sizeof(err)),
			 -ENODEV);
	assert_non_null(strstr(err, "interface lvnlnone: "));
	assert_int_equal(lv_hostnet_ifindex("", err, sizeof(err)), -EINVAL);
	assert_int_equal(
	    lv_hostnet_ifindex("lvnl-name-too-long", err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err,
			    "interface 'lvnl-name-too-long': not a valid name");
	sh("ip link del lvnld0");
}

static void test_addr_route(void **state)
{
	struct lv_hostnet h;
	struct lv_addr a4 = prefixed("10.53.200.1", 24),
		       a6 = prefixed("fd53:200::1", 64);
	uint8_t gw4[4], gw6[16], far[4];

	(void)state;
	inet_pton(AF_INET, "10.53.200.254", gw4);
	inet_pton(AF_INET6, "fd53:200::fe", gw6);
	inet_pton(AF_INET, "10.53.201.1", far);
	sh("ip link add lvnls0 type veth peer name lvnls0p && ip link set "
	   "lvnls0p up && ip link set lvnls0 up");
	lv_hostnet_init(&h);

	assert_int_equal(lv_hostnet_add_addr(&h, "lvnls0", &a4, err, 512), 0);
	assert_int_equal(lv_hostnet_add_addr(&h, "lvnls0", &a6, err, 512), 0);
	run("ip -o addr show dev lvnls0");
	assert_non_null(strstr(out, "inet 10.53.200.1/24 "));
	run("ip -o addr show dev lvnls0 to fd53:200::1/128");
	assert_non_null(strstr(out, "inet6 fd53:200::1/64 "));
	assert_null(strstr(out, "tentative")); /* NODAD: usable now */
	/* already there: not ours, not journalled */
	assert_int_equal(lv_hostnet_add_addr(&h, "lvnls0", &a4, err, 512),
			 -EEXIST);
	assert_non_null(strstr(err, "interface lvnls0: add address "
				    "10.53.200.1/24: "));
	assert_int_equal(h.n, 2);

	/* the host's own default route (metric 0) keeps winning */
	sh("ip route add default via 10.53.200.253 dev lvnls0");
	assert_int_equal(
	    lv_hostnet_add_default_route(&h, "lvnls0", AF_INET, gw4, err, 512),
	    0);
	assert_int_equal(
	    lv_hostnet_add_default_route(&h, "lvnls0", AF_INET6, gw6, err, 512),
	    0);
	run("ip route show default");
	assert_non_null(strstr(out, "default via 10.53.200.254 dev lvnls0 "
				    "proto static metric 65053"));
	run("ip route get 192.0.2.1");
	assert_non_null(strstr(out, "via 10.53.200.253 "));
	run("ip -6 route show default");
	assert_non_null(strstr(out, "default via fd53:200::fe dev lvnls0 "
				    "proto static metric 65053"));
	assert_int_equal(
	    lv_hostnet_add_default_route(&h, "lvnls0", AF_INET, far, err, 512),
	    -ENETUNREACH);
	assert_non_null(strstr(err, "interface lvnls0: add default route "
				    "via 10.53.201.1 metric 65053: "));

	assert_int_equal(lv_hostnet_restore(&h), 0);
	assert_int_equal(h.n, 0);
	run("ip -o addr show dev lvnls0");
	assert_null(strstr(out, "10.53.200.1"));
	assert_null(strstr(out, "fd53:200::1"));
	run("ip route show default; ip -6 route show default");
	assert_string_equal(out, "");
	/* the host's route went with the address it depended on; put both
	 * back and check restore leaves what it did not add alone */
	sh("ip addr add 10.53.200.7/24 dev lvnls0 && "
	   "ip route add default via 10.53.200.253 dev lvnls0");
	assert_int_equal(
	    lv_hostnet_add_default_route(&h, "lvnls0", AF_INET, gw4, err, 512),
	    0);
	assert_int_equal(lv_hostnet_restore(&h), 0);
	run("ip route show default");
	assert_string_equal(out, "default via 10.53.200.253 dev lvnls0 \n");
	assert_int_equal(lv_hostnet_restore(&h), 0); /* idempotent */
	lv_hostnet_fini(&h);
	sh("ip link del lvnls0");
}

static void test_link(void **state)
{
	struct lv_hostnet h;
	const uint8_t mac[6] = {0x02, 0x53, 0, 0, 0, 0x01};
	uint8_t old[6], now[6];

	(void)state;
	sh("ip link add lvnlv0 type veth peer name lvnlv1");
	lv_hostnet_init(&h);
	assert_int_equal(lv_hostnet_get_mac("lvnlv0", old, err, 512), 0);
	assert_int_equal(lv_hostnet_set_mac(&h, "lvnlv0", mac, err, 512), 0);
	assert_int_equal(lv_hostnet_set_up(&h, "lvnlv0", err, 512), 0);
	assert_int_equal(lv_hostnet_get_mac("lvnlv0", now, err, 512), 0);
	assert_memory_equal(now, mac, 6);
	run("ip -o link show dev lvnlv0");
	assert_non_null(strstr(out, ",UP"));
	assert_int_equal(h.n, 2);

	assert_int_equal(lv_hostnet_restore(&h), 0);
	assert_int_equal(lv_hostnet_get_mac("lvnlv0", now, err, 512), 0);
	assert_memory_equal(now, old, 6);
	run("ip -o link show dev lvnlv0");
	assert_null(strstr(out, ",UP"));

	/* up already, same MAC: nothing to journal, so nothing undone */
	sh("ip link set lvnlv0 up");
	assert_int_equal(lv_hostnet_set_up(&h, "lvnlv0", err, 512), 0);
	assert_int_equal(lv_hostnet_set_mac(&h, "lvnlv0", old, err, 512), 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(lv_hostnet_restore(&h), 0);
	run("ip -o link show dev lvnlv0");
	assert_non_null(strstr(out, ",UP"));
	assert_int_equal(lv_hostnet_set_up(&h, "lvnlnone", err, 512), -ENODEV);
	lv_hostnet_fini(&h);
	sh("ip link del lvnlv0");
}

static void test_sysctl(void **state)
{
	struct lv_hostnet h;

	(void)state;
	sh("ip link add lvnlc0 type veth peer name lvnlc0p && ip link set "
	   "lvnlc0p up");
	/* lvnlc0 exists only in this namespace: /proc/sys/net is ours */
	assert_int_equal(access("/proc/sys/net/ipv4/conf/lvnlc0", F_OK), 0);
	lv_hostnet_init(&h);
	assert_sysctl("net/ipv4/conf/lvnlc0/rp_filter", "0");
	assert_int_equal(lv_hostnet_set_sysctl(&h,
					       "net/ipv4/conf/lvnlc0/rp_filter",
					       "1", err, 512),
			 0);
	assert_sysctl("net/ipv4/conf/lvnlc0/rp_filter", "1");
	/* same value again: nothing journalled */
	assert_int_equal(lv_hostnet_set_sysctl(&h,
					       "net/ipv4/conf/lvnlc0/rp_filter",
					       "1", err, 512),
			 0);
	assert_int_equal(h.n, 1);
	/* a multi-value sysctl comes back whole */
	assert_int_equal(lv_hostnet_set_sysctl(&h,
					       "net/ipv4/ip_local_port_range",
					       "40000 50000", err, 512),
			 0);

	assert_int_equal(
	    lv_hostnet_set_sysctl(&h, "/etc/passwd", "x", err, 512), -EINVAL);
	assert_int_equal(
	    lv_hostnet_set_sysctl(&h, "net/../kernel/hostname", "x", err, 512),
	    -EINVAL);
	assert_int_equal(
	    lv_hostnet_set_sysctl(&h, "net/ipv4/lvnl_none", "1", err, 512),
	    -ENOENT);
	assert_string_equal(
	    err, "sysctl /proc/sys/net/ipv4/lvnl_none: No such file or "
		 "directory");
	assert_int_equal(lv_hostnet_set_sysctl(&h,
					       "net/ipv4/conf/lvnlc0/rp_filter",
					       "strict", err, 512),
			 -EINVAL);
	assert_non_null(strstr(err, "rp_filter = 'strict': "));

	assert_int_equal(lv_hostnet_restore(&h), 0);
	assert_sysctl("net/ipv4/conf/lvnlc0/rp_filter", "0");
	assert_sysctl("net/ipv4/ip_local_port_range", "32768\t60999");
	lv_hostnet_fini(&h);
	sh("ip link del lvnlc0");
}

static void test_quiet_port(void **state)
{
	struct lv_hostnet h;
	struct lv_addr svc[2] = {addr("10.53.200.1"), addr("fd53:200::1")};

	(void)state;
	sh("ip link add lvnlq0 type veth peer name lvnlq1 && "
	   "ip link set lvnlq0 up && "
	   "ip addr add 10.53.200.1/24 dev lvnlq0 && "
	   "ip addr add 10.53.200.9/24 dev lvnlq0 && "
	   "ip addr add 10.53.201.9/24 dev lvnlq0 && "
	   "ip addr add fd53:200::1/64 dev lvnlq0 nodad && "
	   "ip addr add fd53:200::99/64 dev lvnlq0 nodad");
	lv_hostnet_init(&h);
	lv_test_capture_start();
	assert_int_equal(
	    lv_hostnet_quiet_port(&h, "lvnlq0", svc, 2, err, sizeof(err)), 0);
	snprintf(out, sizeof(out), "%s", lv_test_capture_end());
	assert_non_null(strstr(out, "took away service address "
				    "10.53.200.1/24"));
	assert_non_null(strstr(out, "took away service address "
				    "fd53:200::1/64"));
	assert_non_null(strstr(out, "address fd53:200::99/64 stops working"));
	assert_non_null(strstr(out, "secondary address 10.53.200.9/24 went "
				    "with the service address"));
	/* 10.53.201.9/24 is kept, and its route leaves by the port */
	assert_non_null(strstr(out, "1 IPv4 route(s) leave by it"));
	assert_sysctl("net/ipv4/conf/lvnlq0/rp_filter", "1");
	assert_sysctl("net/ipv4/conf/lvnlq0/arp_ignore", "8");
	assert_sysctl("net/ipv6/conf/lvnlq0/disable_ipv6", "1");
	run("ip -o addr show dev lvnlq0");
	assert_null(strstr(out, "10.53.200."));
	assert_non_null(strstr(out, "10.53.201.9/24"));
	assert_null(strstr(out, "inet6"));

	assert_int_equal(lv_hostnet_restore(&h), 0);
	assert_sysctl("net/ipv4/conf/lvnlq0/rp_filter", "0");
	assert_sysctl("net/ipv4/conf/lvnlq0/arp_ignore", "0");
	assert_sysctl("net/ipv6/conf/lvnlq0/disable_ipv6", "0");
	run("ip -o addr show dev lvnlq0");
	assert_non_null(strstr(out, "inet 10.53.200.1/24"));
	assert_non_null(strstr(out, "inet 10.53.200.9/24 "
				    "scope global secondary"));
	assert_non_null(strstr(out, "inet 10.53.201.9/24"));
	assert_non_null(strstr(out, "inet6 fd53:200::1/64"));
	assert_non_null(strstr(out, "inet6 fd53:200::99/64"));
	assert_int_equal(
	    lv_hostnet_quiet_port(&h, "lvnlnone", svc, 2, err, sizeof(err)),
	    -ENODEV);
	lv_hostnet_fini(&h);
	sh("ip link del lvnlq0");
}

static void test_check(void **state)
{
	struct lv_hostnet h;

	(void)state;
	sh("ip link add lvnlk0 type veth peer name lvnlk0p && ip link set "
	   "lvnlk0p up");
	lv_hostnet_init(&h);
	lv_test_capture_start();
	assert_int_equal(lv_hostnet_check("lvnlk0"), 0);
	assert_int_equal(lv_hostnet_set_sysctl(
			     &h, "net/ipv4/conf/all/rp_filter", "2", err, 512),
			 0);
	assert_int_equal(
	    lv_hostnet_set_sysctl(&h, "net/ipv4/ip_forward", "1", err, 512), 0);
	/* ip_forward=1 also sets every interface's forwarding */
	assert_int_equal(lv_hostnet_check("lvnlk0"), 3);
	snprintf(out, sizeof(out), "%s", lv_test_capture_end());
	assert_non_null(strstr(out, "/proc/sys/net/ipv4/conf/all/rp_filter "
				    "= 2: "));
	assert_non_null(strstr(out, "/proc/sys/net/ipv4/ip_forward = 1: "));
	assert_non_null(
	    strstr(out, "/proc/sys/net/ipv4/conf/lvnlk0/forwarding = 1: "));
	assert_int_equal(lv_hostnet_restore(&h), 0);
	assert_int_equal(lv_hostnet_check("lvnlk0"), 0);
	lv_hostnet_fini(&h);
	sh("ip link del lvnlk0");
}

/* Restore after a partial set-up whose interface has since vanished. */
static void test_restore_partial(void **state)
{
	struct lv_hostnet h;
	struct lv_addr a = prefixed("10.53.200.1", 24);

	(void)state;
	sh("ip link add lvnlr0 type veth peer name lvnlr0p && ip link set "
	   "lvnlr0p up && ip link set lvnlr0 up");
	lv_hostnet_init(&h);
	assert_int_equal(lv_hostnet_add_addr(&h, "lvnlr0", &a, err, 512), 0);
	assert_int_equal(
	    lv_hostnet_set_sysctl(&h, "net/ipv4/conf/lvnlr0/arp_ignore", "8",
				  err, 512),
	    0);
	assert_int_equal(lv_hostnet_add_addr(&h, "lvnlnone", &a, err, 512),
			 -ENODEV);
	assert_int_equal(h.n, 2);
	sh("ip link del lvnlr0");
	assert_int_equal(lv_hostnet_restore(&h), 0);
	assert_int_equal(h.n, 0);

	/* one that cannot be undone is counted, the rest still are */
	sh("ip link add lvnlr0 type veth peer name lvnlr0p && ip link set "
	   "lvnlr0p up && ip link set lvnlr0 up");
	assert_int_equal(lv_hostnet_add_addr(&h, "lvnlr0", &a, err, 512), 0);
	/* IPv6's MTU may not exceed the link's: lowering the link's makes
	 * the old value unwritable */
	assert_int_equal(lv_hostnet_set_sysctl(&h, "net/ipv6/conf/lvnlr0/mtu",
					       "1400", err, 512),
			 0);
	sh("ip link set lvnlr0 mtu 1300");
	lv_test_capture_start();
	assert_int_equal(lv_hostnet_restore(&h), 1);
	snprintf(out, sizeof(out), "%s", lv_test_capture_end());
	assert_non_null(strstr(out, "could not restore: sysctl "
				    "/proc/sys/net/ipv6/conf/lvnlr0/mtu = "
				    "'1500': "));
	run("ip -o addr show dev lvnlr0");
	assert_null(strstr(out, "10.53.200.1"));
	lv_hostnet_fini(&h);
	sh("ip link del lvnlr0");
}

/* ---- the journal file ------------------------------------------------- */

static char jdir[] = "/tmp/levee-test-journal-XXXXXX";

/* jdir/name */
static const char *jpath(const char *name)
{
	static char buf[4][PATH_MAX];
	static unsigned n;
	char *b = buf[n++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", jdir, name);
	return b;
}

/* The whole of a file, in out ("" when it does not exist). */
static const char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(out, 1, sizeof(out) - 1, f);
		fclose(f);
	}
	out[n] = '\0';
	return out;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static unsigned long long our_netns(void)
{
	struct stat st;

	assert_int_equal(stat("/proc/self/ns/net", &st), 0);
	return (unsigned long long)st.st_ino;
}

/* A journal header as levee writes it, for pid and our namespace. */
static const char *header(long pid)
{
	static char buf[256];

	snprintf(buf, sizeof(buf),
		 "levee host-change journal 1\npid %ld\nnetns %llu\n", pid,
		 our_netns());
	return buf;
}

/*
 * The crash: a child process (a levee) journals to a file, quiets a port
 * and raises somaxconn (per namespace), then dies without restoring.
 * While it lives, a second levee on the interface is refused; after, the
 * next one undoes the child's changes before making its own, so the
 * originals it records are the host's, and its clean restore leaves no
 * file behind.
 */
static void test_journal_crash(void **state)
{
	struct lv_addr svc[1] = {addr("10.53.210.1")};
	char idx[16], line[512], want[PATH_MAX + 256], somax[32];
	int ready[2], go[2];
	struct lv_hostnet h;
	pid_t child;
	char c;

	(void)state;
	sh("ip link add lvnlj0 type veth peer name lvnlj0p && "
	   "ip link set lvnlj0 up && ip addr add 10.53.210.1/24 dev lvnlj0 && "
	   "ip addr add 10.53.210.7/24 dev lvnlj0");
	read_sysctl("net/core/somaxconn", somax, sizeof(somax));
	snprintf(idx, sizeof(idx), "%u", if_nametoindex("lvnlj0"));
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	fflush(NULL);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int ok;

		lv_hostnet_init(&h);
		ok = lv_hostnet_journal_open(&h, jdir, "lvnlj0", err, 512) ==
			 0 &&
		     lv_hostnet_quiet_port(&h, "lvnlj0", svc, 1, err, 512) ==
			 0 &&
		     lv_hostnet_set_sysctl(&h, "net/core/somaxconn", "4099",
					   err, 512) == 0;
		if (!ok)
			fprintf(stderr, "child: %s\n", err);
		c = ok ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(0); /* no restore: as after SIGKILL */
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');

	/* the child's changes, and its journal listing the originals */
	assert_sysctl("net/ipv4/conf/lvnlj0/rp_filter", "1");
	assert_sysctl("net/core/somaxconn", "4099");
	slurp(jpath("lvnlj0.journal"));
	assert_non_null(strstr(out, header(child)));
	snprintf(line, sizeof(line),
		 "\nadd-addr %s lvnlj0 10.53.210.7/24\n"
		 "add-addr %s lvnlj0 10.53.210.1/24\n",
		 idx, idx);
	assert_non_null(strstr(out, line));
	snprintf(line, sizeof(line),
		 "\nsysctl %s lvnlj0 net/ipv4/conf/lvnlj0/rp_filter 0\n"
		 "sysctl %s lvnlj0 net/ipv4/conf/lvnlj0/arp_ignore 0\n"
		 "sysctl %s lvnlj0 net/ipv6/conf/lvnlj0/disable_ipv6 0\n"
		 "sysctl 0 - net/core/somaxconn %s\n",
		 idx, idx, idx, somax);
	assert_non_null(strstr(out, line));
	snprintf(line, sizeof(line), "%d\n", (int)child);
	assert_string_equal(slurp(jpath("lvnlj0.lock")), line);

	/* the child runs: refused, and nothing of its is touched */
	lv_hostnet_init(&h);
	assert_int_equal(lv_hostnet_journal_open(&h, jdir, "lvnlj0", err, 512),
			 -EBUSY);
	snprintf(want, sizeof(want),
		 "interface lvnlj0: levee pid %d already runs on it (%s "
		 "held): stop it first",
		 (int)child, jpath("lvnlj0.lock"));
	assert_string_equal(err, want);
	assert_string_equal(h.path, "");
	assert_sysctl("net/ipv4/conf/lvnlj0/rp_filter", "1");
	assert_non_null(strstr(slurp(jpath("lvnlj0.journal")), header(child)));

	/* the child dies without restoring */
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(waitpid(child, NULL, 0), child);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);

	lv_test_capture_start();
	assert_int_equal(lv_hostnet_journal_open(&h, jdir, "lvnlj0", err, 512),
			 0);
	snprintf(out, sizeof(out), "%s", lv_test_capture_end());
	snprintf(want, sizeof(want),
		 "levee: warning: host changes: levee pid %d exited without "
		 "undoing its host changes; undid the 6 recorded in %s\n",
		 (int)child, jpath("lvnlj0.journal"));
	assert_string_equal(out, want);
	assert_sysctl("net/ipv4/conf/lvnlj0/rp_filter", "0");
	assert_sysctl("net/ipv4/conf/lvnlj0/arp_ignore", "0");
	assert_sysctl("net/ipv6/conf/lvnlj0/disable_ipv6", "0");
	assert_sysctl("net/core/somaxconn", somax);
	run("ip -o addr show dev lvnlj0");
	assert_non_null(strstr(out, "inet 10.53.210.1/24"));
	assert_non_null(strstr(out, "inet 10.53.210.7/24 scope global "
				    "secondary"));
	/* the file is ours now, empty */
	assert_string_equal(slurp(jpath("lvnlj0.journal")),
			    strcat(strcpy(want, header(getpid())),
				   "# what levee changed on this host, oldest "
				   "first, and how to undo it\n"
				   "# (docs/operations.md); levee undoes it "
				   "newest first at exit, or at its next start "
				   "after a crash\n"));

	/* our own changes record the host's values, not the child's */
	assert_int_equal(lv_hostnet_quiet_port(&h, "lvnlj0", svc, 1, err, 512),
			 0);
	snprintf(line, sizeof(line),
		 "\nsysctl %s lvnlj0 net/ipv4/conf/lvnlj0/rp_filter 0\n", idx);
	assert_non_null(strstr(slurp(jpath("lvnlj0.journal")), line));
	/* a change that fails leaves nothing in the file */
	{
		struct lv_addr taken = prefixed("10.53.210.7", 24);
		sh("ip addr add 10.53.210.7/24 dev lvnlj0p");
		assert_int_equal(
		    lv_hostnet_add_addr(&h, "lvnlj0p", &taken, err, 512),
		    -EEXIST);
		assert_null(strstr(slurp(jpath("lvnlj0.journal")), "lvnlj0p"));
	}
	assert_int_equal(lv_hostnet_restore(&h), 0);
	assert_int_equal(access(jpath("lvnlj0.journal"), F_OK), -1);
	assert_int_equal(access(jpath("lvnlj0.lock"), F_OK), -1);
	assert_int_equal(access(jpath("lvnlj0.journal.tmp"), F_OK), -1);
	assert_sysctl("net/ipv4/conf/lvnlj0/rp_filter", "0");
	run("ip -o addr show dev lvnlj0");
	assert_non_null(strstr(out, "inet 10.53.210.1/24"));
	assert_int_equal(lv_hostnet_restore(&h), 0); /* idempotent */
	lv_hostnet_fini(&h);
	sh("ip link del lvnlj0");
}

/* A journal levee cannot use is an error naming file and line; it stays
 * where it is, and no lock is left held. */
static void test_journal_bad_files(void **state)
{
	static const struct {
		const char *body, *why;
	} cases[] = {
	    {"hello\n", ":1: not a levee journal (expected \"levee "
			"host-change journal 1\")"},
	    {"levee host-change journal 1\npids 3\n", ":2: expected \"pid N\""},
	    {"levee host-change journal 1\npid 3\n",
	     ":2: cut short (no header)"},
	    {NULL, ":5: not a change levee writes"},
	    {NULL, ":4: not a change levee writes"},
	    {NULL, ":4: not a change levee writes"},
	};
	char body[512], want[PATH_MAX + 256];
	struct lv_hostnet h;

	(void)state;
	lv_hostnet_init(&h);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *b = cases[i].body;

		if (i == 3) /* an unknown kind */
			b = strcat(strcpy(body, header(1)),
				   "# comment\nfrobnicate 1 x\n");
		else if (i == 4) /* an address without its prefix */
			b = strcat(strcpy(body, header(1)),
				   "add-addr 3 eth0 10.0.0.1\n");
		else if (i == 5) /* a name without an index */
			b = strcat(strcpy(body, header(1)), "down 0 eth0\n");
		put(jpath("bad.journal"), b);
		assert_int_equal(
		    lv_hostnet_journal_open(&h, jdir, "bad", err, 512),
		    -EINVAL);
		snprintf(want, sizeof(want), "%s%s", jpath("bad.journal"),
			 cases[i].why);
		assert_string_equal(err, want);
		assert_string_equal(slurp(jpath("bad.journal")), b);
		assert_string_equal(h.path, "");
	}

	/* its writer still runs although its lock file was removed: refused
	 * until it is gone (a child of ours has our program name) */
	{
		int hold[2];
		pid_t child;
		char c;

		assert_int_equal(pipe(hold), 0);
		fflush(NULL);
		child = fork();
		assert_true(child >= 0);
		if (child == 0) {
			close(hold[1]);
			_exit(read(hold[0], &c, 1) < 0);
		}
		close(hold[0]);
		put(jpath("alive.journal"), header(child));
		assert_int_equal(
		    lv_hostnet_journal_open(&h, jdir, "alive", err, 512),
		    -EBUSY);
		snprintf(want, sizeof(want),
			 "%s: written by levee pid %d, which still runs "
			 "(though not holding %s): stop it first",
			 jpath("alive.journal"), (int)child,
			 jpath("alive.lock"));
		assert_string_equal(err, want);
		assert_string_equal(h.path, "");
		close(hold[1]);
		assert_int_equal(waitpid(child, NULL, 0), child);
		lv_test_capture_start();
		assert_int_equal(
		    lv_hostnet_journal_open(&h, jdir, "alive", err, 512), 0);
		snprintf(out, sizeof(out), "%s", lv_test_capture_end());
		assert_non_null(strstr(out, "undid the 0 recorded in "));
		assert_int_equal(lv_hostnet_restore(&h), 0);
	}

	/* written in another network namespace */
	snprintf(body, sizeof(body),
		 "levee host-change journal 1\npid 77\nnetns 12345\n"
		 "sysctl 0 - net/ipv4/conf/all/rp_filter 0\n");
	put(jpath("other.journal"), body);
	assert_int_equal(lv_hostnet_journal_open(&h, jdir, "other", err, 512),
			 -EXDEV);
	snprintf(want, sizeof(want),
		 "%s: written by levee pid 77 in another network namespace "
		 "(net:[12345], ours is net:[%llu]): undo its changes there, "
		 "then remove the file",
		 jpath("other.journal"), our_netns());
	assert_string_equal(err, want);

	/* names that cannot be files; a second open */
	assert_int_equal(lv_hostnet_journal_open(&h, jdir, "a/b", err, 512),
			 -EINVAL);
	assert_string_equal(err,
			    "host changes journal: 'a/b' cannot name a file");
	assert_int_equal(lv_hostnet_journal_open(&h, jdir, "..", err, 512),
			 -EINVAL);
	assert_int_equal(lv_hostnet_journal_open(&h, jdir, "ok", err, 512), 0);
	assert_int_equal(lv_hostnet_journal_open(&h, jdir, "ok", err, 512),
			 -EINVAL);
	assert_int_equal(lv_hostnet_restore(&h), 0);
	assert_int_equal(access(jpath("ok.journal"), F_OK), -1);
	/* a directory that does not exist yet is made */
	assert_int_equal(
	    lv_hostnet_journal_open(&h, jpath("new"), "ok", err, 512), 0);
	assert_int_equal(access(jpath("new/ok.journal"), F_OK), 0);
	assert_int_equal(lv_hostnet_restore(&h), 0);
	lv_hostnet_fini(&h);
}

/*
 * A crashed levee's journal: changes whose interface is gone, or was made
 * again under the same name (another index), count as undone and are not
 * written to the new interface; one that cannot be undone stops start-up
 * and keeps the file for the next try.
 */
static void test_journal_gone_and_failed(void **state)
{
	char body[1024], want[PATH_MAX + 256];
	unsigned idx;
	struct lv_hostnet h;

	(void)state;
	sh("ip link add lvnlj1 type veth peer name lvnlj1p");
	idx = if_nametoindex("lvnlj1");
	assert_sysctl("net/ipv4/conf/lvnlj1/rp_filter", "0");
	snprintf(body, sizeof(body),
		 "%s"
		 "add-addr 999 lvnlgone 10.53.211.1/24\n"
		 "sysctl 999 lvnlgone net/ipv4/conf/lvnlgone/rp_filter 2\n"
		 "sysctl %u lvnlj1 net/ipv4/conf/lvnlj1/rp_filter 2\n"
		 "down %u lvnlj1\n"
		 "sysctl %u lvnlj1 net/ipv4/conf/lvnlj1/arp_ignore 1\n"
		 "sysctl 0 - net/ipv4/ip_local_port_range 40000\t50000\n"
		 "mac %u lvnlj1 02:53:00:00:00:77\n"
		 "del-route %u lvnlj1 fd53:211::fe\n"
		 "del-addr %u lvnlj1 10.53.211.9/24\n",
		 header(1), idx + 1000, idx + 1000, idx, idx, idx, idx);
	put(jpath("lvnlj1.journal"), body);
	lv_hostnet_init(&h);
	lv_test_capture_start();
	assert_int_equal(lv_hostnet_journal_open(&h, jdir, "lvnlj1", err, 512),
			 0);
	snprintf(out, sizeof(out), "%s", lv_test_capture_end());
	assert_non_null(strstr(out, "undid the 9 recorded in "));
	/* the replaced interface is left alone, the real one restored (a
	 * route and an address already gone count as undone) */
	{
		uint8_t mac[6];
		assert_int_equal(lv_hostnet_get_mac("lvnlj1", mac, err, 512),
				 0);
		assert_int_equal(mac[5], 0x77);
	}
	assert_sysctl("net/ipv4/conf/lvnlj1/rp_filter", "0");
	assert_sysctl("net/ipv4/conf/lvnlj1/arp_ignore", "1");
	assert_sysctl("net/ipv4/ip_local_port_range", "40000\t50000");
	assert_int_equal(lv_hostnet_restore(&h), 0);

	/* one that cannot be undone: an error, and the file stays */
	snprintf(body, sizeof(body),
		 "%s"
		 "sysctl %u lvnlj1 net/ipv4/conf/lvnlj1/arp_ignore 0\n"
		 "sysctl 0 - net/ipv4/conf/all/rp_filter strict\n",
		 header(1), idx);
	put(jpath("lvnlj1.journal"), body);
	lv_test_capture_start();
	assert_int_equal(lv_hostnet_journal_open(&h, jdir, "lvnlj1", err, 512),
			 -EIO);
	snprintf(out, sizeof(out), "%s", lv_test_capture_end());
	assert_non_null(strstr(out, "could not restore: sysctl "
				    "/proc/sys/net/ipv4/conf/all/rp_filter = "
				    "'strict': "));
	snprintf(want, sizeof(want),
		 "%s: 1 of the 2 host change(s) left by levee pid 1 could "
		 "not be undone (see above): undo them by hand, then remove "
		 "the file",
		 jpath("lvnlj1.journal"));
	assert_string_equal(err, want);
	assert_string_equal(slurp(jpath("lvnlj1.journal")), body);
	assert_sysctl("net/ipv4/conf/lvnlj1/arp_ignore", "0");
	unlink(jpath("lvnlj1.journal"));

	/* a restore at exit that fails keeps just that change for the next
	 * start, and lets go of the lock */
	assert_int_equal(lv_hostnet_journal_open(&h, jdir, "lvnlj1", err, 512),
			 0);
	assert_int_equal(
	    lv_hostnet_set_sysctl(&h, "net/ipv4/conf/lvnlj1/arp_ignore", "8",
				  err, 512),
	    0);
	assert_int_equal(lv_hostnet_set_sysctl(&h, "net/ipv6/conf/lvnlj1/mtu",
					       "1400", err, 512),
			 0);
	sh("ip link set lvnlj1 mtu 1300");
	lv_test_capture_start();
	assert_int_equal(lv_hostnet_restore(&h), 1);
	snprintf(out, sizeof(out), "%s", lv_test_capture_end());
	snprintf(want, sizeof(want),
		 "host changes journal %s keeps the 1 change(s) that could "
		 "not be undone: the next start tries again",
		 jpath("lvnlj1.journal"));
	assert_non_null(strstr(out, want));
	slurp(jpath("lvnlj1.journal"));
	assert_null(strstr(out, "arp_ignore"));
	snprintf(want, sizeof(want),
		 "\nsysctl %u lvnlj1 net/ipv6/conf/lvnlj1/mtu 1500\n", idx);
	assert_non_null(strstr(out, want));
	assert_int_equal(access(jpath("lvnlj1.lock"), F_OK), -1);
	/* the next start retries it: with the link's MTU back it works */
	sh("ip link set lvnlj1 mtu 1500");
	lv_test_capture_start();
	assert_int_equal(lv_hostnet_journal_open(&h, jdir, "lvnlj1", err, 512),
			 0);
	snprintf(out, sizeof(out), "%s", lv_test_capture_end());
	assert_non_null(strstr(out, "undid the 1 recorded in "));
	assert_int_equal(lv_hostnet_restore(&h), 0);
	assert_int_equal(access(jpath("lvnlj1.journal"), F_OK), -1);
	lv_hostnet_fini(&h);
	sh("ip link del lvnlj1");
}

/* ---- end to end: does a quieted port really deliver nothing? ---------- */

static int ns_peer = -1;
static int rx4 = -1, rx6 = -1, tx4 = -1, tx6 = -1;

static void enter(int ns)
{
	assert_int_equal(setns(ns, CLONE_NEWNET), 0);
}

static int udp(int family, const char *ip, int bind_it)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (!bind_it)
		return fd;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(5300);
		inet_pton(AF_INET, ip, &s->sin_addr);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(5300);
		inet_pton(AF_INET6, ip, &s->sin6_addr);
		len = sizeof(*s);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	return fd;
}

/* Send one datagram from the peer; true if the service socket got it. */
static int delivered(int family)
{
	int rx = family == AF_INET ? rx4 : rx6;
	int tx = family == AF_INET ? tx4 : tx6;
	struct sockaddr_storage ss;
	struct pollfd p = {.fd = rx, .events = POLLIN};
	char buf[16];
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(5300);
		inet_pton(AF_INET, "10.53.200.1", &s->sin_addr);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(5300);
		inet_pton(AF_INET6, "fd53:200::1", &s->sin6_addr);
		len = sizeof(*s);
	}
	while (recv(rx, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		; /* nothing left over */
	assert_int_equal(sendto(tx, "query", 5, 0, (struct sockaddr *)&ss, len),
			 5);
	if (poll(&p, 1, 500) != 1)
		return 0;
	return recv(rx, buf, sizeof(buf), MSG_DONTWAIT) == 5;
}

static int e2e_setup(void **state)
{
	uint8_t mac[6];

	(void)state;
	/* the peer: a second namespace, alive while ns_peer is open */
	if (unshare(CLONE_NEWNET) != 0)
		return -1;
	ns_peer = open("/proc/self/ns/net", O_RDONLY);
	enter(ns_main);
	sh("ip link add lvnle0 type veth peer name lvnle1 && "
	   "ip link set lvnle1 netns /proc/%d/fd/%d && "
	   "ip link add lvnlesvc type veth peer name lvnlesvcp && ip link set "
	   "lvnlesvcp up && ip link set lvnlesvc up && "
	   "ip addr add 10.53.200.1/24 dev lvnlesvc && "
	   "ip addr add fd53:200::1/64 dev lvnlesvc nodad && "
	   "ip link set lvnle0 up",
	   (int)getpid(), ns_peer);
	assert_int_equal(lv_hostnet_get_mac("lvnle0", mac, err, 512), 0);
	rx4 = udp(AF_INET, "10.53.200.1", 1);
	rx6 = udp(AF_INET6, "fd53:200::1", 1);
	enter(ns_peer);
	/* static neighbours: this checks delivery, not ARP or ND */
	sh("ip link set lo up && ip link set lvnle1 up && "
	   "ip addr add 10.53.200.2/24 dev lvnle1 && "
	   "ip addr add fd53:200::2/64 dev lvnle1 nodad && "
	   "ip neigh add 10.53.200.1 lladdr "
	   "%02x:%02x:%02x:%02x:%02x:%02x dev lvnle1 nud permanent && "
	   "ip neigh add fd53:200::1 lladdr "
	   "%02x:%02x:%02x:%02x:%02x:%02x dev lvnle1 nud permanent",
	   mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], mac[0], mac[1],
	   mac[2], mac[3], mac[4], mac[5]);
	tx4 = udp(AF_INET, NULL, 0);
	tx6 = udp(AF_INET6, NULL, 0);
	enter(ns_main);
	return 0;
}

static int e2e_teardown(void **state)
{
	(void)state;
	enter(ns_main);
	close(rx4);
	close(rx6);
	close(tx4);
	close(tx6);
	close(ns_peer); /* the peer namespace and lvnle1 go with it */
	return system("ip link del lvnlesvc; ip link del lvnle0 2>/dev/null") <
		       0
		   ? -1
		   : 0;
}

static void test_quiet_port_drops(void **state)
{
	struct lv_hostnet h;
	struct lv_addr svc[2] = {addr("10.53.200.1"), addr("fd53:200::1")};

	(void)state;
	lv_hostnet_init(&h);
	assert_true(delivered(AF_INET));
	assert_true(delivered(AF_INET6));

	/* strict rp_filter alone: the source's route is via the "TAP" */
	assert_int_equal(lv_hostnet_set_sysctl(&h,
					       "net/ipv4/conf/lvnle0/rp_filter",
					       "1", err, 512),
			 0);
	assert_false(delivered(AF_INET));
	/* "all" loose (the larger value wins): a port without an IPv4
	 * address still drops (the kernel's last-resort check)... */
	assert_int_equal(lv_hostnet_set_sysctl(
			     &h, "net/ipv4/conf/all/rp_filter", "2", err, 512),
			 0);
	assert_false(delivered(AF_INET));
	/* ...but one with an address lets it through */
	assert_int_equal(
	    lv_hostnet_add_addr(&h, "lvnle0",
				&(struct lv_addr){.family = AF_INET,
						  .addr = {10, 53, 200, 129},
						  .prefix_len = 32},
				err, 512),
	    0);
	assert_true(delivered(AF_INET));
	assert_int_equal(lv_hostnet_restore(&h), 0);
	assert_true(delivered(AF_INET));

	assert_int_equal(
	    lv_hostnet_quiet_port(&h, "lvnle0", svc, 2, err, sizeof(err)), 0);
	assert_false(delivered(AF_INET));
	assert_false(delivered(AF_INET6));
	assert_int_equal(lv_hostnet_restore(&h), 0);
	assert_true(delivered(AF_INET));
	assert_true(delivered(AF_INET6));
	lv_hostnet_fini(&h);
}

int main(void)
{
	char cmd[PATH_MAX + 16];
	int rc;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ifindex_mac),
	    cmocka_unit_test(test_addr_route),
	    cmocka_unit_test(test_link),
	    cmocka_unit_test(test_sysctl),
	    cmocka_unit_test(test_quiet_port),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_restore_partial),
	    cmocka_unit_test(test_journal_crash),
	    cmocka_unit_test(test_journal_bad_files),
	    cmocka_unit_test(test_journal_gone_and_failed),
	    cmocka_unit_test_setup_teardown(test_quiet_port_drops, e2e_setup,
					    e2e_teardown),
	};

	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr,
			"test_hostnet: FAILED: no network namespace "
			"of our own (unshare(CLONE_NEWNET): %s); run as root\n",
			strerror(errno));
		return 1;
	}
	ns_main = open("/proc/self/ns/net", O_RDONLY);
	if (ns_main < 0 || system("ip link set lo up") != 0 ||
	    mkdtemp(jdir) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", jdir);
	return system(cmd) == 0 ? rc : 1;
}
