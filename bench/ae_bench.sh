#!/usr/bin/env bash
# Anti-entropy (AE) cost, loopback only, one run:
#
#   (a) repair: 3 nodes (RF 3, quorum), [replication] hinted_handoff = false. node3 is
#       SIGKILLed, KEYS (100000) PUTs of VALSIZE (100) bytes go in at quorum through node1
#       (POST /v1/kv/batch, 1000 per batch, one keep-alive connection), node3 is restarted,
#       and AE alone brings it up to date. Two ways:
#         periodic: anti_entropy_interval = "1s" (the default) on every node;
#         cli:      anti_entropy_interval = "0" on every node, then `meshkv repair` on node3.
#       Reported: time from node3's restart until node3's meshkv_ae_keys_pulled_total + the
#       peers' meshkv_ae_keys_pushed_total reach KEYS, and until AE has converged (periodic:
#       two consecutive windows in which every node started a round and every round
#       matched; cli: the command returned converged), meshkv_ae_bytes_total summed over
#       the nodes, CPU of the node processes over that time (/proc/PID/stat, and the busiest
#       threads by name), and a check: KEYS_CHECKED keys read once at consistency=one
#       through node3 with meshkv_read_repairs_total unchanged.
#   (b) idle: IDLE_NODES (5) nodes, defaults (anti_entropy_interval 1s), IDLE_KEYS (10000)
#       keys loaded, then meshkv_ae_bytes_total and rounds summed over all nodes sampled over
#       IDLE_S (30) seconds.
#
# Nodes: `meshkv cluster up --detach` makes the CA, certs, gossip key, token and configs and
# starts the nodes; they are stopped again (`cluster down`), a [replication] section is
# appended to each meshkv.toml (`up` would rewrite it), and this script starts every
# `meshkv serve --config .../meshkv.toml` itself, so it knows every PID.
#
# Environment: BENCH_MESHKV_BIN (build/meshkv; copy it first if someone may relink it)
#   KEYS (100000) VALSIZE (100) IDLE_NODES (5) IDLE_KEYS (10000) IDLE_S (30)
#   MODES ("periodic cli") SKIP_IDLE=1 BENCH_BASE_PORT (27600) KEEP_DATA=1
#   REPAIR_TIMEOUT_S (600) KEYS_CHECKED (10000)
# Output: the summary on stdout and in $TMPDIR/meshkv-bench-results/ae-<timestamp>/summary.txt
# (with the node logs and /metrics snapshots). Every process started here is stopped by
# PID at exit (also on Ctrl-C or failure) and the data dirs are removed (KEEP_DATA=1 keeps).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
BIN="${BENCH_MESHKV_BIN:-$REPO/build/meshkv}"
KEYS="${KEYS:-100000}"; VALSIZE="${VALSIZE:-100}"
IDLE_NODES="${IDLE_NODES:-5}"; IDLE_KEYS="${IDLE_KEYS:-10000}"; IDLE_S="${IDLE_S:-30}"
MODES="${MODES:-periodic cli}"
BASE_PORT="${BENCH_BASE_PORT:-27600}"
REPAIR_TIMEOUT_S="${REPAIR_TIMEOUT_S:-600}"; KEYS_CHECKED="${KEYS_CHECKED:-10000}"
PY=/usr/bin/python3
HZ=$(getconf CLK_TCK)
OUT="${TMPDIR:-/tmp}/meshkv-bench-results/ae-$(date +%Y%m%d-%H%M%S)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/meshkv-ae-bench.XXXXXX")
mkdir -p "$OUT"
PIDS=()           # every `meshkv serve` started here
CLUSTER_DIRS=()   # every dir given to `cluster up` (its nodes are stopped by `cluster down`)
PROBLEMS=()

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
say() { echo "$*" | tee -a "$OUT/summary.txt"; }

# run meshkv without any MESHKV_* variable (they are config and would change what is measured)
UNSET_ENV=()
for var in $(compgen -e); do [[ $var == MESHKV_* ]] && UNSET_ENV+=(-u "$var"); done
mk() { env "${UNSET_ENV[@]}" "$BIN" "$@"; }

