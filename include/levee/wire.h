/*
 * levee wire constants and bounded readers for DNS messages.
 *
 * Owns nothing: constants, header-flag masks and byte-order helpers shared
 * by the dataplane parser, the response writer and the control plane's
 * answer builder. Every helper is pure and may be called from any thread.
 * All multi-byte values handed across module boundaries are in host order;
 * the conversion happens once, here, at the wire.
 */
#ifndef LEVEE_WIRE_H
#define LEVEE_WIRE_H

#include <stdint.h>
#include <string.h>

#define LV_DNS_HDR_LEN     12
#define LV_DNS_MAX_NAME    255 /* RFC 1035 §2.3.4, wire form with root */
#define LV_DNS_MAX_LABEL   63
#define LV_DNS_PORT        53
#define LV_DNS_MIN_UDP     512  /* RFC 1035 §4.2.1 */
#define LV_DNS_DEFAULT_UDP 1232 /* DNS Flag Day 2020 */
#define LV_DNS_OPT_RR_LEN  11   /* root name + type/class/ttl/rdlen */

/* Header flags word (bytes 2-3 of the header), host order. */
#define LV_FLAG_QR     0x8000u
#define LV_FLAG_OPCODE 0x7800u
#define LV_FLAG_AA     0x0400u
#define LV_FLAG_TC     0x0200u
#define LV_FLAG_RD     0x0100u
#define LV_FLAG_RA     0x0080u
#define LV_FLAG_Z      0x0040u
#define LV_FLAG_AD     0x0020u
#define LV_FLAG_CD     0x0010u
#define LV_FLAG_RCODE  0x000fu

#define LV_OPCODE_QUERY       0
#define LV_EDNS_DO            0x8000u /* in the OPT TTL's low 16 bits */
#define LV_EDNS_TCP_KEEPALIVE 11      /* option code, RFC 7828 */
#define LV_EDNS_EDE           15      /* Extended DNS Error, RFC 8914 */
#define LV_EDE_STALE_ANSWER   3       /* its INFO-CODE "Stale Answer" */
#define LV_EDE_OPT_LEN        6       /* code, length, INFO-CODE */

enum lv_rcode {
	LV_RCODE_NOERROR = 0,
	LV_RCODE_FORMERR = 1,
	LV_RCODE_SERVFAIL = 2,
	LV_RCODE_NXDOMAIN = 3,
	LV_RCODE_NOTIMP = 4,
	LV_RCODE_REFUSED = 5,
	LV_RCODE_NOTAUTH = 9,
	LV_RCODE_BADVERS = 16, /* extended: needs an OPT, RFC 6891 §6.1.3 */
	LV_RCODE_MAX = 32
};

enum lv_rrtype {
	LV_TYPE_A = 1,
	LV_TYPE_NS = 2,
	LV_TYPE_CNAME = 5,
	LV_TYPE_SOA = 6,
	LV_TYPE_PTR = 12,
	LV_TYPE_MX = 15,
	LV_TYPE_TXT = 16,
	LV_TYPE_AAAA = 28,
	LV_TYPE_SRV = 33,
	LV_TYPE_DNAME = 39,
	LV_TYPE_OPT = 41,
	LV_TYPE_DS = 43,
	LV_TYPE_RRSIG = 46,
	LV_TYPE_TKEY = 249,
	LV_TYPE_TSIG = 250,
	LV_TYPE_IXFR = 251,
	LV_TYPE_AXFR = 252,
	LV_TYPE_ANY = 255,
};

#define LV_TSIG_BADKEY 17 /* TSIG error, RFC 8945 §3 */

#define LV_CLASS_IN  1
#define LV_CLASS_CH  3
#define LV_CLASS_ANY 255

static inline uint16_t lv_wire_get16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t lv_wire_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void lv_wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void lv_wire_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ASCII-only case fold (RFC 4343): bytes outside A-Z are left as they are. */
static inline uint8_t lv_wire_lower(uint8_t c)
{
	return (uint8_t)(c + ((uint8_t)(c - 'A') < 26u ? 32 : 0));
}

#endif
