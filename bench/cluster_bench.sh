#!/usr/bin/env bash
# 3-node meshkv cluster (RF 3, quorum) vs 3-member etcd, one run, loopback only.
#
#   meshkv: for each of SYNC_MODES ("none always") a fresh cluster made by
#     `meshkv cluster up -n 3 --detach --dir <tmp> --base-port <free> --preset lan --sync <mode>`
#     (CA, certs, gossip key, token, configs, three `meshkv serve` processes). Both modes
#     are started the same way. The namespace "default" has replicas = 3 and consistency = quorum, so every
#     PUT is acknowledged by 2 of 3 replicas and every GET reads 2 of 3.
#   etcd, two ways:
#     "spread": 3 members started here with exactly the flags of peer-bench's etcd.sh
#       (MODE=cluster: ports 12379/22379/32379), loaded like meshkv (spread over all
#       members, see below): put, then linearizable range (a quorum read: ReadIndex);
#     "leader": /work/shared/peer-bench/etcd.sh itself, MODE=cluster TARGET=leader
#       TESTS="put range" with the same THREADS/CONNS: all load on the leader, etcd's
#       favourable case (no follower->leader forwarding), as the peer benchmark measures it.
#
# Load: wrk -t$THREADS -c$CONNS -d${DUR}s --latency through lua/spread-nodes.lua, which
# points wrk thread i at node i mod 3 (with THREADS=3: each node gets CONNS/3 connections).
# PUT (meshkv: PUT /v1/kv/bench/<8 digits>, raw VALSIZE-byte body; etcd: POST /v3/kv/put,
# JSON + base64) cycles over KEYSPACE keys; GET (meshkv: GET /v1/kv/..., quorum; etcd:
# POST /v3/kv/range, linearizable) picks random keys, all written before.
# RUNS runs per load, medians. Server CPU from /proc/<pid>/stat over all nodes; per-thread
# CPU (by thread name) and one `top -H` snapshot per PUT label, to see the busy thread.
#
# Environment: RUNS (3) DUR (15) CONNS (48) THREADS (3) KEYSPACE (10000) VALSIZE (100)
#   SYNC_MODES ("none always") ETCD_MODES ("spread leader") SKIP_MESHKV=1 SKIP_GET=1
#   BENCH_MESHKV_BIN (build/meshkv; copy it first if someone may relink it)
#   BENCH_BASE_PORT (27300; the first free block of 3x10 ports from there is used)
#   PEER_BENCH (/work/shared/peer-bench) KEEP_DATA=1
# Raw outputs: $TMPDIR/meshkv-bench-results/cluster-<timestamp>/; data: $TMPDIR/meshkv-bench-run/.
# Every process started here is stopped by PID at exit (also on Ctrl-C or failure);
# etcd.sh runs in its own process group, stopped as a whole.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PEER_BENCH="${PEER_BENCH:-/work/shared/peer-bench}"
RUN_ROOT="${RUN_ROOT:-${TMPDIR:-/tmp}/meshkv-bench-run}"
# shellcheck source=/work/shared/peer-bench/lib.sh
source "$PEER_BENCH/lib.sh" || { echo "cluster_bench: cannot source $PEER_BENCH/lib.sh" >&2; exit 1; }

DUR="${DUR:-15}"; CONNS="${CONNS:-48}"; THREADS="${THREADS:-3}"
export KEYSPACE="${KEYSPACE:-10000}" VALSIZE="${VALSIZE:-100}"
export PEER_LUA_DIR="$PEER_BENCH/lua"
SYNC_MODES="${SYNC_MODES:-none always}"
ETCD_MODES="${ETCD_MODES:-spread leader}"
BENCH_MESHKV_BIN="${BENCH_MESHKV_BIN:-$REPO/build/meshkv}"
BENCH_BASE_PORT="${BENCH_BASE_PORT:-27300}"
OUT="${TMPDIR:-/tmp}/meshkv-bench-results/cluster-$(ts)"
mkdir -p "$OUT" "$RUN_ROOT"
PROBLEMS=()

