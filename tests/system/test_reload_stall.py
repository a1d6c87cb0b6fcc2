"""A reload of a large zone never stalls the answers to other misses.

levee serves big.test. (200,000 RRs) and small.test. on a live AF_PACKET
port. The cache is warmed with the answers for every name of big.test.
(about 200,000 entries, each of which the reload must unlink), then a
steady stream of queries for distinct, uncached names of small.test.
(NXDOMAIN: every one a miss that the control plane answers, on the same
thread that publishes reloads) runs while SIGHUP reloads big.test. with a
new serial. Every query of the stream must be answered, the median
within MEDIAN_BOUND_MS, and no step the reload takes on the event loop
(the swap, each round's unlink batch, the end that frees the old zones)
may cost more than STEP_BOUND_MS of the event loop's CPU time, as levee
logs it; the reload must complete (its "loaded" log line). The
client's worst latency is printed, not asserted: on a shared VM the host
pauses a CPU for up to 100 ms now and then, which no client-side bound
can tell from a stall of levee's. docs/testing.md explains the bound and records what
the blocking publication measured.
"""
import gc
import os
import select
import signal
import socket
import struct
import time

import dns.message
import dns.rcode
import pytest

from lvtest import live
from test_live import live_env  # noqa: F401 (fixture)

BIG = "big.test."
SMALL = "small.test."
BIG_RRS = 200000            # SOA, NS, ns A and 199,997 A records
BIG_NAMES = BIG_RRS - 3
STEP_BOUND_MS = 10.0        # docs/testing.md: why 10
MEDIAN_BOUND_MS = 2.0       # the miss path's usual 0.3 ms, with room
STREAM_INTERVAL_S = 0.002   # one query every 2 ms
STREAM_MAX_S = 120.0        # the reload of 200,000 RRs takes seconds
AFTER_LOADED_S = 0.5        # the stream goes on this long after the line
# A (an answer), AAAA and MX (no data): three cache entries a name, about
# 600,000 for the reload to unlink
WARM_TYPES = ("A", "AAAA", "MX")
WARMED = BIG_NAMES * len(WARM_TYPES)
PHASES = []
TIMES = {}

HEAD = """$ORIGIN {origin}
$TTL 300
@ IN SOA ns hostmaster {serial} 7200 3600 1209600 60
@ IN NS ns
ns IN A 192.0.2.1
"""


@pytest.fixture
def live_ok():
    """This build serves live ports (test_live.py checks it per session
    with the shared zones; this file has its own)."""
    return True


@pytest.fixture
def driver():
    return "af_packet"


@pytest.fixture
def neigh():
    return "kernel"


def write_big(path, serial, last_octet):
    """big.test.: h0 .. h199996, each an A record; the last one's address
    changes with the version (so the content changes with the serial)."""
    with open(path, "w") as f:
        f.write(HEAD.format(origin=BIG, serial=serial))
        for i in range(BIG_NAMES - 1):
            f.write(f"h{i} IN A 198.51.{i >> 8 & 255}.{i & 255}\n")
        f.write(f"h{BIG_NAMES - 1} IN A 203.0.113.{last_octet}\n")


@pytest.fixture
def zones(workdir):
    big = os.path.join(workdir, "big.test.zone")
    write_big(big, 1, 1)
    small = os.path.join(workdir, "small.test.zone")
    with open(small, "w") as f:
        f.write(HEAD.format(origin=SMALL, serial=1) + "www IN A 192.0.2.2\n")
    return {BIG: big, SMALL: small}


def warm_cache(net, workdir):
    """Every name of big.test. once through dnsperf: each a miss that the
    control plane answers and publishes."""
    data = os.path.join(workdir, "warm.txt")
    with open(data, "w") as f:
        for i in range(BIG_NAMES):
            for t in WARM_TYPES:
                f.write(f"h{i}.{BIG} {t}\n")
    fig, text = live.dnsperf(net, net.service4, data, seconds=120, qps=None,
                             extra=("-n", "1", "-q", "200"))
    assert fig["exit"] == 0, text
    return fig


# Linux: SO_TIMESTAMPNS (also the control message's type) is 35; Python's
# socket module does not name it. The kernel stamps each datagram when it
# reaches the socket (CLOCK_REALTIME), so a client that the shared machine
# deschedules for a while does not count that time as levee's.
SO_TIMESTAMPNS = 35


def arrival_ns(anc):
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec * 1_000_000_000 + nsec
    raise AssertionError("no receive timestamp on the answer")


