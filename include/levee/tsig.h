/*
 * TSIG (RFC 8945): verifying signed requests and signing responses, on wire
 * buffers.
 *
 * Owns the configured keys (struct lv_tsig_keyring, with each key's name,
 * algorithm and secret) and the HMAC computations over messages built by
 * our own wire writers. A message stream (AXFR, IXFR over TCP) is signed
 * message by message, each MAC chained to the previous one (§5.3.1); the
 * per-exchange state that carries the chain is struct lv_tsig_state, owned
 * by the caller.
 *
 * Control plane only: it uses OpenSSL and malloc, never on worker lcores.
 * A keyring is built by one thread (start-up or a reload) and then only
 * read; lv_tsig_keyring_find(), lv_tsig_verify() and lv_tsig_sign() may run
 * on any control-plane thread at once as long as each exchange has its own
 * state. The keyring must outlive every state that points to one of its
 * keys: free an old keyring only once the exchanges that used it are over.
 *
 * Names on the wire: our TSIG owner and algorithm names are written
 * uncompressed and lowercase. On input a compressed owner is followed
 * (ldns and dnspython compress it against the question); a compressed
 * algorithm name is FORMERR.
 */
#ifndef LEVEE_TSIG_H
#define LEVEE_TSIG_H

#include <stddef.h>
#include <stdint.h>

#include "levee/wire.h"

/* TSIG error field values, RFC 8945 §3 (LV_TSIG_BADKEY is in wire.h). */
#define LV_TSIG_ERR_NONE     0
#define LV_TSIG_ERR_BADSIG   16
#define LV_TSIG_ERR_BADKEY   LV_TSIG_BADKEY /* 17 */
#define LV_TSIG_ERR_BADTIME  18
#define LV_TSIG_ERR_BADTRUNC 22

#define LV_TSIG_MAX_MAC 64  /* HMAC-SHA512 */
#define LV_TSIG_FUDGE   300 /* seconds, in what we sign (§10 recommends) */

struct lv_tsig_key;
struct lv_tsig_keyring;

/* An empty keyring, or NULL when out of memory. */
struct lv_tsig_keyring *lv_tsig_keyring_new(void);

/*
 * Add a key. name is text ("xfr-key." or "xfr-key", no escapes; any case,
 * kept lowercase); alg is "hmac-md5" (or "hmac-md5.sig-alg.reg.int"),
 * "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384" or
 * "hmac-sha512", any case, a trailing dot allowed; secret_b64 is base64
 * with its padding. Returns 0, or -EINVAL (-ENOMEM) with one line in err
 * naming the key and what is wrong: "key x: unknown algorithm hmac-foo",
 * "key xfr-key.: secret is not base64", "key xfr-key.: defined twice".
 */
int lv_tsig_keyring_add(struct lv_tsig_keyring *r, const char *name,
			const char *alg, const char *secret_b64, char *err,
			size_t errlen);

/* The key named name_text (any case, trailing dot optional), or NULL. For
 * configuration ACLs; the key lives as long as the keyring. */
const struct lv_tsig_key *lv_tsig_keyring_find(const struct lv_tsig_keyring *r,
					       const char *name_text);

/* Free the keyring and its keys (secrets are wiped); NULL is a no-op. */
void lv_tsig_keyring_free(struct lv_tsig_keyring *r);

/* The key's name as lowercase text with the trailing dot: "xfr-key.". */
const char *lv_tsig_key_name(const struct lv_tsig_key *k);

/* The algorithm's short name: "hmac-sha256", "hmac-md5", ... */
const char *lv_tsig_key_algorithm(const struct lv_tsig_key *k);

/*
 * One exchange: a request and its response(s). lv_tsig_verify() fills it;
 * lv_tsig_sign() reads it and advances the MAC chain. Plain data, owned by
 * the caller, one per exchange (a TCP transfer keeps one for its stream).
 */
