#include "frontend/dns/query/synthetic_records.h"

#include "frontend/dns/wire/types.h"

namespace meshkv::dns {

std::vector<records::Record> NodeDiscoveryRecords(const Name& zone, std::string_view node_label,
                                                  const IpAddress& address, uint16_t port,
                                                  uint32_t ttl) {
  if (address.IsUnspecified()) return {};
  auto nodes = zone.Prepend("nodes");
  if (!nodes.ok()) return {};
  auto target = nodes->Prepend(node_label);
  auto tcp = zone.Prepend("_tcp");
  if (!target.ok() || !tcp.ok()) return {};
  auto service = tcp->Prepend("_meshkv");
  if (!service.ok()) return {};

  // RFC 2782: priority, weight, port, target (uncompressed wire).
  std::string srv;
  for (uint16_t field : {uint16_t{0}, uint16_t{0}, port}) {
    srv += static_cast<char>(field >> 8);
    srv += static_cast<char>(field & 0xff);
  }
  srv += target->wire();
  std::vector<records::Record> out;
  out.push_back(records::Record{*service, RrType::kSrv, ttl, std::move(srv)});
  out.push_back(records::Record{*target, address.is_v6() ? RrType::kAaaa : RrType::kA, ttl,
                                std::string(address.bytes())});
  return out;
}

}  // namespace meshkv::dns
