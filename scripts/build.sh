#!/usr/bin/env bash
# Configure (once) and build levee into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
    meson setup build --buildtype=debugoptimized -Dtests=enabled
fi
ninja -C build
