#include "frontend/dns/wire/zone_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"

namespace meshkv::dns {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

Name N(std::string_view text) {
  auto name = Name::FromText(text);
  EXPECT_TRUE(name.ok()) << text << ": " << name.status().message();
  return name.ok() ? *name : Name();
}

std::string Rdata(uint16_t type, std::string_view text) {
  auto rdata = RdataFromText(type, text);
  EXPECT_TRUE(rdata.ok()) << text << ": " << rdata.status().message();
  return rdata.ok() ? *rdata : std::string();
}

ZoneRecord R(std::string_view owner, uint16_t type, uint32_t ttl, std::string_view value) {
  return ZoneRecord{N(owner), type, ttl, Rdata(type, value)};
}

ZoneParseOptions WithOrigin(std::string_view origin) {
  ZoneParseOptions options;
  options.file_name = "db.test";
  options.origin = N(origin);
  return options;
}

std::vector<ZoneRecord> Parse(std::string_view text,
                              const ZoneParseOptions& options = WithOrigin("example.test.")) {
  auto records = ParseZoneFile(text, options);
  EXPECT_TRUE(records.ok()) << records.status().message();
  return records.ok() ? *records : std::vector<ZoneRecord>();
}

std::string ParseError(std::string_view text,
                       const ZoneParseOptions& options = WithOrigin("example.test.")) {
  auto records = ParseZoneFile(text, options);
  EXPECT_FALSE(records.ok()) << "accepted:\n" << text;
  if (records.ok()) return "";
  EXPECT_EQ(records.status().code(), ErrorCode::kInvalidArgument);
  return records.status().message();
}

// ---- A realistic zone ---------------------------------------------------------

constexpr std::string_view kRealisticZone = R"(; example.test, as an operator writes it
$ORIGIN example.test.
$TTL 1h
@   IN  SOA ns1 hostmaster (
            2024010101 ; serial
            3h         ; refresh
            15m        ; retry
            1w         ; expire
            300 )      ; negative caching
    IN  NS   ns1
    IN  NS   ns2.example.net.
    IN  MX   10 mail
    IN  TXT  "v=spf1 mx -all"
ns1     IN A     192.0.2.1
        IN AAAA  2001:db8::1
www  300 IN A     192.0.2.10
         IN 600 A 192.0.2.11
mail    A        192.0.2.25
ftp     CNAME    www
_sip._tcp  SRV 10 60 5060 sip.example.test.
txt     TXT   "first string" "second; not a comment" "quote \" and backslash \\" \010\255
@       CAA   0 issue "letsencrypt.org"
2.0.192.in-addr.arpa. 3600 PTR www
)";

TEST(ParseZoneFile, RealisticZone) {
  ZoneParseOptions options;
  options.file_name = "db.example";
  std::vector<ZoneRecord> records = Parse(kRealisticZone, options);
  std::vector<ZoneRecord> want = {
      R("example.test.", RrType::kSoa, 3600,
        "ns1.example.test. hostmaster.example.test. 2024010101 10800 900 604800 300"),
      R("example.test.", RrType::kNs, 3600, "ns1.example.test."),
      R("example.test.", RrType::kNs, 3600, "ns2.example.net."),
      R("example.test.", RrType::kMx, 3600, "10 mail.example.test."),
      R("example.test.", RrType::kTxt, 3600, "\"v=spf1 mx -all\""),
      R("ns1.example.test.", RrType::kA, 3600, "192.0.2.1"),
      R("ns1.example.test.", RrType::kAaaa, 3600, "2001:db8::1"),
      R("www.example.test.", RrType::kA, 300, "192.0.2.10"),
      R("www.example.test.", RrType::kA, 600, "192.0.2.11"),
      R("mail.example.test.", RrType::kA, 3600, "192.0.2.25"),
      R("ftp.example.test.", RrType::kCname, 3600, "www.example.test."),
      R("_sip._tcp.example.test.", RrType::kSrv, 3600, "10 60 5060 sip.example.test."),
      R("txt.example.test.", RrType::kTxt, 3600,
        R"("first string" "second; not a comment" "quote \" and backslash \\" "\010\255")"),
      R("example.test.", RrType::kCaa, 3600, "0 issue \"letsencrypt.org\""),
      R("2.0.192.in-addr.arpa.", RrType::kPtr, 3600, "www.example.test."),
  };
  EXPECT_EQ(records, want);
  ASSERT_EQ(records.size(), want.size());
  EXPECT_EQ(records[0].line, 4u);  // where the SOA starts, not where it ends
  EXPECT_EQ(records[1].line, 10u);
  EXPECT_EQ(records.back().line, 23u);
}

