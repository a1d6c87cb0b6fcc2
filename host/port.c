/*
 * Interface specs, EAL start-up and port set-up; see include/levee/port.h.
 * One port: the pcap replay device, an AF_PACKET or AF_XDP socket on a
 * kernel interface, a PCI NIC, or any vdev given as raw devargs. Each
 * worker owns one RX/TX queue pair; RSS spreads flows where the port has it.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "levee/log.h"
#include "levee/port.h"

#define MAX_EAL_ARGS 64

static int plan_pcap(const char *spec, struct lv_port_plan *plan, char *err,
		     size_t errlen)
{
	const char *comma = strchr(spec, ',');

	if (comma == NULL || comma == spec || comma[1] == '\0') {
		snprintf(err, errlen,
			 "--iface pcap:%s: expected pcap:IN.pcap,OUT.pcap",
			 spec);
		return -1;
	}
	if (strchr(comma + 1, ',') != NULL) {
		snprintf(err, errlen,
			 "--iface pcap:%s: capture paths may not contain ','",
			 spec);
		return -1;
	}
	plan->kind = LV_PORT_PCAP;
	snprintf(plan->rx_path, sizeof(plan->rx_path), "%.*s",
		 (int)(comma - spec), spec);
	snprintf(plan->tx_path, sizeof(plan->tx_path), "%s", comma + 1);
	snprintf(plan->dev_name, sizeof(plan->dev_name), "net_pcap0");
	snprintf(plan->devargs, sizeof(plan->devargs),
		 "net_pcap0,rx_pcap=%s,tx_pcap=%s", plan->rx_path,
		 plan->tx_path);
	return 0;
}

/* RX queues of a kernel interface (its rx-N entries in sysfs), or -1 when
 * there is no such interface. */
static int kernel_rx_queues(const char *ifname)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	dir = opendir(path);
	if (dir == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL)
		if (strncmp(d->d_name, "rx-", 3) == 0)
			n++;
	closedir(dir);
	return n;
}

static int plan_kernel_iface(enum lv_port_kind kind, const char *ifname,
			     unsigned n_queues, struct lv_port_plan *plan,
			     char *err, size_t errlen)
{
	if (ifname[0] == '\0' || strlen(ifname) >= sizeof(plan->ifname) ||
	    strchr(ifname, ',') != NULL) {
		snprintf(err, errlen, "--iface: bad interface name \"%s\"",
			 ifname);
		return -1;
	}
	if (kernel_rx_queues(ifname) < 0) {
		snprintf(err, errlen, "--iface %s:%s: no such interface",
			 kind == LV_PORT_AF_PACKET ? "af_packet" : "af_xdp",
			 ifname);
		return -1;
	}
	/* AF_XDP binds one socket to each NIC queue: the workers it cannot
	 * feed are reported now, never put on a shared queue */
	if (kind == LV_PORT_AF_XDP &&
	    (unsigned)kernel_rx_queues(ifname) < n_queues) {
		snprintf(err, errlen,
			 "--iface af_xdp:%s: the interface has %d RX "
			 "queue(s), --workers %u needs %u; use --workers %d",
			 ifname, kernel_rx_queues(ifname), n_queues, n_queues,
			 kernel_rx_queues(ifname));
		return -1;
	}
	plan->kind = kind;
	snprintf(plan->ifname, sizeof(plan->ifname), "%s", ifname);
	if (kind == LV_PORT_AF_PACKET) {
		/* the kernel fans flows out over the qpairs (PACKET_FANOUT) */
		snprintf(plan->dev_name, sizeof(plan->dev_name),
			 "net_af_packet0");
		snprintf(plan->devargs, sizeof(plan->devargs),
			 "net_af_packet0,iface=%s,qpairs=%u", ifname, n_queues);
	} else {
		/* one AF_XDP socket per NIC queue, from queue 0 on */
		snprintf(plan->dev_name, sizeof(plan->dev_name), "net_af_xdp0");
		snprintf(plan->devargs, sizeof(plan->devargs),
			 "net_af_xdp0,iface=%s,start_queue=0,queue_count=%u",
			 ifname, n_queues);
	}
	return 0;
}

/* PCI address forms EAL takes: DDDD:BB:DD.F or BB:DD.F. */
static bool is_pci(const char *s)
{
	unsigned d, b, dev, f;
	char tail;

	return sscanf(s, "%x:%x:%x.%x%c", &d, &b, &dev, &f, &tail) == 4 ||
	       sscanf(s, "%x:%x.%x%c", &b, &dev, &f, &tail) == 3;
}

