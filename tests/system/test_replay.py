"""levee in pcap replay mode against the static test zones.

Each answer is checked field by field: Ethernet/IP/UDP swapped, checksums,
ID, QR/AA/TC/RD/opcode, rcode, the question byte for byte, every section
against lvtest.oracle (knotd's behaviour, itself checked against knotd in
test_differential.py), and the EDNS rules. The capture holds every query
twice, in the same order, so that the second half must be all cache hits.
"""
import collections
import os

import dns.rcode
import pytest

from lvtest import compare, frames, levee, oracle, replay
from lvtest.dnsq import Edns, Query

Z = "levee.test."


def replay_queries():
    """The varied set of (a); tags say what each one exercises."""
    e1232, e1232do, e4096 = Edns(1232), Edns(1232, do=True), Edns(4096)
    q = [
        Query(Z, "SOA"), Query(Z, "SOA", edns=e1232do),
        Query(Z, "NS", edns=e1232), Query(Z, "MX", edns=e1232do),
        Query(Z, "A"), Query(Z, "TXT", edns=e4096),
        Query("www." + Z, "A"), Query("www." + Z, "AAAA", edns=e4096),
        Query("mail." + Z, "A", edns=e1232), Query("mail." + Z, "AAAA"),
        Query("ns2." + Z, "A"), Query("txt." + Z, "TXT", edns=e1232),
        Query("_sip._udp." + Z, "SRV", edns=e1232),
        Query("sip." + Z, "A", rd=False),
        Query("www." + Z, "MX", tags=("nodata",)),
        Query("www." + Z, "TXT", edns=e1232do, tags=("nodata",)),
        Query(Z, "AAAA", tags=("nodata",)),
        Query("nx." + Z, "A", tags=("nxdomain",)),
        Query("deep.nx.www." + Z, "AAAA", edns=e1232, tags=("nxdomain",)),
        Query("ent." + Z, "A", tags=("ent",)),
        Query("c.ent." + Z, "TXT", edns=e1232, tags=("ent",)),
        Query("b.c.ent." + Z, "AAAA", edns=e1232do, tags=("ent",)),
        Query("a.b.c.ent." + Z, "A"),
        Query("alias." + Z, "A", tags=("cname",)),
        Query("alias." + Z, "AAAA", edns=e1232, tags=("cname",)),
        Query("alias." + Z, "CNAME", tags=("cname",)),
        Query("chain1." + Z, "A", tags=("cname",)),
        Query("chain1." + Z, "TXT", edns=e1232do, tags=("cname",)),
        Query("chain1." + Z, "MX", tags=("cname", "nodata")),
        Query("out." + Z, "A", tags=("cname",)),
        Query("dangling." + Z, "A", tags=("cname", "nxdomain")),
        Query("WwW.LeVeE.TeSt.", "A", tags=("case",)),
        Query("ALIAS.levee.TEST.", "AAAA", edns=e1232do, tags=("case", "cname")),
        Query("nX.LEVEE.test.", "MX", edns=e1232, tags=("case", "nxdomain")),
        Query("Chain1.Levee.Test.", "A", tags=("case", "cname")),
        Query(Z, "A", cd=True, edns=e1232do, tags=("cd",)),
        Query("other.test.", "SOA", edns=e1232),
        Query("host.other.test.", "AAAA"),
        Query("to-levee.other.test.", "A", tags=("cname",)),
        Query("nx.other.test.", "A", edns=e1232do, tags=("nxdomain",)),
    ]
    for name in ("mid." + Z, "big." + Z):
        for e in (None, Edns(256), Edns(512), Edns(1232), Edns(4096),
                  Edns(4096, do=True)):
            q.append(Query(name, "TXT", edns=e, tags=("size",)))
    return q


def _expected_counts(queries, orc):
    """rcode and TC counts of the oracle's answers."""
    rc = collections.Counter()
    tc = 0
    for q in queries:
        n = compare.normalize(orc.answer(q))
        rc[dns.rcode.to_text(n.rcode).lower()] += 1
        tc += "tc" in n.flags
    return rc, tc


def _run_and_check(workdir, zones, differences, udp_max=None):
    base = replay_queries()
    queries = base + base  # second half repeats the first, order kept
    sent = replay.frames_for(queries)
    r = levee.run(workdir, sent, zones, udp_max=udp_max)
    assert r.returncode == 0, r.explain()
    assert r.stats is not None, "no stats block\n" + r.explain()
    size = udp_max or 1232
    orc = oracle.Oracle(zones, udp_max=size)
    problems, _ = replay.check_answers(
        r, queries, sent, lambda i: orc.answer(queries[i]), differences, size)
    assert not problems, "\n".join(problems) + "\n" + r.explain()
    return r, base, orc


