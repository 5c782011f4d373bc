#include "replication/kv_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/hlc.h"
#include "storage/store.h"

namespace meshkv {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr NodeId kSelf{0x1111};
constexpr NodeId kOther{0x2222};
constexpr int64_t kMinute = 60'000;

NamespaceSpec Namespace(std::string name) {
  NamespaceSpec spec;
  spec.name = std::move(name);
  spec.storage = StorageKind::kMemory;
  return spec;
}

std::vector<NamespaceSpec> TestNamespaces() {
  NamespaceSpec cache = Namespace("cache");
  cache.default_ttl_ms = kMinute;
  NamespaceSpec small = Namespace("small");
  small.max_value_bytes = 10;
  NamespaceSpec primary = Namespace("primary");
  primary.sync_policy = SyncPolicy::kPrimaryWriter;
  primary.writers = {kOther, kSelf};
  NamespaceSpec elsewhere = Namespace("elsewhere");
  elsewhere.sync_policy = SyncPolicy::kPrimaryWriter;
  elsewhere.writers = {kOther};
  return {Namespace("default"), cache, small, primary, elsewhere};
}

Mutation Put(std::string key, std::string value, std::optional<int64_t> ttl_ms = std::nullopt) {
  return Mutation{Mutation::Kind::kPut, std::move(key), std::move(value), ttl_ms};
}

Mutation Delete(std::string key) {
  return Mutation{Mutation::Kind::kDelete, std::move(key), "", {}};
}

class KvServiceTest : public ::testing::Test {
 protected:
  KvServiceTest()
      : store_(NewMemoryStore(TestNamespaces())),
        hlc_(clock_, /*max_skew_millis=*/500),
        service_(*store_, /*committer=*/nullptr, hlc_, clock_, kSelf, TestNamespaces()) {}

  // Write() with its inline completion turned into a return value.
  Result<std::vector<WriteAck>> Write(std::string_view ns, std::vector<Mutation> mutations) {
    std::optional<Result<std::vector<WriteAck>>> out;
    int calls = 0;
    service_.Write(ns, mutations, [&](Result<std::vector<WriteAck>> result) {
      ++calls;
      out.emplace(std::move(result));
    });
    EXPECT_EQ(calls, 1);
    if (!out) return Internal("Write did not call back inline");
    return std::move(*out);
  }

  WriteAck WriteOne(std::string_view ns, Mutation mutation) {
    auto acks = Write(ns, {std::move(mutation)});
    EXPECT_TRUE(acks.ok()) << acks.status().ToString();
    if (!acks.ok() || acks->size() != 1) return {};
    return (*acks)[0];
  }

  // The live value of `key`, or "<absent>".
  std::string ValueOf(std::string_view ns, std::string_view key) {
    auto entry = service_.Get(ns, key);
    EXPECT_TRUE(entry.ok()) << entry.status().ToString();
    if (!entry.ok() || !*entry) return "<absent>";
    return (*entry)->value;
  }

  std::vector<std::string> ListKeys(std::string_view ns, std::string_view prefix,
                                    std::string_view start_after, size_t limit,
                                    bool* more = nullptr) {
    auto page = service_.List(ns, prefix, start_after, limit, /*keys_only=*/true);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    std::vector<std::string> keys;
    if (!page.ok()) return keys;
    for (const KeyEntry& item : page->items) keys.push_back(item.key);
    if (more != nullptr) *more = page->more;
    return keys;
  }

