// The coordinator over N in-process nodes (memory stores) joined by a fake
// network that can take nodes down, lose replies, delay, reorder and
// duplicate messages.
#include "replication/coordinator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "base/clock.h"
#include "base/hlc.h"
#include "replication/replication.pb.h"
#include "replication/test_cluster.h"

namespace meshkv::replication {
namespace {

using namespace meshkv::replication::testing;  // NOLINT: the shared fixture

TEST_F(CoordinatorTest, RequiredReplies) {
  EXPECT_EQ(RequiredReplies(Consistency::kOne, 3), 1u);
  EXPECT_EQ(RequiredReplies(Consistency::kQuorum, 1), 1u);
  EXPECT_EQ(RequiredReplies(Consistency::kQuorum, 2), 2u);
  EXPECT_EQ(RequiredReplies(Consistency::kQuorum, 3), 2u);
  EXPECT_EQ(RequiredReplies(Consistency::kQuorum, 5), 3u);
  EXPECT_EQ(RequiredReplies(Consistency::kAll, 5), 5u);
}

TEST_F(CoordinatorTest, AWriteReachesExactlyItsReplicasAndAnyNodeReadsIt) {
  MakeCluster(5);
  for (int i = 0; i < 50; ++i) {
    const std::string key = "key-" + std::to_string(i);
    ASSERT_TRUE(Put(*nodes_[i % 5], key, "value " + std::to_string(i)).ok());
    std::vector<NodeId> replicas = ReplicasOf(key);
    ASSERT_EQ(replicas.size(), 3u);
    std::sort(replicas.begin(), replicas.end());
    EXPECT_EQ(Holders(key), replicas) << key;
    for (auto& node : nodes_) {
      auto read = Read(*node, key);
      ASSERT_TRUE(read.ok()) << read.status().ToString();
      ASSERT_TRUE(read->has_value());
      EXPECT_EQ((*read)->value, "value " + std::to_string(i));
    }
  }
}

TEST_F(CoordinatorTest, ReplicasAllPutsEveryKeyOnEveryNode) {
  MakeCluster(4);
  ASSERT_TRUE(Put(*nodes_[2], "zone-key", "v", std::nullopt, "everywhere").ok());
  EXPECT_EQ(Holders("zone-key", "everywhere").size(), 4u);
}

TEST_F(CoordinatorTest, DeletesAreTombstonesThatReplicate) {
  MakeCluster(3);
  ASSERT_TRUE(Put(*nodes_[0], "k", "v").ok());
  ASSERT_TRUE(Delete(*nodes_[1], "k").ok());
  for (auto& node : nodes_) {
    auto read = Read(*node, "k");
    ASSERT_TRUE(read.ok());
    EXPECT_FALSE(read->has_value());
    auto raw = node->kv->GetRaw("default", "k");
    ASSERT_TRUE(raw.ok() && raw->has_value());
    EXPECT_TRUE((*raw)->tombstone);
  }
}

TEST_F(CoordinatorTest, QuorumSurvivesOneDownReplicaAndHintsCatchItUp) {
  MakeCluster(3);
  TestNode& down = *nodes_[2];
  down.up = false;
  ASSERT_TRUE(Put(*nodes_[0], "k", "v1").ok());  // 2 of 3 acknowledge
  EXPECT_FALSE(down.kv->Get("default", "k")->has_value());
  EXPECT_EQ(nodes_[0]->hints->PendingCount(down.id), 1u);
  // Hints wait while the target is down.
  nodes_[0]->coordinator->ReplayHints();
  EXPECT_EQ(nodes_[0]->hints->PendingCount(down.id), 1u);
  down.up = true;
  nodes_[0]->coordinator->ReplayHints();
  EXPECT_EQ(nodes_[0]->hints->PendingCount(down.id), 0u);
  auto there = down.kv->Get("default", "k");
  ASSERT_TRUE(there.ok() && there->has_value());
  EXPECT_EQ((*there)->value, "v1");
}

TEST_F(CoordinatorTest, QuorumUnreachableIs503WithTheCountsAndOneStillWorks) {
  MakeCluster(3);
  nodes_[1]->up = false;
  nodes_[2]->up = false;
  auto put = Put(*nodes_[0], "k", "v");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(put.status().message().find("got 1 of 2 required"), std::string::npos)
      << put.status().message();
  EXPECT_TRUE(Put(*nodes_[0], "k", "v", Consistency::kOne).ok());
  auto read = Read(*nodes_[0], "k");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), ErrorCode::kUnavailable);
  auto one = Read(*nodes_[0], "k", Consistency::kOne);
  ASSERT_TRUE(one.ok() && one->has_value());
  auto all = Put(*nodes_[0], "k2", "v", Consistency::kAll);
  EXPECT_FALSE(all.ok());
}

