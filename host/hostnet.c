/*
 * Host-side network changes and their undo journal; see
 * include/levee/hostnet.h. Live mode's start-up calls these before the
 * workers run (the TAP's addresses and routes, the port's quieting), and
 * shutdown calls lv_hostnet_restore(). Nothing here is on a packet's walk:
 * it decides which frames the kernel beside levee still sees.
 *
 * rtnetlink by hand: each request opens a NETLINK_ROUTE socket, sends one
 * message with NLM_F_ACK (or a dump), reads until the ACK or NLMSG_DONE,
 * and closes it. Start-up and exit only, so one socket per request costs
 * nothing and keeps no state between calls.
 *
 * Every change follows one order: journal the undo entry (in memory, and
 * in the file when there is one: rewritten whole, fsync, rename), then
 * make the change, then drop the entry again if the change failed. A
 * crash at any point leaves a file that lists at least every change made;
 * undoing one that was never made is harmless (the old value written
 * again, an address already there, one already gone).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "levee/hostnet.h"
#include "levee/log.h"

enum change_kind {
	CH_DEL_ADDR, /* levee added an address: delete it */
	CH_ADD_ADDR, /* levee removed an address: put it back */
	CH_DEL_ROUTE,
	CH_MAC,  /* put back the old MAC */
	CH_DOWN, /* levee brought the link up: take it down */
	CH_SYSCTL
};

/* Their names in the journal file. */
static const char *const kind_names[] = {
    [CH_DEL_ADDR] = "del-addr",   [CH_ADD_ADDR] = "add-addr",
    [CH_DEL_ROUTE] = "del-route", [CH_MAC] = "mac",
    [CH_DOWN] = "down",           [CH_SYSCTL] = "sysctl"};

struct lv_hostnet_change {
	enum change_kind kind;
	bool failed; /* restore could not undo it */
	int ifindex; /* 0: host-wide (a sysctl not tied to an interface) */
	char ifname[IF_NAMESIZE];
	union {
		struct lv_addr addr; /* CH_*_ADDR */
		struct {
			int family;
			uint8_t gw[16];
		} route;
		uint8_t mac[6];
		struct {
			char path[128];
			char old[256];
		} sysctl;
	} u;
};

/* ---- rtnetlink ---------------------------------------------------------- */

#define NL_BUF 32768

struct nl_req {
	struct nlmsghdr h;
	char body[1024]; /* family header and attributes */
};

static void nl_init(struct nl_req *r, uint16_t type, uint16_t flags,
		    const void *fam, size_t famlen)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_len = NLMSG_LENGTH(famlen);
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = NLM_F_REQUEST | flags;
	memcpy(NLMSG_DATA(&r->h), fam, famlen);
}

static void nl_put(struct nl_req *r, uint16_t type, const void *data,
		   size_t len)
{
	struct rtattr *a =
	    (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));

	/* requests here are a few small attributes: the buffer cannot fill */
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static void nl_put_u32(struct nl_req *r, uint16_t type, uint32_t v)
{
	nl_put(r, type, &v, sizeof(v));
}

/* Called for each reply message of a GET or dump. */
typedef void (*nl_cb)(const struct nlmsghdr *m, void *arg);

/* The kernel's extended-ack text, if the error message carries one. */
static const char *ext_ack_msg(const struct nlmsghdr *m)
{
	const struct nlmsgerr *e = NLMSG_DATA(m);
	const struct rtattr *a;
	int len;

	if (!(m->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	/* NETLINK_CAP_ACK is set: the TLVs follow the echoed header only */
	a = (const struct rtattr *)((const char *)e + sizeof(*e));
	len = (int)m->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*e));
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == NLMSGERR_ATTR_MSG)
			return RTA_DATA(a);
	return NULL;
}

static int nl_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return fd;
}

/* Read replies to seq until the ACK (or NLMSG_DONE of a dump). */
static int nl_read(int fd, uint32_t seq, nl_cb cb, void *arg,
		   const char **ack_msg, char *buf)
{
	for (;;) {
		ssize_t n = recv(fd, buf, NL_BUF, 0);
		int len = (int)n;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *m = (struct nlmsghdr *)buf;
		     NLMSG_OK(m, len); m = NLMSG_NEXT(m, len)) {
			if (m->nlmsg_seq != seq)
				continue; /* not ours */
			if (m->nlmsg_type == NLMSG_DONE)
				return 0;
			if (m->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(m);

				*ack_msg = ext_ack_msg(m);
				return e->error; /* 0 or -errno */
			}
			if (cb != NULL)
				cb(m, arg);
		}
	}
}

/*
 * Send r and wait for its answer. 0 or -errno; on error err gets
 * "what: reason (kernel's text)".
 */
static int nl_talk(struct nl_req *r, nl_cb cb, void *arg, const char *what,
		   char *err, size_t errlen)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	const char *ack_msg = NULL;
	char *buf = malloc(NL_BUF);
	int fd = nl_open(), rc;

	if (fd < 0 || buf == NULL) {
		rc = fd < 0 ? fd : -ENOMEM;
		snprintf(err, errlen, "%s: netlink socket: %s", what,
			 strerror(-rc));
		goto out;
	}
	r->h.nlmsg_seq = 1; /* a socket per request: every reply is ours */
	if (sendto(fd, &r->h, r->h.nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: netlink send: %s", what,
			 strerror(-rc));
		goto out;
	}
	rc = nl_read(fd, r->h.nlmsg_seq, cb, arg, &ack_msg, buf);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s%s%s%s", what, strerror(-rc),
			 ack_msg ? " (" : "", ack_msg ? ack_msg : "",
			 ack_msg ? ")" : "");
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* ---- links -------------------------------------------------------------- */

struct link_info {
	int ifindex;
	unsigned flags;
	uint8_t mac[6];
	bool has_mac;
};

static void link_cb(const struct nlmsghdr *m, void *arg)
{
	struct link_info *li = arg;
	const struct ifinfomsg *ifi = NLMSG_DATA(m);
	int len = (int)IFLA_PAYLOAD(m);

	if (m->nlmsg_type != RTM_NEWLINK)
		return;
	li->ifindex = ifi->ifi_index;
	li->flags = ifi->ifi_flags;
	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(a) == 6) {
			memcpy(li->mac, RTA_DATA(a), 6);
			li->has_mac = true;
		}
	}
}

static int check_ifname(const char *ifname, char *err, size_t errlen)
{
	size_t n = ifname ? strlen(ifname) : 0;

	if (n == 0 || n >= IF_NAMESIZE || strchr(ifname, '/') != NULL) {
		snprintf(err, errlen, "interface '%s': not a valid name",
			 ifname ? ifname : "");
		return -EINVAL;
	}
	return 0;
}

