"""Run levee in pcap replay mode and collect what it did.

    levee --iface pcap:IN,OUT --zone ORIGIN=FILE ... [--address A] [--udp-max N]
          -- --no-huge -m 512 --no-pci --file-prefix ...

run() writes the frames to IN.pcap in a temp dir, runs the binary with a
time limit, and returns a Run: exit code, stdout/stderr, the stats block
parsed into a Stats and the frames of OUT.pcap.
match() pairs every query with its response by (client address, client
port, DNS ID); check_envelope() checks what any response must satisfy.
"""
import itertools
import os
import struct
import subprocess

from . import frames, pcap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
_counter = itertools.count()


def binary():
    return os.environ.get("LEVEE") or os.path.join(REPO, "build", "control", "levee")


# Counters levee prints only when they are non-zero (control/core/stats.c: one
# drop_<reason> per LV_DROP_REASONS entry in include/levee/stats.h, one
# rcode_<name> per entry of its rcode_names table). test_harness.py checks
# these lists against the sources.
DROP_REASONS = ("not_ip", "vlan_not_ip", "runt_l2", "truncated",
                "ip_options", "fragment", "bad_checksum", "not_udp",
                "not_port53", "not_our_address", "udp6_zero_checksum",
                "source_port_0", "bad_source", "multi_segment", "runt_dns", "qr_set", "no_room",
                "miss_ring_full", "tx_full", "kernel_ring_full",
                "kernel_tx_full", "port_ring_full", "control_error")
RCODE_NAMES = ("noerror", "formerr", "servfail", "nxdomain", "notimp",
               "refused", "notauth", "badvers")
SPARSE = frozenset(["drop_" + n for n in DROP_REASONS] +
                   ["rcode_" + n for n in RCODE_NAMES])


class MissingCounter(KeyError):
    """A test read a counter that levee did not print."""

    def __str__(self):
        return self.args[0]


class Stats(dict):
    """A stats block. Reading a counter levee did not print raises
    MissingCounter naming it, except for the counters levee leaves out
    when they are zero (SPARSE), which read 0. get() is the same: a
    default never hides a counter that levee stopped printing."""

    def __missing__(self, key):
        if key in SPARSE:
            return 0
        raise MissingCounter(f"levee printed no counter {key!r}; its stats block "
                             f"has: {' '.join(sorted(self))}")

    def get(self, key, default=None):
        return self[key]


def parse_stats(stdout):
    """The counters printed under the line `stats:` (NAME VALUE per line)."""
    lines = stdout.splitlines()
    try:
        start = [l.strip() for l in lines].index("stats:")
    except ValueError:
        return None
    st = Stats()
    for line in lines[start + 1:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        st[parts[0]] = int(parts[1])
    return st


class Run:
    def __init__(self, returncode, stdout, stderr, stats, out_frames, workdir, argv):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.stats = stats
        self.out_frames = out_frames
        self.workdir = workdir
        self.argv = argv

    def explain(self):
        return (f"argv: {' '.join(self.argv)}\nexit: {self.returncode}\n"
                f"stdout (tail):\n{self.stdout[-3000:]}\nstderr (tail):\n{self.stderr[-3000:]}")


def run(workdir, in_frames, zones, addresses=(), udp_max=None, extra=(),
        linktype=pcap.LINKTYPE_ETHERNET, timeout=120, in_path=None):
    """in_frames: as for pcap.write (or None with in_path given)."""
    os.makedirs(workdir, exist_ok=True)
    n = next(_counter)
    if in_path is None:
        in_path = os.path.join(workdir, f"in{n}.pcap")
        pcap.write(in_path, in_frames, linktype=linktype)
    out_path = os.path.join(workdir, f"out{n}.pcap")
    argv = [binary(), "--iface", f"pcap:{in_path},{out_path}"]
    for origin, path in zones.items():
        argv += ["--zone", f"{origin}={os.path.abspath(path)}"]
    for a in addresses:
        argv += ["--address", a]
    if udp_max is not None:
        argv += ["--udp-max", str(udp_max)]
    argv += list(extra)
    argv += ["--", "--no-huge", "-m", "512", "--no-pci",
             f"--file-prefix=lvtest{os.getpid()}_{n}"]
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=timeout, cwd=workdir)
    except subprocess.TimeoutExpired as e:
        # subprocess.run kills the child it started before raising.
        raise AssertionError(f"levee did not exit within {timeout}s: {' '.join(argv)}\n"
                             f"stdout: {(e.stdout or b'')[-2000:]!r}") from None
    stdout = p.stdout.decode(errors="replace")
    stderr = p.stderr.decode(errors="replace")
    out = []
    if os.path.exists(out_path) and os.path.getsize(out_path) >= 24:
        _, recs = pcap.read(out_path)
        out = [r.data for r in recs]
    return Run(p.returncode, stdout, stderr, parse_stats(stdout), out, workdir, argv)