TEST_F(CoordinatorTest, AQuorumReadRepairsAStaleReplica) {
  MakeCluster(3);
  ASSERT_TRUE(Put(*nodes_[0], "k", "old").ok());
  TestNode& stale = *nodes_[1];
  stale.up = false;
  ASSERT_TRUE(Put(*nodes_[0], "k", "new").ok());
  // Drop the hint so only read repair can fix the replica.
  auto queued = nodes_[0]->hints->Peek(stale.id, 1 << 20);
  ASSERT_TRUE(queued.ok());
  std::vector<uint64_t> seqs;
  for (const Hint& h : *queued) seqs.push_back(h.seq);
  ASSERT_TRUE(nodes_[0]->hints->Remove(stale.id, seqs).ok());
  stale.up = true;
  EXPECT_EQ((*stale.kv->Get("default", "k"))->value, "old");
  auto read = Read(*nodes_[2], "k", Consistency::kAll);
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->value, "new");
  EXPECT_EQ((*stale.kv->Get("default", "k"))->value, "new");
}

TEST_F(CoordinatorTest, AQuorumReadAsksOnlyRReplicasAndFallsBackWhenOneFails) {
  MakeCluster(3);
  ASSERT_TRUE(Put(*nodes_[0], "k", "v").ok());
  network_.queued = true;
  std::mt19937_64 rng(1);
  std::optional<Result<std::optional<Entry>>> out;
  nodes_[0]->kv->Read("default", "k", Consistency::kQuorum,
                      [&](Result<std::optional<Entry>> r) { out = std::move(r); });
  // This node's own replica answered inline; one other replica is asked.
  ASSERT_EQ(network_.queue.size(), 1u);
  EXPECT_EQ(network_.queue.front().type, MessageType::kReplicaRead);
  const NodeId asked = network_.queue.front().to;
  NodeById(asked).up = false;  // it fails before answering
  network_.Pump(rng);
  ASSERT_EQ(network_.queue.size(), 1u) << "the spare replica is asked next";
  EXPECT_NE(network_.queue.front().to, asked);
  EXPECT_FALSE(out.has_value());
  network_.Pump(rng);
  ASSERT_TRUE(out.has_value() && out->ok() && (*out)->has_value());
  EXPECT_EQ((**out)->value, "v");
  network_.queued = false;
}

TEST_F(CoordinatorTest, ListingMergesEveryOwnerInKeyOrderAcrossPages) {
  MakeCluster(5);
  std::vector<std::string> keys;
  for (int i = 0; i < 120; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "item-%03d", i);
    keys.push_back(key);
    ASSERT_TRUE(Put(*nodes_[i % 5], key, "v", std::nullopt, "two").ok());
  }
  std::vector<std::string> expected;
  for (int i = 0; i < 120; ++i) {
    if (i % 7 == 0) {
      std::optional<Result<std::vector<WriteAck>>> out;
      nodes_[0]->kv->Write("two", {Mutation{Mutation::Kind::kDelete, keys[i], "", std::nullopt}},
                           std::nullopt,
                           [&](Result<std::vector<WriteAck>> r) { out = std::move(r); });
      ASSERT_TRUE(out && out->ok());
    } else {
      expected.push_back(keys[i]);
    }
  }
  std::vector<std::string> seen;
  std::string cursor;
  for (int round = 0; round < 100; ++round) {
    std::optional<Result<ScanPage>> out;
    nodes_[3]->kv->ListAcross("two", "item-", cursor, 25, false, std::nullopt,
                              [&](Result<ScanPage> r) { out = std::move(r); });
    ASSERT_TRUE(out && out->ok()) << (out ? out->status().ToString() : "no answer");
    for (const KeyEntry& item : (*out)->items) seen.push_back(item.key);
    if (!(*out)->more) break;
    ASSERT_FALSE((*out)->items.empty());
    cursor = (*out)->items.back().key;
  }
  EXPECT_EQ(seen, expected);
}

