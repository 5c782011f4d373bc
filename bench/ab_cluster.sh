#!/usr/bin/env bash
# Paired A/B of two meshkv builds on a 3-node loopback cluster: for each round,
# each build in turn (order alternating by round) gets a fresh cluster
# (`meshkv cluster up -n 3 --detach --preset lan --sync SYNC`), DUR s of PUT load
# (which also writes the keys), then DUR s of GET load, both through
# lua/spread-nodes.lua like cluster_bench.sh. Prints, per run, req/s, server
# CPU µs per request (utime+stime of the 3 node processes / requests) and
# context switches per request, then the medians per build.
#
# Use it to compare a change with its base: on a shared VM, CPU per request moves
# ±15% between identical runs minutes apart, so only runs paired in time compare.
#
#   bash bench/ab_cluster.sh /path/to/meshkv-a /path/to/meshkv-b
#
# Environment: ROUNDS (4) DUR (10) SYNC (none) CONNS (48) THREADS (3) KEYSPACE
# (10000) VALSIZE (100) BASE_PORT (27600; the first free block of 3x10 ports).
# Copy the binaries first if someone may relink them. Every node started here is
# stopped by PID at exit (also on Ctrl-C or failure); cluster dirs are removed.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
A="${1:?usage: ab_cluster.sh MESHKV_A MESHKV_B}"; B="${2:?usage: ab_cluster.sh MESHKV_A MESHKV_B}"
ROUNDS="${ROUNDS:-4}"; DUR="${DUR:-10}"; SYNC="${SYNC:-none}"
CONNS="${CONNS:-48}"; THREADS="${THREADS:-3}"
export KEYSPACE="${KEYSPACE:-10000}" VALSIZE="${VALSIZE:-100}"
export LUA_DIR="$HERE/lua" PEER_LUA_DIR="${PEER_LUA_DIR:-/work/shared/peer-bench/lua}"
for bin in "$A" "$B"; do [ -x "$bin" ] || { echo "ab_cluster: $bin is not an executable" >&2; exit 2; }; done
command -v wrk >/dev/null || { echo "ab_cluster: wrk not found (apt-get install -y wrk)" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/meshkv-ab-XXXXXX")"
PIDS=()
stop_nodes() {
  local p i alive
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for i in $(seq 1 100); do
    alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  PIDS=()
}
trap 'stop_nodes; rm -rf "$WORK"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
BASE="${BASE_PORT:-27600}"
while ! port_free "$BASE" || ! port_free $((BASE + 10)) || ! port_free $((BASE + 20)); do
  BASE=$((BASE + 30))
  [ "$BASE" -gt 60000 ] && { echo "ab_cluster: no free port block" >&2; exit 1; }
done
NODES="127.0.0.1:$BASE 127.0.0.1:$((BASE + 10)) 127.0.0.1:$((BASE + 20))"

ticks() { local s=0 p; for p in "${PIDS[@]}"; do s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$s"; }
switches() {
  local s=0 p t
  for p in "${PIDS[@]}"; do
    for t in /proc/"$p"/task/*; do
      s=$((s + $(awk '/ctxt_switches/{x+=$2} END{print x+0}' "$t/status" 2>/dev/null || echo 0)))
    done
  done
  echo "$s"
}
hz=$(getconf CLK_TCK)

run() { # usage: run LABEL BIN ; appends "LABEL put_cpu get_cpu" to $WORK/results
  local label="$1" bin="$2" d="$WORK/cluster" op b a c0 c1 req line out=""
  rm -rf "$d"
  if ! "$bin" cluster up -n 3 --detach --dir "$d" --base-port "$BASE" --preset lan \
      --sync "$SYNC" >"$WORK/up.txt" 2>&1; then
    echo "ab_cluster: cluster up failed for $bin: $(tail -3 "$WORK/up.txt")" >&2; exit 1
  fi
  PIDS=("$(cat "$d/node1/pid")" "$(cat "$d/node2/pid")" "$(cat "$d/node3/pid")")
  export TOKEN; TOKEN=$(tr -d ' \r\n' <"$d/admin.token")
  sleep 2
  for op in put get; do
    b=$(ticks); c0=$(switches)
    TARGET_SCRIPT="$HERE/lua/meshkv-$op.lua" NODES="$NODES" wrk -t"$THREADS" -c"$CONNS" \
      -d"${DUR}s" -s "$HERE/lua/spread-nodes.lua" "http://${NODES%% *}" >"$WORK/wrk-$op.txt" 2>&1
    a=$(ticks); c1=$(switches)
    req=$(awk '/requests in/{print $1}' "$WORK/wrk-$op.txt")
    if [ -z "$req" ] || [ "$req" = 0 ]; then
      echo "ab_cluster: wrk made no requests: $(tail -3 "$WORK/wrk-$op.txt")" >&2; exit 1
    fi
    grep -q "Non-2xx" "$WORK/wrk-$op.txt" && echo "ab_cluster: $label $op: $(grep Non-2xx "$WORK/wrk-$op.txt")" >&2
    line=$(awk -v t=$((a - b)) -v r="$req" -v hz="$hz" -v c=$((c1 - c0)) -v d="$DUR" \
      'BEGIN{printf "rps=%.0f cpu_us=%.1f ctxsw=%.2f", r/d, t*1e6/hz/r, c/r}')
    printf '%s %s %s\n' "$label" "$op" "$line"
    out="$out $(awk -v t=$((a - b)) -v r="$req" -v hz="$hz" 'BEGIN{printf "%.1f", t*1e6/hz/r}')"
  done
  echo "$label$out" >>"$WORK/results"
  stop_nodes
}

echo "# A=$A  B=$B  rounds=$ROUNDS dur=${DUR}s sync=$SYNC wrk -t$THREADS -c$CONNS; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then run A "$A"; run B "$B"; else run B "$B"; run A "$A"; fi
done
median() { sort -n | awk '{v[NR]=$1} END{ if (NR%2) print v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
for label in A B; do
  echo "median $label: put cpu_us=$(awk -v l=$label '$1==l{print $2}' "$WORK/results" | median)" \
       "get cpu_us=$(awk -v l=$label '$1==l{print $3}' "$WORK/results" | median)"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
