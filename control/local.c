/*
 * Host-local queries on kernel sockets; see include/levee/local.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "levee/control.h"
#include "levee/local.h"
#include "levee/log.h"

#define LOCAL_BURST 64          /* datagrams answered per wake-up */
#define LOCAL_BUF   (64 * 1024) /* any UDP datagram fits */

struct local_socket {
	struct lv_ev_io io;
	struct lv_control *ctl;
};

struct lv_local {
	unsigned n;
	struct local_socket s[LV_MAX_SERVICE_ADDRS];
	uint8_t buf[LOCAL_BUF];
};

static void on_readable(struct lv_ev_io *io, uint32_t events);

int lv_socket_bound(const struct lv_addr *a, uint16_t port, int type, char *err,
		    size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = lv_addr_to_sockaddr(a, port, &ss);
	char text[INET6_ADDRSTRLEN];
	int one = 1;
	int fd = socket(a->family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	inet_ntop(a->family, a->addr, text, sizeof(text));
	if (fd >= 0 && a->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (fd >= 0 && type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) != 0) {
		snprintf(err, errlen, "%s port %u: %s", text, port,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int lv_local_open(struct lv_control *ctl)
{
	char err[256];
	struct lv_local *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -1;
	ctl->local = l;
	for (unsigned i = 0; i < ctl->cfg->n_addrs; i++) {
		struct local_socket *ls = &l->s[l->n];
		int fd = lv_socket_bound(&ctl->cfg->addrs[i], LV_DNS_PORT,
					 SOCK_DGRAM, err, sizeof(err));
		if (fd < 0) {
			lv_err("host-local queries: %s", err);
			return -1;
		}
		ls->ctl = ctl;
		int rc = lv_ev_io_add(ctl->loop, &ls->io, fd, EPOLLIN,
				      on_readable, ls);
		if (rc != 0) {
			close(fd);
			lv_err("host-local queries: epoll: %s", strerror(-rc));
			return -1;
		}
		l->n++;
	}
	return 0;
}

/* Answer what waits on the socket, at most LOCAL_BURST per wake-up. */
static void on_readable(struct lv_ev_io *io, uint32_t events)
{
	struct local_socket *ls = io->data;
	struct lv_control *ctl = ls->ctl;
	uint8_t *buf = ctl->local->buf;
	struct sockaddr_storage from;

	(void)events;
	for (unsigned i = 0; i < LOCAL_BURST; i++) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(io->fd, buf, LOCAL_BUF, 0,
				     (struct sockaddr *)&from, &fl);
		if (n < 0)
			return; /* EAGAIN: all answered */
		LV_STAT_INC(ctl->stats.local_queries);
		uint16_t len = lv_control_answer(
		    ctl, buf, (uint16_t)n, (uint16_t)(LOCAL_BUF - 1), false);
		if (len == 0)
			continue; /* a response or a runt: not answered */
		/* a datagram socket sends all or nothing; a full buffer
		 * loses this answer like a full NIC queue would */
		if (sendto(io->fd, buf, len, 0, (struct sockaddr *)&from, fl) <
		    0)
			LV_STAT_INC(ctl->stats.drop[LV_DROP_TX_FULL]);
	}
}

void lv_local_close(struct lv_control *ctl)
{
	struct lv_local *l = ctl->local;

	if (l == NULL)
		return;
	for (unsigned i = 0; i < l->n; i++) {
		lv_ev_io_del(&l->s[i].io);
		close(l->s[i].io.fd);
	}
	free(l);
	ctl->local = NULL;
}
