#include "frontend/dns/query/responder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/hlc.h"
#include "base/metrics.h"
#include "frontend/dns/query/synthetic_records.h"
#include "frontend/dns/query/zone_view.h"
#include "frontend/dns/wire/message.h"
#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"
#include "records/record_service.h"
#include "replication/kv_service.h"
#include "storage/store.h"

// Allocations made by this thread, for the test that a cached answer over
// UDP allocates nothing. Replaces operator new and delete for the whole test
// binary; they still use malloc and free, as the default ones do (not
// inlined, so that GCC does not see free() meet a pointer from new).
namespace {
thread_local int64_t allocations_on_this_thread = 0;
}  // namespace

[[gnu::noinline]] void* operator new(std::size_t size) {
  ++allocations_on_this_thread;
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* memory) noexcept {
  std::free(memory);
}
[[gnu::noinline]] void operator delete(void* memory, std::size_t) noexcept {
  std::free(memory);
}

namespace meshkv::dns {
namespace {

using ::testing::HasSubstr;

constexpr NodeId kSelf{0x1111};
const IpAddress kAllowed = *IpAddress::Parse("127.0.0.1");
const IpAddress kStranger = *IpAddress::Parse("192.0.2.200");

Name N(std::string_view text) {
  return *Name::FromText(text);
}

std::vector<NamespaceSpec> MemoryNamespaces() {
  std::vector<NamespaceSpec> namespaces = BuiltinNamespaces();
  for (NamespaceSpec& ns : namespaces) ns.storage = StorageKind::kMemory;
  return namespaces;
}

struct QueryOptions {
  uint16_t id = 0x4d2;
  bool rd = false;
  Opcode opcode = Opcode::kQuery;
  uint16_t klass = RrClass::kIn;
  std::optional<Edns> edns;
  std::vector<ResourceRecord> authority;
};

std::string MakeQuery(std::string_view name, uint16_t type, const QueryOptions& options = {}) {
  MessageWriter writer(kMaxMessageSize);
  Header header;
  header.id = options.id;
  header.rd = options.rd;
  header.opcode = options.opcode;
  writer.SetHeader(header);
  if (options.edns) writer.SetEdns(*options.edns);
  EXPECT_TRUE(writer.AddQuestion(Question{N(name), type, options.klass}));
  for (const ResourceRecord& rr : options.authority) {
    EXPECT_TRUE(writer.AddRecord(Section::kAuthority, rr));
  }
  return writer.Finish();
}

Edns EdnsWithPayload(uint16_t payload, uint8_t version = 0) {
  Edns edns;
  edns.udp_payload_size = payload;
  edns.version = version;
  return edns;
}

std::vector<std::string> TextsOf(const std::vector<ResourceRecord>& records) {
  std::vector<std::string> out;
  for (const ResourceRecord& rr : records) {
    auto rdata = RdataToText(rr.type, rr.rdata);
    out.push_back(rr.name.ToText() + " " + std::to_string(rr.ttl) + " " + TypeToText(rr.type) +
                  " " + (rdata.ok() ? *rdata : "?"));
  }
  return out;
}

class ResponderTest : public ::testing::Test {
 protected:
  ResponderTest()
      : store_(NewMemoryStore(MemoryNamespaces())),
        hlc_(clock_, 500),
        kv_(*store_, nullptr, hlc_, clock_, kSelf, MemoryNamespaces()),
        records_(kv_, {N("example.test"), N("Other.Test")}, 3600),
        source_([](const Name& zone) {
          return NodeDiscoveryRecords(zone, "1111000000000000", *IpAddress::Parse("127.0.0.7"),
                                      7070, 60);
        }),
        metrics_(registry_) {
    ZoneViewOptions zone_options;
    zone_options.synthesized_ttl = 3600;
    zone_options.soa_minimum = 300;
    zone_options.nameserver_address = *IpAddress::Parse("127.0.0.1");
    view_ = std::make_unique<ZoneView>(records_, &source_, zone_options);
    ResponderOptions options;
    options.max_udp_payload = 1232;
    options.transfer_allow = {kAllowed};
    responder_ = std::make_unique<Responder>(*view_, metrics_, options);

    Add("example.test", "A", "192.0.2.1");
    Add("example.test", "MX", "10 mail.example.test.");
    Add("example.test", "TXT", "\"v=spf1 -all\"");
    Add("mail.example.test", "A", "192.0.2.25");
    Add("web.example.test", "A", "192.0.2.80");
    Add("web.example.test", "AAAA", "2001:db8::80");
    Add("www.example.test", "CNAME", "web.example.test.");
    Add("a.b.c.example.test", "A", "192.0.2.3");
    Add("c1.example.test", "CNAME", "c2.example.test.");
    Add("c2.example.test", "CNAME", "c3.example.test.");
    Add("c3.example.test", "A", "192.0.2.33");
    Add("loop1.example.test", "CNAME", "loop2.example.test.");
    Add("loop2.example.test", "CNAME", "loop1.example.test.");
    Add("ext.example.test", "CNAME", "www.example.org.");
    Add("dangling.example.test", "CNAME", "nothere.example.test.");
    Add("_http._tcp.example.test", "SRV", "0 0 80 web.example.test.");
    Add("multi.example.test", "TXT", "hello");
    Add("multi.example.test", "A", "192.0.2.10");
    Add("multi.example.test", "MX", "5 mail.example.test.");
    Add("tm.example.test", "TXT", "t");
    Add("tm.example.test", "MX", "1 mail.example.test.");
    Add("del.example.test", "NS", "ns.del.example.test.");
    Add("ns.del.example.test", "A", "192.0.2.99");
    Add("x.other.test", "A", "198.51.100.1");
    for (int i = 0; i < 40; ++i) {
      Add("big.example.test", "TXT", std::string(60, 'x') + "-" + std::to_string(100 + i));
    }
  }

