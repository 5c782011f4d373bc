#!/usr/bin/env bash
# Fixed-rate DNS latency, meshkv against Knot DNS, interleaved: both servers run at once, each
# with one worker pinned to CPU0, and dnsperf (pinned to CPU1) measures them in turns, so that
# machine noise falls on both alike instead of on whichever ran in a worse time window
# (bench/dns_bench.sh measures the servers minutes apart).
#
#   zone, queries: the peer benchmark's dns-gen.sh (example.test; 1000 A + 100 TXT names, shuffled)
#   meshkv: taskset -c 0 meshkv serve --threads 1, [dns] zones = ["example.test"], the zone loaded
#           with `meshkv zone import`;
#   knot:   taskset -c 0 knotd, udp-workers 1 (the configuration dns.sh writes);
#   both are first warmed up (WARMUP s at RATE each, not reported), then for round 1..ROUNDS:
#     taskset -c 1 dnsperf -s 127.0.0.1 -p PORT -d queries.txt -l DUR -c 8 -T 1 -q 100 -Q RATE -v
#   against each server, meshkv first in odd rounds and Knot first in even ones.
# Per run: p50/p90/p99/p99.9/max over the NOERROR answers' latencies (dnsperf -v), lost queries,
# server CPU per query. At the end: the median of each figure per server, the ratios
# meshkv/Knot of those medians, and the median of the per-round p99 ratios.
#
# Environment: ROUNDS (5) DUR (10) RATE (20000) WARMUP (2; 0 = none)
#   BENCH_MESHKV_BIN (build/meshkv) MESHKV_DNS_PORT (5303) MESHKV_HTTP_PORT (5304) KNOT_PORT (5301)
#   PEER_BENCH (/work/shared/peer-bench) KEEP_DATA=1 (keep the data dirs)
# Raw outputs: $TMPDIR/meshkv-bench-results/dns-latency-<timestamp>/ (dnsperf's reports without
# the per-query lines, server logs, configs, meshkv's DNS metrics); data dirs under
# $TMPDIR/meshkv-bench-run/. Every process it starts is stopped by PID at exit, also on Ctrl-C
# or failure, and the data dirs are deleted.
#
#   ROUNDS=1 DUR=3 bash bench/dns_latency.sh     # dry check (~30 s)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PEER_BENCH="${PEER_BENCH:-/work/shared/peer-bench}"
RUN_ROOT="${RUN_ROOT:-${TMPDIR:-/tmp}/meshkv-bench-run}"
# shellcheck source=/work/shared/peer-bench/lib.sh
source "$PEER_BENCH/lib.sh" || { echo "dns_latency: cannot source $PEER_BENCH/lib.sh" >&2; exit 1; }

ROUNDS="${ROUNDS:-5}"; DUR="${DUR:-10}"; RATE="${RATE:-20000}"; WARMUP="${WARMUP:-2}"
BENCH_MESHKV_BIN="${BENCH_MESHKV_BIN:-$REPO/build/meshkv}"
# (read here: every MESHKV_* variable is dropped from meshkv's environment below)
M_DNS_PORT="${MESHKV_DNS_PORT:-5303}"; M_HTTP_PORT="${MESHKV_HTTP_PORT:-5304}"
KNOT_PORT="${KNOT_PORT:-5301}"
DNSPERF_OPTS=(-c 8 -T 1 -q 100)
OUT="${TMPDIR:-/tmp}/meshkv-bench-results/dns-latency-$(ts)"
PROBLEMS=()

# ---- cleanup: dnsperf, then the servers (lib.sh's STARTED_PIDS) and the data dir (CLEAN_DIRS)
PERF_PID=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$PERF_PID" ] && kill -TERM "$PERF_PID" 2>/dev/null
  cleanup_all
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { echo "dns_latency: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found (apt-get install -y $2)"; }
export PATH="$PATH:/usr/sbin"
need dnsperf dnsperf; need dig bind9-dnsutils; need curl curl; need taskset util-linux
need knotd knot; need knotc knot
[ -x "$BENCH_MESHKV_BIN" ] || fail "meshkv binary $BENCH_MESHKV_BIN missing: cmake --build build --target meshkv"
[ "$(nproc)" -ge 2 ] || fail "needs 2 CPUs (servers on CPU0, dnsperf on CPU1)"
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && ! ss -Hlnu "sport = :$1" 2>/dev/null | grep -q .; }
for p in "$M_DNS_PORT" "$M_HTTP_PORT" "$KNOT_PORT"; do
  port_free "$p" || fail "port $p busy (set MESHKV_DNS_PORT / MESHKV_HTTP_PORT / KNOT_PORT)"
