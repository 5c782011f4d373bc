#include "replication/placement.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_set>

#include "model/namespace_spec.h"

namespace meshkv::replication {
namespace {

std::vector<NodeId> RandomNodes(std::mt19937_64& rng, int count) {
  std::vector<NodeId> nodes;
  while (static_cast<int>(nodes.size()) < count) {
    const uint64_t v = rng();
    if (v != 0) nodes.push_back(NodeId(v));
  }
  return nodes;
}

std::map<NodeId, int> Loads(const PartitionTable& table) {
  std::map<NodeId, int> loads;
  for (NodeId node : table.owners()) loads[node] = 0;
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    for (NodeId node : table.Replicas(PartitionId(p))) ++loads[node];
  }
  return loads;
}

// Replica slots of `after` that `before` did not have: the data that moves.
int MovedSlots(const PartitionTable& before, const PartitionTable& after) {
  int moved = 0;
  for (uint32_t p = 0; p < after.partitions(); ++p) {
    const auto& old_set = before.Replicas(PartitionId(p));
    for (NodeId node : after.Replicas(PartitionId(p))) {
      if (std::find(old_set.begin(), old_set.end(), node) == old_set.end()) ++moved;
    }
  }
  return moved;
}

TEST(PartitionOf, PinnedValues) {
  // These define where existing data lives: changing them is a data migration.
  EXPECT_EQ(PartitionOf("default", "hello", kDefaultPartitions).value(), 99u);
  EXPECT_EQ(PartitionOf("default", "", kDefaultPartitions).value(), 343u);
  EXPECT_EQ(PartitionOf("", "hello", kDefaultPartitions).value(), 940u);
  EXPECT_EQ(PartitionOf("dns", "www.example.com.", kDefaultPartitions).value(), 950u);
  EXPECT_EQ(PartitionOf("default", "hello", 7).value(), 2u);
  EXPECT_EQ(RendezvousScore(PartitionId(0), NodeId(1)), 1083756357287970370u);
  EXPECT_EQ(RendezvousScore(PartitionId(1023), NodeId(0x1f2e3d4c5b6a7988)), 2695330130231502220u);

  // The documented byte layouts, hashed directly.
  const std::string joined("dns\0www.example.com.", 20);
  EXPECT_EQ(PartitionOf("dns", "www.example.com.", 1u << 31).value(),
            XXH3_64bits(joined.data(), joined.size()) % (1u << 31));
  const unsigned char score_bytes[12] = {0xff, 0x03, 0,    0,    0x88, 0x79,
                                         0x6a, 0x5b, 0x4c, 0x3d, 0x2e, 0x1f};
  EXPECT_EQ(RendezvousScore(PartitionId(1023), NodeId(0x1f2e3d4c5b6a7988)),
            XXH3_64bits(score_bytes, sizeof(score_bytes)));
}

TEST(PartitionOf, SeparatesNamespaceFromKey) {
  // ("ab", "c") and ("a", "bc") hash different bytes thanks to the 0 separator.
  EXPECT_NE(PartitionOf("ab", "c", 1u << 31), PartitionOf("a", "bc", 1u << 31));
}

TEST(PartitionOf, LongKeysUseTheSameHash) {
  const std::string key(5000, 'k');
  const PartitionId p = PartitionOf("ns", key, kDefaultPartitions);
  EXPECT_LT(p.value(), kDefaultPartitions);
  EXPECT_EQ(p, PartitionOf("ns", key, kDefaultPartitions));
}

TEST(PartitionOf, RoughlyUniform) {
  constexpr int kKeys = 1024 * 200;
  std::vector<int> counts(kDefaultPartitions, 0);
  for (int i = 0; i < kKeys; ++i) {
    ++counts[PartitionOf("default", "key-" + std::to_string(i), kDefaultPartitions).value()];
  }
  // Expected 200 per partition, sd ~14: chi-square over 1023 degrees of
  // freedom and a loose per-partition range.
  double chi_square = 0;
  for (int c : counts) chi_square += (c - 200.0) * (c - 200.0) / 200.0;
  EXPECT_LT(chi_square, 1023 + 5 * std::sqrt(2.0 * 1023));
  EXPECT_GT(*std::min_element(counts.begin(), counts.end()), 120);
  EXPECT_LT(*std::max_element(counts.begin(), counts.end()), 280);
}

TEST(PartitionId, StrongTypeBasics) {
  EXPECT_LT(PartitionId(1), PartitionId(2));
  EXPECT_EQ(PartitionId(7), PartitionId(7));
  std::unordered_set<PartitionId> set{PartitionId(1), PartitionId(1), PartitionId(2)};
  EXPECT_EQ(set.size(), 2u);
}

TEST(PartitionTable, NoOwnersGivesEmptySets) {
  const auto table = PartitionTable::Build({}, 3, 16);
  EXPECT_EQ(table.partitions(), 16u);
  EXPECT_EQ(table.replicas(), 0);
  EXPECT_TRUE(table.Replicas(PartitionId(3)).empty());
  EXPECT_TRUE(table.PartitionsOf(NodeId(1)).empty());
}

TEST(PartitionTable, OutOfRangePartitionIsEmpty) {
  const auto table = PartitionTable::Build({NodeId(1), NodeId(2)}, 1, 16);
  EXPECT_TRUE(table.Replicas(PartitionId(16)).empty());
}

TEST(PartitionTable, DeterministicForAnyOwnerOrderAndDuplicates) {
  std::mt19937_64 rng(42);
  for (int n : {1, 2, 3, 7, 20, 64}) {
    for (int replicas : {1, 3, 5, NamespaceSpec::kReplicasAll}) {
      auto nodes = RandomNodes(rng, n);
      const auto reference = PartitionTable::Build(nodes, replicas, kDefaultPartitions);
      for (int shuffle = 0; shuffle < 3; ++shuffle) {
        std::shuffle(nodes.begin(), nodes.end(), rng);
        auto with_duplicates = nodes;
        with_duplicates.push_back(nodes.front());
        EXPECT_EQ(PartitionTable::Build(nodes, replicas, kDefaultPartitions), reference);
        EXPECT_EQ(PartitionTable::Build(with_duplicates, replicas, kDefaultPartitions), reference);
      }
      EXPECT_TRUE(std::is_sorted(reference.owners().begin(), reference.owners().end()));
      EXPECT_EQ(reference.owners().size(), static_cast<size_t>(n));
    }
  }
}

TEST(PartitionTable, ReplicaSetsAreDistinctCappedAndRanked) {
  std::mt19937_64 rng(7);
  for (int n = 1; n <= 12; ++n) {
    const auto nodes = RandomNodes(rng, n);
    for (int replicas : {1, 2, 3, 5, 16, NamespaceSpec::kReplicasAll}) {
      const auto table = PartitionTable::Build(nodes, replicas, 256);
      const int expected = replicas == NamespaceSpec::kReplicasAll ? n : std::min(replicas, n);
      ASSERT_EQ(table.replicas(), expected) << "n=" << n << " replicas=" << replicas;
      for (uint32_t p = 0; p < table.partitions(); ++p) {
        const auto& set = table.Replicas(PartitionId(p));
        ASSERT_EQ(static_cast<int>(set.size()), expected);
        ASSERT_EQ(std::set<NodeId>(set.begin(), set.end()).size(), set.size());
        for (size_t i = 1; i < set.size(); ++i) {
          ASSERT_GE(RendezvousScore(PartitionId(p), set[i - 1]),
                    RendezvousScore(PartitionId(p), set[i]));
        }
      }
    }
  }
}

TEST(PartitionTable, ReplicasAllPutsEveryOwnerEverywhere) {
  std::mt19937_64 rng(9);
  const auto nodes = RandomNodes(rng, 9);
  const auto table = PartitionTable::Build(nodes, NamespaceSpec::kReplicasAll, kDefaultPartitions);
  for (NodeId node : nodes) EXPECT_EQ(table.PartitionsOf(node).size(), kDefaultPartitions);
}

TEST(PartitionTable, PartitionsOfMatchesReplicas) {
  std::mt19937_64 rng(11);
  const auto nodes = RandomNodes(rng, 10);
  const auto table = PartitionTable::Build(nodes, 3, kDefaultPartitions);
  size_t total = 0;
  for (NodeId node : nodes) {
    for (PartitionId p : table.PartitionsOf(node)) {
      const auto& set = table.Replicas(p);
      EXPECT_NE(std::find(set.begin(), set.end(), node), set.end());
      ++total;
    }
  }
  EXPECT_EQ(total, 3u * kDefaultPartitions);
  EXPECT_TRUE(table.PartitionsOf(NodeId(12345)).empty());
}

// Which node holds what is shared by every node of every version in a
// cluster: a change here is a rebalance of all data, so it must be deliberate.
TEST(PartitionTable, PinnedFingerprint) {
  std::vector<NodeId> nodes;
  for (uint64_t i = 1; i <= 10; ++i) nodes.push_back(NodeId(i * 0x0101010101010101));
  const auto table = PartitionTable::Build(nodes, 3, kDefaultPartitions);
  std::string bytes;
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    for (NodeId node : table.Replicas(PartitionId(p))) {
      for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(node.value() >> (8 * i)));
    }
  }
  EXPECT_EQ(XXH3_64bits(bytes.data(), bytes.size()), 14986219752796677052u);
}