// ---- Names and origins --------------------------------------------------------

TEST(ParseZoneFile, OriginFromOptionsAtAndAbsoluteNames) {
  auto records = Parse(
      "@ 60 IN A 192.0.2.1\n"
      "www 60 IN CNAME @\n"
      "abs.example.test. 60 IN NS other.example.\n"
      "deep.sub 60 IN MX 5 @\n");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].owner, N("example.test."));
  EXPECT_EQ(records[1].owner, N("www.example.test."));
  EXPECT_EQ(records[1].rdata, N("example.test.").wire());
  EXPECT_EQ(records[2].owner, N("abs.example.test."));
  EXPECT_EQ(records[2].rdata, N("other.example.").wire());
  EXPECT_EQ(records[3].owner, N("deep.sub.example.test."));
  EXPECT_EQ(records[3].rdata, Rdata(RrType::kMx, "5 example.test."));
}

TEST(ParseZoneFile, OriginDirectiveIsRelativeToTheCurrentOrigin) {
  auto records = Parse(
      "$ORIGIN sub\n"  // sub.example.test.
      "a 60 A 192.0.2.1\n"
      "$ORIGIN other.test.\n"
      "b 60 A 192.0.2.2\n"
      "$origin x\n"  // directives are case-insensitive
      "@ 60 A 192.0.2.3\n");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].owner, N("a.sub.example.test."));
  EXPECT_EQ(records[1].owner, N("b.other.test."));
  EXPECT_EQ(records[2].owner, N("x.other.test."));
}

TEST(ParseZoneFile, WithoutOriginAbsoluteNamesWorkAndRelativeOnesAreErrors) {
  ZoneParseOptions options;
  options.file_name = "f";
  auto records = Parse("www.example.test. 60 IN MX 1 mx.example.test.\n", options);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].owner, N("www.example.test."));

  EXPECT_THAT(ParseError("www 60 IN A 192.0.2.1\n", options),
              StartsWith("f:1: owner 'www' is relative but there is no origin yet"));
  EXPECT_THAT(ParseError("\n@ 60 IN A 192.0.2.1\n", options),
              StartsWith("f:2: owner '@' is relative"));
  EXPECT_THAT(ParseError("a.test. 60 IN CNAME www\n", options),
              StartsWith("f:1: bad CNAME rdata: a domain name in it is relative"));
  EXPECT_THAT(ParseError("a.test. 60 IN MX 1 @\n", options),
              StartsWith("f:1: bad MX rdata: a domain name in it is relative"));
  EXPECT_THAT(ParseError("$ORIGIN sub\n", options), StartsWith("f:1: $ORIGIN 'sub' is relative"));
  // Escaped trailing dot: still relative.
  EXPECT_THAT(ParseError("www\\. 60 IN A 192.0.2.1\n", options), StartsWith("f:1: owner"));
  // $ORIGIN then relative names are fine.
  records = Parse("$ORIGIN example.test.\nwww 60 IN CNAME @\n", options);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].rdata, N("example.test.").wire());
}

TEST(ParseZoneFile, OwnerEscapesAndCasePreserved) {
  auto records = Parse("WwW.Sub 60 IN A 192.0.2.1\nodd\\.label\\032x 60 IN A 192.0.2.2\n");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].owner.ToText(), "WwW.Sub.example.test.");
  EXPECT_EQ(records[1].owner.label_count(), 3u);
  EXPECT_EQ(records[1].owner.label(0), "odd.label x");
}

