// Byte encodings shared by the front ends, the CLI and storage: hex, base64
// (RFC 4648 section 4, padded) and base64url (section 5, unpadded), and
// fixed-width little-endian integers.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "base/status.h"

namespace meshkv {

std::string HexEncode(std::string_view bytes);
Result<std::string> HexDecode(std::string_view hex);

std::string Base64Encode(std::string_view bytes);
// Strict: rejects characters outside the alphabet and bad padding.
Result<std::string> Base64Decode(std::string_view text);

std::string Base64UrlEncode(std::string_view bytes);
Result<std::string> Base64UrlDecode(std::string_view text);

// Text from outside (keys, names, config values) quoted for an error message:
// wrapped in `quote`, the quote and backslash escaped with a backslash, control
// bytes (and, in text that is not UTF-8, every byte above 0x7f) written as
// \xNN, and cut after 64 bytes at a character boundary ("..."), so a message
// is always one printable UTF-8 line.
std::string QuoteForMessage(std::string_view text, char quote = '\'');

// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(std::string_view bytes);

inline void PutFixed64(std::string& out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(buf, 8);
}
// REQUIRES: at least 8 bytes at p.
inline uint64_t GetFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

}  // namespace meshkv
