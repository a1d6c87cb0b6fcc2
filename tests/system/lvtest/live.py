"""Run levee on a live port (AF_PACKET or AF_XDP on a veth) and talk to it.

    levee --iface DRIVER:IFNAME --address 10.53.X.1/24 --address fd53:X::1/64
          --zone ORIGIN=FILE ... -- --no-huge -m 512 --file-prefix=UNIQUE

Live.start() starts it (stdout and stderr to files in the test's dir),
wait_serving() sends a probe query from the client namespace every 0.1 s
until one is answered (bounded; an early exit with levee's "live ports are
not available" message raises Unsupported, any other early exit Exited:
both are failures),
stats() asks for the stats block with SIGUSR1, stop() sends SIGTERM and
returns the exit code and the final stats block. kill() is the finalizer:
SIGKILL by pid if the process still runs, then it removes the EAL runtime
directory and the host-change journal in /run/levee that the killed levee
left for its (test-made) port. Only the pid it started is ever signalled.

The rest helps the tests: send_paced() sends queries from UDP sockets in
the namespace with a unique (port, ID) each, bounded in count and time;
exchanges() pairs the queries and responses of a capture and finds ICMP
errors; query_from_wire() turns a captured query back into a dnsq.Query
for the oracle; kdig_args() and dnsperf() drive the tools.
"""
import itertools
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import time

from . import frames, levee
from .dnsq import Edns, Query

_counter = itertools.count()
REFUSAL = re.compile(r"only pcap|not built yet|live ports? .*not", re.I)
# Drop counters that traffic other than queries (the client kernel's IPv6
# router solicitations, MLD reports, neighbour solicitations...) may raise
# on a port without the kernel exception path.
NON_QUERY_DROPS = ("drop_not_ip", "drop_ip_options", "drop_not_udp",
                   "drop_not_port53", "drop_not_our_address")


class Exited(AssertionError):
    pass


class Unsupported(Exited):
    """The binary refuses live ports: a failure (an AssertionError), never
    a skip."""


def parse_last_stats(stdout):
    """The last `stats:` block of stdout (levee prints one per SIGUSR1 and
    one at exit), as a levee.Stats, or None."""
    lines = stdout.splitlines()
    starts = [i for i, l in enumerate(lines) if l.strip() == "stats:"]
    if not starts:
        return None
    return levee.parse_stats("\n".join(lines[starts[-1]:]))


