// One suite, run against every engine: RocksDB, memory, and the composite
// store that OpenStore() builds when namespaces live in both.
#include "storage/store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "storage/group_commit.h"
#include "storage/test_temp_dir.h"

namespace meshkv {
namespace {

#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    const ::meshkv::Status assert_ok_status_ = (expr);                   \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString(); \
  } while (0)

Entry Put(std::string value, uint64_t ts, uint64_t origin = 1, int64_t expires_at_ms = 0) {
  Entry e;
  e.value = std::move(value);
  e.version = Version{HlcTimestamp(ts), NodeId(origin)};
  e.expires_at_ms = expires_at_ms;
  return e;
}

Entry Tombstone(uint64_t ts, uint64_t origin = 1) {
  Entry e;
  e.version = Version{HlcTimestamp(ts), NodeId(origin)};
  e.tombstone = true;
  return e;
}

std::vector<NamespaceSpec> Specs(std::initializer_list<std::string_view> names) {
  std::vector<NamespaceSpec> specs;
  for (std::string_view name : names) {
    NamespaceSpec spec;
    spec.name = std::string(name);
    specs.push_back(spec);
  }
  return specs;
}

std::vector<NamespaceSpec> DefaultSpecs() {
  return Specs({"default", "other", "third"});
}

StoreOptions SmallOptions(const std::string& dir, std::vector<NamespaceSpec> namespaces) {
  StoreOptions options;
  options.path = dir + "/db";
  options.namespaces = std::move(namespaces);
  options.block_cache_bytes = 8 << 20;
  options.write_buffer_bytes = 4 << 20;
  return options;
}

// The engines under test.
struct RocksEngine {
  static constexpr bool kPersistent = true;
  static Result<std::unique_ptr<Store>> Open(const std::string& dir,
                                             std::vector<NamespaceSpec> namespaces) {
    return OpenRocksStore(SmallOptions(dir, std::move(namespaces)));
  }
};

struct MemoryEngine {
  static constexpr bool kPersistent = false;
  static Result<std::unique_ptr<Store>> Open(const std::string& dir,
                                             std::vector<NamespaceSpec> namespaces) {
    return NewMemoryStore(namespaces);
  }
};

// OpenStore() with every other namespace in memory, the rest on disk.
struct MixedEngine {
  static constexpr bool kPersistent = false;
  static Result<std::unique_ptr<Store>> Open(const std::string& dir,
                                             std::vector<NamespaceSpec> namespaces) {
    for (size_t i = 0; i < namespaces.size(); ++i) {
      namespaces[i].storage = i % 2 == 0 ? StorageKind::kDisk : StorageKind::kMemory;
    }
    return OpenStore(SmallOptions(dir, std::move(namespaces)));
  }
};

template <typename Engine>
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty()) << "cannot create a temporary directory";
    Reopen(DefaultSpecs());
  }

  void Reopen(std::vector<NamespaceSpec> namespaces) {
    store_.reset();
    auto opened = Engine::Open(dir_.path(), std::move(namespaces));
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }

  Status Apply(WriteBatch batch) { return store_->Apply(batch, /*sync=*/false); }
  Status Write(std::string_view ns, std::string_view key, Entry entry) {
    return Apply({WriteOp{std::string(ns), std::string(key), std::move(entry)}});
  }

  std::optional<Entry> Read(std::string_view ns, std::string_view key) {
    auto got = store_->Get(ns, key);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return got.ok() ? *got : std::nullopt;
  }

  ScanPage ScanOrDie(std::string_view ns, const ScanOptions& options) {
    auto page = store_->Scan(ns, options);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    return page.ok() ? std::move(page).value() : ScanPage{};
  }

  static std::vector<std::string> Keys(const ScanPage& page) {
    std::vector<std::string> keys;
    for (const KeyEntry& item : page.items) keys.push_back(item.key);
    return keys;
  }

  TempDir dir_;  // declared first: removed after the store is closed
  std::unique_ptr<Store> store_;
};

struct EngineNames {
  template <typename T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, RocksEngine>) return "Rocks";
    if constexpr (std::is_same_v<T, MemoryEngine>) return "Memory";
    return "Mixed";
  }
};

using Engines = ::testing::Types<RocksEngine, MemoryEngine, MixedEngine>;
TYPED_TEST_SUITE(StoreTest, Engines, EngineNames);

TYPED_TEST(StoreTest, PutThenGet) {
  ASSERT_OK(this->Write("default", "k", Put("v", 10)));
  auto got = this->Read("default", "k");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, Put("v", 10));
  EXPECT_FALSE(this->Read("default", "missing").has_value());
}

TYPED_TEST(StoreTest, OlderVersionDoesNotOverwriteNewer) {
  ASSERT_OK(this->Write("default", "a", Put("new", 10)));
  ASSERT_OK(this->Write("default", "a", Put("old", 5)));
  EXPECT_EQ(this->Read("default", "a")->value, "new");

  ASSERT_OK(this->Write("default", "b", Put("old", 5)));
  ASSERT_OK(this->Write("default", "b", Put("new", 10)));
  EXPECT_EQ(this->Read("default", "b")->value, "new");

  // Same timestamp: the origin breaks the tie.
  ASSERT_OK(this->Write("default", "c", Put("from-9", 7, 9)));
  ASSERT_OK(this->Write("default", "c", Put("from-3", 7, 3)));
  EXPECT_EQ(this->Read("default", "c")->value, "from-9");
}

