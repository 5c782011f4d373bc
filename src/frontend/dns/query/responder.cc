#include "frontend/dns/query/responder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <optional>

#include "frontend/dns/wire/rdata.h"

namespace meshkv::dns {
namespace {

// CNAMEs followed for one answer (RFC 1034 4.3.2 step 3a; RFC 1034 5.2.2
// asks resolvers to bound chains, and a server should too).
constexpr int kMaxCnameChain = 8;
// RFC 4034 5.1 (not a type meshkv stores; only the zone-cut rule needs it).
constexpr uint16_t kTypeDs = 43;
constexpr uint16_t kTypeRrsig = 46;  // RFC 4034 3
constexpr uint16_t kTypeNsec = 47;   // RFC 4034 4
// RFC 8914 4.21: "Not Authoritative", sent with REFUSED outside our zones.
constexpr uint16_t kEdnsExtendedError = 15;
constexpr char kEdeNotAuthoritative[] = {0x00, 0x14};
// Zone transfer messages are filled to about this size (Knot's choice).
constexpr size_t kTransferMessageSize = 16 * 1024;
// Longer queries (large EDNS options) are answered but not cached.
constexpr size_t kMaxCachedQuery = 512;

bool IsTransferType(uint16_t type) {
  return type == RrType::kAxfr || type == RrType::kIxfr;
}

// RFC 1982 3.2: s1 > s2 in serial number arithmetic.
bool SerialGreater(uint32_t s1, uint32_t s2) {
  return s1 != s2 && ((s1 < s2 && s2 - s1 > 0x80000000u) || (s1 > s2 && s1 - s2 < 0x80000000u));
}

// The first question straight from the wire, for a FORMERR reply to a message
// that does not parse as a whole. Its name cannot be compressed: a pointer
// must point backwards and never into the header (RFC 1035 4.1.4), and
// nothing precedes the first question but the header.
std::optional<Question> ReadFirstQuestion(std::string_view bytes) {
  size_t pos = kHeaderSize;
  while (pos < bytes.size()) {
    const auto length = static_cast<uint8_t>(bytes[pos]);
    if (length == 0) break;
    if (length > kMaxLabelLength) return std::nullopt;  // pointer or reserved label type
    pos += 1 + length;
  }
  if (pos >= bytes.size() || pos + 5 > bytes.size()) return std::nullopt;
  auto name = Name::FromWire(bytes.substr(kHeaderSize, pos + 1 - kHeaderSize));
  if (!name.ok()) return std::nullopt;
  const auto u16 = [&](size_t at) {
    return static_cast<uint16_t>(static_cast<uint8_t>(bytes[at]) << 8 |
                                 static_cast<uint8_t>(bytes[at + 1]));
  };
  return Question{std::move(*name), u16(pos + 1), u16(pos + 3)};
}

ResourceRecord MakeRecord(const Name& owner, const RRset& rrset, size_t index,
                          std::optional<uint32_t> ttl = std::nullopt) {
  return ResourceRecord{owner, rrset.type, RrClass::kIn, ttl.value_or(rrset.ttl),
                        rrset.rdatas[index]};
}

}  // namespace

// One response under construction.
struct Responder::Reply {
  Header header;                     // qr, id, opcode, rd, aa
  std::optional<Edns> edns;          // the OPT we send (only if the query had one)
  std::optional<Question> question;  // echoed
  Rcode rcode = Rcode::kNoError;
  Transport transport = Transport::kUdp;
  size_t limit = kMaxUdpPlainSize;  // octets the message may take
  std::vector<ResourceRecord> answer, authority, additional;
  std::vector<std::string> glued;  // lower-cased names already given glue
  bool truncated = false;          // set by Encode

