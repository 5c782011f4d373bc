// Cluster verbs of the `meshkv` command line:
//   members, join ADDR..., leave, decommission, keyring list|install|use|remove KEY
//     HTTP clients of /v1/cluster/* with the common options of
//     client_commands.h (--addr, --token, ...), same exit codes;
//   keygen                      prints a new gossip key (base64);
//   tls ca create, tls cert create   write the cluster CA and node certs
//     (trust/tls_files.h).
// `cluster up|down` (the local launcher) is in cluster_launcher.h.
//
// Threading: like the other verbs, run inside CLI::App::parse.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/client_commands.h"

namespace meshkv {

void AddClusterCommands(CLI::App& app, ClientCommandResult& result, ClientStreams streams = {});

}  // namespace meshkv
