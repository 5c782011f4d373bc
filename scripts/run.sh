#!/usr/bin/env bash
# `make run`: a local 3-node cluster on loopback (`meshkv cluster up -n 3`):
# generates a cluster CA, node certificates, a gossip key and an admin token
# under ./data/cluster (kept across runs, with the nodes' data), starts three
# nodes, waits until each sees all three alive, prints every node's endpoints
# and the admin token, and stops them all cleanly on Ctrl-C.
# Environment: MESHKV_RUN_DIR (default ./data); extra arguments go to
# `meshkv cluster up` (e.g. -n 5, --base-port 8000).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${MESHKV_BIN:-$PWD/build/meshkv}"
DIR="${MESHKV_RUN_DIR:-$PWD/data}/cluster"
exec "$BIN" cluster up --dir "$DIR" "$@"  # -n defaults to 3
