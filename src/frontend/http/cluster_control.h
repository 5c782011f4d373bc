// ClusterControl: what the HTTP API needs from the node's cluster layer
// (GET /v1/cluster/members, cluster fields of /v1/cluster/status, POST
// /v1/cluster/join|leave, /v1/cluster/keyring). Implemented by
// server/cluster.h; a node without [cluster] still implements it (members
// = itself; join and keyring changes answer kFailedPrecondition).
//
// Thread-safety: every method may be called from any HTTP thread. Callbacks
// run on the cluster thread, exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "membership/keyring.h"
#include "membership/member.h"

namespace meshkv::http {

struct ClusterStatus {
  bool enabled = false;  // false: no [cluster] configured (standalone node)
  std::string name;
  NodeId self;
  uint64_t incarnation = 0;
  int health_score = 0;
  std::map<std::string, size_t> members_by_state;  // "alive" -> n, ...
  std::vector<membership::KeyInfo> gossip_keys;
  std::vector<std::string> seeds;
  bool joined = false;
  std::optional<std::string> last_join_error;
  std::string srv_domain;                      // "" = SRV discovery off
  std::optional<int64_t> srv_last_refresh_ms;  // wall clock
  std::vector<std::string> srv_found;
  std::optional<std::string> srv_last_error;
};

enum class KeyringOp { kInstall, kUse, kRemove };

struct KeyringChange {
  size_t nodes = 0;  // live members asked, self included
  size_t ok = 0;
  std::map<std::string, std::string> errors;  // node id -> message
};

class ClusterControl {
 public:
  virtual ~ClusterControl() = default;
  // Every known member, self first.
  virtual std::vector<membership::Member> Members() const = 0;
  virtual ClusterStatus CurrentStatus() const = 0;
  // Joins through each address ("host:port" or "id@host:port"); done gets the
  // number joined, or kUnavailable listing every failure when none worked.
  virtual void Join(std::vector<std::string> addresses,
                    std::function<void(Result<size_t>)> done) = 0;
  // Starts a graceful leave; the node then shuts down as on SIGTERM.
  virtual void Leave() = 0;
  virtual std::vector<membership::KeyInfo> Keys() const = 0;
  // Applies `op` with the raw 32-byte `key` on every live member.
  virtual void ChangeKeyring(KeyringOp op, std::string key,
                             std::function<void(Result<KeyringChange>)> done) = 0;
};

}  // namespace meshkv::http
