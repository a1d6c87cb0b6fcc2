"""Forwarding loops (issue 11, item 4): two real levee processes on
--listen forwarding to each other, and levee with a real dnsmasq.

Addresses: levee A on 127.0.0.2, levee B on 127.0.0.3, clients and test
backends on 127.0.0.1. A query between A and B leaves from 127.0.0.1
(the kernel's source for loopback), never from the address the other
forwards to, so the source-address hint stays out of the two-levee tests
and what is measured is the marker, the probe and the loop signal.

Packets between the two are counted with levee's own counters: each
query one sends the other (upstream[...].queries_udp + queries_tcp) gets
at most one answer, so the packets that crossed are at most twice the
queries both sent.
"""
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from lvtest import front
from lvtest.front import a_addrs, wait_for
from lvtest.knot import free_port

A_ADDR, B_ADDR = "127.0.0.2", "127.0.0.3"
LOOP_OPTION = 65389  # include/levee/loop.h LV_EDNS_LOOP_MARK
# looping upstreams are probed again after 300 ms, backing off to 1.2 s:
# a loop that went away is noticed within about a second
FAST = ["--forward-probe-interval", "300", "--forward-probe-max-interval",
        "1200", "--forward-attempt-timeout", "500"]




def up(other):
    return f"upstream[{other.address}@{other.port}]"


def looping(lv, other):
    """Is other looping for lv? (False before lv knows other at all: a
    reload builds its rules, and their upstreams, a moment after its log
    line.)"""
    st = lv.stats()
    key = f"{up(other)}.looping"
    return key in st and st[key] == 1


def sent(lv, other):
    """Queries lv sent to other (its loop probes included)."""
    st = lv.stats()
    return st[f"{up(other)}.queries_udp"] + st[f"{up(other)}.queries_tcp"]


def crossed(a, b):
    """An upper bound of the packets that crossed between a and b."""
    return 2 * (sent(a, b) + sent(b, a))


def forwarded(lv, other):
    """Queries lv sent other that were not its own loop probes (one stats
    block: the two counters agree)."""
    st = lv.stats()
    key = up(other)
    return st[f"{key}.queries_udp"] + st[f"{key}.queries_tcp"] - \
        st[f"{key}.loop_probes"]


def ask(address, port, q, timeout=3.0):
    t0 = time.monotonic()
    r = dns.query.udp(q, address, port=port, timeout=timeout)
    return r, time.monotonic() - t0


def client_storm(a, b, names):
    """Clients of a that retry each query with the same ID, then with a
    new ID, then fail over to b: every answer SERVFAIL, each well under a
    second. Returns the client queries sent."""
    n = 0
    for name in names:
        q = dns.message.make_query(name, "A", use_edns=0)
        for target in (a, a, b):  # a retry with the same ID, fail-over
            r, took = ask(target.address, target.port, q)
            assert r.rcode() == dns.rcode.SERVFAIL, r
            assert took < 0.5, (name, target.address, took)
            n += 1
        q2 = dns.message.make_query(name, "A", use_edns=0)  # a new ID
        r, took = ask(a.address, a.port, q2)
        assert r.rcode() == dns.rcode.SERVFAIL and took < 0.5, took
        n += 1
    return n


def pair(levee, extra_a=(), extra_b=(), rule="sd.test."):
    pa, pb = free_port(), free_port()
    a = levee(["--forward", f"{rule}={B_ADDR}@{pb}"] + FAST + list(extra_a),
              address=A_ADDR, port=pa)
    b = levee(["--forward", f"{rule}={A_ADDR}@{pa}"] + FAST + list(extra_b),
              address=B_ADDR, port=pb)
    return a, b


