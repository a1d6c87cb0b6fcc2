/*
 * The exception path to the kernel; see include/levee/exception.h.
 *
 * A worker classifies what it does not answer; ARP, and IP traffic for a
 * service address or for multicast/broadcast (ND, ping, TCP, ...), leaves
 * through its to_kernel ring instead of being dropped. The control plane
 * writes those frames into the TAP, whose kernel interface holds the
 * service addresses and the port's MAC, so the kernel answers ARP, ND, ping
 * and TCP as if it owned the port. What the kernel sends on the TAP goes
 * out of the port through worker 0's reply ring.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "levee/control.h"
#include "levee/exception.h"
#include "levee/log.h"

#define TAP_DEV   "net_tap0"
#define TAP_BURST 32u
#define TAP_DESC  512

/* "lv-" + the port's interface name (cut to fit), or lvtap + the pid. */
static void tap_name(const struct lv_control *ctl, char *out, size_t len)
{
	if (ctl->plan.ifname[0])
		snprintf(out, len, "lv-%.*s", (int)len - 4, ctl->plan.ifname);
	else
		snprintf(out, len, "lvtap%d", (int)(getpid() % 100000));
}

static int tap_create(struct lv_control *ctl)
{
	struct rte_ether_addr mac;
	char args[160];
	int rc;

	rc = rte_eth_macaddr_get(ctl->port.port_id, &mac);
	if (rc != 0) {
		lv_err("port %u: no MAC address: %s", ctl->port.port_id,
		       rte_strerror(-rc));
		return -1;
	}
	tap_name(ctl, ctl->tap_name, sizeof(ctl->tap_name));
	/* the TAP carries the port's MAC: the kernel's ARP and ND answers
	 * then name the address frames to it really arrive at */
	snprintf(args, sizeof(args),
		 TAP_DEV ",iface=%s,mac=" RTE_ETHER_ADDR_PRT_FMT, ctl->tap_name,
		 RTE_ETHER_ADDR_BYTES(&mac));
	/* hot-plugged now that the port (and its MAC) exists */
	rc = rte_dev_probe(args);
	if (rc != 0) {
		lv_err("exception path: TAP %s: %s", ctl->tap_name,
		       rte_strerror(rc < 0 ? -rc : rc));
		return -1;
	}
	if (rte_eth_dev_get_port_by_name(TAP_DEV, &ctl->tap_port) != 0) {
		lv_err("exception path: TAP %s did not appear", ctl->tap_name);
		rte_eal_hotplug_remove("vdev", TAP_DEV);
		return -1;
	}
	ctl->tap_up = true; /* exists: close removes it */
	return 0;
}

