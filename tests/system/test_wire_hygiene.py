"""Wire hygiene (issue 9, item 6), each case sent as a packet and checked
for its exact result and counter:

- queries from sources the kernel would never answer are dropped, each
  under its counter (`drop_bad_source`, `drop_source_port_0`,
  `drop_udp6_zero_checksum`), while the same frames not addressed to a
  DNS service keep their usual verdict;
- VLAN-tagged queries (802.1Q, 802.1ad, QinQ) are answered with their tags
  kept: the reply with its tags taken out is byte for byte the reply to
  the same query untagged, on the miss and the hit path; tagged frames
  that are not IP are `drop_vlan_not_ip`, never `drop_not_ip`;
- NOTIMP, FORMERR, REFUSED and NOTAUTH (TSIG) answers to a query with an
  OPT carry our OPT, byte for byte, on the fast path and the control
  plane's, and none when the query had none;
- `--udp-max` above what the port's MTU carries is refused at start-up
  with one line naming the option and the MTU (veths of MTU 1000 and
  1280), and a value that fits serves answers no larger than it over the
  1280 one.

The first three run in pcap replay mode; the MTU cases on AF_PACKET on a
veth (root namespace for the refusal, a namespace of their own for the
served one), removed in finalizers.
"""
import os
import struct
import subprocess

import dns.flags
import dns.message
import dns.rcode
import pytest

from lvtest import frames, levee, live, netns
from lvtest.dnsq import Edns, Query, header, name_wire

ADDRS = ("192.0.2.53/24", "2001:db8::53/64")
GOOD = Query("www.levee.test.", "A")
UDP_MAX = 1232


def _exact_stats(st, expect, r):
    """Every counter in expect as given; no other drop_ or rcode_ set."""
    wrong = {k: (st[k], v) for k, v in expect.items() if st[k] != v}
    extra = {k: v for k, v in st.items() if v and k not in expect and
             (k.startswith("drop_") or k.startswith("rcode_"))}
    assert not wrong and not extra, \
        f"(got, want) {wrong}; unexpected {extra}\n" + r.explain()


def _zero_udp_checksum(raw):
    """The frame with its UDP checksum field zeroed (untagged, no options)."""
    l4 = 14 + (20 if struct.unpack("!H", raw[12:14])[0] == frames.ETH_IPV4 else 40)
    return raw[:l4 + 6] + b"\0\0" + raw[l4 + 8:]


# --- sources never answered ------------------------------------------------

