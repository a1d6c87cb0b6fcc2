"""levee as a caching front on host sockets (--listen), its upstream test
backend (tools/backend.py), and small dnspython clients.

Both run as child processes in the test's own work dir, on loopback ports
checked free, and are stopped by their pids from a finalizer.
"""
import itertools
import os
import signal
import socket
import subprocess
import time

import dns.flags
import dns.message
import dns.query
import dns.rdataclass
import dns.rdatatype

from . import levee as lvlevee
from .knot import free_port

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKEND = os.path.join(HERE, "tools", "backend.py")
_counter = itertools.count()


def _terminate(p):
    """SIGTERM, then SIGKILL after 5 s: a child process gone for sure."""
    if p is not None and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def wait_for(cond, timeout, step=0.05):
    """Poll cond() until true or timeout s passed; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def a_addrs(r):
    """The A addresses of a response's answer section, sorted."""
    return sorted(rd.address for rrset in r.answer for rd in rrset
                  if rrset.rdtype == dns.rdatatype.A)


class Backend:
    """tools/backend.py on 127.0.0.1 (or address) and a free port."""

    def __init__(self, workdir, truncate="empty", address="127.0.0.1", port=None,
                 extra=()):
        self.workdir = workdir
        self.address = address
        self.port = port or free_port()
        n = next(_counter)
        self.ready = os.path.join(workdir, f"backend{n}.ready")
        self.log = os.path.join(workdir, f"backend{n}.log")
        self.argv = ["/usr/bin/python3", BACKEND, "--address", address,
                     "--port", str(self.port), "--truncate", truncate,
                     "--ready", self.ready] + list(extra)
        self.proc = None

    def start(self, timeout=10.0):
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"backend did not start: {open(self.log).read()}")
            time.sleep(0.02)
        return self

    def stop(self):
        p, self.proc = self.proc, None
        _terminate(p)

    def freeze(self):
        """Black-hole it: SIGSTOP (its sockets take queries, nothing
        answers) until resume()."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        """Undo freeze() (harmless when running)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def kill(self):
        """Gone at once, as a crashed server: SIGKILL."""
        p, self.proc = self.proc, None
        if p is not None:
            p.kill()
            p.wait(timeout=5)

    @property
    def spec(self):
        return f"{self.address}@{self.port}"

    def counts(self):
        """{"udp": N, "tcp": N, ("q", name, type, transport): N, ...}"""
        q = dns.message.make_query("counts.backend.", "TXT", "CH")
        r = dns.query.udp(q, self.address, port=self.port, timeout=2)
        out = {}
        for rrset in r.answer:
            for rd in rrset:
                for s in rd.strings:
                    parts = s.decode().split(" ")
                    key = parts[0] if len(parts) == 2 else tuple(parts[:-1])
                    out[key] = int(parts[-1])
        return out

    def queries(self, name, rdtype="A"):
        """(UDP, TCP) queries the backend got for name."""
        c = self.counts()
        name = name.lower().rstrip(".") + "."
        return (c.get(("q", name, rdtype, "udp"), 0),
                c.get(("q", name, rdtype, "tcp"), 0))


