"""Operator safety (issue 9, item 7), driving the real binary on a live
AF_PACKET port (a veth, test_live.py's live_env and lvtest.netns):

- TSIG secrets from files (--key-file, keys[].secret-file): transfers and
  queries signed with them verify in dnspython, a wrong secret is BADSIG,
  a group-readable file is warned about once, the secret appears neither
  in /proc/PID/cmdline nor in `ps`, and a new secret written to the file
  takes effect on SIGHUP (the old one is then BADSIG); a key file that
  cannot be used stops start-up with one line.
- The host-change journal in /run/levee: after SIGKILL the host stays
  changed and the journal names the originals; the next levee undoes the
  dead one's changes first (one log line), records the host's own values,
  and after SIGTERM every setting is back and no file is left. A second
  levee on a port another one runs on is refused with one line and
  disturbs nothing.

Only processes these tests start are signalled, by pid; namespaces and
veths are removed in finalizers (netns.Net.destroy).
"""
import os
import shutil
import signal
import struct
import subprocess
import time

import dns.message
import dns.rcode
import dns.query
import dns.tsigkeyring
import pytest

from lvtest import live, netns
from test_live import live_env, live_ok  # noqa: F401 (fixtures)
from test_xfr import (ORIGIN, answer_rrs, canonical_set, connect,  # noqa: F401
                      recv_exact, send_msg, write_zone, xfr_env, xfr_messages,
                      xfr_query, zone_records, rcode_and_tsig_error)

JOURNAL_DIR = "/run/levee"
FILE_KEY = "file-key."
FILE_SECRET = "ZmlsZS1zZWNyZXQtbmV2ZXItb24tdGhlLWNvbW1hbmQtbGluZQ=="
YAML_KEY = "yaml-key."
YAML_SECRET = "eWFtbC1zZWNyZXQtbmV2ZXItb24tdGhlLWNvbW1hbmQtbGluZQ=="
ROTATED_SECRET = "cm90YXRlZC1zZWNyZXQtcmVhZC1hZ2Fpbi1vbi1TSUdIVVA="


@pytest.fixture
def driver():
    return "af_packet"


@pytest.fixture
def neigh():
    return "kernel"


def _write(path, text, mode):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def test_key_file_signs_and_stays_off_the_command_line(xfr_env, workdir):
    key_path = _write(os.path.join(workdir, "file.key"), f"  {FILE_SECRET}\n", 0o600)
    os.makedirs(os.path.join(workdir, "keys"))
    yaml_key = _write(os.path.join(workdir, "keys", "yaml.key"), YAML_SECRET + "\n", 0o640)
    cfg = _write(os.path.join(workdir, "levee.yaml"),
                 "keys:\n"
                 f"  - name: {YAML_KEY}\n"
                 "    algorithm: hmac-sha512\n"
                 "    secret-file: keys/yaml.key\n", 0o600)
    env = xfr_env(extra=lambda net: [
        "--config", cfg, "--key-file", f"hmac-sha256:{FILE_KEY}:{key_path}",
        "--allow-transfer", f"key={FILE_KEY}", "--allow-transfer", f"key={YAML_KEY}"])
    pid = env.lv.proc.pid

    # the command line the kernel shows everyone: paths, no secrets
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read()
    assert key_path.encode() in cmdline and cfg.encode() in cmdline
    ps = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(pid)],
                        capture_output=True, text=True, check=True).stdout
    assert key_path in ps
    for secret in (FILE_SECRET, YAML_SECRET):
        assert secret.encode() not in cmdline
        assert secret not in ps
        assert secret not in env.lv.stderr()

    # the group-readable file is warned about, once; the 0600 one is not
    warnings = [l for l in env.lv.stderr().splitlines() if "readable by group" in l]
    assert warnings == [f"levee: warning: {cfg}:4: keys[0].secret-file: secret file "
                        f"{yaml_key} is readable by group or others (mode 0640): "
                        "chmod 600 it"]

    server = env.net.service4
    want = zone_records(env.zone_path)
    assert xfr_messages(env.net, server)[0][1].rcode() == dns.rcode.REFUSED
    for name, alg, secret in ((FILE_KEY, "hmac-sha256", FILE_SECRET),
                              (YAML_KEY, "hmac-sha512", YAML_SECRET)):
        ring = dns.tsigkeyring.from_text({name: (alg, secret)})
        msgs = xfr_messages(env.net, server, keyring=ring, keyname=name)
        assert len(msgs) > 5 and all(m.had_tsig for _, m in msgs)
        assert canonical_set(answer_rrs(msgs)) == want
        q = dns.message.make_query("host7." + ORIGIN, "A")
        q.use_tsig(ring, keyname=name)
        with env.net.inside():
            r = dns.query.udp(q, server, timeout=5)
        assert r.had_tsig and r.rcode() == dns.rcode.NOERROR and r.answer
    # the file's secret is the one levee checks: another one is BADSIG
    ring = dns.tsigkeyring.from_text({FILE_KEY: ("hmac-sha256", YAML_SECRET)})
    sock = connect(env.net, server)
    try:
        send_msg(sock, xfr_query(keyring=ring, keyname=FILE_KEY))
        raw = recv_exact(sock, struct.unpack("!H", recv_exact(sock, 2))[0])
    finally:
        sock.close()
    assert rcode_and_tsig_error(raw) == (dns.rcode.NOTAUTH, 16)

    # a new secret in the file takes effect on SIGHUP (the whole
    # configuration is parsed again); the old secret then fails. The
    # reload's end is not logged when no zone changed: poll, bounded.
    _write(key_path, ROTATED_SECRET + "\n", 0o600)
    os.kill(pid, signal.SIGHUP)
    old = dns.tsigkeyring.from_text({FILE_KEY: ("hmac-sha256", FILE_SECRET)})
    new = dns.tsigkeyring.from_text({FILE_KEY: ("hmac-sha256", ROTATED_SECRET)})
    deadline, tries = time.monotonic() + 20, 0
    while _axfr_tsig_error(env.net, server, new, FILE_KEY) != (dns.rcode.NOERROR, 0):
        tries += 1
        assert time.monotonic() < deadline, "the rotated secret never took effect"
        time.sleep(0.2)
    assert _axfr_tsig_error(env.net, server, old, FILE_KEY) == (dns.rcode.NOTAUTH, 16)
    msgs = xfr_messages(env.net, server, keyring=new, keyname=FILE_KEY)
    assert all(m.had_tsig for _, m in msgs)
    assert canonical_set(answer_rrs(msgs)) == want
    assert ROTATED_SECRET not in env.lv.stderr()
    st = env.lv.stats()
    # AXFRs: 2 before, the poll's successful one, the last one; refused:
    # unsigned, BADSIG, each failed poll (BADSIG), the old secret
    assert st.get("xfr_axfr") == 4, dict(st)
    assert st.get("xfr_refused") == 3 + tries, dict(st)
    assert env.lv.stop()[0] == 0


