// Fuzzes the presentation-format parsers of the DNS wire library
// (src/frontend/dns/wire/rdata.h, name.h): RdataFromText for each served type
// and for OPT and an unknown type (RFC 3597 form), and Name::FromText, on
// arbitrary text as it comes from the HTTP API and zone files.
//
// Input: byte 0 picks the type, byte 1 bit 0 whether names are relative to
// an origin; the rest is the text.
//
// Properties checked beyond "does not crash":
// - errors are kInvalidArgument with a message;
// - accepted rdata is valid wire (ValidateRdata), RdataToText succeeds, and
//   RdataFromText(RdataToText(w)) == w, with the same text printed again;
// - CanonicalRdata is valid and idempotent; RdataTargetName exists for NS,
//   CNAME, PTR, MX and SRV;
// - an accepted name prints (ToText) to text that parses to the same octets,
//   and its wire form is accepted by Name::FromWire.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "frontend/dns/wire/name.h"
#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"
#include "fuzz_check.h"

namespace {

namespace dns = meshkv::dns;

constexpr uint16_t kTypes[] = {
    dns::RrType::kA,   dns::RrType::kNs,  dns::RrType::kCname, dns::RrType::kSoa,
    dns::RrType::kPtr, dns::RrType::kMx,  dns::RrType::kTxt,   dns::RrType::kAaaa,
    dns::RrType::kSrv, dns::RrType::kCaa, dns::RrType::kOpt,   65280,
};

void CheckName(std::string_view text, const dns::Name* origin) {
  auto name = origin != nullptr ? dns::Name::FromText(text, *origin) : dns::Name::FromText(text);
  if (!name.ok()) {
    FUZZ_CHECK(name.status().code() == meshkv::ErrorCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(name->wire().size() <= dns::kMaxNameWireLength);
  auto again = dns::Name::FromText(name->ToText());
  FUZZ_CHECK(again.ok() && again->wire() == name->wire());
  auto from_wire = dns::Name::FromWire(name->wire());
  FUZZ_CHECK(from_wire.ok() && from_wire->label_count() == name->label_count());
  if (!name->IsRoot()) FUZZ_CHECK(name->IsSubdomainOf(name->Parent()));
  FUZZ_CHECK(name->Lower() == *name);
}

void CheckRdata(uint16_t type, std::string_view text, const dns::Name* origin) {
  auto rdata = dns::RdataFromText(type, text, origin);
  if (!rdata.ok()) {
    FUZZ_CHECK(rdata.status().code() == meshkv::ErrorCode::kInvalidArgument);
    FUZZ_CHECK(!rdata.status().message().empty());
    return;
  }
  FUZZ_CHECK(dns::ValidateRdata(type, *rdata).ok());
  auto printed = dns::RdataToText(type, *rdata);
  FUZZ_CHECK(printed.ok());
  auto reparsed = dns::RdataFromText(type, *printed);
  FUZZ_CHECK(reparsed.ok() && *reparsed == *rdata);
  auto printed_again = dns::RdataToText(type, *reparsed);
  FUZZ_CHECK(printed_again.ok() && *printed_again == *printed);

  const std::string canonical = dns::CanonicalRdata(type, *rdata);
  FUZZ_CHECK(canonical.size() == rdata->size());
  FUZZ_CHECK(dns::ValidateRdata(type, canonical).ok());
  FUZZ_CHECK(dns::CanonicalRdata(type, canonical) == canonical);
  const bool has_target = type == dns::RrType::kNs || type == dns::RrType::kCname ||
                          type == dns::RrType::kPtr || type == dns::RrType::kMx ||
                          type == dns::RrType::kSrv;
  FUZZ_CHECK(dns::RdataTargetName(type, *rdata).has_value() == has_target);
  if (type == dns::RrType::kSoa) {
    auto soa = dns::ParseSoa(*rdata);
    FUZZ_CHECK(soa.ok() && dns::EncodeSoa(*soa) == *rdata);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint16_t type = kTypes[data[0] % (sizeof(kTypes) / sizeof(kTypes[0]))];
  static const dns::Name kOrigin = *dns::Name::FromText("Example.COM.");
  const dns::Name* origin = (data[1] & 1) != 0 ? &kOrigin : nullptr;
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  CheckRdata(type, text, origin);
  CheckName(text, origin);
  return 0;
}
