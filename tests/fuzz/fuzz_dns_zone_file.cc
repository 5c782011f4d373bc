// Fuzzes ParseZoneFile (src/frontend/dns/wire/zone_file.h), the parser behind
// `meshkv zone import`, and WriteZoneFile on whatever it accepts.
//
// The first input byte picks the options (with or without an origin); the
// rest is the zone file text. Properties checked beyond "does not crash":
// - a refused file fails with kInvalidArgument and a "<file>:" message;
// - every accepted record has a data type and a TTL <= 2^31-1 (RFC 2181 8);
// - WriteZoneFile accepts the records, its text parses back (without any
//   origin option: the written file sets $ORIGIN) to as many records, and
//   writing those again gives the same text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "frontend/dns/wire/types.h"
#include "frontend/dns/wire/zone_file.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using namespace meshkv::dns;
  const uint8_t selector = data[0];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  ZoneParseOptions options;
  options.file_name = "fuzz";
  if (selector & 1) options.origin = *Name::FromText("example.test.");
  options.max_records = 2000;
  options.max_entry_bytes = 16 << 10;

  auto records = ParseZoneFile(text, options);
  if (!records.ok()) {
    FUZZ_CHECK(records.status().code() == meshkv::ErrorCode::kInvalidArgument);
    FUZZ_CHECK(records.status().message().starts_with("fuzz:"));
    return 0;
  }
  for (const ZoneRecord& record : *records) {
    FUZZ_CHECK(record.type != 0 && record.type != RrType::kOpt &&
               (record.type < 128 || record.type > 255));
    FUZZ_CHECK(record.ttl <= 2147483647u);
    FUZZ_CHECK(record.line >= 1);
  }

  const Name origin = (selector & 2) && !records->empty() ? records->front().owner
                      : options.origin                    ? *options.origin
                                                          : Name();
  auto written = WriteZoneFile(origin, *records);
  if (!written.ok())
    std::fprintf(stderr, "WriteZoneFile: %s\n", written.status().message().c_str());
  FUZZ_CHECK(written.ok());
  ZoneParseOptions reread_options;
  reread_options.file_name = "written";
  auto reread = ParseZoneFile(*written, reread_options);
  if (!reread.ok()) {
    std::fprintf(stderr, "written file does not parse: %s\n%s\n", reread.status().message().c_str(),
                 written->c_str());
  }
  FUZZ_CHECK(reread.ok());
  FUZZ_CHECK(reread->size() == records->size());
  auto rewritten = WriteZoneFile(origin, *reread);
  FUZZ_CHECK(rewritten.ok());
  FUZZ_CHECK(*rewritten == *written);
  return 0;
}