class Live:
    def __init__(self, binary, iface, zones, addresses, workdir, workers=None,
                 extra=(), eal=()):
        self.workdir = workdir
        n = next(_counter)
        self.out_path = os.path.join(workdir, f"levee{n}.out")
        self.err_path = os.path.join(workdir, f"levee{n}.err")
        argv = [binary, "--iface", iface]
        for origin, path in zones.items():
            argv += ["--zone", f"{origin}={os.path.abspath(path)}"]
        for a in addresses:
            argv += ["--address", a]
        if workers is not None:
            argv += ["--workers", str(workers)]
        argv += list(extra)
        self.file_prefix = f"lvlive{os.getpid()}_{n}"
        argv += ["--", "--no-huge", "-m", "512",
                 f"--file-prefix={self.file_prefix}"] + list(eal)
        self.argv = argv
        self.proc = None
        self.returncode = None
        self.probes_sent = 0
        self.probes_answered = 0
        self.probe_ports = set()
        self.started_at = None
        self.serving_after = None

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir)
        self.started_at = time.monotonic()
        return self

    def stdout(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def explain(self):
        return (f"argv: {' '.join(self.argv)}\nexit: {self.returncode}\n"
                f"stdout (tail):\n{self.stdout()[-3000:]}\n"
                f"stderr (tail):\n{self.stderr()[-3000:]}")

    def _check_running(self):
        rc = self.proc.poll()
        if rc is None:
            return
        self.returncode = rc
        err = self.stderr()
        if rc != 0 and REFUSAL.search(err):
            raise Unsupported(f"levee refuses live ports: {err.strip().splitlines()[-1]}")
        raise Exited(f"levee exited with {rc} before serving\n" + self.explain())

    def is_probe(self, key):
        """Was the exchange keyed (client port, DNS ID) one of
        wait_serving's probes? Both must match: a client's random source
        port may be one a probe's socket had before it."""
        port, qid = key[0], key[1]
        return port in self.probe_ports and \
            0xF000 <= qid < 0xF000 + self.probes_sent

    def wait_serving(self, net, family=4, timeout=20.0, interval=0.1):
        """Probe (SOA of the first zone, unique IDs from 0xF000) until one
        answer arrives. Probes are counted: stats checks must allow for
        them."""
        s = net.udp_socket(family)
        self.probe_ports.add(s.getsockname()[1])
        try:
            q = Query("levee.test.", "SOA")
            dst = (net.service(family), 53)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                self._check_running()
                qid = 0xF000 + self.probes_sent
                s.sendto(q.wire(id=qid), dst)
                self.probes_sent += 1
                end = time.monotonic() + interval
                while time.monotonic() < end:
                    r, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
                    if not r:
                        break
                    data = s.recv(65535)
                    if len(data) >= 12 and data[2] & 0x80 and \
                            0xF000 <= struct.unpack("!H", data[:2])[0] < 0xF000 + self.probes_sent:
                        self.probes_answered += 1
                # Answers to earlier probes may still come: count them once
                # the first arrived, then return.
                if self.probes_answered:
                    self.serving_after = time.monotonic() - self.started_at
                    time.sleep(interval)
                    while select.select([s], [], [], 0)[0]:
                        s.recv(65535)
                        self.probes_answered += 1
                    return self
            self._check_running()
            raise AssertionError(f"levee sent no answer to {self.probes_sent} probes "
                                 f"in {timeout}s\n" + self.explain())
        finally:
            s.close()

    def stats(self, timeout=5.0):
        """SIGUSR1, then the new stats block (the process keeps running)."""
        self._check_running()
        before = self.stdout().count("stats:\n")
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            text = self.stdout()
            if text.count("stats:\n") > before:
                if text == last:          # unchanged for one round: complete
                    return parse_last_stats(text)
                last = text
            time.sleep(0.1)
        raise AssertionError(f"no stats block {timeout}s after SIGUSR1\n" + self.explain())

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Signal by pid, wait (bounded); (exit code, last stats block)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"levee still ran {timeout}s after signal {sig}; "
                                     "killed\n" + self.explain()) from None
        self.returncode = self.proc.returncode
        return self.returncode, parse_last_stats(self.stdout())

    def runtime_dir(self):
        """EAL's runtime directory for this instance's --file-prefix."""
        return os.path.join("/var/run/dpdk", self.file_prefix)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            # a killed EAL leaves its runtime directory (our own prefix),
            # and a killed levee its host-change journal (named for our
            # own veth, which the test's finalizer deletes anyway)
            shutil.rmtree(self.runtime_dir(), ignore_errors=True)
            self.remove_journal()
        if self.proc is not None:
            self.returncode = self.proc.returncode

    def journal_paths(self):
        """levee's host-change journal and lock for this port
        (docs/operations.md)."""
        ifname = self.argv[2].split(":", 1)[1]
        return [os.path.join("/run/levee", ifname + s)
                for s in (".journal", ".lock", ".journal.tmp")]

    def remove_journal(self):
        for path in self.journal_paths():
            if os.path.exists(path):
                os.unlink(path)


# --- sending and pairing ----------------------------------------------------