// Little slack and replicas close to the owner count: every set is still
// full and distinct and no node exceeds the capacity bound.
TEST(PartitionTable, TightCapacitiesStillFillEverySet) {
  std::mt19937_64 rng(17);
  for (uint32_t partitions : {8u, 16u, 64u, 256u}) {
    for (int replicas = 2; replicas <= 16; ++replicas) {
      for (int n = replicas + 1; n <= replicas + 12; ++n) {
        const auto table = PartitionTable::Build(RandomNodes(rng, n), replicas, partitions);
        for (uint32_t p = 0; p < partitions; ++p) {
          const auto& set = table.Replicas(PartitionId(p));
          ASSERT_EQ(static_cast<int>(set.size()), replicas);
          ASSERT_EQ(std::set<NodeId>(set.begin(), set.end()).size(), set.size());
        }
        const uint64_t slots = uint64_t{partitions} * replicas;
        const uint64_t bound = std::max(slots * 110 / (100 * n), (slots + n - 1) / n);
        for (const auto& [node, load] : Loads(table)) {
          ASSERT_LE(static_cast<uint64_t>(load), bound)
              << "partitions=" << partitions << " replicas=" << replicas << " n=" << n;
        }
      }
    }
  }
}

// Balance: for every n in 3..100 the busiest node holds at most 110% of the
// mean number of replica slots.
TEST(PartitionTable, BalancedWithinTenPercent) {
  for (int replicas : {1, 3, 5}) {
    std::mt19937_64 rng(1000 + replicas);
    auto nodes = RandomNodes(rng, 2);
    double worst = 0;
    int worst_n = 0;
    for (int n = 3; n <= 100; ++n) {
      nodes.push_back(RandomNodes(rng, 1)[0]);
      const auto table = PartitionTable::Build(nodes, replicas, kDefaultPartitions);
      const auto loads = Loads(table);
      int max_load = 0;
      for (const auto& [node, load] : loads) max_load = std::max(max_load, load);
      const double mean = double(kDefaultPartitions) * table.replicas() / n;
      const double ratio = max_load / mean;
      EXPECT_LE(ratio, 1.10) << "n=" << n << " replicas=" << replicas;
      if (ratio > worst) worst = ratio, worst_n = n;
    }
    std::printf("[balance] replicas=%d worst max/mean=%.4f at n=%d\n", replicas, worst, worst_n);
  }
}

