/*
 * NOTIFY to secondaries; see include/levee/notify.h.
 *
 * Each pending notification is one (zone, target) with its message
 * already built (and signed), the time its next try is due and how many
 * tries are left. The list is short (zones × targets) and scanned.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_random.h>

#include "levee/control.h"
#include "levee/local.h"
#include "levee/log.h"
#include "levee/notify.h"
#include "levee/tsig.h"
#include "zone_int.h"

#define NOTIFY_TRIES     5
#define NOTIFY_FIRST_MS  1000 /* then doubled: 1, 2, 4, 8 s */
#define NOTIFY_MSG_MAX   2048 /* question, SOA and TSIG of the longest names */
#define LV_OPCODE_NOTIFY 4

struct pending {
	char origin[LV_DNS_MAX_NAME * 4 + 2];
	uint32_t serial;
	struct sockaddr_storage to;
	socklen_t to_len;
	char who[INET6_ADDRSTRLEN + 8];
	uint16_t id;
	unsigned tries_left;
	uint64_t due_ms, wait_ms;
	uint8_t msg[NOTIFY_MSG_MAX];
	uint16_t len;
};

struct lv_notify {
	struct lv_control *ctl;
	struct lv_ev_io io4, io6; /* io.fd < 0: no socket of that family */
	/* armed for the earliest due try while anything is pending */
	struct lv_ev_timer timer;
	struct pending *p;
	unsigned n, cap;
};

static void on_answers(struct lv_ev_io *io, uint32_t events);
static void on_timer(struct lv_ev_timer *t);

static bool in_list(const struct lv_remote_conf *t, unsigned n, int family)
{
	for (unsigned i = 0; i < n; i++)
		if (t[i].addr.family == family)
			return true;
	return false;
}

/* Is any NOTIFY target of this family configured? */
static bool any_target(const struct lv_config *cfg, int family)
{
	if (in_list(cfg->notify, cfg->n_notify, family))
		return true;
	for (unsigned i = 0; i < cfg->n_zones; i++)
		if (in_list(cfg->zones[i].notify, cfg->zones[i].n_notify,
			    family))
			return true;
	return false;
}

/* A UDP socket of family, bound to its first service address if any,
 * registered with the event loop in io. 0, or -1 (logged). */
static int open_socket(struct lv_control *ctl, int family, struct lv_ev_io *io)
{
	char err[256];
	int fd = -1;

	for (unsigned i = 0; i < ctl->cfg->n_addrs && fd < 0; i++) {
		if (ctl->cfg->addrs[i].family != family)
			continue;
		fd = lv_socket_bound(&ctl->cfg->addrs[i], 0, SOCK_DGRAM, err,
				     sizeof(err));
		if (fd < 0) {
			lv_err("NOTIFY: %s", err);
			return -1;
		}
	}
	if (fd < 0)
		fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0);
	int rc = fd < 0 ? -errno
			: lv_ev_io_add(ctl->loop, io, fd, EPOLLIN, on_answers,
				       ctl->notify);
	if (rc != 0) {
		lv_err("NOTIFY: UDP socket: %s", strerror(-rc));
		if (fd >= 0)
			close(fd);
		io->fd = -1;
		return -1;
	}
	return 0;
}

/* The socket for family, opened now if no target of it was configured
 * at start-up (a reload added one). -1 when it cannot be opened. */
static int socket_for(struct lv_control *ctl, int family)
{
	struct lv_notify *n = ctl->notify;
	struct lv_ev_io *io = family == AF_INET ? &n->io4 : &n->io6;

	if (io->fd < 0 && open_socket(ctl, family, io) != 0)
		return -1;
	return io->fd;
}

int lv_notify_open(struct lv_control *ctl)
{
	struct lv_notify *n;

	bool v4 = any_target(ctl->cfg, AF_INET);
	bool v6 = any_target(ctl->cfg, AF_INET6);

	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -1;
	ctl->notify = n;
	n->ctl = ctl;
	n->io4.fd = n->io6.fd = -1;
	lv_ev_timer_init(&n->timer, on_timer, n);
	/* a socket per family the configured targets need, so that a bad
	 * address fails at start-up; a family a reload adds later gets its
	 * socket when first used */
	if ((v4 && open_socket(ctl, AF_INET, &n->io4) != 0) ||
	    (v6 && open_socket(ctl, AF_INET6, &n->io6) != 0))
		return -1;
	return 0;
}