  void Fail(Rcode code) {
    rcode = code;
    header.aa = false;
    answer.clear();
    authority.clear();
    additional.clear();
  }
};

Responder::Responder(ZoneView& zones, DnsMetrics& metrics, ResponderOptions options)
    : zones_(zones),
      metrics_(metrics),
      options_(std::move(options)),
      answers_(options_.answer_cache_entries) {}

// The answer cache's key for one query: the transport, then the query
// without its id; and the data stamp, read before any data is. Empty (and no
// stamp read) for a query that is not cached: shorter than a header or longer
// than kMaxCachedQuery.
struct Responder::CacheKey {
  CacheKey(std::string_view query, Transport transport, ZoneView& zones) {
    if (query.size() < kHeaderSize || query.size() > kMaxCachedQuery) return;
    bytes[0] = static_cast<char>(transport);
    std::copy(query.begin() + 2, query.end(), bytes + 1);
    size = query.size() - 1;
    stamp = zones.stamp();
  }
  CacheKey(const CacheKey&) = delete;
  CacheKey& operator=(const CacheKey&) = delete;
  std::string_view view() const { return std::string_view(bytes, size); }
  bool empty() const { return size == 0; }

  char bytes[1 + kMaxCachedQuery];
  size_t size = 0;
  DataStamp stamp;
};

std::vector<std::string> Responder::Respond(std::string_view query, Transport transport,
                                            const IpAddress& client) {
  const TimePoint started = std::chrono::steady_clock::now();
  const CacheKey key(query, transport, zones_);
  std::string cached;
  if (AnswerFromCache(query, transport, key, started, cached)) {
    std::vector<std::string> out;
    out.push_back(std::move(cached));
    return out;
  }
  return AnswerAndCache(query, transport, client, key, started).messages;
}

bool Responder::RespondUdp(std::string_view query, const IpAddress& client, std::string& response) {
  const TimePoint started = std::chrono::steady_clock::now();
  const CacheKey key(query, Transport::kUdp, zones_);
  if (AnswerFromCache(query, Transport::kUdp, key, started, response)) return true;
  Outcome outcome = AnswerAndCache(query, Transport::kUdp, client, key, started);
  assert(outcome.messages.size() <= 1);  // over UDP even a transfer is one message
  if (outcome.messages.empty()) {
    response.clear();
    return false;
  }
  response.assign(outcome.messages.front());  // into the caller's capacity, kept for later hits
  return true;
}

bool Responder::AnswerFromCache(std::string_view query, Transport transport, const CacheKey& key,
                                TimePoint started, std::string& response) {
  if (key.empty()) return false;
  Counted counted;
  const bool hit = answers_.Visit(key.view(), key.stamp, [&](const CachedAnswer& cached) {
    response.assign(cached.response);
    counted = cached.counted;
  });
  if (!hit) return false;
  response[0] = query[0];
  response[1] = query[1];
  RecordAnswer(counted, transport, started);
  return true;
}

Responder::Outcome Responder::AnswerAndCache(std::string_view query, Transport transport,
                                             const IpAddress& client, const CacheKey& key,
                                             TimePoint started) {
  Outcome outcome = Handle(query, transport, client);
  if (outcome.messages.empty()) return outcome;
  RecordAnswer(outcome.counted, transport, started);
  if (outcome.cacheable && !key.empty() && outcome.messages.size() == 1) {
    answers_.Insert(key.view(), key.stamp, CachedAnswer{outcome.messages.front(), outcome.counted});
  }
  return outcome;
}

void Responder::RecordAnswer(const Counted& counted, Transport transport, TimePoint started) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.RecordQuery(counted.qtype, counted.rcode, transport, seconds);
  if (counted.truncated) metrics_.RecordTruncated(transport);
}

