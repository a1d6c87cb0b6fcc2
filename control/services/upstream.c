/*
 * Upstream exchanges over UDP (a socket per query, random port and ID) and
 * over persistent, pipelined TCP connections. See include/levee/upstream.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "levee/log.h"
#include "levee/upstream.h"
#include "levee/wire.h"

/* Random source ports are drawn from the unprivileged range; a port in
 * use is drawn again a few times before the kernel picks one. */
#define PORT_FIRST  1024
#define PORT_TRIES  8
#define UDP_READS   16 /* datagrams read per readiness, spoofs included */
#define TCP_MSG_MAX (2 + 65535)

struct lv_upstream_tcp {
	struct lv_upstream *up;
	int fd;
	struct lv_ev_io io;
	bool connected;
	bool dead;
	/* bytes queued to write: [out_off, out_len) */
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	/* one message being reassembled */
	uint8_t *in;
	size_t in_len;
	/* queries written and waiting for their answers */
	struct lv_upstream_query *waiting;
	unsigned n_waiting;
	/* idle close, and the deferred free of a dead connection */
	struct lv_ev_timer timer;
	struct lv_upstream_tcp *next;
};

struct lv_upstreams {
	struct lv_evloop *loop;
	struct lv_forward_limits lim; /* health settings, the probe */
	struct lv_upstream *first, *last;
	unsigned n; /* upstreams, for their numbers */
	void (*on_loop)(void *data, struct lv_upstream *up);
	void *on_loop_data;
	uint8_t buf[65536]; /* one UDP datagram */
};

static void tcp_fail(struct lv_upstream_tcp *c, int status);

/* --- the set --- */

struct lv_upstreams *lv_upstreams_new(struct lv_evloop *loop)
{
	struct lv_upstreams *set = calloc(1, sizeof(*set));

	if (set != NULL) {
		set->loop = loop;
		lv_config_init_forward_limits(&set->lim);
	}
	return set;
}

void lv_upstreams_configure(struct lv_upstreams *set,
			    const struct lv_forward_limits *lim)
{
	set->lim = *lim;
}

const struct lv_forward_limits *lv_upstreams_limits(struct lv_upstreams *set)
{
	return &set->lim;
}

struct lv_evloop *lv_upstreams_loop(struct lv_upstreams *set)
{
	return set->loop;
}

static void tcp_free(struct lv_upstream_tcp *c)
{
	lv_ev_timer_stop(c->up->set->loop, &c->timer);
	if (c->fd >= 0) {
		lv_ev_io_del(&c->io);
		close(c->fd);
	}
	free(c->out);
	free(c->in);
	free(c);
}

void lv_upstreams_free(struct lv_upstreams *set)
{
	struct lv_upstream *up, *next;

	if (set == NULL)
		return;
	for (up = set->first; up != NULL; up = next) {
		next = up->next;
		lv_upstream_health_fini(up);
		lv_upstream_loop_fini(up);
		while (up->conns != NULL) {
			struct lv_upstream_tcp *c = up->conns;
			up->conns = c->next;
			while (c->waiting != NULL)
				lv_upstream_cancel(c->waiting);
			tcp_free(c);
		}
		free(up);
	}
	free(set);
}

struct lv_upstream *lv_upstream_get(struct lv_upstreams *set,
				    const struct lv_addr *addr, uint16_t port)
{
	struct sockaddr_storage sa;
	socklen_t len = (socklen_t)lv_addr_to_sockaddr(addr, port, &sa);
	struct lv_upstream *up;
	char text[INET6_ADDRSTRLEN];

	for (up = set->first; up != NULL; up = up->next)
		if (up->sa_len == len && memcmp(&up->sa, &sa, len) == 0)
			return up;
	if ((up = calloc(1, sizeof(*up))) == NULL)
		return NULL;
	up->set = set;
	up->sa = sa;
	up->sa_len = len;
	up->number = (uint16_t)set->n++;
	lv_upstream_health_init(up);
	lv_upstream_loop_init(up);
	inet_ntop(addr->family, addr->addr, text, sizeof(text));
	snprintf(up->name, sizeof(up->name), "%s@%u", text, port);
	if (set->last)
		set->last->next = up;
	else
		set->first = up;
	set->last = up;
	return up;
}

struct lv_upstream *lv_upstreams_first(struct lv_upstreams *set)
{
	return set->first;
}

