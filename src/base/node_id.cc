#include "base/node_id.h"

#include <fmt/format.h>

#include "base/random.h"

namespace meshkv {

NodeId NodeId::Generate() {
  uint64_t v = 0;
  while (v == 0) v = SecureRandomU64();
  return NodeId(v);
}

Result<NodeId> NodeId::Parse(std::string_view text) {
  if (text.size() != 16) {
    return InvalidArgument("node id must be 16 hex digits, got " + std::to_string(text.size()) +
                           " characters");
  }
  uint64_t v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return InvalidArgument("node id must be 16 hex digits");
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  if (v == 0) return InvalidArgument("node id must not be zero");
  return NodeId(v);
}

std::string NodeId::ToString() const {
  return fmt::format("{:016x}", value_);
}

}  // namespace meshkv
