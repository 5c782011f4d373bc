// Name: an absolute DNS domain name (RFC 1034 3.1, RFC 1035 3.1).
//
// Held in uncompressed wire form (length-prefixed labels, terminating zero).
// The original case of every octet is preserved (RFC 4343 4.1); comparisons,
// hashing and ordering are ASCII case-insensitive (RFC 4343 3). Labels are
// arbitrary octets 1..63 long; the whole wire form is at most 255 octets
// (RFC 1035 2.3.4). Every Name that exists satisfies these limits.
//
// A value type: copyable, no shared state, safe to use from any thread as long
// as one object is not written while read. Functions that take untrusted input
// return Result with kInvalidArgument and a message saying what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace meshkv::dns {

// RFC 1035 2.3.4.
inline constexpr size_t kMaxLabelLength = 63;
inline constexpr size_t kMaxNameWireLength = 255;

class Name {
 public:
  // The root ".".
  Name();

  // Presentation format (RFC 1035 5.1): "www.Example.com." or without the
  // trailing dot (always taken as absolute); "." is the root, "" is an error.
  // "\." and "\X" escape a character, "\DDD" is a decimal octet (0..255).
  // Empty labels ("a..b", ".a") are errors, as are labels over 63 octets and
  // names over 255 octets in wire form.
  static Result<Name> FromText(std::string_view text);
  // Same, but a name without trailing dot is relative to `origin` (zone files,
  // RFC 1035 5.1) and "@" is `origin` itself.
  static Result<Name> FromText(std::string_view text, const Name& origin);
  // Raw label octets, leftmost first (no escapes); {} is the root.
  static Result<Name> FromLabels(const std::vector<std::string>& labels);
  // Exactly one uncompressed wire-form name filling all of `wire` (no
  // compression pointers, RFC 1035 3.1). For compressed names in messages use
  // ParseMessage.
  static Result<Name> FromWire(std::string_view wire);

  // Uncompressed wire form, terminating zero included.
  const std::string& wire() const { return wire_; }
  size_t label_count() const { return label_count_; }  // root = 0
  bool IsRoot() const { return label_count_ == 0; }
  // Raw octets of label i, 0 = leftmost. REQUIRES: i < label_count().
  std::string_view label(size_t i) const;
  // Presentation format with trailing dot; root is ".". '.', '\\', '"', '(',
  // ')', ';', '@', '$' are backslash-escaped, space and non-printable octets
  // are written as \DDD, so FromText(ToText()) gives back the same octets.
  std::string ToText() const;
  // ASCII lower-cased copy.
  Name Lower() const;
  // Case-insensitive; a name is a subdomain of itself; every name is a
  // subdomain of the root.
  bool IsSubdomainOf(const Name& ancestor) const;
  // The name with its leftmost label removed. REQUIRES: label_count() > 0.
  Name Parent() const;
  // `label` (raw octets, 1..63, no escapes) added on the left; fails when the
  // label or the resulting name is too long.
  Result<Name> Prepend(std::string_view label) const;

  // Case-insensitive (RFC 4343 3).
  friend bool operator==(const Name& a, const Name& b);

 private:
  // REQUIRES: `wire` is a valid uncompressed name with `label_count` labels.
  Name(std::string wire, size_t label_count);

  std::string wire_;
  uint8_t label_count_ = 0;
};

// Case-insensitive hash, consistent with operator==.
struct NameHash {
  size_t operator()(const Name& name) const;
};

// Canonical DNS name order (RFC 4034 6.1): labels compared right to left as
// lower-cased octet strings; a name sorts before its subdomains.
struct CanonicalLess {
  bool operator()(const Name& a, const Name& b) const;
};

}  // namespace meshkv::dns