struct lv_upstream *lv_upstream_by_number(struct lv_upstreams *set, uint16_t n)
{
	struct lv_upstream *up = set->first;

	while (up != NULL && up->number != n)
		up = up->next;
	return up;
}

void lv_upstreams_on_loop(struct lv_upstreams *set,
			  void (*fn)(void *data, struct lv_upstream *up),
			  void *data)
{
	set->on_loop = fn;
	set->on_loop_data = data;
}

void lv_upstreams_loop_notify(struct lv_upstream *up)
{
	if (up->set->on_loop != NULL)
		up->set->on_loop(up->set->on_loop_data, up);
}

/* --- matching an answer to its query --- */

/* Lowercase one byte of a name (labels' length bytes are below 'A'). */
static inline uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Is msg[0..len) a response to uq: QR set, its ID, one question equal to
 * uq's (name without case; the name uncompressed, as a question is)? */
static bool answers(const struct lv_upstream_query *uq, const uint8_t *msg,
		    size_t len)
{
	size_t qend = LV_DNS_HDR_LEN + uq->qname_len + 4;
	const uint8_t *q = msg + LV_DNS_HDR_LEN;

	if (len < qend || lv_wire_get16(msg) != uq->id ||
	    !(lv_wire_get16(msg + 2) & LV_FLAG_QR) ||
	    lv_wire_get16(msg + 4) != 1)
		return false;
	for (unsigned i = 0; i < uq->qname_len; i++)
		if (lower(q[i]) != uq->qname[i])
			return false;
	return lv_wire_get16(q + uq->qname_len) == uq->qtype &&
	       lv_wire_get16(q + uq->qname_len + 2) == uq->qclass;
}

static void count_answer(struct lv_upstream_query *uq, const uint8_t *msg)
{
	struct lv_upstream_stats *st = &uq->up->st;
	uint64_t us = (lv_ev_now_ns() - uq->sent_ns) / 1000;

	st->answers[lv_wire_get16(msg + 2) & 0xf]++;
	/* a loop probe's time may be a loop's, not the upstream's */
	if (uq != &uq->up->loop_probe) {
		st->latency_us_sum += us;
		st->latency_count++;
	}
	if (!uq->tcp && (lv_wire_get16(msg + 2) & LV_FLAG_TC))
		st->truncated++;
}

/* --- ending an exchange --- */

static void tcp_unlink(struct lv_upstream_query *uq)
{
	struct lv_upstream_tcp *c = uq->conn;

	if (c == NULL)
		return;
	if (uq->conn_prev)
		uq->conn_prev->conn_next = uq->conn_next;
	else
		c->waiting = uq->conn_next;
	if (uq->conn_next)
		uq->conn_next->conn_prev = uq->conn_prev;
	uq->conn = NULL;
	uq->conn_prev = uq->conn_next = NULL;
	/* an idle connection is kept for tcp_idle_ms, then closed */
	if (--c->n_waiting == 0 && !c->dead)
		lv_ev_timer_start(c->up->set->loop, &c->timer,
				  c->up->tcp_idle_ms);
}

/* Make uq idle: close its UDP socket, leave its TCP connection. */
static void detach(struct lv_upstream_query *uq)
{
	lv_ev_timer_stop(uq->up->set->loop, &uq->timer);
	if (uq->fd >= 0) {
		lv_ev_io_del(&uq->io);
		close(uq->fd);
		uq->fd = -1;
	}
	tcp_unlink(uq);
	uq->active = false;
	uq->up->in_flight--;
}

static void finish(struct lv_upstream_query *uq, int status, const uint8_t *msg,
		   uint16_t len)
{
	struct lv_upstream *up = uq->up;

	detach(uq);
	if (uq == &up->probe) {
		lv_upstream_probe_done(up, status);
		return;
	}
	if (uq == &up->loop_probe) { /* no health sample: see its done */
		lv_upstream_loop_probe_done(up, status, msg, len);
		return;
	}
	lv_upstream_health_note(up, status, uq->sent_ns);
	uq->done(uq, status, msg, len);
}

void lv_upstream_cancel(struct lv_upstream_query *uq)
{
	if (uq->active)
		detach(uq);
}

