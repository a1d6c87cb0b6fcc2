#!/bin/sh
# Build the libFuzzer targets with clang and run each for a bounded time
# from a small seed corpus that this script writes.
#
#   tests/fuzz/run.sh [seconds per target] [target...]
#
# Environment: BUILD (default build-fuzz in the repository root),
# FUZZ_JOBS (parallel fuzzing processes per target, default 1).
# Exits non-zero when a target crashes; the input is left in
# $BUILD/fuzz-artifacts/<target>/. Corpora grow in $BUILD/fuzz-corpus/.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-fuzz}
SECONDS_PER_TARGET=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-query packet upstream tcp_frame loop control_answer xfr config zone}
JOBS=${FUZZ_JOBS:-1}

if [ ! -f "$BUILD/build.ninja" ]; then
	# b_lundef=false: the sanitizer runtimes resolve symbols at link time;
	# debugoptimized (not the default release): crash reports with lines
	CC=clang meson setup "$BUILD" "$ROOT" -Dfuzz=true -Dtests=enabled \
		-Db_sanitize=address -Db_lundef=false \
		-Dbuildtype=debugoptimized >/dev/null
fi
for t in $TARGETS; do
	ninja -C "$BUILD" "tests/fuzz/fuzz_$t" >/dev/null
done

# Seeds: valid queries of each shape the parser knows, and the frames that
# carry them over IPv4 and IPv6 (first byte: fuzz_packet's control byte);
# the same queries as TCP streams and to the control plane (TSIG-signed
# with fuzz_control.h's key, now), transfer requests, configs and zone
# files from the repository; then the inputs kept in tests/fuzz/seeds/.
python3 - "$BUILD/fuzz-corpus" "$ROOT" <<'PY'
import base64, glob, hashlib, hmac, os, shutil, struct, sys, time

out, root = sys.argv[1], sys.argv[2]

def name(text):
    if text == ".":
        return b"\0"
    b = b""
    for label in text.split("."):
        b += bytes([len(label)]) + label.encode()
    return b + b"\0"

def opt(size=1232, version=0, do=False, rdata=b""):
    return (b"\0" + struct.pack(">HHBBHH", 41, size, 0, version,
                                0x8000 if do else 0, len(rdata)) + rdata)

def query(qname, qtype=1, flags=0x0100, edns=None, qd=1, an=0, ns=0,
          extra=b""):
    ar = 1 if edns is not None else 0
    if extra:
        ar += 1
    msg = struct.pack(">HHHHHH", 0x1234, flags, qd, an, ns, ar)
    msg += name(qname) + struct.pack(">HH", qtype, 1)
    if edns is not None:
        msg += edns
    return msg + extra

