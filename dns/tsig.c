/*
 * TSIG (RFC 8945) on wire buffers: the keyring, the check of a signed
 * request and the signing of responses and transfer streams.
 *
 * Where it sits: the control plane receives a request the fast path would
 * not judge (one with records beyond an OPT, a transfer over TCP), runs
 * lv_tsig_verify() on it before anything else, answers the request as if
 * it were unsigned, and hands each message it writes to lv_tsig_sign()
 * before sending it. HMACs come from OpenSSL's EVP_MAC; every wire read is
 * checked against the message length.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "levee/tsig.h"

#define RR_FIXED_LEN 10 /* type, class, TTL, RDLENGTH */
#define RD_FIXED_LEN 16 /* time 6, fudge, MAC size, orig id, error, other */
#define TIME_LEN     6  /* 48-bit seconds */
/* The TSIG variables (§4.3.3) short of Other Data: two names, class, TTL,
 * time, fudge, error, other length. */
#define VARS_MAX (2 * LV_DNS_MAX_NAME + 2 + 4 + TIME_LEN + 2 + 2 + 2)

struct tsig_alg {
	const char *name;    /* as configured and reported */
	const char *wire;    /* the algorithm name on the wire, RFC 8945 §6 */
	const char *digest;  /* OpenSSL's name for the hash */
	unsigned digest_len; /* bytes of HMAC output */
};

static const struct tsig_alg algs[] = {
    {"hmac-md5", "hmac-md5.sig-alg.reg.int.", "MD5", 16},
    {"hmac-sha1", "hmac-sha1.", "SHA1", 20},
    {"hmac-sha224", "hmac-sha224.", "SHA224", 28},
    {"hmac-sha256", "hmac-sha256.", "SHA256", 32},
    {"hmac-sha384", "hmac-sha384.", "SHA384", 48},
    {"hmac-sha512", "hmac-sha512.", "SHA512", 64},
};

struct lv_tsig_key {
	const struct tsig_alg *alg;
	EVP_MAC *hmac;
	uint8_t name_len;
	uint8_t alg_len;
	uint8_t name[LV_DNS_MAX_NAME];     /* lowercase wire form */
	uint8_t alg_name[LV_DNS_MAX_NAME]; /* lowercase wire form */
	char text[LV_DNS_MAX_NAME + 1];    /* "xfr-key." */
	uint8_t *secret;
	size_t secret_len;
};

struct lv_tsig_keyring {
	struct lv_tsig_key **keys;
	size_t n;
	size_t cap;
};

/* One TSIG record, as parsed from a request or about to be written. */
struct tsig_rr {
	size_t off; /* where the record starts in the message */
	const uint8_t *owner;
	const uint8_t *alg;
	const uint8_t *mac;
	const uint8_t *other;
	uint8_t owner_len;
	uint8_t alg_len;
	uint16_t fudge;
	uint64_t time_signed;
	uint16_t mac_len;
	uint16_t orig_id;
	uint16_t error;
	uint16_t other_len;
	uint8_t owner_buf[LV_DNS_MAX_NAME]; /* a request's owner, expanded */
};

/* A piece of the data a MAC covers. */
struct span {
	const void *p;
	size_t len;
};

static uint64_t get48(const uint8_t *p)
{
	return (uint64_t)lv_wire_get16(p) << 32 | lv_wire_get32(p + 2);
}

static void put48(uint8_t *p, uint64_t v)
{
	lv_wire_put16(p, (uint16_t)(v >> 32));
	lv_wire_put32(p + 2, (uint32_t)v);
}

/* ---- names ---- */

/*
 * Text to lowercase wire form: labels of 1-63 printable bytes, no escapes,
 * 255 bytes in all; the trailing dot is optional. 0, or -1.
 */
static int name_from_text(const char *s, uint8_t *wire, uint8_t *wire_len)
{
	size_t n = 0, llen, i;

	while (*s) {
		llen = strcspn(s, ".");
		if (llen == 0 || llen > LV_DNS_MAX_LABEL ||
		    n + 1 + llen + 1 > LV_DNS_MAX_NAME)
			return -1;
		wire[n++] = (uint8_t)llen;
		for (i = 0; i < llen; i++) {
			if (s[i] <= ' ' || s[i] > '~' || s[i] == '\\')
				return -1;
			wire[n++] = lv_wire_lower((uint8_t)s[i]);
		}
		s += llen;
		if (*s == '.')
			s++;
	}
	if (n == 0)
		return -1;
	wire[n++] = 0;
	*wire_len = (uint8_t)n;
	return 0;
}