static void on_timeout(struct lv_ev_timer *t)
{
	struct lv_upstream_query *uq = t->data;

	uq->up->st.timeouts++;
	finish(uq, -ETIMEDOUT, NULL, 0);
}

/* --- UDP --- */

/* A UDP socket bound to a random port (RFC 5452 §9.2), connected to up. */
static int udp_socket(const struct lv_upstream *up)
{
	int family = up->sa.ss_family;
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_storage local;

	if (fd < 0)
		return -errno;
	for (int i = 0; i < PORT_TRIES; i++) {
		uint16_t port =
		    (uint16_t)(PORT_FIRST +
			       arc4random_uniform(65536 - PORT_FIRST));
		memset(&local, 0, sizeof(local));
		local.ss_family = (sa_family_t)family;
		if (family == AF_INET)
			((struct sockaddr_in *)&local)->sin_port = htons(port);
		else
			((struct sockaddr_in6 *)&local)->sin6_port =
			    htons(port);
		if (bind(fd, (struct sockaddr *)&local,
			 family == AF_INET ? sizeof(struct sockaddr_in)
					   : sizeof(struct sockaddr_in6)) == 0)
			break;
		if (errno != EADDRINUSE)
			break; /* connect() binds an ephemeral port */
	}
	if (connect(fd, (const struct sockaddr *)&up->sa, up->sa_len) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void on_udp(struct lv_ev_io *io, uint32_t events)
{
	struct lv_upstream_query *uq = io->data;
	uint8_t *buf = uq->up->set->buf;

	(void)events;
	for (int i = 0; i < UDP_READS; i++) {
		ssize_t n = recv(uq->fd, buf, sizeof(uq->up->set->buf), 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			/* ICMP unreachable on a connected socket */
			uq->up->st.refused++;
			finish(uq, -ECONNREFUSED, NULL, 0);
			return;
		}
		if (!answers(uq, buf, (size_t)n)) {
			uq->up->st.mismatched++;
			continue;
		}
		count_answer(uq, buf);
		finish(uq, 0, buf, (uint16_t)n);
		return;
	}
}

static int udp_send(struct lv_upstream_query *uq)
{
	struct lv_upstream *up = uq->up;
	int fd = udp_socket(up);

	if (fd < 0)
		return fd;
	if (send(fd, uq->msg, uq->msg_len, 0) != (ssize_t)uq->msg_len) {
		int e = errno ? errno : EIO;
		close(fd);
		return -e;
	}
	uq->fd = fd;
	if (lv_ev_io_add(up->set->loop, &uq->io, fd, EPOLLIN, on_udp, uq) !=
	    0) {
		close(fd);
		uq->fd = -1;
		return -ENOMEM;
	}
	up->st.queries_udp++;
	return 0;
}

/* --- TCP --- */

static void tcp_watch(struct lv_upstream_tcp *c)
{
	uint32_t ev = EPOLLIN | EPOLLRDHUP;

	if (!c->connected || c->out_off < c->out_len)
		ev |= EPOLLOUT;
	lv_ev_io_modify(&c->io, ev);
}

/* Write what is queued; a partial write leaves the rest for EPOLLOUT.
 * 0, or -errno when the connection broke. */
static int tcp_flush(struct lv_upstream_tcp *c)
{
	while (c->connected && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -errno;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	tcp_watch(c);
	return 0;
}

/* Queue [length][message] for writing. 0 or -ENOMEM. */
static int tcp_queue(struct lv_upstream_tcp *c, const uint8_t *msg,
		     uint16_t len)
{
	if (c->out_len + 2u + len > c->out_cap) {
		size_t cap = (c->out_len + 2u + len) * 2;
		uint8_t *o = realloc(c->out, cap);
		if (o == NULL)
			return -ENOMEM;
		c->out = o;
		c->out_cap = cap;
	}
	lv_wire_put16(c->out + c->out_len, len);
	memcpy(c->out + c->out_len + 2, msg, len);
	c->out_len += 2u + len;
	return 0;
}

/* An ID no query waiting on c has. */
static uint16_t tcp_free_id(const struct lv_upstream_tcp *c)
{
	for (;;) {
		uint16_t id = (uint16_t)arc4random_uniform(65536);
		const struct lv_upstream_query *w = c->waiting;

		while (w != NULL && w->id != id)
			w = w->conn_next;
		if (w == NULL)
			return id;
	}
}

static void on_tcp(struct lv_ev_io *io, uint32_t events);
static void on_tcp_timer(struct lv_ev_timer *t);

static struct lv_upstream_tcp *tcp_open(struct lv_upstream *up)
{
	struct lv_upstream_tcp *c = calloc(1, sizeof(*c));
	int one = 1;

	if (c == NULL || (c->in = malloc(TCP_MSG_MAX)) == NULL)
		goto fail;
	c->up = up;
	c->fd = socket(up->sa.ss_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (const struct sockaddr *)&up->sa, up->sa_len) != 0 &&
	    errno != EINPROGRESS)
		goto fail;
	if (lv_ev_io_add(up->set->loop, &c->io, c->fd, EPOLLOUT | EPOLLIN,
			 on_tcp, c) != 0)
		goto fail;
	lv_ev_timer_init(&c->timer, on_tcp_timer, c);
	c->next = up->conns;
	up->conns = c;
	up->n_conns++;
	up->st.tcp_opened++;
	return c;
fail:
	if (c != NULL) {
		if (c->fd > 0)
			close(c->fd);
		free(c->in);
		free(c);
	}
	return NULL;
}

/* The connection to carry one more query: the least busy live one with
 * room, else a new one while under the limit; NULL with errno EBUSY when
 * every connection has LV_UPSTREAM_TCP_PIPELINE queries (a hard limit:
 * the try fails over to the next upstream, and IDs stay easy to find). */
static struct lv_upstream_tcp *tcp_pick(struct lv_upstream *up)
{
	struct lv_upstream_tcp *best = NULL;

	for (struct lv_upstream_tcp *c = up->conns; c != NULL; c = c->next)
		if (!c->dead &&
		    (best == NULL || c->n_waiting < best->n_waiting))
			best = c;
	if (best != NULL && best->n_waiting < LV_UPSTREAM_TCP_PIPELINE)
		return best;
	if (up->n_conns < LV_UPSTREAM_TCP_CONNS)
		return tcp_open(up);
	up->st.tcp_busy++;
	errno = EBUSY;
	return NULL;
}

/* Put uq on connection c and queue its message. */
static int tcp_add(struct lv_upstream_tcp *c, struct lv_upstream_query *uq)
{
	uq->id = tcp_free_id(c);
	lv_wire_put16(uq->msg, uq->id);
	if (tcp_queue(c, uq->msg, uq->msg_len) != 0)
		return -ENOMEM;
	uq->conn = c;
	uq->conn_prev = NULL;
	uq->conn_next = c->waiting;
	if (c->waiting)
		c->waiting->conn_prev = uq;
	c->waiting = uq;
	c->n_waiting++;
	lv_ev_timer_stop(c->up->set->loop, &c->timer);
	return 0;
}

static int tcp_send(struct lv_upstream_query *uq)
{
	struct lv_upstream_tcp *c = tcp_pick(uq->up);
	int rc;

	if (c == NULL)
		return errno ? -errno : -ENOMEM;
	if ((rc = tcp_add(c, uq)) != 0)
		return rc;
	uq->up->st.queries_tcp++;
	if ((rc = tcp_flush(c)) != 0) {
		/* the connection broke under us: every query on it is
		 * resent or ended by tcp_fail, this one included, but
		 * later (done must not run inside send) */
		c->dead = true;
		lv_ev_timer_start(c->up->set->loop, &c->timer, 0);
	}
	return 0;
}

/* One whole message arrived on c: hand it to the query it answers. */
static void tcp_deliver(struct lv_upstream_tcp *c, const uint8_t *msg,
			uint16_t len)
{
	struct lv_upstream_query *uq = c->waiting;

	while (uq != NULL && !answers(uq, msg, len))
		uq = uq->conn_next;
	if (uq == NULL) {
		c->up->st.mismatched++; /* or an answer after its timeout */
		return;
	}
	count_answer(uq, msg);
	finish(uq, 0, msg, len);
}

/* Read what arrived; 0, or -errno / -ECONNRESET (closed by the peer). */
static int tcp_read(struct lv_upstream_tcp *c)
{
	for (;;) {
		size_t want = c->in_len < 2 ? 2 : 2u + lv_wire_get16(c->in);
		ssize_t n = recv(c->fd, c->in + c->in_len, want - c->in_len, 0);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		c->in_len += (size_t)n;
		if (c->in_len < 2 || c->in_len < 2u + lv_wire_get16(c->in))
			continue;
		if (c->in_len > 2) {
			tcp_deliver(c, c->in + 2, lv_wire_get16(c->in));
			if (c->dead)
				return 0;
		}
		c->in_len = 0;
	}
}

static void on_tcp(struct lv_ev_io *io, uint32_t events)
{
	struct lv_upstream_tcp *c = io->data;
	int rc = 0;

	if (c->dead)
		return;
	if (!c->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err != 0) {
			c->up->st.refused++;
			tcp_fail(c, -ECONNREFUSED);
			return;
		}
		c->connected = true;
	}
	if (events & EPOLLOUT)
		rc = tcp_flush(c);
	if (rc == 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		rc = tcp_read(c);
	if (rc != 0 && !c->dead)
		tcp_fail(c, rc);
}

/* Remove c from its upstream's list, close it, and free it later. */
static void tcp_retire(struct lv_upstream_tcp *c)
{
	struct lv_upstream_tcp **p = &c->up->conns;

	while (*p != c)
		p = &(*p)->next;
	*p = c->next;
	c->up->n_conns--;
	c->dead = true;
	lv_ev_io_del(&c->io);
	close(c->fd);
	c->fd = -1;
}

/*
 * c broke (reset, closed by the peer, refused): each query waiting on it
 * is resent once on a fresh connection; one that was resent already, or
 * cannot be, ends with status. c itself is freed from a timer, since the
 * caller may still be inside one of its callbacks.
 */
static void tcp_fail(struct lv_upstream_tcp *c, int status)
{
	struct lv_upstream *up = c->up;
	struct lv_upstream_query *list = c->waiting;

	if (c->n_waiting > 0 && status == -ECONNRESET)
		up->st.tcp_reset++;
	for (struct lv_upstream_query *w = list; w != NULL; w = w->conn_next)
		w->conn = NULL;
	c->waiting = NULL;
	c->n_waiting = 0;
	tcp_retire(c);
	lv_ev_timer_start(up->set->loop, &c->timer, 0);
	while (list != NULL) {
		struct lv_upstream_query *uq = list;
		list = uq->conn_next;
		uq->conn_prev = uq->conn_next = NULL;
		if (!uq->resent && status != -ECONNREFUSED) {
			uq->resent = true;
			up->st.tcp_resent++;
			if (tcp_send(uq) == 0)
				continue;
		}
		finish(uq, status, NULL, 0);
	}
}

static void on_tcp_timer(struct lv_ev_timer *t)
{
	struct lv_upstream_tcp *c = t->data;

	if (c->dead && c->fd >= 0) {
		tcp_fail(c, -ECONNRESET); /* a write failed in tcp_send */
		return;
	}
	if (!c->dead)
		tcp_retire(c); /* idle for tcp_idle_ms */
	tcp_free(c);
}

/* --- both --- */

int lv_upstream_send(struct lv_upstream *up, struct lv_upstream_query *uq,
		     uint8_t *msg, uint16_t len, bool tcp, uint32_t timeout_ms,
		     uint32_t tcp_idle_ms)
{
	int rc;

	lv_upstream_cancel(uq);
	uq->up = up;
	uq->msg = msg;
	uq->msg_len = len;
	uq->tcp = tcp;
	uq->resent = false;
	uq->fd = -1;
	uq->conn = NULL;
	uq->sent_ns = lv_ev_now_ns();
	up->tcp_idle_ms = tcp_idle_ms;
	lv_ev_timer_init(&uq->timer, on_timeout, uq);
	if (tcp) {
		rc = tcp_send(uq);
	} else {
		uq->id = (uint16_t)arc4random_uniform(65536);
		lv_wire_put16(msg, uq->id);
		rc = udp_send(uq);
	}
	if (rc != 0) {
		up->st.send_errors++;
		return rc;
	}
	uq->active = true;
	up->in_flight++;
	/* its timer is what ends every try that gets no answer (a dead
	 * connection's queries too): without it, no send */
	if ((rc = lv_ev_timer_start(up->set->loop, &uq->timer, timeout_ms)) !=
	    0) {
		lv_upstream_cancel(uq);
		up->st.send_errors++;
		return rc;
	}
	return 0;
}
