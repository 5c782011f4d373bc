#include "replication/hash_tree.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>

namespace meshkv::replication {
namespace {

Entry MakeEntry(uint64_t timestamp, uint64_t origin, bool tombstone = false, int64_t expires = 0) {
  Entry e;
  e.value = tombstone ? "" : "v" + std::to_string(timestamp);
  e.version = Version{HlcTimestamp(timestamp), NodeId(origin)};
  e.tombstone = tombstone;
  e.expires_at_ms = expires;
  return e;
}

using Replica = std::map<std::string, Entry>;  // key -> entry, sorted by key

HashTree TreeOf(const Replica& replica, uint32_t leaves = 64) {
  HashTree tree(leaves);
  for (const auto& [key, entry] : replica) tree.Toggle(key, EntryDigest(key, entry));
  return tree;
}

std::vector<std::pair<std::string, uint64_t>> LeafEntries(const Replica& replica,
                                                          const HashTree& tree, uint32_t leaf) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto& [key, entry] : replica) {
    if (tree.LeafOf(key) == leaf) out.emplace_back(key, EntryDigest(key, entry));
  }
  return out;
}

TEST(EntryDigest, PinnedAndSensitiveToEveryField) {
  const Entry base = MakeEntry(1000, 7);
  const uint64_t digest = EntryDigest("k", base);
  EXPECT_EQ(digest, 18227825573151284781u);  // pinned: the anti-entropy wire meaning
  // The documented layout, hashed directly.
  const std::string layout(
      "\x01\x00\x00\x00k"
      "\xe8\x03\x00\x00\x00\x00\x00\x00"   // timestamp 1000
      "\x07\x00\x00\x00\x00\x00\x00\x00"   // origin 7
      "\x00"                               // not a tombstone
      "\x00\x00\x00\x00\x00\x00\x00\x00",  // no expiry
      30);
  EXPECT_EQ(digest, XXH3_128bits(layout.data(), layout.size()).low64);

  std::set<uint64_t> digests{digest};
  digests.insert(EntryDigest("k2", base));
  digests.insert(EntryDigest("k", MakeEntry(1001, 7)));
  digests.insert(EntryDigest("k", MakeEntry(1000, 8)));
  digests.insert(EntryDigest("k", MakeEntry(1000, 7, /*tombstone=*/true)));
  digests.insert(EntryDigest("k", MakeEntry(1000, 7, false, /*expires=*/5000)));
  EXPECT_EQ(digests.size(), 6u);

  Entry other_value = base;
  other_value.value = "something else";
  EXPECT_EQ(EntryDigest("k", other_value), digest) << "the version names the write";
}

TEST(HashTree, EmptyTreeHasRootZero) {
  for (uint32_t leaves : {1u, 2u, 64u, 1024u}) {
    HashTree tree(leaves);
    EXPECT_EQ(tree.Root(), 0u);
    EXPECT_EQ(tree.Leaves(), std::vector<uint64_t>(leaves, 0));
  }
}

TEST(HashTree, LeafOfIsInRangeAndSpreads) {
  HashTree tree(64);
  std::vector<int> counts(64, 0);
  for (int i = 0; i < 64 * 100; ++i) {
    const uint32_t leaf = tree.LeafOf("key-" + std::to_string(i));
    ASSERT_LT(leaf, 64u);
    ++counts[leaf];
  }
  EXPECT_GT(*std::min_element(counts.begin(), counts.end()), 50);
  EXPECT_EQ(HashTree(1).LeafOf("anything"), 0u);
}

TEST(HashTree, InsertionOrderDoesNotMatter) {
  std::mt19937_64 rng(5);
  std::vector<std::pair<std::string, uint64_t>> entries;
  for (int i = 0; i < 500; ++i) {
    const std::string key = "k" + std::to_string(i);
    entries.emplace_back(key, EntryDigest(key, MakeEntry(rng() >> 20, rng() | 1)));
  }
  HashTree a(64), b(64);
  for (const auto& [key, digest] : entries) a.Toggle(key, digest);
  std::shuffle(entries.begin(), entries.end(), rng);
  for (const auto& [key, digest] : entries) {
    b.Toggle(key, digest);
    if (rng() % 7 == 0) b.Root();  // interleaved reads must not change the result
  }
  EXPECT_EQ(a.Root(), b.Root());
  EXPECT_EQ(a.Leaves(), b.Leaves());
  EXPECT_NE(a.Root(), 0u);
  EXPECT_TRUE(a.DifferingLeaves(b.Leaves()).empty());
}