/* Wire form (uncompressed, checked) to text with the trailing dot. */
static void name_to_text(const uint8_t *wire, char *text)
{
	while (*wire) {
		memcpy(text, wire + 1, *wire);
		text += *wire;
		*text++ = '.';
		wire += 1 + *wire;
	}
	*text = '\0';
}

/* Two uncompressed wire names, ASCII case folded (RFC 4343). Label length
 * bytes are below 'A', so folding every byte is safe. */
static bool names_equal(const uint8_t *a, size_t alen, const uint8_t *b,
			size_t blen)
{
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		if (lv_wire_lower(a[i]) != lv_wire_lower(b[i]))
			return false;
	return true;
}

/* ---- base64 (RFC 4648 §4, with padding) ---- */

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode one quantum of four characters; '=' only at the end of the last
 * one. The bytes written (1-3), or -1. */
static int b64_quantum(const char *s, bool last, uint8_t *out)
{
	uint32_t bits = 0;
	int j, v, pad = 0;

	for (j = 0; j < 4; j++) {
		if (s[j] == '=' && last && j >= 2) {
			pad++;
			bits <<= 6;
			continue;
		}
		v = b64_value(s[j]);
		if (v < 0 || pad)
			return -1;
		bits = bits << 6 | (uint32_t)v;
	}
	out[0] = (uint8_t)(bits >> 16);
	out[1] = (uint8_t)(bits >> 8);
	out[2] = (uint8_t)bits;
	return 3 - pad;
}

/* Decode s into a new buffer; the length in *out_len. NULL when s is not
 * base64 (or out of memory: *out_len is then 1). */
static uint8_t *b64_decode(const char *s, size_t *out_len)
{
	size_t len = strlen(s), i, n = 0;
	uint8_t *out;
	int got;

	*out_len = 0;
	if (len == 0 || len % 4)
		return NULL;
	out = malloc(len / 4 * 3);
	if (!out) {
		*out_len = 1;
		return NULL;
	}
	for (i = 0; i < len; i += 4) {
		got = b64_quantum(s + i, i + 4 == len, out + n);
		if (got < 0) {
			free(out);
			return NULL;
		}
		n += (size_t)got;
	}
	*out_len = n;
	return out;
}

/* ---- HMAC ---- */

/* HMAC of the spans with key k into out (k->alg->digest_len bytes). */
static int hmac_spans(const struct lv_tsig_key *k, const struct span *s,
		      size_t n, uint8_t *out)
{
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
					     (char *)k->alg->digest, 0),
	    OSSL_PARAM_construct_end()};
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(k->hmac);
	size_t i, out_len = 0;
	int ok;

	ok = ctx && EVP_MAC_init(ctx, k->secret, k->secret_len, params);
	for (i = 0; ok && i < n; i++)
		if (s[i].len)
			ok = EVP_MAC_update(ctx, s[i].p, s[i].len);
	ok = ok && EVP_MAC_final(ctx, out, &out_len, LV_TSIG_MAX_MAC) &&
	     out_len == k->alg->digest_len;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -1;
}

/*
 * The TSIG variables of §4.3.3 short of Other Data (that goes in a span of
 * its own): with timers_only (§5.3.1, later messages of a stream) just
 * time signed and fudge. Names are canonical: the caller passes the key's.
 */
static size_t put_vars(uint8_t *p, const struct tsig_rr *t, bool timers_only)
{
	uint8_t *start = p;

	if (!timers_only) {
		memcpy(p, t->owner, t->owner_len);
		p += t->owner_len;
		lv_wire_put16(p, LV_CLASS_ANY);
		lv_wire_put32(p + 2, 0);
		p += 6;
		memcpy(p, t->alg, t->alg_len);
		p += t->alg_len;
	}
	put48(p, t->time_signed);
	lv_wire_put16(p + TIME_LEN, t->fudge);
	p += TIME_LEN + 2;
	if (!timers_only) {
		lv_wire_put16(p, t->error);
		lv_wire_put16(p + 2, t->other_len);
		p += 4;
	}
	return (size_t)(p - start);
}