BAD_SOURCES = [
    ("0.0.0.0", "this host (0/8)"),
    ("0.1.2.3", "this network (0/8)"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback, top of 127/8"),
    ("224.0.0.1", "multicast all-hosts"),
    ("239.255.255.250", "multicast, top of 224/4"),
    ("255.255.255.255", "limited broadcast"),
    ("192.0.2.255", "directed broadcast of 192.0.2.53/24"),
    ("ff02::1", "IPv6 multicast all-nodes"),
    ("ff0e::fb", "IPv6 multicast, global scope"),
    ("::", "IPv6 unspecified"),
    ("::1", "IPv6 loopback"),
]
# their neighbours, answered
GOOD_SOURCES = ["1.0.0.1", "126.255.255.255", "128.0.0.1", "223.255.255.255",
                "192.0.2.254", "192.0.2.0", "2001:db8::1", "fe80::1", "::2"]


def test_bad_sources_dropped_and_counted(levee_bin, workdir, zones):
    sent, good = [], []
    i = 0

    def next_client():
        nonlocal i
        i += 1
        return levee.client_of(i)

    for src, _ in BAD_SOURCES:
        port, qid = next_client()
        sent.append(frames.udp_frame(GOOD.wire(id=qid), src=src, sport=port))
    # UDP source port 0, both families; IPv6 UDP checksum 0
    for src in (frames.CLIENT4, frames.CLIENT6):
        _, qid = next_client()
        sent.append(frames.udp_frame(GOOD.wire(id=qid), src=src, sport=0))
    port, qid = next_client()
    sent.append(_zero_udp_checksum(
        frames.udp_frame(GOOD.wire(id=qid), src=frames.CLIENT6, sport=port)))
    # bad sources not to a DNS service keep their verdict
    port, qid = next_client()
    sent.append(frames.udp_frame(GOOD.wire(id=qid), src="127.0.0.1", sport=port,
                                 dport=5353))
    port, qid = next_client()
    sent.append(frames.udp_frame(GOOD.wire(id=qid), src="0.0.0.0", sport=port,
                                 dst="192.0.2.99"))
    n_dropped = len(sent)
    # answered: the neighbours of the bad ranges, and an IPv4 checksum of 0
    # ("none", RFC 768)
    for src in GOOD_SOURCES:
        port, qid = next_client()
        good.append(frames.udp_frame(GOOD.wire(id=qid), src=src, sport=port))
    port, qid = next_client()
    good.append(_zero_udp_checksum(
        frames.udp_frame(GOOD.wire(id=qid), src=frames.CLIENT4, sport=port)))
    r = levee.run(workdir, sent + good, zones, addresses=ADDRS)
    assert r.returncode == 0, r.explain()
    st = r.stats
    assert st is not None, r.explain()
    print("stats", dict(st))
    _exact_stats(st, {
        "rx": n_dropped + len(good),
        "tx": len(good),
        "queries": len(good),
        "cache_hits": st["cache_hits"],           # split depends on bursts
        "cache_misses": len(good) - st["cache_hits"],
        "rcode_noerror": len(good),
        "drop_bad_source": len(BAD_SOURCES),
        "drop_source_port_0": 2,
        "drop_udp6_zero_checksum": 1,
        "drop_not_port53": 1,
        "drop_not_our_address": 1,
    }, r)
    pairs, unmatched, dupes = levee.match(r, good)
    assert not unmatched and not dupes, (unmatched, dupes)
    assert sorted(pairs) == list(range(len(good)))
    for k, f in pairs.items():
        bad = levee.check_envelope(good[k], f)
        m = dns.message.from_wire(f.payload)
        assert m.rcode() == dns.rcode.NOERROR and len(m.answer) == 1, m
        assert not bad, bad


# --- VLAN tags ---------------------------------------------------------------

def _tagged(raw, tags):
    """raw with VLAN tags [(tpid, tci)] inserted after the MACs, outer first."""
    return raw[:12] + b"".join(struct.pack("!HH", t, c) for t, c in tags) + raw[12:]


def test_vlan_tagged_queries_answered_with_their_tags(levee_bin, workdir, zones):
    """Each query untagged in one run and tagged in another, twice (the
    first a miss answered by the control plane, the second a hit). The
    tagged replies carry the query's tags unchanged, and without them are
    byte for byte the untagged replies."""
    tag_sets = [
        [(0x8100, 100)],                       # 802.1Q
        [(0x88A8, 200), (0x8100, 100)],        # QinQ: 802.1ad over 802.1Q
        [(0x88A8, 0x2ABC)],                    # a lone 802.1ad tag, PCP set
    ]
    qs = [Query("www.levee.test.", "A"), Query("big.levee.test.", "TXT", edns=Edns(4096)),
          Query("nothing.levee.test.", "AAAA", edns=Edns(1232, do=True))]
    plain, tagged, tags_of = [], [], []
    for rnd in range(2):
        for k, q in enumerate(qs):
            for j, tags in enumerate(tag_sets):
                n = rnd * 100 + k * 10 + j
                port, qid = levee.client_of(n)
                src = frames.CLIENT4 if (k + j) % 2 == 0 else frames.CLIENT6
                raw = frames.udp_frame(q.wire(id=qid), src=src, sport=port)
                plain.append(raw)
                tagged.append(_tagged(raw, tags))
                tags_of.append(tags)
    arp = frames.arp_request_frame()
    not_ip = [_tagged(arp, [(0x8100, 100)]),
              _tagged(plain[0], [(0x8100, 1), (0x88A8, 2), (0x8100, 3)])]
    # a burst's worth of frames to another port between the two rounds:
    # the second round is read in a later burst, after the first one's
    # misses filled the cache, so it hits
    filler = [frames.udp_frame(b"x", sport=1000 + i, dport=5353) for i in range(40)]
    half = len(plain) // 2
    r_plain = levee.run(workdir, plain[:half] + filler + plain[half:], zones,
                        addresses=ADDRS)
    r_tag = levee.run(workdir, tagged[:half] + filler + tagged[half:] + not_ip,
                      zones, addresses=ADDRS)
    for r in (r_plain, r_tag):
        assert r.returncode == 0, r.explain()
        assert r.stats is not None, r.explain()
    n = len(plain)
    sp, stg = r_plain.stats, r_tag.stats
    print("untagged", dict(sp), "\ntagged", dict(stg))
    assert sp["tx"] == n and sp["cache_misses"] == half and sp["cache_hits"] == half
    same = ("tx", "queries", "cache_hits", "cache_misses", "rcode_noerror",
            "rcode_nxdomain", "truncated", "drop_not_port53")
    expect = {k: sp[k] for k in same}
    expect.update(rx=n + len(filler) + len(not_ip), drop_vlan_not_ip=len(not_ip))
    _exact_stats(stg, expect, r_tag)
    assert stg["drop_not_ip"] == 0

    def key_of(raw):
        f = frames.parse(raw)
        return (f.dst_ip, f.dport, struct.unpack("!H", f.payload[:2])[0])

    by_key = {key_of(raw): raw for raw in r_plain.out_frames}
    assert len(by_key) == n
    seen = set()
    for raw in r_tag.out_frames:
        ntags = 0
        while struct.unpack("!H", raw[12 + 4 * ntags:14 + 4 * ntags])[0] in (0x8100, 0x88A8):
            ntags += 1
        inner = raw[:12] + raw[12 + 4 * ntags:]
        k = key_of(inner)
        i = next(i for i, q in enumerate(plain) if key_of_query(q) == k)
        assert raw[12:12 + 4 * ntags] == b"".join(
            struct.pack("!HH", t, c) for t, c in tags_of[i]), (i, raw[:24].hex())
        assert inner == by_key[k], f"query {i}: tagged reply differs from untagged"
        seen.add(i)
    assert seen == set(range(n))


def key_of_query(raw):
    f = frames.parse(raw)
    return (f.src_ip, f.sport, struct.unpack("!H", f.payload[:2])[0])


# --- OPT in error answers ----------------------------------------------------

QSEC = name_wire("www.levee.test.") + struct.pack("!HH", 1, 1)
SOA_Q = name_wire("levee.test.") + struct.pack("!HH", 6, 1)
REFUSED_Q = name_wire("www.nowhere.example.") + struct.pack("!HH", 1, 1)
# DO set, payload 1400: ours differs (1232), DO is echoed
OPT = b"\0" + struct.pack("!HHIH", 41, 1400, 0x8000, 0)
TSIG_RD = (name_wire("hmac-sha256.") + struct.pack("!HIH", 0, 1700000000, 300)
           + struct.pack("!H", 32) + b"\x55" * 32 + struct.pack("!HHH", 0, 0, 0))
TSIG = (name_wire("no-such-key.") + struct.pack("!HHIH", 250, 255, 0, len(TSIG_RD))
        + TSIG_RD)
OUR_OPT = b"\0" + struct.pack("!HHIH", 41, UDP_MAX, 0x8000, 0)
NOTIFY = 4 << 11
RD = 0x0100

# (tag, query without its header, header args, rcode, question echoed,
#  OPT expected, records after ours)
OPT_CASES = [
    ("notimp-opt", SOA_Q + OPT, dict(flags=NOTIFY | RD, ar=1), "NOTIMP", True, True, 0),
    ("notimp", SOA_Q, dict(flags=NOTIFY | RD), "NOTIMP", True, False, 0),
    ("formerr-qd0-opt", OPT, dict(qd=0, ar=1), "FORMERR", False, True, 0),
    ("formerr-qd0", b"", dict(qd=0), "FORMERR", False, False, 0),
    ("formerr-qd2-opt", QSEC + QSEC + OPT, dict(qd=2, ar=1), "FORMERR", False, True, 0),
    ("refused-opt", REFUSED_Q + OPT, dict(ar=1), "REFUSED", True, True, 0),
    ("refused", REFUSED_Q, dict(), "REFUSED", True, False, 0),
    ("notauth-opt-tsig", QSEC + OPT + TSIG, dict(ar=2), "NOTAUTH", True, True, 1),
    ("notauth-tsig", QSEC + TSIG, dict(ar=1), "NOTAUTH", True, False, 1),
    # RFC 6891 §6.1.1: two OPTs are FORMERR, and neither is honoured
    ("formerr-two-opts", QSEC + OPT + OPT, dict(ar=2), "FORMERR", True, False, 0),
]


def _question_len(body):
    """Length of the question at the start of body (uncompressed)."""
    n = 0
    while body[n]:
        n += 1 + body[n]
    return n + 1 + 4


def test_error_answers_carry_an_opt(levee_bin, workdir, zones):
    """Each error answer byte for byte up to the end of our OPT: header
    (ID, QR, opcode and RD echoed, rcode, counts), the question when it is
    echoed, then our OPT (payload --udp-max, version 0, DO echoed, no
    options) exactly when the query had a parseable one; a NOTAUTH adds the
    unsigned TSIG saying BADKEY after it."""
    sent = []
    for i, (tag, body, hdr, _, _, _, _) in enumerate(OPT_CASES):
        port, qid = levee.client_of(i)
        src = frames.CLIENT4 if i % 2 else frames.CLIENT6
        sent.append(frames.udp_frame(header(id=qid, **hdr) + body, src=src, sport=port))
    r = levee.run(workdir, sent, zones, addresses=ADDRS, udp_max=UDP_MAX)
    assert r.returncode == 0, r.explain()
    st = r.stats
    assert st is not None, r.explain()
    expect = {"rx": len(sent), "tx": len(sent), "queries": len(sent),
              "cache_misses": 2,   # the REFUSED queries (a name in no zone)
              "punts": 3}          # TSIG twice, two OPTs
    for c in OPT_CASES:
        expect["rcode_" + c[3].lower()] = expect.get("rcode_" + c[3].lower(), 0) + 1
    _exact_stats(st, expect, r)
    pairs, unmatched, dupes = levee.match(r, sent)
    assert not unmatched and not dupes and len(pairs) == len(sent), (unmatched, dupes)
    problems = []
    for i, (tag, body, hdr, rcode, echoed, with_opt, after) in enumerate(OPT_CASES):
        q = frames.parse(sent[i]).payload
        d = pairs[i].payload
        flags = 0x8000 | (hdr.get("flags", RD) & 0x7900) | dns.rcode.from_text(rcode)
        want = q[:2] + struct.pack("!HHHHH", flags, 1 if echoed else 0, 0, 0,
                                   (1 if with_opt else 0) + after)
        if echoed:
            want += body[:_question_len(body)]
        if with_opt:
            want += OUR_OPT
        if d[:len(want)] != want:
            problems.append(f"{tag}: {d[:len(want)].hex()} != {want.hex()}")
            continue
        rest = d[len(want):]
        if after:
            # the TSIG: owner no-such-key., type 250, class ANY
            o = name_wire("no-such-key.")
            if rest[:len(o) + 4] != o + struct.pack("!HH", 250, 255):
                problems.append(f"{tag}: no TSIG after the OPT: {rest[:40].hex()}")
        elif rest:
            problems.append(f"{tag}: {len(rest)} bytes after the answer")
        # and dnspython reads the same (the TSIG is not ours to verify)
        if not after:
            m = dns.message.from_wire(d)
            if (m.opt is not None) != with_opt or dns.rcode.to_text(m.rcode()) != rcode:
                problems.append(f"{tag}: dnspython sees OPT {m.opt is not None}, "
                                f"rcode {dns.rcode.to_text(m.rcode())}")
    assert not problems, "\n".join(problems)


# --- udp-max against the port's MTU ---------------------------------------------

ZONE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zones")


def _run_levee(argv, workdir):
    eal = ["--", "--no-huge", "-m", "256", "--no-pci",
           f"--file-prefix=lvwire{os.getpid()}"]
    p = subprocess.run([levee.binary()] + argv + eal, cwd=workdir,
                       capture_output=True, text=True, timeout=60)
    errors = [l for l in p.stderr.splitlines() if l.startswith("levee:")
              and not l.startswith("levee: info:")]
    return p, errors


@pytest.fixture
def small_mtu_veth(request):
    """A veth pair in the root namespace, MTU 1000, no addresses."""
    name = f"lvwm{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", name, "mtu", "1000", "type", "veth",
                    "peer", "name", name + "p", "mtu", "1000"], check=True)
    request.addfinalizer(lambda: subprocess.run(
        ["ip", "link", "del", name], capture_output=True))
    subprocess.run(["ip", "link", "set", name, "up"], check=True)
    return name


