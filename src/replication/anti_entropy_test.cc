// Anti-entropy and tombstone GC over the in-process cluster (test_cluster.h),
// with hinted handoff turned off so that only anti-entropy can repair.
#include "replication/anti_entropy.h"

#include <gtest/gtest.h>

#include "replication/replication.pb.h"
#include "replication/test_cluster.h"

namespace meshkv::replication {
namespace {

using namespace meshkv::replication::testing;  // NOLINT: the shared fixture

class AntiEntropyTest : public CoordinatorTest {
 protected:
  // Every partition root of every namespace equal on all nodes.
  bool AllTreesEqual() {
    for (size_t ns = 0; ns < TestNamespaces().size(); ++ns) {
      for (uint32_t p = 0; p < kDefaultPartitions; ++p) {
        const NamespaceSpec& spec = TestNamespaces()[ns];
        std::vector<NodeId> replicas = nodes_[0]->coordinator->ReplicasOf(spec, PartitionId(p));
        std::optional<uint64_t> root;
        for (NodeId r : replicas) {
          uint64_t here = NodeById(r).index->PartitionRoot(ns, PartitionId(p));
          if (root && *root != here) return false;
          root = here;
        }
      }
    }
    return true;
  }
  Result<std::string> Ask(TestNode& to, NodeId from, MessageType type, std::string payload) {
    std::optional<Result<std::string>> out;
    network_.nodes.at(to.id);
    auto done = [&](Result<std::string> r) { out = std::move(r); };
    switch (type) {
      case MessageType::kAeSummary:
        to.ae->HandleSummary(from, std::move(payload), done);
        break;
      case MessageType::kAeLeaves:
        to.ae->HandleLeaves(from, std::move(payload), done);
        break;
      default:
        to.ae->HandleKeys(from, std::move(payload), done);
    }
    return std::move(*out);
  }
  AeReport RepairAll(TestNode& node) {
    std::optional<AeReport> out;
    node.ae->Repair({}, [&](AeReport r) { out = std::move(r); });
    return std::move(*out);
  }
};

TEST_F(AntiEntropyTest, AReplicaThatMissedWritesIsRepairedByOneRound) {
  MakeCluster(3, /*hints=*/false);
  nodes_[2]->up = false;
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(Put(*nodes_[i % 2], "k" + std::to_string(i), "v" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(Delete(*nodes_[0], "k7").ok());
  nodes_[2]->up = true;
  EXPECT_FALSE(AllTreesEqual());
  EXPECT_FALSE(nodes_[2]->kv->Get("default", "k1")->has_value());

  AeReport first = nodes_[0]->ae->RunRound(nodes_[2]->id, {}, /*bounded=*/false);
  EXPECT_TRUE(first.errors.empty()) << first.errors.front();
  EXPECT_FALSE(first.converged);
  EXPECT_EQ(first.keys_pushed, 300u);  // 299 values and one tombstone
  EXPECT_EQ(first.keys_pulled, 0u);
  for (int i = 0; i < 300; ++i) {
    auto got = nodes_[2]->kv->GetRaw("default", "k" + std::to_string(i));
    ASSERT_TRUE(got.ok() && got->has_value()) << i;
    EXPECT_EQ((*got)->tombstone, i == 7);
  }
  // The same round again finds nothing: the summary matches at once.
  AeReport second = nodes_[0]->ae->RunRound(nodes_[2]->id, {}, /*bounded=*/false);
  EXPECT_TRUE(second.converged);
  EXPECT_EQ(second.keys_pushed + second.keys_pulled, 0u);
  EXPECT_LT(second.bytes, 100u) << "a converged round costs a few bytes";
  // Node 1 and 3 converge through node 2's repaired copy only after their own round.
  RepairAll(*nodes_[1]);
  EXPECT_TRUE(AllTreesEqual());
}

TEST_F(AntiEntropyTest, BothSidesPullWhatTheOtherHasNewer) {
  MakeCluster(2, /*hints=*/false);
  TestNode& a = *nodes_[0];
  TestNode& b = *nodes_[1];
  auto apply = [&](TestNode& n, const std::string& key, const std::string& value, uint64_t ts) {
    Entry e;
    e.value = value;
    e.version = Version{HlcTimestamp(ts << 16), n.id};
    std::optional<Status> s;
    n.kv->ApplyLocal({WriteOp{"default", key, e}}, [&](Status st) { s = st; });
    ASSERT_TRUE(s->ok());
  };
  const uint64_t now = static_cast<uint64_t>(clock_.NowMillis());
  apply(a, "only-a", "1", now);
  apply(b, "only-b", "2", now);
  apply(a, "both", "old", now);
  apply(b, "both", "new", now + 1);
  apply(a, "both2", "newer-on-a", now + 2);
  apply(b, "both2", "older-on-b", now + 1);
  AeReport r = a.ae->RunRound(b.id, {"default"}, /*bounded=*/true);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.partitions_differing, 4u);
  // Each differing key moves one way only, towards the older side.
  EXPECT_EQ(r.keys_pulled, 2u);  // only-b, both
  EXPECT_EQ(r.keys_pushed, 2u);  // only-a, both2
  for (TestNode* n : {&a, &b}) {
    EXPECT_EQ((*n->kv->Get("default", "only-a"))->value, "1");
    EXPECT_EQ((*n->kv->Get("default", "only-b"))->value, "2");
    EXPECT_EQ((*n->kv->Get("default", "both"))->value, "new");
    EXPECT_EQ((*n->kv->Get("default", "both2"))->value, "newer-on-a");
  }
  EXPECT_TRUE(a.ae->RunRound(b.id, {}, true).converged);
  EXPECT_TRUE(AllTreesEqual());
  // Namespaces named out of configuration order are compared by name (a
  // node configured in another order matches too).
  EXPECT_TRUE(a.ae->RunRound(b.id, {"two", "default"}, true).converged);
}

TEST_F(AntiEntropyTest, TheIndexEqualsARebuildFromTheStore) {
  MakeCluster(3);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "k" + std::to_string(rng() % 500);
    TestNode& via = *nodes_[rng() % 3];
    if (rng() % 4 == 0) {
      ASSERT_TRUE(Delete(via, key).ok());
    } else {
      ASSERT_TRUE(Put(via, key, std::to_string(i)).ok());
    }
    // Duplicated replication (a replay of the same entries) changes nothing.
  }
  for (auto& node : nodes_) {
    std::vector<std::string> names;
    for (const NamespaceSpec& spec : TestNamespaces()) names.push_back(spec.name);
    DigestIndex rebuilt(names, kDefaultPartitions, clock_);
    ASSERT_TRUE(rebuilt.Rebuild(*node->store).ok());
    for (size_t ns = 0; ns < names.size(); ++ns) {
      EXPECT_EQ(rebuilt.Size(ns), node->index->Size(ns));
      for (uint32_t p = 0; p < kDefaultPartitions; ++p) {
        ASSERT_EQ(rebuilt.PartitionRoot(ns, PartitionId(p)),
                  node->index->PartitionRoot(ns, PartitionId(p)))
            << "node " << node->id.ToString() << " ns " << names[ns] << " partition " << p;
      }
    }
  }
  EXPECT_TRUE(AllTreesEqual());
}

TEST_F(AntiEntropyTest, TheResponderAnswersOnlyForPartitionsItSharesWithTheAsker) {
  MakeCluster(3);
  const NamespaceSpec& two = *nodes_[0]->kv->FindNamespace("two");
  // A partition of the RF 2 namespace that node 0 and node 1 do not share.
  std::optional<uint32_t> foreign;
  for (uint32_t p = 0; p < kDefaultPartitions && !foreign; ++p) {
    auto r = nodes_[0]->coordinator->ReplicasOf(two, PartitionId(p));
    if (std::find(r.begin(), r.end(), nodes_[0]->id) != r.end() &&
        std::find(r.begin(), r.end(), nodes_[1]->id) == r.end()) {
      foreign = p;
    }
  }
  ASSERT_TRUE(foreign.has_value());
  wire::AeLeavesRequest leaves;
  leaves.set_ns("two");
  leaves.add_partitions(*foreign);
  auto refused = Ask(*nodes_[0], nodes_[1]->id, MessageType::kAeLeaves, leaves.SerializeAsString());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("not shared"), std::string::npos);