TEST_F(CoordinatorTest, ReplicaRefusesBadInputAndChangesNothing) {
  MakeCluster(1);
  Coordinator& c = *nodes_[0]->coordinator;
  auto expect_refused = [&](const std::string& payload, ErrorCode code) {
    std::optional<Result<std::string>> out;
    c.HandleWrite(NodeId(99), payload, [&](Result<std::string> r) { out = std::move(r); });
    ASSERT_TRUE(out.has_value());
    ASSERT_FALSE(out->ok());
    EXPECT_EQ(out->status().code(), code) << out->status().ToString();
  };
  expect_refused("\xff\xff garbage", ErrorCode::kInvalidArgument);
  wire::WriteRequest unknown_ns;
  unknown_ns.set_ns("nope");
  expect_refused(unknown_ns.SerializeAsString(), ErrorCode::kNotFound);
  wire::WriteRequest bad_entry;
  bad_entry.set_ns("default");
  bad_entry.add_entries()->set_key("k");
  bad_entry.mutable_entries(0)->set_entry("not an entry");
  expect_refused(bad_entry.SerializeAsString(), ErrorCode::kInvalidArgument);
  // A version from a clock far ahead of ours is refused (HLC skew).
  Entry future;
  future.value = "x";
  future.version = Version{HlcTimestamp::FromParts(clock_.NowMillis() + 3'600'000, 0), NodeId(99)};
  wire::WriteRequest skewed;
  skewed.set_ns("default");
  skewed.add_entries()->set_key("k");
  skewed.mutable_entries(0)->set_entry(EncodeEntry(future));
  expect_refused(skewed.SerializeAsString(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(nodes_[0]->kv->GetRaw("default", "k")->has_value());
}

TEST_F(CoordinatorTest, ReorderedAndDuplicatedReplicationConverges) {
  MakeCluster(4);
  network_.queued = true;
  std::mt19937_64 rng(7);
  std::map<std::string, std::string> last;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 10; ++i) {
      const std::string key = "k" + std::to_string(rng() % 15);
      TestNode& via = *nodes_[rng() % 4];
      clock_.Advance(1);
      if (rng() % 4 == 0) {
        via.kv->Write("default", {Mutation{Mutation::Kind::kDelete, key, "", std::nullopt}},
                      Consistency::kOne, [](Result<std::vector<WriteAck>>) {});
        last[key] = "";
      } else {
        const std::string value = "v" + std::to_string(round) + "." + std::to_string(i);
        via.kv->Write("default", {Mutation{Mutation::Kind::kPut, key, value, std::nullopt}},
                      Consistency::kOne, [](Result<std::vector<WriteAck>>) {});
        last[key] = value;
      }
    }
    network_.Pump(rng, /*copies=*/1 + static_cast<int>(rng() % 3));
  }
  // Replies release writes coalesced behind them (the outbox): deliver those too.
  while (!network_.queue.empty()) network_.Pump(rng);
  network_.queued = false;
  // Every replica of every key holds the newest write, whatever the order.
  for (const auto& [key, value] : last) {
    for (NodeId replica : ReplicasOf(key)) {
      auto e = NodeById(replica).kv->Get("default", key);
      ASSERT_TRUE(e.ok());
      if (value.empty()) {
        EXPECT_FALSE(e->has_value()) << key;
      } else {
        ASSERT_TRUE(e->has_value()) << key;
        EXPECT_EQ((*e)->value, value) << key;
      }
    }
  }
}

