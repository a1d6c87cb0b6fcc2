"""DNS over TCP to levee on a live port (issue 5): RFC 7766 pipelining,
short-connection churn, slow and vanishing readers beside a normal client,
TC=1 then TCP end to end with kdig, the idle timeout with
edns-tcp-keepalive (RFC 7828), and the connection limits.

levee's TCP server listens on port 53 of every service address, on its
TAP: TCP from the client namespace crosses the port, is handed to the
kernel through the exception path, and the kernel's segments come back out
of the port. Each test builds its own namespace, veth pair and levee
(test_live.py's live_env fixture, neighbours resolved through the kernel),
then connects once to port 53 over TCP: if nothing listens there
(connection refused) the test fails saying so, and a --tcp-* option the
binary rejects fails the test with levee's message. Nothing here skips.

LVTEST_TCP_DRIVERS (default "af_packet,af_xdp"; one of them alone) picks
the drivers. LVTEST_TCP_STANDIN=1 answers TCP with a Python stand-in
(lvtest/tcp.py StandIn) bound to the service addresses on the TAP instead
of levee's server: a self-test of the harness through the exception path;
the idle-timeout and limit tests fail against it, as they should.

The expected answers are lvtest/oracle.py's without a size limit (never
TC), with edns-tcp-keepalive = idle timeout / 100 ms in the OPT of an
answer to a query that has one; the OPT's payload field is not compared
(it concerns UDP only).
"""
import os
import re
import statistics
import subprocess
import threading
import time

import pytest

from lvtest import knot, live, netns, tcp
from lvtest.dnsq import Edns, Query
from test_live import live_env, live_ok  # noqa: F401 (fixtures)
from test_replay import replay_queries

DRIVERS = tuple(d for d in os.environ.get("LVTEST_TCP_DRIVERS", "af_packet,af_xdp").split(",") if d)
STANDIN = os.environ.get("LVTEST_TCP_STANDIN") == "1"
UDP_MAX = 1232
DEFAULT_KEEPALIVE = 100          # --tcp-idle-timeout default 10000 ms, in 100 ms
BIG = "big.levee.test."          # 40 TXT, ~2.5 kB: TC=1 at 1232 over UDP
NOT_LISTENING = ("levee does not serve TCP: a TCP connection to port 53 of "
                 "the service address was refused (nothing listens)")
TCP_KEYS = ("tcp_accepted", "tcp_queries", "tcp_open", "tcp_closed_idle",
            "tcp_closed_overflow", "tcp_closed_limit", "tcp_closed_peer")


@pytest.fixture(params=DRIVERS)
def driver(request):
    return request.param


@pytest.fixture
def neigh():
    """ARP and ND through the exception path, as TCP itself goes."""
    return "kernel"


@pytest.fixture
def tcp_env(request, live_env, zones):
    """tcp_env(extra=()): live_env, then one TCP connect to port 53 (closed
    at once; env.tcp_probes counts them): a failure if it is refused. An
    option levee rejects fails in live_env with levee's message."""
    def make(extra=()):
        env = live_env(extra=extra)
        if STANDIN:
            ka = DEFAULT_KEEPALIVE
            if "--tcp-idle-timeout" in extra:
                ka = int(extra[list(extra).index("--tcp-idle-timeout") + 1]) // 100
            s = tcp.StandIn(env.net, zones, keepalive=ka)
            request.addfinalizer(s.stop)
        if not tcp.listening(env.net, 4):
            pytest.fail(NOT_LISTENING + "\n" + env.lv.explain())
        env.tcp_probes = 1
        time.sleep(0.3)          # let levee see the probe's close before going on
        return env
    return make


def tcp_stats(st):
    return {k: st[k] for k in TCP_KEYS} if st else None


