/*
 * Requests that wait; see include/levee/request.h.
 *
 * A fixed array of contexts with a free list (allocated once, at start-up:
 * parking allocates nothing), and an mbuf pool of the same size for the
 * answers that leave through the port. An answer frame is rebuilt from the
 * query's own headers, kept as received, and finished with the dataplane's
 * lv_pkt_finish_reply, which swaps addresses and ports and sets lengths
 * and checksums exactly as for an answer written in place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "levee/request.h"
#include "levee/worker.h"

#define ANSWER_BUF_MAX UINT16_MAX /* an answer for a socket or a stream */

struct lv_requests {
	struct lv_evloop *loop;
	struct lv_request *all;
	unsigned max;
	struct lv_request *free_list;
	struct rte_mempool *replies;
	struct lv_request_stats st;
	/* the answer being written for a socket or stream request */
	struct rte_mbuf *pending_mbuf;
	uint8_t answer_buf[ANSWER_BUF_MAX];
};

struct lv_requests *lv_requests_new(struct lv_evloop *loop, unsigned max,
				    uint16_t data_room, int socket, char *err,
				    size_t errlen)
{
	struct lv_requests *rs = calloc(1, sizeof(*rs));
	char name[RTE_MEMPOOL_NAMESIZE];
	static unsigned instance;

	if (rs == NULL || max == 0 ||
	    (rs->all = calloc(max, sizeof(*rs->all))) == NULL) {
		snprintf(err, errlen, "requests: %u contexts: %s", max,
			 max == 0 ? "at least one is needed" : "out of memory");
		free(rs);
		return NULL;
	}
	rs->loop = loop;
	rs->max = max;
	for (unsigned i = max; i-- > 0;) {
		rs->all[i].index = i;
		rs->all[i].next_free = rs->free_list;
		rs->free_list = &rs->all[i];
	}
	snprintf(name, sizeof(name), "lv_replies_%u", instance++);
	/* its own pool: misses filling the receive pool cannot starve the
	 * answers of parked requests, nor these the receive queues */
	rs->replies = rte_pktmbuf_pool_create(
	    name, max, 0, 0, (uint16_t)(data_room + RTE_PKTMBUF_HEADROOM),
	    socket);
	if (rs->replies == NULL) {
		snprintf(err, errlen, "requests: reply pool of %u mbufs: %s",
			 max, rte_strerror(rte_errno));
		free(rs->all);
		free(rs);
		return NULL;
	}
	return rs;
}

static void release(struct lv_requests *rs, struct lv_request *r)
{
	if (rs->loop)
		lv_ev_timer_stop(rs->loop, &r->timer);
	r->state = LV_REQ_FREE;
	r->owner = NULL;
	r->owner_next = NULL;
	r->next_free = rs->free_list;
	rs->free_list = r;
	rs->st.in_flight--;
}

void lv_requests_free(struct lv_requests *rs)
{
	if (rs == NULL)
		return;
	for (unsigned i = 0; i < rs->max; i++)
		if (rs->all[i].state != LV_REQ_FREE)
			lv_request_drop(rs, &rs->all[i]);
	rte_mempool_free(rs->replies);
	free(rs->all);
	free(rs);
}

/* A free context with q and the header and question of dns copied in. */
static struct lv_request *take(struct lv_requests *rs, const uint8_t *dns,
			       const struct lv_query *q)
{
	struct lv_request *r = rs->free_list;

	if (r == NULL || !q->question_ok || q->question_end > LV_REQ_MSG_MAX) {
		rs->st.refused++;
		return NULL;
	}
	rs->free_list = r->next_free;
	r->next_free = NULL;
	r->q = *q;
	r->msg_len = q->question_end;
	memcpy(r->msg, dns, q->question_end);
	r->state = LV_REQ_PARKED;
	r->parked_ns = lv_ev_now_ns();
	r->loop_scan = LV_LOOP_NONE;
	r->loop.n = 0;
	r->owner = NULL;
	lv_ev_timer_init(&r->timer, NULL, r);
	rs->st.parked++;
	rs->st.in_flight++;
	return r;
}

struct lv_request *lv_request_park_frame(struct lv_requests *rs,
					 struct lv_worker *w,
					 const struct rte_mbuf *m,
					 const struct lv_pkt_info *pi,
					 const struct lv_query *q)
{
	struct lv_request *r;

	if (pi->dns_off > LV_REQ_HDRS_MAX) {
		rs->st.refused++;
		return NULL;
	}
	r = take(rs, rte_pktmbuf_mtod_offset(m, const uint8_t *, pi->dns_off),
		 q);
	if (r == NULL)
		return NULL;
	r->transport = LV_REQ_PORT;
	r->from.frame.w = w;
	r->from.frame.port = m->port;
	r->from.frame.pi = *pi;
	memcpy(r->from.frame.hdrs, rte_pktmbuf_mtod(m, const uint8_t *),
	       pi->dns_off);
	return r;
}

