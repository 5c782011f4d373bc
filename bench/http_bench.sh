#!/usr/bin/env bash
# Side-by-side HTTP benchmark, one run, loopback only:
#   hello_server (the HTTP ceiling), meshkv single node with storage sync none and
#   sync always, and etcd single node (through the shared peer benchmark's etcd.sh).
# Workload: PUT and GET of VALSIZE-byte values over KEYSPACE keys, wrk -t$THREADS
# -c$CONNS -d${DUR}s --latency, RUNS runs each (medians); keys are written before
# any GET. Prints one summary table with the meshkv/etcd and meshkv-get/hello ratios.
#
# Environment: RUNS (3) DUR (15) CONNS (50) THREADS (2 wrk threads) KEYSPACE (10000)
#   VALSIZE (100) SKIP_ETCD=1 SKIP_HELLO=1 SKIP_MESHKV=1 SYNC_MODES ("none always")
#   BENCH_MESHKV_BIN (build/meshkv) HELLO_BIN (build/bench/hello_server) BENCH_MESHKV_THREADS
#   (server io threads; default: the server's own, one per core) HELLO_THREADS (nproc)
#   BENCH_MESHKV_PORT (17370) HELLO_PORT (17371) PEER_BENCH (/work/shared/peer-bench) KEEP_DATA=1
# Raw outputs: $TMPDIR/meshkv-bench-results/<timestamp>/; data dirs: $TMPDIR/meshkv-bench-run/.
# Stops every process it started (by PID; etcd.sh runs in its own process group) at exit,
# also on Ctrl-C or failure.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PEER_BENCH="${PEER_BENCH:-/work/shared/peer-bench}"
RUN_ROOT="${RUN_ROOT:-${TMPDIR:-/tmp}/meshkv-bench-run}"
# shellcheck source=/work/shared/peer-bench/lib.sh
source "$PEER_BENCH/lib.sh" || { echo "http_bench: cannot source $PEER_BENCH/lib.sh" >&2; exit 1; }

DUR="${DUR:-15}"; CONNS="${CONNS:-50}"; THREADS="${THREADS:-2}"
export KEYSPACE="${KEYSPACE:-10000}" VALSIZE="${VALSIZE:-100}"
export LUA_DIR="$HERE/lua" PEER_LUA_DIR="$PEER_BENCH/lua"
SYNC_MODES="${SYNC_MODES:-none always}"
BENCH_MESHKV_BIN="${BENCH_MESHKV_BIN:-$REPO/build/meshkv}"
HELLO_BIN="${HELLO_BIN:-$REPO/build/bench/hello_server}"
BENCH_MESHKV_PORT="${BENCH_MESHKV_PORT:-17370}"; HELLO_PORT="${HELLO_PORT:-17371}"
BENCH_MESHKV_THREADS="${BENCH_MESHKV_THREADS:-}"; HELLO_THREADS="${HELLO_THREADS:-$(nproc)}"
OUT="${TMPDIR:-/tmp}/meshkv-bench-results/$(ts)"
mkdir -p "$OUT" "$RUN_ROOT"
PROBLEMS=()   # anything odd seen during the run, printed at the end