static int get_link(const char *ifname, struct link_info *li, char *err,
		    size_t errlen)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	struct nl_req r;
	char what[64];
	int rc = check_ifname(ifname, err, errlen);

	if (rc < 0)
		return rc;
	memset(li, 0, sizeof(*li));
	nl_init(&r, RTM_GETLINK, NLM_F_ACK, &ifi, sizeof(ifi));
	nl_put(&r, IFLA_IFNAME, ifname, strlen(ifname) + 1);
	snprintf(what, sizeof(what), "interface %s", ifname);
	rc = nl_talk(&r, link_cb, li, what, err, errlen);
	if (rc == 0 && li->ifindex <= 0) {
		snprintf(err, errlen, "interface %s: no link in the reply",
			 ifname);
		rc = -ENODEV;
	}
	return rc;
}

int lv_hostnet_ifindex(const char *ifname, char *err, size_t errlen)
{
	struct link_info li;
	int rc = get_link(ifname, &li, err, errlen);

	return rc < 0 ? rc : li.ifindex;
}

int lv_hostnet_get_mac(const char *ifname, uint8_t mac[6], char *err,
		       size_t errlen)
{
	struct link_info li;
	int rc = get_link(ifname, &li, err, errlen);

	if (rc < 0)
		return rc;
	if (!li.has_mac) {
		snprintf(err, errlen, "interface %s: no Ethernet address",
			 ifname);
		return -EAFNOSUPPORT;
	}
	memcpy(mac, li.mac, 6);
	return 0;
}

/* RTM_NEWLINK on ifindex: new flags under change, and/or a new MAC. */
static int set_link(int ifindex, unsigned flags, unsigned change,
		    const uint8_t *mac, const char *what, char *err,
		    size_t errlen)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC,
				.ifi_index = ifindex,
				.ifi_flags = flags,
				.ifi_change = change};
	struct nl_req r;

	nl_init(&r, RTM_NEWLINK, NLM_F_ACK, &ifi, sizeof(ifi));
	if (mac != NULL)
		nl_put(&r, IFLA_ADDRESS, mac, 6);
	return nl_talk(&r, NULL, NULL, what, err, errlen);
}

/* ---- the journal -------------------------------------------------------- */

void lv_hostnet_init(struct lv_hostnet *h)
{
	memset(h, 0, sizeof(*h));
	h->lock_fd = -1;
}

static void unlock(struct lv_hostnet *h, bool remove_lock_file);

void lv_hostnet_fini(struct lv_hostnet *h)
{
	if (h->path[0])
		unlock(h, false);
	free(h->changes);
	lv_hostnet_init(h);
}

/* A new zeroed entry, or NULL (and a message) when out of memory. */
static struct lv_hostnet_change *journal(struct lv_hostnet *h,
					 enum change_kind kind, int ifindex,
					 const char *ifname, char *err,
					 size_t errlen)
{
	struct lv_hostnet_change *c;

	if (h->n == h->cap) {
		unsigned cap = h->cap ? h->cap * 2 : 16;
		void *p = realloc(h->changes, cap * sizeof(*h->changes));

		if (p == NULL) {
			snprintf(err, errlen, "host changes journal: %s",
				 strerror(ENOMEM));
			return NULL;
		}
		h->changes = p;
		h->cap = cap;
	}
	c = &h->changes[h->n++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->ifindex = ifindex;
	snprintf(c->ifname, sizeof(c->ifname), "%s", ifname ? ifname : "");
	return c;
}

static int journal_write(const struct lv_hostnet *h, char *err, size_t errlen);

/* The newest entry, just filled in, into the file before its change is
 * made; on failure it is dropped again. 0 or -errno (err set). */
static int persist(struct lv_hostnet *h, char *err, size_t errlen)
{
	int rc = journal_write(h, err, errlen);

	if (rc < 0)
		h->n--;
	return rc;
}

/* The entries from mark on were journalled, but their change failed:
 * drop them, from the file too. err (the change's reason) is kept. */
static void forget(struct lv_hostnet *h, unsigned mark)
{
	char e2[512];

	h->n = mark;
	if (journal_write(h, e2, sizeof(e2)) < 0)
		lv_warn("%s (it lists a change that was not made; "
			"undoing that is harmless)",
			e2);
}

/* ---- addresses ---------------------------------------------------------- */

static const char *addr_str(const struct lv_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (inet_ntop(a->family, a->addr, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, len, "%s/%u", ip, a->prefix_len);
	return buf;
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static int check_addr(const struct lv_addr *a, const char *ifname, char *err,
		      size_t errlen)
{
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    a->prefix_len > addr_len(a->family) * 8) {
		snprintf(err, errlen, "interface %s: not an IPv4/IPv6 address",
			 ifname);
		return -EINVAL;
	}
	return 0;
}

/* RTM_NEWADDR (add) or RTM_DELADDR of a on ifindex. */
static int addr_op(uint16_t type, int ifindex, const struct lv_addr *a,
		   const char *ifname, char *err, size_t errlen)
{
	struct ifaddrmsg ifa = {.ifa_family = a->family,
				.ifa_prefixlen = a->prefix_len,
				.ifa_index = ifindex};
	struct nl_req r;
	char what[128], as[64];

	if (type == RTM_NEWADDR && a->family == AF_INET6)
		ifa.ifa_flags = IFA_F_NODAD; /* usable now, no DAD wait */
	nl_init(&r, type,
		NLM_F_ACK |
		    (type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0),
		&ifa, sizeof(ifa));
	nl_put(&r, IFA_LOCAL, a->addr, addr_len(a->family));
	nl_put(&r, IFA_ADDRESS, a->addr, addr_len(a->family));
	if (type == RTM_NEWADDR)
		nl_put_u32(&r, IFA_FLAGS, ifa.ifa_flags);
	snprintf(what, sizeof(what), "interface %s: %s address %s", ifname,
		 type == RTM_NEWADDR ? "add" : "delete",
		 addr_str(a, as, sizeof(as)));
	return nl_talk(&r, NULL, NULL, what, err, errlen);
}

int lv_hostnet_add_addr(struct lv_hostnet *h, const char *ifname,
			const struct lv_addr *a, char *err, size_t errlen)
{
	struct lv_hostnet_change *c;
	int ifindex = lv_hostnet_ifindex(ifname, err, errlen), rc;

	if (ifindex < 0)
		return ifindex;
	if ((rc = check_addr(a, ifname, err, errlen)) < 0)
		return rc;
	c = journal(h, CH_DEL_ADDR, ifindex, ifname, err, errlen);
	if (c == NULL)
		return -ENOMEM;
	c->u.addr = *a;
	if ((rc = persist(h, err, errlen)) < 0)
		return rc;
	rc = addr_op(RTM_NEWADDR, ifindex, a, ifname, err, errlen);
	if (rc < 0)
		forget(h, h->n - 1);
	return rc;
}

/* The addresses of one interface, from an RTM_GETADDR dump. */
struct addr_list {
	int ifindex;
	unsigned n;
	struct {
		struct lv_addr a;
		uint32_t flags;
		uint8_t scope;
	} e[64];
};

static void addr_cb(const struct nlmsghdr *m, void *arg)
{
	struct addr_list *l = arg;
	const struct ifaddrmsg *ifa = NLMSG_DATA(m);
	int len = (int)IFA_PAYLOAD(m);
	const void *local = NULL, *address = NULL;
	uint32_t flags = ifa->ifa_flags;

	if (m->nlmsg_type != RTM_NEWADDR || (int)ifa->ifa_index != l->ifindex ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) ||
	    l->n == sizeof(l->e) / sizeof(l->e[0]))
		return;
	for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFA_LOCAL)
			local = RTA_DATA(a);
		else if (a->rta_type == IFA_ADDRESS)
			address = RTA_DATA(a);
		else if (a->rta_type == IFA_FLAGS)
			flags = *(const uint32_t *)RTA_DATA(a);
	}
	/* IFA_LOCAL is the interface's own address (IFA_ADDRESS is the
	 * peer's on point-to-point links); IPv6 often sends only ADDRESS */
	if (local == NULL)
		local = address;
	if (local == NULL)
		return;
	memset(&l->e[l->n], 0, sizeof(l->e[l->n]));
	l->e[l->n].a.family = ifa->ifa_family;
	l->e[l->n].a.prefix_len = ifa->ifa_prefixlen;
	memcpy(l->e[l->n].a.addr, local, addr_len(ifa->ifa_family));
	l->e[l->n].flags = flags;
	l->e[l->n].scope = ifa->ifa_scope;
	l->n++;
}

