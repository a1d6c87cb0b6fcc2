/*
 * DNS query parsing for the fast path.
 *
 * Owns nothing: lv_query_parse() reads a DNS message in place and fills a
 * caller-owned struct lv_query (a worker keeps one per packet of a burst on
 * its own stack). Pure and allocation-free: any worker lcore, and the
 * control plane when it re-reads a query handed to it, may call it.
 *
 * The parser accepts only what the fast path can answer exactly: one
 * question whose name carries no compression pointer, and at most one
 * additional record that must be an OPT. Anything else is classified with
 * a verdict that says why (see enum lv_parse_result), so that each outcome
 * has its own counter.
 */
#ifndef LEVEE_QUERY_H
#define LEVEE_QUERY_H

#include <stdint.h>

#include "levee/wire.h"

enum lv_parse_result {
	LV_PARSE_OK = 0,       /* answerable from the cache */
	LV_PARSE_PUNT,         /* valid, but carries records beyond one OPT
	                        * (TSIG, SIG(0), ANCOUNT/NSCOUNT != 0): the
	                        * control plane decides */
	LV_PARSE_FORMERR,      /* sane header, broken body: answer FORMERR */
	LV_PARSE_NOTIMP,       /* opcode other than QUERY: answer NOTIMP */
	LV_PARSE_BADVERS,      /* EDNS version > 0: answer BADVERS */
	LV_PARSE_DROP_RUNT,    /* shorter than a header: drop */
	LV_PARSE_DROP_RESPONSE /* QR=1: never answer a response: drop */
};

/*
 * What the parser learnt of one query. Offsets are from the first byte of
 * the DNS header. Fields after `flags` are valid only as far as the result
 * says: the question fields when question_ok is set, the EDNS fields when
 * has_edns is set.
 */
struct lv_query {
	uint16_t id;        /* host order, echoed as is */
	uint16_t flags;     /* header flags word, host order */
	uint16_t qname_len; /* wire length including the root label */
	uint16_t qtype;
	uint16_t qclass;
	uint16_t question_end;  /* offset just past QCLASS */
	uint16_t edns_udp_size; /* the client's size as sent (0: no OPT) */
	uint8_t has_edns;
	uint8_t edns_version;
	uint8_t do_bit;      /* 1 when the OPT had DO set */
	uint8_t question_ok; /* question parsed: may be echoed */
	uint8_t cd;          /* the header's CD bit: part of the cache key */
	uint8_t tcp;         /* arrived over TCP: no UDP size limit (set
	                      * by the control plane after parsing) */
	uint64_t hash;       /* lv_cache_key_hash of the lookup key */
	/* lowercased qname, wire form, followed by eight zero bytes (the
	 * hash reads the name a word at a time) */
	uint8_t lname[LV_DNS_MAX_NAME + 1 + 8];
};

/*
 * Parse the DNS message at dns[0..len). On LV_PARSE_OK, q holds the
 * lowercased name and its hash, ready for a cache lookup. On FORMERR,
 * NOTIMP and BADVERS, q holds what is needed to write the error answer,
 * the EDNS fields included when the message holds one parseable OPT
 * anywhere in its additional section (RFC 6891 §7: the error answer then
 * carries an OPT); on PUNT, the same EDNS fields, for the control plane's
 * TSIG errors.
 * hash_seed is the process's cache hash seed (lv_cache_hash_seed()).
 */
enum lv_parse_result lv_query_parse(const uint8_t *dns, uint16_t len,
				    uint64_t hash_seed, struct lv_query *q);

#endif
