#include "membership/suspicion.h"

#include <gtest/gtest.h>

#include <cmath>

namespace meshkv::membership {
namespace {

constexpr NodeId kA{1}, kB{2}, kC{3}, kD{4};

TEST(SuspicionTest, NoExpectedConfirmationsUsesMinimum) {
  Suspicion s(kA, 0, 8000, 48000, 100);
  EXPECT_EQ(s.deadline_millis(), 100 + 8000);
  EXPECT_FALSE(s.Confirm(kB));
  EXPECT_EQ(s.deadline_millis(), 100 + 8000);
}

TEST(SuspicionTest, ConfirmationsShortenTowardsMinimum) {
  Suspicion s(kA, 2, 8000, 48000, 0);
  EXPECT_EQ(s.deadline_millis(), 48000);
  EXPECT_FALSE(s.Confirm(kA)) << "the first suspecter is not a confirmation";
  EXPECT_TRUE(s.Confirm(kB));
  const auto expected =
      static_cast<int64_t>(std::floor(48000 - std::log(2.0) / std::log(3.0) * 40000));
  EXPECT_EQ(s.deadline_millis(), expected);
  EXPECT_FALSE(s.Confirm(kB)) << "repeats do not count";
  EXPECT_TRUE(s.Confirm(kC));
  EXPECT_EQ(s.deadline_millis(), 8000);
  EXPECT_FALSE(s.Confirm(kD)) << "no more than k";
  EXPECT_EQ(s.confirmations(), 2);
}

TEST(SuspicionTest, TimeoutNeverBelowMinimum) {
  for (int c = 0; c <= 10; ++c) {
    EXPECT_GE(Suspicion::TimeoutMillis(c, 3, 1000, 6000), 1000);
    EXPECT_LE(Suspicion::TimeoutMillis(c, 3, 1000, 6000), 6000);
  }
  EXPECT_EQ(Suspicion::TimeoutMillis(0, 3, 1000, 6000), 6000);
  EXPECT_EQ(Suspicion::TimeoutMillis(3, 3, 1000, 6000), 1000);
}

}  // namespace
}  // namespace meshkv::membership
