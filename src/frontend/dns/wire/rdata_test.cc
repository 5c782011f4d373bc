#include "frontend/dns/wire/rdata.h"

#include <gtest/gtest.h>

#include <string>

#include "frontend/dns/wire/types.h"

namespace meshkv::dns {
namespace {

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out += kHex[static_cast<uint8_t>(c) >> 4];
    out += kHex[static_cast<uint8_t>(c) & 0xF];
  }
  return out;
}

std::string Wire(uint16_t type, std::string_view text, const Name* origin = nullptr) {
  auto rdata = RdataFromText(type, text, origin);
  EXPECT_TRUE(rdata.ok()) << TypeToText(type) << " " << text << ": " << rdata.status().ToString();
  return rdata.ok() ? *rdata : std::string();
}

std::string Text(uint16_t type, std::string_view rdata) {
  auto text = RdataToText(type, rdata);
  EXPECT_TRUE(text.ok()) << TypeToText(type) << ": " << text.status().ToString();
  return text.ok() ? *text : std::string();
}

std::string ErrorOf(uint16_t type, std::string_view text) {
  auto rdata = RdataFromText(type, text);
  EXPECT_FALSE(rdata.ok()) << TypeToText(type) << " '" << text << "' was accepted";
  if (rdata.ok()) return "";
  EXPECT_EQ(rdata.status().code(), ErrorCode::kInvalidArgument);
  return rdata.status().message();
}

// Wire bytes and text checked against dnspython 2.3 (dns.rdata.from_text(...)
// .to_wire().hex() and .to_text()).
struct KnownGood {
  uint16_t type;
  const char* input;
  const char* hex;
  const char* text;
};

TEST(RdataTest, MatchesDnspython) {
  const KnownGood cases[] = {
      {RrType::kA, "192.0.2.1", "c0000201", "192.0.2.1"},
      {RrType::kAaaa, "2001:DB8:0:0:0:0:0:1", "20010db8000000000000000000000001", "2001:db8::1"},
      {RrType::kNs, "ns1.example.com.", "036e7331076578616d706c6503636f6d00", "ns1.example.com."},
      {RrType::kMx, "10 mail.example.com.", "000a046d61696c076578616d706c6503636f6d00",
       "10 mail.example.com."},
      {RrType::kTxt, R"("a b" c "q\"uote" "back\\slash" "\255\001")",
       "036120620163067122756f74650a6261636b5c736c61736802ff01",
       R"("a b" "c" "q\"uote" "back\\slash" "\255\001")"},
      {RrType::kSrv, "10 60 5060 sip.example.com.",
       "000a003c13c403736970076578616d706c6503636f6d00", "10 60 5060 sip.example.com."},
      {RrType::kCaa, "0 issue \"letsencrypt.org\"", "000569737375656c657473656e63727970742e6f7267",
       "0 issue \"letsencrypt.org\""},
      {RrType::kCaa, "128 iodef \"mailto:security@example.com\"",
       "8005696f6465666d61696c746f3a7365637572697479406578616d706c652e636f6d",
       "128 iodef \"mailto:security@example.com\""},
      {RrType::kSoa, "ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300",
       "036e7331076578616d706c6503636f6d000a686f73746d6173746572076578616d706c6503636f6d0078a3f1"
       "7500001c2000000e10001275000000012c",
       "ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300"},
      {65280, "\\# 3 abcdef", "abcdef", "\\# 3 ABCDEF"},
  };
  for (const KnownGood& c : cases) {
    SCOPED_TRACE(c.input);
    const std::string rdata = Wire(c.type, c.input);
    EXPECT_EQ(Hex(rdata), c.hex);
    EXPECT_TRUE(ValidateRdata(c.type, rdata).ok());
    EXPECT_EQ(Text(c.type, rdata), c.text);
    EXPECT_EQ(Wire(c.type, c.text), rdata);
  }
}

