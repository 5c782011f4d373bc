// A namespace is a named keyspace with its own replication spec. The spec is
// parsed and validated from config now, even where one node ignores parts of
// it, so configs written today keep meaning the same thing in a cluster.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/node_id.h"
#include "base/status.h"

namespace meshkv {

enum class Consistency { kOne, kQuorum, kAll };
std::string_view ConsistencyName(Consistency c);
Result<Consistency> ParseConsistency(std::string_view text);

enum class SyncPolicy { kLastWriterWins, kPrimaryWriter };
std::string_view SyncPolicyName(SyncPolicy p);

// Where a namespace's data lives on a node.
enum class StorageKind { kDisk, kMemory };

// The largest max_value_bytes a namespace may set: a value and its key must
// fit one peer RPC frame (16 MiB) in any replication message.
inline constexpr int64_t kMaxValueBytesLimit = int64_t{8} << 20;

struct NamespaceSpec {
  static constexpr int kReplicasAll = -1;
  static constexpr int64_t kDefaultMaxValueBytes = 1 << 20;

  std::string name;
  // Replica count, or kReplicasAll (every owner holds everything).
  int replicas = 3;
  Consistency consistency = Consistency::kQuorum;
  SyncPolicy sync_policy = SyncPolicy::kLastWriterWins;
  // Node ids allowed to originate writes when sync_policy is kPrimaryWriter.
  std::vector<NodeId> writers;
  int64_t default_ttl_ms = 0;  // 0 = entries never expire unless asked
  int64_t max_value_bytes = kDefaultMaxValueBytes;
  StorageKind storage = StorageKind::kDisk;

  // Checks every field; the message names the field and the allowed values.
  Status Validate() const;
};

// Namespace names: 1..64 of [a-z0-9_-], starting with a letter.
Status ValidateNamespaceName(std::string_view name);

// The built-ins: `default` (replicas 3) and `dns` (replicas all).
std::vector<NamespaceSpec> BuiltinNamespaces();

}  // namespace meshkv
