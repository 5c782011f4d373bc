#include "replication/placement.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>
#include <string>

#include "model/namespace_spec.h"

namespace meshkv::replication {
namespace {

// Capacity policy (see README.placement.md for the measurements behind it).
// The busiest node may hold at most floor(mean * 110%) replica slots.
constexpr uint64_t kMaxLoadPercentOfMean = 110;
// Total capacity aims at 108% of the slots (epsilon = 0.08): the slack lets
// the greedy stay close to pure rendezvous, which keeps movement low.
constexpr uint64_t kTargetCapacityPercent = 108;
// When the hard cap is about to drop (a few owners more), total capacity is
// tapered towards it by at most 0.5% of the slots per owner of distance, so
// that one join does not take a unit of capacity from most nodes at once.
constexpr uint64_t kTaperPerMille = 5;
// Seed of the hash that ranks nodes for the +1 capacity units; independent of
// the rendezvous score.
constexpr uint64_t kCapacityRankSeed = 0x6d73686b762d6361;  // "mshkv-ca"
// Each partition's ranking is sorted for replicas + this many nodes first,
// the rest only if the partition gets that far.
constexpr uint32_t kSortedPrefix = 8;

// floor(mean * 110%), but never below ceil(mean) so the slots always fit.
uint64_t HardCap(uint64_t slots, uint64_t owners, uint32_t partitions) {
  const uint64_t cap = slots * kMaxLoadPercentOfMean / (100 * owners);
  const uint64_t ceil_mean = (slots + owners - 1) / owners;
  return std::min<uint64_t>(partitions, std::max(cap, ceil_mean));
}

uint64_t UntaperedCapacity(uint64_t slots, uint64_t owners, uint32_t partitions) {
  return std::min(slots * kTargetCapacityPercent / 100,
                  owners * HardCap(slots, owners, partitions));
}

// Total capacity for `owners` owners holding `slots` replica slots.
uint64_t TotalCapacity(uint64_t slots, uint64_t owners, uint32_t partitions) {
  uint64_t total = UntaperedCapacity(slots, owners, partitions);
  const uint64_t step = std::max<uint64_t>(1, slots * kTaperPerMille / 1000);
  for (uint64_t d = 1; d * step < total - slots; ++d) {
    total = std::min(total, UntaperedCapacity(slots, owners + d, partitions) + d * step);
  }
  return std::max(total, slots);
}

struct Candidate {
  uint64_t score;
  uint32_t partition;
  uint32_t node;  // index into the sorted owners
};

bool BetterCandidate(const Candidate& a, const Candidate& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.node != b.node) return a.node < b.node;
  return a.partition < b.partition;
}

struct Assignment {
  std::vector<std::vector<uint32_t>> sets;  // node indexes per partition
  std::vector<uint32_t> load;
  bool complete = true;
};

// The assignment that accepts pairs best score first while the partition
// needs replicas and the node has capacity, found by deferred acceptance:
// partitions propose to nodes best score first; a node keeps its best
// proposals up to its capacity and rejects the worst beyond. With one score
// per pair the stable assignment is unique, so both describe the same table;
// this one touches only the top of each partition's ranking.
Assignment DeferredAcceptance(const std::vector<uint64_t>& scores,
                              const std::vector<uint32_t>& capacity, uint32_t partitions,
                              uint32_t replicas) {
  const uint32_t n = static_cast<uint32_t>(capacity.size());
  // Each partition's nodes, best first; only a prefix is sorted until needed.
  std::vector<Candidate> ranking(scores.size());
  std::vector<uint32_t> sorted_prefix(partitions);
  std::vector<uint32_t> next(partitions, 0);
  std::vector<uint32_t> held(partitions, 0);
  const uint32_t prefix = std::min(n, replicas + kSortedPrefix);
  for (uint32_t p = 0; p < partitions; ++p) {
    auto begin = ranking.begin() + uint64_t{p} * n;
    for (uint32_t i = 0; i < n; ++i) begin[i] = {scores[uint64_t{p} * n + i], p, i};
    std::partial_sort(begin, begin + prefix, begin + n, BetterCandidate);
    sorted_prefix[p] = prefix;
  }
  // Per node, the accepted proposals as a heap with the worst on top.
  std::vector<std::vector<Candidate>> accepted(n);
  std::vector<uint32_t> waiting(partitions);
  for (uint32_t p = 0; p < partitions; ++p) waiting[p] = partitions - 1 - p;
  while (!waiting.empty()) {
    const uint32_t p = waiting.back();
    waiting.pop_back();
    auto begin = ranking.begin() + uint64_t{p} * n;
    while (held[p] < replicas && next[p] < n) {
      if (next[p] == sorted_prefix[p]) {
        std::sort(begin + next[p], begin + n, BetterCandidate);
        sorted_prefix[p] = n;
      }
      const Candidate proposal = begin[next[p]++];
      auto& heap = accepted[proposal.node];
      if (heap.size() < capacity[proposal.node]) {
        heap.push_back(proposal);
        std::push_heap(heap.begin(), heap.end(), BetterCandidate);
        ++held[p];
      } else if (!heap.empty() && BetterCandidate(proposal, heap.front())) {
        const uint32_t rejected = heap.front().partition;
        std::pop_heap(heap.begin(), heap.end(), BetterCandidate);
        heap.back() = proposal;
        std::push_heap(heap.begin(), heap.end(), BetterCandidate);
        ++held[p];
        --held[rejected];
        waiting.push_back(rejected);
      }
    }
  }
  Assignment a;
  a.sets.resize(partitions);
  a.load.assign(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    for (const Candidate& c : accepted[i]) a.sets[c.partition].push_back(i);
    a.load[i] = static_cast<uint32_t>(accepted[i].size());
  }
  for (const auto& set : a.sets) {
    if (set.size() < replicas) a.complete = false;
  }
  return a;
}

// Fills partitions the assignment left short without exceeding any capacity.
// Every node outside a short partition is full, so some node u inside it has
// spare capacity; a full outsider w then holds some partition q without u:
// q hands w's slot to u and w joins the short partition. (If every partition
// holding w also held u, u would hold at least capacity(w) + 1 >= capacity(u)
// slots, as capacities differ by at most one: u would be full.) Needed only
// with little slack and replicas close to the owner count.
void RepairShortPartitions(Assignment& a, const std::vector<uint32_t>& capacity,
                           uint32_t replicas) {
  const uint32_t n = static_cast<uint32_t>(capacity.size());
  auto contains = [](const std::vector<uint32_t>& set, uint32_t node) {
    return std::find(set.begin(), set.end(), node) != set.end();
  };
  for (auto& short_set : a.sets) {
    while (short_set.size() < replicas) {
      bool repaired = false;
      for (uint32_t u = 0; u < n && !repaired; ++u) {
        if (a.load[u] >= capacity[u]) continue;
        for (uint32_t w = 0; w < n && !repaired; ++w) {
          if (contains(short_set, w)) continue;
          for (auto& q : a.sets) {
            if (&q == &short_set || !contains(q, w) || contains(q, u)) continue;
            *std::find(q.begin(), q.end(), w) = u;
            ++a.load[u];
            short_set.push_back(w);
            repaired = true;
            break;
          }
        }
      }
      // Unreachable given total capacity >= slots; never loop forever.
      assert(repaired);
      if (!repaired) return;
    }
  }
}

}  // namespace

