// `meshkv cluster up|down`: a local cluster on loopback, for development,
// demos and tests (DESIGN.md, Operations).
//
// `cluster up -n N --dir D --base-port P` prepares D (kept across runs, so a
// second `up` restarts the same cluster with its data):
//   D/ca.crt D/ca.key            cluster CA (tls_files.h)
//   D/gossip.key                 gossip key (base64)
//   D/admin.token                admin token secret (mode 0600)
//   D/nodeK/meshkv.toml          config of node K = 1..N
//   D/nodeK/data/                its data dir (node_id written before the cert)
//   D/nodeK/node.crt, node.key   its certificate
//   D/nodeK/node.log             its stdout+stderr (appended)
//   D/nodeK/pid                  its pid while running
//   D/cluster.json               {"token", "nodes": [{name, id, http, cluster, dns, pid, ...}]}
// `--sync always` sets [storage] sync = "always" on every node, `--preset`
// the failure detector timing (default local).
// Node K (i = K-1) listens on 127.0.0.1: HTTP P+10i, cluster P+10i+1, DNS
// P+10i+2; nodes 2..N seed node 1. It starts N `meshkv serve` processes,
// waits until every node sees N alive members, and prints the endpoints and
// the admin token. In the foreground it stops them all (SIGTERM, then
// SIGKILL after a grace period) on Ctrl-C or SIGTERM, or when one of them
// dies; with --detach it returns leaving them running, and `cluster down
// --dir D` stops them by the pids in D/nodeK/pid.
//
// Exit codes: 0 up (detach) or stopped cleanly (foreground); 1 failure (the
// message says which node and shows the end of its log); 2 usage.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/client_commands.h"

namespace meshkv {

void AddClusterLauncherCommands(CLI::App& app, ClientCommandResult& result);

}  // namespace meshkv
