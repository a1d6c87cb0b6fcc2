/*
 * The exception path: what the fast path does not answer goes to the
 * kernel through a TAP device, and what the kernel sends comes back out
 * through the port.
 *
 * Control plane only. lv_exception_open() creates the TAP (DPDK's net_tap,
 * hot-plugged after the port so it can carry the port's MAC), gives it the
 * service addresses and gateways, makes the port's own kernel interface
 * ignore the traffic levee answers, and records every host change in a
 * journal that lv_exception_close() undoes. Its poller moves
 * frames both ways: each worker's to_kernel ring into the TAP, and the
 * TAP's frames into worker 0's reply ring for the port (the worker that
 * owns the queue transmits them; nobody else touches it). The TAP's queue
 * belongs to the control plane alone.
 */
#ifndef LEVEE_EXCEPTION_H
#define LEVEE_EXCEPTION_H

#include <stdbool.h>
#include <stdint.h>

struct lv_control;

/* Create and configure the TAP and the host side, and register the
 * poller that moves frames between the workers, the TAP and the port
 * each round of the event loop. 0, or -1 (logged). */
int lv_exception_open(struct lv_control *ctl);

/* Undo every host change, stop and remove the TAP. Safe after a failed or
 * partial open, and twice. */
void lv_exception_close(struct lv_control *ctl);

#endif
