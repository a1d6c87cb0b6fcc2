"""Serve-stale (RFC 8767; issue 11, item 2): levee on --listen in front of
test backends (tools/backend.py) on loopback. An expired answer is kept
for the stale window and served, with a short TTL and the Extended DNS
Error "Stale Answer" (RFC 8914, code 3) to EDNS clients, when the
upstreams fail or have not answered within the client-response timer.

A backend is black-holed by freeze() (SIGSTOP) and brought back with
resume(); killed, its port answers ICMP unreachable at once.
"""
import time

import dns.edns
import dns.rcode

from lvtest.front import a_addrs, wait_for


def ede_codes(r):
    return [o.code for o in r.options if o.otype == dns.edns.EDE]


def timed(lv, name, **kw):
    t0 = time.monotonic()
    r = lv.query(name, timeout=6, **kw)
    return r, time.monotonic() - t0


def is_stale(r, ttl):
    return (r.rcode() == dns.rcode.NOERROR and a_addrs(r) == ["192.0.2.2"]
            and ede_codes(r) == [3] and r.answer[0].ttl <= ttl)


def test_stopped_upstream_stale_within_client_timer_then_fresh(backend, levee):
    """The upstream stops answering: a client asking for an expired name
    gets the stale answer (TTL 2 here, EDE 3) after the client-response
    timer (1.8 s by default), not a timeout; later clients get it at once
    from the workers' cache (the stale copy), and clients without EDNS
    get it without EDE. Once the upstream answers again the fresh answer
    replaces the stale one."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}",
                "--forward-stale-answer-ttl", "2"])
    assert a_addrs(lv.query("ttl1.sd.test.")) == ["192.0.2.2"]
    b.freeze()
    time.sleep(1.3)  # expired
    r, took = timed(lv, "ttl1.sd.test.")
    assert is_stale(r, 2), r
    assert 1.7 <= took <= 2.6, took
    r, took = timed(lv, "ttl1.sd.test.")
    assert is_stale(r, 2) and took < 0.3, (r, took)
    r = lv.query("ttl1.sd.test.", edns=-1)
    assert a_addrs(r) == ["192.0.2.2"] and r.answer[0].ttl <= 2
    assert r.edns < 0 and not r.options
    s = lv.stats()
    assert s["cache_hits_stale"] == 2, s
    assert s["forward_stale_answers"] == 1 and s["forward_stale_copies"] == 1, s
    assert s["rule[sd.test.].stale_answers"] == 1, s
    assert s[f"upstream[{b.spec}].stale_answers"] == 1, s

    b.resume()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        r = lv.query("ttl1.sd.test.")
        if not ede_codes(r):
            break
        time.sleep(0.1)
    assert not ede_codes(r) and r.answer[0].ttl <= 1, r
    assert a_addrs(r) == ["192.0.2.2"]


def test_dead_upstream_stale_at_once(backend, levee):
    """Every try refused at once (the upstream's port is closed): the stale
    answer comes at once, without waiting for the timer."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}"])
    assert a_addrs(lv.query("ttl1.sd.test.")) == ["192.0.2.2"]
    b.kill()
    time.sleep(1.3)
    r, took = timed(lv, "ttl1.sd.test.")
    assert is_stale(r, 30) and r.answer[0].ttl == 30, r
    assert took < 0.5, took


def test_upstream_servfail_is_answered_stale_and_retried_bounded(backend,
                                                                   levee):
    """The upstream answers, but SERVFAIL (RFC 8767 §5 counts that as a
    failed refresh): the stale answer at once, and while clients keep
    asking, the upstream is asked again about once per stale-answer TTL
    (the stale copy answers the rest in the workers), never once per
    client query. When it answers again the fresh answer is back."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}",
                "--forward-stale-answer-ttl", "1"])
    assert a_addrs(lv.query("ttl1.sd.test.")) == ["192.0.2.2"]
    port = b.port
    b.kill()
    bad = backend(port=port, extra=["--rcode", "SERVFAIL"])
    time.sleep(1.3)  # expired
    r, took = timed(lv, "ttl1.sd.test.")
    assert is_stale(r, 1), r
    assert took < 0.5, took
    clients = 1
    t_end = time.monotonic() + 4
    while time.monotonic() < t_end:
        r = lv.query("ttl1.sd.test.")
        assert is_stale(r, 1), r
        clients += 1
        time.sleep(0.02)
    asked = bad.queries("ttl1.sd.test.")[0]
    # one refresh per second of stale TTL, 4 s: 4 to 6, whatever the
    # client rate (here about 40 a second)
    assert clients > 60 and 3 <= asked <= 6, (clients, asked)
    s = lv.stats()
    assert s["rule[sd.test.].servfail_upstream"] == 0, s
    assert s["rule[sd.test.].stale_answers"] == asked, s
    assert s[f"upstream[{b.spec}].answers_servfail"] >= asked, s  # its loop probe too
    assert s[f"upstream[{b.spec}].up"] == 1, s  # a SERVFAIL is an answer

    bad.kill()
    good = backend(port=port)
    assert good
    assert wait_for(lambda: not ede_codes(lv.query("ttl1.sd.test.")), 4)


def test_all_upstreams_down_answer_from_stale(backend, levee):
    """Every upstream of the rule is down (probes unanswered): stale at
    once, never a hang."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}",
                "--forward-attempt-timeout", "200", "--forward-timeout", "600",
                "--forward-fail-threshold", "1", "--forward-probe-interval",
                "5000", "--forward-stale-client-timeout", "0"])
    assert a_addrs(lv.query("ttl1.sd.test.")) == ["192.0.2.2"]
    b.freeze()
    # take it down: a name never cached times out, the probe too
    r = lv.query("other.sd.test.", timeout=3)
    assert r.rcode() == dns.rcode.SERVFAIL
    deadline = time.monotonic() + 3
    while lv.stats()[f"upstream[{b.spec}].up"] != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.5)  # ttl1 expired by now
    r, took = timed(lv, "ttl1.sd.test.")
    assert is_stale(r, 30), r
    assert took < 0.3, took
    assert lv.stats()["forward_all_down"] >= 1


