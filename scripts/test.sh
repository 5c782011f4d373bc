#!/usr/bin/env bash
# All tests: unit tests (ctest), the black-box suite against real processes
# (pytest with Debian's python3), and a bounded fuzz run of every target.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"

echo "== unit tests (ctest)"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$(nproc)" --timeout 300)

echo "== integration tests (pytest, real meshkv processes)"
MESHKV_BIN="$PWD/$BUILD_DIR/meshkv" /usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider

echo "== fuzz targets (bounded run)"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" bash scripts/fuzz.sh
echo "== all tests passed"
