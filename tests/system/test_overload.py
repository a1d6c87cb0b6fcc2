"""Overload drops, end to end: `drop_miss_ring_full` and `drop_tx_full`.

Both need a live (lossy) port that receives faster than levee can pass
frames on: in replay mode (`--iface pcap:IN,OUT`) levee waits for its
rings and its TX queue instead of dropping, by design. So levee runs on
DPDK's pcap driver given as raw devargs (`--iface net_pcap0,rx_pcap=IN,...`):
a live port whose receive side is a capture, read as fast as the worker
polls (all of it at once, which no socket sender on this 2-core machine
can do), and whose transmit side is a file (`tx_pcap=OUT`) or an
interface (`tx_iface=IF`, libpcap's pcap_sendpacket).

- drop_miss_ring_full: `--miss-ring 64` (the smallest) and 4,000 queries
  for distinct names nobody asked before, so every one is a cache miss:
  the worker fills the miss ring far faster than the control plane
  answers. Every query is either answered once (in OUT) or counted as a
  miss-ring drop, and the counters agree with the capture exactly.
- drop_tx_full: a TX queue that refuses frames. levee's own live forms
  (`af_packet:IF`, `af_xdp:IF`) give no way to shrink the driver's TX ring
  (levee asks for 1,024 descriptors; the af_packet ring size is the
  driver's `framecnt` devarg, AF_XDP's is fixed at 2,048), and on a veth
  the kernel drains them as fast as the worker fills them. Raw devargs
  `net_af_packet0,iface=IF,framecnt=16` do make transmit return short
  (tried: a 4,000-query burst counted drop_tx_full), but a port given as raw
  devargs is not quieted (levee does not know its interface), so the
  kernel also answers the queries through the TAP and the counts are not
  exact. The pcap driver stops a burst at the first frame
  pcap_sendpacket() refuses and returns short, as a full NIC queue does;
  an interface whose MTU (68, the least a veth takes) is below every DNS
  answer frame refuses each one (EMSGSIZE). So every answer is counted in
  drop_tx_full, its mbuf is freed (the pool's free count is the same as in
  a run whose answers all went out), and nothing else is miscounted.
"""
import os
import time

import pytest

from lvtest import frames, levee, live, netns, pcap, replay
from lvtest.dnsq import Edns, Query

ADDRESSES = (f"{frames.SERVER4}/32", f"{frames.SERVER6}/128")


@pytest.fixture
def make_net(request):
    def make():
        net = netns.Net()
        request.addfinalizer(net.destroy)
        return net.create()
    return make


def _queries(n, tag):
    """n queries for distinct names that do not exist in levee.test.
    (NXDOMAIN, half of them below www), with and without EDNS."""
    out = []
    for i in range(n):
        name = f"{tag}{i}.levee.test." if i % 2 else f"{tag}{i}.www.levee.test."
        out.append(Query(name, "A", edns=Edns(1232) if i % 3 else None))
    return out


def _run(levee_bin, zones, workdir, in_frames, tx, extra=(), settle=20.0):
    """levee on net_pcap0 reading IN (the frames) and sending to `tx`
    (`tx_pcap=PATH` or `tx_iface=IF`); waits until every frame was
    received and every query answered or dropped (bounded), then stops it
    with SIGTERM. Returns (exit stats, Live)."""
    in_path = os.path.join(workdir, f"in{time.monotonic_ns()}.pcap")
    pcap.write(in_path, in_frames)
    lv = live.Live(levee_bin, f"net_pcap0,rx_pcap={in_path},{tx}", zones,
                   ADDRESSES, workdir, extra=extra)
    lv.start()
    try:
        deadline = time.monotonic() + settle
        n = len(in_frames)
        while True:
            time.sleep(0.3)
            st = lv.stats()
            rcodes = sum(v for k, v in st.items() if k.startswith("rcode_"))
            if st["rx"] == n and rcodes + st["drop_miss_ring_full"] == n:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"not settled in {settle}s: {dict(st)}\n" + lv.explain())
        time.sleep(0.3)       # the last answers leave the control plane
        rc, st = lv.stop()
    finally:
        lv.kill()
    assert rc == 0, lv.explain()
    assert st is not None, "no stats block at exit\n" + lv.explain()
    return st, lv


