#include "frontend/dns/wire/name.h"

#include <algorithm>
#include <cassert>
#include <functional>

#include "frontend/dns/wire/wire_internal.h"

namespace meshkv::dns {
namespace {

using internal::AsciiLower;
using internal::EqualIgnoreCase;

// Text quoted for a message, cut after 80 bytes.
std::string Quote(std::string_view text) {
  return internal::Quote(text, 80);
}

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// Parses presentation text (RFC 1035 5.1) into wire labels (no terminating
// zero). `absolute` tells whether the text ended with an unescaped dot.
struct ParsedText {
  std::string wire;
  size_t label_count = 0;
  bool absolute = false;
};

Result<ParsedText> ParseText(std::string_view text) {
  if (text.empty()) return InvalidArgument("empty domain name (use \".\" for the root)");
  ParsedText out;
  if (text == ".") {
    out.absolute = true;
    return out;
  }
  std::string label;
  bool label_open = false;  // something of the current label has been seen
  auto close_label = [&]() -> Status {
    if (label.empty()) {
      return InvalidArgument("empty label in domain name " + Quote(text));
    }
    if (label.size() > kMaxLabelLength) {
      return InvalidArgument("label of " + std::to_string(label.size()) +
                             " octets (max 63, RFC 1035 2.3.4) in domain name " + Quote(text));
    }
    out.wire += static_cast<char>(label.size());
    out.wire += label;
    ++out.label_count;
    if (out.wire.size() + 1 > kMaxNameWireLength) {
      return InvalidArgument("domain name " + Quote(text) +
                             " longer than 255 octets in wire form (RFC 1035 2.3.4)");
    }
    label.clear();
    label_open = false;
    return Status::Ok();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      MESHKV_RETURN_IF_ERROR(close_label());
      if (i + 1 == text.size()) out.absolute = true;
      continue;
    }
    label_open = true;
    if (c != '\\') {
      label += c;
    } else if (i + 1 == text.size()) {
      return InvalidArgument("domain name " + Quote(text) + " ends with a lone backslash");
    } else if (IsDigit(text[i + 1])) {
      if (i + 3 >= text.size() || !IsDigit(text[i + 2]) || !IsDigit(text[i + 3])) {
        return InvalidArgument("bad \\DDD escape (needs 3 digits) in domain name " + Quote(text));
      }
      const int value = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
      if (value > 255) {
        return InvalidArgument("\\DDD escape above 255 in domain name " + Quote(text));
      }
      label += static_cast<char>(value);
      i += 3;
    } else {
      label += text[i + 1];
      ++i;
    }
    if (label.size() > kMaxLabelLength) {
      return InvalidArgument("label longer than 63 octets (RFC 1035 2.3.4) in domain name " +
                             Quote(text));
    }
  }
  if (label_open) MESHKV_RETURN_IF_ERROR(close_label());
  return out;
}

}  // namespace

Name::Name() : wire_(1, '\0') {}

Name::Name(std::string wire, size_t label_count)
    : wire_(std::move(wire)), label_count_(static_cast<uint8_t>(label_count)) {}

Result<Name> Name::FromText(std::string_view text) {
  auto parsed = ParseText(text);
  if (!parsed.ok()) return parsed.status();
  parsed->wire += '\0';
  return Name(std::move(parsed->wire), parsed->label_count);
}

Result<Name> Name::FromText(std::string_view text, const Name& origin) {
  if (text == "@") return origin;
  auto parsed = ParseText(text);
  if (!parsed.ok()) return parsed.status();
  if (parsed->absolute) {
    parsed->wire += '\0';
    return Name(std::move(parsed->wire), parsed->label_count);
  }
  if (parsed->wire.size() + origin.wire_.size() > kMaxNameWireLength) {
    return InvalidArgument("domain name " + Quote(text) + " relative to " + origin.ToText() +
                           " is longer than 255 octets in wire form (RFC 1035 2.3.4)");
  }
  parsed->wire += origin.wire_;
  return Name(std::move(parsed->wire), parsed->label_count + origin.label_count_);
}

