"""The YAML configuration at start-up and on SIGHUP, on a live AF_PACKET
port, checked on the wire, in the log and in the counters:

- SIGHUP with --config: zones added to the file are served, zones taken
  out of it are REFUSED (also names whose answer sat in the cache), the
  log says "zone X removed" and "zone X serial S loaded (N records)", and
  a zone put back is served again.
- per-zone allow-transfer at start-up: a zone with its own ACL, a zone
  with `allow-transfer: []` and a zone that inherits transfer.allow.

Each test writes its zones and its config into its own directory and
starts its own levee with `--config` and no `--zone` (test_live.py's
live_env: own namespace, veth pair, kernel neighbours).
"""
import os
import signal
import socket
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

import test_xfr
from test_live import live_env  # noqa: F401 (fixture)

ZONE = """$ORIGIN {origin}
$TTL 300
@ IN SOA ns hostmaster {serial} 7200 3600 1209600 60
@ IN NS ns
ns IN A 192.0.2.1
www IN A {www}
mail IN AAAA 2001:db8::{n}
"""
ADDR = {"a.test.": "192.0.2.11", "b.test.": "192.0.2.12", "c.test.": "192.0.2.13"}


@pytest.fixture
def driver():
    return "af_packet"


@pytest.fixture
def neigh():
    return "kernel"


@pytest.fixture
def live_ok():
    """live_env's refusal check needs the shared zones; a refusal fails
    in live_env here all the same (live.Unsupported)."""
    return True


@pytest.fixture
def zones():
    """No --zone: the config file lists them."""
    return {}


def write_zone(workdir, origin, serial=1):
    path = os.path.join(workdir, origin + "zone")
    with open(path + ".tmp", "w") as f:
        f.write(ZONE.format(origin=origin, serial=serial, www=ADDR[origin],
                            n=list(ADDR).index(origin) + 1))
    os.replace(path + ".tmp", path)
    return path


def write_config(path, zone_entries, transfer=None):
    """zone_entries: [(origin, file name, allow-transfer list or None)]."""
    lines = []
    if transfer is not None:
        lines += ["transfer:", f"  allow: [{', '.join(transfer)}]"]
    lines.append("zones:")
    for origin, fname, acl in zone_entries:
        lines += [f"  - origin: {origin}", f"    file: {fname}"]
        if acl is not None:
            lines.append(f"    allow-transfer: [{', '.join(acl)}]")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


def ask(net, name, qtype="A", family=4):
    """(rcode, AA, [answer rdata text]) for one UDP query from the namespace."""
    s = net.udp_socket(family)
    try:
        s.settimeout(2)
        q = dns.message.make_query(name, qtype)
        s.sendto(q.to_wire(), (net.service(family), 53))
        r = dns.message.from_wire(s.recv(4096))
        assert r.id == q.id
        return (r.rcode(), bool(r.flags & dns.flags.AA),
                [rd.to_text() for rr in r.answer for rd in rr])
    finally:
        s.close()


def log_count(lv, text):
    return lv.stderr().count(text)


