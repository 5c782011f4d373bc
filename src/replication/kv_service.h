// KvService: the request path every front end (HTTP today, DNS and RESP
// later) calls to read and write keys.
//
// On one node it stamps writes with the HLC and this node's id, applies them to
// the local Store (through the GroupCommitter when storage sync is "always")
// and reads the local replica. The replication issue puts the quorum
// coordinator behind this same interface; front ends do not change.
//
// Validation happens here, before anything is written: namespace exists, key
// size, value size against the namespace's max_value_bytes, TTL, sync policy.
// Errors: kNotFound (namespace), kInvalidArgument (key, ttl),
// kResourceExhausted (value too large), kPermissionDenied (sync policy),
// kUnavailable / kDataLoss / kInternal from storage.
//
// Thread-safety: all methods are safe from any thread. Lifecycle: the Store,
// GroupCommitter (optional), Hlc and Clock must outlive the service.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/hlc.h"
#include "base/node_id.h"
#include "model/entry.h"
#include "model/namespace_spec.h"
#include "storage/group_commit.h"
#include "storage/store.h"

namespace meshkv {

// One client mutation before it is stamped with a version.
struct Mutation {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  std::optional<int64_t> ttl_ms;  // unset: the namespace default; 0: never expires
};

struct WriteAck {
  Version version;
  int64_t expires_at_ms = 0;  // 0 = never
};

class KvService {
 public:
  KvService(Store& store, GroupCommitter* committer, Hlc& hlc, const Clock& clock, NodeId self,
            std::vector<NamespaceSpec> namespaces);

  // nullptr when `ns` is not configured.
  const NamespaceSpec* FindNamespace(std::string_view ns) const;
  const std::vector<NamespaceSpec>& namespaces() const { return namespaces_; }
  NodeId node_id() const { return self_; }
  Store& store() { return store_; }
  const Clock& clock() const { return clock_; }

  // The live entry for (ns, key), or nullopt when absent, deleted or expired.
  Result<std::optional<Entry>> Get(std::string_view ns, std::string_view key);

  // Validates the mutations against the namespace; OK means Write() will not
  // refuse them for their content.
  Status ValidateMutations(std::string_view ns, const std::vector<Mutation>& mutations) const;

  // Stamps and applies `mutations` atomically. `done` is called exactly once:
  // inline when storage sync is "none", on the commit thread when "always".
  using WriteCallback = std::function<void(Result<std::vector<WriteAck>>)>;
  void Write(std::string_view ns, const std::vector<Mutation>& mutations, WriteCallback done);
  // True when Write() completes inline (no group commit).
  bool writes_complete_inline() const { return committer_ == nullptr; }

  // Live entries in key order. `start_after` is exclusive.
  Result<ScanPage> List(std::string_view ns, std::string_view prefix, std::string_view start_after,
                        size_t limit, bool keys_only);

 private:
  Store& store_;
  GroupCommitter* committer_;
  Hlc& hlc_;
  const Clock& clock_;
  const NodeId self_;
  const std::vector<NamespaceSpec> namespaces_;
};

}  // namespace meshkv
