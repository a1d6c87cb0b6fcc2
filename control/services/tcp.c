/*
 * The TCP DNS server; see include/levee/tcp.h and docs/tcp.md.
 *
 * Each connection is a small state machine driven by the event loop:
 * readable → read what is there (any split of length prefixes and
 * messages), answer every complete query at once and queue the answers;
 * writable → write as much of the queue as the socket takes. A connection
 * lives in a list ordered by last activity, which gives both the idle
 * sweep (oldest first) and the "close the oldest idle connection to admit a
 * new one" rule.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "levee/control.h"
#include "levee/local.h"
#include "levee/log.h"
#include "levee/tcp.h"
#include "levee/tcp_frame.h"
#include "levee/xfr.h"

#define ACCEPT_BURST       64          /* connections accepted per wake-up */
#define READ_CHUNK         (64 * 1024) /* bytes read per recv */
#define READS_PER_EVENT    16          /* a busy client cannot starve others */
#define BACKLOG_WANTED     4096 /* listen backlog for connection bursts */
#define SYN_BACKLOG_WANTED 1024 /* half-open ones (SYN cookies beyond) */
#define XFR_MSGS_PER_ROUND 4    /* transfer messages per wake-up: 256 KiB */

struct conn {
	struct lv_ev_io io; /* registered with the event loop */
	struct lv_control *ctl;
	int fd;
	int family;
	uint8_t peer[16];
	uint64_t last_active_ms;
	/* the message being read (control/services/tcp_frame.c) */
	struct lv_tcp_frame in;
	/* answers not yet written: out[out_off..out_len) */
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	bool peer_done; /* the client shut its side: answer, then close */
	/* an outgoing zone transfer in progress, and the bytes that came
	 * after its request: read on once the transfer is written */
	struct lv_xfr *xfr;
	uint8_t *held;
	size_t held_len;
	/* queries parked as requests (control/core/request.c), answered later
	 * and out of order (RFC 7766 §6.2.1.1 allows it) */
	struct lv_request *waiting;
	/* set while answer_one() hands a query over: a request the deferrer
	 * answers (or drops) before handing back was never linked on
	 * waiting, and its answer is queued by answer_one() itself, so the
	 * connection is neither unlinked from nor closed under its caller */
	bool handing_over;
	bool answered_in_hand;
	uint16_t in_hand_len;       /* that answer's length in t->answer + 2 */
	struct conn *older, *newer; /* activity order */
};

struct listener {
	struct lv_ev_io io;
	struct lv_control *ctl;
};

struct lv_tcp {
	struct listener *listeners; /* service addresses, then --tcp-listen */
	unsigned n_listen;
	/* fires when the least recently active connection reaches the idle
	 * timeout (a touched connection moves to the other end, so the
	 * timer may fire early: it then closes nothing and is moved on) */
	struct lv_ev_timer idle_timer;
	struct conn *oldest, *newest;
	unsigned n_open;
	uint8_t answer[2 + UINT16_MAX]; /* one answer being built */
};

static void on_listener(struct lv_ev_io *io, uint32_t events);
static void on_conn(struct lv_ev_io *io, uint32_t events);
static void on_idle_timer(struct lv_ev_timer *timer);
static void arm_idle_timer(struct lv_control *ctl);
static void deliver_parked(void *sink, struct lv_request *r, const uint8_t *dns,
			   uint16_t len);

/* --- activity order --- */

static void unlink_conn(struct lv_tcp *t, struct conn *c)
{
	if (c->older)
		c->older->newer = c->newer;
	else
		t->oldest = c->newer;
	if (c->newer)
		c->newer->older = c->older;
	else
		t->newest = c->older;
	c->older = c->newer = NULL;
}

static bool in_list(const struct lv_tcp *t, const struct conn *c)
{
	return c->older != NULL || c->newer != NULL || t->oldest == c;
}

static void touch(struct lv_tcp *t, struct conn *c)
{
	/* a new connection is not in the list yet: unlinking it would read
	 * its NULL links as "head and tail" and empty the list */
	if (in_list(t, c))
		unlink_conn(t, c);
	c->last_active_ms = lv_monotonic_ms();
	c->older = t->newest;
	if (t->newest)
		t->newest->newer = c;
	else
		t->oldest = c;
	t->newest = c;
}