def wait_log_count(lv, text, n, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_count(lv, text) >= n:
            return
        lv._check_running()
        time.sleep(0.05)
    raise AssertionError(f"log line {text!r} seen {log_count(lv, text)} times, "
                         f"expected {n}, within {timeout}s\n" + lv.explain())


def delta(after, before, keys):
    return {k: after[k] - before[k] for k in keys}


RCODES = ("rcode_noerror", "rcode_refused", "rcode_nxdomain")


def test_sighup_config_adds_and_removes_zones(live_env, workdir):
    cfg = os.path.join(workdir, "levee.yaml")
    for origin in ADDR:
        write_zone(workdir, origin)
    # relative file names: relative to the config file's directory
    write_config(cfg, [("a.test.", "a.test.zone", None), ("b.test.", "b.test.zone", None)])
    env = live_env(extra=["--config", cfg])
    net, lv = env.net, env.lv
    wait_log_count(lv, "zone a.test. serial 1 loaded (5 records)", 1)
    wait_log_count(lv, "zone b.test. serial 1 loaded (5 records)", 1)

    before = lv.stats()
    assert ask(net, "www.a.test.") == (dns.rcode.NOERROR, True, ["192.0.2.11"])
    for _ in range(3):                      # the first is a miss, then cached
        assert ask(net, "www.b.test.") == (dns.rcode.NOERROR, True, ["192.0.2.12"])
    assert ask(net, "www.c.test.")[0] == dns.rcode.REFUSED
    st = lv.stats()
    assert delta(st, before, RCODES) == {"rcode_noerror": 4, "rcode_refused": 1,
                                         "rcode_nxdomain": 0}
    assert st["cache_hits"] - before["cache_hits"] >= 2

    # b out, c in
    write_config(cfg, [("a.test.", "a.test.zone", None), ("c.test.", "c.test.zone", None)])
    os.kill(lv.proc.pid, signal.SIGHUP)
    wait_log_count(lv, "zone c.test. serial 1 loaded (5 records)", 1)
    wait_log_count(lv, "zone b.test. removed", 1)
    assert f"reload: re-reading {cfg}" in lv.stderr()
    assert log_count(lv, "zone a.test. serial 1 loaded") == 1, \
        "an unchanged zone was loaded again\n" + lv.explain()
    before = lv.stats()
    for _ in range(3):                      # never the cached old answer
        assert ask(net, "www.b.test.")[0] == dns.rcode.REFUSED
    assert ask(net, "b.test.", "SOA")[0] == dns.rcode.REFUSED
    assert ask(net, "www.c.test.") == (dns.rcode.NOERROR, True, ["192.0.2.13"])
    assert ask(net, "mail.c.test.", "AAAA", family=6) == \
        (dns.rcode.NOERROR, True, ["2001:db8::3"])
    assert ask(net, "nothing.c.test.")[0] == dns.rcode.NXDOMAIN
    assert ask(net, "www.a.test.") == (dns.rcode.NOERROR, True, ["192.0.2.11"])
    st = lv.stats()
    assert delta(st, before, RCODES) == {"rcode_noerror": 3, "rcode_refused": 4,
                                         "rcode_nxdomain": 1}

    # b back (a new serial), a removed: both in one SIGHUP
    write_zone(workdir, "b.test.", serial=2)
    write_config(cfg, [("b.test.", "b.test.zone", None), ("c.test.", "c.test.zone", None)])
    os.kill(lv.proc.pid, signal.SIGHUP)
    wait_log_count(lv, "zone b.test. serial 2 loaded (5 records)", 1)
    wait_log_count(lv, "zone a.test. removed", 1)
    before = lv.stats()
    assert ask(net, "www.a.test.")[0] == dns.rcode.REFUSED
    assert ask(net, "www.b.test.") == (dns.rcode.NOERROR, True, ["192.0.2.12"])
    assert ask(net, "www.c.test.") == (dns.rcode.NOERROR, True, ["192.0.2.13"])
    st = lv.stats()
    assert delta(st, before, RCODES) == {"rcode_noerror": 2, "rcode_refused": 1,
                                         "rcode_nxdomain": 0}

    # a config that fails to parse changes nothing
    with open(cfg, "a") as f:
        f.write("bogus-key: 1\n")
    os.kill(lv.proc.pid, signal.SIGHUP)
    wait_log_count(lv, f'reload: {cfg}:6: unknown key "bogus-key"', 1)
    assert log_count(lv, "; nothing changed") == 1, lv.explain()
    assert ask(net, "www.b.test.") == (dns.rcode.NOERROR, True, ["192.0.2.12"])
    assert ask(net, "www.c.test.") == (dns.rcode.NOERROR, True, ["192.0.2.13"])
    assert log_count(lv, "removed") == 2, lv.explain()

    rc, st = lv.stop()
    assert rc == 0, lv.explain()


def _axfr_rcode(net, server, origin):
    """(rcode of the first message, records in all) of one AXFR from the
    namespace."""
    q = test_xfr.xfr_query("AXFR", name=origin)
    sock = test_xfr.connect(net, server)
    try:
        test_xfr.send_msg(sock, q)
        msgs = test_xfr.read_xfr(sock, q, "AXFR", lifetime=20)
    finally:
        sock.close()
    assert msgs, f"no answer to AXFR {origin} from {server}"
    return msgs[0][1].rcode(), sum(len(m.answer) for _, m in msgs)


def test_per_zone_allow_transfer_at_startup(live_env, workdir):
    """a.test.: its own ACL (the client's IPv4 address only) replaces
    transfer.allow (the client's IPv6 address only); b.test.:
    `allow-transfer: []`, nobody; c.test.: none of its own, so
    transfer.allow."""
    cfg = os.path.join(workdir, "levee.yaml")
    for origin in ADDR:
        write_zone(workdir, origin)

    def args(net):
        write_config(cfg, [("a.test.", "a.test.zone", [f"{net.client4}/32"]),
                           ("b.test.", "b.test.zone", []),
                           ("c.test.", "c.test.zone", None)],
                     transfer=[f'"{net.client6}/128"'])
        return ["--config", cfg]
    env = live_env(extra=args)
    net, lv = env.net, env.lv
    want = {  # (zone, family): allowed
        ("a.test.", 4): True, ("a.test.", 6): False,
        ("b.test.", 4): False, ("b.test.", 6): False,
        ("c.test.", 4): False, ("c.test.", 6): True,
    }
    for (origin, fam), allowed in want.items():
        rcode, n = _axfr_rcode(net, net.service(fam), origin)
        if allowed:
            assert rcode == dns.rcode.NOERROR and n == 6, (origin, fam, rcode, n)
        else:
            assert rcode == dns.rcode.REFUSED and n == 0, (origin, fam, rcode, n)
    # ordinary queries for every zone are answered over UDP and TCP
    for origin in ADDR:
        assert ask(net, "www." + origin) == (dns.rcode.NOERROR, True, [ADDR[origin]])
        q = dns.message.make_query("www." + origin, "A")
        sock = test_xfr.connect(net, net.service4)
        try:
            test_xfr.send_msg(sock, q)
            head = test_xfr.recv_exact(sock, 2)
            r = dns.message.from_wire(test_xfr.recv_exact(sock, int.from_bytes(head, "big")))
        finally:
            sock.close()
        assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].to_text() == ADDR[origin]
    rc, st = lv.stop()
    assert rc == 0, lv.explain()
    assert (st["xfr_axfr"], st["xfr_done"], st["xfr_refused"], st["xfr_aborted"]) == \
        (2, 2, 4, 0), dict(st)



