/*
 * Requests that wait (control/request.c), shown the way the forwarder will
 * use them: queries parked on a timer each, their receive mbufs back in
 * the pool at once, answered later and out of order through the worker's
 * reply ring in frames from the request table's own pool, each addressed
 * exactly as the query came (MACs, addresses, ports swapped; ID, flags and
 * the question's case echoed; a valid UDP checksum). Also: a full table
 * refuses and counts, a dropped request frees its context, and a request
 * from a kernel socket is answered on that socket.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_eal.h"
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "levee/csum.h"
#include "levee/evloop.h"
#include "levee/packet.h"
#include "levee/query.h"
#include "levee/request.h"
#include "levee/response.h"
#include "levee/worker.h"

#define N_PARKED 8
#define RX_POOL  64

static struct rte_mempool *rx_pool;

static const uint8_t MAC_CLI[6] = {0x02, 0, 0, 0, 0, 0x07};
static const uint8_t MAC_SRV[6] = {0x02, 0, 0, 0, 0, 0x53};
static const uint8_t CLI4[4] = {198, 51, 100, 7};
static const uint8_t SRV4[4] = {192, 0, 2, 53};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* "Host<i>.ExAmple" A IN with ID 0x1000 + i, RD, and an OPT (4096). */
static unsigned make_query(uint8_t *d, unsigned i)
{
	static const uint8_t tail[] = {7, 'E', 'x', 'A', 'm', 'p', 'l', 'e', 0,
				       0, 1, 0, 1,
				       /* OPT */
				       0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};
	unsigned n = 12;

	memset(d, 0, 12);
	put16(d, (uint16_t)(0x1000 + i));
	put16(d + 2, 0x0100);
	put16(d + 4, 1);
	put16(d + 10, 1);
	d[n++] = 5;
	memcpy(d + n, "Host", 4);
	d[n + 4] = (uint8_t)('0' + i % 10);
	n += 5;
	memcpy(d + n, tail, sizeof(tail));
	return n + sizeof(tail);
}

/* A client frame: 198.51.100.7:(40000 + i) → 192.0.2.53:53. */
static struct rte_mbuf *make_frame(unsigned i, uint8_t *dns_out,
				   unsigned *dns_len)
{
	uint8_t f[256] = {0};
	unsigned dl = make_query(f + 42, i);

	memcpy(f, MAC_SRV, 6);
	memcpy(f + 6, MAC_CLI, 6);
	put16(f + 12, RTE_ETHER_TYPE_IPV4);
	f[14] = 0x45;
	put16(f + 16, (uint16_t)(20 + 8 + dl));
	f[22] = 64;
	f[23] = IPPROTO_UDP;
	memcpy(f + 26, CLI4, 4);
	memcpy(f + 30, SRV4, 4);
	put16(f + 34, (uint16_t)(40000 + i));
	put16(f + 36, 53);
	put16(f + 38, (uint16_t)(8 + dl));
	put16(f + 40, 0x1234);
	struct rte_mbuf *m = rte_pktmbuf_alloc(rx_pool);
	assert_non_null(m);
	memcpy(rte_pktmbuf_append(m, (uint16_t)(42 + dl)), f, 42 + dl);
	m->port = 3;
	memcpy(dns_out, f + 42, dl);
	*dns_len = dl;
	return m;
}