/* ---- the keyring ---- */

struct lv_tsig_keyring *lv_tsig_keyring_new(void)
{
	return calloc(1, sizeof(struct lv_tsig_keyring));
}

static void key_free(struct lv_tsig_key *k)
{
	if (!k)
		return;
	if (k->secret)
		OPENSSL_cleanse(k->secret, k->secret_len);
	free(k->secret);
	EVP_MAC_free(k->hmac);
	free(k);
}

void lv_tsig_keyring_free(struct lv_tsig_keyring *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		key_free(r->keys[i]);
	free(r->keys);
	free(r);
}

static const struct tsig_alg *alg_by_name(const char *s)
{
	size_t i, len = strlen(s);

	if (len && s[len - 1] == '.')
		len--;
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if ((strlen(algs[i].name) == len &&
		     strncasecmp(s, algs[i].name, len) == 0) ||
		    (strlen(algs[i].wire) == len + 1 &&
		     strncasecmp(s, algs[i].wire, len) == 0))
			return &algs[i];
	return NULL;
}

static const struct lv_tsig_key *find_wire(const struct lv_tsig_keyring *r,
					   const uint8_t *name, size_t len)
{
	size_t i;

	for (i = 0; r && i < r->n; i++)
		if (names_equal(r->keys[i]->name, r->keys[i]->name_len, name,
				len))
			return r->keys[i];
	return NULL;
}

const struct lv_tsig_key *lv_tsig_keyring_find(const struct lv_tsig_keyring *r,
					       const char *name_text)
{
	uint8_t wire[LV_DNS_MAX_NAME], len;

	if (!name_text || name_from_text(name_text, wire, &len))
		return NULL;
	return find_wire(r, wire, len);
}

/* Fill k's names, algorithm and HMAC; a one-line reason in err or 0. */
static int key_setup(struct lv_tsig_key *k, const char *name, const char *alg,
		     char *err, size_t errlen)
{
	if (name_from_text(name, k->name, &k->name_len)) {
		snprintf(err, errlen,
			 "key %s: not a domain name (labels of 1-63 printable "
			 "bytes, no escapes)",
			 name);
		return -EINVAL;
	}
	name_to_text(k->name, k->text);
	k->alg = alg_by_name(alg ? alg : "");
	if (!k->alg) {
		snprintf(err, errlen, "key %s: unknown algorithm %s", name,
			 alg ? alg : "(none)");
		return -EINVAL;
	}
	name_from_text(k->alg->wire, k->alg_name, &k->alg_len);
	return 0;
}

/* Fetch the HMAC and try it once: a hash the OpenSSL configuration
 * leaves out (MD5 under FIPS) fails here rather than per message. */
static int key_hmac(struct lv_tsig_key *k, const char *name, char *err,
		    size_t errlen)
{
	uint8_t probe[LV_TSIG_MAX_MAC];

	k->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!k->hmac || hmac_spans(k, NULL, 0, probe)) {
		snprintf(err, errlen, "key %s: %s is not available in OpenSSL",
			 name, k->alg->name);
		return -EINVAL;
	}
	return 0;
}

static int key_secret(struct lv_tsig_key *k, const char *name,
		      const char *secret_b64, char *err, size_t errlen)
{
	k->secret = b64_decode(secret_b64 ? secret_b64 : "", &k->secret_len);
	if (!k->secret && k->secret_len) {
		snprintf(err, errlen, "key %s: out of memory", name);
		return -ENOMEM;
	}
	if (!k->secret || k->secret_len == 0) {
		snprintf(err, errlen, "key %s: secret is %s", name,
			 secret_b64 && *secret_b64 ? "not base64" : "empty");
		return -EINVAL;
	}
	return 0;
}