/* Idle: nothing half-read, nothing left to write or to answer, no
 * transfer. */
static bool is_idle(const struct conn *c)
{
	return lv_tcp_frame_empty(&c->in) && c->out_off == c->out_len &&
	       c->xfr == NULL && c->held_len == 0 && c->waiting == NULL;
}

static void unlink_waiting(struct conn *c, struct lv_request *r)
{
	struct lv_request *p = r->from.stream.prev, *n = r->from.stream.next;

	if (p)
		p->from.stream.next = n;
	else
		c->waiting = n;
	if (n)
		n->from.stream.prev = p;
	r->from.stream.prev = r->from.stream.next = NULL;
}

static void free_conn(struct lv_control *ctl, struct conn *c)
{
	/* requests still waiting have nowhere to answer: they are dropped
	 * when their answer comes */
	while (c->waiting) {
		struct lv_request *r = c->waiting;
		unlink_waiting(c, r);
		r->from.stream.sink = NULL;
	}
	lv_xfr_free(ctl, c->xfr);
	free(c->held);
	lv_tcp_frame_free(&c->in);
	free(c->out);
	free(c);
}

static void close_conn(struct lv_control *ctl, struct conn *c,
		       uint64_t *counter)
{
	struct lv_tcp *t = ctl->tcp;

	LV_STAT_INC(*counter);
	unlink_conn(t, c);
	lv_ev_io_del(&c->io);
	close(c->fd);
	t->n_open--;
	free_conn(ctl, c);
}

/* --- listening --- */

