"""A network namespace and a veth pair per live test, and sockets inside it.

    root namespace                      namespace lvlPPPPPNn
    lvlPPPPPNs (levee's port, no IP) <--veth--> lvlPPPPPNc 10.53.X.2/24, fd53:X::2/64

Net.create() builds it: levee's end stays in the root namespace without
any address (IPv6 address generation off, so not even a link-local one:
the service addresses live only in levee); the client end goes into the
test's namespace with 10.53.X.2/24 and fd53:X::2/64 (nodad). TX checksum
offload is turned off on both ends (a veth otherwise hands raw readers
frames with an unfinished UDP checksum, see shared platform notes). Names
carry the pid and a per-process counter (<= 15 chars); X is picked from
10..99 by pid and counter. Net.destroy() removes the veth pair and the
namespace, also half-built ones; call it from a finalizer.

Neighbour handling is a mode: "static" puts permanent neighbour entries
for the service addresses (levee's MAC) into the namespace; "kernel"
leaves resolution to ARP/ND, which needs levee's exception path (TAP).

Net.socket() opens a socket inside the namespace (setns on this thread
around socket() and bind(), then back), so the test process itself can
send queries and capture frames there; Capture records every frame on
the client end with its direction.
"""
import contextlib
import ctypes
import itertools
import os
import socket
import struct
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
NEIGH_MODES = ("static", "kernel")

_libc = ctypes.CDLL(None, use_errno=True)
_counter = itertools.count()


def sh(*argv, check=True, timeout=15):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: "
                           f"{p.stderr.decode(errors='replace').strip()}")
    return p


def _exists_link(name):
    return os.path.exists(f"/sys/class/net/{name}")


def _exists_ns(name):
    return os.path.exists(f"/run/netns/{name}")


