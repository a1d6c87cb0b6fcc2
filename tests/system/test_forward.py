"""The caching front: levee on --listen 127.0.0.1@PORT forwarding misses to
real upstreams on loopback (tools/backend.py, and knotd), caching by TTL,
fetching truncated answers whole over TCP, coalescing.

Every test counts the queries the upstream itself saw (the backend's own
counters), never only levee's.
"""
import os
import threading
import time

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from lvtest import front, knot
from lvtest.front import a_addrs

HERE = os.path.dirname(os.path.abspath(__file__))


def test_answer_passed_on_and_cached(backend, levee):
    """The upstream's answer reaches the client with RA=1, AA=0, the
    client's ID, RD and name case; the second query is a cache hit that
    the upstream never sees."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}"])
    r = lv.query("A.Sd.TeSt.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert a_addrs(r) == ["192.0.2.1"]
    assert r.flags & dns.flags.RA and not r.flags & dns.flags.AA
    assert r.flags & dns.flags.RD
    assert r.question[0].name.to_text() == "A.Sd.TeSt."
    r2 = lv.query("a.sd.test.", "A")
    assert a_addrs(r2) == ["192.0.2.1"]
    assert b.queries("a.sd.test.") == (1, 0)
    st = lv.stats()
    assert st["forward_fetches"] == 1 and st["forward_cached"] == 1
    # its loop probes (test_loop.py) are queries of their own
    assert st[f"upstream[{b.spec}].queries_udp"] - \
        st[f"upstream[{b.spec}].loop_probes"] == 1
    assert st[f"upstream[{b.spec}].answers_noerror"] == 1


def test_upstream_query_always_has_edns(backend, levee):
    """A client without EDNS, and one with EDNS 4096: both upstream
    queries carry EDNS with levee's own size (1232 by default), and the
    client without EDNS gets an answer without OPT."""
    b = backend()
    # no start-up loop probe, whose time would race the counts; the probe
    # a client on the backend's address sets off (a hint) is sent before
    # the client's own query, and counted in loop_probes
    lv = levee(["--forward", f"sd.test.={b.spec}",
                "--forward-loop-probe-interval", "0"])
    r = lv.query("a.plain.sd.test.", edns=False)
    assert a_addrs(r) == ["192.0.2.1"] and r.edns < 0
    r = lv.query("a.big.sd.test.", payload=4096)
    assert a_addrs(r) == ["192.0.2.1"] and r.edns == 0
    c = b.counts()
    assert c.get("noedns", 0) == 0
    assert c.get(("edns", "1232"), 0) == \
        2 + lv.stats()[f"upstream[{b.spec}].loop_probes"]


def test_no_rule_is_refused_and_local_zones_come_first(backend, levee, zones):
    """A name no zone and no rule covers stays REFUSED; a name in a local
    zone is answered from it (AA) even under a rule for the root."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}",
                "--zone", f"levee.test.={zones['levee.test.']}"])
    assert lv.query("a.elsewhere.test.").rcode() == dns.rcode.REFUSED
    r = lv.query("levee.test.", "SOA")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    lv.stop()
    lv = levee(["--forward", f".={b.spec}",
                "--zone", f"levee.test.={zones['levee.test.']}"])
    r = lv.query("levee.test.", "SOA")
    assert r.flags & dns.flags.AA
    assert lv.query("a.elsewhere.test.").rcode() == dns.rcode.NOERROR
    assert b.queries("levee.test.", "SOA") == (0, 0)


def test_longest_suffix_wins(backend, levee):
    b1, b2 = backend(), backend()
    lv = levee(["--forward", f"sd.test.={b1.spec}", "--forward", f".={b2.spec}"])
    assert a_addrs(lv.query("a.x.sd.test.")) == ["192.0.2.1"]
    assert a_addrs(lv.query("a.other.test.")) == ["192.0.2.1"]
    assert b1.queries("a.x.sd.test.") == (1, 0)
    assert b2.queries("a.x.sd.test.") == (0, 0)
    assert b2.queries("a.other.test.") == (1, 0)


