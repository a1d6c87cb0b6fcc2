"""Two veth pairs and a relay namespace between levee and a client: an
impaired link without sch_netem (which the project's kernels lack).

    root namespace        namespace lvrPPPPPNr            namespace lvrPPPPPNc
    lvrPPPPPNa  <--veth-->  lvrPPPPPNp  ==relay==  lvrPPPPPNq  <--veth-->  lvrPPPPPNb
    (levee's port, A)       (A')                    (B')                   (B) 10.53.150.2/24

RelayNet.create() builds it. A stays in the root namespace for levee's
AF_PACKET port, with no address (IPv6 address generation off); with
host_address=True it gets the service address 10.53.150.1/24 itself, for
running a kernel server (knotd, an echo) there instead of levee. A' and B'
carry no address and no IPv6 at all (disabled in the relay namespace), and
are promiscuous; B holds the client address, IPv6 disabled in the client
namespace. Segmentation and checksum offloads are turned off on all four
ends (ethtool -K ... tx off rx off sg off tso off gso off gro off, and UDP
segmentation / GRO list where the veth has them) and checked with
ethtool -k: a relay reading with AF_PACKET must see wire-sized frames with
finished checksums, or it could neither forward nor mean what it counts.

start_relay() runs lvtest.relay inside the relay namespace (its pid kept,
stopped by that pid with SIGTERM, then its JSON summary read). Names carry
the pid and a per-process counter; destroy() deletes the veth pairs (the
root end takes its peer along) and both namespaces, also half-built ones,
and is safe to call twice: call it from a finalizer.

A missing tool (ip, ethtool) is an error with its name, never a skip.
"""
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from .netns import Net, sh, _exists_link, _exists_ns

SUBNET = "10.53.150"
SERVICE4 = f"{SUBNET}.1"
CLIENT4 = f"{SUBNET}.2"
OFFLOADS = ("tx", "off", "rx", "off", "sg", "off", "tso", "off", "gso", "off",
            "gro", "off")
# ethtool -k names that must read "off" on every end of the path
MUST_BE_OFF = ("rx-checksumming", "tx-checksumming", "scatter-gather",
               "tcp-segmentation-offload", "generic-segmentation-offload",
               "generic-receive-offload", "tx-udp-segmentation", "rx-gro-list",
               "rx-udp-gro-forwarding", "large-receive-offload")
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"
_counter = itertools.count()


def need_tools():
    """Fail (not skip) with the name of every missing tool."""
    missing = [t for t in ("ip", "ethtool") if shutil.which(t) is None]
    if not os.access(PYTHON, os.X_OK):
        missing.append(PYTHON)
    if missing:
        raise AssertionError(f"impaired-link tests need {', '.join(missing)} "
                             "(packages iproute2, ethtool, python3)")


def offload_state(text):
    """{feature: "on"/"off"} from ethtool -k output."""
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("Features"):
            k, v = line.split(":", 1)
            out[k.strip()] = v.split()[0] if v.split() else ""
    return out


