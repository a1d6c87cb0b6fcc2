"""Restore after SIGINT (docs/operations.md): everything levee changed on
the host is undone when it is stopped with Ctrl-C, as after SIGTERM
(test_live.py's test_stats_at_exit covers SIGTERM).

The port starts with one of the service addresses of its own (levee
takes it away and puts it back), levee runs with --gateway (a default
route on its TAP) and --tune-kernel after the test lowered the TCP
backlog sysctls (host-wide; the test puts its own values back in a
finalizer). While levee serves, each change is checked to be in effect;
after SIGINT: exit 0, a final stats block, the log says so, and the port
(flags, MTU, promiscuity, XDP program, addresses, its IPv4/IPv6 sysctls),
the TAP (gone), the route (gone), the sysctls and EAL's runtime directory
are as before. Both drivers.
"""
import os
import signal
import subprocess

import dns.message
import dns.rcode
import pytest

from lvtest import netns
from test_live import driver, live_env, live_ok  # noqa: F401 (fixtures)

SYSCTLS = ("net/core/somaxconn", "net/ipv4/tcp_max_syn_backlog")
LOW = {"net/core/somaxconn": 1024, "net/ipv4/tcp_max_syn_backlog": 512}


@pytest.fixture
def neigh():
    return "kernel"


def _sysctl(path, value=None):
    with open(f"/proc/sys/{path}", "r+" if value is not None else "r") as f:
        if value is not None:
            f.write(str(value))
            return None
        return int(f.read())


@pytest.fixture
def low_backlog(request):
    before = {k: _sysctl(k) for k in SYSCTLS}
    request.addfinalizer(lambda: [_sysctl(k, v) for k, v in before.items()])
    for k, v in LOW.items():
        _sysctl(k, v)


def _default_routes():
    return subprocess.run(["ip", "route", "show", "default"], capture_output=True,
                          text=True, check=True).stdout


def test_sigint_restores_the_host(live_env, driver, low_backlog):
    def args(net):
        # the port holds a service address before levee starts
        netns.sh("ip", "addr", "add", f"{net.service4}/24", "dev", net.levee_if)
        return ["--gateway", f"10.53.{net.x}.254", "--tune-kernel"]
    env = live_env(extra=args)
    net, lv = env.net, env.lv
    tap = f"lv-{net.levee_if}"
    before = env.host_before
    assert f"{net.service4}/24" in before["addresses"]

    # in effect while levee serves
    s = net.udp_socket(4)
    try:
        s.settimeout(2)
        q = dns.message.make_query("www.levee.test.", "A")
        s.sendto(q.to_wire(), (net.service4, 53))
        r = dns.message.from_wire(s.recv(4096))
        assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "192.0.2.80"
    finally:
        s.close()
    during = net.host_state()
    changed_during = sorted(k for k in before if during.get(k) != before[k])
    print(f"{driver}: changed while levee runs: {changed_during}")
    assert during["tap"], f"no TAP {tap} while levee runs"
    # what levee changes on the port (docs/operations.md), so that the
    # restore below is checked against real changes
    want = {"addresses", "ipv4.arp_ignore", "ipv4.rp_filter", "ipv6.disable_ipv6", "tap"}
    if driver == "af_xdp":
        want.add("xdp")
    assert want <= set(changed_during), changed_during
    assert net.service4 not in during["addresses"], during["addresses"]
    routes = _default_routes()
    assert f"via 10.53.{net.x}.254 dev {tap}" in routes and "metric 65053" in routes, routes
    assert [_sysctl(k) for k in SYSCTLS] == [4096, 1024]

    rc, st = lv.stop(sig=signal.SIGINT)
    assert rc == 0, lv.explain()
    assert st is not None and st["rx"] > 0, "no final stats block\n" + lv.explain()
    assert "signal 2: stopping" in lv.stderr(), lv.explain()

    after = net.host_state()
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert not changed, f"not restored after SIGINT (before, after): {changed}"
    assert not after["tap"]
    assert tap not in _default_routes()
    assert {k: _sysctl(k) for k in SYSCTLS} == LOW
    assert not os.path.exists(lv.runtime_dir()), "EAL runtime directory left behind"
    assert "could not restore" not in lv.stderr(), lv.explain()