def test_ttl_counts_down_and_expiry_refetches(backend, levee):
    """TTLs served from the cache fall by the entry's age, to the second;
    once expired the name is fetched again and the TTL is whole again."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}"])
    t0 = time.monotonic()
    r = lv.query("ttl4.sd.test.")
    assert r.answer[0].ttl == 4
    time.sleep(2.3)
    r = lv.query("ttl4.sd.test.")
    elapsed = time.monotonic() - t0
    assert 4 - int(elapsed + 0.999) <= r.answer[0].ttl <= 4 - int(elapsed), elapsed
    assert b.queries("ttl4.sd.test.") == (1, 0)
    time.sleep(max(0.0, 4.3 - (time.monotonic() - t0)))
    r = lv.query("ttl4.sd.test.")
    assert r.answer[0].ttl == 4
    assert b.queries("ttl4.sd.test.") == (2, 0)


def test_ttl_clamped(backend, levee):
    """cache-min-ttl and cache-max-ttl bound how long an answer is kept,
    and the TTLs served say so (never longer, or shorter, than cached)."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}", "--cache-min-ttl", "30",
                "--cache-max-ttl", "100"])
    t0 = time.monotonic()
    assert lv.query("ttl5.sd.test.").answer[0].ttl == 30   # upstream said 5
    assert lv.query("a.sd.test.").answer[0].ttl == 100     # upstream said 300
    time.sleep(5.5)
    r = lv.query("ttl5.sd.test.")
    elapsed = time.monotonic() - t0
    assert 30 - int(elapsed + 0.999) <= r.answer[0].ttl <= 30 - int(elapsed)
    assert b.queries("ttl5.sd.test.") == (1, 0)


