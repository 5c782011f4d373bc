#include "frontend/dns/wire/rdata.h"

#include <arpa/inet.h>

#include <cstring>
#include <vector>

#include "frontend/dns/wire/types.h"
#include "frontend/dns/wire/wire_internal.h"

namespace meshkv::dns {
namespace internal {

const RdataLayout* NameLayout(uint16_t type) {
  using F = RdataField;
  // RFC 1035 3.3.11 (NS), 3.3.1 (CNAME), 3.3.12 (PTR).
  static constexpr RdataLayout kSingleName = {{{F::kName, 0}, {F::kEnd, 0}}, true, 0};
  // RFC 1035 3.3.9: PREFERENCE(16) EXCHANGE.
  static constexpr RdataLayout kMx = {{{F::kFixed, 2}, {F::kName, 0}, {F::kEnd, 0}}, true, 1};
  // RFC 1035 3.3.13: MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM.
  static constexpr RdataLayout kSoa = {
      {{F::kName, 0}, {F::kName, 0}, {F::kFixed, 20}, {F::kEnd, 0}}, true, -1};
  // RFC 2782: PRIORITY WEIGHT PORT TARGET; the target is never compressed.
  static constexpr RdataLayout kSrv = {{{F::kFixed, 6}, {F::kName, 0}, {F::kEnd, 0}}, false, 1};
  switch (type) {
    case RrType::kNs:
    case RrType::kCname:
    case RrType::kPtr:
      return &kSingleName;
    case RrType::kMx:
      return &kMx;
    case RrType::kSoa:
      return &kSoa;
    case RrType::kSrv:
      return &kSrv;
    default:
      return nullptr;
  }
}

DurationResult ParseDuration(std::string_view text, uint32_t max) {
  if (text.empty()) return {0, DurationError::kEmpty};
  uint64_t total = 0;
  uint64_t current = 0;
  bool have_digits = false;
  bool have_unit = false;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      current = current * 10 + static_cast<uint64_t>(c - '0');
      if (current > max) return {0, DurationError::kNumberAboveMax};
      have_digits = true;
      continue;
    }
    uint64_t unit = 0;
    switch (c) {
      case 's':
      case 'S':
        unit = 1;
        break;
      case 'm':
      case 'M':
        unit = 60;
        break;
      case 'h':
      case 'H':
        unit = 3600;
        break;
      case 'd':
      case 'D':
        unit = 86400;
        break;
      case 'w':
      case 'W':
        unit = 604800;
        break;
      default:
        return {0, DurationError::kBadCharacter};
    }
    if (!have_digits) return {0, DurationError::kUnitWithoutNumber};
    total += current * unit;  // no overflow: current <= max < 2^32, unit < 2^20
    if (total > max) return {0, DurationError::kTotalAboveMax};
    current = 0;
    have_digits = false;
    have_unit = true;
  }
  if (have_digits) {
    if (have_unit) return {0, DurationError::kNumberAfterUnit};
    total = current;
  }
  return {static_cast<uint32_t>(total), std::nullopt};
}

}  // namespace internal

