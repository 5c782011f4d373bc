// A DNS record as meshkv stores it: one value of one type at one name, with
// its own TTL. Each value is its own key in the `dns` namespace, so values
// added concurrently on different nodes never overwrite each other
// (DESIGN.md, multi-value records).
//
// Key layout: the owner's labels lower-cased and reversed, joined by '.',
// then '/', the type mnemonic, '/', and 16 hex digits of xxh3_64 of the
// canonical rdata:
//     www.Example.test  A 192.0.2.1   ->  "test.example.www/A/5d1c0c3e8a6f2b41"
// so all records at a name share the prefix "test.example.www/" and all
// names below it share "test.example.www." — which is what NXDOMAIN vs
// NODATA (empty non-terminals) needs. Owner labels are restricted to ASCII
// letters, digits, '-' and '_', so '.' and '/' never occur inside a label.
//
// Value layout: u8 format(=1) | u16 type | u32 ttl | u8 owner wire length |
// owner wire (original case) | rdata (uncompressed wire). Integers big-endian.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "frontend/dns/wire/name.h"

namespace meshkv::records {

struct Record {
  dns::Name name;
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::string rdata;  // uncompressed wire
};

// The name as the key prefix of its records: "test.example.www/".
std::string NameKeyPrefix(const dns::Name& name);
// The key prefix of every name strictly below `name`: "test.example.www.".
std::string DescendantKeyPrefix(const dns::Name& name);
// The full key of one record value.
std::string RecordKey(const Record& record);

std::string EncodeRecordValue(const Record& record);
Result<Record> DecodeRecordValue(std::string_view bytes);

// OK when every label of `name` is 1..63 of [A-Za-z0-9_-].
Status ValidateOwnerLabels(const dns::Name& name);

}  // namespace meshkv::records
