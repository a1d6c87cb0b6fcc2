"""Requests that wait, through the real binary: levee-testpark (tests/park)
is levee with a test deferrer that parks every cache miss for
w<ms>.levee.test and answers it <ms> milliseconds later from the zone.
On a live AF_PACKET port, for each transport levee serves:

- UDP through the port: w300, w100, w200 sent in that order are answered
  w100, w200, w300, each with its own ID and the question as asked; while
  one waits, the receive pool is whole (requests_in_flight 1, mbufs_free
  as when idle); a second query for a name now cached is answered at once,
  not parked;
- host-local UDP (the kernel socket on the service address): out of order;
- TCP: three pipelined queries answered out of order on one connection; a
  client that half-closes after its query still gets the answer, then
  levee closes; a client that resets before its answer costs a dropped
  request and nothing else.

The counters must add up: parked = answered + dropped, nothing in flight.
"""
import os
import socket
import struct
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

from test_live import live_env  # noqa: F401 (fixture)

ORIGIN = "levee.test."


@pytest.fixture
def levee_bin(levee_bin):
    """The test build beside the levee under test."""
    build = os.path.dirname(os.path.dirname(levee_bin))
    path = os.path.join(build, "tests", "park", "levee-testpark")
    assert os.access(path, os.X_OK), f"{path} missing: build with -Dtests=enabled"
    return path


@pytest.fixture
def driver():
    return "af_packet"


@pytest.fixture
def neigh():
    return "kernel"


@pytest.fixture
def live_ok():
    return True


def query(name, qid, rdtype="A"):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    q.id = qid
    return q


def check_answer(wire, q):
    r = dns.message.from_wire(wire)
    assert r.id == q.id and r.flags & dns.flags.QR
    assert r.question[0].name.to_text() == q.question[0].name.to_text()
    # names below the apex that the zone does not hold
    assert r.rcode() == dns.rcode.NXDOMAIN, r
    assert r.flags & dns.flags.AA
    return r.question[0].name.to_text()


def udp_exchange(sock, dest, names, base_id, timeout=5.0):
    """Send one query per name, in order; the names of the answers in the
    order they arrived."""
    sent = {}
    for i, n in enumerate(names):
        q = query(n, base_id + i)
        sent[q.id] = q
        sock.sendto(q.to_wire(), dest)
    order = []
    sock.settimeout(timeout)
    while len(order) < len(names):
        data, _ = sock.recvfrom(4096)
        r = dns.message.from_wire(data)
        order.append(check_answer(data, sent[r.id]))
    return order


def names(*ms, tag):
    return [f"w{m}.{tag}.{ORIGIN}" for m in ms]