def test_loop_at_start_found_by_probes(levee):
    """A and B forward sd.test. to each other from the start: their
    start-up loop probes find it on both sides within 5 s (one loud line
    each, naming the upstream), and afterwards clients that retry (same
    ID, new ID) and fail over get SERVFAIL at once, without a single
    query crossing for them."""
    a, b = pair(levee)
    t0 = time.monotonic()
    assert wait_for(lambda: looping(a, b) and looping(b, a), 5), \
        (a.stats(), b.stats())
    assert time.monotonic() - t0 < 5
    for lv, other in ((a, b), (b, a)):
        st = lv.stats()
        assert st[f"{up(other)}.up"] == 0 and st[f"{up(other)}.loops"] == 1
        assert st[f"{up(other)}.down"] == 0  # the state is one-hot
        assert st[f"{up(other)}.loop_probes"] >= 1
        lines = [l for l in lv.stderr().splitlines() if "LOOPS" in l]
        assert len(lines) == 1 and f"{other.address}@{other.port}" in lines[0]
    before = crossed(a, b)
    fwd = forwarded(a, b) + forwarded(b, a)
    n = client_storm(a, b, [f"a.n{i}.sd.test." for i in range(10)])
    # not one client query crossed: only re-probes of the looping
    # upstreams, each refused at once by the other side with the loop
    # signal (one query, one answer)
    assert forwarded(a, b) + forwarded(b, a) == fwd
    assert crossed(a, b) - before <= 4 * n
    st = a.stats()
    assert st["forward_all_looping"] >= 10
    assert st["rule[sd.test.].servfail_looping"] >= 10
    assert st["rule[sd.test.].servfail_timeout"] == 0
    # stable: each side refuses the other's re-probes with the signal
    assert "no longer loops" not in a.stderr() + b.stderr()


def test_loop_found_by_a_client_query_in_four_packets(levee):
    """No loop probes at all (loop-probe-interval 0, and looping upstreams
    probed again only after 10 s): the first client query finds the loop
    by the marker, on both sides at once, in 4 packets (A->B, B->A: A
    sees its own hop; A->B: SERVFAIL with the loop signal, B sees its hop;
    B->A: SERVFAIL), and the client gets SERVFAIL at once. Retries, new
    IDs and fail-over to B cost nothing more."""
    quiet = ["--forward-loop-probe-interval", "0",
             "--forward-probe-interval", "10000"]
    a, b = pair(levee, quiet, quiet)
    time.sleep(0.5)
    assert not looping(a, b) and not looping(b, a)
    assert crossed(a, b) == 0
    r, took = ask(a.address, a.port,
                  dns.message.make_query("a.first.sd.test.", "A", use_edns=0))
    assert r.rcode() == dns.rcode.SERVFAIL and took < 0.5, took
    assert wait_for(lambda: looping(a, b) and looping(b, a), 1)
    assert crossed(a, b) <= 4, (a.stats(), b.stats())
    n = client_storm(a, b, [f"a.n{i}.sd.test." for i in range(10)])
    assert crossed(a, b) <= 4, crossed(a, b)
    assert n == 40
    assert a.stats()["forward_loop_queries"] == 1
    assert "a query came back to us with our loop marker" in a.stderr()
    assert "the loop signal" in b.stderr()


def test_same_name_asked_of_both_at_once(levee):
    """No loop probes; clients ask A and B for the same name at the same
    moment. Each side's query joins the other's lookup in flight (so
    neither carries the other's hop back): the marked query that joins
    a lookup has its upstream probed at once, the loop is found, and both
    clients get SERVFAIL in well under the 3 s lookup budget."""
    quiet = ["--forward-loop-probe-interval", "0"]
    a, b = pair(levee, quiet, quiet)
    time.sleep(0.3)
    socks = []
    t0 = time.monotonic()
    for lv in (a, b):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(dns.message.make_query("a.same.sd.test.", "A",
                                        use_edns=0).to_wire(),
                 (lv.address, lv.port))
        socks.append(s)
    for s in socks:
        s.settimeout(3)
        r = dns.message.from_wire(s.recvfrom(4096)[0])
        s.close()
        assert r.rcode() == dns.rcode.SERVFAIL
    assert time.monotonic() - t0 < 1.0, time.monotonic() - t0
    assert wait_for(lambda: looping(a, b) and looping(b, a), 1)


def _conf(path, rule, upstream):
    with open(path, "w") as f:
        f.write(f"forward:\n  - name: {rule}\n    upstreams: [\"{upstream}\"]\n")


