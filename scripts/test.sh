#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
# Installs what is missing, checks format and dataplane purity, builds,
# runs the unit tests, the sanitizer runs of the cache, a short fuzz run of
# each parser and the system tests.
# Needs root (DPDK vdevs, knotd on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

step() { printf '\n=== %s ===\n' "$*"; }

# What the README's demo must print: the answers of its kdig queries, the
# ping through the exception path, dnsperf's qps line with (almost) every
# query completed, and levee's counters.
check_demo() {
    local log=$1 bad=0
    expect() {
        grep -Eq "$1" "$log" || { echo "demo: no line matching /$1/ ($2)" >&2; bad=1; }
    }
    expect '^www\.demo\.example\.\s+3600\s+IN\s+CNAME\s+demo\.example\.$' "CNAME"
    expect '^demo\.example\.\s+3600\s+IN\s+A\s+192\.0\.2\.10$' "A over IPv4"
    expect '^demo\.example\.\s+3600\s+IN\s+AAAA\s+2001:db8::10$' "AAAA over IPv6"
    expect '^demo\.example\.\s+3600\s+IN\s+MX\s+10 mail\.demo\.example\.$' "MX"
    expect '^mail\.demo\.example\.\s+3600\s+IN\s+A\s+192\.0\.2\.25$' "MX additional"
    expect 'status: NXDOMAIN' "NXDOMAIN"
    expect '^demo\.example\.\s+300\s+IN\s+SOA\s' "SOA of the NXDOMAIN"
    expect ' 0% packet loss' "ping"
    expect '^\s+Queries per second:\s+[1-9][0-9]*\.' "qps line"
    for c in rx tx queries cache_hits cache_misses rcode_noerror rcode_nxdomain; do
        expect "^$c [1-9][0-9]*$" "counter $c"
    done
    awk '/Queries sent:/ { s = $3 } /Queries completed:/ { c = $3 }
        END { if (s < 1000 || c < 0.99 * s) {
            print "demo: dnsperf completed " c " of " s " queries" > "/dev/stderr"; exit 1 } }' \
        "$log" || bad=1
    return "$bad"
}

step "dependencies"
scripts/install-deps.sh

step "format"
scripts/check-format.sh

step "dataplane purity"
scripts/check-dataplane.sh

step "build"
# the unit tests are required: a missing cmocka fails the configure instead
# of building (and running) zero tests; an older build dir is switched too
if [ -f build/build.ninja ]; then
    meson configure build -Dtests=enabled
fi
scripts/build.sh

step "unit tests"
meson test -C build --suite unit --print-errorlogs

step "cache under AddressSanitizer and ThreadSanitizer"
tests/run-sanitizers.sh

step "fuzz smoke (libFuzzer, 20 s per target)"
tests/fuzz/run.sh 20

step "system tests"
LEVEE="$PWD/build/control/levee" tests/system/run.sh --require

step "README demo, short (LEVEE_DEMO_SECONDS=1)"
demo_log=$(mktemp /tmp/levee-demo-log.XXXXXX)
LEVEE_DEMO_SECONDS=1 scripts/demo.sh 2>&1 | tee "$demo_log"
check_demo "$demo_log"
rm -f "$demo_log"
echo "demo: answers, ping, qps and counters as expected"

step "all tests passed"
