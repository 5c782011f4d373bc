#include "base/hlc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "base/clock.h"

namespace meshkv {
namespace {

constexpr int64_t kStart = 1'700'000'000'000;
constexpr int64_t kSkew = 500;

TEST(HlcTimestampTest, PartsRoundTrip) {
  auto ts = HlcTimestamp::FromParts(kStart, 42);
  EXPECT_EQ(ts.wall_millis(), kStart);
  EXPECT_EQ(ts.logical(), 42);
  EXPECT_EQ(ts.raw(), (static_cast<uint64_t>(kStart) << 16) | 42);
  EXPECT_LT(HlcTimestamp::FromParts(kStart, 0xffff), HlcTimestamp::FromParts(kStart + 1, 0));
  EXPECT_LT(HlcTimestamp::FromParts(kStart, 1), HlcTimestamp::FromParts(kStart, 2));
}

TEST(HlcTest, FollowsTheWallClockWhenItMoves) {
  FakeClock clock(kStart);
  Hlc hlc(clock, kSkew);
  EXPECT_EQ(hlc.Now(), HlcTimestamp::FromParts(kStart, 0));
  clock.Advance(10);
  EXPECT_EQ(hlc.Now(), HlcTimestamp::FromParts(kStart + 10, 0));
}

TEST(HlcTest, StrictlyIncreasesWhileTheClockStandsStill) {
  FakeClock clock(kStart);
  Hlc hlc(clock, kSkew);
  HlcTimestamp previous = hlc.Now();
  for (int i = 0; i < 1000; ++i) {
    HlcTimestamp next = hlc.Now();
    ASSERT_GT(next, previous);
    EXPECT_EQ(next.wall_millis(), kStart);
    previous = next;
  }
  EXPECT_EQ(previous.logical(), 1000);
}

TEST(HlcTest, StrictlyIncreasesWhenTheClockGoesBackwards) {
  FakeClock clock(kStart);
  Hlc hlc(clock, kSkew);
  HlcTimestamp before = hlc.Now();
  clock.Set(kStart - 60'000);  // NTP stepped the clock back a minute
  HlcTimestamp previous = before;
  for (int i = 0; i < 100; ++i) {
    HlcTimestamp next = hlc.Now();
    ASSERT_GT(next, previous);
    EXPECT_EQ(next.wall_millis(), kStart);  // holds the highest time seen
    previous = next;
  }
  // Once wall time passes what was seen, it takes over again.
  clock.Set(kStart + 1);
  EXPECT_EQ(hlc.Now(), HlcTimestamp::FromParts(kStart + 1, 0));
}

TEST(HlcTest, StrictlyIncreasingAcrossThreads) {
  FakeClock clock(kStart);
  Hlc hlc(clock, kSkew);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20'000;
  std::vector<std::vector<uint64_t>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      seen[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) {
        if (t == 0 && i % 1000 == 0) clock.Advance(1);
        seen[t].push_back(hlc.Now().raw());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::vector<uint64_t> all;
  for (const auto& per_thread : seen) {
    // Each thread sees strictly increasing timestamps...
    for (size_t i = 1; i < per_thread.size(); ++i) ASSERT_GT(per_thread[i], per_thread[i - 1]);
    all.insert(all.end(), per_thread.begin(), per_thread.end());
  }
  // ...and no timestamp is handed out twice.
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
}

TEST(HlcTest, ObserveAdvancesPastRemote) {
  FakeClock clock(kStart);
  Hlc hlc(clock, kSkew);
  auto remote = HlcTimestamp::FromParts(kStart + 200, 7);
  ASSERT_TRUE(hlc.Observe(remote).ok());
  HlcTimestamp next = hlc.Now();
  EXPECT_GT(next, remote);
  EXPECT_EQ(next, HlcTimestamp::FromParts(kStart + 200, 8));
  EXPECT_EQ(hlc.skew_refusals(), 0u);
}

TEST(HlcTest, ObserveOfAnOlderTimestampChangesNothing) {
  FakeClock clock(kStart);
  Hlc hlc(clock, kSkew);
  HlcTimestamp first = hlc.Now();
  ASSERT_TRUE(hlc.Observe(HlcTimestamp::FromParts(kStart - 5000, 3)).ok());
  EXPECT_EQ(hlc.Now(), HlcTimestamp(first.raw() + 1));
}

TEST(HlcTest, SkewAtTheLimitIsAccepted) {
  FakeClock clock(kStart);
  Hlc hlc(clock, kSkew);
  EXPECT_TRUE(hlc.Observe(HlcTimestamp::FromParts(kStart + kSkew, 0)).ok());
  EXPECT_EQ(hlc.skew_refusals(), 0u);
}

TEST(HlcTest, SkewBeyondTheLimitIsRefusedCountedAndIgnored) {
  FakeClock clock(kStart);
  Hlc hlc(clock, kSkew);
  EXPECT_EQ(hlc.max_skew_millis(), kSkew);
  HlcTimestamp before = hlc.Now();
  auto remote = HlcTimestamp::FromParts(kStart + kSkew + 1, 0);
  Status status = hlc.Observe(remote);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find("501 ms ahead"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("max_clock_skew"), std::string::npos);
  EXPECT_EQ(hlc.skew_refusals(), 1u);
  ASSERT_FALSE(hlc.Observe(HlcTimestamp::FromParts(kStart + 86'400'000, 0)).ok());
  EXPECT_EQ(hlc.skew_refusals(), 2u);
  // The clock did not move towards the refused timestamps.
  HlcTimestamp after = hlc.Now();
  EXPECT_EQ(after, HlcTimestamp(before.raw() + 1));
  EXPECT_LT(after, remote);
  // Once local time catches up, the same timestamp is fine.
  clock.Advance(1);
  EXPECT_TRUE(hlc.Observe(remote).ok());
  EXPECT_EQ(hlc.skew_refusals(), 2u);
}

TEST(HlcTest, LogicalOverflowCarriesIntoTheMilliseconds) {
  FakeClock clock(kStart);
  Hlc hlc(clock, kSkew);
  auto full = HlcTimestamp::FromParts(kStart, 0xffff);
  ASSERT_TRUE(hlc.Observe(full).ok());
  HlcTimestamp next = hlc.Now();
  EXPECT_GT(next, full);
  EXPECT_EQ(next.wall_millis(), kStart + 1);
  EXPECT_EQ(next.logical(), 0);
  EXPECT_EQ(hlc.Now(), HlcTimestamp::FromParts(kStart + 1, 1));
}

TEST(HlcTest, SixtyFiveThousandEventsInOneMillisecondStayOrdered) {
  FakeClock clock(kStart);
  Hlc hlc(clock, kSkew);
  HlcTimestamp previous = hlc.Now();
  for (int i = 0; i < 70'000; ++i) {
    HlcTimestamp next = hlc.Now();
    ASSERT_GT(next, previous);
    previous = next;
  }
  EXPECT_EQ(previous.wall_millis(), kStart + 1);
}

TEST(HlcTest, WorksWithTheSystemClock) {
  SystemClock clock;
  Hlc hlc(clock, kSkew);
  HlcTimestamp a = hlc.Now();
  HlcTimestamp b = hlc.Now();
  EXPECT_GT(b, a);
  EXPECT_NEAR(static_cast<double>(a.wall_millis()), static_cast<double>(clock.NowMillis()), 5000);
}

}  // namespace
}  // namespace meshkv