def _sighup(lv):
    n = lv.stderr().count("reload")
    lv.reload()
    assert wait_for(lambda: lv.stderr().count("reload") > n, 10)


def test_loop_formed_by_sighup_and_gone_again(levee, backend, workdir):
    """A forwards to a real backend and B to A: B's clients get answers.
    A is reconfigured (SIGHUP) to forward to B: the loop is found on both
    sides within 5 s. A is reconfigured back to the backend: B's looping
    upstream (A) is probed again, found not to loop any more, put back in
    rotation (one line), and B's clients get answers again."""
    bk = backend()
    pa, pb = free_port(), free_port()
    conf = os.path.join(workdir, "a.yaml")
    _conf(conf, "sd.test.", bk.spec)
    a = levee(["--config", conf] + FAST, address=A_ADDR, port=pa)
    b = levee(["--forward", f"sd.test.={A_ADDR}@{pa}"] + FAST,
              address=B_ADDR, port=pb)
    r, _ = ask(b.address, b.port, dns.message.make_query("a.one.sd.test.", "A"))
    assert a_addrs(r) == ["192.0.2.1"]
    time.sleep(0.5)
    assert not looping(b, a)

    _conf(conf, "sd.test.", f"{B_ADDR}@{pb}")
    t0 = time.monotonic()
    _sighup(a)
    assert wait_for(lambda: looping(a, b) and looping(b, a), 5), \
        (a.stats(), b.stats())
    assert time.monotonic() - t0 < 5
    r, took = ask(b.address, b.port, dns.message.make_query("a.two.sd.test.", "A"))
    assert r.rcode() == dns.rcode.SERVFAIL and took < 0.5

    _conf(conf, "sd.test.", bk.spec)
    _sighup(a)
    assert wait_for(lambda: not looping(b, a), 5), b.stats()
    assert b.stats()[f"{up(a)}.up"] == 1
    assert "no longer loops" in b.stderr()
    # A's old upstream (B) is in no rule now: not looping either
    assert not looping(a, b)
    r, _ = ask(b.address, b.port, dns.message.make_query("a.three.sd.test.", "A"))
    assert a_addrs(r) == ["192.0.2.1"]


def test_loop_formed_by_restart(levee, backend, workdir):
    """A forwards to a backend, B to A. A is restarted forwarding to B:
    the new A's start-up probe finds the loop on both sides within 5 s."""
    bk = backend()
    pa, pb = free_port(), free_port()
    a = levee(["--forward", f"sd.test.={bk.spec}"] + FAST,
              address=A_ADDR, port=pa)
    b = levee(["--forward", f"sd.test.={A_ADDR}@{pa}"] + FAST,
              address=B_ADDR, port=pb)
    r, _ = ask(b.address, b.port, dns.message.make_query("a.one.sd.test.", "A"))
    assert a_addrs(r) == ["192.0.2.1"]
    a.stop()
    t0 = time.monotonic()
    a2 = levee(["--forward", f"sd.test.={B_ADDR}@{pb}"] + FAST,
               address=A_ADDR, port=pa)
    assert wait_for(lambda: looping(a2, b) and looping(b, a2), 5), \
        (a2.stats(), b.stats())
    assert time.monotonic() - t0 < 8  # start-up included
    r, took = ask(a2.address, a2.port,
                  dns.message.make_query("a.two.sd.test.", "A"))
    assert r.rcode() == dns.rcode.SERVFAIL and took < 0.5


def test_loop_kept_across_a_restart(levee):
    """A and B loop and know it. B is restarted (a new instance id, the
    same config): the new B's start-up probe is refused by A, which still
    holds B looping, with the loop signal, so the new B knows within 5 s
    too; neither puts the other back in rotation meanwhile."""
    a, b = pair(levee)
    assert wait_for(lambda: looping(a, b) and looping(b, a), 5)
    port = b.port
    b.stop()
    t0 = time.monotonic()
    b2 = levee(["--forward", f"sd.test.={A_ADDR}@{a.port}"] + FAST,
               address=B_ADDR, port=port)
    assert wait_for(lambda: looping(b2, a), 5), b2.stats()
    assert time.monotonic() - t0 < 8  # start-up included
    assert "the loop signal" in b2.stderr()
    assert looping(a, b2) and "no longer loops" not in a.stderr()
    r, took = ask(b2.address, b2.port,
                  dns.message.make_query("a.r.sd.test.", "A"))
    assert r.rcode() == dns.rcode.SERVFAIL and took < 0.5


