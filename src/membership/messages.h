// Gossip messages and their wire encoding (gossip.proto), with validation.
//
// Everything here is a pure function of its arguments: no clock, no state.
// Decoders take untrusted bytes and either return messages whose every field
// is within bounds (node ids non-zero, meta <= kMaxMetaBytes once encoded,
// addresses non-empty, states valid) or kInvalidArgument saying what was
// wrong. They never crash and never allocate more than a bounded multiple of
// the input size.
//
// Encoding is split so broadcasts can be encoded once and piggybacked on many
// packets: EncodeMessage() returns one framed message (a `messages` entry of
// gossip.Packet), and a packet is PacketHeader() followed by any number of
// framed messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/node_id.h"
#include "base/status.h"
#include "membership/member.h"

namespace meshkv::membership::wire {

inline constexpr uint32_t kProtocolVersion = 1;
// Larger UDP payloads are refused before parsing.
inline constexpr size_t kMaxPacketBytes = 65'507;
inline constexpr size_t kMaxAddressBytes = 255;
// Bounds a push-pull state (a cluster is far smaller).
inline constexpr size_t kMaxStateMembers = 1 << 16;

struct Ping {
  uint32_t seq = 0;
  NodeId target;
  NodeId source;
  std::string source_addr;
};
struct IndirectPing {
  uint32_t seq = 0;
  NodeId target;
  std::string target_addr;
  bool want_nack = false;
};
struct Ack {
  uint32_t seq = 0;
};
struct Nack {
  uint32_t seq = 0;
};
struct Alive {
  uint64_t incarnation = 0;
  NodeMeta meta;
};
struct Suspect {
  uint64_t incarnation = 0;
  NodeId node;
  NodeId from;
};
// from == node: the node left.
struct Dead {
  uint64_t incarnation = 0;
  NodeId node;
  NodeId from;
};

using Message = std::variant<Ping, IndirectPing, Ack, Nack, Alive, Suspect, Dead>;

// One framed message, ready to be appended after PacketHeader().
std::string EncodeMessage(const Message& message);
// The bytes every packet starts with (the version field).
const std::string& PacketHeader();
// Header plus the given messages.
std::string EncodePacket(const std::vector<Message>& messages);
// kInvalidArgument for garbage, another version, or any invalid message
// (the whole packet is refused). Messages of unknown kinds are skipped.
Result<std::vector<Message>> DecodePacket(std::string_view bytes);

// Encoded size of a meta (what kMaxMetaBytes bounds).
size_t EncodedMetaBytes(const NodeMeta& meta);
// kInvalidArgument naming the field when the meta would not decode.
Status ValidateMeta(const NodeMeta& meta);

struct StateEntry {
  NodeMeta meta;
  MemberState state = MemberState::kAlive;
  uint64_t incarnation = 0;
};
struct State {
  NodeId sender;
  std::vector<StateEntry> members;
};
std::string EncodeState(const State& state);
// kInvalidArgument for garbage, another version, an invalid entry, a zero
// sender, duplicate ids or more than kMaxStateMembers entries.
Result<State> DecodeState(std::string_view bytes);

}  // namespace meshkv::membership::wire
