// HintStore over both LocalTables: the memory one, and RocksDB's (which
// also survives a real reopen of the database).
#include "replication/hints.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/metrics.h"
#include "model/entry.h"
#include "storage/store.h"
#include "storage/test_temp_dir.h"

namespace meshkv::replication {
namespace {

#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    const ::meshkv::Status assert_ok_status_ = (expr);                   \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString(); \
  } while (0)

constexpr NodeId kTargetA{0xa1};
constexpr NodeId kTargetB{0xb2};
constexpr int64_t kHour = 3600 * 1000;

std::string EntryBytes(std::string value, uint64_t ts = 1) {
  Entry entry;
  entry.value = std::move(value);
  entry.version = Version{HlcTimestamp(ts), NodeId(7)};
  return EncodeEntry(entry);
}

// The bytes one hint takes against the bound (row key + value; hints.h).
uint64_t RowBytes(std::string_view ns, std::string_view key, std::string_view entry) {
  return 18 + 1 + 8 + 4 + ns.size() + 4 + key.size() + entry.size();
}

// Table "restart": the memory table is kept as is (a new HintStore over it is
// the restart); RocksDB is closed and opened again.
struct MemoryTable {
  static constexpr bool kReopens = false;
  explicit MemoryTable(const std::string&) : table(NewMemoryLocalTable()) {}
  LocalTable& local() { return *table; }
  void Reopen() {}
  std::unique_ptr<LocalTable> table;
};

struct RocksTable {
  static constexpr bool kReopens = true;
  explicit RocksTable(const std::string& dir) : dir_(dir) { Reopen(); }
  LocalTable& local() { return store->local(); }
  void Reopen() {
    store.reset();
    StoreOptions options;
    options.path = dir_ + "/db";
    options.namespaces.emplace_back().name = "default";
    options.block_cache_bytes = 8 << 20;
    options.write_buffer_bytes = 4 << 20;
    auto opened = OpenRocksStore(options);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (opened.ok()) store = std::move(opened).value();
  }
  std::string dir_;
  std::unique_ptr<Store> store;
};

template <typename Table>
class HintStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty()) << "cannot create a temporary directory";
    table_ = std::make_unique<Table>(dir_.path());
    ASSERT_NE(&table_->local(), nullptr);
    Restart();
  }

  // A new HintStore (and, for RocksDB, a reopened database), loaded.
  void Restart() {
    hints_.reset();
    table_->Reopen();
    hints_ = std::make_unique<HintStore>(table_->local(), clock_, limits_, &metrics_);
    ASSERT_OK(hints_->Load());
  }

  uint64_t CounterValue(const std::string& name, const Labels& labels = {}) {
    return metrics_.GetCounter(name, "", labels)->value();
  }
  int64_t GaugeValue(const std::string& name) { return metrics_.GetGauge(name, "")->value(); }

  std::vector<Hint> PeekAll(NodeId target) {
    auto hints = hints_->Peek(target, size_t{1} << 30);
    EXPECT_TRUE(hints.ok()) << hints.status().ToString();
    return hints.ok() ? std::move(hints).value() : std::vector<Hint>{};
  }
  static std::vector<std::string> Keys(const std::vector<Hint>& hints) {
    std::vector<std::string> keys;
    for (const Hint& hint : hints) keys.push_back(hint.key);
    return keys;
  }
  static std::vector<uint64_t> Seqs(const std::vector<Hint>& hints) {
    std::vector<uint64_t> seqs;
    for (const Hint& hint : hints) seqs.push_back(hint.seq);
    return seqs;
  }

  TempDir dir_;  // first: removed after the database is closed
  FakeClock clock_;
  MetricsRegistry metrics_;
  HintLimits limits_;
  std::unique_ptr<Table> table_;
  std::unique_ptr<HintStore> hints_;
};

struct TableNames {
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, RocksTable> ? "Rocks" : "Memory";
  }
};
using Tables = ::testing::Types<MemoryTable, RocksTable>;
TYPED_TEST_SUITE(HintStoreTest, Tables, TableNames);