  void Add(std::string_view name, std::string_view type, std::string_view value,
           std::optional<int64_t> ttl = std::nullopt) {
    auto record = records_.MakeRecord(N(name), type, value, ttl.value_or(3600));
    ASSERT_TRUE(record.ok()) << record.status().ToString();
    std::optional<Status> result;
    records_.Add(*record, [&](Status s) { result = s; });
    ASSERT_TRUE(result.has_value());
    ASSERT_TRUE(result->ok()) << result->ToString();
  }

  void Remove(std::string_view name) {
    std::optional<Result<size_t>> result;
    records_.Remove(N(name), std::nullopt, std::nullopt,
                    [&](Result<size_t> r) { result.emplace(std::move(r)); });
    ASSERT_TRUE(result.has_value() && result->ok());
  }

  // Every message of the response to `query`.
  std::vector<Message> AskAll(const std::string& query, Transport transport = Transport::kUdp,
                              const IpAddress& client = kAllowed) {
    std::vector<Message> out;
    for (const std::string& bytes : responder_->Respond(query, transport, client)) {
      if (transport == Transport::kUdp) {
        EXPECT_LE(bytes.size(), size_t{1232});
      }
      EXPECT_LE(bytes.size(), kMaxMessageSize);
      auto parsed = ParseMessage(bytes);
      EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
      if (parsed.ok()) out.push_back(std::move(*parsed));
    }
    return out;
  }

  Message Ask(const std::string& query, Transport transport = Transport::kUdp,
              const IpAddress& client = kAllowed) {
    std::vector<Message> all = AskAll(query, transport, client);
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? Message{} : all.front();
  }

  Message Ask(std::string_view name, uint16_t type, const QueryOptions& options = {},
              Transport transport = Transport::kUdp) {
    return Ask(MakeQuery(name, type, options), transport);
  }

  uint32_t SerialOf(const Message& message) {
    for (const auto* section : {&message.answers, &message.authority}) {
      for (const ResourceRecord& rr : *section) {
        if (rr.type == RrType::kSoa) return ParseSoa(rr.rdata)->serial;
      }
    }
    ADD_FAILURE() << "no SOA";
    return 0;
  }

  FakeClock clock_;
  std::unique_ptr<Store> store_;
  Hlc hlc_;
  KvService kv_;
  records::RecordService records_;
  StaticRecordSource source_;
  MetricsRegistry registry_;
  DnsMetrics metrics_;
  std::unique_ptr<ZoneView> view_;
  std::unique_ptr<Responder> responder_;
};

TEST_F(ResponderTest, AnswersAuthoritatively) {
  Message m = Ask("web.example.test", RrType::kA, {.id = 777, .rd = true});
  EXPECT_EQ(m.header.id, 777);
  EXPECT_TRUE(m.header.qr);
  EXPECT_TRUE(m.header.aa);
  EXPECT_TRUE(m.header.rd);  // copied (RFC 1035 4.1.1)
  EXPECT_FALSE(m.header.ra);
  EXPECT_EQ(FullRcode(m), 0);
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_THAT(TextsOf(m.answers), ::testing::ElementsAre("web.example.test. 3600 A 192.0.2.80"));
  EXPECT_TRUE(m.authority.empty());
  EXPECT_TRUE(m.additional.empty());
  EXPECT_FALSE(m.edns.has_value());
}

TEST_F(ResponderTest, PreservesTheQuerySpelling) {
  Message m = Ask("WeB.ExAmPlE.TeSt", RrType::kAaaa);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].name.ToText(), "WeB.ExAmPlE.TeSt.");
  EXPECT_EQ(m.questions[0].name.ToText(), "WeB.ExAmPlE.TeSt.");
  // The zone configured as "Other.Test" answers any spelling.
  Message other = Ask("X.OTHER.TEST", RrType::kA);
  EXPECT_TRUE(other.header.aa);
  EXPECT_THAT(TextsOf(other.answers), ::testing::ElementsAre("X.OTHER.TEST. 3600 A 198.51.100.1"));
}

TEST_F(ResponderTest, NxDomainCarriesSoaWithNegativeTtl) {
  Message m = Ask("nope.example.test", RrType::kA);
  EXPECT_EQ(FullRcode(m), static_cast<uint16_t>(Rcode::kNxDomain));
  EXPECT_TRUE(m.header.aa);
  EXPECT_TRUE(m.answers.empty());
  ASSERT_EQ(m.authority.size(), 1u);
  EXPECT_EQ(m.authority[0].type, RrType::kSoa);
  EXPECT_EQ(m.authority[0].name.ToText(), "example.test.");
  EXPECT_EQ(m.authority[0].ttl, 300u);  // RFC 2308 3: min(3600, minimum 300)
  auto soa = ParseSoa(m.authority[0].rdata);
  ASSERT_TRUE(soa.ok());
  EXPECT_EQ(soa->mname.ToText(), "ns1.example.test.");
  EXPECT_EQ(soa->rname.ToText(), "hostmaster.example.test.");
  EXPECT_EQ(soa->minimum, 300u);
  EXPECT_EQ(soa->refresh, 3600u);
}

TEST_F(ResponderTest, NoDataCarriesSoa) {
  Message m = Ask("web.example.test", RrType::kMx);
  EXPECT_EQ(FullRcode(m), 0);
  EXPECT_TRUE(m.header.aa);
  EXPECT_TRUE(m.answers.empty());
  ASSERT_EQ(m.authority.size(), 1u);
  EXPECT_EQ(m.authority[0].type, RrType::kSoa);
}

TEST_F(ResponderTest, EmptyNonTerminalsAreNoDataNotNxDomain) {
  // RFC 8020: b.c and c exist because a.b.c has records.
  for (std::string_view name : {"b.c.example.test", "c.example.test", "_tcp.example.test"}) {
    Message m = Ask(name, RrType::kA);
    EXPECT_EQ(FullRcode(m), 0) << name;
    ASSERT_EQ(m.authority.size(), 1u) << name;
    EXPECT_EQ(m.authority[0].type, RrType::kSoa);
  }
  // Below a name that does not exist: NXDOMAIN.
  EXPECT_EQ(FullRcode(Ask("x.b.c.example.test", RrType::kA)),
            static_cast<uint16_t>(Rcode::kNxDomain));
  EXPECT_EQ(FullRcode(Ask("z.y.x.nope.example.test", RrType::kA)),
            static_cast<uint16_t>(Rcode::kNxDomain));
}

