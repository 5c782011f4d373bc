// AntiEntropy: replicas compare what they hold and repair each other, so a
// replica that missed writes (hints expired, coordinator died, node restored
// from an old disk) converges without a read touching the key (DESIGN.md
// "Anti-entropy").
//
// A round is initiated by one node against one co-replica, over peer RPC:
//   1. kAeSummary: one hash over (namespace, partition, root) of every
//      partition both replicate, plus the digest of the owner set that
//      decided which partitions those are. Equal: the round is over (a few
//      dozen bytes each way). Otherwise the reply carries the peer's
//      partition roots.
//   2. kAeLeaves for the partitions whose roots differ (at most
//      max_partitions_per_round in a periodic round).
//   3. kAeKeys for the leaves that differ: (key, digest) lists, compared
//      with DiffLeafEntries.
//   4. Keys only the peer has, or newer there, are pulled (kReplicaRead) and
//      checked like any replicated write (Coordinator::CheckIncoming) before
//      they are merged here; keys only we have, or newer here, are pushed
//      (kReplicaWrite), which the peer checks the same way. The key lists
//      carry versions for this; on a version tie (or without versions) a key
//      goes both ways, which merging makes harmless.
// The responder checks every partition it is asked about against its own
// view (it must replicate it with the asker) and answers nothing else.
//
// The data comes from the DigestIndex (digest_index.h), kept in step with the
// store on every apply. Bytes sent and received are rate-limited.
//
// Tombstone GC: a round that finds a partition equal with a peer records
// when it started. A tombstone is purged once it is older than gc_grace (by
// its HLC time) and, for every other current replica of its partition, a
// round that started after the tombstone arrived here found the partition
// equal: every replica holds it, so no replica can bring the deleted value
// back. (A node away longer than gc_grace resyncs as if empty instead, see
// node.cc.)
//
// Threading: RunRound/Repair/CollectGarbage block on peer replies and run on
// the anti-entropy thread (Start) or a test; the handlers answer on the
// calling (RPC) thread without blocking. Lifecycle: Stop() before the
// coordinator and peer channel go away.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/metrics.h"
#include "replication/coordinator.h"
#include "replication/digest_index.h"
#include "replication/kv_service.h"
#include "replication/rate_limiter.h"

namespace meshkv::replication {

struct AntiEntropyOptions {
  int64_t interval_ms = 1'000;                // between periodic rounds (with ±20% jitter); 0 = off
  int64_t bytes_per_second = 16ll << 20;      // rate limit of all anti-entropy traffic
  size_t max_partitions_per_round = 64;       // per namespace, in periodic rounds
  int64_t request_deadline_ms = 10'000;       // per RPC
  int64_t gc_grace_ms = 24ll * 3600 * 1000;   // tombstones live at least this long
  int64_t gc_interval_ms = 10'000;            // how often the GC pass runs
};

// What one round (or a forced repair) did.
struct AeReport {
  uint64_t rounds = 0;
  uint64_t peers = 0;                 // peers compared with
  uint64_t partitions_compared = 0;   // shared partitions looked at
  uint64_t partitions_differing = 0;  // whose roots differed
  uint64_t leaves_differing = 0;
  uint64_t keys_pushed = 0;   // entries sent to the peer
  uint64_t keys_pulled = 0;   // entries merged here from the peer
  uint64_t bytes = 0;         // payload bytes sent + received
  bool converged = true;      // the last summary with every peer matched
  std::vector<std::string> errors;
  void Add(const AeReport& other);
};

class AntiEntropy {
 public:
  AntiEntropy(KvService& local, Coordinator& coordinator, PeerChannel& peers, DigestIndex& index,
              AntiEntropyOptions options, MetricsRegistry* metrics);
  ~AntiEntropy();

  // Starts the background thread: periodic rounds with a random live
  // co-replica, GC passes, and queued Repair requests.
  void Start();
  void Stop();

  // One round with `peer` over the namespaces in `namespaces` (all when
  // empty). `bounded`: at most max_partitions_per_round partitions per
  // namespace are repaired (the rest in later rounds).
  AeReport RunRound(NodeId peer, const std::vector<std::string>& namespaces, bool bounded);

  // Rounds with every live co-replica until each summary matches (at most a
  // few rounds per peer). Runs on the background thread when started (the
  // call queues it), else inline. `done` gets the sum of the rounds.
  void Repair(std::vector<std::string> namespaces, std::function<void(AeReport)> done);

  // Purges tombstones that every replica is known to hold (see above).
  // Returns how many were purged.
  size_t CollectGarbage();

  // ---- responder side (peer RPC handlers) ----
  void HandleSummary(NodeId from, std::string payload,
                     std::function<void(Result<std::string>)> reply);
  void HandleLeaves(NodeId from, std::string payload,
                    std::function<void(Result<std::string>)> reply);
  void HandleKeys(NodeId from, std::string payload, std::function<void(Result<std::string>)> reply);

 private:
  struct Shared;  // the shared partitions of one namespace with one peer
  std::vector<Shared> SharedWith(NodeId peer, const std::vector<std::string>& namespaces,
                                 uint64_t* owners_digest);
  Result<std::string> Call(NodeId peer, transport::MessageType type, const std::string& payload,
                           AeReport& report);
  void RepairPartitions(NodeId peer, const Shared& shared, const std::vector<PartitionId>& parts,
                        AeReport& report);
  // Compares and repairs `leaves`; returns those found equivalent (only
  // tombstones past gc_grace against absence differ), for tombstone GC.
  std::vector<std::pair<PartitionId, uint32_t>> RepairLeaves(
      NodeId peer, const NamespaceSpec& spec, size_t ns_index,
      const std::vector<std::pair<PartitionId, uint32_t>>& leaves, AeReport& report);
  // Both return false when a request failed (the report says why).
  bool Pull(NodeId peer, const NamespaceSpec& spec, std::vector<std::string> keys,
            AeReport& report);
  bool Push(NodeId peer, const NamespaceSpec& spec, const std::vector<std::string>& keys,
            AeReport& report);
  AeReport RepairNow(const std::vector<std::string>& namespaces);
  void MarkSynced(size_t ns_index, PartitionId partition, NodeId peer, int64_t at_ms);
  void Loop();

  KvService& local_;
  Coordinator& coordinator_;
  PeerChannel& peers_;
  DigestIndex& index_;
  const AntiEntropyOptions options_;
  const NodeId self_;
  RateLimiter limiter_;

  // When a round last found (namespace, partition) equal with each peer.
  std::mutex synced_mu_;
  std::map<std::pair<size_t, uint32_t>, std::map<NodeId, int64_t>> synced_at_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::atomic<bool> halt_{false};  // Stop() was called: blocked calls give up
  std::deque<std::pair<std::vector<std::string>, std::function<void(AeReport)>>> repairs_;
  std::thread thread_;
  std::mt19937_64 rng_;  // background thread only

  Counter* rounds_ = nullptr;
  Counter* rounds_matched_ = nullptr;
  Counter* partitions_differing_ = nullptr;
  Counter* keys_pushed_ = nullptr;
  Counter* keys_pulled_ = nullptr;
  Counter* bytes_ = nullptr;
  Counter* errors_ = nullptr;
  Counter* purged_ = nullptr;
};

}  // namespace meshkv::replication
