#include "membership/config.h"

#include <algorithm>
#include <cmath>

namespace meshkv::membership {

MembershipConfig MembershipConfig::Lan() {
  return MembershipConfig{};
}

// memberlist DefaultWANConfig.
MembershipConfig MembershipConfig::Wan() {
  MembershipConfig config;
  config.probe_interval_ms = 5000;
  config.probe_timeout_ms = 3000;
  config.suspicion_mult = 6;
  config.gossip_interval_ms = 500;
  config.gossip_nodes = 4;
  config.gossip_to_dead_ms = 60'000;
  config.push_pull_interval_ms = 60'000;
  return config;
}

// memberlist DefaultLocalConfig (loopback, one host).
MembershipConfig MembershipConfig::Local() {
  MembershipConfig config;
  config.probe_interval_ms = 1000;
  config.probe_timeout_ms = 200;
  config.indirect_checks = 1;
  config.retransmit_mult = 2;
  config.suspicion_mult = 3;
  config.gossip_interval_ms = 100;
  config.gossip_to_dead_ms = 15'000;
  config.push_pull_interval_ms = 15'000;
  return config;
}

Result<MembershipConfig> MembershipConfig::Preset(std::string_view name) {
  if (name == "lan") return Lan();
  if (name == "wan") return Wan();
  if (name == "local") return Local();
  return InvalidArgument("unknown membership preset '" + std::string(name) +
                         "'; choose lan, wan or local");
}

Status MembershipConfig::Validate() const {
  auto bad = [](std::string_view field, std::string_view want) {
    return InvalidArgument("membership." + std::string(field) + " must be " + std::string(want));
  };
  if (probe_interval_ms <= 0) return bad("probe_interval_ms", "> 0");
  if (probe_timeout_ms <= 0 || probe_timeout_ms >= probe_interval_ms) {
    return bad("probe_timeout_ms", "> 0 and < probe_interval_ms");
  }
  if (indirect_checks < 0 || indirect_checks > 16) return bad("indirect_checks", "in [0, 16]");
  if (retransmit_mult < 1 || retransmit_mult > 100) return bad("retransmit_mult", "in [1, 100]");
  if (suspicion_mult < 1 || suspicion_mult > 100) return bad("suspicion_mult", "in [1, 100]");
  if (suspicion_max_timeout_mult < 1 || suspicion_max_timeout_mult > 100) {
    return bad("suspicion_max_timeout_mult", "in [1, 100]");
  }
  if (awareness_max_multiplier < 1 || awareness_max_multiplier > 100) {
    return bad("awareness_max_multiplier", "in [1, 100]");
  }
  if (gossip_interval_ms <= 0) return bad("gossip_interval_ms", "> 0");
  if (gossip_nodes < 1 || gossip_nodes > 64) return bad("gossip_nodes", "in [1, 64]");
  if (gossip_to_dead_ms < 0) return bad("gossip_to_dead_ms", ">= 0");
  if (push_pull_interval_ms < 0) return bad("push_pull_interval_ms", ">= 0 (0 = off)");
  if (dead_node_reclaim_ms <= 0) return bad("dead_node_reclaim_ms", "> 0");
  if (max_packet_bytes < 512 || max_packet_bytes > 65'000) {
    return bad("max_packet_bytes", "in [512, 65000]");
  }
  return Status::Ok();
}

// memberlist util.go suspicionTimeout.
int64_t MembershipConfig::SuspicionMinMillis(size_t members) const {
  const double node_scale = std::max(1.0, std::log10(std::max<double>(1.0, members)));
  return static_cast<int64_t>(suspicion_mult * node_scale * probe_interval_ms);
}

int64_t MembershipConfig::SuspicionMaxMillis(size_t members) const {
  return suspicion_max_timeout_mult * SuspicionMinMillis(members);
}

// memberlist util.go retransmitLimit.
int MembershipConfig::RetransmitLimit(size_t members) const {
  const int node_scale = static_cast<int>(std::ceil(std::log10(static_cast<double>(members) + 1)));
  return retransmit_mult * node_scale;
}

int64_t MembershipConfig::DeadDetectionBoundMillis(size_t members) const {
  // Probe wait: some live node's round-robin reaches the crashed node within
  // about one interval (the first of n-1 independent positions); two more
  // intervals cover the failed round itself and a late first probe. Then the
  // first suspecter's timer runs at most suspicion_max (no confirmations),
  // and its dead message reaches everyone within the broadcast's retransmit
  // rounds.
  return 3 * probe_interval_ms + SuspicionMaxMillis(members) +
         gossip_interval_ms * RetransmitLimit(members);
}

}  // namespace meshkv::membership
