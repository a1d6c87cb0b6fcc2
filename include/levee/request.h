/*
 * Requests: a query that must wait for something before it is answered.
 *
 * A query the control plane can answer at once (from the cache or a local
 * zone) keeps its path: answered in place, in the mbuf it arrived in. A
 * query that must wait (later: for an upstream resolver) becomes a request
 * instead: a small context that holds everything its answer needs — the
 * client's addressing as received (MACs, VLAN, IP addresses, ports, the
 * port and the worker whose queue answers it; or the kernel socket and the
 * peer's address), the header and question exactly as asked (ID, flags,
 * the name's case), what the parser learnt (EDNS size, version, DO, the
 * lookup key) and the transport. Once parked, nothing points into the
 * received packet: the caller frees the mbuf at once, so waiting requests
 * never hold receive buffers.
 *
 * The answer is built later into a buffer that does not come from the
 * receive pool: for the port, an mbuf of the request table's own reply
 * pool (sized for every request at once, so misses cannot exhaust it);
 * for a kernel socket, the table's scratch buffer. The same response
 * writers (lv_response_*) write it after the echoed question, as for any
 * other answer.
 *
 * The table is bounded (max requests): when it is full a new request is
 * refused and counted (requests_refused), and the caller drops the query
 * (the client retries, as after any loss).
 *
 * States: FREE → PARKED (lv_request_park_*) → answered
 * (lv_request_answer_begin/end) or dropped (lv_request_drop) → FREE.
 * A request also carries a timer its owner may arm (a deadline, a retry).
 *
 * Control plane only, on the event loop's thread. The reply mbufs go to a
 * worker's reply ring (SP/SC: the control plane produces, the worker
 * consumes and transmits them, then frees them back to the reply pool).
 */
#ifndef LEVEE_REQUEST_H
#define LEVEE_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <rte_mbuf.h>

#include "levee/evloop.h"
#include "levee/loop.h"
#include "levee/packet.h"
#include "levee/query.h"
#include "levee/stats.h"

struct lv_worker;
struct lv_requests;

enum lv_request_state {
	LV_REQ_FREE = 0,
	LV_REQ_PARKED, /* waiting; its owner answers or drops it */
};

enum lv_request_transport {
	LV_REQ_PORT,   /* a frame from the port: the answer is a frame too */
	LV_REQ_SOCKET, /* a datagram on a kernel UDP socket */
	LV_REQ_STREAM, /* a message on a stream (TCP): handed to its owner */
};

struct lv_request;
/* A stream's owner takes the answer (len bytes at dns, no length prefix)
 * of a request parked from it. */
typedef void (*lv_request_deliver_fn)(void *sink, struct lv_request *r,
				      const uint8_t *dns, uint16_t len);

/* The longest L2-L4 headers a query frame may have before its DNS header:
 * Ethernet, two VLAN tags, IPv6, UDP. */
#define LV_REQ_HDRS_MAX (14 + 8 + 40 + 8)
/* The DNS header and the longest question. */
#define LV_REQ_MSG_MAX (LV_DNS_HDR_LEN + LV_DNS_MAX_NAME + 4)

struct lv_request {
	enum lv_request_state state;
	enum lv_request_transport transport;
	uint32_t index; /* in the table */
	struct lv_query q;
	/* the header and question as received */
	uint16_t msg_len;
	uint8_t msg[LV_REQ_MSG_MAX];
	union {
		struct { /* LV_REQ_PORT */
			struct lv_worker *w;
			uint16_t port;
			struct lv_pkt_info pi; /* offsets in hdrs */
			uint8_t hdrs[LV_REQ_HDRS_MAX];
		} frame;
		struct { /* LV_REQ_SOCKET */
			int fd;
			socklen_t peer_len;
			struct sockaddr_storage peer;
		} sock;
		struct { /* LV_REQ_STREAM */
			lv_request_deliver_fn deliver;
			/* the stream; NULL once it closed (the answer
			 * then has nowhere to go and is dropped) */
			void *sink;
			/* the stream's list of its waiting requests */
			struct lv_request *prev, *next;
		} stream;
	} from;
	uint64_t parked_ns;
	/* the forwarding-loop marker of the query's OPT (include/levee/
	 * loop.h), copied by the miss path when a deferrer takes the query,
	 * and what the scan found (an enum lv_loop_scan; 0: nothing) */
	uint8_t loop_scan;
	struct lv_loop_mark loop;
	/* for the owner (the subsystem that parked it): not armed while
	 * free; lv_request_answer_end and lv_request_drop disarm it */
	struct lv_ev_timer timer;
	void *owner;
	struct lv_request *owner_next; /* the owner's list of its requests */
	struct lv_request *next_free;
};

/* Counters of the table (summed into the control plane's stats). */
struct lv_request_stats {
	uint64_t parked;
	uint64_t answered;
	uint64_t refused;   /* the table was full */
	uint64_t dropped;   /* by the owner, or no reply buffer or ring room */
	uint64_t in_flight; /* parked now */
};

/*
 * A table of max requests, and a reply pool of as many mbufs of
 * data_room bytes on socket. NULL with a one-line message in err.
 */
struct lv_requests *lv_requests_new(struct lv_evloop *loop, unsigned max,
				    uint16_t data_room, int socket, char *err,
				    size_t errlen);
/* Free the table; parked requests are dropped. NULL is a no-op. */
void lv_requests_free(struct lv_requests *rs);

/*
 * Park the query of frame m (classified as pi, parsed into q) received
 * for worker w: copy what its answer needs. m stays the caller's, who
 * frees it (nothing refers to it afterwards). NULL when the table is full
 * (counted as refused).
 */
struct lv_request *lv_request_park_frame(struct lv_requests *rs,
					 struct lv_worker *w,
					 const struct rte_mbuf *m,
					 const struct lv_pkt_info *pi,
					 const struct lv_query *q);

/* Park the query dns[0..len) (parsed into q) that arrived on kernel UDP
 * socket fd from peer. NULL when the table is full (counted). */
struct lv_request *lv_request_park_socket(struct lv_requests *rs, int fd,
					  const struct sockaddr *peer,
					  socklen_t peer_len,
					  const uint8_t *dns,
					  const struct lv_query *q);

/* Park the query dns[0..len) (parsed into q) that arrived on a stream:
 * its answer goes to deliver(sink, ...). The stream owner keeps the
 * request in its list (from.stream.prev/next) and sets from.stream.sink
 * to NULL if it closes first. NULL when the table is full (counted). */
struct lv_request *lv_request_park_stream(struct lv_requests *rs,
					  lv_request_deliver_fn deliver,
					  void *sink, const uint8_t *dns,
					  const struct lv_query *q);

/*
 * Start r's answer: a buffer holding the header and question as they
 * were received, *room bytes long from the DNS header on; write the
 * answer there (lv_response_* writers, with &r->q) and call
 * lv_request_answer_end. NULL when no reply buffer is free: r is then
 * dropped and counted.
 */
uint8_t *lv_request_answer_begin(struct lv_requests *rs, struct lv_request *r,
				 uint16_t *room);

/* Send the len-byte answer written in the buffer and free r (len 0:
 * nothing to send, r is dropped). A stream's answer goes to its deliver
 * function, which must unlink r from its list (r is freed on return). */
void lv_request_answer_end(struct lv_requests *rs, struct lv_request *r,
			   uint16_t len);

/* Free r without an answer (counted as dropped). */
void lv_request_drop(struct lv_requests *rs, struct lv_request *r);

void lv_requests_get_stats(const struct lv_requests *rs,
			   struct lv_request_stats *out);

#endif
