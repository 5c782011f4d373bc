#!/usr/bin/env bash
# Side-by-side authoritative DNS benchmark, one run, loopback only: meshkv, Knot DNS and NSD
# serve the same zone (the peer benchmark's dns-gen.sh: example.test, 1000 A + 100 TXT + 20 SRV)
# and get the same dnsperf query file (1000 A + 100 TXT names, shuffled).
#
#   meshkv: a fresh `meshkv serve` (new data dir, [dns] zones = ["example.test"]), the zone
#           loaded with `meshkv zone import`, then measured exactly as dns.sh measures a peer;
#   knot, nsd: /work/shared/peer-bench/dns.sh SERVER=knot|nsd (its summary lines are parsed).
#
# Per variant (VARIANTS, default "mt pin1", as dns.sh):
#   mt   : 2 server threads (meshkv --threads 2; knot udp-workers 2; nsd server-count 2), unpinned,
#          dnsperf -c 8 -T 2 -q 100; servers and dnsperf share the 2 cores
#   pin1 : 1 server thread pinned to CPU0 (taskset), dnsperf -c 8 -T 1 -q 100 pinned to CPU1
# For each variant the servers take turns (meshkv, knot, nsd), each with RUNS saturation runs
# (dnsperf -l DUR, medians) and one fixed-rate run (-Q RATE, -v per-query latencies ->
# p50/p90/p99/p99.9). One table at the end: qps, latency, server CPU per query, the 1-minute
# load average seen during each server's turn, and the ratios meshkv/knot and meshkv/nsd.
#
# Environment: RUNS (3) DUR (15) RATE (20000) VARIANTS ("mt pin1") SERVERS ("meshkv knot nsd")
#   BENCH_MESHKV_BIN (build/meshkv) MESHKV_DNS_PORT (5303) MESHKV_HTTP_PORT (5304)
#   KNOT_PORT (5301) NSD_PORT (5302) PEER_BENCH (/work/shared/peer-bench) KEEP_DATA=1
# Raw outputs: $TMPDIR/meshkv-bench-results/dns-<timestamp>/ (dns.sh's own under peers/);
# data dirs: $TMPDIR/meshkv-bench-run/. Every process it started is stopped by PID at exit,
# also on Ctrl-C or failure (dns.sh runs in its own process group, stopped as a whole).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PEER_BENCH="${PEER_BENCH:-/work/shared/peer-bench}"
RUN_ROOT="${RUN_ROOT:-${TMPDIR:-/tmp}/meshkv-bench-run}"
# shellcheck source=/work/shared/peer-bench/lib.sh
source "$PEER_BENCH/lib.sh" || { echo "dns_bench: cannot source $PEER_BENCH/lib.sh" >&2; exit 1; }

DUR="${DUR:-15}"; RATE="${RATE:-20000}"; VARIANTS="${VARIANTS:-mt pin1}"
SERVERS="${SERVERS:-meshkv knot nsd}"
BENCH_MESHKV_BIN="${BENCH_MESHKV_BIN:-$REPO/build/meshkv}"
# (read here: every MESHKV_* variable is dropped from meshkv's environment below)
M_DNS_PORT="${MESHKV_DNS_PORT:-5303}"; M_HTTP_PORT="${MESHKV_HTTP_PORT:-5304}"
KNOT_PORT="${KNOT_PORT:-5301}"; NSD_PORT="${NSD_PORT:-5302}"
OUT="${TMPDIR:-/tmp}/meshkv-bench-results/dns-$(ts)"
mkdir -p "$OUT" "$RUN_ROOT"
PROBLEMS=()

# ---- cleanup: load sampler, dnsperf, meshkv (lib.sh's STARTED_PIDS), the dns.sh process group,
#      data dirs
PERF_PID=""; PEER_PGID=""; SAMPLER_PID=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$SAMPLER_PID" ] && kill -TERM $(pid_tree "$SAMPLER_PID") 2>/dev/null
  [ -n "$PERF_PID" ] && kill -TERM "$PERF_PID" 2>/dev/null
  if [ -n "$PEER_PGID" ] && kill -0 -- "-$PEER_PGID" 2>/dev/null; then
    log "stopping dns.sh (process group $PEER_PGID) and its children"
    kill -TERM $(pid_tree "$PEER_PGID") 2>/dev/null    # dnsperf under timeout(1) has its own group
    kill -TERM -- "-$PEER_PGID" 2>/dev/null
    local i; for i in $(seq 1 150); do kill -0 -- "-$PEER_PGID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$PEER_PGID" 2>/dev/null
  fi
  cleanup_all
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need() { command -v "$1" >/dev/null 2>&1 || { echo "dns_bench: $1 not found (apt-get install -y $2)" >&2; exit 1; }; }
need dnsperf dnsperf; need dig bind9-dnsutils; need curl curl; need taskset util-linux
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && ! ss -Hlnu "sport = :$1" 2>/dev/null | grep -q .; }