done

mkdir -p "$OUT" "$RUN_ROOT"
D="$RUN_ROOT/dns-latency-$$"; rm -rf "$D"; mkdir -p "$D/meshkv" "$D/knot/db"; clean_dir "$D"
"$PEER_BENCH/dns-gen.sh" "$D" >&2 || fail "dns-gen.sh failed"
ZONE="$D/example.test.zone"; QF="$D/queries.txt"
cp "$QF" "$OUT/queries.txt"

# Waits for host0001 A, then records answers to check that the server serves the zone in full.
# usage: sanity NAME PORT
sanity() {
  local name="$1" port="$2" i f="$OUT/$1-sanity.txt"
  for i in $(seq 1 100); do
    dig +time=1 +tries=1 @127.0.0.1 -p "$port" host0001.example.test A +short 2>/dev/null | grep -q '^10\.0\.0\.1$' && break
    sleep 0.1
  done
  { echo "A:   $(dig @127.0.0.1 -p "$port" host0999.example.test A +short)"
    echo "TXT: $(dig @127.0.0.1 -p "$port" txt099.example.test TXT +short)"
    echo "flags: $(dig @127.0.0.1 -p "$port" txt099.example.test TXT | grep -m1 'flags:')"; } >"$f"
  grep -q '^A:   10\.0\.3\.231$' "$f" || PROBLEMS+=("$name sanity: host0999 A is not 10.0.3.231: $(head -1 "$f")")
  grep -q 'flags: qr aa rd;' "$f" || PROBLEMS+=("$name sanity: unexpected flags for txt099 TXT: $(grep flags "$f")")
}

# ---- meshkv
M_TOKEN=""; M_URL="http://127.0.0.1:$M_HTTP_PORT"
start_meshkv() {
  local d="$D/meshkv" unset_env=() var i
  printf '[dns]\nzones = ["example.test"]\nlisten = "127.0.0.1:%s"\n' "$M_DNS_PORT" >"$d/meshkv.toml"
  cp "$d/meshkv.toml" "$OUT/meshkv.toml"
  for var in $(compgen -e); do [[ $var == MESHKV_* ]] && unset_env+=(-u "$var"); done
  local args=(serve --config "$d/meshkv.toml" --data-dir "$d/data" --listen "127.0.0.1:$M_HTTP_PORT"
              --threads 1 --log-level warn)
  echo "taskset -c 0 $BENCH_MESHKV_BIN ${args[*]}" >>"$OUT/commands.txt"
  start_bg "$OUT/meshkv.log" taskset -c 0 env "${unset_env[@]}" "$BENCH_MESHKV_BIN" "${args[@]}"
  M_PID=$LAST_PID
  ready() {
    [ -s "$d/data/admin.token" ] || return 1
    M_TOKEN=$(tr -d ' \r\n' <"$d/data/admin.token")
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $M_TOKEN" "$M_URL/ready")" = 200 ]
  }
  for i in $(seq 1 300); do ready && break; kill -0 "$M_PID" 2>/dev/null || break; sleep 0.1; done
  ready || fail "meshkv did not become ready in 30 s; log tail: $(tail -5 "$OUT/meshkv.log" | tr '\n' ' ')"
  echo "$BENCH_MESHKV_BIN zone import $ZONE --addr $M_URL --token-file $d/data/admin.token --timeout 60s" >>"$OUT/commands.txt"
  "$BENCH_MESHKV_BIN" zone import "$ZONE" --addr "$M_URL" --token-file "$d/data/admin.token" \
    --timeout 60s >"$OUT/zone-import.txt" 2>&1 || fail "meshkv zone import failed: $(head -c 300 "$OUT/zone-import.txt")"
  log "meshkv: $(cat "$OUT/zone-import.txt")"
  sanity meshkv "$M_DNS_PORT"
}

