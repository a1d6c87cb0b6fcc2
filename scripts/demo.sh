#!/usr/bin/env bash
# The main job on an embedded default: install the dependencies, build, then
# replay a bundled query capture through levee against a bundled zone and
# print the answers and the stats.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

scripts/install-deps.sh
scripts/build.sh

work=$(mktemp -d /tmp/levee-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 tests/data/make-demo-capture.py tests/data/demo-queries.txt "$work/queries.pcap"

echo
echo "levee --iface pcap:queries.pcap,answers.pcap --zone demo.example.=tests/data/demo.zone"
build/control/levee --iface "pcap:$work/queries.pcap,$work/answers.pcap" \
    --zone demo.example.=tests/data/demo.zone
echo
echo "answers (tcpdump -r answers.pcap):"
tcpdump -nn -v -r "$work/answers.pcap" 2>/dev/null
