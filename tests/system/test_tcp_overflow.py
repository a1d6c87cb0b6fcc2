"""A TCP client that overflows its output buffer (docs/tcp.md, Overflow):
it pipelines 600 queries for `big.levee.test. TXT` (~2.5 kB answers,
1.5 MB in all) with a 4 KiB receive buffer and reads nothing, so levee's
unsent answers pass `--tcp-out-buffer 64K` (the least it takes): levee
closes that connection and counts it in tcp_closed_overflow. A normal
client connected before it, and new ones after, keep getting every answer
within a second, and UDP is answered throughout. Both drivers, on
test_tcp.py's tcp_env (own namespace, veth, levee; TCP through the
exception path).
"""
import time

import dns.message
import dns.rcode

from lvtest import tcp
from lvtest.dnsq import Query
from test_live import live_env, live_ok  # noqa: F401 (fixtures)
from test_tcp import BIG, UDP_MAX, driver, neigh, stop_ok, tcp_env  # noqa: F401

N_FLOOD = 600


def udp_ok(net):
    """One UDP query from the namespace answered correctly within 2 s."""
    s = net.udp_socket(4)
    try:
        s.settimeout(2)
        q = dns.message.make_query("www.levee.test.", "A")
        s.sendto(q.to_wire(), (net.service4, 53))
        r = dns.message.from_wire(s.recv(4096))
        return r.id == q.id and r.rcode() == dns.rcode.NOERROR and \
            r.answer[0][0].address == "192.0.2.80"
    finally:
        s.close()


def _one(conn, q, qid, orc):
    """One query on conn, its answer within 1 s, checked exactly."""
    t0 = time.monotonic()
    conn.send([q.wire(id=qid)])
    got = conn.read(1, timeout=1.0)
    took = time.monotonic() - t0
    assert len(got) == 1, f"no answer to {q.describe()} within 1 s (eof {conn.eof}, {conn.error})"
    q.id = qid
    bad = tcp.check(got[0], q, orc, None)
    assert not bad, f"{q.describe()}: {bad}"
    return took


def test_client_overflowing_its_output_buffer_is_closed(tcp_env, zones):
    env = tcp_env(extra=("--tcp-out-buffer", "64K"))
    net, lv = env.net, env.lv
    orc = tcp.TcpOracle(zones, udp_max=UDP_MAX)
    www = Query("www.levee.test.", "A")
    big = Query(BIG, "TXT")

    normal = tcp.Conn(net, 4)
    _one(normal, www, 1, orc)

    flood = tcp.Conn(net, 4, rcvbuf=4096)
    flood.send([big.wire(id=0x1000 + i) for i in range(N_FLOOD)])
    # levee reads the queries, its buffer for this client grows past 64K
    # within moments; meanwhile the normal client and UDP go on
    times = [_one(normal, www, 2 + i, orc) for i in range(20)]
    assert udp_ok(net), "UDP not answered during the overflow"
    closed = flood.closed_within(10.0)
    assert closed is not None, "levee did not close the overflowing client within 10 s"
    answers = flood._pop()
    assert len(answers) < N_FLOOD, f"the overflowing client got all {len(answers)} answers"
    for w in answers:
        qid = tcp.msg_id(w)
        assert 0x1000 <= qid < 0x1000 + N_FLOOD
        big.id = qid
        bad = tcp.check(w, big, orc, None)
        assert not bad, bad
    flood.close()

    # after it: the normal connection and a new one still answer
    times += [_one(normal, big, 100, orc)]
    fresh = tcp.Conn(net, 6)
    times += [_one(fresh, www, 200, orc)]
    st = lv.stats()
    print(f"overflowing client closed after {closed:.2f}s with {len(answers)} of "
          f"{N_FLOOD} answers read (error {flood.error}); normal client slowest "
          f"{max(times) * 1000:.0f} ms; TCP stats "
          f"{ {k: st[k] for k in ('tcp_accepted', 'tcp_queries', 'tcp_open', 'tcp_closed_overflow')} }")
    assert st["tcp_closed_overflow"] == 1, dict(st)
    assert st["tcp_open"] == 2, dict(st)                # normal and fresh
    assert st["tcp_accepted"] == env.tcp_probes + 3, dict(st)
    # every query levee read was counted; it read at least what it answered
    assert st["tcp_queries"] >= 1 + 20 + 1 + 1 + len(answers), dict(st)
    normal.close()
    fresh.close()
    st = stop_ok(env)
    if st is not None:
        assert st["tcp_closed_overflow"] == 1
        assert st["tcp_closed_limit"] == 0 and st["tcp_closed_idle"] == 0
