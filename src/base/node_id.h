// NodeId: a node's stable identity, generated once and kept in its data dir.
// 64 random bits, written as 16 lowercase hex digits. Strongly typed so it
// cannot be mixed up with partitions, incarnations or timestamps.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace meshkv {

class NodeId {
 public:
  constexpr NodeId() = default;
  constexpr explicit NodeId(uint64_t value) : value_(value) {}

  // Fresh random id from the OS CSPRNG; never zero.
  static NodeId Generate();
  // Parses exactly 16 hex digits (any case); zero is refused.
  static Result<NodeId> Parse(std::string_view text);

  constexpr uint64_t value() const { return value_; }
  constexpr bool valid() const { return value_ != 0; }
  std::string ToString() const;

  friend constexpr auto operator<=>(NodeId, NodeId) = default;

 private:
  uint64_t value_ = 0;
};

}  // namespace meshkv

template <>
struct std::hash<meshkv::NodeId> {
  size_t operator()(meshkv::NodeId id) const noexcept { return std::hash<uint64_t>()(id.value()); }
};