static int listen_one(const struct lv_addr *a, uint16_t port, int backlog,
		      char *err, size_t errlen)
{
	int fd = lv_socket_bound(a, port, SOCK_STREAM, err, errlen);

	if (fd >= 0 && listen(fd, backlog) != 0) {
		snprintf(err, errlen, "listen on port %u: %s", port,
			 strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* An integer sysctl, or -1 when it cannot be read. */
static long read_sysctl(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* One backlog sysctl: fine, raised (--tune-kernel: journalled with the
 * exception path's host changes, restored at exit) or warned about.
 * Returns the value in force, -1 when it cannot be read. */
static long check_sysctl(struct lv_control *ctl, const char *path,
			 const char *name, long wanted)
{
	char file[128], value[16], err[256];
	long v;

	snprintf(file, sizeof(file), "/proc/sys/%s", path);
	v = read_sysctl(file);
	if (v < 0 || v >= wanted)
		return v;
	if (ctl->cfg->tune_kernel) {
		snprintf(value, sizeof(value), "%ld", wanted);
		if (lv_hostnet_set_sysctl(&ctl->host, path, value, err,
					  sizeof(err)) == 0) {
			lv_info(
			    "TCP: %s raised from %ld to %ld (--tune-kernel; "
			    "restored at exit)",
			    name, v, wanted);
			return wanted;
		}
		lv_warn("TCP: cannot raise %s: %s", name, err);
		return v;
	}
	lv_warn("TCP: %s is %ld; bursts of connections want %ld (sysctl -w "
		"%s=%ld, or --tune-kernel)",
		name, v, wanted, name, wanted);
	return v;
}

/* Bursts of short connections need a deep accept queue (capped by
 * net.core.somaxconn) and room for half-open connections
 * (net.ipv4.tcp_max_syn_backlog). Host-wide: changed only when the
 * operator asks (--tune-kernel), else warned about. */
static int pick_backlog(struct lv_control *ctl)
{
	long somaxconn = check_sysctl(ctl, "net/core/somaxconn",
				      "net.core.somaxconn", BACKLOG_WANTED);

	check_sysctl(ctl, "net/ipv4/tcp_max_syn_backlog",
		     "net.ipv4.tcp_max_syn_backlog", SYN_BACKLOG_WANTED);
	return somaxconn >= 0 && somaxconn < BACKLOG_WANTED ? (int)somaxconn
							    : BACKLOG_WANTED;
}

static int add_listener(struct lv_control *ctl, const struct lv_addr *a,
			uint16_t port, int backlog)
{
	struct lv_tcp *t = ctl->tcp;
	struct listener *l = &t->listeners[t->n_listen];
	char err[256];
	int fd = listen_one(a, port, backlog, err, sizeof(err));
	int rc;

	if (fd < 0) {
		lv_err("TCP: %s", err);
		return -1;
	}
	l->ctl = ctl;
	rc = lv_ev_io_add(ctl->loop, &l->io, fd, EPOLLIN, on_listener, l);
	if (rc != 0) {
		close(fd);
		lv_err("TCP: epoll: %s", strerror(-rc));
		return -1;
	}
	t->n_listen++;
	return 0;
}

int lv_tcp_open(struct lv_control *ctl)
{
	struct lv_tcp *t = calloc(1, sizeof(*t));
	int backlog = pick_backlog(ctl);

	if (t == NULL)
		return -1;
	ctl->tcp = t;
	lv_ev_timer_init(&t->idle_timer, on_idle_timer, ctl);
	t->listeners = calloc(ctl->cfg->n_addrs + ctl->cfg->n_tcp_listen +
				  ctl->cfg->n_listen + 1,
			      sizeof(*t->listeners));
	if (t->listeners == NULL)
		return -1;
	for (unsigned i = 0; i < ctl->cfg->n_addrs; i++)
		if (add_listener(ctl, &ctl->cfg->addrs[i], LV_DNS_PORT,
				 backlog) != 0)
			return -1;
	/* ordinary host sockets the operator asked for (--tcp-listen) */
	for (unsigned i = 0; i < ctl->cfg->n_tcp_listen; i++)
		if (add_listener(ctl, &ctl->cfg->tcp_listen[i].addr,
				 ctl->cfg->tcp_listen[i].port, backlog) != 0)
			return -1;
	/* --listen serves TCP beside the workers' UDP sockets */
	for (unsigned i = 0; i < ctl->cfg->n_listen; i++)
		if (add_listener(ctl, &ctl->cfg->listen[i].addr,
				 ctl->cfg->listen[i].port, backlog) != 0)
			return -1;
	return 0;
}

/* --- admission --- */

static unsigned from_same_client(const struct lv_tcp *t, const struct conn *c)
{
	unsigned n = 0;
	size_t len = c->family == AF_INET ? 4 : 16;

	for (const struct conn *o = t->oldest; o; o = o->newer)
		n += o->family == c->family && !memcmp(o->peer, c->peer, len);
	return n;
}

/* Room for one more connection: when full, the oldest idle one goes. */
static bool make_room(struct lv_control *ctl)
{
	struct lv_tcp *t = ctl->tcp;

	if (t->n_open < ctl->cfg->tcp_max_clients)
		return true;
	for (struct conn *o = t->oldest; o; o = o->newer) {
		if (is_idle(o)) {
			close_conn(ctl, o, &ctl->stats.tcp_closed_limit);
			return true;
		}
	}
	return false;
}

static void peer_of(struct conn *c, const struct sockaddr_storage *ss)
{
	c->family = ss->ss_family;
	if (ss->ss_family == AF_INET)
		memcpy(c->peer, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else
		memcpy(c->peer, &((const struct sockaddr_in6 *)ss)->sin6_addr,
		       16);
}

static void admit(struct lv_control *ctl, int fd,
		  const struct sockaddr_storage *ss)
{
	struct lv_tcp *t = ctl->tcp;
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (c == NULL) {
		close(fd);
		LV_STAT_INC(ctl->stats.tcp_closed_limit);
		return;
	}
	c->fd = fd;
	c->ctl = ctl;
	peer_of(c, ss);
	if (from_same_client(t, c) >= ctl->cfg->tcp_max_per_client ||
	    !make_room(ctl)) {
		free(c);
		close(fd);
		LV_STAT_INC(ctl->stats.tcp_closed_limit);
		return;
	}
	/* answers are written whole: no need to wait for more */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (lv_ev_io_add(ctl->loop, &c->io, fd, EPOLLIN | EPOLLRDHUP, on_conn,
			 c) != 0) {
		free(c);
		close(fd);
		LV_STAT_INC(ctl->stats.tcp_closed_limit);
		return;
	}
	t->n_open++;
	touch(t, c);
	/* re-armed for the oldest now: a reload may have shortened the
	 * idle timeout since the timer was set */
	arm_idle_timer(ctl);
}

static void accept_burst(struct lv_control *ctl, int lfd)
{
	for (unsigned i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN: the queue is empty */
		LV_STAT_INC(ctl->stats.tcp_accepted);
		admit(ctl, fd, &ss);
	}
}

/* --- writing --- */

/* Register what the connection waits for now: reading until the client
 * shuts its side (paused during a transfer: later queries wait in the
 * socket), writing while answers are unsent or a transfer goes on. */
static void update_events(struct lv_control *ctl, struct conn *c)
{
	bool reading = !c->peer_done && c->xfr == NULL;
	bool writing = c->out_off < c->out_len || c->xfr != NULL;
	uint32_t want =
	    (reading ? EPOLLIN | EPOLLRDHUP : 0u) | (writing ? EPOLLOUT : 0u);

	(void)ctl;
	lv_ev_io_modify(&c->io, want);
}

/* Write what the socket takes. false when the connection is gone. */
static bool flush(struct lv_control *ctl, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n =
		    send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* a partial write is not a complete one: resume
			 * when the socket is writable again */
			update_events(ctl, c);
			return true;
		}
		if (n <= 0) {
			close_conn(ctl, c, &ctl->stats.tcp_closed_peer);
			return false;
		}
		c->out_off += (size_t)n;
		touch(ctl->tcp, c);
	}
	c->out_off = c->out_len = 0;
	if (c->peer_done && c->xfr == NULL && c->held_len == 0 &&
	    c->waiting == NULL) {
		/* RFC 7766 §6.2.4: a client may half-close after its last
		 * query; everything it asked is answered, now it goes */
		close_conn(ctl, c, &ctl->stats.tcp_closed_peer);
		return false;
	}
	update_events(ctl, c);
	return true;
}

/* Append to the output buffer, growing it. false: out of memory. */
static bool append_out(struct conn *c, const uint8_t *a, size_t len)
{
	size_t pending = c->out_len - c->out_off;

	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > c->out_cap) {
		/* move the unsent part to the front before growing */
		memmove(c->out, c->out + c->out_off, pending);
		c->out_off = 0;
		c->out_len = pending;
		if (pending + len > c->out_cap) {
			size_t cap = c->out_cap ? c->out_cap : 4096;
			while (cap < pending + len)
				cap *= 2;
			uint8_t *n = realloc(c->out, cap);
			if (n == NULL)
				return false;
			c->out = n;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, a, len);
	c->out_len += len;
	return true;
}

/* Queue one answer (length-prefixed). false when the connection was closed
 * for letting too much pile up. */
static bool queue_answer(struct lv_control *ctl, struct conn *c,
			 const uint8_t *a, size_t len)
{
	if (c->out_len - c->out_off + len > ctl->cfg->tcp_out_buffer ||
	    !append_out(c, a, len)) {
		close_conn(ctl, c, &ctl->stats.tcp_closed_overflow);
		return false;
	}
	return true;
}

/* --- reading --- */

/* A complete query is in c->in: answer it into t->answer and queue it. */
static bool answer_one(struct lv_control *ctl, struct conn *c)
{
	struct lv_tcp *t = ctl->tcp;
	const uint8_t *q = lv_tcp_frame_msg(&c->in);
	uint16_t qlen = lv_tcp_frame_msg_len(&c->in);
	uint8_t *dns = t->answer + 2;
	uint16_t alen;

	LV_STAT_INC(ctl->stats.tcp_queries);
	if (lv_xfr_is_request(q, qlen)) {
		c->xfr =
		    lv_xfr_start(ctl, q, qlen, c->family, c->peer, dns, &alen);
		lv_tcp_frame_clear(&c->in);
	} else {
		struct lv_origin o = {.transport = LV_REQ_STREAM,
				      .deliver = deliver_parked,
				      .sink = c};
		memcpy(dns, q, qlen);
		lv_tcp_frame_clear(&c->in);
		c->handing_over = true;
		c->answered_in_hand = false;
		alen = lv_control_answer_from(ctl, dns, qlen, UINT16_MAX, true,
					      &o);
		c->handing_over = false;
		if (o.parked != NULL && c->answered_in_hand) {
			alen =
			    c->in_hand_len; /* o.parked is freed: 0 if dropped */
		} else if (o.parked != NULL) {
			struct lv_request *r = o.parked;
			r->from.stream.next = c->waiting;
			if (c->waiting)
				c->waiting->from.stream.prev = r;
			c->waiting = r;
		}
	}
	if (alen == 0)
		return true; /* parked, or a response or a runt */
	lv_wire_put16(t->answer, alen);
	return queue_answer(ctl, c, t->answer, 2u + alen);
}

static bool hold(struct lv_control *ctl, struct conn *c, const uint8_t *p,
		 size_t n);

/* A parked request's answer (dns NULL: it was dropped): queue and write
 * it. The connection may close meanwhile (overflow, a reset). */
static void deliver_parked(void *sink, struct lv_request *r, const uint8_t *dns,
			   uint16_t len)
{
	struct conn *c = sink;
	struct lv_control *ctl = c->ctl;
	struct lv_tcp *t = ctl->tcp;

	if (c->handing_over) {
		/* answered before the hand-over returned (a refusal, or every
		 * upstream failing at once): answer_one() queues it */
		c->answered_in_hand = true;
		c->in_hand_len = dns != NULL ? len : 0;
		if (dns != NULL)
			memmove(t->answer + 2, dns, len);
		return;
	}
	unlink_waiting(c, r);
	if (dns == NULL) {
		/* dropped: a half-closed client may be owed nothing more */
		flush(ctl, c);
		return;
	}
	lv_wire_put16(t->answer, len);
	memcpy(t->answer + 2, dns, len);
	touch(t, c);
	if (queue_answer(ctl, c, t->answer, 2u + len))
		flush(ctl, c);
}

/* Feed bytes into the connection's message reader; answer each complete
 * message. false when the connection was closed meanwhile. */
static bool feed(struct lv_control *ctl, struct conn *c, const uint8_t *p,
		 size_t n)
{
	while (n > 0) {
		int rc = lv_tcp_frame_take(&c->in, &p, &n);
		if (rc < 0) {
			close_conn(ctl, c, &ctl->stats.tcp_closed_overflow);
			return false;
		}
		if (rc > 0 && !answer_one(ctl, c))
			return false;
		if (c->xfr != NULL && n > 0)
			return hold(ctl, c, p, n);
	}
	return true;
}

/* A transfer started: keep what follows its request for later. */
static bool hold(struct lv_control *ctl, struct conn *c, const uint8_t *p,
		 size_t n)
{
	uint8_t *h = realloc(c->held, c->held_len + n);

	if (h == NULL) {
		close_conn(ctl, c, &ctl->stats.tcp_closed_overflow);
		return false;
	}
	memcpy(h + c->held_len, p, n);
	c->held = h;
	c->held_len += n;
	return true;
}

/* The transfer is written: answer what was held back meanwhile (which
 * may start another transfer). false when the connection was closed. */
static bool resume_held(struct lv_control *ctl, struct conn *c)
{
	uint8_t *h = c->held;
	size_t n = c->held_len;
	bool ok;

	c->held = NULL;
	c->held_len = 0;
	ok = feed(ctl, c, h, n);
	free(h);
	return ok;
}

/* Write the transfer's next messages while the output buffer has room
 * for a whole one, a few per round so that other connections get their
 * turn. false when the connection was closed. */
static bool pump(struct lv_control *ctl, struct conn *c)
{
	struct lv_tcp *t = ctl->tcp;
	size_t bound = ctl->cfg->tcp_out_buffer > 2u + LV_XFR_MSG_MAX
			   ? ctl->cfg->tcp_out_buffer
			   : 2u + LV_XFR_MSG_MAX;

	for (unsigned i = 0; c->xfr && i < XFR_MSGS_PER_ROUND; i++) {
		bool last = false;
		if (c->out_len - c->out_off + 2u + LV_XFR_MSG_MAX > bound)
			return true; /* resumed when the client has read */
		uint16_t len = lv_xfr_next(ctl, c->xfr, t->answer + 2, &last);
		lv_wire_put16(t->answer, len);
		if (len == 0 || !append_out(c, t->answer, 2u + len)) {
			close_conn(ctl, c, &ctl->stats.tcp_closed_overflow);
			return false;
		}
		if (last) {
			lv_xfr_free(ctl, c->xfr);
			c->xfr = NULL;
			if (c->held_len && !resume_held(ctl, c))
				return false;
		}
	}
	return true;
}

static void on_readable(struct lv_control *ctl, struct conn *c)
{
	static uint8_t buf[READ_CHUNK];

	for (unsigned i = 0; i < READS_PER_EVENT; i++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == 0) {
			/* the client shut its side: write what is owed
			 * (flush closes the connection once it is sent) */
			c->peer_done = true;
			break;
		}
		if (n < 0) {
			/* a reset: whatever is unsent has no reader */
			close_conn(ctl, c, &ctl->stats.tcp_closed_peer);
			return;
		}
		touch(ctl->tcp, c);
		if (!feed(ctl, c, buf, (size_t)n))
			return;
		if (c->xfr)
			break; /* the rest waits for the transfer */
	}
	if (pump(ctl, c))
		flush(ctl, c);
}

static void on_listener(struct lv_ev_io *io, uint32_t events)
{
	struct listener *l = io->data;

	(void)events;
	accept_burst(l->ctl, io->fd);
}

static void on_conn(struct lv_ev_io *io, uint32_t events)
{
	struct conn *c = io->data;
	struct lv_control *ctl = c->ctl;

	if (events & (EPOLLERR | EPOLLHUP))
		close_conn(ctl, c, &ctl->stats.tcp_closed_peer);
	else if (!(events & EPOLLOUT) ||
		 (flush(ctl, c) && pump(ctl, c) && flush(ctl, c))) {
		if ((events & (EPOLLIN | EPOLLRDHUP)) && c->xfr == NULL)
			on_readable(ctl, c);
	}
}

/* Arm the idle timer for the least recently active connection. */
static void arm_idle_timer(struct lv_control *ctl)
{
	struct lv_tcp *t = ctl->tcp;

	if (t->oldest == NULL)
		return;
	lv_ev_timer_at(
	    ctl->loop, &t->idle_timer,
	    (t->oldest->last_active_ms + ctl->cfg->tcp_idle_timeout_ms) *
		1000000u);
}

/* Close connections idle longer than the timeout, oldest first: stop at
 * the first one still within its time. */
static void on_idle_timer(struct lv_ev_timer *timer)
{
	struct lv_control *ctl = timer->data;
	struct lv_tcp *t = ctl->tcp;
	uint64_t now = lv_monotonic_ms();

	while (t->oldest &&
	       t->oldest->last_active_ms + ctl->cfg->tcp_idle_timeout_ms <= now)
		close_conn(ctl, t->oldest, &ctl->stats.tcp_closed_idle);
	arm_idle_timer(ctl);
}

unsigned lv_tcp_open_connections(const struct lv_control *ctl)
{
	return ctl->tcp ? ctl->tcp->n_open : 0;
}

void lv_tcp_close(struct lv_control *ctl)
{
	struct lv_tcp *t = ctl->tcp;

	if (t == NULL)
		return;
	lv_ev_timer_stop(ctl->loop, &t->idle_timer);
	while (t->oldest) {
		struct conn *c = t->oldest;
		unlink_conn(t, c);
		lv_ev_io_del(&c->io);
		close(c->fd);
		free_conn(ctl, c);
	}
	for (unsigned i = 0; i < t->n_listen; i++) {
		lv_ev_io_del(&t->listeners[i].io);
		close(t->listeners[i].io.fd);
	}
	free(t->listeners);
	free(t);
	ctl->tcp = NULL;
}