# ---- cleanup: wrk, top, nodes/members (lib.sh's STARTED_PIDS), launcher-started nodes
# (`cluster down`, which signals only pids that run `meshkv serve --config <that dir>`),
# the etcd.sh process group, data dirs
WRK_PID=""; TOP_PID=""; ETCD_PGID=""; CLUSTER_DIRS=()
cleanup() {
  trap - EXIT INT TERM
  [ -n "$WRK_PID" ] && kill -TERM "$WRK_PID" 2>/dev/null
  [ -n "$TOP_PID" ] && kill -TERM "$TOP_PID" 2>/dev/null
  if [ -n "$ETCD_PGID" ] && kill -0 -- "-$ETCD_PGID" 2>/dev/null; then
    log "stopping etcd.sh (process group $ETCD_PGID) and its children"
    kill -TERM $(pid_tree "$ETCD_PGID") 2>/dev/null   # wrk under timeout(1) has its own group
    kill -TERM -- "-$ETCD_PGID" 2>/dev/null
    local i; for i in $(seq 1 150); do kill -0 -- "-$ETCD_PGID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$ETCD_PGID" 2>/dev/null
  fi
  stop_started
  local d; for d in "${CLUSTER_DIRS[@]:-}"; do
    [ -n "$d" ] && [ -d "$d" ] && meshkv_clean "$BENCH_MESHKV_BIN" cluster down --dir "$d" >/dev/null 2>&1
  done
  cleanup_all
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need() { command -v "$1" >/dev/null 2>&1 || { echo "cluster_bench: $1 not found (MESHKV_SETUP_BENCH=1 bash scripts/setup.sh installs it)" >&2; exit 1; }; }
need wrk; need jq; need curl; need etcd; need etcdctl
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# run meshkv without any MESHKV_* variable (they are config and would change what is measured)
UNSET_ENV=()
for var in $(compgen -e); do [[ $var == MESHKV_* ]] && UNSET_ENV+=(-u "$var"); done
meshkv_clean() { env "${UNSET_ENV[@]}" "$@"; }

# ---- per-thread CPU: "tid comm ticks" for every thread of the given pids
thread_ticks() {
  local p t
  for p in "$@"; do
    for t in /proc/"$p"/task/*; do
      [ -r "$t/stat" ] || continue
      printf '%s %s %s\n' "$p/${t##*/}" "$(tr ' ' _ <"$t/comm" 2>/dev/null)" \
        "$(sed 's/^.*) //' "$t/stat" 2>/dev/null | awk '{print $12+$13}')"
    done
  done
}
# usage: thread_report BEFORE_FILE AFTER_FILE WALL -> "name=cores(xN, busiest T) ..."
thread_report() {
  awk -v hz="$CLK_TCK" -v w="$3" '
    NR == FNR { b[$1] = $3; next }
    { d = ($3 - ($1 in b ? b[$1] : 0)) / hz / w; sum[$2] += d; n[$2]++; if (d > mx[$2]) mx[$2] = d }
    END { for (k in sum) if (sum[k] >= 0.01) printf "%s=%.2f(%d threads, busiest %.2f) ", k, sum[k], n[k], mx[k] }' "$1" "$2"
}