Responder::Outcome Responder::Handle(std::string_view query, Transport transport,
                                     const IpAddress& client) {
  Outcome outcome;
  // RFC 1035 4.1.1: without a whole header there is no id to answer to.
  auto header = ParseHeader(query);
  if (!header.ok()) {
    metrics_.RecordDropped(DropReason::kShort);
    return outcome;
  }
  // Never answer a response (it could be spoofed to start a loop).
  if (header->qr) {
    metrics_.RecordDropped(DropReason::kResponse);
    return outcome;
  }

  Reply reply;
  reply.header.id = header->id;
  reply.header.qr = true;
  reply.header.opcode = header->opcode;
  reply.header.rd = header->rd;  // RFC 1035 4.1.1: copied (Knot copies neither AD nor CD)
  reply.transport = transport;
  reply.limit = transport == Transport::kTcp ? kMaxMessageSize : kMaxUdpPlainSize;
  auto finish = [&](Reply& r) {
    outcome.messages.push_back(Encode(r));
    outcome.counted.rcode = static_cast<uint16_t>(r.rcode);
    outcome.counted.truncated = r.truncated;
    if (r.question) outcome.counted.qtype = r.question->type;
    return std::move(outcome);
  };

  auto parsed = ParseMessage(query);
  if (!parsed.ok()) {
    // RFC 1035 4.1.1 FORMERR. Knot drops a message whose question cannot be
    // read; we answer it (DESIGN.md: FORMERR on garbage). No OPT: the
    // query's could not be trusted.
    if (header->qdcount >= 1) reply.question = ReadFirstQuestion(query);
    reply.rcode = Rcode::kFormErr;
    return finish(reply);
  }
  const Message& message = *parsed;
  if (message.edns) {
    // RFC 6891 6.1.1, 6.2.3: our OPT, version 0, our payload size; DO copied
    // (RFC 3225 3). Payloads under 512 count as 512 (RFC 6891 6.2.5).
    Edns ours;
    ours.udp_payload_size = options_.max_udp_payload;
    ours.dnssec_ok = message.edns->dnssec_ok;
    reply.edns = ours;
    if (transport == Transport::kUdp) {
      reply.limit =
          std::clamp<size_t>(message.edns->udp_payload_size, kMaxUdpPlainSize,
                             std::max<size_t>(options_.max_udp_payload, kMaxUdpPlainSize));
    }
  }
  if (!message.questions.empty()) reply.question = message.questions.front();

  // RFC 1035 4.1.1 opcodes: NOTIFY (RFC 1996) and UPDATE (RFC 2136) are
  // refused as a server that accepts neither (NOTAUTH, as Knot); UPDATE's
  // zone section must name an SOA (RFC 2136 3.1.1). Others: NOTIMP.
  if (header->opcode != Opcode::kQuery) {
    if (header->opcode == Opcode::kNotify) {
      reply.rcode = Rcode::kNotAuth;
    } else if (header->opcode == Opcode::kUpdate) {
      reply.rcode = reply.question && reply.question->type != RrType::kSoa ? Rcode::kFormErr
                                                                           : Rcode::kNotAuth;
    } else {
      reply.rcode = Rcode::kNotImp;
    }
    return finish(reply);
  }
  // RFC 1035 4.1.2 allows several questions, but no server answers more than
  // one (RFC 9619).
  if (message.questions.size() != 1) {
    reply.question.reset();
    reply.rcode = Rcode::kFormErr;
    return finish(reply);
  }
  // RFC 6891 6.1.3: only version 0.
  if (message.edns && message.edns->version != 0) {
    reply.rcode = Rcode::kBadVers;
    return finish(reply);
  }
  const Question& question = message.questions.front();
  // Class IN; class ANY (RFC 1035 3.2.5) is read as IN, as Knot does. CH
  // (version.bind and friends), NONE and others: REFUSED, as Knot.
  if (question.klass != RrClass::kIn && question.klass != RrClass::kAny) {
    reply.rcode = Rcode::kRefused;
    return finish(reply);
  }
  // Type 0 is reserved (RFC 6895 3.1); Knot answers NOTIMP.
  if (question.type == 0) {
    reply.rcode = Rcode::kNotImp;
    return finish(reply);
  }
  if (IsTransferType(question.type)) {
    outcome.messages = Transfer(reply, message, client);
    outcome.counted.qtype = question.type;
    outcome.counted.rcode = static_cast<uint16_t>(reply.rcode);
    return outcome;
  }
  Resolve(reply);
  outcome.cacheable = reply.rcode != Rcode::kServFail;
  return finish(reply);
}