def stop_ok(env):
    """SIGTERM, exit 0; the final stats block, or None under the stand-in
    (levee's counters then know nothing of the stand-in's connections)."""
    rc, st = env.lv.stop()
    assert rc == 0, env.lv.explain()
    assert st is not None, "no stats block at exit\n" + env.lv.explain()
    print(f"levee exit stats (TCP): {tcp_stats(st)}")
    if STANDIN:
        return None
    missing = [k for k in TCP_KEYS if k not in st]
    assert not missing, f"levee's stats block lacks {missing}:\n" + env.lv.explain()
    return st


def _tcp_oracle(zones):
    return tcp.TcpOracle(zones, udp_max=UDP_MAX)


def _check_all(got, sent, orc, keepalive):
    """got: [wire], sent: {id: Query}. Problems: unknown or repeated IDs,
    unanswered queries, wrong answers (field by field)."""
    problems, seen = [], {}
    for w in got:
        if len(w) < 12:
            problems.append(f"runt message of {len(w)} bytes")
            continue
        i = tcp.msg_id(w)
        if i not in sent:
            problems.append(f"answer with ID {i} that no query had")
        elif i in seen:
            problems.append(f"second answer with ID {i}")
        else:
            seen[i] = w
    missing = [i for i in sent if i not in seen]
    if missing:
        problems.append(f"{len(missing)} of {len(sent)} queries unanswered, e.g. IDs "
                        f"{missing[:10]} ({', '.join(sent[i].describe() for i in missing[:3])})")
    bad = 0
    for i, w in seen.items():
        q = sent[i]
        m = tcp.check(w, q, orc, keepalive if q.edns else None)
        if m:
            bad += 1
            if bad <= 10:
                problems.append(f"ID {i} {q.describe()}: {m}")
    if bad > 10:
        problems.append(f"{bad} wrong answers in all")
    return problems, seen


def _with_ids(queries, n, first=0):
    out = {}
    for k in range(n):
        b = queries[k % len(queries)]
        q = Query(b.qname, b.qtype, b.qclass, id=(first + k) & 0xFFFF, rd=b.rd, cd=b.cd,
                  ad=b.ad, opcode=b.opcode, edns=b.edns, tags=b.tags)
        out[q.id] = q
    return out


# --- 1 ----------------------------------------------------------------------

def test_pipelined_1000_on_one_connection(tcp_env, zones):
    """1,000 queries (the replay suite's varied set, cycled; every one its
    own ID) written back to back on one connection before anything is
    read, per family: every one answered once, in any order, each answer
    the oracle's full answer (never TC) with edns-tcp-keepalive."""
    env = tcp_env()
    orc = _tcp_oracle(zones)
    base = replay_queries()
    problems = []
    for fam in (4, 6):
        sent = _with_ids(base, 1000, first=fam * 1000)
        wires = [q.wire() for q in sent.values()]
        expect_bytes = sum(len(orc.answer(q)) + 2 for q in sent.values())
        assert expect_bytes < 900_000, "the answers must fit levee's 1M output buffer"
        c = tcp.Conn(env.net, fam)
        try:
            t0 = time.monotonic()
            c.send(wires)
            got = c.read(len(wires), timeout=30)
            secs = time.monotonic() - t0
        finally:
            c.close()
        p, seen = _check_all(got, sent, orc, DEFAULT_KEEPALIVE)
        order = [tcp.msg_id(w) for w in got]
        in_order = order == sorted(order, key=lambda i: list(sent).index(i)) if \
            len(set(order)) == len(order) else False
        print(f"IPv{fam}: {len(wires)} pipelined queries ({sum(map(len, wires))} bytes), "
              f"{len(got)} answers ({expect_bytes} bytes expected) in {secs:.2f}s, "
              f"{'in' if in_order else 'out of'} order; EOF={c.eof} error={c.error}")
        problems += [f"IPv{fam}: {x}" for x in p]
        if c.eof:
            problems.append(f"IPv{fam}: the server closed the connection ({c.error})")
    st = stop_ok(env)
    assert not problems, "\n".join(problems)
    if st is not None:
        assert st["tcp_queries"] >= 2000 and st["tcp_accepted"] >= 2, tcp_stats(st)


