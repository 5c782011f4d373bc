#include "frontend/dns/wire/message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/encoding.h"
#include "frontend/dns/wire/rdata.h"

namespace meshkv::dns {
namespace {

// Reference messages captured from dnspython 2.3 (dns.message ... to_wire()),
// see the comment on each.
// make_query('www.example.com.', 'A', id=0x1234), flags RD.
constexpr const char* kQueryPlain =
    "12340100000100000000000003777777076578616d706c6503636f6d0000010001";
// make_query('Example.COM.', 'MX', id=0xbeef, use_edns=0, payload=1232, want_dnssec=True).
constexpr const char* kQueryEdns =
    "beef01000001000000000001074578616d706c6503434f4d00000f000100002904d0000080000000";
// Response to kQueryPlain, AA: www CNAME web; web A 192.0.2.1, 192.0.2.2; authority
// example.com NS ns1.example.com; additional ns1 AAAA 2001:db8::53.
constexpr const char* kResponseCname =
    "12348500000100030001000103777777076578616d706c6503636f6d0000010001c00c000500010000012c0006"
    "03776562c010c02d000100010000012c0004c0000201c02d000100010000012c0004c0000202c0100002000100"
    "000e100006036e7331c010c05f001c000100000e10001020010db8000000000000000000000053";
// Response to make_query('example.com.', 'SOA', id=7), AA: SOA, MX, SRV (dnspython
// compresses the SRV target, against RFC 2782), TXT with two strings, CAA.
constexpr const char* kResponseSoa =
    "000785000001000500000000076578616d706c6503636f6d0000060001c00c0006000100000e100027036e7331"
    "c00c0a686f73746d6173746572c00c78a3f17500001c2000000e10001275000000012cc00c000f000100000e10"
    "0009000a046d61696cc00c045f736970045f746370c00c002100010000003c000c000a003c13c403736970c00c"
    "c00c001000010000003c001a0b763d73706631202d616c6c0d7365636f6e6420737472696e67c00c0101000100"
    "00003c0016000569737375656c657473656e63727970742e6f7267";
// Response to make_query('example.com.', 'A', id=9, use_edns=0), rcode BADVERS.
constexpr const char* kResponseBadVers =
    "000981000001000000000001076578616d706c6503636f6d00000100010000292000010000000000";

std::string Bytes(std::string_view hex) {
  auto bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << hex;
  return bytes.ok() ? *bytes : std::string();
}

Name N(std::string_view text) {
  auto name = Name::FromText(text);
  EXPECT_TRUE(name.ok()) << text;
  return name.ok() ? *name : Name();
}

ResourceRecord Rr(std::string_view owner, uint16_t type, uint32_t ttl, std::string_view text) {
  auto rdata = RdataFromText(type, text);
  EXPECT_TRUE(rdata.ok()) << text << ": " << rdata.status().ToString();
  return {N(owner), type, RrClass::kIn, ttl, rdata.ok() ? *rdata : std::string()};
}

Message ParseOk(std::string_view bytes) {
  auto message = ParseMessage(bytes);
  EXPECT_TRUE(message.ok()) << message.status().ToString();
  return message.ok() ? *message : Message();
}

// Writes `m` as a response would be (header, EDNS, question, sections).
std::string Write(const Message& m, size_t max_size = kMaxMessageSize) {
  MessageWriter writer(max_size);
  writer.SetHeader(m.header);
  if (m.edns) writer.SetEdns(*m.edns);
  for (const Question& q : m.questions) EXPECT_TRUE(writer.AddQuestion(q));
  for (const auto& rr : m.answers) EXPECT_TRUE(writer.AddRecord(Section::kAnswer, rr));
  for (const auto& rr : m.authority) EXPECT_TRUE(writer.AddRecord(Section::kAuthority, rr));
  for (const auto& rr : m.additional) EXPECT_TRUE(writer.AddRecord(Section::kAdditional, rr));
  return writer.Finish();
}

TEST(MessageTest, ParsesAndWritesPlainQueryLikeDnspython) {
  const std::string bytes = Bytes(kQueryPlain);
  const Message m = ParseOk(bytes);
  EXPECT_EQ(m.header.id, 0x1234);
  EXPECT_FALSE(m.header.qr);
  EXPECT_TRUE(m.header.rd);
  EXPECT_EQ(m.header.opcode, Opcode::kQuery);
  EXPECT_EQ(m.header.qdcount, 1);
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.questions[0].name.ToText(), "www.example.com.");
  EXPECT_EQ(m.questions[0].type, RrType::kA);
  EXPECT_EQ(m.questions[0].klass, RrClass::kIn);
  EXPECT_FALSE(m.edns);
  EXPECT_EQ(Write(m), bytes);
}

TEST(MessageTest, ParsesAndWritesEdnsQueryLikeDnspython) {
  const std::string bytes = Bytes(kQueryEdns);
  const Message m = ParseOk(bytes);
  EXPECT_EQ(m.header.id, 0xbeef);
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.questions[0].name.ToText(), "Example.COM.");  // case preserved
  EXPECT_EQ(m.questions[0].type, RrType::kMx);
  ASSERT_TRUE(m.edns);
  EXPECT_EQ(m.edns->udp_payload_size, 1232);
  EXPECT_TRUE(m.edns->dnssec_ok);
  EXPECT_EQ(m.edns->version, 0);
  EXPECT_EQ(m.edns->extended_rcode, 0);
  EXPECT_TRUE(m.edns->options.empty());
  EXPECT_TRUE(m.additional.empty());  // the OPT moved to edns
  EXPECT_EQ(m.header.arcount, 1);
  EXPECT_EQ(Write(m), bytes);
}