class RelayNet:
    def __init__(self, host_address=False):
        pid = os.getpid()
        for _ in range(100):
            n = next(_counter)
            base = f"lvr{pid % 100000:05d}{n:x}"
            self.relay_ns, self.client_ns = base + "r", base + "c"
            self.a, self.a2, self.b2, self.b = base + "a", base + "p", base + "q", base + "b"
            if not any(map(_exists_ns, (self.relay_ns, self.client_ns))) and \
                    not _exists_link(self.a):
                break
        else:
            raise RuntimeError("no free lvr* name found")
        self.host_address = host_address
        self.service4 = SERVICE4
        self.client4 = CLIENT4
        self.a_mac = self.b_mac = None
        self.offloads = {}
        self.relay_proc = None
        self.relay_summary_path = None
        self.relay_log_path = None
        self._made = False
        # netns.Net's helpers (run, inside, socket) work on the client namespace.
        self.ns = self.client_ns
        self.client_if = self.b

    # The client side looks like a netns.Net to lvtest.live and lvtest.tcp.
    run = Net.run
    inside = Net.inside
    socket = Net.socket

    def service(self, family):
        assert family == 4, "the impaired-link topology is IPv4 only"
        return self.service4

    def client(self, family):
        assert family == 4, "the impaired-link topology is IPv4 only"
        return self.client4

    def udp_socket(self, family=4, port=0):
        import socket as so
        return self.socket(so.AF_INET, so.SOCK_DGRAM, 0, bind=(self.client4, port))

    def service_addresses(self):
        return [f"{self.service4}/24"]

    def ns_sh(self, ns, *argv, check=True):
        return sh("ip", "netns", "exec", ns, *argv, check=check)

    def create(self):
        need_tools()
        self._made = True
        rns, cns = self.relay_ns, self.client_ns
        sh("ip", "netns", "add", rns)
        sh("ip", "netns", "add", cns)
        for ns in (rns, cns):
            self.ns_sh(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                       "net.ipv6.conf.default.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", self.a, "type", "veth", "peer", "name", self.a2,
           "netns", rns)
        sh("ip", "-n", rns, "link", "add", self.b2, "type", "veth", "peer", "name",
           self.b, "netns", cns)
        sh("ip", "link", "set", self.a, "addrgenmode", "none")
        if os.path.isdir(f"/proc/sys/net/ipv6/conf/{self.a}"):
            sh("sysctl", "-qw", f"net.ipv6.conf.{self.a}.disable_ipv6=1")
        sh("ethtool", "-K", self.a, *OFFLOADS)
        for ns, ifn in ((rns, self.a2), (rns, self.b2), (cns, self.b)):
            self.ns_sh(ns, "ethtool", "-K", ifn, *OFFLOADS)
        self._check_offloads()
        for ifn in (self.a2, self.b2):
            sh("ip", "-n", rns, "link", "set", ifn, "promisc", "on", "up")
        sh("ip", "-n", cns, "addr", "add", f"{self.client4}/24", "dev", self.b)
        sh("ip", "-n", cns, "link", "set", self.b, "up")
        if self.host_address:
            sh("ip", "addr", "add", f"{self.service4}/24", "dev", self.a)
        sh("ip", "link", "set", self.a, "up")
        with open(f"/sys/class/net/{self.a}/address") as f:
            self.a_mac = f.read().strip()
        self.b_mac = self.run(["cat", f"/sys/class/net/{self.b}/address"]
                              ).stdout.decode().strip()
        self.levee_if, self.levee_mac, self.client_mac = self.a, self.a_mac, self.b_mac
        return self

    def _check_offloads(self):
        bad = []
        for ns, ifn in ((None, self.a), (self.relay_ns, self.a2),
                        (self.relay_ns, self.b2), (self.client_ns, self.b)):
            p = sh("ethtool", "-k", ifn) if ns is None else self.ns_sh(ns, "ethtool", "-k", ifn)
            st = offload_state(p.stdout.decode())
            self.offloads[ifn] = {k: st[k] for k in MUST_BE_OFF if k in st}
            on = [k for k in MUST_BE_OFF if st.get(k, "off") != "off"]
            if on:
                bad.append(f"{ifn}: {', '.join(on)} still on")
        if bad:
            raise AssertionError("offloads not off after ethtool -K: " + "; ".join(bad))

    def static_neighbours(self):
        """Permanent ARP entries both ways (no ARP frames through the relay):
        only the test's own frames then cross it."""
        sh("ip", "-n", self.client_ns, "neigh", "replace", self.service4, "lladdr",
           self.a_mac, "dev", self.b, "nud", "permanent")
        if self.host_address:
            sh("ip", "neigh", "replace", self.client4, "lladdr", self.b_mac, "dev",
               self.a, "nud", "permanent")

    # --- the relay ------------------------------------------------------------

    def start_relay(self, workdir, seed, delay_ms=50, loss=0.01, reorder=0.01,
                    max_seconds=300, extra=(), timeout=10.0):
        """Start lvtest.relay between A' and B' (a = A', b = B'), wait for its
        ready line; returns its argv."""
        n = next(_counter)
        self.relay_summary_path = os.path.join(workdir, f"relay{n}.json")
        self.relay_log_path = os.path.join(workdir, f"relay{n}.log")
        argv = ["ip", "netns", "exec", self.relay_ns, PYTHON, "-m", "lvtest.relay",
                "--a", self.a2, "--b", self.b2, "--seed", str(seed),
                "--delay-ms", str(delay_ms), "--loss", str(loss), "--reorder", str(reorder),
                "--max-seconds", str(max_seconds), "--summary", self.relay_summary_path]
        argv += list(extra)
        env = dict(os.environ, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1")
        with open(self.relay_log_path, "wb") as log:
            self.relay_proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, cwd=HERE, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.relay_proc.poll() is not None:
                raise AssertionError(f"relay exited with {self.relay_proc.returncode}: "
                                     f"{self.relay_log()}\nargv: {' '.join(argv)}")
            if "relay ready" in self.relay_log():
                return argv
            time.sleep(0.05)
        self.kill_relay()
        raise AssertionError(f"relay not ready after {timeout}s: {self.relay_log()}")

    def relay_log(self):
        try:
            with open(self.relay_log_path, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop_relay(self, timeout=10.0):
        """SIGTERM by pid, wait (bounded), return the summary dict."""
        p = self.relay_proc
        if p is None:
            raise AssertionError("no relay was started")
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill_relay()
                raise AssertionError(f"relay still ran {timeout}s after SIGTERM; killed\n"
                                     f"{self.relay_log()}") from None
        self.relay_proc = None
        try:
            with open(self.relay_summary_path) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise AssertionError(f"no relay summary at {self.relay_summary_path} ({e}); "
                                 f"exit {p.returncode}; log:\n{self.relay_log()}") from None

    def kill_relay(self):
        """The finalizer's way: SIGTERM (the summary gets written), SIGKILL
        after 5 s; by pid."""
        p, self.relay_proc = self.relay_proc, None
        if p is None or p.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            p.send_signal(sig)
            try:
                p.wait(timeout=5)
                return
            except subprocess.TimeoutExpired:
                pass

    def destroy(self):
        """Remove what create() made; safe twice or after a failure."""
        self.kill_relay()
        if not self._made:
            return
        if _exists_link(self.a):
            sh("ip", "link", "del", self.a, check=False)
        for ns in (self.relay_ns, self.client_ns):
            if _exists_ns(ns):
                sh("ip", "netns", "del", ns, check=False)
        self._made = False


def summary_text(s):
    """A few lines of a relay summary for the test's output."""
    lines = [f"relay seed {s['seed']}, {s['seconds']} s, stopped by {s['stop_reason']}, "
             f"{s['frames_in_flight']} in flight at stop, kernel {s['kernel']}"]
    for d in ("a2b", "b2a"):
        x = s[d]
        seen = max(x["seen"], 1)
        lines.append(
            f"  {d}: seen {x['seen']} ({x['bytes_seen']} B), forwarded {x['forwarded']} "
            f"({x['bytes_forwarded']} B), dropped {x['dropped']} "
            f"({100.0 * x['dropped'] / seen:.2f} %), reordered {x['reordered']} "
            f"({100.0 * x['reordered'] / seen:.2f} %), send errors {x['send_errors']} "
            f"{x['send_error_kinds'] or ''}, late mean {x['late_mean_ms']} ms "
            f"max {x['late_max_ms']} ms")
    return "\n".join(lines)


def pick_seed():
    """LV_RELAY_SEED if set, else a fresh random one (printed by the caller)."""
    v = os.environ.get("LV_RELAY_SEED")
    if v:
        return int(v, 0)
    return int.from_bytes(os.urandom(4), "big")


if __name__ == "__main__":
    sys.exit("lvtest.relaynet is a library; the relay itself is python3 -m lvtest.relay")