TEST_F(ResponderTest, FollowsCnameChainsInsideTheZone) {
  Message m = Ask("c1.example.test", RrType::kA);
  EXPECT_EQ(FullRcode(m), 0);
  EXPECT_THAT(TextsOf(m.answers),
              ::testing::ElementsAre("c1.example.test. 3600 CNAME c2.example.test.",
                                     "c2.example.test. 3600 CNAME c3.example.test.",
                                     "c3.example.test. 3600 A 192.0.2.33"));
  EXPECT_TRUE(m.authority.empty());
}

TEST_F(ResponderTest, CnameLoopStopsWhenANameRepeats) {
  Message m = Ask("loop1.example.test", RrType::kA);
  EXPECT_EQ(FullRcode(m), 0);
  EXPECT_THAT(TextsOf(m.answers),
              ::testing::ElementsAre("loop1.example.test. 3600 CNAME loop2.example.test.",
                                     "loop2.example.test. 3600 CNAME loop1.example.test."));
  EXPECT_TRUE(m.authority.empty());
}

TEST_F(ResponderTest, CnameChainIsBounded) {
  for (int i = 0; i < 12; ++i) {
    Add("chain" + std::to_string(i) + ".example.test", "CNAME",
        "chain" + std::to_string(i + 1) + ".example.test.");
  }
  Message m = Ask("chain0.example.test", RrType::kA);
  EXPECT_EQ(FullRcode(m), 0);
  EXPECT_EQ(m.answers.size(), 8u);
}

TEST_F(ResponderTest, CnameOutOfOurZonesEndsTheAnswer) {
  Message m = Ask("ext.example.test", RrType::kA);
  EXPECT_EQ(FullRcode(m), 0);
  EXPECT_TRUE(m.header.aa);
  EXPECT_THAT(TextsOf(m.answers),
              ::testing::ElementsAre("ext.example.test. 3600 CNAME www.example.org."));
  EXPECT_TRUE(m.authority.empty());
}

TEST_F(ResponderTest, DanglingCnameIsNxDomainWithTheCname) {
  // RFC 6604: the rcode is about the last name in the chain (Knot does this).
  Message m = Ask("dangling.example.test", RrType::kA);
  EXPECT_EQ(FullRcode(m), static_cast<uint16_t>(Rcode::kNxDomain));
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].type, RrType::kCname);
  ASSERT_EQ(m.authority.size(), 1u);
  EXPECT_EQ(m.authority[0].type, RrType::kSoa);
}

TEST_F(ResponderTest, CnameQueriesAndNoDataAfterCname) {
  Message cname = Ask("www.example.test", RrType::kCname);
  EXPECT_THAT(TextsOf(cname.answers),
              ::testing::ElementsAre("www.example.test. 3600 CNAME web.example.test."));
  // RRSIG and NSEC sit beside a CNAME: NODATA, no chasing (RFC 4035 2.5).
  for (uint16_t type : {uint16_t{46}, uint16_t{47}}) {
    Message beside = Ask("www.example.test", type);
    EXPECT_TRUE(beside.answers.empty());
    ASSERT_EQ(beside.authority.size(), 1u);
  }
  Message nodata = Ask("www.example.test", RrType::kMx);
  EXPECT_EQ(FullRcode(nodata), 0);
  ASSERT_EQ(nodata.answers.size(), 1u);
  ASSERT_EQ(nodata.authority.size(), 1u);
  EXPECT_EQ(nodata.authority[0].type, RrType::kSoa);
}

TEST_F(ResponderTest, GlueForMxNsAndSrvTargets) {
  Message mx = Ask("example.test", RrType::kMx);
  EXPECT_THAT(TextsOf(mx.additional),
              ::testing::ElementsAre("mail.example.test. 3600 A 192.0.2.25"));
  // Synthesized NS (no dns.nameservers) with glue = the listen address.
  Message ns = Ask("example.test", RrType::kNs);
  EXPECT_THAT(TextsOf(ns.answers),
              ::testing::ElementsAre("example.test. 3600 NS ns1.example.test."));
  EXPECT_THAT(TextsOf(ns.additional), ::testing::ElementsAre("ns1.example.test. 3600 A 127.0.0.1"));
  Message srv = Ask("_http._tcp.example.test", RrType::kSrv);
  EXPECT_THAT(TextsOf(srv.additional),
              ::testing::ElementsAre("web.example.test. 3600 A 192.0.2.80",
                                     "web.example.test. 3600 AAAA 2001:db8::80"));
  // Each target once, even when two MX records name it.
  Add("example.test", "MX", "20 mail.example.test.");
  Message twice = Ask("example.test", RrType::kMx);
  EXPECT_EQ(twice.answers.size(), 2u);
  EXPECT_EQ(twice.additional.size(), 1u);
}