static int tap_start(struct lv_control *ctl)
{
	struct rte_eth_conf conf;
	uint16_t port = ctl->tap_port;
	int rc;

	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(port, 0, TAP_DESC,
					    rte_eth_dev_socket_id(port), NULL,
					    ctl->pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port, 0, TAP_DESC,
					    rte_eth_dev_socket_id(port), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(port);
	if (rc != 0) {
		lv_err("exception path: TAP %s set-up: %s", ctl->tap_name,
		       rte_strerror(-rc));
		return -1;
	}
	return 0;
}

/* Is a already an address of this host? Binding to it (any port) works
 * only then. */
static bool address_in_use(const struct lv_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool in_use;

	sl = lv_addr_to_sockaddr(a, 0, &ss);
	in_use = fd >= 0 && bind(fd, (struct sockaddr *)&ss, sl) == 0;
	if (fd >= 0)
		close(fd);
	return in_use;
}

/* The service addresses must be levee's alone: one the host already uses
 * elsewhere would be answered twice, or not at all. */
static int check_addresses_free(const struct lv_control *ctl)
{
	char text[INET6_ADDRSTRLEN];

	for (unsigned i = 0; i < ctl->cfg->n_addrs; i++) {
		const struct lv_addr *a = &ctl->cfg->addrs[i];
		if (!address_in_use(a))
			continue;
		inet_ntop(a->family, a->addr, text, sizeof(text));
		lv_err("--address %s: already in use on this host (another "
		       "interface holds it)",
		       text);
		return -1;
	}
	return 0;
}

/* The port's own interface made deaf to what levee answers (it gives up
 * any service address it held), then the service addresses and gateways on
 * the TAP. Everything journalled in ctl->host. */
static int configure_host(struct lv_control *ctl)
{
	const struct lv_config *cfg = ctl->cfg;
	char err[512];
	int rc = 0;

	if (ctl->plan.ifname[0]) {
		rc = lv_hostnet_quiet_port(&ctl->host, ctl->plan.ifname,
					   cfg->addrs, cfg->n_addrs, err,
					   sizeof(err));
		if (rc == 0)
			lv_hostnet_check(ctl->plan.ifname);
	}
	if (rc == 0 && check_addresses_free(ctl) != 0)
		return -1;
	if (rc == 0)
		rc = lv_hostnet_set_up(&ctl->host, ctl->tap_name, err,
				       sizeof(err));
	for (unsigned i = 0; rc == 0 && i < cfg->n_addrs; i++)
		rc = lv_hostnet_add_addr(&ctl->host, ctl->tap_name,
					 &cfg->addrs[i], err, sizeof(err));
	for (unsigned i = 0; rc == 0 && i < cfg->n_gateways; i++)
		rc = lv_hostnet_add_default_route(
		    &ctl->host, ctl->tap_name, cfg->gateways[i].family,
		    cfg->gateways[i].addr, err, sizeof(err));
	if (rc != 0)
		lv_err("exception path: %s", err);
	return rc == 0 ? 0 : -1;
}

static unsigned poll_tap(struct lv_ev_poller *p);

int lv_exception_open(struct lv_control *ctl)
{
	lv_hostnet_init(&ctl->host);
	if (tap_create(ctl) != 0 || tap_start(ctl) != 0 ||
	    configure_host(ctl) != 0)
		return -1;
	/* the TAP's queue has no descriptor levee may wait on (the PMD owns
	 * it), and the workers' rings none at all: polled each round */
	lv_ev_poller_add(ctl->loop, &ctl->tap_poller, poll_tap, ctl);
	lv_info("exception path: %s carries %u address(es) for %s",
		ctl->tap_name, ctl->cfg->n_addrs, ctl->cfg->iface);
	return 0;
}

/*
 * Frames handed to the kernel carry complete checksums. A sender that
 * leaves its TCP or UDP checksum to the receiver (a veth with TX checksum
 * offload, a NIC's partial checksum) would have the frame dropped by the
 * kernel behind the TAP, so the control plane completes it here. A UDP
 * checksum of zero over IPv4 means "none" and stays so; fragments are left
 * as they are (the checksum covers the whole datagram).
 */
static void complete_v4(struct rte_mbuf *m, unsigned off)
{
	struct rte_ipv4_hdr *ip =
	    rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, off);
	unsigned ihl = rte_ipv4_hdr_len(ip);
	unsigned total = rte_be_to_cpu_16(ip->total_length);
	uint8_t *l4 = (uint8_t *)ip + ihl;

	if (total > m->data_len - off || total < ihl ||
	    (ip->fragment_offset &
	     rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)))
		return;
	if (ip->next_proto_id == IPPROTO_TCP && total >= ihl + 20) {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)l4;
		tcp->cksum = 0;
		tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
	} else if (ip->next_proto_id == IPPROTO_UDP && total >= ihl + 8) {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)l4;
		if (udp->dgram_cksum == 0)
			return;
		udp->dgram_cksum = 0;
		udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
	}
}