static int list_addrs(int ifindex, const char *ifname, struct addr_list *l,
		      char *err, size_t errlen)
{
	struct ifaddrmsg ifa = {.ifa_family = AF_UNSPEC};
	struct nl_req r;
	char what[64];

	memset(l, 0, sizeof(*l));
	l->ifindex = ifindex;
	nl_init(&r, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof(ifa));
	snprintf(what, sizeof(what), "interface %s: list addresses", ifname);
	return nl_talk(&r, addr_cb, l, what, err, errlen);
}

/* ---- routes ------------------------------------------------------------- */

static int default_route_op(uint16_t type, int ifindex, int family,
			    const uint8_t *gw, const char *ifname, char *err,
			    size_t errlen)
{
	struct rtmsg rtm = {.rtm_family = family,
			    .rtm_table = RT_TABLE_MAIN,
			    .rtm_protocol = RTPROT_STATIC,
			    .rtm_type = RTN_UNICAST,
			    /* delete: match any scope */
			    .rtm_scope = type == RTM_NEWROUTE
					     ? RT_SCOPE_UNIVERSE
					     : RT_SCOPE_NOWHERE};
	struct nl_req r;
	char what[128], ip[INET6_ADDRSTRLEN];

	nl_init(&r, type,
		NLM_F_ACK |
		    (type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_EXCL : 0),
		&rtm, sizeof(rtm));
	nl_put(&r, RTA_GATEWAY, gw, addr_len(family));
	nl_put_u32(&r, RTA_OIF, (uint32_t)ifindex);
	nl_put_u32(&r, RTA_PRIORITY, LV_HOSTNET_ROUTE_METRIC);
	if (inet_ntop(family, gw, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	snprintf(what, sizeof(what),
		 "interface %s: %s default route via %s metric %u", ifname,
		 type == RTM_NEWROUTE ? "add" : "delete", ip,
		 LV_HOSTNET_ROUTE_METRIC);
	return nl_talk(&r, NULL, NULL, what, err, errlen);
}

int lv_hostnet_add_default_route(struct lv_hostnet *h, const char *ifname,
				 int family, const uint8_t *gateway, char *err,
				 size_t errlen)
{
	struct lv_hostnet_change *c;
	int ifindex = lv_hostnet_ifindex(ifname, err, errlen), rc;

	if (ifindex < 0)
		return ifindex;
	if (family != AF_INET && family != AF_INET6) {
		snprintf(err, errlen,
			 "interface %s: default route: family must be IPv4 "
			 "or IPv6",
			 ifname);
		return -EAFNOSUPPORT;
	}
	c = journal(h, CH_DEL_ROUTE, ifindex, ifname, err, errlen);
	if (c == NULL)
		return -ENOMEM;
	c->u.route.family = family;
	memcpy(c->u.route.gw, gateway, addr_len(family));
	if ((rc = persist(h, err, errlen)) < 0)
		return rc;
	rc = default_route_op(RTM_NEWROUTE, ifindex, family, gateway, ifname,
			      err, errlen);
	if (rc < 0)
		forget(h, h->n - 1);
	return rc;
}

/* Count the IPv4 routes in the main table that leave by ifindex. */
static void route_cb(const struct nlmsghdr *m, void *arg)
{
	int *count = arg; /* [0] ifindex, [1] count */
	const struct rtmsg *rtm = NLMSG_DATA(m);
	int len = (int)RTM_PAYLOAD(m);

	if (m->nlmsg_type != RTM_NEWROUTE || rtm->rtm_table != RT_TABLE_MAIN ||
	    rtm->rtm_type != RTN_UNICAST)
		return;
	for (const struct rtattr *a = RTM_RTA(rtm); RTA_OK(a, len);
	     a = RTA_NEXT(a, len))
		if (a->rta_type == RTA_OIF &&
		    *(const int *)RTA_DATA(a) == count[0])
			count[1]++;
}

static int routes_via(int ifindex, const char *ifname)
{
	struct rtmsg rtm = {.rtm_family = AF_INET};
	struct nl_req r;
	int count[2] = {ifindex, 0};
	char err[256];

	nl_init(&r, RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm));
	if (nl_talk(&r, route_cb, count, ifname, err, sizeof(err)) < 0)
		return 0;
	return count[1];
}

/* ---- sysctls ------------------------------------------------------------ */

static int sysctl_path(const char *path, char *full, size_t len, char *err,
		       size_t errlen)
{
	if (path == NULL || path[0] == '\0' || path[0] == '/' ||
	    strstr(path, "..") != NULL || strpbrk(path, " \t\n") != NULL ||
	    (size_t)snprintf(full, len, "/proc/sys/%s", path) >= len) {
		snprintf(err, errlen,
			 "sysctl '%s': expected a relative path under "
			 "/proc/sys, without '..' or whitespace",
			 path ? path : "");
		return -EINVAL;
	}
	return 0;
}

/* Read /proc/sys/path into val without the trailing newline. */
static int sysctl_read(const char *path, char *val, size_t len, char *err,
		       size_t errlen)
{
	char full[160];
	ssize_t n;
	int fd, rc = sysctl_path(path, full, sizeof(full), err, errlen);

	if (rc < 0)
		return rc;
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "sysctl %s: %s", full, strerror(-rc));
		return rc;
	}
	n = read(fd, val, len - 1);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc < 0) {
		snprintf(err, errlen, "sysctl %s: read: %s", full,
			 strerror(-rc));
		return rc;
	}
	while (n > 0 && (val[n - 1] == '\n' || val[n - 1] == ' '))
		n--;
	val[n] = '\0';
	return 0;
}

