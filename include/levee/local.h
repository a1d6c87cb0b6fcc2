/*
 * Host-local queries: kernel UDP sockets bound to the service addresses.
 *
 * Control plane only. On a live port the service addresses live on the
 * exception path's TAP, so a query sent from the host itself (an anycast
 * announcer's health check, a monitoring agent) never crosses the port:
 * the kernel delivers it to these sockets, and the event loop answers it
 * with lv_control_answer(), from the same zones and cache as the fast
 * path. Queries the kernel reassembled from fragments arrive here too.
 * Not used in replay mode (no sockets there).
 */
#ifndef LEVEE_LOCAL_H
#define LEVEE_LOCAL_H

#include <stdbool.h>

struct lv_control;

/* One socket per service address on port 53, each registered with the
 * event loop, which calls back to answer what waits on it (bounded per
 * wake-up). 0, or -1 with a one-line error naming the address. */
int lv_local_open(struct lv_control *ctl);

/* Close the sockets. Safe twice. */
void lv_local_close(struct lv_control *ctl);

/*
 * A non-blocking kernel socket of type SOCK_DGRAM or SOCK_STREAM bound to
 * a:port (IPv6 sockets IPv6-only; stream sockets SO_REUSEADDR). Shared by
 * the host-local, TCP and NOTIFY sockets. The fd, or -1 with "ADDR port
 * N: why" in err. Control plane, any thread.
 */
struct lv_addr;
int lv_socket_bound(const struct lv_addr *a, uint16_t port, int type, char *err,
		    size_t errlen);

#endif