TEST(MessageTest, WritesCompressedResponseLikeDnspython) {
  Message m;
  m.header = {.id = 0x1234, .qr = true, .aa = true, .rd = true};
  m.questions.push_back({N("www.example.com."), RrType::kA, RrClass::kIn});
  m.answers.push_back(Rr("www.example.com.", RrType::kCname, 300, "web.example.com."));
  m.answers.push_back(Rr("web.example.com.", RrType::kA, 300, "192.0.2.1"));
  m.answers.push_back(Rr("web.example.com.", RrType::kA, 300, "192.0.2.2"));
  m.authority.push_back(Rr("example.com.", RrType::kNs, 3600, "ns1.example.com."));
  m.additional.push_back(Rr("ns1.example.com.", RrType::kAaaa, 3600, "2001:db8::53"));
  const std::string bytes = Write(m);
  EXPECT_EQ(HexEncode(bytes), kResponseCname);

  Message parsed = ParseOk(bytes);
  m.header.qdcount = 1;
  m.header.ancount = 3;
  m.header.nscount = 1;
  m.header.arcount = 1;
  EXPECT_EQ(parsed, m);
}

TEST(MessageTest, ParsesDnspythonResponseWithEveryServedType) {
  const Message m = ParseOk(Bytes(kResponseSoa));
  ASSERT_EQ(m.answers.size(), 5u);
  auto text = [&](size_t i) {
    auto t = RdataToText(m.answers[i].type, m.answers[i].rdata);
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : "";
  };
  EXPECT_EQ(text(0), "ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300");
  EXPECT_EQ(text(1), "10 mail.example.com.");
  EXPECT_EQ(m.answers[2].name.ToText(), "_sip._tcp.example.com.");
  EXPECT_EQ(text(2), "10 60 5060 sip.example.com.");  // compressed SRV target expanded
  EXPECT_EQ(text(3), "\"v=spf1 -all\" \"second string\"");
  EXPECT_EQ(text(4), "0 issue \"letsencrypt.org\"");

  // Our writer does not compress the SRV target (RFC 2782), so its message
  // differs from dnspython's, yet parses to the same records.
  const std::string ours = Write(m);
  const std::string srv_rdata_uncompressed =
      std::string("\0\x0a\0\x3c\x13\xc4\3sip\7example\3com\0", 23);
  EXPECT_NE(ours.find(srv_rdata_uncompressed), std::string::npos);
  EXPECT_EQ(ours.size(), Bytes(kResponseSoa).size() + 11);
  EXPECT_EQ(ParseOk(ours), m);
}