// Movement: replica slots gained by some node, relative to the minimum (the
// mean load, which the joining node must receive or the leaving node must
// hand over), for n -> n+1 and n+1 -> n over n = 3..99.
TEST(PartitionTable, BoundedMovementOnJoinAndLeave) {
  struct Bound {
    int replicas;
    double max_ratio;   // worst single step
    double mean_ratio;  // average over all steps
  };
  for (const Bound bound : {Bound{1, 4.0, 2.0}, Bound{3, 2.2, 1.3}, Bound{5, 1.6, 1.2}}) {
    std::mt19937_64 rng(2000 + bound.replicas);
    auto nodes = RandomNodes(rng, 3);
    auto table = PartitionTable::Build(nodes, bound.replicas, kDefaultPartitions);
    double worst_join = 0, worst_leave = 0, sum_join = 0, sum_leave = 0;
    int worst_join_n = 0, worst_leave_n = 0, steps = 0;
    std::string row;
    for (int n = 3; n < 100; ++n) {
      nodes.push_back(RandomNodes(rng, 1)[0]);
      const auto joined = PartitionTable::Build(nodes, bound.replicas, kDefaultPartitions);
      const double minimum = double(kDefaultPartitions) * joined.replicas() / (n + 1);
      const double join_ratio = MovedSlots(table, joined) / minimum;

      auto without = nodes;
      without.erase(without.begin() + static_cast<long>(rng() % without.size()));
      const auto left = PartitionTable::Build(without, bound.replicas, kDefaultPartitions);
      const double leave_ratio = MovedSlots(joined, left) / minimum;

      EXPECT_LE(join_ratio, bound.max_ratio) << "join n=" << n << " replicas=" << bound.replicas;
      EXPECT_LE(leave_ratio, bound.max_ratio) << "leave n=" << n << " replicas=" << bound.replicas;
      if (join_ratio > worst_join) worst_join = join_ratio, worst_join_n = n;
      if (leave_ratio > worst_leave) worst_leave = leave_ratio, worst_leave_n = n + 1;
      sum_join += join_ratio;
      sum_leave += leave_ratio;
      ++steps;
      char cell[32];
      std::snprintf(cell, sizeof(cell), " %d:%.2f/%.2f", n, join_ratio, leave_ratio);
      row += cell;
      table = joined;
    }
    EXPECT_LE(sum_join / steps, bound.mean_ratio) << "replicas=" << bound.replicas;
    EXPECT_LE(sum_leave / steps, bound.mean_ratio) << "replicas=" << bound.replicas;
    std::printf(
        "[movement] replicas=%d join: worst %.2fx min at n=%d->%d, mean %.3fx; leave: worst "
        "%.2fx at n=%d->%d, mean %.3fx\n",
        bound.replicas, worst_join, worst_join_n, worst_join_n + 1, sum_join / steps, worst_leave,
        worst_leave_n, worst_leave_n - 1, sum_leave / steps);
    std::printf("[movement] replicas=%d n:join/leave%s\n", bound.replicas, row.c_str());
  }
}

TEST(PartitionTable, BuildTiming) {
  std::mt19937_64 rng(3);
  const auto nodes = RandomNodes(rng, 100);
  for (int replicas : {1, 3, 5}) {
    constexpr int kRounds = 20;
    const auto start = std::chrono::steady_clock::now();
    size_t sink = 0;
    for (int i = 0; i < kRounds; ++i) {
      sink += PartitionTable::Build(nodes, replicas, kDefaultPartitions)
                  .Replicas(PartitionId(0))
                  .size();
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count() /
        kRounds;
    EXPECT_EQ(sink, static_cast<size_t>(kRounds * replicas));
    std::printf("[timing] Build(100 owners, %u partitions, replicas %d): %.2f ms\n",
                kDefaultPartitions, replicas, ms);
  }
}

}  // namespace
}  // namespace meshkv::replication
