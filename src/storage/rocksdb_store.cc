// The RocksDB engine, and the only file in meshkv that includes RocksDB.
//
// One column family per disk namespace, named after the namespace (the
// built-in `default` namespace lives in RocksDB's default column family).
// Column families found on disk that no configured namespace names are opened
// and left alone, so that removing a namespace from the config never stops a
// node from starting, and adding it back finds its data again.
//
// Writes are blind: Apply() turns every op into a rocksdb Merge of the encoded
// entry, and EntryMergeOperator resolves the operands with MergeEncoded when
// the key is read or compacted. No read happens on the write path, and one
// Apply() is one rocksdb::WriteBatch, so a batch is atomic.
//
// The LocalTable is the column family "__local" (not a valid namespace name),
// with plain Put/Delete and no merge operator.
#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

#include "base/encoding.h"
#include "storage/engine_internal.h"
#include "storage/store.h"

namespace meshkv {
namespace {

using storage_internal::NamespaceNotConfigured;
using storage_internal::ScanPageBuilder;

// Every rocksdb::Status becomes a meshkv Status here, and nowhere else.
// `what` says what we were doing ("open /var/lib/meshkv/db", "write").
Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string detail = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) {
    return DataLoss(detail +
                    "; the database is damaged: restore the data dir from a backup, or wipe it "
                    "and let the node resync from its replicas");
  }
  if (s.IsNoSpace()) return ResourceExhausted(detail + "; the disk is full: free space and retry");
  if (s.IsIOError()) {
    // RocksDB's own LOCK file: another process (or another store in this
    // process) has the database open.
    std::string text = s.ToString();
    if (text.find("lock hold by current process") != std::string::npos ||
        text.find("While lock file") != std::string::npos) {
      return FailedPrecondition(detail +
                                "; the database is open elsewhere: stop the other meshkv process "
                                "or use a different data dir");
    }
    if (s.IsPathNotFound()) {
      return FailedPrecondition(detail + "; check that the data dir exists and is writable");
    }
    return Unavailable(detail + "; an I/O error from the disk: check the disk and retry");
  }
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut() || s.IsIncomplete() ||
      s.IsShutdownInProgress()) {
    return Unavailable(detail + "; the database is busy: retry with backoff");
  }
  if (s.IsInvalidArgument()) return InvalidArgument(detail);
  if (s.IsNotFound()) return NotFound(detail);
  if (s.IsMemoryLimit()) return ResourceExhausted(detail + "; retry later");
  return Internal(detail +
                  "; unexpected RocksDB error (a bug): report it with the node's LOG file");
}

rocksdb::Slice ToSlice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}
std::string_view ToView(const rocksdb::Slice& s) {
  return std::string_view(s.data(), s.size());
}

// Resolves merge operands with meshkv's Merge. The result is always one of the
// inputs, so FullMergeV2 points at it instead of copying. Operands that do not
// decode lose to ones that do (MergeEncoded); when nothing decodes, the bytes
// are kept and Get()/Scan() report kDataLoss.
class EntryMergeOperator final : public rocksdb::MergeOperator {
 public:
  const char* Name() const override { return "meshkv.EntryMerge.v1"; }

  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    std::string_view winner;
    size_t first = 0;
    if (in.existing_value != nullptr) {
      winner = ToView(*in.existing_value);
    } else {
      winner = ToView(in.operand_list.front());
      first = 1;
    }
    for (size_t i = first; i < in.operand_list.size(); ++i) {
      winner = MergeEncoded(winner, ToView(in.operand_list[i]));
    }
    out->existing_operand = ToSlice(winner);
    return true;
  }

  bool PartialMergeMulti(const rocksdb::Slice& key, const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value, rocksdb::Logger* logger) const override {
    std::string_view winner = ToView(operands.front());
    for (size_t i = 1; i < operands.size(); ++i) {
      winner = MergeEncoded(winner, ToView(operands[i]));
    }
    new_value->assign(winner);
    return true;
  }
};

// The column family of the LocalTable.
constexpr std::string_view kLocalColumnFamily = "__local";

// LocalTable over one column family of the store's database. Writes are one
// rocksdb::WriteBatch, so a batch is atomic.
class RocksLocalTable final : public LocalTable {
 public:
  RocksLocalTable(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) : db_(db), cf_(cf) {}

