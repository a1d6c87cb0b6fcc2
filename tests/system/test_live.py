"""levee on a live port: AF_PACKET and AF_XDP on a veth, a client in its own
network namespace (lvtest/netns.py, lvtest/live.py).

Every test builds its own namespace and veth pair and starts its own levee
(own --file-prefix), torn down in finalizers even on failure. The client's
neighbour entries for the service addresses are a fixture parameter:
"static" (permanent entries to levee's MAC) until levee has its kernel
exception path; "kernel" (ARP/ND through levee's TAP exception path).
Both run by default; LVTEST_NEIGH=static (or kernel) picks one. dnsperf
runs all its rates in static mode and only the zero-loss rate in kernel
mode (the neighbour mode matters only until the first answer).

When the binary refuses live ports, every test here fails with levee's
message (a refusal is a regression: nothing here is ever skipped).
"""
import collections
import os
import subprocess

import dns.rcode
import pytest

from lvtest import compare, gen, levee, live, netns, oracle, replay
from test_replay import replay_queries

DRIVERS = ("af_packet", "af_xdp")
NEIGH = tuple(m for m in os.environ.get("LVTEST_NEIGH", "static,kernel").split(",") if m)
N_PER_FAMILY = int(os.environ.get("LVTEST_LIVE_QUERIES", "2000"))
DNSPERF_SECONDS = int(os.environ.get("LVTEST_DNSPERF_SECONDS", "5"))
DNSPERF_RATES = (5000, 20000, None)   # the first must lose nothing; None: no -Q
UDP_MAX = 1232


@pytest.fixture(scope="session")
def live_ok(levee_bin, zones):
    """Fail everything here, with levee's message, if the binary refuses
    live ports."""
    argv = [levee_bin, "--iface", "af_packet:lvlnoiface0", "--address", "10.53.0.1/24"]
    for o, f in zones.items():
        argv += ["--zone", f"{o}={f}"]
    argv += ["--", "--no-huge", "-m", "512", f"--file-prefix=lvlive{os.getpid()}_probe"]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=60)
    err = p.stderr.decode(errors="replace").strip()
    if p.returncode != 0 and live.REFUSAL.search(err):
        pytest.fail("levee refuses live ports: " + err.splitlines()[-1])
    return True


@pytest.fixture(params=DRIVERS)
def driver(request):
    return request.param


@pytest.fixture(params=NEIGH)
def neigh(request):
    return request.param


class Env:
    def __init__(self, net, lv, cap):
        self.net, self.lv, self.cap = net, lv, cap


@pytest.fixture
def live_env(request, live_ok, levee_bin, zones, workdir, driver, neigh):
    """live_env(capture=False, workers=None, extra=()): a fresh namespace, veth pair
    and levee serving on it (probe answered). With capture, every frame on
    the client end is recorded from before levee starts."""
    def make(capture=False, workers=None, extra=(), levee_side=False):
        net = netns.Net()
        request.addfinalizer(net.destroy)
        net.create()
        net.neighbours(neigh)
        cap = None
        if capture:
            cap = netns.Capture(net)
            request.addfinalizer(cap.stop)
            if levee_side:
                # levee's end as the host sees it (diagnostics only)
                cap.levee_side = netns.Capture(net, side="levee")
                request.addfinalizer(cap.levee_side.stop)
        if callable(extra):     # arguments that depend on the addresses
            extra = extra(net)
        lv = live.Live(levee_bin, f"{driver}:{net.levee_if}", zones,
                       net.service_addresses(), workdir, workers=workers, extra=extra)
        request.addfinalizer(lv.kill)
        host_before = net.host_state()
        lv.start()
        lv.wait_serving(net)       # a refusal raises live.Unsupported: a failure
        print(f"{driver}/{neigh}: {net.levee_if} {net.levee_mac}, serving after "
              f"{lv.serving_after:.2f}s ({lv.probes_sent} probes)")
        env = Env(net, lv, cap)
        env.host_before = host_before
        return env
    return make


def _expected_tc(queries, orc):
    return sum("tc" in compare.normalize(orc.answer(q)).flags for q in queries)


