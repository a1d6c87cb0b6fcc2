/*
 * libFuzzer target for zone loading (dns/zone.c: ldns's reader, then
 * levee's own checks) and the answers built from what it accepts
 * (dns/answer.c, dataplane/response.c).
 *
 * Input: the zone's origin on the first line, then a master file. The file
 * is written to a memfd and loaded by its /proc path. A refused zone must
 * come with exactly one line, "<file>:<line>: <what>" (or "<file>: bad
 * zone origin ..."), printable. A loaded zone must have an apex SOA whose
 * serial lv_zone_serial() reports, and every RRset of every name must be
 * answered NOERROR with a response that ldns parses back, with the
 * question echoed and the RRset's records in the answer section.
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "levee/answer.h"
#include "levee/query.h"
#include "levee/response.h"
#include "levee/zone.h"
#include "zone_int.h"

#define SEED 0x5eed

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One line, printable: what an operator reads at start-up. */
static void check_error(const char *err, const char *path)
{
	size_t pl = strlen(path);
	const char *p = err + pl;

	if (strncmp(err, path, pl) != 0 || *p != ':')
		abort(); /* the file is not named first */
	for (const char *c = err; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			abort(); /* not one printable line */
	if (strncmp(p, ": bad zone origin", 17) == 0)
		return;
	if (p[1] < '1' || p[1] > '9')
		abort(); /* no line number */
	while (*++p >= '0' && *p <= '9')
		;
	if (p[0] != ':' || p[1] != ' ' || p[2] == '\0')
		abort(); /* no "<line>: <what>" */
}

/* Ask for type at node n's name; the answer must parse and hold the
 * RRset's count of records (CNAME chains aside). */
static void check_answer(const struct lv_zoneset *zs, const struct lv_znode *n,
			 const struct lv_zrrset *set)
{
	static uint8_t dns[UINT16_MAX];
	struct lv_answer_result res;
	struct lv_query q;
	unsigned len = LV_DNS_HDR_LEN;
	ldns_pkt *pkt = NULL;
	bool tc;

	memset(dns, 0, LV_DNS_HDR_LEN);
	lv_wire_put16(dns, 0xab);
	dns[5] = 1; /* QDCOUNT */
	memcpy(dns + len, n->name, n->name_len);
	len += n->name_len;
	lv_wire_put16(dns + len, set->type);
	lv_wire_put16(dns + len + 2, LV_CLASS_IN);
	len += 4;
	if (lv_query_parse(dns, (uint16_t)len, SEED, &q) != LV_PARSE_OK)
		return; /* a meta type (e.g. ANY): not a plain query */
	q.tcp = 1;
	if (lv_answer_build(zs, &q, 0, SEED, &res) != 0)
		return; /* -EMSGSIZE: a 64 KiB RRset is SERVFAIL, not a bug */
	if (res.entry == NULL || res.rcode != LV_RCODE_NOERROR)
		abort(); /* an RRset the zone holds is not answered */
	uint16_t out = lv_response_from_entry(dns, sizeof(dns), &q, res.entry,
					      UINT16_MAX, &tc);
	lv_cache_entry_free(res.entry);
	if (out == 0 || tc)
		return; /* larger than a message: written as TC=1 */
	if (ldns_wire2pkt(&pkt, dns, out) != LDNS_STATUS_OK)
		abort(); /* an answer a client cannot parse */
	if (ldns_pkt_id(pkt) != 0xab || ldns_pkt_qdcount(pkt) != 1 ||
	    (set->type != LV_TYPE_CNAME && ldns_pkt_ancount(pkt) < set->count))
		abort();
	ldns_pkt_free(pkt);
}

static void check_zone(struct lv_zone *z)
{
	struct lv_zoneset *zs = lv_zoneset_new();

	if (z->soa == NULL || z->apex == NULL || lv_zone_records(z) == 0 ||
	    lv_zone_serial(z) != z->serial)
		abort(); /* loaded without an apex SOA */
	if (zs == NULL || lv_zoneset_add(zs, z) != 0)
		abort();
	for (size_t i = 0; i < z->node_count; i++)
		for (unsigned j = 0; j < z->nodes[i].rrset_count; j++)
			check_answer(zs, &z->nodes[i], &z->nodes[i].rrsets[j]);
	lv_zoneset_free(zs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char origin[300], path[64], err[1024];
	struct lv_zone *z = NULL;
	size_t olen, rest;
	int fd, rc;

	if (nl == NULL || (olen = (size_t)(nl - data)) >= sizeof(origin) ||
	    memchr(data, '\0', olen) != NULL)
		return 0;
	memcpy(origin, data, olen);
	origin[olen] = '\0';
	rest = size - olen - 1;
	fd = memfd_create("fuzz_zone", MFD_CLOEXEC);
	if (fd < 0 || write(fd, nl + 1, rest) != (ssize_t)rest)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err[0] = '\0';
	rc = lv_zone_load(origin, path, &z, err, sizeof(err));
	if (rc == 0) {
		if (z == NULL)
			abort();
		check_zone(z);
	} else {
		if (z != NULL || rc == -ENOMEM)
			abort();
		check_error(err, path);
	}
	close(fd);
	return 0;
}
