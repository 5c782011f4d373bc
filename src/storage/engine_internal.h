// Pieces shared by the storage engines (RocksDB, memory) and the composite
// store, so that every engine validates, scans and counts the same way.
// Internal to src/storage; nothing outside this folder includes it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/namespace_spec.h"
#include "storage/local_table.h"
#include "storage/store.h"

namespace meshkv::storage_internal {

// kNotFound "namespace 'x' is not configured".
Status NamespaceNotConfigured(std::string_view ns);

// Checks a namespace list handed to an engine: valid names, no duplicates.
Status ValidateNamespaces(const std::vector<NamespaceSpec>& namespaces);

// Checks one op without looking at the namespace: key rules, and a tombstone
// carries no value. kInvalidArgument naming the op's index otherwise.
Status ValidateWriteOp(const WriteOp& op, size_t index);

// kInvalidArgument when options.limit is 0.
Status ValidateScanOptions(const ScanOptions& options);

// LocalTable checks: every key 1..kMaxLocalKeyBytes (naming the op's index
// otherwise), and a scan limit of at least 1. kInvalidArgument otherwise.
Status ValidateLocalBatch(const LocalBatch& batch);
Status ValidateLocalScanLimit(size_t limit);

// The smallest key greater than every key that starts with `prefix`, or ""
// when there is none (empty prefix, or a prefix made only of 0xff bytes).
std::string PrefixSuccessor(std::string_view prefix);

// Builds one ScanPage from keys offered in bytewise order, starting at
// SeekKey(). Both engines drive it the same way:
//   for (it = lower_bound(builder.SeekKey()); it != end; ++it)
//     if (!builder.Offer(key, entry)) break;
//
// Look-ahead bound: once `limit` items are collected, the builder keeps
// consuming keys only to answer `more`. Dead entries (tombstones, expired)
// met during that look-ahead are counted; after kMaxDeadLookahead of them it
// stops and reports more=true without proof, so a page costs at most
// limit + kMaxDeadLookahead + 1 keys beyond the skipped dead keys in front of
// the page. The next page then starts after the last item and may come back
// empty with more=false. (Dead keys before the `limit`-th item are skipped
// without bound; they are collected after gc_grace, see README.)
class ScanPageBuilder {
 public:
  static constexpr size_t kMaxDeadLookahead = 1000;

  // REQUIRES: ValidateScanOptions(options).ok(); `options` outlives this.
  explicit ScanPageBuilder(const ScanOptions& options);

  // Where iteration starts: max(prefix, start_after).
  std::string_view SeekKey() const;

  // Offers the next key in order. Returns false when the scan is finished
  // (key outside the prefix, or the page and its look-ahead are done).
  bool Offer(std::string_view key, const Entry& entry);
  bool Offer(std::string_view key, Entry&& entry);

  ScanPage Finish() { return std::move(page_); }

 private:
  enum class Step { kTake, kSkip, kStop };
  Step Classify(std::string_view key, const Entry& entry);

  const ScanOptions& options_;
  ScanPage page_;
  size_t dead_lookahead_ = 0;
};

// Counters behind StoreStats; updated with relaxed atomics.
class WriteCounters {
 public:
  void Record(const WriteBatch& batch, bool sync) {
    writes_applied_.fetch_add(batch.size(), std::memory_order_relaxed);
    write_batches_.fetch_add(1, std::memory_order_relaxed);
    if (sync) synced_batches_.fetch_add(1, std::memory_order_relaxed);
  }
  // StoreStats with the counters filled and no namespaces.
  StoreStats Snapshot() const {
    StoreStats stats;
    stats.writes_applied = writes_applied_.load(std::memory_order_relaxed);
    stats.write_batches = write_batches_.load(std::memory_order_relaxed);
    stats.synced_batches = synced_batches_.load(std::memory_order_relaxed);
    return stats;
  }

 private:
  std::atomic<uint64_t> writes_applied_{0};
  std::atomic<uint64_t> write_batches_{0};
  std::atomic<uint64_t> synced_batches_{0};
};

}  // namespace meshkv::storage_internal
