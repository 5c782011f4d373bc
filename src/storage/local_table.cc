// LocalTable's one-op helpers, and the in-memory table: an ordered map behind
// one reader/writer lock (Write takes it exclusively, so a batch is atomic for
// readers).
#include "storage/local_table.h"

#include <map>
#include <mutex>
#include <shared_mutex>

#include "storage/engine_internal.h"

namespace meshkv {
namespace {

class MemoryLocalTable final : public LocalTable {
 public:
  Status Write(const LocalBatch& batch, bool /*sync*/) override {
    MESHKV_RETURN_IF_ERROR(storage_internal::ValidateLocalBatch(batch));
    std::unique_lock lock(mutex_);
    for (const LocalBatch::Op& op : batch.ops()) {
      if (op.value.has_value()) {
        rows_.insert_or_assign(op.key, *op.value);
      } else {
        auto it = rows_.find(op.key);
        if (it != rows_.end()) rows_.erase(it);
      }
    }
    return Status::Ok();
  }

  Result<std::optional<std::string>> Get(std::string_view key) override {
    std::shared_lock lock(mutex_);
    auto it = rows_.find(key);
    if (it == rows_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  Result<std::vector<std::pair<std::string, std::string>>> Scan(std::string_view prefix,
                                                                std::string_view start_after,
                                                                size_t limit) override {
    MESHKV_RETURN_IF_ERROR(storage_internal::ValidateLocalScanLimit(limit));
    std::vector<std::pair<std::string, std::string>> rows;
    std::shared_lock lock(mutex_);
    auto it = start_after > prefix ? rows_.upper_bound(start_after) : rows_.lower_bound(prefix);
    for (; it != rows_.end() && rows.size() < limit; ++it) {
      if (!std::string_view(it->first).starts_with(prefix)) break;
      rows.emplace_back(it->first, it->second);
    }
    return rows;
  }

 private:
  std::shared_mutex mutex_;
  std::map<std::string, std::string, std::less<>> rows_;  // guarded by mutex_
};

}  // namespace

Status LocalTable::Put(std::string_view key, std::string_view value) {
  LocalBatch batch;
  batch.Put(key, value);
  return Write(batch, /*sync=*/false);
}

Status LocalTable::Delete(std::string_view key) {
  LocalBatch batch;
  batch.Delete(key);
  return Write(batch, /*sync=*/false);
}

std::unique_ptr<LocalTable> NewMemoryLocalTable() {
  return std::make_unique<MemoryLocalTable>();
}

}  // namespace meshkv
