// RateLimiter: a token bucket over bytes for background work (hint replay,
// anti-entropy). It decides how much may be sent now and how long to wait;
// it does no I/O and never sleeps, so callers schedule their own timers.
//
// The bucket holds at most `burst_bytes` and refills at `bytes_per_second`;
// it starts full. Consume() may take more than is available (a batch is sent
// whole): the bucket goes into debt, and Available() stays at 0 until it is
// repaid. Time comes from the Clock given (a monotonic one in production, a
// FakeClock in tests); a clock that steps back refills nothing.
//
// bytes_per_second <= 0 means unlimited: Available() is INT64_MAX and
// MillisUntil() 0. burst_bytes <= 0 means one second's worth.
//
// Thread-safety: every method is safe from any thread. Lifecycle: the Clock
// must outlive the limiter.
#pragma once

#include <cstdint>
#include <mutex>

#include "base/clock.h"

namespace meshkv::replication {

class RateLimiter {
 public:
  RateLimiter(const Clock& clock, int64_t bytes_per_second, int64_t burst_bytes);

  // Bytes that may be sent now (0 when in debt).
  int64_t Available();
  // Records `bytes` sent (negative values are ignored).
  void Consume(int64_t bytes);
  // Milliseconds until Available() >= min(bytes, burst); 0 when already so.
  int64_t MillisUntil(int64_t bytes);

  int64_t bytes_per_second() const { return bytes_per_second_; }
  int64_t burst_bytes() const { return burst_bytes_; }

 private:
  // Adds what the time since the last refill earned. REQUIRES: mutex_ held.
  void Refill();

  const Clock& clock_;
  const int64_t bytes_per_second_;
  const int64_t burst_bytes_;

  std::mutex mutex_;
  // Guarded by mutex_. Tokens are kept in milli-bytes (bytes x 1000), so
  // refills of a few milliseconds lose nothing to rounding.
  int64_t milli_tokens_;
  int64_t last_refill_ms_;
};

}  // namespace meshkv::replication
