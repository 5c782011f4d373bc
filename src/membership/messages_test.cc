#include "membership/messages.h"

#include <gtest/gtest.h>

#include "membership/gossip.pb.h"

namespace meshkv::membership::wire {
namespace {

NodeMeta Meta(uint64_t id) {
  NodeMeta meta;
  meta.id = NodeId(id);
  meta.cluster = "prod";
  meta.cluster_addr = "10.0.0.1:7946";
  meta.http_addr = "10.0.0.1:8080";
  meta.dns_addr = "10.0.0.1:53";
  meta.version = "0.1.0";
  meta.tags = {{"rack", "r1"}, {"zone", "a"}};
  return meta;
}

TEST(MessagesTest, PacketRoundTripsEveryKind) {
  std::vector<Message> in = {
      Ping{7, NodeId(2), NodeId(1), "10.0.0.1:7946"},
      IndirectPing{8, NodeId(3), "10.0.0.3:7946", true},
      Ack{9},
      Nack{10},
      Alive{42, Meta(5)},
      Suspect{43, NodeId(5), NodeId(6)},
      Dead{44, NodeId(5), NodeId(5)},
  };
  auto out = DecodePacket(EncodePacket(in));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), in.size());
  const auto& ping = std::get<Ping>((*out)[0]);
  EXPECT_EQ(ping.seq, 7u);
  EXPECT_EQ(ping.target, NodeId(2));
  EXPECT_EQ(ping.source, NodeId(1));
  EXPECT_EQ(ping.source_addr, "10.0.0.1:7946");
  const auto& indirect = std::get<IndirectPing>((*out)[1]);
  EXPECT_EQ(indirect.seq, 8u);
  EXPECT_EQ(indirect.target_addr, "10.0.0.3:7946");
  EXPECT_TRUE(indirect.want_nack);
  EXPECT_EQ(std::get<Ack>((*out)[2]).seq, 9u);
  EXPECT_EQ(std::get<Nack>((*out)[3]).seq, 10u);
  const auto& alive = std::get<Alive>((*out)[4]);
  EXPECT_EQ(alive.incarnation, 42u);
  EXPECT_EQ(alive.meta, Meta(5));
  const auto& suspect = std::get<Suspect>((*out)[5]);
  EXPECT_EQ(suspect.incarnation, 43u);
  EXPECT_EQ(suspect.from, NodeId(6));
  const auto& dead = std::get<Dead>((*out)[6]);
  EXPECT_EQ(dead.node, dead.from);
}

TEST(MessagesTest, FramedMessagesConcatenate) {
  std::string packet = PacketHeader() + EncodeMessage(Ack{1}) + EncodeMessage(Nack{2});
  auto out = DecodePacket(packet);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ(packet, EncodePacket({Ack{1}, Nack{2}}));
}