TYPED_TEST(StoreTest, TombstoneWinsOverOlderPut) {
  ASSERT_OK(this->Write("default", "k", Put("v1", 5)));
  ASSERT_OK(this->Write("default", "k", Tombstone(10)));
  ASSERT_OK(this->Write("default", "k", Put("late but old", 7)));
  auto raw = this->Read("default", "k");
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(*raw, Tombstone(10));
  auto live = GetLive(*this->store_, "default", "k", 0);
  ASSERT_TRUE(live.ok());
  EXPECT_FALSE(live->has_value());

  // A newer put brings the key back.
  ASSERT_OK(this->Write("default", "k", Put("v2", 11)));
  live = GetLive(*this->store_, "default", "k", 0);
  ASSERT_TRUE(live.ok() && live->has_value());
  EXPECT_EQ((*live)->value, "v2");
}

TYPED_TEST(StoreTest, PurgeRemovesEntriesOutright) {
  ASSERT_OK(this->Write("default", "gone", Tombstone(10)));
  ASSERT_OK(this->Write("default", "kept", Put("v", 10)));
  ASSERT_OK(this->store_->Purge("default", {"gone", "never-there"}));
  EXPECT_FALSE(this->Read("default", "gone").has_value());
  EXPECT_TRUE(this->Read("default", "kept").has_value());
  ScanOptions all;
  all.include_dead = true;
  EXPECT_EQ(this->Keys(this->ScanOrDie("default", all)), std::vector<std::string>{"kept"});
  // A later write of the key is stored as on an empty store.
  ASSERT_OK(this->Write("default", "gone", Put("back", 5)));
  EXPECT_EQ(this->Read("default", "gone")->value, "back");
  EXPECT_EQ(this->store_->Purge("nope", {"k"}).code(), ErrorCode::kNotFound);
}

TYPED_TEST(StoreTest, SameVersionIsDeterministic) {
  Entry a = Put("aaa", 7);
  Entry b = Put("bbb", 7);
  Entry tomb = Tombstone(7);
  ASSERT_OK(this->Write("default", "ab", a));
  ASSERT_OK(this->Write("default", "ab", b));
  ASSERT_OK(this->Write("default", "ba", b));
  ASSERT_OK(this->Write("default", "ba", a));
  EXPECT_EQ(*this->Read("default", "ab"), Merge(a, b));
  EXPECT_EQ(*this->Read("default", "ba"), Merge(a, b));

  ASSERT_OK(this->Write("default", "pt", a));
  ASSERT_OK(this->Write("default", "pt", tomb));
  ASSERT_OK(this->Write("default", "tp", tomb));
  ASSERT_OK(this->Write("default", "tp", a));
  EXPECT_EQ(*this->Read("default", "pt"), tomb);
  EXPECT_EQ(*this->Read("default", "tp"), tomb);

  // Applying the same write twice changes nothing.
  ASSERT_OK(this->Write("default", "twice", a));
  ASSERT_OK(this->Write("default", "twice", a));
  EXPECT_EQ(*this->Read("default", "twice"), a);
}

TYPED_TEST(StoreTest, SeveralOpsOnOneKeyInOneBatchMerge) {
  ASSERT_OK(this->Apply({{"default", "k", Put("v3", 3)},
                         {"default", "k", Put("v9", 9)},
                         {"default", "k", Put("v5", 5)}}));
  EXPECT_EQ(this->Read("default", "k")->value, "v9");
}

TYPED_TEST(StoreTest, ExpiredEntriesReadAsAbsent) {
  ASSERT_OK(this->Write("default", "k", Put("v", 1, 1, /*expires_at_ms=*/1000)));
  auto before = GetLive(*this->store_, "default", "k", 999);
  ASSERT_TRUE(before.ok() && before->has_value());
  auto at = GetLive(*this->store_, "default", "k", 1000);
  ASSERT_TRUE(at.ok());
  EXPECT_FALSE(at->has_value());
  // Raw reads keep it, for replication.
  EXPECT_TRUE(this->Read("default", "k").has_value());
}