def test_negative_answers_cached_per_soa(backend, levee):
    """NXDOMAIN and NODATA are cached for min(SOA TTL, MINIMUM) (RFC 2308);
    a negative answer without an SOA is not cached."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}"])
    for _ in range(3):
        r = lv.query("nx.sd.test.")
        assert r.rcode() == dns.rcode.NXDOMAIN
        assert r.authority and r.authority[0].rdtype == dns.rdatatype.SOA
        r = lv.query("nodata.sd.test.")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer
        r = lv.query("nosoa.sd.test.")
        assert r.rcode() == dns.rcode.NXDOMAIN
    assert b.queries("nx.sd.test.") == (1, 0)
    assert b.queries("nodata.sd.test.") == (1, 0)
    assert b.queries("nosoa.sd.test.") == (3, 0)


def test_servfail_cached_briefly_refused_not_cached(backend, levee):
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}", "--cache-servfail-ttl", "2"])
    for _ in range(3):
        assert lv.query("servfail.sd.test.").rcode() == dns.rcode.SERVFAIL
        assert lv.query("refused.sd.test.").rcode() == dns.rcode.REFUSED
    assert b.queries("servfail.sd.test.") == (1, 0)
    assert b.queries("refused.sd.test.") == (3, 0)
    time.sleep(2.5)
    assert lv.query("servfail.sd.test.").rcode() == dns.rcode.SERVFAIL
    assert b.queries("servfail.sd.test.") == (2, 0)


def test_timeout_tries_next_upstream_then_servfail(backend, levee):
    """A silent upstream: the next one of the rule answers; when none
    does, SERVFAIL within the configured time, cached briefly."""
    good = backend()
    lv = levee(["--forward", f"sd.test.=127.0.0.1@{knot.free_port()},{good.spec}",
                "--forward-attempt-timeout", "300", "--forward-timeout", "1500"])
    for i in range(6):
        r = lv.query(f"a.n{i}.sd.test.")
        assert a_addrs(r) == ["192.0.2.1"]
    t0 = time.monotonic()
    r = lv.query("drop.sd.test.", timeout=5)
    took = time.monotonic() - t0
    assert r.rcode() == dns.rcode.SERVFAIL
    assert took < 1.5 + 0.5, took
    st = lv.stats()
    assert st["forward_failed"] == 1
    assert st["rule[sd.test.].servfail_timeout"] == 1
    assert st["rule[sd.test.].servfail_down"] == 0


def test_failing_name_leaves_the_upstream_up_for_others(backend, levee):
    """Names that time out at the upstream (SERVFAIL after the configured
    time) do not slow or fail other names sent to the same, only upstream
    while they wait, nor after."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}",
                "--forward-attempt-timeout", "300", "--forward-timeout", "1200"])
    failed = []

    def ask_dead(i):
        failed.append(lv.query(f"drop.d{i}.sd.test.", timeout=5).rcode())

    threads = [threading.Thread(target=ask_dead, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    for i in range(20):
        t0 = time.monotonic()
        r = lv.query(f"a.live{i}.sd.test.", timeout=2)
        assert a_addrs(r) == ["192.0.2.1"]
        assert time.monotonic() - t0 < 1.0  # the dead names take 1.2 s
    for t in threads:
        t.join()
    assert failed == [dns.rcode.SERVFAIL] * 8
    assert a_addrs(lv.query("a.after.sd.test.")) == ["192.0.2.1"]
    st = lv.stats()
    assert st["forward_failed"] == 8
    assert st[f"upstream[{b.spec}].timeouts"] >= 8


def test_servfail_from_one_upstream_tries_the_next(backend, levee):
    """One upstream of two answers SERVFAIL to everything: each name is
    answered by the other, whichever is asked first; with both broken the
    client gets SERVFAIL after one try each."""
    bad = backend(extra=["--rcode", "SERVFAIL"])
    good = backend()
    lv = levee(["--forward", f"sd.test.={bad.spec},{good.spec}"])
    for i in range(8):
        assert a_addrs(lv.query(f"a.n{i}.sd.test.")) == ["192.0.2.1"]
    st = lv.stats()
    assert st[f"upstream[{good.spec}].answers_noerror"] == 8
    assert st["forward_cached"] == 8
    bad2 = backend(extra=["--rcode", "SERVFAIL"])
    lv2 = levee(["--forward", f"sd.test.={bad.spec},{bad2.spec}"])
    assert lv2.query("a.both.sd.test.").rcode() == dns.rcode.SERVFAIL
    assert bad.queries("a.both.sd.test.") == (1, 0)
    assert bad2.queries("a.both.sd.test.") == (1, 0)
    st = lv2.stats()
    assert st["rule[sd.test.].servfail_upstream"] == 1
    assert st["rule[sd.test.].servfail_timeout"] == 0


def test_spoofed_answers_never_cached(backend, levee):
    """A wrong ID or a wrong question from the upstream's own address is
    dropped and counted; the real answer is the one cached."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}"])
    for _ in range(2):
        assert a_addrs(lv.query("spoof.sd.test.")) == ["192.0.2.5"]
    st = lv.stats()
    assert st[f"upstream[{b.spec}].mismatched"] == 2
    assert b.queries("spoof.sd.test.") == (1, 0)


def _burst(lv, name, n, edns=True, payload=1232, first_id=1):
    qs = []
    for i in range(n):
        q = dns.message.make_query(name, "A", use_edns=0 if edns else False,
                                   payload=payload)
        q.id = first_id + i
        qs.append(q.to_wire())
    return front.udp_burst(lv.address, lv.port, qs)


def test_coalescing_1000_simultaneous_misses(backend, levee):
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}"])
    got = _burst(lv, "slow300.sd.test.", 1000)
    assert len(got) == 1000
    for w in got.values():
        assert a_addrs(dns.message.from_wire(w)) == ["192.0.2.3"]
    assert b.queries("slow300.sd.test.") == (1, 0)
    st = lv.stats()
    assert st["forward_coalesced"] == 999


def test_waiters_bounded_per_key(backend, levee):
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}", "--forward-max-waiters", "10"])
    got = _burst(lv, "slow300.sd.test.", 30)
    rcodes = sorted(dns.message.from_wire(w).rcode() for w in got.values())
    assert rcodes.count(dns.rcode.NOERROR) == 10
    assert rcodes.count(dns.rcode.SERVFAIL) == 20
    st = lv.stats()
    assert st["forward_waiters_refused"] == 20
    assert st["rule[sd.test.].servfail_overload"] == 20


# The truncation matrix (the outage): a 1.6 KB answer, an upstream that
# truncates to nothing (knotd's way) or to what fits (miekg/dns's way),
# clients with and without EDNS, retrying over TCP or never.
@pytest.mark.parametrize("mode", ["empty", "partial"])
@pytest.mark.parametrize("client", ["edns4096", "edns1232-tcp", "noedns-tcp",
                                    "noedns-never-tcp"])
def test_truncated_upstream_fetched_whole_once(backend, levee, mode, client):
    b = backend(truncate=mode, extra=["--udp-limit", "512"])
    lv = levee(["--forward", f"sd.test.={b.spec}", "--udp-max", "4096"])
    name = "big.sd.test."
    for i in range(1000):
        if client == "edns4096":
            r = lv.query(name, payload=4096)
            assert len(a_addrs(r)) == 100 and not r.flags & dns.flags.TC
            continue
        r = lv.query(name, edns=0 if client == "edns1232-tcp" else False)
        assert r.flags & dns.flags.TC and not r.answer
        if client != "noedns-never-tcp":
            r = lv.query(name, tcp=True)
            assert len(a_addrs(r)) == 100
    assert b.queries(name) == (1, 1), b.counts()


@pytest.mark.parametrize("mode", ["empty", "partial"])
def test_truncated_upstream_1000_at_once(backend, levee, mode):
    b = backend(truncate=mode, extra=["--udp-limit", "512"])
    lv = levee(["--forward", f"sd.test.={b.spec}", "--udp-max", "4096"])
    got = _burst(lv, "big.sd.test.", 1000, payload=4096)
    assert len(got) == 1000
    for w in got.values():
        assert len(a_addrs(dns.message.from_wire(w))) == 100
    got = _burst(lv, "big.sd.test.", 1000, edns=False, first_id=2000)
    assert len(got) == 1000
    for w in got.values():
        assert dns.message.from_wire(w).flags & dns.flags.TC
    assert b.queries("big.sd.test.") == (1, 1), b.counts()


def test_knotd_truncating_upstream(levee, workdir):
    """knotd as the upstream: its UDP answer to our EDNS 1232 is TC=1 and
    empty; levee fetches it over TCP once and serves UDP clients whole."""
    zone = os.path.join(workdir, "sd.test.zone")
    with open(zone, "w") as f:
        f.write("$ORIGIN sd.test.\n$TTL 300\n"
                "@ SOA ns host 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\n")
        for i in range(100):
            f.write(f"big A 10.0.{i // 256}.{i % 256}\n")
    k = knot.Knot(os.path.join(workdir, "knot"), {"sd.test.": zone}).start()
    try:
        lv = levee(["--forward", f"sd.test.=127.0.0.1@{k.port}", "--udp-max", "4096"])
        for _ in range(20):
            r = lv.query("big.sd.test.", payload=4096)
            assert len(a_addrs(r)) == 100
        st = lv.stats()
        up = f"upstream[127.0.0.1@{k.port}]"
        assert st[f"{up}.queries_udp"] - st[f"{up}.loop_probes"] == 1
        assert st[f"{up}.queries_tcp"] == 1
        assert st[f"{up}.truncated"] == 1 and st["forward_tcp_refetch"] == 1
    finally:
        k.stop()


def _tcp_exchange(lv, queries, timeout=5.0):
    """Pipeline the queries on one TCP connection; return {id: message}."""
    import socket
    import struct
    s = socket.create_connection((lv.address, lv.port), timeout=timeout)
    try:
        s.sendall(b"".join(struct.pack("!H", len(w)) + w
                           for w in (q.to_wire() for q in queries)))
        got, buf = {}, b""
        deadline = time.monotonic() + timeout
        while len(got) < len(queries) and time.monotonic() < deadline:
            try:
                data = s.recv(65535)
            except TimeoutError:
                break
            if not data:
                break
            buf += data
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                m = dns.message.from_wire(buf[2:2 + n])
                got[m.id] = m
                buf = buf[2 + n:]
        return got
    finally:
        s.close()


def test_tcp_query_refused_at_once_beside_waiting_ones(backend, levee):
    """A TCP query the forwarder answers at once (here: its name already
    has --forward-max-waiters waiting) between two that wait for the
    upstream on the same connection: all three answered, the connection
    keeps its waiting queries, and closing it with queries waiting leaves
    levee serving (the request was once linked after it was freed)."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}", "--forward-max-waiters", "1"])
    waiter = threading.Thread(target=lv.query, args=("slow600.sd.test.",),
                              kwargs={"timeout": 3})
    waiter.start()
    time.sleep(0.2)
    qs = [dns.message.make_query(n, "A") for n in
          ("slow200.p1.sd.test.", "slow600.sd.test.", "slow200.p2.sd.test.")]
    for i, q in enumerate(qs):
        q.id = 100 + i
    got = _tcp_exchange(lv, qs)
    assert sorted(got) == [100, 101, 102], got
    assert a_addrs(got[100]) == ["192.0.2.3"]
    assert got[101].rcode() == dns.rcode.SERVFAIL
    assert a_addrs(got[102]) == ["192.0.2.3"]
    waiter.join()
    # the same, but the connection closes while two of them still wait
    for round_ in range(3):
        hold = f"slow800.r{round_}.sd.test."
        waiter = threading.Thread(target=lv.query, args=(hold,),
                                  kwargs={"timeout": 3})
        waiter.start()
        time.sleep(0.2)
        qs = [dns.message.make_query(n, "A") for n in
              (f"slow500.a{round_}.sd.test.", hold, f"slow500.b{round_}.sd.test.")]
        for i, q in enumerate(qs):
            q.id = 200 + i
        got = _tcp_exchange(lv, qs, timeout=0.2)
        assert list(got) == [201] and got[201].rcode() == dns.rcode.SERVFAIL
        waiter.join()
    time.sleep(0.5)
    assert a_addrs(lv.query("a.after.sd.test.")) == ["192.0.2.1"]
    st = lv.stats()
    assert st["forward_waiters_refused"] >= 1
    assert st["requests_in_flight"] == 0


