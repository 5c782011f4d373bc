// The in-memory engine: one ordered map per namespace, each behind its own
// reader/writer lock. Apply() locks every namespace its batch touches (in a
// fixed order, so concurrent batches cannot deadlock) and merges under the
// locks, so a batch is atomic for readers just as in the RocksDB engine. Its
// local table is a NewMemoryLocalTable().
#include <algorithm>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "storage/engine_internal.h"
#include "storage/store.h"

namespace meshkv {
namespace {

using storage_internal::NamespaceNotConfigured;
using storage_internal::ScanPageBuilder;

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(const std::vector<NamespaceSpec>& namespaces) {
    // Index order = lock order; the vector never changes after construction.
    std::vector<std::string> names;
    for (const NamespaceSpec& spec : namespaces) names.push_back(spec.name);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    spaces_.reserve(names.size());
    for (std::string& name : names) {
      spaces_.push_back(std::make_unique<Space>());
      spaces_.back()->name = std::move(name);
    }
  }

  Result<std::optional<Entry>> Get(std::string_view ns, std::string_view key) override {
    Space* space = Find(ns);
    if (space == nullptr) return NamespaceNotConfigured(ns);
    std::shared_lock lock(space->mutex);
    auto it = space->entries.find(key);
    if (it == space->entries.end()) return std::optional<Entry>();
    return std::optional<Entry>(it->second);
  }

  Status Apply(const WriteBatch& batch, bool sync) override {
    // Resolve and validate everything first: bad input changes nothing.
    std::vector<size_t> op_space(batch.size());
    std::vector<size_t> touched;
    for (size_t i = 0; i < batch.size(); ++i) {
      size_t index = FindIndex(batch[i].ns);
      if (index == kNoSpace) return NamespaceNotConfigured(batch[i].ns);
      MESHKV_RETURN_IF_ERROR(storage_internal::ValidateWriteOp(batch[i], i));
      op_space[i] = index;
      touched.push_back(index);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());

    std::vector<std::unique_lock<std::shared_mutex>> locks;
    locks.reserve(touched.size());
    for (size_t index : touched) locks.emplace_back(spaces_[index]->mutex);
    for (size_t i = 0; i < batch.size(); ++i) {
      Space& space = *spaces_[op_space[i]];
      const WriteOp& op = batch[i];
      auto it = space.entries.find(op.key);
      if (it == space.entries.end()) {
        space.bytes += op.key.size() + op.entry.value.size();
        space.entries.emplace(op.key, op.entry);
        continue;
      }
      const Entry& winner = Merge(it->second, op.entry);
      if (&winner == &op.entry) {
        space.bytes += op.entry.value.size();
        space.bytes -= it->second.value.size();
        it->second = op.entry;
      }
    }
    locks.clear();
    counters_.Record(batch, sync);
    return Status::Ok();
  }

  Status Purge(std::string_view ns, const std::vector<std::string>& keys) override {
    Space* space = Find(ns);
    if (space == nullptr) return NamespaceNotConfigured(ns);
    std::unique_lock lock(space->mutex);
    for (const std::string& key : keys) {
      auto it = space->entries.find(key);
      if (it == space->entries.end()) continue;
      space->bytes -= it->first.size() + it->second.value.size();
      space->entries.erase(it);
    }
    return Status::Ok();
  }

  Result<ScanPage> Scan(std::string_view ns, const ScanOptions& options) override {
    MESHKV_RETURN_IF_ERROR(storage_internal::ValidateScanOptions(options));
    Space* space = Find(ns);
    if (space == nullptr) return NamespaceNotConfigured(ns);
    ScanPageBuilder builder(options);
    std::shared_lock lock(space->mutex);
    for (auto it = space->entries.lower_bound(builder.SeekKey()); it != space->entries.end();
         ++it) {
      if (!builder.Offer(it->first, it->second)) break;
    }
    return builder.Finish();
  }

  StoreStats Stats() override {
    StoreStats stats = counters_.Snapshot();
    for (const auto& space : spaces_) {
      std::shared_lock lock(space->mutex);
      stats.namespaces.push_back(NamespaceStats{
          .ns = space->name,
          .engine = "memory",
          .estimated_keys = space->entries.size(),
          .estimated_bytes = space->bytes,
      });
    }
    return stats;
  }

  // Nothing to make durable: memory namespaces are lost on restart by design.
  Status Flush() override { return Status::Ok(); }

  LocalTable& local() override { return *local_; }

 private:
  static constexpr size_t kNoSpace = static_cast<size_t>(-1);

  struct Space {
    std::string name;  // immutable after construction
    std::shared_mutex mutex;
    std::map<std::string, Entry, std::less<>> entries;  // guarded by mutex
    uint64_t bytes = 0;  // guarded by mutex; sum of key and value sizes
  };

  size_t FindIndex(std::string_view ns) const {
    auto it = std::lower_bound(
        spaces_.begin(), spaces_.end(), ns,
        [](const auto& space, std::string_view name) { return space->name < name; });
    return it != spaces_.end() && (*it)->name == ns ? static_cast<size_t>(it - spaces_.begin())
                                                    : kNoSpace;
  }
  Space* Find(std::string_view ns) const {
    size_t index = FindIndex(ns);
    return index == kNoSpace ? nullptr : spaces_[index].get();
  }

  std::vector<std::unique_ptr<Space>> spaces_;  // sorted by name; fixed at construction
  const std::unique_ptr<LocalTable> local_ = NewMemoryLocalTable();
  storage_internal::WriteCounters counters_;
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore(const std::vector<NamespaceSpec>& namespaces) {
  return std::make_unique<MemoryStore>(namespaces);
}

}  // namespace meshkv