static int keyring_push(struct lv_tsig_keyring *r, struct lv_tsig_key *k)
{
	struct lv_tsig_key **grown;
	size_t cap;

	if (r->n == r->cap) {
		cap = r->cap ? 2 * r->cap : 4;
		grown = realloc(r->keys, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		r->keys = grown;
		r->cap = cap;
	}
	r->keys[r->n++] = k;
	return 0;
}

int lv_tsig_keyring_add(struct lv_tsig_keyring *r, const char *name,
			const char *alg, const char *secret_b64, char *err,
			size_t errlen)
{
	struct lv_tsig_key *k;
	int rc;

	if (!name || !*name) {
		snprintf(err, errlen, "key name is empty");
		return -EINVAL;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errlen, "key %s: out of memory", name);
		return -ENOMEM;
	}
	rc = key_setup(k, name, alg, err, errlen);
	if (rc == 0)
		rc = key_secret(k, name, secret_b64, err, errlen);
	if (rc == 0)
		rc = key_hmac(k, name, err, errlen);
	if (rc == 0 && find_wire(r, k->name, k->name_len)) {
		snprintf(err, errlen, "key %s: defined twice", name);
		rc = -EINVAL;
	}
	if (rc == 0 && keyring_push(r, k)) {
		snprintf(err, errlen, "key %s: out of memory", name);
		rc = -ENOMEM;
	}
	if (rc)
		key_free(k);
	return rc;
}

const char *lv_tsig_key_name(const struct lv_tsig_key *k)
{
	return k->text;
}

const char *lv_tsig_key_algorithm(const struct lv_tsig_key *k)
{
	return k->alg->name;
}

size_t lv_tsig_space(const struct lv_tsig_key *k)
{
	if (!k)
		return LV_TSIG_SPACE_MAX;
	return k->name_len + RR_FIXED_LEN + k->alg_len + RD_FIXED_LEN +
	       k->alg->digest_len + TIME_LEN;
}

void lv_tsig_state_init(struct lv_tsig_state *st, const struct lv_tsig_key *k)
{
	memset(st, 0, sizeof(*st));
	st->key = k;
}

/* ---- reading a request ---- */

/*
 * Skip the name at *pos, bounded by end. *compressed is set when it ends
 * in a pointer. -1 when it runs past end or uses a label type other than
 * plain or pointer (0x40 and 0x80 are not in use, RFC 6891 §5).
 */
static int skip_name(const uint8_t *msg, size_t end, size_t *pos,
		     bool *compressed)
{
	size_t p = *pos;

	while (p < end) {
		if ((msg[p] & 0xc0) == 0xc0) {
			*compressed = true;
			*pos = p + 2;
			return *pos <= end ? 0 : -1;
		}
		if (msg[p] & 0xc0)
			return -1;
		if (msg[p] == 0) {
			*pos = p + 1;
			return 0;
		}
		p += 1 + msg[p];
	}
	return -1;
}

/*
 * Walk every record. 1 with the TSIG's offset in *off when the last record
 * of the additional section is a TSIG and ends the message; 0 when no
 * record is a TSIG; -1 for a TSIG anywhere else (§5.2: FORMERR) or a
 * message that does not parse.
 */
static int find_tsig(const uint8_t *msg, size_t len, size_t *off)
{
	unsigned qd, rrs, ar, i, type;
	size_t pos = LV_DNS_HDR_LEN, start;
	bool compressed = false;

	if (len < LV_DNS_HDR_LEN)
		return -1;
	qd = lv_wire_get16(msg + 4);
	ar = lv_wire_get16(msg + 10);
	rrs = lv_wire_get16(msg + 6) + lv_wire_get16(msg + 8) + ar;
	for (i = 0; i < qd; i++) {
		if (skip_name(msg, len, &pos, &compressed) || pos + 4 > len)
			return -1;
		pos += 4;
	}
	for (i = 0; i < rrs; i++) {
		start = pos;
		if (skip_name(msg, len, &pos, &compressed) ||
		    pos + RR_FIXED_LEN > len)
			return -1;
		type = lv_wire_get16(msg + pos);
		pos += RR_FIXED_LEN + lv_wire_get16(msg + pos + 8);
		if (pos > len)
			return -1;
		if (type == LV_TYPE_TSIG) {
			if (i + 1 != rrs || ar == 0 || pos != len)
				return -1;
			*off = start;
			return 1;
		}
	}
	return 0;
}