class _Captured:
    """What replay.check_answers expects of a run: the response frames."""
    def __init__(self, out_frames):
        self.out_frames = out_frames


def test_kdig_answers(live_env, zones, differences):
    """kdig over UDP from the namespace, IPv4 and IPv6, the replay suite's
    varied query set: each answer (captured on the client's veth) checked
    against the oracle, envelope, flags, OPT and TC included."""
    env = live_env(capture=True)
    net = env.net
    intended = replay_queries()
    failures = []
    for fam in (4, 6):
        for q in intended:
            p = net.run(["kdig", "@" + net.service(fam)] + live.kdig_args(q),
                        timeout=10, check=False)
            if p.returncode != 0:
                failures.append(f"kdig -{fam} {q.describe()}: exit {p.returncode} "
                                f"{p.stdout.decode(errors='replace')[-300:]!r}")
    env.lv.stop()
    kstats = env.cap.stop()
    assert kstats[1] == 0, f"the capture dropped {kstats[1]} frames"
    ex = live.Exchanges(env.cap, net)
    # The queries as kdig sent them (after the probes), in order: one per run.
    sent, queries = [], []
    for key, raw in ex.queries.items():
        if env.lv.is_probe(key):          # wait_serving's probes
            continue
        sent.append(raw)
        queries.append(live.query_from_wire(levee.frames.parse(raw).payload))
    assert len(queries) == 2 * len(intended), \
        f"captured {len(queries)} kdig queries, ran {2 * len(intended)}; {ex.summary()}"
    def asked(q):
        return (q.qname, q.qtype, q.qclass, q.rd, q.cd, q.opcode,
                q.edns.key() if q.edns else None)
    for i, q in enumerate(queries):
        want = intended[i % len(intended)]
        if asked(q) != asked(want):
            failures.append(f"kdig sent {q.describe()} for {want.describe()}")
    orc = oracle.Oracle(zones, udp_max=UDP_MAX)
    responses = [r for k, rs in ex.responses.items() if not env.lv.is_probe(k)
                 for r in rs]
    run_ = _Captured([r.raw for r in responses])
    problems, pairs = replay.check_answers(
        run_, queries, sent, lambda i: orc.answer(queries[i]), differences, UDP_MAX)
    tc_seen = sum(1 for f in pairs.values() if f.payload[2] & 0x02)
    tc_want = _expected_tc(queries, orc)
    print(f"{len(queries)} kdig queries, {len(pairs)} answers, {tc_seen} TC; {ex.summary()}")
    assert not ex.icmp_errors, [e[:4] for e in ex.icmp_errors]
    assert not problems, "\n".join(problems)
    assert tc_seen == tc_want > 0
    assert not failures, "\n".join(failures[:20])


def _one_response_each(env, n, first_id=0):
    """Send n queries per family from the namespace; the capture's view
    and the sockets' view. Returns (sent per family, received, ...)."""
    queries = replay_queries()
    out = {}
    for fam in (4, 6):
        out[fam] = live.send_paced(env.net, fam, queries, n, first_id=first_id)
    return queries, out


