// Node: one running meshkv server, wired from a Config.
//
// Start() opens the data dir (exclusive lock, node id), sets up logging with
// the node id, loads or generates the admin token, opens storage, starts group
// commit (sync = "always") and the HTTP server. Run() then waits for signals
// on the calling thread: SIGTERM/SIGINT drain and stop (exit code 0), SIGHUP
// reloads [[tokens]] from the config file.
//
// Threading: call Start() and Run() from the main thread, before any other
// thread is created; Start() blocks the handled signals in every thread so
// only Run() receives them. Lifecycle: construct, Start(), Run(), destroy.
#pragma once

#include <memory>

#include "base/status.h"
#include "server/config.h"

namespace meshkv {

class Node {
 public:
  explicit Node(Config config);
  ~Node();

  Status Start();
  // Blocks until SIGTERM or SIGINT, then drains and stops. Returns the
  // process exit code.
  int Run();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Reads `path` if it exists, else writes a new secret there with mode 0600
// (never overwriting). Returns the secret.
Result<std::string> LoadOrCreateAdminToken(const std::string& path);

}  // namespace meshkv
