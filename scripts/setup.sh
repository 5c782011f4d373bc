#!/usr/bin/env bash
# Installs the Debian 12 packages meshkv needs to build, test and benchmark.
# Idempotent: only missing packages are installed. Runs apt-get as root or via sudo.
set -euo pipefail

PACKAGES=(
  # build
  build-essential g++ cmake ninja-build ccache pkg-config clang-format
  # libraries
  libboost1.81-dev libssl-dev libsodium-dev librocksdb-dev
  libprotobuf-dev protobuf-compiler libspdlog-dev libfmt-dev libcli11-dev
  libtomlplusplus-dev nlohmann-json3-dev libxxhash-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing (libFuzzer lives in clang's runtime)
  clang libclang-rt-14-dev
  # tests and tools
  python3 python3-pytest python3-requests python3-dnspython python3-redis
  curl jq dnsutils iproute2 iptables procps
  # DNS conformance test peer (tests/integration/test_dns_conformance.py)
  knot knot-dnsutils
)
if [ "${MESHKV_SETUP_BENCH:-0}" = 1 ]; then
  PACKAGES+=(wrk etcd-server etcd-client hyperfine nsd dnsperf)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
