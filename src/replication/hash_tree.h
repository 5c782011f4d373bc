// HashTree: the anti-entropy summary of one (namespace, partition) replica
// (DESIGN.md "Anti-entropy").
//
// Keys fall into a fixed number of leaf buckets by a hash of the key alone
// (independent of the partition hash, so one partition's keys spread over all
// leaves). A leaf's hash is the XOR of the EntryDigest() of the entries in it,
// so adding or removing one entry is one XOR, in any order. Inner nodes form a
// binary tree over the leaves: an inner hash is xxh3_64 of its two children's
// hashes (16 bytes, little-endian), and 0 when both children are 0, so an
// empty tree has root 0 whatever its size. Inner hashes are recomputed lazily
// when Root() is read, only along paths that changed.
//
// Two replicas with the same entries have the same root and leaves. Comparing
// roots, then DifferingLeaves(), then DiffLeafEntries() over the (key, digest)
// lists of the differing leaves yields exactly the keys that differ.
//
// Usage contract: the tree mirrors a set of (key, entry) pairs. Toggle the
// digest of an entry in when it is stored, and out when it is replaced or
// removed; an entry superseded by a newer version is Toggle(key, old) then
// Toggle(key, new). Toggling the same digest in twice cancels it (XOR), so a
// caller must not add an entry it already added: this is why the tree is fed
// from the storage apply path (which knows the previous entry), not from
// incoming messages, which may be duplicated.
//
// Thread-safety: none; one owner (the partition's anti-entropy state) or
// external locking. Root() mutates the cache and is not const.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/entry.h"

namespace meshkv::replication {

// The digest of one stored entry: the low 64 bits of xxh3_128 over the key
// (u32 length, bytes), the version (HLC wall millis and logical counter as
// one u64, origin node id u64), the tombstone flag (u8) and the expiry
// (i64), integers little-endian. The value is not hashed: a version names
// exactly one write. Part of the anti-entropy wire meaning: never change.
uint64_t EntryDigest(std::string_view key, const Entry& entry);

class HashTree {
 public:
  static constexpr uint32_t kDefaultLeaves = 64;

  // REQUIRES: `leaves` is a power of two in [1, 2^20] (other values are
  // rounded up to one, at least 1, at most 2^20).
  explicit HashTree(uint32_t leaves = kDefaultLeaves);

  uint32_t leaf_count() const { return leaf_count_; }

  // The leaf bucket of `key`: top bits of xxh3_64(key) with a fixed seed.
  uint32_t LeafOf(std::string_view key) const;

  // XORs `digest` into the leaf of `key`: adds the entry if absent, removes
  // it if present.
  void Toggle(std::string_view key, uint64_t digest);

  // Toggle(key, old_digest) then Toggle(key, new_digest).
  void Replace(std::string_view key, uint64_t old_digest, uint64_t new_digest);

  // The root hash; recomputes the inner nodes that changed since last read.
  uint64_t Root();

  // The leaf hashes, by leaf index.
  std::vector<uint64_t> Leaves() const;

  // Indexes (ascending) of the leaves whose hash differs from
  // `remote_leaves`; every index when the sizes differ (a peer with another
  // leaf count, or a malformed message).
  std::vector<uint32_t> DifferingLeaves(const std::vector<uint64_t>& remote_leaves) const;

  // Back to the empty tree (root 0).
  void Clear();

 private:
  uint32_t leaf_count_;
  // Heap layout: node 1 is the root, node i has children 2i and 2i+1, leaf j
  // is node leaf_count_ + j. With one leaf the root is the leaf.
  std::vector<uint64_t> nodes_;
  // dirty_[i] for inner node i: a descendant leaf changed since it was last
  // computed. A dirty node's ancestors are all dirty.
  std::vector<bool> dirty_;
};

// The keys of one leaf that differ between two replicas.
struct LeafDiff {
  std::vector<std::string> only_local;   // local has it, remote does not: push
  std::vector<std::string> only_remote;  // remote has it, local does not: pull
  std::vector<std::string> differing;    // both, different digests: compare versions
  friend bool operator==(const LeafDiff&, const LeafDiff&) = default;
};

// Compares the (key, digest) lists of one leaf from both sides. Each list must
// be sorted by key (bytewise) without duplicate keys; an unsorted list (e.g.
// from a faulty peer) gives an incomplete answer, never a crash. The output
// lists are sorted by key.
LeafDiff DiffLeafEntries(const std::vector<std::pair<std::string, uint64_t>>& local,
                         const std::vector<std::pair<std::string, uint64_t>>& remote);

}  // namespace meshkv::replication
