// DNS numeric constants and their mnemonics: RR types (RFC 1035 3.2.2 and
// later RFCs), classes (RFC 1035 3.2.4), RCODEs (RFC 1035 4.1.1, RFC 6891
// 6.1.3) and opcodes (RFC 1035 4.1.1, RFC 1996, RFC 2136). Pure functions, no
// state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meshkv::dns {

namespace RrType {
constexpr uint16_t kA = 1;       // RFC 1035
constexpr uint16_t kNs = 2;      // RFC 1035
constexpr uint16_t kCname = 5;   // RFC 1035
constexpr uint16_t kSoa = 6;     // RFC 1035
constexpr uint16_t kPtr = 12;    // RFC 1035
constexpr uint16_t kMx = 15;     // RFC 1035
constexpr uint16_t kTxt = 16;    // RFC 1035
constexpr uint16_t kAaaa = 28;   // RFC 3596
constexpr uint16_t kSrv = 33;    // RFC 2782
constexpr uint16_t kOpt = 41;    // RFC 6891
constexpr uint16_t kIxfr = 251;  // RFC 1995
constexpr uint16_t kAxfr = 252;  // RFC 5936
constexpr uint16_t kAny = 255;   // RFC 1035, RFC 8482
constexpr uint16_t kCaa = 257;   // RFC 8659
}  // namespace RrType

namespace RrClass {
constexpr uint16_t kIn = 1;
constexpr uint16_t kCh = 3;
constexpr uint16_t kNone = 254;  // RFC 2136 2.4 (UPDATE only)
constexpr uint16_t kAny = 255;
}  // namespace RrClass

// RFC 1035 4.1.1, RFC 2136 2.2, RFC 6891 9. Values above 15 need EDNS.
enum class Rcode : uint16_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
  kYxDomain = 6,
  kYxRrset = 7,
  kNxRrset = 8,
  kNotAuth = 9,
  kNotZone = 10,
  kBadVers = 16,
};

enum class Opcode : uint8_t { kQuery = 0, kIQuery = 1, kStatus = 2, kNotify = 4, kUpdate = 5 };

// Case-insensitive mnemonic of the types above ("A", "aaaa", "CAA") or the
// generic "TYPE123" (RFC 3597 5). nullopt otherwise.
std::optional<uint16_t> TypeFromText(std::string_view text);
// Mnemonic for the types above, "TYPE<n>" for any other.
std::string TypeToText(uint16_t type);

// "IN", "CH", "NONE", "ANY" (case-insensitive) or "CLASS<n>" (RFC 3597 5).
std::optional<uint16_t> ClassFromText(std::string_view text);
std::string ClassToText(uint16_t klass);

// "NOERROR", "FORMERR", ... as dig prints them; "RCODE<n>" for others.
std::string RcodeToText(uint16_t rcode);
// "QUERY", "NOTIFY", ...; "OPCODE<n>" for others.
std::string OpcodeToText(Opcode opcode);

}  // namespace meshkv::dns
