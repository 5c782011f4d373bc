// membership_sim: runs the membership simulation at a chosen scale and prints
// time to converge, gossip bandwidth, false positives and dead-detection
// time. A tool for docs/performance.md, not a test.
//
//   membership_sim [--nodes N] [--seed S] [--loss P] [--duration-s D] [--seeds K]
//                  [--join-spread-s J]
//
//   --nodes N        cluster size (default 1000)
//   --seed S         simulation seed (default 1)
//   --loss P         gossip packet loss as a fraction, e.g. 0.1 (default 0)
//   --duration-s D   steady-state window over which bandwidth is measured (default 60)
//   --seeds K        seed nodes everyone joins through (default 3)
//   --join-spread-s J  nodes start at random times over J seconds (default 5)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sim_network.h"

namespace {

struct Flags {
  size_t nodes = 1000;
  uint64_t seed = 1;
  double loss = 0.0;
  int64_t duration_s = 60;
  size_t seeds = 3;
  int64_t join_spread_s = 5;
};

[[noreturn]] void Usage(const char* message) {
  std::fprintf(stderr,
               "membership_sim: %s\nusage: membership_sim [--nodes N] [--seed S] [--loss P] "
               "[--duration-s D] [--seeds K] [--join-spread-s J]\n",
               message);
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    if (name == "--help" || name == "-h") Usage("help");
    if (i + 1 >= argc) Usage(("missing value for " + name).c_str());
    const char* value = argv[++i];
    char* end = nullptr;
    if (name == "--nodes") {
      flags.nodes = std::strtoull(value, &end, 10);
    } else if (name == "--seed") {
      flags.seed = std::strtoull(value, &end, 10);
    } else if (name == "--loss") {
      flags.loss = std::strtod(value, &end);
    } else if (name == "--duration-s") {
      flags.duration_s = std::strtoll(value, &end, 10);
    } else if (name == "--seeds") {
      flags.seeds = std::strtoull(value, &end, 10);
    } else if (name == "--join-spread-s") {
      flags.join_spread_s = std::strtoll(value, &end, 10);
    } else {
      Usage(("unknown flag " + name).c_str());
    }
    if (end == value || *end != '\0') Usage(("bad value for " + name).c_str());
  }
  if (flags.nodes < 2) Usage("--nodes must be >= 2");
  if (flags.loss < 0 || flags.loss >= 1) Usage("--loss must be in [0, 1)");
  if (flags.duration_s <= 0) Usage("--duration-s must be > 0");
  if (flags.seeds < 1) Usage("--seeds must be >= 1");
  return flags;
}

}  // namespace

