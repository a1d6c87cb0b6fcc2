"""Upstream health and selection (issue 11, item 3): levee on --listen in
front of test backends (tools/backend.py) on loopback.

A backend is black-holed by freeze() (SIGSTOP: its sockets stay open and
take queries, nothing answers) and brought back with resume() (SIGCONT).
Every count asserted is levee's own per-upstream counter or the backends'
own query counts.
"""
import time

import dns.rcode
import pytest

from lvtest.front import a_addrs, wait_for


def asked(b, prefix="", suffix=""):
    """UDP queries backend b got for names with that prefix and suffix
    (levee's loop probes, lv-loop-*, left out)."""
    return sum(v for k, v in b.counts().items()
               if isinstance(k, tuple) and k[0] == "q" and k[3] == "udp"
               and k[1].startswith(prefix) and k[1].endswith(suffix)
               and not k[1].startswith("lv-loop-"))


def timed_query(lv, name):
    t0 = time.monotonic()
    r = lv.query(name, timeout=5)
    return r, time.monotonic() - t0


HEALTH = ["--forward-attempt-timeout", "300", "--forward-timeout", "2000",
          "--forward-fail-threshold", "3", "--forward-probe-interval", "300",
          "--forward-probe-max-interval", "1200"]


def test_blackholed_upstream_out_of_rotation_and_back(backend, levee):
    """Two upstreams, round-robin. One stops answering: the first clients
    sent to it wait one attempt timeout (the other answers them), then it
    is probed, found down (one log line) and skipped: every later query is
    answered at once by the other. When it answers again, a probe brings
    it back (one line) and it gets its share again."""
    b1, b2 = backend(), backend()
    lv = levee(["--forward", f"sd.test.={b1.spec},{b2.spec}",
                "--forward-selection", "round-robin"] + HEALTH)
    for i in range(6):
        assert a_addrs(lv.query(f"a.warm{i}.sd.test.")) == ["192.0.2.1"]
    assert asked(b1, "a.warm") == 3 and asked(b2, "a.warm") == 3

    b1.freeze()
    slow = 0
    for i in range(30):
        r, took = timed_query(lv, f"a.dark{i}.sd.test.")
        assert a_addrs(r) == ["192.0.2.1"], r
        assert took < 1.0, (i, took)
        slow += took > 0.2
    assert 1 <= slow <= 4, slow  # until the probe decided
    st = lv.stats()
    up1 = f"upstream[{b1.spec}]"
    assert st[f"{up1}.up"] == 0 and st[f"{up1}.downs"] == 1
    assert st[f"{up1}.down"] == 1 and st[f"{up1}.looping"] == 0
    # its timeouts count in its answer time (300 ms tries, 1/8 each)
    assert st[f"{up1}.srtt_us"] > 30000, st[f"{up1}.srtt_us"]
    assert st[f"{up1}.probes_failed"] >= 1
    assert "is down" in lv.stderr()
    for i in range(20):  # down: no client waits for it any more
        r, took = timed_query(lv, f"a.after{i}.sd.test.")
        assert a_addrs(r) == ["192.0.2.1"] and took < 0.2, took
    assert asked(b2, "a.after") == 20

    b1.resume()
    assert wait_for(lambda: lv.stats()[f"{up1}.up"] == 1, 10), lv.stats()
    assert lv.stats()[f"{up1}.down"] == 0
    assert "is up again" in lv.stderr()
    for i in range(10):
        assert a_addrs(lv.query(f"a.back{i}.sd.test.")) == ["192.0.2.1"]
    assert asked(b1, "a.back") == 5 and asked(b2, "a.back") == 5


def test_every_upstream_down_is_servfail_at_once(backend, levee):
    """Both upstreams of the rule black-holed: once both are found down,
    clients get SERVFAIL at once (counted forward_all_down), not after
    the timeouts; uncached, so the first query after one comes back is
    answered."""
    b1, b2 = backend(), backend()
    lv = levee(["--forward", f"sd.test.={b1.spec},{b2.spec}"] + HEALTH)
    assert a_addrs(lv.query("a.first.sd.test.")) == ["192.0.2.1"]
    b1.freeze()
    b2.freeze()
    for i in range(6):
        assert lv.query(f"a.dark{i}.sd.test.").rcode() == dns.rcode.SERVFAIL
    assert wait_for(lambda: lv.stats()[f"upstream[{b2.spec}].up"] == 0 and
                    lv.stats()[f"upstream[{b1.spec}].up"] == 0, 5)
    for i in range(10):
        r, took = timed_query(lv, f"a.down{i}.sd.test.")
        assert r.rcode() == dns.rcode.SERVFAIL and took < 0.2, took
    st = lv.stats()
    assert st["forward_all_down"] >= 10
    assert st["rule[sd.test.].servfail_down"] >= 10
    assert st["rule[sd.test.].servfail_timeout"] >= 1  # before they were down
    b2.resume()
    assert wait_for(lambda: lv.stats()[f"upstream[{b2.spec}].up"] == 1, 10)
    assert a_addrs(lv.query("a.down0.sd.test.")) == ["192.0.2.1"]


