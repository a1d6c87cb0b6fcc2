/*
 * Checks on a replay capture before DPDK's pcap PMD reads it.
 *
 * Control plane, start-up only. The PMD would replay a capture of any link
 * type as if it were Ethernet and cannot tell its caller when the file is
 * exhausted (rx_burst just returns 0). lv_pcap_inspect() refuses captures
 * that are not Ethernet and counts the frames, so that the end of the
 * input is known exactly: replay is done when the workers have received
 * that many frames.
 */
#ifndef LEVEE_PCAP_SOURCE_H
#define LEVEE_PCAP_SOURCE_H

#include <stddef.h>
#include <stdint.h>

struct lv_pcap_info {
	uint64_t frames;     /* records in the file */
	uint64_t cut_short;  /* records whose captured length < wire length */
	uint32_t max_caplen; /* longest record captured */
};

/* Open path (pcap or pcapng), check it is Ethernet, count its frames.
 * 0, or -1 with a one-line reason in err. */
int lv_pcap_inspect(const char *path, struct lv_pcap_info *info, char *err,
		    size_t errlen);

#endif
