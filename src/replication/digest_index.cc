#include "replication/digest_index.h"

namespace meshkv::replication {
namespace {

// Merge's order on what the index keeps: version, then (tombstone, expiry).
// Entries equal on all three have the same digest, so which one is kept does
// not matter to the tree.
bool Beats(const Entry& incoming, const IndexedEntry& held) {
  if (incoming.version != held.version) return incoming.version > held.version;
  return std::tie(incoming.tombstone, incoming.expires_at_ms) >
         std::tie(held.tombstone, held.expires_at_ms);
}

}  // namespace

DigestIndex::DigestIndex(std::vector<std::string> namespaces, uint32_t partitions,
                         const Clock& clock)
    : namespaces_(std::move(namespaces)),
      partitions_(partitions == 0 ? 1 : partitions),
      clock_(clock) {
  slots_.reserve(namespaces_.size() * partitions_);
  for (size_t i = 0; i < namespaces_.size() * partitions_; ++i) {
    slots_.push_back(std::make_unique<Slot>());
  }
}

std::optional<size_t> DigestIndex::NamespaceIndex(std::string_view ns) const {
  for (size_t i = 0; i < namespaces_.size(); ++i) {
    if (namespaces_[i] == ns) return i;
  }
  return std::nullopt;
}

void DigestIndex::Fold(Slot& slot, std::string_view key, const Entry& entry, bool announced) {
  std::lock_guard lock(slot.mu);
  auto it = slot.keys.find(key);
  if (it == slot.keys.end()) {
    it = slot.keys.emplace(std::string(key), IndexedEntry{}).first;
  }
  IndexedEntry& held = it->second;
  if (announced && held.writers > 0) --held.writers;
  if (held.present && !Beats(entry, held)) return;
  const uint64_t digest = EntryDigest(key, entry);
  if (held.present) {
    slot.tree.Replace(key, held.digest, digest);
  } else {
    slot.tree.Toggle(key, digest);
  }
  held.version = entry.version;
  held.tombstone = entry.tombstone;
  held.expires_at_ms = entry.expires_at_ms;
  held.digest = digest;
  held.arrived_ms = clock_.NowMillis();
  held.present = true;
}

void DigestIndex::Announce(const WriteBatch& batch) {
  for (const WriteOp& op : batch) {
    auto ns = NamespaceIndex(op.ns);
    if (!ns) continue;
    Slot& slot = SlotOf(*ns, PartitionOf(op.ns, op.key, partitions_));
    std::lock_guard lock(slot.mu);
    auto it = slot.keys.find(op.key);
    if (it == slot.keys.end()) it = slot.keys.emplace(op.key, IndexedEntry{}).first;
    ++it->second.writers;
  }
}

void DigestIndex::Applied(const WriteBatch& batch) {
  for (const WriteOp& op : batch) {
    auto ns = NamespaceIndex(op.ns);
    if (!ns) continue;
    Fold(SlotOf(*ns, PartitionOf(op.ns, op.key, partitions_)), op.key, op.entry,
         /*announced=*/true);
  }
}

void DigestIndex::Withdraw(const WriteBatch& batch) {
  for (const WriteOp& op : batch) {
    auto ns = NamespaceIndex(op.ns);
    if (!ns) continue;
    Slot& slot = SlotOf(*ns, PartitionOf(op.ns, op.key, partitions_));
    std::lock_guard lock(slot.mu);
    auto it = slot.keys.find(op.key);
    if (it == slot.keys.end()) continue;
    if (it->second.writers > 0) --it->second.writers;
    if (!it->second.present && it->second.writers == 0) slot.keys.erase(it);
  }
}

void DigestIndex::Observe(std::string_view ns, std::string_view key, const Entry& entry) {
  auto index = NamespaceIndex(ns);
  if (!index) return;
  Fold(SlotOf(*index, PartitionOf(ns, key, partitions_)), key, entry, /*announced=*/false);
}

Status DigestIndex::Rebuild(Store& store) {
  for (const std::string& ns : namespaces_) {
    ScanOptions options;
    options.include_dead = true;
    options.keys_only = true;
    options.limit = 4096;
    for (;;) {
      auto page = store.Scan(ns, options);
      if (!page.ok()) return page.status();
      for (const KeyEntry& item : page->items) Observe(ns, item.key, item.entry);
      if (!page->more || page->items.empty()) break;
      options.start_after = page->items.back().key;
    }
  }
  return Status::Ok();
}

uint64_t DigestIndex::PartitionRoot(size_t ns, PartitionId partition) {
  Slot& slot = SlotOf(ns, partition);
  std::lock_guard lock(slot.mu);
  return slot.tree.Root();
}

std::vector<uint64_t> DigestIndex::Leaves(size_t ns, PartitionId partition) {
  Slot& slot = SlotOf(ns, partition);
  std::lock_guard lock(slot.mu);
  return slot.tree.Leaves();
}

std::vector<std::pair<std::string, uint64_t>> DigestIndex::LeafEntries(size_t ns,
                                                                       PartitionId partition,
                                                                       uint32_t leaf, size_t limit,
                                                                       bool* truncated,
                                                                       std::vector<Version>* versions) {
  std::vector<std::pair<std::string, uint64_t>> out;
  *truncated = false;
  if (versions != nullptr) versions->clear();
  Slot& slot = SlotOf(ns, partition);
  std::lock_guard lock(slot.mu);
  for (const auto& [key, held] : slot.keys) {
    if (!held.present || leaf_hasher_.LeafOf(key) != leaf) continue;
    if (out.size() >= limit) {
      *truncated = true;
      break;
    }
    out.emplace_back(key, held.digest);
    if (versions != nullptr) versions->push_back(held.version);
  }
  return out;
}

size_t DigestIndex::Size(size_t ns) {
  size_t total = 0;
  for (uint32_t p = 0; p < partitions_; ++p) {
    Slot& slot = SlotOf(ns, PartitionId(p));
    std::lock_guard lock(slot.mu);
    for (const auto& [key, held] : slot.keys) total += held.present ? 1 : 0;
  }
  return total;
}

std::vector<std::pair<std::string, Version>> DigestIndex::OldTombstones(size_t ns,
                                                                        PartitionId partition,
                                                                        int64_t before_wall_ms,
                                                                        int64_t arrived_before_ms,
                                                                        size_t limit) {
  std::vector<std::pair<std::string, Version>> out;
  Slot& slot = SlotOf(ns, partition);
  std::lock_guard lock(slot.mu);
  for (const auto& [key, held] : slot.keys) {
    if (out.size() >= limit) break;
    if (held.present && held.tombstone && held.version.timestamp.wall_millis() < before_wall_ms &&
        held.arrived_ms < arrived_before_ms) {
      out.emplace_back(key, held.version);
    }
  }
  return out;
}

Result<size_t> DigestIndex::Purge(
    size_t ns, PartitionId partition,
    const std::vector<std::pair<std::string, Version>>& candidates,
    const std::function<Status(const std::vector<std::string>&)>& remove) {
  Slot& slot = SlotOf(ns, partition);
  std::lock_guard lock(slot.mu);
  std::vector<std::string> keys;
  for (const auto& [key, version] : candidates) {
    auto it = slot.keys.find(key);
    if (it == slot.keys.end()) continue;
    const IndexedEntry& held = it->second;
    if (held.present && held.tombstone && held.version == version && held.writers == 0) {
      keys.push_back(key);
    }
  }
  if (keys.empty()) return size_t{0};
  MESHKV_RETURN_IF_ERROR(remove(keys));
  for (const std::string& key : keys) {
    auto it = slot.keys.find(key);
    slot.tree.Toggle(key, it->second.digest);
    slot.keys.erase(it);
  }
  return keys.size();
}

}  // namespace meshkv::replication
