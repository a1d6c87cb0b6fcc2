/*
 * Outgoing zone transfers: AXFR (RFC 5936) and IXFR (RFC 1995).
 *
 * Control plane only, on the event loop's thread: the TCP server hands a
 * transfer request here and pulls the answer one message at a time. A
 * transfer is a cursor over one version of one zone; it holds a reference
 * to that version (and to the IXFR differences it sends), so a reload
 * during a transfer neither disturbs it nor waits for it: the client gets
 * the version it started with, whole and consistent, and the NOTIFY that
 * follows the reload brings it to the next one. Messages are written only
 * when the connection has room for them, each up to 64 KiB, so a transfer
 * of a million records is never built in memory. Who may transfer: the
 * zone's ACL (docs/transfers.md); everyone else is REFUSED.
 */
#ifndef LEVEE_XFR_H
#define LEVEE_XFR_H

#include <stdbool.h>
#include <stdint.h>

struct lv_control;
struct lv_xfr;

/* Largest transfer message, without the TCP length prefix. */
#define LV_XFR_MSG_MAX UINT16_MAX

/* Is dns[0..len) a transfer request: a query (QR=0, opcode QUERY) for
 * QTYPE AXFR or IXFR? Cheap; the rest is checked by lv_xfr_start(). */
bool lv_xfr_is_request(const uint8_t *dns, uint16_t len);

/*
 * Start answering the transfer request dns[0..len) that came over TCP
 * from peer (family AF_INET or AF_INET6, address in network order).
 * Returns the transfer, whose messages lv_xfr_next() writes; or NULL when
 * the whole answer is one message (a refusal, an error), which is then in
 * out[0..*out_len) (out has LV_XFR_MSG_MAX bytes; *out_len 0: send nothing).
 */
struct lv_xfr *lv_xfr_start(struct lv_control *ctl, const uint8_t *dns,
			    uint16_t len, int family, const uint8_t *peer,
			    uint8_t *out, uint16_t *out_len);

/* Write the next message of x into out (LV_XFR_MSG_MAX bytes); returns
 * its length and sets *last on the final message. 0: the transfer failed
 * (logged, counted) and the connection should be closed. */
uint16_t lv_xfr_next(struct lv_control *ctl, struct lv_xfr *x, uint8_t *out,
		     bool *last);

/* End a transfer, finished or not (the client went away: counted as
 * aborted unless its last message was written). NULL is fine. */
void lv_xfr_free(struct lv_control *ctl, struct lv_xfr *x);

#endif
