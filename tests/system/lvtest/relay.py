"""A userspace L2 relay that impairs a link: delay, loss, reordering.

The kernels on the project's machines lack sch_netem, so the impaired-link
tests put this relay between two interfaces inside a namespace (see
relaynet.py):

    A' (from levee's side)  --a2b-->  B' (to the client's side)
                            <--b2a--

It reads every frame on each interface from an AF_PACKET raw socket
(ETH_P_ALL), ignores the frames the kernel reports as PACKET_OUTGOING (its
own sends, seen again on the socket of the interface it wrote to), and per
direction either drops a frame (probability --loss), or schedules it to be
written to the other interface after --delay-ms, or after --delay-ms plus
an extra hold drawn from --reorder-extra-ms (probability --reorder) so that
later frames overtake it. Scheduling is a heap of due times, with poll
timeouts up to the next one.

Randomness: one random.Random(seed) draws one 64-bit seed per direction,
and each direction's generator draws exactly three numbers per frame
(loss, reorder, extra hold) whether used or not. The fate of the n-th frame
of a direction thus depends only on the seed and n, not on how the two
directions interleave: the same seed and the same frames give the same
drops and holds (the companion test checks this).

Lifetime is bounded (--max-seconds). On SIGTERM, SIGINT or the time limit
it writes a JSON summary (--summary): per direction frames seen, forwarded,
dropped, reordered (held back), bytes seen and forwarded, send errors, the
indices of dropped and held frames (the first 10,000 each), how late the
relay sent frames against their due time, and the kernel's drop count for
each socket (frames lost before the relay read them; must be 0 for the
impairment to be exactly what the summary says). A "relay ready" line on
stderr tells the caller the sockets are bound.

Run it inside the namespace that holds both interfaces:

    ip netns exec NS /usr/bin/python3 -m lvtest.relay --a IF_A --b IF_B \\
        --seed 42 --delay-ms 50 --loss 0.01 --reorder 0.01 \\
        --max-seconds 300 --summary relay.json

(from tests/system, or with PYTHONPATH=tests/system). Per-direction
overrides: --delay-ms-a2b, --loss-b2a, ... Only the standard library.
"""
import argparse
import errno
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
MAX_INDICES = 10000
DIRECTIONS = ("a2b", "b2a")


class Direction:
    """One way through the relay: its parameters, generator and counters."""

    def __init__(self, name, delay_ms, loss, reorder, extra_ms, seed):
        self.name = name
        self.delay = delay_ms / 1000.0
        self.loss = loss
        self.reorder = reorder
        self.extra = (extra_ms[0] / 1000.0, extra_ms[1] / 1000.0)
        self.seed = seed
        self.rng = random.Random(seed)
        self.seen = self.forwarded = self.dropped = self.reordered = 0
        self.bytes_seen = self.bytes_forwarded = 0
        self.send_errors = 0
        self.send_error_kinds = {}
        self.dropped_idx, self.reordered_idx = [], []
        self.late_max = 0.0
        self.late_sum = 0.0

    def fate(self):
        """(index, hold in seconds or None for a drop) of the next frame.
        Always three draws, so frame n's fate depends on n only."""
        i = self.seen
        self.seen += 1
        u_loss, u_reorder = self.rng.random(), self.rng.random()
        extra = self.rng.uniform(*self.extra)
        if u_loss < self.loss:
            self.dropped += 1
            if len(self.dropped_idx) < MAX_INDICES:
                self.dropped_idx.append(i)
            return i, None
        if u_reorder < self.reorder:
            self.reordered += 1
            if len(self.reordered_idx) < MAX_INDICES:
                self.reordered_idx.append(i)
            return i, self.delay + extra
        return i, self.delay

    def summary(self):
        fw = max(self.forwarded, 1)
        return {
            "delay_ms": self.delay * 1000, "loss": self.loss, "reorder": self.reorder,
            "reorder_extra_ms": [self.extra[0] * 1000, self.extra[1] * 1000],
            "seed": self.seed,
            "seen": self.seen, "forwarded": self.forwarded, "dropped": self.dropped,
            "reordered": self.reordered, "bytes_seen": self.bytes_seen,
            "bytes_forwarded": self.bytes_forwarded, "send_errors": self.send_errors,
            "send_error_kinds": self.send_error_kinds,
            "late_max_ms": round(self.late_max * 1000, 3),
            "late_mean_ms": round(self.late_sum / fw * 1000, 3),
            "dropped_idx": self.dropped_idx, "reordered_idx": self.reordered_idx,
        }


def open_socket(ifname, bufsize):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, bufsize)
    s.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, bufsize)
    s.setblocking(False)
    return s


