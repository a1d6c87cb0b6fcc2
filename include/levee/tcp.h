/*
 * The TCP DNS server (RFC 7766) of the control plane.
 *
 * Control plane only, on the event loop's thread: listening sockets on port
 * 53 of every service address (live ports: on the exception path's TAP, so
 * TCP from clients reaches the kernel through the port and the TAP), each
 * connection non-blocking in the event loop's epoll, no thread per
 * connection. Queries are read with their 2-byte length prefixes (split
 * anywhere), answered at once with lv_control_answer() from the same cache
 * and zones as UDP, without the UDP size limit (a name that is TC=1 over
 * UDP gets its full answer here), several per connection (pipelined).
 * Answers go into the connection's output buffer and are written as far
 * as the socket takes them; the rest is resumed when it is writable again
 * (complete writes). Limits and what happens at each: docs/tcp.md.
 */
#ifndef LEVEE_TCP_H
#define LEVEE_TCP_H

#include <stdbool.h>
#include <stdint.h>

struct lv_control;
struct lv_tcp;

/* Listen on port 53 of every service address and register the listeners
 * (and later each connection, and one idle timer) with the event loop.
 * 0, or -1 with a one-line error naming the address. */
int lv_tcp_open(struct lv_control *ctl);

/* Connections open now. */
unsigned lv_tcp_open_connections(const struct lv_control *ctl);

/* Close everything. Safe when never opened, and twice. */
void lv_tcp_close(struct lv_control *ctl);

#endif
