"""A small DNS-over-TCP client for the live tests (RFC 1035 §4.2.2, RFC 7766).

Sockets are opened inside the test's namespace (netns.Net.socket): a
socket stays in the namespace it was created in, so connect/send/recv may
then run on any thread.

- frame(): the 2-byte length prefix;
- Conn: one connection; send() writes whole framed messages (one sendall,
  pipelined), read() collects whole messages until a count or a deadline,
  keeping a partial message across calls; closed_within() tells an
  orderly close (EOF) or reset by the server apart from silence;
- listening(): does anything accept TCP on port 53 of a service address
  (ECONNREFUSED: no);
- TcpOracle and check(): the oracle's full answer (no size limit, so never
  TC) with the edns-tcp-keepalive option (RFC 7828, code 11) expected in the
  OPT, compared field by field;
- churn(): many short connections from many threads, each connect, one
  query, read the answer, close, every failure recorded by kind;
- streams(): the TCP payload of each connection to port 53 of the service
  in a capture (netns.Capture), reassembled by sequence number.

Every wait is bounded by a deadline.
"""
import errno
import select
import socket
import struct
import threading
import time

from . import compare, oracle

KEEPALIVE = 11          # EDNS option code of edns-tcp-keepalive (RFC 7828)


def frame(wire):
    return struct.pack("!H", len(wire)) + wire


def msg_id(wire):
    return struct.unpack("!H", wire[:2])[0]


class Closed(Exception):
    """The server ended the connection (EOF or reset) before a read completed."""


