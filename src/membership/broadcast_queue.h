// BroadcastQueue: messages waiting to be piggybacked on gossip packets
// (memberlist TransmitLimitedQueue).
//
// At most one message per subject node is queued: a newer message about a
// node replaces the older one, whatever it said. Take() hands out the least
// transmitted messages first (newest first among equals) and drops a
// message once it has been sent `retransmit_limit` times.
// Memory is bounded by the number of distinct subjects.
// Single-threaded: owned by Swim.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "base/node_id.h"

namespace meshkv::membership {

class BroadcastQueue {
 public:
  // `framed` is one encoded message (wire::EncodeMessage).
  void Queue(NodeId subject, std::string framed);

  // Concatenated messages whose total size is at most `budget_bytes`; each
  // one counts a transmission. Empty when nothing is queued or fits.
  std::string Take(size_t budget_bytes, int retransmit_limit);

  size_t size() const { return by_subject_.size(); }
  bool empty() const { return by_subject_.empty(); }
  // Transmissions so far of the message queued about `subject`, -1 if none.
  int TransmitsOf(NodeId subject) const;

 private:
  // (transmits, -sequence): fewest transmits first, then newest.
  using Key = std::pair<int, int64_t>;
  struct Item {
    NodeId subject;
    std::string framed;
  };
  std::map<Key, Item> ordered_;
  std::unordered_map<NodeId, Key> by_subject_;
  int64_t next_sequence_ = 0;
};

}  // namespace meshkv::membership