@pytest.mark.parametrize("addresses,udp_max,most,family", [
    (["10.53.253.1/24"], None, 972, "IPv4"),                  # the default 1232
    (["10.53.253.1/24"], 973, 972, "IPv4"),
    (["10.53.253.1/24", "fd53:253::1/64"], 953, 952, "IPv6"),
])
def test_udp_max_above_the_mtu_is_refused(levee_bin, workdir, small_mtu_veth,
                                          addresses, udp_max, most, family):
    argv = ["--iface", f"af_packet:{small_mtu_veth}",
            "--zone", f"levee.test={ZONE_DIR}/levee.test.zone"]
    for a in addresses:
        argv += ["--address", a]
    if udp_max is not None:
        argv += ["--udp-max", str(udp_max)]
    p, e = _run_levee(argv, workdir)
    assert p.returncode == 1, p.stderr
    assert len(e) == 1, p.stderr
    for needle in ("--udp-max", "udp-max-payload", str(udp_max or 1232),
                   "MTU 1000", f"at most {most} over {family}"):
        assert needle in e[0], e[0]
    assert "stats:" not in p.stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"lv-{small_mtu_veth}" not in links


@pytest.mark.parametrize("udp_max,accepted", [(1232, True), (1233, False)])
def test_udp_max_at_the_ipv6_minimum_mtu(request, levee_bin, workdir, zones,
                                         udp_max, accepted):
    """MTU 1280 (IPv6's minimum; the kernel turns IPv6 off below it) on
    both ends of the veth, both families served. --udp-max 1233 is refused;
    1232 (1280 - 48) starts, and a query asking for 4096 bytes gets an
    answer of at most 1232 bytes, TC set, OPT payload 1232, delivered over
    that link in both families."""
    net = netns.Net()
    request.addfinalizer(net.destroy)
    net.create()
    netns.sh("ip", "link", "set", net.levee_if, "mtu", "1280")
    netns.sh("ip", "-n", net.ns, "link", "set", net.client_if, "mtu", "1280")
    net.neighbours("static")
    lv = live.Live(levee_bin, f"af_packet:{net.levee_if}", zones,
                   net.service_addresses(), workdir,
                   extra=["--udp-max", str(udp_max)])
    request.addfinalizer(lv.kill)
    lv.start()
    if not accepted:
        rc = lv.proc.wait(timeout=60)
        errors = [l for l in lv.stderr().splitlines() if l.startswith("levee:")
                  and not l.startswith("levee: info:")]
        assert rc == 1 and len(errors) == 1, lv.explain()
        assert "--udp-max (udp-max-payload) 1233" in errors[0], errors[0]
        assert "MTU 1280: at most 1232 over IPv6" in errors[0], errors[0]
        return
    lv.wait_serving(net)
    for fam in (4, 6):
        s = net.udp_socket(fam)
        try:
            q = Query("big.levee.test.", "TXT", edns=Edns(4096))
            s.settimeout(5)
            s.sendto(q.wire(id=0x1234), (net.service(fam), 53))
            d = s.recv(65535)
        finally:
            s.close()
        m = dns.message.from_wire(d)
        assert len(d) <= 1232, len(d)
        assert m.id == 0x1234 and m.rcode() == dns.rcode.NOERROR
        assert m.opt is not None and m.payload == 1232, m
        assert m.flags & dns.flags.TC, m
    rc, st = lv.stop()
    assert rc == 0, lv.explain()
    assert st["truncated"] == 2, dict(st)