# --- 2 ----------------------------------------------------------------------

def test_short_connection_churn(tcp_env):
    """5,000 short connections from 200 concurrent clients (threads in the
    client namespace), within 10 s: connect, one query, read the answer,
    close. Any reset, broken pipe, timeout, EOF, wrong ID or unanswered
    query fails."""
    env = tcp_env()
    total, conc, limit = 5000, 200, 10.0
    r = tcp.churn(env.net, 4, Query("www.levee.test.", "A"), total, conc,
                  max_seconds=limit, timeout=5.0)
    lat = r["latencies"]
    kinds = {}
    for k, _ in r["failures"]:
        kinds[k] = kinds.get(k, 0) + 1
    cps = r["answered"] / r["seconds"] if r["seconds"] else 0
    print(f"{r['answered']}/{total} connections answered in {r['seconds']:.2f}s with "
          f"{conc} threads: {cps:.0f} connections/s; latency median "
          f"{statistics.median(lat) * 1000 if lat else 0:.1f} ms, p99 "
          f"{lat[int(len(lat) * 0.99) - 1] * 1000 if lat else 0:.1f} ms, max "
          f"{lat[-1] * 1000 if lat else 0:.1f} ms; over 1 s: "
          f"{sum(1 for x in lat if x > 1.0)}; failures {kinds}")
    after = {}
    if r["failures"]:      # diagnostics: does the port still pass UDP, and TCP?
        try:
            with env.net.inside():
                a = knot.udp_query(Query("www.levee.test.", "A").wire(id=7),
                                   env.net.service4, 53, timeout=2.0)
            after["udp"] = a is not None
        except Exception as e:      # noqa: BLE001
            after["udp"] = repr(e)
        r2 = tcp.churn(env.net, 4, Query("www.levee.test.", "A"), 5, 1, max_seconds=5,
                       timeout=2.0)
        after["tcp"] = f"{r2['answered']}/5 answered, {r2['failures'][:2]}"
        after["stats"] = {k: v for k, v in env.lv.stats().items() if v}
        print(f"after the failures: {after}")
    st = stop_ok(env)
    assert not r["failures"], f"{len(r['failures'])} failures {kinds}: {after}; " + \
        "; ".join(t for _, t in r["failures"][:10])
    assert r["stuck_threads"] == 0
    assert r["answered"] == total, f"only {r['done']} started within {limit}s"
    assert r["seconds"] <= limit + 0.5
    if st is not None:
        assert st["tcp_accepted"] >= total and st["tcp_queries"] >= total, tcp_stats(st)


# --- 3 ----------------------------------------------------------------------

