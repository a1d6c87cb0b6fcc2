"""SIGHUP on a running levee (live AF_PACKET port): a changed zone is
re-read and published; from the log line "zone X serial S loaded (N
records)" on, no answer carries the old data — also for a name whose old
answer sat in the dataplane's cache; a zone file that fails keeps the old
version serving, with file, line and the error logged.
"""
import os
import signal
import time

import dns.message
import pytest

from test_live import live_env  # noqa: F401 (fixture)

ORIGIN = "reload.test."
ZONE = """$ORIGIN reload.test.
$TTL 300
@ IN SOA ns hostmaster {serial} 7200 3600 1209600 60
@ IN NS ns
ns IN A 192.0.2.1
www IN A {www}
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


@pytest.fixture
def zones(workdir):
    """One zone of the test's own, in the test's directory."""
    path = os.path.join(workdir, "reload.test.zone")
    write_zone(path, 1, "192.0.2.10")
    return {ORIGIN: path}


def write_zone(path, serial, www):
    with open(path + ".tmp", "w") as f:
        f.write(ZONE.format(serial=serial, www=www))
    os.replace(path + ".tmp", path)  # a new inode: the reload sees it


def ask_www(net):
    s = net.udp_socket(4)
    try:
        s.settimeout(2)
        q = dns.message.make_query("www." + ORIGIN, "A")
        s.sendto(q.to_wire(), (net.service4, 53))
        r = dns.message.from_wire(s.recv(4096))
        return [rd.address for rr in r.answer for rd in rr]
    finally:
        s.close()


def wait_log(lv, text, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in lv.stderr():
            return
        time.sleep(0.05)
    raise AssertionError(f"no log line {text!r} in {timeout}s\n" + lv.explain())


def test_sighup_reloads_changed_zone(live_env, zones):
    env = live_env()
    net, lv = env.net, env.lv
    path = zones[ORIGIN]
    assert ask_www(net) == ["192.0.2.10"]
    assert ask_www(net) == ["192.0.2.10"]      # now from the cache
    hits_before = lv.stats()["cache_hits"]
    assert hits_before >= 1

    write_zone(path, 2, "192.0.2.20")
    lv.proc.send_signal(signal.SIGHUP)
    wait_log(lv, f"zone {ORIGIN} serial 2 loaded (4 records)")
    # from the log line on, never the old answer
    for _ in range(20):
        assert ask_www(net) == ["192.0.2.20"]

    # a broken file: the old version keeps serving, file:line logged
    with open(path, "a") as f:
        f.write("broken IN A not-an-address\n")
    lv.proc.send_signal(signal.SIGHUP)
    wait_log(lv, f"{path}:7:")
    assert "old version kept" in lv.stderr()
    assert ask_www(net) == ["192.0.2.20"]

    rc, st = lv.stop()
    assert rc == 0, lv.explain()
