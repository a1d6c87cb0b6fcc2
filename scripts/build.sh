#!/usr/bin/env bash
# Configure and build levee into ./build as an optimised release build:
# meson buildtype=release (-O3, no debug information; assert() stays on,
# b_ndebug=false, see docs/performance.md "Build type"), unit tests
# required. A ./build that is configured otherwise (an older default, or
# by hand) is switched to release with `meson configure`, its other
# options kept.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
    meson setup build --buildtype=release -Dtests=enabled
else
    current=$(meson introspect build --buildoptions |
        /usr/bin/python3 -c 'import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))')
    if [ "$current" != release ]; then
        echo "build.sh: ./build is configured as $current; reconfiguring it as release" >&2
        meson configure build -Dbuildtype=release
    fi
fi
ninja -C build