TEST(ParseZoneFile, OmittedOwnerRepeatsThePreviousOneAcrossDirectives) {
  auto records = Parse(
      "host 60 IN A 192.0.2.1\n"
      "\t60 IN A 192.0.2.2\n"
      "$TTL 30\n"
      "  IN TXT x\n");
  ASSERT_EQ(records.size(), 3u);
  for (const ZoneRecord& r : records) EXPECT_EQ(r.owner, N("host.example.test."));
  EXPECT_EQ(records[2].ttl, 30u);

  EXPECT_EQ(ParseError("; comment\n  60 IN A 192.0.2.1\n"),
            "db.test:2: no owner name: the first record must start with its owner in column 1 (a "
            "line that starts with a space or tab repeats the previous owner)");
}

// ---- TTL and class --------------------------------------------------------------

TEST(ParseZoneFile, TtlAndClassInEitherOrderAndOptional) {
  auto records = Parse(
      "$TTL 99\n"
      "a 300 IN A 192.0.2.1\n"
      "b IN 300 A 192.0.2.1\n"
      "c IN A 192.0.2.1\n"
      "d 1h30m A 192.0.2.1\n"
      "e A 192.0.2.1\n"
      "f CLASS1 2W A 192.0.2.1\n"
      "g in 0 a 192.0.2.1\n");
  std::vector<uint32_t> ttls;
  for (const ZoneRecord& r : records) ttls.push_back(r.ttl);
  EXPECT_EQ(ttls, (std::vector<uint32_t>{300, 300, 99, 5400, 99, 1209600, 0}));
  for (const ZoneRecord& r : records) EXPECT_EQ(r.type, RrType::kA);
}

TEST(ParseZoneFile, TtlDefaults) {
  // Without $TTL: the last explicit TTL (RFC 1035 5.1).
  auto records = Parse("a 120 A 192.0.2.1\nb A 192.0.2.2\nc 7 A 192.0.2.3\nd A 192.0.2.4\n");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[1].ttl, 120u);
  EXPECT_EQ(records[3].ttl, 7u);
  // $TTL wins over the last explicit TTL once given.
  records = Parse("a 120 A 192.0.2.1\n$TTL 5\nb A 192.0.2.2\n");
  EXPECT_EQ(records[1].ttl, 5u);
  // An SOA without any TTL before it takes its MINIMUM (as BIND), and that is
  // not an explicit TTL for the next records.
  records = Parse("@ SOA ns hm 1 2 3 4 600\n");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].ttl, 600u);
  EXPECT_EQ(ParseError("@ SOA ns hm 1 2 3 4 600\nwww A 192.0.2.1\n"),
            "db.test:2: no TTL for this record: give one, or put a $TTL line before it");
}

TEST(ParseTtl, SecondsAndBindUnits) {
  EXPECT_EQ(*ParseTtl("0"), 0u);
  EXPECT_EQ(*ParseTtl("3600"), 3600u);
  EXPECT_EQ(*ParseTtl("1h"), 3600u);
  EXPECT_EQ(*ParseTtl("1H30M"), 5400u);
  EXPECT_EQ(*ParseTtl("2d"), 172800u);
  EXPECT_EQ(*ParseTtl("1w2d3h4m5s"), 788645u);
  EXPECT_EQ(*ParseTtl("2147483647"), 2147483647u);
  for (std::string_view bad :
       {"", "-1", "1x", "h", "1h30", "2147483648", "99999999999999", "1.5h", " 1", "3551w"}) {
    EXPECT_FALSE(ParseTtl(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseTtl("2147483648").status().message(), "TTL above 2147483647 seconds (RFC 2181 8)");
}

// ---- Lexical syntax -------------------------------------------------------------

TEST(ParseZoneFile, CommentsBlankLinesCrLfAndParentheses) {
  auto records = Parse(
      "; only a comment\r\n"
      "\r\n"
      "   \t  \n"
      "a 60 IN A 192.0.2.1 ; trailing comment\r\n"
      "b 60 IN ( ; the rdata follows\n"
      "  TXT\n"
      "  \"one\" ; a comment inside\n"
      "\n"
      "  two )\n"
      "c 60 IN TXT \"(not a paren; not a comment)\"\n");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].rdata, Rdata(RrType::kTxt, "one two"));
  EXPECT_EQ(records[1].line, 5u);
  EXPECT_EQ(records[2].rdata, Rdata(RrType::kTxt, "\"(not a paren; not a comment)\""));
}