namespace {

using internal::AppendU16;
using internal::AppendU32;
using internal::NameLayout;
using internal::RdataField;
using internal::RdataLayout;
using internal::ReadU16;
using internal::ReadU32;

Status FieldError(std::string_view field, std::string_view problem) {
  return InvalidArgument(std::string(field) + ": " + std::string(problem));
}

bool IsAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// ---- Wire side --------------------------------------------------------------

// Visits the fields of layout rdata in order. `on_name(name)` and
// `on_fixed(bytes)` are called per field. Fails when the rdata does not match
// the layout exactly.
template <typename OnName, typename OnFixed>
Status WalkLayout(const RdataLayout& layout, std::string_view rdata, OnName on_name,
                  OnFixed on_fixed) {
  size_t pos = 0;
  for (const RdataField& field : layout.fields) {
    if (field.kind == RdataField::kEnd) break;
    if (field.kind == RdataField::kName) {
      auto read = internal::ReadName(rdata, pos, /*allow_pointers=*/false);
      if (!read.ok()) return read.status();
      on_name(read->name);
      pos = read->end;
    } else {
      if (pos + field.size > rdata.size()) return InvalidArgument("rdata too short");
      on_fixed(rdata.substr(pos, field.size));
      pos += field.size;
    }
  }
  if (pos != rdata.size()) return InvalidArgument("trailing bytes in rdata");
  return Status::Ok();
}

// TXT rdata (RFC 1035 3.3.14): one or more <character-string>s filling it.
Result<std::vector<std::string_view>> SplitCharacterStrings(std::string_view rdata) {
  if (rdata.empty()) return InvalidArgument("TXT rdata is empty (needs one character-string)");
  std::vector<std::string_view> strings;
  size_t pos = 0;
  while (pos < rdata.size()) {
    const size_t length = static_cast<uint8_t>(rdata[pos]);
    if (pos + 1 + length > rdata.size()) return InvalidArgument("TXT character-string truncated");
    strings.push_back(rdata.substr(pos + 1, length));
    pos += 1 + length;
  }
  return strings;
}

struct CaaView {
  uint8_t flags;
  std::string_view tag;
  std::string_view value;
};

// RFC 8659 4.1: FLAGS(8) TAG-LENGTH(8) TAG VALUE.
Result<CaaView> SplitCaa(std::string_view rdata) {
  if (rdata.size() < 2) return InvalidArgument("CAA rdata too short");
  const size_t tag_length = static_cast<uint8_t>(rdata[1]);
  if (tag_length < 1 || tag_length > 15) {
    return InvalidArgument("CAA tag length must be 1..15 (RFC 8659 4.1)");
  }
  if (2 + tag_length > rdata.size()) return InvalidArgument("CAA tag truncated");
  CaaView view{static_cast<uint8_t>(rdata[0]), rdata.substr(2, tag_length),
               rdata.substr(2 + tag_length)};
  for (char c : view.tag) {
    if (!IsAlnum(c)) return InvalidArgument("CAA tag must be alphanumeric (RFC 8659 4.1)");
  }
  return view;
}

// RFC 6891 6.1.2: {OPTION-CODE(16) OPTION-LENGTH(16) OPTION-DATA}*.
Status ValidateOptions(std::string_view rdata) {
  size_t pos = 0;
  while (pos < rdata.size()) {
    if (pos + 4 > rdata.size()) return InvalidArgument("EDNS option header truncated");
    const size_t length = ReadU16(rdata, pos + 2);
    if (pos + 4 + length > rdata.size()) return InvalidArgument("EDNS option data truncated");
    pos += 4 + length;
  }
  return Status::Ok();
}

// ---- Text side --------------------------------------------------------------

struct Token {
  std::string_view raw;  // escapes not processed; quotes removed
  bool quoted;
};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Splits presentation text into tokens (RFC 1035 5.1): whitespace separates,
// "..." quotes (backslash escapes inside), '(' ')' are ignored, ';' starts a
// comment to the end of the line.
Result<std::vector<Token>> Tokenize(std::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (IsSpace(c) || c == '(' || c == ')') {
      ++i;
    } else if (c == ';') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '"') {
      const size_t start = ++i;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\\') ++i;
        ++i;
      }
      if (i >= text.size()) return InvalidArgument("unterminated quoted string");
      tokens.push_back({text.substr(start, i - start), true});
      ++i;
    } else {
      const size_t start = i;
      while (i < text.size() && !IsSpace(text[i]) && text[i] != '(' && text[i] != ')' &&
             text[i] != ';') {
        if (text[i] == '\\') {
          if (i + 1 >= text.size()) return InvalidArgument("text ends with a lone backslash");
          ++i;
        }
        ++i;
      }
      tokens.push_back({text.substr(start, i - start), false});
    }
  }
  return tokens;
}