void Responder::Resolve(Reply& reply) {
  const uint16_t qtype = reply.question->type;
  Name name = reply.question->name;  // the query's spelling (case preserved)
  const Name* zone = zones_.ZoneOf(name);
  if (zone == nullptr) {
    // Not ours: REFUSED without AA (RFC 1035 4.1.1; what Knot and NSD do
    // rather than a referral to the root), with EDE 20 (RFC 8914 4.21).
    reply.rcode = Rcode::kRefused;
    if (reply.edns) {
      reply.edns->options.push_back(
          {kEdnsExtendedError, std::string(kEdeNotAuthoritative, sizeof(kEdeNotAuthoritative))});
    }
    return;
  }
  reply.header.aa = true;
  std::vector<std::string> followed;  // lower-cased owners of CNAMEs already in the answer

  // RFC 1034 4.3.2, step 3 for each name of the chain.
  for (int step = 0;; ++step) {
    // Zone cuts (step 3b): a name below the apex with NS records delegates
    // everything at and below it, except DS at the cut itself (RFC 4035
    // 3.1.4.1: answered by the parent). An ancestor that does not exist at
    // all means the name does not either (RFC 8020).
    std::vector<Name> ancestors;
    for (Name above = name; above.label_count() > zone->label_count() + 1;) {
      above = above.Parent();
      ancestors.push_back(above);
    }
    std::optional<Name> cut;
    std::shared_ptr<const NameData> cut_data;
    bool missing_ancestor = false;
    for (auto it = ancestors.rbegin(); it != ancestors.rend() && !cut; ++it) {
      auto data = zones_.Lookup(*it);
      if (!data.ok()) return reply.Fail(Rcode::kServFail);
      if ((*data)->Find(RrType::kNs) != nullptr) {
        cut = *it;
        cut_data = *data;
      } else if (!(*data)->Exists()) {
        missing_ancestor = true;
        break;
      }
    }
    std::shared_ptr<const NameData> here;
    if (!cut && !missing_ancestor) {
      auto data = zones_.Lookup(name);
      if (!data.ok()) return reply.Fail(Rcode::kServFail);
      here = *data;
      if (!(name == *zone) && qtype != kTypeDs && here->Find(RrType::kNs) != nullptr) {
        cut = name;
        cut_data = here;
      }
    }
    if (cut) {
      // A referral (RFC 1034 4.3.2 step 3b): the NS RRset of the cut in
      // authority, glue in additional; not authoritative, unless CNAMEs of
      // ours led here (then AA stays for them, as Knot does).
      if (step == 0) reply.header.aa = false;
      const RRset& ns = *cut_data->Find(RrType::kNs);
      for (size_t i = 0; i < ns.rdatas.size(); ++i) {
        reply.authority.push_back(MakeRecord(*cut, ns, i));
      }
      AddGlue(reply, ns);
      return;
    }
    if (missing_ancestor || here->rrsets.empty()) {
      // RFC 2308 2.1 NXDOMAIN, or 2.2 NODATA for an empty non-terminal (RFC
      // 8020); after a CNAME the rcode describes the last name (RFC 6604).
      if (missing_ancestor || !here->has_descendants) reply.rcode = Rcode::kNxDomain;
      AddNegativeSoa(reply, *zone);
      return;
    }
    const RRset* found = nullptr;
    if (qtype == RrType::kAny) {
      // RFC 8482 4.1: one RRset. Knot sends the one with the lowest type.
      found = &here->rrsets.front();
    } else {
      found = here->Find(qtype);
    }
    if (found != nullptr) {
      for (size_t i = 0; i < found->rdatas.size(); ++i) {
        reply.answer.push_back(MakeRecord(name, *found, i));
      }
      AddGlue(reply, *found);
      return;
    }
    // RRSIG and NSEC live beside a CNAME (RFC 4035 2.5, RFC 2181 10.1), so
    // they are never chased through one (Knot neither).
    const RRset* cname =
        qtype == kTypeRrsig || qtype == kTypeNsec ? nullptr : here->Find(RrType::kCname);
    if (cname == nullptr) {
      AddNegativeSoa(reply, *zone);  // RFC 2308 2.2 NODATA
      return;
    }
    // RFC 1034 4.3.2 step 3a: the CNAME, then its target's answer when the
    // target is in one of our zones, up to kMaxCnameChain links and never
    // twice through the same name.
    reply.answer.push_back(MakeRecord(name, *cname, 0));
    followed.push_back(name.Lower().wire());
    std::optional<Name> target = RdataTargetName(RrType::kCname, cname->rdatas.front());
    if (!target || step + 1 >= kMaxCnameChain) return;
    const Name* target_zone = zones_.ZoneOf(*target);
    if (target_zone == nullptr) return;  // the resolver chases it elsewhere
    const std::string target_key = target->Lower().wire();
    if (std::find(followed.begin(), followed.end(), target_key) != followed.end()) return;
    name = std::move(*target);
    zone = target_zone;
  }
}