TEST_F(ResponderTest, DelegationsAnswerWithReferrals) {
  for (std::string_view name : {"x.del.example.test", "del.example.test", "ns.del.example.test"}) {
    Message m = Ask(name, RrType::kA);
    EXPECT_EQ(FullRcode(m), 0) << name;
    EXPECT_FALSE(m.header.aa) << name;
    EXPECT_TRUE(m.answers.empty()) << name;
    EXPECT_THAT(TextsOf(m.authority),
                ::testing::ElementsAre("del.example.test. 3600 NS ns.del.example.test."));
    EXPECT_THAT(TextsOf(m.additional),
                ::testing::ElementsAre("ns.del.example.test. 3600 A 192.0.2.99"));
  }
  // A CNAME into a delegation: the CNAME (authoritative), then the referral.
  Add("to-del.example.test", "CNAME", "host.del.example.test.");
  Message chained = Ask("to-del.example.test", RrType::kA);
  EXPECT_TRUE(chained.header.aa);
  EXPECT_THAT(TextsOf(chained.answers),
              ::testing::ElementsAre("to-del.example.test. 3600 CNAME host.del.example.test."));
  EXPECT_THAT(TextsOf(chained.authority),
              ::testing::ElementsAre("del.example.test. 3600 NS ns.del.example.test."));
  EXPECT_EQ(chained.additional.size(), 1u);
  // DS at the cut belongs to the parent (RFC 4035 3.1.4.1): NODATA here.
  Message ds = Ask("del.example.test", 43);
  EXPECT_TRUE(ds.header.aa);
  ASSERT_EQ(ds.authority.size(), 1u);
  EXPECT_EQ(ds.authority[0].type, RrType::kSoa);
}

TEST_F(ResponderTest, TruncatesOverUdpAndAnswersInFullOverTcp) {
  Message plain = Ask("big.example.test", RrType::kTxt);
  EXPECT_TRUE(plain.header.tc);
  EXPECT_TRUE(plain.header.aa);
  EXPECT_EQ(plain.questions.size(), 1u);  // the question alone, as Knot
  EXPECT_TRUE(plain.answers.empty());
  EXPECT_TRUE(plain.authority.empty());

  Message edns = Ask("big.example.test", RrType::kTxt, {.edns = EdnsWithPayload(4096)});
  EXPECT_TRUE(edns.header.tc);  // 40 x 75 octets > our 1232
  ASSERT_TRUE(edns.edns.has_value());
  EXPECT_EQ(edns.edns->udp_payload_size, 1232);

  Message tcp = Ask("big.example.test", RrType::kTxt, {}, Transport::kTcp);
  EXPECT_FALSE(tcp.header.tc);
  EXPECT_EQ(tcp.answers.size(), 40u);
  EXPECT_THAT(registry_.Render(), HasSubstr("meshkv_dns_truncated_total{transport=\"udp\"} 2"));
}

TEST_F(ResponderTest, UdpLimitIsTheSmallerOfBothPayloadSizes) {
  // About 700 octets: more than 512, less than 1232.
  for (int i = 0; i < 9; ++i) {
    Add("mid.example.test", "TXT", std::string(60, 'm') + std::to_string(i));
  }
  EXPECT_TRUE(Ask("mid.example.test", RrType::kTxt).header.tc);  // 512 without EDNS
  EXPECT_FALSE(Ask("mid.example.test", RrType::kTxt, {.edns = EdnsWithPayload(4096)}).header.tc);
  EXPECT_FALSE(Ask("mid.example.test", RrType::kTxt, {.edns = EdnsWithPayload(1232)}).header.tc);
  EXPECT_TRUE(Ask("mid.example.test", RrType::kTxt, {.edns = EdnsWithPayload(600)}).header.tc);
  // Under 512 counts as 512 (RFC 6891 6.2.5).
  Message tiny = Ask("web.example.test", RrType::kA, {.edns = EdnsWithPayload(100)});
  EXPECT_FALSE(tiny.header.tc);
  EXPECT_EQ(tiny.answers.size(), 1u);
  ASSERT_TRUE(tiny.edns.has_value());
  EXPECT_EQ(tiny.edns->udp_payload_size, 1232);
  EXPECT_EQ(tiny.edns->version, 0);
}

TEST_F(ResponderTest, EdnsEchoesDnssecOkAndRejectsUnknownVersions) {
  Edns with_do = EdnsWithPayload(1232);
  with_do.dnssec_ok = true;
  Message m = Ask("web.example.test", RrType::kA, {.edns = with_do});
  ASSERT_TRUE(m.edns.has_value());
  EXPECT_TRUE(m.edns->dnssec_ok);

  Message badvers = Ask("web.example.test", RrType::kA, {.edns = EdnsWithPayload(1232, 1)});
  EXPECT_EQ(FullRcode(badvers), static_cast<uint16_t>(Rcode::kBadVers));
  EXPECT_FALSE(badvers.header.aa);
  EXPECT_TRUE(badvers.answers.empty());
  ASSERT_TRUE(badvers.edns.has_value());
  EXPECT_EQ(badvers.edns->version, 0);
  EXPECT_EQ(badvers.questions.size(), 1u);
}

TEST_F(ResponderTest, RefusesNamesOutsideOurZones) {
  Message m = Ask("www.example.org", RrType::kA);
  EXPECT_EQ(FullRcode(m), static_cast<uint16_t>(Rcode::kRefused));
  EXPECT_FALSE(m.header.aa);
  EXPECT_TRUE(m.answers.empty() && m.authority.empty());
  // With EDNS: Extended DNS Error 20, Not Authoritative (RFC 8914), as Knot.
  Message edns = Ask("www.example.org", RrType::kA, {.edns = EdnsWithPayload(1232)});
  ASSERT_TRUE(edns.edns.has_value());
  ASSERT_EQ(edns.edns->options.size(), 1u);
  EXPECT_EQ(edns.edns->options[0].code, 15);
  EXPECT_EQ(edns.edns->options[0].data, std::string("\x00\x14", 2));
  // A parent of our zone is not ours either.
  EXPECT_EQ(FullRcode(Ask("test", RrType::kSoa)), static_cast<uint16_t>(Rcode::kRefused));
}

TEST_F(ResponderTest, ClassesOtherThanInAreRefused) {
  EXPECT_EQ(FullRcode(Ask("web.example.test", RrType::kA, {.klass = RrClass::kCh})),
            static_cast<uint16_t>(Rcode::kRefused));
  EXPECT_EQ(FullRcode(Ask("web.example.test", RrType::kA, {.klass = 42})),
            static_cast<uint16_t>(Rcode::kRefused));
  // Class ANY is answered as IN (Knot does the same).
  Message any = Ask("web.example.test", RrType::kA, {.klass = RrClass::kAny});
  EXPECT_EQ(FullRcode(any), 0);
  EXPECT_TRUE(any.header.aa);
  EXPECT_EQ(any.answers.size(), 1u);
}

