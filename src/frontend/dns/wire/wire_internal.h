// Internal to meshkv_dns_wire (not part of its API): reading names from wire
// bytes, and the layout of rdata types that embed names, shared by rdata.cc
// (validation, canonical form) and message.cc (decompression, compression).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/status.h"
#include "frontend/dns/wire/name.h"

namespace meshkv::dns::internal {

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