// Queries captured from dig 9.18 (a UDP socket in Python received them):
// dig +nocookie www.Example.com AAAA
// dig +noedns +norecurse example.org MX
// dig +dnssec +bufsize=4096 example.net SOA   (with a client cookie)
TEST(MessageTest, ParsesAndRewritesDigQueries) {
  const std::string nocookie = Bytes(
      "f95d0120000100000000000103777777074578616d706c6503636f6d00001c000100002904d0000000000000");
  const std::string noedns = Bytes("5c1c00200001000000000000076578616d706c65036f726700000f0001");
  const std::string cookie = Bytes(
      "199001200001000000000001076578616d706c65036e65740000060001000029100000008000000c000a0008da"
      "6966272730f078");

  const Message a = ParseOk(nocookie);
  EXPECT_EQ(a.header.id, 0xf95d);
  EXPECT_TRUE(a.header.rd);
  EXPECT_TRUE(a.header.ad);
  EXPECT_EQ(a.questions[0].name.ToText(), "www.Example.com.");
  EXPECT_EQ(a.questions[0].type, RrType::kAaaa);
  ASSERT_TRUE(a.edns);
  EXPECT_EQ(a.edns->udp_payload_size, 1232);
  EXPECT_FALSE(a.edns->dnssec_ok);

  const Message b = ParseOk(noedns);
  EXPECT_FALSE(b.header.rd);
  EXPECT_FALSE(b.edns);
  EXPECT_EQ(b.questions[0].type, RrType::kMx);

  const Message c = ParseOk(cookie);
  ASSERT_TRUE(c.edns);
  EXPECT_EQ(c.edns->udp_payload_size, 4096);
  EXPECT_TRUE(c.edns->dnssec_ok);
  ASSERT_EQ(c.edns->options.size(), 1u);
  EXPECT_EQ(c.edns->options[0].code, 10);  // COOKIE, RFC 7873
  EXPECT_EQ(c.edns->options[0].data.size(), 8u);

  for (const std::string* bytes : {&nocookie, &noedns, &cookie}) {
    EXPECT_EQ(HexEncode(Write(ParseOk(*bytes))), HexEncode(*bytes));
  }
}

TEST(MessageTest, BadVersWithExtendedRcodeLikeDnspython) {
  MessageWriter writer(512);
  writer.SetHeader({.id = 9, .qr = true, .rd = true});
  Edns edns;
  edns.udp_payload_size = 8192;
  writer.SetEdns(edns);
  writer.SetRcode(Rcode::kBadVers);
  ASSERT_TRUE(writer.AddQuestion({N("example.com."), RrType::kA, RrClass::kIn}));
  const std::string bytes = writer.Finish();
  EXPECT_EQ(HexEncode(bytes), kResponseBadVers);
  const Message m = ParseOk(bytes);
  EXPECT_EQ(m.header.rcode_low, 0);
  ASSERT_TRUE(m.edns);
  EXPECT_EQ(m.edns->extended_rcode, 1);
  EXPECT_EQ(FullRcode(m), static_cast<uint16_t>(Rcode::kBadVers));
}

TEST(MessageTest, EdnsOptionsAndFlagsRoundTrip) {
  Message m;
  m.header = {.id = 1,
              .qr = true,
              .opcode = Opcode::kNotify,
              .aa = true,
              .tc = true,
              .ra = true,
              .ad = true,
              .cd = true,
              .rcode_low = 5};
  m.questions.push_back({N("example."), RrType::kSoa, RrClass::kIn});
  Edns edns;
  edns.udp_payload_size = 4096;
  edns.extended_rcode = 0xAB;
  edns.version = 1;
  edns.dnssec_ok = true;
  edns.options = {{10, "cookie12"}, {12, std::string(5, '\0')}, {65001, ""}};
  m.edns = edns;
  const std::string bytes = Write(m);
  Message parsed = ParseOk(bytes);
  m.header.qdcount = 1;
  m.header.arcount = 1;
  EXPECT_EQ(parsed, m);
  EXPECT_EQ(FullRcode(parsed), 0xAB5);
}