def test_slow_reader_and_vanishing_client(tcp_env, zones):
    """A slow reader (256 queries for a ~2.6 kB answer pipelined, a small
    receive buffer, nothing read for 4 s: ~670 kB waits at levee, under its
    1M per-connection bound) and 20 clients that send 64 such queries and
    close at once (half with RST) run beside a normal client asking one
    query at a time on its own connection and on fresh connections: every
    normal query is answered within 1 s, the slow reader then gets all its
    answers, and levee keeps serving."""
    env = tcp_env()
    net = env.net
    orc = _tcp_oracle(zones)
    big = Query(BIG, "TXT", edns=Edns(1232))
    slow_sent = _with_ids([big], 256, first=0x1000)
    res = {"slow": None, "closers": 0, "errors": [], "ss": None}

    def disturb():
        try:
            slow = tcp.Conn(net, 4, rcvbuf=4096)
            slow.send([q.wire() for q in slow_sent.values()])
            t_end = time.monotonic() + 4.0
            k = 0
            while time.monotonic() < t_end and k < 20:
                c = tcp.Conn(net, 6 if k % 4 == 3 else 4)
                c.send([big.wire(id=0x2000 + j) for j in range(64)])
                c.close(reset=bool(k % 2))
                res["closers"] += 1
                k += 1
                time.sleep(0.15)
            time.sleep(max(0.0, t_end - time.monotonic()))
            # what the kernel holds for the slow reader (the rest waits in levee)
            ss = subprocess.run(["ss", "-tnH", "state", "established", "( sport = :53 )"],
                                capture_output=True, text=True, timeout=10).stdout
            res["ss"] = [l for l in ss.splitlines()
                         if f"{net.client4}:{slow.sock.getsockname()[1]}" in l]
            got = slow.read(len(slow_sent), timeout=15)
            res["slow"] = (got, slow.eof, slow.error)
            slow.close()
        except Exception as e:       # noqa: BLE001 (reported by the main thread)
            res["errors"].append(repr(e))

    th = threading.Thread(target=disturb, daemon=True)
    th.start()
    normal = tcp.Conn(net, 4)
    lat, fresh_lat, problems = [], [], []
    q = Query("www.levee.test.", "A", edns=Edns(1232))
    t_end = time.monotonic() + 5.0
    i = 0
    while time.monotonic() < t_end and i < 500:
        t0 = time.monotonic()
        normal.send([q.wire(id=i)])
        got = normal.read(1, timeout=2.0)
        dt = time.monotonic() - t0
        lat.append(dt)
        if not got or tcp.msg_id(got[0]) != i:
            problems.append(f"normal query {i}: no answer within 2 s ({normal.error})")
            break
        if i % 10 == 0:          # and a fresh connection every ~10 queries
            t0 = time.monotonic()
            f = tcp.Conn(net, 6 if i % 20 else 4, timeout=2.0)
            f.send([q.wire(id=0x8000 + i)])
            g = f.read(1, timeout=2.0)
            f.close()
            fresh_lat.append(time.monotonic() - t0)
            if not g:
                problems.append(f"fresh connection {i}: no answer within 2 s")
        i += 1
        time.sleep(0.02)
    normal.close()
    th.join(timeout=30)
    assert not th.is_alive(), "the slow reader's thread did not finish"
    print(f"normal client: {len(lat)} queries, max {max(lat) * 1000:.1f} ms, median "
          f"{statistics.median(lat) * 1000:.1f} ms; fresh connections: {len(fresh_lat)}, "
          f"max {max(fresh_lat, default=0) * 1000:.1f} ms; closers {res['closers']}")
    slow_bad = []
    if res["slow"] is None:
        slow_bad.append(f"slow reader failed: {res['errors']}")
    else:
        got, eof, err = res["slow"]
        p, _ = _check_all(got, slow_sent, orc, DEFAULT_KEEPALIVE)
        print(f"slow reader: {len(got)}/{len(slow_sent)} answers, EOF={eof} error={err}; "
              f"levee's socket before reading (Recv-Q Send-Q): {res['ss']}")
        slow_bad += [f"slow reader: {x}" for x in p]
    mid = env.lv.stats()          # levee still runs and answers SIGUSR1
    st = stop_ok(env)
    print(f"stats after the run: {tcp_stats(mid)}")
    assert not res["errors"], res["errors"]
    assert not problems, "\n".join(problems)
    slowest = max(lat + fresh_lat)
    assert slowest < 1.0, f"a normal query took {slowest:.2f}s beside the slow reader"
    assert not slow_bad, "\n".join(slow_bad)
    if st is not None:
        assert st["tcp_closed_overflow"] == 0, tcp_stats(st)


# --- 4 ----------------------------------------------------------------------

