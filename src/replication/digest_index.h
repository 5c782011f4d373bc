// DigestIndex: the anti-entropy mirror of the local replica (DESIGN.md
// "Anti-entropy").
//
// For every (namespace, partition) it keeps a HashTree and the sorted map
// key -> (version, flags, expiry, digest) of what the store holds. It is fed
// by KvService after every successful store apply (Applied), and by a scan of
// the store when the node starts (Rebuild). Because an entry only replaces
// the indexed one when Merge would (higher version, or the same version with
// a higher rank), the index is itself a merge of everything applied: updates
// may arrive in any order, twice, or race with the start-up scan, and the
// index still equals the store. Writes never read the store for it.
//
// Tombstone GC needs the opposite direction (removing an entry from the
// store) without losing a concurrent write. Writers therefore announce keys
// before applying them (Announce), and withdraw the announcement with the
// result (Applied or Withdraw). Purge() removes a key only while nobody has
// it announced, under the partition's lock, so a writer that announces later
// applies after the removal and one that announced earlier blocks it.
//
// Cost: one std::map node per stored key (about 100 bytes plus the key); 1024
// partitions x namespaces small trees of 64 leaves. Thread-safety: every
// method is safe from any thread; one mutex per (namespace, partition).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "model/entry.h"
#include "replication/hash_tree.h"
#include "replication/placement.h"
#include "storage/store.h"

namespace meshkv::replication {

// What the index knows of one stored entry.
struct IndexedEntry {
  Version version;
  bool tombstone = false;
  int64_t expires_at_ms = 0;
  uint64_t digest = 0;
  int64_t arrived_ms = 0;  // local clock when this version was folded in
  bool present = false;    // false: only announced so far, not in the store
  uint32_t writers = 0;  // announcements in flight (see Announce)
};

class DigestIndex {
 public:
  static constexpr uint32_t kLeaves = HashTree::kDefaultLeaves;

  // `clock` stamps arrivals (for GC); it must outlive the index.
  DigestIndex(std::vector<std::string> namespaces, uint32_t partitions, const Clock& clock);

  uint32_t partitions() const { return partitions_; }
  // Index of `ns` in the constructor's list, or nullopt.
  std::optional<size_t> NamespaceIndex(std::string_view ns) const;

  // ---- write path ----
  // Announces that `batch` is about to be applied; every op must later be
  // Applied() (on success) or Withdraw()n (on failure) exactly once.
  void Announce(const WriteBatch& batch);
  // The batch was applied to the store: folds every entry in.
  void Applied(const WriteBatch& batch);
  // The batch was not applied: drops the announcements.
  void Withdraw(const WriteBatch& batch);
  // Folds one entry in without an announcement (the start-up scan).
  void Observe(std::string_view ns, std::string_view key, const Entry& entry);

  // Scans every namespace of `store` and folds every entry in. Safe while
  // writes are applied (see the class comment).
  Status Rebuild(Store& store);

  // ---- anti-entropy reads ----
  uint64_t PartitionRoot(size_t ns, PartitionId partition);
  std::vector<uint64_t> Leaves(size_t ns, PartitionId partition);
  // The (key, digest) pairs of one leaf of a partition, in key order; at
  // most `limit` (then `*truncated` is set). `versions`, when given, gets
  // each key's version, in the same order.
  std::vector<std::pair<std::string, uint64_t>> LeafEntries(size_t ns, PartitionId partition,
                                                            uint32_t leaf, size_t limit,
                                                            bool* truncated,
                                                            std::vector<Version>* versions = nullptr);
  // The leaf of `key` (the same for every partition).
  uint32_t LeafOf(std::string_view key) const { return leaf_hasher_.LeafOf(key); }
  // Entries indexed in `ns` (tombstones included).
  size_t Size(size_t ns);

  // ---- tombstone GC ----
  // Keys of `partition` holding a tombstone whose HLC wall time is before
  // `before_wall_ms` and that arrived here before `arrived_before_ms`, at
  // most `limit`.
  std::vector<std::pair<std::string, Version>> OldTombstones(size_t ns, PartitionId partition,
                                                            int64_t before_wall_ms,
                                                            int64_t arrived_before_ms,
                                                            size_t limit);
  // Removes each key whose indexed entry is still the tombstone at the given
  // version and that no writer has announced: calls `remove` (which deletes
  // from the store) under the partition lock with the keys it may delete, and
  // drops them from the index when it returns OK. Returns the number removed.
  Result<size_t> Purge(size_t ns, PartitionId partition,
                       const std::vector<std::pair<std::string, Version>>& candidates,
                       const std::function<Status(const std::vector<std::string>&)>& remove);

 private:
  struct Slot {
    std::mutex mu;
    HashTree tree{kLeaves};
    std::map<std::string, IndexedEntry, std::less<>> keys;
  };
  Slot& SlotOf(size_t ns, PartitionId partition) {
    return *slots_[ns * partitions_ + partition.value()];
  }
  // Folds `entry` into `slot` under its lock; `announced` drops one writer.
  void Fold(Slot& slot, std::string_view key, const Entry& entry, bool announced);

  const std::vector<std::string> namespaces_;
  const uint32_t partitions_;
  const Clock& clock_;
  const HashTree leaf_hasher_{kLeaves};
  std::vector<std::unique_ptr<Slot>> slots_;  // [ns * partitions + partition]
};

}  // namespace meshkv::replication