def test_zone_added_by_sighup_keeps_its_own_empty_acl(live_env, workdir):
    """Issue 9 item 3's regression: a zone added by SIGHUP with
    `allow-transfer: []` is REFUSED to a client that transfer.allow
    admits; the zone beside it that inherits transfer.allow is not."""
    cfg = os.path.join(workdir, "levee.yaml")
    for origin in ADDR:
        write_zone(workdir, origin)
    acl = []

    def args(net):
        acl.append(f"{net.client4}/32")
        write_config(cfg, [("a.test.", "a.test.zone", None)], transfer=acl)
        return ["--config", cfg]
    env = live_env(extra=args)
    net, lv = env.net, env.lv
    assert _axfr_rcode(net, net.service4, "a.test.") == (dns.rcode.NOERROR, 6)
    write_config(cfg, [("a.test.", "a.test.zone", None), ("b.test.", "b.test.zone", [])],
                 transfer=acl)
    os.kill(lv.proc.pid, signal.SIGHUP)
    wait_log_count(lv, "zone b.test. serial 1 loaded (5 records)", 1)
    assert ask(net, "www.b.test.") == (dns.rcode.NOERROR, True, ["192.0.2.12"])
    assert _axfr_rcode(net, net.service4, "b.test.") == (dns.rcode.REFUSED, 0)
    assert _axfr_rcode(net, net.service4, "a.test.") == (dns.rcode.NOERROR, 6)
    rc, st = lv.stop()
    assert rc == 0, lv.explain()
    assert (st["xfr_axfr"], st["xfr_done"], st["xfr_refused"]) == (2, 2, 1), dict(st)


def test_restart_only_settings_kept_and_named(live_env, workdir):
    """A SIGHUP whose file changes settings that need a restart keeps
    them as running and names them in one warning line; what may change
    (zones, tcp-idle-timeout-ms, the log level) changes."""
    cfg = os.path.join(workdir, "levee.yaml")
    for origin in ADDR:
        write_zone(workdir, origin)

    def with_server(path, server_lines, zones):
        write_config(path, zones)
        with open(path) as f:
            body = f.read()
        with open(path + ".tmp", "w") as f:
            f.write("server:\n" + "".join(f"  {l}\n" for l in server_lines) + body)
        os.replace(path + ".tmp", path)

    with_server(cfg, ["udp-max-payload: 1232", "max-requests: 64",
                      "tcp-idle-timeout-ms: 10000"],
                [("a.test.", "a.test.zone", None)])
    env = live_env(extra=["--config", cfg])
    net, lv = env.net, env.lv
    with_server(cfg, ["udp-max-payload: 1400", "max-requests: 128",
                      "miss-ring-size: 1024", "tcp-idle-timeout-ms: 700",
                      "log-level: warning"],
                [("a.test.", "a.test.zone", None), ("b.test.", "b.test.zone", None)])
    os.kill(lv.proc.pid, signal.SIGHUP)
    line = ("reload: udp-max-payload, miss-ring-size, max-requests changed in "
            "the configuration; kept as running until a restart")
    wait_log_count(lv, line, 1)
    assert log_count(lv, "kept as running") == 1, lv.stderr()
    # zones follow the file (b is served: its load line is info, which the
    # new level no longer prints, so ask)
    deadline = time.monotonic() + 10
    while ask(net, "www.b.test.")[0] != dns.rcode.NOERROR:
        assert time.monotonic() < deadline, lv.explain()
        time.sleep(0.1)
    # the new idle timeout applies: an idle TCP connection closes in ~0.7 s
    t = net.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.settimeout(5)
    t.connect((net.service4, 53))
    t0 = time.monotonic()
    assert t.recv(1) == b""
    took = time.monotonic() - t0
    t.close()
    assert 0.5 < took < 3.0, took
    rc, st = lv.stop()
    assert rc == 0, lv.explain()
    assert st["tcp_closed_idle"] >= 1, dict(st)