def _kdig_sections(text):
    """flags, the (owner, type, rdata) records of the ANSWER section and
    the transport kdig names in ';; From ...(TCP|UDP)'."""
    m = re.search(r";; Flags: ([a-z ]*);", text)
    flags = set(m.group(1).split()) if m else None
    m = re.search(r";; From \S+\((TCP|UDP)\)", text)
    proto = m.group(1) if m else None
    recs, on = [], False
    for line in text.splitlines():
        if line.startswith(";; ANSWER SECTION"):
            on = True
            continue
        if on:
            if not line.strip() or line.startswith(";;"):
                on = False
                continue
            recs.append(line.split(None, 4))
    return flags, proto, recs


def test_tc_then_tcp_with_kdig(tcp_env, zones):
    """kdig from the namespace for a name whose answer exceeds 1232 bytes,
    IPv4 and IPv6: with +ignore the UDP answer has TC=1; kdig's default
    run retries over TCP and shows the full answer. On the wire (captured on
    the client's veth) each TCP exchange carries one query and one answer,
    equal to the oracle's full answer."""
    env = tcp_env()
    net = env.net
    cap = netns.Capture(net)
    try:
        outs = {}
        for fam in (4, 6):
            base = ["kdig", f"@{net.service(fam)}", BIG, "TXT", "+retry=0", "+timeout=3"]
            p1 = net.run(base + ["+ignore"], timeout=15, check=False)
            p2 = net.run(base, timeout=15, check=False)
            outs[fam] = (p1, p2)
    finally:
        cap.stop()
    orc = _tcp_oracle(zones)
    problems = []
    for fam, (p1, p2) in outs.items():
        t1, t2 = p1.stdout.decode(errors="replace"), p2.stdout.decode(errors="replace")
        f1, pr1, r1 = _kdig_sections(t1)
        f2, pr2, r2 = _kdig_sections(t2)
        print(f"IPv{fam}: +ignore: {pr1} flags {f1} {len(r1)} records; default: {pr2} "
              f"flags {f2} {len(r2)} records")
        if p1.returncode != 0 or pr1 != "UDP" or not f1 or "tc" not in f1 or r1:
            problems.append(f"IPv{fam} kdig +ignore: expected a UDP answer with TC=1 and "
                            f"no records, exit {p1.returncode}:\n{t1}{p1.stderr.decode()}")
        if p2.returncode != 0 or pr2 != "TCP" or not f2 or "tc" in f2 or len(r2) != 40:
            problems.append(f"IPv{fam} kdig default: expected the 40 TXT records over TCP, "
                            f"exit {p2.returncode}:\n{t2[-3000:]}{p2.stderr.decode()}")
    # The TCP exchanges on the wire, checked exactly.
    sts = {port: s for port, s in tcp.streams(cap, net).items() if s["to"] or s["from"]}
    exchanges = 0
    for port, s in sorted(sts.items()):
        qs, ans = tcp.messages(s["to"]), tcp.messages(s["from"])
        if len(qs) != 1 or len(ans) != 1:
            problems.append(f"TCP port {port}: {len(qs)} queries, {len(ans)} answers "
                            f"({len(s['to'])}/{len(s['from'])} bytes, {s['flags']})")
            continue
        q = live.query_from_wire(qs[0])
        m = tcp.check(ans[0], q, orc, DEFAULT_KEEPALIVE if q.edns else None)
        if m:
            problems.append(f"TCP port {port} {q.describe()}: {m}")
        exchanges += 1
    # The UDP side: each family's two kdig runs got TC=1 over UDP.
    ex = live.Exchanges(cap, net)
    tc_udp = sum(1 for k, rs in ex.responses.items() if not env.lv.is_probe(k)
                 for r in rs if r.payload[2] & 0x02)
    print(f"captured: {exchanges} TCP exchanges checked, {tc_udp} UDP answers with TC; "
          f"{ex.summary()}; capture (packets, drops) {cap.kernel_stats}")
    st = stop_ok(env)
    assert cap.kernel_stats[1] == 0, "the capture dropped frames"
    assert not problems, "\n".join(problems)
    assert exchanges == 2, "expected one TCP exchange per family"
    assert tc_udp == 4, "expected TC=1 on both UDP runs of both families"
    if st is not None:
        assert st["tcp_queries"] >= 2, tcp_stats(st)


