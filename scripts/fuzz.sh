#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang and runs each for a
# bounded time on a temporary copy of its seed corpus. Exits non-zero when any
# target crashes, and says which and where the crashing input is.
#
# Environment:
#   FUZZ_SECONDS  seconds per target (default 20)
#   FUZZ_TARGETS  space-separated subset, e.g. "fuzz_batch fuzz_duration"
#                 (default: every tests/fuzz/fuzz_*.cc)
#   FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   JOBS          parallel compile jobs (default 2)
#
# The build is a separate clang configuration: the meshkv libraries are
# compiled with -fsanitize=fuzzer-no-link,address,undefined (coverage plus
# ASan/UBSan, UBSan fatal) and the targets link libFuzzer. Only `fuzz_all`
# (the targets and the libraries they need) is built.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
BUILD_DIR="${FUZZ_BUILD_DIR:-build-fuzz}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac  # absolute from here on
JOBS="${JOBS:-2}"
FUZZ_DIR="$ROOT/tests/fuzz"

all_targets=()
for source in "$FUZZ_DIR"/fuzz_*.cc; do
  all_targets+=("$(basename "$source" .cc)")
done
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
  for target in "${targets[@]}"; do
    if [[ ! -f "$FUZZ_DIR/$target.cc" ]]; then
      echo "fuzz.sh: unknown target '$target'; known: ${all_targets[*]}" >&2
      exit 2
    fi
  done
else
  targets=("${all_targets[@]}")
fi

for tool in clang++ ninja; do
  if ! command -v "$tool" >/dev/null; then
    echo "fuzz.sh: $tool not found; run scripts/setup.sh (make setup)" >&2
    exit 2
  fi
done

sanitize="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

echo "== fuzz: configure $BUILD_DIR (clang, Release -g, sanitizers)"
cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_CXX_FLAGS=-g $sanitize" \
  "${launcher[@]}" \
  -DMESHKV_FUZZ=ON -DMESHKV_BUILD_TESTS=OFF -DMESHKV_BUILD_BENCH=OFF >/dev/null

echo "== fuzz: build ${targets[*]}"
cmake --build "$BUILD_DIR" --target "${targets[@]}" -j "$JOBS"

work="$(mktemp -d "${TMPDIR:-/tmp}/meshkv-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
artifacts_root="$BUILD_DIR/fuzz-artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
for target in "${targets[@]}"; do
  corpus="$work/$target/corpus"
  artifacts="$artifacts_root/$target"
  mkdir -p "$corpus" "$artifacts"
  if [[ -d "$FUZZ_DIR/seeds/$target" ]]; then
    cp "$FUZZ_DIR/seeds/$target"/* "$corpus"/ 2>/dev/null || true
  fi
  args=(-max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10
        -artifact_prefix="$artifacts/" -print_final_stats=1)
  if [[ -f "$FUZZ_DIR/$target.dict" ]]; then args+=(-dict="$FUZZ_DIR/$target.dict"); fi
  log="$artifacts/last-run.log"
  echo "== fuzz: $target for ${FUZZ_SECONDS}s ($(find "$corpus" -type f | wc -l) seeds)"
  if "$BUILD_DIR/tests/fuzz/$target" "${args[@]}" "$corpus" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^Done ' "$log" | sed 's/^/   /' || true
  else
    failed+=("$target")
    echo "FAIL: $target crashed; log: $log" >&2
    grep -E 'ERROR: |FUZZ_CHECK failed|runtime error|^    #[0-9]+ ' "$log" | head -40 >&2 || true
    while IFS= read -r input; do
      echo "  crash input: $input" >&2
      echo "    hex: $(head -c 256 "$input" | od -An -tx1 | tr -d ' \n')" >&2
      echo "    reproduce: $BUILD_DIR/tests/fuzz/$target $input" >&2
    done < <(grep -oE "Test unit written to \S+" "$log" | sed 's/^Test unit written to //')
  fi
done

if ((${#failed[@]} > 0)); then
  echo "== fuzz: FAILED: ${failed[*]} (inputs under $artifacts_root/<target>/)" >&2
  exit 1
fi
echo "== fuzz: all ${#targets[@]} targets ran ${FUZZ_SECONDS}s without a crash"
