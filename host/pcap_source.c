/*
 * Inspecting a replay capture with libpcap before the PMD replays it; see
 * include/levee/pcap_source.h. Start-up only.
 */
#include <pcap/pcap.h>
#include <stdio.h>

#include "levee/pcap_source.h"

int lv_pcap_inspect(const char *path, struct lv_pcap_info *info, char *err,
		    size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *hdr;
	const u_char *data;
	pcap_t *p = pcap_open_offline(path, perr);
	int rc;

	if (p == NULL) {
		snprintf(err, errlen, "%s: cannot read capture: %s", path,
			 perr);
		return -1;
	}
	if (pcap_datalink(p) != DLT_EN10MB) {
		snprintf(err, errlen,
			 "%s: link type %s, expected Ethernet (EN10MB)", path,
			 pcap_datalink_val_to_name(pcap_datalink(p))
			     ?: "unknown");
		pcap_close(p);
		return -1;
	}
	*info = (struct lv_pcap_info){0};
	while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
		info->frames++;
		if (hdr->caplen < hdr->len)
			info->cut_short++;
		if (hdr->caplen > info->max_caplen)
			info->max_caplen = hdr->caplen;
	}
	if (rc == PCAP_ERROR) {
		snprintf(err, errlen, "%s: after %llu frames: %s", path,
			 (unsigned long long)info->frames, pcap_geterr(p));
		pcap_close(p);
		return -1;
	}
	pcap_close(p);
	return 0;
}