def test_answer_later_than_the_slot_table_is_dropped_and_counted(backend, levee):
    """On --listen, a client's slot is reused after 65,536 newer queries on
    the queue: an answer that comes later (here an 8 s upstream while
    70,000 cache hits pass) is dropped and counted (drop_late_reply),
    never sent to the slot's new owner; every hit is answered."""
    import socket
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}", "--forward-timeout", "12000",
                "--forward-attempt-timeout", "12000"])
    assert a_addrs(lv.query("a.sd.test.")) == ["192.0.2.1"]
    late = []
    waiter = threading.Thread(
        target=lambda: late.append(_udp_try(lv, "slow8000.sd.test.", 11.0)))
    waiter.start()
    time.sleep(0.3)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    q = dns.message.make_query("a.sd.test.", "A")
    sent = answered = 0
    try:
        while sent < 70000:
            for _ in range(200):
                q.id = sent & 0xffff
                s.sendto(q.to_wire(), (lv.address, lv.port))
                sent += 1
            s.settimeout(1.0)
            while answered < sent - 400:
                s.recvfrom(65535)
                answered += 1
        s.settimeout(1.0)
        while answered < sent:
            s.recvfrom(65535)
            answered += 1
    finally:
        s.close()
    waiter.join()
    assert late == [None], late  # the slow answer never reached its client
    st = lv.stats()
    assert st["drop_late_reply"] == 1
    assert st["forward_answered"] == 2


