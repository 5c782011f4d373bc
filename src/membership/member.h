// Member types shared by the SWIM core, the network driver and the API.
//
// A member is a node id plus what it says about itself (NodeMeta), the state
// the failure detector holds for it, and its incarnation: the number only the
// node itself may raise, used to refute suspicion (SWIM §4.2).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/node_id.h"

namespace meshkv::membership {

enum class MemberState : uint8_t {
  kAlive = 0,
  kSuspect = 1,
  kDead = 2,  // declared dead by the failure detector
  kLeft = 3,  // left on purpose (graceful leave); never "dead"
};

std::string_view MemberStateName(MemberState state);  // "alive", "suspect", ...

// What a node announces about itself. Gossiped in alive messages and in
// push-pull state; bounded by kMaxMetaBytes once encoded.
struct NodeMeta {
  NodeId id;
  std::string cluster;       // cluster name (also authenticated by the gossip AEAD)
  std::string cluster_addr;  // host:port of peer RPC (TCP) and gossip (UDP)
  std::string http_addr;     // host:port of the client HTTP API, "" if none
  std::string dns_addr;      // host:port of the DNS server, "" if none
  std::string version;       // meshkv version string
  std::map<std::string, std::string> tags;

  friend bool operator==(const NodeMeta&, const NodeMeta&) = default;
};

inline constexpr size_t kMaxMetaBytes = 1024;

struct Member {
  NodeMeta meta;
  MemberState state = MemberState::kAlive;
  uint64_t incarnation = 0;
  int64_t state_change_millis = 0;  // local monotonic ms when `state` last changed
  int64_t last_rtt_micros = -1;     // RTT of the last direct probe ack; -1 unknown
};

}  // namespace meshkv::membership
