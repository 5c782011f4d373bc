#include "membership/swim.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>

#include "membership/messages.h"

namespace meshkv::membership {
namespace {

// A tiny zero-latency network: packets sent during a call are delivered
// after it returns, in order; time moves from one node deadline to the next.
class TestNet;

struct Change {
  NodeId id;
  MemberState state;
  uint64_t incarnation;
};

class TestNode final : public SwimEnvironment {
 public:
  TestNode(TestNet& net, size_t index) : net_(net), index_(index) {}
  void SendPacket(const std::string& to, std::string packet) override;
  void StartPushPull(const Member& peer) override;
  void OnMemberChanged(const Member& member, std::optional<MemberState> before) override {
    changes.push_back({member.meta.id, member.state, member.incarnation});
  }
  void OnWarning(const std::string& message) override { warnings.push_back(message); }

  // State of `id` as this node sees it, or nullopt when unknown.
  std::optional<MemberState> StateOf(NodeId id) const {
    for (const Member& m : swim->Members()) {
      if (m.meta.id == id) return m.state;
    }
    return std::nullopt;
  }
  std::optional<Member> MemberOf(NodeId id) const {
    for (const Member& m : swim->Members()) {
      if (m.meta.id == id) return m;
    }
    return std::nullopt;
  }
  bool SawState(NodeId id, MemberState state) const {
    return std::any_of(changes.begin(), changes.end(),
                       [&](const Change& c) { return c.id == id && c.state == state; });
  }
  NodeId id() const { return swim->Self().meta.id; }

  std::unique_ptr<Swim> swim;
  bool down = false;  // crashed: neither ticks nor receives
  std::vector<Change> changes;
  std::vector<std::string> warnings;

 private:
  TestNet& net_;
  size_t index_;
};

class TestNet {
 public:
  struct InFlight {
    size_t from;
    std::string to;
    std::string bytes;
  };

  explicit TestNet(MembershipConfig config = MembershipConfig::Lan()) : config_(config) {}

  TestNode& Add(uint64_t id, std::string addr = "", uint64_t incarnation = 1) {
    auto node = std::make_unique<TestNode>(*this, nodes_.size());
    NodeMeta meta;
    meta.id = NodeId(id);
    meta.cluster = "test";
    meta.cluster_addr = addr.empty() ? "10.0.0." + std::to_string(id) + ":7946" : addr;
    meta.version = "test";
    node->swim = std::make_unique<Swim>(config_, meta, incarnation, clock, id * 7919, *node);
    node->swim->Start();
    nodes_.push_back(std::move(node));
    return *nodes_.back();
  }

  // Push-pull both ways, as the driver does on join.
  void Join(TestNode& joiner, TestNode& peer) {
    ASSERT_TRUE(peer.swim->MergeState(joiner.swim->EncodeState(), joiner.id()).ok());
    ASSERT_TRUE(joiner.swim->MergeState(peer.swim->EncodeState(), peer.id()).ok());
  }

  void Send(size_t from, const std::string& to, std::string bytes) {
    if (on_send) on_send(*nodes_[from], to, bytes);
    in_flight_.push_back({from, to, std::move(bytes)});
  }
  void QueuePushPull(size_t from, NodeId peer) { push_pulls_.emplace_back(from, peer); }

  TestNode* ByAddr(const std::string& addr) {
    for (auto& node : nodes_) {
      if (node->swim->Self().meta.cluster_addr == addr) return node.get();
    }
    return nullptr;
  }
  TestNode* ById(NodeId id) {
    for (auto& node : nodes_) {
      if (node->id() == id) return node.get();
    }
    return nullptr;
  }

  void Flush() {
    while (!in_flight_.empty() || !push_pulls_.empty()) {
      std::vector<InFlight> batch;
      batch.swap(in_flight_);
      for (InFlight& packet : batch) {
        TestNode& from = *nodes_[packet.from];
        TestNode* to = ByAddr(packet.to);
        if (to == nullptr || to->down || from.down) continue;
        if (drop && drop(from, *to)) continue;
        if (drop_packet && drop_packet(from, *to, packet.bytes)) continue;
        to->swim->HandlePacket(from.swim->Self().meta.cluster_addr, packet.bytes);
      }
      auto exchanges = std::move(push_pulls_);
      push_pulls_.clear();
      for (auto [from_index, peer_id] : exchanges) {
        TestNode& from = *nodes_[from_index];
        TestNode* peer = ById(peer_id);
        if (peer == nullptr || peer->down || from.down) continue;
        if (drop && (drop(from, *peer) || drop(*peer, from))) continue;
        if (peer->swim->MergeState(from.swim->EncodeState(), from.id()).ok()) {
          from.swim->MergeState(peer->swim->EncodeState(), peer->id()).IgnoreError();
        }
      }
    }
  }

