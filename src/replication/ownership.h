// OwnershipState: which nodes own data, changed only by explicit acts
// (DESIGN.md principle 2: ownership is not liveness).
//
// Every node has one record {state, version}. A node changes only its own
// record (join: pending -> normal once caught up; decommission: leaving ->
// removed), each time with a higher version, so merging two states is a
// per-node "higher version wins" — commutative, associative, idempotent —
// and every node converges to the same owner set by exchanging states.
// Failure detection never touches it: a dead owner stays an owner (its
// replicas get hints) until someone decommissions it.
//
// Thread-safety: a value type; the holder synchronizes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/node_id.h"
#include "base/status.h"

namespace meshkv::replication {

enum class OwnerState : uint8_t {
  kPending = 0,  // receives writes, streams data in; does not serve reads or count for quorum
  kNormal = 1,   // owner
  kLeaving = 2,  // still an owner while it streams its data out
  kRemoved = 3,  // no longer holds data
};
std::string_view OwnerStateName(OwnerState state);

struct OwnerRecord {
  OwnerState state = OwnerState::kPending;
  uint64_t version = 0;
  friend bool operator==(const OwnerRecord&, const OwnerRecord&) = default;
};

class OwnershipState {
 public:
  // Sets `node`'s record to `state` with a version above its current one.
  void Set(NodeId node, OwnerState state);
  // Merges `other` in; true if anything changed here.
  bool Merge(const OwnershipState& other);

  // Normal and leaving nodes, sorted: the replica sets of reads and quorums.
  std::vector<NodeId> Owners() const;
  // Normal and pending nodes, sorted: where data goes once changes finish.
  std::vector<NodeId> FutureOwners() const;
  const std::map<NodeId, OwnerRecord>& records() const { return records_; }
  std::optional<OwnerRecord> Find(NodeId node) const;
  // Same digest <=> same records (for cheap comparisons).
  uint64_t Digest() const;

  std::string Encode() const;
  // kInvalidArgument for garbage, unknown states or zero node ids.
  static Result<OwnershipState> Decode(std::string_view bytes);

  friend bool operator==(const OwnershipState&, const OwnershipState&) = default;

 private:
  std::map<NodeId, OwnerRecord> records_;
};

}  // namespace meshkv::replication