TEST(ParseZoneFile, QuotedStringsAndEscapes) {
  auto records =
      Parse("a 60 TXT \"say \\\"hi\\\"\" back\\\\slash \"\\065\\066\" semi\\;colon \"\"\n");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].rdata, std::string("\x08say \"hi\"\x0a"
                                          "back\\slash\x02"
                                          "AB\x0asemi;colon\x00",
                                          1 + 8 + 1 + 10 + 1 + 2 + 1 + 10 + 1));
}

TEST(ParseZoneFile, GenericTypesAndRdata) {
  auto records = Parse(
      "a 60 TYPE65280 \\# 3 ABCDEF\n"
      "b 60 A \\# 4 C0000201\n"
      "c 60 TYPE1 192.0.2.2\n"
      "d 60 TYPE65281 \\# 0\n");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].type, 65280);
  EXPECT_EQ(records[0].rdata, "\xab\xcd\xef");
  EXPECT_EQ(records[1].rdata, Rdata(RrType::kA, "192.0.2.1"));
  EXPECT_EQ(records[2].type, RrType::kA);
  EXPECT_EQ(records[3].rdata, "");
}

// ---- Errors, each naming the line ------------------------------------------------

TEST(ParseZoneFile, ErrorMessagesNameTheLine) {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"a 60 A 192.0.2.1\n$INCLUDE other.zone\n",
       "db.test:2: $INCLUDE is not supported (a zone is read from one file; concatenate the files "
       "instead)"},
      {"$GENERATE 1-2 a$ A 192.0.2.$\n",
       "db.test:1: unknown directive '$GENERATE' (supported: $ORIGIN, $TTL)"},
      {"$TTL\n", "db.test:1: $TTL takes one TTL, e.g. $TTL 3600 or $TTL 1h"},
      {"$TTL 1 2\n", "db.test:1: $TTL takes one TTL, e.g. $TTL 3600 or $TTL 1h"},
      {"$TTL 1y\n", "db.test:1: $TTL: expected seconds or a time like 1h30m (units w d h m s)"},
      {"$ORIGIN\n", "db.test:1: $ORIGIN takes one domain name"},
      {"\n\na 60 CH A 192.0.2.1\n",
       "db.test:3: class CH is not supported; only IN records can be loaded"},
      {"a 60 CLASS4 A 192.0.2.1\n",
       "db.test:1: class CLASS4 is not supported; only IN records can be loaded"},
      {"a 60 IN BOGUS x\n",
       "db.test:1: unknown type 'BOGUS' (use a mnemonic like A or MX, or TYPE<n> with \\# rdata)"},
      {"a 60 IN IN A 192.0.2.1\n",
       "db.test:1: unknown type 'IN' (use a mnemonic like A or MX, or TYPE<n> with \\# rdata)"},
      {"a 60 IN AXFR \\# 0\n", "db.test:1: AXFR is a query or meta type, not data (RFC 6895 3.1)"},
      {"a 60 IN OPT \\# 0\n", "db.test:1: OPT is a query or meta type, not data (RFC 6895 3.1)"},
      {"a 60 IN TYPE250 \\# 0\n",
       "db.test:1: TYPE250 is a query or meta type, not data (RFC 6895 3.1)"},
      {"a 60 IN\n", "db.test:1: record has no type"},
      {"a 60\n", "db.test:1: record has no type"},
      {"a 5x A 192.0.2.1\n",
       "db.test:1: TTL '5x': expected seconds or a time like 1h30m (units w d h m s)"},
      {"a 4294967296 A 192.0.2.1\n",
       "db.test:1: TTL '4294967296': TTL above 2147483647 seconds (RFC 2181 8)"},
      {"a 60 A 192.0.2\n",
       "db.test:1: bad A rdata: A address: '192.0.2' is not an IPv4 dotted quad"},
      {"a 60 AAAA 192.0.2.1\n",
       "db.test:1: bad AAAA rdata: AAAA address: '192.0.2.1' is not an IPv6 address"},
      {"a 60 MX mail\n",
       "db.test:1: bad MX rdata: MX needs preference and exchange (2 fields), got 1"},
      {"a 60 (\n MX 10\n\n)\n",
       "db.test:1: bad MX rdata: MX needs preference and exchange (2 fields), got 1"},
      {"a 60 TXT\n", "db.test:1: bad TXT rdata: TXT: needs at least one character-string"},
      {"\"quoted\" 60 A 192.0.2.1\n", "db.test:1: owner must not be quoted"},
      {"a..b 60 A 192.0.2.1\n", "db.test:1: owner: empty label in domain name 'a..b'"},
      {std::string(64, 'x') + " 60 A 192.0.2.1\n",
       "db.test:1: owner: label longer than 63 octets (RFC 1035 2.3.4) in domain name '" +
           std::string(64, 'x') + "'"},
      {"a 60 (\n  TXT x\n", "db.test:1: '(' is never closed"},
      {"a 60 TXT x\n\nb 60 ( TXT ( x ) )\n",
       "db.test:3: '(' inside parentheses (they do not nest)"},
      {"a 60 TXT x )\n", "db.test:1: ')' without a '(' before it"},
      {"a 60 TXT \"open\nb 60 TXT x\n", "db.test:1: quoted string not closed on its line"},
      {"a 60 TXT (\n\"open\n)\n", "db.test:2: quoted string not closed on its line"},
      {"a 60 TXT x\\\nb 60 TXT x\n", "db.test:1: backslash at the end of a line"},
      {"a 60 TXT x\\", "db.test:1: backslash at the end of a line"},
  };
  for (const Case& c : cases) EXPECT_EQ(ParseError(c.text), c.error) << c.text;
}

