#include "model/entry.h"

#include <tuple>

#include "base/encoding.h"

namespace meshkv {
namespace {

constexpr uint8_t kFormat = 1;
constexpr size_t kHeaderBytes = 2 + 8 + 8 + 8;

}  // namespace

std::string Version::ToString() const {
  return std::to_string(timestamp.raw()) + "-" + origin.ToString();
}

Result<Version> Version::Parse(std::string_view text) {
  size_t dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 20) {
    return InvalidArgument("version must look like <timestamp>-<origin node id>");
  }
  uint64_t ts = 0;
  for (char c : text.substr(0, dash)) {
    if (c < '0' || c > '9') return InvalidArgument("version timestamp must be decimal");
    uint64_t next = ts * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != ts) return InvalidArgument("version timestamp overflows");
    ts = next;
  }
  auto origin = NodeId::Parse(text.substr(dash + 1));
  if (!origin.ok()) return origin.status();
  return Version{HlcTimestamp(ts), *origin};
}

const Entry& Merge(const Entry& a, const Entry& b) {
  if (a.version != b.version) return a.version > b.version ? a : b;
  // Same version: deterministic, order-independent choice. Tombstones win so a
  // duplicated delete can never be undone by a duplicated put.
  auto rank = [](const Entry& e) { return std::tie(e.tombstone, e.expires_at_ms, e.value); };
  return rank(a) >= rank(b) ? a : b;
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) return InvalidArgument("key must not be empty");
  if (key.size() > kMaxKeyBytes) {
    return InvalidArgument("key is " + std::to_string(key.size()) + " bytes; the limit is " +
                           std::to_string(kMaxKeyBytes));
  }
  return Status::Ok();
}

std::string EncodeEntry(const Entry& entry) {
  std::string out;
  out.reserve(kHeaderBytes + entry.value.size());
  out += static_cast<char>(kFormat);
  out += static_cast<char>(entry.tombstone ? 1 : 0);
  PutFixed64(out, entry.version.timestamp.raw());
  PutFixed64(out, entry.version.origin.value());
  PutFixed64(out, static_cast<uint64_t>(entry.expires_at_ms));
  out += entry.value;
  return out;
}

Result<Version> DecodeEntryVersion(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes || static_cast<uint8_t>(bytes[0]) != kFormat ||
      (static_cast<uint8_t>(bytes[1]) & ~1u) != 0) {
    return DataLoss("stored entry is corrupt (bad header)");
  }
  return Version{HlcTimestamp(GetFixed64(bytes.data() + 2)), NodeId(GetFixed64(bytes.data() + 10))};
}

Result<Entry> DecodeEntry(std::string_view bytes) {
  auto version = DecodeEntryVersion(bytes);
  if (!version.ok()) return version.status();
  Entry e;
  e.version = *version;
  e.tombstone = (bytes[1] & 1) != 0;
  e.expires_at_ms = static_cast<int64_t>(GetFixed64(bytes.data() + 18));
  e.value.assign(bytes.substr(kHeaderBytes));
  if (e.tombstone && !e.value.empty())
    return DataLoss("stored entry is corrupt (tombstone with value)");
  return e;
}

std::string_view MergeEncoded(std::string_view a, std::string_view b) {
  // Versions decide almost always; only equal versions need the full entries.
  // DecodeEntryVersion checks the header; a tombstone must also carry no value.
  auto well_formed = [](std::string_view e) { return (e[1] & 1) == 0 || e.size() == kHeaderBytes; };
  auto va = DecodeEntryVersion(a);
  auto vb = DecodeEntryVersion(b);
  if (va.ok() && vb.ok() && *va != *vb && well_formed(a) && well_formed(b)) {
    return *va > *vb ? a : b;
  }
  auto da = DecodeEntry(a);
  auto db = DecodeEntry(b);
  if (!da.ok()) return b;
  if (!db.ok()) return a;
  return &Merge(*da, *db) == &*da ? a : b;
}

}  // namespace meshkv