class Conn:
    def __init__(self, net, family, timeout=5.0, rcvbuf=None, connect=True):
        fam = socket.AF_INET if family == 4 else socket.AF_INET6
        self.net, self.family = net, family
        self.sock = net.socket(fam, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False
        self.error = None
        if connect:
            self.connect(timeout)

    def connect(self, timeout=5.0):
        self.sock.settimeout(timeout)
        self.sock.connect((self.net.service(self.family), 53))
        self.connected_at = time.monotonic()
        return self

    def send(self, wires):
        """All messages framed, written back to back in one sendall."""
        self.sock.sendall(b"".join(frame(w) for w in wires))

    def send_raw(self, data):
        self.sock.sendall(data)

    def _pop(self):
        out = []
        while len(self.buf) >= 2:
            n = struct.unpack("!H", self.buf[:2])[0]
            if len(self.buf) < 2 + n:
                break
            out.append(self.buf[2:2 + n])
            self.buf = self.buf[2 + n:]
        return out

    def read(self, count, timeout=5.0, chunk=65536):
        """Up to `count` whole messages, waiting at most `timeout` s in all.
        Stops early at EOF or reset (self.eof / self.error say which)."""
        out = self._pop()
        deadline = time.monotonic() + timeout
        while len(out) < count and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(chunk)
            except socket.timeout:
                break
            except OSError as e:
                self.error = e
                self.eof = True
                break
            if not data:
                self.eof = True
                break
            self.buf += data
            out += self._pop()
        return out

    def closed_within(self, timeout):
        """Seconds until the server closed (EOF or reset), reading and
        keeping whatever arrives meanwhile; None if still open after
        timeout s."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            except OSError as e:
                self.error = e
                self.eof = True
                break
            if not data:
                self.eof = True
                break
            self.buf += data
        return time.monotonic() - t0

    def is_open(self):
        """Non-blocking: False once the server has closed or reset."""
        if self.eof:
            return False
        # a socket with a timeout would wait in recv even with MSG_DONTWAIT
        if not select.select([self.sock], [], [], 0)[0]:
            return True
        try:
            data = self.sock.recv(65536, socket.MSG_DONTWAIT | socket.MSG_PEEK)
        except (BlockingIOError, socket.timeout):
            return True
        except OSError as e:
            self.error, self.eof = e, True
            return False
        if not data:
            self.eof = True
            return False
        return True

    def close(self, reset=False):
        if reset:   # RST instead of FIN
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        self.sock.close()


def close_times(conns, timeout):
    """Watch several connections at once: {index: seconds from its connect
    to the server's close (EOF or reset)}, None for those still open after
    timeout s. Data that arrives meanwhile is kept in each Conn."""
    deadline = time.monotonic() + timeout
    out = {i: None for i in range(len(conns))}
    while time.monotonic() < deadline:
        live_ = {c.sock: i for i, c in enumerate(conns) if out[i] is None and not c.eof}
        if not live_:
            break
        r, _, _ = select.select(list(live_), [], [], max(0.0, deadline - time.monotonic()))
        now = time.monotonic()
        for s in r:
            i = live_[s]
            c = conns[i]
            try:
                d = s.recv(65536, socket.MSG_DONTWAIT)
            except (BlockingIOError, socket.timeout):
                continue
            except OSError as e:
                c.error, d = e, b""
            if d:
                c.buf += d
                continue
            c.eof = True
            out[i] = now - c.connected_at
    return out


def listening(net, family=4, timeout=3.0):
    """True if a TCP connection to port 53 of the service address is
    accepted, False if refused (nothing listens). Other errors raise."""
    c = Conn(net, family, timeout=timeout, connect=False)
    try:
        c.connect(timeout)
        return True
    except ConnectionRefusedError:
        return False
    finally:
        c.close()


# --- expected answers -----------------------------------------------------

class TcpOracle(oracle.Oracle):
    """The oracle without a size limit: the full answer, never TC.
    udp_max stays the OPT payload levee writes (its --udp-max)."""

    def limit(self, query):
        return 65535


def expected(orc, query, keepalive):
    """The normalized full answer to query over TCP: the OPT (when the
    query has one) carries edns-tcp-keepalive = keepalive (units of 100 ms)."""
    ref = compare.normalize(orc.answer(query))
    if ref.opt is not None and keepalive is not None:
        ref.opt = dict(ref.opt)
        ref.opt["options"] = ((KEEPALIVE, struct.pack("!H", keepalive)),)
    return ref


def check(got_wire, query, orc, keepalive, ignore=("opt.payload",)):
    """Field mismatches [(field, text)] between levee's TCP answer and the
    expected one; `ignore` lists fields not compared (the OPT payload
    size means nothing over TCP, RFC 6891 §6.2.5 speaks of UDP only)."""
    try:
        got = compare.normalize(got_wire)
    except Exception as e:       # noqa: BLE001 (any parse failure is a finding)
        return [("wire", f"unparsable: {e}")]
    ref = expected(orc, query, keepalive)
    out = [m for m in compare.diff(got, ref) if m[0] not in ignore]
    if got.id != query.id:
        out.append(("id", f"{got.id} != {query.id}"))
    return out


def keepalive_of(wire):
    """The edns-tcp-keepalive values in a response's OPT: [] if none,
    [None] for an option without a timeout, else [units]."""
    n = compare.normalize(wire)
    if n.opt is None:
        return []
    vals = []
    for code, data in n.opt["options"]:
        if code == KEEPALIVE:
            vals.append(struct.unpack("!H", data)[0] if len(data) == 2 else None)
    return vals


# --- short connections ----------------------------------------------------

def churn(net, family, query, total, concurrency, max_seconds=20.0, timeout=5.0,
          port=53):
    """`total` connections, `concurrency` threads; each: connect, send one
    query (unique ID), read its answer, close. Returns a dict: done,
    answered, failures [(kind, text)], seconds, latencies (s, per
    connection), max_open (most connections a thread pool had open)."""
    lock = threading.Lock()
    state = {"next": 0, "answered": 0, "failures": [], "lat": []}
    deadline = time.monotonic() + max_seconds
    fam = socket.AF_INET if family == 4 else socket.AF_INET6
    dst = (net.service(family), port)
    # sockets must be born in the namespace: make them on this thread first
    # would need `total` fds at once, so each worker enters the namespace
    # itself (setns acts on the calling thread only).

    def worker():
        with net.inside():
            while time.monotonic() < deadline:
                with lock:
                    i = state["next"]
                    if i >= total:
                        return
                    state["next"] += 1
                qid = i & 0xFFFF
                t0 = time.monotonic()
                s = socket.socket(fam, socket.SOCK_STREAM)
                kind = None
                try:
                    s.settimeout(timeout)
                    s.connect(dst)
                    s.sendall(frame(query.wire(id=qid)))
                    buf = b""
                    while True:
                        if len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                            break
                        d = s.recv(65536)
                        if not d:
                            kind = ("eof", f"#{i}: EOF after {len(buf)} bytes")
                            break
                        buf += d
                    if kind is None:
                        n = struct.unpack("!H", buf[:2])[0]
                        msg = buf[2:2 + n]
                        if msg_id(msg) != qid or not msg[2] & 0x80:
                            kind = ("wrong", f"#{i}: answer id {msg_id(msg)} qr "
                                    f"{msg[2] >> 7} for id {qid}")
                except socket.timeout:
                    kind = ("timeout", f"#{i}: no answer within {timeout}s")
                except ConnectionResetError as e:
                    kind = ("ECONNRESET", f"#{i}: {e}")
                except BrokenPipeError as e:
                    kind = ("EPIPE", f"#{i}: {e}")
                except OSError as e:
                    kind = (errno.errorcode.get(e.errno, str(e.errno)), f"#{i}: {e}")
                finally:
                    s.close()
                with lock:
                    if kind is None:
                        state["answered"] += 1
                        state["lat"].append(time.monotonic() - t0)
                    else:
                        state["failures"].append(kind)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic() + timeout + 2))
    secs = time.monotonic() - t0
    with lock:
        return {"done": min(state["next"], total), "answered": state["answered"],
                "failures": list(state["failures"]), "seconds": secs,
                "latencies": sorted(state["lat"]),
                "stuck_threads": sum(t.is_alive() for t in threads)}


# --- capture --------------------------------------------------------------

def _tcp_of(raw):
    """(src, dst, sport, dport, seq, flags, payload) of a TCP frame or None."""
    if len(raw) < 14:
        return None
    et = struct.unpack("!H", raw[12:14])[0]
    p = raw[14:]
    if et == 0x0800 and len(p) >= 20 and p[9] == 6:
        ihl = (p[0] & 15) * 4
        tot = struct.unpack("!H", p[2:4])[0]
        src, dst = socket.inet_ntop(socket.AF_INET, p[12:16]), \
            socket.inet_ntop(socket.AF_INET, p[16:20])
        seg = p[ihl:tot]
    elif et == 0x86DD and len(p) >= 40 and p[6] == 6:
        plen = struct.unpack("!H", p[4:6])[0]
        src, dst = socket.inet_ntop(socket.AF_INET6, p[8:24]), \
            socket.inet_ntop(socket.AF_INET6, p[24:40])
        seg = p[40:40 + plen]
    else:
        return None
    if len(seg) < 20:
        return None
    sport, dport, seq = struct.unpack("!HHI", seg[:8])
    off = (seg[12] >> 4) * 4
    return src, dst, sport, dport, seq, seg[13], seg[off:]


def streams(cap, net):
    """{client port: {"to": bytes client->server, "from": bytes
    server->client, "flags": set of TCP flags seen}} for TCP connections to
    port 53 of the service addresses in cap (retransmissions merged by
    sequence number)."""
    svc = {net.service4, net.service6}
    segs = {}
    for _, out, raw in cap.frames:
        t = _tcp_of(raw)
        if t is None:
            continue
        src, dst, sport, dport, seq, flags, payload = t
        if out and dst in svc and dport == 53:
            key, d = sport, "to"
        elif not out and src in svc and sport == 53:
            key, d = dport, "from"
        else:
            continue
        e = segs.setdefault(key, {"to": {}, "from": {}, "flags": set(), "isn": {}})
        if flags & 0x02:                       # SYN: data starts at seq + 1
            e["isn"][d] = seq
        for bit, name in ((0x01, "FIN"), (0x04, "RST")):
            if flags & bit:
                e["flags"].add(f"{name}-{d}")
        if payload:
            e[d].setdefault(seq, payload)
    out = {}
    for port, e in segs.items():
        res = {"flags": e["flags"]}
        for d in ("to", "from"):
            if d not in e["isn"]:
                res[d] = b""
                continue
            nxt = (e["isn"][d] + 1) & 0xFFFFFFFF
            data = b""
            for seq in sorted(e[d], key=lambda s: (s - nxt) & 0xFFFFFFFF):
                p = e[d][seq]
                skip = (nxt - seq) & 0xFFFFFFFF
                if skip < len(p):
                    data += p[skip:]
                    nxt = (nxt + len(p) - skip) & 0xFFFFFFFF
                elif skip < 0x80000000:         # wholly old: a retransmission
                    continue
                else:                           # a hole: stop there
                    break
            res[d] = data
        out[port] = res
    return out


def messages(data):
    """Whole length-prefixed messages of a stream (a trailing part dropped)."""
    out = []
    while len(data) >= 2:
        n = struct.unpack("!H", data[:2])[0]
        if len(data) < 2 + n:
            break
        out.append(data[2:2 + n])
        data = data[2 + n:]
    return out


# --- stand-in server (harness self-test only) --------------------------------

class StandIn:
    """LVTEST_TCP_STANDIN=1: a Python TCP DNS server on port 53 of the
    service addresses (which levee's TAP holds in the root namespace),
    answering with TcpOracle and edns-tcp-keepalive. It lets the harness be
    tested end to end through levee's exception path while levee has no
    TCP server; levee's own options and counters are not imitated, so the
    idle-timeout and limit tests fail against it, as they should."""

    def __init__(self, net, zones, keepalive=100, udp_max=1232):
        import dns.edns
        import dns.message
        from . import live
        self._dns, self._edns, self._live = dns.message, dns.edns, live
        self.orc = TcpOracle(zones, udp_max=udp_max)
        self.keepalive = keepalive
        self.socks = []
        for fam, addr in ((socket.AF_INET, net.service4), (socket.AF_INET6, net.service6)):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, 53))
            s.listen(1024)
            self.socks.append(s)
        self._stop = False
        self.threads = [threading.Thread(target=self._accept, args=(s,), daemon=True)
                        for s in self.socks]
        for t in self.threads:
            t.start()

    def _answer(self, wire):
        q = self._live.query_from_wire(wire)
        r = self._dns.from_wire(self.orc.answer(q))
        if r.edns >= 0:
            r.use_edns(0, r.ednsflags, r.payload, options=[
                self._edns.GenericOption(KEEPALIVE, struct.pack("!H", self.keepalive))])
        return r.to_wire(max_size=65535)

    def _serve(self, c):
        buf = b""
        try:
            c.settimeout(10)
            while not self._stop:
                d = c.recv(65536)
                if not d:
                    break
                buf += d
                out = b""
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                    n = struct.unpack("!H", buf[:2])[0]
                    out += frame(self._answer(buf[2:2 + n]))
                    buf = buf[2 + n:]
                if out:
                    c.sendall(out)
        except OSError:
            pass
        finally:
            c.close()

    def _accept(self, s):
        s.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def stop(self):
        self._stop = True
        for s in self.socks:
            s.close()