Result<Name> Name::FromLabels(const std::vector<std::string>& labels) {
  std::string wire;
  for (const std::string& label : labels) {
    if (label.empty()) return InvalidArgument("empty label in domain name");
    if (label.size() > kMaxLabelLength) {
      return InvalidArgument("label of " + std::to_string(label.size()) +
                             " octets (max 63, RFC 1035 2.3.4)");
    }
    wire += static_cast<char>(label.size());
    wire += label;
    if (wire.size() + 1 > kMaxNameWireLength) {
      return InvalidArgument("domain name longer than 255 octets in wire form (RFC 1035 2.3.4)");
    }
  }
  wire += '\0';
  return Name(std::move(wire), labels.size());
}

Result<Name> Name::FromWire(std::string_view wire) {
  size_t pos = 0;
  size_t labels = 0;
  while (true) {
    if (pos >= wire.size()) return InvalidArgument("domain name truncated (no terminating zero)");
    const auto length = static_cast<uint8_t>(wire[pos]);
    if (length == 0) break;
    if (length > kMaxLabelLength) {
      return InvalidArgument((length & 0xC0) == 0xC0
                                 ? "compression pointer where an uncompressed name is required"
                                 : "bad label type or label longer than 63 octets");
    }
    pos += 1 + length;
    ++labels;
    if (pos + 1 > kMaxNameWireLength) {
      return InvalidArgument("domain name longer than 255 octets in wire form (RFC 1035 2.3.4)");
    }
  }
  if (pos + 1 != wire.size()) return InvalidArgument("trailing bytes after domain name");
  return Name(std::string(wire), labels);
}

std::string_view Name::label(size_t i) const {
  assert(i < label_count_);
  size_t pos = 0;
  for (; i > 0; --i) pos += 1 + static_cast<uint8_t>(wire_[pos]);
  return std::string_view(wire_).substr(pos + 1, static_cast<uint8_t>(wire_[pos]));
}

std::string Name::ToText() const {
  if (label_count_ == 0) return ".";
  std::string out;
  out.reserve(wire_.size() + 8);
  size_t pos = 0;
  while (true) {
    const auto length = static_cast<uint8_t>(wire_[pos]);
    if (length == 0) break;
    for (size_t i = pos + 1; i <= pos + length; ++i) {
      const auto u = static_cast<unsigned char>(wire_[i]);
      switch (u) {
        case '.':
        case '\\':
        case '"':
        case '(':
        case ')':
        case ';':
        case '@':
        case '$':
          out += '\\';
          out += static_cast<char>(u);
          break;
        default:
          if (u <= 0x20 || u >= 0x7f) {
            internal::AppendDecimalEscape(out, u);
          } else {
            out += static_cast<char>(u);
          }
      }
    }
    out += '.';
    pos += 1 + length;
  }
  return out;
}

Name Name::Lower() const {
  std::string lowered = wire_;
  // Length octets are <= 63, so never in 'A'..'Z' (65..90): lower-casing the
  // whole wire form only touches label octets.
  for (char& c : lowered) c = AsciiLower(c);
  return Name(std::move(lowered), label_count_);
}

bool Name::IsSubdomainOf(const Name& ancestor) const {
  if (ancestor.label_count_ > label_count_) return false;
  size_t pos = 0;
  for (size_t skip = label_count_ - ancestor.label_count_; skip > 0; --skip) {
    pos += 1 + static_cast<uint8_t>(wire_[pos]);
  }
  return EqualIgnoreCase(std::string_view(wire_).substr(pos), ancestor.wire_);
}

Name Name::Parent() const {
  assert(label_count_ > 0);
  if (label_count_ == 0) return *this;
  const size_t first = 1 + static_cast<uint8_t>(wire_[0]);
  return Name(wire_.substr(first), label_count_ - 1);
}

Result<Name> Name::Prepend(std::string_view label) const {
  if (label.empty()) return InvalidArgument("empty label");
  if (label.size() > kMaxLabelLength) {
    return InvalidArgument("label of " + std::to_string(label.size()) +
                           " octets (max 63, RFC 1035 2.3.4)");
  }
  if (1 + label.size() + wire_.size() > kMaxNameWireLength) {
    return InvalidArgument("domain name longer than 255 octets in wire form (RFC 1035 2.3.4)");
  }
  std::string wire;
  wire.reserve(1 + label.size() + wire_.size());
  wire += static_cast<char>(label.size());
  wire += label;
  wire += wire_;
  return Name(std::move(wire), label_count_ + 1);
}

