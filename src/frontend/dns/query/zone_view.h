// ZoneView: what the DNS server knows about its zones, one name at a time,
// read from the local replica (RecordService over the `dns` namespace) and
// cached.
//
// A lookup merges three sources; per (name, type) the first that has records
// wins:
//   1. stored records (RecordService);
//   2. records synthesized for each zone from config: NS at the apex
//      (dns.nameservers, else ns1.<zone>), A/AAAA glue for ns1.<zone> when the
//      DNS listen address is a specific IP, and SOA at the apex (mname = the
//      first nameserver, rname = dns.soa_rname or hostmaster.<zone>, serial =
//      RecordService::ZoneSerial, timers from config);
//   3. the SyntheticRecordSource (service discovery).
// TTL of synthesized records: the configured default TTL.
//
// RRsets are answer-ready: the TTL is the smallest of the values' TTLs (RFC
// 2181 5.2 forbids differing TTLs in an RRset; values added separately may
// differ), values are deduplicated and in canonical order (RFC 4034 6.3), as
// Knot sends them. A name with a CNAME shows only the CNAME (RFC 1034 3.6.2:
// concurrent adds on two nodes can leave both; record_service.h).
//
// Cache: NameData per lower-cased name in a StampedCache (sharded, bounded by
// cache_entries), stamped with RecordService::generation() and
// SyntheticRecordSource::generation() read before the store, so an answer
// never outlives the change that made it stale.
//
// Thread-safety: every method is safe from any thread. The RecordService and
// the source must outlive the view.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "frontend/dns/query/ip_address.h"
#include "frontend/dns/query/stamped_cache.h"
#include "frontend/dns/query/synthetic_records.h"
#include "frontend/dns/wire/name.h"
#include "records/record_service.h"

namespace meshkv::dns {

struct RRset {
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::vector<std::string> rdatas;  // uncompressed wire, canonical order, no duplicates
};

// Everything at one name.
struct NameData {
  std::vector<RRset> rrsets;  // ascending type; empty when the name owns nothing
  // Some name below this one owns records: with no rrsets, the name is an
  // empty non-terminal (NODATA, not NXDOMAIN; RFC 8020). Only computed when
  // rrsets is empty.
  bool has_descendants = false;

  const RRset* Find(uint16_t type) const;
  bool Exists() const { return !rrsets.empty() || has_descendants; }
};

// One RRset and its owner, for zone transfers.
struct OwnedRRset {
  Name name;
  RRset rrset;
};

struct ZoneViewOptions {
  std::vector<Name> nameservers;  // empty: ns1.<zone>
  std::optional<Name> soa_rname;  // unset: hostmaster.<zone>
  uint32_t soa_refresh = 3600;
  uint32_t soa_retry = 900;
  uint32_t soa_expire = 604800;
  uint32_t soa_minimum = 300;
  uint32_t synthesized_ttl = 300;
  // Glue for ns1.<zone> when `nameservers` is empty; unset or unspecified
  // (0.0.0.0, ::): none.
  std::optional<IpAddress> nameserver_address;
  size_t cache_entries = 100'000;  // names cached in all shards together
};

class ZoneView {
 public:
  // `synthetic` may be null.
  ZoneView(records::RecordService& records, const SyntheticRecordSource* synthetic,
           ZoneViewOptions options);

  const std::vector<Name>& zones() const { return records_.zones(); }
  // The most specific zone we serve that contains `name`, or nullptr.
  const Name* ZoneOf(const Name& name) const { return records_.ZoneOf(name); }

  // The version of the data answers are computed from now. Read it before
  // computing an answer to cache under it.
  DataStamp stamp() const;

  // What is at `name`. REQUIRES: ZoneOf(name) != nullptr. Errors: storage
  // errors from the RecordService (answer SERVFAIL).
  Result<std::shared_ptr<const NameData>> Lookup(const Name& name);

  // Every RRset of `zone` for AXFR (RFC 5936): the SOA first, then the rest
  // in canonical name order (RFC 4034 6.1), types ascending; the caller
  // repeats the SOA at the end. Names in a more specific zone we also serve
  // are left out. Not cached.
  Result<std::vector<OwnedRRset>> ZoneContents(const Name& zone);

 private:
  // Synthesized records (everything but the SOA, whose serial depends on the
  // store) for one generation of the synthetic source.
  struct Synthesized {
    uint64_t generation = 0;
    std::unordered_map<std::string, std::vector<RRset>> by_name;  // lower-cased wire
    std::unordered_set<std::string> ancestors;  // names strictly above a synthesized owner
    std::vector<OwnedRRset> all;                // for ZoneContents
  };
  std::shared_ptr<const Synthesized> CurrentSynthesized(uint64_t generation);
  std::shared_ptr<const Synthesized> BuildSynthesized(uint64_t generation) const;
  Result<RRset> SynthesizeSoa(const Name& zone);
  Result<std::shared_ptr<const NameData>> Build(const Name& name, const std::string& key,
                                                const Synthesized& synthesized);

  records::RecordService& records_;
  const SyntheticRecordSource* const synthetic_;
  const ZoneViewOptions options_;
  StampedCache<std::shared_ptr<const NameData>> cache_;
  std::mutex synthesized_mutex_;  // serializes rebuilds only
  std::atomic<std::shared_ptr<const Synthesized>> synthesized_;
};

// Groups records into RRsets as ZoneView serves them (TTL, order, dedupe),
// types ascending.
std::vector<RRset> GroupRRsets(const std::vector<records::Record>& records);

}  // namespace meshkv::dns