# --- VLAN on a live port ------------------------------------------------------

SOL_PACKET, PACKET_AUXDATA = 263, 8
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40
PACKET_OUTGOING = 4


def _recv_frames(sock, want, timeout=3.0):
    """Frames the raw socket receives (not its own), with the VLAN tag the
    kernel took off (PACKET_AUXDATA) put back in front, until `want` have
    come or timeout."""
    import select
    import time
    out = []
    end = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < end:
        r, _, _ = select.select([sock], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        data, anc, _, addr = sock.recvmsg(65536, 1024)
        if addr[2] == PACKET_OUTGOING:
            continue
        for level, kind, cm in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA:
                status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", cm[:20])
                if status & TP_STATUS_VLAN_VALID:
                    if not status & TP_STATUS_VLAN_TPID_VALID:
                        tpid = 0x8100
                    data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
        out.append(data)
    return out


def test_vlan_on_a_live_port(request, levee_bin, workdir, zones):
    """Tagged queries written raw onto the client's end of the veth reach
    levee's AF_PACKET port (the kernel takes the tag off, the PMD puts it
    back into the frame) and are answered on the same VLAN: each answer
    carries the query's tag (read back through PACKET_AUXDATA), and with
    the tag taken out is a valid answer to the query, in both families."""
    import socket
    net = netns.Net()
    request.addfinalizer(net.destroy)
    net.create()
    net.neighbours("static")
    lv = live.Live(levee_bin, f"af_packet:{net.levee_if}", zones,
                   net.service_addresses(), workdir)
    request.addfinalizer(lv.kill)
    lv.start()
    lv.wait_serving(net)
    raw = net.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003),
                     bind=(net.client_if, 0x0003))
    request.addfinalizer(raw.close)
    raw.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    sent = {}
    qs = [Query("www.levee.test.", "A"), Query("www.levee.test.", "A"),
          Query("big.levee.test.", "TXT", edns=Edns(1232))]
    for fam in (4, 6):
        for i, q in enumerate(qs):
            port = 30000 + fam * 10 + i
            f = frames.udp_frame(q.wire(id=0x4000 + i), src=net.client(fam),
                                 dst=net.service(fam), sport=port,
                                 src_mac=net.client_mac, dst_mac=net.levee_mac)
            tagged = _tagged(f, [(0x8100, 100 + i)])
            sent[port] = (tagged, f, 100 + i)
            raw.send(tagged)
    got = [g for g in _recv_frames(raw, len(sent) + 20)
           if struct.unpack("!H", g[12:14])[0] == 0x8100]
    problems = []
    answered = set()
    for g in got:
        inner = g[:12] + g[16:]
        try:
            r = frames.parse(inner)
        except frames.ParseError:
            continue
        if r.dport not in sent:
            continue
        tagged, f, vid = sent[r.dport]
        if struct.unpack("!H", g[14:16])[0] != vid:
            problems.append(f"port {r.dport}: VLAN {struct.unpack('!H', g[14:16])[0]}, "
                            f"query's {vid}")
        problems += [f"port {r.dport}: {b}" for b in levee.check_envelope(f, r)]
        m = dns.message.from_wire(r.payload)
        if m.rcode() != dns.rcode.NOERROR:
            problems.append(f"port {r.dport}: {dns.rcode.to_text(m.rcode())}")
        answered.add(r.dport)
    missing = sorted(set(sent) - answered)
    rc, st = lv.stop()
    assert rc == 0, lv.explain()
    print("stats", dict(st))
    assert not missing, f"no tagged answer for ports {missing}; got {len(got)} " \
        f"tagged frames\n" + lv.explain()
    assert not problems, "\n".join(problems)
    # tagged frames are never "not IP"
    assert st["drop_not_ip"] == 0, dict(st)
    assert st["rcode_noerror"] == st["queries"], dict(st)
