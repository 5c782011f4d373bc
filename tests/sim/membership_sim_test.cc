// Whole-cluster behaviour of the real membership code in the deterministic
// simulation (sim_network.h). Each test prints what it measured.
#include <gtest/gtest.h>

#include <cstdio>

#include "sim_network.h"

namespace meshkv::sim {
namespace {

using membership::MembershipConfig;
using membership::MemberState;

constexpr size_t kNodes = 100;
constexpr size_t kSeeds = 3;

// 100 nodes joined through 3 seeds over 2 s, run until converged.
struct Cluster {
  explicit Cluster(uint64_t seed, double loss = 0.0)
      : network(Options(seed, loss)), recorder(network) {
    for (size_t i = 0; i < kNodes; ++i) network.AddNode();
    BootstrapCluster(network, kSeeds, 2000, seed);
    converged = network.RunUntil([&] { return network.Converged(); }, 120'000);
    converge_ms = network.now() - start;
  }
  static SimOptions Options(uint64_t seed, double loss) {
    SimOptions options;
    options.seed = seed;
    options.loss = loss;
    return options;
  }
  SimNetwork network;
  FailureRecorder recorder;
  const int64_t start = network.now();
  bool converged = false;
  int64_t converge_ms = 0;
};

TEST(MembershipSimTest, HundredNodesConvergeToAllAlive) {
  Cluster cluster(1);
  ASSERT_TRUE(cluster.converged);
  std::printf("100 nodes converged in %lld ms (simulated)\n",
              static_cast<long long>(cluster.converge_ms));
  for (size_t i = 0; i < kNodes; ++i) {
    EXPECT_EQ(cluster.network.swim(i).NumLive(), kNodes);
  }
  EXPECT_EQ(cluster.recorder.false_positives(), 0u);
  // Stays converged.
  cluster.network.RunFor(30'000);
  EXPECT_TRUE(cluster.network.Converged());
  EXPECT_EQ(cluster.recorder.false_positives(), 0u);
}

TEST(MembershipSimTest, CrashedNodeDeclaredDeadByEveryoneWithinBound) {
  Cluster cluster(2);
  ASSERT_TRUE(cluster.converged);
  SimNetwork& network = cluster.network;
  const size_t victim = 42;
  const int64_t bound = network.swim(0).config().DeadDetectionBoundMillis(kNodes);
  network.Crash(victim);
  cluster.recorder.Watch(victim);
  const int64_t crashed_at = network.now();
  const bool all_dead = network.RunUntil(
      [&] { return cluster.recorder.AllDeclaredDeadAt().has_value(); }, bound + 60'000);
  ASSERT_TRUE(all_dead) << cluster.recorder.NumDeclaredDead() << " of " << kNodes - 1
                        << " declared it dead";
  const int64_t took = *cluster.recorder.AllDeclaredDeadAt() - crashed_at;
  std::printf("crashed node dead everywhere after %lld ms (bound %lld ms)\n",
              static_cast<long long>(took), static_cast<long long>(bound));
  EXPECT_LE(took, bound);
  EXPECT_EQ(cluster.recorder.false_positives(), 0u);
  for (size_t i = 0; i < kNodes; ++i) {
    if (i != victim) {
      EXPECT_EQ(network.swim(i).NumLive(), kNodes - 1);
    }
  }
}

TEST(MembershipSimTest, LossAndStallCauseNoFalsePositives) {
  Cluster cluster(3, /*loss=*/0.10);
  ASSERT_TRUE(cluster.converged);
  SimNetwork& network = cluster.network;
  const MembershipConfig& config = network.swim(0).config();
  const uint64_t suspicions_before = cluster.recorder.suspicions();
  network.Stall(7, 3 * config.probe_interval_ms);
  network.RunFor(90'000);
  uint64_t refutations = 0;
  int max_health = 0;
  for (size_t i = 0; i < kNodes; ++i) {
    refutations += network.swim(i).stats().refutations;
    max_health = std::max(max_health, network.swim(i).HealthScore());
  }
  std::printf(
      "10%% loss + 3 s stall, 100 nodes, %lld ms: false positives %llu, suspicions %llu "
      "(%llu after the stall began), refutations %llu, packets lost %llu\n",
      static_cast<long long>(network.now() - cluster.start),
      static_cast<unsigned long long>(cluster.recorder.false_positives()),
      static_cast<unsigned long long>(cluster.recorder.suspicions()),
      static_cast<unsigned long long>(cluster.recorder.suspicions() - suspicions_before),
      static_cast<unsigned long long>(refutations),
      static_cast<unsigned long long>(network.packets_lost()));
  EXPECT_EQ(cluster.recorder.false_positives(), 0u);
  EXPECT_GT(network.packets_lost(), 0u);
  network.set_loss(0);
  EXPECT_TRUE(network.RunUntil([&] { return network.Converged(); }, 30'000));
}

TEST(MembershipSimTest, ShortStallIsRefutedNeverDead) {
  Cluster cluster(4);
  ASSERT_TRUE(cluster.converged);
  SimNetwork& network = cluster.network;
  const MembershipConfig& config = network.swim(0).config();
  const size_t sleeper = 13;
  // Long enough to be suspected, shorter than the suspicion timeout.
  const int64_t stall = config.SuspicionMinMillis(kNodes) * 3 / 4;
  const uint64_t incarnation = network.swim(sleeper).Self().incarnation;
  network.Stall(sleeper, stall);
  network.RunFor(stall + 30'000);
  std::printf("%lld ms stall: suspicions %llu, sleeper refutations %llu, false positives %llu\n",
              static_cast<long long>(stall),
              static_cast<unsigned long long>(cluster.recorder.suspicions()),
              static_cast<unsigned long long>(network.swim(sleeper).stats().refutations),
              static_cast<unsigned long long>(cluster.recorder.false_positives()));
  EXPECT_GT(cluster.recorder.suspicions(), 0u);
  EXPECT_GT(network.swim(sleeper).stats().refutations, 0u);
  EXPECT_GT(network.swim(sleeper).Self().incarnation, incarnation);
  EXPECT_EQ(cluster.recorder.false_positives(), 0u);
  EXPECT_TRUE(network.Converged());
}

TEST(MembershipSimTest, PartitionedNodeIsDeadThenAliveAfterHeal) {
  Cluster cluster(5);
  ASSERT_TRUE(cluster.converged);
  SimNetwork& network = cluster.network;
  network.Partition({{0}});  // node 0 alone
  EXPECT_TRUE(network.RunUntil(
      [&] {
        for (size_t i = 1; i < kNodes; ++i) {
          for (const auto& m : network.swim(i).Members()) {
            if (m.meta.id == network.id(0) && m.state != MemberState::kDead) return false;
          }
        }
        return true;
      },
      120'000));
  network.Heal();
  // Push-pull (or probes from the isolated node's side) bring it back.
  EXPECT_TRUE(network.RunUntil([&] { return network.Converged(); }, 300'000));
}

TEST(MembershipSimTest, SameSeedSameRun) {
  auto run = [] {
    SimOptions options;
    options.seed = 99;
    options.loss = 0.05;
    options.duplicate = 0.01;
    SimNetwork network(options);
    for (int i = 0; i < 30; ++i) network.AddNode();
    BootstrapCluster(network, 2, 1000, 99);
    network.RunFor(20'000);
    network.Crash(5);
    network.RunFor(20'000);
    return std::make_pair(network.TotalGossipBytesSent(), network.events_processed());
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace meshkv::sim
