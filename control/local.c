/*
 * Host-local queries on kernel sockets; see include/levee/local.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "levee/control.h"
#include "levee/local.h"
#include "levee/log.h"

#define LOCAL_BURST 64          /* datagrams answered per wake-up */
#define LOCAL_BUF   (64 * 1024) /* any UDP datagram fits */

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

	for (unsigned i = 0; i < ctl->cfg->n_addrs; i++) {
		struct epoll_event ev = {.events = EPOLLIN};
		int fd = lv_socket_bound(&ctl->cfg->addrs[i], LV_DNS_PORT,
					 SOCK_DGRAM, err, sizeof(err));
		if (fd < 0) {
			lv_err("host-local queries: %s", err);
			return -1;
		}
		ctl->local_fds[ctl->n_local++] = fd;
		ev.data.fd = fd;
		if (epoll_ctl(ctl->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			lv_err("host-local queries: epoll: %s",
			       strerror(errno));
			return -1;
		}
	}
	return 0;
}

static bool owns(const struct lv_control *ctl, int fd)
{
	for (unsigned i = 0; i < ctl->n_local; i++)
		if (ctl->local_fds[i] == fd)
			return true;
	return false;
}

bool lv_local_serve(struct lv_control *ctl, int fd)
{
	static uint8_t buf[LOCAL_BUF];
	struct sockaddr_storage from;

	if (!owns(ctl, fd))
		return false;
	for (unsigned i = 0; i < LOCAL_BURST; i++) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0,
				     (struct sockaddr *)&from, &fl);
		if (n < 0)
			return true; /* EAGAIN: all answered */
		LV_STAT_INC(ctl->stats.local_queries);
		uint16_t len = lv_control_answer(
		    ctl, buf, (uint16_t)n, (uint16_t)(sizeof(buf) - 1), false);
		if (len == 0)
			continue; /* a response or a runt: not answered */
		/* a datagram socket sends all or nothing; a full buffer
		 * loses this answer like a full NIC queue would */
		if (sendto(fd, buf, len, 0, (struct sockaddr *)&from, fl) < 0)
			LV_STAT_INC(ctl->stats.drop[LV_DROP_TX_FULL]);
	}
	return true;
}

void lv_local_close(struct lv_control *ctl)
{
	for (unsigned i = 0; i < ctl->n_local; i++)
		close(ctl->local_fds[i]);
	ctl->n_local = 0;
}
