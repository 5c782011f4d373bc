// Test support for the replication tests: N in-process nodes (memory
// stores) joined by a fake network that can take nodes down, lose replies,
// delay, reorder and duplicate messages. Every node has a coordinator, hints
// (unless turned off), a digest index and an anti-entropy engine (not
// started: tests run its rounds).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "base/clock.h"
#include "base/hlc.h"
#include "replication/anti_entropy.h"
#include "replication/coordinator.h"
#include "replication/digest_index.h"
#include "replication/replication.pb.h"

namespace meshkv::replication::testing {

using transport::MessageType;

inline std::vector<NamespaceSpec> TestNamespaces() {
  NamespaceSpec rf3;
  rf3.name = "default";
  rf3.replicas = 3;
  NamespaceSpec all;
  all.name = "everywhere";
  all.replicas = NamespaceSpec::kReplicasAll;
  NamespaceSpec rf2;
  rf2.name = "two";
  rf2.replicas = 2;
  return {rf3, all, rf2};
}

class FakeNetwork;

struct TestNode {
  NodeId id;
  std::unique_ptr<Store> store;
  std::unique_ptr<Hlc> hlc;
  std::unique_ptr<KvService> kv;
  std::unique_ptr<HintStore> hints;
  std::unique_ptr<PeerChannel> channel;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<DigestIndex> index;
  std::unique_ptr<AntiEntropy> ae;
  bool up = true;
};

// Delivers calls between the nodes. Synchronous by default; with `queued`,
// calls wait in a queue until Pump(), which may shuffle and duplicate them.
class FakeNetwork {
 public:
  struct Message {
    NodeId from, to;
    MessageType type;
    std::string payload;
    std::function<void(Result<std::string>)> done;
  };

  std::map<NodeId, TestNode*> nodes;
  bool queued = false;
  std::deque<Message> queue;
  // Faults for the simulation: pairs that cannot talk (both directions),
  // and the chance that a request, or its reply, is lost.
  std::set<std::pair<NodeId, NodeId>> blocked;
  double loss = 0;
  double duplication = 0;
  std::mt19937_64* rng = nullptr;

  bool Blocked(NodeId a, NodeId b) const { return blocked.count({std::min(a, b), std::max(a, b)}); }
  bool Chance(double p) {
    return rng != nullptr && p > 0 && std::uniform_real_distribution<double>(0, 1)(*rng) < p;
  }

  void Call(NodeId from, NodeId to, MessageType type, std::string payload,
            std::function<void(Result<std::string>)> done) {
    Message m{from, to, type, std::move(payload), std::move(done)};
    if (queued) {
      queue.push_back(std::move(m));
      return;
    }
    Deliver(std::move(m));
  }

  void Deliver(Message m) {
    TestNode* target = nodes.at(m.to);
    if (!target->up) return m.done(Unavailable("connection refused"));
    if (Blocked(m.from, m.to)) return m.done(Unavailable("partitioned"));
    if (Chance(loss)) return m.done(DeadlineExceeded("request lost"));
    if (Chance(duplication)) {
      Message copy{m.from, m.to, m.type, m.payload, [](Result<std::string>) {}};
      Dispatch(std::move(copy));
    }
    if (Chance(loss)) {  // the reply is lost: applied, but the caller never hears
      m.done = [done = std::move(m.done)](Result<std::string>) {
        done(DeadlineExceeded("reply lost"));
      };
    }
    Dispatch(std::move(m));
  }

  void Dispatch(Message m) {
    Coordinator& c = *nodes.at(m.to)->coordinator;
    switch (m.type) {
      case MessageType::kReplicaWrite:
        return c.HandleWrite(m.from, std::move(m.payload), std::move(m.done));
      case MessageType::kReplicaWriteBatch:
        return c.HandleWriteBatch(m.from, std::move(m.payload), std::move(m.done));
      case MessageType::kReplicaRead:
        return c.HandleRead(m.from, std::move(m.payload), std::move(m.done));
      case MessageType::kReplicaScan:
        return c.HandleScan(m.from, std::move(m.payload), std::move(m.done));
      case MessageType::kAeSummary:
        return nodes.at(m.to)->ae->HandleSummary(m.from, std::move(m.payload), std::move(m.done));
      case MessageType::kAeLeaves:
        return nodes.at(m.to)->ae->HandleLeaves(m.from, std::move(m.payload), std::move(m.done));
      case MessageType::kAeKeys:
        return nodes.at(m.to)->ae->HandleKeys(m.from, std::move(m.payload), std::move(m.done));
      default:
        return m.done(InvalidArgument("unexpected message type"));
    }
  }

