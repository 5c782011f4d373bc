// Responder: the authoritative answering logic of the DNS server. Turns the
// bytes of one query (plus how and from where it came) into the bytes of the
// response; no sockets, so every behaviour is unit-tested here and the
// server (../server) only moves bytes.
//
// What it answers (details and the RFC for each in README.md):
//   - QUERY for class IN (class ANY is read as IN, like Knot) in our zones:
//     AA, NXDOMAIN vs NODATA with the SOA (RFC 2308, RFC 8020), CNAME chains
//     inside our zones (RFC 1034 4.3.2), referrals at zone cuts, glue for NS,
//     MX and SRV targets, minimal ANY (RFC 8482), case preserved;
//   - EDNS(0) (RFC 6891): OPT echoed with our payload size, BADVERS;
//   - truncation (RFC 2181 9): over UDP an answer that does not fit in
//     min(client payload, ours) (512 without EDNS) is sent as the question
//     alone with TC, as Knot does;
//   - AXFR over TCP to allowed addresses (RFC 5936); IXFR answered like a
//     server without a journal (RFC 1995 4: the whole zone, or the SOA alone
//     when the client is current or asks over UDP);
//   - errors: REFUSED outside our zones, FORMERR, NOTIMP, NOTAUTH, SERVFAIL
//     on storage errors; nothing at all for responses (QR=1) and for packets
//     shorter than a header.
// Whatever the input, it never crashes and never answers with more than the
// transport allows.
//
// Responses to ordinary queries are cached whole (StampedCache, invalidated
// by any change to the zone data); zone transfers and SERVFAIL never are.
//
// Thread-safety: Respond and RespondUdp may be called from any number of
// threads at once (RespondUdp's `response` buffer is the caller's alone).
// The ZoneView and DnsMetrics must outlive the Responder.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/dns/query/dns_metrics.h"
#include "frontend/dns/query/ip_address.h"
#include "frontend/dns/query/stamped_cache.h"
#include "frontend/dns/query/zone_view.h"
#include "frontend/dns/wire/message.h"

namespace meshkv::dns {

struct ResponderOptions {
  // Our EDNS UDP payload size (RFC 6891 6.2.5), config dns.max_udp_payload.
  uint16_t max_udp_payload = 1232;
  // Client addresses allowed to AXFR/IXFR; others get NOTAUTH (as Knot).
  std::vector<IpAddress> transfer_allow;
  // Whole responses cached, keyed by the query's bytes but its id (so a
  // repeated query, same spelling and EDNS, costs a hash lookup and a copy).
  size_t answer_cache_entries = 50'000;
};

class Responder {
 public:
  Responder(ZoneView& zones, DnsMetrics& metrics, ResponderOptions options);

  // The response messages for one query received over `transport` from
  // `client`: none when the query must be dropped, one for an ordinary
  // answer, one or more for a zone transfer over TCP. Each fits its transport
  // (65535 octets over TCP).
  std::vector<std::string> Respond(std::string_view query, Transport transport,
                                   const IpAddress& client);

  // The same answer as Respond(query, Transport::kUdp, client), which over
  // UDP is never more than one message, written into `response`: its old
  // contents replaced, its capacity reused, so that a cached answer costs no
  // allocation once the buffer has grown to the answer's size. Returns false,
  // with `response` empty, when the query must be dropped.
  // REQUIRES: `query` does not point into `response`.
  [[nodiscard]] bool RespondUdp(std::string_view query, const IpAddress& client,
                                std::string& response);

 private:
  struct Reply;
  struct CacheKey;
  using TimePoint = std::chrono::steady_clock::time_point;
  // What the metrics record of an answered query.
  struct Counted {
    uint16_t qtype = 0;  // 0 when there was no question
    uint16_t rcode = 0;
    bool truncated = false;
  };
  struct Outcome {
    std::vector<std::string> messages;
    Counted counted;
    bool cacheable = false;  // a pure function of the query bytes and the zone data
  };
  struct CachedAnswer {
    std::string response;  // id to be patched
    Counted counted;
  };
  // From the cache into `response` (id patched, metrics recorded); false,
  // with `response` untouched, on a miss.
  bool AnswerFromCache(std::string_view query, Transport transport, const CacheKey& key,
                       TimePoint started, std::string& response);
  // Computes the answer the cache did not have, records its metrics and
  // caches it when it may be.
  Outcome AnswerAndCache(std::string_view query, Transport transport, const IpAddress& client,
                         const CacheKey& key, TimePoint started);
  void RecordAnswer(const Counted& counted, Transport transport, TimePoint started);
  Outcome Handle(std::string_view query, Transport transport, const IpAddress& client);
  void Resolve(Reply& reply);
  std::vector<std::string> Transfer(Reply& reply, const Message& query, const IpAddress& client);
  void AddGlue(Reply& reply, const RRset& rrset);
  void AddNegativeSoa(Reply& reply, const Name& zone);
  // The response as one message of at most reply.limit octets; when the
  // answer or authority section does not fit, the question alone with TC.
  std::string Encode(Reply& reply) const;

  ZoneView& zones_;
  DnsMetrics& metrics_;
  const ResponderOptions options_;
  StampedCache<CachedAnswer> answers_;
};

}  // namespace meshkv::dns
