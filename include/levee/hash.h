/*
 * Seeded 64-bit hash of a cache key (lowercased qname, qtype, qclass, DO).
 *
 * Owns nothing. Pure: any thread. The seed is drawn once at start-up so
 * that a client cannot precompute names that collide in the cache table
 * (the same reason dnsdist and Knot seed their tables). The dataplane
 * computes the hash while parsing; the control plane computes the same
 * value when it builds an entry, so both must call this function.
 */
#ifndef LEVEE_HASH_H
#define LEVEE_HASH_H

#include <stdint.h>
#include <string.h>

#define LV_HASH_MUL 0x9e3779b97f4a7c15ull

static inline uint64_t lv_hash_mix(uint64_t h)
{
	/* murmur3 fmix64: every input bit reaches every output bit */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* The key's flag bits, hashed with the name, type and class: DO and CD
 * (an answer fetched with checking disabled is not one for a client that
 * wants it checked, RFC 4035 §3.2.2). */
static inline uint8_t lv_key_bits(uint8_t do_bit, uint8_t cd)
{
	return (uint8_t)((do_bit ? 1 : 0) | (cd ? 2 : 0));
}

/*
 * Hash name[0..name_len) (already lowercased) with qtype, qclass and the
 * key bits (lv_key_bits(); the parameter keeps its old name: DO alone
 * is lv_key_bits(do, 0)). Reads the name eight bytes at a time; the tail is read bytewise so
 * nothing past name_len is touched.
 */
static inline uint64_t lv_cache_key_hash(uint64_t seed, const uint8_t *name,
					 unsigned name_len, uint16_t qtype,
					 uint16_t qclass, uint8_t do_bit)
{
	uint64_t h = seed ^ ((uint64_t)name_len * LV_HASH_MUL);
	unsigned i = 0;

	for (; i + 8 <= name_len; i += 8) {
		uint64_t w;
		memcpy(&w, name + i, 8);
		h = (h ^ w) * LV_HASH_MUL;
		h ^= h >> 29;
	}
	uint64_t tail = 0;
	for (unsigned s = 0; i < name_len; i++, s += 8)
		tail |= (uint64_t)name[i] << s;
	h = (h ^ tail) * LV_HASH_MUL;
	h ^= ((uint64_t)qtype << 32) | ((uint64_t)qclass << 16) | do_bit;
	return lv_hash_mix(h);
}

/*
 * The same value as lv_cache_key_hash() when name[name_len] up to the next
 * multiple of eight is zero (the parser pads its copy of the name so): the
 * tail is then read as one word. On a little-endian host a zero-padded word
 * equals the tail lv_cache_key_hash() assembles byte by byte.
 */
static inline uint64_t
lv_cache_key_hash_padded(uint64_t seed, const uint8_t *name, unsigned name_len,
			 uint16_t qtype, uint16_t qclass, uint8_t do_bit)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t h = seed ^ ((uint64_t)name_len * LV_HASH_MUL);
	uint64_t tail = 0;
	unsigned i = 0;

	for (; i + 8 <= name_len; i += 8) {
		uint64_t w;
		memcpy(&w, name + i, 8);
		h = (h ^ w) * LV_HASH_MUL;
		h ^= h >> 29;
	}
	if (i < name_len)
		memcpy(&tail, name + i, 8);
	h = (h ^ tail) * LV_HASH_MUL;
	h ^= ((uint64_t)qtype << 32) | ((uint64_t)qclass << 16) | do_bit;
	return lv_hash_mix(h);
#else
	return lv_cache_key_hash(seed, name, name_len, qtype, qclass, do_bit);
#endif
}

#endif
