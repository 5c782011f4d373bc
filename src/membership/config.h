// MembershipConfig: every knob of the SWIM + Lifeguard failure detector, with
// hashicorp/memberlist's presets as the starting point (config.go:
// DefaultLANConfig, DefaultWANConfig, DefaultLocalConfig).
//
// Derived values (n = number of known non-dead members, including self):
//   suspicion_min = suspicion_mult * max(1, log10(n)) * probe_interval
//   suspicion_max = suspicion_max_timeout_mult * suspicion_min
//   Lifeguard: with k = suspicion_mult - 2 expected confirmations and c
//   received from distinct nodes, the timeout is
//     max(suspicion_min, suspicion_max - (log(c+1)/log(k+1)) * (suspicion_max - suspicion_min))
//   retransmit limit of a broadcast = retransmit_mult * ceil(log10(n + 1))
//   probe interval and probe timeout are multiplied by (health score + 1)
//   (Lifeguard local health, 0 <= score < awareness_max_multiplier).
// Time for every node to declare a crashed node dead (DeadDetectionBoundMillis):
//   3 * probe_interval (some node's round-robin reaches it, about one
//   interval, plus the failed round) + suspicion_max (the first suspecter's
//   timer with no confirmations) + gossip_interval * retransmit_limit (the
//   dead broadcast spreading).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace meshkv::membership {

struct MembershipConfig {
  int64_t probe_interval_ms = 1000;  // one probe round per interval (LAN 1s)
  int64_t probe_timeout_ms = 500;    // wait for a direct ack before indirect probes (LAN 500ms)
  int indirect_checks = 3;           // nodes asked to probe indirectly (LAN 3)
  int retransmit_mult = 4;           // broadcast retransmit multiplier (LAN 4)
  int suspicion_mult = 4;            // suspicion timeout multiplier (LAN 4)
  int suspicion_max_timeout_mult = 6;  // Lifeguard: max = mult * min (LAN 6)
  int awareness_max_multiplier = 8;    // Lifeguard local health ceiling (LAN 8)
  int64_t gossip_interval_ms = 200;    // piggyback flush period (LAN 200ms)
  int gossip_nodes = 3;                // random nodes gossiped to per interval (LAN 3)
  int64_t gossip_to_dead_ms = 30'000;  // keep gossiping to dead nodes this long (LAN 30s)
  int64_t push_pull_interval_ms = 30'000;  // full state exchange over RPC (LAN 30s); 0 = off
  int64_t dead_node_reclaim_ms = 3'600'000;  // forget dead/left members after this (1h)
  int max_packet_bytes = 1400;               // UDP payload budget before sealing (LAN 1400)

  static MembershipConfig Lan();
  static MembershipConfig Wan();
  static MembershipConfig Local();
  // "lan" | "wan" | "local"; kInvalidArgument naming the choices otherwise.
  static Result<MembershipConfig> Preset(std::string_view name);

  // kInvalidArgument naming the field when a value is out of range.
  Status Validate() const;

  int64_t SuspicionMinMillis(size_t members) const;
  int64_t SuspicionMaxMillis(size_t members) const;
  int RetransmitLimit(size_t members) const;
  // Documented bound, with no packet loss and a healthy detector, on the time
  // from a crash until every live member has the node as dead.
  int64_t DeadDetectionBoundMillis(size_t members) const;
};

}  // namespace meshkv::membership