TEST(MessageTest, RoundTripsEveryType) {
  Message m;
  m.header = {.id = 77, .qr = true, .aa = true};
  m.questions.push_back({N("Example.com."), RrType::kAny, RrClass::kIn});
  m.answers = {
      Rr("example.com.", RrType::kSoa, 3600,
         "ns1.example.com. host\\.master.example.com. 1 2 3 4 5"),
      Rr("example.com.", RrType::kNs, 3600, "ns1.example.com."),
      Rr("example.com.", RrType::kMx, 60, "10 mail.example.com."),
      Rr("example.com.", RrType::kTxt, 60, "\"a b\" c \"\\000\\255\""),
      Rr("example.com.", RrType::kCaa, 60, "0 issue \"ca.example\""),
      Rr("www.example.com.", RrType::kA, 60, "192.0.2.1"),
      Rr("www.example.com.", RrType::kAaaa, 60, "2001:db8::1"),
      Rr("alias.example.com.", RrType::kCname, 60, "www.example.com."),
      Rr("1.2.0.192.in-addr.arpa.", RrType::kPtr, 60, "www.example.com."),
      Rr("_x._tcp.example.com.", RrType::kSrv, 60, "1 2 3 www.example.com."),
      Rr("example.com.", 65280, 60, "\\# 17 03777777076578616d706c6503636f6d00"),
  };
  m.authority.push_back(Rr("example.com.", RrType::kNs, 3600, "ns2.example.com."));
  m.additional.push_back(Rr("ns1.example.com.", RrType::kA, 3600, "192.0.2.53"));
  m.edns = Edns{};
  const std::string bytes = Write(m);
  Message parsed = ParseOk(bytes);
  m.header.qdcount = 1;
  m.header.ancount = static_cast<uint16_t>(m.answers.size());
  m.header.nscount = 1;
  m.header.arcount = 2;
  EXPECT_EQ(parsed, m);
}

TEST(MessageTest, CompressionPointsBackwardsAndShrinks) {
  MessageWriter writer(kMaxMessageSize);
  writer.SetHeader({.id = 1, .qr = true});
  ASSERT_TRUE(writer.AddQuestion({N("www.example.com."), RrType::kMx, RrClass::kIn}));
  size_t uncompressed = kHeaderSize + 17 + 4;
  std::vector<ResourceRecord> records = {
      Rr("www.example.com.", RrType::kMx, 1, "10 mail.example.com."),
      Rr("www.example.com.", RrType::kMx, 1, "20 mail2.Example.COM."),
      Rr("mail.example.com.", RrType::kA, 1, "192.0.2.1"),
  };
  for (const auto& rr : records) {
    ASSERT_TRUE(writer.AddRecord(Section::kAnswer, rr));
    uncompressed += rr.name.wire().size() + 10 + rr.rdata.size();
  }
  const std::string bytes = writer.Finish();
  EXPECT_LT(bytes.size(), uncompressed);
  // Header 12, question name 17 + 4, then owner pointer to offset 12.
  EXPECT_EQ(bytes.substr(33, 2), std::string("\xc0\x0c", 2));
  // The MX exchange "mail" + pointer to "example.com" at offset 16.
  EXPECT_NE(bytes.find(std::string("\4mail\xc0\x10", 7)), std::string::npos);
  // Rdata keeps its case: "mail2.Example.COM" is not compressed against
  // "example.com", while owner names match case-insensitively.
  EXPECT_NE(bytes.find(std::string("\5mail2\7Example\3COM\0", 19)), std::string::npos);
  // Each pointer targets an earlier offset than itself.
  for (size_t i = kHeaderSize; i + 1 < bytes.size(); ++i) {
    if ((static_cast<uint8_t>(bytes[i]) & 0xC0) == 0xC0 && bytes[i + 1] != '\0') {
      const size_t target =
          (static_cast<uint8_t>(bytes[i]) & 0x3F) << 8 | static_cast<uint8_t>(bytes[i + 1]);
      if (target >= kHeaderSize && target < bytes.size()) {
        EXPECT_LT(target, i);
      }
    }
  }
  const Message parsed = ParseOk(bytes);
  ASSERT_EQ(parsed.answers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(parsed.answers[i], records[i]);
}

TEST(MessageTest, OwnerTakesQuestionCaseRdataKeepsItsOwn) {
  MessageWriter writer(512);
  ASSERT_TRUE(writer.AddQuestion({N("WwW.ExAmPlE.CoM."), RrType::kCname, RrClass::kIn}));
  ASSERT_TRUE(writer.AddRecord(Section::kAnswer,
                               Rr("www.example.com.", RrType::kCname, 1, "web.example.com.")));
  ASSERT_TRUE(
      writer.AddRecord(Section::kAnswer, Rr("web.example.com.", RrType::kA, 1, "192.0.2.1")));
  const std::string bytes = writer.Finish();
  const Message m = ParseOk(bytes);
  EXPECT_EQ(m.answers[0].name.ToText(), "WwW.ExAmPlE.CoM.");  // pointer to the question
  EXPECT_EQ(bytes.substr(33, 2), std::string("\xc0\x0c", 2));
  auto target = RdataToText(RrType::kCname, m.answers[0].rdata);
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, "web.example.com.");
  // The A owner points at the CNAME target in rdata (same octets).
  EXPECT_EQ(m.answers[1].name.ToText(), "web.example.com.");
  EXPECT_EQ(bytes.size(), 12u + 21 + (2 + 10 + 17) + (2 + 10 + 4));
}

