// Zone files (RFC 1035 5, "master files"): text -> records and back.
//
// The parser reads one file's text: $ORIGIN, $TTL (RFC 2308 4), comments,
// parentheses across lines, quoted strings with escapes, "@", names relative
// to the origin, an omitted owner (the previous one), optional TTL and class
// in either order, TTLs in seconds or BIND units ("1h30m"). Only class IN is
// accepted; $INCLUDE is refused (meshkv reads one file, never paths named by
// the file). The writer prints records in a form the parser reads back to the
// same records: $ORIGIN, SOA first, one line per record with explicit TTL and
// class, owners relative to the origin, rdata in the canonical presentation
// of RdataToText.
//
// Pure functions, no state, safe from any thread; the input is untrusted
// (tests/fuzz/fuzz_dns_zone_file.cc). Every error is kInvalidArgument with a
// message "<file>:<line>: <what is wrong>", the line being where the problem
// is (the record's first line for errors in its rdata).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "frontend/dns/wire/name.h"

namespace meshkv::dns {

// One resource record of class IN.
struct ZoneRecord {
  Name owner;
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::string rdata;  // uncompressed wire form, as RdataFromText gives it
  size_t line = 0;    // the record's first line in its file; 0 when not from a file

  // Owner (case-insensitively), type, TTL and rdata octets; `line` is ignored.
  friend bool operator==(const ZoneRecord& a, const ZoneRecord& b) {
    return a.owner == b.owner && a.type == b.type && a.ttl == b.ttl && a.rdata == b.rdata;
  }
};

struct ZoneParseOptions {
  // Names the input in error messages ("db.example:12: ...").
  std::string file_name = "zone file";
  // The origin before the first $ORIGIN. Unset: until a $ORIGIN, every name
  // must be absolute (end in '.') and "@" is an error.
  std::optional<Name> origin;
  // Larger input is refused before parsing. Default 64 MiB.
  size_t max_file_bytes = size_t{64} << 20;
  // One entry (a directive or a record, all its parenthesised lines and
  // comments included). Default 256 KiB: room for a 65535-octet TXT record
  // written with escapes.
  size_t max_entry_bytes = size_t{256} << 10;
  // More records than this are refused. Default 1,000,000.
  size_t max_records = 1'000'000;
};

// Parses a whole zone file. A record's TTL is its own, else the last $TTL,
// else the last TTL given explicitly in the file (RFC 1035 5.1), else, for
// an SOA, its MINIMUM field (as BIND does); otherwise the record is an error.
// Types are any RFC 3597 type with rdata RdataFromText accepts (known types
// in their presentation format, any type as "\# <len> <hex>"); the meta types
// OPT, IXFR, AXFR and ANY are errors. Records come back in file order.
Result<std::vector<ZoneRecord>> ParseZoneFile(std::string_view text,
                                              const ZoneParseOptions& options = {});

// A TTL as zone files write it: seconds ("3600") or BIND units, case-
// insensitive, summed ("1w", "2d", "1h30m", "90s"); 0..2147483647 (RFC 2181
// 8). The message names the problem, without a field or line prefix.
Result<uint32_t> ParseTtl(std::string_view text);

// One record as a zone file line, without newline:
//   "<owner>\t<ttl>\tIN\t<TYPE>\t<rdata>"
// The owner is relative to `origin` when given and the owner is inside it
// ("@" for the origin itself), otherwise absolute with a trailing dot. Fails
// when the rdata is malformed for its type.
Result<std::string> RecordToText(const ZoneRecord& record, const Name* origin = nullptr);

// A complete zone file for `origin`: a comment line, "$ORIGIN <origin>", then
// the SOA records, then the others in canonical order of owner (RFC 4034
// 6.1), type and rdata, one RecordToText line each. Records outside `origin`
// are written with absolute owners. ParseZoneFile of the result gives back
// the same records (operator== above), in that order.
Result<std::string> WriteZoneFile(const Name& origin, std::vector<ZoneRecord> records);

}  // namespace meshkv::dns