// Processes \X and \DDD escapes (RFC 1035 5.1).
Result<std::string> Unescape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\') {
      out += raw[i];
      continue;
    }
    if (i + 1 >= raw.size()) return InvalidArgument("lone backslash at the end");
    const char next = raw[i + 1];
    if (next >= '0' && next <= '9') {
      if (i + 3 >= raw.size() || raw[i + 2] < '0' || raw[i + 2] > '9' || raw[i + 3] < '0' ||
          raw[i + 3] > '9') {
        return InvalidArgument("bad \\DDD escape (needs 3 digits)");
      }
      const int value = (next - '0') * 100 + (raw[i + 2] - '0') * 10 + (raw[i + 3] - '0');
      if (value > 255) return InvalidArgument("\\DDD escape above 255");
      out += static_cast<char>(value);
      i += 3;
    } else {
      out += next;
      ++i;
    }
  }
  return out;
}

// Appends `bytes` escaped for a quoted <character-string>: '"' and '\' get a
// backslash, non-printable octets become \DDD (as dig and knot print them).
void AppendQuoted(std::string& out, std::string_view bytes) {
  out += '"';
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      internal::AppendDecimalEscape(out, u);
    } else {
      out += c;
    }
  }
  out += '"';
}

// A decimal integer 0..max, digits only.
Result<uint64_t> ParseNumber(const Token& token, uint64_t max, std::string_view field) {
  if (token.quoted) return FieldError(field, "must not be quoted");
  if (token.raw.empty() || token.raw.size() > 20) {
    return FieldError(field, "expected a number, got '" + std::string(token.raw) + "'");
  }
  uint64_t value = 0;
  for (char c : token.raw) {
    if (c < '0' || c > '9') {
      return FieldError(field, "expected a number, got '" + std::string(token.raw) + "'");
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
    if (value > max) {
      return FieldError(field, std::string(token.raw) + " is above " + std::to_string(max));
    }
  }
  return value;
}

// Plain seconds, or BIND-style units: "1w2d3h4m5s" (case-insensitive).
Result<uint32_t> ParseTime(const Token& token, std::string_view field) {
  if (token.quoted) return FieldError(field, "must not be quoted");
  const std::string_view text = token.raw;
  const internal::DurationResult parsed = internal::ParseDuration(text, 0xFFFFFFFF);
  if (!parsed.error) return parsed.seconds;
  switch (*parsed.error) {
    case internal::DurationError::kEmpty:
      return FieldError(field, "empty");
    case internal::DurationError::kNumberAboveMax:
      return FieldError(field, "above 4294967295");
    case internal::DurationError::kTotalAboveMax:
      return FieldError(field, "above 4294967295 seconds");
    case internal::DurationError::kBadCharacter:
      return FieldError(field,
                        "expected seconds or a time like 1h30m, got '" + std::string(text) + "'");
    case internal::DurationError::kUnitWithoutNumber:
      return FieldError(field, "unit without a number in '" + std::string(text) + "'");
    case internal::DurationError::kNumberAfterUnit:
      return FieldError(field, "number without unit after a unit in '" + std::string(text) + "'");
  }
  return FieldError(field, "invalid time");  // not reached: the switch covers every error
}

Result<Name> ParseNameToken(const Token& token, const Name* origin, std::string_view field) {
  if (token.quoted) return FieldError(field, "a domain name must not be quoted");
  auto name = origin != nullptr ? Name::FromText(token.raw, *origin) : Name::FromText(token.raw);
  if (!name.ok()) return FieldError(field, name.status().message());
  return name;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3597 5: \# <length> <hex, whitespace allowed>.
Result<std::string> ParseGeneric(uint16_t type, const std::vector<Token>& tokens) {
  if (tokens.size() < 2) return FieldError("\\# rdata", "length missing");
  auto length = ParseNumber(tokens[1], kMaxRdataLength, "\\# rdata length");
  if (!length.ok()) return length.status();
  std::string rdata;
  rdata.reserve(*length);
  int high = -1;
  for (size_t i = 2; i < tokens.size(); ++i) {
    if (tokens[i].quoted) return FieldError("\\# rdata", "hex must not be quoted");
    for (char c : tokens[i].raw) {
      const int value = HexValue(c);
      if (value < 0) return FieldError("\\# rdata", "not a hex digit: '" + std::string(1, c) + "'");
      if (high < 0) {
        high = value;
      } else {
        rdata += static_cast<char>(high << 4 | value);
        high = -1;
        if (rdata.size() > *length) {
          return FieldError("\\# rdata", "more hex than the length " + std::to_string(*length));
        }
      }
    }
  }
  if (high >= 0) return FieldError("\\# rdata", "odd number of hex digits");
  if (rdata.size() != *length) {
    return FieldError("\\# rdata", "length " + std::to_string(*length) + " but " +
                                       std::to_string(rdata.size()) + " octets of hex");
  }
  Status valid = ValidateRdata(type, rdata);
  if (!valid.ok()) return FieldError(TypeToText(type) + " rdata in \\# form", valid.message());
  return rdata;
}

Status ExpectCount(const std::vector<Token>& tokens, size_t count, uint16_t type,
                   std::string_view fields) {
  if (tokens.size() < count) {
    return InvalidArgument(TypeToText(type) + " needs " + std::string(fields) + " (" +
                           std::to_string(count) + " fields), got " +
                           std::to_string(tokens.size()));
  }
  if (tokens.size() > count) {
    return InvalidArgument(TypeToText(type) + ": unexpected '" + std::string(tokens[count].raw) +
                           "' after " + std::string(fields));
  }
  return Status::Ok();
}

}  // namespace

Status ValidateRdata(uint16_t type, std::string_view rdata) {
  if (rdata.size() > kMaxRdataLength) return InvalidArgument("rdata longer than 65535 octets");
  switch (type) {
    case RrType::kA:
      if (rdata.size() != 4) return InvalidArgument("A rdata must be 4 octets (RFC 1035 3.4.1)");
      return Status::Ok();
    case RrType::kAaaa:
      if (rdata.size() != 16) return InvalidArgument("AAAA rdata must be 16 octets (RFC 3596 2.2)");
      return Status::Ok();
    case RrType::kTxt: {
      auto strings = SplitCharacterStrings(rdata);
      return strings.ok() ? Status::Ok() : strings.status();
    }
    case RrType::kCaa: {
      auto caa = SplitCaa(rdata);
      return caa.ok() ? Status::Ok() : caa.status();
    }
    case RrType::kOpt:
      return ValidateOptions(rdata);
    default:
      break;
  }
  if (const RdataLayout* layout = NameLayout(type)) {
    Status status = WalkLayout(
        *layout, rdata, [](const Name&) {}, [](std::string_view) {});
    if (!status.ok()) return InvalidArgument(TypeToText(type) + " rdata: " + status.message());
  }
  return Status::Ok();
}

Result<std::string> RdataFromText(uint16_t type, std::string_view text, const Name* origin) {
  auto tokenized = Tokenize(text);
  if (!tokenized.ok()) return tokenized.status();
  const std::vector<Token>& tokens = *tokenized;
  if (!tokens.empty() && !tokens[0].quoted && tokens[0].raw == "\\#") {
    return ParseGeneric(type, tokens);
  }
  std::string rdata;
  switch (type) {
    case RrType::kA:
    case RrType::kAaaa: {
      const bool v4 = type == RrType::kA;
      const char* field = v4 ? "A address" : "AAAA address";
      MESHKV_RETURN_IF_ERROR(ExpectCount(tokens, 1, type, "an address"));
      if (tokens[0].quoted || tokens[0].raw.size() >= 64) {
        return FieldError(field, "not an IPv" + std::string(v4 ? "4" : "6") + " address");
      }
      char buffer[64];
      std::memcpy(buffer, tokens[0].raw.data(), tokens[0].raw.size());
      buffer[tokens[0].raw.size()] = '\0';
      unsigned char address[16];
      if (inet_pton(v4 ? AF_INET : AF_INET6, buffer, address) != 1) {
        return FieldError(field, "'" + std::string(tokens[0].raw) + "' is not an IPv" +
                                     (v4 ? "4 dotted quad" : "6 address"));
      }
      return std::string(reinterpret_cast<const char*>(address), v4 ? 4 : 16);
    }
    case RrType::kNs:
    case RrType::kCname:
    case RrType::kPtr: {
      MESHKV_RETURN_IF_ERROR(ExpectCount(tokens, 1, type, "a domain name"));
      auto name = ParseNameToken(tokens[0], origin, TypeToText(type) + " target");
      if (!name.ok()) return name.status();
      return name->wire();
    }
    case RrType::kMx: {
      MESHKV_RETURN_IF_ERROR(ExpectCount(tokens, 2, type, "preference and exchange"));
      auto preference = ParseNumber(tokens[0], 65535, "MX preference");
      if (!preference.ok()) return preference.status();
      auto exchange = ParseNameToken(tokens[1], origin, "MX exchange");
      if (!exchange.ok()) return exchange.status();
      AppendU16(rdata, static_cast<uint16_t>(*preference));
      rdata += exchange->wire();
      return rdata;
    }
    case RrType::kSrv: {
      MESHKV_RETURN_IF_ERROR(ExpectCount(tokens, 4, type, "priority, weight, port and target"));
      static constexpr const char* kFields[] = {"SRV priority", "SRV weight", "SRV port"};
      for (int i = 0; i < 3; ++i) {
        auto value = ParseNumber(tokens[i], 65535, kFields[i]);
        if (!value.ok()) return value.status();
        AppendU16(rdata, static_cast<uint16_t>(*value));
      }
      auto target = ParseNameToken(tokens[3], origin, "SRV target");
      if (!target.ok()) return target.status();
      rdata += target->wire();
      return rdata;
    }
    case RrType::kSoa: {
      MESHKV_RETURN_IF_ERROR(
          ExpectCount(tokens, 7, type, "mname, rname, serial, refresh, retry, expire and minimum"));
      auto mname = ParseNameToken(tokens[0], origin, "SOA mname");
      if (!mname.ok()) return mname.status();
      auto rname = ParseNameToken(tokens[1], origin, "SOA rname");
      if (!rname.ok()) return rname.status();
      rdata = mname->wire() + rname->wire();
      auto serial = ParseNumber(tokens[2], 0xFFFFFFFFull, "SOA serial");
      if (!serial.ok()) return serial.status();
      AppendU32(rdata, static_cast<uint32_t>(*serial));
      static constexpr const char* kFields[] = {"SOA refresh", "SOA retry", "SOA expire",
                                                "SOA minimum"};
      for (int i = 0; i < 4; ++i) {
        auto value = ParseTime(tokens[3 + i], kFields[i]);
        if (!value.ok()) return value.status();
        AppendU32(rdata, *value);
      }
      return rdata;
    }
    case RrType::kTxt: {
      if (tokens.empty()) return FieldError("TXT", "needs at least one character-string");
      for (const Token& token : tokens) {
        auto bytes = Unescape(token.raw);
        if (!bytes.ok()) return FieldError("TXT character-string", bytes.status().message());
        if (bytes->size() > 255) {
          return FieldError("TXT character-string",
                            std::to_string(bytes->size()) + " octets (max 255, RFC 1035 3.3)");
        }
        rdata += static_cast<char>(bytes->size());
        rdata += *bytes;
        if (rdata.size() > kMaxRdataLength) return FieldError("TXT", "rdata over 65535 octets");
      }
      return rdata;
    }
    case RrType::kCaa: {
      MESHKV_RETURN_IF_ERROR(ExpectCount(tokens, 3, type, "flags, tag and value"));
      auto flags = ParseNumber(tokens[0], 255, "CAA flags");
      if (!flags.ok()) return flags.status();
      const std::string_view tag = tokens[1].raw;
      if (tokens[1].quoted || tag.empty() || tag.size() > 15) {
        return FieldError("CAA tag", "must be 1..15 letters or digits (RFC 8659 4.1)");
      }
      for (char c : tag) {
        if (!IsAlnum(c)) return FieldError("CAA tag", "must be letters or digits (RFC 8659 4.1)");
      }
      auto value = Unescape(tokens[2].raw);
      if (!value.ok()) return FieldError("CAA value", value.status().message());
      rdata += static_cast<char>(*flags);
      rdata += static_cast<char>(tag.size());
      rdata += tag;
      rdata += *value;
      if (rdata.size() > kMaxRdataLength) return FieldError("CAA", "rdata over 65535 octets");
      return rdata;
    }
    default:
      return InvalidArgument("no presentation format for " + TypeToText(type) +
                             " rdata; use the RFC 3597 form \\# <length> <hex>");
  }
}

Result<std::string> RdataToText(uint16_t type, std::string_view rdata) {
  Status valid = ValidateRdata(type, rdata);
  if (!valid.ok()) return valid;
  std::string out;
  switch (type) {
    case RrType::kA:
    case RrType::kAaaa: {
      char buffer[INET6_ADDRSTRLEN];
      if (inet_ntop(type == RrType::kA ? AF_INET : AF_INET6, rdata.data(), buffer,
                    sizeof(buffer)) == nullptr) {
        return Internal("inet_ntop failed");
      }
      return std::string(buffer);
    }
    case RrType::kTxt: {
      auto strings = SplitCharacterStrings(rdata);
      for (std::string_view s : *strings) {
        if (!out.empty()) out += ' ';
        AppendQuoted(out, s);
      }
      return out;
    }
    case RrType::kCaa: {
      auto caa = SplitCaa(rdata);
      out = std::to_string(caa->flags) + " " + std::string(caa->tag) + " ";
      AppendQuoted(out, caa->value);
      return out;
    }
    case RrType::kNs:
    case RrType::kCname:
    case RrType::kPtr:
    case RrType::kMx:
    case RrType::kSoa:
    case RrType::kSrv: {
      Status status = WalkLayout(
          *NameLayout(type), rdata,
          [&](const Name& name) {
            if (!out.empty()) out += ' ';
            out += name.ToText();
          },
          [&](std::string_view fixed) {
            for (size_t i = 0; i < fixed.size(); i += type == RrType::kSoa ? 4 : 2) {
              if (!out.empty()) out += ' ';
              out += std::to_string(type == RrType::kSoa ? ReadU32(fixed, i) : ReadU16(fixed, i));
            }
          });
      if (!status.ok()) return status;
      return out;
    }
    default: {
      // RFC 3597 5.
      static constexpr char kHex[] = "0123456789ABCDEF";
      out = "\\# " + std::to_string(rdata.size());
      if (!rdata.empty()) out += ' ';
      for (char c : rdata) {
        out += kHex[static_cast<uint8_t>(c) >> 4];
        out += kHex[static_cast<uint8_t>(c) & 0xF];
      }
      return out;
    }
  }
}

std::optional<Name> RdataTargetName(uint16_t type, std::string_view rdata) {
  const RdataLayout* layout = NameLayout(type);
  if (layout == nullptr || layout->target_field < 0) return std::nullopt;
  std::optional<Name> target;
  int index = 0;
  Status status = WalkLayout(
      *layout, rdata,
      [&](const Name& name) {
        if (index++ == layout->target_field) target = name;
      },
      [&](std::string_view) { ++index; });
  if (!status.ok()) return std::nullopt;
  return target;
}

std::string CanonicalRdata(uint16_t type, std::string_view rdata) {
  const RdataLayout* layout = NameLayout(type);
  if (layout == nullptr) return std::string(rdata);
  std::string out;
  out.reserve(rdata.size());
  Status status = WalkLayout(
      *layout, rdata, [&](const Name& name) { out += name.Lower().wire(); },
      [&](std::string_view fixed) { out += fixed; });
  if (!status.ok()) return std::string(rdata);
  return out;
}

Result<SoaRdata> ParseSoa(std::string_view rdata) {
  SoaRdata soa;
  int names = 0;
  Status status = WalkLayout(
      *NameLayout(RrType::kSoa), rdata,
      [&](const Name& name) { (names++ == 0 ? soa.mname : soa.rname) = name; },
      [&](std::string_view fixed) {
        soa.serial = ReadU32(fixed, 0);
        soa.refresh = ReadU32(fixed, 4);
        soa.retry = ReadU32(fixed, 8);
        soa.expire = ReadU32(fixed, 12);
        soa.minimum = ReadU32(fixed, 16);
      });
  if (!status.ok()) return InvalidArgument("SOA rdata: " + status.message());
  return soa;
}

std::string EncodeSoa(const SoaRdata& soa) {
  std::string rdata = soa.mname.wire() + soa.rname.wire();
  for (uint32_t value : {soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum}) {
    AppendU32(rdata, value);
  }
  return rdata;
}

}  // namespace meshkv::dns