TYPED_TEST(StoreTest, ScanSkipsDeadUnlessAsked) {
  ASSERT_OK(this->Apply({{"default", "a", Put("live", 1)},
                         {"default", "b", Tombstone(1)},
                         {"default", "c", Put("expired", 1, 1, 500)},
                         {"default", "d", Put("live", 1, 1, 5000)}}));
  ScanOptions options;
  options.now_ms = 1000;
  EXPECT_EQ(this->Keys(this->ScanOrDie("default", options)), (std::vector<std::string>{"a", "d"}));
  options.include_dead = true;
  ScanPage all = this->ScanOrDie("default", options);
  EXPECT_EQ(this->Keys(all), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_TRUE(all.items[1].entry.tombstone);
  EXPECT_FALSE(all.more);
}

TYPED_TEST(StoreTest, ScanPrefixStartAfterLimitMore) {
  WriteBatch batch;
  for (std::string key : {"o/9", "p/1", "p/2", "p/3", "p/4", "p/5", "q/1"}) {
    batch.push_back({"default", key, Put("v-" + key, 1)});
  }
  ASSERT_OK(this->Apply(batch));

  ScanOptions options;
  options.prefix = "p/";
  options.limit = 2;
  ScanPage page = this->ScanOrDie("default", options);
  EXPECT_EQ(this->Keys(page), (std::vector<std::string>{"p/1", "p/2"}));
  EXPECT_TRUE(page.more);
  EXPECT_EQ(page.items[0].entry.value, "v-p/1");

  options.start_after = "p/2";
  page = this->ScanOrDie("default", options);
  EXPECT_EQ(this->Keys(page), (std::vector<std::string>{"p/3", "p/4"}));
  EXPECT_TRUE(page.more);

  options.start_after = "p/4";
  page = this->ScanOrDie("default", options);
  EXPECT_EQ(this->Keys(page), (std::vector<std::string>{"p/5"}));
  EXPECT_FALSE(page.more);

  // Exactly `limit` left: no more.
  options.start_after = "p/3";
  page = this->ScanOrDie("default", options);
  EXPECT_EQ(this->Keys(page), (std::vector<std::string>{"p/4", "p/5"}));
  EXPECT_FALSE(page.more);

  // start_after before the prefix starts at the prefix; after it, nothing.
  options.start_after = "a";
  EXPECT_EQ(this->Keys(this->ScanOrDie("default", options)),
            (std::vector<std::string>{"p/1", "p/2"}));
  options.start_after = "z";
  page = this->ScanOrDie("default", options);
  EXPECT_TRUE(page.items.empty());
  EXPECT_FALSE(page.more);

  // A start_after that is not itself a key.
  options.start_after = "p/22";
  EXPECT_EQ(this->Keys(this->ScanOrDie("default", options)),
            (std::vector<std::string>{"p/3", "p/4"}));

  // No prefix: the whole namespace.
  ScanOptions everything;
  everything.limit = 100;
  EXPECT_EQ(this->ScanOrDie("default", everything).items.size(), 7u);

  ScanOptions zero;
  zero.limit = 0;
  EXPECT_EQ(this->store_->Scan("default", zero).status().code(), ErrorCode::kInvalidArgument);
}

TYPED_TEST(StoreTest, ScanMoreLooksPastDeadEntries) {
  ASSERT_OK(this->Apply({{"default", "k1", Put("v", 1)},
                         {"default", "k2", Tombstone(1)},
                         {"default", "k3", Tombstone(1)},
                         {"default", "k4", Put("v", 1)},
                         {"default", "x1", Put("v", 1)},
                         {"default", "x2", Tombstone(1)}}));
  ScanOptions options;
  options.limit = 1;
  options.prefix = "k";
  ScanPage page = this->ScanOrDie("default", options);
  EXPECT_EQ(this->Keys(page), (std::vector<std::string>{"k1"}));
  EXPECT_TRUE(page.more);  // k4, behind two tombstones

  options.prefix = "x";
  page = this->ScanOrDie("default", options);
  EXPECT_EQ(this->Keys(page), (std::vector<std::string>{"x1"}));
  EXPECT_FALSE(page.more);  // only a tombstone follows
}

TYPED_TEST(StoreTest, ScanLookAheadIsBounded) {
  // One live key followed by more dead keys than the look-ahead bound: the
  // page says "maybe more", and the next page is empty and final.
  WriteBatch batch = {{"default", "d/0000", Put("v", 1)}};
  for (int i = 1; i <= 1500; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "d/%04d", i);
    batch.push_back({"default", key, Tombstone(1)});
  }
  ASSERT_OK(this->Apply(batch));
  ScanOptions options;
  options.prefix = "d/";
  options.limit = 1;
  ScanPage page = this->ScanOrDie("default", options);
  EXPECT_EQ(this->Keys(page), (std::vector<std::string>{"d/0000"}));
  EXPECT_TRUE(page.more);
  options.start_after = "d/0000";
  page = this->ScanOrDie("default", options);
  EXPECT_TRUE(page.items.empty());
  EXPECT_FALSE(page.more);
}

TYPED_TEST(StoreTest, ScanKeysOnly) {
  ASSERT_OK(this->Write("default", "k", Put("a long value", 42, 7, 99999)));
  ScanOptions options;
  options.keys_only = true;
  ScanPage page = this->ScanOrDie("default", options);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].key, "k");
  EXPECT_TRUE(page.items[0].entry.value.empty());
  EXPECT_EQ(page.items[0].entry.version, (Version{HlcTimestamp(42), NodeId(7)}));
  EXPECT_EQ(page.items[0].entry.expires_at_ms, 99999);
}

