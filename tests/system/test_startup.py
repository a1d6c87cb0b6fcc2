"""Start-up failures: each bad input is one line on stderr that names the
file, line, key, option or device, and a non-zero exit; nothing is served.

Exit codes: 2 for a bad command line or config file, 1 for everything found
later (zones, captures, devices)."""
import os
import subprocess

import pytest

from lvtest import levee, replay
from lvtest.dnsq import Query

ZONE = """$ORIGIN start.test.
$TTL 300
@ IN SOA ns hostmaster 1 7200 3600 1209600 60
@ IN NS ns
ns IN A 192.0.2.1
"""


def run_levee(args, workdir, timeout=60):
    eal = ["--", "--no-huge", "-m", "256", "--no-pci",
           f"--file-prefix=lvstart{os.getpid()}"]
    p = subprocess.run([levee.binary()] + args + eal, cwd=workdir,
                       capture_output=True, text=True, timeout=timeout)
    errors = [l for l in p.stderr.splitlines() if l.startswith("levee:")
              and not l.startswith("levee: info:")]
    return p, errors


@pytest.fixture
def ok(workdir):
    """A valid zone and capture in workdir."""
    with open(os.path.join(workdir, "z.zone"), "w") as f:
        f.write(ZONE)
    frames = replay.frames_for([Query("ns.start.test.", "A")])
    from lvtest import pcap
    pcap.write(os.path.join(workdir, "in.pcap"), frames)
    return workdir


def expect_one_error(p, errors, code, *needles):
    assert p.returncode == code, p.stderr
    assert len(errors) == 1, p.stderr
    for n in needles:
        assert n in errors[0], errors[0]
    assert "stats:" not in p.stdout


def test_missing_zone_file(levee_bin, ok):
    p, e = run_levee(["--iface", "pcap:in.pcap,out.pcap",
                      "--zone", "start.test=absent.zone"], ok)
    expect_one_error(p, e, 1, "absent.zone", "No such file")


def test_zone_error_names_file_and_line(levee_bin, ok):
    with open(os.path.join(ok, "bad.zone"), "w") as f:
        f.write(ZONE + "www IN A 999.1.1.1\n")
    p, e = run_levee(["--iface", "pcap:in.pcap,out.pcap",
                      "--zone", "start.test=bad.zone"], ok)
    expect_one_error(p, e, 1, "bad.zone:6:")


def test_zone_with_wildcard_is_refused_naming_the_feature(levee_bin, ok):
    with open(os.path.join(ok, "wild.zone"), "w") as f:
        f.write(ZONE + "* IN A 192.0.2.9\n")
    p, e = run_levee(["--iface", "pcap:in.pcap,out.pcap",
                      "--zone", "start.test=wild.zone"], ok)
    expect_one_error(p, e, 1, "wild.zone:6:", "wildcard")


def test_bad_address(levee_bin, ok):
    p, e = run_levee(["--iface", "pcap:in.pcap,out.pcap", "--zone",
                      "start.test=z.zone", "--address", "300.1.2.3"], ok)
    expect_one_error(p, e, 2, "--address", "300.1.2.3")


def test_unknown_option(levee_bin, ok):
    p, e = run_levee(["--iface", "pcap:in.pcap,out.pcap", "--zone",
                      "start.test=z.zone", "--bogus"], ok)
    expect_one_error(p, e, 2, "--bogus")


def test_unknown_config_key_names_file_and_line(levee_bin, ok):
    with open(os.path.join(ok, "levee.yaml"), "w") as f:
        f.write("server:\n  workers: 1\n  workerz: 2\n")
    p, e = run_levee(["--config", "levee.yaml", "--iface",
                      "pcap:in.pcap,out.pcap", "--zone", "start.test=z.zone"], ok)
    expect_one_error(p, e, 2, "levee.yaml:3:", "workerz")


def test_missing_capture(levee_bin, ok):
    p, e = run_levee(["--iface", "pcap:absent.pcap,out.pcap",
                      "--zone", "start.test=z.zone"], ok)
    expect_one_error(p, e, 1, "absent.pcap")


def test_device_that_does_not_probe(levee_bin, ok):
    """EAL survives a vdev that fails to probe; levee must not."""
    p, e = run_levee(["--iface", "pcap:in.pcap,/nonexistent/dir/out.pcap",
                      "--zone", "start.test=z.zone"], ok)
    expect_one_error(p, e, 1, "net_pcap0", "did not probe")


