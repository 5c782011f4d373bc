// Coordinator: any node coordinates any request (DESIGN.md, Request path).
//
// For a key it computes the partition and the replica set from the ownership
// state (placement.h), sends the request to every replica in parallel (this
// node's own replica directly through KvService) and answers after R or W
// replies:
//   one = 1, quorum = floor(n/2) + 1, all = n, with n the replica-set size
//   (capped by the number of owners, so one node serves quorum requests).
// Writes also go to pending owners (they do not count towards W). A replica
// that does not acknowledge, or that the failure detector says is down, gets
// a hint (hints.h) replayed when it is alive again. A quorum read that sees an
// older (or missing) entry on a replica repairs it in the background. When a
// consistency level cannot be reached the answer is kUnavailable naming the
// counts and the replicas' fates, never a silent partial success.
//
// Replica side: HandleWrite/HandleRead/HandleScan answer the peer RPCs, after
// re-validating everything (namespace, key and value sizes, entry encoding,
// HLC skew, sync policy).
//
// Ownership: the coordinator holds this node's copy of the OwnershipState;
// MergeOwnership() folds in a peer's (kOwnership RPC), SetSelfState() records
// an explicit act of this node. Changes are persisted through `persist`.
//
// Threading: every method may be called from any thread, handlers
// concurrently; callbacks run on whatever thread completed the last reply
// (an io thread running the RPC lanes, or the commit thread). Lifecycle: create, SetOwnership..., then serve; destroy after the
// peer channel has stopped calling back.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "base/node_id.h"
#include "base/status.h"
#include "replication/hints.h"
#include "replication/kv_service.h"
#include "replication/ownership.h"
#include "replication/placement.h"
#include "replication/rate_limiter.h"
#include "transport/message_type.h"

namespace meshkv::replication {

// How the coordinator reaches other nodes (implemented over transport's
// RpcClient and the member list; a fake in tests and the simulation).
class PeerChannel {
 public:
  virtual ~PeerChannel() = default;
  // False when the failure detector holds the node dead or left (or unknown).
  virtual bool IsLive(NodeId node) const = 0;
  // `done` exactly once, on any thread.
  virtual void Call(NodeId node, transport::MessageType type, std::string payload,
                    int64_t deadline_ms, std::function<void(Result<std::string>)> done) = 0;
};

struct CoordinatorOptions {
  uint32_t partitions = kDefaultPartitions;
  int64_t request_deadline_ms = 5'000;  // per replica call
  // After the owner set changes, writes also need W of the previous replica
  // sets for this long (local clock): nodes that have not heard of the
  // change yet still read there. Ownership changes reach every node within
  // about a second (pushed, then exchanged every 500 ms).
  // Ends early once every live owner is known to route by the new set.
  int64_t transition_grace_ms = 10'000;
  size_t hint_replay_batch_bytes = 1 << 20;
  int64_t hint_replay_bytes_per_second = 16 << 20;  // rate limit of hint replay
};

// The replicas of one key, for GET /v1/owners/{key}.
struct KeyPlacement {
  PartitionId partition;
  std::vector<NodeId> replicas;          // current replica set, highest rank first
  std::vector<NodeId> pending_replicas;  // future replicas not yet in the set
};

class Coordinator final : public ReplicationRouter {
 public:
  Coordinator(KvService& local, PeerChannel& peers, HintStore* hints, CoordinatorOptions options,
              MetricsRegistry* metrics);

  // ---- ReplicationRouter (front ends, through KvService) ----
  void Write(const NamespaceSpec& ns, WriteBatch batch, Consistency consistency,
             std::function<void(Status)> done) override;
  void Read(const NamespaceSpec& ns, std::string key, Consistency consistency,
            std::function<void(Result<std::optional<Entry>>)> done) override;
  void Scan(const NamespaceSpec& ns, ScanOptions options, Consistency consistency,
            std::function<void(Result<ScanPage>)> done) override;