  Status Write(const LocalBatch& batch, bool sync) override {
    MESHKV_RETURN_IF_ERROR(storage_internal::ValidateLocalBatch(batch));
    if (batch.empty()) return Status::Ok();
    rocksdb::WriteBatch rocks_batch;
    for (const LocalBatch::Op& op : batch.ops()) {
      rocksdb::Status s = op.value.has_value()
                              ? rocks_batch.Put(cf_, ToSlice(op.key), ToSlice(*op.value))
                              : rocks_batch.Delete(cf_, ToSlice(op.key));
      MESHKV_RETURN_IF_ERROR(FromRocks(s, "build local write batch"));
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = sync;
    return FromRocks(db_.Write(write_options, &rocks_batch), "write the local table");
  }

  Result<std::optional<std::string>> Get(std::string_view key) override {
    std::string value;
    rocksdb::Status s = db_.Get(rocksdb::ReadOptions(), cf_, ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "read the local table");
    return std::optional<std::string>(std::move(value));
  }

  Result<std::vector<std::pair<std::string, std::string>>> Scan(std::string_view prefix,
                                                                std::string_view start_after,
                                                                size_t limit) override {
    MESHKV_RETURN_IF_ERROR(storage_internal::ValidateLocalScanLimit(limit));
    rocksdb::ReadOptions read_options;
    std::string upper_bound = storage_internal::PrefixSuccessor(prefix);
    rocksdb::Slice upper_bound_slice(upper_bound);
    if (!upper_bound.empty()) read_options.iterate_upper_bound = &upper_bound_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_.NewIterator(read_options, cf_));
    std::vector<std::pair<std::string, std::string>> rows;
    if (start_after > prefix) {
      it->Seek(ToSlice(start_after));
      if (it->Valid() && ToView(it->key()) == start_after) it->Next();
    } else {
      it->Seek(ToSlice(prefix));
    }
    for (; it->Valid() && rows.size() < limit; it->Next()) {
      if (!ToView(it->key()).starts_with(prefix)) break;
      rows.emplace_back(ToView(it->key()), ToView(it->value()));
    }
    MESHKV_RETURN_IF_ERROR(FromRocks(it->status(), "scan the local table"));
    return rows;
  }

 private:
  rocksdb::DB& db_;
  rocksdb::ColumnFamilyHandle* const cf_;
};

rocksdb::CompressionType PickCompression() {
  std::vector<rocksdb::CompressionType> supported = rocksdb::GetSupportedCompressions();
  auto has = [&](rocksdb::CompressionType t) {
    return std::find(supported.begin(), supported.end(), t) != supported.end();
  };
  if (has(rocksdb::kLZ4Compression)) return rocksdb::kLZ4Compression;
  if (has(rocksdb::kSnappyCompression)) return rocksdb::kSnappyCompression;
  return rocksdb::kNoCompression;
}

