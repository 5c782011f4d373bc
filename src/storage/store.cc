// GetLive(), and OpenStore(): the node's store, routing each namespace to the
// engine its StorageKind names.
#include "storage/store.h"

#include <map>

#include "storage/engine_internal.h"

namespace meshkv {
namespace {

using storage_internal::NamespaceNotConfigured;

// Routes each namespace to one of two engines. A batch that touches both is
// applied to the disk engine first and then to the memory engine: it is atomic
// per engine, not across them. Every op is validated before either engine is
// touched, so only an engine failure (I/O) can leave such a batch half applied.
class CompositeStore final : public Store {
 public:
  CompositeStore(std::unique_ptr<Store> disk, std::unique_ptr<Store> memory,
                 std::map<std::string, Store*, std::less<>> routes)
      : disk_(std::move(disk)), memory_(std::move(memory)), routes_(std::move(routes)) {}

  Result<std::optional<Entry>> Get(std::string_view ns, std::string_view key) override {
    Store* engine = Route(ns);
    if (engine == nullptr) return NamespaceNotConfigured(ns);
    return engine->Get(ns, key);
  }

  Status Apply(const WriteBatch& batch, bool sync) override {
    size_t disk_ops = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      Store* engine = Route(batch[i].ns);
      if (engine == nullptr) return NamespaceNotConfigured(batch[i].ns);
      MESHKV_RETURN_IF_ERROR(storage_internal::ValidateWriteOp(batch[i], i));
      if (engine == disk_.get()) ++disk_ops;
    }
    if (disk_ops == batch.size() || disk_ops == 0) {
      Store& engine = disk_ops == 0 ? *memory_ : *disk_;
      MESHKV_RETURN_IF_ERROR(engine.Apply(batch, sync));
    } else {
      WriteBatch disk_batch, memory_batch;
      disk_batch.reserve(disk_ops);
      memory_batch.reserve(batch.size() - disk_ops);
      for (const WriteOp& op : batch) {
        (Route(op.ns) == disk_.get() ? disk_batch : memory_batch).push_back(op);
      }
      MESHKV_RETURN_IF_ERROR(disk_->Apply(disk_batch, sync));
      MESHKV_RETURN_IF_ERROR(memory_->Apply(memory_batch, sync));
    }
    counters_.Record(batch, sync);
    return Status::Ok();
  }

  Status Purge(std::string_view ns, const std::vector<std::string>& keys) override {
    Store* engine = Route(ns);
    if (engine == nullptr) return NamespaceNotConfigured(ns);
    return engine->Purge(ns, keys);
  }

  Result<ScanPage> Scan(std::string_view ns, const ScanOptions& options) override {
    Store* engine = Route(ns);
    if (engine == nullptr) return NamespaceNotConfigured(ns);
    return engine->Scan(ns, options);
  }

  StoreStats Stats() override {
    StoreStats stats = counters_.Snapshot();
    for (Store* engine : {disk_.get(), memory_.get()}) {
      StoreStats engine_stats = engine->Stats();
      for (NamespaceStats& ns : engine_stats.namespaces) {
        stats.namespaces.push_back(std::move(ns));
      }
    }
    return stats;
  }

  Status Flush() override {
    MESHKV_RETURN_IF_ERROR(disk_->Flush());
    return memory_->Flush();
  }

  // The disk engine's: local metadata must survive a restart.
  LocalTable& local() override { return disk_->local(); }

 private:
  Store* Route(std::string_view ns) const {
    auto it = routes_.find(ns);
    return it == routes_.end() ? nullptr : it->second;
  }

  const std::unique_ptr<Store> disk_;
  const std::unique_ptr<Store> memory_;
  const std::map<std::string, Store*, std::less<>> routes_;  // immutable after construction
  storage_internal::WriteCounters counters_;
};

}  // namespace

Result<std::optional<Entry>> GetLive(Store& store, std::string_view ns, std::string_view key,
                                     int64_t now_ms) {
  Result<std::optional<Entry>> entry = store.Get(ns, key);
  if (entry.ok() && entry->has_value() && !(*entry)->IsLive(now_ms)) {
    return std::optional<Entry>();
  }
  return entry;
}

Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options) {
  MESHKV_RETURN_IF_ERROR(storage_internal::ValidateNamespaces(options.namespaces));
  StoreOptions disk_options = options;
  disk_options.namespaces.clear();
  std::vector<NamespaceSpec> memory_namespaces;
  for (const NamespaceSpec& spec : options.namespaces) {
    (spec.storage == StorageKind::kDisk ? disk_options.namespaces : memory_namespaces)
        .push_back(spec);
  }
  // Only one engine needed: hand it out directly.
  if (disk_options.namespaces.empty()) return NewMemoryStore(memory_namespaces);
  Result<std::unique_ptr<Store>> disk = OpenRocksStore(disk_options);
  if (!disk.ok() || memory_namespaces.empty()) return disk;

  std::unique_ptr<Store> memory = NewMemoryStore(memory_namespaces);
  std::map<std::string, Store*, std::less<>> routes;
  for (const NamespaceSpec& spec : disk_options.namespaces) routes.emplace(spec.name, disk->get());
  for (const NamespaceSpec& spec : memory_namespaces) routes.emplace(spec.name, memory.get());
  return std::unique_ptr<Store>(std::make_unique<CompositeStore>(
      std::move(disk).value(), std::move(memory), std::move(routes)));
}

}  // namespace meshkv
