// Metrics of the DNS front end (Prometheus, via MetricsRegistry):
//   meshkv_dns_queries_total{qtype,rcode,transport}   answered queries
//   meshkv_dns_request_duration_seconds{transport}    time to compute an answer
//   meshkv_dns_truncated_total{transport}             answers sent with TC
//   meshkv_dns_dropped_total{reason}                  packets not answered
// qtype is the mnemonic for the types meshkv serves plus ANY, AXFR, IXFR, and
// "other" for the rest, so the label set stays bounded; rcode is the name dig
// prints. Children are created on first use, then updated lock-free.
//
// Thread-safety: every method is safe from any thread. The registry must
// outlive this object.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/metrics.h"
#include "frontend/dns/wire/types.h"

namespace meshkv::dns {

enum class Transport : uint8_t { kUdp = 0, kTcp = 1 };

enum class DropReason : uint8_t {
  kShort = 0,      // fewer than 12 bytes: no header to answer
  kResponse,       // QR=1: never answer a response (RFC 1035 4.1.1)
  kTcpGarbage,     // a TCP connection sent something unanswerable and was closed
  kTcpLimit,       // a TCP connection refused over the connection limit
  kTooLarge,       // a UDP datagram larger than the receive buffer
  kUdpSendFailed,  // the answer could not be sent (socket buffer full)
  kCount
};

class DnsMetrics {
 public:
  explicit DnsMetrics(MetricsRegistry& registry);

  void RecordQuery(uint16_t qtype, uint16_t rcode, Transport transport, double seconds);
  void RecordTruncated(Transport transport);
  void RecordDropped(DropReason reason);

 private:
  static constexpr int kQtypes = 14;  // see QtypeIndex
  static constexpr int kRcodes = 9;   // see RcodeIndex
  static int QtypeIndex(uint16_t qtype);
  static int RcodeIndex(uint16_t rcode);
  Counter* QueryCounter(int qtype, int rcode, Transport transport);

  MetricsRegistry& registry_;
  std::atomic<Counter*> queries_[kQtypes][kRcodes][2] = {};
  Histogram* duration_[2];
  Counter* truncated_[2];
  Counter* dropped_[static_cast<int>(DropReason::kCount)];
};

}  // namespace meshkv::dns