TEST_F(ResponderTest, MalformedQueriesGetFormErr) {
  const std::string good = MakeQuery("web.example.test", RrType::kA, {.id = 0xbeef, .rd = true});
  // Trailing garbage: FORMERR, id, RD and question echoed.
  Message trailing = Ask(good + "\x01\x02");
  EXPECT_EQ(FullRcode(trailing), static_cast<uint16_t>(Rcode::kFormErr));
  EXPECT_EQ(trailing.header.id, 0xbeef);
  EXPECT_TRUE(trailing.header.rd);
  EXPECT_FALSE(trailing.header.aa);
  ASSERT_EQ(trailing.questions.size(), 1u);
  EXPECT_EQ(trailing.questions[0].name.ToText(), "web.example.test.");

  // No question at all.
  std::string none = good.substr(0, kHeaderSize);
  none[5] = 0;
  Message empty = Ask(none);
  EXPECT_EQ(FullRcode(empty), static_cast<uint16_t>(Rcode::kFormErr));
  EXPECT_TRUE(empty.questions.empty());

  // Two questions.
  std::string two = good + good.substr(kHeaderSize);
  two[5] = 2;
  Message twice = Ask(two);
  EXPECT_EQ(FullRcode(twice), static_cast<uint16_t>(Rcode::kFormErr));
  EXPECT_EQ(twice.header.id, 0xbeef);

  // A header and garbage.
  Message garbage = Ask(good.substr(0, kHeaderSize) + "\x05\x01garbage");
  EXPECT_EQ(FullRcode(garbage), static_cast<uint16_t>(Rcode::kFormErr));
  EXPECT_EQ(garbage.header.id, 0xbeef);
  EXPECT_TRUE(garbage.questions.empty());
}

TEST_F(ResponderTest, DropsWhatIsNotAQuery) {
  std::string query = MakeQuery("web.example.test", RrType::kA);
  EXPECT_TRUE(responder_->Respond(query.substr(0, 11), Transport::kUdp, kAllowed).empty());
  EXPECT_TRUE(responder_->Respond("", Transport::kUdp, kAllowed).empty());
  std::string response = query;
  response[2] = static_cast<char>(response[2] | 0x80);  // QR=1
  EXPECT_TRUE(responder_->Respond(response, Transport::kUdp, kAllowed).empty());
  EXPECT_THAT(registry_.Render(), HasSubstr("meshkv_dns_dropped_total{reason=\"response\"} 1"));
  EXPECT_THAT(registry_.Render(), HasSubstr("meshkv_dns_dropped_total{reason=\"short\"} 2"));
}

TEST_F(ResponderTest, UnsupportedOpcodes) {
  Message status = Ask(MakeQuery("web.example.test", RrType::kA, {.opcode = Opcode::kStatus}));
  EXPECT_EQ(FullRcode(status), static_cast<uint16_t>(Rcode::kNotImp));
  EXPECT_EQ(status.header.opcode, Opcode::kStatus);
  Message iquery = Ask(MakeQuery("web.example.test", RrType::kA, {.opcode = Opcode::kIQuery}));
  EXPECT_EQ(FullRcode(iquery), static_cast<uint16_t>(Rcode::kNotImp));
  std::string unassigned = MakeQuery("web.example.test", RrType::kA);
  unassigned[2] = static_cast<char>(3 << 3);
  EXPECT_EQ(FullRcode(Ask(unassigned)), static_cast<uint16_t>(Rcode::kNotImp));
  // NOTIFY and UPDATE: NOTAUTH, as Knot (we take neither).
  EXPECT_EQ(FullRcode(Ask(MakeQuery("example.test", RrType::kSoa, {.opcode = Opcode::kNotify}))),
            static_cast<uint16_t>(Rcode::kNotAuth));
  EXPECT_EQ(FullRcode(Ask(MakeQuery("example.test", RrType::kSoa, {.opcode = Opcode::kUpdate}))),
            static_cast<uint16_t>(Rcode::kNotAuth));
  EXPECT_EQ(FullRcode(Ask(MakeQuery("example.test", RrType::kA, {.opcode = Opcode::kUpdate}))),
            static_cast<uint16_t>(Rcode::kFormErr));
  // Type 0 is reserved.
  EXPECT_EQ(FullRcode(Ask("web.example.test", 0)), static_cast<uint16_t>(Rcode::kNotImp));
}

TEST_F(ResponderTest, AnyIsAnsweredWithOneRRset) {
  // RFC 8482 4.1; Knot 3.2 sends the RRset of the lowest type.
  Message multi = Ask("multi.example.test", RrType::kAny);
  EXPECT_THAT(TextsOf(multi.answers),
              ::testing::ElementsAre("multi.example.test. 3600 A 192.0.2.10"));
  Message tm = Ask("tm.example.test", RrType::kAny, {}, Transport::kTcp);
  EXPECT_THAT(TextsOf(tm.answers),
              ::testing::ElementsAre("tm.example.test. 3600 MX 1 mail.example.test."));
  EXPECT_EQ(tm.additional.size(), 1u);  // glue for the MX
  Message apex = Ask("example.test", RrType::kAny);
  EXPECT_THAT(TextsOf(apex.answers), ::testing::ElementsAre("example.test. 3600 A 192.0.2.1"));
  EXPECT_EQ(FullRcode(Ask("nope.example.test", RrType::kAny)),
            static_cast<uint16_t>(Rcode::kNxDomain));
}

