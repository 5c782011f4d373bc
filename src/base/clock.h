// Wall clock seam. Everything that reads wall time takes a Clock&, so tests
// and the simulation can drive time by hand.
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace meshkv {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMillis() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// Milliseconds of a monotonic clock (CLOCK_MONOTONIC): for timers and
// failure detection, never for timestamps another node reads.
class SteadyClock final : public Clock {
 public:
  int64_t NowMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_millis = 1'700'000'000'000) : now_(start_millis) {}
  int64_t NowMillis() const override { return now_.load(std::memory_order_relaxed); }
  void Set(int64_t millis) { now_.store(millis, std::memory_order_relaxed); }
  void Advance(int64_t millis) { now_.fetch_add(millis, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace meshkv
