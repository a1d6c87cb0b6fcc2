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
#include <sys/socket.h>
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

struct lv_hostnet_change {
	enum change_kind kind;
	int ifindex;
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
}

void lv_hostnet_fini(struct lv_hostnet *h)
{
	free(h->changes);
	memset(h, 0, sizeof(*h));
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

/* Make room first, so that a change once made can always be journalled. */
static int journal_room(struct lv_hostnet *h, char *err, size_t errlen)
{
	if (journal(h, CH_DOWN, 0, NULL, err, errlen) == NULL)
		return -ENOMEM;
	h->n--;
	return 0;
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
	if ((rc = check_addr(a, ifname, err, errlen)) < 0 ||
	    (rc = journal_room(h, err, errlen)) < 0)
		return rc;
	rc = addr_op(RTM_NEWADDR, ifindex, a, ifname, err, errlen);
	if (rc < 0)
		return rc;
	c = journal(h, CH_DEL_ADDR, ifindex, ifname, err, errlen);
	c->u.addr = *a;
	return 0;
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
	if ((rc = journal_room(h, err, errlen)) < 0)
		return rc;
	rc = default_route_op(RTM_NEWROUTE, ifindex, family, gateway, ifname,
			      err, errlen);
	if (rc < 0)
		return rc;
	c = journal(h, CH_DEL_ROUTE, ifindex, ifname, err, errlen);
	c->u.route.family = family;
	memcpy(c->u.route.gw, gateway, addr_len(family));
	return 0;
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
	    strstr(path, "..") != NULL ||
	    (size_t)snprintf(full, len, "/proc/sys/%s", path) >= len) {
		snprintf(err, errlen,
			 "sysctl '%s': expected a relative path under "
			 "/proc/sys, without '..'",
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

int lv_hostnet_set_sysctl(struct lv_hostnet *h, const char *path,
			  const char *value, char *err, size_t errlen)
{
	struct lv_hostnet_change *c;
	char old[256];
	int rc;

	if ((rc = sysctl_read(path, old, sizeof(old), err, errlen)) < 0)
		return rc;
	if (strlen(path) >= sizeof(c->u.sysctl.path)) {
		snprintf(err, errlen, "sysctl %s: path too long", path);
		return -ENAMETOOLONG;
	}
	if (strcmp(old, value) == 0)
		return 0; /* nothing changes, nothing to undo */
	if ((rc = journal_room(h, err, errlen)) < 0 ||
	    (rc = sysctl_write(path, value, err, errlen)) < 0)
		return rc;
	c = journal(h, CH_SYSCTL, 0, NULL, err, errlen);
	snprintf(c->u.sysctl.path, sizeof(c->u.sysctl.path), "%s", path);
	snprintf(c->u.sysctl.old, sizeof(c->u.sysctl.old), "%s", old);
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
	if ((rc = journal_room(h, err, errlen)) < 0)
		return rc;
	snprintf(what, sizeof(what), "interface %s: set MAC", ifname);
	rc = set_link(li.ifindex, 0, 0, mac, what, err, errlen);
	if (rc < 0)
		return rc;
	c = journal(h, CH_MAC, li.ifindex, ifname, err, errlen);
	memcpy(c->u.mac, li.mac, 6);
	return 0;
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
	if ((rc = journal_room(h, err, errlen)) < 0)
		return rc;
	snprintf(what, sizeof(what), "interface %s: set up", ifname);
	rc = set_link(li.ifindex, IFF_UP, IFF_UP, NULL, what, err, errlen);
	if (rc < 0)
		return rc;
	journal(h, CH_DOWN, li.ifindex, ifname, err, errlen);
	return 0;
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

/*
 * Deleting a primary IPv4 address deletes its secondaries too (unless
 * promote_secondaries is set): journal each that went, at mark, so that
 * restore puts the primary back first and its secondaries after it.
 */
static int lost_secondaries(struct lv_hostnet *h, unsigned mark, int ifindex,
			    const char *ifname, const struct addr_list *before,
			    const struct addr_list *after,
			    const struct lv_addr *svc, unsigned n_svc,
			    char *err, size_t errlen)
{
	char as[64];

	for (unsigned i = 0; i < before->n; i++) {
		const struct lv_addr *a = &before->e[i].a;
		struct lv_hostnet_change *c;

		if (a->family != AF_INET || is_service(a, svc, n_svc) ||
		    in_list(a, after))
			continue;
		if (journal(h, CH_ADD_ADDR, ifindex, ifname, err, errlen) ==
		    NULL)
			return -ENOMEM;
		memmove(&h->changes[mark + 1], &h->changes[mark],
			(h->n - 1 - mark) * sizeof(*h->changes));
		c = &h->changes[mark];
		memset(c, 0, sizeof(*c));
		c->kind = CH_ADD_ADDR;
		c->ifindex = ifindex;
		snprintf(c->ifname, sizeof(c->ifname), "%s", ifname);
		c->u.addr = *a;
		lv_warn("interface %s: secondary address %s went with the "
			"service address taken away (put back at exit)",
			ifname, addr_str(a, as, sizeof(as)));
	}
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
	char as[64];
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
		struct lv_hostnet_change *c;

		if (!svc_addr && (a->family == AF_INET ||
				  !(l->e[i].flags & IFA_F_PERMANENT) ||
				  l->e[i].scope == RT_SCOPE_LINK))
			continue; /* kept, or comes back by itself */
		if ((rc = journal_room(h, err, errlen)) < 0)
			break;
		if (svc_addr) {
			rc = addr_op(RTM_DELADDR, ifindex, a, ifname, err,
				     errlen);
			if (rc == -EADDRNOTAVAIL)
				rc = 0; /* went with a primary deleted here */
			if (rc < 0)
				break;
			v4_deleted |= a->family == AF_INET;
			lv_info("interface %s: took away service address %s "
				"(put back at exit)",
				ifname, addr_str(a, as, sizeof(as)));
		} else {
			lv_warn("interface %s: IPv6 is disabled on it while "
				"levee runs: address %s stops working until "
				"levee exits",
				ifname, addr_str(a, as, sizeof(as)));
		}
		c = journal(h, CH_ADD_ADDR, ifindex, ifname, err, errlen);
		c->u.addr = *a;
	}
	*v4_left = count_v4(l);
	if (rc == 0 && v4_deleted) {
		rc = list_addrs(ifindex, ifname, &l[1], err, errlen);
		if (rc == 0)
			rc = lost_secondaries(h, mark, ifindex, ifname, l,
					      &l[1], svc, n_svc, err, errlen);
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

int lv_hostnet_restore(struct lv_hostnet *h)
{
	char err[512];
	int failed = 0;

	while (h->n > 0) {
		const struct lv_hostnet_change *c = &h->changes[--h->n];

		err[0] = '\0';
		if (undo(c, err, sizeof(err)) < 0) {
			lv_warn("could not restore: %s", err);
			failed++;
		}
	}
	return failed;
}