struct harness {
	struct lv_evloop *loop;
	struct lv_requests *rs;
	struct lv_worker w;
	struct rte_ring *replies;
	unsigned answered_order[N_PARKED];
	unsigned n_answered;
};

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	char err[256];

	h->loop = lv_evloop_new();
	h->rs = lv_requests_new(h->loop, N_PARKED, 2048, 0, err, sizeof(err));
	assert_non_null(h->rs);
	h->replies = rte_ring_create("test_replies", 64, 0,
				     RING_F_SP_ENQ | RING_F_SC_DEQ);
	assert_non_null(h->replies);
	h->w.n_queues = 1;
	h->w.queues[0].port = 3;
	h->w.queues[0].replies = h->replies;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;
	struct rte_mbuf *m;

	while (rte_ring_dequeue(h->replies, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(h->replies);
	lv_requests_free(h->rs);
	lv_evloop_free(h->loop);
	free(h);
	return 0;
}

/* Receive frame i the way the miss path does, and park it. */
static struct lv_request *park(struct harness *h, unsigned i, uint8_t *dns_out,
			       unsigned *dns_len)
{
	struct rte_mbuf *m = make_frame(i, dns_out, dns_len);
	struct lv_pkt_info pi;
	struct lv_query q;
	struct lv_addr_filter any = {0};

	assert_int_equal(lv_pkt_classify(m, &any, &pi), LV_PKT_DNS);
	uint8_t *dns = rte_pktmbuf_mtod_offset(m, uint8_t *, pi.dns_off);
	assert_int_equal(lv_query_parse(dns, pi.dns_len, 1, &q), LV_PARSE_OK);
	struct lv_request *r = lv_request_park_frame(h->rs, &h->w, m, &pi, &q);
	/* nothing refers to the received mbuf once parked */
	rte_pktmbuf_free(m);
	return r;
}

struct parked {
	struct harness *h;
	unsigned i;
};

static struct parked tags[N_PARKED];

/* The timer's answer: SERVFAIL, as the forwarder would after a timeout. */
static void answer_later(struct lv_ev_timer *t)
{
	struct lv_request *r = t->data;
	struct parked *p = r->owner;
	uint16_t room;
	uint8_t *dns = lv_request_answer_begin(p->h->rs, r, &room);

	assert_non_null(dns);
	uint16_t len =
	    lv_response_error(dns, room, &r->q, LV_RCODE_SERVFAIL, 1232);
	assert_true(len > 0);
	p->h->answered_order[p->h->n_answered++] = p->i;
	lv_request_answer_end(p->h->rs, r, len);
}

/* The reply frame m answers query i (whose DNS message was q[0..qlen)). */
static void check_reply(struct rte_mbuf *m, unsigned i, const uint8_t *q,
			unsigned qlen)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *dns = f + 42;

	assert_ptr_not_equal(m->pool, rx_pool);
	assert_int_equal(m->port, 3);
	assert_memory_equal(f, MAC_CLI, 6);
	assert_memory_equal(f + 6, MAC_SRV, 6);
	assert_memory_equal(f + 26, SRV4, 4);
	assert_memory_equal(f + 30, CLI4, 4);
	assert_int_equal(get16(f + 34), 53);
	assert_int_equal(get16(f + 36), 40000 + i);
	assert_int_equal(get16(f + 38), m->data_len - 34);
	/* the IPv4 and UDP checksums verify (software: no offload) */
	assert_int_equal(lv_csum(f + 14, 20), 0xffff);
	uint8_t ph[12 + 1500];
	unsigned ulen = get16(f + 38);
	memcpy(ph, f + 26, 8);
	ph[8] = 0;
	ph[9] = IPPROTO_UDP;
	put16(ph + 10, (uint16_t)ulen);
	memcpy(ph + 12, f + 34, ulen);
	assert_int_equal(lv_csum(ph, 12 + ulen), 0xffff);
	/* ID and RD echoed, QR set, SERVFAIL; the question as asked, case
	 * and all; an OPT since the query had one */
	assert_int_equal(get16(dns), 0x1000 + i);
	assert_int_equal(get16(dns + 2) & 0x8100, 0x8100);
	assert_int_equal(get16(dns + 2) & 0xf, LV_RCODE_SERVFAIL);
	assert_int_equal(get16(dns + 10), 1);
	assert_memory_equal(dns + 12, q + 12, qlen - 12 - 11);
}

