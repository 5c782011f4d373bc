// Store: the local, durable map of (namespace, key) -> Entry.
//
// Writes merge: Apply() stores Merge(existing, incoming) for every op, so
// replicated writes may arrive in any order and any number of times. A batch
// is atomic (all or nothing) and, when `sync` is true, durable on return
// (fsync'd WAL); with sync=false it survives a process crash (SIGKILL) but not
// a power loss. A batch is checked before anything is written: an unknown
// namespace is kNotFound, a bad key (ValidateKey) or a tombstone that carries
// a value is kInvalidArgument, and then nothing in the batch is applied.
//
// Reads return raw entries, tombstones and expired entries included, because
// replication needs them; use GetLive()/ScanOptions::include_dead=false for
// what a client may see.
//
// Namespaces are fixed when the store is opened; an unknown namespace is
// kNotFound. Errors from the engine are translated to Status here, once.
//
// Thread-safety: every method is safe to call concurrently from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/entry.h"
#include "model/namespace_spec.h"
#include "storage/local_table.h"

namespace meshkv {

struct WriteOp {
  std::string ns;
  std::string key;
  Entry entry;
};
using WriteBatch = std::vector<WriteOp>;

struct KeyEntry {
  std::string key;
  Entry entry;
};

struct ScanOptions {
  std::string prefix;         // only keys starting with this
  std::string start_after;    // exclusive lower bound ("" = from the start of prefix)
  size_t limit = 100;         // max items returned (0 is kInvalidArgument)
  bool include_dead = false;  // include tombstones and expired entries
  int64_t now_ms = 0;         // "now" for expiry when include_dead is false (0: none expired)
  bool keys_only = false;     // leave Entry::value empty
};

struct ScanPage {
  std::vector<KeyEntry> items;  // in key order (bytewise)
  // True if another key matched after the last item. To answer it, a scan
  // that skips dead entries looks past at most 1000 of them; beyond that it
  // says true without proof, and the next page (start_after = last item's
  // key) may come back empty with more=false.
  bool more = false;
};

struct NamespaceStats {
  std::string ns;
  std::string engine;            // "rocksdb" or "memory"
  uint64_t estimated_keys = 0;   // includes tombstones; an estimate for rocksdb
  uint64_t estimated_bytes = 0;  // live data size estimate (SST + memtables)
};

struct StoreStats {
  std::vector<NamespaceStats> namespaces;
  uint64_t writes_applied = 0;  // ops applied since open
  uint64_t write_batches = 0;   // Apply() calls since open
  uint64_t synced_batches = 0;  // Apply() calls with sync since open
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<std::optional<Entry>> Get(std::string_view ns, std::string_view key) = 0;
  virtual Status Apply(const WriteBatch& batch, bool sync) = 0;
  virtual Result<ScanPage> Scan(std::string_view ns, const ScanOptions& options) = 0;
  // Removes the keys' entries outright (tombstone GC; not durable until the
  // next synced write or Flush, which is harmless: a purged tombstone that
  // comes back is collected again). Unlike Apply this does not merge, so a
  // write to one of these keys applied concurrently could be lost: the
  // caller must exclude that (replication::DigestIndex::Purge does).
  virtual Status Purge(std::string_view ns, const std::vector<std::string>& keys) = 0;
  virtual StoreStats Stats() = 0;
  // Makes everything applied so far durable (used on clean shutdown),
  // the local table included.
  virtual Status Flush() = 0;

  // The node-local table (local_table.h): in RocksDB when the store has
  // RocksDB open, else in memory. Valid as long as the store.
  virtual LocalTable& local() = 0;
};

// Get that treats tombstones and entries expired at `now_ms` as absent.
Result<std::optional<Entry>> GetLive(Store& store, std::string_view ns, std::string_view key,
                                     int64_t now_ms);

struct StoreOptions {
  std::string path;                           // RocksDB directory (created if missing)
  std::vector<NamespaceSpec> namespaces;      // StorageKind picks the engine per namespace
  uint64_t block_cache_bytes = 128ull << 20;  // one LRU cache shared by all namespaces
  uint64_t write_buffer_bytes = 64ull << 20;  // memtable size, per disk namespace
};

// Opens the store for a node: disk namespaces in RocksDB (one column family
// each), memory namespaces in the in-memory engine, behind one Store. RocksDB
// is not opened when no namespace is on disk. A batch that touches both
// engines is atomic per engine only: disk ops are applied first, then memory
// ops. Bad namespace lists (invalid or duplicate names) are kInvalidArgument;
// a database held by another process is kFailedPrecondition.
Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options);

// The engines, for tests and tools. Each puts every namespace it is given in
// itself, whatever its StorageKind.
Result<std::unique_ptr<Store>> OpenRocksStore(const StoreOptions& options);
std::unique_ptr<Store> NewMemoryStore(const std::vector<NamespaceSpec>& namespaces);

}  // namespace meshkv
