#!/usr/bin/env bash
# Part 1's demo (replay): install the dependencies, build, then
# replay a bundled query capture through levee against a bundled zone and
# print the answers and the stats.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

scripts/install-deps.sh
scripts/build.sh

work=$(mktemp -d /tmp/levee-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The bundled queries four times over: the replay reads bursts of 32 and
# answers a burst's misses before reading the next, so the first burst goes
# to the control plane and the later ones come from the cache.
for _ in 1 2 3 4; do cat tests/data/demo-queries.txt; done >"$work/queries.txt"
/usr/bin/python3 tests/data/make-demo-capture.py "$work/queries.txt" "$work/queries.pcap"

echo
echo "levee --iface pcap:queries.pcap,answers.pcap --zone demo.example.=tests/data/demo.zone"
build/control/levee --iface "pcap:$work/queries.pcap,$work/answers.pcap" \
    --zone demo.example.=tests/data/demo.zone
echo
echo "the first 12 answers (tcpdump -r answers.pcap):"
tcpdump -nn -v -c 12 -r "$work/answers.pcap" 2>/dev/null
