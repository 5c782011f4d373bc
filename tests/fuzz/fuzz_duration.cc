// Fuzzes ParseDurationMillis and FormatDurationMillis (src/base/duration.h),
// the parser behind ?ttl=, batch "ttl" and duration config keys.
//
// Properties checked beyond "does not crash":
// - an accepted duration is >= 0 and FormatDurationMillis() of it parses back
//   to the same value;
// - every non-negative int64 (taken from the first 8 input bytes) formats to a
//   spelling that parses back to it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "base/duration.h"
#include "fuzz_check.h"

namespace {

void CheckFormatRoundTrip(int64_t millis) {
  const std::string text = meshkv::FormatDurationMillis(millis);
  auto parsed = meshkv::ParseDurationMillis(text);
  if (!parsed.ok()) {
    std::fprintf(stderr, "FormatDurationMillis(%lld) = '%s' does not parse: %s\n",
                 static_cast<long long>(millis), text.c_str(), parsed.status().message().c_str());
  }
  FUZZ_CHECK(parsed.ok());
  FUZZ_CHECK(*parsed == millis);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = meshkv::ParseDurationMillis(text);
  if (parsed.ok()) {
    FUZZ_CHECK(*parsed >= 0);
    CheckFormatRoundTrip(*parsed);
  } else {
    FUZZ_CHECK(parsed.status().code() == meshkv::ErrorCode::kInvalidArgument);
  }

  if (size >= 8) {
    uint64_t raw;
    std::memcpy(&raw, data, sizeof raw);
    CheckFormatRoundTrip(static_cast<int64_t>(raw & uint64_t{std::numeric_limits<int64_t>::max()}));
  }
  return 0;
}