  // ---- replica side (peer RPC handlers) ----
  void HandleWrite(NodeId from, std::string payload,
                   std::function<void(Result<std::string>)> reply);
  void HandleWriteBatch(NodeId from, std::string payload,
                        std::function<void(Result<std::string>)> reply);
  void HandleRead(NodeId from, std::string payload, std::function<void(Result<std::string>)> reply);
  void HandleScan(NodeId from, std::string payload, std::function<void(Result<std::string>)> reply);

  // Checks entries a peer sent (value size, HLC skew, sync policy) and
  // returns what to apply: entries from writers a primary_writer namespace
  // does not allow are dropped. The first violation is the error.
  Result<WriteBatch> CheckIncoming(const NamespaceSpec& ns, std::vector<KeyEntry> entries);

  // ---- anti-entropy support (anti_entropy.h) ----
  // Partitions of `ns` (ascending) where this node and `peer` are both
  // current replicas, and the digest of the owner set that decided it.
  std::vector<PartitionId> SharedPartitions(const NamespaceSpec& ns, NodeId peer,
                                            uint64_t* owners_digest) const;
  // Nodes that share at least one partition with this one (self excluded).
  std::vector<NodeId> CoReplicas() const;
  // The current replicas of a partition.
  std::vector<NodeId> ReplicasOf(const NamespaceSpec& ns, PartitionId p) const;

  // ---- ownership ----
  OwnershipState Ownership() const;
  // Folds in a peer's state; true if ours changed. `from`: the node whose
  // current state this is (an exchange), so the coordinator learns who
  // already routes by the same owner set (see transition_grace_ms).
  bool MergeOwnership(const OwnershipState& other, std::optional<NodeId> from = std::nullopt);
  void SetSelfState(OwnerState state);
  // Called (outside locks) after every ownership change, e.g. to persist it.
  void OnOwnershipChange(std::function<void(const OwnershipState&)> listener);
  // node.role = "reject_local_writes": this node never stores data; replica
  // writes sent to it are refused (kFailedPrecondition).
  void SetHoldsNoData() { holds_no_data_ = true; }
  KeyPlacement PlacementOf(const NamespaceSpec& ns, std::string_view key) const;
  // True while writes still count the previous replica sets (the owner set
  // changed and not every live owner is known to route by the new one yet).
  bool TransitionInProgress() const;

  // Streams in everything this node will own (it must be pending): pages
  // through every namespace across the owners and merges the entries whose
  // future replica set includes this node. `done` once, with the first error.
  void CatchUp(std::function<void(Status)> done);
  // Decommission: streams every local entry to the replicas that will own it
  // once this (leaving) node is gone, i.e. the future replicas that are not
  // current ones. `done` once, with the first error (nothing is skipped).
  void StreamOut(std::function<void(Status)> done);

  // What rebalancing (catch-up or stream-out) has done, for status/metrics.
  struct RebalanceProgress {
    std::string phase;     // "", "catching_up", "streaming_out", "done", "failed: ..."
    uint64_t entries = 0;  // entries streamed in or out so far
  };
  RebalanceProgress Progress() const;

  // Sends up to one batch of hints to every live target that has some.
  // Call periodically (the node does, every second).
  void ReplayHints();