def send_paced(net, family, queries, n, sockets=8, burst=25, pause=0.005,
               max_seconds=20.0, first_id=0):
    """Send n queries (cycling through `queries`) from `sockets` UDP
    sockets in the namespace, `burst` at a time with `pause` between bursts,
    then wait up to 2 s for the answers. Each query has its own (port, ID).
    Returns (sent, received): sent is [(port, id, Query)], received counts
    datagrams per (port, id) as the client's kernel delivered them (after
    its own UDP checksum check)."""
    socks = [net.udp_socket(family) for _ in range(sockets)]
    try:
        ports = [s.getsockname()[1] for s in socks]
        dst = (net.service(family), 53)
        sent, received = [], {}

        def drain(wait):
            r, _, _ = select.select(socks, [], [], wait)
            for s in r:
                port = s.getsockname()[1]
                while True:
                    try:
                        data = s.recv(65535, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        break
                    if len(data) >= 2:
                        k = (port, struct.unpack("!H", data[:2])[0])
                        received[k] = received.get(k, 0) + 1
            return bool(r)

        deadline = time.monotonic() + max_seconds
        i = 0
        while i < n and time.monotonic() < deadline:
            for _ in range(min(burst, n - i)):
                si = i % sockets
                qid = (first_id + i // sockets) & 0xFFFF
                q = queries[i % len(queries)]
                socks[si].sendto(q.wire(id=qid), dst)
                sent.append((ports[si], qid, q))
                i += 1
            drain(0)
            time.sleep(pause)
        end = time.monotonic() + 2.0
        while len(received) < len(sent) and time.monotonic() < end:
            drain(0.05)
        drain(0.1)
        return sent, received
    finally:
        for s in socks:
            s.close()


ICMP4_ERRORS = {3: "destination unreachable", 4: "source quench", 5: "redirect",
                11: "time exceeded", 12: "parameter problem"}
ICMP6_ERRORS = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded",
                4: "parameter problem", 137: "redirect"}


def _icmp(raw):
    """(version, type, code) of an ICMP/ICMPv6 frame, else None."""
    if len(raw) < 14:
        return None
    et = struct.unpack("!H", raw[12:14])[0]
    p = raw[14:]
    if et == frames.ETH_IPV4 and len(p) >= 20 and p[9] == frames.PROTO_ICMP:
        ihl = (p[0] & 15) * 4
        return (4, p[ihl], p[ihl + 1]) if len(p) >= ihl + 2 else (4, -1, -1)
    if et == frames.ETH_IPV6 and len(p) >= 42:
        nh, off = p[6], 40
        while nh in (0, 43, 60) and len(p) >= off + 8:   # hop-by-hop, routing, dest opts
            nh, off = p[off], off + 8 + p[off + 1] * 8
        if nh == frames.PROTO_ICMPV6 and len(p) >= off + 2:
            return (6, p[off], p[off + 1])
    return None


class Exchanges:
    """The capture's queries (client -> service:53) and responses
    (service:53 -> client) keyed by (client port, DNS ID), ICMP errors,
    and everything else."""

    def __init__(self, cap, net):
        svc = {net.service4, net.service6}
        self.queries = {}        # key -> query frame (first seen)
        self.query_dupes = 0
        self.responses = {}      # key -> [parsed frames]
        self.stray = []          # incoming UDP from the service to no query
        self.icmp_errors = []    # (direction, version, type, code, frame)
        self.icmp_other = []
        self.other_in = 0
        self.other_out = 0
        for _, out, raw in cap.frames:
            ic = _icmp(raw)
            if ic is not None:
                v, t, c = ic
                errs = ICMP4_ERRORS if v == 4 else ICMP6_ERRORS
                if t in errs:
                    self.icmp_errors.append(("out" if out else "in", v, t, c, raw))
                else:
                    self.icmp_other.append(("out" if out else "in", v, t, c))
                continue
            try:
                f = frames.parse(raw)
                f.raw = raw
            except frames.ParseError:
                if out:
                    self.other_out += 1
                else:
                    self.other_in += 1
                continue
            if out and f.dst_ip in svc and f.dport == 53 and len(f.payload) >= 2:
                k = (f.sport, struct.unpack("!H", f.payload[:2])[0])
                if k in self.queries:
                    self.query_dupes += 1
                else:
                    self.queries[k] = raw
            elif not out and f.src_ip in svc and f.sport == 53 and len(f.payload) >= 2:
                k = (f.dport, struct.unpack("!H", f.payload[:2])[0])
                self.responses.setdefault(k, []).append(f)
            elif out:
                self.other_out += 1
            else:
                self.other_in += 1
        for k in list(self.responses):
            if k not in self.queries:
                self.stray.append((k, self.responses.pop(k)))

    def n_responses(self):
        return sum(len(v) for v in self.responses.values()) + \
            sum(len(v) for _, v in self.stray)

    def summary(self):
        return (f"{len(self.queries)} queries, {self.n_responses()} responses "
                f"({sum(1 for v in self.responses.values() if len(v) > 1)} queries with "
                f"several, {len(self.stray)} stray), "
                f"{len(self.queries) - len(self.responses)} unanswered, "
                f"{len(self.icmp_errors)} ICMP errors, ICMP other "
                f"{sorted(set(i[:4] for i in self.icmp_other))}, "
                f"other frames in/out {self.other_in}/{self.other_out}")


def query_from_wire(d, tags=()):
    """A dnsq.Query equal to the (well-formed, one question, at most one
    OPT) query message d, name case kept; None if d is not one."""
    if len(d) < 12:
        return None
    qid, fl, qd, an, ns, ar = struct.unpack("!HHHHHH", d[:12])
    if qd != 1 or an or ns or ar > 1:
        return None
    off, labels = 12, []
    while off < len(d) and d[off]:
        ln = d[off]
        if ln > 63:
            return None
        labels.append(d[off + 1:off + 1 + ln].decode("ascii"))
        off += 1 + ln
    off += 1
    qtype, qclass = struct.unpack("!HH", d[off:off + 4])
    off += 4
    edns = None
    if ar:
        if d[off] != 0:
            return None
        rtype, payload, ttl, rdlen = struct.unpack("!HHIH", d[off + 1:off + 11])
        if rtype != 41:
            return None
        edns = Edns(payload, do=bool(ttl & 0x8000), version=(ttl >> 16) & 0xFF,
                    options=d[off + 11:off + 11 + rdlen])
    return Query(".".join(labels) + ".", qtype, qclass, id=qid, rd=bool(fl & 0x0100),
                 cd=bool(fl & 0x0010), ad=bool(fl & 0x0020), opcode=(fl >> 11) & 15,
                 edns=edns, tags=tags)


# --- tools -------------------------------------------------------------------

def kdig_args(q):
    """kdig options asking exactly q over UDP (no TCP retry on TC)."""
    a = ["+notcp", "+retry=0", "+timeout=2", "+ignore", "+noidn"]
    a.append("+rec" if q.rd else "+norec")
    if q.cd:
        a.append("+cdflag")
    if q.edns is None:
        a.append("+noedns")
    else:
        a += [f"+edns={q.edns.version}", f"+bufsize={q.edns.payload}"]
        if q.edns.do:
            a.append("+dnssec")
    import dns.rdataclass
    import dns.rdatatype
    return a + ["-c", dns.rdataclass.to_text(q.qclass), "-t",
                dns.rdatatype.to_text(q.qtype), "-q", q.qname]


def dnsperf(net, server, datafile, seconds, qps, timeout=2, extra=()):
    """dnsperf in the namespace, bounded by -l and a process timeout; qps
    None: as fast as dnsperf goes (-q outstanding queries, default 100).
    Returns (figures dict, output text)."""
    argv = ["dnsperf", "-s", server, "-d", datafile, "-l", str(seconds),
            "-t", str(timeout)] + (["-Q", str(qps)] if qps else []) + list(extra)
    p = net.run(argv, timeout=seconds + timeout + 30, check=False)
    text = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    fig = {"exit": p.returncode}
    for key, rx in (("sent", r"Queries sent:\s+(\d+)"),
                    ("completed", r"Queries completed:\s+(\d+)"),
                    ("lost", r"Queries lost:\s+(\d+)"),
                    ("qps", r"Queries per second:\s+([\d.]+)"),
                    ("latency_avg", r"Average Latency \(s\):\s+([\d.]+)")):
        m = re.search(rx, text)
        if m:
            fig[key] = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
    m = re.search(r"Response codes:\s+(.*)", text)
    fig["rcodes"] = m.group(1).strip() if m else ""
    return fig, text