TEST(ParseZoneFile, Limits) {
  ZoneParseOptions options = WithOrigin("example.test.");
  options.max_file_bytes = 40;
  EXPECT_EQ(ParseError(std::string(41, ';'), options),
            "db.test: 41 bytes, more than the limit of 40");

  options = WithOrigin("example.test.");
  options.max_entry_bytes = 100;
  EXPECT_EQ(Parse("a 60 TXT " + std::string(80, 'x') + "\nb 60 TXT y\n", options).size(), 2u);
  EXPECT_THAT(ParseError("a 60 TXT x\nb 60 TXT ( " + std::string(60, 'x') + "\n" +
                             std::string(60, 'y') + " )\n",
                         options),
              StartsWith("db.test:2: entry longer than 100 bytes"));

  options = WithOrigin("example.test.");
  options.max_records = 2;
  EXPECT_EQ(ParseError("a 60 A 192.0.2.1\nb 60 A 192.0.2.1\nc 60 A 192.0.2.1\n", options),
            "db.test:3: more than 2 records");
}

TEST(ParseZoneFile, EmptyAndCommentOnlyFilesHaveNoRecords) {
  EXPECT_TRUE(Parse("").empty());
  EXPECT_TRUE(Parse("; nothing\n\n$TTL 5\n$ORIGIN other.\n").empty());
}

// ---- Writer ---------------------------------------------------------------------

TEST(WriteZoneFile, SoaFirstThenCanonicalOrderWithRelativeOwners) {
  std::vector<ZoneRecord> records = {
      R("www.example.test.", RrType::kA, 300, "192.0.2.10"),
      R("b.example.test.", RrType::kTxt, 60, "\"hi there\""),
      R("example.test.", RrType::kNs, 3600, "ns1.example.test."),
      R("example.test.", RrType::kSoa, 3600,
        "ns1.example.test. hostmaster.example.test. 1 3600 900 604800 300"),
      R("A.example.test.", RrType::kMx, 60, "10 mail.example.test."),
      R("elsewhere.test.", RrType::kA, 5, "192.0.2.99"),
  };
  auto text = WriteZoneFile(N("example.test."), records);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text,
            "; zone example.test., 6 records\n"
            "$ORIGIN example.test.\n"
            "@\t3600\tIN\tSOA\tns1.example.test. hostmaster.example.test. 1 3600 900 604800 300\n"
            "elsewhere.test.\t5\tIN\tA\t192.0.2.99\n"
            "@\t3600\tIN\tNS\tns1.example.test.\n"
            "A\t60\tIN\tMX\t10 mail.example.test.\n"
            "b\t60\tIN\tTXT\t\"hi there\"\n"
            "www\t300\tIN\tA\t192.0.2.10\n");
}