/* The NOTIFY of z: the SOA question, AA, and the SOA as a hint (§3.7). */
static uint16_t build(const struct lv_zone *z, uint16_t id, uint8_t *m)
{
	const struct lv_zrr *soa = &z->soa->rrs[0];
	unsigned len = LV_DNS_HDR_LEN;

	if (LV_DNS_HDR_LEN + 2 * z->origin_len + 14 + soa->rdlen >
	    NOTIFY_MSG_MAX - LV_TSIG_SPACE_MAX)
		return 0;
	lv_wire_put16(m, id);
	lv_wire_put16(m + 2, (uint16_t)(LV_OPCODE_NOTIFY << 11 | LV_FLAG_AA));
	lv_wire_put16(m + 4, 1);
	lv_wire_put16(m + 6, 1);
	lv_wire_put32(m + 8, 0);
	memcpy(m + len, z->origin, z->origin_len);
	len += z->origin_len;
	lv_wire_put16(m + len, LV_TYPE_SOA);
	lv_wire_put16(m + len + 2, LV_CLASS_IN);
	len += 4;
	lv_wire_put16(m + len, 0xc000 | LV_DNS_HDR_LEN); /* the qname */
	lv_wire_put16(m + len + 2, LV_TYPE_SOA);
	lv_wire_put16(m + len + 4, LV_CLASS_IN);
	lv_wire_put32(m + len + 6, z->soa->ttl);
	lv_wire_put16(m + len + 10, soa->rdlen);
	memcpy(m + len + 12, soa->rdata, soa->rdlen);
	return (uint16_t)(len + 12 + soa->rdlen);
}

/* The slot for (origin, target): the pending one to replace, or a new. */
static struct pending *slot(struct lv_notify *n, const char *origin,
			    const struct sockaddr_storage *to, socklen_t len)
{
	for (unsigned i = 0; i < n->n; i++)
		if (n->p[i].to_len == len && !memcmp(&n->p[i].to, to, len) &&
		    !strcmp(n->p[i].origin, origin))
			return &n->p[i];
	if (n->n == n->cap) {
		unsigned cap = n->cap ? 2 * n->cap : 8;
		struct pending *p = realloc(n->p, cap * sizeof(*p));
		if (p == NULL)
			return NULL;
		n->p = p;
		n->cap = cap;
	}
	return &n->p[n->n++];
}

static void send_due(struct lv_control *ctl);

static void queue_one(struct lv_control *ctl, const struct lv_zone *z,
		      const struct lv_remote_conf *t)
{
	struct lv_notify *n = ctl->notify;
	struct sockaddr_storage to;
	socklen_t tl = lv_addr_to_sockaddr(&t->addr, t->port, &to);
	struct pending *p = slot(n, z->origin_text, &to, tl);
	char addr[INET6_ADDRSTRLEN];

	if (p == NULL) {
		LV_STAT_INC(ctl->stats.notify_failed);
		return;
	}
	memset(p, 0, sizeof(*p));
	snprintf(p->origin, sizeof(p->origin), "%s", z->origin_text);
	p->serial = z->serial;
	p->to = to;
	p->to_len = tl;
	inet_ntop(t->addr.family, t->addr.addr, addr, sizeof(addr));
	snprintf(p->who, sizeof(p->who), "%s@%u", addr, t->port);
	p->id = (uint16_t)rte_rand();
	p->len = build(z, p->id, p->msg);
	const struct lv_tsig_key *key =
	    t->key ? lv_tsig_keyring_find(ctl->keys, t->key) : NULL;
	if (p->len && key) {
		struct lv_tsig_state st;
		lv_tsig_state_init(&st, key);
		p->len = (uint16_t)lv_tsig_sign(
		    &st, p->msg, p->len, sizeof(p->msg), (uint64_t)time(NULL));
	}
	if (p->len == 0) {
		lv_err("NOTIFY of %s to %s: cannot build the message",
		       p->origin, p->who);
		LV_STAT_INC(ctl->stats.notify_failed);
		*p = n->p[--n->n];
		return;
	}
	p->tries_left = NOTIFY_TRIES;
	p->wait_ms = NOTIFY_FIRST_MS;
	p->due_ms = lv_monotonic_ms();
}

void lv_notify_zone(struct lv_control *ctl, const struct lv_zone *z)
{
	const struct lv_remote_conf *t;
	unsigned count;

	if (ctl->notify == NULL)
		return;
	lv_config_zone_notify(ctl->cfg, z->origin_text, &t, &count);
	for (unsigned i = 0; i < count; i++)
		queue_one(ctl, z, &t[i]);
	send_due(ctl);
}

