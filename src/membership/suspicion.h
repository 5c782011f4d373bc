// Suspicion: the Lifeguard dogpile timer of one suspected member
// (memberlist suspicion.go; Lifeguard paper §IV-B).
//
// It starts at `max` (or `min` when no confirmations are expected) and every
// confirmation from a distinct node, up to `expected_confirmations`, shortens
// it along
//   timeout(c) = max(min, max - log(c+1)/log(k+1) * (max - min))
// so that a suspicion many nodes agree on expires quickly while a lone
// (possibly wrong) suspecter waits long enough for a refutation.
// Value type, owned by the Swim member table; single-threaded.
#pragma once

#include <cstdint>
#include <vector>

#include "base/node_id.h"

namespace meshkv::membership {

class Suspicion {
 public:
  // `from` is the first suspecter (not counted as a confirmation).
  Suspicion(NodeId from, int expected_confirmations, int64_t min_millis, int64_t max_millis,
            int64_t start_millis);

  // Records a confirmation; true when `from` is new and counted (the caller
  // then re-gossips the suspicion), false for a repeat or once k are in.
  bool Confirm(NodeId from);

  int64_t deadline_millis() const { return start_millis_ + timeout_millis_; }
  int confirmations() const { return confirmations_; }

  // The timeout after `confirmations` of `expected` (formula above).
  static int64_t TimeoutMillis(int confirmations, int expected, int64_t min_millis,
                               int64_t max_millis);

 private:
  int expected_;
  int confirmations_ = 0;
  int64_t min_millis_;
  int64_t max_millis_;
  int64_t start_millis_;
  int64_t timeout_millis_;
  std::vector<NodeId> from_;  // first suspecter + confirmers; at most k+1
};

}  // namespace meshkv::membership
