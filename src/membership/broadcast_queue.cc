#include "membership/broadcast_queue.h"

#include <vector>

namespace meshkv::membership {
namespace {
// The smallest framed message (an ack) is a few bytes; below this budget no
// broadcast fits, so the scan stops.
constexpr size_t kSmallestBroadcastBytes = 8;
// Stop scanning after this many messages that did not fit.
constexpr int kMaxSkipped = 64;
}  // namespace

void BroadcastQueue::Queue(NodeId subject, std::string framed) {
  if (auto it = by_subject_.find(subject); it != by_subject_.end()) {
    ordered_.erase(it->second);
    by_subject_.erase(it);
  }
  const Key key{0, -(next_sequence_++)};
  ordered_.emplace(key, Item{subject, std::move(framed)});
  by_subject_.emplace(subject, key);
}

std::string BroadcastQueue::Take(size_t budget_bytes, int retransmit_limit) {
  std::string out;
  std::vector<std::map<Key, Item>::iterator> taken;
  int skipped = 0;
  for (auto it = ordered_.begin(); it != ordered_.end(); ++it) {
    if (budget_bytes - out.size() < kSmallestBroadcastBytes) break;
    if (out.size() + it->second.framed.size() > budget_bytes) {
      if (++skipped > kMaxSkipped) break;
      continue;
    }
    out += it->second.framed;
    taken.push_back(it);
  }
  for (auto it : taken) {
    auto node = ordered_.extract(it);
    const int transmits = node.key().first + 1;
    if (transmits >= retransmit_limit) {
      by_subject_.erase(node.mapped().subject);
      continue;
    }
    node.key().first = transmits;
    by_subject_[node.mapped().subject] = node.key();
    ordered_.insert(std::move(node));
  }
  return out;
}

int BroadcastQueue::TransmitsOf(NodeId subject) const {
  auto it = by_subject_.find(subject);
  return it == by_subject_.end() ? -1 : it->second.first;
}

}  // namespace meshkv::membership