static int sysctl_write(const char *path, const char *val, char *err,
			size_t errlen)
{
	char full[160];
	size_t len = strlen(val);
	ssize_t n;
	int fd, rc = sysctl_path(path, full, sizeof(full), err, errlen);

	if (rc < 0)
		return rc;
	fd = open(full, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "sysctl %s: %s", full, strerror(-rc));
		return rc;
	}
	n = write(fd, val, len);
	rc = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	close(fd);
	if (rc < 0)
		snprintf(err, errlen, "sysctl %s = '%s': %s", full, val,
			 strerror(-rc));
	return rc;
}

/* The interface a sysctl belongs to (net/ipv4/conf/IF/..., net/ipv6/conf/
 * IF/...; not "all" or "default"): its name into ifname and its index, or
 * 0 for a host-wide one. */
static int sysctl_iface(const char *path, char ifname[IF_NAMESIZE])
{
	const char *p = NULL, *end;
	char e2[256];
	int ifindex;

	if (strncmp(path, "net/ipv4/conf/", 14) == 0 ||
	    strncmp(path, "net/ipv6/conf/", 14) == 0)
		p = path + 14;
	ifname[0] = '\0';
	if (p == NULL || (end = strchr(p, '/')) == NULL ||
	    (size_t)(end - p) >= IF_NAMESIZE)
		return 0;
	snprintf(ifname, IF_NAMESIZE, "%.*s", (int)(end - p), p);
	if (!strcmp(ifname, "all") || !strcmp(ifname, "default") ||
	    (ifindex = lv_hostnet_ifindex(ifname, e2, sizeof(e2))) < 0) {
		ifname[0] = '\0';
		return 0;
	}
	return ifindex;
}

int lv_hostnet_set_sysctl(struct lv_hostnet *h, const char *path,
			  const char *value, char *err, size_t errlen)
{
	struct lv_hostnet_change *c;
	char old[256], ifname[IF_NAMESIZE];
	int rc, ifindex;

	if ((rc = sysctl_read(path, old, sizeof(old), err, errlen)) < 0)
		return rc;
	if (strlen(path) >= sizeof(c->u.sysctl.path)) {
		snprintf(err, errlen, "sysctl %s: path too long", path);
		return -ENAMETOOLONG;
	}
	if (strcmp(old, value) == 0)
		return 0; /* nothing changes, nothing to undo */
	if (strchr(old, '\n') != NULL) {
		snprintf(err, errlen,
			 "sysctl %s: its value has several lines, which the "
			 "journal cannot hold",
			 path);
		return -EINVAL;
	}
	ifindex = sysctl_iface(path, ifname);
	c = journal(h, CH_SYSCTL, ifindex, ifname, err, errlen);
	if (c == NULL)
		return -ENOMEM;
	snprintf(c->u.sysctl.path, sizeof(c->u.sysctl.path), "%s", path);
	snprintf(c->u.sysctl.old, sizeof(c->u.sysctl.old), "%s", old);
	if ((rc = persist(h, err, errlen)) < 0)
		return rc;
	if ((rc = sysctl_write(path, value, err, errlen)) < 0) {
		forget(h, h->n - 1);
		return rc;
	}
	lv_debug("sysctl %s: %s -> %s", path, old, value);
	return 0;
}

/* ---- link settings ------------------------------------------------------ */

int lv_hostnet_set_mac(struct lv_hostnet *h, const char *ifname,
		       const uint8_t mac[6], char *err, size_t errlen)
{
	struct lv_hostnet_change *c;
	struct link_info li;
	char what[64];
	int rc = get_link(ifname, &li, err, errlen);

	if (rc < 0)
		return rc;
	if (!li.has_mac) {
		snprintf(err, errlen, "interface %s: no Ethernet address",
			 ifname);
		return -EAFNOSUPPORT;
	}
	if (memcmp(li.mac, mac, 6) == 0)
		return 0;
	c = journal(h, CH_MAC, li.ifindex, ifname, err, errlen);
	if (c == NULL)
		return -ENOMEM;
	memcpy(c->u.mac, li.mac, 6);
	if ((rc = persist(h, err, errlen)) < 0)
		return rc;
	snprintf(what, sizeof(what), "interface %s: set MAC", ifname);
	rc = set_link(li.ifindex, 0, 0, mac, what, err, errlen);
	if (rc < 0)
		forget(h, h->n - 1);
	return rc;
}

int lv_hostnet_set_up(struct lv_hostnet *h, const char *ifname, char *err,
		      size_t errlen)
{
	struct link_info li;
	char what[64];
	int rc = get_link(ifname, &li, err, errlen);

	if (rc < 0)
		return rc;
	if (li.flags & IFF_UP)
		return 0;
	if (journal(h, CH_DOWN, li.ifindex, ifname, err, errlen) == NULL)
		return -ENOMEM;
	if ((rc = persist(h, err, errlen)) < 0)
		return rc;
	snprintf(what, sizeof(what), "interface %s: set up", ifname);
	rc = set_link(li.ifindex, IFF_UP, IFF_UP, NULL, what, err, errlen);
	if (rc < 0)
		forget(h, h->n - 1);
	return rc;
}

/* ---- the port ----------------------------------------------------------- */

static bool is_service(const struct lv_addr *a, const struct lv_addr *svc,
		       unsigned n_svc)
{
	for (unsigned i = 0; i < n_svc; i++)
		if (svc[i].family == a->family &&
		    memcmp(svc[i].addr, a->addr, addr_len(a->family)) == 0)
			return true;
	return false;
}

static bool in_list(const struct lv_addr *a, const struct addr_list *l)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->e[i].a.family == a->family &&
		    l->e[i].a.prefix_len == a->prefix_len &&
		    memcmp(l->e[i].a.addr, a->addr, addr_len(a->family)) == 0)
			return true;
	return false;
}

static unsigned count_v4(const struct addr_list *l)
{
	unsigned n = 0;

	for (unsigned i = 0; i < l->n; i++)
		n += l->e[i].a.family == AF_INET;
	return n;
}

/* Is b in a's IPv4 subnet, with a's prefix length (one of its
 * secondaries, if a is primary)? */
static bool same_subnet_v4(const struct lv_addr *a, const struct lv_addr *b)
{
	uint32_t x, y, mask;

	if (a->family != AF_INET || b->family != AF_INET ||
	    a->prefix_len != b->prefix_len)
		return false;
	memcpy(&x, a->addr, 4);
	memcpy(&y, b->addr, 4);
	mask = a->prefix_len ? htonl(~0u << (32 - a->prefix_len)) : 0;
	return ((x ^ y) & mask) == 0;
}