# ---- Knot, configured as the peer benchmark's dns.sh configures it (variant pin1: 1 worker)
start_knot() {
  local d="$D/knot"
  cat >"$d/knot.conf" <<KNOT
server:
    rundir: "$d"
    listen: 127.0.0.1@$KNOT_PORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$d/db"
template:
  - id: default
    storage: "$d"
    journal-content: none
    zonefile-sync: -1
    zonefile-load: whole
zone:
  - domain: example.test
    file: "$ZONE"
KNOT
  cp "$d/knot.conf" "$OUT/knot.conf"
  knotc -c "$d/knot.conf" conf-check >"$OUT/knot-conf-check.txt" 2>&1 ||
    fail "knot configuration rejected: $(head -c 300 "$OUT/knot-conf-check.txt")"
  echo "taskset -c 0 knotd -c $d/knot.conf" >>"$OUT/commands.txt"
  start_bg "$OUT/knot.log" taskset -c 0 knotd -c "$d/knot.conf"
  K_PID=$LAST_PID
  sanity knot "$KNOT_PORT"
  kill -0 "$K_PID" 2>/dev/null || fail "knotd exited; log tail: $(tail -5 "$OUT/knot.log" | tr '\n' ' ')"
}

# ---- one fixed-rate run. usage: measure NAME PORT PID SECONDS FILE_PREFIX   -> sets MEASURED to
#   "qps=.. lost=.. n=.. p50=..ms p90=..ms p99=..ms p99.9=..ms max=..ms other_rcodes=.. server_us_per_q=.. load1=.."
# (called in this shell, not in $(...), so that cleanup sees PERF_PID and PROBLEMS stay)
MEASURED=""
measure() {
  local name="$1" port="$2" pid="$3" seconds="$4" f="$5" before after load
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "taskset -c 1 dnsperf -s 127.0.0.1 -p $port -d $QF -l $seconds ${DNSPERF_OPTS[*]} -Q $RATE -v" >>"$OUT/commands.txt"
  before=$(cpu_ticks "$pid")
  timeout $((seconds + 20)) taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$QF" -l "$seconds" \
    "${DNSPERF_OPTS[@]}" -Q "$RATE" -v >"$f.v" 2>&1 & PERF_PID=$!
  wait "$PERF_PID"; PERF_PID=""
  after=$(cpu_ticks "$pid")
  kill -0 "$pid" 2>/dev/null || PROBLEMS+=("$name (pid $pid) died during $f; log: $OUT/$name.log")
  grep -v '^>' "$f.v" >"$f.txt"
  # "> NOERROR name type latency": the last field is the latency in seconds ("T": timed out,
  # "I": interrupted; both are counted in dnsperf's "Queries lost").
  local pct other
  pct=$(awk '$1 == ">" && $2 == "NOERROR" { print $NF * 1000 }' "$f.v" | sort -g |
        awk '{a[NR]=$1} END{ if(!NR){print "n=0"; exit}
             printf "n=%d p50=%.3fms p90=%.3fms p99=%.3fms p99.9=%.3fms max=%.3fms", NR,
               a[int(NR*.5)+1], a[int(NR*.9)+1], a[int(NR*.99)+1], a[int(NR*.999)+1], a[NR]}')
  other=$(awk '$1 == ">" && $2 != "NOERROR" && $2 != "T" && $2 != "I" { n++ } END { print n+0 }' "$f.v")
  rm -f "$f.v"
  [ "$other" = 0 ] || PROBLEMS+=("$name: $other answers other than NOERROR in $f.txt")
  MEASURED=$(awk -v pct="$pct" -v other="$other" -v ticks=$((after - before)) -v hz="$CLK_TCK" -v load="$load" '
      /Queries completed:/ { c=$3 } /Queries lost:/ { l=$3 } /Queries per second:/ { q=$4 }
      END { printf "qps=%.0f lost=%s %s other_rcodes=%s server_us_per_q=%s load1=%s\n", q, l, pct, other,
                   (c > 0 ? sprintf("%.2f", ticks / hz / c * 1e6) : "n/a"), load }' "$f.txt")
}

# ---- run
{
  echo "# $(machine_info)"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# meshkv $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty'), knot $(knotd --version 2>/dev/null | awk '{print $NF}'), $(dnsperf -h 2>&1 | awk '/^Version/{print "dnsperf", $2}')"
  echo "# both servers up at once, 1 worker each, pinned to CPU0; dnsperf ${DNSPERF_OPTS[*]} -Q $RATE -l $DUR pinned to CPU1;"
  echo "# rounds: $ROUNDS (meshkv first in odd rounds, knot first in even ones); warm-up: ${WARMUP}s each; latencies of NOERROR answers"
} | tee "$OUT/summary.txt"

start_meshkv
start_knot
sleep 1
if [ "$WARMUP" -gt 0 ]; then
  log "warm-up: ${WARMUP}s at $RATE qps each"
  measure meshkv "$M_DNS_PORT" "$M_PID" "$WARMUP" "$OUT/warmup-meshkv"
  measure knot "$KNOT_PORT" "$K_PID" "$WARMUP" "$OUT/warmup-knot"
fi

: >"$OUT/runs.txt"
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order=(meshkv knot); else order=(knot meshkv); fi
  for s in "${order[@]}"; do
    case "$s" in
      meshkv) measure meshkv "$M_DNS_PORT" "$M_PID" "$DUR" "$OUT/round$round-meshkv";;
      knot)   measure knot "$KNOT_PORT" "$K_PID" "$DUR" "$OUT/round$round-knot";;
    esac
    printf 'round %d %-6s %s\n' "$round" "$s" "$MEASURED" | tee -a "$OUT/runs.txt"
  done