TEST(MessageTest, SrvAndUnknownRdataNotCompressed) {
  MessageWriter writer(kMaxMessageSize);
  ASSERT_TRUE(writer.AddQuestion({N("example.com."), RrType::kSrv, RrClass::kIn}));
  const std::string srv = *RdataFromText(RrType::kSrv, "0 0 80 example.com.");
  const std::string unknown = N("example.com.").wire();
  ASSERT_TRUE(writer.AddRecord(Section::kAnswer, {N("example.com."), RrType::kSrv, 1, 1, srv}));
  ASSERT_TRUE(writer.AddRecord(Section::kAnswer, {N("example.com."), 4321, 1, 1, unknown}));
  // And a later name does not point into the SRV rdata.
  ASSERT_TRUE(writer.AddRecord(Section::kAnswer, {N("example.com."), RrType::kNs, 1, 1, unknown}));
  const std::string bytes = writer.Finish();
  const size_t srv_at = bytes.find(srv);
  ASSERT_NE(srv_at, std::string::npos);
  ASSERT_NE(bytes.find(unknown, srv_at + srv.size()), std::string::npos);
  EXPECT_EQ(bytes.substr(bytes.size() - 2), std::string("\xc0\x0c", 2));
  const Message parsed = ParseOk(bytes);
  EXPECT_EQ(parsed.answers[0].rdata, srv);
  EXPECT_EQ(parsed.answers[1].rdata, unknown);
}

