"""levee on a live port with its kernel exception path: no static
neighbour entries anywhere — the client resolves the service addresses by
ARP and ND through levee's TAP, pings them, and the host's own queries are
answered on levee's kernel sockets. Also the differential test of part 1
repeated on AF_PACKET: the same queries to levee on the wire and to knotd,
responses compared, differences only as listed in differences.md.

Builds on test_live.py's fixtures (a namespace, a veth pair and a levee per
test, torn down in finalizers). Tests that concern one driver only are
parametrized with it, so no case is generated (and skipped) for the other.
"""
import subprocess

import dns.message

import pytest

from lvtest import compare, gen, knot
from test_live import driver, live_env, live_ok  # noqa: F401 (fixtures)


@pytest.fixture
def neigh():
    """ARP and ND through the exception path only."""
    return "kernel"


def test_ping_and_neighbour_discovery(live_env):
    env = live_env()
    net = env.net
    for fam in (4, 6):
        p = net.run(["ping", f"-{fam}", "-c", "3", "-i", "0.2", "-W", "2",
                     net.service(fam)], timeout=20, check=False)
        out = p.stdout.decode(errors="replace")
        assert p.returncode == 0 and " 0% packet loss" in out, out
    # the kernel on the TAP answered ARP and ND with the port's MAC
    neigh = net.run(["ip", "neigh", "show", "dev", net.client_if]).stdout.decode()
    for fam in (4, 6):
        line = [l for l in neigh.splitlines() if l.startswith(net.service(fam) + " ")]
        assert line and net.levee_mac in line[0], neigh
    rc, st = env.lv.stop()
    assert rc == 0, env.lv.explain()
    assert st["to_kernel"] > 0 and st["from_kernel"] > 0, dict(st)


def test_host_local_queries(live_env):
    """Queries from the host itself (the root namespace) to the service
    addresses never cross the port: levee answers them on kernel sockets."""
    env = live_env()
    net = env.net
    for fam, qtype, want in ((4, "A", "192.0.2.80"), (6, "AAAA", "2001:db8::80")):
        p = subprocess.run(["kdig", f"@{net.service(fam)}", "www.levee.test.",
                            qtype, "+short", "+retry=0", "+timeout=2"],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 0 and want in p.stdout, p.stdout + p.stderr
    p = subprocess.run(["kdig", f"@{net.service4}", "nothing.example.", "A",
                        "+retry=0", "+timeout=2"], capture_output=True,
                       text=True, timeout=10)
    assert "REFUSED" in p.stdout, p.stdout
    rc, st = env.lv.stop()
    assert rc == 0, env.lv.explain()
    assert st["local_queries"] == 3, dict(st)


@pytest.mark.parametrize("driver", ["af_packet"])   # the differential runs once
def test_differential_on_af_packet(live_env, knotd, zones, differences,
                                   driver):
    """Part 1's differential test, on the wire: queries generated from the
    zones to levee (from the client namespace) and to knotd."""
    env = live_env()
    net = env.net
    queries = gen.differential_queries(zones)
    items = [(i, q.wire(id=i & 0xFFFF)) for i, q in enumerate(queries)]
    ref = knot.query_many(items, "127.0.0.1", knotd.port)
    got = {}
    with net.inside():
        got = knot.query_many(items, net.service4, 53)
    bad = []
    for i, q in enumerate(queries):
        if i not in got:
            bad.append(f"{q.describe()}: no answer from levee")
            continue
        m = compare.compare(got[i], ref[i], q, differences)
        if m:
            bad.append(f"{q.describe()}: {m}")
    print(f"{len(queries)} queries on {driver}, {len(got)} answers, "
          f"{len(bad)} differences; entries used {differences.used}")
    rc, st = env.lv.stop()
    assert rc == 0, env.lv.explain()
    assert not bad, "\n".join(bad[:30])


def test_partial_checksums_are_completed_for_the_kernel(live_env):
    """A sender that leaves its UDP checksum unfinished (a veth with TX
    checksum offload on): levee completes it before the frame enters the
    TAP, so the kernel accepts the datagram and answers port unreachable
    (instead of dropping it for a bad checksum, silently)."""
    env = live_env()
    net = env.net
    net.run(["ethtool", "-K", net.client_if, "tx", "on"])
    for fam in (4, 6):
        s = net.udp_socket(fam)
        try:
            s.settimeout(3)
            s.connect((net.service(fam), 5300))
            s.send(b"not dns")
            with pytest.raises(ConnectionRefusedError):
                s.recv(64)
        finally:
            s.close()


@pytest.mark.parametrize("driver", ["af_packet"])   # a veth has one queue: AF_XDP takes one worker
def test_two_workers_on_af_packet(live_env, driver):
    """--workers 2 on AF_PACKET: the kernel fans flows out over two
    sockets (qpairs=2), one per worker; every query is answered once."""
    env = live_env(workers=2)
    net = env.net
    answered = 0
    for i in range(200):
        s = net.udp_socket(4)          # a new source port: a new flow
        try:
            s.settimeout(2)
            q = dns.message.make_query("www.levee.test.", "A")
            q.id = i
            s.sendto(q.to_wire(), (net.service4, 53))
            r = dns.message.from_wire(s.recv(4096))
            answered += r.id == i and len(r.answer) == 1
        finally:
            s.close()
    rc, st = env.lv.stop()
    assert rc == 0, env.lv.explain()
    assert answered == 200
    assert st["queries"] >= 200 and st["tx"] >= 200, dict(st)
    # 200 flows hashed over two sockets: both workers got some
    assert st["worker0_rx"] > 0 and st["worker1_rx"] > 0, dict(st)


@pytest.mark.parametrize("driver", ["af_packet"])   # the TAP is the same for both drivers
def test_gateway_route_on_the_tap_and_removed_at_exit(live_env, driver):
    """--gateway puts a default route via the TAP (metric 65053, never
    displacing the host's own) and it is gone after SIGTERM."""
    env = live_env(extra=lambda net: ("--gateway", f"10.53.{net.x}.254"))
    tap = f"lv-{env.net.levee_if}"
    routes = subprocess.run(["ip", "route", "show", "default", "dev", tap],
                            capture_output=True, text=True).stdout
    assert f"via 10.53.{env.net.x}.254" in routes and "metric 65053" in routes, routes
    rc, _ = env.lv.stop()
    assert rc == 0, env.lv.explain()
    left = subprocess.run(["ip", "route", "show", "default"],
                          capture_output=True, text=True).stdout
    assert tap not in left, left
