#include "replication/hints.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "base/encoding.h"
#include "model/entry.h"
#include "model/namespace_spec.h"

namespace meshkv::replication {
namespace {

constexpr std::string_view kHintPrefix = "h/";
constexpr size_t kHintKeyBytes = 2 + 8 + 8;
constexpr uint8_t kHintFormat = 1;
// Rows read per LocalTable scan, and deletes per LocalTable write, so that
// walking a long queue keeps memory bounded.
constexpr size_t kPageRows = 256;
constexpr size_t kMaxDeletesPerWrite = 1024;

void PutBigEndian64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}
uint64_t GetBigEndian64(std::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}
void PutFixed32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint32_t GetFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string TargetPrefix(NodeId target) {
  std::string prefix(kHintPrefix);
  PutBigEndian64(prefix, target.value());
  return prefix;
}

std::string HintKey(NodeId target, uint64_t seq) {
  std::string key = TargetPrefix(target);
  PutBigEndian64(key, seq);
  return key;
}

struct HintKeyParts {
  NodeId target;
  uint64_t seq;
};

std::optional<HintKeyParts> ParseHintKey(std::string_view key) {
  if (key.size() != kHintKeyBytes || !key.starts_with(kHintPrefix)) return std::nullopt;
  NodeId target(GetBigEndian64(key.substr(2, 8)));
  if (!target.valid()) return std::nullopt;
  return HintKeyParts{target, GetBigEndian64(key.substr(10, 8))};
}

std::string EncodeHintValue(int64_t created_ms, std::string_view ns, std::string_view key,
                            std::string_view entry) {
  std::string out;
  out.reserve(1 + 8 + 4 + ns.size() + 4 + key.size() + entry.size());
  out.push_back(static_cast<char>(kHintFormat));
  PutFixed64(out, static_cast<uint64_t>(created_ms));
  PutFixed32(out, static_cast<uint32_t>(ns.size()));
  out.append(ns);
  PutFixed32(out, static_cast<uint32_t>(key.size()));
  out.append(key);
  out.append(entry);
  return out;
}

// A decoded row value; the views point into the row.
struct HintView {
  int64_t created_ms;
  std::string_view ns;
  std::string_view key;
  std::string_view entry;
};

// Checks everything Add() checks, so a row that decodes is one Add() wrote.
Result<HintView> DecodeHintValue(std::string_view value) {
  if (value.size() < 1 + 8 + 4 || static_cast<uint8_t>(value[0]) != kHintFormat) {
    return DataLoss("unknown hint format or truncated header");
  }
  HintView view;
  view.created_ms = static_cast<int64_t>(GetFixed64(value.data() + 1));
  value.remove_prefix(1 + 8);
  uint32_t ns_size = GetFixed32(value.data());
  value.remove_prefix(4);
  if (ns_size > value.size()) return DataLoss("namespace size beyond the row");
  view.ns = value.substr(0, ns_size);
  value.remove_prefix(ns_size);
  if (value.size() < 4) return DataLoss("truncated key size");
  uint32_t key_size = GetFixed32(value.data());
  value.remove_prefix(4);
  if (key_size > value.size()) return DataLoss("key size beyond the row");
  view.key = value.substr(0, key_size);
  view.entry = value.substr(key_size);
  if (!ValidateNamespaceName(view.ns).ok()) return DataLoss("bad namespace name");
  if (!ValidateKey(view.key).ok()) return DataLoss("bad key");
  Result<Version> version = DecodeEntryVersion(view.entry);
  if (!version.ok()) return DataLoss("entry: " + version.status().message());
  return view;
}

}  // namespace