TEST(HashTree, ToggleOutRestoresPreviousRoot) {
  HashTree tree(16);
  for (int i = 0; i < 50; ++i) {
    const std::string key = "k" + std::to_string(i);
    tree.Toggle(key, EntryDigest(key, MakeEntry(100 + i, 1)));
  }
  const uint64_t before = tree.Root();
  const auto leaves_before = tree.Leaves();

  const uint64_t extra = EntryDigest("extra", MakeEntry(999, 2));
  tree.Toggle("extra", extra);
  EXPECT_NE(tree.Root(), before);
  tree.Toggle("extra", extra);
  EXPECT_EQ(tree.Root(), before);
  EXPECT_EQ(tree.Leaves(), leaves_before);
}

TEST(HashTree, ReplaceEqualsRemoveThenAdd) {
  const Entry old_entry = MakeEntry(100, 1);
  const Entry new_entry = MakeEntry(200, 1);
  HashTree replaced(8), fresh(8);
  replaced.Toggle("k", EntryDigest("k", old_entry));
  replaced.Toggle("other", EntryDigest("other", old_entry));
  replaced.Replace("k", EntryDigest("k", old_entry), EntryDigest("k", new_entry));
  fresh.Toggle("other", EntryDigest("other", old_entry));
  fresh.Toggle("k", EntryDigest("k", new_entry));
  EXPECT_EQ(replaced.Root(), fresh.Root());
  EXPECT_EQ(replaced.Leaves(), fresh.Leaves());
}

// The XOR limitation: adding the same digest twice cancels it, so an entry
// toggled in twice (a duplicated message applied blindly) looks absent. The
// contract is to toggle only on real state changes of the stored entry.
TEST(HashTree, DoubleAddCancelsSoTogglesMustFollowStoredState) {
  HashTree tree(8);
  const uint64_t digest = EntryDigest("k", MakeEntry(100, 1));
  tree.Toggle("k", digest);
  tree.Toggle("k", digest);
  EXPECT_EQ(tree.Root(), 0u);

  // Driving the tree from the stored state: a duplicate that does not change
  // the stored entry does not toggle, and the tree matches a single apply.
  HashTree from_state(8), single(8);
  Replica stored;
  auto apply = [&](const std::string& key, const Entry& incoming) {
    auto it = stored.find(key);
    if (it == stored.end()) {
      from_state.Toggle(key, EntryDigest(key, incoming));
      stored.emplace(key, incoming);
    } else if (Merge(it->second, incoming) != it->second) {
      from_state.Replace(key, EntryDigest(key, it->second), EntryDigest(key, incoming));
      it->second = incoming;
    }
  };
  apply("k", MakeEntry(100, 1));
  apply("k", MakeEntry(100, 1));  // duplicate
  apply("k", MakeEntry(50, 1));   // older, loses
  single.Toggle("k", EntryDigest("k", MakeEntry(100, 1)));
  EXPECT_EQ(from_state.Root(), single.Root());
}

TEST(HashTree, ClearReturnsToEmpty) {
  HashTree tree(32);
  tree.Toggle("a", 12345);
  tree.Root();
  tree.Toggle("b", 678);
  tree.Clear();
  EXPECT_EQ(tree.Root(), 0u);
  tree.Toggle("a", 12345);
  HashTree fresh(32);
  fresh.Toggle("a", 12345);
  EXPECT_EQ(tree.Root(), fresh.Root());
}

TEST(HashTree, DifferingLeavesWithOtherSizeIsEverything) {
  HashTree tree(8);
  EXPECT_EQ(tree.DifferingLeaves(std::vector<uint64_t>(4, 0)).size(), 8u);
  EXPECT_EQ(tree.DifferingLeaves({}).size(), 8u);
  EXPECT_TRUE(tree.DifferingLeaves(std::vector<uint64_t>(8, 0)).empty());
}

TEST(DiffLeafEntries, ClassifiesKeys) {
  const std::vector<std::pair<std::string, uint64_t>> local{{"a", 1}, {"b", 2}, {"d", 4}, {"e", 5}};
  const std::vector<std::pair<std::string, uint64_t>> remote{
      {"b", 2}, {"c", 3}, {"d", 9}, {"f", 6}};
  const LeafDiff diff = DiffLeafEntries(local, remote);
  EXPECT_EQ(diff.only_local, (std::vector<std::string>{"a", "e"}));
  EXPECT_EQ(diff.only_remote, (std::vector<std::string>{"c", "f"}));
  EXPECT_EQ(diff.differing, (std::vector<std::string>{"d"}));
  EXPECT_EQ(DiffLeafEntries({}, {}), LeafDiff{});
}