static void complete_v6(struct rte_mbuf *m, unsigned off)
{
	struct rte_ipv6_hdr *ip6 =
	    rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, off);
	unsigned plen = rte_be_to_cpu_16(ip6->payload_len);
	uint8_t *l4 = (uint8_t *)(ip6 + 1);

	if (plen > m->data_len - off - sizeof(*ip6))
		return;
	if (ip6->proto == IPPROTO_TCP && plen >= 20) {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)l4;
		tcp->cksum = 0;
		tcp->cksum = rte_ipv6_udptcp_cksum(ip6, tcp);
	} else if (ip6->proto == IPPROTO_UDP && plen >= 8) {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)l4;
		udp->dgram_cksum = 0;
		udp->dgram_cksum = rte_ipv6_udptcp_cksum(ip6, udp);
	}
}

static void complete_checksum(struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eth =
	    rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	unsigned off = sizeof(*eth);
	uint16_t type = rte_be_to_cpu_16(eth->ether_type);

	if (type == RTE_ETHER_TYPE_IPV4 &&
	    m->data_len >= off + sizeof(struct rte_ipv4_hdr))
		complete_v4(m, off);
	else if (type == RTE_ETHER_TYPE_IPV6 &&
		 m->data_len >= off + sizeof(struct rte_ipv6_hdr))
		complete_v6(m, off);
}

/* Workers' frames for the kernel into the TAP. */
static unsigned to_tap(struct lv_control *ctl, struct lv_worker *w)
{
	struct rte_mbuf *m[TAP_BURST];
	unsigned n =
	    rte_ring_dequeue_burst(w->to_kernel, (void **)m, TAP_BURST, NULL);
	uint16_t sent;

	for (unsigned i = 0; i < n; i++)
		complete_checksum(m[i]);
	sent = n ? rte_eth_tx_burst(ctl->tap_port, 0, m, (uint16_t)n) : 0;

	for (unsigned i = sent; i < n; i++) {
		LV_STAT_INC(ctl->stats.drop[LV_DROP_KERNEL_TX_FULL]);
		rte_pktmbuf_free(m[i]);
	}
	return n;
}

/* The kernel's frames out through the port, via worker 0, the owner of
 * the queue its reply ring feeds. */
static unsigned from_tap(struct lv_control *ctl)
{
	struct rte_mbuf *m[TAP_BURST];
	struct lv_worker *w = ctl->workers[0];
	struct rte_ring *r = w->queues[0].replies;
	unsigned room = rte_ring_free_count(r);
	uint16_t n = rte_eth_rx_burst(ctl->tap_port, 0, m,
				      (uint16_t)RTE_MIN(room, TAP_BURST));
	unsigned done;

	if (n == 0)
		return 0;
	for (uint16_t i = 0; i < n; i++)
		m[i]->port = ctl->port.port_id;
	done = rte_ring_enqueue_burst(r, (void **)m, n, NULL);
	LV_STAT_ADD(ctl->stats.from_kernel, done);
	for (unsigned i = done; i < n; i++) {
		LV_STAT_INC(ctl->stats.drop[LV_DROP_PORT_RING_FULL]);
		rte_pktmbuf_free(m[i]);
	}
	return n;
}

static unsigned poll_tap(struct lv_ev_poller *p)
{
	struct lv_control *ctl = p->data;
	unsigned moved = 0;

	if (!ctl->tap_up)
		return 0;
	for (unsigned i = 0; i < ctl->n_workers; i++)
		moved += to_tap(ctl, ctl->workers[i]);
	return moved + from_tap(ctl);
}

void lv_exception_close(struct lv_control *ctl)
{
	if (ctl->loop != NULL)
		lv_ev_poller_remove(ctl->loop, &ctl->tap_poller);
	if (lv_hostnet_restore(&ctl->host) != 0)
		lv_warn("exception path: some host changes could not be "
			"undone (see above)");
	lv_hostnet_fini(&ctl->host);
	if (ctl->tap_up) {
		rte_eth_dev_stop(ctl->tap_port);
		rte_eth_dev_close(ctl->tap_port);
		rte_eal_hotplug_remove("vdev", TAP_DEV);
		ctl->tap_up = false;
	}
}