HintStore::HintStore(LocalTable& table, const Clock& clock, HintLimits limits,
                     MetricsRegistry* metrics)
    : table_(table), clock_(clock), limits_(limits) {
  if (metrics == nullptr) return;
  queued_ = metrics->GetCounter("meshkv_hints_queued_total",
                                "Hints stored for replicas that did not acknowledge a write");
  replayed_ = metrics->GetCounter("meshkv_hints_replayed_total",
                                  "Hints delivered to their target and removed");
  expired_ = metrics->GetCounter("meshkv_hints_expired_total",
                                 "Hints removed unsent because they outlived max_age");
  const std::string dropped_help = "Hints removed unsent, by reason";
  dropped_bytes_ =
      metrics->GetCounter("meshkv_hints_dropped_total", dropped_help, {{"reason", "bytes"}});
  dropped_corrupt_ =
      metrics->GetCounter("meshkv_hints_dropped_total", dropped_help, {{"reason", "corrupt"}});
  pending_gauge_ = metrics->GetGauge("meshkv_hints_pending", "Hints waiting for their target");
  pending_bytes_gauge_ =
      metrics->GetGauge("meshkv_hints_pending_bytes", "Bytes of hints waiting for their target");
}

HintStore::~HintStore() {
  std::lock_guard lock(mutex_);
  ClearPending(lock);
}

void HintStore::ClearPending(const std::lock_guard<std::mutex>&) {
  for (const auto& [target, pending] : pending_) {
    if (pending_gauge_ != nullptr) pending_gauge_->Add(-static_cast<int64_t>(pending.count));
    if (pending_bytes_gauge_ != nullptr) {
      pending_bytes_gauge_->Add(-static_cast<int64_t>(pending.bytes));
    }
  }
  pending_.clear();
}

Status HintStore::Load() {
  std::lock_guard lock(mutex_);
  ClearPending(lock);
  loaded_ = false;
  uint64_t max_seq = 0;
  LocalBatch garbage;
  auto remove_garbage = [&]() -> Status {
    MESHKV_RETURN_IF_ERROR(table_.Write(garbage, /*sync=*/false));
    if (dropped_corrupt_ != nullptr && !garbage.empty())
      dropped_corrupt_->Increment(garbage.size());
    garbage = LocalBatch();
    return Status::Ok();
  };
  std::string cursor;
  for (;;) {
    auto rows = table_.Scan(kHintPrefix, cursor, kPageRows);
    if (!rows.ok()) return rows.status();
    for (const auto& [key, value] : *rows) {
      cursor = key;
      std::optional<HintKeyParts> parts = ParseHintKey(key);
      Result<HintView> view =
          parts.has_value() ? DecodeHintValue(value) : Result<HintView>(DataLoss("bad row key"));
      if (!view.ok()) {
        LogCorrupt(key, view.status().message());
        garbage.Delete(key);
        continue;
      }
      AddPending(parts->target, 1, key.size() + value.size());
      max_seq = std::max(max_seq, parts->seq);
    }
    if (garbage.size() >= kMaxDeletesPerWrite) MESHKV_RETURN_IF_ERROR(remove_garbage());
    if (rows->size() < kPageRows) break;
  }
  MESHKV_RETURN_IF_ERROR(remove_garbage());
  next_seq_ = max_seq + 1;
  loaded_ = true;
  return Status::Ok();
}

Status HintStore::Add(NodeId target, std::string_view ns, std::string_view key,
                      std::string_view encoded_entry) {
  if (!target.valid()) return InvalidArgument("hint target must be a valid node id");
  Status ns_status = ValidateNamespaceName(ns);
  if (!ns_status.ok()) return InvalidArgument("hint: " + ns_status.message());
  Status key_status = ValidateKey(key);
  if (!key_status.ok()) return InvalidArgument("hint: " + key_status.message());
  Result<Version> version = DecodeEntryVersion(encoded_entry);
  if (!version.ok()) return InvalidArgument("hint entry: " + version.status().message());

  std::lock_guard lock(mutex_);
  if (!loaded_) return FailedPrecondition("hint store used before Load() succeeded");
  std::string row_key = HintKey(target, next_seq_);
  std::string row_value = EncodeHintValue(clock_.NowMillis(), ns, key, encoded_entry);
  const uint64_t bytes = row_key.size() + row_value.size();
  const uint64_t max_bytes =
      static_cast<uint64_t>(std::max<int64_t>(limits_.max_bytes_per_target, 0));
  if (bytes > max_bytes) {
    if (dropped_bytes_ != nullptr) dropped_bytes_->Increment();
    return ResourceExhausted("hint of " + std::to_string(bytes) +
                             " bytes is larger than the per-target bound of " +
                             std::to_string(max_bytes) + " bytes");
  }

  LocalBatch batch;
  batch.Put(row_key, row_value);
  uint64_t drop_count = 0, drop_bytes = 0;
  if (PendingBytes(target, lock) + bytes > max_bytes) {
    // Expired hints go first (they are at the front of the queue), then the
    // oldest live ones until the new hint fits.
    Result<uint64_t> expired = Walk(target, [](const Row&) { return false; });
    if (!expired.ok()) return expired.status();
    const uint64_t current = PendingBytes(target, lock);
    if (current + bytes > max_bytes) {
      const uint64_t need = current + bytes - max_bytes;
      Result<uint64_t> walked = Walk(target, [&](const Row& row) {
        batch.Delete(HintKey(target, row.seq));
        ++drop_count;
        drop_bytes += row.bytes;
        return drop_bytes < need;
      });
      if (!walked.ok()) return walked.status();
    }
  }
  ++next_seq_;
  MESHKV_RETURN_IF_ERROR(table_.Write(batch, /*sync=*/false));
  AddPending(target, 1, bytes);
  SubtractPending(target, drop_count, drop_bytes);
  if (queued_ != nullptr) queued_->Increment();
  if (dropped_bytes_ != nullptr && drop_count > 0) dropped_bytes_->Increment(drop_count);
  return Status::Ok();
}