TYPED_TEST(HintStoreTest, AddPeekRemoveInOrder) {
  const int64_t start = this->clock_.NowMillis();
  ASSERT_OK(this->hints_->Add(kTargetA, "default", "k1", EntryBytes("v1")));
  this->clock_.Advance(5);
  ASSERT_OK(this->hints_->Add(kTargetA, "default", "k2", EntryBytes("v2")));
  ASSERT_OK(this->hints_->Add(kTargetA, "other", "k3", EntryBytes("v3")));

  std::vector<Hint> all = this->PeekAll(kTargetA);
  ASSERT_EQ(this->Keys(all), (std::vector<std::string>{"k1", "k2", "k3"}));
  EXPECT_LT(all[0].seq, all[1].seq);
  EXPECT_LT(all[1].seq, all[2].seq);
  EXPECT_EQ(all[0].ns, "default");
  EXPECT_EQ(all[2].ns, "other");
  EXPECT_EQ(all[1].entry, EntryBytes("v2"));
  EXPECT_EQ(all[0].created_ms, start);
  EXPECT_EQ(all[1].created_ms, start + 5);
  EXPECT_EQ(this->hints_->PendingCount(kTargetA), 3u);
  const uint64_t row = RowBytes("default", "k1", EntryBytes("v1"));
  const uint64_t row3 = RowBytes("other", "k3", EntryBytes("v3"));
  EXPECT_EQ(this->hints_->PendingBytes(kTargetA), 2 * row + row3);
  EXPECT_EQ(this->hints_->Targets(), (std::vector<NodeId>{kTargetA}));

  // Peek removes nothing; a byte budget caps the batch, but never below one.
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetA)).size(), 3u);
  auto one = this->hints_->Peek(kTargetA, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(this->Keys(*one), (std::vector<std::string>{"k1"}));
  auto two = this->hints_->Peek(kTargetA, 2 * row + 1);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(this->Keys(*two), (std::vector<std::string>{"k1", "k2"}));

  ASSERT_OK(this->hints_->Remove(kTargetA, {all[0].seq, all[1].seq}));
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetA)), (std::vector<std::string>{"k3"}));
  EXPECT_EQ(this->hints_->PendingCount(kTargetA), 1u);
  EXPECT_EQ(this->hints_->PendingBytes(kTargetA), row3);
  // Removing again (or seqs never stored) changes nothing and counts nothing.
  ASSERT_OK(this->hints_->Remove(kTargetA, {all[0].seq, all[1].seq, 999}));
  EXPECT_EQ(this->hints_->PendingCount(kTargetA), 1u);
  EXPECT_EQ(this->CounterValue("meshkv_hints_replayed_total"), 2u);

  ASSERT_OK(this->hints_->Remove(kTargetA, {all[2].seq}));
  EXPECT_TRUE(this->PeekAll(kTargetA).empty());
  EXPECT_TRUE(this->hints_->Targets().empty());
  EXPECT_EQ(this->hints_->PendingBytes(kTargetA), 0u);
  EXPECT_EQ(this->CounterValue("meshkv_hints_queued_total"), 3u);
  EXPECT_EQ(this->CounterValue("meshkv_hints_replayed_total"), 3u);
  EXPECT_EQ(this->GaugeValue("meshkv_hints_pending"), 0);
  EXPECT_EQ(this->GaugeValue("meshkv_hints_pending_bytes"), 0);
  // The metrics render.
  EXPECT_NE(this->metrics_.Render().find("meshkv_hints_dropped_total{reason=\"bytes\"} 0"),
            std::string::npos);
}

