/*
 * libFuzzer target for outgoing zone transfers (control/services/xfr.c:
 * the request's checks, TSIG, the ACL, ldns reading the IXFR client's SOA
 * from the authority section, and every message of the answer).
 *
 * Input: a control byte, then a DNS message. The control byte's low two
 * bits pick the peer: 127.0.0.1 (allowed unsigned), 192.0.2.1 (refused),
 * 2001:db8::1 (allowed with the key), ::1 (refused). As tcp.c does, only
 * what lv_xfr_is_request() accepts goes to lv_xfr_start(). A one-message
 * answer (a refusal, an error) must parse, echo the ID and have QR set. A
 * transfer is pulled to its end (at most 64 messages): every message must
 * parse, echo the ID, have QR and AA set, and the stream must open and
 * close with the zone's SOA (RFC 5936 §2.2, RFC 1995 §4), or be that SOA
 * alone (an IXFR client as new as we are).
 */
#define _GNU_SOURCE /* memfd_create, in fuzz_control.h */
#include <sys/socket.h>

#include <ldns/ldns.h>

#include "fuzz_control.h"
#include "levee/xfr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct lv_control ctl;
static uint8_t out[LV_XFR_MSG_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_eal_init("xfr");
	fuzz_control_init(&ctl);
	return 0;
}

/* Parse a message; abort unless it is a response to id. */
static ldns_pkt *parse(const uint8_t *m, uint16_t len, const uint8_t *id)
{
	ldns_pkt *pkt = NULL;

	if (len < LV_DNS_HDR_LEN || memcmp(m, id, 2) != 0 || !(m[2] & 0x80))
		abort(); /* another ID, or not a response */
	if (ldns_wire2pkt(&pkt, m, len) != LDNS_STATUS_OK)
		abort(); /* a message a secondary cannot read */
	return pkt;
}

static bool is_soa(const ldns_rr_list *l, size_t i)
{
	return ldns_rr_get_type(ldns_rr_list_rr(l, i)) == LDNS_RR_TYPE_SOA;
}

static void pull(struct lv_xfr *x, const uint8_t *id)
{
	bool last = false, first_soa = false, last_soa = false;
	size_t records = 0;

	for (unsigned n = 0; !last; n++) {
		uint16_t len;
		ldns_pkt *pkt;
		ldns_rr_list *an;

		if (n == 64)
			return; /* long enough: the rest is the same loop */
		len = lv_xfr_next(&ctl, x, out, &last);
		if (len == 0)
			abort(); /* our own zone fails to transfer */
		pkt = parse(out, len, id);
		an = ldns_pkt_answer(pkt);
		if (!(out[2] & 0x04))
			abort(); /* not authoritative */
		if (ldns_rr_list_rr_count(an) > 0) {
			if (records == 0)
				first_soa = is_soa(an, 0);
			last_soa = is_soa(an, ldns_rr_list_rr_count(an) - 1);
		}
		records += ldns_rr_list_rr_count(an);
		ldns_pkt_free(pkt);
	}
	if (!first_soa || !last_soa)
		abort(); /* not framed by the SOA */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t v4[2][4] = {{127, 0, 0, 1}, {192, 0, 2, 1}};
	static const uint8_t v6[2][16] = {{0x20, 0x01, 0x0d, 0xb8, [15] = 1},
					  {[15] = 1}};
	const uint8_t *dns = data + 1;
	size_t len = size - 1;
	struct lv_xfr *x;
	uint16_t out_len;
	int family;
	const uint8_t *peer;

	if (size < 1 || len > UINT16_MAX ||
	    !lv_xfr_is_request(dns, (uint16_t)len))
		return 0;
	family = data[0] & 2 ? AF_INET6 : AF_INET;
	peer = family == AF_INET ? v4[data[0] & 1] : v6[data[0] & 1];
	x = lv_xfr_start(&ctl, dns, (uint16_t)len, family, peer, out, &out_len);
	if (x == NULL) {
		if (out_len > 0)
			ldns_pkt_free(parse(out, out_len, dns));
		return 0;
	}
	pull(x, dns);
	lv_xfr_free(&ctl, x);
	return 0;
}