void Responder::AddNegativeSoa(Reply& reply, const Name& zone) {
  // RFC 2308 3: the zone's SOA in authority, TTL = min(SOA TTL, MINIMUM).
  auto apex = zones_.Lookup(zone);
  if (!apex.ok()) return reply.Fail(Rcode::kServFail);
  const RRset* soa = (*apex)->Find(RrType::kSoa);
  if (soa == nullptr || soa->rdatas.empty()) return;  // not reached: always synthesized
  auto fields = ParseSoa(soa->rdatas.front());
  const uint32_t ttl = fields.ok() ? std::min(soa->ttl, fields->minimum) : soa->ttl;
  reply.authority.push_back(MakeRecord(zone, *soa, 0, ttl));
}

void Responder::AddGlue(Reply& reply, const RRset& rrset) {
  // RFC 1034 3.6.2 / 4.3.2 step 6, RFC 2782: addresses of NS, MX and SRV
  // targets we are authoritative for, A before AAAA, each name once.
  if (rrset.type != RrType::kNs && rrset.type != RrType::kMx && rrset.type != RrType::kSrv) return;
  for (const std::string& rdata : rrset.rdatas) {
    std::optional<Name> target = RdataTargetName(rrset.type, rdata);
    if (!target || target->IsRoot() || zones_.ZoneOf(*target) == nullptr) continue;
    std::string key = target->Lower().wire();
    if (std::find(reply.glued.begin(), reply.glued.end(), key) != reply.glued.end()) continue;
    reply.glued.push_back(std::move(key));
    auto data = zones_.Lookup(*target);
    if (!data.ok()) continue;  // additional data is optional (RFC 2181 9)
    for (uint16_t type : {RrType::kA, RrType::kAaaa}) {
      const RRset* addresses = (*data)->Find(type);
      if (addresses == nullptr) continue;
      for (size_t i = 0; i < addresses->rdatas.size(); ++i) {
        reply.additional.push_back(MakeRecord(*target, *addresses, i));
      }
    }
  }
}