TYPED_TEST(HintStoreTest, BytesBoundDropsOldestFirst) {
  const std::string entry = EntryBytes("0123456789");
  const uint64_t row = RowBytes("default", "key-00", entry);
  this->limits_.max_bytes_per_target = static_cast<int64_t>(3 * row + row / 2);
  this->Restart();

  for (int i = 0; i < 10; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "key-%02d", i);
    ASSERT_OK(this->hints_->Add(kTargetA, "default", key, entry));
    EXPECT_LE(this->hints_->PendingBytes(kTargetA),
              static_cast<uint64_t>(this->limits_.max_bytes_per_target));
  }
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetA)),
            (std::vector<std::string>{"key-07", "key-08", "key-09"}));
  EXPECT_EQ(this->hints_->PendingCount(kTargetA), 3u);
  EXPECT_EQ(this->hints_->PendingBytes(kTargetA), 3 * row);
  EXPECT_EQ(this->CounterValue("meshkv_hints_dropped_total", {{"reason", "bytes"}}), 7u);
  EXPECT_EQ(this->CounterValue("meshkv_hints_queued_total"), 10u);

  // A bigger hint makes room by dropping as many old ones as it needs.
  const std::string big = EntryBytes(std::string(row + 10, 'x'));
  ASSERT_OK(this->hints_->Add(kTargetA, "default", "big", big));
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetA)), (std::vector<std::string>{"key-09", "big"}));
  EXPECT_EQ(this->CounterValue("meshkv_hints_dropped_total", {{"reason", "bytes"}}), 9u);

  // One hint larger than the whole bound is refused, counted, and drops nothing.
  const std::string huge = EntryBytes(std::string(4 * row, 'x'));
  EXPECT_EQ(this->hints_->Add(kTargetA, "default", "huge", huge).code(),
            ErrorCode::kResourceExhausted);
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetA)), (std::vector<std::string>{"key-09", "big"}));
  EXPECT_EQ(this->CounterValue("meshkv_hints_dropped_total", {{"reason", "bytes"}}), 10u);
  EXPECT_EQ(this->CounterValue("meshkv_hints_queued_total"), 11u);

  // The table holds exactly what the counts say.
  auto rows = this->table_->local().Scan("h/", "", 100);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 2u);
}

TYPED_TEST(HintStoreTest, ExpiredHintsAreRemovedWhenSeen) {
  this->limits_.max_age_ms = 3 * kHour;
  this->Restart();
  ASSERT_OK(this->hints_->Add(kTargetA, "default", "old", EntryBytes("v")));
  ASSERT_OK(this->hints_->Add(kTargetB, "default", "old-b", EntryBytes("v")));
  this->clock_.Advance(2 * kHour);
  ASSERT_OK(this->hints_->Add(kTargetA, "default", "young", EntryBytes("v")));
  this->clock_.Advance(kHour - 1);
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetA)), (std::vector<std::string>{"old", "young"}));

  this->clock_.Advance(1);  // "old" is exactly max_age old now
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetA)), (std::vector<std::string>{"young"}));
  EXPECT_EQ(this->CounterValue("meshkv_hints_expired_total"), 1u);
  EXPECT_EQ(this->hints_->PendingCount(kTargetA), 1u);
  EXPECT_EQ(this->hints_->PendingBytes(kTargetA), RowBytes("default", "young", EntryBytes("v")));
  // Target B was not looked at yet: still counted as pending.
  EXPECT_EQ(this->hints_->PendingCount(kTargetB), 1u);

  // The sweep removes what no Peek will see.
  this->clock_.Advance(2 * kHour);
  auto swept = this->hints_->DropExpired();
  ASSERT_TRUE(swept.ok()) << swept.status().ToString();
  EXPECT_EQ(*swept, 2u);
  EXPECT_TRUE(this->hints_->Targets().empty());
  EXPECT_EQ(this->CounterValue("meshkv_hints_expired_total"), 3u);
  EXPECT_EQ(this->GaugeValue("meshkv_hints_pending"), 0);
  EXPECT_EQ(this->GaugeValue("meshkv_hints_pending_bytes"), 0);
  auto rows = this->table_->local().Scan("h/", "", 100);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
  // Removing an expired hint after the fact is a no-op, not a replay.
  ASSERT_OK(this->hints_->Remove(kTargetA, {1, 2, 3}));
  EXPECT_EQ(this->CounterValue("meshkv_hints_replayed_total"), 0u);
}

