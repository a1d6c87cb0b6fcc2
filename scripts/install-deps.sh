#!/usr/bin/env bash
# Install every Debian package levee needs to build, test and benchmark.
# Idempotent: runs apt-get only when something is missing. Needs root.
set -euo pipefail

packages=(
    build-essential meson ninja-build pkg-config
    libdpdk-dev dpdk-dev libldns-dev ldnsutils libssl-dev libyaml-dev libpcap-dev
    libcmocka-dev clang clang-format libclang-rt-14-dev valgrind
    python3-pytest python3-dnspython
    knot knot-dnsutils unbound dnsmasq-base dnsperf tcpdump iproute2 ethtool
    iputils-ping
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
