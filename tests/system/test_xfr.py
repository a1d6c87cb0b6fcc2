"""Zone transfers from levee on a live port (issue 5): AXFR (RFC 5936) and
IXFR (RFC 1995) over the TCP server, the transfer ACL, a reload during a
transfer, the refusal of a changed zone whose serial did not grow, NOTIFY
(RFC 1996) after a reload, TSIG-signed transfers (RFC 8945), and TCP on an
ordinary host socket (--tcp-listen).

Each test builds its own namespace, veth pair and levee on AF_PACKET
(test_live.py's live_env fixture); the client is dnspython running in the
namespace (netns.Net.inside). The zone served is written into the test's
directory so that a test can edit it and send SIGHUP. Records are compared
as canonical sets (owner lowercased, TTL, type, RDATA in canonical wire
form, RFC 4034 §6.2), so compression and case do not matter.

The 200,000-record AXFR across a delaying, lossy, reordering link is in
test_axfr_impaired.py.
"""
import os
import signal
import socket
import struct
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)

import dns.message
import dns.flags
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rrset
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.xfr
import dns.zone
import pytest

from test_live import live_env, live_ok  # noqa: F401 (fixtures)

ORIGIN = "xfr.test."
N_NAMES = 3000           # 4 records each: ~12,000 RRs, 20+ messages


@pytest.fixture
def driver():
    return "af_packet"


@pytest.fixture
def neigh():
    return "kernel"


