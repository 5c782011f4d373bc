// StampedCache: a bounded, sharded map from byte-string keys to values
// computed from the zone data, each entry stamped with the version of the
// data it was computed from (DataStamp). A lookup with any other stamp is a
// miss, so nothing cached outlives the change that made it stale.
//
// Thread-safety: safe from any thread. 16 shards, each with its own mutex,
// held only to copy a value in or out (or while a Visit callback reads one):
// no global lock. Each shard holds at most max_entries / 16 entries and drops
// an arbitrary one when full; a shard that sees a newer stamp drops
// everything it holds.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace meshkv::dns {

// The version of what answers are computed from: RecordService::generation()
// and SyntheticRecordSource::generation(). Both only grow.
struct DataStamp {
  uint64_t records = 0;
  uint64_t synthetic = 0;
  friend bool operator==(const DataStamp&, const DataStamp&) = default;
  // Newer when neither counter is behind (two stamps read concurrently by
  // different threads may be incomparable: then neither is newer).
  bool NewerThan(const DataStamp& other) const {
    return *this != other && records >= other.records && synthetic >= other.synthetic;
  }
};

template <typename Value>
class StampedCache {
 public:
  explicit StampedCache(size_t max_entries)
      : shard_capacity_(max_entries / kShards > 0 ? max_entries / kShards : 1) {}

  // A copy of the value cached for `key` under exactly `stamp`.
  std::optional<Value> Find(std::string_view key, const DataStamp& stamp) {
    std::optional<Value> found;
    Visit(key, stamp, [&](const Value& value) { found = value; });
    return found;
  }

  // Calls `visit(value)` with the value cached for `key` under exactly
  // `stamp` and returns true; false, without calling it, on a miss. For a
  // caller that copies part of a value into storage of its own. `visit` runs
  // with the shard's lock held: it must be quick and must not call this cache.
  template <typename Visitor>
  requires std::invocable<Visitor&, const Value&>
  bool Visit(std::string_view key, const DataStamp& stamp, Visitor&& visit) {
    Shard& shard = ShardOf(key);
    std::lock_guard lock(shard.mutex);
    if (!(shard.stamp == stamp)) {
      if (stamp.NewerThan(shard.stamp)) Reset(shard, stamp);
      return false;
    }
    auto it = shard.entries.find(key);
    if (it == shard.entries.end()) return false;
    visit(std::as_const(it->second));
    return true;
  }

  // Caches `value`, computed from data read after `stamp` was taken. Dropped
  // when the shard already holds a newer stamp.
  void Insert(std::string_view key, const DataStamp& stamp, Value value) {
    Shard& shard = ShardOf(key);
    std::lock_guard lock(shard.mutex);
    if (!(shard.stamp == stamp)) {
      if (!stamp.NewerThan(shard.stamp)) return;
      Reset(shard, stamp);
    }
    auto it = shard.entries.find(key);
    if (it != shard.entries.end()) {
      it->second = std::move(value);
      return;
    }
    if (shard.entries.size() >= shard_capacity_) shard.entries.erase(shard.entries.begin());
    shard.entries.emplace(std::string(key), std::move(value));
  }

 private:
  static constexpr size_t kShards = 16;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct alignas(64) Shard {
    std::mutex mutex;
    DataStamp stamp;                                                        // guarded by mutex
    std::unordered_map<std::string, Value, Hash, std::equal_to<>> entries;  // guarded by mutex
  };

  Shard& ShardOf(std::string_view key) { return shards_[Hash()(key) % kShards]; }
  static void Reset(Shard& shard, const DataStamp& stamp) {
    shard.entries.clear();
    shard.stamp = stamp;
  }

  const size_t shard_capacity_;
  Shard shards_[kShards];
};

}  // namespace meshkv::dns
