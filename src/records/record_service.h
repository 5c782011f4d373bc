// RecordService: DNS records over the `dns` namespace of the KvService.
// Used by the HTTP records API, the DNS query engine and zone import/export.
//
// Rules enforced on add (RFC 1034 3.6.2, RFC 2181 10.1): a name with a CNAME
// has no other data and only one CNAME; no CNAME at a zone apex; SOA only at
// an apex, one per zone. Violations are kFailedPrecondition (HTTP 409). Two
// nodes can still accept conflicting adds concurrently (the store is
// last-writer-wins per value); the query engine then answers the CNAME and
// ignores the rest, and the records API shows both so an operator can fix it.
//
// Thread-safety: every method is safe from any thread. generation() changes
// after every successful change made through this service, so caches of
// encoded answers can tell when they are stale.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "records/record.h"
#include "replication/kv_service.h"

namespace meshkv::records {

inline constexpr std::string_view kDnsNamespace = "dns";

class RecordService {
 public:
  // `zones` are the apexes we are authoritative for.
  RecordService(KvService& kv, std::vector<dns::Name> zones, uint32_t default_ttl);

  const std::vector<dns::Name>& zones() const { return zones_; }
  // The most specific zone containing `name`, or nullptr.
  const dns::Name* ZoneOf(const dns::Name& name) const;

  // Parses an owner name from the API or CLI: presentation format, inside a
  // configured zone, labels of [A-Za-z0-9_-].
  Result<dns::Name> ParseOwnerName(std::string_view text) const;

  // Builds a validated record from API input. `ttl_seconds` unset: the
  // default TTL. Fails with kInvalidArgument naming the field.
  Result<Record> MakeRecord(const dns::Name& name, std::string_view type, std::string_view value,
                            std::optional<int64_t> ttl_seconds) const;

  // Adds one value (re-adding the same value updates its TTL).
  void Add(const Record& record, std::function<void(Status)> done);

  // Removes the values at `name` that match `type` and `rdata` (each unset
  // = any). `done` gets the number removed (0 is not an error here).
  void Remove(const dns::Name& name, std::optional<uint16_t> type, std::optional<std::string> rdata,
              std::function<void(Result<size_t>)> done);

  // The live records at exactly `name` (optionally one type), in key order.
  Result<std::vector<Record>> RecordsAt(const dns::Name& name,
                                        std::optional<uint16_t> type = std::nullopt);
  // True when some name strictly below `name` has records (so `name` exists
  // as an empty non-terminal, RFC 8020).
  Result<bool> HasDescendants(const dns::Name& name);
  // Every record at or below `zone` (AXFR, export), in key order.
  Result<std::vector<Record>> ZoneRecords(const dns::Name& zone);

  // The SOA serial of a zone that has no SOA record of its own: the newest
  // wall-clock second (Unix time) of any change, add or delete, at or below
  // `zone` (tombstones count), and 1 for a zone that never had a record. It
  // grows with every change made in a later second than the one before, and
  // every replica holding the same entries computes the same value. (Tombstone
  // garbage collection, once it exists, could make it step back.) Scans the
  // zone's keys: cache the result per generation().
  Result<uint32_t> ZoneSerial(const dns::Name& zone);

  // Changes after every write applied to the `dns` namespace on this node,
  // through this service or replicated from another node.
  uint64_t generation() const { return kv_.generation(kDnsNamespace); }
  uint32_t default_ttl() const { return default_ttl_; }
  // Stored values that could not be decoded and were skipped by reads.
  uint64_t corrupt_values() const { return corrupt_values_.load(std::memory_order_relaxed); }

 private:
  Result<std::vector<Record>> ScanRecords(const std::string& prefix, size_t max_records);
  void Write(std::vector<Mutation> mutations, std::function<void(Status)> done);

  KvService& kv_;
  const std::vector<dns::Name> zones_;
  const uint32_t default_ttl_;
  std::atomic<uint64_t> corrupt_values_{0};
};

}  // namespace meshkv::records