TYPED_TEST(StoreTest, BinaryKeysScanInBytewiseOrder) {
  using namespace std::string_literals;
  std::vector<std::string> keys = {"\x00"s,  "\x00\x00"s, "a"s,        "a\x00"s,       "a\x00z"s,
                                   "a\x7f"s, "a\x80"s,    "a\xff"s,    "a\xff\xff"s,   "b"s,
                                   "\xff"s,  "\xff\x00"s, "\xff\xff"s, "\xff\xff\xff"s};
  std::vector<std::string> shuffled = keys;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(42));
  WriteBatch batch;
  for (const std::string& key : shuffled) batch.push_back({"default", key, Put(key, 1)});
  ASSERT_OK(this->Apply(batch));

  std::sort(keys.begin(), keys.end());  // std::string compares bytes as unsigned
  ScanOptions options;
  options.limit = 1000;
  ScanPage page = this->ScanOrDie("default", options);
  EXPECT_EQ(this->Keys(page), keys);
  for (const KeyEntry& item : page.items) EXPECT_EQ(item.entry.value, item.key);

  auto scan_prefix = [&](std::string prefix) {
    ScanOptions by_prefix;
    by_prefix.prefix = std::move(prefix);
    by_prefix.limit = 1000;
    return this->Keys(this->ScanOrDie("default", by_prefix));
  };
  EXPECT_EQ(scan_prefix("a\x00"s), (std::vector<std::string>{"a\x00"s, "a\x00z"s}));
  EXPECT_EQ(scan_prefix("a\xff"s), (std::vector<std::string>{"a\xff"s, "a\xff\xff"s}));
  EXPECT_EQ(scan_prefix("\xff"s),
            (std::vector<std::string>{"\xff"s, "\xff\x00"s, "\xff\xff"s, "\xff\xff\xff"s}));
  EXPECT_EQ(scan_prefix("\xff\xff"s), (std::vector<std::string>{"\xff\xff"s, "\xff\xff\xff"s}));
  EXPECT_EQ(scan_prefix("\x00"s), (std::vector<std::string>{"\x00"s, "\x00\x00"s}));

  ScanOptions after;
  after.start_after = "a\xff"s;
  after.limit = 2;
  ScanPage next = this->ScanOrDie("default", after);
  EXPECT_EQ(this->Keys(next), (std::vector<std::string>{"a\xff\xff"s, "b"s}));
  EXPECT_TRUE(next.more);

  auto got = this->Read("default", "a\x00z"s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->value, "a\x00z"s);
  EXPECT_FALSE(this->Read("default", "a\x00y"s).has_value());
}

TYPED_TEST(StoreTest, BadBatchChangesNothing) {
  ASSERT_OK(this->Write("default", "k", Put("before", 1)));
  Status empty_key = this->Apply({{"default", "k", Put("after", 2)}, {"default", "", Put("x", 2)}});
  EXPECT_EQ(empty_key.code(), ErrorCode::kInvalidArgument);
  Status long_key = this->Apply({{"default", "k", Put("after", 2)},
                                 {"default", std::string(kMaxKeyBytes + 1, 'x'), Put("x", 2)}});
  EXPECT_EQ(long_key.code(), ErrorCode::kInvalidArgument);
  Entry bad_tombstone = Tombstone(2);
  bad_tombstone.value = "not allowed";
  EXPECT_EQ(this->Apply({{"default", "k", Put("after", 2)}, {"other", "t", bad_tombstone}}).code(),
            ErrorCode::kInvalidArgument);
  Status unknown = this->Apply({{"default", "k", Put("after", 2)}, {"nope", "k", Put("x", 2)}});
  EXPECT_EQ(unknown.code(), ErrorCode::kNotFound);
  EXPECT_EQ(this->Read("default", "k")->value, "before");
  EXPECT_FALSE(this->Read("other", "t").has_value());

  // A key of exactly the limit is fine.
  ASSERT_OK(this->Write("default", std::string(kMaxKeyBytes, 'x'), Put("max", 1)));
}

TYPED_TEST(StoreTest, BatchIsAtomicForReaders) {
  constexpr int kRounds = 300;
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    ScanOptions options;
    options.prefix = "pair/";
    while (!done.load()) {
      auto page = this->store_->Scan("default", options);
      if (!page.ok()) continue;
      if (page->items.size() == 1) ++torn;
      if (page->items.size() == 2 && page->items[0].entry.version != page->items[1].entry.version) {
        ++torn;
      }
    }
  });
  for (int i = 1; i <= kRounds; ++i) {
    ASSERT_OK(this->Apply({{"default", "pair/a", Put("a", static_cast<uint64_t>(i))},
                           {"default", "pair/b", Put("b", static_cast<uint64_t>(i))}}));
  }
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
}