TYPED_TEST(HintStoreTest, RestartKeepsHintsAndSeqOrder) {
  ASSERT_OK(this->hints_->Add(kTargetA, "default", "a1", EntryBytes("v")));
  ASSERT_OK(this->hints_->Add(kTargetB, "default", "b1", EntryBytes("v")));
  ASSERT_OK(this->hints_->Add(kTargetA, "default", "a2", EntryBytes("v")));
  ASSERT_OK(this->hints_->Add(kTargetA, "default", "a3", EntryBytes("v")));
  std::vector<Hint> before = this->PeekAll(kTargetA);
  ASSERT_OK(this->hints_->Remove(kTargetA, {before[0].seq}));
  const uint64_t bytes_a = this->hints_->PendingBytes(kTargetA);
  const uint64_t bytes_b = this->hints_->PendingBytes(kTargetB);

  this->Restart();
  EXPECT_EQ(this->hints_->Targets(), (std::vector<NodeId>{kTargetA, kTargetB}));
  EXPECT_EQ(this->hints_->PendingCount(kTargetA), 2u);
  EXPECT_EQ(this->hints_->PendingCount(kTargetB), 1u);
  EXPECT_EQ(this->hints_->PendingBytes(kTargetA), bytes_a);
  EXPECT_EQ(this->hints_->PendingBytes(kTargetB), bytes_b);
  EXPECT_EQ(this->GaugeValue("meshkv_hints_pending"), 3);
  EXPECT_EQ(this->GaugeValue("meshkv_hints_pending_bytes"),
            static_cast<int64_t>(bytes_a + bytes_b));

  // New hints come after the old ones, for every target.
  ASSERT_OK(this->hints_->Add(kTargetA, "default", "a4", EntryBytes("v")));
  ASSERT_OK(this->hints_->Add(kTargetB, "default", "b2", EntryBytes("v")));
  std::vector<Hint> after = this->PeekAll(kTargetA);
  EXPECT_EQ(this->Keys(after), (std::vector<std::string>{"a2", "a3", "a4"}));
  EXPECT_GT(after[2].seq, before.back().seq);
  EXPECT_EQ(after[0].created_ms, before[1].created_ms);
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetB)), (std::vector<std::string>{"b1", "b2"}));

  // Load again on the same store starts over without double counting.
  ASSERT_OK(this->hints_->Load());
  EXPECT_EQ(this->hints_->PendingCount(kTargetA), 3u);
  EXPECT_EQ(this->GaugeValue("meshkv_hints_pending"), 5);
}

TYPED_TEST(HintStoreTest, TargetsAreIsolated) {
  const std::string entry = EntryBytes("v");
  const uint64_t row = RowBytes("default", "a0", entry);
  this->limits_.max_bytes_per_target = static_cast<int64_t>(2 * row);
  this->Restart();
  for (std::string key : {"a0", "a1", "a2", "a3"}) {
    ASSERT_OK(this->hints_->Add(kTargetA, "default", key, entry));
  }
  ASSERT_OK(this->hints_->Add(kTargetB, "default", "b0", entry));
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetA)), (std::vector<std::string>{"a2", "a3"}));
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetB)), (std::vector<std::string>{"b0"}));
  EXPECT_TRUE(this->PeekAll(NodeId(0xc3)).empty());

  // Another target's seqs remove nothing here.
  std::vector<Hint> a = this->PeekAll(kTargetA);
  ASSERT_OK(this->hints_->Remove(kTargetB, {a[0].seq, a[1].seq}));
  EXPECT_EQ(this->hints_->PendingCount(kTargetA), 2u);
  EXPECT_EQ(this->hints_->PendingCount(kTargetB), 1u);
  ASSERT_OK(this->hints_->Remove(kTargetA, this->Seqs(a)));
  EXPECT_EQ(this->hints_->Targets(), (std::vector<NodeId>{kTargetB}));
}