  // Delivers everything queued, in a shuffled order, each message
  // `copies` times (the extra copies' replies are dropped).
  void Pump(std::mt19937_64& rng, int copies = 1) {
    std::vector<Message> batch(std::make_move_iterator(queue.begin()),
                               std::make_move_iterator(queue.end()));
    queue.clear();
    std::shuffle(batch.begin(), batch.end(), rng);
    for (Message& m : batch) {
      for (int i = 1; i < copies; ++i) {
        Message copy{m.from, m.to, m.type, m.payload, [](Result<std::string>) {}};
        Deliver(std::move(copy));
      }
      Deliver(std::move(m));
    }
  }
};

class FakeChannel final : public PeerChannel {
 public:
  FakeChannel(FakeNetwork& network, NodeId self) : network_(network), self_(self) {}
  // The failure detector as an oracle: up and reachable from here.
  bool IsLive(NodeId node) const override {
    auto it = network_.nodes.find(node);
    return it != network_.nodes.end() && it->second->up && !network_.Blocked(self_, node);
  }
  void Call(NodeId node, MessageType type, std::string payload, int64_t,
            std::function<void(Result<std::string>)> done) override {
    network_.Call(self_, node, type, std::move(payload), std::move(done));
  }

 private:
  FakeNetwork& network_;
  NodeId self_;
};

class CoordinatorTest : public ::testing::Test {
 protected:
  void MakeCluster(int n, bool hints = true) {
    OwnershipState ownership;
    for (int i = 0; i < n; ++i) {
      auto node = std::make_unique<TestNode>();
      node->id = NodeId(0x1000 + i);
      node->store = NewMemoryStore(TestNamespaces());
      node->hlc = std::make_unique<Hlc>(clock_, 500);
      node->kv = std::make_unique<KvService>(*node->store, nullptr, *node->hlc, clock_, node->id,
                                             TestNamespaces());
      node->hints =
          std::make_unique<HintStore>(node->store->local(), clock_, HintLimits{}, nullptr);
      EXPECT_TRUE(node->hints->Load().ok());
      node->channel = std::make_unique<FakeChannel>(network_, node->id);
      node->coordinator = std::make_unique<Coordinator>(
          *node->kv, *node->channel, hints ? node->hints.get() : nullptr, CoordinatorOptions{},
          nullptr);
      node->kv->SetRouter(node->coordinator.get());
      std::vector<std::string> names;
      for (const NamespaceSpec& spec : TestNamespaces()) names.push_back(spec.name);
      node->index = std::make_unique<DigestIndex>(names, kDefaultPartitions, clock_);
      node->kv->SetDigestIndex(node->index.get());
      node->ae = std::make_unique<AntiEntropy>(*node->kv, *node->coordinator, *node->channel,
                                               *node->index, ae_options_, nullptr);
      network_.nodes[node->id] = node.get();
      ownership.Set(node->id, OwnerState::kNormal);
      nodes_.push_back(std::move(node));
    }
    for (auto& node : nodes_) node->coordinator->MergeOwnership(ownership);
  }

  Result<std::vector<WriteAck>> Put(TestNode& via, const std::string& key, const std::string& value,
                                    std::optional<Consistency> c = std::nullopt,
                                    const std::string& ns = "default") {
    std::optional<Result<std::vector<WriteAck>>> out;
    via.kv->Write(ns, {Mutation{Mutation::Kind::kPut, key, value, std::nullopt}}, c,
                  [&](Result<std::vector<WriteAck>> r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    return std::move(*out);
  }
  Result<std::vector<WriteAck>> Delete(TestNode& via, const std::string& key) {
    std::optional<Result<std::vector<WriteAck>>> out;
    via.kv->Write("default", {Mutation{Mutation::Kind::kDelete, key, "", std::nullopt}},
                  std::nullopt, [&](Result<std::vector<WriteAck>> r) { out = std::move(r); });
    return std::move(*out);
  }
  Result<std::optional<Entry>> Read(TestNode& via, const std::string& key,
                                    std::optional<Consistency> c = std::nullopt,
                                    const std::string& ns = "default") {
    std::optional<Result<std::optional<Entry>>> out;
    via.kv->Read(ns, key, c, [&](Result<std::optional<Entry>> r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    return std::move(*out);
  }
  // Nodes whose local replica holds `key` (live).
  std::vector<NodeId> Holders(const std::string& key, const std::string& ns = "default") {
    std::vector<NodeId> out;
    for (auto& node : nodes_) {
      auto e = node->kv->Get(ns, key);
      if (e.ok() && e->has_value()) out.push_back(node->id);
    }
    return out;
  }
  std::vector<NodeId> ReplicasOf(const std::string& key, const std::string& ns = "default") {
    return nodes_[0]->coordinator->PlacementOf(*nodes_[0]->kv->FindNamespace(ns), key).replicas;
  }
  TestNode& NodeById(NodeId id) {
    return **std::find_if(nodes_.begin(), nodes_.end(), [&](auto& n) { return n->id == id; });
  }

  // Unlimited rate (the fake clock never moves by itself), one day of grace.
  AntiEntropyOptions ae_options_{.interval_ms = 0, .bytes_per_second = 0};
  FakeClock clock_;
  FakeNetwork network_;
  std::vector<std::unique_ptr<TestNode>> nodes_;
};

}  // namespace meshkv::replication::testing