def zone_text(serial, n=N_NAMES, changed=()):
    """The test zone: every name has A, AAAA, a 150-byte TXT and MX; names
    in `changed` get another A and lose their MX."""
    out = [f"$ORIGIN {ORIGIN}", "$TTL 300",
           f"@ 3600 IN SOA ns1 hostmaster {serial} 3600 600 86400 300",
           "@ NS ns1", "@ NS ns2.Example.NET.", "ns1 A 10.9.9.1",
           "@ MX 10 mail", "mail A 10.9.9.2", "www CNAME host1",
           "_ldap._tcp SRV 0 5 389 host2"]
    for i in range(n):
        out.append(f"host{i} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        out.append(f"host{i} AAAA fd00::{i:x}")
        out.append(f'host{i} 600 TXT "{("t%05d" % i) * 25}"')
        if i in changed:
            out.append(f"host{i} A 10.200.{i >> 8 & 255}.{i & 255}")
        else:
            out.append(f"host{i} MX {i % 50} host{(i + 1) % n}")
    return "\n".join(out) + "\n"


def write_zone(path, serial, **kw):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(zone_text(serial, **kw))
    os.replace(tmp, path)


def canonical_set(rrsets):
    out = set()
    for rrset in rrsets:
        for rd in rrset:
            out.add((rrset.name.to_text().lower(), rrset.ttl, rd.rdtype,
                     rd.to_digestable(dns.name.root)))
    return out


def zone_records(path):
    z = dns.zone.from_file(path, ORIGIN, relativize=False)
    return canonical_set(dns.rrset.from_rdata_list(name, rds.ttl, rds)
                         for name, node in z.nodes.items() for rds in node.rdatasets)


def xfr_query(rdtype="AXFR", serial=0, keyring=None, keyname=None, name=ORIGIN):
    q = dns.message.make_query(name, rdtype)
    if rdtype == "IXFR":
        q.authority.append(dns.rrset.from_text(name, 0, "IN", "SOA",
                                               f". . {serial} 0 0 0 0"))
    if keyring:
        q.use_tsig(keyring, keyname=keyname)
    return q


def connect(net, server, port=53, rcvbuf=None):
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = net.socket(fam, socket.SOCK_STREAM) if net else socket.socket(fam, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(20)
    s.connect((server, port))
    return s


def send_msg(sock, q):
    wire = q.to_wire()
    sock.sendall(struct.pack("!H", len(wire)) + wire)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def complete(rdtype, msgs, rrs):
    """Has the last message of the transfer arrived (RFC 5936 §2.2,
    RFC 1995 §4)?"""
    soa = [i for i, r in enumerate(rrs) if r.rdtype == dns.rdatatype.SOA]
    if not rrs or rrs[-1].rdtype != dns.rdatatype.SOA:
        return False
    if rdtype == "AXFR":
        return len(soa) >= 2
    if len(msgs) == 1 and len(rrs) == 1:
        return True                          # up to date: our SOA alone
    new = rrs[0][0].serial
    at_new = [i for i in soa if rrs[i][0].serial == new]
    if rrs[1].rdtype != dns.rdatatype.SOA:   # the whole zone, AXFR form
        return len(at_new) >= 2
    return len(at_new) >= 3


def read_xfr(sock, q, rdtype, keyring=None, lifetime=60):
    """Every message of one transfer, as (wire, message), read until it is
    complete, an error rcode arrives or the server closes; bounded."""
    msgs, rrs, ctx = [], [], None
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline:
        head = recv_exact(sock, 2)
        raw = head and recv_exact(sock, struct.unpack("!H", head)[0])
        if raw is None:
            return msgs
        if os.environ.get("LVTEST_XFR_DEBUG"):
            print("message", len(msgs), len(raw))
        m = dns.message.from_wire(raw, keyring=keyring,
                                  request_mac=q.mac if keyring else b"",
                                  xfr=True, tsig_ctx=ctx, multi=True,
                                  one_rr_per_rrset=True)
        ctx = m.tsig_ctx if keyring else None
        msgs.append((raw, m))
        if m.rcode() != dns.rcode.NOERROR:
            return msgs
        rrs += m.answer
        if complete(rdtype, msgs, rrs):
            return msgs
    raise AssertionError(f"transfer not complete within {lifetime} s")


def xfr_messages(net, server, rdtype="AXFR", serial=0, keyring=None,
                 keyname=None, port=53):
    q = xfr_query(rdtype, serial, keyring, keyname)
    sock = connect(net, server, port)
    try:
        send_msg(sock, q)
        return read_xfr(sock, q, rdtype, keyring)
    finally:
        sock.close()


def answer_rrs(msgs):
    return [r for _, m in msgs for r in m.answer]


@pytest.fixture
def xfr_env(live_env, workdir):
    """live_env with the test zone (serial 1) served from workdir and
    extra(net) arguments."""
    def make(extra=lambda net: (), serial=1):
        path = os.path.join(workdir, "xfr.test.zone")
        write_zone(path, serial)

        def args(net):
            return ["--zone", f"{ORIGIN}={path}"] + list(extra(net))
        env = live_env(extra=args)
        env.zone_path = path
        return env
    return make


def wait_log(lv, pattern, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(lv.err_path, errors="replace") as f:
            text = f.read()
        with open(lv.out_path, errors="replace") as f:
            text += f.read()
        if pattern in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"no log line with {pattern!r} within {timeout} s")


def test_axfr_whole_zone_in_64k_messages(xfr_env):
    env = xfr_env(extra=lambda net: ["--allow-transfer", f"{net.client4}/32",
                                     "--allow-transfer", f"{net.client6}/128"])
    want = zone_records(env.zone_path)
    for family in (4, 6):
        msgs = xfr_messages(env.net, env.net.service(family))
        rrs = answer_rrs(msgs)
        assert rrs[0].rdtype == dns.rdatatype.SOA and rrs[-1].rdtype == dns.rdatatype.SOA
        assert sum(r.rdtype == dns.rdatatype.SOA for r in rrs) == 2
        got = canonical_set(rrs)
        assert len(rrs) - 1 == len(want), (len(rrs), len(want))
        assert got == want, (sorted(want - got)[:5], sorted(got - want)[:5])
        sizes = [len(raw) for raw, _ in msgs]
        assert len(msgs) >= 10 and max(sizes) <= 65535, sizes
        # every message but the last is filled near the limit
        assert min(sizes[:-1]) > 60000, sizes
        assert all(m.id == msgs[0][1].id for _, m in msgs)
        assert len(msgs[0][1].question) == 1
        print(f"IPv{family}: {len(rrs)} RRs in {len(msgs)} messages, "
              f"{sum(sizes)} bytes")
    st = env.lv.stats()
    assert st["xfr_axfr"] == 2 and st["xfr_done"] == 2
    assert st["xfr_aborted"] == 0


def test_transfer_outside_acl_refused(xfr_env):
    env = xfr_env(extra=lambda net: ["--allow-transfer", "10.53.254.0/24"])
    for family in (4, 6):
        for rdtype in ("AXFR", "IXFR"):
            msgs = xfr_messages(env.net, env.net.service(family), rdtype)
            assert len(msgs) == 1
            assert msgs[0][1].rcode() == dns.rcode.REFUSED
            assert not msgs[0][1].answer
    # a name that is not a zone apex: NOTAUTH
    q = dns.message.make_query("host1." + ORIGIN, "AXFR")
    with env.net.inside():
        r = dns.query.tcp(q, env.net.service4, timeout=5)
    assert r.rcode() == dns.rcode.NOTAUTH
    st = env.lv.stats()
    assert st["xfr_refused"] == 5 and st["xfr_axfr"] == 0
    # the server still answers ordinary queries on the same path
    q = dns.message.make_query("host1." + ORIGIN, "A")
    with env.net.inside():
        r = dns.query.tcp(q, env.net.service4, timeout=5)
    assert r.rcode() == dns.rcode.NOERROR and r.answer


def reload(env, serial, **kw):
    """Rewrite the zone with serial (and changes), SIGHUP, and wait for
    the log line that says it is served."""
    write_zone(env.zone_path, serial, **kw)
    os.kill(env.lv.proc.pid, signal.SIGHUP)
    wait_log(env.lv, f"zone {ORIGIN} serial {serial} loaded")


def without_soa(records):
    return {r for r in records if r[2] != dns.rdatatype.SOA}


def test_ixfr_returns_just_the_difference(xfr_env, workdir):
    env = xfr_env(extra=lambda net: ["--allow-transfer", f"{net.client4}/32",
                                     "--ixfr-history", "2"])
    server = env.net.service4
    versions = {1: zone_records(env.zone_path)}
    edits = {2: {5, 77, 1000}, 3: {5}, 4: {9}}
    for serial in (2, 3, 4):
        reload(env, serial, changed=edits[serial])
        versions[serial] = zone_records(env.zone_path)
    # history 2: steps 2→3 and 3→4 are kept, 1→2 is gone
    for since in (2, 3):
        rrs = answer_rrs(xfr_messages(env.net, server, "IXFR", since))
        assert rrs[0][0].serial == 4 and rrs[-1][0].serial == 4
        assert rrs[1].rdtype == dns.rdatatype.SOA and rrs[1][0].serial == since
        # walk the steps: old SOA, removed..., new SOA, added...
        steps, i = [], 1
        while i < len(rrs) - 1:
            old = rrs[i][0].serial
            j = i + 1
            while rrs[j].rdtype != dns.rdatatype.SOA:
                j += 1
            new = rrs[j][0].serial
            k = j + 1
            while rrs[k].rdtype != dns.rdatatype.SOA:
                k += 1
            steps.append((old, new, canonical_set(rrs[i + 1:j]), canonical_set(rrs[j + 1:k])))
            i = k
        assert [(a, b) for a, b, _, _ in steps] == [(s, s + 1) for s in range(since, 4)]
        for old, new, removed, added in steps:
            assert removed == without_soa(versions[old] - versions[new])
            assert added == without_soa(versions[new] - versions[old])
            assert removed and added
        print(f"IXFR from {since}: {len(rrs)} RRs, steps "
              f"{[(a, b, len(r), len(d)) for a, b, r, d in steps]}")
    # a client as new as we are: our SOA alone
    msgs = xfr_messages(env.net, server, "IXFR", 4)
    assert len(msgs) == 1 and [r.rdtype for r in msgs[0][1].answer] == [dns.rdatatype.SOA]
    # a serial older than the history: the whole zone, AXFR form
    rrs = answer_rrs(xfr_messages(env.net, server, "IXFR", 1))
    assert rrs[1].rdtype != dns.rdatatype.SOA
    assert canonical_set(rrs) == versions[4]
    # dnspython applies the increments to version 2 and gets version 4
    z = dns.zone.from_text(zone_text(2, changed=edits[2]), ORIGIN, relativize=False)
    with env.net.inside():
        q, _ = dns.xfr.make_query(z, serial=2)
        dns.query.inbound_xfr(server, z, q, timeout=20, lifetime=60)
    got = canonical_set(dns.rrset.from_rdata_list(n, rds.ttl, rds)
                        for n, node in z.nodes.items() for rds in node.rdatasets)
    assert got == versions[4]
    st = env.lv.stats()
    assert st["xfr_ixfr"] == 3 and st["xfr_ixfr_current"] == 1
    assert st["xfr_ixfr_full"] == 1


def test_changed_zone_without_new_serial_refused(xfr_env):
    env = xfr_env(extra=lambda net: ["--allow-transfer", f"{net.client4}/32"])
    before = zone_records(env.zone_path)
    write_zone(env.zone_path, 1, changed={3})
    os.kill(env.lv.proc.pid, signal.SIGHUP)
    text = wait_log(env.lv, "the serial did not increase")
    line = [l for l in text.splitlines() if "the serial did not increase" in l][0]
    assert ORIGIN in line and "old version kept" in line, line
    got = canonical_set(answer_rrs(xfr_messages(env.net, env.net.service4)))
    assert got == before
    # the same file with a larger serial is taken
    reload(env, 2, changed={3})
    got = canonical_set(answer_rrs(xfr_messages(env.net, env.net.service4)))
    assert got == zone_records(env.zone_path)


def test_reload_during_axfr_keeps_its_version(xfr_env):
    """A transfer in progress goes on from the version it started with,
    whole, while the reload publishes the next one."""
    env = xfr_env(extra=lambda net: ["--allow-transfer", f"{net.client4}/32"])
    old = zone_records(env.zone_path)
    q = xfr_query()
    sock = connect(env.net, env.net.service4, rcvbuf=4096)
    try:
        send_msg(sock, q)
        head = recv_exact(sock, 2)          # the first message has started
        assert head is not None
        time.sleep(0.3)
        reload(env, 2, changed=set(range(0, 3000, 7)))
        first = recv_exact(sock, struct.unpack("!H", head)[0])
        msgs = [(first, dns.message.from_wire(first, xfr=True, one_rr_per_rrset=True))]
        msgs += read_xfr(sock, q, "AXFR")
    finally:
        sock.close()
    rrs = answer_rrs(msgs)
    assert rrs[0][0].serial == 1 and rrs[-1][0].serial == 1
    assert canonical_set(rrs) == old
    new = canonical_set(answer_rrs(xfr_messages(env.net, env.net.service4)))
    assert new == zone_records(env.zone_path) and new != old


KEY_NAME = "transfer-key."
KEY_SECRET = "c2VjcmV0LWZvci10cmFuc2ZlcnMtb25seQ=="


def rcode_and_tsig_error(raw):
    """The rcode, and the error field of the TSIG that ends raw (None
    without one), read from the wire so that nothing is verified."""
    rcode = raw[3] & 0x0F
    arcount = struct.unpack("!H", raw[10:12])[0]
    if arcount == 0:
        return rcode, None
    # the TSIG's last fields: ... error(2) other len(2) other data
    other_len = struct.unpack("!H", raw[-2:])[0]
    if other_len == 0:
        return rcode, struct.unpack("!H", raw[-4:-2])[0]
    return rcode, struct.unpack("!H", raw[-4 - other_len:-2 - other_len])[0]


def test_tsig_signed_transfers(xfr_env):
    env = xfr_env(extra=lambda net: [
        "--key", f"hmac-sha256:{KEY_NAME}:{KEY_SECRET}",
        "--allow-transfer", f"key={KEY_NAME}"])
    server = env.net.service4
    want = zone_records(env.zone_path)
    good = dns.tsigkeyring.from_text({KEY_NAME: ("hmac-sha256", KEY_SECRET)})
    # unsigned: the ACL wants the key
    msgs = xfr_messages(env.net, server)
    assert msgs[0][1].rcode() == dns.rcode.REFUSED
    # signed: every message verifies, MACs chained (dnspython checks)
    msgs = xfr_messages(env.net, server, keyring=good, keyname=KEY_NAME)
    assert len(msgs) > 5 and all(m.had_tsig for _, m in msgs)
    assert canonical_set(answer_rrs(msgs)) == want
    # IXFR signed too: the up-to-date answer
    msgs = xfr_messages(env.net, server, "IXFR", 1, keyring=good, keyname=KEY_NAME)
    assert len(msgs) == 1 and msgs[0][1].had_tsig
    # a wrong secret: NOTAUTH, BADSIG; an unknown key: NOTAUTH, BADKEY
    cases = ((KEY_NAME, "d3Jvbmctc2VjcmV0", 16), ("other-key.", KEY_SECRET, 17))
    for name, secret, tsig_error in cases:
        ring = dns.tsigkeyring.from_text({name: ("hmac-sha256", secret)})
        q = xfr_query(keyring=ring, keyname=name)
        sock = connect(env.net, server)
        try:
            send_msg(sock, q)
            head = recv_exact(sock, 2)
            raw = recv_exact(sock, struct.unpack("!H", head)[0])
        finally:
            sock.close()
        assert rcode_and_tsig_error(raw) == (dns.rcode.NOTAUTH, tsig_error)
    # an ordinary signed query, over TCP and UDP, gets a signed answer
    q = dns.message.make_query("host7." + ORIGIN, "A")
    q.use_tsig(good, keyname=KEY_NAME)
    with env.net.inside():
        for send in (dns.query.tcp, dns.query.udp):
            r = send(q, server, timeout=5)
            assert r.had_tsig and r.rcode() == dns.rcode.NOERROR and r.answer
    st = env.lv.stats()
    assert st["xfr_axfr"] == 1 and st["xfr_refused"] == 3


def test_tcp_listen_on_a_host_socket(xfr_env):
    """--tcp-listen: TCP (queries and transfers) on an ordinary socket of
    the host, here 127.0.0.1 port 5353 + x."""
    port = 5300 + os.getpid() % 500
    env = xfr_env(extra=lambda net: ["--tcp-listen", f"127.0.0.1@{port}",
                                     "--allow-transfer", "127.0.0.0/8"])
    q = dns.message.make_query("host3." + ORIGIN, "AAAA")
    r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=5)
    assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "fd00::3"
    msgs = xfr_messages(None, "127.0.0.1", port=port)
    assert canonical_set(answer_rrs(msgs)) == zone_records(env.zone_path)


def test_notify_after_reload(xfr_env):
    """RFC 1996: a reload that publishes a new serial sends NOTIFY to each
    target from the service address; an acknowledged one stops, a silent
    target gets retries (1 s, then 2 s, ...); a target with a key gets a
    signed NOTIFY."""
    port = 5300 + os.getpid() % 500
    ring = dns.tsigkeyring.from_text({KEY_NAME: ("hmac-sha256", KEY_SECRET)})
    env = xfr_env(extra=lambda net: [
        "--key", f"{KEY_NAME}:{KEY_SECRET}",
        "--notify", f"{net.client4}@{port}",
        "--notify", f"{net.client4}@{port + 1},key={KEY_NAME}"])
    net = env.net
    acked = net.udp_socket(4, port)
    silent = net.udp_socket(4, port + 1)
    silent.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    try:
        reload(env, 2, changed={1})
        acked.settimeout(5)
        data, src = acked.recvfrom(4096)
        m = dns.message.from_wire(data)
        assert m.opcode() == dns.opcode.NOTIFY and m.flags & dns.flags.AA
        assert (m.question[0].name.to_text(), m.question[0].rdtype) == (ORIGIN, dns.rdatatype.SOA)
        assert m.answer[0][0].serial == 2
        assert src[0] == net.service4
        r = dns.message.make_response(m)
        acked.sendto(r.to_wire(), src)
        wait_log(env.lv, f"NOTIFY of {ORIGIN} serial 2 to {net.client4}@{port}: acknowledged")
        # the silent one: signed, and tried again after 1 s and 2 s more
        # arrival times from the kernel (SO_TIMESTAMPNS), not from when
        # this test got round to reading: the wait for the log line above
        # may take a while on a loaded machine
        silent.settimeout(5)
        times = []
        for _ in range(3):
            data, anc, _, _ = silent.recvmsg(4096, 64)
            sec, nsec = struct.unpack("qq", [a for a in anc if a[1] == SO_TIMESTAMPNS][0][2][:16])
            times.append(sec + nsec / 1e9)
            m = dns.message.from_wire(data, keyring=ring)
            assert m.had_tsig and m.opcode() == dns.opcode.NOTIFY
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert 0.8 < gaps[0] < 1.6 and 1.8 < gaps[1] < 2.6, gaps
        # the acknowledged target got exactly one
        acked.settimeout(0.5)
        with pytest.raises(socket.timeout):
            acked.recvfrom(4096)
    finally:
        acked.close()
        silent.close()
    st = env.lv.stats()
    assert st["notify_answered"] == 1 and st["notify_sent"] >= 4


def _sysctl(path, value=None):
    with open(f"/proc/sys/{path}", "r+" if value is not None else "r") as f:
        if value is not None:
            f.write(str(value))
            return None
        return int(f.read())


def test_tune_kernel_raises_and_restores_backlog(request, xfr_env):
    """The TCP backlog sysctls: warned about when low, raised only with
    --tune-kernel, and put back at exit. (Host-wide: the test lowers them
    itself and restores them in a finalizer.)"""
    keys = ("net/core/somaxconn", "net/ipv4/tcp_max_syn_backlog")
    before = {k: _sysctl(k) for k in keys}
    request.addfinalizer(lambda: [_sysctl(k, v) for k, v in before.items()])
    _sysctl(keys[0], 1024)
    _sysctl(keys[1], 512)
    env = xfr_env()
    wait_log(env.lv, "net.core.somaxconn is 1024")
    wait_log(env.lv, "net.ipv4.tcp_max_syn_backlog is 512")
    assert env.lv.stop()[0] == 0
    assert [_sysctl(k) for k in keys] == [1024, 512]
    env = xfr_env(extra=lambda net: ["--tune-kernel"])
    wait_log(env.lv, "net.core.somaxconn raised from 1024 to 4096")
    assert [_sysctl(k) for k in keys] == [4096, 1024]
    assert env.lv.stop()[0] == 0
    assert [_sysctl(k) for k in keys] == [1024, 512]
