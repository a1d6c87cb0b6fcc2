"""levee on host sockets (--listen ADDR[@PORT]): the same answers as on a
bypass port, over UDP and TCP, IPv4 and IPv6, with several workers; bad
values refused in one line.
"""
import socket
import subprocess

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from lvtest import front, knot, live, netns

NAMES = [("levee.test.", "SOA"), ("levee.test.", "NS"), ("levee.test.", "MX"),
         ("www.levee.test.", "A"), ("www.levee.test.", "AAAA"),
         ("alias.levee.test.", "A"), ("chain1.levee.test.", "TXT"),
         ("nonexistent.levee.test.", "A"), ("b.c.ent.levee.test.", "A"),
         ("_sip._udp.levee.test.", "SRV"), ("txt.levee.test.", "TXT"),
         ("www.other.test.", "A"), ("elsewhere.test.", "A")]
FORWARDED = [("a.sd.test.", "A"), ("nx.sd.test.", "A"), ("big.sd.test.", "A"),
             ("multi.sd.test.", "A")]


@pytest.fixture
def backend(workdir):
    b = front.Backend(workdir, extra=["--udp-limit", "512"]).start()
    yield b
    b.stop()


def _wire(name, rdtype, qid, payload=1232):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=payload)
    q.id = qid
    return q.to_wire()


def _ask_udp(sock, addr, wire, timeout=3.0):
    sock.settimeout(timeout)
    sock.sendto(wire, addr)
    while True:
        d, _ = sock.recvfrom(65535)
        if d[:2] == wire[:2]:
            return d


def _rrsets(m):
    """Sections as sets of (name, type, rdata) without TTLs or order."""
    out = []
    for sec in (m.answer, m.authority, m.additional):
        out.append(sorted((rs.name.to_text().lower(), rs.rdtype, rd.to_text())
                          for rs in sec for rd in rs))
    return out


def test_same_answers_as_af_packet(levee_bin, zones, workdir, backend, request):
    """Every zone answer is byte for byte the one levee gives on AF_PACKET;
    forwarded answers carry the same records and flags."""
    fwd = ["--forward", f"sd.test.={backend.spec}", "--udp-max", "1400"]
    net = netns.Net()
    request.addfinalizer(net.destroy)
    net.create()
    net.neighbours("static")
    port_lv = live.Live(levee_bin, f"af_packet:{net.levee_if}", zones,
                        net.service_addresses(), workdir, extra=fwd)
    request.addfinalizer(port_lv.kill)
    port_lv.start()
    port_lv.wait_serving(net)
    args = fwd[:]
    for origin, path in zones.items():
        args += ["--zone", f"{origin}={path}"]
    sock_lv = front.Front(levee_bin, workdir, args).start()
    request.addfinalizer(sock_lv.stop)

    on_port = net.udp_socket(4)
    on_host = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for i, (name, rdtype) in enumerate(NAMES + FORWARDED):
            for payload in (1232, 4096):
                wire = _wire(name, rdtype, 0x100 + 2 * i + (payload > 1232), payload)
                a = _ask_udp(on_port, (net.service4, 53), wire)
                b = _ask_udp(on_host, (sock_lv.address, sock_lv.port), wire)
                if (name, rdtype) in FORWARDED:
                    ma, mb = dns.message.from_wire(a), dns.message.from_wire(b)
                    assert (ma.flags, ma.rcode()) == (mb.flags, mb.rcode()), name
                    assert _rrsets(ma) == _rrsets(mb), name
                else:
                    assert a == b, (name, rdtype, payload)
    finally:
        on_port.close()
        on_host.close()


@pytest.mark.parametrize("family", [4, 6])
def test_udp_and_tcp_with_two_workers(levee_bin, zones, workdir, family):
    addr = "127.0.0.1" if family == 4 else "::1"
    args = [f"--zone=levee.test.={zones['levee.test.']}"]
    lv = front.Front(levee_bin, workdir, args, workers=2, address=addr).start()
    try:
        seen = set()
        for i in range(200):
            # a fresh socket each time: new source ports, spread by the
            # kernel over both workers' sockets (SO_REUSEPORT)
            r = lv.query("www.levee.test.", "A")
            assert sorted(rd.address for rd in r.answer[0]) == \
                ["192.0.2.80", "192.0.2.81"]
            seen.add(r.id)
        r = lv.query("www.levee.test.", "A", tcp=True)
        assert sorted(rd.address for rd in r.answer[0]) == ["192.0.2.80", "192.0.2.81"]
        st = lv.stats()
        assert st["queries"] >= 200 and st["cache_hits"] >= 199
        assert st["tcp_queries"] == 1
        workers = [st.get(f"worker{i}_rx", 0) for i in range(2)]
        assert sum(workers) >= 200 and min(workers) > 0, workers
    finally:
        lv.stop()


def test_bad_listen_values_are_one_line(levee_bin, zones, workdir):
    for bad in ["", "nonsense", "127.0.0.1@0", "127.0.0.1@70000", "10.0.0.0/8"]:
        p = subprocess.run([levee_bin, "--zone", f"levee.test.={zones['levee.test.']}",
                            "--listen", bad], capture_output=True, text=True, timeout=30)
        lines = p.stderr.strip().splitlines()
        assert p.returncode != 0 and len(lines) == 1, p.stderr
        assert lines[0].startswith("levee: --listen: expected ADDR[@PORT]"), lines


def test_listen_on_an_address_not_here_fails_cleanly(levee_bin, zones, workdir):
    """A bind failure names the address and the reason, and levee exits."""
    lv = front.Front(levee_bin, workdir,
                     [f"--zone=levee.test.={zones['levee.test.']}"],
                     address="192.0.2.123", port=knot.free_port())
    with pytest.raises(AssertionError):
        lv.start(timeout=20)
    err = lv.stderr()
    assert "--listen 192.0.2.123@" in err and "Cannot assign requested address" in err, err
    assert lv.returncode not in (None, 0)