/*
 * Deleting a primary IPv4 address deletes its secondaries too (unless
 * promote_secondaries is set). Before l->e[i] goes, journal each of its
 * secondaries that is not a service address itself, so that restore puts
 * the primary back first and its secondaries after it; the journal must
 * list them before they can vanish. settle_secondaries() drops those that
 * stayed.
 */
static int journal_secondaries(struct lv_hostnet *h, int ifindex,
			       const char *ifname, const struct addr_list *l,
			       unsigned i, const struct lv_addr *svc,
			       unsigned n_svc, char *err, size_t errlen)
{
	if (l->e[i].a.family != AF_INET || (l->e[i].flags & IFA_F_SECONDARY))
		return 0;
	for (unsigned j = 0; j < l->n; j++) {
		const struct lv_addr *b = &l->e[j].a;
		struct lv_hostnet_change *c;

		if (j == i || !(l->e[j].flags & IFA_F_SECONDARY) ||
		    !same_subnet_v4(&l->e[i].a, b) || is_service(b, svc, n_svc))
			continue;
		c = journal(h, CH_ADD_ADDR, ifindex, ifname, err, errlen);
		if (c == NULL)
			return -ENOMEM;
		c->u.addr = *b;
	}
	return 0;
}

/*
 * After the deletions: of the secondaries journalled from mark on (the
 * IPv4 addresses there that are not service addresses), drop those still
 * on the interface (promote_secondaries kept them) and warn about each one
 * that went with its primary.
 */
static int settle_secondaries(struct lv_hostnet *h, unsigned mark,
			      const char *ifname, const struct addr_list *after,
			      const struct lv_addr *svc, unsigned n_svc,
			      char *err, size_t errlen)
{
	unsigned w = mark;
	char as[64];

	for (unsigned r = mark; r < h->n; r++) {
		const struct lv_hostnet_change *c = &h->changes[r];
		bool secondary = c->kind == CH_ADD_ADDR &&
				 c->u.addr.family == AF_INET &&
				 !is_service(&c->u.addr, svc, n_svc);

		if (secondary && in_list(&c->u.addr, after))
			continue; /* it stayed: nothing to put back */
		if (secondary)
			lv_warn("interface %s: secondary address %s went with "
				"the service address taken away (put back at "
				"exit)",
				ifname, addr_str(&c->u.addr, as, sizeof(as)));
		h->changes[w++] = *c;
	}
	if (w == h->n)
		return 0;
	h->n = w;
	return journal_write(h, err, errlen);
}

/* Journal, then take l->e[i] off the port (a service address) or only
 * journal it (an IPv6 address that disabling IPv6 deletes). */
static int port_addr(struct lv_hostnet *h, int ifindex, const char *ifname,
		     const struct addr_list *l, unsigned i,
		     const struct lv_addr *svc, unsigned n_svc, char *err,
		     size_t errlen)
{
	const struct lv_addr *a = &l->e[i].a;
	bool svc_addr = is_service(a, svc, n_svc);
	unsigned before = h->n;
	struct lv_hostnet_change *c;
	char as[64];
	int rc = 0;

	if (svc_addr)
		rc = journal_secondaries(h, ifindex, ifname, l, i, svc, n_svc,
					 err, errlen);
	if (rc == 0 &&
	    (c = journal(h, CH_ADD_ADDR, ifindex, ifname, err, errlen)) != NULL)
		c->u.addr = *a;
	else
		rc = -ENOMEM;
	if (rc == 0)
		rc = journal_write(h, err, errlen);
	if (rc < 0) {
		h->n = before;
		return rc;
	}
	if (!svc_addr) {
		lv_warn("interface %s: IPv6 is disabled on it while levee "
			"runs: address %s stops working until levee exits",
			ifname, addr_str(a, as, sizeof(as)));
		return 0;
	}
	rc = addr_op(RTM_DELADDR, ifindex, a, ifname, err, errlen);
	if (rc == -EADDRNOTAVAIL)
		rc = 0; /* went with a primary deleted here */
	if (rc < 0) {
		forget(h, before);
		return rc;
	}
	lv_info("interface %s: took away service address %s (put back at "
		"exit)",
		ifname, addr_str(a, as, sizeof(as)));
	return 0;
}

/*
 * Take the service addresses off the port, and journal the permanent
 * global IPv6 addresses that disabling IPv6 is about to delete. *v4_left:
 * how many IPv4 addresses the port keeps.
 */
static int port_addrs(struct lv_hostnet *h, int ifindex, const char *ifname,
		      const struct lv_addr *svc, unsigned n_svc,
		      unsigned *v4_left, char *err, size_t errlen)
{
	struct addr_list *l = malloc(2 * sizeof(*l));
	unsigned mark = h->n;
	bool v4_deleted = false;
	int rc;

	if (l == NULL) {
		snprintf(err, errlen, "interface %s: %s", ifname,
			 strerror(ENOMEM));
		return -ENOMEM;
	}
	rc = list_addrs(ifindex, ifname, l, err, errlen);
	for (unsigned i = 0; rc == 0 && i < l->n; i++) {
		const struct lv_addr *a = &l->e[i].a;
		bool svc_addr = is_service(a, svc, n_svc);

		if (!svc_addr && (a->family == AF_INET ||
				  !(l->e[i].flags & IFA_F_PERMANENT) ||
				  l->e[i].scope == RT_SCOPE_LINK))
			continue; /* kept, or comes back by itself */
		rc = port_addr(h, ifindex, ifname, l, i, svc, n_svc, err,
			       errlen);
		v4_deleted |= rc == 0 && svc_addr && a->family == AF_INET;
	}
	*v4_left = count_v4(l);
	if (rc == 0 && v4_deleted) {
		rc = list_addrs(ifindex, ifname, &l[1], err, errlen);
		if (rc == 0)
			rc = settle_secondaries(h, mark, ifname, &l[1], svc,
						n_svc, err, errlen);
		*v4_left = count_v4(&l[1]);
	}
	free(l);
	return rc;
}

int lv_hostnet_quiet_port(struct lv_hostnet *h, const char *ifname,
			  const struct lv_addr *svc, unsigned n_svc, char *err,
			  size_t errlen)
{
	static const char *const set[][2] = {
	    {"net/ipv4/conf/%s/rp_filter", "1"},
	    {"net/ipv4/conf/%s/arp_ignore", "8"},
	    {"net/ipv6/conf/%s/disable_ipv6", "1"},
	};
	char path[128], all[32], e2[256];
	int ifindex = lv_hostnet_ifindex(ifname, err, errlen), rc, n;
	unsigned v4_left = 0;

	if (ifindex < 0)
		return ifindex;
	rc = port_addrs(h, ifindex, ifname, svc, n_svc, &v4_left, err, errlen);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
		snprintf(path, sizeof(path), set[i][0], ifname);
		rc = lv_hostnet_set_sysctl(h, path, set[i][1], err, errlen);
		if (rc < 0)
			return rc;
	}
	if (sysctl_read("net/ipv4/conf/all/rp_filter", all, sizeof(all), e2,
			sizeof(e2)) == 0 &&
	    strcmp(all, "2") == 0 && v4_left > 0)
		lv_warn("interface %s: net.ipv4.conf.all.rp_filter=2 (loose) "
			"overrides its strict rp_filter, and it keeps an IPv4 "
			"address: IPv4 arriving on it still reaches the kernel "
			"stack; set the 'all' value to 0 or 1",
			ifname);
	n = routes_via(ifindex, ifname);
	if (n > 0)
		lv_warn("interface %s: %d IPv4 route(s) leave by it: queries "
			"from sources behind them pass its strict rp_filter "
			"and reach the kernel stack too",
			ifname, n);
	return 0;
}