 private:
  struct View;
  std::shared_ptr<const View> CurrentView() const;
  void Rebuild();
  void ApplyLocalEntries(const std::string& ns, std::vector<KeyEntry> entries,
                         std::function<void(Status)> done);
  void SendWrite(NodeId node, const std::string& ns, std::vector<KeyEntry> entries,
                 std::function<void(Status)> done);
  // Hints for `node`: the ops of `batch` at `indexes`.
  void Hint(NodeId node, const WriteBatch& batch, const std::vector<size_t>& indexes);
  // Write coalescing: at most kMaxWritesInFlight replica-write RPCs per peer;
  // writes sent meanwhile wait in the peer's outbox and go together in one
  // kReplicaWriteBatch when one returns (no delay while the link is idle).
  struct QueuedWrite {
    std::string ns;
    std::vector<KeyEntry> entries;
    std::function<void(Status)> done;
  };
  struct Outbox {
    std::mutex mu;
    int in_flight = 0;  // guarded by mu
    std::vector<QueuedWrite> queue;  // guarded by mu
  };
  Outbox& OutboxOf(NodeId node);
  // Takes the next batch off `box.queue`. REQUIRES: box.mu held.
  static std::vector<QueuedWrite> TakeBatch(Outbox& box);
  void SendQueued(NodeId node, Outbox& box, std::vector<QueuedWrite> batch);
  void CatchUpFrom(size_t ns_index, std::string start_after, std::shared_ptr<uint64_t> merged,
                   std::function<void(Status)> done);
  void StreamOutFrom(size_t ns_index, std::string start_after, std::function<void(Status)> done);
  void SetProgress(std::string phase, uint64_t add_entries);
  void NoteSameOwners(NodeId member);
  // A quorum read in progress (Read): replicas asked, replies, spares.
  struct PendingRead {
    std::string ns;
    std::string key;
    std::string payload;  // the kReplicaRead request
    std::mutex mu;
    size_t needed = 0;
    size_t replies = 0;      // successful; guarded by mu
    size_t outstanding = 0;  // asked, not answered; guarded by mu
    std::vector<NodeId> spare;  // live replicas not asked yet, next last; guarded by mu
    bool answered = false;      // guarded by mu
    std::optional<Entry> best;  // guarded by mu
    std::vector<std::pair<NodeId, std::optional<Entry>>> seen;  // guarded by mu
    std::vector<std::string> failures;                          // guarded by mu
    std::function<void(Result<std::optional<Entry>>)> done;
  };
  void AskReplica(const std::shared_ptr<PendingRead>& read, NodeId node);
  void OnReadReply(const std::shared_ptr<PendingRead>& read, NodeId node,
                   Result<std::optional<Entry>> entry);

  KvService& local_;
  PeerChannel& peers_;
  HintStore* hints_;
  const CoordinatorOptions options_;
  const NodeId self_;

  mutable std::mutex mu_;
  OwnershipState ownership_;          // guarded by mu_
  std::shared_ptr<const View> view_;  // guarded by mu_; replaced on change
  std::vector<std::function<void(const OwnershipState&)>> listeners_;
  std::set<NodeId> replaying_;  // guarded by mu_: targets with a hint batch in flight
  RebalanceProgress progress_;  // guarded by mu_
  // Members known to route by the current owner set since it changed;
  // transition_closed_ once every live one does (writes then stop counting
  // the previous replica sets).
  std::set<NodeId> confirmed_;  // guarded by mu_
  std::atomic<bool> transition_closed_{false};
  std::mutex outboxes_mu_;
  std::map<NodeId, std::unique_ptr<Outbox>> outboxes_;  // guarded by outboxes_mu_; never erased
  bool holds_no_data_ = false;  // set before serving
  RateLimiter replay_limiter_;

  Counter* writes_ = nullptr;
  Counter* write_failures_ = nullptr;
  Counter* reads_ = nullptr;
  Counter* read_failures_ = nullptr;
  Counter* read_repairs_ = nullptr;
  Counter* hinted_ = nullptr;
  Counter* refused_entries_ = nullptr;
  Counter* rebalanced_entries_ = nullptr;
};

// A digest of an owner set (order-independent): equal on nodes that place
// every partition the same way.
uint64_t OwnersDigest(const std::vector<NodeId>& owners);

// Replies needed out of `replicas` for `consistency`.
size_t RequiredReplies(Consistency consistency, size_t replicas);
// OK when `nodes` hold, for every partition of `table`, the replicas
// `consistency` needs; else kUnavailable naming a partition that falls short.
Status CheckCoverage(const PartitionTable& table, uint32_t partitions,
                     const std::vector<NodeId>& nodes, Consistency consistency);

}  // namespace meshkv::replication
