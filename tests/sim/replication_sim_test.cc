// The replication layer (coordinator, hints, read repair, anti-entropy) on
// top of the real membership code, in the deterministic simulation: every
// node runs Swim (the failure detector that decides who gets hints), a
// coordinator and a memory store; replica RPCs travel over the simulated
// network with its latency, partitions, stalls and crashes, and gossip
// packets are lost and duplicated.
//
// Per seed: 5 nodes, RF 3, 60 s of quorum writes and deletes through random
// nodes while nodes stall (like SIGSTOP), pairs are partitioned and one node
// crashes for good. After the faults end, hints replay for a while and then
// one anti-entropy pass runs. At the end every surviving replica of every key
// holds the same entry, at least as new as the newest acknowledged write.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <set>

#include "base/hlc.h"
#include "replication/anti_entropy.h"
#include "replication/coordinator.h"
#include "replication/digest_index.h"
#include "replication/hints.h"
#include "replication/kv_service.h"
#include "sim_network.h"

namespace meshkv::sim {
namespace {

using replication::AeReport;
using replication::AntiEntropy;
using replication::Coordinator;
using replication::DigestIndex;
using replication::HintStore;
using transport::MessageType;

std::vector<NamespaceSpec> Namespaces() {
  NamespaceSpec rf3;
  rf3.name = "default";
  rf3.replicas = 3;
  return {rf3};
}

// PeerChannel over the simulated network; liveness from this node's Swim.
class SimChannel final : public replication::PeerChannel {
 public:
  SimChannel(SimNetwork& network, size_t self) : network_(network), self_(self) {}

  bool IsLive(NodeId node) const override {
    for (const membership::Member& m : network_.swim(self_).Members()) {
      if (m.meta.id == node) {
        return m.state == membership::MemberState::kAlive ||
               m.state == membership::MemberState::kSuspect;
      }
    }
    return false;
  }
  void Call(NodeId node, MessageType type, std::string payload, int64_t deadline_ms,
            std::function<void(Result<std::string>)> done) override {
    auto to = network_.IndexOf(node);
    if (!to) return done(NotFound("unknown node"));
    if (direct) return direct(*to, static_cast<uint32_t>(type), std::move(payload), std::move(done));
    network_.Call(self_, *to, static_cast<uint32_t>(type), std::move(payload), deadline_ms,
                  std::move(done));
  }

  // Set for the final anti-entropy pass: its rounds block on replies, which
  // the single-threaded event loop could not deliver, so calls go straight
  // to the peer's handler (the faults have ended by then).
  std::function<void(size_t, uint32_t, std::string, std::function<void(Result<std::string>)>)>
      direct;

