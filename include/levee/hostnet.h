/*
 * Host-side network changes levee makes in live mode, and undoes.
 *
 * Live mode puts the service addresses on a TAP device (the exception path
 * to the kernel) and makes the kernel side of the DPDK port ignore the
 * traffic levee answers. Every change goes through a struct lv_hostnet, an
 * undo journal: each entry says how to put back what was there before, and
 * lv_hostnet_restore() replays the journal backwards at exit (the control
 * loop's SIGINT/SIGTERM path ends in it too). With
 * lv_hostnet_journal_open() the journal is also kept in a file under
 * /run/levee, written before each change is made, so that a levee started
 * after a crash (SIGKILL, a power cut excepted: /run is a tmpfs) first
 * undoes what the crashed one changed. Settings levee needs but does
 * not own (host-wide sysctls) are only checked, and warned about, by
 * lv_hostnet_check(); levee never changes them. docs/operations.md, "What
 * levee changes on the host", lists every change and how it is undone.
 *
 * rtnetlink is spoken by hand (NETLINK_ROUTE, one short-lived socket per
 * request, every request acknowledged); sysctls go through /proc/sys, whose
 * net/ subtree is that of the caller's network namespace.
 *
 * Threads: control plane only. A struct lv_hostnet belongs to the thread
 * that initialised it and is not locked; the functions that take none
 * (lv_hostnet_ifindex, lv_hostnet_get_mac, lv_hostnet_check) may be called
 * from any thread. Strings and addresses passed in are copied, never kept.
 *
 * Errors: a negative errno, with one line in err naming the interface,
 * path or address and what went wrong (the kernel's extended-ack text when
 * it gives one). On failure nothing is left half-changed by that call;
 * what earlier calls changed stays journalled for lv_hostnet_restore().
 */
#ifndef LEVEE_HOSTNET_H
#define LEVEE_HOSTNET_H

#include <stddef.h>
#include <stdint.h>

#include "levee/config.h"

/*
 * Metric of the default routes levee adds. Lower metrics win, and hosts
 * put their own default routes well below this (0 for IPv4 routes added
 * by hand, 100-600 and 1024 for NetworkManager, dhcpcd and IPv6
 * router advertisements), so levee's route never displaces an existing
 * default route: it only carries traffic when the host has none.
 */
#define LV_HOSTNET_ROUTE_METRIC 65053u

/* Where live mode keeps its journal files (docs/operations.md). */
#define LV_HOSTNET_JOURNAL_DIR "/run/levee"

struct lv_hostnet_change; /* one journal entry, host/hostnet.c */

/* The undo journal. Zero it with lv_hostnet_init(); owned by the caller. */
struct lv_hostnet {
	struct lv_hostnet_change *changes; /* oldest first */
	unsigned n, cap;
	/* the file copy (lv_hostnet_journal_open); path "" when none */
	char path[256];      /* DIR/NAME.journal */
	char lock_path[256]; /* DIR/NAME.lock, flock()ed while we run */
	int lock_fd;         /* valid only when path is set */
	uint64_t netns;      /* inode of our network namespace */
};

/* An empty journal, in memory only. */
void lv_hostnet_init(struct lv_hostnet *h);

/*
 * Keep the journal in the file DIR/NAME.journal as well (NAME: the port's
 * kernel interface, or its device name; no '/'), from now on rewritten
 * whole before each change is made (a temporary file, fsync, rename, fsync
 * of the directory), and removed by a restore that undoes everything. Call
 * it before the first change, on an empty journal. In order:
 *  - DIR is created if missing (mode 0755);
 *  - DIR/NAME.lock is locked (flock, held until restore or fini; it holds
 *    our pid). -EBUSY when another process holds it: "interface NAME:
 *    levee pid P already runs on it (DIR/NAME.lock held): stop it first";
 *  - a journal already there was left by a levee that died without
 *    restoring: its changes are undone newest first (those whose interface
 *    is gone, or was replaced by another of that name, count as undone),
 *    one warning line says so, and the file is replaced by ours. So the
 *    values levee records as the originals are never those a crashed
 *    levee set. A journal that cannot be read (-EINVAL, "PATH:LINE:
 *    ..."), was written in another network namespace (-EXDEV), whose
 *    writer still runs as a program of our name although it does not
 *    hold the lock (its lock file was removed: -EBUSY), or has a change
 *    that cannot be undone (-EIO; each one warned about) is an error and
 *    is left in place.
 * 0 or a negative errno with one line in err; on error no lock is held.
 * Control plane, start-up only.
 */
int lv_hostnet_journal_open(struct lv_hostnet *h, const char *dir,
			    const char *name, char *err, size_t errlen);

/*
 * Undo every journalled change, newest first, and empty the journal. A
 * change that cannot be undone is logged (lv_warn, one line naming what
 * stays changed) and the rest are still undone; a change already undone by
 * someone else (the interface is gone, the address was removed) counts as
 * undone. With a journal file: when everything was undone the file and
 * its lock file are removed; otherwise the file keeps just what could not
 * be undone, for the next start to retry; either way the lock is released
 * and the journal is in memory only again. Idempotent: a second call finds
 * an empty journal. Returns how many changes could not be undone (0: the
 * host is as levee found it).
 */