def test_parked_queries_answered_out_of_order(live_env):
    env = live_env()
    net, lv = env.net, env.lv
    idle = lv.stats()
    assert idle["requests_parked"] == 0

    # UDP through the port
    s = net.udp_socket(4)
    order = udp_exchange(s, (net.service4, 53), names(300, 100, 200, tag="port"), 0x100)
    assert order == names(100, 200, 300, tag="port")

    # while one waits, it holds no receive buffer
    q = query(names(1500, tag="hold")[0], 0x200)
    s.sendto(q.to_wire(), (net.service4, 53))
    time.sleep(0.5)
    mid = lv.stats()
    assert mid["requests_in_flight"] == 1
    assert mid["mbufs_free"] == idle["mbufs_free"], (mid["mbufs_free"], idle["mbufs_free"])
    s.settimeout(5)
    check_answer(s.recvfrom(4096)[0], q)
    # now cached: answered at once, not parked again
    parked = lv.stats()["requests_parked"]
    q = query(names(1500, tag="hold")[0], 0x201)
    t0 = time.monotonic()
    s.sendto(q.to_wire(), (net.service4, 53))
    check_answer(s.recvfrom(4096)[0], q)
    assert time.monotonic() - t0 < 1.0
    assert lv.stats()["requests_parked"] == parked
    s.close()

    # host-local: the root namespace reaches the kernel socket
    h = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        order = udp_exchange(h, (net.service4, 53), names(200, 50, tag="host"), 0x300)
    finally:
        h.close()
    assert order == names(50, 200, tag="host")

    # TCP: pipelined, answered out of order on one connection
    t = net.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.settimeout(5)
    t.connect((net.service4, 53))
    qs = [query(n, 0x400 + i) for i, n in enumerate(names(300, 100, 200, tag="tcp"))]
    t.sendall(b"".join(struct.pack("!H", len(w)) + w for w in (q.to_wire() for q in qs)))
    by_id = {q.id: q for q in qs}
    order = []
    for _ in qs:
        n = struct.unpack("!H", recv_exact(t, 2))[0]
        data = recv_exact(t, n)
        order.append(check_answer(data, by_id[dns.message.from_wire(data).id]))
    assert order == names(100, 200, 300, tag="tcp")
    # half-close after a query: the answer still comes, then the close
    q = query(names(200, tag="half")[0], 0x500)
    w = q.to_wire()
    t.sendall(struct.pack("!H", len(w)) + w)
    t.shutdown(socket.SHUT_WR)
    n = struct.unpack("!H", recv_exact(t, 2))[0]
    check_answer(recv_exact(t, n), q)
    assert t.recv(1) == b""
    t.close()

    # a reset before the answer: the request is dropped, nothing else
    r = net.socket(socket.AF_INET, socket.SOCK_STREAM)
    r.settimeout(5)
    r.connect((net.service4, 53))
    w = query(names(300, tag="reset")[0], 0x600).to_wire()
    r.sendall(struct.pack("!H", len(w)) + w)
    time.sleep(0.1)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    r.close()
    time.sleep(0.6)

    rc, st = lv.stop()
    assert rc == 0, lv.explain()
    # port 3 + hold 1 + host 2 + tcp 3 + half 1 + reset 1
    assert st["requests_parked"] == 11, dict(st)
    assert st["requests_answered"] == 10, dict(st)
    assert st["requests_dropped"] == 1, dict(st)
    assert st["requests_refused"] == 0 and st["requests_in_flight"] == 0, dict(st)
    assert st["rcode_nxdomain"] >= 12, dict(st)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, f"connection closed after {len(buf)} of {n} bytes"
        buf += chunk
    return buf


def test_full_request_table_refuses_and_counts(live_env):
    """--max-requests 2: a third query that would wait is dropped and
    counted (requests_refused), the two others are answered; a query
    answered at once (cached) is not affected."""
    env = live_env(extra=["--max-requests", "2"])
    net, lv = env.net, env.lv
    s = net.udp_socket(4)
    qs = [query(n, 0x700 + i) for i, n in enumerate(names(400, 400, 400, tag="full"))]
    qs[1] = query(names(401, tag="full")[0], 0x701)
    qs[2] = query(names(402, tag="full")[0], 0x702)
    for q in qs:
        s.sendto(q.to_wire(), (net.service4, 53))
    s.settimeout(3)
    got = []
    try:
        while True:
            got.append(dns.message.from_wire(s.recvfrom(4096)[0]).id)
    except socket.timeout:
        pass
    assert sorted(got) == [0x700, 0x701], got
    # a TCP query finding the table full gets SERVFAIL at once
    for i, n in enumerate(names(1000, 1001, tag="fill")):
        s.sendto(query(n, 0x800 + i).to_wire(), (net.service4, 53))
    time.sleep(0.2)
    t = net.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.settimeout(5)
    t.connect((net.service4, 53))
    q = query(names(1002, tag="fill")[0], 0x802)
    w = q.to_wire()
    t0 = time.monotonic()
    t.sendall(struct.pack("!H", len(w)) + w)
    r = dns.message.from_wire(recv_exact(t, struct.unpack("!H", recv_exact(t, 2))[0]))
    assert time.monotonic() - t0 < 0.5
    assert r.id == q.id and r.rcode() == dns.rcode.SERVFAIL
    t.close()
    got = sorted(dns.message.from_wire(s.recvfrom(4096)[0]).id for _ in range(2))
    assert got == [0x800, 0x801], got
    s.close()
    rc, st = lv.stop()
    assert rc == 0, lv.explain()
    assert (st["requests_parked"], st["requests_answered"], st["requests_refused"],
            st["requests_in_flight"], st["requests_dropped"]) == (4, 4, 2, 0, 0), dict(st)
    # a refused datagram is counted once, as refused, not as an error
    assert st["drop_control_error"] == 0, dict(st)