std::vector<std::string> Responder::Transfer(Reply& reply, const Message& query,
                                             const IpAddress& client) {
  const Question& question = *reply.question;
  const bool ixfr = question.type == RrType::kIxfr;
  const bool over_udp = reply.transport == Transport::kUdp;
  std::vector<std::string> messages;
  auto single = [&]() {
    messages.push_back(Encode(reply));
    return messages;
  };
  // RFC 5936 4.2: AXFR only over TCP; Knot answers NOTIMP over UDP.
  if (!ixfr && over_udp) {
    reply.rcode = Rcode::kNotImp;
    return single();
  }
  // Only a zone apex can be transferred, and only to allowed clients; both
  // refusals are NOTAUTH, and come before any other check, as Knot does.
  const Name* zone = zones_.ZoneOf(question.name);
  const bool allowed = std::find(options_.transfer_allow.begin(), options_.transfer_allow.end(),
                                 client) != options_.transfer_allow.end();
  if (zone == nullptr || !(*zone == question.name) || !allowed) {
    reply.rcode = Rcode::kNotAuth;
    return single();
  }
  // RFC 1995 3: the client's SOA is in the authority section.
  std::optional<uint32_t> client_serial;
  if (ixfr) {
    for (const ResourceRecord& rr : query.authority) {
      if (rr.type == RrType::kSoa && rr.name == question.name) {
        auto soa = ParseSoa(rr.rdata);
        if (soa.ok()) client_serial = soa->serial;
      }
    }
    if (!client_serial) {
      reply.rcode = Rcode::kFormErr;
      return single();
    }
  }
  auto apex = zones_.Lookup(*zone);
  if (!apex.ok() || (*apex)->Find(RrType::kSoa) == nullptr) {
    reply.Fail(Rcode::kServFail);
    return single();
  }
  const RRset& soa = *(*apex)->Find(RrType::kSoa);
  if (ixfr) {
    // RFC 1995 2, 4: a client as new as we are, or asking over UDP, gets our
    // SOA alone; otherwise the whole zone (we keep no journal of changes).
    auto ours = ParseSoa(soa.rdatas.front());
    if (over_udp || !ours.ok() || !SerialGreater(ours->serial, *client_serial)) {
      reply.answer.push_back(MakeRecord(question.name, soa, 0));
      return single();
    }
  }
  auto contents = zones_.ZoneContents(*zone);
  if (!contents.ok()) {
    reply.Fail(Rcode::kServFail);
    return single();
  }
  // RFC 5936 2.2: the SOA, every other RRset, the SOA again, in as many
  // messages as needed. Like Knot: about 16 KiB per message, each with the
  // question and our OPT (RFC 5936 2.2.1 allows both).
  std::vector<ResourceRecord> records;
  for (const OwnedRRset& owned : *contents) {
    for (size_t i = 0; i < owned.rrset.rdatas.size(); ++i) {
      records.push_back(MakeRecord(owned.name, owned.rrset, i));
    }
  }
  records.push_back(records.front());
  auto start = [&]() {
    MessageWriter writer(kMaxMessageSize);
    writer.SetHeader(reply.header);
    if (reply.edns) writer.SetEdns(*reply.edns);
    writer.AddQuestion(question);
    return writer;
  };
  MessageWriter writer = start();
  size_t in_message = 0;
  for (const ResourceRecord& rr : records) {
    if (in_message > 0 && writer.size() >= kTransferMessageSize) {
      messages.push_back(writer.Finish());
      writer = start();
      in_message = 0;
    }
    if (writer.AddRecord(Section::kAnswer, rr)) {
      ++in_message;
      continue;
    }
    if (in_message > 0) {
      messages.push_back(writer.Finish());
      writer = start();
      in_message = 0;
      if (writer.AddRecord(Section::kAnswer, rr)) {
        ++in_message;
        continue;
      }
    }
    // Too big for any message (a TXT of nearly 64 KiB): cannot be sent.
    spdlog::warn("AXFR of {}: {} {} does not fit in a DNS message; left out", zone->ToText(),
                 rr.name.ToText(), TypeToText(rr.type));
  }
  messages.push_back(writer.Finish());
  return messages;
}

std::string Responder::Encode(Reply& reply) const {
  MessageWriter writer(reply.limit);
  auto begin = [&](MessageWriter& w) {
    w.SetHeader(reply.header);
    if (reply.edns) w.SetEdns(*reply.edns);
    if (reply.question) w.AddQuestion(*reply.question);
    w.SetRcode(reply.rcode);
  };
  begin(writer);
  bool fits = true;
  for (const ResourceRecord& rr : reply.answer) {
    if (!writer.AddRecord(Section::kAnswer, rr)) {
      fits = false;
      break;
    }
  }
  for (size_t i = 0; fits && i < reply.authority.size(); ++i) {
    fits = writer.AddRecord(Section::kAuthority, reply.authority[i]);
  }
  if (!fits) {
    // RFC 2181 9, RFC 1035 4.2.1: TC. Knot sends the question alone rather
    // than a partial RRset; so do we (the client retries over TCP).
    reply.truncated = true;
    MessageWriter truncated(reply.limit);
    begin(truncated);
    truncated.SetTruncated();
    return truncated.Finish();
  }
  // Additional data is optional: what does not fit is left out, no TC (RFC
  // 2181 9).
  for (const ResourceRecord& rr : reply.additional) writer.AddRecord(Section::kAdditional, rr);
  return writer.Finish();
}

}  // namespace meshkv::dns