TEST_F(ResponderTest, AxfrOverTcpToAllowedClients) {
  std::vector<Message> messages =
      AskAll(MakeQuery("example.test", RrType::kAxfr), Transport::kTcp, kAllowed);
  ASSERT_GE(messages.size(), 1u);
  std::vector<ResourceRecord> all;
  for (const Message& m : messages) {
    EXPECT_EQ(FullRcode(m), 0);
    all.insert(all.end(), m.answers.begin(), m.answers.end());
  }
  ASSERT_GE(all.size(), 3u);
  EXPECT_EQ(all.front().type, RrType::kSoa);
  EXPECT_EQ(all.back().type, RrType::kSoa);
  EXPECT_EQ(all.front().rdata, all.back().rdata);
  int soas = 0, discovery = 0, big = 0;
  for (const ResourceRecord& rr : all) {
    soas += rr.type == RrType::kSoa;
    discovery += rr.type == RrType::kSrv && rr.name == N("_meshkv._tcp.example.test");
    big += rr.name == N("big.example.test");
    EXPECT_FALSE(rr.name == N("x.other.test")) << "another zone's record";
  }
  EXPECT_EQ(soas, 2);
  EXPECT_EQ(discovery, 1);
  EXPECT_EQ(big, 40);
  // The apex comes first, then names in canonical order.
  EXPECT_EQ(all[1].name.ToText(), "example.test.");
}

TEST_F(ResponderTest, LargeAxfrSpansSeveralMessages) {
  for (int i = 0; i < 600; ++i) {
    Add("bulk" + std::to_string(i) + ".example.test", "TXT", std::string(100, 'y'));
  }
  std::vector<Message> messages = AskAll(
      MakeQuery("example.test", RrType::kAxfr, {.edns = EdnsWithPayload(1232)}), Transport::kTcp);
  ASSERT_GE(messages.size(), 4u);  // ~16 KiB each, as Knot
  size_t total = 0;
  for (const Message& m : messages) {
    EXPECT_EQ(m.questions.size(), 1u);
    EXPECT_TRUE(m.edns.has_value());
    total += m.answers.size();
  }
  EXPECT_EQ(messages.front().answers.front().type, RrType::kSoa);
  EXPECT_EQ(messages.back().answers.back().type, RrType::kSoa);
  EXPECT_GT(total, 600u);
}

TEST_F(ResponderTest, AxfrRefusals) {
  // Over UDP: NOTIMP, as Knot.
  EXPECT_EQ(FullRcode(Ask("example.test", RrType::kAxfr)), static_cast<uint16_t>(Rcode::kNotImp));
  // A client not in dns.axfr_allow, a non-apex name, a name not ours: NOTAUTH.
  std::string query = MakeQuery("example.test", RrType::kAxfr);
  Message denied = Ask(query, Transport::kTcp, kStranger);
  EXPECT_EQ(FullRcode(denied), static_cast<uint16_t>(Rcode::kNotAuth));
  EXPECT_TRUE(denied.answers.empty());
  EXPECT_EQ(FullRcode(Ask("web.example.test", RrType::kAxfr, {}, Transport::kTcp)),
            static_cast<uint16_t>(Rcode::kNotAuth));
  EXPECT_EQ(FullRcode(Ask("example.org", RrType::kAxfr, {}, Transport::kTcp)),
            static_cast<uint16_t>(Rcode::kNotAuth));
}

TEST_F(ResponderTest, IxfrWithoutJournal) {
  const uint32_t serial = SerialOf(Ask("example.test", RrType::kSoa));
  auto with_serial = [&](uint32_t s) {
    SoaRdata soa{N("ns1.example.test"), N("hostmaster.example.test"), s, 1, 1, 1, 1};
    QueryOptions options;
    options.authority.push_back(
        ResourceRecord{N("example.test"), RrType::kSoa, RrClass::kIn, 0, EncodeSoa(soa)});
    return MakeQuery("example.test", RrType::kIxfr, options);
  };
  // Older client over TCP: the whole zone, AXFR style (RFC 1995 4).
  std::vector<Message> full = AskAll(with_serial(serial - 1), Transport::kTcp);
  ASSERT_FALSE(full.empty());
  EXPECT_GT(full.front().answers.size(), 10u);
  // Current client, or any client over UDP: our SOA alone.
  for (auto [s, transport] :
       {std::pair{serial, Transport::kTcp}, std::pair{serial - 1, Transport::kUdp}}) {
    Message m = Ask(with_serial(s), transport);
    EXPECT_EQ(FullRcode(m), 0);
    ASSERT_EQ(m.answers.size(), 1u);
    EXPECT_EQ(m.answers[0].type, RrType::kSoa);
  }
  // No SOA in the authority section: FORMERR; but a client that may not
  // transfer gets NOTAUTH first, as from Knot.
  EXPECT_EQ(FullRcode(Ask("example.test", RrType::kIxfr, {}, Transport::kTcp)),
            static_cast<uint16_t>(Rcode::kFormErr));
  EXPECT_EQ(FullRcode(Ask(MakeQuery("example.test", RrType::kIxfr), Transport::kUdp, kStranger)),
            static_cast<uint16_t>(Rcode::kNotAuth));
}

TEST_F(ResponderTest, ChangesAreAnsweredAtOnce) {
  EXPECT_EQ(FullRcode(Ask("fresh.example.test", RrType::kA)),
            static_cast<uint16_t>(Rcode::kNxDomain));
  Add("fresh.example.test", "A", "192.0.2.55", 120);
  Message added = Ask("fresh.example.test", RrType::kA);
  EXPECT_THAT(TextsOf(added.answers),
              ::testing::ElementsAre("fresh.example.test. 120 A 192.0.2.55"));
  Add("fresh.example.test", "A", "192.0.2.54", 60);
  Message two = Ask("fresh.example.test", RrType::kA);
  // One TTL per RRset (RFC 2181 5.2): the smallest; canonical order.
  EXPECT_THAT(TextsOf(two.answers), ::testing::ElementsAre("fresh.example.test. 60 A 192.0.2.54",
                                                           "fresh.example.test. 60 A 192.0.2.55"));
  Remove("fresh.example.test");
  EXPECT_EQ(FullRcode(Ask("fresh.example.test", RrType::kA)),
            static_cast<uint16_t>(Rcode::kNxDomain));
  // Removing the last record below an empty non-terminal makes it vanish.
  Remove("a.b.c.example.test");
  EXPECT_EQ(FullRcode(Ask("b.c.example.test", RrType::kA)),
            static_cast<uint16_t>(Rcode::kNxDomain));
}

