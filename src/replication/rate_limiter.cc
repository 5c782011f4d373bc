#include "replication/rate_limiter.h"

#include <algorithm>
#include <limits>

namespace meshkv::replication {
namespace {

constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();
// Bounds burst and debt so that milli-byte arithmetic cannot overflow.
constexpr int64_t kMaxBytes = int64_t{1} << 50;

}  // namespace

RateLimiter::RateLimiter(const Clock& clock, int64_t bytes_per_second, int64_t burst_bytes)
    : clock_(clock),
      bytes_per_second_(std::min(bytes_per_second, kMaxBytes)),
      burst_bytes_(
          std::clamp<int64_t>(burst_bytes > 0 ? burst_bytes : bytes_per_second, 1, kMaxBytes)),
      milli_tokens_(burst_bytes_ * 1000),
      last_refill_ms_(clock.NowMillis()) {}

void RateLimiter::Refill() {
  const int64_t now_ms = clock_.NowMillis();
  if (now_ms <= last_refill_ms_) return;  // no time passed, or the clock stepped back
  const int64_t capacity = burst_bytes_ * 1000;
  // Time beyond what fills the bucket from its lowest point earns nothing;
  // capping it first keeps rate x elapsed in range.
  const int64_t fill_ms = (capacity - std::min<int64_t>(milli_tokens_, 0)) / bytes_per_second_ + 1;
  const int64_t elapsed_ms = std::min(now_ms - last_refill_ms_, fill_ms);
  milli_tokens_ = std::min(capacity, milli_tokens_ + elapsed_ms * bytes_per_second_);
  last_refill_ms_ = now_ms;
}

int64_t RateLimiter::Available() {
  if (bytes_per_second_ <= 0) return kUnlimited;
  std::lock_guard lock(mutex_);
  Refill();
  return std::max<int64_t>(milli_tokens_, 0) / 1000;
}

void RateLimiter::Consume(int64_t bytes) {
  if (bytes_per_second_ <= 0 || bytes <= 0) return;
  std::lock_guard lock(mutex_);
  Refill();
  bytes = std::min(bytes, kMaxBytes);
  // Debt is bounded (one maximal batch below empty) so that a runaway
  // caller cannot overflow the counter.
  milli_tokens_ = std::max(milli_tokens_ - bytes * 1000, -kMaxBytes * 1000);
}

int64_t RateLimiter::MillisUntil(int64_t bytes) {
  if (bytes_per_second_ <= 0) return 0;
  std::lock_guard lock(mutex_);
  Refill();
  const int64_t wanted = std::clamp<int64_t>(bytes, 0, burst_bytes_) * 1000;
  const int64_t missing = wanted - milli_tokens_;
  if (missing <= 0) return 0;
  return (missing + bytes_per_second_ - 1) / bytes_per_second_;
}

}  // namespace meshkv::replication
