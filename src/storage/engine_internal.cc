#include "storage/engine_internal.h"

#include <algorithm>
#include <set>

namespace meshkv::storage_internal {

Status NamespaceNotConfigured(std::string_view ns) {
  return NotFound("namespace '" + std::string(ns) + "' is not configured");
}

Status ValidateNamespaces(const std::vector<NamespaceSpec>& namespaces) {
  std::set<std::string_view> seen;
  for (const NamespaceSpec& spec : namespaces) {
    Status name_status = ValidateNamespaceName(spec.name);
    if (!name_status.ok()) {
      return InvalidArgument("namespace '" + spec.name + "': " + name_status.message());
    }
    if (!seen.insert(spec.name).second) {
      return InvalidArgument("namespace '" + spec.name +
                             "' is configured twice; give each namespace one entry");
    }
  }
  return Status::Ok();
}

Status ValidateWriteOp(const WriteOp& op, size_t index) {
  Status key_status = ValidateKey(op.key);
  if (!key_status.ok()) {
    return InvalidArgument("write op " + std::to_string(index) + " (namespace '" + op.ns +
                           "'): " + key_status.message());
  }
  if (op.entry.tombstone && !op.entry.value.empty()) {
    return InvalidArgument("write op " + std::to_string(index) + " (namespace '" + op.ns +
                           "'): a tombstone must not carry a value");
  }
  return Status::Ok();
}

Status ValidateScanOptions(const ScanOptions& options) {
  if (options.limit == 0) return InvalidArgument("scan limit must be at least 1");
  return Status::Ok();
}

Status ValidateLocalBatch(const LocalBatch& batch) {
  for (size_t i = 0; i < batch.size(); ++i) {
    size_t size = batch.ops()[i].key.size();
    if (size == 0 || size > kMaxLocalKeyBytes) {
      return InvalidArgument("local write op " + std::to_string(i) + ": key must be 1.." +
                             std::to_string(kMaxLocalKeyBytes) + " bytes, got " +
                             std::to_string(size));
    }
  }
  return Status::Ok();
}

Status ValidateLocalScanLimit(size_t limit) {
  if (limit == 0) return InvalidArgument("scan limit must be at least 1");
  return Status::Ok();
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string successor(prefix);
  while (!successor.empty() && static_cast<unsigned char>(successor.back()) == 0xff) {
    successor.pop_back();
  }
  if (successor.empty()) return successor;
  successor.back() = static_cast<char>(static_cast<unsigned char>(successor.back()) + 1);
  return successor;
}

ScanPageBuilder::ScanPageBuilder(const ScanOptions& options) : options_(options) {}

std::string_view ScanPageBuilder::SeekKey() const {
  return std::max<std::string_view>(options_.prefix, options_.start_after);
}

ScanPageBuilder::Step ScanPageBuilder::Classify(std::string_view key, const Entry& entry) {
  if (!key.starts_with(options_.prefix)) return Step::kStop;
  if (key <= std::string_view(options_.start_after)) return Step::kSkip;
  bool wanted = options_.include_dead || entry.IsLive(options_.now_ms);
  if (page_.items.size() < options_.limit) return wanted ? Step::kTake : Step::kSkip;
  // Page full: look ahead only to answer `more`.
  if (wanted || ++dead_lookahead_ >= kMaxDeadLookahead) {
    page_.more = true;
    return Step::kStop;
  }
  return Step::kSkip;
}

bool ScanPageBuilder::Offer(std::string_view key, const Entry& entry) {
  switch (Classify(key, entry)) {
    case Step::kStop:
      return false;
    case Step::kSkip:
      return true;
    case Step::kTake:
      break;
  }
  KeyEntry& item = page_.items.emplace_back();
  item.key.assign(key);
  if (options_.keys_only) {
    item.entry.version = entry.version;
    item.entry.expires_at_ms = entry.expires_at_ms;
    item.entry.tombstone = entry.tombstone;
  } else {
    item.entry = entry;
  }
  return true;
}

bool ScanPageBuilder::Offer(std::string_view key, Entry&& entry) {
  switch (Classify(key, entry)) {
    case Step::kStop:
      return false;
    case Step::kSkip:
      return true;
    case Step::kTake:
      break;
  }
  if (options_.keys_only) entry.value.clear();
  page_.items.push_back(KeyEntry{std::string(key), std::move(entry)});
  return true;
}

}  // namespace meshkv::storage_internal