TEST(RdataTest, Addresses) {
  EXPECT_EQ(Wire(RrType::kA, "  10.0.0.255 "), std::string("\x0a\x00\x00\xff", 4));
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.a", "\"1.2.3.4\"", "1.2.3.4 5", "::1"}) {
    EXPECT_NE(ErrorOf(RrType::kA, bad).find("A"), std::string::npos) << bad;
  }
  EXPECT_EQ(Text(RrType::kAaaa, Wire(RrType::kAaaa, "::ffff:192.0.2.1")), "::ffff:192.0.2.1");
  EXPECT_EQ(Text(RrType::kAaaa, Wire(RrType::kAaaa, "::")), "::");
  for (const char* bad : {"1.2.3.4", ":::", "2001:db8::1::2", "g::1"}) {
    EXPECT_NE(ErrorOf(RrType::kAaaa, bad).find("AAAA address"), std::string::npos) << bad;
  }
  EXPECT_FALSE(ValidateRdata(RrType::kA, "abc").ok());
  EXPECT_FALSE(ValidateRdata(RrType::kAaaa, "abcd").ok());
  EXPECT_FALSE(RdataToText(RrType::kA, "abcde").ok());
}

TEST(RdataTest, NamesRelativeToOrigin) {
  auto origin = Name::FromText("example.com.");
  ASSERT_TRUE(origin.ok());
  EXPECT_EQ(Text(RrType::kCname, Wire(RrType::kCname, "www", &*origin)), "www.example.com.");
  EXPECT_EQ(Text(RrType::kCname, Wire(RrType::kCname, "@", &*origin)), "example.com.");
  EXPECT_EQ(Text(RrType::kCname, Wire(RrType::kCname, "www.other.", &*origin)), "www.other.");
  // Without an origin, names are absolute.
  EXPECT_EQ(Text(RrType::kPtr, Wire(RrType::kPtr, "host.example")), "host.example.");
  EXPECT_EQ(Text(RrType::kMx, Wire(RrType::kMx, "5 mx", &*origin)), "5 mx.example.com.");
  EXPECT_EQ(Text(RrType::kSoa, Wire(RrType::kSoa, "ns1 hostmaster 1 2 3 4 5", &*origin)),
            "ns1.example.com. hostmaster.example.com. 1 2 3 4 5");
  EXPECT_EQ(Text(RrType::kSrv, Wire(RrType::kSrv, "0 0 443 .")), "0 0 443 .");
  // Case is preserved.
  EXPECT_EQ(Text(RrType::kNs, Wire(RrType::kNs, "NS1.Example.COM.")), "NS1.Example.COM.");
}

TEST(RdataTest, ErrorsNameTheField) {
  EXPECT_NE(ErrorOf(RrType::kMx, "x mail.example.").find("MX preference"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kMx, "65536 mail.example.").find("MX preference"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kMx, "10 a..b").find("MX exchange"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kMx, "10").find("MX"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kMx, "10 a. b.").find("unexpected 'b.'"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kSrv, "1 2 70000 t.").find("SRV port"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kSrv, "1 x 7 t.").find("SRV weight"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kSoa, "a. b. 1 2 3 4x 5").find("SOA expire"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kSoa, "a. b. 4294967296 2 3 4 5").find("SOA serial"),
            std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kNs, "\"ns.example.\"").find("NS target"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kCaa, "0 is-sue x").find("CAA tag"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kCaa, "0 abcdefghijklmnop x").find("CAA tag"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kCaa, "256 issue x").find("CAA flags"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kTxt, "").find("TXT"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kTxt, "\"open").find("unterminated"), std::string::npos);
  EXPECT_NE(ErrorOf(RrType::kOpt, "anything").find("\\#"), std::string::npos);
  EXPECT_NE(ErrorOf(4321, "abc").find("\\#"), std::string::npos);
}

