// Placement: which partition a key lives in, and which nodes hold each
// partition (DESIGN.md "Placement").
//
// A namespace has a fixed number of partitions (kDefaultPartitions unless set
// at cluster creation). PartitionOf() maps (namespace, key) to a partition; a
// PartitionTable maps every partition to its replica set for one owner set.
//
// Replica sets come from rendezvous (highest random weight) hashing with
// bounded loads: every (partition, node) pair has a score xxh3_64(partition,
// node id); pairs are accepted best score first while the partition still
// needs replicas and the node is under its capacity. The capacities keep the
// busiest node within 10% of the mean number of replica slots (whenever the
// mean is at least 10 slots, as it is for 1024 partitions and up to 100
// owners); the greedy order keeps the number of slots that change owner when
// one node joins or leaves close to the minimum. placement_test.cc measures
// both and README.placement.md states the numbers.
//
// Everything here is a pure function: no I/O, no clocks, no randomness. The
// table depends only on the owner *set*, the replica count and the partition
// count, so every node that knows the same owners routes the same way.
// Changing the hashes or the algorithm changes where data lives: the pinned
// values in placement_test.cc guard against doing so by accident.
//
// Thread-safety: PartitionTable is immutable after Build(); share it freely
// between threads (e.g. behind a std::shared_ptr<const PartitionTable>).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "base/node_id.h"

namespace meshkv::replication {

inline constexpr uint32_t kDefaultPartitions = 1024;

// A partition number in [0, partitions). Strongly typed so it cannot be mixed
// up with node ids, counts or hashes.
class PartitionId {
 public:
  constexpr PartitionId() = default;
  constexpr explicit PartitionId(uint32_t value) : value_(value) {}

  constexpr uint32_t value() const { return value_; }

  friend constexpr auto operator<=>(PartitionId, PartitionId) = default;

 private:
  uint32_t value_ = 0;
};

// The partition of `key` in namespace `ns`: xxh3_64(ns, 0x00, key) mod
// `partitions`. This is on-disk and on-wire meaning: it must never change.
// REQUIRES: partitions > 0.
PartitionId PartitionOf(std::string_view ns, std::string_view key, uint32_t partitions);

// The rendezvous score of `node` for `partition`: xxh3_64 over the partition
// (u32 little-endian) followed by the node id (u64 little-endian). Higher is
// preferred. Exposed for tests and for explaining placement (/v1/owners).
uint64_t RendezvousScore(PartitionId partition, NodeId node);

// The replica sets of every partition for one owner set.
class PartitionTable {
 public:
  // Builds the table for `owners` (order and duplicates do not matter).
  // `replicas` is 1..16 or NamespaceSpec::kReplicasAll (every owner holds
  // every partition); it is capped at the number of distinct owners.
  // With no owners every replica set is empty.
  // REQUIRES: partitions > 0; replicas >= 1 or == NamespaceSpec::kReplicasAll
  // (other values are treated as 1).
  static PartitionTable Build(std::vector<NodeId> owners, int replicas, uint32_t partitions);

  // The replicas of `partition`, highest rendezvous score first (the first is
  // the preferred coordinator). Empty when there are no owners or when
  // `partition` is out of range (it may come from a peer).
  const std::vector<NodeId>& Replicas(PartitionId partition) const;

  // Partitions (ascending) where `node` is a replica; empty for a non-owner.
  std::vector<PartitionId> PartitionsOf(NodeId node) const;

  uint32_t partitions() const { return static_cast<uint32_t>(replica_sets_.size()); }
  // The effective replica count: min(requested, owners().size()).
  int replicas() const { return replicas_; }
  // The distinct owners, ascending.
  const std::vector<NodeId>& owners() const { return owners_; }

  friend bool operator==(const PartitionTable&, const PartitionTable&) = default;

 private:
  PartitionTable() = default;

  std::vector<NodeId> owners_;
  int replicas_ = 0;
  std::vector<std::vector<NodeId>> replica_sets_;  // indexed by partition
};

}  // namespace meshkv::replication

template <>
struct std::hash<meshkv::replication::PartitionId> {
  size_t operator()(meshkv::replication::PartitionId id) const noexcept {
    return std::hash<uint32_t>()(id.value());
  }
};