bool operator==(const Name& a, const Name& b) {
  return a.label_count_ == b.label_count_ && EqualIgnoreCase(a.wire_, b.wire_);
}

size_t NameHash::operator()(const Name& name) const {
  // FNV-1a over the lower-cased wire form.
  uint64_t hash = 14695981039346656037ull;
  for (char c : name.wire()) {
    hash ^= static_cast<unsigned char>(AsciiLower(c));
    hash *= 1099511628211ull;
  }
  return static_cast<size_t>(hash);
}

bool CanonicalLess::operator()(const Name& a, const Name& b) const {
  // RFC 4034 6.1: compare from the rightmost label; within a label, octets
  // lower-cased, unsigned; a label that is a prefix of the other sorts first;
  // the name with fewer labels sorts first when all its labels match.
  const size_t na = a.label_count();
  const size_t nb = b.label_count();
  // Label start offsets, rightmost compared first.
  size_t offsets_a[128];
  size_t offsets_b[128];
  for (size_t i = 0, pos = 0; i < na; ++i) {
    offsets_a[i] = pos;
    pos += 1 + static_cast<uint8_t>(a.wire()[pos]);
  }
  for (size_t i = 0, pos = 0; i < nb; ++i) {
    offsets_b[i] = pos;
    pos += 1 + static_cast<uint8_t>(b.wire()[pos]);
  }
  for (size_t k = 1; k <= std::min(na, nb); ++k) {
    const size_t pa = offsets_a[na - k];
    const size_t pb = offsets_b[nb - k];
    const auto la = static_cast<uint8_t>(a.wire()[pa]);
    const auto lb = static_cast<uint8_t>(b.wire()[pb]);
    for (size_t i = 0; i < std::min(la, lb); ++i) {
      const auto ca = static_cast<unsigned char>(AsciiLower(a.wire()[pa + 1 + i]));
      const auto cb = static_cast<unsigned char>(AsciiLower(b.wire()[pb + 1 + i]));
      if (ca != cb) return ca < cb;
    }
    if (la != lb) return la < lb;
  }
  return na < nb;
}

namespace internal {

Result<NameRead> ReadName(std::string_view bytes, size_t offset, bool allow_pointers) {
  std::string wire;
  size_t pos = offset;
  size_t floor = offset;  // pointers must go strictly below this (RFC 1035 4.1.4)
  size_t end = 0;         // set at the first pointer or the terminating zero
  while (true) {
    if (pos >= bytes.size()) return InvalidArgument("domain name truncated");
    const auto length = static_cast<uint8_t>(bytes[pos]);
    if (length == 0) {
      if (end == 0) end = pos + 1;
      wire += '\0';
      break;
    }
    if ((length & 0xC0) == 0xC0) {
      if (!allow_pointers) {
        return InvalidArgument("compression pointer where an uncompressed name is required");
      }
      if (pos + 1 >= bytes.size()) return InvalidArgument("compression pointer truncated");
      const size_t target = (size_t{length & 0x3Fu} << 8) | static_cast<uint8_t>(bytes[pos + 1]);
      if (end == 0) end = pos + 2;
      if (target >= floor) return InvalidArgument("compression pointer does not point backwards");
      if (target < 12) return InvalidArgument("compression pointer into the message header");
      floor = target;
      pos = target;
      continue;
    }
    if (length > kMaxLabelLength) {
      return InvalidArgument("unsupported label type (RFC 6891 5: extended labels are obsolete)");
    }
    if (pos + 1 + length > bytes.size()) return InvalidArgument("domain name truncated");
    wire.append(bytes.substr(pos, 1 + length));
    if (wire.size() + 1 > kMaxNameWireLength) {
      return InvalidArgument("domain name longer than 255 octets in wire form (RFC 1035 2.3.4)");
    }
    pos += 1 + length;
  }
  auto name = Name::FromWire(wire);
  if (!name.ok()) return name.status();
  return NameRead{std::move(*name), end};
}

}  // namespace internal
}  // namespace meshkv::dns
