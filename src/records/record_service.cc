#include "records/record_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "base/encoding.h"
#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"

namespace meshkv::records {
namespace {

constexpr size_t kScanPage = 1000;
// A name never holds more values than this; the API refuses to add more.
constexpr size_t kMaxValuesPerName = 1000;
constexpr int64_t kMaxTtlSeconds = INT32_MAX;

}  // namespace

RecordService::RecordService(KvService& kv, std::vector<dns::Name> zones, uint32_t default_ttl)
    : kv_(kv), zones_(std::move(zones)), default_ttl_(default_ttl) {}

const dns::Name* RecordService::ZoneOf(const dns::Name& name) const {
  const dns::Name* best = nullptr;
  for (const dns::Name& zone : zones_) {
    if (name.IsSubdomainOf(zone) && (best == nullptr || zone.label_count() > best->label_count())) {
      best = &zone;
    }
  }
  return best;
}

Result<dns::Name> RecordService::ParseOwnerName(std::string_view text) const {
  auto name = dns::Name::FromText(text);
  if (!name.ok()) return InvalidArgument("name: " + name.status().message());
  MESHKV_RETURN_IF_ERROR(ValidateOwnerLabels(*name));
  if (ZoneOf(*name) == nullptr) {
    std::string zones;
    for (const dns::Name& zone : zones_) zones += (zones.empty() ? "" : ", ") + zone.ToText();
    return InvalidArgument("name " + QuoteForMessage(name->ToText()) +
                           " is not inside a zone this node serves (dns.zones: " +
                           (zones.empty() ? "none configured" : zones) + ")");
  }
  return name;
}

Result<Record> RecordService::MakeRecord(const dns::Name& name, std::string_view type,
                                         std::string_view value,
                                         std::optional<int64_t> ttl_seconds) const {
  auto type_code = dns::TypeFromText(type);
  if (!type_code) {
    return InvalidArgument("type " + QuoteForMessage(type) +
                           " is not known; use A, AAAA, CNAME, MX, NS, TXT, SRV, PTR, CAA or SOA");
  }
  switch (*type_code) {
    case dns::RrType::kA:
    case dns::RrType::kAaaa:
    case dns::RrType::kCname:
    case dns::RrType::kMx:
    case dns::RrType::kNs:
    case dns::RrType::kTxt:
    case dns::RrType::kSrv:
    case dns::RrType::kPtr:
    case dns::RrType::kCaa:
    case dns::RrType::kSoa:
      break;
    default:
      return InvalidArgument(
          "type " + dns::TypeToText(*type_code) +
          " cannot be stored; use A, AAAA, CNAME, MX, NS, TXT, SRV, PTR, CAA or SOA");
  }
  auto rdata = dns::RdataFromText(*type_code, value);
  if (!rdata.ok()) {
    return InvalidArgument("value for " + dns::TypeToText(*type_code) + ": " +
                           rdata.status().message());
  }
  int64_t ttl = ttl_seconds.value_or(default_ttl_);
  if (ttl < 0 || ttl > kMaxTtlSeconds) {
    return InvalidArgument("ttl must be 0.." + std::to_string(kMaxTtlSeconds) + " seconds");
  }
  return Record{name, *type_code, static_cast<uint32_t>(ttl), std::move(*rdata)};
}

void RecordService::Add(const Record& record, std::function<void(Status)> done) {
  const dns::Name* zone = ZoneOf(record.name);
  if (zone == nullptr) {
    done(InvalidArgument("name is not inside a zone this node serves"));
    return;
  }
  const bool at_apex = record.name == *zone;
  if (record.type == dns::RrType::kCname && at_apex) {
    done(FailedPrecondition("a zone apex cannot have a CNAME (it has SOA and NS records)"));
    return;
  }
  if (record.type == dns::RrType::kSoa && !at_apex) {
    done(FailedPrecondition("SOA records belong only at a zone apex (" + zone->ToText() + ")"));
    return;
  }
  auto existing = RecordsAt(record.name);
  if (!existing.ok()) {
    done(existing.status());
    return;
  }
  const std::string key = RecordKey(record);
  size_t others = 0;
  for (const Record& r : *existing) {
    if (RecordKey(r) == key) continue;  // same value: the add updates its TTL
    ++others;
    if (record.type == dns::RrType::kCname && r.type != dns::RrType::kCname) {
      done(FailedPrecondition(record.name.ToText() + " already has " + dns::TypeToText(r.type) +
                              " records; a CNAME cannot coexist with other data (RFC 1034 3.6.2)"));
      return;
    }
    if (record.type != dns::RrType::kCname && r.type == dns::RrType::kCname) {
      done(FailedPrecondition(
          record.name.ToText() +
          " is a CNAME; delete it before adding other records (RFC 1034 3.6.2)"));
      return;
    }
    if (record.type == dns::RrType::kCname && r.type == dns::RrType::kCname) {
      done(FailedPrecondition(record.name.ToText() +
                              " already has a CNAME; a name has at most one (RFC 2181 10.1)"));
      return;
    }
    if (record.type == dns::RrType::kSoa && r.type == dns::RrType::kSoa) {
      done(FailedPrecondition(zone->ToText() +
                              " already has an SOA record; delete it first to replace it"));
      return;
    }
  }
  if (others >= kMaxValuesPerName) {
    done(ResourceExhausted(record.name.ToText() + " already has " + std::to_string(others) +
                           " values; the limit is " + std::to_string(kMaxValuesPerName)));
    return;
  }
  Mutation put;
  put.kind = Mutation::Kind::kPut;
  put.key = key;
  put.value = EncodeRecordValue(record);
  put.ttl_ms = 0;  // the DNS TTL is data; the entry itself never expires
  std::vector<Mutation> mutations;
  mutations.push_back(std::move(put));
  Write(std::move(mutations), std::move(done));
}

void RecordService::Remove(const dns::Name& name, std::optional<uint16_t> type,
                           std::optional<std::string> rdata,
                           std::function<void(Result<size_t>)> done) {
  auto existing = RecordsAt(name, type);
  if (!existing.ok()) {
    done(existing.status());
    return;
  }
  std::vector<Mutation> deletes;
  std::string wanted_key;
  if (rdata && type) wanted_key = RecordKey(Record{name, *type, 0, *rdata});
  for (const Record& r : *existing) {
    std::string key = RecordKey(r);
    if (!wanted_key.empty() && key != wanted_key) continue;
    Mutation m;
    m.kind = Mutation::Kind::kDelete;
    m.key = std::move(key);
    deletes.push_back(std::move(m));
  }
  const size_t count = deletes.size();
  if (count == 0) {
    done(size_t{0});
    return;
  }
  Write(std::move(deletes), [count, done = std::move(done)](Status s) {
    if (s.ok())
      done(count);
    else
      done(s);
  });
}

void RecordService::Write(std::vector<Mutation> mutations, std::function<void(Status)> done) {
  kv_.Write(kDnsNamespace, mutations,
            [done = std::move(done)](Result<std::vector<WriteAck>> acks) { done(acks.status()); });
}

Result<std::vector<Record>> RecordService::ScanRecords(const std::string& prefix,
                                                       size_t max_records) {
  std::vector<Record> out;
  std::string start_after;
  for (;;) {
    auto page = kv_.List(kDnsNamespace, prefix, start_after, kScanPage, /*keys_only=*/false);
    if (!page.ok()) return page.status();
    for (const KeyEntry& item : page->items) {
      auto record = DecodeRecordValue(item.entry.value);
      if (!record.ok()) {
        // One bad value must not make a whole name or zone unreadable.
        corrupt_values_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("dns record {} skipped: {}", QuoteForMessage(item.key),
                     record.status().message());
        continue;
      }
      out.push_back(std::move(*record));
      if (out.size() >= max_records) return out;
    }
    if (!page->more || page->items.empty()) return out;
    start_after = page->items.back().key;
  }
}

Result<std::vector<Record>> RecordService::RecordsAt(const dns::Name& name,
                                                     std::optional<uint16_t> type) {
  std::string prefix = NameKeyPrefix(name);
  if (type) prefix += dns::TypeToText(*type) + "/";
  return ScanRecords(prefix, SIZE_MAX);
}

Result<bool> RecordService::HasDescendants(const dns::Name& name) {
  auto page = kv_.List(kDnsNamespace, DescendantKeyPrefix(name), "", 1, /*keys_only=*/true);
  if (!page.ok()) return page.status();
  return !page->items.empty();
}

Result<std::vector<Record>> RecordService::ZoneRecords(const dns::Name& zone) {
  auto at_apex = ScanRecords(NameKeyPrefix(zone), SIZE_MAX);
  if (!at_apex.ok()) return at_apex.status();
  auto below = ScanRecords(DescendantKeyPrefix(zone), SIZE_MAX);
  if (!below.ok()) return below.status();
  std::vector<Record> out = std::move(*at_apex);
  for (Record& r : *below) {
    // Names in a more specific zone we also serve belong to that zone.
    if (ZoneOf(r.name) != nullptr && *ZoneOf(r.name) == zone) out.push_back(std::move(r));
  }
  return out;
}

Result<uint32_t> RecordService::ZoneSerial(const dns::Name& zone) {
  uint64_t newest_ms = 0;
  for (const std::string& prefix : {NameKeyPrefix(zone), DescendantKeyPrefix(zone)}) {
    ScanOptions options;
    options.prefix = prefix;
    options.limit = kScanPage;
    options.include_dead = true;  // a delete is a change too
    options.keys_only = true;
    for (;;) {
      auto page = kv_.store().Scan(kDnsNamespace, options);
      if (!page.ok()) return page.status();
      for (const KeyEntry& item : page->items) {
        const int64_t wall = item.entry.version.timestamp.wall_millis();
        if (wall > 0) newest_ms = std::max(newest_ms, static_cast<uint64_t>(wall));
      }
      if (!page->more || page->items.empty()) break;
      options.start_after = page->items.back().key;
    }
  }
  const uint64_t seconds = newest_ms / 1000;
  if (seconds == 0) return uint32_t{1};
  return static_cast<uint32_t>(std::min<uint64_t>(seconds, UINT32_MAX));
}

}  // namespace meshkv::records