def _udp_try(lv, name, timeout):
    """The answer to one UDP query, or None when none came in time."""
    try:
        return lv.query(name, timeout=timeout)
    except dns.exception.Timeout:
        return None


def test_unbound_as_upstream(backend, levee, workdir):
    """A recursive resolver as the upstream (Unbound, forwarding sd.test.
    to the backend, which truncates to 512 bytes): RA passes on, AA does
    not; levee caches Unbound's TTL and counts it down to the second; the
    1.6 KB answer Unbound truncates to levee's EDNS 1232 is fetched whole
    over TCP once and then serves 1,000 lookups from the cache."""
    b = backend(truncate="partial", extra=["--udp-limit", "512"])
    ub = front.Unbound(workdir, {"sd.test.": b.spec}).start()
    try:
        lv = levee(["--forward", f"sd.test.={ub.spec}", "--udp-max", "4096"])
        r = lv.query("a.sd.test.")
        assert a_addrs(r) == ["192.0.2.1"]
        assert r.flags & dns.flags.RA and not r.flags & dns.flags.AA
        ttl0 = r.answer[0].ttl
        assert 290 <= ttl0 <= 300, ttl0
        time.sleep(2.2)
        ttl2 = lv.query("a.sd.test.").answer[0].ttl
        assert ttl0 - 3 <= ttl2 <= ttl0 - 2, (ttl0, ttl2)
        for _ in range(1000):
            r = lv.query("big.sd.test.", payload=4096)
            assert len(a_addrs(r)) == 100 and not r.flags & dns.flags.TC
        st = lv.stats()
        up = f"upstream[{ub.spec}]"
        # a. and big. (and its loop probes, queries of their own)
        assert st[f"{up}.queries_udp"] - st[f"{up}.loop_probes"] == 2, st
        assert st[f"{up}.queries_tcp"] == 1 and st[f"{up}.truncated"] == 1
        assert st[f"{up}.answers_noerror"] == 3
        # Unbound itself: one UDP try, truncated, then TCP to the backend
        assert b.queries("a.sd.test.") == (1, 0)
        assert b.queries("big.sd.test.") == (1, 1), b.counts()
    finally:
        ub.stop()


