#include "membership/broadcast_queue.h"

#include <gtest/gtest.h>

namespace meshkv::membership {
namespace {

constexpr NodeId kA{1}, kB{2}, kC{3};

TEST(BroadcastQueueTest, RetransmitLimitDropsAfterLimit) {
  BroadcastQueue queue;
  queue.Queue(kA, "aaaaaaaaaa");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(queue.Take(100, 3), "aaaaaaaaaa") << i;
  }
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.Take(100, 3), "");
}

TEST(BroadcastQueueTest, NewerMessageAboutSameNodeReplacesOlder) {
  BroadcastQueue queue;
  queue.Queue(kA, "old-old-old");
  EXPECT_EQ(queue.Take(100, 5), "old-old-old");
  queue.Queue(kA, "new-new-new");
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.TransmitsOf(kA), 0) << "replacement starts fresh";
  EXPECT_EQ(queue.Take(100, 5), "new-new-new");
}

TEST(BroadcastQueueTest, FewestTransmittedFirstThenNewest) {
  BroadcastQueue queue;
  queue.Queue(kA, "AAAAAAAAAA");
  EXPECT_EQ(queue.Take(10, 10), "AAAAAAAAAA");
  queue.Queue(kB, "BBBBBBBBBB");
  queue.Queue(kC, "CCCCCCCCCC");
  // C is newest among the untransmitted; A was sent once already.
  EXPECT_EQ(queue.Take(10, 10), "CCCCCCCCCC");
  EXPECT_EQ(queue.Take(10, 10), "BBBBBBBBBB");
  EXPECT_EQ(queue.Take(30, 10), "CCCCCCCCCCBBBBBBBBBBAAAAAAAAAA");
  EXPECT_EQ(queue.TransmitsOf(kA), 2);
}

TEST(BroadcastQueueTest, RespectsBudgetAndSkipsWhatDoesNotFit) {
  BroadcastQueue queue;
  queue.Queue(kA, std::string(50, 'a'));
  queue.Queue(kB, std::string(20, 'b'));  // newest: tried first
  queue.Queue(kC, std::string(200, 'c'));
  const std::string taken = queue.Take(80, 4);
  EXPECT_EQ(taken, std::string(20, 'b') + std::string(50, 'a'));
  EXPECT_EQ(queue.TransmitsOf(kC), 0);
  EXPECT_EQ(queue.Take(4, 4), "") << "budget below the smallest message";
}

}  // namespace
}  // namespace meshkv::membership