def test_replay_answers_and_cache(levee_bin, workdir, zones, differences):
    """Every answer right, and the second pass over the queries all hits.

    Replay is deterministic: a burst's misses are answered before the next
    burst is read. Duplicate keys inside one burst of the first pass can all
    miss, so the first pass alone is run too, and the full run (both passes)
    must miss exactly as often: the second pass added no miss."""
    r, base, orc = _run_and_check(workdir, zones, differences)
    st = r.stats
    n = len(base)
    keys = {q.cache_key() for q in base}
    rc, tc = _expected_counts(base, orc)
    print(f"{2 * n} queries, {len(keys)} distinct cache keys, stats {dict(st)}")
    assert "refused" not in rc  # REFUSED is not cached: tested on its own
    assert st["rx"] == 2 * n
    assert st["tx"] == 2 * n
    assert st["queries"] == 2 * n
    first = levee.run(os.path.join(workdir, "first-pass"),
                      replay.frames_for(base), zones)
    assert first.returncode == 0, first.explain()
    print(f"first pass alone: {dict(first.stats)}")
    assert first.stats["cache_misses"] >= len(keys)
    assert st["cache_misses"] == first.stats["cache_misses"], \
        "the second pass over the same queries missed the cache"
    assert st["cache_hits"] == 2 * n - st["cache_misses"]
    assert st["cache_entries"] == len(keys)
    assert st["truncated"] == 2 * tc
    for name, count in rc.items():
        assert st[f"rcode_{name}"] == 2 * count, name
    assert st["punts"] == 0
    assert not [k for k in st if k.startswith("drop_")], st


def test_replay_udp_max_4096(levee_bin, workdir, zones, differences):
    """--udp-max 4096: the big RRset fits a 4096 buffer, not a 1232 one,
    and every OPT says 4096."""
    r, base, orc = _run_and_check(workdir, zones, differences, udp_max=4096)
    assert r.stats["rx"] == 2 * len(base)


def test_oracle_spot_checks(zones):
    """The oracle's answers for a few cases, written out by hand."""
    orc = oracle.Oracle(zones)

    def ans(name, t, edns=None):
        return compare.normalize(orc.answer(Query(name, t, edns=edns)))

    n = ans("chain1." + Z, "A")
    assert n.rcode == 0 and "aa" in n.flags
    assert sorted((k[0], k[3]) for k in n.answer) == [
        ("chain1.levee.test.", 3600), ("chain2.levee.test.", 120),
        ("chain3.levee.test.", 3600)]
    n = ans("dangling." + Z, "A")
    assert n.rcode == dns.rcode.NXDOMAIN and len(n.answer) == 1
    assert [(k[0], k[1], k[3]) for k in n.authority] == [("levee.test.", 6, 300)]
    n = ans("c.ent." + Z, "A")
    assert n.rcode == 0 and not n.answer and len(n.authority) == 1
    for e, tc in ((None, True), (Edns(256), True), (Edns(512), True),
                  (Edns(1232), False)):
        assert ("tc" in ans("mid." + Z, "TXT", e).flags) == tc, e
    assert "tc" in ans("big." + Z, "TXT", Edns(4096)).flags
    n = ans("example.com.", "A")
    assert n.rcode == dns.rcode.REFUSED and "aa" not in n.flags
    n = ans(Z, "MX")
    assert {k[0] for k in n.additional} == {"mail.levee.test."}


def test_refused_not_cached(levee_bin, workdir, zones, differences):
    """Names in no zone get REFUSED, every time from the control plane."""
    queries = [Query("example.com.", "A"), Query("example.com.", "A"),
               Query("levee.test.example.", "A", edns=Edns(1232)),
               Query("EXAMPLE.com.", "A"), Query("test.", "SOA")]
    sent = replay.frames_for(queries)
    r = levee.run(workdir, sent, zones)
    assert r.returncode == 0, r.explain()
    orc = oracle.Oracle(zones)
    problems, _ = replay.check_answers(
        r, queries, sent, lambda i: orc.answer(queries[i]), differences, 1232)
    assert not problems, "\n".join(problems)
    st = r.stats
    assert st["rcode_refused"] == len(queries)
    assert st["cache_hits"] == 0
    assert st["cache_misses"] == len(queries)
    assert st["tx"] == len(queries)


def test_address_filter(levee_bin, workdir, zones, differences):
    """--address: queries to other destinations are dropped and counted.
    A prefix is the interface's (docs/configuration.md): only the address
    itself is served, not its whole network."""
    q = Query("www." + Z, "A")
    to = [("192.0.2.53", True), ("192.0.2.54", False),
          ("2001:db8::53", True), ("2001:db8::54", False)]
    sent = []
    for i, (dst, _) in enumerate(to):
        port, qid = levee.client_of(i)
        src = frames.CLIENT4 if "." in dst else frames.CLIENT6
        sent.append(frames.udp_frame(q.wire(id=qid), src=src, dst=dst, sport=port))
    r = levee.run(workdir, sent, zones,
                  addresses=["192.0.2.53", "2001:db8::53/64"])
    assert r.returncode == 0, r.explain()
    pairs, unmatched, dupes = levee.match(r, sent)
    assert sorted(pairs) == [i for i, (_, ok) in enumerate(to) if ok]
    assert not unmatched and not dupes
    for i, f in pairs.items():
        assert not levee.check_envelope(sent[i], f)
    assert r.stats["drop_not_our_address"] == 2
    assert r.stats["tx"] == 2


def test_demo_capture(levee_bin, workdir):
    """The README demo: tests/data's query list, made into a capture by its
    script, is answered in full and as the oracle says."""
    import os
    import subprocess
    import sys

    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
    cap = os.path.join(workdir, "demo.pcap")
    subprocess.run([sys.executable, os.path.join(data, "make-demo-capture.py"),
                    os.path.join(data, "demo-queries.txt"), cap], check=True,
                   timeout=60)
    zones = {"demo.example.": os.path.join(data, "demo.zone")}
    r = levee.run(workdir, None, zones, in_path=cap)
    assert r.returncode == 0, r.explain()
    from lvtest import pcap as pcap_
    _, recs = pcap_.read(cap)
    assert r.stats["tx"] == len(recs) == len(r.out_frames), r.explain()