def test_serve_stale_off_is_servfail(backend, levee):
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}", "--forward-serve-stale",
                "false", "--forward-attempt-timeout", "200",
                "--forward-timeout", "500"])
    assert a_addrs(lv.query("ttl1.sd.test.")) == ["192.0.2.2"]
    b.freeze()
    time.sleep(1.3)
    r = lv.query("ttl1.sd.test.")
    assert r.rcode() == dns.rcode.SERVFAIL and not ede_codes(r)
    assert lv.stats()["forward_stale_answers"] == 0


def test_stale_window_closes(backend, levee):
    """--forward-stale-window 1: an answer expired for longer is gone; the
    client waits for the upstreams and gets SERVFAIL."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}",
                "--forward-stale-window", "1", "--forward-attempt-timeout",
                "200", "--forward-timeout", "500"])
    assert a_addrs(lv.query("ttl1.sd.test.")) == ["192.0.2.2"]
    b.freeze()
    time.sleep(2.5)
    r = lv.query("ttl1.sd.test.")
    assert r.rcode() == dns.rcode.SERVFAIL


def test_stale_copy_lives_no_longer_than_the_window(backend, levee):
    """--forward-stale-window 3 with the default 30 s stale-answer TTL: the
    stale copy made 0.3 s after expiry is served with the 2 whole seconds
    left of the window, not 30, and once the window has closed the name
    is SERVFAIL, not stale."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}",
                "--forward-stale-window", "3"])
    assert a_addrs(lv.query("ttl1.sd.test.")) == ["192.0.2.2"]
    b.kill()
    time.sleep(1.3)
    r, took = timed(lv, "ttl1.sd.test.")
    assert is_stale(r, 2) and took < 0.5, (r, took)
    time.sleep(3.2)  # past the window: expiry + 3 s
    r = lv.query("ttl1.sd.test.")
    assert r.rcode() == dns.rcode.SERVFAIL, r
    assert lv.stats()["forward_stale_copies"] == 1


def test_client_joining_a_refresh_gets_stale_within_client_timer(backend,
                                                                   levee):
    """A refresh (prefetch) of a hot name hangs on a black-holed upstream;
    the answer expires meanwhile and a client misses: it joins the
    refresh in flight and still gets the stale answer when the
    client-response timer (0.5 s here) fires, not when the refresh gives
    up (3 s after it began)."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}", "--forward-prefetch", "50",
                "--forward-stale-client-timeout", "500",
                "--forward-stale-answer-ttl", "2"])
    assert a_addrs(lv.query("ttl2.sd.test.")) == ["192.0.2.2"]
    b.freeze()
    time.sleep(1.2)  # past half of the TTL: this hit asks for a refresh
    assert a_addrs(lv.query("ttl2.sd.test.")) == ["192.0.2.2"]
    time.sleep(1.0)  # expired, the refresh still out
    r, took = timed(lv, "ttl2.sd.test.")
    assert is_stale(r, 2) and took < 1.2, (r, took)
    s = lv.stats()
    assert s["forward_prefetches"] == 1 and s["forward_coalesced"] == 1, s
    assert s["forward_stale_answers"] == 1, s


def test_bad_stale_settings_are_one_line(levee_bin, workdir):
    import subprocess
    for args, key in ((["--forward-stale-window", "0"], "--forward-stale-window"),
                      (["--forward-serve-stale", "maybe"], "--forward-serve-stale"),
                      (["--forward-prefetch", "91"], "--forward-prefetch")):
        p = subprocess.run([levee_bin, "--listen", "127.0.0.1@53000"] + args,
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 2, p
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and key in lines[0], p.stderr
