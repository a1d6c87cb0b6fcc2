"""A throwaway knotd on loopback, and a pipelined UDP client for it.

Knot runs from a temp dir (config, rundir, pidfile, storage all inside),
listens on 127.0.0.1 and ::1 on a free port, in the foreground, and is
stopped by its pid. Use it as a context manager or call stop() from a
pytest finalizer so it goes away when a test fails.
"""
import os
import select
import signal
import socket
import struct
import subprocess
import time
from collections import deque

KNOTD = os.environ.get("KNOTD", "/usr/sbin/knotd")


def free_port():
    """A port free for UDP and TCP on 127.0.0.1 and ::1 (checked, not held)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                for typ in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(fam, typ) as t:
                        t.bind((addr, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port found in 50 tries")


class Knot:
    def __init__(self, workdir, zones, udp_max=1232, address=None, port=None,
                 allow_transfer=None, tcp_io_timeout_ms=None):
        """zones: {origin: zone file path}. By default knotd listens on
        loopback on a free port; address (and port, default 53) puts it on
        one address instead. allow_transfer: a prefix that may AXFR/IXFR.
        tcp_io_timeout_ms: knotd's tcp-io-timeout (its default, 500 ms,
        abandons transfers on a slow lossy link)."""
        self.workdir = os.path.abspath(workdir)
        self.zones = dict(zones)
        self.udp_max = udp_max
        self.address = address
        self.fixed_port = port if port is not None else (53 if address else None)
        self.allow_transfer = allow_transfer
        self.tcp_io_timeout_ms = tcp_io_timeout_ms
        self.port = None
        self.proc = None
        self.log = os.path.join(self.workdir, "knotd.log")

    def _config(self):
        d = self.workdir
        acl = "    acl: xfr\n" if self.allow_transfer else ""
        zones = "".join(
            f'  - domain: "{origin}"\n    file: "{os.path.abspath(path)}"\n{acl}'
            for origin, path in self.zones.items())
        listen = (f'"{self.address}@{self.port}"' if self.address else
                  f'"127.0.0.1@{self.port}", "::1@{self.port}"')
        io = (f"    tcp-io-timeout: {self.tcp_io_timeout_ms}\n"
              if self.tcp_io_timeout_ms else "")
        acls = (f"acl:\n  - id: xfr\n    address: {self.allow_transfer}\n"
                f"    action: transfer\n" if self.allow_transfer else "")
        return f"""server:
    rundir: "{d}/run"
    pidfile: "{d}/run/knot.pid"
    listen: [ {listen} ]
{io}    udp-workers: 2
    tcp-workers: 1
    background-workers: 1
    udp-max-payload: {self.udp_max}
control:
    listen: "{d}/run/knot.sock"
log:
  - target: stderr
    any: warning
database:
    storage: "{d}/db"
{acls}template:
  - id: default
    storage: "{d}/zones"
    zonefile-load: whole
    zonefile-sync: -1
    journal-content: none
    semantic-checks: off
zone:
{zones}"""

    def start(self, timeout=15.0):
        os.makedirs(os.path.join(self.workdir, "run"), exist_ok=True)
        os.makedirs(os.path.join(self.workdir, "db"), exist_ok=True)
        self.port = self.fixed_port or free_port()
        conf = os.path.join(self.workdir, "knot.conf")
        with open(conf, "w") as f:
            f.write(self._config())
        logf = open(self.log, "w")
        self.proc = subprocess.Popen([KNOTD, "-c", conf], stdout=logf,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.monotonic() + timeout
        pending = set(self.zones)
        while pending:
            if self.proc.poll() is not None:
                raise RuntimeError(f"knotd exited with {self.proc.returncode}: "
                                   f"{self.log_text()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"knotd did not serve {sorted(pending)} within "
                                   f"{timeout}s: {self.log_text()}")
            for origin in list(pending):
                if self._serves(origin):
                    pending.discard(origin)
            time.sleep(0.05)
        return self

    def _serves(self, origin):
        from .dnsq import Query
        q = Query(origin, "SOA", id=0x1234)
        try:
            r = udp_query(q.wire(), self.address or "127.0.0.1", self.port,
                          timeout=0.3)
        except OSError:
            return False
        if r is None or len(r) < 12:
            return False
        flags = struct.unpack("!H", r[2:4])[0]
        return flags & 0x0400 and flags & 0xF == 0  # AA, NOERROR

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def udp_query(wire, host, port, timeout=2.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, (host, port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def query_many(items, host, port, window=64, timeout=1.0, retries=4,
               deadline_s=120.0, strict=True):
    """Send many queries over one UDP socket, pipelined.

    items: iterable of (key, wire); the wire's ID is replaced by one of our
    own so responses can be matched. Returns {key: response bytes with the
    caller's original ID restored}. Raises if any stays unanswered after
    `retries` tries (unless strict=False: then it is left out) or the whole
    call takes longer than deadline_s.
    """
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    todo = list(items)
    out = {}
    tries = {}
    inflight = {}  # our id -> (key, wire, orig id, sent at)
    free_ids = deque(range(65536))
    end = time.monotonic() + deadline_s
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.connect((host, port))
        s.setblocking(False)
        pos = 0
        while pos < len(todo) or inflight:
            now = time.monotonic()
            if now > end:
                raise RuntimeError(f"query_many: {len(todo) - pos + len(inflight)} "
                                   f"queries unanswered after {deadline_s}s")
            while pos < len(todo) and len(inflight) < window:
                key, wire = todo[pos]
                pos += 1
                qid = free_ids.popleft()
                inflight[qid] = (key, wire, wire[:2], now)
                tries[key] = tries.get(key, 0) + 1
                s.send(struct.pack("!H", qid) + wire[2:])
            r, _, _ = select.select([s], [], [], 0.05)
            if r:
                for _ in range(256):
                    try:
                        resp = s.recv(65535)
                    except BlockingIOError:
                        break
                    if len(resp) < 2:
                        continue
                    qid = struct.unpack("!H", resp[:2])[0]
                    ent = inflight.pop(qid, None)
                    if ent is None:
                        continue  # late duplicate of a retried query
                    free_ids.append(qid)
                    out[ent[0]] = ent[2] + resp[2:]
            now = time.monotonic()
            for qid, (key, wire, oid, sent) in list(inflight.items()):
                if now - sent > timeout:
                    del inflight[qid]
                    free_ids.append(qid)
                    if tries[key] >= retries:
                        if not strict:
                            continue
                        raise RuntimeError(f"query_many: no answer for {key!r} "
                                           f"after {retries} tries")
                    todo.append((key, wire))
    return out