int lv_hostnet_restore(struct lv_hostnet *h);

/* Free the journal's memory without undoing anything (call restore
 * first); a journal file stays as it is (as after a crash) and its lock
 * is released. The journal may be reused after lv_hostnet_init(). */
void lv_hostnet_fini(struct lv_hostnet *h);

/* The interface's index (> 0), or a negative errno (-ENODEV: no such
 * interface) with a message in err. Asks the kernel with RTM_GETLINK. */
int lv_hostnet_ifindex(const char *ifname, char *err, size_t errlen);

/* The interface's Ethernet address into mac. 0, or a negative errno
 * (-EAFNOSUPPORT: it has no 6-byte link address, e.g. a TUN device). */
int lv_hostnet_get_mac(const char *ifname, uint8_t mac[6], char *err,
		       size_t errlen);

/* Set the interface's Ethernet address; the old one is journalled.
 * Setting the address it already has journals nothing. */
int lv_hostnet_set_mac(struct lv_hostnet *h, const char *ifname,
		       const uint8_t mac[6], char *err, size_t errlen);

/* Bring the interface up; if it was down, restore takes it down again. */
int lv_hostnet_set_up(struct lv_hostnet *h, const char *ifname, char *err,
		      size_t errlen);

/*
 * Add a->addr/a->prefix_len to the interface (and with it the kernel's
 * on-link route for the prefix); restore deletes it. IPv6 addresses are
 * added with IFA_F_NODAD so that they work at once. -EEXIST when the
 * interface already holds the address: levee did not add it, so it will
 * not remove it, and the caller decides whether that is an error.
 */
int lv_hostnet_add_addr(struct lv_hostnet *h, const char *ifname,
			const struct lv_addr *a, char *err, size_t errlen);

/*
 * Add a default route for family (AF_INET or AF_INET6) via gateway (4 or
 * 16 bytes, network order), out of ifname, in the main table with metric
 * LV_HOSTNET_ROUTE_METRIC and protocol "static"; restore deletes exactly
 * that route. The gateway must be on-link through an address already on
 * ifname (-ENETUNREACH otherwise).
 */
int lv_hostnet_add_default_route(struct lv_hostnet *h, const char *ifname,
				 int family, const uint8_t *gateway, char *err,
				 size_t errlen);

/*
 * Write value to /proc/sys/<path> (path as "net/ipv4/conf/veth0/rp_filter":
 * relative, no "..", no whitespace); the old value is journalled and
 * written back on restore (-EINVAL for an old value of more than one
 * line, which the journal file cannot hold). Writing the value already
 * there journals nothing. A per-interface sysctl (net/ipv{4,6}/conf/IF/)
 * is journalled with the interface's index, so that a crashed levee's
 * value is not written to another interface that took its name.
 */
int lv_hostnet_set_sysctl(struct lv_hostnet *h, const char *path,
			  const char *value, char *err, size_t errlen);

/*
 * Make the kernel side of a DPDK port (the interface under AF_PACKET or
 * AF_XDP) ignore the traffic levee answers, all of it journalled:
 *  - take away every address of svc[0..n_svc) the interface holds (logged
 *    at info level; restore puts each back with its prefix length);
 *  - net.ipv4.conf.IF.rp_filter=1: the service subnets live on the TAP,
 *    so IPv4 from them arriving on the port fails the strict reverse-path
 *    check and is dropped before local delivery;
 *  - net.ipv4.conf.IF.arp_ignore=8: the interface answers no ARP;
 *  - net.ipv6.conf.IF.disable_ipv6=1: no neighbour discovery, no IPv6
 *    delivered. This also deletes the interface's other IPv6 addresses:
 *    each permanent, non-link-local one is warned about and journalled,
 *    and put back on restore.
 * Deleting a primary IPv4 address takes its secondaries with it: those
 * are warned about and journalled too. Warns when the interface keeps an
 * IPv4 address and net.ipv4.conf.all.rp_filter is 2 (the effective value
 * is the larger of "all" and the interface's: loose mode wins, and with an
 * address on the port it lets IPv4 through), and when an IPv4 route points
 * out of the interface (sources behind it pass even the strict check);
 * docs/operations.md explains both.
 */
int lv_hostnet_quiet_port(struct lv_hostnet *h, const char *ifname,
			  const struct lv_addr *svc, unsigned n_svc, char *err,
			  size_t errlen);

/*
 * Check the host-wide settings levee relies on but does not change, and
 * warn (lv_warn, one line each, naming the sysctl and the fix) about each
 * that would let traffic arriving on the port ifname reach the kernel
 * stack: net.ipv4.conf.all.rp_filter=2, net.ipv4.ip_forward=1,
 * net.ipv4.conf.IF.forwarding=1. Returns the number of warnings (0: all
 * well); a sysctl that cannot be read is one warning too.
 */
int lv_hostnet_check(const char *ifname);

#endif
