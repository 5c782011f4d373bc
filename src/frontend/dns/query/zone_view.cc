#include "frontend/dns/query/zone_view.h"

#include <algorithm>
#include <functional>
#include <map>
#include <utility>

#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"

namespace meshkv::dns {
namespace {

void InsertSorted(std::vector<RRset>& rrsets, RRset rrset) {
  auto at = std::lower_bound(rrsets.begin(), rrsets.end(), rrset.type,
                             [](const RRset& r, uint16_t type) { return r.type < type; });
  rrsets.insert(at, std::move(rrset));
}

// Stored RRsets win over synthesized ones of the same type; then the CNAME
// rule (RFC 1034 3.6.2): below the apex a CNAME hides everything else, and
// at an apex (where RecordService refuses it) a CNAME is ignored.
std::vector<RRset> Merge(bool apex, std::vector<RRset> stored,
                         const std::vector<RRset>* synthesized) {
  if (synthesized != nullptr) {
    for (const RRset& extra : *synthesized) {
      const bool taken = std::any_of(stored.begin(), stored.end(),
                                     [&](const RRset& r) { return r.type == extra.type; });
      if (!taken) InsertSorted(stored, extra);
    }
  }
  if (apex) {
    // RFC 1035 3.3.13: one SOA per zone; two added concurrently on different
    // nodes leave two values: serve the first in canonical order.
    for (RRset& rrset : stored) {
      if (rrset.type == RrType::kSoa && rrset.rdatas.size() > 1) rrset.rdatas.resize(1);
    }
  }
  auto cname = std::find_if(stored.begin(), stored.end(),
                            [](const RRset& r) { return r.type == RrType::kCname; });
  if (cname != stored.end()) {
    if (apex) {
      stored.erase(cname);
    } else if (stored.size() > 1) {
      RRset only = std::move(*cname);
      stored.clear();
      stored.push_back(std::move(only));
    }
  }
  return stored;
}

}  // namespace

const RRset* NameData::Find(uint16_t type) const {
  for (const RRset& rrset : rrsets) {
    if (rrset.type == type) return &rrset;
  }
  return nullptr;
}

std::vector<RRset> GroupRRsets(const std::vector<records::Record>& records) {
  struct Values {
    uint32_t ttl = UINT32_MAX;
    std::vector<std::pair<std::string, std::string>> canonical_and_rdata;
  };
  std::map<uint16_t, Values> by_type;
  for (const records::Record& record : records) {
    Values& values = by_type[record.type];
    values.ttl = std::min(values.ttl, record.ttl);
    values.canonical_and_rdata.emplace_back(CanonicalRdata(record.type, record.rdata),
                                            record.rdata);
  }
  std::vector<RRset> out;
  out.reserve(by_type.size());
  for (auto& [type, values] : by_type) {
    auto& items = values.canonical_and_rdata;
    // RFC 4034 6.3: canonical order, as octet strings; duplicates dropped
    // (RFC 2181 5).
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                items.end());
    RRset rrset;
    rrset.type = type;
    rrset.ttl = values.ttl;
    rrset.rdatas.reserve(items.size());
    for (auto& item : items) rrset.rdatas.push_back(std::move(item.second));
    out.push_back(std::move(rrset));
  }
  return out;
}

ZoneView::ZoneView(records::RecordService& records, const SyntheticRecordSource* synthetic,
                   ZoneViewOptions options)
    : records_(records),
      synthetic_(synthetic),
      options_(std::move(options)),
      cache_(options_.cache_entries) {}

DataStamp ZoneView::stamp() const {
  return DataStamp{records_.generation(), synthetic_ != nullptr ? synthetic_->generation() : 0};
}

std::shared_ptr<const ZoneView::Synthesized> ZoneView::CurrentSynthesized(uint64_t generation) {
  std::shared_ptr<const Synthesized> current = synthesized_.load(std::memory_order_acquire);
  if (current != nullptr && current->generation >= generation) return current;
  std::lock_guard lock(synthesized_mutex_);
  current = synthesized_.load(std::memory_order_acquire);
  if (current != nullptr && current->generation >= generation) return current;
  current = BuildSynthesized(generation);
  synthesized_.store(current, std::memory_order_release);
  return current;
}

std::shared_ptr<const ZoneView::Synthesized> ZoneView::BuildSynthesized(uint64_t generation) const {
  auto out = std::make_shared<Synthesized>();
  out->generation = generation;
  for (const Name& zone : zones()) {
    std::vector<records::Record> records;
    // The apex NS RRset, and glue for ns1.<zone> (RFC 1034 4.2.1).
    std::vector<Name> nameservers = options_.nameservers;
    if (nameservers.empty()) {
      auto ns1 = zone.Prepend("ns1");
      if (ns1.ok()) {
        nameservers.push_back(*ns1);
        const std::optional<IpAddress>& address = options_.nameserver_address;
        if (address && !address->IsUnspecified()) {
          records.push_back({*ns1, address->is_v6() ? RrType::kAaaa : RrType::kA,
                             options_.synthesized_ttl, std::string(address->bytes())});
        }
      }
    }
    for (const Name& ns : nameservers) {
      records.push_back({zone, RrType::kNs, options_.synthesized_ttl, ns.wire()});
    }
    if (synthetic_ != nullptr) {
      for (records::Record& record : synthetic_->Records(zone))
        records.push_back(std::move(record));
    }
    // Group by owner; owners outside this zone (or in a more specific zone
    // we serve) are ignored.
    std::map<Name, std::vector<records::Record>, CanonicalLess> by_owner;
    for (records::Record& record : records) {
      const Name* owner_zone = ZoneOf(record.name);
      if (owner_zone == nullptr || !(*owner_zone == zone)) continue;
      if (!ValidateRdata(record.type, record.rdata).ok()) continue;
      Name owner = record.name;
      by_owner[owner].push_back(std::move(record));
    }
    for (auto& [owner, owned] : by_owner) {
      std::vector<RRset> rrsets = GroupRRsets(owned);
      for (const RRset& rrset : rrsets) out->all.push_back({owner, rrset});
      out->by_name[owner.Lower().wire()] = std::move(rrsets);
      for (Name above = owner; above.label_count() > zone.label_count() + 1;) {
        above = above.Parent();
        out->ancestors.insert(above.Lower().wire());
      }
    }
  }
  return out;
}