def kernel_stats(s):
    """(packets, drops) the kernel counted for the socket since the last call."""
    p, d = struct.unpack("II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    return p, d


class Relay:
    def __init__(self, args):
        master = random.Random(args.seed)
        seeds = [master.getrandbits(64) for _ in DIRECTIONS]
        self.args = args
        self.dirs = {}
        for name, seed in zip(DIRECTIONS, seeds):
            self.dirs[name] = Direction(
                name, getattr(args, f"delay_ms_{name}"), getattr(args, f"loss_{name}"),
                getattr(args, f"reorder_{name}"), args.reorder_extra_ms, seed)
        self.ifname = {"a": args.a, "b": args.b}
        self.sock = {k: open_socket(v, args.bufsize) for k, v in self.ifname.items()}
        self.kstats = {k: [0, 0] for k in self.sock}
        self.heap = []          # (due, seq, out side, direction, frame, arrival)
        self.seq = 0
        self.stop_reason = None
        self.started = time.monotonic()
        self.wall_started = time.time()

    def _receive(self, side):
        """Read what is queued on one side (bounded per call). Each frame's
        hold counts from the moment it is read: a clock read once before
        the batch would let a frame that arrived during it (the process
        paused by a shared host for tens of ms, say) leave early."""
        s = self.sock[side]
        d = self.dirs["a2b" if side == "a" else "b2a"]
        out = "b" if side == "a" else "a"
        for _ in range(512):
            try:
                frame, addr = s.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            d.bytes_seen += len(frame)
            _, hold = d.fate()
            if hold is None:
                continue
            self.seq += 1
            heapq.heappush(self.heap, (time.monotonic() + hold, self.seq, out,
                                       d, frame))

    def _send_due(self, now):
        h = self.heap
        while h and h[0][0] <= now:
            due, _, out, d, frame = heapq.heappop(h)
            try:
                self.sock[out].send(frame)
            except OSError as e:
                d.send_errors += 1
                k = errno.errorcode.get(e.errno, str(e.errno))
                d.send_error_kinds[k] = d.send_error_kinds.get(k, 0) + 1
                continue
            late = now - due
            d.forwarded += 1
            d.bytes_forwarded += len(frame)
            d.late_sum += late
            if late > d.late_max:
                d.late_max = late

    def run(self):
        poller = select.poll()
        side_of = {}
        for side, s in self.sock.items():
            poller.register(s, select.POLLIN)
            side_of[s.fileno()] = side
        end = self.started + self.args.max_seconds
        for s in self.sock.values():
            kernel_stats(s)     # reset the counters: count from here on
        print(f"relay ready: a={self.ifname['a']} b={self.ifname['b']} "
              f"seed={self.args.seed} pid={os.getpid()}", file=sys.stderr, flush=True)
        while self.stop_reason is None:
            now = time.monotonic()
            if now >= end:
                self.stop_reason = f"max-seconds {self.args.max_seconds}"
                break
            wait = 0.05
            if self.heap:
                wait = min(wait, max(0.0, self.heap[0][0] - now))
            for fd, _ in poller.poll(wait * 1000.0):
                self._receive(side_of[fd])
            self._send_due(time.monotonic())
            self._count_kernel()
        self._count_kernel()

    def _count_kernel(self):
        for side, s in self.sock.items():
            p, d = kernel_stats(s)
            self.kstats[side][0] += p
            self.kstats[side][1] += d

    def summary(self):
        return {
            "seed": self.args.seed, "a": self.ifname["a"], "b": self.ifname["b"],
            "started": self.wall_started, "seconds": round(time.monotonic() - self.started, 3),
            "stop_reason": self.stop_reason, "frames_in_flight": len(self.heap),
            "kernel": {self.ifname[k]: {"packets": v[0], "drops": v[1]}
                       for k, v in self.kstats.items()},
            **{name: d.summary() for name, d in self.dirs.items()},
        }

    def write_summary(self, path):
        text = json.dumps(self.summary(), indent=1)
        if not path:
            print(text, flush=True)
            return
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="lvtest.relay", description=__doc__.split("\n")[0])
    p.add_argument("--a", required=True, help="interface on levee's side")
    p.add_argument("--b", required=True, help="interface on the client's side")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--delay-ms", type=float, default=0.0)
    p.add_argument("--loss", type=float, default=0.0)
    p.add_argument("--reorder", type=float, default=0.0)
    for name in DIRECTIONS:
        p.add_argument(f"--delay-ms-{name}", type=float)
        p.add_argument(f"--loss-{name}", type=float)
        p.add_argument(f"--reorder-{name}", type=float)
    p.add_argument("--reorder-extra-ms", type=float, nargs=2, default=[10.0, 40.0],
                   metavar=("MIN", "MAX"), help="extra hold of a reordered frame")
    p.add_argument("--max-seconds", type=float, default=300.0)
    p.add_argument("--bufsize", type=int, default=32 << 20, help="socket buffers, bytes")
    p.add_argument("--summary", help="JSON summary file (default: stdout)")
    a = p.parse_args(argv)
    for name in DIRECTIONS:
        for k in ("delay_ms", "loss", "reorder"):
            if getattr(a, f"{k}_{name}") is None:
                setattr(a, f"{k}_{name}", getattr(a, k))
        for k in ("loss", "reorder"):
            v = getattr(a, f"{k}_{name}")
            if not 0.0 <= v <= 1.0:
                p.error(f"--{k}-{name} {v}: a probability is in [0, 1]")
    if a.max_seconds <= 0 or a.reorder_extra_ms[0] > a.reorder_extra_ms[1]:
        p.error("--max-seconds > 0 and --reorder-extra-ms MIN <= MAX")
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    relay = Relay(args)

    def stop(signum, _frame):
        relay.stop_reason = signal.Signals(signum).name
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        relay.run()
    finally:
        relay.write_summary(args.summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