 private:
  SimNetwork& network_;
  const size_t self_;
};

struct Replica {
  std::unique_ptr<Store> store;
  std::unique_ptr<Hlc> hlc;
  std::unique_ptr<KvService> kv;
  std::unique_ptr<HintStore> hints;
  std::unique_ptr<SimChannel> channel;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<DigestIndex> index;
  std::unique_ptr<AntiEntropy> ae;
};

void Dispatch(Replica& r, NodeId from, uint32_t type, std::string payload,
              std::function<void(Result<std::string>)> reply) {
  switch (static_cast<MessageType>(type)) {
    case MessageType::kReplicaWrite:
      return r.coordinator->HandleWrite(from, std::move(payload), std::move(reply));
    case MessageType::kReplicaWriteBatch:
      return r.coordinator->HandleWriteBatch(from, std::move(payload), std::move(reply));
    case MessageType::kReplicaRead:
      return r.coordinator->HandleRead(from, std::move(payload), std::move(reply));
    case MessageType::kReplicaScan:
      return r.coordinator->HandleScan(from, std::move(payload), std::move(reply));
    case MessageType::kAeSummary:
      return r.ae->HandleSummary(from, std::move(payload), std::move(reply));
    case MessageType::kAeLeaves:
      return r.ae->HandleLeaves(from, std::move(payload), std::move(reply));
    case MessageType::kAeKeys:
      return r.ae->HandleKeys(from, std::move(payload), std::move(reply));
    default:
      return reply(InvalidArgument("unexpected message type"));
  }
}

struct Outcome {
  size_t acknowledged = 0;
  size_t failed = 0;
  uint64_t entries_moved_by_ae = 0;
};

void RunSeed(uint64_t seed, bool hinted_handoff, Outcome& outcome) {
  SimOptions options;
  options.seed = seed;
  options.loss = 0.05;
  options.duplicate = 0.05;
  options.config = membership::MembershipConfig::Local();
  SimNetwork network(options);
  constexpr size_t kNodes = 5;
  for (size_t i = 0; i < kNodes; ++i) network.AddNode();
  BootstrapCluster(network, kNodes, 0, seed);
  ASSERT_TRUE(network.RunUntil([&] { return network.Converged(); }, 30'000));

  std::vector<std::unique_ptr<Replica>> replicas;
  replication::OwnershipState ownership;
  for (size_t i = 0; i < kNodes; ++i) {
    auto r = std::make_unique<Replica>();
    const NodeId id = network.id(i);
    r->store = NewMemoryStore(Namespaces());
    r->hlc = std::make_unique<Hlc>(network.clock(), 500);
    r->kv = std::make_unique<KvService>(*r->store, nullptr, *r->hlc, network.clock(), id,
                                        Namespaces());
    r->hints = std::make_unique<HintStore>(r->store->local(), network.clock(),
                                           replication::HintLimits{}, nullptr);
    ASSERT_TRUE(r->hints->Load().ok());
    r->channel = std::make_unique<SimChannel>(network, i);
    r->coordinator = std::make_unique<Coordinator>(
        *r->kv, *r->channel, hinted_handoff ? r->hints.get() : nullptr,
        replication::CoordinatorOptions{}, nullptr);
    r->kv->SetRouter(r->coordinator.get());
    r->index = std::make_unique<DigestIndex>(std::vector<std::string>{"default"},
                                             replication::kDefaultPartitions, network.clock());
    r->kv->SetDigestIndex(r->index.get());
    r->ae = std::make_unique<AntiEntropy>(
        *r->kv, *r->coordinator, *r->channel, *r->index,
        replication::AntiEntropyOptions{.interval_ms = 0, .bytes_per_second = 0}, nullptr);
    Replica* raw = r.get();
    network.SetRpcHandler(i, [&network, raw](size_t from, uint32_t type, std::string payload,
                                             std::function<void(Result<std::string>)> reply) {
      Dispatch(*raw, network.id(from), type, std::move(payload), std::move(reply));
    });
    ownership.Set(id, replication::OwnerState::kNormal);
    replicas.push_back(std::move(r));
  }
  for (auto& r : replicas) r->coordinator->MergeOwnership(ownership);
  std::mt19937_64 driver_rng(seed + 1);
  network.Every(1'000, [&] {
    for (size_t i = 0; i < kNodes; ++i) {
      if (network.running(i) && !network.stalled(i)) replicas[i]->coordinator->ReplayHints();
    }
  });
  // The driver's rejoin loop (server/cluster.cc): every rejoin interval a node
  // pushes and pulls state with one member it holds dead, so the two sides
  // of a healed partition merge again.
  network.Every(5'000, [&] {
    for (size_t i = 0; i < kNodes; ++i) {
      if (!network.running(i) || network.stalled(i)) continue;
      std::vector<size_t> dead;
      for (const membership::Member& m : network.swim(i).Members()) {
        if (m.state == membership::MemberState::kDead) dead.push_back(*network.IndexOf(m.meta.id));
      }
      if (!dead.empty()) network.Join(i, dead[driver_rng() % dead.size()]);
    }
  });

  // ---- workload with faults ----
  std::mt19937_64 rng(seed * 7919);
  std::map<std::string, Version> acked;  // key -> newest acknowledged version
  const int64_t start = network.now();
  const int64_t workload_ms = 60'000;
  const size_t doomed = rng() % kNodes;
  network.At(start + 30'000, [&] { network.Crash(doomed); });
  for (int64_t t = 0; t < workload_ms; t += 20) {
    network.At(start + t, [&, t] {
      if (rng() % 400 == 0) network.Stall(rng() % kNodes, 2'000 + rng() % 6'000);
      if (t % 10'000 == 5'000) {
        const size_t a = rng() % kNodes;
        network.Partition({{a, (a + 1 + rng() % (kNodes - 1)) % kNodes}});
        network.At(network.now() + 4'000, [&] { network.Heal(); });
      }
      const size_t via = rng() % kNodes;
      if (!network.running(via) || network.stalled(via)) return;
      const std::string key = "k" + std::to_string(rng() % 150);
      std::vector<Mutation> m{Mutation{rng() % 5 == 0 ? Mutation::Kind::kDelete
                                                      : Mutation::Kind::kPut,
                                       key, "v" + std::to_string(t), std::nullopt}};
      if (m[0].kind == Mutation::Kind::kDelete) m[0].value.clear();
      replicas[via]->kv->Write("default", m, Consistency::kQuorum,
                               [&, key](Result<std::vector<WriteAck>> r) {
                                 if (!r.ok()) {
                                   ++outcome.failed;
                                   return;
                                 }
                                 ++outcome.acknowledged;
                                 Version& v = acked[key];
                                 v = std::max(v, r->front().version);
                               });
    });
  }
  network.RunFor(workload_ms + 100);
  network.Heal();
  network.set_loss(0);
  // Hints replay (every second) while the failure detectors settle.
  network.RunFor(30'000);
  EXPECT_TRUE(network.Converged()) << "seed " << seed << ": membership did not settle";

  // ---- one anti-entropy pass over the survivors ----
  for (size_t i = 0; i < kNodes; ++i) {
    replicas[i]->channel->direct = [&, i](size_t to, uint32_t type, std::string payload,
                                       std::function<void(Result<std::string>)> done) {
      if (network.crashed(to)) return done(Unavailable("crashed"));
      Dispatch(*replicas[to], network.id(i), type, std::move(payload), std::move(done));
    };
  }
  for (size_t i = 0; i < kNodes; ++i) {
    if (network.crashed(i)) continue;
    replicas[i]->ae->Repair({}, [&](AeReport report) {
      outcome.entries_moved_by_ae += report.keys_pulled + report.keys_pushed;
      for (const std::string& e : report.errors) {
        // The crashed node is dead to everyone: skipped, as it should be.
        if (e == network.id(doomed).ToString() + ": down; not compared") continue;
        ADD_FAILURE() << "seed " << seed << ": " << e;
      }
    });
  }

  // ---- checks ----
  const std::vector<NamespaceSpec> specs = Namespaces();
  const NamespaceSpec& spec = specs[0];
  for (const auto& [key, version] : acked) {
    const auto placement = replicas[0]->coordinator->PlacementOf(spec, key);
    std::optional<Entry> first;
    for (NodeId n : placement.replicas) {
      const size_t i = *network.IndexOf(n);
      if (network.crashed(i)) continue;
      auto got = replicas[i]->kv->GetRaw("default", key);
      ASSERT_TRUE(got.ok() && got->has_value()) << "seed " << seed << " key " << key;
      EXPECT_GE((*got)->version, version) << "seed " << seed << " key " << key
                                          << ": an acknowledged write is missing";
      if (first) {
        EXPECT_EQ(**got, *first) << "seed " << seed << " key " << key << ": replicas differ";
      }
      first = **got;
    }
  }
}

void Report(const char* what, uint64_t seed, const Outcome& outcome) {
  std::printf("%s, seed %llu: %zu acknowledged, %zu failed, %llu entries moved by anti-entropy\n",
              what, static_cast<unsigned long long>(seed), outcome.acknowledged, outcome.failed,
              static_cast<unsigned long long>(outcome.entries_moved_by_ae));
}

TEST(ReplicationSimTest, QuorumWritesSurviveStallsPartitionsAndACrashOverRealMembership) {
  for (uint64_t seed : {1, 2, 3}) {
    Outcome outcome;
    RunSeed(seed, /*hinted_handoff=*/true, outcome);
    Report("hints + anti-entropy", seed, outcome);
    EXPECT_GT(outcome.acknowledged, 1'000u) << "the workload must mostly succeed";
  }
}

TEST(ReplicationSimTest, WithoutHintsAntiEntropyAloneRepairsEveryReplica) {
  for (uint64_t seed : {4, 5}) {
    Outcome outcome;
    RunSeed(seed, /*hinted_handoff=*/false, outcome);
    Report("anti-entropy only", seed, outcome);
    EXPECT_GT(outcome.entries_moved_by_ae, 0u) << "the faults must leave replicas to repair";
  }
}

}  // namespace
}  // namespace meshkv::sim
