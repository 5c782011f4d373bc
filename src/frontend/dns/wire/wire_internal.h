// Internal to meshkv_dns_wire (not part of its API), shared by its .cc files:
// big-endian integers in wire bytes, ASCII case folding, quoting text for
// error messages, BIND-style durations, reading names from wire bytes, and
// the layout of rdata types that embed names (rdata.cc: validation, canonical
// form; message.cc: decompression, compression).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "frontend/dns/wire/name.h"

namespace meshkv::dns::internal {

// ---- Big-endian integers (RFC 1035 2.3.2) -----------------------------------

// REQUIRES: bytes.size() >= pos + 2 (pos + 4 for ReadU32).
inline uint16_t ReadU16(std::string_view bytes, size_t pos) {
  return static_cast<uint16_t>((static_cast<uint8_t>(bytes[pos]) << 8) |
                               static_cast<uint8_t>(bytes[pos + 1]));
}

inline uint32_t ReadU32(std::string_view bytes, size_t pos) {
  return (uint32_t{ReadU16(bytes, pos)} << 16) | ReadU16(bytes, pos + 2);
}

inline void AppendU16(std::string& out, uint16_t value) {
  out += static_cast<char>(value >> 8);
  out += static_cast<char>(value & 0xFF);
}

inline void AppendU32(std::string& out, uint32_t value) {
  AppendU16(out, static_cast<uint16_t>(value >> 16));
  AppendU16(out, static_cast<uint16_t>(value & 0xFFFF));
}

// ---- Text -------------------------------------------------------------------

inline char AsciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Equal but for the case of ASCII letters (RFC 4343); other octets exactly.
inline bool EqualIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

// Appends `octet` as a \DDD escape: backslash and three decimal digits
// (RFC 1035 5.1).
inline void AppendDecimalEscape(std::string& out, unsigned char octet) {
  out += '\\';
  out += static_cast<char>('0' + octet / 100);
  out += static_cast<char>('0' + octet / 10 % 10);
  out += static_cast<char>('0' + octet % 10);
}

// `text` in single quotes for an error message: printable ASCII kept, other
// octets as \DDD, cut after `max_bytes` bytes (then "..." follows).
inline std::string Quote(std::string_view text, size_t max_bytes) {
  std::string out = "'";
  for (char c : text.substr(0, max_bytes)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      AppendDecimalEscape(out, u);
    } else {
      out += c;
    }
  }
  if (text.size() > max_bytes) out += "...";
  out += "'";
  return out;
}

// ---- Durations --------------------------------------------------------------

// What ParseDuration found wrong; each caller words its own message.
enum class DurationError : uint8_t {
  kEmpty,
  kNumberAboveMax,     // one number (before its unit) is above `max`
  kTotalAboveMax,      // the sum so far is above `max`
  kBadCharacter,       // neither a digit nor a unit letter
  kUnitWithoutNumber,  // "h", "1hm"
  kNumberAfterUnit,    // "1h30"
};

struct DurationResult {
  uint32_t seconds = 0;  // meaningful when `error` is empty
  std::optional<DurationError> error;
};

// Seconds ("3600") or BIND-style units w d h m s, case-insensitive, summed
// ("1w2d3h4m5s", "1h30m", "90s"); at most `max`. Serves dns::ParseTtl (TTLs,
// RFC 2181 8) and the SOA timers in RdataFromText. Defined in rdata.cc.
DurationResult ParseDuration(std::string_view text, uint32_t max);

// ---- Names and rdata layouts ------------------------------------------------

struct NameRead {
  Name name;
  size_t end;  // offset just past the name's bytes at `offset` (pointer included)
};

// Reads the name that starts at bytes[offset] (RFC 1035 3.1). With
// `allow_pointers`, follows compression pointers (RFC 1035 4.1.4); each must
// point strictly before every position already visited for this name (so no
// loops, no forward pointers) and not into the 12-byte header. Without it a
// pointer is an error (RFC 3597 4, RFC 2782).
Result<NameRead> ReadName(std::string_view bytes, size_t offset, bool allow_pointers);

// Rdata made of fixed-size fields and names, in order (RFC 1035 3.3).
struct RdataField {
  enum Kind : uint8_t { kEnd, kName, kFixed } kind;
  uint8_t size;  // octets, for kFixed
};
struct RdataLayout {
  RdataField fields[4];
  // The writer may compress the names: the RFC 1035 types only (RFC 3597 4);
  // never SRV (RFC 2782). The parser expands pointers for every layout type.
  bool compressible;
  // Index in `fields` of the name answers chase (RdataTargetName), or -1.
  int target_field;
};

// The layout of NS, CNAME, PTR, MX, SOA, SRV; nullptr for other types.
const RdataLayout* NameLayout(uint16_t type);

}  // namespace meshkv::dns::internal
