#include "records/record.h"

#include <fmt/format.h>
#include <xxhash.h>

#include "base/encoding.h"
#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"

namespace meshkv::records {
namespace {

constexpr uint8_t kFormat = 1;

std::string ReversedLowerLabels(const dns::Name& name) {
  std::string out;
  for (size_t i = name.label_count(); i-- > 0;) {
    std::string_view label = name.label(i);
    for (char c : label) out += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    if (i > 0) out += '.';
  }
  return out;
}

void PutU16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}
void PutU32(std::string& out, uint32_t v) {
  PutU16(out, static_cast<uint16_t>(v >> 16));
  PutU16(out, static_cast<uint16_t>(v & 0xffff));
}
uint32_t GetBE(std::string_view bytes, size_t offset, size_t width) {
  uint32_t v = 0;
  for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[offset + i]);
  return v;
}

}  // namespace

std::string NameKeyPrefix(const dns::Name& name) {
  return ReversedLowerLabels(name) + "/";
}

std::string DescendantKeyPrefix(const dns::Name& name) {
  std::string reversed = ReversedLowerLabels(name);
  return reversed.empty() ? reversed : reversed + ".";
}

std::string RecordKey(const Record& record) {
  std::string canonical = dns::CanonicalRdata(record.type, record.rdata);
  uint64_t hash = XXH3_64bits(canonical.data(), canonical.size());
  return NameKeyPrefix(record.name) + dns::TypeToText(record.type) + "/" +
         fmt::format("{:016x}", hash);
}

std::string EncodeRecordValue(const Record& record) {
  std::string out;
  const std::string& owner = record.name.wire();
  out.reserve(8 + owner.size() + record.rdata.size());
  out += static_cast<char>(kFormat);
  PutU16(out, record.type);
  PutU32(out, record.ttl);
  out += static_cast<char>(owner.size());
  out += owner;
  out += record.rdata;
  return out;
}

Result<Record> DecodeRecordValue(std::string_view bytes) {
  if (bytes.size() < 8 || static_cast<uint8_t>(bytes[0]) != kFormat) {
    return DataLoss("stored DNS record is corrupt (bad header)");
  }
  Record record;
  record.type = static_cast<uint16_t>(GetBE(bytes, 1, 2));
  record.ttl = GetBE(bytes, 3, 4);
  const size_t owner_length = static_cast<unsigned char>(bytes[7]);
  if (bytes.size() < 8 + owner_length) return DataLoss("stored DNS record is corrupt (owner)");
  std::string_view owner = bytes.substr(8, owner_length);
  std::vector<std::string> labels;
  size_t i = 0;
  while (i < owner.size() && owner[i] != 0) {
    size_t length = static_cast<unsigned char>(owner[i]);
    if (length > 63 || i + 1 + length >= owner.size()) {
      return DataLoss("stored DNS record is corrupt (owner label)");
    }
    labels.emplace_back(owner.substr(i + 1, length));
    i += 1 + length;
  }
  if (i + 1 != owner.size()) return DataLoss("stored DNS record is corrupt (owner end)");
  auto name = dns::Name::FromLabels(labels);
  if (!name.ok()) return DataLoss("stored DNS record is corrupt: " + name.status().message());
  record.name = std::move(*name);
  record.rdata.assign(bytes.substr(8 + owner_length));
  Status rdata_ok = dns::ValidateRdata(record.type, record.rdata);
  if (!rdata_ok.ok()) return DataLoss("stored DNS record is corrupt: " + rdata_ok.message());
  return record;
}

Status ValidateOwnerLabels(const dns::Name& name) {
  for (size_t i = 0; i < name.label_count(); ++i) {
    std::string_view label = name.label(i);
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_';
      if (!ok) {
        return InvalidArgument("name " + QuoteForMessage(name.ToText()) +
                               ": labels may contain only ASCII letters, digits, '-' and '_' "
                               "(use punycode for internationalised names)");
      }
    }
  }
  return Status::Ok();
}

}  // namespace meshkv::records