TEST_F(ResponderTest, CachedAnswersCarryTheQueryId) {
  for (uint16_t id : {1, 2, 0xffff, 2}) {
    Message m = Ask("web.example.test", RrType::kA, {.id = id, .rd = id == 2});
    EXPECT_EQ(m.header.id, id);
    EXPECT_EQ(m.header.rd, id == 2);
    EXPECT_EQ(m.answers.size(), 1u);
  }
  // The same query over TCP is cached apart (its size limit differs).
  EXPECT_TRUE(Ask("big.example.test", RrType::kTxt).header.tc);
  EXPECT_FALSE(Ask("big.example.test", RrType::kTxt, {}, Transport::kTcp).header.tc);
  EXPECT_TRUE(Ask("big.example.test", RrType::kTxt).header.tc);
  EXPECT_THAT(registry_.Render(),
              HasSubstr("meshkv_dns_queries_total{qtype=\"A\",rcode=\"NOERROR\","
                        "transport=\"udp\"} 4"));
}

TEST_F(ResponderTest, RespondUdpGivesTheSameBytesAsRespond) {
  std::string response = "left over from an earlier query";
  const std::vector<std::string> queries = {
      MakeQuery("web.example.test", RrType::kA, {.id = 7}),
      MakeQuery("nope.example.test", RrType::kA, {.id = 8}),
      MakeQuery("big.example.test", RrType::kTxt, {.id = 9}),
      MakeQuery("big.example.test", RrType::kTxt, {.id = 10, .edns = EdnsWithPayload(4096)}),
      MakeQuery("x.example.org", RrType::kA, {.id = 11, .edns = EdnsWithPayload(1232)}),
      MakeQuery("example.test", RrType::kAxfr, {.id = 12}),
      MakeQuery("example.test", RrType::kIxfr, {.id = 13}),
      std::string(12, '\x7f'),  // header only: FORMERR
  };
  for (const std::string& query : queries) {
    const std::vector<std::string> expected = responder_->Respond(query, Transport::kUdp, kAllowed);
    ASSERT_EQ(expected.size(), 1u);
    for (int i = 0; i < 2; ++i) {  // a hit now, both times
      ASSERT_TRUE(responder_->RespondUdp(query, kAllowed, response));
      EXPECT_EQ(response, expected.front());
    }
  }
}

TEST_F(ResponderTest, RespondUdpAnswersMissesAndHitsWithTheQueryId) {
  std::string response;
  for (uint16_t id : {1, 2, 0xffff, 2}) {  // a miss, then hits
    ASSERT_TRUE(responder_->RespondUdp(MakeQuery("web.example.test", RrType::kA, {.id = id}),
                                       kAllowed, response));
    auto message = ParseMessage(response);
    ASSERT_TRUE(message.ok()) << message.status().ToString();
    EXPECT_EQ(message->header.id, id);
    EXPECT_TRUE(message->header.qr);
    EXPECT_THAT(TextsOf(message->answers),
                ::testing::ElementsAre("web.example.test. 3600 A 192.0.2.80"));
  }
  // Truncated like Respond over UDP, and counted the same way.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(
        responder_->RespondUdp(MakeQuery("big.example.test", RrType::kTxt), kAllowed, response));
    EXPECT_LE(response.size(), kMaxUdpPlainSize);
    auto message = ParseMessage(response);
    ASSERT_TRUE(message.ok());
    EXPECT_TRUE(message->header.tc);
    EXPECT_TRUE(message->answers.empty());
  }
  // A change is seen at once: the cached answer is stale.
  Add("web.example.test", "A", "192.0.2.81");
  ASSERT_TRUE(
      responder_->RespondUdp(MakeQuery("web.example.test", RrType::kA), kAllowed, response));
  auto changed = ParseMessage(response);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->answers.size(), 2u);
  const std::string text = registry_.Render();
  EXPECT_THAT(text, HasSubstr("meshkv_dns_queries_total{qtype=\"A\",rcode=\"NOERROR\","
                              "transport=\"udp\"} 5"));
  EXPECT_THAT(text, HasSubstr("meshkv_dns_queries_total{qtype=\"TXT\",rcode=\"NOERROR\","
                              "transport=\"udp\"} 2"));
  EXPECT_THAT(text, HasSubstr("meshkv_dns_truncated_total{transport=\"udp\"} 2"));
  EXPECT_THAT(text, HasSubstr("meshkv_dns_request_duration_seconds_count{transport=\"udp\"} 7"));
}

TEST_F(ResponderTest, RespondUdpDropsWhatIsNotAQuery) {
  std::string query = MakeQuery("web.example.test", RrType::kA);
  std::string response = "left over";
  EXPECT_FALSE(responder_->RespondUdp(query.substr(0, 11), kAllowed, response));
  EXPECT_TRUE(response.empty());
  ASSERT_TRUE(responder_->RespondUdp(query, kAllowed, response));  // cached from here on
  std::string as_response = query;
  as_response[2] = static_cast<char>(as_response[2] | 0x80);  // QR=1
  EXPECT_FALSE(responder_->RespondUdp(as_response, kAllowed, response));
  EXPECT_TRUE(response.empty());
  EXPECT_FALSE(responder_->RespondUdp("", kAllowed, response));
  EXPECT_THAT(registry_.Render(), HasSubstr("meshkv_dns_dropped_total{reason=\"response\"} 1"));
  EXPECT_THAT(registry_.Render(), HasSubstr("meshkv_dns_dropped_total{reason=\"short\"} 2"));
}