class Net:
    def __init__(self):
        pid = os.getpid()
        for _ in range(100):
            n = next(_counter)
            base = f"lvl{pid % 100000:05d}{n:x}"          # <= 11 chars up to n=0xfff
            self.ns, self.levee_if, self.client_if = base + "n", base + "s", base + "c"
            if not (_exists_ns(self.ns) or _exists_link(self.levee_if)):
                break
        else:
            raise RuntimeError("no free lvl* name found")
        self.x = 10 + (pid * 7 + n) % 90
        self.service4 = f"10.53.{self.x}.1"
        self.service6 = f"fd53:{self.x}::1"
        self.client4 = f"10.53.{self.x}.2"
        self.client6 = f"fd53:{self.x}::2"
        self.levee_mac = None
        self.client_mac = None
        self._made = False

    def service_addresses(self):
        """levee's --address arguments."""
        return [f"{self.service4}/24", f"{self.service6}/64"]

    def service(self, family):
        return self.service4 if family == 4 else self.service6

    def client(self, family):
        return self.client4 if family == 4 else self.client6

    def create(self):
        self._made = True
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.levee_if, "type", "veth", "peer", "name", self.client_if)
        sh("ip", "link", "set", self.levee_if, "addrgenmode", "none")
        sh("ip", "link", "set", self.client_if, "netns", self.ns)
        sh("ethtool", "-K", self.levee_if, "tx", "off")
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.ns, "addr", "add", f"{self.client4}/24", "dev", self.client_if)
        sh("ip", "-n", self.ns, "addr", "add", f"{self.client6}/64", "dev", self.client_if,
           "nodad")
        sh("ip", "netns", "exec", self.ns, "ethtool", "-K", self.client_if, "tx", "off")
        sh("ip", "-n", self.ns, "link", "set", self.client_if, "up")
        sh("ip", "link", "set", self.levee_if, "up")
        with open(f"/sys/class/net/{self.levee_if}/address") as f:
            self.levee_mac = f.read().strip()
        self.client_mac = self.run(["cat", f"/sys/class/net/{self.client_if}/address"]
                                   ).stdout.decode().strip()
        return self

    def neighbours(self, mode, mac=None):
        """mode "static": permanent entries for both service addresses
        pointing at mac (default: the MAC of levee's veth end)."""
        if mode == "static":
            mac = mac or self.levee_mac
            for a in (self.service4, self.service6):
                sh("ip", "-n", self.ns, "neigh", "replace", a, "lladdr", mac,
                   "dev", self.client_if, "nud", "permanent")
        elif mode != "kernel":
            raise ValueError(f"neighbour mode {mode!r}, expected one of {NEIGH_MODES}")

    def host_state(self):
        """What levee may change on the host for its port and must restore
        at exit: its veth end's flags, MTU, promiscuity, allmulti, address,
        address generation, XDP program; IPv4/IPv6 sysctls of that
        interface; whether a TAP named lv-<its end> exists."""
        import json
        d = json.loads(sh("ip", "-j", "-d", "link", "show", "dev", self.levee_if
                          ).stdout)[0]
        st = {k: d.get(k) for k in ("flags", "mtu", "promiscuity", "allmulti",
                                    "address", "inet6_addr_gen_mode", "xdp", "qdisc")}
        for fam in ("ipv4", "ipv6"):
            base = f"/proc/sys/net/{fam}/conf/{self.levee_if}"
            if os.path.isdir(base):
                for name in sorted(os.listdir(base)):
                    try:
                        with open(os.path.join(base, name)) as f:
                            st[f"{fam}.{name}"] = f.read().strip()
                    except OSError:
                        pass
        st["addresses"] = sh("ip", "-o", "addr", "show", "dev", self.levee_if).stdout.decode()
        st["tap"] = _exists_link("lv-" + self.levee_if)
        return st

    def destroy(self):
        """Remove what create() made; safe to call twice or after a failure."""
        if not self._made:
            return
        if _exists_link(self.levee_if):
            sh("ip", "link", "del", self.levee_if, check=False)
        if _exists_ns(self.ns):
            sh("ip", "netns", "del", self.ns, check=False)
        self._made = False

    def run(self, argv, timeout=60, check=True):
        """Run argv inside the namespace (ip netns exec), output captured."""
        p = subprocess.run(["ip", "netns", "exec", self.ns] + list(argv),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} in {self.ns}: exit {p.returncode}\n"
                                 f"{p.stdout.decode(errors='replace')[-2000:]}\n"
                                 f"{p.stderr.decode(errors='replace')[-2000:]}")
        return p

    @contextlib.contextmanager
    def inside(self):
        """This thread in the namespace for the duration of the block."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            target = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
            try:
                if _libc.setns(target, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns {self.ns}: {os.strerror(e)}")
                try:
                    yield
                finally:
                    if _libc.setns(own, CLONE_NEWNET) != 0:
                        # Staying in the test namespace would be worse than dying.
                        os._exit(99)
            finally:
                os.close(target)
        finally:
            os.close(own)

    def socket(self, family, type_, proto=0, bind=None):
        with self.inside():
            s = socket.socket(family, type_, proto)
            try:
                if bind is not None:
                    s.bind(bind)
            except BaseException:
                s.close()
                raise
        return s

    def udp_socket(self, family, port=0):
        fam = socket.AF_INET if family == 4 else socket.AF_INET6
        return self.socket(fam, socket.SOCK_DGRAM, 0, bind=(self.client(family), port))


class Capture:
    """Every frame on the client end (or with side="levee", on levee's end
    in the root namespace), in and out, read by a thread from an AF_PACKET
    socket opened before anything is sent.
    frames: [(monotonic time, outgoing?, bytes)]. stop() returns the
    kernel's (packets, drops) for the socket; drops must be 0 for a
    capture to prove anything."""

    def __init__(self, net, max_frames=500000, rcvbuf=64 << 20, side="client"):
        self.net = net
        self.max_frames = max_frames
        self.frames = []
        self.kernel_stats = None
        if side == "client":
            self.ifname = net.client_if
            self._sock = net.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                    socket.htons(ETH_P_ALL), bind=(self.ifname, ETH_P_ALL))
        else:   # levee's end, in the root namespace
            self.ifname = net.levee_if
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                       socket.htons(ETH_P_ALL))
            self._sock.bind((self.ifname, ETH_P_ALL))
        self._sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)   # SO_RCVBUFFORCE
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        s, out, ifname = self._sock, self.frames, self.ifname
        while not self._stop.is_set() and len(out) < self.max_frames:
            try:
                data, addr = s.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if addr[0] == ifname:
                out.append((time.monotonic(), addr[2] == PACKET_OUTGOING, data))

    def stop(self, settle=0.2):
        """Read what is still queued for `settle` seconds, then stop."""
        if self._thread is None:
            return self.kernel_stats
        time.sleep(settle)
        self._stop.set()
        self._thread.join(timeout=5)
        self._thread = None
        st = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        self.kernel_stats = struct.unpack("II", st)
        self._sock.close()
        return self.kernel_stats

    def outgoing(self):
        return [f for _, o, f in self.frames if o]

    def incoming(self):
        return [f for _, o, f in self.frames if not o]