# --- 5 ----------------------------------------------------------------------

def test_idle_timeout_and_keepalive(tcp_env, zones):
    """--tcp-idle-timeout 500: six connections opened together (IPv4 and
    IPv6) that send nothing are each closed within 0.4-2 s of their connect; one that asked a query with an OPT gets
    edns-tcp-keepalive 5 in its answer (a query without OPT gets no OPT at
    all) and is closed 0.4-2 s after its last answer."""
    env = tcp_env(extra=("--tcp-idle-timeout", "500"))
    net = env.net
    orc = _tcp_oracle(zones)
    problems = []
    silent = [tcp.Conn(net, 4 if k % 2 == 0 else 6) for k in range(6)]
    times = tcp.close_times(silent, 4.0)
    print("silent connections closed after: " + ", ".join(
        f"#{k} IPv{4 if k % 2 == 0 else 6} " + ("still open" if t is None else f"{t:.2f}s")
        for k, t in times.items()))
    for k, t in times.items():
        if t is None or not 0.4 <= t <= 2.0:
            problems.append(f"silent connection #{k} (of 6 opened together, IPv"
                            f"{4 if k % 2 == 0 else 6}): "
                            + ("still open after 4 s" if t is None else f"closed after {t:.2f}s"))
    for c in silent:
        c.close()
    c = tcp.Conn(net, 4)
    q1, q2 = Query("www.levee.test.", "A", id=1, edns=Edns(1232)), \
        Query("www.levee.test.", "AAAA", id=2)
    c.send([q1.wire(), q2.wire()])
    got = {tcp.msg_id(w): w for w in c.read(2, timeout=3)}
    t_last = time.monotonic()
    if 1 in got:
        ka = tcp.keepalive_of(got[1])
        print(f"keepalive in the answer to a query with OPT: {ka}")
        if ka != [5]:
            problems.append(f"edns-tcp-keepalive {ka}, expected [5]")
        m = tcp.check(got[1], q1, orc, 5)
        if m:
            problems.append(f"{q1.describe()}: {m}")
    if 2 in got:
        m = tcp.check(got[2], q2, orc, None)
        if m:
            problems.append(f"{q2.describe()}: {m}")
    if set(got) != {1, 2}:
        problems.append(f"answers to IDs {sorted(got)}, expected 1 and 2")
    t = c.closed_within(4.0)
    waited = time.monotonic() - t_last
    print(f"connection after its answers: closed after {waited:.2f}s ({c.error})")
    if t is None or not 0.4 <= waited <= 2.0:
        problems.append(f"after its answers a connection was "
                        f"{'still open' if t is None else 'closed'} after {waited:.2f}s")
    c.close()
    st = stop_ok(env)
    assert not problems, "\n".join(problems)
    if st is not None:
        assert st["tcp_closed_idle"] >= 7, tcp_stats(st)


# --- 6 ----------------------------------------------------------------------