cookie = struct.pack(">HH", 10, 8) + b"\1" * 8
queries = {
    "a": query("www.Example.com"),
    "aaaa_do": query("www.example.com", 28, edns=opt(do=True)),
    "root_ns": query(".", 2, edns=opt(4096)),
    "cookie": query("a.example", 16, edns=opt(rdata=cookie)),
    "badvers": query("a.example", 1, edns=opt(version=1)),
    "notify": query("zone.example", 6, flags=4 << 11),
    "update": query("zone.example", 6, flags=5 << 11, ns=1),
    "long": query(".".join(["a" * 63] * 3 + ["b" * 61])),
    "tsig": query("a.example", extra=name("key.example") +
                  struct.pack(">HHIH", 250, 255, 0, 0)),
    "pointer": struct.pack(">HHHHHH", 1, 0, 1, 0, 0, 0) +
               b"\x03www\xc0\x0c" + struct.pack(">HH", 1, 1),
}

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def frame4(dns):
    udp = struct.pack(">HHHH", 40000, 53, 8 + len(dns), 0) + dns
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x4000,
                     64, 17, 0, bytes([198, 51, 100, 7]),
                     bytes([192, 0, 2, 53]))
    ip = ip[:10] + struct.pack(">H", csum(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x53" + b"\x02\0\0\0\0\x07" + b"\x08\x00"
    return eth + ip + udp

def frame6(dns):
    udp = struct.pack(">HHHH", 40001, 53, 8 + len(dns), 0) + dns
    src = bytes.fromhex("20010db8000000000000000000000007")
    dst = bytes.fromhex("20010db8000000000000000000000053")
    ip = struct.pack(">IHBB", 6 << 28, len(udp), 17, 64) + src + dst
    eth = b"\x02\0\0\0\0\x53" + b"\x02\0\0\0\0\x07" + b"\x86\xdd"
    return eth + ip + udp

def write(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data)

for n, q in queries.items():
    write("query", n, q)
    write("packet", n + "_v4", b"\x00" + frame4(q))
    write("packet", n + "_v6_offload", b"\x0d" + frame6(q))
write("packet", "arp", b"\x00" + b"\xff" * 12 + b"\x08\x06" + b"\0" * 28)

# Upstream answers (fuzz_upstream): the ID's first byte picks the client
# query they answer (0 www A, 1 www AAAA with DO, 2 nx A, 3 . NS).
def rr(owner, rtype, ttl, rdata):
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata

def response(qid, flags, qname, qtype, an=(), ns=(), ar=()):
    msg = struct.pack(">HHHHHH", qid, flags, 1, len(an), len(ns), len(ar))
    msg += name(qname) + struct.pack(">HH", qtype, 1)
    return msg + b"".join(an) + b"".join(ns) + b"".join(ar)

ptr12, ptr16 = b"\xc0\x0c", b"\xc0\x10"
neg_soa = rr(ptr16, 6, 300, b"\x02ns" + ptr16 + b"\x04host" + ptr16 +
         struct.pack(">IIIII", 1, 3600, 600, 86400, 60))
answers = {
    "a": response(0x0001, 0x8180, "www.example.com", 1,
                  an=[rr(ptr12, 1, 300, b"\xc0\x00\x02\x01")]),
    "cname": response(0x0002, 0x8180, "www.example.com", 1,
                      an=[rr(ptr12, 5, 600, b"\x03web" + ptr16),
                          rr(b"\x03web" + ptr16, 1, 60, b"\xc0\x00\x02\x07")],
                      ns=[rr(ptr16, 2, 3600, b"\x02ns" + ptr16)],
                      ar=[b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)]),
    "aaaa_ad": response(0x0101, 0x81a0, "www.example.com", 28,
                        an=[rr(ptr12, 28, 300, bytes(15) + b"\1")]),
    "nxdomain": response(0x0203, 0x8183, "nx.example.com", 1, ns=[neg_soa]),
    "servfail": response(0x0204, 0x8182, "nx.example.com", 1),
    "tc": response(0x0005, 0x8380, "www.example.com", 1),
    "root_ns": response(0x0306, 0x8180, ".", 2,
                        an=[rr(b"\0", 2, 518400, name("a.root-servers.net"))],
                        ar=[rr(b"\x01a\x0croot-servers\x03net\0", 1, 518400,
                               b"\xc6\x29\x00\x04")]),
}
for n, a in answers.items():
    write("upstream", n, a)

# fuzz_loop: a query and a SERVFAIL answer with a two-hop loop marker
# (option 65389, include/levee/loop.h), and a marker of 8 hops
def marked(flags, hops, rcode_answer=False):
    opt = struct.pack(">HH", 65389, 10 * len(hops)) + b"".join(
        struct.pack(">QH", i, u) for i, u in hops)
    an = rr(b"\xc0\x0c", 1, 60, b"\xc0\x00\x02\x01") if rcode_answer else b""
    return (struct.pack(">HHHHHH", 0x4242, flags, 1, 1 if an else 0, 0, 1) +
            name("a.example") + struct.pack(">HH", 1, 1) + an +
            b"\0" + struct.pack(">HHIH", 41, 1232, 0, len(opt)) + opt)
write("loop", "query_two_hops", marked(0x0100, [(1, 0), (2, 5)]))
write("loop", "servfail_signal", marked(0x8182, [(7, 1), (9, 3)], True))
write("loop", "eight_hops", marked(0x0100, [(i + 1, i) for i in range(8)]))

# fuzz_tcp_frame: two seed bytes, then length-prefixed messages
def framed(msgs):
    return b"".join(struct.pack(">H", len(m)) + m for m in msgs)
allq = list(queries.values())
write("tcp_frame", "one", b"\0\1" + framed(allq[:1]))
write("tcp_frame", "many", b"\x12\x34" + framed(allq))
write("tcp_frame", "cut_short", b"\xff\0" + framed(allq[:3])[:-5])
write("tcp_frame", "empty_msgs", b"\0\7" + framed([b"", b"x", b""]))

# fuzz_control_answer / fuzz_xfr: tests/fuzz/fuzz_control.h's zone and key
SECRET = base64.b64decode("x7t2Zkc5FRgT9Z9llnaSrkJVyL6ritdvZNBMMFgmxLI=")

def tsig(msg, key="key.example", now=None, fudge=300):
    # RFC 8945 §4.3: MAC over the message and the TSIG variables
    now = int(time.time()) if now is None else now
    alg = name("hmac-sha256")
    t = struct.pack(">HI", now >> 32, now & 0xffffffff)
    var = (name(key) + struct.pack(">HI", 255, 0) + alg + t +
           struct.pack(">HHH", fudge, 0, 0))
    mac = hmac.new(SECRET, msg + var, hashlib.sha256).digest()
    rdata = alg + t + struct.pack(">HH", fudge, len(mac)) + mac + \
        msg[:2] + struct.pack(">HH", 0, 0)
    rr = name(key) + struct.pack(">HHIH", 250, 255, 0, len(rdata)) + rdata
    ar = struct.unpack(">H", msg[10:12])[0] + 1
    return msg[:10] + struct.pack(">H", ar) + msg[12:] + rr

def soa(serial):
    rdata = (name("ns.example.com") + name("hostmaster.example.com") +
             struct.pack(">IIIII", serial, 7200, 3600, 1209600, 60))
    return name("example.com") + struct.pack(">HHIH", 6, 1, 300,
                                              len(rdata)) + rdata

ctlq = {
    "www_a": query("www.example.com"),
    "apex_mx_do": query("Example.COM", 15, edns=opt(do=True)),
    "big_txt": query("big.example.com", 16),
    "big_txt_edns": query("big.example.com", 16, edns=opt(4096)),
    "nxdomain": query("nope.example.com", 1, edns=opt()),
    "nodata": query("ns.example.com", 28),
    "other_zone": query("www.example.org"),
    "any": query("example.com", 255),
    "badvers": query("example.com", 1, edns=opt(version=1)),
    "cookie": query("www.example.com", 1, edns=opt(rdata=cookie)),
    "tsig_signed": tsig(query("www.example.com")),
    "tsig_edns": tsig(query("example.com", 15, edns=opt())),
    "tsig_bad_key": tsig(query("www.example.com"), key="nokey.example"),
    "tsig_old": tsig(query("www.example.com"), now=1),
    "answer_section": query("www.example.com", an=1) + soa(1),
    "two_opts": query("example.com", 1, edns=opt() + opt()),
}
for op in range(16):  # every opcode
    ctlq["opcode_%d" % op] = query("example.com", 6, flags=op << 11)
for n, q in ctlq.items():
    write("control_answer", n + "_udp", b"\x00" + q)
    write("control_answer", n + "_tcp", b"\x01" + q)
write("control_answer", "udp_room512", b"\x06" + ctlq["big_txt_edns"])

def ixfr(serial):
    # the client's SOA in the authority section (RFC 1995 §3)
    return query("example.com", 251, ns=1) + soa(serial)

xfrq = {
    "axfr": query("example.com", 252),
    "axfr_edns": query("example.com", 252, edns=opt()),
    "axfr_tsig": tsig(query("example.com", 252)),
    "axfr_other_zone": query("example.org", 252),
    "ixfr_from_1": ixfr(1),
    "ixfr_current": ixfr(2),
    "ixfr_unknown_serial": ixfr(7),
    "ixfr_tsig": tsig(ixfr(1)),
    "ixfr_no_soa": query("example.com", 251),
}
for n, q in xfrq.items():
    write("xfr", n + "_loopback", b"\x00" + q)
    write("xfr", n + "_refused", b"\x01" + q)
    write("xfr", n + "_v6_keyed", b"\x02" + q)

# fuzz_config: the unit tests' configs; fuzz_zone: origin, then the file
for f in glob.glob(os.path.join(root, "tests/unit/data/config/*.yaml")):
    with open(f, "rb") as fh:
        write("config", os.path.basename(f), fh.read())
write("config", "forward_listen.yaml", b"""server:
  listen: ["127.0.0.1@5353", "::1"]
forward:
  - name: sd.test.
    upstreams: ["192.0.2.1@5300", {address: "2001:db8::2", port: 54, weight: 3}]
  - name: .
    upstreams: 10.0.0.1
    selection: round-robin
forwarding:
  selection: first-available
  fail-threshold: 5
  probe-interval-ms: 500
  probe-max-interval-ms: 8000
  probe-query: "example.com. A"
  loop-detect: on
  loop-marker: false
  loop-probe-interval-ms: 15000
  timeout-ms: 2500
  attempt-timeout-ms: 400
  tcp-idle-timeout-ms: 5000
  max-waiters: 100
cache:
  min-ttl: 5
  max-ttl: 600
  negative-max-ttl: 60
  servfail-ttl: 3
""")
zones = [("demo.example", os.path.join(root, "tests/data/demo.zone"))]
for f in glob.glob(os.path.join(root, "tests/unit/data/zones/*.zone")):
    zones.append((os.path.basename(f)[:-5], f))
for origin, f in zones:
    with open(f, "rb") as fh:
        write("zone", os.path.basename(f), origin.encode() + b"\n" +
              fh.read())

# inputs kept: crashes found and fixed (tests/fuzz/seeds/<target>/)
for d in glob.glob(os.path.join(root, "tests/fuzz/seeds/*")):
    for f in glob.glob(os.path.join(d, "*")):
        dst = os.path.join(out, os.path.basename(d))
        os.makedirs(dst, exist_ok=True)
        shutil.copy(f, os.path.join(dst, "kept_" + os.path.basename(f)))
PY

status=0
for t in $TARGETS; do
	corpus="$BUILD/fuzz-corpus/$t"
	artifacts="$BUILD/fuzz-artifacts/$t/"
	mkdir -p "$corpus" "$artifacts"
	echo "fuzz_$t: ${SECONDS_PER_TARGET}s, corpus $corpus"
	# with -jobs, libFuzzer writes one fuzz-<n>.log per job in the
	# current directory: run from the build directory
	parallel=""
	[ "$JOBS" -gt 1 ] && parallel="-jobs=$JOBS -workers=$JOBS"
	# shellcheck disable=SC2086 # $parallel is empty or two words
	if ! (cd "$BUILD" && "./tests/fuzz/fuzz_$t" \
		-max_total_time="$SECONDS_PER_TARGET" \
		-artifact_prefix="$artifacts" -print_final_stats=1 \
		-max_len=4096 $parallel "$corpus" 2>"$BUILD/fuzz-$t.log"); then
		echo "fuzz_$t: FAILED, see $BUILD/fuzz-$t.log and $artifacts"
		status=1
	else
		grep -E "stat::number_of_executed_units|cov:" \
			"$BUILD/fuzz-$t.log" | tail -2
	fi
done
exit $status
