/*
 * libFuzzer target for the control plane's answer path
 * (control/services/miss.c lv_control_answer: the parser's verdicts, TSIG
 * verification and signing (dns/tsig.c), ldns's reading of punted
 * queries, answers built from the zones (dns/answer.c) and published in
 * the cache (cache/cache.c), the TCP keepalive option).
 *
 * Input: a control byte, then one DNS message. Bit 0: over TCP; bits 1-2:
 * the buffer's room (64 KiB, 4096, the message's length, 512). The
 * message is answered twice (the second from the cache when the first was
 * published) and each answer must: fit in room; over UDP, a plain query's
 * answer fit the client's size (512 without EDNS, else its size within
 * 512..udp-max); parse with ldns; echo the ID, have QR set and, when it
 * has a question, the query's question bytes. A plain query gets the same
 * length and rcode the second time.
 *
 * The cache is created and destroyed around each input: an input's
 * entries (and the cache's per-zone index they grow) are freed with it, so
 * LeakSanitizer sees every allocation of an input released and inputs do
 * not depend on the ones before them.
 */
#define _GNU_SOURCE /* memfd_create, in fuzz_control.h */
#include <ldns/ldns.h>

#include "fuzz_control.h"
#include "levee/cache.h"
#include "levee/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct lv_control ctl;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_eal_init("control");
	fuzz_control_init(&ctl);
	return 0;
}

/* The UDP size the answer to a plain query must keep within. */
static unsigned udp_limit(const struct lv_query *q)
{
	unsigned size = q->edns_udp_size;

	if (!q->has_edns)
		return LV_DNS_MIN_UDP;
	if (size < LV_DNS_MIN_UDP)
		size = LV_DNS_MIN_UDP;
	return size < ctl.cfg->udp_max ? size : ctl.cfg->udp_max;
}

static void check(const uint8_t *query, size_t qlen, const uint8_t *a,
		  uint16_t len, uint16_t room, bool tcp, enum lv_parse_result v,
		  const struct lv_query *q)
{
	ldns_pkt *pkt = NULL;

	if (len > room)
		abort(); /* written past the buffer */
	if (!tcp && v == LV_PARSE_OK && len > udp_limit(q))
		abort(); /* too big for the client's UDP size */
	if (len < LV_DNS_HDR_LEN || memcmp(a, query, 2) != 0 || !(a[2] & 0x80))
		abort(); /* no header, another ID, or not a response */
	if (lv_wire_get16(a + 4) == 1 &&
	    (!q->question_ok || q->question_end > len ||
	     q->question_end > qlen ||
	     memcmp(a + LV_DNS_HDR_LEN, query + LV_DNS_HDR_LEN,
		    q->question_end - LV_DNS_HDR_LEN) != 0))
		abort(); /* a question that is not the query's */
	if (ldns_wire2pkt(&pkt, a, len) != LDNS_STATUS_OK)
		abort(); /* an answer a client cannot read */
	ldns_pkt_free(pkt);
}

static uint16_t answer(uint8_t *buf, const uint8_t *query, size_t qlen,
		       uint16_t room, bool tcp, enum lv_parse_result v,
		       const struct lv_query *q)
{
	uint16_t len;

	memcpy(buf, query, qlen);
	len = lv_control_answer(&ctl, buf, (uint16_t)qlen, room, tcp);
	if (len > 0)
		check(query, qlen, buf, len, room, tcp, v, q);
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t rooms[] = {UINT16_MAX, 4096, 0, 512};
	struct lv_cache_params p = {.memory_bytes = 4 << 20,
				    .hash_seed = ctl.hash_seed,
				    .max_readers = 1,
				    .name = "lvfuzz"};
	const uint8_t *query = data + 1;
	size_t qlen = size - 1;
	enum lv_parse_result v;
	struct lv_query q;
	uint16_t room, first, second;
	uint8_t *buf, *a1 = NULL;
	char err[256];
	bool tcp;

	if (size < 1 || qlen > UINT16_MAX)
		return 0;
	tcp = data[0] & 1;
	room = rooms[(data[0] >> 1) & 3];
	if (room == 0 || room < qlen)
		room = (uint16_t)(qlen > 0 ? qlen : 1);
	/* the parser's view, for the checks (the answer path parses its
	 * own copy) */
	buf = malloc(room);
	memcpy(buf, query, qlen);
	v = lv_query_parse(buf, (uint16_t)qlen, ctl.hash_seed, &q);
	ctl.cache = lv_cache_create(&p, err, sizeof(err));
	if (buf == NULL || ctl.cache == NULL)
		abort();
	first = answer(buf, query, qlen, room, tcp, v, &q);
	if (first > 0 && (a1 = malloc(first)) != NULL)
		memcpy(a1, buf, first);
	second = answer(buf, query, qlen, room, tcp, v, &q);
	if (v == LV_PARSE_OK &&
	    (first != second || (first > 0 && (buf[3] & 0xf) != (a1[3] & 0xf))))
		abort(); /* the cache answers otherwise than the zones */
	lv_cache_destroy(ctl.cache);
	ctl.cache = NULL;
	free(a1);
	free(buf);
	return 0;
}