int main(int argc, char** argv) {
  using meshkv::sim::SimNetwork;
  const Flags flags = ParseFlags(argc, argv);
  const auto wall_start = std::chrono::steady_clock::now();
  auto wall_seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  };

  meshkv::sim::SimOptions options;
  options.seed = flags.seed;
  options.loss = flags.loss;
  SimNetwork network(options);
  meshkv::sim::FailureRecorder recorder(network);
  for (size_t i = 0; i < flags.nodes; ++i) network.AddNode();
  const auto& config = network.swim(0).config();

  std::printf("nodes %zu, seed %llu, loss %.3f, seeds %zu, joins spread over %lld s, LAN config\n",
              flags.nodes, static_cast<unsigned long long>(flags.seed), flags.loss, flags.seeds,
              static_cast<long long>(flags.join_spread_s));

  // 1. Join and converge.
  const int64_t start = network.now();
  meshkv::sim::BootstrapCluster(network, flags.seeds, flags.join_spread_s * 1000, flags.seed);
  const bool know_all = network.RunUntil([&] { return network.AllKnowAll(); }, 900'000, 100);
  const double know_all_s = (network.now() - start) / 1000.0;
  if (!know_all) {
    std::printf("did NOT converge within %.1f s (simulated)\n", know_all_s);
    return 1;
  }
  std::printf("every node knows all %zu as live (alive or suspect) after %.1f s simulated\n",
              flags.nodes, know_all_s);
  // All alive at the same instant: with loss, suspicions come and go, so
  // this may take a while or not happen within the limit.
  const bool converged = network.RunUntil([&] { return network.Converged(); }, 120'000, 100);
  const double converge_s = (network.now() - start) / 1000.0;
  const uint64_t join_bytes = network.TotalGossipBytesSent();
  if (converged) {
    std::printf("converged: every node sees %zu alive after %.1f s simulated (%.1f s wall)\n",
                flags.nodes, converge_s, wall_seconds());
  } else {
    std::printf("not all alive at one instant within %.1f s (suspicions in flight)\n", converge_s);
  }
  std::printf("  gossip bytes during join: %.0f B/node/s\n",
              join_bytes / static_cast<double>(flags.nodes) / converge_s);

  // 2. Bandwidth after the join, in 10 s slices, until the join's broadcasts
  // have run out of retransmissions (at most 60 s); then the steady state
  // window. With loss, suspicions and refutations keep some gossip going.
  for (int slice = 0; slice < 6; ++slice) {
    const uint64_t before = network.TotalGossipBytesSent();
    network.RunFor(10'000);
    const double rate =
        (network.TotalGossipBytesSent() - before) / static_cast<double>(flags.nodes) / 10.0;
    std::printf("  +%3d s after convergence: %.0f gossip bytes/node/s\n", (slice + 1) * 10, rate);
    if (slice > 0 && rate < 200) break;
  }
  const uint64_t bytes_before = network.TotalGossipBytesSent();
  network.RunFor(flags.duration_s * 1000);
  const uint64_t steady_bytes = network.TotalGossipBytesSent() - bytes_before;
  std::printf("steady state over %lld s: %.0f gossip bytes/node/s (at the end: %s)\n",
              static_cast<long long>(flags.duration_s),
              steady_bytes / static_cast<double>(flags.nodes) / flags.duration_s,
              network.Converged() ? "all alive everywhere" : "some member suspect somewhere");

  // 3. Crash one node and time its detection.
  const size_t victim = flags.nodes / 2;
  const int64_t bound = config.DeadDetectionBoundMillis(flags.nodes);
  network.Crash(victim);
  recorder.Watch(victim);
  const int64_t crashed_at = network.now();
  const uint64_t suspicions_before_crash = recorder.suspicions();
  const bool detected = network.RunUntil([&] { return recorder.AllDeclaredDeadAt().has_value(); },
                                         bound + 120'000, 100);
  if (detected) {
    std::printf("crashed node declared dead by all %zu live nodes after %.1f s (bound %.1f s)\n",
                flags.nodes - 1, (*recorder.AllDeclaredDeadAt() - crashed_at) / 1000.0,
                bound / 1000.0);
  } else {
    std::printf(
        "crashed node NOT declared dead by everyone: %zu of %zu after %.1f s (bound %.1f s)\n",
        recorder.NumDeclaredDead(), flags.nodes - 1, (network.now() - crashed_at) / 1000.0,
        bound / 1000.0);
  }
  std::printf("  suspicion messages during detection: %llu node-level suspect transitions\n",
              static_cast<unsigned long long>(recorder.suspicions() - suspicions_before_crash));

  // 4. Whole-run accuracy.
  uint64_t refutations = 0;
  for (size_t i = 0; i < flags.nodes; ++i) refutations += network.swim(i).stats().refutations;
  std::printf("false positives (healthy node declared dead, by anyone): %llu\n",
              static_cast<unsigned long long>(recorder.false_positives()));
  std::printf("suspect transitions (all observers): %llu, refutations: %llu, packets lost: %llu\n",
              static_cast<unsigned long long>(recorder.suspicions()),
              static_cast<unsigned long long>(refutations),
              static_cast<unsigned long long>(network.packets_lost()));
  std::printf("simulated %.1f s in %.1f s wall, %llu events\n", (network.now() - start) / 1000.0,
              wall_seconds(), static_cast<unsigned long long>(network.events_processed()));
  return detected && recorder.false_positives() == 0 ? 0 : 1;
}
