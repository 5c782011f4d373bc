// Fuzzes the storage encoding of entries (src/model/entry.h): DecodeEntry,
// DecodeEntryVersion and MergeEncoded (the RocksDB merge operator) on
// arbitrary bytes, as they would come from a corrupt or hostile disk or peer,
// plus Version::Parse.
//
// The input is split in two: a length-prefixed first value `a` and the rest
// `b` (FuzzedDataProvider::ConsumeRandomLengthString).
//
// Properties checked beyond "does not crash":
// - DecodeEntry fails only with kDataLoss, and EncodeEntry(DecodeEntry(x)) == x;
// - DecodeEntryVersion agrees with DecodeEntry whenever DecodeEntry succeeds;
// - MergeEncoded returns one of its arguments, the same winner (by value)
//   whichever order they are given in, and Merge(x, x) == x;
// - Version::Parse(v.ToString()) == v for every parsed version.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "model/entry.h"

namespace {

void CheckDecode(std::string_view bytes) {
  auto entry = meshkv::DecodeEntry(bytes);
  auto version = meshkv::DecodeEntryVersion(bytes);
  if (!entry.ok()) {
    FUZZ_CHECK(entry.status().code() == meshkv::ErrorCode::kDataLoss);
    if (!version.ok()) FUZZ_CHECK(version.status().code() == meshkv::ErrorCode::kDataLoss);
    return;
  }
  FUZZ_CHECK(meshkv::EncodeEntry(*entry) == bytes);
  FUZZ_CHECK(version.ok() && *version == entry->version);
  FUZZ_CHECK(!entry->tombstone || entry->value.empty());
  FUZZ_CHECK(&meshkv::Merge(*entry, *entry) == &*entry);
}

void CheckMerge(std::string_view a, std::string_view b) {
  const std::string_view ab = meshkv::MergeEncoded(a, b);
  const std::string_view ba = meshkv::MergeEncoded(b, a);
  FUZZ_CHECK(ab.data() == a.data() || ab.data() == b.data());
  FUZZ_CHECK(ab.size() == (ab.data() == a.data() ? a.size() : b.size()));
  FUZZ_CHECK(ba.data() == a.data() || ba.data() == b.data());
  auto da = meshkv::DecodeEntry(a);
  auto db = meshkv::DecodeEntry(b);
  if (da.ok() && db.ok()) {
    auto winner_ab = meshkv::DecodeEntry(ab);
    auto winner_ba = meshkv::DecodeEntry(ba);
    FUZZ_CHECK(winner_ab.ok() && winner_ba.ok());
    FUZZ_CHECK(*winner_ab == *winner_ba);
    FUZZ_CHECK(winner_ab->version == std::max(da->version, db->version));
  } else if (da.ok() != db.ok()) {
    // An undecodable side loses to a decodable one.
    const std::string_view good = da.ok() ? a : b;
    FUZZ_CHECK(ab == good && ba == good);
  }
}

void CheckVersionParse(std::string_view text) {
  auto version = meshkv::Version::Parse(text);
  if (!version.ok()) return;
  FUZZ_CHECK(version->origin.valid());
  auto again = meshkv::Version::Parse(version->ToString());
  FUZZ_CHECK(again.ok() && *again == *version);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckDecode(std::string_view(reinterpret_cast<const char*>(data), size));
  CheckVersionParse(std::string_view(reinterpret_cast<const char*>(data), size));

  FuzzedDataProvider provider(data, size);
  const std::string a = provider.ConsumeRandomLengthString(size);
  const std::string b = provider.ConsumeRemainingBytesAsString();
  CheckDecode(a);
  CheckDecode(b);
  CheckMerge(a, b);
  return 0;
}