/* An uncompressed name at *pos within end; its length in *len. */
static int take_name(const uint8_t *msg, size_t end, size_t *pos, uint8_t *len)
{
	size_t start = *pos;
	bool compressed = false;

	if (skip_name(msg, end, pos, &compressed) || compressed ||
	    *pos - start > LV_DNS_MAX_NAME)
		return -1;
	*len = (uint8_t)(*pos - start);
	return 0;
}

/*
 * The owner name at *pos copied into buf, following compression pointers:
 * RFC 8945 forbids compressing the algorithm name, not the owner, and ldns
 * and dnspython compress it when the key name shares a suffix with the
 * question. Pointers must point backwards. *pos moves past the name.
 */
static int take_owner(const uint8_t *msg, size_t len, size_t *pos, uint8_t *buf,
		      uint8_t *out_len)
{
	size_t p = *pos, n = 0;
	bool jumped = false;

	while (p < len) {
		uint8_t c = msg[p];
		if ((c & 0xc0) == 0xc0) {
			size_t to = p + 1 < len
					? ((size_t)(c & 0x3f) << 8 | msg[p + 1])
					: len;
			if (to >= p)
				return -1; /* forwards or a loop */
			if (!jumped)
				*pos = p + 2;
			jumped = true;
			p = to;
			continue;
		}
		if ((c & 0xc0) || n + 1u + c > LV_DNS_MAX_NAME ||
		    p + 1u + c > len)
			return -1;
		memcpy(buf + n, msg + p, 1u + c);
		n += 1u + c;
		if (c == 0) {
			if (!jumped)
				*pos = p + 1;
			*out_len = (uint8_t)n;
			return 0;
		}
		p += 1u + c;
	}
	return -1;
}

/* Parse the TSIG at t->off, which find_tsig() found to end the message. */
static int parse_tsig(const uint8_t *msg, size_t len, struct tsig_rr *t)
{
	size_t pos = t->off, end;

	t->owner = t->owner_buf;
	if (take_owner(msg, len, &pos, t->owner_buf, &t->owner_len) ||
	    pos + RR_FIXED_LEN > len)
		return -1;
	/* §4.2: class ANY, TTL 0 */
	if (lv_wire_get16(msg + pos + 2) != LV_CLASS_ANY ||
	    lv_wire_get32(msg + pos + 4) != 0)
		return -1;
	end = pos + RR_FIXED_LEN + lv_wire_get16(msg + pos + 8);
	pos += RR_FIXED_LEN;
	t->alg = msg + pos;
	if (take_name(msg, end, &pos, &t->alg_len) || pos + 10 > end)
		return -1;
	t->time_signed = get48(msg + pos);
	t->fudge = lv_wire_get16(msg + pos + 6);
	t->mac_len = lv_wire_get16(msg + pos + 8);
	t->mac = msg + pos + 10;
	pos += 10 + (size_t)t->mac_len;
	if (pos + 6 > end)
		return -1;
	t->orig_id = lv_wire_get16(msg + pos);
	t->error = lv_wire_get16(msg + pos + 2);
	t->other_len = lv_wire_get16(msg + pos + 4);
	t->other = msg + pos + 6;
	return pos + 6 + t->other_len == end ? 0 : -1;
}

/* §5.2.2.1: no longer than the digest, no shorter than the larger of 10
 * bytes and half the digest. */
static bool mac_size_ok(const struct lv_tsig_key *k, uint16_t mac_len)
{
	unsigned floor =
	    k->alg->digest_len / 2 > 10 ? k->alg->digest_len / 2 : 10;

	return mac_len <= k->alg->digest_len && mac_len >= floor;
}

/* The MAC the request should carry (§4.3.1): the message with the original
 * ID, ARCOUNT less the TSIG and no TSIG, then all the variables. */
static int request_mac(const struct lv_tsig_key *k, const uint8_t *msg,
		       const struct tsig_rr *t, uint8_t *out)
{
	uint8_t hdr[LV_DNS_HDR_LEN], vars[VARS_MAX];
	struct tsig_rr canon = *t;
	size_t vars_len;

	canon.owner = k->name;
	canon.owner_len = k->name_len;
	canon.alg = k->alg_name;
	canon.alg_len = k->alg_len;
	vars_len = put_vars(vars, &canon, false);
	memcpy(hdr, msg, LV_DNS_HDR_LEN);
	lv_wire_put16(hdr, t->orig_id);
	lv_wire_put16(hdr + 10, (uint16_t)(lv_wire_get16(msg + 10) - 1));
	struct span s[] = {{hdr, LV_DNS_HDR_LEN},
			   {msg + LV_DNS_HDR_LEN, t->off - LV_DNS_HDR_LEN},
			   {vars, vars_len},
			   {t->other, t->other_len}};
	return hmac_spans(k, s, 4, out);
}