/* Warn when a sysctl reads as bad; 1 if warned. */
static int check_one(const char *path, const char *bad, const char *why)
{
	char val[64], err[256];

	if (sysctl_read(path, val, sizeof(val), err, sizeof(err)) < 0) {
		lv_warn("%s: cannot check it", err);
		return 1;
	}
	if (strcmp(val, bad) != 0)
		return 0;
	lv_warn("/proc/sys/%s = %s: %s", path, val, why);
	return 1;
}

int lv_hostnet_check(const char *ifname)
{
	char path[128];
	int n = 0;

	n += check_one("net/ipv4/conf/all/rp_filter", "2",
		       "loose reverse-path filtering overrides the port's "
		       "strict one, so IPv4 on the port also reaches the "
		       "kernel if the port keeps an IPv4 address; levee "
		       "leaves host-wide settings alone: set it to 0 or 1");
	n += check_one("net/ipv4/ip_forward", "1",
		       "the kernel may forward frames arriving on the port "
		       "beside levee; levee leaves host-wide settings alone");
	if (ifname != NULL && check_ifname(ifname, path, sizeof(path)) == 0) {
		snprintf(path, sizeof(path), "net/ipv4/conf/%s/forwarding",
			 ifname);
		n += check_one(path, "1",
			       "the kernel may forward frames arriving on "
			       "this port beside levee");
	}
	return n;
}

/* ---- restore ------------------------------------------------------------ */

/* Undo one change. 0 when undone or already undone by someone else. */
static int undo(const struct lv_hostnet_change *c, char *err, size_t errlen)
{
	char what[64];
	int rc;

	switch (c->kind) {
	case CH_DEL_ADDR:
		rc = addr_op(RTM_DELADDR, c->ifindex, &c->u.addr, c->ifname,
			     err, errlen);
		/* gone with its interface, or removed by hand */
		return rc == -ENODEV || rc == -EADDRNOTAVAIL ? 0 : rc;
	case CH_ADD_ADDR:
		rc = addr_op(RTM_NEWADDR, c->ifindex, &c->u.addr, c->ifname,
			     err, errlen);
		return rc == -EEXIST ? 0 : rc;
	case CH_DEL_ROUTE:
		rc = default_route_op(RTM_DELROUTE, c->ifindex,
				      c->u.route.family, c->u.route.gw,
				      c->ifname, err, errlen);
		/* routes leave with their interface or address */
		return rc == -ESRCH || rc == -ENODEV ? 0 : rc;
	case CH_MAC:
	case CH_DOWN:
		snprintf(what, sizeof(what), "interface %s: %s", c->ifname,
			 c->kind == CH_MAC ? "put back MAC" : "set down");
		rc = set_link(c->ifindex, 0, c->kind == CH_DOWN ? IFF_UP : 0,
			      c->kind == CH_MAC ? c->u.mac : NULL, what, err,
			      errlen);
		return rc == -ENODEV ? 0 : rc;
	case CH_SYSCTL:
		rc = sysctl_write(c->u.sysctl.path, c->u.sysctl.old, err,
				  errlen);
		/* an interface's sysctls vanish with it */
		return rc == -ENOENT ? 0 : rc;
	}
	return 0;
}

/*
 * Undo h's changes newest first, marking each that fails. With
 * check_ifaces (a crashed levee's journal), a change whose interface is
 * gone, or now has another index (deleted and made again), counts as
 * undone: what it changed went with the old interface. Returns the count
 * of failures.
 */
static unsigned undo_all(struct lv_hostnet *h, bool check_ifaces)
{
	char err[512];
	unsigned failed = 0;

	for (unsigned i = h->n; i-- > 0;) {
		struct lv_hostnet_change *c = &h->changes[i];
		int now;

		err[0] = '\0';
		c->failed = false;
		if (check_ifaces && c->ifindex > 0) {
			now = lv_hostnet_ifindex(c->ifname, err, sizeof(err));
			if (now == -ENODEV || (now > 0 && now != c->ifindex)) {
				lv_debug("host changes: interface %s (index "
					 "%d) is gone: nothing to undo there",
					 c->ifname, c->ifindex);
				continue;
			}
		}
		if (err[0] == '\0' && undo(c, err, sizeof(err)) == 0)
			continue;
		lv_warn("could not restore: %s", err);
		c->failed = true;
		failed++;
	}
	return failed;
}

/* Keep only the changes that could not be undone, oldest first. */
static void keep_failed(struct lv_hostnet *h)
{
	unsigned w = 0;

	for (unsigned r = 0; r < h->n; r++)
		if (h->changes[r].failed)
			h->changes[w++] = h->changes[r];
	h->n = w;
}

int lv_hostnet_restore(struct lv_hostnet *h)
{
	unsigned failed = undo_all(h, false);
	char err[512];

	if (h->path[0]) {
		keep_failed(h);
		if (failed == 0) {
			if (unlink(h->path) != 0 && errno != ENOENT)
				lv_warn("host changes journal %s: cannot "
					"remove it: %s",
					h->path, strerror(errno));
		} else if (journal_write(h, err, sizeof(err)) < 0) {
			lv_warn("%s", err);
		} else {
			lv_warn("host changes journal %s keeps the %u "
				"change(s) that could not be undone: the next "
				"start tries again",
				h->path, failed);
		}
		unlock(h, true);
	}
	h->n = 0;
	return (int)failed;
}

/* ---- the journal file ------------------------------------------------- */

#define JOURNAL_MAGIC "levee host-change journal 1"

/* Our network namespace's inode: a journal is only undone where it was
 * written (interface names and /proc/sys/net are per namespace). */