TYPED_TEST(HintStoreTest, GarbageRowsAreSkippedAndCounted) {
  using namespace std::string_literals;
  LocalTable& table = this->table_->local();
  const std::string target_a = "h/\0\0\0\0\0\0\0\xa1"s;
  ASSERT_OK(this->hints_->Add(kTargetA, "default", "good", EntryBytes("v")));
  LocalBatch garbage;
  garbage.Put("h/short"s, "x");
  garbage.Put(target_a + "\0\0\0\0\0\0\0\x01\x02"s, "key one byte too long");
  garbage.Put("h/\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x05"s, "target zero");
  garbage.Put(target_a + "\0\0\0\0\0\0\0\x70"s, "");               // empty value
  garbage.Put(target_a + "\0\0\0\0\0\0\0\x71"s, "\x01\x02\x03"s);  // truncated header
  garbage.Put(target_a + "\0\0\0\0\0\0\0\x72"s, "\x09"s + std::string(20, '\0'));  // format
  // Header fine, namespace size beyond the row.
  garbage.Put(target_a + "\0\0\0\0\0\0\0\x73"s,
              "\x01"s + std::string(8, '\0') + "\xff\xff\xff\x7f"s + "default");
  // Everything fine but the entry bytes.
  garbage.Put(target_a + "\0\0\0\0\0\0\0\x74"s,
              "\x01"s + std::string(8, '\0') + "\x07\0\0\0default"s + "\x01\0\0\0k"s + "junk");
  garbage.Put("x/not-a-hint", "kept");
  ASSERT_OK(table.Write(garbage, /*sync=*/false));

  this->Restart();
  EXPECT_EQ(this->CounterValue("meshkv_hints_dropped_total", {{"reason", "corrupt"}}), 8u);
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetA)), (std::vector<std::string>{"good"}));
  EXPECT_EQ(this->hints_->PendingCount(kTargetA), 1u);
  EXPECT_EQ(this->hints_->Targets(), (std::vector<NodeId>{kTargetA}));
  auto rows = this->table_->local().Scan("", "", 100);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);  // the good hint and the row outside "h/"
  EXPECT_EQ((*rows)[1], (std::pair<std::string, std::string>{"x/not-a-hint", "kept"}));

  // Garbage that appears after Load is removed when Peek meets it.
  ASSERT_OK(this->hints_->Add(kTargetA, "default", "good2", EntryBytes("v")));
  ASSERT_OK(this->table_->local().Put(target_a + "\0\0\0\0\0\0\0\x00"s, "bad"));
  EXPECT_EQ(this->Keys(this->PeekAll(kTargetA)), (std::vector<std::string>{"good", "good2"}));
  EXPECT_EQ(this->CounterValue("meshkv_hints_dropped_total", {{"reason", "corrupt"}}), 9u);
  EXPECT_EQ(this->hints_->PendingCount(kTargetA), 2u);
  auto left = this->table_->local().Get(target_a + "\0\0\0\0\0\0\0\x00"s);
  ASSERT_TRUE(left.ok());
  EXPECT_FALSE(left->has_value());
}

TYPED_TEST(HintStoreTest, BadInputIsRefused) {
  const std::string entry = EntryBytes("v");
  EXPECT_EQ(this->hints_->Add(NodeId(), "default", "k", entry).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(this->hints_->Add(kTargetA, "Bad NS", "k", entry).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(this->hints_->Add(kTargetA, "default", "", entry).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      this->hints_->Add(kTargetA, "default", std::string(kMaxKeyBytes + 1, 'k'), entry).code(),
      ErrorCode::kInvalidArgument);
  EXPECT_EQ(this->hints_->Add(kTargetA, "default", "k", "not an entry").code(),
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(this->hints_->Targets().empty());
  EXPECT_EQ(this->CounterValue("meshkv_hints_queued_total"), 0u);

  HintStore unloaded(this->table_->local(), this->clock_, this->limits_, nullptr);
  EXPECT_EQ(unloaded.Add(kTargetA, "default", "k", entry).code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(unloaded.Peek(kTargetA, 100).status().code(), ErrorCode::kFailedPrecondition);
}

TYPED_TEST(HintStoreTest, ConcurrentAddAndReplayKeepCountsExact) {
  constexpr int kWriters = 3;
  constexpr int kHintsPerWriter = 300;
  std::atomic<bool> writers_done{false};
  std::atomic<uint64_t> replayed{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      NodeId target(0x100 + static_cast<uint64_t>(w % 2));
      for (int i = 0; i < kHintsPerWriter; ++i) {
        Status status = this->hints_->Add(target, "default", "k" + std::to_string(i),
                                          EntryBytes("v" + std::to_string(w)));
        EXPECT_TRUE(status.ok()) << status.ToString();
      }
    });
  }
  std::thread replayer([&] {
    for (;;) {
      bool finished = writers_done.load();
      bool any = false;
      for (NodeId target : this->hints_->Targets()) {
        auto batch = this->hints_->Peek(target, 2000);
        if (!batch.ok() || batch->empty()) continue;
        any = true;
        if (this->hints_->Remove(target, this->Seqs(*batch)).ok()) replayed += batch->size();
      }
      if (finished && !any) return;
    }
  });
  for (std::thread& thread : threads) thread.join();
  writers_done = true;
  replayer.join();

  EXPECT_EQ(replayed.load(), static_cast<uint64_t>(kWriters * kHintsPerWriter));
  EXPECT_TRUE(this->hints_->Targets().empty());
  EXPECT_EQ(this->CounterValue("meshkv_hints_replayed_total"), replayed.load());
  EXPECT_EQ(this->GaugeValue("meshkv_hints_pending"), 0);
  EXPECT_EQ(this->GaugeValue("meshkv_hints_pending_bytes"), 0);
}

}  // namespace
}  // namespace meshkv::replication
