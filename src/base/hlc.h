// Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014).
//
// A timestamp is 64 bits: the high 48 bits are wall milliseconds, the low 16
// a logical counter. Timestamps issued by one Hlc strictly increase, and every
// timestamp issued after Observe(t) is greater than t, so causally later writes
// always carry higher versions.
//
// A remote timestamp whose wall part is more than max_clock_skew ahead of the
// local wall clock is refused (kInvalidArgument) and counted: one node with a
// bad clock must not drag every version into its future and win every
// last-writer-wins comparison.
//
// Thread-safety: all methods are lock-free and safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/clock.h"
#include "base/status.h"

namespace meshkv {

class HlcTimestamp {
 public:
  static constexpr int kLogicalBits = 16;
  static constexpr uint64_t kLogicalMask = (uint64_t{1} << kLogicalBits) - 1;

  constexpr HlcTimestamp() = default;
  constexpr explicit HlcTimestamp(uint64_t raw) : raw_(raw) {}
  static constexpr HlcTimestamp FromParts(int64_t wall_millis, uint16_t logical) {
    return HlcTimestamp((static_cast<uint64_t>(wall_millis) << kLogicalBits) | logical);
  }

  constexpr uint64_t raw() const { return raw_; }
  constexpr int64_t wall_millis() const { return static_cast<int64_t>(raw_ >> kLogicalBits); }
  constexpr uint16_t logical() const { return static_cast<uint16_t>(raw_ & kLogicalMask); }

  friend constexpr auto operator<=>(HlcTimestamp, HlcTimestamp) = default;

 private:
  uint64_t raw_ = 0;
};

class Hlc {
 public:
  // `clock` must outlive the Hlc. max_skew_millis >= 0.
  Hlc(const Clock& clock, int64_t max_skew_millis);

  // A new timestamp for a local event; strictly greater than every timestamp
  // this Hlc issued or observed before.
  HlcTimestamp Now();

  // Merges a timestamp received from a peer. Fails with kInvalidArgument (and
  // counts it) when `remote` is more than max_skew ahead of local wall time;
  // the local clock is then unchanged.
  Status Observe(HlcTimestamp remote);

  // Number of remote timestamps refused for skew since start.
  uint64_t skew_refusals() const { return skew_refusals_.load(std::memory_order_relaxed); }
  int64_t max_skew_millis() const { return max_skew_millis_; }

 private:
  const Clock& clock_;
  const int64_t max_skew_millis_;
  std::atomic<uint64_t> last_{0};
  std::atomic<uint64_t> skew_refusals_{0};
};

}  // namespace meshkv