def _check_one_each(env, sent_by_fam, orc_queries):
    ex = live.Exchanges(env.cap, env.net)
    problems = []
    total = 0
    for fam, (sent, received) in sent_by_fam.items():
        total += len(sent)
        missing = [(p, i) for p, i, _ in sent if (p, i) not in ex.queries]
        if missing:
            problems.append(f"IPv{fam}: {len(missing)} sent queries not in the capture")
        none = [(p, i, q) for p, i, q in sent if (p, i) not in ex.responses]
        many = [(p, i, q, len(ex.responses[(p, i)])) for p, i, q in sent
                if len(ex.responses.get((p, i), ())) > 1]
        sock_bad = [(p, i, received.get((p, i), 0)) for p, i, _ in sent
                    if received.get((p, i), 0) != 1]
        for p, i, q in none[:10]:
            problems.append(f"IPv{fam}: no response to port {p} id {i} {q.describe()}")
        if len(none) > 10:
            problems.append(f"IPv{fam}: {len(none)} queries without a response in all")
        for p, i, q, c in many[:10]:
            problems.append(f"IPv{fam}: {c} responses to port {p} id {i} {q.describe()}")
        if len(many) > 10:
            problems.append(f"IPv{fam}: {len(many)} queries with several responses")
        if sock_bad and not none and not many:
            problems.append(f"IPv{fam}: the client's sockets got {len(sock_bad)} queries "
                            f"answered other than once (e.g. {sock_bad[:5]}): checksum?")
        nbad = 0
        for p, i, q in sent:
            for r in ex.responses.get((p, i), ())[:1]:
                bad = levee.check_envelope(ex.queries[(p, i)], r)
                if bad:
                    nbad += 1
                    if nbad <= 5:
                        problems.append(f"IPv{fam} {q.describe()}: " + "; ".join(bad))
        if nbad > 5:
            problems.append(f"IPv{fam}: {nbad} responses with a wrong envelope")
    for k, rs in ex.stray[:10]:
        problems.append(f"{len(rs)} responses to no query sent: port {k[0]} id {k[1]}")
    for d, v, t, c, _ in ex.icmp_errors[:10]:
        problems.append(f"ICMPv{v if v == 6 else ''} error type {t} code {c} ({d})")
    inc_icmp4 = [i for i in ex.icmp_other if i[0] == "in" and i[1] == 4]
    if inc_icmp4:
        problems.append(f"ICMP arrived at the client: {inc_icmp4[:5]}")
    return ex, problems, total


def test_one_response_per_query(live_env):
    """N queries per family, paced, each with its own (port, ID): every one
    gets exactly one response on the wire and at the socket, every response
    has the right envelope (MACs, IPs, ports, checksums, ID, question), and
    no ICMP/ICMPv6 error arrives (AF_PACKET does not take frames away from
    the kernel: the kernel side of levee's port must stay silent)."""
    env = live_env(capture=True)
    _, sent = _one_response_each(env, N_PER_FAMILY)
    env.lv.stop()
    kstats = env.cap.stop()
    assert kstats[1] == 0, f"the capture dropped {kstats[1]} frames"
    ex, problems, total = _check_one_each(env, sent, None)
    print(f"{total} queries: {ex.summary()}")
    assert not problems, "\n".join(problems) + "\n" + ex.summary()