# ---- result lines, in dns.sh's format, collected in $OUT/lines.txt for every server:
#   "dns-<server> <variant> (...): qps=.. [min..max] avg=..ms ... server_cpu_us/query=.."
#   "dns-<server> <variant> latency at -Q RATE: qps=.. lost=.. ... p50=..ms p90=..ms p99=..ms p99.9=..ms"
field() { echo "$1" | tr ' ' '\n' | awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }'; }

# dnsperf report -> "qps=.. avg_ms=.. ..." (the same fields as dns.sh's parse_dnsperf)
parse_dnsperf() {
  awk '/Queries completed:/{c=$3} /Queries lost:/{l=$3} /Queries per second:/{q=$4}
       /Average Latency \(s\):/{a=$4*1000; mx=$8; sub(/\)/,"",mx); mx*=1000} /Latency StdDev \(s\):/{s=$4*1000}
       /Response codes:/{rc=$3 $4} /Average packet size:/{rq=$5; sub(/,/,"",rq); rs=$7}
       END{printf "qps=%.0f avg_ms=%.3f sd_ms=%.3f max_ms=%.3f lost=%s completed=%s rcodes=%s req_bytes=%s resp_bytes=%s", q,a,s,mx,l,c,rc,rq,rs}' "$1"
}

# ---- meshkv, measured the way dns.sh measures a peer
M_DIR=""; M_IMPORTED=0
bench_meshkv() { # usage: bench_meshkv VARIANT   (one data dir, imported once, for all variants)
  local VAR="$1" W SPFX CPFX DPOPTS
  case "$VAR" in
    mt)   W=2; SPFX=(); CPFX=(); DPOPTS=(-c 8 -T 2 -q 100);;
    pin1) W=1; SPFX=(taskset -c 0); CPFX=(taskset -c 1); DPOPTS=(-c 8 -T 1 -q 100);;
    *) PROBLEMS+=("unknown variant $VAR"); return;;
  esac
  [ -x "$BENCH_MESHKV_BIN" ] || { PROBLEMS+=("meshkv binary $BENCH_MESHKV_BIN missing: cmake --build build --target meshkv"); return; }
  if ! port_free "$M_DNS_PORT" || ! port_free "$M_HTTP_PORT"; then
    PROBLEMS+=("meshkv $VAR: port $M_DNS_PORT or $M_HTTP_PORT busy (set MESHKV_DNS_PORT / MESHKV_HTTP_PORT)"); return
  fi
  if [ -z "$M_DIR" ]; then
    M_DIR="$RUN_ROOT/dns-meshkv-$$"; rm -rf "$M_DIR"; mkdir -p "$M_DIR"; clean_dir "$M_DIR"
    "$PEER_BENCH/dns-gen.sh" "$M_DIR" >&2 || { PROBLEMS+=("dns-gen.sh failed"); return; }
    cp "$M_DIR/queries.txt" "$OUT/queries.txt"
    printf '[dns]\nzones = ["example.test"]\nlisten = "127.0.0.1:%s"\n' "$M_DNS_PORT" >"$M_DIR/meshkv.toml"
  fi
  local d="$M_DIR" zone="$M_DIR/example.test.zone" qf="$M_DIR/queries.txt" url="http://127.0.0.1:$M_HTTP_PORT"
  local unset_env=() var pid token="" i r f b a t0 t1 w line pct
  for var in $(compgen -e); do [[ $var == MESHKV_* ]] && unset_env+=(-u "$var"); done
  local args=(serve --config "$d/meshkv.toml" --data-dir "$d/data" --listen "127.0.0.1:$M_HTTP_PORT"
              --threads "$W" --log-level warn)
  echo "${SPFX[*]} $BENCH_MESHKV_BIN ${args[*]}" >>"$OUT/commands.txt"
  start_bg "$OUT/meshkv-$VAR.log" "${SPFX[@]}" env "${unset_env[@]}" "$BENCH_MESHKV_BIN" "${args[@]}"; pid=$LAST_PID
  ready() {
    [ -s "$d/data/admin.token" ] || return 1
    token=$(tr -d ' \r\n' <"$d/data/admin.token")
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url/ready")" = 200 ]
  }
  for i in $(seq 1 300); do ready && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if ! ready; then
    PROBLEMS+=("meshkv $VAR did not become ready in 30 s; log tail: $(tail -5 "$OUT/meshkv-$VAR.log" | tr '\n' ' ')")
    stop_started; return
  fi
  if [ "$M_IMPORTED" = 0 ]; then
    echo "$BENCH_MESHKV_BIN zone import $zone --addr $url --token-file $d/data/admin.token" >>"$OUT/commands.txt"
    if ! "$BENCH_MESHKV_BIN" zone import "$zone" --addr "$url" --token-file "$d/data/admin.token" \
        --timeout 60s >"$OUT/zone-import.txt" 2>&1; then
      PROBLEMS+=("meshkv zone import failed: $(head -c 300 "$OUT/zone-import.txt")"); stop_started; return
    fi
    M_IMPORTED=1; log "meshkv: $(cat "$OUT/zone-import.txt")"
  fi
  for i in $(seq 1 100); do
    dig +time=1 +tries=1 @127.0.0.1 -p "$M_DNS_PORT" host0001.example.test A +short 2>/dev/null | grep -q '^10\.0\.0\.1$' && break
    sleep 0.1
  done
  # sanity, as dns.sh: answers present, no TC bit
  { echo "A:   $(dig @127.0.0.1 -p "$M_DNS_PORT" host0999.example.test A +short)"
    echo "TXT: $(dig @127.0.0.1 -p "$M_DNS_PORT" txt099.example.test TXT +short)"
    echo "SRV: $(dig @127.0.0.1 -p "$M_DNS_PORT" _svc19._tcp.example.test SRV +short)"
    echo "flags: $(dig @127.0.0.1 -p "$M_DNS_PORT" txt099.example.test TXT | grep -m1 'flags:')"; } >"$OUT/meshkv-sanity-$VAR.txt"
  grep -q '^A:   10\.0\.3\.231$' "$OUT/meshkv-sanity-$VAR.txt" ||
    PROBLEMS+=("meshkv $VAR sanity: host0999 A is not 10.0.3.231: $(head -1 "$OUT/meshkv-sanity-$VAR.txt")")
  grep -q 'flags: qr aa rd;' "$OUT/meshkv-sanity-$VAR.txt" ||
    PROBLEMS+=("meshkv $VAR sanity: unexpected flags for txt099 TXT: $(grep flags "$OUT/meshkv-sanity-$VAR.txt")")
  sleep 1
  : >"$OUT/meshkv-$VAR.runs"
  for r in $(seq 1 "$RUNS"); do
    f="$OUT/meshkv-$VAR-run$r.txt"; b=$(cpu_ticks "$pid"); t0=$(now_s)
    TIMEFORMAT='%U %S'
    { time { timeout $((DUR + 20)) "${CPFX[@]}" dnsperf -s 127.0.0.1 -p "$M_DNS_PORT" -d "$qf" -l "$DUR" \
               "${DPOPTS[@]}" >"$f" 2>&1 & PERF_PID=$!; wait "$PERF_PID"; } ; } 2>"$f.time"
    PERF_PID=""
    t1=$(now_s); a=$(cpu_ticks "$pid"); w=$(elapsed "$t0" "$t1")
    kill -0 "$pid" 2>/dev/null || PROBLEMS+=("meshkv $VAR run $r: server pid $pid died (log: $OUT/meshkv-$VAR.log)")
    line="$(parse_dnsperf "$f") server_cores=$(cores_used $((a - b)) "$w") client_cores=$(tail -1 "$f.time" | awk -v w="$w" '{printf "%.2f", ($1+$2)/w}')"
    echo "$line server_us_per_q=$(awk -v c="$(field "$line" server_cores)" -v q="$(field "$line" qps)" 'BEGIN{ if (q>0) printf "%.2f", c/q*1e6; else print "n/a"}')" >>"$OUT/meshkv-$VAR.runs"
    grep -q 'Response codes:[[:space:]]*NOERROR [0-9]* (100\.00%)' "$f" ||
      PROBLEMS+=("meshkv $VAR run $r: not every answer NOERROR: $(grep 'Response codes' "$f")")
  done
  m() { median $(sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$OUT/meshkv-$VAR.runs"); }
  echo "dns-meshkv $VAR (threads=$W ${SPFX[*]:-unpinned}; dnsperf ${DPOPTS[*]} ${CPFX[*]:-}): qps=$(m qps) [$(spread $(sed -n 's/.*\bqps=\([^ ]*\).*/\1/p' "$OUT/meshkv-$VAR.runs"))] avg=$(m avg_ms)ms sd=$(m sd_ms)ms max=$(m max_ms)ms lost=$(m lost) server_cores=$(m server_cores) client_cores=$(m client_cores) server_cpu_us/query=$(m server_us_per_q) resp_bytes=$(m resp_bytes) (median of $RUNS)" |
    tee -a "$OUT/lines.txt"
  # fixed-rate latency distribution
  f="$OUT/meshkv-$VAR-rate$RATE.txt"
  timeout $((DUR + 20)) "${CPFX[@]}" dnsperf -s 127.0.0.1 -p "$M_DNS_PORT" -d "$qf" -l "$DUR" "${DPOPTS[@]}" \
    -Q "$RATE" -v >"$f.v" 2>&1 & PERF_PID=$!; wait "$PERF_PID"; PERF_PID=""
  grep -v '^>' "$f.v" >"$f"
  pct=$(awk '/^> /{print $NF*1000}' "$f.v" | sort -g | awk '{a[NR]=$1} END{ if(!NR){print "n/a"; exit}
        printf "n=%d p50=%.3fms p90=%.3fms p99=%.3fms p99.9=%.3fms max=%.3fms", NR, a[int(NR*.5)+1], a[int(NR*.9)+1], a[int(NR*.99)+1], a[int(NR*.999)+1], a[NR]}')
  rm -f "$f.v"
  echo "dns-meshkv $VAR latency at -Q $RATE: $(parse_dnsperf "$f" | sed 's/ avg_ms.*lost=/ lost=/; s/ req_bytes.*//') $pct" |
    tee -a "$OUT/lines.txt"
  curl -s -H "Authorization: Bearer $token" "$url/metrics" | grep '^meshkv_dns' >"$OUT/meshkv-$VAR-metrics.txt"
  kill -0 "$pid" 2>/dev/null || PROBLEMS+=("meshkv $VAR exited during the run; log tail: $(tail -5 "$OUT/meshkv-$VAR.log" | tr '\n' ' ')")
  stop_started
}

# ---- Knot / NSD, through the peer benchmark's own dns.sh (one variant per call)
bench_peer() { # usage: bench_peer knot|nsd VARIANT
  local srv="$1" VAR="$2" port bin
  case "$srv" in knot) port="$KNOT_PORT"; bin=knotd;; nsd) port="$NSD_PORT"; bin=nsd;; esac
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] ||
    { PROBLEMS+=("$bin not installed: $srv skipped (apt-get install -y $srv)"); return; }
  port_free "$port" || { PROBLEMS+=("$srv port $port busy: $srv $VAR skipped (set ${srv^^}_PORT)"); return; }
  echo "SERVER=$srv PORT=$port VARIANTS=$VAR RUNS=$RUNS DUR=$DUR RATE=$RATE CLI=0 RESULTS_ROOT=$OUT/peers $PEER_BENCH/dns.sh" >>"$OUT/commands.txt"
  SERVER="$srv" PORT="$port" VARIANTS="$VAR" RUNS="$RUNS" DUR="$DUR" RATE="$RATE" CLI=0 \
    RESULTS_ROOT="$OUT/peers" RUN_ROOT="$RUN_ROOT" PATH="$PATH:/usr/sbin" \
    setsid "$PEER_BENCH/dns.sh" >"$OUT/$srv-$VAR-stdout.txt" 2>"$OUT/$srv-$VAR-stderr.txt" &
  PEER_PGID=$!
  wait "$PEER_PGID" || PROBLEMS+=("dns.sh SERVER=$srv VARIANTS=$VAR exited with $?; see $OUT/$srv-$VAR-stderr.txt")
  PEER_PGID=""
  grep -E "^dns-$srv $VAR (\(|latency at)" "$OUT/$srv-$VAR-stdout.txt" | tee -a "$OUT/lines.txt" | grep -q . ||
    PROBLEMS+=("$srv $VAR: no summary line in $OUT/$srv-$VAR-stdout.txt")
}