TEST_F(ResponderTest, RespondUdpAllocatesNothingForACachedAnswer) {
  const std::string query = MakeQuery("web.example.test", RrType::kA, {.id = 1});
  const std::string other = MakeQuery("nope.example.test", RrType::kAaaa, {.id = 2});
  std::string response;
  for (int i = 0; i < 2; ++i) {  // cached, metrics children created, buffer grown
    ASSERT_TRUE(responder_->RespondUdp(query, kAllowed, response));
    ASSERT_TRUE(responder_->RespondUdp(other, kAllowed, response));
  }
  const int64_t before = allocations_on_this_thread;
  for (int i = 0; i < 100; ++i) {
    if (!responder_->RespondUdp(i % 2 ? other : query, kAllowed, response)) break;
  }
  EXPECT_EQ(allocations_on_this_thread - before, 0);
  auto message = ParseMessage(response);  // the last one, of `other`
  ASSERT_TRUE(message.ok());
  EXPECT_EQ(message->header.id, 2);
  EXPECT_EQ(FullRcode(*message), static_cast<uint16_t>(Rcode::kNxDomain));
}

TEST_F(ResponderTest, SynthesizedSerialFollowsChanges) {
  const uint32_t first = SerialOf(Ask("example.test", RrType::kSoa));
  EXPECT_EQ(first, static_cast<uint32_t>(clock_.NowMillis() / 1000));
  clock_.Advance(5'000);
  Add("later.example.test", "A", "192.0.2.56");
  const uint32_t second = SerialOf(Ask("nope.example.test", RrType::kA));
  EXPECT_EQ(second, first + 5);
  clock_.Advance(3'000);
  Remove("later.example.test");  // a delete is a change too
  EXPECT_EQ(SerialOf(Ask("example.test", RrType::kSoa)), first + 8);
}

TEST_F(ResponderTest, StoredRecordsOverrideSynthesizedOnes) {
  Add("example.test", "NS", "ns.elsewhere.example.", 7200);
  Add("example.test", "SOA",
      "ns.elsewhere.example. admin.elsewhere.example. 42 7200 3600 1209600 600", 7200);
  Message ns = Ask("example.test", RrType::kNs);
  EXPECT_THAT(TextsOf(ns.answers),
              ::testing::ElementsAre("example.test. 7200 NS ns.elsewhere.example."));
  Message soa = Ask("example.test", RrType::kSoa);
  EXPECT_EQ(SerialOf(soa), 42u);
  Message nx = Ask("nope.example.test", RrType::kA);
  ASSERT_EQ(nx.authority.size(), 1u);
  EXPECT_EQ(nx.authority[0].ttl, 600u);
}

TEST_F(ResponderTest, PublishesServiceDiscoveryRecords) {
  Message srv = Ask("_meshkv._tcp.example.test", RrType::kSrv);
  EXPECT_THAT(
      TextsOf(srv.answers),
      ::testing::ElementsAre(
          "_meshkv._tcp.example.test. 60 SRV 0 0 7070 1111000000000000.nodes.example.test."));
  EXPECT_THAT(TextsOf(srv.additional),
              ::testing::ElementsAre("1111000000000000.nodes.example.test. 60 A 127.0.0.7"));
  EXPECT_EQ(FullRcode(Ask("nodes.example.test", RrType::kA)), 0);  // empty non-terminal
  EXPECT_EQ(FullRcode(Ask("_meshkv._tcp.other.test", RrType::kSrv)), 0);
}

TEST_F(ResponderTest, CountsQueriesByTypeRcodeAndTransport) {
  Ask("web.example.test", RrType::kA);
  Ask("nope.example.test", RrType::kAaaa, {}, Transport::kTcp);
  Ask("web.example.test", 65000);
  const std::string text = registry_.Render();
  EXPECT_THAT(text, HasSubstr("meshkv_dns_queries_total{qtype=\"A\",rcode=\"NOERROR\","
                              "transport=\"udp\"} 1"));
  EXPECT_THAT(text, HasSubstr("meshkv_dns_queries_total{qtype=\"AAAA\",rcode=\"NXDOMAIN\","
                              "transport=\"tcp\"} 1"));
  EXPECT_THAT(text, HasSubstr("qtype=\"other\""));
  EXPECT_THAT(text, HasSubstr("meshkv_dns_request_duration_seconds_count{transport=\"udp\"} 2"));
}

TEST_F(ResponderTest, RandomInputNeverBreaksTheResponder) {
  std::mt19937 random(12345);
  const std::string seed =
      MakeQuery("web.example.test", RrType::kA, {.edns = EdnsWithPayload(1232)});
  std::string udp_response;
  for (int i = 0; i < 20'000; ++i) {
    std::string bytes = seed;
    const int mutations = 1 + static_cast<int>(random() % 6);
    for (int m = 0; m < mutations; ++m) {
      switch (random() % 3) {
        case 0:
          bytes[random() % bytes.size()] = static_cast<char>(random());
          break;
        case 1:
          bytes.resize(random() % (bytes.size() + 1));
          break;
        default:
          bytes.push_back(static_cast<char>(random()));
          break;
      }
      if (bytes.empty()) bytes.push_back('\0');
    }
    for (Transport transport : {Transport::kUdp, Transport::kTcp}) {
      const std::vector<std::string> responses = responder_->Respond(bytes, transport, kAllowed);
      for (const std::string& response : responses) {
        ASSERT_LE(response.size(), transport == Transport::kUdp ? 1232u : kMaxMessageSize);
        auto parsed = ParseMessage(response);
        ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
        ASSERT_TRUE(parsed->header.qr);
      }
      if (transport == Transport::kUdp) {
        ASSERT_LE(responses.size(), 1u);
        ASSERT_EQ(responder_->RespondUdp(bytes, kAllowed, udp_response), !responses.empty());
        if (!responses.empty()) {
          ASSERT_EQ(udp_response, responses.front());
        }
      }
    }
  }
}

}  // namespace
}  // namespace meshkv::dns
