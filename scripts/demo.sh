#!/usr/bin/env bash
# The main job: install the dependencies, build, then run levee live on a
# veth pair — levee on AF_PACKET on one end, a client namespace on the other
# — serving the bundled zone; kdig queries and a short dnsperf run from the
# namespace; the answers, the qps and levee's counters are printed. Every
# interface and namespace it creates is removed again, also on failure.
# Needs root. scripts/demo-replay.sh is the capture-replay demo of part 1.
#
# LEVEE_DEMO_SECONDS=N makes the dnsperf run N seconds (default 5);
# scripts/test.sh runs the demo with 1 and checks what it prints. The
# script exits non-zero if levee does not serve, or does not exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

scripts/install-deps.sh
scripts/build.sh

seconds=${LEVEE_DEMO_SECONDS:-5}
case "$seconds" in
''|*[!0-9]*|0) echo "demo: LEVEE_DEMO_SECONDS=$seconds: expected whole seconds > 0" >&2; exit 2 ;;
esac
NS=lvdemo
PORT=lvdemo0   # levee's end, in this namespace, no address of its own
PEER=lvdemo1   # the client's end, in namespace $NS
work=$(mktemp -d /tmp/levee-demo.XXXXXX)
levee_pid=""

cleanup() {
    if [ -n "$levee_pid" ] && kill -0 "$levee_pid" 2>/dev/null; then
        kill -TERM "$levee_pid"
        wait "$levee_pid" || true
    fi
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$PORT" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== a namespace and a veth pair (10.53.0.0/24, fd53::/64)"
ip netns add "$NS"
ip link add "$PORT" type veth peer name "$PEER"
ip link set "$PEER" netns "$NS"
ip link set "$PORT" up
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link set "$PEER" up
ip netns exec "$NS" ip addr add 10.53.0.2/24 dev "$PEER"
ip netns exec "$NS" ip addr add fd53::2/64 dev "$PEER" nodad
# a veth leaves checksums for the receiver to finish; a raw reader (levee)
# sees them unfinished, so the client's end computes them itself
ip netns exec "$NS" ethtool -K "$PEER" tx off >/dev/null

echo "== levee --iface af_packet:$PORT --address 10.53.0.1/24 --address fd53::1/64 --zone demo.example.=tests/data/demo.zone"
build/control/levee --iface "af_packet:$PORT" --address 10.53.0.1/24 \
    --address fd53::1/64 --zone demo.example.=tests/data/demo.zone \
    >"$work/levee.out" 2>"$work/levee.err" &
levee_pid=$!
serving=""
for _ in $(seq 1 50); do
    if ip netns exec "$NS" kdig @10.53.0.1 demo.example. SOA +retry=0 \
        +timeout=1 +short >/dev/null 2>&1; then
        serving=1
        break
    fi
    kill -0 "$levee_pid" 2>/dev/null || { cat "$work/levee.err"; exit 1; }
    sleep 0.2
done
if [ -z "$serving" ]; then
    echo "demo: levee did not answer within 50 probes" >&2
    cat "$work/levee.err" >&2
    exit 1
fi

q() { echo "\$ kdig $*"; ip netns exec "$NS" kdig +retry=0 +timeout=2 "$@"; }
echo
q @10.53.0.1 www.demo.example. A +noall +answer
q @fd53::1 WWW.Demo.Example. AAAA +noall +answer
q @10.53.0.1 demo.example. MX +dnssec +noall +answer +additional
q @10.53.0.1 missing.demo.example. A | grep -E "status|SOA"
echo "\$ ping 10.53.0.1 (through the kernel, via the exception path)"
ip netns exec "$NS" ping -c 2 -W 1 10.53.0.1 | tail -2

echo
echo "== dnsperf from the namespace: $seconds s at up to 20000 queries/s"
grep -v '^#' tests/data/demo-queries.txt | awk 'NF >= 2 { print $1, $2 }' \
    >"$work/dnsperf.txt"
ip netns exec "$NS" dnsperf -s 10.53.0.1 -d "$work/dnsperf.txt" -l "$seconds" \
    -Q 20000 -c 4 2>&1 | grep -E "Queries (sent|completed|lost)|Queries per second|Average Latency"

echo
echo "== levee's counters (SIGTERM)"
kill -TERM "$levee_pid"
rc=0
wait "$levee_pid" || rc=$?
levee_pid=""
if [ "$rc" -ne 0 ]; then
    echo "demo: levee exited with $rc" >&2
    cat "$work/levee.err" >&2
    exit 1
fi
grep -E '^(rx|tx|queries|cache_hits|cache_misses|to_kernel|from_kernel|local_queries|drop_|rcode_)' "$work/levee.out"
