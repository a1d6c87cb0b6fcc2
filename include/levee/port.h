/*
 * From `--iface SPEC` to a started DPDK port, and EAL start-up.
 *
 * Control plane, start-up and shutdown only. lv_port_plan() turns the
 * interface spec into the EAL device arguments (before EAL starts);
 * lv_eal_start() decides hugepages or not, adds --in-memory, the lcores
 * and the device, and starts EAL; lv_port_open() configures and starts the
 * port once EAL has probed it, checking that it exists (a vdev that fails
 * to probe is not fatal to EAL).
 */
#ifndef LEVEE_PORT_H
#define LEVEE_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mempool.h>

#include "levee/config.h"
#include "levee/packet.h"

enum lv_port_kind {
	LV_PORT_PCAP = 0, /* replay: capture in, capture out */
	LV_PORT_AF_PACKET,
	LV_PORT_AF_XDP,
	LV_PORT_PCI,     /* a NIC bound to a DPDK-capable driver */
	LV_PORT_DEVARGS, /* raw vdev devargs, "net_..." */
	LV_PORT_NONE     /* no bypass port: host sockets only (--listen) */
};

struct lv_port_plan {
	enum lv_port_kind kind;
	char dev_name[64];  /* DPDK device name, e.g. "net_pcap0" */
	char devargs[4200]; /* --vdev argument, or the PCI address for -a */
	char ifname[64];    /* af_packet/af_xdp: the kernel interface */
	char rx_path[2048]; /* pcap: the capture replayed */
	char tx_path[2048]; /* pcap: where answers go */
};

struct lv_port {
	uint16_t port_id;
	uint16_t n_queues;
	struct lv_tx_offload tx_offload;
	bool started;
};

/* Parse the interface spec for a port with n_queues queue pairs. 0, or -1
 * with a one-line reason in err. */
int lv_port_plan(const char *iface, unsigned n_queues,
		 struct lv_port_plan *plan, char *err, size_t errlen);

/* Hugepages usable now: a hugetlbfs is mounted and at least need_mb of
 * free hugepages. Start-up only (reads /proc). */
bool lv_hugepages_available(uint64_t need_mb);

/* Start EAL for cfg and plan (argv0 names the program). 0, or -1 + err. */
int lv_eal_start(const char *argv0, const struct lv_config *cfg,
		 const struct lv_port_plan *plan, char *err, size_t errlen);

/* Find, configure and start the planned port with n_queues RX/TX queue
 * pairs whose RX side draws from pool. 0, or -1 + err. */
int lv_port_open(const struct lv_port_plan *plan, uint16_t n_queues,
		 struct rte_mempool *pool, struct lv_port *port, char *err,
		 size_t errlen);

/*
 * Does an answer of udp_max bytes of UDP payload fit the started port's
 * MTU, with the IPv6 (ipv6: a service address is IPv6) or else the IPv4 and
 * UDP headers? The MTU is the smaller of DPDK's and, for a port on a
 * kernel interface, the interface's; a pcap replay port has none. 0, or -1
 * with a one-line error naming the option and the MTU. Start-up only.
 */
int lv_port_check_payload(const struct lv_port_plan *plan,
			  const struct lv_port *port, unsigned udp_max,
			  bool ipv6, char *err, size_t errlen);

/* Stop and close the port (flushes a pcap writer). */
void lv_port_close(struct lv_port *port);

/* RX and TX descriptors per queue. */
#define LV_PORT_RX_DESC 1024
#define LV_PORT_TX_DESC 1024

#endif