def test_miss_ring_full_drops_are_counted(levee_bin, zones, workdir):
    queries = _queries(4000, "ring")
    sent = replay.frames_for(queries, families=(4, 6))
    out_path = os.path.join(workdir, "out.pcap")
    st, lv = _run(levee_bin, zones, workdir, sent, f"tx_pcap={out_path}",
                  extra=["--miss-ring", "64"])
    _, recs = pcap.read(out_path)

    class _Out:
        out_frames = [r.data for r in recs]
    pairs, unmatched, dupes = levee.match(_Out, sent)
    answered = len(pairs)
    dropped = st["drop_miss_ring_full"]
    rcodes = {k: v for k, v in st.items() if k.startswith("rcode_")}
    print(f"{len(queries)} distinct uncached queries, --miss-ring 64: {answered} answered, "
          f"{dropped} dropped (miss ring full); {len(unmatched)} other frames out; "
          f"stats {dict(st)}")
    assert not dupes, f"queries answered twice: {dupes[:10]}"
    assert dropped > 0, "the miss ring never overflowed\n" + lv.explain()
    assert answered > 0
    assert answered + dropped == len(queries)
    assert st["rx"] == st["queries"] == st["cache_misses"] == len(queries)
    assert st["cache_hits"] == 0
    assert sum(rcodes.values()) == answered
    assert st["rcode_nxdomain"] == answered, rcodes    # every name is new: NXDOMAIN
    # what went out: the answers, and what the kernel sent through the TAP
    assert st["tx"] == answered + st["from_kernel"] == len(recs)
    other = {k: v for k, v in st.items() if k.startswith("drop_") and v}
    assert other == {"drop_miss_ring_full": dropped}, other
    for i, f in list(pairs.items())[:200]:
        assert not levee.check_envelope(sent[i], f), levee.check_envelope(sent[i], f)


def test_tx_full_drops_are_counted_and_freed(levee_bin, zones, workdir, make_net):
    """Every answer refused by the driver is counted in drop_tx_full and
    its mbuf freed; a run whose answers all leave (MTU 1500) ends with the
    same number of free mbufs."""
    queries = [Query("www.levee.test.", "A")] * 50 + _queries(150, "tx")
    sent = replay.frames_for(queries, families=(4,))
    results = {}
    for mtu in (1500, 68):
        net = make_net()
        netns.sh("ip", "link", "set", net.levee_if, "mtu", str(mtu))
        cap = netns.Capture(net)
        st, lv = _run(levee_bin, zones, workdir, sent, f"tx_iface={net.levee_if}")
        cap.stop()
        dns_in = sum(1 for _, out, raw in cap.frames
                     if not out and len(raw) > 42 and raw[23] == 17 and raw[34:36] == b"\x00\x35")
        results[mtu] = (st, dns_in)
        print(f"MTU {mtu}: {dns_in} DNS answers reached the peer; stats {dict(st)}")
    st_ok, in_ok = results[1500]
    st, dns_in = results[68]
    n = len(queries)
    answers = sum(v for k, v in st.items() if k.startswith("rcode_"))
    assert answers == n and st["rcode_noerror"] == 50 and st["rcode_nxdomain"] == 150
    assert st_ok["drop_tx_full"] == 0 and in_ok == n, (dict(st_ok), in_ok)
    # MTU 68: no answer left; each is counted, and only what the kernel
    # sent through the TAP (frames of at most 82 bytes) may have gone out
    assert dns_in == 0
    assert st["drop_tx_full"] >= n
    assert st["tx"] + st["drop_tx_full"] == st["cache_hits"] + st["from_control"], dict(st)
    assert st["tx"] <= st["from_kernel"] and st["tx"] == st["port_opackets"]
    other = {k: v for k, v in st.items() if k.startswith("drop_") and v}
    assert other == {"drop_tx_full": st["drop_tx_full"]}, other
    # refused frames went back to the pool
    assert st["mbufs_free"] == st_ok["mbufs_free"], (st["mbufs_free"], st_ok["mbufs_free"])
