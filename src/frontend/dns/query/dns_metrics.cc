#include "frontend/dns/query/dns_metrics.h"

#include <string>

namespace meshkv::dns {
namespace {

constexpr const char* kTransportNames[] = {"udp", "tcp"};
constexpr uint16_t kQtypeValues[] = {RrType::kA,   RrType::kNs,  RrType::kCname, RrType::kSoa,
                                     RrType::kPtr, RrType::kMx,  RrType::kTxt,   RrType::kAaaa,
                                     RrType::kSrv, RrType::kCaa, RrType::kAny,   RrType::kAxfr,
                                     RrType::kIxfr};            // index 13: other
constexpr uint16_t kRcodeValues[] = {0, 1, 2, 3, 4, 5, 9, 16};  // index 8: other

}  // namespace

DnsMetrics::DnsMetrics(MetricsRegistry& registry) : registry_(registry) {
  for (int t = 0; t < 2; ++t) {
    duration_[t] = registry.GetHistogram("meshkv_dns_request_duration_seconds",
                                         "Time to compute a DNS answer, by transport.",
                                         {{"transport", kTransportNames[t]}});
    truncated_[t] = registry.GetCounter(
        "meshkv_dns_truncated_total",
        "DNS answers sent with TC because they did not fit (RFC 2181 9), by transport.",
        {{"transport", kTransportNames[t]}});
  }
  constexpr const char* kReasons[] = {"short",     "response",  "tcp_garbage",
                                      "tcp_limit", "too_large", "udp_send_failed"};
  for (int r = 0; r < static_cast<int>(DropReason::kCount); ++r) {
    dropped_[r] = registry.GetCounter("meshkv_dns_dropped_total",
                                      "DNS packets or connections dropped without an answer.",
                                      {{"reason", kReasons[r]}});
  }
}

int DnsMetrics::QtypeIndex(uint16_t qtype) {
  for (int i = 0; i < kQtypes - 1; ++i) {
    if (kQtypeValues[i] == qtype) return i;
  }
  return kQtypes - 1;
}

int DnsMetrics::RcodeIndex(uint16_t rcode) {
  for (int i = 0; i < static_cast<int>(std::size(kRcodeValues)); ++i) {
    if (kRcodeValues[i] == rcode) return i;
  }
  return kRcodes - 1;
}

Counter* DnsMetrics::QueryCounter(int qtype, int rcode, Transport transport) {
  std::atomic<Counter*>& slot = queries_[qtype][rcode][static_cast<int>(transport)];
  Counter* counter = slot.load(std::memory_order_acquire);
  if (counter != nullptr) return counter;
  const std::string qtype_label = qtype == kQtypes - 1 ? "other" : TypeToText(kQtypeValues[qtype]);
  const std::string rcode_label = rcode < static_cast<int>(std::size(kRcodeValues))
                                      ? RcodeToText(kRcodeValues[rcode])
                                      : "other";
  // The registry returns the same child for the same labels, so a race here
  // only stores the same pointer twice.
  counter =
      registry_.GetCounter("meshkv_dns_queries_total",
                           "DNS queries answered, by query type, response code and transport.",
                           {{"qtype", qtype_label},
                            {"rcode", rcode_label},
                            {"transport", kTransportNames[static_cast<int>(transport)]}});
  slot.store(counter, std::memory_order_release);
  return counter;
}

void DnsMetrics::RecordQuery(uint16_t qtype, uint16_t rcode, Transport transport, double seconds) {
  QueryCounter(QtypeIndex(qtype), RcodeIndex(rcode), transport)->Increment();
  duration_[static_cast<int>(transport)]->Observe(seconds);
}

void DnsMetrics::RecordTruncated(Transport transport) {
  truncated_[static_cast<int>(transport)]->Increment();
}

void DnsMetrics::RecordDropped(DropReason reason) {
  dropped_[static_cast<int>(reason)]->Increment();
}

}  // namespace meshkv::dns
