/*
 * Host sockets as one more kind of port (--listen ADDR[@PORT]).
 *
 * A socket queue (struct lv_sockq) is one non-blocking UDP socket bound to
 * a listen address with SO_REUSEPORT, one per worker per address, so the
 * kernel spreads clients over the workers. Its rx function receives a
 * batch of datagrams (recvmmsg) into mbufs of the worker's pool and puts
 * a synthetic Ethernet + IPv4 + UDP header in front of each, so that the
 * worker runs exactly the code it runs for a port: classification,
 * parsing, the cache lookup, the in-place answer, the miss ring, the
 * control plane's answers on the reply ring. The client's real address
 * and the address it sent to are kept in a slot table; the synthetic
 * source names the slot (100.64.0.0/16 + slot, source port = the slot's
 * generation), so the reply frame carries the slot back, and the tx
 * function sends each answer's payload to its client from the address
 * the query came to (sendmmsg with IP_PKTINFO / IPV6_PKTINFO). A reply
 * whose slot has been reused since (65,536 newer queries on that queue)
 * is never sent to the new owner: it is dropped and counted
 * (lv_sockq_late_replies, printed as drop_late_reply).
 *
 * The syscalls live here, in host/, reached from the worker through the
 * queue's rx/tx function pointers: dataplane/ itself makes none.
 *
 * Threads: lv_sockq_open/close on the control plane at start-up and exit;
 * lv_sockq_rx/tx only on the worker lcore that owns the queue.
 */
#ifndef LEVEE_SOCKPORT_H
#define LEVEE_SOCKPORT_H

#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "levee/config.h"

/* Port ids of socket queues in mbuf->port: above any DPDK port id. The
 * listen address with index i is LV_SOCK_PORT_BASE + i on every worker. */
#define LV_SOCK_PORT_BASE 0x8000
/* Client slots per queue: a reply must come within this many queries. */
#define LV_SOCKQ_SLOTS 65536
/* The synthetic headers in front of a datagram: Ethernet, IPv4, UDP. */
#define LV_SOCKQ_HDRS (14 + 20 + 8)

struct lv_sockq;

/*
 * A socket on addr@port for one worker, mbufs from pool, frames marked
 * with port_id. NULL with a one-line reason (naming the address) in err.
 */
struct lv_sockq *lv_sockq_open(const struct lv_addr *addr, uint16_t port,
			       uint16_t port_id, struct rte_mempool *pool,
			       char *err, size_t errlen);
void lv_sockq_close(struct lv_sockq *sq);

/* Receive up to n datagrams as frames (the worker's rx function). */
uint16_t lv_sockq_rx(void *sq, struct rte_mbuf **pkts, uint16_t n);

/* Send the n reply frames' payloads to their clients. Returns k: pkts[0,
 * k) were sent or dropped late (their slot was reused: freed and counted
 * here, lv_sockq_late_replies); pkts[k, n) were not taken (the socket was
 * full) and are still the caller's, which drops and counts them, as after
 * a TX queue that was full. */
uint16_t lv_sockq_tx(void *sq, struct rte_mbuf **pkts, uint16_t n);

/* Replies dropped because their client's slot served a newer query first
 * (an answer later than LV_SOCKQ_SLOTS queries on the queue). Any thread. */
uint64_t lv_sockq_late_replies(const struct lv_sockq *sq);

#endif