TEST(RdataTest, SoaTimesAndFields) {
  const std::string rdata = Wire(RrType::kSoa, "a. b. 1 1h30m 2d 1W 90s");
  auto soa = ParseSoa(rdata);
  ASSERT_TRUE(soa.ok());
  EXPECT_EQ(soa->mname.ToText(), "a.");
  EXPECT_EQ(soa->rname.ToText(), "b.");
  EXPECT_EQ(soa->serial, 1u);
  EXPECT_EQ(soa->refresh, 5400u);
  EXPECT_EQ(soa->retry, 172800u);
  EXPECT_EQ(soa->expire, 604800u);
  EXPECT_EQ(soa->minimum, 90u);
  EXPECT_EQ(EncodeSoa(*soa), rdata);
  EXPECT_EQ(Text(RrType::kSoa, rdata), "a. b. 1 5400 172800 604800 90");
  // Zone-file layout: parentheses and comments.
  EXPECT_EQ(Wire(RrType::kSoa, "a. b. ( 1 ; serial\n 5400 172800\n 604800 90 )"), rdata);
  EXPECT_FALSE(RdataFromText(RrType::kSoa, "a. b. 1 2 3 4 h").ok());
  EXPECT_FALSE(RdataFromText(RrType::kSoa, "a. b. 1 2 3 4 1h5").ok());
  EXPECT_FALSE(RdataFromText(RrType::kSoa, "a. b. 1 2 3 4 999999999999").ok());
  EXPECT_FALSE(ParseSoa(std::string("\0\0", 2)).ok());
}

TEST(RdataTest, TxtStringsEscapesAndLimits) {
  EXPECT_EQ(Wire(RrType::kTxt, "\"\""), std::string(1, '\0'));
  EXPECT_EQ(Text(RrType::kTxt, std::string(1, '\0')), "\"\"");
  EXPECT_EQ(Wire(RrType::kTxt, "hello world"), std::string("\5hello\5world", 12));
  EXPECT_EQ(Wire(RrType::kTxt, "\"hello world\""), std::string("\x0bhello world", 12));
  EXPECT_EQ(Wire(RrType::kTxt, "a\\ b"), std::string("\3a b", 4));
  EXPECT_EQ(Wire(RrType::kTxt, "\"semi;colon (paren)\""),
            std::string("\x12semi;colon (paren)", 19));
  EXPECT_EQ(Text(RrType::kTxt, std::string("\3\x7f\n\"", 4)), "\"\\127\\010\\\"\"");
  EXPECT_EQ(Text(RrType::kTxt, "\x03\xc3\xa9x"), "\"\\195\\169x\"");

  const std::string s255(255, 'x');
  const std::string rdata = Wire(RrType::kTxt, "\"" + s255 + "\"");
  EXPECT_EQ(rdata.size(), 256u);
  EXPECT_NE(ErrorOf(RrType::kTxt, "\"" + s255 + "x\"").find("255"), std::string::npos);
  std::string escaped255;
  for (int i = 0; i < 255; ++i) escaped255 += "\\120";
  EXPECT_EQ(Wire(RrType::kTxt, escaped255), rdata);
  EXPECT_FALSE(RdataFromText(RrType::kTxt, escaped255 + "x").ok());
  EXPECT_FALSE(RdataFromText(RrType::kTxt, "\"bad \\25 escape\"").ok());
  EXPECT_FALSE(RdataFromText(RrType::kTxt, "\"bad \\256\"").ok());

  // Total rdata limit: 256 strings of 255 = 65536 octets.
  std::string many;
  for (int i = 0; i < 256; ++i) many += s255 + " ";
  EXPECT_NE(ErrorOf(RrType::kTxt, many).find("65535"), std::string::npos);

  EXPECT_FALSE(ValidateRdata(RrType::kTxt, "").ok());
  EXPECT_FALSE(ValidateRdata(RrType::kTxt, std::string("\5abc", 4)).ok());
  EXPECT_TRUE(ValidateRdata(RrType::kTxt, std::string("\0\0", 2)).ok());
}