struct lv_tsig_state {
	const struct lv_tsig_key *key; /* NULL after BADKEY */
	uint16_t error;                /* LV_TSIG_ERR_* to answer with */
	uint16_t orig_id;              /* the request's Original ID */
	uint16_t fudge;                /* the request's fudge */
	uint64_t time_signed;          /* the request's Time Signed */
	uint16_t mac_len;              /* 0: nothing signed yet */
	uint8_t mac[LV_TSIG_MAX_MAC];  /* the request's MAC as received
	                                * (truncated or not), then the MAC
	                                * of each message we sign */
	unsigned signed_msgs;          /* messages signed in this exchange */
	/* The request's names as received, echoed in unsigned errors. */
	uint8_t key_name_len;
	uint8_t alg_name_len;
	uint8_t key_name[LV_DNS_MAX_NAME];
	uint8_t alg_name[LV_DNS_MAX_NAME];
};

/* Start an exchange as the requester (a NOTIFY or SOA query we send):
 * the first lv_tsig_sign() then signs a request, with no request MAC. */
void lv_tsig_state_init(struct lv_tsig_state *st, const struct lv_tsig_key *k);

enum lv_tsig_verdict {
	LV_TSIG_UNSIGNED = 0, /* no TSIG: msg untouched */
	LV_TSIG_VERIFIED,     /* signed with a key we hold, MAC and time
	                       * good; st ready for lv_tsig_sign() */
	LV_TSIG_FORMERR,      /* a TSIG not last, two of them, a compressed
	                       * algorithm name, class not ANY, TTL not 0, a MAC size
	                       * out of bounds (§5.2.2.1), or records that
	                       * do not parse, signed or not: answer
	                       * FORMERR, unsigned; msg untouched */
	LV_TSIG_NOTAUTH,      /* st->error says why (BADKEY, BADSIG,
	                       * BADTIME): answer NOTAUTH, and append the
	                       * TSIG with lv_tsig_sign() */
};

/*
 * Look at a received request msg of len bytes, taken at time now (seconds
 * since the epoch). In the order of RFC 8945 §5.2: find the TSIG (the last
 * record), check its form, the key (BADKEY: unknown name, or an algorithm
 * other than the key's), the MAC (BADSIG; a MAC truncated to no fewer than
 * max(10, half the digest) bytes is compared over its length, §5.2.2.1),
 * then the time (BADTIME when now is outside time signed +/- fudge).
 *
 * On VERIFIED and NOTAUTH st is filled and the TSIG is stripped in
 * place: ARCOUNT is decremented and *unsigned_len is the length without
 * the record, so the caller parses and answers the request as if it had
 * come unsigned. On UNSIGNED and FORMERR msg is left as it came,
 * *unsigned_len = len and st is not to be used. r may be NULL (no keys):
 * every signed request is then BADKEY.
 */
enum lv_tsig_verdict lv_tsig_verify(const struct lv_tsig_keyring *r,
				    uint8_t *msg, size_t len, uint64_t now,
				    struct lv_tsig_state *st,
				    size_t *unsigned_len);

/*
 * Append a TSIG record to msg (len bytes written, room bytes available)
 * and add one to ARCOUNT. The response must be complete, with its final
 * ID: the MAC covers it as it is. By st->error (§5.3.2):
 *  - BADKEY, BADSIG: an unsigned TSIG (MAC size 0), echoing the request's
 *    key and algorithm names, time signed and fudge;
 *  - anything else: signed with st->key at time now and fudge
 *    LV_TSIG_FUDGE. The first message covers the request MAC (if any),
 *    the message and all TSIG variables; each later message of the stream
 *    the previous MAC, the message and the timers only (§5.3.1). Every
 *    message of a stream must be signed. BADTIME keeps the request's
 *    time signed and carries now in Other Data (6 bytes).
 * st->mac becomes the new MAC. Returns the new length, or 0 when the
 * record does not fit in room or the MAC cannot be computed (msg then
 * unchanged). Reserve lv_tsig_space() when building the message.
 */
size_t lv_tsig_sign(struct lv_tsig_state *st, uint8_t *msg, size_t len,
		    size_t room, uint64_t now);

/* The most bytes lv_tsig_sign() appends for an exchange with key k: its
 * full MAC and a BADTIME's Other Data. For an unknown key (BADKEY
 * answers) LV_TSIG_SPACE_MAX covers any request's names. */
size_t lv_tsig_space(const struct lv_tsig_key *k);
#define LV_TSIG_SPACE_MAX (2 * LV_DNS_MAX_NAME + 10 + 16 + LV_TSIG_MAX_MAC + 6)

#endif