int lv_port_plan(const char *iface, unsigned n_queues,
		 struct lv_port_plan *plan, char *err, size_t errlen)
{
	memset(plan, 0, sizeof(*plan));
	if (iface == NULL) {
		plan->kind = LV_PORT_NONE; /* --listen alone */
		return 0;
	}
	if (strncmp(iface, "pcap:", 5) == 0)
		return plan_pcap(iface + 5, plan, err, errlen);
	if (strncmp(iface, "af_packet:", 10) == 0)
		return plan_kernel_iface(LV_PORT_AF_PACKET, iface + 10,
					 n_queues, plan, err, errlen);
	if (strncmp(iface, "af_xdp:", 7) == 0)
		return plan_kernel_iface(LV_PORT_AF_XDP, iface + 7, n_queues,
					 plan, err, errlen);
	if (strncmp(iface, "net_", 4) == 0) {
		plan->kind = LV_PORT_DEVARGS;
		snprintf(plan->devargs, sizeof(plan->devargs), "%s", iface);
		snprintf(plan->dev_name, sizeof(plan->dev_name), "%.*s",
			 (int)strcspn(iface, ","), iface);
		return 0;
	}
	if (is_pci(iface)) {
		plan->kind = LV_PORT_PCI;
		snprintf(plan->devargs, sizeof(plan->devargs), "%s", iface);
		snprintf(plan->dev_name, sizeof(plan->dev_name), "%s", iface);
		return 0;
	}
	snprintf(err, errlen,
		 "--iface %s: expected pcap:IN,OUT, af_packet:IFNAME, "
		 "af_xdp:IFNAME, a PCI address or net_... devargs",
		 iface);
	return -1;
}

/* Hugepages usable now: hugetlbfs mounted and enough 2 MiB pages free. */
bool lv_hugepages_available(uint64_t need_mb)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long free_pages = 0, page_kb = 0;
	bool mounted = false;

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Free: %llu", &free_pages);
		sscanf(line, "Hugepagesize: %llu kB", &page_kb);
	}
	fclose(f);
	f = fopen("/proc/mounts", "r");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " hugetlbfs "))
			mounted = true;
	fclose(f);
	return mounted && free_pages * page_kb / 1024 >= need_mb;
}

/* Memory EAL must provide: mbufs, rings and the cache table. The cache's
 * entries themselves live in ordinary memory. */
static uint64_t eal_memory_mb(const struct lv_config *cfg)
{
	uint64_t table_mb = cfg->cache_memory / (4u << 20);

	return 256 + table_mb + (uint64_t)cfg->workers * 64;
}

static bool user_gave(const struct lv_config *cfg, const char *flag)
{
	size_t n = strlen(flag);

	for (int i = 0; i < cfg->eal_argc; i++)
		if (strncmp(cfg->eal_argv[i], flag, n) == 0)
			return true;
	return false;
}

/*
 * lcore 0 is the control plane, 1..workers the workers, each on its own CPU
 * while there are CPUs left; beyond that they share CPUs round-robin (with
 * a warning: shared CPUs want the workers' idle sleep).
 */
static char *lcore_map(unsigned workers)
{
	static char map[2048];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t off = 0;

	if (ncpu < 1)
		ncpu = 1;
	if (workers + 1 > (unsigned long)ncpu)
		lv_warn("%u workers and the control plane share %ld CPUs",
			workers, ncpu);
	for (unsigned i = 0; i <= workers && off < sizeof(map); i++)
		off +=
		    (size_t)snprintf(map + off, sizeof(map) - off, "%s%u@%lu",
				     i ? "," : "", i, i % (unsigned long)ncpu);
	return map;
}