Result<RRset> ZoneView::SynthesizeSoa(const Name& zone) {
  auto serial = records_.ZoneSerial(zone);
  if (!serial.ok()) return serial.status();
  SoaRdata soa;
  if (!options_.nameservers.empty()) {
    soa.mname = options_.nameservers.front();
  } else {
    auto ns1 = zone.Prepend("ns1");
    soa.mname = ns1.ok() ? *ns1 : zone;
  }
  if (options_.soa_rname) {
    soa.rname = *options_.soa_rname;
  } else {
    auto hostmaster = zone.Prepend("hostmaster");
    soa.rname = hostmaster.ok() ? *hostmaster : zone;
  }
  soa.serial = *serial;
  soa.refresh = options_.soa_refresh;
  soa.retry = options_.soa_retry;
  soa.expire = options_.soa_expire;
  soa.minimum = options_.soa_minimum;
  return RRset{RrType::kSoa, options_.synthesized_ttl, {EncodeSoa(soa)}};
}

Result<std::shared_ptr<const NameData>> ZoneView::Build(const Name& name, const std::string& key,
                                                        const Synthesized& synthesized) {
  auto stored = records_.RecordsAt(name);
  if (!stored.ok()) return stored.status();
  const Name* zone = ZoneOf(name);
  const bool apex = zone != nullptr && *zone == name;
  auto synthesized_here = synthesized.by_name.find(key);
  auto data = std::make_shared<NameData>();
  data->rrsets =
      Merge(apex, GroupRRsets(*stored),
            synthesized_here == synthesized.by_name.end() ? nullptr : &synthesized_here->second);
  if (apex && data->Find(RrType::kSoa) == nullptr) {
    auto soa = SynthesizeSoa(*zone);
    if (!soa.ok()) return soa.status();
    InsertSorted(data->rrsets, std::move(*soa));
  }
  if (data->rrsets.empty()) {
    if (synthesized.ancestors.contains(key)) {
      data->has_descendants = true;
    } else {
      auto below = records_.HasDescendants(name);
      if (!below.ok()) return below.status();
      data->has_descendants = *below;
    }
  }
  return std::shared_ptr<const NameData>(std::move(data));
}

Result<std::shared_ptr<const NameData>> ZoneView::Lookup(const Name& name) {
  // The stamp is read before the store, so data read after a change but
  // stamped with the generation before it is merely dropped early.
  const DataStamp now = stamp();
  std::string key = name.Lower().wire();
  if (auto hit = cache_.Find(key, now)) return std::move(*hit);
  std::shared_ptr<const Synthesized> synthesized = CurrentSynthesized(now.synthetic);
  auto built = Build(name, key, *synthesized);
  if (!built.ok()) return built.status();
  cache_.Insert(key, now, *built);
  return built;
}

Result<std::vector<OwnedRRset>> ZoneView::ZoneContents(const Name& zone) {
  auto stored = records_.ZoneRecords(zone);
  if (!stored.ok()) return stored.status();
  std::shared_ptr<const Synthesized> synthesized =
      CurrentSynthesized(synthetic_ != nullptr ? synthetic_->generation() : 0);
  std::map<Name, std::vector<records::Record>, CanonicalLess> by_owner;
  for (records::Record& record : *stored) {
    Name owner = record.name;
    by_owner[owner].push_back(std::move(record));
  }
  for (const OwnedRRset& owned : synthesized->all) {
    const Name* owner_zone = ZoneOf(owned.name);
    if (owner_zone != nullptr && *owner_zone == zone) by_owner.try_emplace(owned.name);
  }
  by_owner.try_emplace(zone);  // the apex always has SOA and NS

  std::vector<OwnedRRset> out;
  std::optional<OwnedRRset> soa;
  for (auto& [owner, owned] : by_owner) {
    const bool apex = owner == zone;
    auto here = synthesized->by_name.find(owner.Lower().wire());
    std::vector<RRset> rrsets = Merge(apex, GroupRRsets(owned),
                                      here == synthesized->by_name.end() ? nullptr : &here->second);
    for (RRset& rrset : rrsets) {
      if (apex && rrset.type == RrType::kSoa) {
        soa = OwnedRRset{owner, std::move(rrset)};
        continue;
      }
      if (!apex && rrset.type == RrType::kSoa) continue;  // not zone data here
      out.push_back({owner, std::move(rrset)});
    }
  }
  if (!soa) {
    auto synthesized_soa = SynthesizeSoa(zone);
    if (!synthesized_soa.ok()) return synthesized_soa.status();
    soa = OwnedRRset{zone, std::move(*synthesized_soa)};
  }
  out.insert(out.begin(), std::move(*soa));
  return out;
}

}  // namespace meshkv::dns
