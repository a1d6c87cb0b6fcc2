"""NOTIFY giving up (RFC 1996 §3.6; docs/transfers.md): a target that
never answers gets the NOTIFY five times, 1, 2, 4 and 8 s apart, then
levee gives up with a warning and counts notify_failed; a target that
answers with an error rcode is counted failed at once and not retried.
About 35 s: the schedule is levee's, not shortened for the test.

Built on test_xfr.py's xfr_env (levee on AF_PACKET, its own namespace,
the xfr.test. zone in the test's directory, reloaded with SIGHUP).
"""
import os
import select
import time

import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype

from test_live import live_env, live_ok  # noqa: F401 (fixtures)
from test_xfr import ORIGIN, driver, neigh, reload, wait_log, xfr_env  # noqa: F401

TRIES = 5
GAPS = (1.0, 2.0, 4.0, 8.0)


def test_notify_gives_up_after_the_documented_retries(xfr_env):
    port = 5800 + os.getpid() % 100
    env = xfr_env(extra=lambda net: ["--notify", f"{net.client4}@{port}",
                                     "--notify", f"{net.client4}@{port + 1}"])
    net, lv = env.net, env.lv
    silent = net.udp_socket(4, port)
    refuser = net.udp_socket(4, port + 1)
    got = {silent: [], refuser: []}
    try:
        t0 = time.monotonic()
        reload(env, 2, changed={1})
        deadline = t0 + sum(GAPS) + 16 + 10     # last try + 16 s wait + slack
        given_up = f"NOTIFY of {ORIGIN} serial 2 to {net.client4}@{port}: no answer after"
        while time.monotonic() < deadline:
            r, _, _ = select.select([silent, refuser], [], [], 0.2)
            for s in r:
                data, src = s.recvfrom(4096)
                got[s].append((time.monotonic(), data, src))
                if s is refuser:
                    m = dns.message.from_wire(data)
                    a = dns.message.make_response(m)
                    a.set_rcode(dns.rcode.REFUSED)
                    s.sendto(a.to_wire(), src)
            if given_up in lv.stderr():
                break
        text = wait_log(lv, given_up, timeout=1.0)
        gave_up_at = time.monotonic()
        # nothing more after giving up
        time.sleep(1.5)
        for s in (silent, refuser):
            while select.select([s], [], [], 0)[0]:
                got[s].append((time.monotonic(), *s.recvfrom(4096)))
    finally:
        silent.close()
        refuser.close()

    tries = got[silent]
    assert len(tries) == TRIES, f"{len(tries)} NOTIFYs to the silent target\n" + lv.explain()
    ids = set()
    for _, data, src in tries:
        m = dns.message.from_wire(data)
        assert m.opcode() == dns.opcode.NOTIFY
        assert (m.question[0].name.to_text(), m.question[0].rdtype) == \
            (ORIGIN, dns.rdatatype.SOA)
        assert m.answer[0][0].serial == 2
        assert src[0] == net.service4
        ids.add(m.id)
    assert len(ids) == 1, f"retries carry one ID, saw {ids}"
    gaps = [b[0] - a[0] for a, b in zip(tries, tries[1:])]
    for gap, want in zip(gaps, GAPS):
        assert want - 0.3 < gap < want + 0.8, gaps
    # given up after the fifth try (today one more doubled wait, 16 s; the
    # docs promise only the tries, so any wait up to that is accepted)
    wait = gave_up_at - tries[-1][0]
    assert 0.5 < wait < 18.5, f"gave up {wait:.1f}s after the last try"
    assert f"{given_up} {TRIES} tries; given up" in text
    print(f"NOTIFY tries {len(tries)}, gaps {[round(g, 2) for g in gaps]}, "
          f"given up {wait:.1f}s after the last")

    # the refusing target: one NOTIFY, counted failed, logged, not retried
    assert len(got[refuser]) == 1, f"{len(got[refuser])} NOTIFYs to the refusing target"
    assert (f"NOTIFY of {ORIGIN} serial 2 to {net.client4}@{port + 1}: answered with "
            f"rcode {int(dns.rcode.REFUSED)}") in lv.stderr()

    st = lv.stats()
    assert (st["notify_sent"], st["notify_answered"], st["notify_failed"]) == \
        (TRIES + 1, 0, 2), dict(st)
    rc, _ = lv.stop()
    assert rc == 0, lv.explain()