TYPED_TEST(StoreTest, UnknownNamespaceIsNotFound) {
  auto got = this->store_->Get("nope", "k");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(got.status().message(), "namespace 'nope' is not configured");
  EXPECT_EQ(this->store_->Scan("nope", ScanOptions{}).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(this->Write("nope", "k", Put("v", 1)).code(), ErrorCode::kNotFound);
}

TYPED_TEST(StoreTest, NamespacesAreIsolated) {
  ASSERT_OK(this->Apply({{"default", "k", Put("in default", 1)},
                         {"other", "k", Put("in other", 1)},
                         {"other", "only-other", Put("x", 1)}}));
  EXPECT_EQ(this->Read("default", "k")->value, "in default");
  EXPECT_EQ(this->Read("other", "k")->value, "in other");
  EXPECT_FALSE(this->Read("default", "only-other").has_value());
  EXPECT_FALSE(this->Read("third", "k").has_value());
  EXPECT_EQ(this->Keys(this->ScanOrDie("default", ScanOptions{})), (std::vector<std::string>{"k"}));
  EXPECT_EQ(this->Keys(this->ScanOrDie("other", ScanOptions{})),
            (std::vector<std::string>{"k", "only-other"}));
  EXPECT_TRUE(this->ScanOrDie("third", ScanOptions{}).items.empty());
}

TYPED_TEST(StoreTest, StatsCountWrites) {
  ASSERT_OK(this->Apply({{"default", "a", Put("1", 1)}, {"other", "b", Put("2", 1)}}));
  ASSERT_OK(this->store_->Apply({{"default", "c", Put("3", 1)}}, /*sync=*/true));
  StoreStats stats = this->store_->Stats();
  EXPECT_EQ(stats.writes_applied, 3u);
  EXPECT_EQ(stats.write_batches, 2u);
  EXPECT_EQ(stats.synced_batches, 1u);
  ASSERT_EQ(stats.namespaces.size(), 3u);
  std::map<std::string, NamespaceStats> by_name;
  for (const NamespaceStats& ns : stats.namespaces) by_name[ns.ns] = ns;
  EXPECT_GE(by_name["default"].estimated_keys, 1u);
  EXPECT_GT(by_name["default"].estimated_bytes, 0u);
  EXPECT_TRUE(by_name["default"].engine == "rocksdb" || by_name["default"].engine == "memory");
  EXPECT_EQ(by_name["third"].estimated_keys, 0u);
  ASSERT_OK(this->store_->Flush());
}

TYPED_TEST(StoreTest, SurvivesReopen) {
  if constexpr (!TypeParam::kPersistent) {
    GTEST_SKIP() << "this engine keeps nothing across a reopen";
  } else {
    ASSERT_OK(this->Apply({{"default", "k", Put("v", 5)},
                           {"other", "o", Put("ov", 5)},
                           {"default", "gone", Tombstone(5)}}));
    ASSERT_OK(this->Write("default", "k", Put("older", 4)));  // a merge operand on top
    this->Reopen(DefaultSpecs());
    EXPECT_EQ(*this->Read("default", "k"), Put("v", 5));
    EXPECT_EQ(*this->Read("default", "gone"), Tombstone(5));

    // A namespace dropped from the config keeps its data on disk.
    this->Reopen(Specs({"default"}));
    EXPECT_EQ(this->store_->Get("other", "o").status().code(), ErrorCode::kNotFound);
    this->Reopen(Specs({"default", "other", "new"}));
    EXPECT_EQ(this->Read("other", "o")->value, "ov");
    EXPECT_FALSE(this->Read("new", "o").has_value());

    // After a flush the data is in SST files, still merged correctly.
    ASSERT_OK(this->store_->Flush());
    ASSERT_OK(this->Write("default", "k", Put("newest", 6)));
    this->Reopen(DefaultSpecs());
    EXPECT_EQ(this->Read("default", "k")->value, "newest");
  }
}

TYPED_TEST(StoreTest, SecondOpenOfSameDatabaseFails) {
  if constexpr (!TypeParam::kPersistent) {
    GTEST_SKIP() << "no files to lock";
  } else {
    auto second = TypeParam::Open(this->dir_.path(), DefaultSpecs());
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), ErrorCode::kFailedPrecondition) << second.status().ToString();
    EXPECT_NE(second.status().message().find(this->dir_.path()), std::string::npos)
        << second.status().message();
  }
}

