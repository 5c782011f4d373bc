#include "frontend/dns/wire/types.h"

#include <array>
#include <charconv>
#include <utility>

#include "frontend/dns/wire/wire_internal.h"

namespace meshkv::dns {
namespace {

constexpr std::array<std::pair<uint16_t, std::string_view>, 14> kTypeNames = {{
    {RrType::kA, "A"},
    {RrType::kNs, "NS"},
    {RrType::kCname, "CNAME"},
    {RrType::kSoa, "SOA"},
    {RrType::kPtr, "PTR"},
    {RrType::kMx, "MX"},
    {RrType::kTxt, "TXT"},
    {RrType::kAaaa, "AAAA"},
    {RrType::kSrv, "SRV"},
    {RrType::kOpt, "OPT"},
    {RrType::kIxfr, "IXFR"},
    {RrType::kAxfr, "AXFR"},
    {RrType::kAny, "ANY"},
    {RrType::kCaa, "CAA"},
}};

constexpr std::array<std::pair<uint16_t, std::string_view>, 4> kClassNames = {{
    {RrClass::kIn, "IN"},
    {RrClass::kCh, "CH"},
    {RrClass::kNone, "NONE"},
    {RrClass::kAny, "ANY"},
}};

using internal::EqualIgnoreCase;

// "<prefix><decimal 0..65535>" (RFC 3597 5), digits only.
std::optional<uint16_t> GenericNumber(std::string_view text, std::string_view prefix) {
  if (text.size() <= prefix.size() || !EqualIgnoreCase(text.substr(0, prefix.size()), prefix)) {
    return std::nullopt;
  }
  const std::string_view digits = text.substr(prefix.size());
  if (digits.size() > 5) return std::nullopt;
  uint32_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

}  // namespace

std::optional<uint16_t> TypeFromText(std::string_view text) {
  for (const auto& [type, name] : kTypeNames) {
    if (EqualIgnoreCase(text, name)) return type;
  }
  return GenericNumber(text, "TYPE");
}

std::string TypeToText(uint16_t type) {
  for (const auto& [value, name] : kTypeNames) {
    if (value == type) return std::string(name);
  }
  return "TYPE" + std::to_string(type);
}

std::optional<uint16_t> ClassFromText(std::string_view text) {
  for (const auto& [klass, name] : kClassNames) {
    if (EqualIgnoreCase(text, name)) return klass;
  }
  return GenericNumber(text, "CLASS");
}

std::string ClassToText(uint16_t klass) {
  for (const auto& [value, name] : kClassNames) {
    if (value == klass) return std::string(name);
  }
  return "CLASS" + std::to_string(klass);
}

std::string RcodeToText(uint16_t rcode) {
  static constexpr std::array<std::string_view, 11> kNames = {
      "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
      "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
  if (rcode < kNames.size()) return std::string(kNames[rcode]);
  if (rcode == static_cast<uint16_t>(Rcode::kBadVers)) return "BADVERS";
  return "RCODE" + std::to_string(rcode);
}

std::string OpcodeToText(Opcode opcode) {
  switch (opcode) {
    case Opcode::kQuery:
      return "QUERY";
    case Opcode::kIQuery:
      return "IQUERY";
    case Opcode::kStatus:
      return "STATUS";
    case Opcode::kNotify:
      return "NOTIFY";
    case Opcode::kUpdate:
      return "UPDATE";
  }
  return "OPCODE" + std::to_string(static_cast<unsigned>(opcode));
}

}  // namespace meshkv::dns