def client_of(i):
    """A unique (client port, DNS ID) for query number i (up to ~2.9M)."""
    return 20000 + (i >> 16), i & 0xFFFF


def match(run_, sent):
    """sent: list of (query frame bytes); returns (pairs, unmatched, dupes)
    where pairs maps the index in `sent` to the parsed response frame.
    Queries are found by (client ip, client port, DNS ID)."""
    index = {}
    for i, raw in enumerate(sent):
        f = frames.parse(raw)
        index[(f.src_ip, f.sport, struct.unpack("!H", f.payload[:2])[0])] = i
    pairs, unmatched, dupes = {}, [], []
    for raw in run_.out_frames:
        try:
            f = frames.parse(raw)
        except frames.ParseError as e:
            unmatched.append((raw, str(e)))
            continue
        key = (f.dst_ip, f.dport, struct.unpack("!H", f.payload[:2])[0]
               if len(f.payload) >= 2 else -1)
        i = index.get(key)
        if i is None:
            unmatched.append((raw, f"no query for {key}"))
        elif i in pairs:
            dupes.append(i)
        else:
            pairs[i] = f
    return pairs, unmatched, dupes


def check_envelope(qraw, r):
    """What every response frame must satisfy relative to its query frame:
    MACs, IPs and ports swapped, valid checksums, same ID, QR set, opcode
    echoed, question echoed byte for byte when present. Returns problems."""
    q = frames.parse(qraw)
    bad = []
    if (r.src_mac, r.dst_mac) != (q.dst_mac, q.src_mac):
        bad.append(f"MACs {r.src_mac}->{r.dst_mac}, query {q.src_mac}->{q.dst_mac}")
    if (r.src_ip, r.dst_ip) != (q.dst_ip, q.src_ip):
        bad.append(f"IPs {r.src_ip}->{r.dst_ip}, query {q.src_ip}->{q.dst_ip}")
    if (r.sport, r.dport) != (q.dport, q.sport):
        bad.append(f"ports {r.sport}->{r.dport}, query {q.sport}->{q.dport}")
    if not r.ip_header_ok:
        bad.append("IPv4 header checksum wrong")
    if not r.udp_checksum_ok:
        bad.append(f"UDP checksum wrong ({r.udp_checksum:#06x})")
    if r.trailing:
        bad.append(f"{r.trailing} bytes after the UDP datagram")
    qd, rd = q.payload, r.payload
    if len(rd) < 12:
        return bad + [f"response of {len(rd)} bytes"]
    if rd[:2] != qd[:2]:
        bad.append(f"ID {rd[:2].hex()} != {qd[:2].hex()}")
    rf = struct.unpack("!H", rd[2:4])[0]
    qf = struct.unpack("!H", qd[2:4])[0]
    if not rf & 0x8000:
        bad.append("QR not set")
    if (rf ^ qf) & 0x7800:
        bad.append(f"opcode {(rf >> 11) & 15} != {(qf >> 11) & 15}")
    if (rf ^ qf) & 0x0100:
        bad.append("RD not echoed")
    if rf & 0x0040:
        bad.append("Z bit set")
    qdcount = struct.unpack("!H", rd[4:6])[0]
    if qdcount:
        qlen = _question_len(qd)
        if qdcount != 1:
            bad.append(f"QDCOUNT {qdcount}")
        elif qlen is None or rd[12:12 + qlen] != qd[12:12 + qlen]:
            bad.append(f"question not echoed byte for byte: {rd[12:60].hex()} vs {qd[12:60].hex()}")
    return bad


def _question_len(d):
    """Length of the first question of message d (uncompressed), or None."""
    off = 12
    for _ in range(128):
        if off >= len(d):
            return None
        ln = d[off]
        if ln == 0:
            off += 1
            return off + 4 - 12 if off + 4 <= len(d) else None
        if ln > 63:
            return None
        off += 1 + ln
    return None
