#include "replication/rate_limiter.h"

#include <gtest/gtest.h>

#include <limits>

#include "base/clock.h"

namespace meshkv::replication {
namespace {

TEST(RateLimiterTest, StartsFullAndRefillsAtTheRate) {
  FakeClock clock;
  RateLimiter limiter(clock, /*bytes_per_second=*/1000, /*burst_bytes=*/500);
  EXPECT_EQ(limiter.Available(), 500);
  limiter.Consume(500);
  EXPECT_EQ(limiter.Available(), 0);
  clock.Advance(100);
  EXPECT_EQ(limiter.Available(), 100);
  // Many short steps add up exactly (no rounding loss).
  for (int i = 0; i < 100; ++i) {
    clock.Advance(1);
    limiter.Available();
  }
  EXPECT_EQ(limiter.Available(), 200);
  // Never above the burst, however long the wait.
  clock.Advance(3'600'000);
  EXPECT_EQ(limiter.Available(), 500);
}

TEST(RateLimiterTest, SubByteRatesAccumulate) {
  FakeClock clock;
  RateLimiter limiter(clock, /*bytes_per_second=*/3, /*burst_bytes=*/10);
  limiter.Consume(10);
  clock.Advance(333);
  EXPECT_EQ(limiter.Available(), 0);  // 0.999 bytes
  clock.Advance(1);
  EXPECT_EQ(limiter.Available(), 1);
}

TEST(RateLimiterTest, DebtIsRepaidBeforeAnythingIsAvailable) {
  FakeClock clock;
  RateLimiter limiter(clock, 1000, 1000);
  limiter.Consume(3000);  // a whole batch, more than the bucket holds
  EXPECT_EQ(limiter.Available(), 0);
  EXPECT_EQ(limiter.MillisUntil(1), 2001);
  clock.Advance(2000);
  EXPECT_EQ(limiter.Available(), 0);
  clock.Advance(500);
  EXPECT_EQ(limiter.Available(), 500);
}

TEST(RateLimiterTest, MillisUntil) {
  FakeClock clock;
  RateLimiter limiter(clock, 2000, 1000);
  EXPECT_EQ(limiter.MillisUntil(1000), 0);
  limiter.Consume(1000);
  EXPECT_EQ(limiter.MillisUntil(0), 0);
  EXPECT_EQ(limiter.MillisUntil(1), 1);  // 2 bytes per ms
  EXPECT_EQ(limiter.MillisUntil(3), 2);
  EXPECT_EQ(limiter.MillisUntil(1000), 500);
  // More than the burst waits only for a full bucket, not forever.
  EXPECT_EQ(limiter.MillisUntil(1'000'000), 500);
  clock.Advance(500);
  EXPECT_EQ(limiter.MillisUntil(1000), 0);
  EXPECT_EQ(limiter.Available(), 1000);
}

TEST(RateLimiterTest, ClockSteppingBackRefillsNothing) {
  FakeClock clock(1'000'000);
  RateLimiter limiter(clock, 1000, 1000);
  limiter.Consume(1000);
  clock.Set(0);
  EXPECT_EQ(limiter.Available(), 0);
  clock.Set(1'000'100);
  EXPECT_EQ(limiter.Available(), 100);
}

TEST(RateLimiterTest, UnlimitedAndDefaultBurst) {
  FakeClock clock;
  RateLimiter unlimited(clock, 0, 0);
  unlimited.Consume(1'000'000'000);
  EXPECT_EQ(unlimited.Available(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(unlimited.MillisUntil(1'000'000'000), 0);

  RateLimiter one_second(clock, 4096, 0);
  EXPECT_EQ(one_second.burst_bytes(), 4096);
  EXPECT_EQ(one_second.Available(), 4096);
  one_second.Consume(-5);  // ignored
  EXPECT_EQ(one_second.Available(), 4096);
}

TEST(RateLimiterTest, HugeValuesDoNotOverflow) {
  FakeClock clock(0);
  const int64_t max = std::numeric_limits<int64_t>::max();
  RateLimiter limiter(clock, max, max);
  EXPECT_GT(limiter.Available(), 0);
  limiter.Consume(max);
  limiter.Consume(max);
  EXPECT_EQ(limiter.Available(), 0);
  clock.Set(max / 2);
  EXPECT_EQ(limiter.Available(), limiter.burst_bytes());
  EXPECT_GE(limiter.MillisUntil(max), 0);
}

}  // namespace
}  // namespace meshkv::replication
