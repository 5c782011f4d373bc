#include "replication/ownership.h"

#include <xxhash.h>

#include <optional>

#include "replication/replication.pb.h"

namespace meshkv::replication {

std::string_view OwnerStateName(OwnerState state) {
  switch (state) {
    case OwnerState::kPending:
      return "pending";
    case OwnerState::kNormal:
      return "normal";
    case OwnerState::kLeaving:
      return "leaving";
    case OwnerState::kRemoved:
      return "removed";
  }
  return "unknown";
}

void OwnershipState::Set(NodeId node, OwnerState state) {
  OwnerRecord& record = records_[node];
  record.state = state;
  ++record.version;
}

bool OwnershipState::Merge(const OwnershipState& other) {
  bool changed = false;
  for (const auto& [node, theirs] : other.records_) {
    auto it = records_.find(node);
    if (it == records_.end()) {
      records_.emplace(node, theirs);
      changed = true;
      continue;
    }
    OwnerRecord& ours = it->second;
    // Higher version wins; at equal versions the later state wins, so that
    // the merge stays deterministic even if two writers ever collided.
    if (theirs.version > ours.version ||
        (theirs.version == ours.version && theirs.state > ours.state)) {
      ours = theirs;
      changed = true;
    }
  }
  return changed;
}

std::vector<NodeId> OwnershipState::Owners() const {
  std::vector<NodeId> out;
  for (const auto& [node, record] : records_) {
    if (record.state == OwnerState::kNormal || record.state == OwnerState::kLeaving) {
      out.push_back(node);
    }
  }
  return out;
}

std::vector<NodeId> OwnershipState::FutureOwners() const {
  std::vector<NodeId> out;
  for (const auto& [node, record] : records_) {
    if (record.state == OwnerState::kNormal || record.state == OwnerState::kPending) {
      out.push_back(node);
    }
  }
  return out;
}

std::optional<OwnerRecord> OwnershipState::Find(NodeId node) const {
  auto it = records_.find(node);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

uint64_t OwnershipState::Digest() const {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (const auto& [node, record] : records_) {
    const uint64_t id = node.value();
    const uint8_t s = static_cast<uint8_t>(record.state);
    XXH3_64bits_update(state, &id, sizeof(id));
    XXH3_64bits_update(state, &s, sizeof(s));
    XXH3_64bits_update(state, &record.version, sizeof(record.version));
  }
  const uint64_t digest = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return digest;
}

std::string OwnershipState::Encode() const {
  wire::Ownership message;
  for (const auto& [node, record] : records_) {
    wire::OwnerRecord* r = message.add_records();
    r->set_node(node.value());
    r->set_state(static_cast<uint32_t>(record.state));
    r->set_version(record.version);
  }
  return message.SerializeAsString();
}

Result<OwnershipState> OwnershipState::Decode(std::string_view bytes) {
  wire::Ownership message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgument("ownership state does not parse");
  }
  if (message.records_size() > 100'000) return InvalidArgument("ownership state is too large");
  OwnershipState state;
  for (const wire::OwnerRecord& r : message.records()) {
    if (r.node() == 0) return InvalidArgument("ownership record with node id 0");
    if (r.state() > static_cast<uint32_t>(OwnerState::kRemoved)) {
      return InvalidArgument("ownership record with unknown state " + std::to_string(r.state()));
    }
    OwnerRecord record{static_cast<OwnerState>(r.state()), r.version()};
    OwnershipState one;
    one.records_[NodeId(r.node())] = record;
    state.Merge(one);
  }
  return state;
}

}  // namespace meshkv::replication
