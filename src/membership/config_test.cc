#include "membership/config.h"

#include <gtest/gtest.h>

namespace meshkv::membership {
namespace {

TEST(MembershipConfigTest, LanPresetIsMemberlistDefault) {
  const MembershipConfig lan = MembershipConfig::Lan();
  EXPECT_EQ(lan.probe_interval_ms, 1000);
  EXPECT_EQ(lan.probe_timeout_ms, 500);
  EXPECT_EQ(lan.indirect_checks, 3);
  EXPECT_EQ(lan.gossip_interval_ms, 200);
  EXPECT_EQ(lan.gossip_nodes, 3);
  EXPECT_EQ(lan.push_pull_interval_ms, 30'000);
  EXPECT_EQ(lan.max_packet_bytes, 1400);
  EXPECT_TRUE(lan.Validate().ok());
}

TEST(MembershipConfigTest, PresetsByName) {
  ASSERT_TRUE(MembershipConfig::Preset("lan").ok());
  auto wan = MembershipConfig::Preset("wan");
  ASSERT_TRUE(wan.ok());
  EXPECT_EQ(wan->probe_interval_ms, 5000);
  EXPECT_EQ(wan->suspicion_mult, 6);
  EXPECT_TRUE(wan->Validate().ok());
  auto local = MembershipConfig::Preset("local");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->probe_timeout_ms, 200);
  EXPECT_TRUE(local->Validate().ok());
  auto bad = MembershipConfig::Preset("lann");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("lan, wan or local"), std::string::npos);
}

TEST(MembershipConfigTest, ValidateNamesTheField) {
  MembershipConfig config;
  config.probe_timeout_ms = config.probe_interval_ms;
  Status status = config.Validate();
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find("probe_timeout_ms"), std::string::npos);

  config = MembershipConfig{};
  config.gossip_nodes = 0;
  EXPECT_NE(config.Validate().message().find("gossip_nodes"), std::string::npos);
  config = MembershipConfig{};
  config.max_packet_bytes = 100;
  EXPECT_NE(config.Validate().message().find("max_packet_bytes"), std::string::npos);
}

TEST(MembershipConfigTest, SuspicionTimeoutFormula) {
  const MembershipConfig lan;
  // 4 * max(1, log10 n) * 1 s
  EXPECT_EQ(lan.SuspicionMinMillis(1), 4000);
  EXPECT_EQ(lan.SuspicionMinMillis(10), 4000);
  EXPECT_EQ(lan.SuspicionMinMillis(100), 8000);
  EXPECT_EQ(lan.SuspicionMinMillis(1000), 12000);
  EXPECT_EQ(lan.SuspicionMaxMillis(100), 6 * 8000);
}

TEST(MembershipConfigTest, RetransmitLimitFormula) {
  const MembershipConfig lan;
  // 4 * ceil(log10(n + 1))
  EXPECT_EQ(lan.RetransmitLimit(1), 4);
  EXPECT_EQ(lan.RetransmitLimit(9), 4);
  EXPECT_EQ(lan.RetransmitLimit(10), 8);
  EXPECT_EQ(lan.RetransmitLimit(99), 8);
  EXPECT_EQ(lan.RetransmitLimit(100), 12);
  EXPECT_EQ(lan.RetransmitLimit(1000), 16);
}

TEST(MembershipConfigTest, DeadDetectionBound) {
  const MembershipConfig lan;
  // 3 probe intervals + suspicion max + gossip interval * retransmit limit
  EXPECT_EQ(lan.DeadDetectionBoundMillis(100), 3000 + 48'000 + 200 * 12);
  EXPECT_EQ(lan.DeadDetectionBoundMillis(1000), 3000 + 72'000 + 200 * 16);
}

}  // namespace
}  // namespace meshkv::membership