struct lv_request *lv_request_park_socket(struct lv_requests *rs, int fd,
					  const struct sockaddr *peer,
					  socklen_t peer_len,
					  const uint8_t *dns,
					  const struct lv_query *q)
{
	struct lv_request *r;

	if (peer_len > sizeof(r->from.sock.peer)) {
		rs->st.refused++;
		return NULL;
	}
	r = take(rs, dns, q);
	if (r == NULL)
		return NULL;
	r->transport = LV_REQ_SOCKET;
	r->from.sock.fd = fd;
	r->from.sock.peer_len = peer_len;
	memcpy(&r->from.sock.peer, peer, peer_len);
	return r;
}

struct lv_request *lv_request_park_stream(struct lv_requests *rs,
					  lv_request_deliver_fn deliver,
					  void *sink, const uint8_t *dns,
					  const struct lv_query *q)
{
	struct lv_request *r = take(rs, dns, q);

	if (r == NULL)
		return NULL;
	r->transport = LV_REQ_STREAM;
	r->from.stream.deliver = deliver;
	r->from.stream.sink = sink;
	r->from.stream.prev = r->from.stream.next = NULL;
	return r;
}

uint8_t *lv_request_answer_begin(struct lv_requests *rs, struct lv_request *r,
				 uint16_t *room)
{
	uint8_t *dns;

	if (r->transport != LV_REQ_PORT) {
		memcpy(rs->answer_buf, r->msg, r->msg_len);
		*room = sizeof(rs->answer_buf);
		return rs->answer_buf;
	}
	struct rte_mbuf *m = rte_pktmbuf_alloc(rs->replies);
	uint16_t off = r->from.frame.pi.dns_off;
	if (m == NULL) {
		lv_request_drop(rs, r);
		return NULL;
	}
	m->port = r->from.frame.port;
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(p, r->from.frame.hdrs, off);
	dns = p + off;
	memcpy(dns, r->msg, r->msg_len);
	*room = (uint16_t)RTE_MIN((unsigned)rte_pktmbuf_tailroom(m) - off,
				  (unsigned)UINT16_MAX);
	rs->pending_mbuf = m;
	return dns;
}

static bool send_frame(struct lv_requests *rs, struct lv_request *r,
		       uint16_t len)
{
	struct rte_mbuf *m = rs->pending_mbuf;
	struct lv_worker *w = r->from.frame.w;
	struct rte_ring *ring = lv_worker_reply_ring(w, r->from.frame.port);

	rs->pending_mbuf = NULL;
	if (m == NULL)
		return false;
	/* the frame as received, then the answer: finish_reply swaps and
	 * sets lengths and checksums as for an answer written in place */
	lv_pkt_finish_reply(m, &r->from.frame.pi, len, &w->tx_offload);
	if (ring == NULL || rte_ring_enqueue(ring, m) != 0) {
		rte_pktmbuf_free(m);
		return false;
	}
	return true;
}

void lv_request_answer_end(struct lv_requests *rs, struct lv_request *r,
			   uint16_t len)
{
	bool sent = false;

	if (len == 0) {
		if (rs->pending_mbuf) {
			rte_pktmbuf_free(rs->pending_mbuf);
			rs->pending_mbuf = NULL;
		}
	} else if (r->transport == LV_REQ_PORT) {
		sent = send_frame(rs, r, len);
	} else if (r->transport == LV_REQ_STREAM) {
		sent = r->from.stream.sink != NULL;
		if (sent)
			r->from.stream.deliver(r->from.stream.sink, r,
					       rs->answer_buf, len);
	} else {
		/* a datagram socket sends all or nothing */
		sent = sendto(r->from.sock.fd, rs->answer_buf, len, 0,
			      (const struct sockaddr *)&r->from.sock.peer,
			      r->from.sock.peer_len) == len;
	}
	if (sent)
		rs->st.answered++;
	else
		rs->st.dropped++;
	release(rs, r);
}

void lv_request_drop(struct lv_requests *rs, struct lv_request *r)
{
	if (r->state == LV_REQ_FREE)
		return;
	/* a stream still open forgets it (its deliver never runs) */
	if (r->transport == LV_REQ_STREAM && r->from.stream.sink != NULL)
		r->from.stream.deliver(r->from.stream.sink, r, NULL, 0);
	rs->st.dropped++;
	release(rs, r);
}

void lv_requests_get_stats(const struct lv_requests *rs,
			   struct lv_request_stats *out)
{
	*out = rs->st;
}