TYPED_TEST(StoreTest, ConcurrentWritersConvergeToMergeOfAll) {
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 1500;
  constexpr int kKeys = 40;
  const std::vector<std::string> namespaces = {"default", "other"};

  // Every thread's writes, generated up front so the expected state is known.
  std::vector<WriteBatch> per_thread(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    std::mt19937_64 rng(1000 + t);
    for (int i = 0; i < kOpsPerThread; ++i) {
      std::string ns = namespaces[rng() % namespaces.size()];
      std::string key = "key-" + std::to_string(rng() % kKeys);
      uint64_t ts = rng() % 500 + 1;
      uint64_t origin = rng() % 3 + 1;
      Entry entry =
          rng() % 5 == 0 ? Tombstone(ts, origin) : Put(fmt::format("t{}-{}", t, i), ts, origin);
      per_thread[t].push_back({ns, key, entry});
    }
  }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const WriteBatch& ops = per_thread[t];
      for (size_t i = 0; i < ops.size(); i += 10) {
        WriteBatch batch(ops.begin() + static_cast<std::ptrdiff_t>(i),
                         ops.begin() + static_cast<std::ptrdiff_t>(std::min(i + 10, ops.size())));
        if (!this->store_->Apply(batch, /*sync=*/false).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_EQ(failures.load(), 0);

  std::map<std::pair<std::string, std::string>, Entry> expected;
  for (const WriteBatch& ops : per_thread) {
    for (const WriteOp& op : ops) {
      auto [it, inserted] = expected.try_emplace({op.ns, op.key}, op.entry);
      if (!inserted) it->second = Merge(it->second, op.entry);
    }
  }
  for (const auto& [where, entry] : expected) {
    auto got = this->Read(where.first, where.second);
    ASSERT_TRUE(got.has_value()) << where.first << "/" << where.second;
    EXPECT_EQ(*got, entry) << where.first << "/" << where.second;
  }
}

TYPED_TEST(StoreTest, MergesSurviveFlushesAndCompactions) {
  // Enough flushes that RocksDB compacts level 0, so operands meet base values
  // in memtables, in SST files and in compactions.
  constexpr int kRounds = 8;
  constexpr int kKeys = 300;
  std::mt19937_64 rng(7);
  std::map<std::string, Entry> expected;
  for (int round = 0; round < kRounds; ++round) {
    WriteBatch batch;
    for (int k = 0; k < kKeys; ++k) {
      std::string key = "m/" + std::to_string(k);
      uint64_t ts = rng() % 1000 + 1;
      Entry entry = rng() % 4 == 0 ? Tombstone(ts) : Put(fmt::format("r{}", round), ts);
      batch.push_back({"default", key, entry});
      auto [it, inserted] = expected.try_emplace(key, entry);
      if (!inserted) it->second = Merge(it->second, entry);
    }
    ASSERT_OK(this->Apply(batch));
    ASSERT_OK(this->store_->Flush());
  }
  for (const auto& [key, entry] : expected) EXPECT_EQ(*this->Read("default", key), entry) << key;
  ScanOptions options;
  options.include_dead = true;
  options.limit = kKeys;
  ScanPage page = this->ScanOrDie("default", options);
  ASSERT_EQ(page.items.size(), static_cast<size_t>(kKeys));
  for (const KeyEntry& item : page.items) EXPECT_EQ(item.entry, expected[item.key]) << item.key;
}

// Forwards to a real store; synced writes take a little longer, like an
// fsync on a real disk, so that concurrent submitters queue up.
class SlowSyncStore final : public Store {
 public:
  explicit SlowSyncStore(Store& inner) : inner_(inner) {}
  Result<std::optional<Entry>> Get(std::string_view ns, std::string_view key) override {
    return inner_.Get(ns, key);
  }
  Status Apply(const WriteBatch& batch, bool sync) override {
    if (sync) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return inner_.Apply(batch, sync);
  }
  Status Purge(std::string_view ns, const std::vector<std::string>& keys) override {
    return inner_.Purge(ns, keys);
  }
  Result<ScanPage> Scan(std::string_view ns, const ScanOptions& options) override {
    return inner_.Scan(ns, options);
  }
  StoreStats Stats() override { return inner_.Stats(); }
  Status Flush() override { return inner_.Flush(); }
  LocalTable& local() override { return inner_.local(); }

 private:
  Store& inner_;
};

TYPED_TEST(StoreTest, GroupCommitWithManySubmitters) {
  constexpr int kThreads = 8;
  constexpr int kSubmitsPerThread = 50;
  constexpr int kSubmits = kThreads * kSubmitsPerThread;
  SlowSyncStore slow(*this->store_);
  GroupCommitter committer(slow);
  committer.Start();

  std::atomic<int> callbacks{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSubmitsPerThread; ++i) {
        std::string key = "gc/" + std::to_string(t) + "/" + std::to_string(i);
        committer.Submit({{"default", key, Put("v", 1)}, {"other", key, Put("w", 1)}},
                         [&](Status status, const WriteBatch&) {
                           if (!status.ok()) ++failures;
                           ++callbacks;
                         });
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  committer.Stop();

  EXPECT_EQ(callbacks.load(), kSubmits);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(committer.commits(), 1u);
  EXPECT_LT(committer.commits(), static_cast<uint64_t>(kSubmits));
  EXPECT_EQ(this->store_->Stats().synced_batches, committer.commits());
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kSubmitsPerThread; ++i) {
      std::string key = "gc/" + std::to_string(t) + "/" + std::to_string(i);
      EXPECT_TRUE(this->Read("default", key).has_value()) << key;
      EXPECT_TRUE(this->Read("other", key).has_value()) << key;
    }
  }
}

TYPED_TEST(StoreTest, GroupCommitIsolatesABadBatch) {
  GroupCommitter committer(*this->store_);
  std::vector<Status> results(3, Internal("callback not called"));
  std::vector<std::string> keys_back(3);
  auto record = [&](size_t i) {
    return [&, i](Status s, const WriteBatch& batch) {
      results[i] = s;
      for (const WriteOp& op : batch) keys_back[i] += op.ns + "/" + op.key + " ";
    };
  };
  // Queued before Start(), so the three are combined into one Apply first.
  committer.Submit({{"default", "good1", Put("v", 1)}}, record(0));
  committer.Submit({{"nope", "bad", Put("v", 1)}}, record(1));
  committer.Submit({{"default", "good2", Put("v", 1)}, {"default", "good3", Put("v", 1)}},
                   record(2));
  committer.Start();
  committer.Stop();
  // Each callback gets its own batch back, whatever it was combined with.
  EXPECT_EQ(keys_back[0], "default/good1 ");
  EXPECT_EQ(keys_back[1], "nope/bad ");
  EXPECT_EQ(keys_back[2], "default/good2 default/good3 ");
  EXPECT_TRUE(results[0].ok()) << results[0].ToString();
  EXPECT_EQ(results[1].code(), ErrorCode::kNotFound);
  EXPECT_TRUE(results[2].ok()) << results[2].ToString();
  EXPECT_TRUE(this->Read("default", "good1").has_value());
  EXPECT_TRUE(this->Read("default", "good2").has_value());
  EXPECT_EQ(committer.commits(), 4u);  // the combined try, then each alone

  Status after_stop = Internal("callback not called");
  committer.Submit({{"default", "late", Put("v", 1)}},
                   [&](Status s, const WriteBatch&) { after_stop = s; });
  EXPECT_EQ(after_stop.code(), ErrorCode::kUnavailable);
  EXPECT_FALSE(this->Read("default", "late").has_value());
}

TYPED_TEST(StoreTest, GroupCommitStopWithoutStartDrains) {
  Status result = Internal("callback not called");
  {
    GroupCommitter committer(*this->store_, /*max_batch_ops=*/1);
    committer.Submit({{"default", "a", Put("v", 1)}, {"default", "b", Put("v", 1)}},
                     [&](Status s, const WriteBatch&) { result = s; });
  }  // destructor stops, which drains
  EXPECT_TRUE(result.ok()) << result.ToString();
  EXPECT_TRUE(this->Read("default", "b").has_value());
}

// The local table: plain bytes -> bytes, beside the namespaces.

using Rows = std::vector<std::pair<std::string, std::string>>;

Rows ScanLocal(LocalTable& table, std::string_view prefix, std::string_view start_after = "",
               size_t limit = 1000) {
  auto rows = table.Scan(prefix, start_after, limit);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  return rows.ok() ? std::move(rows).value() : Rows{};
}

std::optional<std::string> GetLocal(LocalTable& table, std::string_view key) {
  auto got = table.Get(key);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  return got.ok() ? *got : std::nullopt;
}

TYPED_TEST(StoreTest, LocalPutGetDelete) {
  LocalTable& local = this->store_->local();
  EXPECT_FALSE(GetLocal(local, "k").has_value());
  ASSERT_OK(local.Put("k", "v1"));
  EXPECT_EQ(GetLocal(local, "k"), "v1");
  // Plain overwrite, no merge: the last write wins whatever it holds.
  ASSERT_OK(local.Put("k", "v0"));
  EXPECT_EQ(GetLocal(local, "k"), "v0");
  ASSERT_OK(local.Put("empty", ""));
  EXPECT_EQ(GetLocal(local, "empty"), "");
  ASSERT_OK(local.Delete("k"));
  EXPECT_FALSE(GetLocal(local, "k").has_value());
  ASSERT_OK(local.Delete("never-there"));

  // Keys: 1..kMaxLocalKeyBytes.
  EXPECT_EQ(local.Put("", "v").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(local.Put(std::string(kMaxLocalKeyBytes + 1, 'x'), "v").code(),
            ErrorCode::kInvalidArgument);
  ASSERT_OK(local.Put(std::string(kMaxLocalKeyBytes, 'x'), "max"));
}

TYPED_TEST(StoreTest, LocalTableIsSeparateFromNamespaces) {
  LocalTable& local = this->store_->local();
  ASSERT_OK(local.Put("k", "local"));
  ASSERT_OK(this->Write("default", "k", Put("replicated", 1)));
  EXPECT_EQ(GetLocal(local, "k"), "local");
  EXPECT_EQ(this->Read("default", "k")->value, "replicated");
  EXPECT_EQ(this->Keys(this->ScanOrDie("default", ScanOptions{})), (std::vector<std::string>{"k"}));
  for (const NamespaceStats& ns : this->store_->Stats().namespaces) EXPECT_NE(ns.ns, "__local");
  EXPECT_EQ(this->store_->Get("__local", "k").status().code(), ErrorCode::kNotFound);
}

TYPED_TEST(StoreTest, LocalScanOrderPrefixStartAfterLimit) {
  using namespace std::string_literals;
  LocalTable& local = this->store_->local();
  std::vector<std::string> keys = {"a"s,    "h/"s,       "h/\x00"s,   "h/1"s,         "h/2"s,
                                   "h/2x"s, "h/\x7f"s,   "h/\x80"s,   "h/\xff"s,      "h0"s,
                                   "\xff"s, "\xff\x00"s, "\xff\xff"s, "\xff\xff\xff"s};
  std::vector<std::string> shuffled = keys;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  LocalBatch batch;
  for (const std::string& key : shuffled) batch.Put(key, "v:" + key);
  ASSERT_OK(local.Write(batch, /*sync=*/false));

  auto keys_of = [](const Rows& rows) {
    std::vector<std::string> out;
    for (const auto& [key, value] : rows) {
      EXPECT_EQ(value, "v:" + key);
      out.push_back(key);
    }
    return out;
  };
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys_of(ScanLocal(local, "")), keys);
  EXPECT_EQ(keys_of(ScanLocal(local, "h/")),
            (std::vector<std::string>{"h/"s, "h/\x00"s, "h/1"s, "h/2"s, "h/2x"s, "h/\x7f"s,
                                      "h/\x80"s, "h/\xff"s}));
  EXPECT_EQ(keys_of(ScanLocal(local, "h/", "", 3)),
            (std::vector<std::string>{"h/"s, "h/\x00"s, "h/1"s}));
  // start_after is exclusive, need not be a key, and may lie before or after
  // the prefix.
  EXPECT_EQ(keys_of(ScanLocal(local, "h/", "h/1", 2)), (std::vector<std::string>{"h/2"s, "h/2x"s}));
  EXPECT_EQ(keys_of(ScanLocal(local, "h/", "h/20", 1)), (std::vector<std::string>{"h/2x"s}));
  EXPECT_EQ(keys_of(ScanLocal(local, "h/", "a", 1)), (std::vector<std::string>{"h/"s}));
  EXPECT_TRUE(ScanLocal(local, "h/", "h0").empty());
  EXPECT_TRUE(ScanLocal(local, "h/", "h/\xff").empty());
  EXPECT_EQ(keys_of(ScanLocal(local, "\xff\xff"s)),
            (std::vector<std::string>{"\xff\xff"s, "\xff\xff\xff"s}));
  EXPECT_EQ(keys_of(ScanLocal(local, "\xff"s, "\xff\x00"s)),
            (std::vector<std::string>{"\xff\xff"s, "\xff\xff\xff"s}));
  EXPECT_TRUE(ScanLocal(local, "nothing").empty());

  // Paging with start_after = the last key visits every key once.
  std::vector<std::string> paged;
  std::string cursor;
  for (;;) {
    Rows page = ScanLocal(local, "", cursor, 4);
    for (const auto& row : page) paged.push_back(row.first);
    if (page.size() < 4) break;
    cursor = page.back().first;
  }
  EXPECT_EQ(paged, keys);

  EXPECT_EQ(local.Scan("", "", 0).status().code(), ErrorCode::kInvalidArgument);
}

TYPED_TEST(StoreTest, LocalBatchAppliesInOrderAndAllOrNothing) {
  LocalTable& local = this->store_->local();
  ASSERT_OK(local.Put("gone", "x"));
  LocalBatch batch;
  batch.Put("a", "1");
  batch.Put("b", "2");
  batch.Delete("gone");
  batch.Put("a", "3");  // a later op on the same key wins
  batch.Delete("b");
  batch.Put("b", "4");
  ASSERT_OK(local.Write(batch, /*sync=*/true));
  EXPECT_EQ(ScanLocal(local, ""), (Rows{{"a", "3"}, {"b", "4"}}));

  LocalBatch bad;
  bad.Put("c", "new");
  bad.Delete("a");
  bad.Put("", "empty key");
  EXPECT_EQ(local.Write(bad, /*sync=*/false).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ScanLocal(local, ""), (Rows{{"a", "3"}, {"b", "4"}}));

  ASSERT_OK(local.Write(LocalBatch{}, /*sync=*/true));
}

TYPED_TEST(StoreTest, LocalBatchIsAtomicForReaders) {
  constexpr int kRounds = 300;
  LocalTable& local = this->store_->local();
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto rows = local.Scan("pair/", "", 10);
      if (!rows.ok()) continue;
      if (rows->size() == 1) ++torn;
      if (rows->size() == 2 && (*rows)[0].second != (*rows)[1].second) ++torn;
    }
  });
  for (int i = 1; i <= kRounds; ++i) {
    LocalBatch batch;
    batch.Put("pair/a", std::to_string(i));
    batch.Put("pair/b", std::to_string(i));
    if (i % 3 == 0) {  // and sometimes both go away together
      batch.Delete("pair/a");
      batch.Delete("pair/b");
    }
    ASSERT_OK(local.Write(batch, /*sync=*/false));
  }
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
}