TEST_F(CoordinatorTest, WritesToABusyReplicaAreCoalescedAndEachGetsItsOwnResult) {
  MakeCluster(3);
  network_.queued = true;
  std::mt19937_64 rng(3);
  int acked = 0;
  for (int i = 0; i < 12; ++i) {
    nodes_[0]->kv->Write("default",
                         {Mutation{Mutation::Kind::kPut, "c" + std::to_string(i), "v", std::nullopt}},
                         Consistency::kAll, [&](Result<std::vector<WriteAck>> r) { acked += r.ok(); });
  }
  // Two writes per peer went out at once; the other ten wait in the outbox.
  size_t batches = 0;
  for (const auto& m : network_.queue) batches += m.type == MessageType::kReplicaWriteBatch;
  EXPECT_EQ(network_.queue.size(), 4u);
  EXPECT_EQ(batches, 0u);
  network_.Pump(rng);
  for (const auto& m : network_.queue) batches += m.type == MessageType::kReplicaWriteBatch;
  EXPECT_GE(batches, 2u) << "the waiting writes left together, one batch per peer";
  while (!network_.queue.empty()) network_.Pump(rng);
  EXPECT_EQ(acked, 12);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(Holders("c" + std::to_string(i)).size(), 3u);

  // The replica side: a bad part fails alone, the good one is applied.
  wire::WriteBatchRequest request;
  request.add_parts()->set_ns("no-such-namespace");
  wire::WriteRequest* good = request.add_parts();
  good->set_ns("default");
  Entry e;
  e.value = "batched";
  e.version = Version{nodes_[1]->hlc->Now(), nodes_[1]->id};
  wire::KeyEntry* ke = good->add_entries();
  ke->set_key("from-batch");
  ke->set_entry(EncodeEntry(e));
  std::optional<Result<std::string>> reply;
  nodes_[2]->coordinator->HandleWriteBatch(nodes_[1]->id, request.SerializeAsString(),
                                           [&](Result<std::string> r) { reply = std::move(r); });
  ASSERT_TRUE(reply.has_value() && reply->ok());
  wire::WriteBatchReply results;
  ASSERT_TRUE(results.ParseFromString(**reply));
  ASSERT_EQ(results.results_size(), 2);
  EXPECT_EQ(results.results(0).code(), static_cast<uint32_t>(ErrorCode::kNotFound));
  EXPECT_EQ(results.results(1).code(), 0u);
  EXPECT_EQ((*nodes_[2]->kv->Get("default", "from-batch"))->value, "batched");
  // Garbage and oversized batches are refused whole.
  reply.reset();
  nodes_[2]->coordinator->HandleWriteBatch(nodes_[1]->id, "\xff\xff",
                                           [&](Result<std::string> r) { reply = std::move(r); });
  EXPECT_FALSE(reply->ok());
}

TEST_F(CoordinatorTest, PendingOwnersGetWritesButDoNotCountAndCatchUpStreamsTheRest) {
  MakeCluster(3);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(Put(*nodes_[0], "pre-" + std::to_string(i), "v").ok());
  // A fourth node joins as pending.
  auto joiner = std::make_unique<TestNode>();
  joiner->id = NodeId(0x2000);
  joiner->store = NewMemoryStore(TestNamespaces());
  joiner->hlc = std::make_unique<Hlc>(clock_, 500);
  joiner->kv = std::make_unique<KvService>(*joiner->store, nullptr, *joiner->hlc, clock_,
                                           joiner->id, TestNamespaces());
  joiner->channel = std::make_unique<FakeChannel>(network_, joiner->id);
  joiner->coordinator = std::make_unique<Coordinator>(*joiner->kv, *joiner->channel, nullptr,
                                                      CoordinatorOptions{}, nullptr);
  joiner->kv->SetRouter(joiner->coordinator.get());
  network_.nodes[joiner->id] = joiner.get();
  TestNode& j = *joiner;
  nodes_.push_back(std::move(joiner));
  j.coordinator->MergeOwnership(nodes_[0]->coordinator->Ownership());
  j.coordinator->SetSelfState(OwnerState::kPending);
  for (auto& node : nodes_) node->coordinator->MergeOwnership(j.coordinator->Ownership());

  // New writes reach the pending node where it will be a replica.
  int new_on_joiner = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string key = "new-" + std::to_string(i);
    ASSERT_TRUE(Put(*nodes_[1], key, "v").ok());
    const KeyPlacement p =
        nodes_[1]->coordinator->PlacementOf(*nodes_[1]->kv->FindNamespace("default"), key);
    const bool future = std::find(p.pending_replicas.begin(), p.pending_replicas.end(), j.id) !=
                        p.pending_replicas.end();
    EXPECT_EQ(j.kv->Get("default", key)->has_value(), future) << key;
    new_on_joiner += future;
  }
  EXPECT_GT(new_on_joiner, 0);
  // Catching up streams in the older keys it will own, and only those.
  std::optional<Status> caught_up;
  j.coordinator->CatchUp([&](Status s) { caught_up = s; });
  ASSERT_TRUE(caught_up && caught_up->ok()) << (caught_up ? caught_up->ToString() : "pending");
  j.coordinator->SetSelfState(OwnerState::kNormal);
  for (auto& node : nodes_) node->coordinator->MergeOwnership(j.coordinator->Ownership());
  for (int i = 0; i < 40; ++i) {
    const std::string key = "pre-" + std::to_string(i);
    const auto replicas = ReplicasOf(key);
    const bool owns = std::find(replicas.begin(), replicas.end(), j.id) != replicas.end();
    EXPECT_EQ(j.kv->Get("default", key)->has_value(), owns) << key;
    auto read = Read(j, key);
    ASSERT_TRUE(read.ok() && read->has_value()) << key;
  }
}

