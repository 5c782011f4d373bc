// Records the DNS server serves without their being stored: the seam through
// which service discovery publishes cluster members.
//
// A SyntheticRecordSource is asked for the records of each zone; the zone's
// answers merge them with the stored records, the stored ones winning per
// (name, type) (so an operator can override any of them). Implementations
// must be thread-safe: Records() and generation() are called from every DNS
// thread.
//
// The node wiring (server/node.cc) publishes the live member list through
// this seam and bumps generation() when the list changes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "frontend/dns/query/ip_address.h"
#include "frontend/dns/wire/name.h"
#include "records/record.h"

namespace meshkv::dns {

class SyntheticRecordSource {
 public:
  virtual ~SyntheticRecordSource() = default;
  // Changes whenever Records() would return something different; answers
  // cached under another generation are dropped.
  virtual uint64_t generation() const = 0;
  // The records to serve in `zone`. Records whose owner is not inside `zone`
  // are ignored.
  virtual std::vector<records::Record> Records(const Name& zone) const = 0;
};

// A source whose records never change after construction (generation 1).
class StaticRecordSource final : public SyntheticRecordSource {
 public:
  using Builder = std::function<std::vector<records::Record>(const Name& zone)>;
  // `build` is called (from any thread) each time a zone's records are needed.
  explicit StaticRecordSource(Builder build) : build_(std::move(build)) {}
  uint64_t generation() const override { return 1; }
  std::vector<records::Record> Records(const Name& zone) const override { return build_(zone); }

 private:
  Builder build_;
};

// The discovery records of one member in `zone` (DESIGN.md, service discovery):
//   _meshkv._tcp.<zone>  SRV 0 0 <port> <node_label>.nodes.<zone>
//   <node_label>.nodes.<zone>  A or AAAA <address>
// `address` and `port` are the member's cluster (peer RPC) address. Nothing is
// published when `address` is unspecified (0.0.0.0, ::), since the SRV target
// would have no address, nor when the names would be invalid.
std::vector<records::Record> NodeDiscoveryRecords(const Name& zone, std::string_view node_label,
                                                  const IpAddress& address, uint16_t port,
                                                  uint32_t ttl);

}  // namespace meshkv::dns