int lv_eal_start(const char *argv0, const struct lv_config *cfg,
		 const struct lv_port_plan *plan, char *err, size_t errlen)
{
	static char mem[32] = "given", prefix[64],
		    vdev[sizeof(plan->devargs) + 8];
	char *argv[MAX_EAL_ARGS];
	int argc = 0;
	uint64_t need_mb = eal_memory_mb(cfg);
	/* decided before EAL starts; an explicit --no-huge after "--" wins */
	bool huge =
	    !user_gave(cfg, "--no-huge") &&
	    (cfg->hugepages == LV_HUGE_ON || (cfg->hugepages == LV_HUGE_AUTO &&
					      lv_hugepages_available(need_mb)));

	if (cfg->eal_argc + 12 > MAX_EAL_ARGS) {
		snprintf(err, errlen, "too many EAL arguments (at most %d)",
			 MAX_EAL_ARGS - 12);
		return -1;
	}
	argv[argc++] = (char *)argv0;
	if (!user_gave(cfg, "-l") && !user_gave(cfg, "--lcores")) {
		argv[argc++] = "--lcores";
		argv[argc++] = lcore_map(cfg->workers);
	}
	if (huge && cfg->in_memory && !user_gave(cfg, "--in-memory"))
		argv[argc++] = "--in-memory";
	/* EAL refuses --in-memory beside --no-huge; no shared config and a
	 * per-process prefix give the same isolation */
	if (!huge && cfg->in_memory && !user_gave(cfg, "--no-shconf"))
		argv[argc++] = "--no-shconf";
	if (!huge && cfg->in_memory && !user_gave(cfg, "--file-prefix")) {
		snprintf(prefix, sizeof(prefix), "--file-prefix=levee-%d",
			 (int)getpid());
		argv[argc++] = prefix;
	}
	if (!huge && !user_gave(cfg, "--no-huge"))
		argv[argc++] = "--no-huge";
	if (!huge && !user_gave(cfg, "-m")) {
		snprintf(mem, sizeof(mem), "%llu", (unsigned long long)need_mb);
		argv[argc++] = "-m";
		argv[argc++] = mem;
	}
	/* levee prints its own counters; telemetry's socket would also
	 * outlive the run in EAL's runtime directory */
	if (!user_gave(cfg, "--telemetry") && !user_gave(cfg, "--no-telemetry"))
		argv[argc++] = "--no-telemetry";
	if (plan->kind == LV_PORT_PCI) {
		/* only this NIC: EAL probes no other PCI device */
		snprintf(vdev, sizeof(vdev), "--allow=%s", plan->devargs);
	} else {
		if (!user_gave(cfg, "--no-pci") && !user_gave(cfg, "-a"))
			argv[argc++] = "--no-pci";
		snprintf(vdev, sizeof(vdev), "--vdev=%s", plan->devargs);
	}
	if (plan->kind != LV_PORT_NONE)
		argv[argc++] = vdev;
	for (int i = 0; i < cfg->eal_argc; i++)
		argv[argc++] = cfg->eal_argv[i];
	argv[argc] = NULL;
	lv_info("EAL: %s, %s MB", huge ? "hugepages" : "no hugepages",
		huge ? "dynamic" : mem);
	if (rte_eal_init(argc, argv) < 0) {
		snprintf(err, errlen, "EAL start-up failed: %s",
			 rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

/* Several queues: spread flows by addresses and ports where the port can
 * hash them. The vdevs here have no RSS: then none is configured (AF_PACKET
 * fans out in the kernel instead). */
static void pick_rss(const struct rte_eth_dev_info *info, uint16_t n_queues,
		     struct rte_eth_conf *conf)
{
	uint64_t hf = info->flow_type_rss_offloads &
		      (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP);

	if (n_queues < 2 || hf == 0)
		return;
	conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
	conf->rx_adv_conf.rss_conf.rss_key = NULL; /* the driver's key */
	conf->rx_adv_conf.rss_conf.rss_hf = hf;
}

static void pick_offloads(const struct rte_eth_dev_info *info,
			  struct rte_eth_conf *conf, struct lv_port *port)
{
	uint64_t tx = info->tx_offload_capa;

	/* checksums offloaded when the port offers them, computed in
	 * software otherwise (lv_pkt_finish_reply) */
	port->tx_offload.ipv4_cksum = !!(tx & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM);
	port->tx_offload.udp_cksum = !!(tx & RTE_ETH_TX_OFFLOAD_UDP_CKSUM);
	conf->txmode.offloads =
	    tx & (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM);
	/* RX checksum validation lets the driver flag bad frames */
	conf->rxmode.offloads =
	    info->rx_offload_capa &
	    (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
}

static int setup_queues(struct lv_port *port, struct rte_mempool *pool,
			char *err, size_t errlen)
{
	uint16_t nrx = LV_PORT_RX_DESC, ntx = LV_PORT_TX_DESC;
	int sock = rte_eth_dev_socket_id(port->port_id);
	int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port->port_id, &nrx, &ntx);

	for (uint16_t q = 0; rc == 0 && q < port->n_queues; q++) {
		rc = rte_eth_rx_queue_setup(port->port_id, q, nrx, sock, NULL,
					    pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(port->port_id, q, ntx, sock,
						    NULL);
	}
	if (rc != 0)
		snprintf(err, errlen, "port %u: queue set-up failed: %s",
			 port->port_id, rte_strerror(-rc));
	return rc == 0 ? 0 : -1;
}

int lv_port_open(const struct lv_port_plan *plan, uint16_t n_queues,
		 struct rte_mempool *pool, struct lv_port *port, char *err,
		 size_t errlen)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	int rc;

	memset(port, 0, sizeof(*port));
	if (rte_eth_dev_get_port_by_name(plan->dev_name, &port->port_id) != 0) {
		snprintf(err, errlen,
			 "%s: device did not probe (%u usable ports); see the "
			 "EAL messages above",
			 plan->devargs, rte_eth_dev_count_avail());
		return -1;
	}
	rc = rte_eth_dev_info_get(port->port_id, &info);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", plan->dev_name,
			 rte_strerror(-rc));
		return -1;
	}
	if (n_queues > info.max_rx_queues || n_queues > info.max_tx_queues) {
		snprintf(err, errlen,
			 "%s: %u queue pairs wanted, the device has %u RX and "
			 "%u TX queues; use --workers %u",
			 plan->dev_name, n_queues, info.max_rx_queues,
			 info.max_tx_queues,
			 RTE_MIN(info.max_rx_queues, info.max_tx_queues));
		return -1;
	}
	memset(&conf, 0, sizeof(conf));
	pick_offloads(&info, &conf, port);
	pick_rss(&info, n_queues, &conf);
	port->n_queues = n_queues;
	rc = rte_eth_dev_configure(port->port_id, n_queues, n_queues, &conf);
	if (rc != 0) {
		snprintf(err, errlen, "%s: configure failed: %s",
			 plan->dev_name, rte_strerror(-rc));
		return -1;
	}
	if (setup_queues(port, pool, err, errlen) != 0)
		return -1;
	rc = rte_eth_dev_start(port->port_id);
	if (rc != 0) {
		snprintf(err, errlen, "%s: start failed: %s", plan->dev_name,
			 rte_strerror(-rc));
		return -1;
	}
	port->started = true;
	return 0;
}

/* The kernel interface's MTU (/sys/class/net/IF/mtu), or 0 if unknown. */
static unsigned kernel_mtu(const char *ifname)
{
	char path[128];
	unsigned mtu = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", ifname);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%u", &mtu) != 1)
		mtu = 0;
	fclose(f);
	return mtu;
}