def test_upstream_tcp_persistent_and_resent_after_drop(backend, levee):
    """Truncated answers for many names share one TCP connection; when the
    upstream drops a connection with a query unanswered, levee resends it
    on a fresh one and the client still gets its answer."""
    b = backend(extra=["--udp-limit", "512", "--tcp-close-after", "5"])
    lv = levee(["--forward", f"sd.test.={b.spec}", "--udp-max", "4096"])
    for i in range(12):
        r = lv.query(f"big.n{i}.sd.test.", payload=4096)
        assert len(a_addrs(r)) == 100, i
    c = b.counts()
    st = lv.stats()
    up = f"upstream[{b.spec}]"
    assert c["tcp_dropped"] >= 2
    assert st[f"{up}.tcp_resent"] >= 2
    # one connection per drop, plus the first: never one per query
    assert c["tcp_connections"] <= c["tcp_dropped"] + 1
    assert st[f"{up}.tcp_opened"] == c["tcp_connections"]


def test_upstream_killed_mid_run(backend, levee):
    """Clients asking while the upstream dies all get an answer or
    SERVFAIL, none waits past the configured time."""
    b = backend()
    lv = levee(["--forward", f"sd.test.={b.spec}", "--forward-timeout", "1000",
                "--forward-attempt-timeout", "400"])
    results = []

    def client(i):
        t0 = time.monotonic()
        try:
            r = lv.query(f"slow600.k{i}.sd.test.", timeout=4)
            results.append((r.rcode(), time.monotonic() - t0))
        except Exception as e:  # noqa: BLE001 - a timeout is the failure
            results.append((repr(e), time.monotonic() - t0))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    b.kill()
    for t in threads:
        t.join()
    assert len(results) == 40
    for rcode, took in results:
        assert rcode in (dns.rcode.NOERROR, dns.rcode.SERVFAIL), rcode
        assert took < 1.0 + 0.6, took