static void test_parked_answered_later_out_of_order(void **state)
{
	struct harness *h = *state;
	uint8_t q[N_PARKED][256];
	unsigned qlen[N_PARKED];
	unsigned free_before = rte_mempool_avail_count(rx_pool);
	struct lv_request_stats st;

	for (unsigned i = 0; i < N_PARKED; i++) {
		struct lv_request *r = park(h, i, q[i], &qlen[i]);
		assert_non_null(r);
		tags[i] = (struct parked){h, i};
		r->owner = &tags[i];
		lv_ev_timer_init(&r->timer, answer_later, r);
		/* the later parked, the sooner answered */
		lv_ev_timer_start(h->loop, &r->timer, 5 * (N_PARKED - i));
	}
	/* every receive mbuf is back while all eight wait */
	assert_int_equal(rte_mempool_avail_count(rx_pool), free_before);
	lv_requests_get_stats(h->rs, &st);
	assert_int_equal(st.in_flight, N_PARKED);
	assert_int_equal(rte_ring_count(h->replies), 0);

	for (unsigned n = 0; n < 1000 && h->n_answered < N_PARKED; n++)
		lv_evloop_run_once(h->loop);
	assert_int_equal(h->n_answered, N_PARKED);
	for (unsigned k = 0; k < N_PARKED; k++) {
		struct rte_mbuf *m = NULL;
		unsigned i = N_PARKED - 1 - k;
		assert_int_equal(h->answered_order[k], i);
		assert_int_equal(rte_ring_dequeue(h->replies, (void **)&m), 0);
		check_reply(m, i, q[i], qlen[i]);
		rte_pktmbuf_free(m);
	}
	lv_requests_get_stats(h->rs, &st);
	assert_int_equal(st.parked, N_PARKED);
	assert_int_equal(st.answered, N_PARKED);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.dropped, 0);
}

static void test_full_table_refuses(void **state)
{
	struct harness *h = *state;
	struct lv_request *r[N_PARKED];
	uint8_t q[256];
	unsigned qlen;
	struct lv_request_stats st;

	for (unsigned i = 0; i < N_PARKED; i++)
		assert_non_null(r[i] = park(h, i, q, &qlen));
	assert_null(park(h, 0, q, &qlen));
	lv_requests_get_stats(h->rs, &st);
	assert_int_equal(st.refused, 1);
	/* dropping one frees its context for the next */
	lv_request_drop(h->rs, r[3]);
	assert_non_null(r[3] = park(h, 3, q, &qlen));
	for (unsigned i = 0; i < N_PARKED; i++)
		lv_request_drop(h->rs, r[i]);
	lv_requests_get_stats(h->rs, &st);
	assert_int_equal(st.dropped, N_PARKED + 1);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.answered, 0);
	assert_int_equal(rte_ring_count(h->replies), 0);
}

static void test_socket_request_answered_on_its_socket(void **state)
{
	struct harness *h = *state;
	struct sockaddr_in srv = {.sin_family = AF_INET}, cli = srv;
	socklen_t sl = sizeof(srv);
	int s = socket(AF_INET, SOCK_DGRAM, 0),
	    c = socket(AF_INET, SOCK_DGRAM, 0);
	uint8_t q[256], buf[512];
	unsigned qlen = make_query(q, 4);
	struct lv_query pq;

	srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cli.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&srv, sizeof(srv)), 0);
	assert_int_equal(bind(c, (struct sockaddr *)&cli, sizeof(cli)), 0);
	getsockname(s, (struct sockaddr *)&srv, &sl);
	sl = sizeof(cli);
	getsockname(c, (struct sockaddr *)&cli, &sl);
	assert_int_equal(lv_query_parse(q, (uint16_t)qlen, 1, &pq),
			 LV_PARSE_OK);
	struct lv_request *r = lv_request_park_socket(
	    h->rs, s, (struct sockaddr *)&cli, sizeof(cli), q, &pq);
	assert_non_null(r);
	memset(q, 0, sizeof(q)); /* the request kept its own copy */
	uint16_t room;
	uint8_t *dns = lv_request_answer_begin(h->rs, r, &room);
	uint16_t len =
	    lv_response_error(dns, room, &r->q, LV_RCODE_SERVFAIL, 1232);
	lv_request_answer_end(h->rs, r, len);
	assert_int_equal(recv(c, buf, sizeof(buf), 0), len);
	assert_int_equal(get16(buf), 0x1004);
	assert_memory_equal(buf + 13, "Host4", 5);
	close(s);
	close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_parked_answered_later_out_of_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_table_refuses, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_socket_request_answered_on_its_socket, setup, teardown),
	};
	int rc;

	if (lv_test_eal_init("request") != 0)
		return 1;
	rx_pool = rte_pktmbuf_pool_create("rx", RX_POOL, 0, 0, 2048, 0);
	if (rx_pool == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rte_mempool_free(rx_pool);
	lv_test_eal_fini();
	return rc;
}
