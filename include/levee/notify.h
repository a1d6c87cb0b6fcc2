/*
 * NOTIFY (RFC 1996): telling secondaries that a zone changed.
 *
 * Control plane only, on the event loop's thread. After a reload publishes
 * a new version of a zone, lv_notify_zone() queues a NOTIFY to each of the
 * zone's targets (zones[].notify, else transfer.notify), signed with the
 * target's TSIG key when it has one. They leave from one UDP socket per
 * address family, bound to the first service address of that family (the
 * address secondaries know their primary by; on a live port the kernel
 * routes them through the exception path's TAP). A NOTIFY is sent again
 * after 1, 2, 4 and 8 s until the secondary answers (same ID, QR=1, opcode
 * NOTIFY, from the target): five tries, then it is given up and counted.
 * A newer version of the zone replaces a notification still pending.
 */
#ifndef LEVEE_NOTIFY_H
#define LEVEE_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct lv_control;
struct lv_zone;

/* Set up, and open a socket per address family the configured targets
 * use (registered with the event loop, with one retry timer). 0, or -1
 * with a one-line error naming the address. */
int lv_notify_open(struct lv_control *ctl);

/* Queue a NOTIFY of zone's current version to each of its targets. */
void lv_notify_zone(struct lv_control *ctl, const struct lv_zone *zone);

/* Close the sockets and forget what is pending. Safe twice. */
void lv_notify_close(struct lv_control *ctl);

#endif
