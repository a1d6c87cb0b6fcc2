#!/usr/bin/python3
"""A small upstream DNS server for the forwarding tests: it answers a fixed
set of names under any origin, truncates over UDP the way real servers do,
and counts every query it gets, by transport and name.

    backend.py --address 127.0.0.1 --port PORT [--truncate empty|partial]
               [--udp-limit 512] [--ready FILE]

Names (the first label decides, the rest is ignored):
    a.*          A 192.0.2.1, TTL 300
    ttl<N>.*     A 192.0.2.2, TTL N
    big.*        100 A records (about 1.6 KB), TTL 300
    multi.*      A 192.0.2.1 (TTL 600) and CNAME-free second RRset in
                 authority: NS ns.<origin> (TTL 120) - the smallest TTL wins
    nx.*         NXDOMAIN, SOA (TTL 300, MINIMUM 60) in authority
    nodata.*     NOERROR, no answer, SOA (TTL 300, MINIMUM 30) in authority
    nosoa.*      NXDOMAIN without an SOA
    servfail.*   SERVFAIL
    refused.*    REFUSED
    drop.*       no answer at all
    .            SOA (what levee's health probe asks by default)
    slow<MS>.*   A 192.0.2.3 after MS milliseconds
    spoof.*      first a datagram with a wrong ID and one with a wrong
                 question (A 203.0.113.66), then the right answer
    count.*      A 192.0.2.4 (for coalescing counts)
Anything else gets NXDOMAIN with an SOA.

--tcp-close-after N closes each TCP connection, without answering, when
its Nth query arrives.

Over UDP an answer longer than the client's limit (its EDNS size, else
512; at most --udp-limit) is truncated: --truncate empty sends TC=1 with
no records (as knotd does), partial sends TC=1 with the records that fit
(as CoreDNS and other miekg/dns servers do).

The query `counts.backend. TXT CH` returns the counts as TXT strings
"udp N", "tcp N" and "q NAME TYPE TRANSPORT N" (itself not counted).
"""
import argparse
import collections
import os
import signal
import socket
import struct
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

LOCK = threading.Lock()
COUNTS = collections.Counter()


def count(key):
    with LOCK:
        COUNTS[key] += 1


def soa(origin, minimum):
    return dns.rrset.from_text(origin, 300, "IN", "SOA",
                               f"ns.{origin} host.{origin} 1 3600 600 86400 {minimum}")


# --rcode: every query gets this rcode and nothing else (a broken upstream)
ALL_RCODE = None
# --delay-ms: every answer waits this long first (a slow upstream)
ALL_DELAY = 0.0


def answer(q, transport):
    """The full answer to q (a dns.message.Message) and an optional delay."""
    r = dns.message.make_response(q, recursion_available=True)
    r.flags &= ~dns.flags.AA
    if ALL_RCODE is not None:
        r.set_rcode(ALL_RCODE)
        return r, ALL_DELAY
    qn = q.question[0]
    name, rdtype = qn.name, qn.rdtype
    first = name.labels[0].decode(errors="replace").lower() if len(name.labels) > 1 else ""
    origin = name.parent() if len(name.labels) > 1 else name
    delay = 0.0
    a = rdtype == dns.rdatatype.A

    def add(ttl, *rdatas, section=None, rtype="A", owner=None):
        rs = dns.rrset.from_text(owner or name, ttl, "IN", rtype, *rdatas)
        (section if section is not None else r.answer).append(rs)

    if name == dns.name.root:
        # the root's SOA, as any resolver answers it: levee's health probe
        add(86400, "a.root-servers.net. nstld.verisign-grs.com. 1 1800 900 "
            "604800 86400", rtype="SOA")
    elif first == "a" and a:
        add(300, "192.0.2.1")
    elif first.startswith("ttl") and first[3:].isdigit() and a:
        add(int(first[3:]), "192.0.2.2")
    elif first == "big" and a:
        add(300, *[f"10.0.{i // 256}.{i % 256}" for i in range(100)])
    elif first == "multi" and a:
        add(600, "192.0.2.1")
        add(120, f"ns.{origin}", section=r.authority, rtype="NS", owner=origin)
    elif first == "nx":
        r.set_rcode(dns.rcode.NXDOMAIN)
        r.authority.append(soa(origin, 60))
    elif first == "nodata" or (first in ("a", "big", "count", "multi") and not a):
        r.authority.append(soa(origin, 30))
    elif first == "nosoa":
        r.set_rcode(dns.rcode.NXDOMAIN)
    elif first == "servfail":
        r.set_rcode(dns.rcode.SERVFAIL)
    elif first == "refused":
        r.set_rcode(dns.rcode.REFUSED)
    elif first == "drop":
        return None, 0.0
    elif first.startswith("slow") and first[4:].isdigit() and a:
        delay = int(first[4:]) / 1000.0
        add(300, "192.0.2.3")
    elif first == "spoof" and a:
        add(300, "192.0.2.5")
    elif first == "count" and a:
        add(300, "192.0.2.4")
    else:
        r.set_rcode(dns.rcode.NXDOMAIN)
        r.authority.append(soa(origin, 60))
    return r, delay + ALL_DELAY


def counts_answer(q):
    r = dns.message.make_response(q)
    with LOCK:
        items = sorted(COUNTS.items())
    strings = " ".join('"%s %d"' % (" ".join(k), v) for k, v in items) or '"empty 0"'
    r.answer.append(dns.rrset.from_text(q.question[0].name, 0, "CH", "TXT", strings))
    return r


def is_counts(q):
    return (q.question and q.question[0].rdclass == dns.rdataclass.CH and
            q.question[0].name == dns.name.from_text("counts.backend."))