# ---- run
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# $(machine_info)"
  echo "# load average before: $load_before"
  echo "# meshkv $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty'), $(dnsperf -h 2>&1 | awk '/^Version/{print "dnsperf", $2}'), knot $(knotd --version 2>/dev/null | awk '{print $NF}'), nsd $(nsd -v 2>&1 | awk 'NR==1{print $3}')"
  echo "# zone example.test from $PEER_BENCH/dns-gen.sh; 1100 queries (1000 A + 100 TXT); dnsperf -l $DUR, $RUNS runs (medians); fixed rate -Q $RATE; variants: $VARIANTS"
} | tee "$OUT/summary.txt"

# The servers take turns within each variant, so that the numbers compared are minutes apart.
# The 1-minute load average is sampled every 5 s during each turn (the benchmark itself, server
# plus dnsperf, accounts for about 2 of it on this 2-core machine; more means other work).
declare -A LOAD
# The sampler is started in a double fork: it is not a child of this shell, so lib.sh's
# stop_started (which waits for every child) does not wait for it; it is stopped by its PID.
start_sampler() {
  ( ( while :; do cut -d' ' -f1 /proc/loadavg; sleep 5; done ) >"$1" 2>/dev/null </dev/null &
    echo $! >"$OUT/sampler.pid" )
  SAMPLER_PID=$(cat "$OUT/sampler.pid")
}
stop_sampler() {
  [ -n "$SAMPLER_PID" ] && kill -TERM $(pid_tree "$SAMPLER_PID") 2>/dev/null
  SAMPLER_PID=""
}
for VAR in $VARIANTS; do
  for s in $SERVERS; do
    start_sampler "$OUT/load-$s-$VAR.txt"
    case "$s" in
      meshkv) bench_meshkv "$VAR";;
      knot|nsd) bench_peer "$s" "$VAR";;
      *) PROBLEMS+=("unknown server $s");;
    esac
    stop_sampler
    LOAD[$s.$VAR]=$(spread $(cat "$OUT/load-$s-$VAR.txt"))
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- table
get_line() { grep -E "^dns-$1 $2 \(" "$OUT/lines.txt" 2>/dev/null | head -1; }
get_lat() { grep -E "^dns-$1 $2 latency at" "$OUT/lines.txt" 2>/dev/null | head -1; }
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.3g", a/b; else printf "n/a" }'; }
num() { echo "${1:-}" | sed 's/ms$//'; }
declare -A QPS P99 CPU
ROW='%-7s %-5s %9s %-17s %7s %6s %8s | %-9s %7s %7s %7s %8s %5s | %s\n'
{
  echo
  printf "$ROW" server var qps "[min..max]" avg_ms cores cpu_us/q "-Q $RATE" p50_ms p90_ms p99_ms p99.9_ms lost "load1 during"
  for VAR in $VARIANTS; do
    for s in meshkv knot nsd; do
      case " $SERVERS " in *" $s "*) ;; *) continue;; esac
      l=$(get_line "$s" "$VAR"); q=$(get_lat "$s" "$VAR")
      QPS[$s.$VAR]=$(field "$l" qps); P99[$s.$VAR]=$(num "$(field "$q" p99)"); CPU[$s.$VAR]=$(field "$l" server_cpu_us/query)
      printf "$ROW" "$s" "$VAR" "${QPS[$s.$VAR]:-n/a}" "$(echo "$l" | grep -o '\[[^]]*\]' | head -1)" \
        "$(num "$(field "$l" avg)")" "$(field "$l" server_cores)" "${CPU[$s.$VAR]:-n/a}" "qps=$(field "$q" qps)" \
        "$(num "$(field "$q" p50)")" "$(num "$(field "$q" p90)")" "${P99[$s.$VAR]:-n/a}" "$(num "$(field "$q" p99.9)")" \
        "$(field "$q" lost)" "${LOAD[$s.$VAR]:-n/a}"
    done
  done
  echo
  for VAR in $VARIANTS; do
    echo "$VAR: qps meshkv/knot = $(ratio "${QPS[meshkv.$VAR]:-}" "${QPS[knot.$VAR]:-}")  meshkv/nsd = $(ratio "${QPS[meshkv.$VAR]:-}" "${QPS[nsd.$VAR]:-}") (aim: >= 1 vs knot)" \
         "| p99 at -Q $RATE meshkv/knot = $(ratio "${P99[meshkv.$VAR]:-}" "${P99[knot.$VAR]:-}")  meshkv/nsd = $(ratio "${P99[meshkv.$VAR]:-}" "${P99[nsd.$VAR]:-}")" \
         "| cpu_us/query meshkv/knot = $(ratio "${CPU[meshkv.$VAR]:-}" "${CPU[knot.$VAR]:-}")  meshkv/nsd = $(ratio "${CPU[meshkv.$VAR]:-}" "${CPU[nsd.$VAR]:-}")"
  done
  echo "load average before: $load_before  after: $load_after"
  if [ ${#PROBLEMS[@]} -gt 0 ]; then
    echo; echo "problems seen:"; printf '  - %s\n' "${PROBLEMS[@]}"
  fi
  echo "raw results: $OUT"
} | tee -a "$OUT/summary.txt"
