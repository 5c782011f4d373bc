// RDATA of the record types meshkv serves: presentation <-> wire conversion,
// validation, and the few views the answer path needs.
//
// RDATA is always held as UNCOMPRESSED wire bytes (as in RFC 4034 6.2 but
// with original case). Known types are A, NS, CNAME, SOA, PTR, MX, TXT, AAAA,
// SRV, CAA; every other type is opaque octets (RFC 3597). Pure functions, no
// state, safe from any thread. Errors are kInvalidArgument with a message that
// names the field that is wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "frontend/dns/wire/name.h"

namespace meshkv::dns {

inline constexpr size_t kMaxRdataLength = 65535;

// Presentation text -> wire rdata, validated per type (RFC 1035 5.1):
//   A      dotted quad                        "192.0.2.1"
//   AAAA   any inet_pton form (RFC 4291 2.2)  "2001:db8::1"
//   NS, CNAME, PTR  a name                    "ns1.example.com."
//   MX     preference exchange                "10 mail.example.com."
//   TXT    one or more <character-string>s, quoted (escapes \" \\ \DDD) or
//          unquoted words; each <= 255 octets, total rdata <= 65535
//   SRV    priority weight port target (RFC 2782)
//   CAA    flags tag value (RFC 8659 4.1.1): tag alphanumeric 1..15, value
//          quoted or not
//   SOA    mname rname serial refresh retry expire minimum; the four times
//          may be plain seconds or BIND units ("1h30m", "2d", "1w")
// Names are relative to `origin` when it is given and they do not end in
// '.' ("@" = origin); otherwise absolute. "\# <len> <hex>" (RFC 3597 5) is
// accepted for any type and must still be valid for known types. Tokens are
// separated by whitespace; '(' and ')' are ignored and ';' starts a comment
// to the end of the line, as in zone files.
Result<std::string> RdataFromText(uint16_t type, std::string_view text,
                                  const Name* origin = nullptr);

// Wire -> presentation text in the canonical form dig and knot print: names
// absolute with trailing dot, TXT as "\"a b\" \"c\"", CAA value quoted, SOA
// times in seconds, unknown types as "\# <len> <HEX>". Fails on malformed
// rdata of a known type.
Result<std::string> RdataToText(uint16_t type, std::string_view rdata);

// Validates wire rdata of a known type: lengths, embedded names uncompressed
// and well-formed, TXT strings filling the rdata exactly, CAA tag rules.
// Unknown types are OK up to 65535 octets.
Status ValidateRdata(uint16_t type, std::string_view rdata);

// The domain name inside rdata that answers may need glue or chasing for:
// NS/CNAME/PTR target, MX exchange, SRV target. nullopt for other types and
// for malformed rdata.
std::optional<Name> RdataTargetName(uint16_t type, std::string_view rdata);

// Lower-cases embedded names (NS, CNAME, PTR, MX, SOA, SRV; RFC 4034 6.2), so
// two spellings of the same rdata compare equal (used to dedupe values).
// Other types and malformed rdata are returned unchanged.
std::string CanonicalRdata(uint16_t type, std::string_view rdata);

// The fields of SOA rdata (RFC 1035 3.3.13), for serial arithmetic and for
// the negative-caching TTL (RFC 2308 3: min(SOA TTL, minimum)).
struct SoaRdata {
  Name mname;
  Name rname;
  uint32_t serial = 0;
  uint32_t refresh = 0;
  uint32_t retry = 0;
  uint32_t expire = 0;
  uint32_t minimum = 0;
  friend bool operator==(const SoaRdata&, const SoaRdata&) = default;
};
Result<SoaRdata> ParseSoa(std::string_view rdata);
std::string EncodeSoa(const SoaRdata& soa);

}  // namespace meshkv::dns
