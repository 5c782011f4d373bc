// HintStore: hinted handoff (DESIGN.md, Request path). Writes that a replica
// did not acknowledge are kept on the coordinator, in the node's LocalTable,
// until the replica is alive again and the replayer has delivered them.
//
// Layout: one LocalTable row per hint,
//   key   "h/" | target node id (u64 big-endian) | seq (u64 big-endian)
//   value u8 format(=1) | i64 created_ms | u32 ns size | ns | u32 key size |
//         key | EncodeEntry() bytes          (integers little-endian)
// so a target's hints scan oldest first. Seq is one counter for all targets;
// after a restart it continues above the highest stored.
//
// Bounds, per target:
//   - bytes (row key + value): Add() drops the target's oldest hints until
//     the new one fits; counted as dropped{reason="bytes"}. A single hint
//     larger than the whole bound is refused (kResourceExhausted).
//   - age: a hint older than max_age_ms is removed when it is seen (Peek,
//     DropExpired); counted as expired.
// Rows under "h/" that do not decode (outside writers, damage) are removed
// when met, counted as dropped{reason="corrupt"} and logged; never fatal.
//
// Durability: rows are written without fsync (LocalTable sync=false): they
// survive a process crash, not a power loss. A hint is an optimisation over
// anti-entropy, which repairs whatever hints miss.
//
// Metrics (when a registry is given): meshkv_hints_queued_total,
// meshkv_hints_replayed_total, meshkv_hints_expired_total,
// meshkv_hints_dropped_total{reason="bytes"|"corrupt"}, meshkv_hints_pending,
// meshkv_hints_pending_bytes. The gauges are plain registry gauges updated by
// deltas, so several stores may share a registry and the registry may outlive
// the store.
//
// Errors: kInvalidArgument (bad target, namespace, key or entry bytes),
// kResourceExhausted (hint larger than the per-target bound),
// kFailedPrecondition (Load() has not succeeded yet), and the LocalTable's
// errors (kUnavailable, kDataLoss, ...).
//
// Thread-safety: every method is safe from any thread; operations are
// serialized by one mutex (each is a few LocalTable reads and writes).
// Lifecycle: construct, Load(), then use. The LocalTable, Clock and registry
// must outlive the store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "base/node_id.h"
#include "base/status.h"
#include "storage/local_table.h"

namespace meshkv::replication {

struct HintLimits {
  // Bytes of hints (row key + value) kept per target; the oldest go first.
  int64_t max_bytes_per_target = int64_t{64} << 20;
  // Age after which a hint is dropped: 3 h, DESIGN.md's default. Anti-entropy
  // repairs whatever an expired hint would have.
  int64_t max_age_ms = int64_t{3} * 3600 * 1000;
};

struct Hint {
  uint64_t seq = 0;
  std::string ns;
  std::string key;
  std::string entry;  // EncodeEntry() bytes (model/entry.h)
  int64_t created_ms = 0;
};

class HintStore {
 public:
  HintStore(LocalTable& table, const Clock& clock, HintLimits limits, MetricsRegistry* metrics);
  // Takes its pending hints out of the gauges (they stay in the table).
  ~HintStore();
  HintStore(const HintStore&) = delete;
  HintStore& operator=(const HintStore&) = delete;

  // Rebuilds per-target counts and the next seq from the table, removing
  // rows that do not decode. May be called again (it starts over).
  Status Load();

  // Queues a hint for `target`: `encoded_entry` is EncodeEntry() bytes for
  // (ns, key). Drops the target's oldest hints if the bound requires it.
  Status Add(NodeId target, std::string_view ns, std::string_view key,
             std::string_view encoded_entry);

  // The oldest hints for `target`, oldest first, whose row bytes add up to at
  // most `max_bytes` (but at least one hint if there is any). Expired and
  // undecodable rows met on the way are removed. Nothing is removed from the
  // queue for being returned: Remove() does that once the target acknowledged.
  Result<std::vector<Hint>> Peek(NodeId target, size_t max_bytes);

  // Removes delivered hints of `target` and counts them as replayed. Seqs no
  // longer stored (expired or dropped meanwhile) are skipped.
  Status Remove(NodeId target, const std::vector<uint64_t>& seqs);

  // Removes expired hints of every target (each target's oldest first, up to
  // its first live one); returns how many. For the replayer's periodic sweep,
  // so a target that never comes back does not keep its hints forever.
  Result<uint64_t> DropExpired();

  // Targets that have pending hints, in id order.
  std::vector<NodeId> Targets() const;
  uint64_t PendingBytes(NodeId target) const;
  uint64_t PendingCount(NodeId target) const;

 private:
  struct Pending {
    uint64_t bytes = 0;
    uint64_t count = 0;
  };
  // One live row met by Walk.
  struct Row {
    uint64_t seq;
    uint64_t bytes;
    std::string_view value;  // valid during the visit only
  };

  // Visits `target`'s live rows oldest first while `visit` returns true.
  // Expired and undecodable rows met on the way are removed and counted;
  // returns how many expired ones. REQUIRES: mutex_ held.
  template <typename Visit>
  Result<uint64_t> Walk(NodeId target, Visit&& visit);
  // Per-target counts and the gauges that mirror them. REQUIRES: mutex_ held
  // (the lock argument, where there is one, is the proof).
  uint64_t PendingBytes(NodeId target, const std::lock_guard<std::mutex>& held) const;
  void ClearPending(const std::lock_guard<std::mutex>& held);
  void AddPending(NodeId target, uint64_t count, uint64_t bytes);
  void SubtractPending(NodeId target, uint64_t count, uint64_t bytes);
  static void LogCorrupt(std::string_view row_key, std::string_view why);

  LocalTable& table_;
  const Clock& clock_;
  const HintLimits limits_;

  Counter* queued_ = nullptr;
  Counter* replayed_ = nullptr;
  Counter* expired_ = nullptr;
  Counter* dropped_bytes_ = nullptr;
  Counter* dropped_corrupt_ = nullptr;
  Gauge* pending_gauge_ = nullptr;
  Gauge* pending_bytes_gauge_ = nullptr;

  mutable std::mutex mutex_;
  // Guarded by mutex_:
  bool loaded_ = false;
  uint64_t next_seq_ = 1;
  std::map<NodeId, Pending> pending_;  // targets with count > 0 only
};

}  // namespace meshkv::replication