static void state_from_request(struct lv_tsig_state *st,
			       const struct tsig_rr *t)
{
	memset(st, 0, sizeof(*st));
	st->orig_id = t->orig_id;
	st->fudge = t->fudge;
	st->time_signed = t->time_signed;
	st->key_name_len = t->owner_len;
	memcpy(st->key_name, t->owner, t->owner_len);
	st->alg_name_len = t->alg_len;
	memcpy(st->alg_name, t->alg, t->alg_len);
}

/* Take the TSIG off: the caller answers the rest as an unsigned request. */
static void strip(uint8_t *msg, const struct tsig_rr *t, size_t *unsigned_len)
{
	lv_wire_put16(msg + 10, (uint16_t)(lv_wire_get16(msg + 10) - 1));
	*unsigned_len = t->off;
}

static enum lv_tsig_verdict notauth(struct lv_tsig_state *st, uint16_t error,
				    uint8_t *msg, const struct tsig_rr *t,
				    size_t *unsigned_len)
{
	st->error = error;
	strip(msg, t, unsigned_len);
	return LV_TSIG_NOTAUTH;
}

enum lv_tsig_verdict lv_tsig_verify(const struct lv_tsig_keyring *r,
				    uint8_t *msg, size_t len, uint64_t now,
				    struct lv_tsig_state *st,
				    size_t *unsigned_len)
{
	uint8_t mac[LV_TSIG_MAX_MAC];
	const struct lv_tsig_key *k;
	struct tsig_rr t;
	int found;

	*unsigned_len = len;
	found = find_tsig(msg, len, &t.off);
	if (found <= 0)
		return found == 0 ? LV_TSIG_UNSIGNED : LV_TSIG_FORMERR;
	if (parse_tsig(msg, len, &t))
		return LV_TSIG_FORMERR;
	state_from_request(st, &t);
	/* §5.2.1: a key we hold, with the algorithm it was configured with */
	k = find_wire(r, t.owner, t.owner_len);
	if (!k || !names_equal(k->alg_name, k->alg_len, t.alg, t.alg_len))
		return notauth(st, LV_TSIG_ERR_BADKEY, msg, &t, unsigned_len);
	st->key = k;
	/* §5.2.2 */
	if (!mac_size_ok(k, t.mac_len))
		return LV_TSIG_FORMERR;
	if (request_mac(k, msg, &t, mac) ||
	    CRYPTO_memcmp(mac, t.mac, t.mac_len) != 0)
		return notauth(st, LV_TSIG_ERR_BADSIG, msg, &t, unsigned_len);
	memcpy(st->mac, t.mac, t.mac_len);
	st->mac_len = t.mac_len;
	/* §5.2.3, after the MAC so that a BADTIME answer may be signed */
	if (now + t.fudge < t.time_signed || now > t.time_signed + t.fudge)
		return notauth(st, LV_TSIG_ERR_BADTIME, msg, &t, unsigned_len);
	strip(msg, &t, unsigned_len);
	return LV_TSIG_VERIFIED;
}

/* ---- writing ---- */

static size_t rr_size(const struct tsig_rr *t)
{
	return t->owner_len + RR_FIXED_LEN + t->alg_len + RD_FIXED_LEN +
	       t->mac_len + t->other_len;
}

