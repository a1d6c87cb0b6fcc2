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

step "all tests passed"