def stream_during_reload(net, lv, big_path):
    """Queries for distinct uncached small.test. names, one every
    STREAM_INTERVAL_S, from before the SIGHUP until AFTER_LOADED_S after
    the "loaded" line. Returns (latencies in ms, unanswered count,
    seconds from SIGHUP to the line). A latency runs from just before
    sendto() to the kernel's receive timestamp of the answer."""
    loaded = f"zone {BIG} serial 2 loaded ({BIG_RRS} records)"
    s = net.udp_socket(4)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setblocking(False)
    sent = {}            # id -> (name, send time monotonic, realtime ns)
    lat = []
    wrong = []
    PHASES.clear()
    start = time.monotonic()
    next_send = start
    hup_at = loaded_at = None
    next_log_check = start
    i = 0

    def receive(wait):
        r, _, _ = select.select([s], [], [], wait)
        while r:
            try:
                wire, anc, _, _ = s.recvmsg(4096, 256)
            except BlockingIOError:
                return
            qid = struct.unpack("!H", wire[:2])[0]
            if qid not in sent:
                continue
            name, t0, t0_ns = sent.pop(qid)
            ms = (arrival_ns(anc) - t0_ns) / 1e6
            m = dns.message.from_wire(wire)
            if m.rcode() != dns.rcode.NXDOMAIN or \
                    str(m.question[0].name) != name:
                wrong.append(f"{name}: {dns.rcode.to_text(m.rcode())}")
            lat.append(ms)
            PHASES.append((t0, ms))

    try:
        while True:
            now = time.monotonic()
            if hup_at is None and now - start >= 0.3:
                # written before the stream: a rename does not hold up
                # the client (a new inode: the reload sees it)
                os.replace(big_path + ".v2", big_path)
                lv.proc.send_signal(signal.SIGHUP)
                hup_at = time.monotonic()
            if hup_at and loaded_at is None and now >= next_log_check:
                next_log_check = now + 0.05
                if loaded in lv.stderr():
                    loaded_at = now
            if loaded_at and now - loaded_at >= AFTER_LOADED_S:
                break
            assert now - start < STREAM_MAX_S, \
                f"no {loaded!r} in {STREAM_MAX_S}s\n" + lv.explain()
            if now >= next_send:
                qid = i & 0xffff
                name = f"u{i}.{SMALL}"
                q = dns.message.make_query(name, "A")
                q.id = qid
                wire = q.to_wire()
                sent[qid] = (name, time.monotonic(), time.time_ns())
                s.sendto(wire, (net.service4, 53))
                i += 1
                next_send += STREAM_INTERVAL_S
            receive(max(0.0, min(next_send, next_log_check) - time.monotonic()))
        # the last answers: a bounded wait, then they count as lost
        deadline = time.monotonic() + 2.0
        while sent and time.monotonic() < deadline:
            receive(0.01)
    finally:
        s.close()
    assert not wrong, wrong[:10]
    TIMES.update(start=start, hup=hup_at, loaded=loaded_at)
    return lat, len(sent), loaded_at - hup_at


def test_reload_does_not_stall_misses(live_env, zones, workdir):
    env = live_env()
    net, lv = env.net, env.lv

    fig = warm_cache(net, workdir)
    st = lv.stats()
    # nearly every name is cached now (dnsperf may lose a few queries)
    assert st["cache_misses"] >= WARMED * 0.95, (fig, st)
    assert fig["completed"] >= WARMED * 0.95, fig

    write_big(zones[BIG] + ".v2", 2, 2)
    gc.disable()  # no collector pause inside the measurement
    try:
        lat, lost, reload_s = stream_during_reload(net, lv, zones[BIG])
    finally:
        gc.enable()
    lat.sort()
    med = lat[len(lat) // 2]
    p99 = lat[int(len(lat) * 0.99)]
    worst = lat[-1]
    err = lv.stderr()
    unlinked = [l for l in err.splitlines() if "cached answers" in l]
    print("\n".join(l for l in err.splitlines()
                    if "reload" in l or "loaded" in l))
    print(f"{len(lat)} queries during the reload ({reload_s:.2f}s from SIGHUP "
          f"to the loaded line): median {med:.2f} ms, p99 {p99:.2f} ms, "
          f"worst {worst:.2f} ms, lost {lost}; {unlinked[-1:] or 'no unlink line'}")
    for lo, hi, what in ((TIMES["start"], TIMES["hup"], "before SIGHUP"),
                         (TIMES["hup"], TIMES["loaded"], "SIGHUP..loaded"),
                         (TIMES["loaded"], 1e18, "after loaded")):
        xs = sorted(l for t0, l in PHASES if lo <= t0 < hi)
        if xs:
            print(f"  {what}: {len(xs)} queries, median {xs[len(xs)//2]:.2f}, "
                  f"worst {xs[-1]:.2f} ms; worst at "
                  f"{[round(t0 - TIMES['hup'], 3) for t0, l in PHASES if lo <= t0 < hi and l > 10][:20]} s from SIGHUP")
    assert lost == 0
    assert len(lat) >= 100
    assert med <= MEDIAN_BOUND_MS, med
    # the reload unlinked (nearly) every warmed entry of big.test.
    assert unlinked, err[-3000:]
    # no step of the reload held the event loop: its own CPU time, which
    # a host pausing the VM's CPUs does not inflate (the client's
    # latencies above do; docs/testing.md)
    step = float(unlinked[-1].split("the longest step ")[1].split()[0])
    assert step <= STEP_BOUND_MS, unlinked[-1]
    n = int(unlinked[-1].split("reload: ")[1].split()[0])
    assert n >= WARMED * 0.95, unlinked[-1]
    # the new version answers from the line on
    q = dns.message.make_query(f"h{BIG_NAMES - 1}.{BIG}", "A")
    s = net.udp_socket(4)
    try:
        s.settimeout(2)
        s.sendto(q.to_wire(), (net.service4, 53))
        r = dns.message.from_wire(s.recv(4096))
    finally:
        s.close()
    assert [rd.address for rr in r.answer for rd in rr] == ["203.0.113.2"]

    rc, _ = lv.stop()
    assert rc == 0, lv.explain()