TYPED_TEST(StoreTest, LocalTableSurvivesReopen) {
  if constexpr (!TypeParam::kPersistent) {
    GTEST_SKIP() << "this engine keeps nothing across a reopen";
  } else {
    LocalTable* local = &this->store_->local();
    ASSERT_OK(local->Put("kept", "1"));
    ASSERT_OK(local->Put("deleted", "2"));
    ASSERT_OK(local->Delete("deleted"));
    this->Reopen(DefaultSpecs());
    local = &this->store_->local();
    EXPECT_EQ(GetLocal(*local, "kept"), "1");
    EXPECT_FALSE(GetLocal(*local, "deleted").has_value());

    // Through a flush to SST files, and with a different namespace list.
    ASSERT_OK(local->Put("flushed", "3"));
    ASSERT_OK(this->store_->Flush());
    ASSERT_OK(local->Put("kept", "4"));
    this->Reopen(Specs({"default"}));
    local = &this->store_->local();
    EXPECT_EQ(ScanLocal(*local, ""), (Rows{{"flushed", "3"}, {"kept", "4"}}));
  }
}

TEST(OpenStoreTest, RejectsBadNamespaceLists) {
  TempDir dir;
  StoreOptions duplicate = SmallOptions(dir.path(), Specs({"default", "default"}));
  EXPECT_EQ(OpenStore(duplicate).status().code(), ErrorCode::kInvalidArgument);
  StoreOptions bad_name = SmallOptions(dir.path(), Specs({"Bad Name"}));
  EXPECT_EQ(OpenStore(bad_name).status().code(), ErrorCode::kInvalidArgument);
}

TEST(OpenStoreTest, MemoryOnlyDoesNotOpenRocksDb) {
  TempDir dir;
  std::vector<NamespaceSpec> specs = Specs({"cache"});
  specs[0].storage = StorageKind::kMemory;
  auto store = OpenStore(SmallOptions(dir.path(), specs));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::error_code ec;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/db", ec));
  EXPECT_EQ((*store)->Stats().namespaces.at(0).engine, "memory");
  // The local table is in memory too.
  ASSERT_OK((*store)->local().Put("k", "v"));
  EXPECT_EQ(GetLocal((*store)->local(), "k"), "v");
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/db", ec));
}

TEST(OpenStoreTest, LocalTableIsOnDiskWhenAnyNamespaceIs) {
  TempDir dir;
  std::vector<NamespaceSpec> specs = Specs({"cache", "default"});
  specs[0].storage = StorageKind::kMemory;
  {
    auto store = OpenStore(SmallOptions(dir.path(), specs));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_OK((*store)->local().Put("k", "v"));
  }
  auto store = OpenStore(SmallOptions(dir.path(), specs));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(GetLocal((*store)->local(), "k"), "v");
}

}  // namespace
}  // namespace meshkv