Result<std::vector<Hint>> HintStore::Peek(NodeId target, size_t max_bytes) {
  std::lock_guard lock(mutex_);
  if (!loaded_) return FailedPrecondition("hint store used before Load() succeeded");
  std::vector<Hint> hints;
  uint64_t total = 0;
  Result<uint64_t> walked = Walk(target, [&](const Row& row) {
    if (!hints.empty() && total + row.bytes > max_bytes) return false;
    // Walk only visits rows that decode.
    Result<HintView> view = DecodeHintValue(row.value);
    hints.push_back(Hint{.seq = row.seq,
                         .ns = std::string(view->ns),
                         .key = std::string(view->key),
                         .entry = std::string(view->entry),
                         .created_ms = view->created_ms});
    total += row.bytes;
    return total < max_bytes;
  });
  if (!walked.ok()) return walked.status();
  return hints;
}

Status HintStore::Remove(NodeId target, const std::vector<uint64_t>& seqs) {
  std::lock_guard lock(mutex_);
  if (!loaded_) return FailedPrecondition("hint store used before Load() succeeded");
  LocalBatch batch;
  uint64_t count = 0, bytes = 0;
  for (uint64_t seq : seqs) {
    std::string row_key = HintKey(target, seq);
    Result<std::optional<std::string>> row = table_.Get(row_key);
    if (!row.ok()) return row.status();
    if (!row->has_value()) continue;  // expired or dropped meanwhile
    batch.Delete(row_key);
    ++count;
    bytes += row_key.size() + (*row)->size();
  }
  MESHKV_RETURN_IF_ERROR(table_.Write(batch, /*sync=*/false));
  SubtractPending(target, count, bytes);
  if (replayed_ != nullptr && count > 0) replayed_->Increment(count);
  return Status::Ok();
}

Result<uint64_t> HintStore::DropExpired() {
  std::lock_guard lock(mutex_);
  if (!loaded_) return FailedPrecondition("hint store used before Load() succeeded");
  std::vector<NodeId> targets;
  for (const auto& [target, pending] : pending_) targets.push_back(target);
  uint64_t expired = 0;
  for (NodeId target : targets) {
    Result<uint64_t> dropped = Walk(target, [](const Row&) { return false; });
    if (!dropped.ok()) return dropped.status();
    expired += *dropped;
  }
  return expired;
}

std::vector<NodeId> HintStore::Targets() const {
  std::lock_guard lock(mutex_);
  std::vector<NodeId> targets;
  for (const auto& [target, pending] : pending_) targets.push_back(target);
  return targets;
}

uint64_t HintStore::PendingBytes(NodeId target) const {
  std::lock_guard lock(mutex_);
  return PendingBytes(target, lock);
}

uint64_t HintStore::PendingCount(NodeId target) const {
  std::lock_guard lock(mutex_);
  auto it = pending_.find(target);
  return it == pending_.end() ? 0 : it->second.count;
}