  void RunFor(int64_t millis) {
    const int64_t end = clock.NowMillis() + millis;
    for (;;) {
      Flush();
      int64_t next = std::numeric_limits<int64_t>::max();
      for (auto& node : nodes_) {
        if (!node->down) next = std::min(next, node->swim->NextDeadlineMillis());
      }
      if (next > end) break;
      clock.Set(std::max(next, clock.NowMillis()));
      for (auto& node : nodes_) {
        if (!node->down && node->swim->NextDeadlineMillis() <= clock.NowMillis()) {
          node->swim->Tick();
        }
      }
    }
    clock.Set(end);
  }

  // Runs until `done` or `limit` ms passed; returns the time it took.
  int64_t RunUntil(const std::function<bool()>& done, int64_t limit) {
    const int64_t start = clock.NowMillis();
    while (!done() && clock.NowMillis() - start < limit) RunFor(100);
    return clock.NowMillis() - start;
  }

  FakeClock clock{1'000'000};
  std::function<bool(TestNode& from, TestNode& to)> drop;
  std::function<bool(TestNode& from, TestNode& to, const std::string& bytes)> drop_packet;
  std::function<void(TestNode& from, const std::string& to, const std::string& bytes)> on_send;

 private:
  MembershipConfig config_;
  std::vector<std::unique_ptr<TestNode>> nodes_;
  std::vector<InFlight> in_flight_;
  std::vector<std::pair<size_t, NodeId>> push_pulls_;
};

void TestNode::SendPacket(const std::string& to, std::string packet) {
  net_.Send(index_, to, std::move(packet));
}
void TestNode::StartPushPull(const Member& peer) {
  net_.QueuePushPull(index_, peer.meta.id);
}

// Three nodes joined through the first.
struct Trio {
  Trio() : a(net.Add(1)), b(net.Add(2)), c(net.Add(3)) {
    net.Join(b, a);
    net.Join(c, a);
    net.RunFor(5000);
  }
  TestNet net;
  TestNode& a;
  TestNode& b;
  TestNode& c;
};

TEST(SwimTest, JoinThroughSeedMakesEveryoneKnown) {
  Trio t;
  for (TestNode* n : {&t.a, &t.b, &t.c}) {
    EXPECT_EQ(n->swim->NumLive(), 3u);
    for (TestNode* m : {&t.a, &t.b, &t.c}) EXPECT_EQ(n->StateOf(m->id()), MemberState::kAlive);
  }
  // b learned c only through a's gossip.
  EXPECT_TRUE(t.b.SawState(t.c.id(), MemberState::kAlive));
}

TEST(SwimTest, ProbeAndAck) {
  Trio t;
  t.net.RunFor(10'000);
  const SwimStats& s = t.a.swim->stats();
  EXPECT_GE(s.probes, 9u);
  EXPECT_EQ(s.acks_received, s.probes);
  EXPECT_EQ(s.probe_failures, 0u);
  EXPECT_EQ(s.suspicions, 0u);
  EXPECT_EQ(t.a.swim->HealthScore(), 0);
  EXPECT_GE(t.a.MemberOf(t.b.id())->last_rtt_micros, 0);
  EXPECT_GT(s.bytes_sent, 0u);
  EXPECT_GT(s.packets_received, 0u);
}

TEST(SwimTest, IndirectProbeAvoidsSuspicion) {
  Trio t;
  // a and c cannot talk directly; b relays.
  t.net.drop = [&](TestNode& from, TestNode& to) {
    return (&from == &t.a && &to == &t.c) || (&from == &t.c && &to == &t.a);
  };
  t.net.RunFor(20'000);
  EXPECT_GT(t.a.swim->stats().indirect_probes, 0u);
  EXPECT_EQ(t.a.swim->stats().suspicions, 0u);
  EXPECT_EQ(t.a.swim->stats().probe_failures, 0u);
  EXPECT_EQ(t.a.StateOf(t.c.id()), MemberState::kAlive);
  EXPECT_EQ(t.c.StateOf(t.a.id()), MemberState::kAlive);
}

TEST(SwimTest, CrashedNodeGoesSuspectThenDead) {
  Trio t;
  t.c.down = true;
  const MembershipConfig& config = t.a.swim->config();
  const int64_t took = t.net.RunUntil(
      [&] {
        return t.a.StateOf(t.c.id()) == MemberState::kDead &&
               t.b.StateOf(t.c.id()) == MemberState::kDead;
      },
      120'000);
  EXPECT_LE(took, config.DeadDetectionBoundMillis(3));
  EXPECT_TRUE(t.a.SawState(t.c.id(), MemberState::kSuspect));
  EXPECT_EQ(t.a.StateOf(t.c.id()), MemberState::kDead);
  EXPECT_EQ(t.b.StateOf(t.c.id()), MemberState::kDead);
  EXPECT_EQ(t.a.swim->NumLive(), 2u);
  EXPECT_GE(t.a.swim->stats().deaths + t.b.swim->stats().deaths, 1u);
  // The target is down but b answers with nacks: a's health stays good.
  EXPECT_EQ(t.a.swim->HealthScore(), 0);
  EXPECT_GT(t.a.swim->stats().nacks_received, 0u);
}

TEST(SwimTest, MissingNacksRaiseHealthScore) {
  Trio t;
  t.c.down = true;
  // a hears nothing from b either: probes fail and expected nacks are missing.
  t.net.drop = [&](TestNode& from, TestNode& to) { return &from == &t.b && &to == &t.a; };
  t.net.RunFor(4000);
  EXPECT_GT(t.a.swim->HealthScore(), 0);
  EXPECT_LT(t.a.swim->HealthScore(), t.a.swim->config().awareness_max_multiplier);
  // Healthy again once acks flow.
  t.net.drop = nullptr;
  t.c.down = false;
  t.net.RunFor(60'000);
  EXPECT_EQ(t.a.swim->HealthScore(), 0);
}

TEST(SwimTest, SuspectedNodeRefutesWithHigherIncarnation) {
  Trio t;
  const uint64_t before = t.c.swim->Self().incarnation;
  // b tells c that it is suspected.
  t.c.swim->HandlePacket(t.b.swim->Self().meta.cluster_addr,
                         wire::EncodePacket({wire::Suspect{before, t.c.id(), t.b.id()}}));
  EXPECT_EQ(t.c.swim->Self().incarnation, before + 1);
  EXPECT_EQ(t.c.swim->stats().refutations, 1u);
  EXPECT_EQ(t.c.swim->HealthScore(), 1);
  ASSERT_FALSE(t.c.warnings.empty());
  EXPECT_NE(t.c.warnings.back().find("refuting"), std::string::npos);
  t.net.RunFor(5000);
  EXPECT_EQ(t.a.MemberOf(t.c.id())->incarnation, before + 1);
  EXPECT_EQ(t.a.StateOf(t.c.id()), MemberState::kAlive);
}

TEST(SwimTest, AliveWithHigherIncarnationOverridesSuspect) {
  Trio t;
  const uint64_t inc = t.a.MemberOf(t.c.id())->incarnation;
  t.a.swim->HandlePacket("x:1", wire::EncodePacket({wire::Suspect{inc, t.c.id(), t.b.id()}}));
  EXPECT_EQ(t.a.StateOf(t.c.id()), MemberState::kSuspect);
  // Same incarnation does not clear it.
  t.a.swim->HandlePacket("x:1", wire::EncodePacket({wire::Alive{inc, t.c.swim->Self().meta}}));
  EXPECT_EQ(t.a.StateOf(t.c.id()), MemberState::kSuspect);
  t.a.swim->HandlePacket("x:1", wire::EncodePacket({wire::Alive{inc + 1, t.c.swim->Self().meta}}));
  EXPECT_EQ(t.a.StateOf(t.c.id()), MemberState::kAlive);
}

TEST(SwimTest, BuddySuspectPiggybackedOnPingToSuspect) {
  TestNet net;
  TestNode& a = net.Add(1);
  TestNode& c = net.Add(3);
  net.Join(c, a);
  net.RunFor(3000);
  // Only probes reach c, so the suspicion can only reach it as a buddy.
  net.drop_packet = [&](TestNode& from, TestNode& to, const std::string& bytes) {
    if (&from != &a || &to != &c) return false;
    auto messages = wire::DecodePacket(bytes);
    return !std::any_of(messages->begin(), messages->end(), [](const wire::Message& m) {
      return std::holds_alternative<wire::Ping>(m);
    });
  };
  // A rumour (from a third node) says c is suspect.
  const uint64_t inc = a.MemberOf(c.id())->incarnation;
  a.swim->HandlePacket("10.0.0.9:7946",
                       wire::EncodePacket({wire::Suspect{inc, c.id(), NodeId(9)}}));
  ASSERT_EQ(a.StateOf(c.id()), MemberState::kSuspect);
  bool saw_buddy_ping = false;
  net.on_send = [&](TestNode& from, const std::string& to, const std::string& bytes) {
    if (&from != &a || to != c.swim->Self().meta.cluster_addr) return;
    auto messages = wire::DecodePacket(bytes);
    ASSERT_TRUE(messages.ok());
    if (messages->size() >= 2 && std::holds_alternative<wire::Suspect>((*messages)[0]) &&
        std::holds_alternative<wire::Ping>((*messages)[1])) {
      EXPECT_EQ(std::get<wire::Suspect>((*messages)[0]).node, c.id());
      saw_buddy_ping = true;
    }
  };
  net.RunFor(1500);
  EXPECT_TRUE(saw_buddy_ping);
  // c refuted on the ping and the refutation reached a with the ack.
  EXPECT_EQ(c.swim->stats().refutations, 1u);
  EXPECT_EQ(a.StateOf(c.id()), MemberState::kAlive);
  EXPECT_EQ(a.MemberOf(c.id())->incarnation, inc + 1);
}

TEST(SwimTest, DogpileConfirmationsShortenSuspicion) {
  // With many members, a lone suspicion waits for suspicion_max; independent
  // confirmations bring it down to suspicion_min.
  TestNet net;
  std::vector<TestNode*> nodes;
  for (uint64_t id = 1; id <= 6; ++id) nodes.push_back(&net.Add(id));
  for (size_t i = 1; i < nodes.size(); ++i) net.Join(*nodes[i], *nodes[0]);
  net.RunFor(5000);
  TestNode& a = *nodes[0];
  const NodeId target = nodes[5]->id();
  const uint64_t inc = a.MemberOf(target)->incarnation;
  // Keep the target quiet so nobody refutes, but do not let a probe it.
  nodes[5]->down = true;
  const int64_t start = net.clock.NowMillis();
  a.swim->HandlePacket("x:1", wire::EncodePacket({wire::Suspect{inc, target, nodes[1]->id()},
                                                  wire::Suspect{inc, target, nodes[2]->id()},
                                                  wire::Suspect{inc, target, nodes[3]->id()}}));
  EXPECT_EQ(a.StateOf(target), MemberState::kSuspect);
  net.RunUntil([&] { return a.StateOf(target) == MemberState::kDead; }, 60'000);
  const int64_t took = net.clock.NowMillis() - start;
  EXPECT_LE(took, a.swim->config().SuspicionMinMillis(6) + 200);
}

TEST(SwimTest, LeaveIsLeftNotDead) {
  Trio t;
  const uint64_t before = t.c.swim->Self().incarnation;
  t.c.swim->Leave();
  EXPECT_TRUE(t.c.swim->left());
  EXPECT_EQ(t.c.swim->Self().state, MemberState::kLeft);
  EXPECT_EQ(t.c.swim->Self().incarnation, before + 1);
  t.net.RunFor(3000);
  t.c.down = true;
  t.net.RunFor(60'000);
  EXPECT_EQ(t.a.StateOf(t.c.id()), MemberState::kLeft);
  EXPECT_EQ(t.b.StateOf(t.c.id()), MemberState::kLeft);
  EXPECT_FALSE(t.a.SawState(t.c.id(), MemberState::kDead));
  EXPECT_EQ(t.a.swim->stats().deaths + t.b.swim->stats().deaths, 0u);
  EXPECT_EQ(t.a.swim->NumLive(), 2u);
}

TEST(SwimTest, LeftNodeStopsProbing) {
  Trio t;
  t.c.swim->Leave();
  const uint64_t probes = t.c.swim->stats().probes;
  t.net.RunFor(10'000);
  EXPECT_EQ(t.c.swim->stats().probes, probes);
}

TEST(SwimTest, AddressConflictIsRefused) {
  Trio t;
  // An impostor with b's id at another address.
  TestNode& impostor = t.net.Add(2, "10.9.9.9:7946");
  Status status = t.a.swim->MergeState(impostor.swim->EncodeState(), impostor.id());
  EXPECT_EQ(status.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("10.0.0.2:7946"), std::string::npos) << status.message();
  EXPECT_EQ(t.a.swim->stats().address_conflicts, 1u);
  // Its alive messages are refused too, with a warning naming both addresses.
  t.a.swim->HandlePacket("10.9.9.9:7946",
                         wire::EncodePacket({wire::Alive{100, impostor.swim->Self().meta}}));
  EXPECT_EQ(t.a.swim->stats().address_conflicts, 2u);
  ASSERT_FALSE(t.a.warnings.empty());
  EXPECT_NE(t.a.warnings.back().find("10.0.0.2:7946"), std::string::npos);
  EXPECT_NE(t.a.warnings.back().find("10.9.9.9:7946"), std::string::npos);
  EXPECT_EQ(t.a.MemberOf(NodeId(2))->meta.cluster_addr, "10.0.0.2:7946");
}

TEST(SwimTest, MergeStateRefusesGarbageAndMismatchedSender) {
  Trio t;
  EXPECT_EQ(t.a.swim->MergeState("\x01\x02garbage", t.b.id()).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(t.a.swim->MergeState(t.b.swim->EncodeState(), t.c.id()).code(),
            ErrorCode::kInvalidArgument);
}

TEST(SwimTest, MergeStateSayingWeAreSuspectIsRefuted) {
  Trio t;
  wire::State state;
  state.sender = t.b.id();
  state.members.push_back(
      {t.b.swim->Self().meta, MemberState::kAlive, t.b.swim->Self().incarnation});
  state.members.push_back(
      {t.c.swim->Self().meta, MemberState::kDead, t.c.swim->Self().incarnation});
  const uint64_t before = t.c.swim->Self().incarnation;
  ASSERT_TRUE(t.c.swim->MergeState(wire::EncodeState(state), t.b.id()).ok());
  EXPECT_EQ(t.c.swim->Self().incarnation, before + 1);
  EXPECT_EQ(t.c.swim->stats().refutations, 1u);
}

TEST(SwimTest, DeadNodeRejoinsWithHigherIncarnationAtNewAddress) {
  Trio t;
  t.c.down = true;
  t.net.RunUntil([&] { return t.a.StateOf(t.c.id()) == MemberState::kDead; }, 120'000);
  ASSERT_EQ(t.a.StateOf(t.c.id()), MemberState::kDead);
  const uint64_t last = t.a.MemberOf(t.c.id())->incarnation;
  // Restarted with the same id, the persisted incarnation + 1, a new address.
  TestNode& restarted = t.net.Add(3, "10.0.1.3:7946", last + 1);
  t.net.Join(restarted, t.a);
  t.net.RunFor(5000);
  for (TestNode* n : {&t.a, &t.b}) {
    auto member = n->MemberOf(NodeId(3));
    ASSERT_TRUE(member);
    EXPECT_EQ(member->state, MemberState::kAlive);
    EXPECT_EQ(member->meta.cluster_addr, "10.0.1.3:7946");
    EXPECT_EQ(member->incarnation, last + 1);
  }
}

TEST(SwimTest, DeadMembersAreReclaimed) {
  MembershipConfig config = MembershipConfig::Lan();
  config.dead_node_reclaim_ms = 10'000;
  TestNet net(config);
  TestNode& a = net.Add(1);
  TestNode& b = net.Add(2);
  TestNode& c = net.Add(3);
  net.Join(b, a);
  net.Join(c, a);
  net.RunFor(3000);
  c.down = true;
  net.RunUntil([&] { return a.StateOf(c.id()) == MemberState::kDead; }, 120'000);
  ASSERT_EQ(a.StateOf(c.id()), MemberState::kDead);
  net.RunFor(5000);
  EXPECT_TRUE(a.StateOf(c.id()).has_value()) << "kept for dead_node_reclaim_ms";
  net.RunFor(7000);
  EXPECT_FALSE(a.StateOf(c.id()).has_value());
  EXPECT_FALSE(b.StateOf(c.id()).has_value());
  EXPECT_EQ(a.swim->Members().size(), 2u);
}

TEST(SwimTest, GarbagePacketsAreCountedNotFatal) {
  Trio t;
  t.a.swim->HandlePacket("x:1", "\xff\x00\x13garbage");
  t.a.swim->HandlePacket("x:1", "");
  EXPECT_EQ(t.a.swim->stats().bad_packets, 2u);
  // A ping for another node id (address reused) gets no ack.
  size_t sent = 0;
  t.net.on_send = [&](TestNode& from, const std::string&, const std::string&) {
    if (&from == &t.a) ++sent;
  };
  t.a.swim->HandlePacket(
      "10.0.0.2:7946", wire::EncodePacket({wire::Ping{5, NodeId(77), t.b.id(), "10.0.0.2:7946"}}));
  EXPECT_EQ(sent, 0u);
}

TEST(SwimTest, SameSeedSameBehaviour) {
  auto run = [] {
    Trio t;
    t.c.down = true;
    t.net.RunFor(30'000);
    return std::make_tuple(t.a.swim->stats().probes, t.a.swim->stats().bytes_sent,
                           t.b.swim->stats().bytes_sent, t.a.changes.size());
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace meshkv::membership
