// KvService: the request path every front end (HTTP, DNS, RESP later) calls
// to read and write keys, and the local replica the replication layer applies
// to.
//
// Writes are validated, stamped with the HLC and this node's id, then handed
// to the ReplicationRouter (the quorum coordinator, replication/coordinator.h)
// when one is set, else applied to the local Store (through the
// GroupCommitter when storage sync is "always"). Read() and ListAcross() go
// through the router too; Get() and List() always read the local replica
// (the DNS server answers from it).
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

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
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
namespace replication {
class DigestIndex;
}

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

// Where reads and writes go when data lives on other nodes too. Implemented
// by replication::Coordinator; callbacks run exactly once, on any thread.
class ReplicationRouter {
 public:
  virtual ~ReplicationRouter() = default;
  // Sends stamped entries to their replicas; OK once enough replicas of every
  // key acknowledged for `consistency`, else kUnavailable with the counts.
  virtual void Write(const NamespaceSpec& ns, WriteBatch batch, Consistency consistency,
                     std::function<void(Status)> done) = 0;
  // The newest raw entry of `key` (tombstones and expired entries included)
  // among the replicas `consistency` asks for.
  virtual void Read(const NamespaceSpec& ns, std::string key, Consistency consistency,
                    std::function<void(Result<std::optional<Entry>>)> done) = 0;
  // A page of raw entries (dead included) merged across the owners, in key
  // order, as Store::Scan with include_dead.
  virtual void Scan(const NamespaceSpec& ns, ScanOptions options, Consistency consistency,
                    std::function<void(Result<ScanPage>)> done) = 0;
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

  // Refuse client writes (node.role = "replica_only"): ValidateMutations
  // answers kFailedPrecondition. Replicated writes (ApplyLocal) still apply.
  void SetRefuseClientWrites(bool refuse) { refuse_client_writes_ = refuse; }

  // Routes reads and writes through `router` from now on (null: local only).
  // Set before serving requests.
  void SetRouter(ReplicationRouter* router) { router_ = router; }
  // Keeps `index` (anti-entropy) in step with every apply from now on.
  // Set before serving requests.
  void SetDigestIndex(replication::DigestIndex* index) { index_ = index; }

  // The live entry for (ns, key) in the local replica, or nullopt when
  // absent, deleted or expired.
  Result<std::optional<Entry>> Get(std::string_view ns, std::string_view key);

  // The live entry for (ns, key) read at `consistency` (the namespace's
  // default when unset) through the router.
  using ReadCallback = std::function<void(Result<std::optional<Entry>>)>;
  void Read(std::string_view ns, std::string_view key, std::optional<Consistency> consistency,
            ReadCallback done);

  // Validates the mutations against the namespace; OK means Write() will not
  // refuse them for their content.
  Status ValidateMutations(std::string_view ns, const std::vector<Mutation>& mutations) const;

  // Stamps and applies `mutations` atomically. `done` is called exactly once:
  // inline when storage sync is "none", on the commit thread when "always".
  // With a router, `done` runs when the consistency level (the namespace's
  // default when unset) is reached.
  using WriteCallback = std::function<void(Result<std::vector<WriteAck>>)>;
  void Write(std::string_view ns, const std::vector<Mutation>& mutations,
             std::optional<Consistency> consistency, WriteCallback done);
  void Write(std::string_view ns, const std::vector<Mutation>& mutations, WriteCallback done) {
    Write(ns, mutations, std::nullopt, std::move(done));
  }

  // Live entries of the local replica in key order. `start_after` is exclusive.
  Result<ScanPage> List(std::string_view ns, std::string_view prefix, std::string_view start_after,
                        size_t limit, bool keys_only);
  // The same across the owners (through the router).
  using ScanCallback = std::function<void(Result<ScanPage>)>;
  void ListAcross(std::string_view ns, std::string prefix, std::string start_after, size_t limit,
                  bool keys_only, std::optional<Consistency> consistency, ScanCallback done);

  // ---- the local replica, for the replication layer ----
  // Merges already-stamped entries into the local store (group-committed
  // when sync = "always"); `done` runs inline or on the commit thread.
  void ApplyLocal(WriteBatch batch, std::function<void(Status)> done);
  // Raw entry (tombstones and expired included).
  Result<std::optional<Entry>> GetRaw(std::string_view ns, std::string_view key);
  Hlc& hlc() { return hlc_; }
  // Bumped after every write applied to `ns` on this node (local or
  // replicated): caches of derived data (DNS answers) compare it.
  uint64_t generation(std::string_view ns) const;

 private:
  Store& store_;
  GroupCommitter* committer_;
  Hlc& hlc_;
  const Clock& clock_;
  const NodeId self_;
  const std::vector<NamespaceSpec> namespaces_;
  ReplicationRouter* router_ = nullptr;
  replication::DigestIndex* index_ = nullptr;
  bool refuse_client_writes_ = false;
  std::unique_ptr<std::atomic<uint64_t>[]> generations_;  // per namespace, same index

  void BumpGeneration(const WriteBatch& batch);
  // Index and generation bookkeeping once `batch` was (or failed to be) applied.
  void AfterApply(const WriteBatch& batch, const Status& applied);
  void ListRounds(const NamespaceSpec& spec, ScanOptions options, Consistency consistency,
                  size_t want, int rounds_left, ScanPage collected, ScanCallback done);
};

}  // namespace meshkv
