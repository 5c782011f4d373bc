// Awareness: the Lifeguard local health score (memberlist awareness.go;
// Lifeguard paper §IV-A). A node that misses acks and nacks it should have
// received is probably the slow one, so it stretches its own probe interval
// and timeout by (score + 1) instead of suspecting others too early.
// Single-threaded: owned by Swim.
#pragma once

#include <algorithm>
#include <cstdint>

namespace meshkv::membership {

class Awareness {
 public:
  // Scores live in [0, max_multiplier - 1].
  explicit Awareness(int max_multiplier) : max_(std::max(1, max_multiplier)) {}

  void ApplyDelta(int delta) { score_ = std::clamp(score_ + delta, 0, max_ - 1); }
  int score() const { return score_; }
  int64_t Scale(int64_t millis) const { return millis * (score_ + 1); }

 private:
  int max_;
  int score_ = 0;
};

}  // namespace meshkv::membership