alive() { [ -r "/proc/$1/stat" ] && ! awk '{exit !($3 == "Z" || $3 == "X")}' "/proc/$1/stat" 2>/dev/null; }
stop_pid() { # usage: stop_pid PID [SIGNAL] : signal, wait up to 10 s, then SIGKILL
  local p="$1" sig="${2:-TERM}"
  alive "$p" || return 0
  kill -"$sig" "$p" 2>/dev/null
  for _ in $(seq 1 100); do alive "$p" || break; sleep 0.1; done
  alive "$p" && kill -KILL "$p" 2>/dev/null
  for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
  return 0
}
cleanup() {
  trap - EXIT INT TERM
  local p d
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && alive "$p" && kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && stop_pid "$p"; done
  for d in "${CLUSTER_DIRS[@]:-}"; do [ -n "$d" ] && [ -d "$d" ] && mk cluster down --dir "$d" >/dev/null 2>&1; done
  if [ "${KEEP_DATA:-0}" = 1 ]; then log "data kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need() { command -v "$1" >/dev/null 2>&1 || { echo "ae_bench: $1 not found" >&2; exit 1; }; }
need curl; need jq; need awk
[ -x "$PY" ] || { echo "ae_bench: $PY not found" >&2; exit 1; }
[ -x "$BIN" ] || { echo "ae_bench: meshkv binary $BIN missing (build it or set BENCH_MESHKV_BIN)" >&2; exit 1; }
mk repair --help >/dev/null 2>&1 || { echo "ae_bench: $BIN has no \`repair\` (built before anti-entropy?)" >&2; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_base_port() { # usage: free_base_port NODES : first block of NODES x 10 ports from BASE_PORT
  local n="$1" p k ok
  for ((p = BASE_PORT; p < BASE_PORT + 2000; p += 10 * n)); do
    ok=1; for ((k = 0; k < n; k++)); do
      port_free $((p + 10 * k)) && port_free $((p + 10 * k + 1)) && port_free $((p + 10 * k + 2)) || { ok=0; break; }
    done
    [ $ok = 1 ] && { echo "$p"; return 0; }
  done
  return 1
}

# ---- a cluster: D (dir), N, ADDR[k], PID[k], TOKEN
declare -a ADDR NPID
D=""; N=0; TOKEN=""
api() { curl -s --max-time 30 -H "Authorization: Bearer $TOKEN" "$@"; }
metric() { # usage: metric K NAME -> value (sum over label sets) on node K
  api "http://${ADDR[$1]}/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $NF} END {printf "%.0f", s}'; }
metrics_line() { # usage: metrics_line K -> "rounds matched pulled pushed bytes errors"
  api "http://${ADDR[$1]}/metrics" | awk '
    { split($1, a, "{"); v[a[1]] += $NF }
    END { printf "%.0f %.0f %.0f %.0f %.0f %.0f\n", v["meshkv_ae_rounds_total"], v["meshkv_ae_rounds_matched_total"],
          v["meshkv_ae_keys_pulled_total"], v["meshkv_ae_keys_pushed_total"], v["meshkv_ae_bytes_total"], v["meshkv_ae_errors_total"] }'; }
ready() { # every running node: N alive, normal owner, normal == N, one digest
  local k s digest="" dg
  for ((k = 1; k <= N; k++)); do
    s=$(api "http://${ADDR[$k]}/v1/cluster/status") || return 1
    [ "$(echo "$s" | jq -r '.cluster.members.alive // 0' 2>/dev/null)" = "$N" ] || return 1
    [ "$(echo "$s" | jq -r '.cluster.ownership.self // ""' 2>/dev/null)" = normal ] || return 1
    [ "$(echo "$s" | jq -r '.cluster.ownership.nodes.normal // 0' 2>/dev/null)" = "$N" ] || return 1
    dg=$(echo "$s" | jq -r '.cluster.ownership.digest // ""')
    [ -z "$digest" ] || [ "$dg" = "$digest" ] || return 1
    digest=$dg
  done
}
wait_ready() { local _; for _ in $(seq 1 300); do ready && return 0; sleep 0.2; done
  PROBLEMS+=("$D: cluster not ready (all alive, normal owners, one ownership digest) within 60 s"); return 1; }
start_node() { # usage: start_node K : meshkv serve --config D/nodeK/meshkv.toml, in the background
  local k="$1"
  env "${UNSET_ENV[@]}" "$BIN" serve --config "$D/node$k/meshkv.toml" </dev/null >>"$D/node$k/node.log" 2>&1 &
  NPID[$k]=$!; PIDS+=("${NPID[$k]}")
  disown "${NPID[$k]}" 2>/dev/null   # no "Killed" job notices; stop_pid polls /proc instead of wait
  for _ in $(seq 1 200); do
    curl -s -o /dev/null --max-time 1 "http://${ADDR[$k]}/health" && return 0
    alive "${NPID[$k]}" || break
    sleep 0.1
  done
  PROBLEMS+=("node$k of $D did not answer /health; log: $(tail -3 "$D/node$k/node.log" | tr '\n' ' ')"); return 1
}
make_cluster() { # usage: make_cluster NAME NODES "REPLICATION TOML LINES"
  local name="$1" k base
  N="$2"; D="$WORK/$name"
  base=$(free_base_port "$N") || { PROBLEMS+=("$name: no free port block from $BASE_PORT"); return 1; }
  CLUSTER_DIRS+=("$D")
  echo "$BIN cluster up -n $N --detach --dir $D --base-port $base  # then cluster down, [replication] appended: $3" >>"$OUT/commands.txt"
  if ! mk cluster up -n "$N" --detach --dir "$D" --base-port "$base" >"$OUT/$name-up.txt" 2>&1; then
    PROBLEMS+=("$name: cluster up failed: $(tail -5 "$OUT/$name-up.txt" | tr '\n' ' ')"); return 1
  fi
  mk cluster down --dir "$D" >>"$OUT/$name-up.txt" 2>&1
  TOKEN=$(tr -d ' \r\n' <"$D/admin.token")
  for ((k = 1; k <= N; k++)); do
    ADDR[$k]="127.0.0.1:$((base + 10 * (k - 1)))"
    printf '\n[replication]\n%b' "$3" >>"$D/node$k/meshkv.toml"
  done
  for ((k = 1; k <= N; k++)); do start_node "$k" || return 1; done
  wait_ready || return 1
  log "$name: $N nodes ready (${ADDR[*]:1:$N}), pids ${NPID[*]:1:$N}"
}
stop_cluster() {
  local k; for ((k = 1; k <= N; k++)); do [ -n "${NPID[$k]:-}" ] && kill -TERM "${NPID[$k]}" 2>/dev/null; done
  for ((k = 1; k <= N; k++)); do [ -n "${NPID[$k]:-}" ] && stop_pid "${NPID[$k]}"; cp "$D/node$k/node.log" "$OUT/$(basename "$D")-node$k.log" 2>/dev/null; done
}
load_keys() { # usage: load_keys K PREFIX COUNT CONSISTENCY -> seconds on stdout; batches of 1000, keep-alive
  "$PY" - "${ADDR[$1]}" "$TOKEN" "$2" "$3" "$VALSIZE" "$4" <<'EOF'
import base64, http.client, json, sys, time
addr, token, prefix, count, valsize, consistency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
host, port = addr.split(":")
conn = http.client.HTTPConnection(host, int(port), timeout=60)
hdr = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
t0 = time.monotonic()
for start in range(0, count, 1000):
    ops = []
    for i in range(start, min(count, start + 1000)):
        v = (f"{prefix}{i:08d}:".encode() * 8)[:valsize].ljust(valsize, b"v")
        ops.append({"op": "put", "key": f"{prefix}{i:08d}", "value": base64.b64encode(v).decode()})
    conn.request("POST", "/v1/kv/batch", body=json.dumps({"consistency": consistency, "ops": ops}), headers=hdr)
    r = conn.getresponse(); body = r.read()
    if r.status != 200:
        sys.exit(f"batch at {start}: HTTP {r.status} {body[:300]!r}")
print(f"{time.monotonic() - t0:.2f}")
EOF
}
check_keys() { # usage: check_keys K PREFIX COUNT CHECKED -> "wrong=W read_repairs=R"; one read per key at one
  local before after res k
  before=0; for ((k = 1; k <= N; k++)); do before=$((before + $(metric "$k" meshkv_read_repairs_total))); done
  res=$("$PY" - "${ADDR[$1]}" "$TOKEN" "$2" "$3" "$4" "$VALSIZE" <<'EOF'
import base64, http.client, json, random, sys
addr, token, prefix, count, checked, valsize = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
host, port = addr.split(":")
conn = http.client.HTTPConnection(host, int(port), timeout=120)
hdr = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
idx = sorted(random.Random(7).sample(range(count), min(checked, count)))
wrong = 0
for s in range(0, len(idx), 1000):
    part = idx[s:s + 1000]
    conn.request("POST", "/v1/kv/batch", body=json.dumps({"consistency": "one", "ops": [
        {"op": "get", "key": f"{prefix}{i:08d}"} for i in part]}), headers=hdr)
    r = conn.getresponse(); doc = json.loads(r.read())
    for i, res in zip(part, doc["results"]):
        want = (f"{prefix}{i:08d}:".encode() * 8)[:valsize].ljust(valsize, b"v")
        if res["status"] != 200 or base64.b64decode(res["value"]) != want:
            wrong += 1
print(wrong)
EOF
)
  sleep 0.5
  after=0; for ((k = 1; k <= N; k++)); do after=$((after + $(metric "$k" meshkv_read_repairs_total))); done
  echo "wrong=$res read_repairs=$((after - before))"
}
ticks_of() { local p s=0; for p in "$@"; do alive "$p" && s=$((s + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done; echo "$s"; }
thread_ticks() { # "pid/tid comm ticks" of every thread of the given pids
  local p t
  for p in "$@"; do for t in /proc/"$p"/task/*; do
    [ -r "$t/stat" ] && printf '%s %s %s\n' "$p/${t##*/}" "$(tr ' ' _ <"$t/comm" 2>/dev/null)" "$(sed 's/^.*) //' "$t/stat" | awk '{print $12 + $13}')"
  done; done
}
thread_report() { # usage: thread_report BEFORE AFTER WALL -> busiest thread names (cores)
  awk -v hz="$HZ" -v w="$3" 'NR == FNR { b[$1] = $3; next }
    { d = ($3 - ($1 in b ? b[$1] : 0)) / hz / w; sum[$2] += d; if (d > mx[$2]) mx[$2] = d }
    END { for (k in sum) if (sum[k] >= 0.02) printf "%.2f %s=%.2f(busiest_thread=%.2f)\n", sum[k], k, sum[k], mx[k] }' "$1" "$2" |
    sort -rn | head -6 | awk '{printf "%s ", $2}'
}
now() { date +%s.%N; }
el() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b - a}'; }

# ---- (a) repair of a node that missed KEYS writes
repair_scenario() { # usage: repair_scenario periodic|cli
  local mode="$1" interval cfg t_load t0 t_moved="" t_conv="" k
  [ "$mode" = periodic ] && interval="1s" || interval="0"
  cfg="hinted_handoff = false\nanti_entropy_interval = \"$interval\"\n"
  make_cluster "repair-$mode" 3 "$cfg" || return 1
  log "repair-$mode: SIGKILL node3 (pid ${NPID[3]}), load $KEYS keys at quorum through node1"
  stop_pid "${NPID[3]}" KILL
  t_load=$(load_keys 1 "ae/" "$KEYS" quorum) || { PROBLEMS+=("repair-$mode: load failed: $t_load"); stop_cluster; return 1; }
  local hints; hints=$(( $(metric 1 meshkv_hints_queued_total) + $(metric 2 meshkv_hints_queued_total) ))
  say "repair-$mode: loaded $KEYS x ${VALSIZE}-byte PUTs at quorum through node1 in ${t_load}s ($(awk -v k="$KEYS" -v t="$t_load" 'BEGIN{printf "%.0f", k/t}') keys/s) with node3 down; hints queued: $hints"
  local b1 b2; b1=$(metrics_line 1); b2=$(metrics_line 2)
  local tb="$OUT/repair-$mode.threads0" ta="$OUT/repair-$mode.threads1"
  thread_ticks "${NPID[1]}" "${NPID[2]}" >"$tb"
  local c0; c0=$(ticks_of "${NPID[1]}" "${NPID[2]}")
  t0=$(now)
  start_node 3 || { stop_cluster; return 1; }
  wait_ready || { stop_cluster; return 1; }
  local t_ready; t_ready=$(now)
  log "repair-$mode: node3 back (pid ${NPID[3]}) after $(el "$t0" "$t_ready")s"
  local repair_json=""
  if [ "$mode" = cli ]; then
    echo "$BIN repair --addr ${ADDR[3]} --token <admin> --json --timeout ${REPAIR_TIMEOUT_S}s" >>"$OUT/commands.txt"
    repair_json=$(mk repair --addr "${ADDR[3]}" --token "$TOKEN" --json --timeout "${REPAIR_TIMEOUT_S}s" 2>"$OUT/repair-cli.stderr")
    local rc=$?
    t_conv=$(now); t_moved=$t_conv
    say "repair-cli: \`meshkv repair --json\` on node3: exit $rc, $(el "$t_ready" "$t_conv")s: $repair_json"
    [ $rc = 0 ] || PROBLEMS+=("repair-cli: meshkv repair exited $rc: $(head -c 300 "$OUT/repair-cli.stderr")")
  else
    # poll: moved = node3 pulled + peers pushed; converged = 2 consecutive windows where every node
    # started >= 1 round and all of them matched
    local -a ws wm; local clean=0 r m pu pp by deadline
    for k in 1 2 3; do read -r ws[$k] wm[$k] _ < <(metrics_line "$k"); done
    deadline=$(awk -v t="$(now)" -v d="$REPAIR_TIMEOUT_S" 'BEGIN{print t + d}')
    while awk -v t="$(now)" -v d="$deadline" 'BEGIN{exit !(t < d)}'; do
      sleep 0.5
      local all_started=1 all_matched=1 moved=0
      local -a cur_r cur_m
      for k in 1 2 3; do
        read -r r m pu pp by _ < <(metrics_line "$k")
        cur_r[$k]=$r; cur_m[$k]=$m
        [ "$k" = 3 ] && moved=$((moved + pu)) || moved=$((moved + pp))
        [ $((r - ws[k])) -ge 1 ] || all_started=0
        [ $((r - ws[k])) = $((m - wm[k])) ] || all_matched=0
      done
      [ -z "$t_moved" ] && [ "$moved" -ge "$KEYS" ] && { t_moved=$(now); log "repair-periodic: $moved entries moved after $(el "$t0" "$t_moved")s"; }
      [ $all_started = 1 ] || continue
      if [ $all_matched = 1 ]; then clean=$((clean + 1)); [ $clean = 1 ] && t_conv=$(now); else clean=0; t_conv=""; fi
      for k in 1 2 3; do ws[$k]=${cur_r[$k]}; wm[$k]=${cur_m[$k]}; done
      [ $clean -ge 2 ] && break
    done
    [ $clean -ge 2 ] || { PROBLEMS+=("repair-periodic: not converged within ${REPAIR_TIMEOUT_S}s"); t_conv=$(now); }
  fi
  local c1; c1=$(ticks_of "${NPID[1]}" "${NPID[2]}" "${NPID[3]}")
  thread_ticks "${NPID[1]}" "${NPID[2]}" "${NPID[3]}" >"$ta"
  local wall; wall=$(el "$t0" "$t_conv")
  local a1 a2 a3; a1=$(metrics_line 1); a2=$(metrics_line 2); a3=$(metrics_line 3)
  for k in 1 2 3; do api "http://${ADDR[$k]}/metrics" >"$OUT/repair-$mode-node$k.metrics"; done
  # fields: rounds matched pulled pushed bytes errors
  local d; d=$(echo "$b1 | $b2 | $a1 | $a2 | $a3" | awk -F'|' '{
    split($1, b1, " "); split($2, b2, " "); split($3, a1, " "); split($4, a2, " "); split($5, a3, " ");
    printf "rounds=%d (node3 %d) pulled_by_node3=%d pushed_by_node3=%d pushed_by_peers=%d pulled_by_peers=%d ae_bytes=%d errors=%d",
      a1[1]-b1[1]+a2[1]-b2[1]+a3[1], a3[1], a3[3], a3[4], a1[4]-b1[4]+a2[4]-b2[4], a1[3]-b1[3]+a2[3]-b2[3],
      a1[5]-b1[5]+a2[5]-b2[5]+a3[5], a1[6]-b1[6]+a2[6]-b2[6]+a3[6] }')
  local bytes; bytes=$(echo "$d" | sed -n 's/.*ae_bytes=\([0-9]*\).*/\1/p')
  local cores; cores=$(awk -v d="$((c1 - c0))" -v hz="$HZ" -v w="$wall" 'BEGIN{printf "%.2f", (w > 0 ? d / hz / w : 0)}')
  say "repair-$mode: node3 restarted -> alive+normal $(el "$t0" "$t_ready")s; -> $KEYS entries moved ${t_moved:+$(el "$t0" "$t_moved")s}; -> converged by $(el "$t0" "$t_conv")s"
  say "repair-$mode: $d ($(awk -v b="$bytes" -v k="$KEYS" 'BEGIN{printf "%.0f B/key", b/k}'), $(awk -v b="$bytes" -v w="$wall" 'BEGIN{printf "%.1f MB/s", b/w/1e6}') over the ${wall}s)"
  say "repair-$mode: node CPU over the ${wall}s: $(awk -v d="$((c1 - c0))" -v hz="$HZ" 'BEGIN{printf "%.2f", d/hz}') s = $cores cores of 2 (node3 includes its start-up); busiest threads: $(thread_report "$tb" "$ta" "$wall")"
  if [ "$mode" = cli ]; then
    local again; again=$(mk repair --addr "${ADDR[3]}" --token "$TOKEN" --json --timeout 60s 2>&1)
    say "repair-cli: second \`meshkv repair --json\`: $again"
  else
    local again; again=$(mk repair --addr "${ADDR[3]}" --token "$TOKEN" --json --timeout 60s 2>&1)
    say "repair-periodic: \`meshkv repair --json\` on node3 afterwards (should find nothing): $again"
  fi
  say "repair-$mode: check, $KEYS_CHECKED random keys read once at consistency=one through node3: $(check_keys 3 "ae/" "$KEYS" "$KEYS_CHECKED")"
  stop_cluster
}

# ---- (b) idle cost of a converged cluster
idle_scenario() {
  make_cluster idle "$IDLE_NODES" "" || return 1
  local t; t=$(load_keys 1 "idle/" "$IDLE_KEYS" all) || { PROBLEMS+=("idle: load failed: $t"); stop_cluster; return 1; }
  sleep 5   # every replica has every write (consistency=all); a few rounds to settle
  local k b=0 a=0 rb=0 ra=0 mb=0 ma=0 c0 c1 t0 t1 line
  local -a per0 per1
  for ((k = 1; k <= N; k++)); do read -r r m _ _ by _ < <(metrics_line "$k"); per0[$k]=$by; b=$((b + by)); rb=$((rb + r)); mb=$((mb + m)); done
  c0=$(ticks_of "${NPID[@]:1:$N}"); t0=$(now)
  sleep "$IDLE_S"
  for ((k = 1; k <= N; k++)); do read -r r m _ _ by _ < <(metrics_line "$k"); per1[$k]=$by; a=$((a + by)); ra=$((ra + r)); ma=$((ma + m)); done
  c1=$(ticks_of "${NPID[@]:1:$N}"); t1=$(now)
  local w; w=$(el "$t0" "$t1")
  line=""; for ((k = 1; k <= N; k++)); do line="$line node$k=$(awk -v d="$((per1[k] - per0[k]))" -v w="$w" 'BEGIN{printf "%.0f", d/w}')"; done
  say "idle: $IDLE_NODES nodes, $IDLE_KEYS keys, ${w}s: AE $(awk -v d="$((a - b))" -v w="$w" 'BEGIN{printf "%.0f", d/w}') B/s summed over nodes (per node B/s:$line); rounds $((ra - rb)) ($((ma - mb)) matched) = $(awk -v d="$((ra - rb))" -v w="$w" 'BEGIN{printf "%.1f", d/w}')/s; all node processes used $(awk -v d="$((c1 - c0))" -v hz="$HZ" -v w="$w" 'BEGIN{printf "%.3f", d/hz/w}') cores (everything, not only AE)"
  for ((k = 1; k <= N; k++)); do api "http://${ADDR[$k]}/metrics" >"$OUT/idle-node$k.metrics"; done
  stop_cluster
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); load average before: $load_before"
  echo "# meshkv $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty') ($BIN, $(date -r "$BIN" '+%F %R' 2>/dev/null)); KEYS=$KEYS VALSIZE=$VALSIZE IDLE_NODES=$IDLE_NODES IDLE_KEYS=$IDLE_KEYS IDLE_S=$IDLE_S"
} | tee "$OUT/summary.txt"
for mode in $MODES; do repair_scenario "$mode"; done
[ "${SKIP_IDLE:-0}" = 1 ] || idle_scenario
say "load average before: $load_before  after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ${#PROBLEMS[@]} -gt 0 ]; then
  say ""; say "problems seen:"; for p in "${PROBLEMS[@]}"; do say "  - $p"; done
fi
say "raw results: $OUT"
[ ${#PROBLEMS[@]} = 0 ]