int lv_port_check_payload(const struct lv_port_plan *plan,
			  const struct lv_port *port, unsigned udp_max,
			  bool ipv6, char *err, size_t errlen)
{
	/* the IP and UDP headers an answer adds to its payload */
	unsigned headers = (ipv6 ? 40 : 20) + 8;
	uint16_t dpdk_mtu = 0;
	unsigned mtu, kmtu;

	/* a capture file has no link, so no MTU */
	if (plan->kind == LV_PORT_PCAP)
		return 0;
	if (rte_eth_dev_get_mtu(port->port_id, &dpdk_mtu) != 0)
		dpdk_mtu = RTE_ETHER_MTU;
	mtu = dpdk_mtu;
	/* AF_PACKET and AF_XDP report DPDK's default, not the interface's:
	 * the kernel interface's own MTU binds too */
	kmtu = plan->ifname[0] ? kernel_mtu(plan->ifname) : 0;
	if (kmtu != 0 && kmtu < mtu)
		mtu = kmtu;
	if (udp_max + headers <= mtu)
		return 0;
	snprintf(err, errlen,
		 "--udp-max (udp-max-payload) %u does not fit the port's MTU "
		 "%u: at most %d over %s (MTU - %u bytes of IP and UDP "
		 "headers)",
		 udp_max, mtu, (int)mtu - (int)headers, ipv6 ? "IPv6" : "IPv4",
		 headers);
	return -1;
}

void lv_port_close(struct lv_port *port)
{
	if (port->started) {
		rte_eth_dev_stop(port->port_id);
		rte_eth_dev_close(port->port_id);
		port->started = false;
	}
}