TEST(MessageTest, RejectsPointerLoopsAndForwardPointers) {
  const std::string header("\0\1\0\0\0\1\0\0\0\0\0\0", 12);
  // Question name is a pointer to itself.
  EXPECT_FALSE(ParseMessage(header + std::string("\xc0\x0c\0\1\0\1", 6)).ok());
  // Label then pointer back to the label start: a loop.
  EXPECT_FALSE(ParseMessage(header + std::string("\1a\xc0\x0c\0\1\0\1", 8)).ok());
  // Forward pointer.
  EXPECT_FALSE(ParseMessage(header + std::string("\xc0\x12\0\1\0\1\1a\0", 9)).ok());
  // Pointer into the header.
  EXPECT_FALSE(ParseMessage(header + std::string("\xc0\x02\0\1\0\1", 6)).ok());
  // Two names pointing at each other (second question points to first,
  // first question points to second).
  const std::string two("\0\1\0\0\0\2\0\0\0\0\0\0", 12);
  EXPECT_FALSE(ParseMessage(two + std::string("\xc0\x12\0\1\0\1\xc0\x0c\0\1\0\1", 12)).ok());
  // Label types 01 and 10 (RFC 6891 5).
  EXPECT_FALSE(ParseMessage(header + std::string("\x41"
                                                 "a\0\0\1\0\1",
                                                 7))
                   .ok());
  EXPECT_FALSE(ParseMessage(header + std::string("\x81"
                                                 "a\0\0\1\0\1",
                                                 7))
                   .ok());
  // A valid backward pointer chain parses.
  const Message ok = ParseOk(two + std::string("\1a\0\0\1\0\1\1b\xc0\x0c\0\1\0\1", 15));
  ASSERT_EQ(ok.questions.size(), 2u);
  EXPECT_EQ(ok.questions[1].name.ToText(), "b.a.");
  // A chain of pointers each going further back, expanding past 255 octets.
  std::string deep = two;
  deep += std::string("\x3f") + std::string(63, 'x') + std::string("\x3f") + std::string(63, 'x') +
          std::string("\x3f") + std::string(63, 'x') + std::string("\x3f") + std::string(63, 'x') +
          '\0';
  deep += std::string("\0\1\0\1", 4);
  EXPECT_FALSE(ParseMessage(deep).ok());
}

TEST(MessageTest, RejectsEveryTruncationWithoutCrashing) {
  for (const char* hex :
       {kQueryPlain, kQueryEdns, kResponseCname, kResponseSoa, kResponseBadVers}) {
    const std::string bytes = Bytes(hex);
    ASSERT_TRUE(ParseMessage(bytes).ok());
    for (size_t length = 0; length < bytes.size(); ++length) {
      auto m = ParseMessage(std::string_view(bytes).substr(0, length));
      EXPECT_FALSE(m.ok()) << hex << " cut at " << length;
      if (!m.ok()) {
        EXPECT_EQ(m.status().code(), ErrorCode::kInvalidArgument);
        EXPECT_FALSE(m.status().message().empty());
      }
      EXPECT_EQ(ParseHeader(std::string_view(bytes).substr(0, length)).ok(), length >= kHeaderSize);
    }
  }
}

TEST(MessageTest, RejectsCountMismatchAndTrailingBytes) {
  std::string bytes = Bytes(kQueryPlain);
  EXPECT_NE(ParseMessage(bytes + "x").status().message().find("trailing"), std::string::npos);
  std::string more_questions = bytes;
  more_questions[5] = 2;
  EXPECT_FALSE(ParseMessage(more_questions).ok());
  std::string claimed_answer = bytes;
  claimed_answer[7] = 1;
  EXPECT_FALSE(ParseMessage(claimed_answer).ok());
  std::string huge_counts = bytes;
  huge_counts[6] = huge_counts[7] = huge_counts[8] = huge_counts[9] = '\xff';
  EXPECT_FALSE(ParseMessage(huge_counts).ok());
  // The header alone still parses, for the FORMERR reply.
  auto header = ParseHeader(huge_counts + "garbage");
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->id, 0x1234);
}

TEST(MessageTest, OptRules) {
  const std::string query = Bytes(kQueryPlain);
  const std::string opt("\0\0\x29\x04\xd0\0\0\0\0\0\0", 11);
  auto with = [&](int ancount, int arcount, const std::string& records) {
    std::string bytes = query;
    bytes[7] = static_cast<char>(ancount);
    bytes[11] = static_cast<char>(arcount);
    return ParseMessage(bytes + records);
  };
  EXPECT_TRUE(with(0, 1, opt).ok());
  EXPECT_NE(with(0, 2, opt + opt).status().message().find("more than one OPT"), std::string::npos);
  EXPECT_NE(with(1, 0, opt).status().message().find("additional"), std::string::npos);
  const std::string named_opt = std::string("\1a\0", 3) + opt.substr(1);
  // A non-root OPT owner is tolerated, as Knot does (the conformance test checks it).
  auto named = with(0, 1, named_opt);
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_TRUE(named->edns.has_value());
  // Malformed option list.
  const std::string bad_options = opt.substr(0, 9) + std::string("\0\3\0\1\0", 5);
  EXPECT_FALSE(with(0, 1, bad_options).ok());
  const std::string good_options = opt.substr(0, 9) + std::string("\0\5\0\x0a\0\1x", 7);
  auto parsed = with(0, 1, good_options);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->edns->options.size(), 1u);
  EXPECT_EQ(parsed->edns->options[0].code, 10);
  EXPECT_EQ(parsed->edns->options[0].data, "x");
}