static void forget(struct lv_notify *n, struct pending *p)
{
	*p = n->p[--n->n];
}

/* Send the tries that are due, give up those out of tries, and arm the
 * timer for the next one. */
static void send_due(struct lv_control *ctl)
{
	struct lv_notify *n = ctl->notify;
	uint64_t now = lv_monotonic_ms(), next = UINT64_MAX;

	for (unsigned i = 0; i < n->n;) {
		struct pending *p = &n->p[i];
		if (p->due_ms > now) {
			next = RTE_MIN(next, p->due_ms);
			i++;
			continue;
		}
		if (p->tries_left == 0) {
			lv_warn("NOTIFY of %s serial %u to %s: no answer after "
				"%u tries; given up",
				p->origin, p->serial, p->who, NOTIFY_TRIES);
			LV_STAT_INC(ctl->stats.notify_failed);
			forget(n, p);
			continue;
		}
		int fd = socket_for(ctl, p->to.ss_family);
		if (fd >= 0 &&
		    sendto(fd, p->msg, p->len, 0, (struct sockaddr *)&p->to,
			   p->to_len) == p->len)
			LV_STAT_INC(ctl->stats.notify_sent);
		p->tries_left--;
		p->due_ms = now + p->wait_ms;
		p->wait_ms *= 2;
		next = RTE_MIN(next, p->due_ms);
		i++;
	}
	if (next != UINT64_MAX)
		lv_ev_timer_at(ctl->loop, &n->timer, next * 1000000u);
	else
		lv_ev_timer_stop(ctl->loop, &n->timer);
}

static void on_timer(struct lv_ev_timer *t)
{
	struct lv_notify *n = t->data;

	send_due(n->ctl);
}

/* An answer to p: from its target, its ID, QR=1, opcode NOTIFY. */
static bool answers(const struct pending *p, const uint8_t *m, ssize_t len,
		    const struct sockaddr_storage *from, socklen_t fl)
{
	uint16_t flags;

	if (len < LV_DNS_HDR_LEN || fl != p->to_len ||
	    memcmp(from, &p->to, fl) != 0 || lv_wire_get16(m) != p->id)
		return false;
	flags = lv_wire_get16(m + 2);
	return (flags & LV_FLAG_QR) &&
	       ((flags & LV_FLAG_OPCODE) >> 11) == LV_OPCODE_NOTIFY;
}

static void on_answer(struct lv_control *ctl, const uint8_t *m, ssize_t len,
		      const struct sockaddr_storage *from, socklen_t fl)
{
	struct lv_notify *n = ctl->notify;

	for (unsigned i = 0; i < n->n; i++) {
		struct pending *p = &n->p[i];
		if (!answers(p, m, len, from, fl))
			continue;
		unsigned rcode = lv_wire_get16(m + 2) & LV_FLAG_RCODE;
		if (rcode == LV_RCODE_NOERROR) {
			lv_info("NOTIFY of %s serial %u to %s: acknowledged",
				p->origin, p->serial, p->who);
			LV_STAT_INC(ctl->stats.notify_answered);
		} else {
			lv_warn("NOTIFY of %s serial %u to %s: answered with "
				"rcode %u",
				p->origin, p->serial, p->who, rcode);
			LV_STAT_INC(ctl->stats.notify_failed);
		}
		forget(n, p);
		return;
	}
}

static void on_answers(struct lv_ev_io *io, uint32_t events)
{
	struct lv_notify *n = io->data;
	struct lv_control *ctl = n->ctl;
	int fd = io->fd;
	uint8_t buf[NOTIFY_MSG_MAX];

	(void)events;
	for (unsigned i = 0; i < 64; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t len = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
				       (struct sockaddr *)&from, &fl);
		if (len < 0)
			break;
		on_answer(ctl, buf, len, &from, fl);
	}
	/* an answered notification may have been the next one due */
	send_due(ctl);
}

void lv_notify_close(struct lv_control *ctl)
{
	struct lv_notify *n = ctl->notify;

	if (n == NULL)
		return;
	lv_ev_timer_stop(ctl->loop, &n->timer);
	for (unsigned i = 0; i < 2; i++) {
		struct lv_ev_io *io = i ? &n->io6 : &n->io4;
		if (io->fd >= 0) {
			lv_ev_io_del(io);
			close(io->fd);
		}
	}
	free(n->p);
	free(n);
	ctl->notify = NULL;
}
