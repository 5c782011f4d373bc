// LocalTable: node-local metadata, bytes -> bytes, never replicated (hints,
// later ownership state and anti-entropy progress). Plain put/delete, no
// merge: the last write to a key wins, in the order this node applied them.
//
// The node's table lives in the same RocksDB database as the Store (its own
// column family "__local", which no namespace can be named), so its writes
// share the WAL and the durability rules of Store::Apply: with sync=false a
// write survives a process crash, with sync=true also a power loss. When
// RocksDB is not open (memory engine, or no disk namespace) the table is an
// in-memory map and is empty after a restart. Get it from Store::local().
//
// A batch is atomic (all or nothing, also for concurrent readers). Keys are
// 1..kMaxLocalKeyBytes bytes; an empty or oversized key is kInvalidArgument
// and then nothing in the batch is applied. Errors from RocksDB are the
// Store's (README, Errors).
//
// Thread-safety: every method is safe to call concurrently from any thread.
// Lifecycle: owned by the Store it came from; valid until the Store dies.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace meshkv {

inline constexpr size_t kMaxLocalKeyBytes = 4096;

// Puts and deletes applied together by LocalTable::Write, in order (a later
// op on the same key wins).
class LocalBatch {
 public:
  struct Op {
    std::string key;
    std::optional<std::string> value;  // nullopt: delete the key
  };

  void Put(std::string_view key, std::string_view value) {
    ops_.push_back(Op{std::string(key), std::string(value)});
  }
  void Delete(std::string_view key) { ops_.push_back(Op{std::string(key), std::nullopt}); }

  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }

 private:
  std::vector<Op> ops_;
};

class LocalTable {
 public:
  virtual ~LocalTable() = default;

  // Applies every op of `batch` atomically; durable on return when `sync`.
  virtual Status Write(const LocalBatch& batch, bool sync) = 0;
  // The value of `key`, or nullopt when absent.
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  // Up to `limit` (key, value) pairs whose key starts with `prefix` and is
  // greater than `start_after` ("" = from the start of the prefix), in
  // bytewise key order. A full page may be followed by more: scan again with
  // start_after = the last key. limit 0 is kInvalidArgument.
  virtual Result<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view prefix, std::string_view start_after, size_t limit) = 0;

  // One-op batches, not synced.
  Status Put(std::string_view key, std::string_view value);
  Status Delete(std::string_view key);
};

// A table in memory (an ordered map behind a reader/writer lock).
std::unique_ptr<LocalTable> NewMemoryLocalTable();

}  // namespace meshkv