class RocksStore final : public Store {
 public:
  RocksStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
             std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> namespaces,
             rocksdb::ColumnFamilyHandle* local_cf)
      : db_(std::move(db)),
        handles_(std::move(handles)),
        namespaces_(std::move(namespaces)),
        local_cf_(local_cf),
        local_(*db_, local_cf) {}

  ~RocksStore() override {
    for (rocksdb::ColumnFamilyHandle* handle : handles_) {
      db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
    rocksdb::Status s = db_->Close();
    if (!s.ok()) spdlog::warn("storage: closing RocksDB failed: {}", s.ToString());
  }

  Result<std::optional<Entry>> Get(std::string_view ns, std::string_view key) override {
    rocksdb::ColumnFamilyHandle* cf = Find(ns);
    if (cf == nullptr) return NamespaceNotConfigured(ns);
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf, ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<Entry>();
    if (!s.ok()) return FromRocks(s, "read from namespace '" + std::string(ns) + "'");
    Result<Entry> entry = DecodeEntry(ToView(value));
    if (!entry.ok()) return CorruptEntry(ns, key, entry.status());
    return std::optional<Entry>(std::move(entry).value());
  }

  Status Apply(const WriteBatch& batch, bool sync) override {
    rocksdb::WriteBatch rocks_batch;
    std::string encoded;
    for (size_t i = 0; i < batch.size(); ++i) {
      const WriteOp& op = batch[i];
      rocksdb::ColumnFamilyHandle* cf = Find(op.ns);
      if (cf == nullptr) return NamespaceNotConfigured(op.ns);
      MESHKV_RETURN_IF_ERROR(storage_internal::ValidateWriteOp(op, i));
      encoded = EncodeEntry(op.entry);
      MESHKV_RETURN_IF_ERROR(
          FromRocks(rocks_batch.Merge(cf, ToSlice(op.key), ToSlice(encoded)), "build write batch"));
    }
    if (!batch.empty()) {
      rocksdb::WriteOptions write_options;
      write_options.sync = sync;
      MESHKV_RETURN_IF_ERROR(FromRocks(db_->Write(write_options, &rocks_batch), "write"));
    }
    counters_.Record(batch, sync);
    return Status::Ok();
  }

  Status Purge(std::string_view ns, const std::vector<std::string>& keys) override {
    rocksdb::ColumnFamilyHandle* cf = Find(ns);
    if (cf == nullptr) return NamespaceNotConfigured(ns);
    rocksdb::WriteBatch rocks_batch;
    for (const std::string& key : keys) {
      MESHKV_RETURN_IF_ERROR(FromRocks(rocks_batch.Delete(cf, ToSlice(key)), "build purge batch"));
    }
    if (keys.empty()) return Status::Ok();
    return FromRocks(db_->Write(rocksdb::WriteOptions(), &rocks_batch), "purge tombstones");
  }

  Result<ScanPage> Scan(std::string_view ns, const ScanOptions& options) override {
    MESHKV_RETURN_IF_ERROR(storage_internal::ValidateScanOptions(options));
    rocksdb::ColumnFamilyHandle* cf = Find(ns);
    if (cf == nullptr) return NamespaceNotConfigured(ns);

    ScanPageBuilder builder(options);
    rocksdb::ReadOptions read_options;
    std::string upper_bound = storage_internal::PrefixSuccessor(options.prefix);
    rocksdb::Slice upper_bound_slice(upper_bound);
    if (!upper_bound.empty()) read_options.iterate_upper_bound = &upper_bound_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cf));
    for (it->Seek(ToSlice(builder.SeekKey())); it->Valid(); it->Next()) {
      Result<Entry> entry = DecodeEntry(ToView(it->value()));
      if (!entry.ok()) return CorruptEntry(ns, ToView(it->key()), entry.status());
      if (!builder.Offer(ToView(it->key()), std::move(entry).value())) break;
    }
    MESHKV_RETURN_IF_ERROR(FromRocks(it->status(), "scan namespace '" + std::string(ns) + "'"));
    return builder.Finish();
  }

  StoreStats Stats() override {
    StoreStats stats = counters_.Snapshot();
    for (const auto& [name, cf] : namespaces_) {
      uint64_t keys = 0, live_bytes = 0, memtable_bytes = 0;
      // A property that is unavailable reads as 0; stats are estimates.
      db_->GetIntProperty(cf, "rocksdb.estimate-num-keys", &keys);
      db_->GetIntProperty(cf, "rocksdb.estimate-live-data-size", &live_bytes);
      db_->GetIntProperty(cf, "rocksdb.cur-size-all-mem-tables", &memtable_bytes);
      stats.namespaces.push_back(NamespaceStats{
          .ns = name,
          .engine = "rocksdb",
          .estimated_keys = keys,
          .estimated_bytes = live_bytes + memtable_bytes,
      });
    }
    return stats;
  }

  Status Flush() override {
    MESHKV_RETURN_IF_ERROR(FromRocks(db_->FlushWAL(/*sync=*/true), "sync the write-ahead log"));
    std::vector<rocksdb::ColumnFamilyHandle*> used = {local_cf_};
    for (const auto& [name, cf] : namespaces_) used.push_back(cf);
    rocksdb::FlushOptions flush_options;
    flush_options.wait = true;
    return FromRocks(db_->Flush(flush_options, used), "flush memtables");
  }

  LocalTable& local() override { return local_; }

 private:
  rocksdb::ColumnFamilyHandle* Find(std::string_view ns) const {
    auto it = namespaces_.find(ns);
    return it == namespaces_.end() ? nullptr : it->second;
  }

  static Status CorruptEntry(std::string_view ns, std::string_view key, const Status& why) {
    return DataLoss("namespace '" + std::string(ns) + "' key 0x" + HexEncode(key) + ": " +
                    why.message() +
                    "; restore the data dir from a backup, or delete the key and let "
                    "anti-entropy repair it from a replica");
  }

  const std::unique_ptr<rocksdb::DB> db_;
  // Every open column family, configured or not; destroyed before Close().
  const std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  // Configured namespaces only. Immutable after construction.
  const std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> namespaces_;
  rocksdb::ColumnFamilyHandle* const local_cf_;  // one of handles_
  RocksLocalTable local_;
  storage_internal::WriteCounters counters_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenRocksStore(const StoreOptions& options) {
  MESHKV_RETURN_IF_ERROR(storage_internal::ValidateNamespaces(options.namespaces));
  if (options.path.empty()) return InvalidArgument("the RocksDB path is empty; set a data dir");

  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) {
    return FailedPrecondition("cannot create database directory " + options.path + ": " +
                              ec.message() + "; check the path and its permissions");
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  db_options.keep_log_file_num = 5;
  db_options.max_log_file_size = 16 << 20;

  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table_options.cache_index_and_filter_blocks = true;
  table_options.pin_l0_filter_and_index_blocks_in_cache = true;

  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.merge_operator = std::make_shared<EntryMergeOperator>();
  // Every write is a merge operand; without a bound, a hot key's reads fold
  // every operand still in the memtable (measured: GET throughput halved
  // after ~150 writes per key). Past this many, RocksDB folds them at write
  // time into one value.
  cf_options.max_successive_merges = 4;
  cf_options.write_buffer_size = options.write_buffer_bytes;
  cf_options.compaction_style = rocksdb::kCompactionStyleLevel;
  cf_options.level_compaction_dynamic_level_bytes = true;
  cf_options.compression = PickCompression();
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));

  // Column families already on disk (none for a new database).
  std::vector<std::string> existing;
  if (std::filesystem::exists(std::filesystem::path(options.path) / "CURRENT", ec)) {
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, options.path, &existing);
    MESHKV_RETURN_IF_ERROR(FromRocks(s, "list column families in " + options.path));
  } else if (ec) {
    return FailedPrecondition("cannot read database directory " + options.path + ": " +
                              ec.message() + "; check its permissions");
  }
  std::vector<std::string> names = existing;
  names.push_back(rocksdb::kDefaultColumnFamilyName);
  names.emplace_back(kLocalColumnFamily);
  for (const NamespaceSpec& spec : options.namespaces) names.push_back(spec.name);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  // The local table stores plain values: no merge operator.
  rocksdb::ColumnFamilyOptions local_cf_options = cf_options;
  local_cf_options.merge_operator.reset();
  local_cf_options.max_successive_merges = 0;
  for (const std::string& name : names) {
    descriptors.emplace_back(name, name == kLocalColumnFamily ? local_cf_options : cf_options);
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Options open_options(db_options, cf_options);
  rocksdb::Status s = rocksdb::DB::Open(open_options, options.path, descriptors, &handles, &raw_db);
  MESHKV_RETURN_IF_ERROR(FromRocks(s, "open RocksDB at " + options.path));
  std::unique_ptr<rocksdb::DB> db(raw_db);

  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> by_namespace;
  for (const NamespaceSpec& spec : options.namespaces) {
    auto it = std::find(names.begin(), names.end(), spec.name);
    by_namespace.emplace(spec.name, handles[static_cast<size_t>(it - names.begin())]);
  }
  rocksdb::ColumnFamilyHandle* local_cf = handles[static_cast<size_t>(
      std::find(names.begin(), names.end(), kLocalColumnFamily) - names.begin())];
  for (const std::string& name : existing) {
    if (!by_namespace.contains(name) && name != rocksdb::kDefaultColumnFamilyName &&
        name != kLocalColumnFamily) {
      spdlog::info("storage: column family '{}' in {} is not a configured namespace; kept as is",
                   name, options.path);
    }
  }
  return std::unique_ptr<Store>(std::make_unique<RocksStore>(std::move(db), std::move(handles),
                                                             std::move(by_namespace), local_cf));
}

}  // namespace meshkv