uint64_t HintStore::PendingBytes(NodeId target, const std::lock_guard<std::mutex>&) const {
  auto it = pending_.find(target);
  return it == pending_.end() ? 0 : it->second.bytes;
}

template <typename Visit>
Result<uint64_t> HintStore::Walk(NodeId target, Visit&& visit) {
  const std::string prefix = TargetPrefix(target);
  const int64_t now_ms = clock_.NowMillis();
  LocalBatch dead;
  uint64_t expired_count = 0, expired_bytes = 0, corrupt_count = 0, total_expired = 0;
  auto remove_dead = [&]() -> Status {
    MESHKV_RETURN_IF_ERROR(table_.Write(dead, /*sync=*/false));
    dead = LocalBatch();
    // Corrupt rows were never counted as pending (Load removes them and Add
    // writes only rows that decode), so only expired ones are subtracted.
    SubtractPending(target, expired_count, expired_bytes);
    if (expired_ != nullptr && expired_count > 0) expired_->Increment(expired_count);
    if (dropped_corrupt_ != nullptr && corrupt_count > 0)
      dropped_corrupt_->Increment(corrupt_count);
    total_expired += expired_count;
    expired_count = expired_bytes = corrupt_count = 0;
    return Status::Ok();
  };

  std::string cursor;
  bool done = false;
  while (!done) {
    auto rows = table_.Scan(prefix, cursor, kPageRows);
    if (!rows.ok()) return rows.status();
    for (const auto& [key, value] : *rows) {
      cursor = key;
      std::optional<HintKeyParts> parts = ParseHintKey(key);
      Result<HintView> view =
          parts.has_value() ? DecodeHintValue(value) : Result<HintView>(DataLoss("bad row key"));
      if (!view.ok()) {
        LogCorrupt(key, view.status().message());
        dead.Delete(key);
        ++corrupt_count;
        continue;
      }
      const uint64_t bytes = key.size() + value.size();
      if (now_ms - view->created_ms >= limits_.max_age_ms) {
        dead.Delete(key);
        ++expired_count;
        expired_bytes += bytes;
        continue;
      }
      if (!visit(Row{parts->seq, bytes, value})) {
        done = true;
        break;
      }
    }
    if (dead.size() >= kMaxDeletesPerWrite) MESHKV_RETURN_IF_ERROR(remove_dead());
    if (rows->size() < kPageRows) break;
  }
  MESHKV_RETURN_IF_ERROR(remove_dead());
  return total_expired;
}

void HintStore::AddPending(NodeId target, uint64_t count, uint64_t bytes) {
  if (count == 0) return;
  Pending& pending = pending_[target];
  pending.count += count;
  pending.bytes += bytes;
  if (pending_gauge_ != nullptr) pending_gauge_->Add(static_cast<int64_t>(count));
  if (pending_bytes_gauge_ != nullptr) pending_bytes_gauge_->Add(static_cast<int64_t>(bytes));
}

void HintStore::SubtractPending(NodeId target, uint64_t count, uint64_t bytes) {
  if (count == 0) return;
  auto it = pending_.find(target);
  if (it == pending_.end()) return;
  // Saturating: counts are exact unless someone else wrote under "h/".
  count = std::min(count, it->second.count);
  bytes = std::min(bytes, it->second.bytes);
  it->second.count -= count;
  it->second.bytes -= bytes;
  if (pending_gauge_ != nullptr) pending_gauge_->Add(-static_cast<int64_t>(count));
  if (pending_bytes_gauge_ != nullptr) pending_bytes_gauge_->Add(-static_cast<int64_t>(bytes));
  if (it->second.count == 0) {
    if (pending_bytes_gauge_ != nullptr) {
      pending_bytes_gauge_->Add(-static_cast<int64_t>(it->second.bytes));
    }
    pending_.erase(it);
  }
}

void HintStore::LogCorrupt(std::string_view row_key, std::string_view why) {
  spdlog::warn("hints: removing undecodable row 0x{} from the local table: {}", HexEncode(row_key),
               why);
}

}  // namespace meshkv::replication
