#!/bin/sh
# Run levee's system suite (pcap replay mode, knotd as the reference).
#
#   tests/system/run.sh [--require] [pytest args...]
#
# The binary: $LEVEE, else build/control/levee under the repository.
# Without it the tests that need it are skipped, unless --require (or
# LEVEE_REQUIRE=1) makes that a failure. Uses Debian's /usr/bin/python3
# (python3-pytest, python3-dnspython) and /usr/sbin/knotd.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ "${1:-}" = "--require" ]; then
	LEVEE_REQUIRE=1
	shift
fi
: "${LEVEE:=$repo/build/control/levee}"
LEVEE=$(realpath -m "$LEVEE")
export LEVEE LEVEE_REQUIRE="${LEVEE_REQUIRE:-0}"
if [ ! -x "$LEVEE" ]; then
	echo "run.sh: no levee binary at $LEVEE; build it (meson setup build && ninja -C build) or set LEVEE=" >&2
fi
for need in /usr/bin/python3 /usr/sbin/knotd; do
	[ -x "$need" ] || { echo "run.sh: $need missing" >&2; exit 2; }
done
cd "$here"
exec /usr/bin/python3 -m pytest -p no:cacheprovider -v "$@" .