def test_max_clients_closes_oldest_idle(tcp_env):
    """--tcp-max-clients 20: 30 idle connections opened one after the
    other (30 ms apart): at most 20 stay open, the 10 oldest are the ones
    closed, each of the 20 newest answers a query, and the counters say
    30 accepted (plus the probe), 10 closed at the limit, 20 open."""
    env = tcp_env(extra=("--tcp-max-clients", "20"))
    net = env.net
    conns = []
    try:
        for k in range(30):
            conns.append(tcp.Conn(net, 4 if k % 2 == 0 else 6, timeout=3.0))
            time.sleep(0.03)
        time.sleep(1.0)
        open_ = [k for k, c in enumerate(conns) if c.is_open()]
        print(f"open after 30 connects: {len(open_)}: {open_}")
        mid = env.lv.stats()
        print(f"stats with them open: {tcp_stats(mid)}")
        answered = []
        for k in open_:
            c = conns[k]
            try:
                c.send([Query("www.levee.test.", "A", edns=Edns(1232)).wire(id=k)])
                g = c.read(1, timeout=2.0)
            except OSError as e:
                g = []
                c.error = e
            if g and tcp.msg_id(g[0]) == k:
                answered.append(k)
        print(f"answered: {answered}")
    finally:
        for c in conns:
            c.close()
    st = stop_ok(env)
    assert len(open_) <= 20, f"{len(open_)} connections stayed open, limit 20"
    assert open_ == list(range(10, 30)), \
        f"expected the 20 newest (10..29) open and the 10 oldest closed, open: {open_}"
    assert answered == open_, f"open connections that did not answer: " \
        f"{sorted(set(open_) - set(answered))}"
    assert mid["tcp_accepted"] == 30 + env.tcp_probes, tcp_stats(mid)
    assert mid["tcp_closed_limit"] == 10, tcp_stats(mid)
    assert mid["tcp_open"] == 20, tcp_stats(mid)


# --- extra: per-client limit, split reads -------------------------------------

def test_max_per_client(tcp_env):
    """--tcp-max-per-client 5: of 8 connections from one client address at
    most 5 stay open, and those answer; the others are closed at once and
    counted in tcp_closed_limit."""
    env = tcp_env(extra=("--tcp-max-per-client", "5"))
    net = env.net
    conns = []
    try:
        for k in range(8):
            conns.append(tcp.Conn(net, 4, timeout=3.0))
            time.sleep(0.03)
        time.sleep(0.5)
        open_ = [k for k, c in enumerate(conns) if c.is_open()]
        answered = []
        for k in open_:
            conns[k].send([Query("www.levee.test.", "A").wire(id=k)])
            g = conns[k].read(1, timeout=2.0)
            if g and tcp.msg_id(g[0]) == k:
                answered.append(k)
        mid = env.lv.stats()
        print(f"open {open_}, answered {answered}; stats {tcp_stats(mid)}")
    finally:
        for c in conns:
            c.close()
    stop_ok(env)
    assert len(open_) <= 5, f"{len(open_)} connections from one client open, limit 5"
    assert answered == open_ and len(open_) == 5, (open_, answered)
    assert mid["tcp_closed_limit"] == 3 and mid["tcp_open"] == 5, tcp_stats(mid)


def test_query_split_over_segments(tcp_env, zones):
    """A query written one byte per segment (TCP_NODELAY, 10 ms apart), a
    length prefix split in two around a pause, and two queries in one
    segment with a third's first byte: each answered, full answer."""
    env = tcp_env()
    orc = _tcp_oracle(zones)
    q = {i: Query(BIG, "TXT", id=i, edns=Edns(1232)) for i in (1, 2, 3, 4)}
    c = tcp.Conn(env.net, 4)
    problems = []
    try:
        data = tcp.frame(q[1].wire())
        for b in range(len(data)):                 # one byte per segment
            c.send_raw(data[b:b + 1])
            time.sleep(0.01)
        got = c.read(1, timeout=3)
        f2 = tcp.frame(q[2].wire())
        c.send_raw(f2[:1])                        # half a length prefix
        time.sleep(0.3)
        c.send_raw(f2[1:])
        got += c.read(1, timeout=3)
        f3, f4 = tcp.frame(q[3].wire()), tcp.frame(q[4].wire())
        c.send_raw(f3 + f4[:1])                   # a whole query and one byte
        time.sleep(0.3)
        c.send_raw(f4[1:])
        got += c.read(2, timeout=3)
    finally:
        c.close()
    p, _ = _check_all(got, q, orc, DEFAULT_KEEPALIVE)
    problems += p
    print(f"{len(got)} answers to 4 split queries")
    stop_ok(env)
    assert not problems, "\n".join(problems)