  FakeClock clock_;
  std::unique_ptr<Store> store_;
  Hlc hlc_;
  KvService service_;
};

TEST_F(KvServiceTest, PutGetDelete) {
  EXPECT_EQ(ValueOf("default", "k"), "<absent>");
  WriteAck put = WriteOne("default", Put("k", "v1"));
  EXPECT_EQ(put.version.origin, kSelf);
  EXPECT_EQ(put.version.timestamp.wall_millis(), clock_.NowMillis());
  EXPECT_EQ(put.expires_at_ms, 0);

  auto entry = service_.Get("default", "k");
  ASSERT_TRUE(entry.ok());
  ASSERT_TRUE(entry->has_value());
  EXPECT_EQ((*entry)->value, "v1");
  EXPECT_EQ((*entry)->version, put.version);
  EXPECT_FALSE((*entry)->tombstone);

  WriteOne("default", Put("k", "v2"));
  EXPECT_EQ(ValueOf("default", "k"), "v2");

  WriteAck deleted = WriteOne("default", Delete("k"));
  EXPECT_GT(deleted.version, put.version);
  EXPECT_EQ(ValueOf("default", "k"), "<absent>");
  // Deletes are idempotent, also for keys that never existed.
  WriteOne("default", Delete("k"));
  WriteOne("default", Delete("never-written"));
  EXPECT_EQ(ValueOf("default", "never-written"), "<absent>");
}

TEST_F(KvServiceTest, NamespacesAreSeparate) {
  WriteOne("default", Put("k", "in-default"));
  WriteOne("cache", Put("k", "in-cache"));
  EXPECT_EQ(ValueOf("default", "k"), "in-default");
  EXPECT_EQ(ValueOf("cache", "k"), "in-cache");
  EXPECT_EQ(ValueOf("small", "k"), "<absent>");
  ASSERT_NE(service_.FindNamespace("cache"), nullptr);
  EXPECT_EQ(service_.FindNamespace("cache")->default_ttl_ms, kMinute);
  EXPECT_EQ(service_.FindNamespace("nope"), nullptr);
}

TEST_F(KvServiceTest, TtlFromRequest) {
  const int64_t start = clock_.NowMillis();
  WriteAck ack = WriteOne("default", Put("k", "v", 5'000));
  EXPECT_EQ(ack.expires_at_ms, start + 5'000);
  auto entry = service_.Get("default", "k");
  ASSERT_TRUE(entry.ok() && entry->has_value());
  EXPECT_EQ((*entry)->expires_at_ms, start + 5'000);

  clock_.Advance(4'999);
  EXPECT_EQ(ValueOf("default", "k"), "v");
  clock_.Advance(1);  // expires_at_ms itself is already dead
  EXPECT_EQ(ValueOf("default", "k"), "<absent>");
  EXPECT_TRUE(ListKeys("default", "", "", 10).empty());
}

TEST_F(KvServiceTest, TtlFromNamespaceDefault) {
  const int64_t start = clock_.NowMillis();
  WriteAck ack = WriteOne("cache", Put("k", "v"));
  EXPECT_EQ(ack.expires_at_ms, start + kMinute);
  // A request ttl overrides the namespace default.
  EXPECT_EQ(WriteOne("cache", Put("short", "v", 1'000)).expires_at_ms, start + 1'000);

  clock_.Advance(1'000);
  EXPECT_EQ(ValueOf("cache", "short"), "<absent>");
  EXPECT_EQ(ValueOf("cache", "k"), "v");
  clock_.Advance(kMinute - 1'000);
  EXPECT_EQ(ValueOf("cache", "k"), "<absent>");
}

TEST_F(KvServiceTest, TtlZeroMeansNever) {
  EXPECT_EQ(WriteOne("default", Put("plain", "v")).expires_at_ms, 0);
  EXPECT_EQ(WriteOne("default", Put("zero", "v", 0)).expires_at_ms, 0);
  // ttl 0 also overrides a namespace default.
  EXPECT_EQ(WriteOne("cache", Put("zero", "v", 0)).expires_at_ms, 0);

  clock_.Advance(365LL * 24 * 3600 * 1000);
  EXPECT_EQ(ValueOf("default", "plain"), "v");
  EXPECT_EQ(ValueOf("default", "zero"), "v");
  EXPECT_EQ(ValueOf("cache", "zero"), "v");
}

TEST_F(KvServiceTest, NegativeTtlRejected) {
  auto acks = Write("default", {Put("k", "v", -1)});
  ASSERT_FALSE(acks.ok());
  EXPECT_EQ(acks.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValueOf("default", "k"), "<absent>");
}

// Regression: Write() used to compute `now + ttl` for any ttl that
// ParseDurationMillis accepts (up to INT64_MAX, ?ttl=106751991167d), which
// overflowed, and the acknowledged write was dead on arrival. TTLs are now
// capped at kMaxTtlMillis.
TEST_F(KvServiceTest, HugeTtlIsRejected) {
  for (int64_t ttl : {kMaxTtlMillis + 1, std::numeric_limits<int64_t>::max(),
                      std::numeric_limits<int64_t>::max() - clock_.NowMillis() + 1}) {
    auto acks = Write("default", {Put("k", "v", ttl)});
    ASSERT_FALSE(acks.ok()) << "ttl " << ttl;
    EXPECT_EQ(acks.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(ValueOf("default", "k"), "<absent>");
  }
  WriteAck ack = WriteOne("default", Put("k", "v", kMaxTtlMillis));
  EXPECT_EQ(ack.expires_at_ms, clock_.NowMillis() + kMaxTtlMillis);
  EXPECT_EQ(ValueOf("default", "k"), "v");
}

TEST_F(KvServiceTest, OverwriteClearsExpiry) {
  WriteOne("default", Put("k", "short-lived", 1'000));
  WriteOne("default", Put("k", "forever"));
  clock_.Advance(2'000);
  EXPECT_EQ(ValueOf("default", "k"), "forever");
}

TEST_F(KvServiceTest, ValueSizeLimit) {
  WriteOne("small", Put("fits", std::string(10, 'v')));
  auto acks = Write("small", {Put("big", std::string(11, 'v'))});
  ASSERT_FALSE(acks.ok());
  EXPECT_EQ(acks.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_THAT(acks.status().message(), HasSubstr("11 bytes"));
  EXPECT_THAT(acks.status().message(), HasSubstr("at most 10"));
  EXPECT_EQ(ValueOf("small", "big"), "<absent>");
  // Deletes carry no value, so the limit does not apply.
  WriteOne("small", Delete("fits"));

  // The default namespace allows the default 1 MiB.
  WriteOne("default", Put("max", std::string(NamespaceSpec::kDefaultMaxValueBytes, 'v')));
  auto too_big =
      Write("default", {Put("over", std::string(NamespaceSpec::kDefaultMaxValueBytes + 1, 'v'))});
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), ErrorCode::kResourceExhausted);
}

TEST_F(KvServiceTest, UnknownNamespace) {
  auto get = service_.Get("nope", "k");
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(get.status().message(), HasSubstr("'nope'"));

  auto write = Write("nope", {Put("k", "v")});
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(service_.ValidateMutations("nope", {Put("k", "v")}).code(), ErrorCode::kNotFound);

  auto list = service_.List("nope", "", "", 10, false);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), ErrorCode::kNotFound);
}

TEST_F(KvServiceTest, KeyValidation) {
  const std::string longest(kMaxKeyBytes, 'k');
  const std::string too_long(kMaxKeyBytes + 1, 'k');
  for (const std::string& bad : {std::string(), too_long}) {
    auto get = service_.Get("default", bad);
    ASSERT_FALSE(get.ok());
    EXPECT_EQ(get.status().code(), ErrorCode::kInvalidArgument);
    for (const Mutation& m : {Put(bad, "v"), Delete(bad)}) {
      auto write = Write("default", {m});
      ASSERT_FALSE(write.ok());
      EXPECT_EQ(write.status().code(), ErrorCode::kInvalidArgument);
    }
  }
  WriteOne("default", Put(longest, "v"));
  EXPECT_EQ(ValueOf("default", longest), "v");
  // Any byte values are allowed.
  const std::string binary("\0\xff/\n", 4);
  WriteOne("default", Put(binary, "b"));
  EXPECT_EQ(ValueOf("default", binary), "b");
}

TEST_F(KvServiceTest, PrimaryWriterPolicy) {
  // This node is one of the writers of "primary".
  WriteOne("primary", Put("k", "v"));
  EXPECT_EQ(ValueOf("primary", "k"), "v");

  // "elsewhere" accepts writes only on kOther.
  for (const Mutation& m : {Put("k", "v"), Delete("k")}) {
    auto write = Write("elsewhere", {m});
    ASSERT_FALSE(write.ok());
    EXPECT_EQ(write.status().code(), ErrorCode::kPermissionDenied);
    EXPECT_THAT(write.status().message(), HasSubstr(kSelf.ToString()));
  }
  EXPECT_EQ(service_.ValidateMutations("elsewhere", {Put("k", "v")}).code(),
            ErrorCode::kPermissionDenied);
  // Reads are still served.
  EXPECT_EQ(ValueOf("elsewhere", "k"), "<absent>");
}

TEST_F(KvServiceTest, PrimaryWriterRefusesOtherNodes) {
  // The same namespaces seen from kOther: it may write "elsewhere" but not a
  // namespace whose writers list only kSelf.
  std::vector<NamespaceSpec> namespaces = TestNamespaces();
  namespaces[3].writers = {kSelf};
  KvService other(*store_, nullptr, hlc_, clock_, kOther, namespaces);
  EXPECT_TRUE(other.ValidateMutations("elsewhere", {Put("k", "v")}).ok());
  EXPECT_EQ(other.ValidateMutations("primary", {Put("k", "v")}).code(),
            ErrorCode::kPermissionDenied);
}

TEST_F(KvServiceTest, BatchAppliesEveryMutation) {
  WriteOne("default", Put("c", "old"));
  auto acks = Write("default", {Put("a", "1"), Put("b", "2", 1'000), Delete("c")});
  ASSERT_TRUE(acks.ok()) << acks.status().ToString();
  ASSERT_EQ(acks->size(), 3u);
  EXPECT_EQ((*acks)[0].expires_at_ms, 0);
  EXPECT_EQ((*acks)[1].expires_at_ms, clock_.NowMillis() + 1'000);
  EXPECT_EQ((*acks)[2].expires_at_ms, 0);
  EXPECT_EQ(ValueOf("default", "a"), "1");
  EXPECT_EQ(ValueOf("default", "b"), "2");
  EXPECT_EQ(ValueOf("default", "c"), "<absent>");
}

TEST_F(KvServiceTest, BatchWithOneBadMutationChangesNothing) {
  WriteOne("small", Put("a", "old"));
  const std::vector<std::vector<Mutation>> bad_batches = {
      {Put("a", "new"), Put("b", "new"), Put("", "empty key")},
      {Put("a", "new"), Put("b", std::string(11, 'v'))},
      {Delete("a"), Put("b", "new", -5)},
      {Put("a", "new"), Delete(std::string(kMaxKeyBytes + 1, 'k'))},
  };
  for (const auto& batch : bad_batches) {
    EXPECT_FALSE(service_.ValidateMutations("small", batch).ok());
    auto acks = Write("small", batch);
    EXPECT_FALSE(acks.ok());
    EXPECT_EQ(ValueOf("small", "a"), "old");
    EXPECT_EQ(ValueOf("small", "b"), "<absent>");
  }
}

TEST_F(KvServiceTest, BatchIsAtomicForConcurrentReaders) {
  // Each batch sets both keys to the same value; a List (one snapshot) must
  // never see them differ.
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto page = service_.List("default", "pair/", "", 10, false);
      if (!page.ok() || page->items.size() == 1 ||
          (page->items.size() == 2 && page->items[0].entry.value != page->items[1].entry.value)) {
        torn.fetch_add(1);
      }
    }
  });
  for (int i = 0; i < 2'000; ++i) {
    const std::string value = std::to_string(i);
    auto acks = Write("default", {Put("pair/a", value), Put("pair/b", value)});
    EXPECT_TRUE(acks.ok()) << acks.status().ToString();
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(ValueOf("default", "pair/a"), "1999");
  EXPECT_EQ(ValueOf("default", "pair/b"), "1999");
}

TEST_F(KvServiceTest, ValidateMutationsAcceptsWhatWriteApplies) {
  const std::vector<Mutation> batch = {Put("a", "1"), Delete("b"), Put("c", "", 0)};
  EXPECT_TRUE(service_.ValidateMutations("default", batch).ok());
  EXPECT_TRUE(Write("default", batch).ok());
}

TEST_F(KvServiceTest, VersionsStrictlyIncrease) {
  std::vector<Version> versions;
  // Several writes in the same millisecond, a batch, and the clock stepping
  // backwards: versions keep increasing.
  for (int i = 0; i < 5; ++i) versions.push_back(WriteOne("default", Put("k", "v")).version);
  auto acks = Write("default", {Put("a", "1"), Put("b", "2"), Delete("c")});
  ASSERT_TRUE(acks.ok());
  for (const WriteAck& ack : *acks) versions.push_back(ack.version);
  clock_.Advance(-10'000);
  versions.push_back(WriteOne("default", Put("k", "after step back")).version);
  clock_.Advance(20'000);
  versions.push_back(WriteOne("default", Delete("k")).version);

  for (size_t i = 1; i < versions.size(); ++i) {
    EXPECT_LT(versions[i - 1], versions[i]) << "write " << i;
    EXPECT_EQ(versions[i].origin, kSelf);
  }
  // A write after the step back still wins over the earlier ones.
  clock_.Advance(-20'000);
  WriteOne("default", Put("k", "latest"));
  EXPECT_EQ(ValueOf("default", "k"), "latest");
}

TEST_F(KvServiceTest, ListWithPrefixStartAfterAndLimit) {
  for (const char* key : {"a/1", "a/2", "a/3", "b/1", "a"}) WriteOne("default", Put(key, key));
  WriteOne("default", Put("a/0", "expiring", 1'000));
  WriteOne("default", Put("a/4", "deleted"));
  WriteOne("default", Delete("a/4"));
  WriteOne("cache", Put("a/9", "other namespace"));
  clock_.Advance(1'000);

  bool more = true;
  EXPECT_THAT(ListKeys("default", "a/", "", 10, &more), ElementsAre("a/1", "a/2", "a/3"));
  EXPECT_FALSE(more);
  EXPECT_THAT(ListKeys("default", "", "", 100, &more),
              ElementsAre("a", "a/1", "a/2", "a/3", "b/1"));
  EXPECT_FALSE(more);

  // Paging: limit, then start_after (exclusive) the last key returned.
  EXPECT_THAT(ListKeys("default", "a/", "", 2, &more), ElementsAre("a/1", "a/2"));
  EXPECT_TRUE(more);
  EXPECT_THAT(ListKeys("default", "a/", "a/2", 2, &more), ElementsAre("a/3"));
  EXPECT_FALSE(more);
  EXPECT_THAT(ListKeys("default", "", "a/3", 10, &more), ElementsAre("b/1"));
  EXPECT_THAT(ListKeys("default", "a/", "a/3", 10, &more), ElementsAre());
  EXPECT_FALSE(more);
  EXPECT_THAT(ListKeys("default", "c", "", 10, &more), ElementsAre());

  auto full = service_.List("default", "a/", "", 1, /*keys_only=*/false);
  ASSERT_TRUE(full.ok());
  ASSERT_EQ(full->items.size(), 1u);
  EXPECT_EQ(full->items[0].key, "a/1");
  EXPECT_EQ(full->items[0].entry.value, "a/1");
  auto keys_only = service_.List("default", "a/", "", 1, /*keys_only=*/true);
  ASSERT_TRUE(keys_only.ok());
  ASSERT_EQ(keys_only->items.size(), 1u);
  EXPECT_EQ(keys_only->items[0].entry.value, "");
}

}  // namespace
}  // namespace meshkv