PartitionId PartitionOf(std::string_view ns, std::string_view key, uint32_t partitions) {
  assert(partitions > 0);
  if (partitions == 0) return PartitionId(0);
  const size_t size = ns.size() + 1 + key.size();
  uint64_t hash;
  std::array<char, 1536> small;
  if (size <= small.size()) {
    std::memcpy(small.data(), ns.data(), ns.size());
    small[ns.size()] = '\0';
    std::memcpy(small.data() + ns.size() + 1, key.data(), key.size());
    hash = XXH3_64bits(small.data(), size);
  } else {
    std::string joined;
    joined.reserve(size);
    joined.append(ns).push_back('\0');
    joined.append(key);
    hash = XXH3_64bits(joined.data(), joined.size());
  }
  return PartitionId(static_cast<uint32_t>(hash % partitions));
}

uint64_t RendezvousScore(PartitionId partition, NodeId node) {
  unsigned char bytes[12];
  const uint32_t p = partition.value();
  const uint64_t id = node.value();
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<unsigned char>(p >> (8 * i));
  for (int i = 0; i < 8; ++i) bytes[4 + i] = static_cast<unsigned char>(id >> (8 * i));
  return XXH3_64bits(bytes, sizeof(bytes));
}

PartitionTable PartitionTable::Build(std::vector<NodeId> owners, int replicas,
                                     uint32_t partitions) {
  assert(partitions > 0);
  assert(replicas >= 1 || replicas == NamespaceSpec::kReplicasAll);
  std::sort(owners.begin(), owners.end());
  owners.erase(std::unique(owners.begin(), owners.end()), owners.end());

  PartitionTable table;
  table.replica_sets_.resize(partitions);
  const uint32_t n = static_cast<uint32_t>(owners.size());
  if (n == 0) {
    table.owners_ = std::move(owners);
    return table;
  }
  uint32_t r =
      replicas == NamespaceSpec::kReplicasAll ? n : static_cast<uint32_t>(std::max(1, replicas));
  r = std::min(r, n);
  table.replicas_ = static_cast<int>(r);

  // Scores of every pair, computed once, partition-major.
  std::vector<uint64_t> scores(uint64_t{partitions} * n);
  for (uint32_t p = 0; p < partitions; ++p) {
    for (uint32_t i = 0; i < n; ++i) {
      scores[uint64_t{p} * n + i] = RendezvousScore(PartitionId(p), owners[i]);
    }
  }
  // A replica set as node ids, highest score first.
  auto by_score = [&](uint32_t p, std::vector<uint32_t> set) {
    std::sort(set.begin(), set.end(), [&](uint32_t a, uint32_t b) {
      return BetterCandidate({scores[uint64_t{p} * n + a], p, a},
                             {scores[uint64_t{p} * n + b], p, b});
    });
    std::vector<NodeId> out;
    out.reserve(set.size());
    for (uint32_t i : set) out.push_back(owners[i]);
    return out;
  };

  if (r == n) {  // every owner holds every partition
    std::vector<uint32_t> everyone(n);
    for (uint32_t i = 0; i < n; ++i) everyone[i] = i;
    for (uint32_t p = 0; p < partitions; ++p) table.replica_sets_[p] = by_score(p, everyone);
    table.owners_ = std::move(owners);
    return table;
  }

  // Capacities: the total split evenly, the remainder as +1 units to the
  // nodes ranked first by a hash of their id.
  const uint64_t slots = uint64_t{partitions} * r;
  const uint64_t total = TotalCapacity(slots, n, partitions);
  std::vector<std::pair<uint64_t, uint32_t>> capacity_rank(n);
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t id = owners[i].value();
    unsigned char bytes[8];
    for (int b = 0; b < 8; ++b) bytes[b] = static_cast<unsigned char>(id >> (8 * b));
    capacity_rank[i] = {XXH3_64bits_withSeed(bytes, sizeof(bytes), kCapacityRankSeed), i};
  }
  std::sort(capacity_rank.begin(), capacity_rank.end(), std::greater<>());
  std::vector<uint32_t> capacity(n);
  for (uint32_t k = 0; k < n; ++k) {
    capacity[capacity_rank[k].second] = static_cast<uint32_t>(total / n + (k < total % n ? 1 : 0));
  }

  Assignment assignment = DeferredAcceptance(scores, capacity, partitions, r);
  if (!assignment.complete) RepairShortPartitions(assignment, capacity, r);
  for (uint32_t p = 0; p < partitions; ++p)
    table.replica_sets_[p] = by_score(p, std::move(assignment.sets[p]));
  table.owners_ = std::move(owners);
  return table;
}

const std::vector<NodeId>& PartitionTable::Replicas(PartitionId partition) const {
  static const std::vector<NodeId> kEmpty;
  if (partition.value() >= replica_sets_.size()) return kEmpty;
  return replica_sets_[partition.value()];
}

std::vector<PartitionId> PartitionTable::PartitionsOf(NodeId node) const {
  std::vector<PartitionId> out;
  for (uint32_t p = 0; p < replica_sets_.size(); ++p) {
    const auto& set = replica_sets_[p];
    if (std::find(set.begin(), set.end(), node) != set.end()) out.push_back(PartitionId(p));
  }
  return out;
}

}  // namespace meshkv::replication