TEST(WriteZoneFile, RoundTripGivesTheSameRecords) {
  std::vector<ZoneRecord> records = {
      R("example.test.", RrType::kSoa, 3600,
        "ns1.example.test. hostmaster.example.test. 4294967295 3600 900 604800 300"),
      R("example.test.", RrType::kNs, 3600, "ns1.example.test."),
      R("example.test.", RrType::kMx, 3600, "0 ."),
      R("example.test.", RrType::kCaa, 3600, "128 tbs \"a \\\"quoted\\\" value\""),
      R("MiXeD.Example.Test.", RrType::kA, 1, "192.0.2.1"),
      R("v6.example.test.", RrType::kAaaa, 0, "::ffff:192.0.2.1"),
      R("alias.example.test.", RrType::kCname, 2147483647, "MiXeD.example.test."),
      R("_srv._udp.example.test.", RrType::kSrv, 60, "0 0 0 ."),
      R("txt.example.test.", RrType::kTxt, 60,
        "\"\" \"a;b(c)d\" \"\\\\ \\\" \\000 \\255\" " + std::string(255, 'z')),
      R("1.2.0.192.in-addr.arpa.", RrType::kPtr, 60, "host.example.test."),
      R("outside.other.", RrType::kA, 60, "192.0.2.2"),
      ZoneRecord{*N("example.test.").Prepend(std::string("odd label.\\\"@$;()", 17)), RrType::kA,
                 60, Rdata(RrType::kA, "192.0.2.3")},
      ZoneRecord{N("x.example.test."), 65280, 60, std::string("\x00\xff", 2)},
      ZoneRecord{N("y.example.test."), RrType::kA, 60, Rdata(RrType::kA, "\\# 4 C0000204")},
  };
  for (const Name& origin : {N("example.test."), N("test."), N("."), N("unrelated.")}) {
    auto text = WriteZoneFile(origin, records);
    ASSERT_TRUE(text.ok()) << text.status().message();
    ZoneParseOptions options;
    options.file_name = "written";
    auto parsed = ParseZoneFile(*text, options);  // no origin needed: the file sets it
    ASSERT_TRUE(parsed.ok()) << parsed.status().message() << "\n" << *text;
    EXPECT_THAT(*parsed, ::testing::UnorderedElementsAreArray(records)) << *text;
    // Owner case survives (an owner whose zone part is spelled differently
    // from the origin is written absolute).
    bool found_mixed = false;
    for (const ZoneRecord& r : *parsed) found_mixed |= r.owner.ToText() == "MiXeD.Example.Test.";
    EXPECT_TRUE(found_mixed) << *text;
    // Writing what was parsed gives the same text.
    auto again = WriteZoneFile(origin, *parsed);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *text);
  }
}

TEST(WriteZoneFile, MalformedRdataIsAnError) {
  std::vector<ZoneRecord> records = {ZoneRecord{N("a.test."), RrType::kA, 1, "abc"}};
  auto text = WriteZoneFile(N("test."), records);
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(text.status().message(), StartsWith("a.test. A: "));
}

TEST(RecordToText, AbsoluteWithoutOrigin) {
  ZoneRecord record = R("www.example.test.", RrType::kMx, 300, "10 mail.example.test.");
  EXPECT_EQ(*RecordToText(record), "www.example.test.\t300\tIN\tMX\t10 mail.example.test.");
  const Name origin = N("example.test.");
  EXPECT_EQ(*RecordToText(record, &origin), "www\t300\tIN\tMX\t10 mail.example.test.");
  const Name other = N("other.test.");
  EXPECT_EQ(*RecordToText(record, &other), "www.example.test.\t300\tIN\tMX\t10 mail.example.test.");
}

}  // namespace
}  // namespace meshkv::dns
