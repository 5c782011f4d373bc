#include "replication/hash_tree.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cassert>

#include "base/encoding.h"

namespace meshkv::replication {
namespace {

constexpr uint32_t kMaxLeaves = uint32_t{1} << 20;
// Seed of the key hash that picks the leaf; the partition hash is unseeded
// over (namespace, 0, key), so the two are independent.
constexpr uint64_t kLeafSeed = 0x6d73686b762d6c66;  // "mshkv-lf"

uint64_t HashChildren(uint64_t left, uint64_t right) {
  if (left == 0 && right == 0) return 0;
  std::string bytes;
  bytes.reserve(16);
  PutFixed64(bytes, left);
  PutFixed64(bytes, right);
  return XXH3_64bits(bytes.data(), bytes.size());
}

}  // namespace

uint64_t EntryDigest(std::string_view key, const Entry& entry) {
  std::string bytes;
  bytes.reserve(4 + key.size() + 8 + 8 + 1 + 8);
  const uint32_t key_size = static_cast<uint32_t>(key.size());
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>(key_size >> (8 * i)));
  bytes.append(key);
  PutFixed64(bytes, entry.version.timestamp.raw());
  PutFixed64(bytes, entry.version.origin.value());
  bytes.push_back(entry.tombstone ? 1 : 0);
  PutFixed64(bytes, static_cast<uint64_t>(entry.expires_at_ms));
  return XXH3_128bits(bytes.data(), bytes.size()).low64;
}

HashTree::HashTree(uint32_t leaves) {
  assert(leaves >= 1 && leaves <= kMaxLeaves && std::has_single_bit(leaves));
  leaf_count_ = std::bit_ceil(std::clamp<uint32_t>(leaves, 1, kMaxLeaves));
  nodes_.assign(2 * size_t{leaf_count_}, 0);
  dirty_.assign(leaf_count_, false);
}

uint32_t HashTree::LeafOf(std::string_view key) const {
  if (leaf_count_ == 1) return 0;
  const uint64_t hash = XXH3_64bits_withSeed(key.data(), key.size(), kLeafSeed);
  return static_cast<uint32_t>(hash >> (64 - std::countr_zero(leaf_count_)));
}

void HashTree::Toggle(std::string_view key, uint64_t digest) {
  size_t node = size_t{leaf_count_} + LeafOf(key);
  nodes_[node] ^= digest;
  for (node /= 2; node >= 1 && !dirty_[node]; node /= 2) dirty_[node] = true;
}

void HashTree::Replace(std::string_view key, uint64_t old_digest, uint64_t new_digest) {
  Toggle(key, old_digest);
  Toggle(key, new_digest);
}

uint64_t HashTree::Root() {
  // Children have higher indexes than parents: one descending sweep over the
  // dirty inner nodes recomputes bottom-up.
  if (leaf_count_ > 1 && dirty_[1]) {
    for (size_t i = leaf_count_ - 1; i >= 1; --i) {
      if (!dirty_[i]) continue;
      nodes_[i] = HashChildren(nodes_[2 * i], nodes_[2 * i + 1]);
      dirty_[i] = false;
    }
  }
  return nodes_[1];
}

std::vector<uint64_t> HashTree::Leaves() const {
  return {nodes_.begin() + leaf_count_, nodes_.end()};
}

std::vector<uint32_t> HashTree::DifferingLeaves(const std::vector<uint64_t>& remote_leaves) const {
  std::vector<uint32_t> out;
  const bool same_size = remote_leaves.size() == leaf_count_;
  for (uint32_t j = 0; j < leaf_count_; ++j) {
    if (!same_size || nodes_[leaf_count_ + j] != remote_leaves[j]) out.push_back(j);
  }
  return out;
}

void HashTree::Clear() {
  std::fill(nodes_.begin(), nodes_.end(), 0);
  std::fill(dirty_.begin(), dirty_.end(), false);
}

LeafDiff DiffLeafEntries(const std::vector<std::pair<std::string, uint64_t>>& local,
                         const std::vector<std::pair<std::string, uint64_t>>& remote) {
  LeafDiff diff;
  size_t i = 0, j = 0;
  while (i < local.size() && j < remote.size()) {
    const auto& [local_key, local_digest] = local[i];
    const auto& [remote_key, remote_digest] = remote[j];
    if (local_key < remote_key) {
      diff.only_local.push_back(local_key);
      ++i;
    } else if (remote_key < local_key) {
      diff.only_remote.push_back(remote_key);
      ++j;
    } else {
      if (local_digest != remote_digest) diff.differing.push_back(local_key);
      ++i;
      ++j;
    }
  }
  for (; i < local.size(); ++i) diff.only_local.push_back(local[i].first);
  for (; j < remote.size(); ++j) diff.only_remote.push_back(remote[j].first);
  return diff;
}

}  // namespace meshkv::replication
