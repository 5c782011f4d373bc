#include "frontend/dns/query/zone_view.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/hlc.h"
#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"
#include "records/record_service.h"
#include "replication/kv_service.h"
#include "storage/store.h"

namespace meshkv::dns {
namespace {

Name N(std::string_view text) {
  return *Name::FromText(text);
}

records::Record R(std::string_view name, uint16_t type, std::string_view text, uint32_t ttl) {
  return records::Record{N(name), type, ttl, *RdataFromText(type, text)};
}

TEST(GroupRRsetsTest, OneRRsetPerTypeWithTheSmallestTtlInCanonicalOrder) {
  std::vector<RRset> rrsets = GroupRRsets({
      R("a.test", RrType::kTxt, "zz", 300), R("a.test", RrType::kA, "192.0.2.2", 60),
      R("a.test", RrType::kTxt, "a", 100), R("a.test", RrType::kA, "192.0.2.1", 120),
      R("a.test", RrType::kMx, "10 Mail.a.test.", 60),
      R("a.test", RrType::kMx, "10 mail.A.test.", 60),  // same value, other case
  });
  ASSERT_EQ(rrsets.size(), 3u);
  EXPECT_EQ(rrsets[0].type, RrType::kA);
  EXPECT_EQ(rrsets[0].ttl, 60u);
  EXPECT_EQ(*RdataToText(RrType::kA, rrsets[0].rdatas[0]), "192.0.2.1");
  EXPECT_EQ(*RdataToText(RrType::kA, rrsets[0].rdatas[1]), "192.0.2.2");
  EXPECT_EQ(rrsets[1].type, RrType::kMx);
  EXPECT_EQ(rrsets[1].rdatas.size(), 1u);  // deduplicated (RFC 2181 5)
  EXPECT_EQ(rrsets[2].type, RrType::kTxt);
  EXPECT_EQ(rrsets[2].ttl, 100u);
  // Wire order: the shorter string sorts first (RFC 4034 6.3).
  EXPECT_EQ(*RdataToText(RrType::kTxt, rrsets[2].rdatas[0]), "\"a\"");
}

TEST(StampedCacheTest, OnlyTheCurrentStampHits) {
  StampedCache<int> cache(1000);
  const DataStamp one{1, 1}, two{2, 1};
  cache.Insert("k", one, 10);
  EXPECT_EQ(cache.Find("k", one), 10);
  EXPECT_EQ(cache.Find("k", two), std::nullopt);  // newer data: the entry is stale
  EXPECT_EQ(cache.Find("k", one), std::nullopt);  // and dropped
  cache.Insert("k", one, 11);                     // computed from older data: ignored
  EXPECT_EQ(cache.Find("k", two), std::nullopt);
  cache.Insert("k", two, 12);
  EXPECT_EQ(cache.Find("k", two), 12);
}

TEST(StampedCacheTest, VisitSeesOnlyTheCurrentStamp) {
  StampedCache<std::string> cache(1000);
  const DataStamp one{1, 1}, two{1, 2};
  cache.Insert("k", one, "answer");
  std::string out = "old contents";
  int calls = 0;
  auto copy = [&](const std::string& value) {
    ++calls;
    out.assign(value);
  };
  EXPECT_TRUE(cache.Visit("k", one, copy));
  EXPECT_EQ(out, "answer");
  EXPECT_FALSE(cache.Visit("other", one, copy));  // absent
  EXPECT_FALSE(cache.Visit("k", two, copy));      // newer data: stale, and dropped
  EXPECT_FALSE(cache.Visit("k", one, copy));
  EXPECT_EQ(calls, 1);  // never called on a miss
  EXPECT_EQ(out, "answer");
}

TEST(StampedCacheTest, StaysWithinItsBound) {
  StampedCache<int> cache(32);  // 2 per shard
  const DataStamp stamp{1, 0};
  for (int i = 0; i < 1000; ++i) cache.Insert(std::to_string(i), stamp, i);
  int found = 0;
  for (int i = 0; i < 1000; ++i) found += cache.Find(std::to_string(i), stamp).has_value();
  EXPECT_LE(found, 32);
  EXPECT_GT(found, 0);
}

// A synthetic source whose records change on demand.
class MutableSource final : public SyntheticRecordSource {
 public:
  uint64_t generation() const override { return generation_.load(); }
  std::vector<records::Record> Records(const Name& zone) const override {
    std::lock_guard lock(mutex_);
    return records_;
  }
  void Set(std::vector<records::Record> records) {
    std::lock_guard lock(mutex_);
    records_ = std::move(records);
    generation_.fetch_add(1);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<records::Record> records_;
  std::atomic<uint64_t> generation_{1};
};

class ZoneViewTest : public ::testing::Test {
 protected:
  ZoneViewTest()
      : store_(NewMemoryStore(Namespaces())),
        hlc_(clock_, 500),
        kv_(*store_, nullptr, hlc_, clock_, NodeId(7), Namespaces()),
        records_(kv_, {N("example.test")}, 300) {
    ZoneViewOptions options;
    options.nameservers = {N("ns.elsewhere.example"), N("ns2.example.test")};
    options.soa_rname = N("dns-admin.example.test");
    options.cache_entries = 64;
    view_ = std::make_unique<ZoneView>(records_, &source_, options);
  }