static uint64_t netns_id(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static void write_change(FILE *f, const struct lv_hostnet_change *c)
{
	char text[64];

	fprintf(f, "%s %d %s", kind_names[c->kind], c->ifindex,
		c->ifname[0] ? c->ifname : "-");
	switch (c->kind) {
	case CH_DEL_ADDR:
	case CH_ADD_ADDR:
		fprintf(f, " %s", addr_str(&c->u.addr, text, sizeof(text)));
		break;
	case CH_DEL_ROUTE:
		if (inet_ntop(c->u.route.family, c->u.route.gw, text,
			      sizeof(text)) == NULL)
			snprintf(text, sizeof(text), "?");
		fprintf(f, " %s", text);
		break;
	case CH_MAC:
		fprintf(f, " %02x:%02x:%02x:%02x:%02x:%02x", c->u.mac[0],
			c->u.mac[1], c->u.mac[2], c->u.mac[3], c->u.mac[4],
			c->u.mac[5]);
		break;
	case CH_DOWN:
		break;
	case CH_SYSCTL:
		/* the value is the rest of the line, spaces and all */
		fprintf(f, " %s %s", c->u.sysctl.path, c->u.sysctl.old);
		break;
	}
	fputc('\n', f);
}

/* fsync the directory of path, so that a rename in it is durable. */
static int sync_dir(const char *path)
{
	char dir[sizeof(((struct lv_hostnet *)0)->path)];
	char *slash;
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

/* Write the whole journal to h->path: a temporary file beside it, fsync,
 * rename over it, fsync the directory. Nothing to do without a file. */
static int journal_write(const struct lv_hostnet *h, char *err, size_t errlen)
{
	char tmp[sizeof(h->path) + 8];
	FILE *f;
	int fd, rc = 0;

	if (!h->path[0])
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", h->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "host changes journal %s: %s", tmp,
			 strerror(-rc));
		return rc;
	}
	fprintf(f,
		JOURNAL_MAGIC
		"\npid %ld\nnetns %llu\n"
		"# what levee changed on this host, oldest first, and how "
		"to undo it\n"
		"# (docs/operations.md); levee undoes it newest first at "
		"exit, or at its next start after a crash\n",
		(long)getpid(), (unsigned long long)h->netns);
	for (unsigned i = 0; i < h->n; i++)
		write_change(f, &h->changes[i]);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, h->path) != 0)
		rc = -errno;
	if (rc == 0)
		rc = sync_dir(h->path);
	if (rc < 0) {
		unlink(tmp);
		snprintf(err, errlen, "host changes journal %s: %s", h->path,
			 strerror(-rc));
	}
	return rc;
}

/* Cut s at the first space; *rest is what follows it (NULL: nothing). */
static char *token(char **rest)
{
	char *s = *rest, *sp;

	if (s == NULL)
		return NULL;
	sp = strchr(s, ' ');
	*rest = sp ? sp + 1 : NULL;
	if (sp)
		*sp = '\0';
	return s;
}

/* A change's own part of its line (after KIND IFINDEX IFNAME), for the
 * kinds that name an interface. 0, or -1. */
static int parse_args(char *rest, struct lv_hostnet_change *c)
{
	char *arg = token(&rest), tail;
	uint8_t *m = c->u.mac;
	struct lv_addr a;

	if (c->kind == CH_DOWN)
		return arg == NULL ? 0 : -1;
	if (arg == NULL || rest != NULL)
		return -1;
	switch (c->kind) {
	case CH_DEL_ADDR:
	case CH_ADD_ADDR:
		return strchr(arg, '/') != NULL &&
			       lv_config_parse_addr(arg, &c->u.addr) == 0
			   ? 0
			   : -1;
	case CH_DEL_ROUTE:
		if (strchr(arg, '/') != NULL ||
		    lv_config_parse_addr(arg, &a) < 0)
			return -1;
		c->u.route.family = a.family;
		memcpy(c->u.route.gw, a.addr, addr_len(a.family));
		return 0;
	case CH_MAC:
		return sscanf(arg, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%c",
			      &m[0], &m[1], &m[2], &m[3], &m[4], &m[5],
			      &tail) == 6
			   ? 0
			   : -1;
	default:
		return -1;
	}
}

/* One change line of a journal file into c. 0, or -1. */
static int parse_change(char *line, struct lv_hostnet_change *c)
{
	char *rest = line, *kind = token(&rest), *idx = token(&rest),
	     *ifname = token(&rest), *path, *end;
	unsigned i, n = sizeof(kind_names) / sizeof(*kind_names);
	long v;

	memset(c, 0, sizeof(*c));
	if (kind == NULL || idx == NULL || ifname == NULL)
		return -1;
	for (i = 0; i < n && strcmp(kind, kind_names[i]) != 0; i++)
		;
	v = strtol(idx, &end, 10);
	if (i == n || *end != '\0' || end == idx || v < 0 || v > INT32_MAX ||
	    strlen(ifname) >= IF_NAMESIZE)
		return -1;
	c->kind = (enum change_kind)i;
	c->ifindex = (int)v;
	if (strcmp(ifname, "-") != 0)
		snprintf(c->ifname, sizeof(c->ifname), "%s", ifname);
	if ((c->ifindex > 0) != (c->ifname[0] != '\0'))
		return -1;
	if (c->kind != CH_SYSCTL) /* these all name an interface */
		return c->ifindex == 0 ? -1 : parse_args(rest, c);
	path = token(&rest); /* then the old value: the rest, maybe "" */
	if (path == NULL || strlen(path) >= sizeof(c->u.sysctl.path) ||
	    strlen(rest ? rest : "") >= sizeof(c->u.sysctl.old))
		return -1;
	snprintf(c->u.sysctl.path, sizeof(c->u.sysctl.path), "%s", path);
	snprintf(c->u.sysctl.old, sizeof(c->u.sysctl.old), "%s",
		 rest ? rest : "");
	return 0;
}

/* The header's "KEY NUMBER" line. 0, or -1. */
static int header_number(const char *line, const char *key,
			 unsigned long long *v)
{
	size_t n = strlen(key);
	char *end;

	if (strncmp(line, key, n) != 0 || line[n] != ' ' || line[n + 1] < '0' ||
	    line[n + 1] > '9')
		return -1;
	*v = strtoull(line + n + 1, &end, 10);
	return *end == '\0' ? 0 : -1;
}

/*
 * Read the journal file at path into old (changes only), with the pid and
 * network namespace that wrote it. -ENOENT when there is none; -EINVAL
 * with "PATH:LINE: ..." when it cannot be read.
 */
static int journal_read(const char *path, struct lv_hostnet *old,
			unsigned long long *pid, unsigned long long *netns,
			char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int rc = 0;

	if (f == NULL) {
		rc = -errno;
		if (rc != -ENOENT)
			snprintf(err, errlen, "host changes journal %s: %s",
				 path, strerror(-rc));
		return rc;
	}
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		struct lv_hostnet_change *c;
		const char *what = NULL;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (lineno == 1 && strcmp(line, JOURNAL_MAGIC) != 0)
			what = "not a levee journal (expected \"" JOURNAL_MAGIC
			       "\")";
		else if (lineno == 2 && header_number(line, "pid", pid) < 0)
			what = "expected \"pid N\"";
		else if (lineno == 3 && header_number(line, "netns", netns) < 0)
			what = "expected \"netns N\"";
		else if (lineno <= 3 || line[0] == '#' || line[0] == '\0')
			continue;
		else if ((c = journal(old, CH_DOWN, 0, NULL, err, errlen)) ==
			 NULL)
			rc = -ENOMEM;
		else if (parse_change(line, c) < 0)
			what = "not a change levee writes";
		if (what != NULL) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, what);
			rc = -EINVAL;
		}
	}
	if (rc == 0 && lineno < 3) {
		snprintf(err, errlen, "%s:%u: cut short (no header)", path,
			 lineno);
		rc = -EINVAL;
	}
	free(line);
	fclose(f);
	return rc;
}

