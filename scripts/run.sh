#!/usr/bin/env bash
# `make run`: starts one meshkv node on loopback with its data in ./data/node1,
# waits until it answers, prints its address and admin token, and stops it
# cleanly (SIGTERM to its PID) on Ctrl-C.
# Environment: MESHKV_LISTEN (default 127.0.0.1:7070), MESHKV_RUN_DIR (./data).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${MESHKV_BIN:-$PWD/build/meshkv}"
LISTEN="${MESHKV_LISTEN:-127.0.0.1:7070}"
DIR="${MESHKV_RUN_DIR:-$PWD/data}/node1"
mkdir -p "$DIR"

# The log copy ignores Ctrl-C so the node's shutdown lines still reach it.
"$BIN" serve --data-dir "$DIR" --listen "$LISTEN" 2> >(trap '' INT TERM; exec tee -a "$DIR/meshkv.log" >&2) &
PID=$!
stop() {
  if kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
}
trap stop EXIT
trap 'exit 0' INT TERM

for _ in $(seq 1 100); do
  if curl -sf "http://$LISTEN/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then echo "meshkv exited; see $DIR/meshkv.log" >&2; exit 1; fi
  sleep 0.1
done
TOKEN="$(cat "$DIR/admin.token")"
cat <<MSG

meshkv is running (pid $PID)
  HTTP endpoint : http://$LISTEN
  admin token   : $TOKEN   (stored in $DIR/admin.token)
  data dir      : $DIR

Try:
  export MESHKV_ADDR=http://$LISTEN MESHKV_TOKEN=$TOKEN
  build/meshkv put greeting "hello world" && build/meshkv get greeting
  curl -H "Authorization: Bearer \$MESHKV_TOKEN" http://$LISTEN/v1/cluster/status

Ctrl-C stops the node.
MSG
wait "$PID"
