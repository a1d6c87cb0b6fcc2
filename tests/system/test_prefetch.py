"""Prefetch (issue 11, item 1): levee on --listen in front of a test
backend (tools/backend.py) on loopback. A hot answer hit in the last part
of its TTL is refreshed once, in the background, before it expires.

Counts asserted are the backend's own query counts and levee's counters.
"""
import time

import dns.rcode

from lvtest.front import a_addrs


def hammer(lv, name, seconds, every=0.02):
    """Query name every `every` s for `seconds`; every answer is checked.
    Returns how many were asked."""
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r = lv.query(name, timeout=2)
        assert r.rcode() == dns.rcode.NOERROR
        assert a_addrs(r) == ["192.0.2.2"]
        assert 0 <= r.answer[0].ttl <= 2
        n += 1
        time.sleep(every)
    return n


def test_hot_name_never_misses(backend, levee):
    """A name with a 2 s TTL asked 50 times a second for 10 s: after the
    first miss every answer comes from the cache (the worker never finds
    the entry expired), and the backend is asked about once per TTL:
    each entry is refreshed once, at 90 % of its TTL."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}"])
    asked = hammer(lv, "ttl2.sd.test.", 10.0)
    s = lv.stats()
    assert s["cache_misses"] == 1, s
    assert s["cache_expired"] == 0, s
    assert s["cache_hits"] == asked - 1, s
    # refreshed at 1.8, 3.6, 5.4, 7.2 and 9.0 s
    udp, tcp = b.queries("ttl2.sd.test.")
    assert 5 <= udp <= 7 and tcp == 0, (udp, s)
    assert s["forward_prefetches"] == udp - 1, s
    assert s[f"upstream[{b.spec}].prefetches"] == udp - 1, s
    # one request per entry, however many hits it had late in its TTL
    assert s["prefetch_asked"] == s["forward_prefetches"], s


def test_name_nobody_asks_for_is_not_refreshed(backend, levee):
    """Asked once, never again: it expires and is not fetched again."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}"])
    assert a_addrs(lv.query("ttl1.sd.test.")) == ["192.0.2.2"]
    time.sleep(2.5)
    assert b.queries("ttl1.sd.test.") == (1, 0)
    assert lv.stats()["forward_prefetches"] == 0


def test_prefetch_off_lets_hot_names_expire(backend, levee):
    """--forward-prefetch 0: the same hot name misses once per TTL."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}", "--forward-prefetch", "0"])
    hammer(lv, "ttl1.sd.test.", 3.5)
    s = lv.stats()
    assert s["forward_prefetches"] == 0 and s["prefetch_asked"] == 0, s
    assert s["cache_misses"] >= 3, s


def test_prefetch_of_failing_upstream_keeps_the_answer(backend, levee):
    """A refresh that times out does not replace the answer the cache
    holds: it is served to the end of its TTL (then the name misses)."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}", "--forward-prefetch", "50",
                "--forward-attempt-timeout", "200", "--forward-timeout",
                "400", "--forward-serve-stale", "false"])
    assert a_addrs(lv.query("ttl2.sd.test.")) == ["192.0.2.2"]
    b.freeze()
    time.sleep(1.2)  # past half of the TTL: this hit asks for a refresh
    r = lv.query("ttl2.sd.test.")
    assert a_addrs(r) == ["192.0.2.2"] and r.answer[0].ttl <= 1
    time.sleep(0.6)  # the refresh has failed by now
    r = lv.query("ttl2.sd.test.")
    assert r.rcode() == dns.rcode.NOERROR and a_addrs(r) == ["192.0.2.2"]
    s = lv.stats()
    assert s["forward_prefetches"] == 1 and s["forward_failed"] == 1, s
    assert s["cache_misses"] == 1, s
