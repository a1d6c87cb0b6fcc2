#!/usr/bin/python3
"""A stand-in for levee's pcap replay mode, backed by knotd: for testing
the system-test harness itself (LEVEE=tests/system/tools/knot_as_levee.py).

It takes levee's command line (--iface pcap:IN,OUT --zone O=F --address
--udp-max, EAL args after --), starts a throwaway knotd with the zones,
sends every UDP/53 payload of IN to it, writes knotd's answers as frames
with MACs, IPs and ports swapped to OUT, and prints a stats block that
imitates levee's (cache counters emulated by key). It is not levee: it
answers as knotd does, so the entries of differences.md show up as
failures against it.
"""
import ipaddress
import os
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lvtest import frames, knot, pcap  # noqa: E402


def main(argv):
    zones, addrs, iface, udp_max = {}, [], None, 1232
    args = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    it = iter(args)
    for a in it:
        if a == "--iface":
            iface = next(it)
        elif a == "--zone":
            o, f = next(it).split("=", 1)
            zones[o] = f
        elif a == "--address":
            addrs.append(ipaddress.ip_network(next(it), strict=False))
        elif a == "--udp-max":
            udp_max = int(next(it))
    if not iface or not iface.startswith("pcap:"):
        print("knot_as_levee: --iface pcap:IN,OUT needed", file=sys.stderr)
        return 2
    inp, outp = iface[5:].split(",")
    linktype, recs = pcap.read(inp)
    if linktype != pcap.LINKTYPE_ETHERNET:
        print(f"{inp}: link type {linktype}, expected Ethernet (EN10MB)", file=sys.stderr)
        return 1
    st = {"rx": 0, "tx": 0, "queries": 0, "cache_hits": 0, "cache_misses": 0}
    todo, meta = [], {}
    for n, rec in enumerate(recs):
        st["rx"] += 1
        try:
            f = frames.parse(rec.data)
        except frames.ParseError:
            continue
        if rec.truncated or f.frag or f.dport != 53 or len(f.payload) < 12:
            continue
        if addrs and not any(ipaddress.ip_address(f.dst_ip) in a for a in addrs):
            continue
        if f.payload[2] & 0x80:
            continue
        todo.append((n, f.payload))
        meta[n] = f
    with tempfile.TemporaryDirectory() as d, knot.Knot(d, zones, udp_max) as k:
        answers = knot.query_many(todo, "127.0.0.1", k.port, timeout=0.3, retries=2, strict=False) if todo else {}
    seen = set()
    out = []
    for n, wire in todo:
        st["queries"] += 1
        key = (wire[2:3], wire[12:].lower())
        st["cache_hits" if key in seen else "cache_misses"] += 1
        seen.add(key)
        a = answers.get(n)
        if a is None:
            continue  # knotd dropped it (levee answers FORMERR)
        f = meta[n]
        rc = a[3] & 15
        name = {0: "noerror", 1: "formerr", 3: "nxdomain", 4: "notimp", 5: "refused",
                9: "notauth"}.get(rc, str(rc))
        st["rcode_" + name] = st.get("rcode_" + name, 0) + 1
        if a[2] & 0x02:
            st["truncated"] = st.get("truncated", 0) + 1
        out.append(frames.udp_frame(a, src=f.dst_ip, dst=f.src_ip, sport=f.dport,
                                    dport=f.sport, src_mac=f.dst_mac, dst_mac=f.src_mac))
    pcap.write(outp, out)
    st["tx"] = len(out)
    print("stats:")
    for k_, v in st.items():
        if v:
            print(k_, v)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
