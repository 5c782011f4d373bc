// Fuzzes the byte encodings in src/base/encoding.h: hex, base64 (padded,
// strict) and base64url (unpadded), and the UTF-8 validator.
//
// Properties checked beyond "does not crash":
// - decode(encode(x)) == x for every byte string x and every encoding;
// - a decoder that accepts arbitrary input accepts only the canonical
//   spelling: encode(decode(x)) == x (hex compared case-insensitively);
// - IsValidUtf8 agrees with an independent RFC 3629 section 4 grammar check.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/encoding.h"
#include "fuzz_check.h"

namespace {

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// RFC 3629 section 4, UTF8-octets, written as its byte-range grammar.
bool Utf8ByGrammar(std::string_view text) {
  auto in = [](unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
  size_t i = 0;
  const size_t n = text.size();
  auto at = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  auto tails = [&](size_t from, size_t count) {
    if (from + count > n) return false;
    for (size_t k = from; k < from + count; ++k) {
      if (!in(at(k), 0x80, 0xbf)) return false;
    }
    return true;
  };
  while (i < n) {
    const unsigned char c = at(i);
    size_t len;
    if (c <= 0x7f) {
      len = 1;
    } else if (in(c, 0xc2, 0xdf)) {
      len = 2;
      if (!tails(i + 1, 1)) return false;
    } else if (c == 0xe0) {
      len = 3;
      if (i + 1 >= n || !in(at(i + 1), 0xa0, 0xbf) || !tails(i + 2, 1)) return false;
    } else if (in(c, 0xe1, 0xec) || in(c, 0xee, 0xef)) {
      len = 3;
      if (!tails(i + 1, 2)) return false;
    } else if (c == 0xed) {
      len = 3;
      if (i + 1 >= n || !in(at(i + 1), 0x80, 0x9f) || !tails(i + 2, 1)) return false;
    } else if (c == 0xf0) {
      len = 4;
      if (i + 1 >= n || !in(at(i + 1), 0x90, 0xbf) || !tails(i + 2, 2)) return false;
    } else if (in(c, 0xf1, 0xf3)) {
      len = 4;
      if (!tails(i + 1, 3)) return false;
    } else if (c == 0xf4) {
      len = 4;
      if (i + 1 >= n || !in(at(i + 1), 0x80, 0x8f) || !tails(i + 2, 2)) return false;
    } else {
      return false;
    }
    i += len;
  }
  return true;
}

void CheckRoundTrips(std::string_view bytes) {
  auto hex = meshkv::HexDecode(meshkv::HexEncode(bytes));
  FUZZ_CHECK(hex.ok() && *hex == bytes);
  auto base64 = meshkv::Base64Decode(meshkv::Base64Encode(bytes));
  FUZZ_CHECK(base64.ok() && *base64 == bytes);
  auto base64url = meshkv::Base64UrlDecode(meshkv::Base64UrlEncode(bytes));
  FUZZ_CHECK(base64url.ok() && *base64url == bytes);
}

void CheckDecoders(std::string_view text) {
  if (auto hex = meshkv::HexDecode(text); hex.ok()) {
    FUZZ_CHECK(hex->size() * 2 == text.size());
    FUZZ_CHECK(meshkv::HexEncode(*hex) == Lowercase(text));
  }
  if (auto base64 = meshkv::Base64Decode(text); base64.ok()) {
    FUZZ_CHECK(meshkv::Base64Encode(*base64) == text);
  }
  if (auto base64url = meshkv::Base64UrlDecode(text); base64url.ok()) {
    FUZZ_CHECK(meshkv::Base64UrlEncode(*base64url) == text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckRoundTrips(input);
  CheckDecoders(input);
  FUZZ_CHECK(meshkv::IsValidUtf8(input) == Utf8ByGrammar(input));
  return 0;
}
