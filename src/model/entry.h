// The replicated unit: an Entry is the state of one key in one namespace.
//
// Version = (HLC timestamp, origin node id), ordered lexicographically. Merge
// is the one pure function that combines two entries for the same key: the
// higher version wins; a tombstone is just an entry. Merge is commutative,
// associative and idempotent, so replicas that receive the same set of writes
// in any order, any number of times, end up equal.
//
// Expiry is absolute (Unix milliseconds), so every replica agrees on when an
// entry dies. Expired entries and tombstones read as absent.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/hlc.h"
#include "base/node_id.h"
#include "base/status.h"

namespace meshkv {

inline constexpr size_t kMaxKeyBytes = 1024;
// Longest TTL accepted anywhere (100 years), so now + ttl never overflows.
inline constexpr int64_t kMaxTtlMillis = int64_t{100} * 365 * 24 * 3600 * 1000;

struct Version {
  HlcTimestamp timestamp;
  NodeId origin;

  friend constexpr auto operator<=>(const Version&, const Version&) = default;
  // "<timestamp>-<origin hex>", e.g. "111604172800000000-1f2e3d4c5b6a7988".
  std::string ToString() const;
  static Result<Version> Parse(std::string_view text);
};

struct Entry {
  std::string value;  // empty for tombstones
  Version version;
  int64_t expires_at_ms = 0;  // 0 = never
  bool tombstone = false;

  // Live = not a tombstone and not expired at `now_ms`.
  bool IsLive(int64_t now_ms) const {
    return !tombstone && (expires_at_ms == 0 || now_ms < expires_at_ms);
  }
  friend bool operator==(const Entry&, const Entry&) = default;
};

// Returns whichever of a and b survives. Ties on version (which only happen
// when the same write arrives twice, or from a buggy peer) are broken by the
// remaining fields so the result never depends on argument order.
const Entry& Merge(const Entry& a, const Entry& b);

// Validates a key: 1..kMaxKeyBytes bytes, any byte values.
Status ValidateKey(std::string_view key);

// Storage encoding of an Entry (the key is stored separately):
//   u8 format(=1) | u8 flags(bit0 tombstone) | u64 timestamp | u64 origin |
//   i64 expires_at_ms | value bytes
// All integers little-endian. Decode rejects anything else with kDataLoss.
std::string EncodeEntry(const Entry& entry);
Result<Entry> DecodeEntry(std::string_view bytes);

// Version of an encoded entry without copying its value.
Result<Version> DecodeEntryVersion(std::string_view bytes);

// Merge on encoded entries (used by the RocksDB merge operator): returns the
// bytes of the winner. An undecodable side loses to a decodable one.
std::string_view MergeEncoded(std::string_view a, std::string_view b);

}  // namespace meshkv