def test_marker_off_on_one_side(levee):
    """A puts no marker in the queries it forwards (loop-marker off), B
    does: the loop is still found on both sides within 5 s. B's probe
    name comes back through A; A's probe, which keeps its marker, is then
    refused by B with the loop signal."""
    a, b = pair(levee, ["--forward-loop-marker", "off"])
    assert wait_for(lambda: looping(a, b) and looping(b, a), 5), \
        (a.stats(), b.stats())
    r, took = ask(a.address, a.port,
                  dns.message.make_query("a.m.sd.test.", "A"))
    assert r.rcode() == dns.rcode.SERVFAIL and took < 0.5


def test_root_rule_loop(levee):
    """The same under rules for the root: the probe name is under
    invalid. (RFC 6761), which each forwards to the other."""
    a, b = pair(levee, rule=".")
    assert wait_for(lambda: looping(a, b) and looping(b, a), 5)
    r, took = ask(a.address, a.port, dns.message.make_query("example.", "A"))
    assert r.rcode() == dns.rcode.SERVFAIL and took < 0.5
    assert a.stats()["rule[.].servfail_looping"] >= 1


def _hops(n):
    """A marker of n hops of other instances (ids 1..n)."""
    data = b"".join(struct.pack(">QH", i + 1, 0) for i in range(n))
    return dns.edns.GenericOption(LOOP_OPTION, data)


def test_too_deep_and_foreign_hops(levee, backend):
    """A query whose marker already has 8 hops (a longer chain of
    forwarders than levee allows) gets SERVFAIL, counted
    forward_loop_too_deep, and is not forwarded; one with 7 hops of other
    instances is forwarded and answered."""
    bk = backend()
    lv = levee(["--forward", f"sd.test.={bk.spec}"])
    q = dns.message.make_query("a.deep.sd.test.", "A", use_edns=0,
                               options=[_hops(9)])
    r, _ = ask(lv.address, lv.port, q)
    assert r.rcode() == dns.rcode.SERVFAIL
    q = dns.message.make_query("a.deep8.sd.test.", "A", use_edns=0,
                               options=[_hops(8)])
    r, _ = ask(lv.address, lv.port, q)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert lv.stats()["forward_loop_too_deep"] == 2
    assert bk.queries("a.deep.sd.test.") == (0, 0)
    q = dns.message.make_query("a.hops7.sd.test.", "A", use_edns=0,
                               options=[_hops(7)])
    r, _ = ask(lv.address, lv.port, q)
    assert a_addrs(r) == ["192.0.2.1"]
    assert bk.queries("a.hops7.sd.test.") == (1, 0)
    st = lv.stats()
    assert st["forward_loop_queries"] == 0
    assert st[f"upstream[{bk.spec}].looping"] == 0


def _probe_id(bk):
    """(instance id, upstream number) from a loop probe name the backend
    got, as hex text, or None before one arrived."""
    for key in bk.counts():
        if isinstance(key, tuple) and key[1].startswith("lv-loop-"):
            _, _, ident, number, _ = key[1].split(".")[0].split("-")
            return ident, number
    return None


def _signal(r):
    """The loop marker option of answer r, or None."""
    return next((o for o in r.options if o.otype == LOOP_OPTION), None)