  wire::AeKeysRequest keys;
  keys.set_ns("two");
  wire::AeLeafRef* ref = keys.add_leaves();
  ref->set_partition(*foreign);
  ref->set_leaf(0);
  EXPECT_FALSE(Ask(*nodes_[0], nodes_[1]->id, MessageType::kAeKeys, keys.SerializeAsString()).ok());
  ref->set_partition(0);
  ref->set_leaf(DigestIndex::kLeaves);  // out of range
  EXPECT_FALSE(Ask(*nodes_[0], nodes_[1]->id, MessageType::kAeKeys, keys.SerializeAsString()).ok());

  for (MessageType type : {MessageType::kAeSummary, MessageType::kAeLeaves, MessageType::kAeKeys}) {
    EXPECT_FALSE(Ask(*nodes_[0], nodes_[1]->id, type, "\xff\xff garbage").ok());
  }
  wire::AeSummaryRequest summary;
  summary.add_namespaces("no-such-namespace");
  EXPECT_FALSE(
      Ask(*nodes_[0], nodes_[1]->id, MessageType::kAeSummary, summary.SerializeAsString()).ok());
  // Another owner set: nothing compared, the asker is told to retry.
  summary.Clear();
  EXPECT_FALSE(
      Ask(*nodes_[0], nodes_[1]->id, MessageType::kAeSummary, summary.SerializeAsString()).ok())
      << "a summary must name its namespaces";
  summary.add_namespaces("default");
  summary.add_namespaces("default");
  EXPECT_FALSE(
      Ask(*nodes_[0], nodes_[1]->id, MessageType::kAeSummary, summary.SerializeAsString()).ok())
      << "each namespace once";
  summary.clear_namespaces();
  summary.add_namespaces("default");
  summary.set_ownership_digest(12345);
  auto differs =
      Ask(*nodes_[0], nodes_[1]->id, MessageType::kAeSummary, summary.SerializeAsString());
  ASSERT_TRUE(differs.ok());
  wire::AeSummaryReply reply;
  ASSERT_TRUE(reply.ParseFromString(*differs));
  EXPECT_TRUE(reply.ownership_differs());
}

TEST_F(AntiEntropyTest, PulledEntriesAreCheckedLikeAnyReplicatedWrite) {
  MakeCluster(2, /*hints=*/false);
  // A value from a clock far ahead on node 1 (written behind the
  // coordinator's back): node 0 refuses to pull it.
  Entry ahead;
  ahead.value = "from the future";
  ahead.version = Version{HlcTimestamp::FromParts(clock_.NowMillis() + 3'600'000, 0), nodes_[1]->id};
  ASSERT_TRUE(nodes_[1]->store->Apply({WriteOp{"default", "skewed", ahead}}, false).ok());
  nodes_[1]->index->Observe("default", "skewed", ahead);
  AeReport r = nodes_[0]->ae->RunRound(nodes_[1]->id, {}, false);
  EXPECT_FALSE(r.errors.empty());
  EXPECT_EQ(r.keys_pulled, 0u);
  EXPECT_FALSE(nodes_[0]->kv->GetRaw("default", "skewed")->has_value());
}

TEST_F(AntiEntropyTest, TombstonesAreCollectedOnlyAfterGraceAndAFullPassAndStayDeleted) {
  MakeCluster(3, /*hints=*/false);
  ASSERT_TRUE(Put(*nodes_[0], "gone", "v").ok());
  ASSERT_TRUE(Put(*nodes_[0], "kept", "v").ok());
  nodes_[2]->up = false;  // misses the delete, and no hint is kept
  ASSERT_TRUE(Delete(*nodes_[0], "gone").ok());
  nodes_[2]->up = true;
  clock_.Advance(ae_options_.gc_grace_ms + 1'000);

  // Past gc_grace but no pass yet: nothing is collected.
  for (auto& node : nodes_) EXPECT_EQ(node->ae->CollectGarbage(), 0u);
  // A pass repairs node 2 (it gets the tombstone, not the value back).
  for (auto& node : nodes_) RepairAll(*node);
  EXPECT_TRUE(nodes_[2]->kv->GetRaw("default", "gone").value()->tombstone);
  // Node 2's tombstone arrived during that pass: it needs a pass after it.
  clock_.Advance(1);
  for (auto& node : nodes_) RepairAll(*node);
  size_t purged = 0;
  for (auto& node : nodes_) purged += node->ae->CollectGarbage();
  EXPECT_EQ(purged, 3u);
  for (auto& node : nodes_) {
    EXPECT_FALSE(node->kv->GetRaw("default", "gone")->has_value()) << node->id.ToString();
    EXPECT_TRUE(node->kv->Get("default", "kept")->has_value());
    auto read = Read(*node, "gone", Consistency::kAll);
    ASSERT_TRUE(read.ok());
    EXPECT_FALSE(read->has_value());
  }
  // Afterwards the replicas still match, and a round moves nothing.
  EXPECT_TRUE(AllTreesEqual());
  AeReport r = nodes_[0]->ae->RunRound(nodes_[1]->id, {}, false);
  EXPECT_TRUE(r.converged);
}

TEST_F(AntiEntropyTest, AReplicaThatCollectedEarlyDoesNotGetTheTombstoneBack) {
  MakeCluster(2, /*hints=*/false);
  ASSERT_TRUE(Put(*nodes_[0], "k", "v").ok());
  ASSERT_TRUE(Delete(*nodes_[0], "k").ok());
  clock_.Advance(ae_options_.gc_grace_ms + 1'000);
  RepairAll(*nodes_[0]);
  clock_.Advance(1);
  RepairAll(*nodes_[0]);
  // Only node 0 collects; node 1 still holds its old tombstone.
  EXPECT_EQ(nodes_[0]->ae->CollectGarbage(), 1u);
  AeReport r = nodes_[0]->ae->RunRound(nodes_[1]->id, {}, false);
  EXPECT_EQ(r.keys_pulled, 0u);
  EXPECT_EQ(r.keys_pushed, 0u);
  EXPECT_FALSE(nodes_[0]->kv->GetRaw("default", "k")->has_value());
  // The round counted as a pass for node 1's GC too (from its side).
  RepairAll(*nodes_[1]);
  EXPECT_EQ(nodes_[1]->ae->CollectGarbage(), 1u);
  EXPECT_TRUE(AllTreesEqual());
}

TEST_F(AntiEntropyTest, SimulationConvergesThroughAntiEntropyAloneWithoutHints) {
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    nodes_.clear();
    network_ = FakeNetwork();
    MakeCluster(5, /*hints=*/false);
    std::mt19937_64 rng(seed);
    network_.rng = &rng;
    network_.loss = 0.05;
    network_.duplication = 0.05;
    std::map<std::string, Version> acknowledged;  // key -> version of the newest ack
    for (int step = 0; step < 600; ++step) {
      if (rng() % 50 == 0) {
        TestNode& n = *nodes_[rng() % 5];
        n.up = !n.up;
      }
      const std::string key = "k" + std::to_string(rng() % 120);
      TestNode& via = *nodes_[rng() % 5];
      if (!via.up) continue;
      auto acked = rng() % 5 == 0 ? Delete(via, key) : Put(via, key, "v" + std::to_string(step));
      if (acked.ok()) acknowledged[key] = std::max(acknowledged[key], acked->front().version);
      clock_.Advance(1);
    }
    network_.loss = 0;
    network_.duplication = 0;
    for (auto& node : nodes_) node->up = true;
    for (auto& node : nodes_) {
      AeReport r = RepairAll(*node);
      EXPECT_TRUE(r.errors.empty()) << r.errors.front();
    }
    EXPECT_TRUE(AllTreesEqual());
    for (const auto& [key, version] : acknowledged) {
      for (NodeId r : ReplicasOf(key)) {
        auto got = NodeById(r).kv->GetRaw("default", key);
        ASSERT_TRUE(got.ok() && got->has_value()) << key;
        // The newest acknowledged write, or a newer unacknowledged one.
        EXPECT_GE((*got)->version, version) << key;
      }
    }
  }
}

}  // namespace
}  // namespace meshkv::replication
