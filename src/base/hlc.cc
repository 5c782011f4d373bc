#include "base/hlc.h"

#include <algorithm>
#include <string>

namespace meshkv {

Hlc::Hlc(const Clock& clock, int64_t max_skew_millis)
    : clock_(clock), max_skew_millis_(max_skew_millis) {}

HlcTimestamp Hlc::Now() {
  const uint64_t wall = HlcTimestamp::FromParts(clock_.NowMillis(), 0).raw();
  uint64_t last = last_.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    // Either the wall clock moved past everything seen (logical resets to 0),
    // or we tick the logical counter of the last timestamp. A counter overflow
    // carries into the millisecond part, which keeps the order strict.
    next = std::max(wall, last + 1);
  } while (!last_.compare_exchange_weak(last, next, std::memory_order_relaxed));
  return HlcTimestamp(next);
}

Status Hlc::Observe(HlcTimestamp remote) {
  const int64_t now = clock_.NowMillis();
  if (remote.wall_millis() - now > max_skew_millis_) {
    skew_refusals_.fetch_add(1, std::memory_order_relaxed);
    return InvalidArgument("remote timestamp is " + std::to_string(remote.wall_millis() - now) +
                           " ms ahead of the local clock; max_clock_skew is " +
                           std::to_string(max_skew_millis_) + " ms (check NTP on both nodes)");
  }
  uint64_t last = last_.load(std::memory_order_relaxed);
  while (last < remote.raw() &&
         !last_.compare_exchange_weak(last, remote.raw(), std::memory_order_relaxed)) {
  }
  return Status::Ok();
}

}  // namespace meshkv
