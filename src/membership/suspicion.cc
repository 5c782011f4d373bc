#include "membership/suspicion.h"

#include <algorithm>
#include <cmath>

namespace meshkv::membership {

Suspicion::Suspicion(NodeId from, int expected_confirmations, int64_t min_millis,
                     int64_t max_millis, int64_t start_millis)
    : expected_(std::max(0, expected_confirmations)),
      min_millis_(min_millis),
      max_millis_(std::max(min_millis, max_millis)),
      start_millis_(start_millis),
      timeout_millis_(TimeoutMillis(0, expected_, min_millis_, max_millis_)) {
  from_.push_back(from);
}

int64_t Suspicion::TimeoutMillis(int confirmations, int expected, int64_t min_millis,
                                 int64_t max_millis) {
  if (expected < 1) return min_millis;
  const double fraction = std::log(confirmations + 1.0) / std::log(expected + 1.0);
  const double raw = static_cast<double>(max_millis) - fraction * (max_millis - min_millis);
  return std::max(min_millis, static_cast<int64_t>(std::floor(raw)));
}

bool Suspicion::Confirm(NodeId from) {
  if (confirmations_ >= expected_) return false;
  if (std::find(from_.begin(), from_.end(), from) != from_.end()) return false;
  from_.push_back(from);
  ++confirmations_;
  timeout_millis_ = TimeoutMillis(confirmations_, expected_, min_millis_, max_millis_);
  return true;
}

}  // namespace meshkv::membership