done
kill -0 "$M_PID" 2>/dev/null || PROBLEMS+=("meshkv exited during the runs; log tail: $(tail -5 "$OUT/meshkv.log" | tr '\n' ' ')")
kill -0 "$K_PID" 2>/dev/null || PROBLEMS+=("knotd exited during the runs; log tail: $(tail -5 "$OUT/knot.log" | tr '\n' ' ')")
curl -s -H "Authorization: Bearer $M_TOKEN" "$M_URL/metrics" | grep '^meshkv_dns' >"$OUT/meshkv-metrics.txt"

# ---- summary: medians per server, ratios
values() { sed -n "s/^round [0-9]* $1 .*\b$2=\([0-9.]*\).*/\1/p" "$OUT/runs.txt"; }
med() { median $(values "$1" "$2"); }
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.3g", a/b; else printf "n/a" }'; }
FIELDS=(p50 p90 p99 p99.9 max qps lost server_us_per_q)
ROW='%-14s %8s %8s %8s %8s %8s %7s %6s %9s | %s\n'
{
  echo
  printf "$ROW" "median of $ROUNDS" p50_ms p90_ms p99_ms p99.9_ms max_ms qps lost cpu_us/q "p99 per round (ms)"
  declare -A M
  for s in meshkv knot; do
    row=()
    for k in "${FIELDS[@]}"; do M[$s.$k]=$(med "$s" "$k"); row+=("${M[$s.$k]}"); done
    printf "$ROW" "$s" "${row[@]}" "$(values "$s" p99 | tr '\n' ' ')"
  done
  row=()
  for k in "${FIELDS[@]}"; do row+=("$(ratio "${M[meshkv.$k]}" "${M[knot.$k]}")"); done
  printf "$ROW" "meshkv/knot" "${row[@]}" ""
  # each round's two runs are seconds apart: their ratio cancels most of the slow drift in noise
  paired=$(paste <(values meshkv p99) <(values knot p99) | awk '$1 > 0 && $2 > 0 { printf "%.3g\n", $1/$2 }')
  echo
  echo "p99 meshkv/knot per round: $(echo $paired)  median: $(median $paired)"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ ${#PROBLEMS[@]} -gt 0 ]; then
    echo; echo "problems seen:"; printf '  - %s\n' "${PROBLEMS[@]}"
  fi
  echo "raw results: $OUT"
} | tee -a "$OUT/summary.txt"
