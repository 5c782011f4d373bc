// The client verbs of the `meshkv` command line: put, get, del, ls, status.
// Each talks to one node over the HTTP API (docs/api.md) through SendRequest.
//
// Every verb takes the common options
//   --addr ADDR         http://host:port or host:port (env MESHKV_ADDR, else
//                       http://127.0.0.1:7070); https is refused.
//   --token TOKEN       bearer token (else --token-file, else env MESHKV_TOKEN).
//   --token-file PATH   the token is the first line of PATH.
//   --timeout DURATION  whole request, e.g. 500ms, 10s (default 10s).
// and writes only data to stdout (raw value bytes for `get`, keys for `ls`,
// JSON for `status` and with --json); diagnostics go to stderr as one line
// starting with "meshkv: ".
//
// Exit codes (kExit* below): 0 success; 3 `get`/`del` got 404 (key absent, or
// an unknown namespace); 2 usage error (CLI11 parse errors and our validators:
// bad --ttl, --timeout, --addr, --consistency, --limit, empty key or token);
// 1 any other failure (HTTP error status, cannot connect, timeout, ...).
//
// Threading: the verbs run synchronously inside CLI::App::parse on the calling
// thread (as subcommand callbacks).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>

namespace meshkv {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;

// Written by whichever client verb ran.
struct ClientCommandResult {
  bool ran = false;  // a client verb's callback ran
  int exit_code = kExitOk;
};

// Where the verbs read the value (`put` without VALUE) and write output and
// diagnostics. A seam for tests; main uses the defaults.
struct ClientStreams {
  std::FILE* in = stdin;
  std::FILE* out = stdout;
  std::FILE* err = stderr;
};

// Registers the subcommands put, get, del, ls and status on `app`. When one of
// them is selected, app.parse() runs it to completion and stores its exit code
// in `result`; parse errors (including our validators) are thrown by
// app.parse() as CLI::ParseError before anything is sent.
// REQUIRES: `result` outlives every call of app.parse(); the streams stay open
// as long.
//
// Use from main:
//   CLI::App app{"meshkv: clustered replicated key-value store"};
//   meshkv::ClientCommandResult client;
//   meshkv::AddClientCommands(app, client);
//   ...  // other subcommands
//   try {
//     app.parse(argc, argv);
//   } catch (const CLI::ParseError& e) {
//     return meshkv::ExitCodeForParseError(app, e);
//   }
//   if (client.ran) return client.exit_code;
void AddClientCommands(CLI::App& app, ClientCommandResult& result, ClientStreams streams = {});

// Prints a CLI11 parse error or the requested --help/--version the way CLI11
// does (app.exit) and returns the process exit code: kExitOk for help and
// version, kExitUsage for every parse or validation error (CLI11's own codes
// are 100+). A CLI::RuntimeError keeps its own exit code.
int ExitCodeForParseError(const CLI::App& app, const CLI::ParseError& error);

}  // namespace meshkv