/* Write t as a record at p, names uncompressed; rr_size(t) bytes. */
static void put_rr(uint8_t *p, const struct tsig_rr *t)
{
	size_t rdlen = rr_size(t) - t->owner_len - RR_FIXED_LEN;

	memcpy(p, t->owner, t->owner_len);
	p += t->owner_len;
	lv_wire_put16(p, LV_TYPE_TSIG);
	lv_wire_put16(p + 2, LV_CLASS_ANY);
	lv_wire_put32(p + 4, 0);
	lv_wire_put16(p + 8, (uint16_t)rdlen);
	p += RR_FIXED_LEN;
	memcpy(p, t->alg, t->alg_len);
	p += t->alg_len;
	put48(p, t->time_signed);
	lv_wire_put16(p + 6, t->fudge);
	lv_wire_put16(p + 8, t->mac_len);
	p += 10;
	if (t->mac_len) /* none in an unsigned error */
		memcpy(p, t->mac, t->mac_len);
	p += t->mac_len;
	lv_wire_put16(p, t->orig_id);
	lv_wire_put16(p + 2, t->error);
	lv_wire_put16(p + 4, t->other_len);
	if (t->other_len)
		memcpy(p + 6, t->other, t->other_len);
}

/* Append t to msg and count it in ARCOUNT; the new length or 0. */
static size_t append(uint8_t *msg, size_t len, size_t room,
		     const struct tsig_rr *t)
{
	size_t need = rr_size(t);

	if (need > room || len > room - need)
		return 0;
	put_rr(msg + len, t);
	lv_wire_put16(msg + 10, (uint16_t)(lv_wire_get16(msg + 10) + 1));
	return len + need;
}

/* §5.3.2: BADKEY and BADSIG go back unsigned, the request's names echoed. */
static size_t sign_unsigned_error(const struct lv_tsig_state *st, uint8_t *msg,
				  size_t len, size_t room)
{
	struct tsig_rr t = {
	    .owner = st->key_name,
	    .owner_len = st->key_name_len,
	    .alg = st->alg_name,
	    .alg_len = st->alg_name_len,
	    .time_signed = st->time_signed,
	    .fudge = st->fudge,
	    .orig_id = lv_wire_get16(msg),
	    .error = st->error,
	};

	if (st->key_name_len == 0 || st->alg_name_len == 0)
		return 0;
	return append(msg, len, room, &t);
}

/* The MAC of a message we send (§4.3.1, §4.3.2, §5.3.1): the previous MAC
 * of the exchange if any, the message, the variables. */
static int message_mac(const struct lv_tsig_state *st, const uint8_t *msg,
		       size_t len, const struct tsig_rr *t, uint8_t *out)
{
	bool timers_only = st->signed_msgs > 0;
	uint8_t prior_len[2], vars[VARS_MAX];
	size_t vars_len = put_vars(vars, t, timers_only);

	lv_wire_put16(prior_len, st->mac_len);
	struct span s[] = {{prior_len, st->mac_len ? 2 : 0},
			   {st->mac, st->mac_len},
			   {msg, len},
			   {vars, vars_len},
			   {t->other, timers_only ? 0 : t->other_len}};
	return hmac_spans(st->key, s, 5, out);
}

size_t lv_tsig_sign(struct lv_tsig_state *st, uint8_t *msg, size_t len,
		    size_t room, uint64_t now)
{
	const struct lv_tsig_key *k = st->key;
	uint8_t mac[LV_TSIG_MAX_MAC], other[TIME_LEN];
	struct tsig_rr t = {.time_signed = now, .fudge = LV_TSIG_FUDGE};
	size_t out;

	if (len < LV_DNS_HDR_LEN || lv_wire_get16(msg + 10) == UINT16_MAX)
		return 0;
	if (st->error == LV_TSIG_ERR_BADKEY || st->error == LV_TSIG_ERR_BADSIG)
		return sign_unsigned_error(st, msg, len, room);
	if (!k)
		return 0;
	t.owner = k->name;
	t.owner_len = k->name_len;
	t.alg = k->alg_name;
	t.alg_len = k->alg_len;
	t.orig_id = lv_wire_get16(msg);
	t.error = st->error;
	if (st->error == LV_TSIG_ERR_BADTIME) {
		/* the client's time, so it can check the answer; ours after */
		t.time_signed = st->time_signed;
		put48(other, now);
		t.other = other;
		t.other_len = TIME_LEN;
	}
	if (message_mac(st, msg, len, &t, mac))
		return 0;
	t.mac = mac;
	t.mac_len = (uint16_t)k->alg->digest_len;
	out = append(msg, len, room, &t);
	if (out) {
		memcpy(st->mac, mac, t.mac_len);
		st->mac_len = t.mac_len;
		st->signed_msgs++;
	}
	return out;
}