def test_live_port_needs_an_address(levee_bin, ok):
    """A live port sees traffic that is not levee's: without --address it
    would answer every UDP/53 datagram passing by."""
    p, e = run_levee(["--iface", "af_packet:lo", "--zone",
                      "start.test=z.zone"], ok)
    expect_one_error(p, e, 1, "af_packet:lo", "--address")


def test_missing_interface(levee_bin, ok):
    p, e = run_levee(["--iface", "af_packet:lvnosuch0", "--address",
                      "10.53.250.1", "--zone", "start.test=z.zone"], ok)
    expect_one_error(p, e, 1, "lvnosuch0", "no such interface")


@pytest.fixture
def veth(request):
    """A veth pair in the root namespace (one RX queue each), removed
    after the test; neither end holds an address."""
    name = f"lvst{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer",
                    "name", name + "p"], check=True)
    request.addfinalizer(lambda: subprocess.run(
        ["ip", "link", "del", name], capture_output=True))
    subprocess.run(["ip", "link", "set", name, "up"], check=True)
    return name


def sysctls(ifname):
    base = "/proc/sys/net"
    return [open(f"{base}/{p}").read() for p in (
        f"ipv4/conf/{ifname}/rp_filter", f"ipv4/conf/{ifname}/arp_ignore",
        f"ipv6/conf/{ifname}/disable_ipv6")]


def test_too_many_workers_for_the_queues(levee_bin, ok, veth):
    """AF_XDP binds a socket per NIC queue: a veth has one."""
    p, e = run_levee(["--iface", f"af_xdp:{veth}", "--workers", "2",
                      "--address", "10.53.251.1/24", "--zone",
                      "start.test=z.zone"], ok)
    expect_one_error(p, e, 1, f"af_xdp:{veth}", "1 RX queue", "--workers 1")


def test_address_already_in_use_restores_the_host(levee_bin, ok, veth):
    """A service address another interface holds: one line, non-zero exit,
    and the port's settings and the TAP as they were before."""
    before = sysctls(veth)
    subprocess.run(["ip", "addr", "add", "10.53.252.1/32", "dev", "lo"],
                   check=True)
    try:
        p, e = run_levee(["--iface", f"af_packet:{veth}", "--address",
                          "10.53.252.1/24", "--zone", "start.test=z.zone"], ok)
    finally:
        subprocess.run(["ip", "addr", "del", "10.53.252.1/32", "dev", "lo"])
    expect_one_error(p, e, 1, "10.53.252.1", "already in use")
    assert sysctls(veth) == before
    links = subprocess.run(["ip", "-o", "link"], capture_output=True,
                           text=True).stdout
    assert f"lv-{veth}" not in links


def test_tcp_listen_address_not_on_the_host(levee_bin, ok, veth):
    """--tcp-listen on an address no interface holds: one line naming it,
    non-zero exit, and the host as it was."""
    before = sysctls(veth)
    p, e = run_levee(["--iface", f"af_packet:{veth}", "--address",
                      "10.53.251.1/24", "--tcp-listen", "192.0.2.77@5353",
                      "--zone", "start.test=z.zone"], ok)
    expect_one_error(p, e, 1, "TCP: 192.0.2.77 port 5353: Cannot assign "
                     "requested address")
    assert sysctls(veth) == before


def test_bad_tsig_key_names_where_it_was_given(levee_bin, ok):
    p, e = run_levee(["--iface", "pcap:in.pcap,out.pcap", "--zone",
                      "start.test=z.zone", "--key", "hmac-sha999:k:YQ=="], ok)
    expect_one_error(p, e, 1, "--key", "k", "hmac-sha999")


def test_too_many_workers_for_a_capture(levee_bin, ok):
    p, e = run_levee(["--iface", "pcap:in.pcap,out.pcap", "--workers", "2",
                      "--zone", "start.test=z.zone"], ok)
    expect_one_error(p, e, 1, "--workers 2")


def test_valid_start_serves(levee_bin, ok):
    p, e = run_levee(["--iface", "pcap:in.pcap,out.pcap",
                      "--zone", "start.test=z.zone"], ok)
    assert p.returncode == 0, p.stderr
    assert e == []
    assert levee.parse_stats(p.stdout)["tx"] == 1