TEST(MessageTest, ValidatesAndDecompressesRdata) {
  // Answer: www.example.com A with 3-byte rdata.
  std::string bytes = Bytes(kQueryPlain);
  bytes[7] = 1;
  const std::string bad_a = bytes + std::string("\xc0\x0c\0\1\0\1\0\0\0\1\0\3abc", 15);
  EXPECT_FALSE(ParseMessage(bad_a).ok());
  // CNAME whose rdata is a pointer to the question name: expanded.
  const std::string cname = bytes + std::string("\xc0\x0c\0\5\0\1\0\0\0\1\0\2\xc0\x0c", 14);
  const Message m = ParseOk(cname);
  EXPECT_EQ(m.answers[0].rdata, N("www.example.com.").wire());
  // CNAME rdata with a name running past rdlength.
  const std::string overrun = bytes + std::string("\xc0\x0c\0\5\0\1\0\0\0\1\0\1\xc0\x0c", 14);
  EXPECT_FALSE(ParseMessage(overrun).ok());
  // Unknown type: opaque, pointers not followed.
  const std::string unknown = bytes + std::string("\xc0\x0c\x10\x00\0\1\0\0\0\1\0\2\xc0\x0c", 14);
  EXPECT_EQ(ParseOk(unknown).answers[0].rdata, std::string("\xc0\x0c", 2));
  // UPDATE-style empty rdata with class ANY.
  const std::string empty_any = bytes + std::string("\xc0\x0c\0\1\0\xff\0\0\0\0\0\0", 12);
  const Message update = ParseOk(empty_any);
  EXPECT_TRUE(update.answers[0].rdata.empty());
  EXPECT_EQ(ParseOk(Write(update)), update);
}

TEST(MessageTest, AddRecordFalseExactlyWhenFull) {
  for (bool with_edns : {false, true}) {
    SCOPED_TRACE(with_edns);
    MessageWriter writer(512);
    writer.SetHeader({.id = 1, .qr = true});
    if (with_edns) writer.SetEdns(Edns{});
    ASSERT_TRUE(writer.AddQuestion({N("www.example.com."), RrType::kA, RrClass::kIn}));
    const size_t base = kHeaderSize + 17 + 4 + (with_edns ? 11 : 0);
    EXPECT_EQ(writer.size(), base);
    // Each record: owner pointer 2 + type/class/ttl/rdlength 10 + 4.
    const ResourceRecord a = Rr("www.example.com.", RrType::kA, 60, "192.0.2.1");
    size_t added = 0;
    while (writer.AddRecord(Section::kAnswer, a)) {
      ++added;
      EXPECT_EQ(writer.size(), base + 16 * added);
    }
    EXPECT_EQ(added, (512 - base) / 16);
    EXPECT_LT(writer.remaining(), 16u);
    const size_t full = writer.size();
    // A record that still fits exactly is accepted: rdata sized to the gap.
    const size_t gap = writer.remaining();
    if (gap >= 12) {  // owner pointer 2 + fixed 10
      ResourceRecord filler{N("www.example.com."), 4321, RrClass::kIn, 1,
                            std::string(gap - 12, 'x')};
      EXPECT_TRUE(writer.AddRecord(Section::kAdditional, filler));
      EXPECT_EQ(writer.size(), 512u);
      ResourceRecord empty{N("www.example.com."), 4321, RrClass::kIn, 1, ""};
      EXPECT_FALSE(writer.AddRecord(Section::kAdditional, empty));
    } else {
      EXPECT_EQ(writer.size(), full);
    }
    const size_t before = writer.size();
    EXPECT_FALSE(writer.AddRecord(Section::kAdditional, a));
    EXPECT_EQ(writer.size(), before);  // nothing added
    const std::string bytes = writer.Finish();
    EXPECT_EQ(bytes.size(), before);
    const Message m = ParseOk(bytes);
    EXPECT_EQ(m.answers.size(), added);
    EXPECT_EQ(m.edns.has_value(), with_edns);
  }
}

