"""Bad input in pcap replay mode: every frame that is not a well-formed
query is dropped with its own counter or answered with the right error;
the counters are asserted exactly. Also a capture that is not Ethernet.
"""
import collections
import os

import dns.rcode

from lvtest import compare, dnsq, frames, knot, levee, pcap, replay
from lvtest.dnsq import Edns, Query

GOOD = Query("www.levee.test.", "A")


def bad_input_capture():
    """[(frame or (frame, caplen), expected outcome, description)]."""
    out = []
    i = 0

    def port_id():
        nonlocal i
        i += 1
        return levee.client_of(i)

    for tag, rq, outcome in dnsq.malformed_queries():
        port, qid = port_id()
        src = frames.CLIENT4 if i % 2 else frames.CLIENT6
        out.append((frames.udp_frame(rq.wire(id=qid), src=src, sport=port),
                    outcome, tag, rq))
    port, qid = port_id()
    w = GOOD.wire(id=qid)
    out += [
        (frames.udp_frame(w, sport=port, dport=5353), "drop_not_port53", "mdns port", None),
        (frames.icmp_echo_frame(), "drop_not_udp", "icmp echo", None),
        (frames.arp_request_frame(), "drop_not_ip", "arp", None),
        (frames.udp_frame(w, sport=port, ip_options=b"\x01\x01\x01\x00"),
         "drop_ip_options", "ipv4 options", None),
        (frames.udp_frame(w, src=frames.CLIENT6, sport=port, ipv6_ext=True),
         "drop_ip_options", "ipv6 hop-by-hop", None),
        (frames.udp_frame(w, sport=port, flags_frag=0x2000), "drop_fragment",
         "ipv4 first fragment (MF)", None),
        (frames.udp_frame(w, sport=port, flags_frag=0x0010), "drop_fragment",
         "ipv4 later fragment (offset)", None),
        ((frames.udp_frame(w, sport=port), 60), "drop_truncated",
         "cut to 60 bytes by snap length", None),
    ]
    port, qid = port_id()
    out.append((frames.udp_frame(GOOD.wire(id=qid), sport=port), "NOERROR",
                "a good query among them", GOOD))
    return out


def test_bad_input_counters(levee_bin, workdir, zones):
    cap = bad_input_capture()
    r = levee.run(workdir, [c[0] for c in cap], zones)
    assert r.returncode == 0, r.explain()
    st = r.stats
    assert st is not None, r.explain()
    expect = collections.Counter()
    answered = [c for c in cap if not c[1].startswith("drop_")]
    for frame, outcome, _, _ in cap:
        if outcome.startswith("drop_"):
            expect[outcome] += 1
        else:
            expect["rcode_" + outcome.lower()] += 1
    expect["rx"] = len(cap)
    expect["tx"] = len(answered)
    expect["queries"] = len(answered)  # parsed: error answers included
    expect["cache_misses"] = 1         # the good query
    expect["punts"] = sum(1 for c in cap if c[2].startswith("punt-"))
    print("stats", dict(st))
    wrong = {k: (st[k], v) for k, v in expect.items() if st[k] != v}
    extra = {k: v for k, v in st.items() if v and k not in expect
             and (k.startswith("drop_") or k.startswith("rcode_"))}
    assert not wrong and not extra, f"(got, want) {wrong}; unexpected {extra}\n" + r.explain()

    # Each answer: envelope, rcode, and the error-answer shape.
    sent = [c[0] if isinstance(c[0], bytes) else c[0][0] for c in answered]
    pairs, unmatched, dupes = levee.match(r, sent)
    assert not unmatched and not dupes, (unmatched, dupes)
    problems = []
    for i, (_, outcome, tag, rq) in enumerate(answered):
        f = pairs.get(i)
        if f is None:
            problems.append(f"{tag}: no answer")
            continue
        bad = levee.check_envelope(sent[i], f)
        n = compare.normalize(f.payload)
        if dns.rcode.to_text(n.rcode) != outcome:
            bad.append(f"rcode {dns.rcode.to_text(n.rcode)}, want {outcome}")
        if outcome != "NOERROR":
            if "aa" in n.flags or n.counts[1] or n.counts[2]:
                bad.append(f"error answer with AA or records: {n.describe()}")
            if outcome == "BADVERS":
                # RFC 6891 §6.1.3: extended rcode 16 lives in the OPT
                if n.opt is None or n.opt["version"] != 0 or n.counts[3]:
                    bad.append(f"BADVERS without a version-0 OPT: {n.describe()}")
                if n.counts[0] != 1:
                    bad.append("BADVERS without the question")
            elif n.opt is not None or n.counts[3]:
                bad.append(f"OPT or additional in answer to a query without: {n.describe()}")
        if bad:
            problems.append(f"{tag}: " + "; ".join(bad))
    assert not problems, "\n".join(problems)


def test_bad_input_vs_knot(levee_bin, knotd, workdir, zones, differences):
    """Errors levee answers and knotd answers differently, or not at all,
    must be listed in differences.md."""
    cases = dnsq.malformed_queries()
    sent = []
    for i, (_, rq, _) in enumerate(cases):
        port, qid = levee.client_of(i)
        sent.append(frames.udp_frame(rq.wire(id=qid), sport=port))
    r = levee.run(workdir, sent, zones)
    assert r.returncode == 0, r.explain()
    pairs, _, _ = levee.match(r, sent)
    problems = []
    for i, (tag, rq, _) in enumerate(cases):
        kw = knot.udp_query(rq.wire(id=levee.client_of(i)[1]), "127.0.0.1",
                            knotd.port, timeout=0.5)
        lw = pairs[i].payload if i in pairs else None
        m = compare.compare_presence(lw, kw, rq, differences)
        if m:
            problems.append(f"{tag}: {m}")
    print("differences.md entries used:", differences.used)
    assert not problems, "\n".join(problems)


def test_not_ethernet(levee_bin, workdir, zones):
    """A raw-IP capture (linktype 101): refuse to start, one line saying why."""
    raw = frames.udp_frame(GOOD.wire(id=1))[14:]
    path = os.path.join(workdir, "raw.pcap")
    pcap.write(path, [raw], linktype=pcap.LINKTYPE_RAW)
    r = levee.run(workdir, None, zones, in_path=path, timeout=60)
    assert r.returncode != 0, r.explain()
    lines = [l for l in (r.stderr + r.stdout).splitlines()
             if "raw.pcap" in l and "link" in l.lower()]
    assert len(lines) == 1, "want one line naming the file and its link type\n" + r.explain()