/* The pid in a lock file (0: none readable). */
static long lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/*
 * flock h->lock_path for as long as we run. Its previous holder may remove
 * the file between our open and our lock (and another levee make a new
 * one): a lock on a file no longer at the path is tried again.
 */
static int lock(struct lv_hostnet *h, const char *name, char *err,
		size_t errlen)
{
	struct stat mine, now;

	for (int tries = 0; tries < 8; tries++) {
		int fd = open(h->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		long pid;

		if (fd < 0) {
			int e = errno;

			snprintf(err, errlen,
				 "host changes journal lock %s: %s",
				 h->lock_path, strerror(e));
			return -e;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;

			pid = lock_holder(fd);
			close(fd);
			if (e != EWOULDBLOCK) {
				snprintf(err, errlen,
					 "host changes journal lock %s: %s",
					 h->lock_path, strerror(e));
				return -e;
			}
			snprintf(err, errlen,
				 "interface %s: levee pid %ld already runs on "
				 "it (%s held): stop it first",
				 name, pid, h->lock_path);
			return -EBUSY;
		}
		if (fstat(fd, &mine) == 0 && stat(h->lock_path, &now) == 0 &&
		    mine.st_dev == now.st_dev && mine.st_ino == now.st_ino) {
			char pid_text[32];
			int n = snprintf(pid_text, sizeof(pid_text), "%ld\n",
					 (long)getpid());

			if (ftruncate(fd, 0) != 0 ||
			    pwrite(fd, pid_text, (size_t)n, 0) != n)
				lv_debug("lock %s: cannot write our pid",
					 h->lock_path);
			h->lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	snprintf(err, errlen, "host changes journal lock %s: %s", h->lock_path,
		 "kept changing under us");
	return -EAGAIN;
}

static void unlock(struct lv_hostnet *h, bool remove_lock_file)
{
	/* removed while still held: a levee waiting on this file sees it
	 * is gone and makes a new one (see lock()) */
	if (remove_lock_file && unlink(h->lock_path) != 0 && errno != ENOENT)
		lv_warn("host changes journal lock %s: cannot remove it: %s",
			h->lock_path, strerror(errno));
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	h->lock_fd = -1;
	h->path[0] = h->lock_path[0] = '\0';
}

/* /proc/PID/comm without its newline, in buf ("" when unreadable). */
static void comm_of(const char *pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
	buf[0] = '\0';
	if ((f = fopen(path, "re")) != NULL) {
		if (fgets(buf, (int)len, f) == NULL)
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
}

/* Does pid still run, as a program of our own name? (The lock says so
 * first; this holds even when someone removed the lock file.) */
static bool still_runs(unsigned long long pid)
{
	char text[32], theirs[64], ours[64];

	if (pid == 0 || pid == (unsigned long long)getpid())
		return false;
	snprintf(text, sizeof(text), "%llu", pid);
	comm_of(text, theirs, sizeof(theirs));
	comm_of("self", ours, sizeof(ours));
	return theirs[0] != '\0' && strcmp(theirs, ours) == 0;
}

/* A journal left behind by a levee that died: undo it (see the header). */
static int recover(struct lv_hostnet *h, char *err, size_t errlen)
{
	unsigned long long pid = 0, netns = 0;
	struct lv_hostnet old;
	unsigned failed;
	int rc;

	lv_hostnet_init(&old);
	rc = journal_read(h->path, &old, &pid, &netns, err, errlen);
	if (rc == -ENOENT) {
		rc = 0; /* nothing left behind */
		goto out;
	}
	if (rc < 0)
		goto out;
	if (netns != h->netns) {
		snprintf(err, errlen,
			 "%s: written by levee pid %llu in another network "
			 "namespace (net:[%llu], ours is net:[%llu]): undo its "
			 "changes there, then remove the file",
			 h->path, pid, netns, (unsigned long long)h->netns);
		rc = -EXDEV;
		goto out;
	}
	if (still_runs(pid)) {
		snprintf(err, errlen,
			 "%s: written by levee pid %llu, which still runs "
			 "(though not holding %s): stop it first",
			 h->path, pid, h->lock_path);
		rc = -EBUSY;
		goto out;
	}
	failed = undo_all(&old, true);
	if (failed > 0) {
		snprintf(err, errlen,
			 "%s: %u of the %u host change(s) left by levee pid "
			 "%llu could not be undone (see above): undo them by "
			 "hand, then remove the file",
			 h->path, failed, old.n, pid);
		rc = -EIO;
		goto out;
	}
	lv_warn("host changes: levee pid %llu exited without undoing its "
		"host changes; undid the %u recorded in %s",
		pid, old.n, h->path);
out:
	lv_hostnet_fini(&old);
	return rc;
}

int lv_hostnet_journal_open(struct lv_hostnet *h, const char *dir,
			    const char *name, char *err, size_t errlen)
{
	int rc;

	if (h->path[0] || h->n > 0) {
		snprintf(err, errlen,
			 "host changes journal: open it once, before any "
			 "change");
		return -EINVAL;
	}
	if (name == NULL || name[0] == '\0' || strchr(name, '/') ||
	    !strcmp(name, ".") || !strcmp(name, "..")) {
		snprintf(err, errlen,
			 "host changes journal: '%s' cannot name a file",
			 name ? name : "");
		return -EINVAL;
	}
	if ((size_t)snprintf(h->path, sizeof(h->path), "%s/%s.journal", dir,
			     name) >= sizeof(h->path) ||
	    (size_t)snprintf(h->lock_path, sizeof(h->lock_path), "%s/%s.lock",
			     dir, name) >= sizeof(h->lock_path)) {
		snprintf(err, errlen, "host changes journal %s/%s: %s", dir,
			 name, strerror(ENAMETOOLONG));
		h->path[0] = h->lock_path[0] = '\0';
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "host changes journal directory %s: %s",
			 dir, strerror(-rc));
		h->path[0] = h->lock_path[0] = '\0';
		return rc;
	}
	if ((rc = lock(h, name, err, errlen)) < 0) {
		h->path[0] = h->lock_path[0] = '\0';
		return rc;
	}
	h->netns = netns_id();
	rc = recover(h, err, errlen);
	if (rc == 0)
		rc = journal_write(h, err, errlen); /* ours, empty */
	if (rc < 0)
		unlock(h, false); /* a journal kept for later stays */
	return rc;
}