TEST_F(CoordinatorTest, DecommissionStreamsEveryEntryToItsNewReplicasBeforeRemoval) {
  MakeCluster(4);
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) {
    keys.push_back("d-" + std::to_string(i));
    ASSERT_TRUE(Put(*nodes_[i % 4], keys.back(), "v" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(Delete(*nodes_[0], keys[0]).ok());
  TestNode& leaving = *nodes_[3];
  leaving.coordinator->SetSelfState(OwnerState::kLeaving);
  for (auto& node : nodes_) node->coordinator->MergeOwnership(leaving.coordinator->Ownership());
  // While leaving it still serves as a replica; new writes also reach the
  // nodes that will replace it.
  ASSERT_TRUE(Put(*nodes_[1], "during", "x").ok());
  std::optional<Status> streamed;
  leaving.coordinator->StreamOut([&](Status s) { streamed = s; });
  ASSERT_TRUE(streamed && streamed->ok()) << (streamed ? streamed->ToString() : "pending");
  EXPECT_EQ(leaving.coordinator->Progress().phase, "done");
  leaving.coordinator->SetSelfState(OwnerState::kRemoved);
  for (auto& node : nodes_) node->coordinator->MergeOwnership(leaving.coordinator->Ownership());
  leaving.up = false;
  keys.push_back("during");
  for (const std::string& key : keys) {
    const auto replicas = ReplicasOf(key);
    EXPECT_EQ(std::count(replicas.begin(), replicas.end(), leaving.id), 0) << key;
    for (NodeId replica : replicas) {
      auto raw = NodeById(replica).kv->GetRaw("default", key);
      ASSERT_TRUE(raw.ok() && raw->has_value()) << key << " missing on " << replica.ToString();
      EXPECT_EQ((*raw)->tombstone, key == keys[0]) << key;
    }
    auto read = Read(*nodes_[0], key, Consistency::kAll);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(read->has_value(), key != keys[0]) << key;
  }
}

// The deterministic simulation of replication (issue 4): random writes and
// deletes at random consistency levels through random coordinators, while
// nodes crash and restart, pairs of nodes are partitioned and healed, and
// requests and replies are lost or duplicated. No reads (they would repair
// replicas and hide missing propagation). When the faults end and hints have
// been replayed, every replica of every key holds the same entry, and it is
// the newest acknowledged write (or a newer unacknowledged one).
TEST_F(CoordinatorTest, SimulationWithCrashesPartitionsLossAndDuplicationConverges) {
  for (uint64_t seed : {1, 2, 3, 4, 5, 6}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    nodes_.clear();
    network_ = FakeNetwork();
    MakeCluster(5);
    std::mt19937_64 rng(seed);
    network_.rng = &rng;
    network_.loss = 0.05;
    network_.duplication = 0.05;
    std::map<std::string, Version> newest_acked;  // per key
    std::map<std::string, std::optional<std::string>> newest_acked_value;
    int acked = 0, failed = 0, crashes = 0, partitions = 0;
    auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
    for (int step = 0; step < 600; ++step) {
      clock_.Advance(1);
      const size_t roll = pick(100);
      if (roll < 75) {
        std::vector<TestNode*> up;
        for (auto& n : nodes_) {
          if (n->up) up.push_back(n.get());
        }
        TestNode& via = *up[pick(up.size())];
        const std::string key = "key-" + std::to_string(pick(25));
        const bool del = pick(5) == 0;
        const Consistency c = std::array{Consistency::kOne, Consistency::kQuorum,
                                         Consistency::kQuorum, Consistency::kAll}[pick(4)];
        const std::string value = "s" + std::to_string(step);
        std::optional<Result<std::vector<WriteAck>>> out;
        via.kv->Write("default",
                      {Mutation{del ? Mutation::Kind::kDelete : Mutation::Kind::kPut, key,
                                del ? "" : value, std::nullopt}},
                      c, [&](Result<std::vector<WriteAck>> r) { out = std::move(r); });
        ASSERT_TRUE(out.has_value());
        if (out->ok()) {
          ++acked;
          const Version v = (*out)->front().version;
          if (!newest_acked.count(key) || newest_acked[key] < v) {
            newest_acked[key] = v;
            newest_acked_value[key] = del ? std::nullopt : std::optional<std::string>(value);
          }
        } else {
          ++failed;
        }
      } else if (roll < 84) {  // crash one node (at most two down at once)
        size_t down = 0;
        for (auto& n : nodes_) down += !n->up;
        TestNode& victim = *nodes_[pick(nodes_.size())];
        if (down < 2 && victim.up) {
          victim.up = false;
          ++crashes;
        }
      } else if (roll < 92) {  // restart one
        nodes_[pick(nodes_.size())]->up = true;
      } else if (roll < 97) {  // partition a pair
        NodeId a = nodes_[pick(nodes_.size())]->id, b = nodes_[pick(nodes_.size())]->id;
        if (a != b) {
          network_.blocked.insert({std::min(a, b), std::max(a, b)});
          ++partitions;
        }
      } else {
        network_.blocked.clear();
      }
    }
    // The faults end: everything up and connected, no loss; hints replay.
    network_.blocked.clear();
    network_.loss = 0;
    network_.duplication = 0;
    for (auto& n : nodes_) n->up = true;
    for (int round = 0; round < 50; ++round) {
      clock_.Advance(1'000);
      for (auto& n : nodes_) n->coordinator->ReplayHints();
      size_t pending = 0;
      for (auto& n : nodes_) {
        for (NodeId t : n->hints->Targets()) pending += n->hints->PendingCount(t);
      }
      if (pending == 0) break;
    }
    EXPECT_GT(acked, 200);
    EXPECT_GT(crashes + partitions, 10);
    for (int k = 0; k < 25; ++k) {
      const std::string key = "key-" + std::to_string(k);
      std::optional<Entry> first;
      for (NodeId replica : ReplicasOf(key)) {
        auto raw = NodeById(replica).kv->GetRaw("default", key);
        ASSERT_TRUE(raw.ok());
        if (!newest_acked.count(key) && !raw->has_value()) continue;
        ASSERT_TRUE(raw->has_value()) << key << " missing on " << replica.ToString();
        if (!first) first = **raw;
        EXPECT_EQ((*raw)->version, first->version) << key << ": replicas differ";
        if (newest_acked.count(key)) {
          EXPECT_GE((*raw)->version, newest_acked[key])
              << key << ": an acknowledged write was lost";
          if ((*raw)->version == newest_acked[key]) {
            EXPECT_EQ((*raw)->tombstone, !newest_acked_value[key].has_value()) << key;
            if (newest_acked_value[key]) EXPECT_EQ((*raw)->value, *newest_acked_value[key]) << key;
          }
        }
      }
    }
    std::printf("seed %llu: %d acknowledged, %d failed, %d crashes, %d partitions\n",
                static_cast<unsigned long long>(seed), acked, failed, crashes, partitions);
  }
}

TEST_F(CoordinatorTest, OwnershipMergeIsOrderIndependent) {
  OwnershipState a, b, c;
  a.Set(NodeId(1), OwnerState::kNormal);
  b.Set(NodeId(2), OwnerState::kPending);
  b.Set(NodeId(2), OwnerState::kNormal);
  c.Set(NodeId(1), OwnerState::kNormal);
  c.Set(NodeId(1), OwnerState::kLeaving);
  OwnershipState x = a, y = c;
  x.Merge(b);
  x.Merge(c);
  y.Merge(a);
  y.Merge(b);
  y.Merge(y);
  EXPECT_EQ(x, y);
  EXPECT_EQ(x.Digest(), y.Digest());
  EXPECT_EQ(x.Owners(), (std::vector<NodeId>{NodeId(1), NodeId(2)}));
  EXPECT_EQ(x.FutureOwners(), (std::vector<NodeId>{NodeId(2)}));
  auto decoded = OwnershipState::Decode(x.Encode());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, x);
  EXPECT_FALSE(OwnershipState::Decode("\x08\x00garbage").ok());
}

}  // namespace
}  // namespace meshkv::replication