def _axfr_tsig_error(net, server, ring, name):
    """(rcode, TSIG error) of a signed AXFR's first message, unverified."""
    sock = connect(net, server)
    try:
        send_msg(sock, xfr_query(keyring=ring, keyname=name))
        head = recv_exact(sock, 2)
        return rcode_and_tsig_error(recv_exact(sock, struct.unpack("!H", head)[0]))
    finally:
        sock.close()


@pytest.mark.parametrize("content,why", [
    (None, "No such file or directory"),
    ("\n", "is empty (expected the secret alone, in base64)"),
    ("not base64!\n", "is not base64 (expected the secret alone, in base64)"),
])
def test_unusable_key_file_stops_start_up(levee_bin, workdir, content, why):
    path = os.path.join(workdir, "bad.key")
    if content is not None:
        _write(path, content, 0o600)
    zone = os.path.join(workdir, "z.zone")
    write_zone(zone, 1, n=1)
    p = subprocess.run([levee_bin, "--iface", "pcap:in.pcap,out.pcap",
                        "--zone", f"{ORIGIN}={zone}", "--key-file", f"k:{path}",
                        "--", "--no-huge", "-m", "256", "--no-pci",
                        f"--file-prefix=lvsafe{os.getpid()}"],
                       cwd=workdir, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr      # a configuration error
    verb = "cannot read secret file" if content is None else "secret file"
    sep = ":" if content is None else ""
    assert p.stderr.splitlines() == [f"levee: --key-file: {verb} {path}{sep} {why}"]
    assert "stats:" not in p.stdout


# --- the host-change journal -------------------------------------------------

def _sysctls(ifname):
    out = {}
    for key in ("ipv4/conf/{}/rp_filter", "ipv4/conf/{}/arp_ignore",
                "ipv6/conf/{}/disable_ipv6"):
        with open("/proc/sys/net/" + key.format(ifname)) as f:
            out[key.split("/")[-1]] = f.read().strip()
    return out


def _journal(ifname):
    return os.path.join(JOURNAL_DIR, f"{ifname}.journal")


def _read(path):
    with open(path) as f:
        return f.read()


@pytest.fixture
def port(request, live_ok):
    """A namespace and veth pair whose levee end holds the IPv4 service
    address (levee takes it away and must put it back), and the host's
    state before any levee ran."""
    net = netns.Net()
    request.addfinalizer(net.destroy)
    net.create()
    net.neighbours("kernel")
    netns.sh("ip", "addr", "add", f"{net.service4}/24", "dev", net.levee_if)

    def clean_files():
        # only ours: the files are named for this test's own veth
        for suffix in (".journal", ".lock", ".journal.tmp"):
            path = os.path.join(JOURNAL_DIR, net.levee_if + suffix)
            if os.path.exists(path):
                os.unlink(path)
    request.addfinalizer(clean_files)
    net.before = net.host_state()
    assert _sysctls(net.levee_if) == {"rp_filter": "0", "arp_ignore": "0",
                                      "disable_ipv6": "0"}
    assert f"inet {net.service4}/24" in net.before["addresses"]
    return net


def _levee(request, levee_bin, zones, net, workdir):
    lv = live.Live(levee_bin, f"af_packet:{net.levee_if}", zones,
                   net.service_addresses(), workdir)
    request.addfinalizer(lv.kill)
    return lv


def test_journal_survives_sigkill_and_next_start_restores(request, levee_bin, zones,
                                                           workdir, port):
    net = port
    journal = _journal(net.levee_if)
    first = _levee(request, levee_bin, zones, net, workdir).start()
    first.wait_serving(net)
    text = _read(journal)
    assert f"\npid {first.proc.pid}\n" in text
    idx = int(_read(f"/sys/class/net/{net.levee_if}/ifindex"))
    for line in (f"add-addr {idx} {net.levee_if} {net.service4}/24",
                 f"sysctl {idx} {net.levee_if} net/ipv4/conf/{net.levee_if}/rp_filter 0",
                 f"sysctl {idx} {net.levee_if} net/ipv4/conf/{net.levee_if}/arp_ignore 0",
                 f"sysctl {idx} {net.levee_if} net/ipv6/conf/{net.levee_if}/disable_ipv6 0"):
        assert f"\n{line}\n" in text, text

    # SIGKILL: nothing is restored, the journal stays
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    shutil.rmtree(first.runtime_dir(), ignore_errors=True)
    assert _sysctls(net.levee_if) == {"rp_filter": "1", "arp_ignore": "8",
                                      "disable_ipv6": "1"}
    assert net.service4 not in net.host_state()["addresses"]
    assert _read(journal) == text
    assert os.path.exists(os.path.join(JOURNAL_DIR, net.levee_if + ".lock"))

    # the next start undoes the dead one's changes before its own
    second = _levee(request, levee_bin, zones, net, workdir).start()
    second.wait_serving(net)
    n_changes = sum(1 for l in text.splitlines()[3:] if l and not l.startswith("#"))
    said = [l for l in second.stderr().splitlines() if "exited without undoing" in l]
    assert said == [f"levee: warning: host changes: levee pid {first.proc.pid} exited "
                    f"without undoing its host changes; undid the {n_changes} "
                    f"recorded in {journal}"]
    text2 = _read(journal)
    assert f"\npid {second.proc.pid}\n" in text2
    # the originals it records are the host's, never the dead one's values
    assert f"net/ipv4/conf/{net.levee_if}/rp_filter 0\n" in text2
    assert f"net/ipv4/conf/{net.levee_if}/arp_ignore 0\n" in text2
    assert f"net/ipv6/conf/{net.levee_if}/disable_ipv6 0\n" in text2
    assert f"add-addr {idx} {net.levee_if} {net.service4}/24\n" in text2
    assert "rp_filter 1\n" not in text2 and "arp_ignore 8\n" not in text2

    rc, _ = second.stop(signal.SIGTERM)
    assert rc == 0, second.explain()
    after = net.host_state()
    changed = {k: (v, after.get(k)) for k, v in net.before.items() if after.get(k) != v}
    assert not changed, f"not restored (before, after): {changed}"
    assert _sysctls(net.levee_if) == {"rp_filter": "0", "arp_ignore": "0",
                                      "disable_ipv6": "0"}
    for suffix in (".journal", ".lock", ".journal.tmp"):
        assert not os.path.exists(os.path.join(JOURNAL_DIR, net.levee_if + suffix))


def test_second_levee_on_a_running_port_is_refused(request, levee_bin, zones,
                                                    workdir, port):
    net = port
    first = _levee(request, levee_bin, zones, net, workdir).start()
    first.wait_serving(net)
    text = _read(_journal(net.levee_if))
    changed = net.host_state()

    second = _levee(request, levee_bin, zones, net, workdir).start()
    rc = second.proc.wait(timeout=60)
    assert rc == 1, second.explain()
    lines = [l for l in second.stderr().splitlines()
             if l.startswith("levee:") and not l.startswith("levee: info:")]
    assert lines == [f"levee: error: interface {net.levee_if}: levee pid "
                     f"{first.proc.pid} already runs on it "
                     f"({JOURNAL_DIR}/{net.levee_if}.lock held): stop it first"], \
        second.explain()
    # the running one is untouched: same journal, same host state, serving
    assert _read(_journal(net.levee_if)) == text
    assert net.host_state() == changed
    first.wait_serving(net)

    rc, _ = first.stop(signal.SIGTERM)
    assert rc == 0, first.explain()
    after = net.host_state()
    assert {k: (v, after.get(k)) for k, v in net.before.items() if after.get(k) != v} == {}
    assert not os.path.exists(_journal(net.levee_if))