def test_stats_at_exit(live_env):
    """SIGUSR1 prints the stats block and levee keeps serving; SIGTERM ends
    it with exit 0 and a final block that agrees with the wire: rx covers
    every query sent, tx equals the responses captured, the rcode and
    truncation counters match them, and the only drops are of the client
    kernel's own non-DNS frames. What levee changed on its port (flags,
    XDP program, sysctls, the TAP) is back as it was, and EAL's runtime
    directory is gone."""
    env = live_env(capture=True, levee_side=True)
    n = max(200, N_PER_FAMILY // 4)
    _, sent1 = _one_response_each(env, n)
    mid = env.lv.stats()
    assert mid is not None and mid["rx"] > 0, env.lv.explain()
    _, sent2 = _one_response_each(env, n, first_id=0x4000)
    rc, st = env.lv.stop()
    kstats = env.cap.stop()
    assert kstats[1] == 0, f"the capture dropped {kstats[1]} frames"
    assert rc == 0, env.lv.explain()
    assert st is not None, "no stats block at exit\n" + env.lv.explain()
    ex = live.Exchanges(env.cap, env.net)
    n_sent = sum(len(s) for s, _ in list(sent1.values()) + list(sent2.values()))
    n_resp = ex.n_responses()
    rcodes = collections.Counter()
    tc = 0
    for rs in list(ex.responses.values()) + [v for _, v in ex.stray]:
        for r in rs:
            rcodes[dns.rcode.to_text(compare.normalize(r.payload).rcode).lower()] += 1
            tc += bool(r.payload[2] & 0x02)
    client_out = sum(1 for _, o, _ in env.cap.frames if o)
    non_query_out = client_out - len(ex.queries) - ex.query_dupes
    print(f"sent {n_sent} + {env.lv.probes_sent} probes ({env.lv.probes_answered} "
          f"answered); client sent {client_out} frames, {non_query_out} not queries; "
          f"{ex.summary()}\nmid-run stats {dict(mid)}\nexit stats {dict(st)}")
    answered = n_sent + env.lv.probes_answered
    n_in = len(env.cap.incoming())
    assert st["rx"] >= answered
    if st["rx"] > client_out:
        env.cap.levee_side.stop()
        root_out = [f for _, o, f in env.cap.levee_side.frames if o]
        raise AssertionError(
            f"rx {st['rx']} counts more frames than the client sent ({client_out}); "
            f"frames sent out of levee's end by the host: {len(root_out)}: "
            + "; ".join(f[:54].hex() for f in root_out[:10]))
    assert st["queries"] >= answered
    # A query the client sent twice (a retransmission under load, same
    # key) is one entry in ex.queries but two queries to levee.
    assert st["queries"] <= len(ex.queries) + ex.query_dupes, \
        f"levee counted more queries than the client sent ({ex.summary()})"
    # Everything arriving at the client came from levee's port: its DNS
    # responses plus what the kernel sent through the exception path.
    assert st["tx"] == n_in, "tx differs from the frames that reached the client"
    assert st["tx"] - st["from_kernel"] == n_resp, \
        "tx minus from_kernel differs from the DNS responses on the wire"
    assert n_resp >= answered
    assert st["cache_hits"] + st["cache_misses"] == st["queries"]
    assert st["truncated"] == tc
    assert sum(v for k, v in st.items() if k.startswith("rcode_")) == n_resp
    for name, count in rcodes.items():
        assert st[f"rcode_{name}"] == count, name
    drops = {k: v for k, v in st.items() if k.startswith("drop_") and v}
    unexpected = {k: v for k, v in drops.items() if k not in live.NON_QUERY_DROPS}
    assert not unexpected, f"drops: {drops}"
    assert sum(drops.values()) + st["to_kernel"] <= non_query_out, \
        f"more non-queries dropped or passed to the kernel than the client sent: {drops}"
    # what levee changed on the host is restored (also after SIGTERM)
    after = env.net.host_state()
    changed = {k: (v, after.get(k)) for k, v in env.host_before.items() if after.get(k) != v}
    assert not changed, f"host state not restored after exit (before, after): {changed}"
    assert not os.path.exists(env.lv.runtime_dir()), "EAL runtime directory left behind"
    assert mid["rx"] <= st["rx"] and mid["tx"] <= st["tx"]


def _dnsperf_file(zones, path):
    types = ("A", "AAAA", "MX", "TXT", "SOA", "NS")
    lines = []
    for origin, f in zones.items():
        names, ents = gen.zone_names(origin, f)
        for nm in names + ents + ["nx." + origin]:
            for t in types:
                lines.append(f"{nm} {t}")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return len(lines)


def test_dnsperf(live_env, zones, workdir, neigh):
    """dnsperf from the namespace, bounded: no query lost at a moderate
    rate; the achieved qps at both rates is printed (docs/performance.md)."""
    env = live_env()
    datafile = os.path.join(workdir, "dnsperf.txt")
    nlines = _dnsperf_file(zones, datafile)
    results = []
    for qps in DNSPERF_RATES if neigh == "static" else DNSPERF_RATES[:1]:
        fig, text = live.dnsperf(env.net, env.net.service4, datafile,
                                 DNSPERF_SECONDS, qps)
        results.append((qps, fig, text))
        print(f"dnsperf -Q {qps or 'max'} -l {DNSPERF_SECONDS} ({nlines} distinct queries): "
              f"sent {fig.get('sent')} completed {fig.get('completed')} lost "
              f"{fig.get('lost')} qps {fig.get('qps')} avg latency "
              f"{fig.get('latency_avg')} s; {fig['rcodes']}")
    rc, st = env.lv.stop()
    print(f"levee exit {rc}, stats {dict(st or {})}")
    qps, fig, text = results[0]
    assert fig["exit"] == 0 and "lost" in fig, text
    assert fig["lost"] == 0, f"dnsperf lost {fig['lost']} queries at -Q {qps}\n{text}"
    assert fig["completed"] == fig["sent"] > 0.8 * qps * DNSPERF_SECONDS, text
    for qps, fig, text in results[1:]:
        assert fig["exit"] == 0 and fig.get("completed", 0) > 0, text
    assert rc == 0, env.lv.explain()