TEST(RdataTest, Caa) {
  const std::string rdata = Wire(RrType::kCaa, "0 issue letsencrypt.org");
  EXPECT_EQ(Text(RrType::kCaa, rdata), "0 issue \"letsencrypt.org\"");
  EXPECT_EQ(Wire(RrType::kCaa, "0 issue \"\""), std::string("\0\5issue", 7));
  EXPECT_EQ(Text(RrType::kCaa, Wire(RrType::kCaa, R"(0 issue "ca.example; account=\"x\"")")),
            R"(0 issue "ca.example; account=\"x\"")");
  // The value is not a <character-string>: it may exceed 255 octets.
  const std::string long_value(300, 'v');
  EXPECT_EQ(Wire(RrType::kCaa, "0 tbs \"" + long_value + "\"").size(), 2 + 3 + 300u);
  EXPECT_FALSE(RdataFromText(RrType::kCaa, "0 issue").ok());
  EXPECT_FALSE(RdataFromText(RrType::kCaa, "0 issue a b").ok());
  EXPECT_FALSE(RdataFromText(RrType::kCaa, "0 \"issue\" a").ok());
  EXPECT_FALSE(ValidateRdata(RrType::kCaa, std::string("\0\0", 2)).ok());
  EXPECT_FALSE(ValidateRdata(RrType::kCaa, std::string("\0\5iss", 5)).ok());
  EXPECT_FALSE(ValidateRdata(RrType::kCaa, std::string("\0\1-", 3)).ok());
}

TEST(RdataTest, GenericRfc3597) {
  EXPECT_EQ(Wire(4321, "\\# 0"), "");
  EXPECT_EQ(Text(4321, ""), "\\# 0");
  EXPECT_EQ(Wire(4321, "\\# 4 0a 0B0c 0d"), "\x0a\x0b\x0c\x0d");
  EXPECT_EQ(Text(4321, "\x0a\x0b\x0c\x0d"), "\\# 4 0A0B0C0D");
  // Any type, validated when known.
  EXPECT_EQ(Wire(RrType::kA, "\\# 4 C0000201"), std::string("\xc0\x00\x02\x01", 4));
  EXPECT_FALSE(RdataFromText(RrType::kA, "\\# 3 C00002").ok());
  EXPECT_FALSE(RdataFromText(RrType::kNs, "\\# 3 01610000").ok());
  EXPECT_FALSE(RdataFromText(RrType::kNs, "\\# 2 0161").ok());
  EXPECT_EQ(Text(RrType::kNs, Wire(RrType::kNs, "\\# 3 016100")), "a.");
  EXPECT_FALSE(RdataFromText(4321, "\\# 2 abc").ok());
  EXPECT_FALSE(RdataFromText(4321, "\\# 2 abcdef").ok());
  EXPECT_FALSE(RdataFromText(4321, "\\# x").ok());
  EXPECT_FALSE(RdataFromText(4321, "\\#").ok());
  EXPECT_FALSE(RdataFromText(4321, "\\# 1 zz").ok());
  // A quoted "\#" is a TXT string, not the generic form.
  EXPECT_EQ(Wire(RrType::kTxt, "\"\\\\#\""), std::string("\2\\#", 3));
}

TEST(RdataTest, ValidateEmbeddedNames) {
  EXPECT_TRUE(ValidateRdata(RrType::kNs, std::string("\2ns\0", 4)).ok());
  EXPECT_FALSE(ValidateRdata(RrType::kNs, std::string("\2ns", 3)).ok());
  EXPECT_FALSE(ValidateRdata(RrType::kNs, std::string("\2ns\0\0", 5)).ok());
  EXPECT_FALSE(ValidateRdata(RrType::kCname, std::string("\xc0\x0c", 2)).ok());
  EXPECT_FALSE(ValidateRdata(RrType::kMx, std::string("\0", 1)).ok());
  EXPECT_FALSE(ValidateRdata(RrType::kSrv, std::string("\0\0\0\0\0", 5)).ok());
  EXPECT_TRUE(ValidateRdata(RrType::kSrv, std::string("\0\0\0\0\0\0\0", 7)).ok());
  EXPECT_FALSE(ValidateRdata(RrType::kSoa, std::string("\0\0", 2)).ok());
  EXPECT_TRUE(ValidateRdata(4321, "anything").ok());
  EXPECT_FALSE(ValidateRdata(4321, std::string(65536, 'x')).ok());
  EXPECT_TRUE(ValidateRdata(RrType::kOpt, std::string("\0\x0a\0\2ab", 6)).ok());
  EXPECT_FALSE(ValidateRdata(RrType::kOpt, std::string("\0\x0a\0\3ab", 6)).ok());
}

TEST(RdataTest, TargetNameAndCanonical) {
  EXPECT_EQ(RdataTargetName(RrType::kMx, Wire(RrType::kMx, "10 Mail.Example."))->ToText(),
            "Mail.Example.");
  EXPECT_EQ(RdataTargetName(RrType::kSrv, Wire(RrType::kSrv, "1 2 3 sip.example."))->ToText(),
            "sip.example.");
  EXPECT_EQ(RdataTargetName(RrType::kCname, Wire(RrType::kCname, "x.example."))->ToText(),
            "x.example.");
  EXPECT_EQ(RdataTargetName(RrType::kA, Wire(RrType::kA, "1.2.3.4")), std::nullopt);
  EXPECT_EQ(RdataTargetName(RrType::kSoa, Wire(RrType::kSoa, "a. b. 1 2 3 4 5")), std::nullopt);
  EXPECT_EQ(RdataTargetName(RrType::kMx, "\0"), std::nullopt);

  EXPECT_EQ(CanonicalRdata(RrType::kMx, Wire(RrType::kMx, "10 Mail.EXAMPLE.")),
            Wire(RrType::kMx, "10 mail.example."));
  EXPECT_EQ(CanonicalRdata(RrType::kSoa, Wire(RrType::kSoa, "NS. Host.Master. 1 2 3 4 5")),
            Wire(RrType::kSoa, "ns. host.master. 1 2 3 4 5"));
  EXPECT_EQ(CanonicalRdata(RrType::kSrv, Wire(RrType::kSrv, "1 2 3 SIP.x.")),
            Wire(RrType::kSrv, "1 2 3 sip.x."));
  // TXT and CAA are case-sensitive data.
  EXPECT_EQ(CanonicalRdata(RrType::kTxt, Wire(RrType::kTxt, "ABC")), Wire(RrType::kTxt, "ABC"));
  EXPECT_EQ(CanonicalRdata(RrType::kNs, "garbage"), "garbage");
}

TEST(RdataTest, TextRoundTripsForEveryType) {
  const std::pair<uint16_t, const char*> cases[] = {
      {RrType::kA, "0.0.0.0"},
      {RrType::kAaaa, "fe80::1:2"},
      {RrType::kNs, "a\\.b.\\000\\255.example."},
      {RrType::kCname, "\\(odd\\)\\;name\\@\\$."},
      {RrType::kPtr, "1.2.0.192.in-addr.arpa."},
      {RrType::kMx, "0 ."},
      {RrType::kTxt, "\"\" \"\\\\\" \"\\\"\" \"\\000\\255\" plain ( more ) \"x;y\""},
      {RrType::kSrv, "65535 65535 65535 target.example."},
      {RrType::kCaa, "255 issuewild \";\""},
      {RrType::kSoa, ". . 4294967295 4294967295 0 0 0"},
      {RrType::kOpt, "\\# 4 00010000"},
      {RrType::kAny, "\\# 1 00"},
      {12345, "\\# 2 ffff"},
  };
  for (const auto& [type, text] : cases) {
    SCOPED_TRACE(text);
    const std::string rdata = Wire(type, text);
    const std::string printed = Text(type, rdata);
    EXPECT_EQ(Wire(type, printed), rdata) << printed;
    EXPECT_EQ(Text(type, Wire(type, printed)), printed);
  }
}

}  // namespace
}  // namespace meshkv::dns