def test_bad_forward_option_is_one_line(levee_bin, workdir):
    import subprocess
    for bad in ["sd.test.", "sd.test.=", "sd.test.=not-an-address",
                "sd.test.=127.0.0.1@0", "sd.test.=127.0.0.1,"]:
        p = subprocess.run([levee_bin, "--listen", "127.0.0.1@53", "--forward", bad],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "--forward" in lines[0], p.stderr


def test_rules_follow_sighup(backend, levee, workdir):
    """forward: in the file, changed by SIGHUP: the new rule applies."""
    b1, b2 = backend(), backend()
    conf = os.path.join(workdir, "levee.yaml")
    with open(conf, "w") as f:
        f.write(f"forward:\n  - name: sd.test.\n    upstreams: [\"{b1.spec}\"]\n")
    lv = levee(["--config", conf])
    assert a_addrs(lv.query("a.one.sd.test.")) == ["192.0.2.1"]
    with open(conf, "w") as f:
        f.write("forward:\n  - name: sd.test.\n    upstreams:\n"
                f"      - {{address: 127.0.0.1, port: {b2.port}, weight: 2}}\n")
    lv.reload()
    deadline = time.monotonic() + 10
    while "reload" not in lv.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert a_addrs(lv.query("a.two.sd.test.")) == ["192.0.2.1"]
    assert b1.queries("a.two.sd.test.") == (0, 0)
    assert b2.queries("a.two.sd.test.") == (1, 0)
    # what the old rule cached is gone with it: asked of the new upstream
    assert a_addrs(lv.query("a.one.sd.test.")) == ["192.0.2.1"]
    assert b1.queries("a.one.sd.test.") == (1, 0)
    assert b2.queries("a.one.sd.test.") == (1, 0)
    assert lv.stats()["forward_purges"] == 1


def _sighup_and_wait(lv, line, before):
    lv.reload()
    deadline = time.monotonic() + 10
    while lv.stderr().count(line) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)


def test_zone_added_by_sighup_takes_names_from_the_cache(backend, levee,
                                                        workdir):
    """A name forwarded and cached, then a local zone for it added by
    SIGHUP: the zone answers at once (the cached upstream answer was
    purged). A SIGHUP that changes neither rules nor zones keeps the
    forwarded answers cached."""
    b = backend()
    zone = os.path.join(workdir, "local.test.zone")
    with open(zone, "w") as f:
        f.write("$ORIGIN local.test.\n$TTL 60\n"
                "@ SOA ns host 1 3600 600 86400 60\n@ NS ns\n"
                "ns A 192.0.2.53\na A 10.9.9.9\n")
    conf = os.path.join(workdir, "levee.yaml")
    rules = f"forward:\n  - name: .\n    upstreams: [\"{b.spec}\"]\n"
    with open(conf, "w") as f:
        f.write(rules)
    lv = levee(["--config", conf])
    assert a_addrs(lv.query("a.local.test.")) == ["192.0.2.1"]
    assert a_addrs(lv.query("a.kept.test.")) == ["192.0.2.1"]
    # unchanged rules: nothing purged, the answers stay cached
    _sighup_and_wait(lv, "reload", lv.stderr().count("reload"))
    assert a_addrs(lv.query("a.kept.test.")) == ["192.0.2.1"]
    assert b.queries("a.kept.test.") == (1, 0)
    assert lv.stats()["forward_purges"] == 0
    with open(conf, "w") as f:
        f.write(rules + f"zones:\n  - origin: local.test.\n    file: {zone}\n")
    _sighup_and_wait(lv, "zone local.test. serial 1 loaded", 0)
    r = lv.query("a.local.test.")
    assert a_addrs(r) == ["10.9.9.9"] and r.flags & dns.flags.AA
    assert b.queries("a.local.test.") == (1, 0)
    assert lv.stats()["forward_purges"] == 1


def test_upstream_tcp_idle_closed(backend, levee):
    """An upstream TCP connection unused for --forward-tcp-idle is closed;
    the next truncated answer opens a new one, while answers close together
    share one."""
    b = backend(extra=["--udp-limit", "512"])
    lv = levee(["--forward", f"sd.test.={b.spec}", "--udp-max", "4096",
                "--forward-tcp-idle", "300"])
    up = f"upstream[{b.spec}]"
    for i in range(3):
        assert len(a_addrs(lv.query(f"big.a{i}.sd.test.", payload=4096))) == 100
    assert lv.stats()[f"{up}.tcp_opened"] == 1
    time.sleep(1.0)
    assert len(a_addrs(lv.query("big.b.sd.test.", payload=4096))) == 100
    st = lv.stats()
    assert st[f"{up}.tcp_opened"] == 2 and st[f"{up}.tcp_reset"] == 0
    assert b.counts()["tcp_connections"] == 2