// Property: over random replica pairs (keys missing on either side, newer
// versions, tombstones, expiry changes), comparing leaves and then the key
// lists of the differing leaves finds exactly the differing keys.
TEST(HashTree, DiffFindsExactlyTheDifferingKeys) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    const uint32_t leaves = uint32_t{1} << (rng() % 8);  // 1..128
    const int keys = 50 + static_cast<int>(rng() % 2000);
    Replica local, remote;
    std::set<std::string> expected_only_local, expected_only_remote, expected_differing;
    for (int i = 0; i < keys; ++i) {
      std::string key = "key/" + std::to_string(rng() % 1000000) + "/" + std::to_string(i);
      if (i % 17 == 0) key.push_back('\0');  // binary keys
      const Entry entry = MakeEntry(1000 + (rng() % 1000000), 1 + rng() % 5);
      switch (rng() % 12) {
        case 0:  // missing remotely
          local[key] = entry;
          expected_only_local.insert(key);
          break;
        case 1:  // missing locally
          remote[key] = entry;
          expected_only_remote.insert(key);
          break;
        case 2: {  // remote has a newer version
          local[key] = entry;
          remote[key] = MakeEntry(entry.version.timestamp.raw() + 1, entry.version.origin.value());
          expected_differing.insert(key);
          break;
        }
        case 3: {  // deleted on one side
          local[key] = entry;
          remote[key] = MakeEntry(entry.version.timestamp.raw() + 5, 9, /*tombstone=*/true);
          expected_differing.insert(key);
          break;
        }
        case 4: {  // same version, different expiry (a faulty peer)
          local[key] = entry;
          remote[key] =
              MakeEntry(entry.version.timestamp.raw(), entry.version.origin.value(), false, 123456);
          expected_differing.insert(key);
          break;
        }
        default:  // equal on both
          local[key] = entry;
          remote[key] = entry;
      }
    }
    HashTree local_tree = TreeOf(local, leaves);
    HashTree remote_tree = TreeOf(remote, leaves);
    const bool any_difference = !expected_only_local.empty() || !expected_only_remote.empty() ||
                                !expected_differing.empty();
    EXPECT_EQ(local_tree.Root() != remote_tree.Root(), any_difference) << "seed " << seed;

    std::set<std::string> only_local, only_remote, differing;
    const auto differing_leaves = local_tree.DifferingLeaves(remote_tree.Leaves());
    for (uint32_t leaf : differing_leaves) {
      const LeafDiff diff = DiffLeafEntries(LeafEntries(local, local_tree, leaf),
                                            LeafEntries(remote, remote_tree, leaf));
      EXPECT_FALSE(diff == LeafDiff{}) << "a differing leaf has a differing key, seed " << seed;
      only_local.insert(diff.only_local.begin(), diff.only_local.end());
      only_remote.insert(diff.only_remote.begin(), diff.only_remote.end());
      differing.insert(diff.differing.begin(), diff.differing.end());
    }
    EXPECT_EQ(only_local, expected_only_local) << "seed " << seed;
    EXPECT_EQ(only_remote, expected_only_remote) << "seed " << seed;
    EXPECT_EQ(differing, expected_differing) << "seed " << seed;

    // After each side applies the other's missing and newer entries, the trees agree.
    for (const auto& key : only_remote) {
      local[key] = remote[key];
      local_tree.Toggle(key, EntryDigest(key, local[key]));
    }
    for (const auto& key : only_local) {
      remote[key] = local[key];
      remote_tree.Toggle(key, EntryDigest(key, remote[key]));
    }
    for (const auto& key : differing) {
      const Entry winner = Merge(local[key], remote[key]);
      if (local[key] != winner) {
        local_tree.Replace(key, EntryDigest(key, local[key]), EntryDigest(key, winner));
        local[key] = winner;
      }
      if (remote[key] != winner) {
        remote_tree.Replace(key, EntryDigest(key, remote[key]), EntryDigest(key, winner));
        remote[key] = winner;
      }
    }
    EXPECT_EQ(local_tree.Root(), remote_tree.Root()) << "seed " << seed;
    EXPECT_EQ(local_tree.Root(), TreeOf(local, leaves).Root()) << "seed " << seed;
  }
}

}  // namespace
}  // namespace meshkv::replication