  static std::vector<NamespaceSpec> Namespaces() {
    std::vector<NamespaceSpec> namespaces = BuiltinNamespaces();
    for (NamespaceSpec& ns : namespaces) ns.storage = StorageKind::kMemory;
    return namespaces;
  }

  void Add(const records::Record& record) {
    std::optional<Status> result;
    records_.Add(record, [&](Status s) { result = s; });
    ASSERT_TRUE(result && result->ok());
  }

  std::shared_ptr<const NameData> Lookup(std::string_view name) {
    auto data = view_->Lookup(N(name));
    EXPECT_TRUE(data.ok());
    return data.ok() ? *data : nullptr;
  }

  FakeClock clock_;
  std::unique_ptr<Store> store_;
  Hlc hlc_;
  KvService kv_;
  records::RecordService records_;
  MutableSource source_;
  std::unique_ptr<ZoneView> view_;
};

TEST_F(ZoneViewTest, SynthesizesApexFromConfig) {
  auto apex = Lookup("example.test");
  ASSERT_NE(apex, nullptr);
  const RRset* ns = apex->Find(RrType::kNs);
  ASSERT_NE(ns, nullptr);
  ASSERT_EQ(ns->rdatas.size(), 2u);
  const RRset* soa = apex->Find(RrType::kSoa);
  ASSERT_NE(soa, nullptr);
  auto fields = ParseSoa(soa->rdatas[0]);
  ASSERT_TRUE(fields.ok());
  EXPECT_EQ(fields->mname.ToText(), "ns.elsewhere.example.");
  EXPECT_EQ(fields->rname.ToText(), "dns-admin.example.test.");
  EXPECT_EQ(fields->serial, 1u);  // a zone that never had a record
  // Configured nameservers get no synthesized glue.
  EXPECT_FALSE(Lookup("ns2.example.test")->Exists());
}

TEST_F(ZoneViewTest, CacheFollowsTheSyntheticSource) {
  EXPECT_FALSE(Lookup("svc.example.test")->Exists());
  source_.Set({R("svc.example.test", RrType::kA, "192.0.2.9", 30),
               R("outside.example.org", RrType::kA, "192.0.2.10", 30)});
  auto data = Lookup("svc.example.test");
  ASSERT_NE(data->Find(RrType::kA), nullptr);
  EXPECT_EQ(data->Find(RrType::kA)->ttl, 30u);
  source_.Set({});
  EXPECT_FALSE(Lookup("svc.example.test")->Exists());
}

TEST_F(ZoneViewTest, StoredCnameHidesOtherDataLeftByConcurrentAdds) {
  // RecordService refuses this combination; two nodes can still produce it.
  source_.Set({R("both.example.test", RrType::kA, "192.0.2.1", 30)});
  Add(R("both.example.test", RrType::kCname, "target.example.test.", 30));
  auto data = Lookup("both.example.test");
  ASSERT_EQ(data->rrsets.size(), 1u);
  EXPECT_EQ(data->rrsets[0].type, RrType::kCname);
}

// "h<i>.example.test" (built with fmt: GCC 12 misreports "h" + to_string(i)
// under -Wrestrict).
std::string HostName(int i) {
  return fmt::format("h{}.example.test", i);
}

TEST_F(ZoneViewTest, BoundedCacheStaysCorrect) {
  for (int i = 0; i < 300; ++i) Add(R(HostName(i), RrType::kA, "192.0.2.1", 30));
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 300; ++i) {
      EXPECT_NE(Lookup(HostName(i))->Find(RrType::kA), nullptr);
    }
  }
}

TEST_F(ZoneViewTest, ConcurrentLookupsAndWrites) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto data = view_->Lookup(N("w.example.test"));
        ASSERT_TRUE(data.ok());
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    Add(R("w.example.test", RrType::kA, "192.0.2." + std::to_string(i % 250), 30));
  }
  stop.store(true);
  for (auto& reader : readers) reader.join();
  // Whatever raced, the view now shows every value.
  EXPECT_EQ(Lookup("w.example.test")->Find(RrType::kA)->rdatas.size(), 200u);
}

TEST_F(ZoneViewTest, ZoneContentsStartWithTheSoa) {
  Add(R("b.example.test", RrType::kA, "192.0.2.2", 30));
  Add(R("a.example.test", RrType::kA, "192.0.2.1", 30));
  Add(R("z.a.example.test", RrType::kTxt, "x", 30));
  auto contents = view_->ZoneContents(N("example.test"));
  ASSERT_TRUE(contents.ok());
  std::vector<std::string> order;
  for (const OwnedRRset& owned : *contents) {
    order.push_back(owned.name.ToText() + " " + TypeToText(owned.rrset.type));
  }
  EXPECT_EQ(order,
            (std::vector<std::string>{"example.test. SOA", "example.test. NS", "a.example.test. A",
                                      "z.a.example.test. TXT", "b.example.test. A"}));
}

}  // namespace
}  // namespace meshkv::dns