TEST(MessagesTest, RefusesGarbage) {
  EXPECT_FALSE(DecodePacket("\xff\xff\xff\xff").ok());
  EXPECT_FALSE(DecodePacket(std::string(70'000, 'x')).ok());
  // No version (0) is another version.
  EXPECT_FALSE(DecodePacket("").ok());
  EXPECT_FALSE(DecodePacket(EncodeMessage(Ack{1})).ok());
}

TEST(MessagesTest, RefusesOtherVersion) {
  gossip::Packet packet;
  packet.set_version(2);
  packet.add_messages()->mutable_ack()->set_seq(1);
  auto out = DecodePacket(packet.SerializeAsString());
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("version"), std::string::npos);
}

TEST(MessagesTest, RefusesInvalidFields) {
  EXPECT_FALSE(DecodePacket(EncodePacket({Suspect{1, NodeId(0), NodeId(1)}})).ok());
  EXPECT_FALSE(DecodePacket(EncodePacket({Dead{1, NodeId(1), NodeId(0)}})).ok());
  EXPECT_FALSE(DecodePacket(EncodePacket({Ping{1, NodeId(1), NodeId(2), ""}})).ok());
  EXPECT_FALSE(DecodePacket(EncodePacket({IndirectPing{1, NodeId(1), "", false}})).ok());
  NodeMeta no_addr = Meta(1);
  no_addr.cluster_addr.clear();
  EXPECT_FALSE(DecodePacket(EncodePacket({Alive{1, no_addr}})).ok());
  NodeMeta zero = Meta(1);
  zero.id = NodeId();
  EXPECT_FALSE(DecodePacket(EncodePacket({Alive{1, zero}})).ok());
  NodeMeta huge = Meta(1);
  huge.tags["blob"] = std::string(kMaxMetaBytes, 'x');
  EXPECT_GT(EncodedMetaBytes(huge), kMaxMetaBytes);
  EXPECT_FALSE(ValidateMeta(huge).ok());
  EXPECT_FALSE(DecodePacket(EncodePacket({Alive{1, huge}})).ok());
  EXPECT_TRUE(ValidateMeta(Meta(1)).ok());
  // One bad message refuses the whole packet.
  EXPECT_FALSE(DecodePacket(EncodePacket({Ack{1}, Suspect{1, NodeId(0), NodeId(1)}})).ok());
}

TEST(MessagesTest, RefusesDuplicateTagKeys) {
  gossip::Packet packet;
  packet.set_version(kProtocolVersion);
  gossip::Alive* alive = packet.add_messages()->mutable_alive();
  alive->mutable_meta()->set_id(1);
  alive->mutable_meta()->set_cluster_addr("a:1");
  for (int i = 0; i < 2; ++i) {
    gossip::Tag* tag = alive->mutable_meta()->add_tags();
    tag->set_key("k");
    tag->set_value("v");
  }
  EXPECT_FALSE(DecodePacket(packet.SerializeAsString()).ok());
}

TEST(MessagesTest, SkipsUnknownMessageKinds) {
  gossip::Packet packet;
  packet.set_version(kProtocolVersion);
  packet.add_messages();  // kind not set: a message type from a newer version
  packet.add_messages()->mutable_ack()->set_seq(3);
  auto out = DecodePacket(packet.SerializeAsString());
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
}

TEST(MessagesTest, StateRoundTrip) {
  State state;
  state.sender = NodeId(1);
  state.members.push_back({Meta(1), MemberState::kAlive, 3});
  state.members.push_back({Meta(2), MemberState::kSuspect, 4});
  state.members.push_back({Meta(3), MemberState::kDead, 5});
  state.members.push_back({Meta(4), MemberState::kLeft, 6});
  auto out = DecodeState(EncodeState(state));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->sender, NodeId(1));
  ASSERT_EQ(out->members.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(out->members[i].meta, state.members[i].meta);
    EXPECT_EQ(out->members[i].state, state.members[i].state);
    EXPECT_EQ(out->members[i].incarnation, state.members[i].incarnation);
  }
}

TEST(MessagesTest, StateRefusesInvalid) {
  EXPECT_FALSE(DecodeState("garbage\xff").ok());
  State zero_sender;
  EXPECT_FALSE(DecodeState(EncodeState(zero_sender)).ok());
  State duplicate;
  duplicate.sender = NodeId(1);
  duplicate.members.push_back({Meta(1), MemberState::kAlive, 1});
  duplicate.members.push_back({Meta(1), MemberState::kAlive, 2});
  EXPECT_FALSE(DecodeState(EncodeState(duplicate)).ok());

  gossip::PushPullState bad_state;
  bad_state.set_version(kProtocolVersion);
  bad_state.set_sender(1);
  gossip::StateEntry* entry = bad_state.add_members();
  entry->mutable_meta()->set_id(1);
  entry->mutable_meta()->set_cluster_addr("a:1");
  entry->set_state(static_cast<gossip::MemberState>(9));
  EXPECT_FALSE(DecodeState(bad_state.SerializeAsString()).ok());
  entry->set_state(gossip::MEMBER_STATE_LEFT);
  EXPECT_TRUE(DecodeState(bad_state.SerializeAsString()).ok());
}

}  // namespace
}  // namespace meshkv::membership::wire