# ---- cleanup: wrk, the servers (lib.sh's STARTED_PIDS), the etcd.sh process group, data dirs
WRK_PID=""; ETCD_PGID=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$WRK_PID" ] && kill -TERM "$WRK_PID" 2>/dev/null
  if [ -n "$ETCD_PGID" ] && kill -0 -- "-$ETCD_PGID" 2>/dev/null; then
    log "stopping etcd.sh (process group $ETCD_PGID) and its children"
    # wrk runs under timeout(1), which moves itself to its own process group
    kill -TERM $(pid_tree "$ETCD_PGID") 2>/dev/null
    kill -TERM -- "-$ETCD_PGID" 2>/dev/null
    local i; for i in $(seq 1 150); do kill -0 -- "-$ETCD_PGID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$ETCD_PGID" 2>/dev/null
  fi
  cleanup_all
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need() { command -v "$1" >/dev/null 2>&1 || { echo "http_bench: $1 not found (make bench installs it)" >&2; exit 1; }; }
need wrk; need jq; need curl
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- results: one "k=v ..." line per run in $OUT/<label>.runs; medians into R_* below
declare -A R_RPS R_P50 R_P99 R_NOTE
run_wrk() { # usage: run_wrk LABEL SCRIPT URL SERVER_PID
  local label="$1" script="$2" url="$3" spid="$4" r f b a t0 t1 w j
  : >"$OUT/$label.runs"
  for r in $(seq 1 "$RUNS"); do
    f="$OUT/$label-run$r.txt"
    b=$(cpu_ticks $(pid_tree "$spid")); t0=$(now_s)
    TIMEFORMAT='%U %S'
    { time {
        timeout $((DUR + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency \
          -s "$HERE/lua/$script" "$url" >"$f" 2>&1 &
        WRK_PID=$!; wait "$WRK_PID"; } ; } 2>"$f.time"
    WRK_PID=""
    t1=$(now_s); a=$(cpu_ticks $(pid_tree "$spid")); w=$(elapsed "$t0" "$t1")
    if ! kill -0 "$spid" 2>/dev/null; then
      PROBLEMS+=("$label run $r: server pid $spid died during the run (log: $OUT/*.log)")
      log "server pid $spid died during $label run $r"
    fi
    j=$(sed -n 's/^WRKJSON //p' "$f")
    if [ -z "$j" ]; then PROBLEMS+=("$label run $r: wrk printed no summary, see $f"); continue; fi
    echo "$j" | jq -r --arg sc "$(cores_used $((a - b)) "$w")" \
      --arg wc "$(tail -1 "$f.time" | awk -v w="$w" '{printf "%.2f", ($1+$2)/w}')" \
      '"rps=\(.rps) p50=\(.p50_ms) p90=\(.p90_ms) p99=\(.p99_ms) p999=\(.p999_ms) max=\(.max_ms) errors=\(.errors) non2xx=\(.non2xx) timeouts=\(.timeouts) server_cores=\($sc) wrk_cores=\($wc) us_per_op=\(if .rps > 0 then (($sc|tonumber) / .rps * 1e6 * 100 | round) / 100 else "n/a" end)"' \
      >>"$OUT/$label.runs"
    local errs; errs=$(tail -1 "$OUT/$label.runs" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')
    [ "${errs:-0}" != 0 ] && PROBLEMS+=("$label run $r: wrk counted $errs errors ($(tail -1 "$OUT/$label.runs" | grep -o 'non2xx=[0-9]* timeouts=[0-9]*')); see $f")
  done
  summarize "$label"
}
summarize() { # usage: summarize LABEL  (medians of $OUT/LABEL.runs -> line on stdout + R_*)
  local label="$1" runs="$OUT/$1.runs"
  m() { median $(sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$runs"); }
  R_RPS[$label]=$(m rps); R_P50[$label]=$(m p50); R_P99[$label]=$(m p99)
  R_NOTE[$label]="cores=$(m server_cores) us/op=$(m us_per_op) err=$(m errors)"
  echo "$label: rps=$(m rps) [$(spread $(sed -n 's/.*\brps=\([^ ]*\).*/\1/p' "$runs"))] p50=$(m p50)ms p90=$(m p90)ms p99=$(m p99)ms p99.9=$(m p999)ms max=$(m max)ms errors=$(m errors) non2xx=$(m non2xx) server_cores=$(m server_cores) wrk_cores=$(m wrk_cores) server_cpu_us/op=$(m us_per_op) (median of $(wc -l <"$runs"))" |
    tee -a "$OUT/summary.txt"
}

# ---- hello_server
bench_hello() {
  [ -x "$HELLO_BIN" ] || { PROBLEMS+=("hello_server not built ($HELLO_BIN): cmake --build build --target hello_server"); return; }
  port_free "$HELLO_PORT" || { PROBLEMS+=("port $HELLO_PORT busy: hello skipped (set HELLO_PORT)"); return; }
  start_bg "$OUT/hello.log" "$HELLO_BIN" "$HELLO_PORT" "$HELLO_THREADS"
  local pid=$LAST_PID
  wait_tcp 127.0.0.1 "$HELLO_PORT" 10 || { PROBLEMS+=("hello_server did not start: $(tail -3 "$OUT/hello.log")"); stop_started; return; }
  TOKEN=unused run_wrk hello meshkv-get.lua "http://127.0.0.1:$HELLO_PORT" "$pid"
  stop_started
}

# ---- meshkv
status_field() { jq -r "$1 // \"n/a\"" "$2" 2>/dev/null || echo n/a; }
preload() { # usage: preload URL TOKEN ; writes every key through POST /v1/kv/batch
  local url="$1" token="$2" start end code value
  value=$(head -c "$VALSIZE" /dev/zero | tr '\0' v | base64 -w0)
  for ((start = 0; start < KEYSPACE; start += 1000)); do
    end=$((start + 1000 < KEYSPACE ? start + 1000 : KEYSPACE))
    awk -v s="$start" -v e="$end" -v v="$value" 'BEGIN{ printf "{\"ops\":[";
      for (i = s; i < e; i++) printf "%s{\"op\":\"put\",\"key\":\"bench/%08d\",\"value\":\"%s\"}", (i > s ? "," : ""), i, v;
      printf "]}" }' >"$OUT/preload-body.json"
    code=$(curl -s -o "$OUT/preload-response.json" -w '%{http_code}' -X POST \
      -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      --data-binary @"$OUT/preload-body.json" "$url/v1/kv/batch")
    if [ "$code" != 200 ]; then
      PROBLEMS+=("preload: POST /v1/kv/batch -> HTTP $code: $(head -c 300 "$OUT/preload-response.json")")
      return 1
    fi
  done
  rm -f "$OUT/preload-body.json"
  local last; last=$(printf 'bench/%08d' $((KEYSPACE - 1)))
  local got; got=$(curl -s -H "Authorization: Bearer $token" "$url/v1/kv/$last" | wc -c)
  [ "$got" = "$VALSIZE" ] || { PROBLEMS+=("preload: GET $last returned $got bytes, expected $VALSIZE"); return 1; }
  log "preloaded $KEYSPACE keys"
}
bench_meshkv() { # usage: bench_meshkv SYNC_MODE
  local sync="$1" url="http://127.0.0.1:$BENCH_MESHKV_PORT" d token="" pid i
  port_free "$BENCH_MESHKV_PORT" || { PROBLEMS+=("port $BENCH_MESHKV_PORT busy: meshkv sync=$sync skipped (set BENCH_MESHKV_PORT)"); return; }
  d="$RUN_ROOT/meshkv-$sync-$$"; rm -rf "$d"; mkdir -p "$d"; clean_dir "$d"
  local args=(serve --data-dir "$d" --listen "127.0.0.1:$BENCH_MESHKV_PORT" --sync "$sync" --log-level warn)
  [ -n "$BENCH_MESHKV_THREADS" ] && args+=(--threads "$BENCH_MESHKV_THREADS")
  echo "$BENCH_MESHKV_BIN ${args[*]}" >>"$OUT/commands.txt"
  # meshkv reads MESHKV_<SECTION>_<KEY> variables as config (and refuses unknown ones):
  # start it without any, so the caller's environment cannot change what is measured
  local unset_env=() var
  for var in $(compgen -e); do [[ $var == MESHKV_* ]] && unset_env+=(-u "$var"); done
  start_bg "$OUT/meshkv-sync-$sync.log" env "${unset_env[@]}" "$BENCH_MESHKV_BIN" "${args[@]}"; pid=$LAST_PID
  ready() { # /ready needs the read scope: wait for the generated admin token first
    [ -s "$d/admin.token" ] || return 1
    token=$(tr -d ' \r\n' <"$d/admin.token")
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url/ready")" = 200 ]
  }
  for i in $(seq 1 300); do ready && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if ! ready; then
    PROBLEMS+=("meshkv sync=$sync did not become ready in 30 s; /ready: $(curl -s -H "Authorization: Bearer ${token:-}" "$url/ready" | head -c 200); log tail: $(tail -5 "$OUT/meshkv-sync-$sync.log" | tr '\n' ' ')")
    stop_started; return
  fi
  export TOKEN="$token"
  curl -s -H "Authorization: Bearer $token" "$url/v1/cluster/status" >"$OUT/meshkv-$sync-status-before.json"
  log "meshkv sync=$sync: storage.sync=$(status_field .storage.sync "$OUT/meshkv-$sync-status-before.json") engine=$(status_field .storage.engine "$OUT/meshkv-$sync-status-before.json")"

  run_wrk "meshkv-put(sync=$sync)" meshkv-put.lua "$url" "$pid"
  curl -s -H "Authorization: Bearer $token" "$url/v1/cluster/status" >"$OUT/meshkv-$sync-status-after-put.json"
  local s0="$OUT/meshkv-$sync-status-before.json" s1="$OUT/meshkv-$sync-status-after-put.json"
  jq -rn --slurpfile a "$s0" --slurpfile b "$s1" --arg l "meshkv-put(sync=$sync)" '
    ($b[0].storage.writes_applied - $a[0].storage.writes_applied) as $w |
    ($b[0].storage.write_batches - $a[0].storage.write_batches) as $bt |
    ($b[0].storage.synced_batches - $a[0].storage.synced_batches) as $s |
    "\($l) storage over all runs: writes=\($w) batches=\($bt) synced_batches=\($s) writes/batch=\(if $bt > 0 then ($w / $bt * 100 | round) / 100 else "n/a" end)"' \
    2>/dev/null | tee -a "$OUT/summary.txt"

  if [ "$sync" = "${SYNC_MODES%% *}" ]; then   # GET once, on the first sync mode's node
    if preload "$url" "$token"; then
      run_wrk meshkv-get meshkv-get.lua "$url" "$pid"
    fi
  fi
  curl -s -H "Authorization: Bearer $token" "$url/metrics" >"$OUT/meshkv-$sync-metrics.txt"
  local odd; odd=$(grep '^meshkv_http_requests_total' "$OUT/meshkv-$sync-metrics.txt" | grep -v 'code="200"' | grep -v ' 0$' | paste -sd' ' -)
  [ -n "$odd" ] && PROBLEMS+=("meshkv sync=$sync non-200 responses: $odd")
  if ! kill -0 "$pid" 2>/dev/null; then
    PROBLEMS+=("meshkv sync=$sync exited during the run; log tail: $(tail -5 "$OUT/meshkv-sync-$sync.log" | tr '\n' ' ')")
  fi
  stop_started
  grep -iE 'error|critical|fatal' "$OUT/meshkv-sync-$sync.log" | head -5 | while read -r line; do echo "meshkv sync=$sync log: $line"; done >>"$OUT/log-errors.txt"
}

# ---- etcd, via the peer benchmark's own script (its summary lines are parsed)
field() { echo "$1" | tr ' ' '\n' | awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }'; }
bench_etcd() {
  [ -x "$PEER_BENCH/etcd.sh" ] || { PROBLEMS+=("$PEER_BENCH/etcd.sh missing: etcd skipped"); return; }
  command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
    { PROBLEMS+=("etcd/etcdctl not installed: etcd skipped (make bench installs them)"); return; }
  port_free 2379 && port_free 2380 || { PROBLEMS+=("etcd ports 2379/2380 busy: etcd skipped"); return; }
  echo "MODE=single TESTS=\"put range-serializable\" CHECKPERF= CLI=0 RUNS=$RUNS DUR=$DUR CONNS=$CONNS THREADS=$THREADS KEYSPACE=$KEYSPACE VALSIZE=$VALSIZE RESULTS_ROOT=$OUT/etcd $PEER_BENCH/etcd.sh" >>"$OUT/commands.txt"
  MODE=single TESTS="put range-serializable" CHECKPERF= CLI=0 RUNS="$RUNS" DUR="$DUR" \
    CONNS="$CONNS" THREADS="$THREADS" RESULTS_ROOT="$OUT/etcd" \
    setsid "$PEER_BENCH/etcd.sh" >"$OUT/etcd-stdout.txt" 2>"$OUT/etcd-stderr.txt" &
  ETCD_PGID=$!
  wait "$ETCD_PGID" || PROBLEMS+=("etcd.sh exited with $?; see $OUT/etcd-stderr.txt")
  ETCD_PGID=""
  local test label line
  for test in put range-serializable; do
    label="etcd-$test"; [ "$test" = range-serializable ] && label="etcd-get(serializable)"
    line=$(grep "^etcd-single $test:" "$OUT/etcd-stdout.txt" | head -1)
    if [ -z "$line" ]; then PROBLEMS+=("etcd $test: no summary line in $OUT/etcd-stdout.txt"); continue; fi
    R_RPS[$label]=$(field "$line" rps); R_P50[$label]=$(field "$line" p50 | sed 's/ms$//')
    R_P99[$label]=$(field "$line" p99 | sed 's/ms$//')
    R_NOTE[$label]="cores=$(field "$line" server_cores) us/op=$(field "$line" server_cpu_us/op) err=$(field "$line" errors)"
    echo "$label: ${line#etcd-single $test: }" | tee -a "$OUT/summary.txt"
    [ "$(field "$line" errors)" != 0 ] && PROBLEMS+=("etcd $test: errors=$(field "$line" errors)")
  done
  line=$(grep -h "keys under bench" "$OUT/etcd-stdout.txt" | tee -a "$OUT/summary.txt")
  # etcd.sh's put run is what writes etcd's keys before its range run
  [ -n "$line" ] && [ "${line##* }" != "$KEYSPACE" ] && PROBLEMS+=("etcd: only ${line##* } of $KEYSPACE keys written before the range run (put run too short?)")
}

# ---- run
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# $(machine_info)"
  echo "# load average before: $load_before"
  echo "# meshkv $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk",$2}'), etcd $(etcd --version 2>/dev/null | awk '/etcd Version/{print $3}')"
  echo "# wrk -t$THREADS -c$CONNS -d${DUR}s --latency; keyspace=$KEYSPACE valsize=$VALSIZE runs=$RUNS (medians); loopback; load generator and servers share the CPUs"
} | tee "$OUT/summary.txt"

[ "${SKIP_HELLO:-0}" = 1 ] || bench_hello
if [ "${SKIP_MESHKV:-0}" != 1 ]; then
  if [ -x "$BENCH_MESHKV_BIN" ]; then
    for sync in $SYNC_MODES; do bench_meshkv "$sync"; done
  else
    PROBLEMS+=("meshkv binary $BENCH_MESHKV_BIN missing: build it (make build) or set BENCH_MESHKV_BIN")
  fi
fi
[ "${SKIP_ETCD:-0}" = 1 ] || bench_etcd
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- summary table
ratio() { awk -v a="${1:-}" -v b="${2:-}" -v u="${3-x}" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f%s", a/b, u; else printf "n/a" }'; }
{
  echo
  printf '%-24s %10s %9s %9s   %s\n' test rps p50_ms p99_ms "server (cores, cpu us/op, errors)"
  for label in "meshkv-put(sync=none)" "meshkv-put(sync=always)" etcd-put meshkv-get "etcd-get(serializable)" hello; do
    printf '%-24s %10s %9s %9s   %s\n' "$label" "${R_RPS[$label]:-n/a}" "${R_P50[$label]:-n/a}" "${R_P99[$label]:-n/a}" "${R_NOTE[$label]:-}"
  done
  echo
  echo "put rps  meshkv(sync=none)/etcd   = $(ratio "${R_RPS[meshkv-put(sync=none)]:-}" "${R_RPS[etcd-put]:-}")   (aim >= 5x)"
  echo "put rps  meshkv(sync=always)/etcd = $(ratio "${R_RPS[meshkv-put(sync=always)]:-}" "${R_RPS[etcd-put]:-}")   (aim >= 5x; etcd fsyncs every write)"
  echo "put p99  etcd/meshkv(sync=none)   = $(ratio "${R_P99[etcd-put]:-}" "${R_P99[meshkv-put(sync=none)]:-}")  etcd/meshkv(sync=always) = $(ratio "${R_P99[etcd-put]:-}" "${R_P99[meshkv-put(sync=always)]:-}")   (aim > 1: meshkv p99 lower)"
  echo "get rps  meshkv/etcd(serializable) = $(ratio "${R_RPS[meshkv-get]:-}" "${R_RPS[etcd-get(serializable)]:-}")   (aim >= 5x)"
  echo "get p99  etcd/meshkv              = $(ratio "${R_P99[etcd-get(serializable)]:-}" "${R_P99[meshkv-get]:-}")   (aim > 1)"
  echo "get rps  meshkv/hello             = $(ratio "${R_RPS[meshkv-get]:-}" "${R_RPS[hello]:-}" "")   (aim >= 0.70)"
  echo "load average before: $load_before  after: $load_after"
  if [ ${#PROBLEMS[@]} -gt 0 ]; then
    echo; echo "problems seen:"; printf '  - %s\n' "${PROBLEMS[@]}"
  fi
  [ -s "$OUT/log-errors.txt" ] && { echo; echo "server log lines with error/critical/fatal:"; sed 's/^/  /' "$OUT/log-errors.txt"; }
  echo "raw results: $OUT"
} | tee -a "$OUT/summary.txt"