# ---- one wrk run through spread-nodes.lua; appends a "k=v" line to $OUT/LABEL.runs
declare -A R_RPS R_P50 R_P99 R_NOTE R_THREADS
run_once() { # usage: run_once LABEL RUN_NUMBER TARGET_SCRIPT "NODES" PID...
  local label="$1" r="$2" script="$3" nodes="$4"; shift 4
  local pids=("$@") f b a t0 t1 w j tb ta
  [ "$r" = 1 ] && : >"$OUT/$label.runs"
  log "$label run $r"
  {
    f="$OUT/$label-run$r.txt"; tb="$OUT/$label-run$r.threads0"; ta="$OUT/$label-run$r.threads1"
    thread_ticks "${pids[@]}" >"$tb"
    b=$(cpu_ticks $(pid_tree "${pids[@]}")); t0=$(now_s)
    if [ "$r" = 1 ] && [[ $label == *put* ]] && command -v top >/dev/null; then
      # one `top -H` snapshot over 5 s in the middle of the first run (evidence of the busy threads)
      ( sleep $((DUR / 2 - 2 > 0 ? DUR / 2 - 2 : 0)); exec top -H -b -n 2 -d 5 -w 200 -p "$(IFS=,; echo "${pids[*]}")" ) \
        >"$OUT/$label-top.txt" 2>&1 &
      TOP_PID=$!
    fi
    TIMEFORMAT='%U %S'
    { time {
        TARGET_SCRIPT="$script" NODES="$nodes" timeout $((DUR + 30)) \
          wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency \
          -s "$HERE/lua/spread-nodes.lua" "http://${nodes%% *}" >"$f" 2>&1 &
        WRK_PID=$!; wait "$WRK_PID"; } ; } 2>"$f.time"
    WRK_PID=""
    t1=$(now_s); a=$(cpu_ticks $(pid_tree "${pids[@]}")); w=$(elapsed "$t0" "$t1")
    thread_ticks "${pids[@]}" >"$ta"
    if [ -n "$TOP_PID" ]; then wait "$TOP_PID" 2>/dev/null; TOP_PID=""; fi
    local p; for p in "${pids[@]}"; do
      kill -0 "$p" 2>/dev/null || PROBLEMS+=("$label run $r: server pid $p died during the run")
    done
    echo "$label run $r threads: $(thread_report "$tb" "$ta" "$w")" >>"$OUT/threads.txt"
    j=$(sed -n 's/^WRKJSON //p' "$f")
    if [ -z "$j" ]; then PROBLEMS+=("$label run $r: wrk printed no summary, see $f"); return; fi
    echo "$j" | jq -r --arg sc "$(cores_used $((a - b)) "$w")" \
      --arg wc "$(tail -1 "$f.time" | awk -v w="$w" '{printf "%.2f", ($1+$2)/w}')" \
      '"rps=\(.rps) p50=\(.p50_ms) p90=\(.p90_ms) p99=\(.p99_ms) p999=\(.p999_ms) max=\(.max_ms) errors=\(.errors) non2xx=\(.non2xx) timeouts=\(.timeouts) server_cores=\($sc) wrk_cores=\($wc) us_per_op=\(if .rps > 0 then (($sc|tonumber) / .rps * 1e6 * 100 | round) / 100 else "n/a" end)"' \
      >>"$OUT/$label.runs"
    local errs; errs=$(tail -1 "$OUT/$label.runs" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')
    [ "${errs:-0}" != 0 ] && PROBLEMS+=("$label run $r: wrk counted $errs errors ($(tail -1 "$OUT/$label.runs" | grep -o 'non2xx=[0-9]* timeouts=[0-9]*')); see $f")
  }
}
finish_load() { # usage: finish_load LABEL : medians, per-thread CPU of the last run
  local label="$1"
  [ -s "$OUT/$label.runs" ] || return 0
  summarize "$label"
  R_THREADS[$label]=$(grep -F "$label run $RUNS threads:" "$OUT/threads.txt" | sed 's/.*threads: //')
  echo "  $label threads (last run, cores summed over nodes by thread name): ${R_THREADS[$label]}" | tee -a "$OUT/summary.txt"
}
summarize() {
  local label="$1" runs="$OUT/$1.runs"
  m() { median $(sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$runs"); }
  R_RPS[$label]=$(m rps); R_P50[$label]=$(m p50); R_P99[$label]=$(m p99)
  R_NOTE[$label]="$(m server_cores) | $(m us_per_op) | $(m wrk_cores) | $(m errors)"
  echo "$label: rps=$(m rps) [$(spread $(sed -n 's/.*\brps=\([^ ]*\).*/\1/p' "$runs"))] p50=$(m p50)ms p90=$(m p90)ms p99=$(m p99)ms p99.9=$(m p999)ms max=$(m max)ms errors=$(m errors) non2xx=$(m non2xx) server_cores=$(m server_cores) wrk_cores=$(m wrk_cores) server_cpu_us/op=$(m us_per_op) (median of $(wc -l <"$runs"))" |
    tee -a "$OUT/summary.txt"
}

# ---- meshkv cluster
TOKEN=""
meshkv_get() { curl -s -H "Authorization: Bearer $TOKEN" "http://$1$2"; }
metric_sum() { # usage: metric_sum FILE... NAME_REGEX -> sum of matching samples
  local re="${*: -1}"; awk -v re="$re" '$1 ~ re {s += $NF} END {printf "%.0f", s}' "${@:1:$#-1}"; }
free_base_port() {
  local p k ok
  for ((p = BENCH_BASE_PORT; p < BENCH_BASE_PORT + 1000; p += 30)); do
    ok=1; for k in 0 1 2 10 11 12 20 21 22; do port_free $((p + k)) || { ok=0; break; }; done
    [ $ok = 1 ] && { echo "$p"; return 0; }
  done
  return 1
}
cluster_ready() { # every node: 3 alive, owner state normal, same ownership digest, expected sync
  local sync="$1" addr digest="" s
  for addr in $NODES_MESHKV; do
    s=$(meshkv_get "$addr" /v1/cluster/status) || return 1
    [ "$(echo "$s" | jq -r '.cluster.members.alive // 0' 2>/dev/null)" = 3 ] || return 1
    [ "$(echo "$s" | jq -r '.cluster.ownership.self // ""' 2>/dev/null)" = normal ] || return 1
    [ "$(echo "$s" | jq -r '.storage.sync // ""' 2>/dev/null)" = "$sync" ] || return 1
    local dg; dg=$(echo "$s" | jq -r '.cluster.ownership.digest // ""')
    [ -z "$digest" ] || [ "$dg" = "$digest" ] || return 1
    digest=$dg
  done
}
preload() { # every key once through POST /v1/kv/batch (quorum), then a read-back on each node
  local url="$1" start end code value addr
  value=$(head -c "$VALSIZE" /dev/zero | tr '\0' v | base64 -w0)
  for ((start = 0; start < KEYSPACE; start += 1000)); do
    end=$((start + 1000 < KEYSPACE ? start + 1000 : KEYSPACE))
    awk -v s="$start" -v e="$end" -v v="$value" 'BEGIN{ printf "{\"ops\":[";
      for (i = s; i < e; i++) printf "%s{\"op\":\"put\",\"key\":\"bench/%08d\",\"value\":\"%s\"}", (i > s ? "," : ""), i, v;
      printf "]}" }' >"$OUT/preload-body.json"
    code=$(curl -s -o "$OUT/preload-response.json" -w '%{http_code}' -X POST \
      -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      --data-binary @"$OUT/preload-body.json" "$url/v1/kv/batch")
    [ "$code" = 200 ] || { PROBLEMS+=("preload: POST /v1/kv/batch -> HTTP $code: $(head -c 300 "$OUT/preload-response.json")"); return 1; }
  done
  rm -f "$OUT/preload-body.json"
  local last; last=$(printf 'bench/%08d' $((KEYSPACE - 1)))
  for addr in $NODES_MESHKV; do   # consistency=one: each node's own replica
    local got; got=$(meshkv_get "$addr" "/v1/kv/$last?consistency=one" | wc -c)
    [ "$got" = "$VALSIZE" ] || { PROBLEMS+=("preload: GET $last (consistency=one) on $addr returned $got bytes, expected $VALSIZE"); return 1; }
  done
  log "preloaded $KEYSPACE keys; read back from each node's replica"
}
rpc_report() { # usage: rpc_report LABEL KEY FROM_SNAP TO_SNAP CLIENT_OP_COUNTER
  local f0=("$OUT/$2-$3-node"?.metrics) f1=("$OUT/$2-$4-node"?.metrics)
  d_() { echo $(( $(metric_sum "${f1[@]}" "^meshkv_$1") - $(metric_sum "${f0[@]}" "^meshkv_$1") )); }
  per() { awk -v a="$1" -v c="$2" -v f="${3:-%.2f}" 'BEGIN{printf f, c ? a/c : 0}'; }
  local ops ap rq rb sb
  ops=$(d_ "$5"); ap=$(d_ storage_writes_applied_total); rq=$(d_ rpc_requests_total)
  rb=$(d_ rpc_bytes_sent_total); sb=$(d_ storage_synced_batches_total)
  echo "$1 over all runs, 3 nodes: client ops=$ops replica writes applied=$ap ($(per "$ap" "$ops")/op) peer rpc requests=$rq ($(per "$rq" "$ops")/op) rpc bytes sent=$rb ($(per "$rb" "$ops" %.0f) B/op) synced batches=$sb ($(per "$ap" "$sb") writes/batch)" |
    tee -a "$OUT/summary.txt"
}
# System registry: key -> "host:port host:port host:port" and pids (space separated)
declare -A SYS_NODES SYS_PIDS SYS_DIR SYS_TOKEN
start_meshkv() { # usage: start_meshkv SYNC_MODE ; registers system "meshkv-<mode>"
  local sync="$1" key="meshkv-$1" d base k i pids=() nodes addr
  base=$(free_base_port) || { PROBLEMS+=("no free port block from $BENCH_BASE_PORT: meshkv sync=$sync skipped"); return; }
  d="$RUN_ROOT/cluster-$sync-$$"; rm -rf "$d"; clean_dir "$d"; CLUSTER_DIRS+=("$d")
  nodes="127.0.0.1:$base 127.0.0.1:$((base + 10)) 127.0.0.1:$((base + 20))"
  local up=("$BENCH_MESHKV_BIN" cluster up -n 3 --detach --dir "$d" --base-port "$base" --preset lan
            --sync "$sync")
  echo "${up[*]}" >>"$OUT/commands.txt"
  if ! meshkv_clean "${up[@]}" >"$OUT/cluster-up-$sync.txt" 2>&1; then
    PROBLEMS+=("meshkv sync=$sync: cluster up failed: $(tail -5 "$OUT/cluster-up-$sync.txt" | tr '\n' ' ')"); return
  fi
  TOKEN=$(tr -d ' \r\n' <"$d/admin.token"); export TOKEN   # each cluster dir has its own
  for k in 1 2 3; do pids+=("$(tr -d ' \n' <"$d/node$k/pid")"); done
  NODES_MESHKV="$nodes"
  for i in $(seq 1 300); do cluster_ready "$sync" && break; sleep 0.2; done
  if ! cluster_ready "$sync"; then
    PROBLEMS+=("meshkv sync=$sync: cluster not ready (3 alive, owners normal, same ownership, sync=$sync) within 60 s; logs in $d/node*/node.log")
    return
  fi
  local n=0; for addr in $nodes; do n=$((n + 1)); meshkv_get "$addr" /v1/cluster/status >"$OUT/$key-node$n-status-before.json"; done
  SYS_NODES[$key]="$nodes"; SYS_PIDS[$key]="${pids[*]}"; SYS_DIR[$key]="$d"; SYS_TOKEN[$key]="$TOKEN"
  log "meshkv sync=$sync: 3 nodes ready ($nodes), pids ${pids[*]}"
}
use_meshkv() { # usage: use_meshkv KEY : sets NODES_MESHKV, TOKEN for the helpers above
  NODES_MESHKV="${SYS_NODES[$1]}"; TOKEN="${SYS_TOKEN[$1]}"; export TOKEN; }
snap() { # usage: snap KEY NAME : /metrics of each node
  local n=0 addr; use_meshkv "$1"
  for addr in $NODES_MESHKV; do n=$((n + 1)); meshkv_get "$addr" /metrics >"$OUT/$1-$2-node$n.metrics"; done; }
finish_meshkv() { # usage: finish_meshkv KEY : checks, logs
  local key="$1" d="${SYS_DIR[$1]}" k odd
  odd=$(grep -h '^meshkv_http_requests_total' "$OUT/$key-end-node"?.metrics | grep -v 'code="200"' | grep -v ' 0$' | paste -sd' ' -)
  [ -n "$odd" ] && PROBLEMS+=("$key: non-200 responses: $odd")
  odd=$(grep -hE '^meshkv_(coordinator_(write|read)_unavailable_total|hints_queued_total|read_repairs_total)' "$OUT/$key-end-node"?.metrics | grep -v ' 0$' | paste -sd' ' -)
  [ -n "$odd" ] && echo "$key nonzero: $odd" | tee -a "$OUT/summary.txt"
  for k in 1 2 3; do
    cp "$d/node$k/node.log" "$OUT/$key-node$k.log" 2>/dev/null
    grep -iE '\b(warn|error|critical|fatal)\b' "$d/node$k/node.log" | head -3 |
      sed "s/^/$key node$k log: /" >>"$OUT/log-errors.txt"
  done
}

# ---- etcd "spread": 3 members with etcd.sh's MODE=cluster flags, started here
ETCD_CPORTS=(12379 22379 32379); ETCD_PPORTS=(12380 22380 32380); ETCD_NAMES=(m1 m2 m3)
ETCD_EPS=""
start_etcd_spread() { # registers system "etcd"
  local p; for p in "${ETCD_CPORTS[@]}" "${ETCD_PPORTS[@]}"; do
    port_free "$p" || { PROBLEMS+=("etcd port $p busy: etcd spread skipped"); return; }
  done
  local D="$RUN_ROOT/etcd-spread-$$" IC="" i pids=() nodes=""
  rm -rf "$D"; mkdir -p "$D"; clean_dir "$D"
  for i in 0 1 2; do IC="$IC${IC:+,}${ETCD_NAMES[$i]}=http://127.0.0.1:${ETCD_PPORTS[$i]}"; done
  for i in 0 1 2; do ETCD_EPS="$ETCD_EPS${ETCD_EPS:+,}http://127.0.0.1:${ETCD_CPORTS[$i]}"; nodes="$nodes${nodes:+ }127.0.0.1:${ETCD_CPORTS[$i]}"; done
  for i in 0 1 2; do
    local n=${ETCD_NAMES[$i]} cp=${ETCD_CPORTS[$i]} pp=${ETCD_PPORTS[$i]}
    local args=(--name "$n" --data-dir "$D/$n.etcd"
      --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp"
      --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp"
      --initial-cluster "$IC" --initial-cluster-state new --initial-cluster-token bench-spread
      --logger zap --log-level warn)
    echo "etcd ${args[*]}" >>"$OUT/commands.txt"
    start_bg "$OUT/etcd-spread-$n.log" etcd "${args[@]}"; pids+=("$LAST_PID")
  done
  for p in "${ETCD_CPORTS[@]}"; do wait_tcp 127.0.0.1 "$p" 30; done
  for i in $(seq 1 100); do etcdctl --endpoints="$ETCD_EPS" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
  etcdctl --endpoints="$ETCD_EPS" endpoint status -w table >"$OUT/etcd-spread-status-before.txt" 2>&1 ||
    { PROBLEMS+=("etcd spread: cluster not healthy: $(tail -3 "$OUT/etcd-spread-status-before.txt")"); return; }
  SYS_NODES[etcd]="$nodes"; SYS_PIDS[etcd]="${pids[*]}"
}

# ---- etcd "leader": the peer benchmark's own etcd.sh (its summary lines are parsed)
field() { echo "$1" | tr ' ' '\n' | awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }'; }
bench_etcd_leader() {
  [ -x "$PEER_BENCH/etcd.sh" ] || { PROBLEMS+=("$PEER_BENCH/etcd.sh missing: etcd leader skipped"); return; }
  local p; for p in "${ETCD_CPORTS[@]}" "${ETCD_PPORTS[@]}"; do
    port_free "$p" || { PROBLEMS+=("etcd port $p busy: etcd leader skipped"); return; }
  done
  local tests="put range"; [ "${SKIP_GET:-0}" = 1 ] && tests=put
  echo "MODE=cluster TARGET=leader TESTS=\"$tests\" CHECKPERF= CLI=0 RUNS=$RUNS DUR=$DUR CONNS=$CONNS THREADS=$THREADS KEYSPACE=$KEYSPACE VALSIZE=$VALSIZE RESULTS_ROOT=$OUT/etcd $PEER_BENCH/etcd.sh" >>"$OUT/commands.txt"
  MODE=cluster TARGET=leader TESTS="$tests" CHECKPERF= CLI=0 RUNS="$RUNS" DUR="$DUR" \
    CONNS="$CONNS" THREADS="$THREADS" RESULTS_ROOT="$OUT/etcd" \
    setsid "$PEER_BENCH/etcd.sh" >"$OUT/etcd-leader-stdout.txt" 2>"$OUT/etcd-leader-stderr.txt" &
  ETCD_PGID=$!
  wait "$ETCD_PGID" || PROBLEMS+=("etcd.sh exited with $?; see $OUT/etcd-leader-stderr.txt")
  ETCD_PGID=""
  local test label line
  for test in $tests; do
    label="etcd-put(leader)"; [ "$test" = range ] && label="etcd-get(leader,linearizable)"
    [ "$test" = range ] && test=range-linearizable
    line=$(grep "^etcd-cluster $test:" "$OUT/etcd-leader-stdout.txt" | head -1)
    if [ -z "$line" ]; then PROBLEMS+=("etcd.sh $test: no summary line in $OUT/etcd-leader-stdout.txt"); continue; fi
    R_RPS[$label]=$(field "$line" rps); R_P50[$label]=$(field "$line" p50 | sed 's/ms$//')
    R_P99[$label]=$(field "$line" p99 | sed 's/ms$//')
    R_NOTE[$label]="$(field "$line" server_cores) | $(field "$line" server_cpu_us/op) | $(field "$line" wrk_cores) | $(field "$line" errors)"
    echo "$label: ${line#etcd-cluster $test: }" | tee -a "$OUT/summary.txt"
    [ "$(field "$line" errors)" != 0 ] && PROBLEMS+=("etcd.sh $test: errors=$(field "$line" errors)")
  done
  grep -h "keys under bench" "$OUT/etcd-leader-stdout.txt" | tee -a "$OUT/summary.txt"
}

# ---- run
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# $(machine_info)"
  echo "# load average before: $load_before"
  echo "# meshkv $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty') ($BENCH_MESHKV_BIN, $(date -r "$BENCH_MESHKV_BIN" '+%F %R' 2>/dev/null)), $(wrk -v 2>&1 | head -1 | awk '{print "wrk",$2}'), etcd $(etcd --version 2>/dev/null | awk '/etcd Version/{print $3}')"
  echo "# wrk -t$THREADS -c$CONNS -d${DUR}s --latency, thread i -> node i mod 3 (etcd leader: all to the leader); keyspace=$KEYSPACE valsize=$VALSIZE runs=$RUNS (medians); loopback; 3 meshkv nodes or 3 etcd members + wrk share the CPUs"
} | tee "$OUT/summary.txt"

# all clusters up at once (idle ones cost a few heartbeats), then the loads interleaved
# run by run, so that drift in the machine's load hits every system alike
SYSTEMS=()
if [ "${SKIP_MESHKV:-0}" != 1 ]; then
  if [ -x "$BENCH_MESHKV_BIN" ]; then
    for sync in $SYNC_MODES; do start_meshkv "$sync"; [ -n "${SYS_NODES[meshkv-$sync]:-}" ] && SYSTEMS+=("meshkv-$sync"); done
  else
    PROBLEMS+=("meshkv binary $BENCH_MESHKV_BIN missing: build it or set BENCH_MESHKV_BIN")
  fi
fi
[[ " $ETCD_MODES " == *" spread "* ]] && start_etcd_spread && [ -n "${SYS_NODES[etcd]:-}" ] && SYSTEMS+=(etcd)
log "systems up: ${SYSTEMS[*]}"
put_label() { case "$1" in etcd) echo "etcd-put(spread)";; *) echo "meshkv-put(sync=${1#meshkv-})";; esac; }
get_label() { case "$1" in etcd) echo "etcd-get(spread,linearizable)";; *) echo "meshkv-get(sync=${1#meshkv-})";; esac; }
load() { # usage: load KEY put|get RUN
  local key="$1" what="$2" r="$3" label script
  if [ "$key" = etcd ]; then
    if [ "$what" = put ]; then label=$(put_label etcd); script="$PEER_BENCH/lua/etcd-put.lua"
    else label=$(get_label etcd); script="$PEER_BENCH/lua/etcd-range.lua"; fi
    SERIALIZABLE=0 LUA_DIR="$PEER_BENCH/lua" run_once "$label" "$r" "$script" "${SYS_NODES[etcd]}" ${SYS_PIDS[etcd]}
  else
    use_meshkv "$key"
    if [ "$what" = put ]; then label=$(put_label "$key"); script="$HERE/lua/meshkv-put.lua"
    else label=$(get_label "$key"); script="$HERE/lua/meshkv-get.lua"; fi
    LUA_DIR="$HERE/lua" run_once "$label" "$r" "$script" "${SYS_NODES[$key]}" ${SYS_PIDS[$key]}
  fi
}
for key in "${SYSTEMS[@]}"; do [ "$key" = etcd ] || snap "$key" before; done
for r in $(seq 1 "$RUNS"); do for key in "${SYSTEMS[@]}"; do load "$key" put "$r"; done; done
for key in "${SYSTEMS[@]}"; do finish_load "$(put_label "$key")"; done
for key in "${SYSTEMS[@]}"; do
  if [ "$key" = etcd ]; then
    count=$(etcdctl --endpoints="$ETCD_EPS" get --prefix bench/ --limit=1 -w json | jq -r .count)
    echo "etcd-spread keys under bench/ before the range runs: $count" | tee -a "$OUT/summary.txt"
    [ "$count" = "$KEYSPACE" ] || PROBLEMS+=("etcd spread: only $count of $KEYSPACE keys written before the range run")
  else
    sync=${key#meshkv-}; snap "$key" after-put
    rpc_report "$(put_label "$key")" "$key" before after-put coordinator_writes_total
  fi
done
GET_SYSTEMS=()
if [ "${SKIP_GET:-0}" != 1 ]; then
  for key in "${SYSTEMS[@]}"; do
    if [ "$key" = etcd ]; then GET_SYSTEMS+=(etcd); continue; fi
    use_meshkv "$key"; preload "http://${NODES_MESHKV%% *}" && GET_SYSTEMS+=("$key")
    snap "$key" after-preload
  done
  for r in $(seq 1 "$RUNS"); do for key in "${GET_SYSTEMS[@]}"; do load "$key" get "$r"; done; done
  for key in "${GET_SYSTEMS[@]}"; do finish_load "$(get_label "$key")"; done
fi
for key in "${SYSTEMS[@]}"; do
  [ "$key" = etcd ] && { etcdctl --endpoints="$ETCD_EPS" endpoint status -w table >"$OUT/etcd-spread-status-after.txt" 2>&1; continue; }
  snap "$key" end
  [[ " ${GET_SYSTEMS[*]} " == *" $key "* ]] && rpc_report "$(get_label "$key")" "$key" after-preload end coordinator_reads_total
  finish_meshkv "$key"
done
stop_started
[[ " $ETCD_MODES " == *" leader "* ]] && bench_etcd_leader
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- summary table and ratios
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2fx", a/b; else printf "n/a" }'; }
{
  echo
  printf '%-32s %10s %9s %9s   %s\n' test rps p50_ms p99_ms "server cores | cpu us/op | wrk cores | errors"
  for label in "meshkv-put(sync=none)" "meshkv-put(sync=always)" "etcd-put(spread)" "etcd-put(leader)" \
               "meshkv-get(sync=none)" "meshkv-get(sync=always)" "etcd-get(spread,linearizable)" "etcd-get(leader,linearizable)"; do
    [ -n "${R_RPS[$label]:-}" ] || continue
    printf '%-32s %10s %9s %9s   %s\n' "$label" "${R_RPS[$label]}" "${R_P50[$label]}" "${R_P99[$label]}" "${R_NOTE[$label]:-}"
  done
  echo
  for sync in $SYNC_MODES; do
    for e in spread leader; do
      local_put="etcd-put($e)"; local_get="etcd-get($e,linearizable)"
      [ -n "${R_RPS[$local_put]:-}" ] || continue
      echo "sync=$sync vs etcd $e: PUT rps meshkv/etcd = $(ratio "${R_RPS[meshkv-put(sync=$sync)]:-}" "${R_RPS[$local_put]}") (aim >= 5x)  PUT p99 etcd/meshkv = $(ratio "${R_P99[$local_put]}" "${R_P99[meshkv-put(sync=$sync)]:-}") (aim > 1)  GET rps meshkv/etcd = $(ratio "${R_RPS[meshkv-get(sync=$sync)]:-}" "${R_RPS[$local_get]:-}")  GET p99 etcd/meshkv = $(ratio "${R_P99[$local_get]:-}" "${R_P99[meshkv-get(sync=$sync)]:-}")"
    done
  done
  echo "load average before: $load_before  after: $load_after"
  if [ ${#PROBLEMS[@]} -gt 0 ]; then
    echo; echo "problems seen:"; printf '  - %s\n' "${PROBLEMS[@]}"
  fi
  [ -s "$OUT/log-errors.txt" ] && { echo; echo "server log lines with warn/error:"; sed 's/^/  /' "$OUT/log-errors.txt"; }
  echo "raw results: $OUT"
} | tee -a "$OUT/summary.txt"