def test_forged_loop_evidence_marks_nothing(levee, backend):
    """Our id is in every query levee forwards, so an upstream could forge
    our probe name or our marker hop. Neither marks the upstream looping:
    a probe name other than the one last sent (its 64-bit nonce), or our
    hop in a query for a name we are not looking up there, gets a plain
    SERVFAIL (no loop signal), is counted forward_loop_unverified, is not
    forwarded, and makes a loop probe, which finds no loop."""
    bk = backend()
    lv = levee(["--forward", f"sd.test.={bk.spec}"] + FAST)
    assert wait_for(lambda: _probe_id(bk) is not None, 5)
    ident, number = _probe_id(bk)
    key = f"upstream[{bk.spec}]"
    assert wait_for(lambda: lv.stats()[f"{key}.loop_probes"] == 1, 2)
    forged = f"lv-loop-{ident}-{number}-{'0' * 16}.sd.test."
    r, _ = ask(lv.address, lv.port,
               dns.message.make_query(forged, "A", use_edns=0))
    assert r.rcode() == dns.rcode.SERVFAIL and _signal(r) is None
    hop = dns.edns.GenericOption(
        LOOP_OPTION, struct.pack(">QH", int(ident, 16), int(number, 16)))
    r, _ = ask(lv.address, lv.port,
               dns.message.make_query("x.forged.sd.test.", "A", use_edns=0,
                                      options=[hop]))
    assert r.rcode() == dns.rcode.SERVFAIL and _signal(r) is None
    st = lv.stats()
    assert st["forward_loop_unverified"] == 2
    assert st["forward_loop_queries"] == 0
    assert st[f"{key}.looping"] == 0 and st[f"{key}.up"] == 1
    assert bk.queries(forged) == (0, 0)
    assert bk.queries("x.forged.sd.test.") == (0, 0)
    # the first forgery's hint probed the upstream: answered, no loop
    assert wait_for(lambda: lv.stats()[f"{key}.loop_probes"] == 2, 3)
    r, _ = ask(lv.address, lv.port, dns.message.make_query("a.sd.test.", "A"))
    assert a_addrs(r) == ["192.0.2.1"]
    st = lv.stats()
    assert st[f"{key}.looping"] == 0 and st[f"{key}.loops"] == 0
    assert "LOOPS" not in lv.stderr()


def test_own_query_back_after_eight_hops(levee, backend):
    """Our query comes back while we look its name up, after seven other
    forwarders: eight hops, as many as a marker holds, ours first. It is
    a loop (not merely too deep): the upstream is marked looping, the
    query answered with the loop signal (its marker echoed); the re-probe
    finds no loop (the backend answers) and brings the upstream back."""
    bk = backend()
    lv = levee(["--forward", f"sd.test.={bk.spec}"] + FAST)
    assert wait_for(lambda: _probe_id(bk) is not None, 5)
    ident, number = _probe_id(bk)
    key = f"upstream[{bk.spec}]"
    name = "slow1500.eight.sd.test."
    out = []
    client = threading.Thread(target=lambda: out.append(ask(
        lv.address, lv.port, dns.message.make_query(name, "A", use_edns=0))))
    client.start()
    try:
        assert wait_for(lambda: bk.queries(name)[0] >= 1, 2)
        hops = struct.pack(">QH", int(ident, 16), int(number, 16)) + \
            b"".join(struct.pack(">QH", i + 1, 1) for i in range(7))
        r, _ = ask(lv.address, lv.port,
                   dns.message.make_query(name, "A", use_edns=0, options=[
                       dns.edns.GenericOption(LOOP_OPTION, hops)]))
        assert r.rcode() == dns.rcode.SERVFAIL
        assert _signal(r) is not None and _signal(r).data == hops
        st = lv.stats()
        assert st["forward_loop_queries"] == 1
        assert st["forward_loop_too_deep"] == 0
        assert st["forward_loop_unverified"] == 0
        assert st[f"{key}.loops"] == 1
        assert wait_for(lambda: lv.stats()[f"{key}.looping"] == 0, 3)
    finally:
        client.join(timeout=10)
    assert "no longer loops" in lv.stderr()
    r, _ = ask(lv.address, lv.port, dns.message.make_query("a.back.sd.test.", "A"))
    assert a_addrs(r) == ["192.0.2.1"]


def test_loop_detect_off(levee):
    """forwarding.loop-detect off: no probe, no marker, no state; the
    looped query is stopped only by coalescing and timeouts (what levee
    did before), and nothing is counted as a loop."""
    off = ["--forward-loop-detect", "off", "--forward-timeout", "1000"]
    a, b = pair(levee, off, off)
    r, _ = ask(a.address, a.port,
               dns.message.make_query("a.x.sd.test.", "A"), timeout=5)
    assert r.rcode() == dns.rcode.SERVFAIL
    for lv, other in ((a, b), (b, a)):
        st = lv.stats()
        assert st[f"{up(other)}.loop_probes"] == 0
        assert st[f"{up(other)}.looping"] == 0
        assert st["forward_loop_queries"] == 0


DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class Dnsmasq:
    """Debian's dnsmasq (dnsmasq-base) in the foreground on 127.0.0.1 and
    a free port, forwarding everything to one server, no cache of its
    own files; stopped by its pid."""

    def __init__(self, workdir, server, port=None):
        self.port = port or free_port()
        self.log = os.path.join(workdir, f"dnsmasq{self.port}.log")
        self.argv = [DNSMASQ, "--keep-in-foreground", "--no-resolv",
                     "--no-hosts", "--bind-interfaces",
                     "--listen-address=127.0.0.1", f"--port={self.port}",
                     f"--server={server}", "--pid-file=",
                     "--conf-file=/dev/null", "--user=", "--log-queries",
                     "--log-facility=-"]
        self.proc = None

    def start(self, timeout=10.0):
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        q = dns.message.make_query("version.bind.", "TXT", "CH")
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("dnsmasq did not start: " + open(self.log).read())
            try:
                dns.query.udp(q, "127.0.0.1", port=self.port, timeout=0.2)
                return self
            except Exception:
                time.sleep(0.05)

    def stop(self):
        p, self.proc = self.proc, None
        front._terminate(p)

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


@pytest.fixture
def dnsmasq(workdir):
    if not os.access(DNSMASQ, os.X_OK):
        pytest.fail("dnsmasq not installed (scripts/install-deps.sh: "
                    "dnsmasq-base)")
    made = []

    def make(server, **kw):
        d = Dnsmasq(workdir, server, **kw).start()
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


def test_loop_through_dnsmasq(levee, dnsmasq):
    """levee A forwards everything to dnsmasq, dnsmasq everything to A.
    A's start-up probe (lv-loop-....invalid.) comes back through dnsmasq:
    the loop is found within 5 s, dnsmasq marked looping. A's clients get
    SERVFAIL at once with nothing sent to dnsmasq; dnsmasq's clients
    (retrying with the same ID) get SERVFAIL quickly too: dnsmasq (2.90)
    asks A, and asks again on A's SERVFAIL, and A refuses each at once:
    at most 4 packets between them per client query. (dnsmasq passes
    levee's marker through both ways; the probe name alone finds the
    loop first here.)"""
    pa, pd = free_port(), free_port()
    d = dnsmasq(f"{A_ADDR}#{pa}", port=pd)
    a = levee(["--forward", f".=127.0.0.1@{pd}"] + FAST,
              address=A_ADDR, port=pa)
    t0 = time.monotonic()
    up_d = f"upstream[127.0.0.1@{pd}]"
    assert wait_for(lambda: a.stats()[f"{up_d}.looping"] == 1, 5), \
        (a.stats(), d.text()[-2000:])
    assert time.monotonic() - t0 < 5
    assert "LOOPS" in a.stderr()
    before = a.stats()
    for i in range(5):
        q = dns.message.make_query(f"a.n{i}.example.", "A")
        r, took = ask(a.address, a.port, q)
        assert r.rcode() == dns.rcode.SERVFAIL and took < 0.5
        for _ in range(2):  # through dnsmasq, same ID twice
            r, took = ask("127.0.0.1", pd, q)
            assert r.rcode() == dns.rcode.SERVFAIL and took < 1.0, took
    after = a.stats()
    sent_to_d = (after[f"{up_d}.queries_udp"] - after[f"{up_d}.loop_probes"]) \
        - (before[f"{up_d}.queries_udp"] - before[f"{up_d}.loop_probes"])
    assert sent_to_d == 0
    refused = after["rule[.].servfail_looping"] - \
        before["rule[.].servfail_looping"]
    # 5 of A's own clients, and 1 or 2 queries of dnsmasq for each of its 10
    assert 5 + 10 <= refused <= 5 + 2 * 10, refused