def truncate(r, limit, mode):
    wire = r.to_wire(max_size=65535)
    if len(wire) <= limit:
        return wire
    r.flags |= dns.flags.TC
    if mode == "partial":
        # as many whole answer records as fit, as miekg/dns servers do
        rrs = list(r.answer[0]) if r.answer else []
        rs = r.answer[0] if r.answer else None
        r.answer = []
        r.authority = []
        r.additional = []
        kept = []
        for rd in rrs:
            trial = dns.rrset.from_rdata_list(rs.name, rs.ttl, kept + [rd])
            r.answer = [trial]
            if len(r.to_wire(max_size=65535)) > limit:
                break
            kept.append(rd)
        r.answer = [dns.rrset.from_rdata_list(rs.name, rs.ttl, kept)] if kept else []
    else:
        r.answer = []
        r.authority = []
        r.additional = []
    return r.to_wire(max_size=65535)


class Server:
    def __init__(self, address, port, mode, udp_limit, tcp_close_after=0):
        self.tcp_close_after = tcp_close_after
        fam = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.mode = mode
        self.udp_limit = udp_limit
        self.udp = socket.socket(fam, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.udp.bind((address, port))
        self.tcp = socket.socket(fam, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((address, port))
        self.tcp.listen(64)

    def serve_udp(self):
        while True:
            data, peer = self.udp.recvfrom(65535)
            try:
                q = dns.message.from_wire(data)
            except Exception:
                count(("bad", "udp"))
                continue
            if is_counts(q):
                self.udp.sendto(counts_answer(q).to_wire(), peer)
                continue
            threading.Thread(target=self.udp_one, args=(q, peer), daemon=True).start()

    def udp_one(self, q, peer):
        qn = q.question[0]
        count(("udp",))
        count(("q", qn.name.to_text().lower(), dns.rdatatype.to_text(qn.rdtype), "udp"))
        # what EDNS the query carried: ("edns", payload) or ("noedns",)
        count(("edns", str(q.payload)) if q.edns >= 0 else ("noedns",))
        r, delay = answer(q, "udp")
        if r is None:
            return
        if delay:
            time.sleep(delay)
        if qn.name.labels[0].lower() == b"spoof":
            bad = dns.message.make_response(q)
            bad.id = (q.id + 1) % 65536
            bad.answer.append(dns.rrset.from_text(qn.name, 300, "IN", "A", "203.0.113.66"))
            self.udp.sendto(bad.to_wire(), peer)
            other = dns.message.make_query(qn.name.parent(), "A")
            other.id = q.id
            wrong = dns.message.make_response(other)
            wrong.answer.append(dns.rrset.from_text(qn.name.parent(), 300, "IN", "A",
                                                    "203.0.113.66"))
            self.udp.sendto(wrong.to_wire(), peer)
        limit = q.payload if q.edns >= 0 else 512
        limit = min(max(limit, 512), self.udp_limit)
        self.udp.sendto(truncate(r, limit, self.mode), peer)

    def serve_tcp(self):
        while True:
            conn, _ = self.tcp.accept()
            count(("tcp_connections",))
            threading.Thread(target=self.tcp_conn, args=(conn,), daemon=True).start()

    def tcp_conn(self, conn):
        lock = threading.Lock()
        buf = b""
        taken = 0
        try:
            while True:
                data = conn.recv(65535)
                if not data:
                    return
                buf += data
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                    n = struct.unpack("!H", buf[:2])[0]
                    msg, buf = buf[2:2 + n], buf[2 + n:]
                    taken += 1
                    if self.tcp_close_after and taken >= self.tcp_close_after:
                        # a server that drops its connection with queries
                        # unanswered (the outage of short-lived TCP)
                        count(("tcp_dropped",))
                        conn.close()
                        return
                    # pipelined: each query answered on its own thread, so
                    # a slow one does not hold back those behind it
                    threading.Thread(target=self.tcp_one, args=(conn, lock, msg),
                                     daemon=True).start()
        except OSError:
            return

    def tcp_one(self, conn, lock, msg):
        try:
            q = dns.message.from_wire(msg)
        except Exception:
            count(("bad", "tcp"))
            return
        qn = q.question[0]
        count(("tcp",))
        count(("q", qn.name.to_text().lower(), dns.rdatatype.to_text(qn.rdtype), "tcp"))
        r, delay = answer(q, "tcp")
        if r is None:
            return
        if delay:
            time.sleep(delay)
        wire = r.to_wire(max_size=65535)
        with lock:
            try:
                conn.sendall(struct.pack("!H", len(wire)) + wire)
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--truncate", choices=("empty", "partial"), default="empty")
    ap.add_argument("--udp-limit", type=int, default=4096)
    ap.add_argument("--ready", help="file written once the sockets are bound")
    ap.add_argument("--tcp-close-after", type=int, default=0,
                    help="close a TCP connection, unanswered, at its Nth query")
    ap.add_argument("--rcode", help="answer every query with this rcode only")
    ap.add_argument("--delay-ms", type=int, default=0,
                    help="wait this long before every answer")
    a = ap.parse_args()
    global ALL_RCODE, ALL_DELAY
    if a.rcode:
        ALL_RCODE = dns.rcode.from_text(a.rcode)
    ALL_DELAY = a.delay_ms / 1000.0
    s = Server(a.address, a.port, a.truncate, a.udp_limit, a.tcp_close_after)
    threading.Thread(target=s.serve_udp, daemon=True).start()
    threading.Thread(target=s.serve_tcp, daemon=True).start()
    if a.ready:
        with open(a.ready, "w") as f:
            f.write(str(os.getpid()))
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