class Front:
    """levee --listen 127.0.0.1@PORT with the given options, no port."""

    def __init__(self, binary, workdir, args=(), workers=1, address="127.0.0.1",
                 port=None):
        self.workdir = workdir
        self.address = address
        self.port = port or free_port()
        n = next(_counter)
        self.out_path = os.path.join(workdir, f"levee{n}.out")
        self.err_path = os.path.join(workdir, f"levee{n}.err")
        self.file_prefix = f"lvfront{os.getpid()}_{n}"
        self.argv = [binary, "--listen", f"{address}@{self.port}",
                     "--workers", str(workers)] + list(args) + [
            "--", "--no-huge", "-m", "512", "--no-pci",
            f"--file-prefix={self.file_prefix}"]
        self.proc = None
        self.returncode = None

    def start(self, timeout=20.0):
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while "serving with" not in self.stderr():
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise AssertionError("levee exited before serving\n" + self.explain())
            if time.monotonic() > deadline:
                raise AssertionError("levee did not start serving\n" + self.explain())
            time.sleep(0.05)
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

    def stats(self, timeout=5.0):
        """SIGUSR1, then the stats block it printed."""
        before = self.stdout().count("stats:\n")
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.stdout()
            if out.count("stats:\n") > before:
                time.sleep(0.1)  # the block is written in one go; let it land
                return lvlevee.parse_stats(out[out.rindex("stats:\n"):])
            time.sleep(0.05)
        raise AssertionError("no stats block after SIGUSR1\n" + self.explain())

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout=15.0):
        p = self.proc
        if p is None:
            return self.returncode
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        self.returncode = p.returncode
        self.proc = None
        return self.returncode

    # --- clients ---

    def query(self, name, rdtype="A", tcp=False, edns=0, payload=1232,
              timeout=3.0, want_dnssec=False, rdclass="IN", cd=False):
        q = dns.message.make_query(name, rdtype, rdclass, use_edns=edns,
                                   payload=payload, want_dnssec=want_dnssec)
        if cd:
            q.flags |= dns.flags.CD
        if tcp:
            return dns.query.tcp(q, self.address, port=self.port, timeout=timeout)
        return dns.query.udp(q, self.address, port=self.port, timeout=timeout,
                             ignore_trailing=True)


def udp_burst(address, port, queries, timeout=5.0):
    """Send every query (wire bytes, unique IDs) at once from one socket and
    collect the answers by ID until all arrived or timeout. Returns
    {id: response wire}."""
    fam = socket.AF_INET6 if ":" in address else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    want = {int.from_bytes(w[:2], "big") for w in queries}
    got = {}
    try:
        for w in queries:
            s.sendto(w, (address, port))
        deadline = time.monotonic() + timeout
        while want - set(got) and time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d, _ = s.recvfrom(65535)
            except socket.timeout:
                break
            got[int.from_bytes(d[:2], "big")] = d
    finally:
        s.close()
    return got


class Unbound:
    """Debian's unbound on 127.0.0.1 and a free port, in the foreground,
    forwarding the given zones ({suffix: "ADDR@PORT"}): a recursive
    resolver as levee's upstream. Iterator only (no validator, so no
    trust anchor), no query minimisation, test. not a built-in local zone
    and loopback upstreams allowed (../shared/platform-notes.md)."""

    BIN = "/usr/sbin/unbound"

    def __init__(self, workdir, forward, port=None):
        self.dir = os.path.join(workdir, f"unbound{next(_counter)}")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.forward = dict(forward)
        self.conf = os.path.join(self.dir, "unbound.conf")
        self.log = os.path.join(self.dir, "unbound.log")
        self.proc = None

    def _config(self):
        zones = "".join(f'forward-zone:\n  name: "{name}"\n'
                        f'  forward-addr: {addr}\n'
                        for name, addr in self.forward.items())
        return f"""server:
  interface: 127.0.0.1
  port: {self.port}
  do-ip6: no
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{self.dir}"
  pidfile: "{self.dir}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  num-threads: 1
  module-config: "iterator"
  qname-minimisation: no
  do-not-query-localhost: no
  local-zone: "test." nodefault
  edns-buffer-size: 1232
remote-control:
  control-enable: no
{zones}"""

    def start(self, timeout=10.0):
        with open(self.conf, "w") as f:
            f.write(self._config())
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([self.BIN, "-d", "-c", self.conf],
                                         stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:  # ready once it accepts TCP (no query: none is counted)
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"unbound did not start: {open(self.log).read()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)

    def stop(self):
        p, self.proc = self.proc, None
        _terminate(p)

    @property
    def spec(self):
        return f"127.0.0.1@{self.port}"