def test_one_dead_name_keeps_the_upstream_up(backend, levee):
    """A name the upstream never answers fails again and again, past the
    fail threshold: the probe (. SOA) is answered, so the upstream stays
    up and other names are answered at once."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}"] + HEALTH)
    for i in range(4):
        assert lv.query(f"drop.x{i}.sd.test.", timeout=5).rcode() == \
            dns.rcode.SERVFAIL
    st = lv.stats()
    up = f"upstream[{b.spec}]"
    assert st[f"{up}.probes"] >= 1 and st[f"{up}.probes_failed"] == 0
    assert st[f"{up}.up"] == 1 and st[f"{up}.downs"] == 0
    assert b.queries(".", "SOA")[0] == st[f"{up}.probes"]
    r, took = timed_query(lv, "a.live.sd.test.")
    assert a_addrs(r) == ["192.0.2.1"] and took < 0.2


@pytest.mark.parametrize("policy", ["first-available", "round-robin",
                                    "weighted-latency"])
def test_selection_policies(backend, levee, policy):
    """first-available: every name to the first upstream; round-robin: in
    turn, exactly; weighted-latency (the default): an upstream 30 ms
    slower than the other gets clearly fewer of the names (its share is
    weight / (srtt + 1 ms)), yet some, so its srtt stays known."""
    fast, slow = backend(), backend(extra=["--delay-ms", "30"])
    lv = levee(["--forward", f"sd.test.={slow.spec},{fast.spec}",
                "--forward-selection", policy])
    n = 200
    for i in range(n):
        assert a_addrs(lv.query(f"a.p{i}.sd.test.")) == ["192.0.2.1"]
    to_slow, to_fast = asked(slow, "a.p"), asked(fast, "a.p")
    assert to_slow + to_fast == n
    if policy == "first-available":
        assert to_slow == n
    elif policy == "round-robin":
        assert to_slow == to_fast == n // 2
    else:
        assert 1 <= to_slow <= n // 5, (to_slow, to_fast)
        st = lv.stats()
        assert st[f"upstream[{slow.spec}].srtt_us"] >= 25000
        assert 0 < st[f"upstream[{fast.spec}].srtt_us"] < 25000


def test_bad_health_values_are_one_line(levee_bin, workdir):
    import subprocess
    for args, want in [
            (["--forward-selection", "random"],
             '--forward-selection: expected weighted-latency, first-available '
             'or round-robin, got "random"'),
            (["--forward-probe-query", "example.com BOGUS"],
             '--forward-probe-query: expected a name and a type, like ". SOA", '
             'got "example.com BOGUS"'),
            (["--forward-fail-threshold", "0"],
             '--forward-fail-threshold: expected an integer 1..100, got "0"')]:
        p = subprocess.run([levee_bin, "--listen", "127.0.0.1@5", "--forward",
                            ".=127.0.0.1"] + args, capture_output=True,
                           text=True, timeout=20)
        assert p.returncode != 0
        lines = p.stderr.strip().splitlines()
        assert lines == ["levee: " + want], lines


def test_a_rule_has_its_own_selection(backend, levee, workdir):
    """forward[].selection overrides forwarding.selection for its rule
    only."""
    import os
    b1, b2 = backend(), backend()
    conf = os.path.join(workdir, "levee.yaml")
    with open(conf, "w") as f:
        f.write("forward:\n"
                f"  - name: one.test.\n    upstreams: [\"{b1.spec}\", \"{b2.spec}\"]\n"
                "    selection: first-available\n"
                f"  - name: two.test.\n    upstreams: [\"{b1.spec}\", \"{b2.spec}\"]\n"
                "forwarding:\n  selection: round-robin\n")
    lv = levee(["--config", conf])
    for i in range(20):
        assert a_addrs(lv.query(f"a.n{i}.one.test.")) == ["192.0.2.1"]
        assert a_addrs(lv.query(f"a.n{i}.two.test.")) == ["192.0.2.1"]
    one = [asked(b, suffix=".one.test.") for b in (b1, b2)]
    two = [asked(b, suffix=".two.test.") for b in (b1, b2)]
    assert one == [20, 0] and two == [10, 10], (one, two)