TEST(MessageTest, LargeMessagePastPointerRange) {
  // Pointers are 14 bits (RFC 1035 4.1.4): names written after offset 0x3FFF
  // are not targets, yet still point back to earlier ones.
  Message m;
  m.header = {.id = 5, .qr = true};
  m.questions.push_back({N("example."), RrType::kTxt, RrClass::kIn});
  const std::string text = "\"" + std::string(250, 't') + "\"";
  for (int i = 0; i < 200; ++i) {
    std::string owner = "r";  // (not "r" + to_string: a GCC 12 -Wrestrict false positive)
    owner += std::to_string(i) + ".example.";
    m.answers.push_back(Rr(owner, RrType::kTxt, 1, text));
    m.answers.push_back(
        Rr(owner, RrType::kMx, 1, std::string("1 mx") += std::to_string(i % 7) + ".example."));
  }
  const std::string bytes = Write(m);
  EXPECT_GT(bytes.size(), 0x4000u);
  Message parsed = ParseOk(bytes);
  m.header.qdcount = 1;
  m.header.ancount = 400;
  EXPECT_EQ(parsed, m);
}

TEST(MessageTest, RejectedRecordLeavesNoCompressionTargets) {
  MessageWriter writer(512);
  ASSERT_TRUE(writer.AddQuestion({N("a."), RrType::kTxt, RrClass::kIn}));
  // Does not fit: its owner name must not become a pointer target.
  ResourceRecord big =
      Rr("big.example.", RrType::kTxt, 1, std::string(250, 'x') + " " + std::string(250, 'y'));
  EXPECT_FALSE(writer.AddRecord(Section::kAnswer, big));
  ASSERT_TRUE(writer.AddRecord(Section::kAnswer, Rr("big.example.", RrType::kA, 1, "1.2.3.4")));
  const std::string bytes = writer.Finish();
  const Message m = ParseOk(bytes);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].name.ToText(), "big.example.");
}

TEST(MessageTest, WriterRules) {
  MessageWriter writer(100);  // clamped to 512
  EXPECT_TRUE(writer.AddQuestion({N("example."), RrType::kA, RrClass::kIn}));
  EXPECT_TRUE(writer.AddRecord(Section::kAuthority, Rr("example.", RrType::kNs, 1, "ns.example.")));
  // Sections go in order.
  EXPECT_FALSE(writer.AddRecord(Section::kAnswer, Rr("example.", RrType::kA, 1, "1.2.3.4")));
  EXPECT_FALSE(writer.AddQuestion({N("example."), RrType::kA, RrClass::kIn}));
  // Malformed rdata of a known type is refused.
  EXPECT_FALSE(writer.AddRecord(Section::kAdditional, {N("example."), RrType::kA, 1, 1, "abc"}));
  // OPT only through SetEdns.
  EXPECT_FALSE(writer.AddRecord(Section::kAdditional, {N("."), RrType::kOpt, 512, 0, ""}));
  writer.SetTruncated();
  writer.SetRcode(Rcode::kNxDomain);
  const Message m = ParseOk(writer.Finish());
  EXPECT_TRUE(m.header.tc);
  EXPECT_EQ(m.header.rcode_low, 3);
  EXPECT_EQ(m.authority.size(), 1u);
  EXPECT_TRUE(m.answers.empty());

  MessageWriter big_question(512);
  std::string long_name;
  for (int i = 0; i < 3; ++i) long_name += std::string(63, 'q') + ".";
  EXPECT_TRUE(big_question.AddQuestion({N(long_name), RrType::kA, RrClass::kIn}));
  EXPECT_TRUE(big_question.AddQuestion({N("x." + long_name), RrType::kA, RrClass::kIn}));
}

}  // namespace
}  // namespace meshkv::dns
