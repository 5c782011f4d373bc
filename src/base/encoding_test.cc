#include "base/encoding.h"

#include <gtest/gtest.h>

#include <random>

namespace meshkv {
namespace {

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

TEST(HexTest, KnownValues) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode(std::string("\x00\x01\x7f\x80\xff", 5)), "00017f80ff");
  EXPECT_EQ(HexEncode("meshkv"), "6d6573686b76");
  EXPECT_EQ(*HexDecode("6d6573686b76"), "meshkv");
  EXPECT_EQ(*HexDecode("00FFaB"), std::string("\x00\xff\xab", 3));  // either case
  EXPECT_EQ(*HexDecode(""), "");
}

TEST(HexTest, RejectsMalformed) {
  for (std::string_view bad : {"0", "abc", "zz", "0g", "g0", " 00", "00 ", "0x00", "-1"}) {
    auto decoded = HexDecode(bad);
    EXPECT_FALSE(decoded.ok()) << bad;
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), ErrorCode::kInvalidArgument);
    }
  }
}

// RFC 4648 section 10 test vectors.
struct Vector {
  std::string_view plain, base64, base64url;
};
constexpr Vector kRfcVectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

TEST(Base64Test, RfcVectors) {
  for (const Vector& v : kRfcVectors) {
    EXPECT_EQ(Base64Encode(v.plain), v.base64);
    EXPECT_EQ(Base64UrlEncode(v.plain), v.base64url);
    auto decoded = Base64Decode(v.base64);
    ASSERT_TRUE(decoded.ok()) << v.base64;
    EXPECT_EQ(*decoded, v.plain);
    auto decoded_url = Base64UrlDecode(v.base64url);
    ASSERT_TRUE(decoded_url.ok()) << v.base64url;
    EXPECT_EQ(*decoded_url, v.plain);
  }
}

TEST(Base64Test, AlphabetsDiffer) {
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(Base64Encode(bytes), "+/+/");
  EXPECT_EQ(Base64UrlEncode(bytes), "-_-_");
  EXPECT_FALSE(Base64Decode("-_-_").ok());
  EXPECT_FALSE(Base64UrlDecode("+/+/").ok());
}

TEST(Base64Test, RandomRoundTrips) {
  std::mt19937_64 rng(42);
  for (size_t n = 0; n < 300; ++n) {
    for (int repeat = 0; repeat < 5; ++repeat) {
      std::string bytes = RandomBytes(rng, n);
      std::string encoded = Base64Encode(bytes);
      ASSERT_EQ(encoded.size() % 4, 0u);
      auto decoded = Base64Decode(encoded);
      ASSERT_TRUE(decoded.ok()) << encoded;
      ASSERT_EQ(*decoded, bytes);

      std::string url = Base64UrlEncode(bytes);
      ASSERT_EQ(url.find_first_of("+/="), std::string::npos);
      auto decoded_url = Base64UrlDecode(url);
      ASSERT_TRUE(decoded_url.ok()) << url;
      ASSERT_EQ(*decoded_url, bytes);

      auto decoded_hex = HexDecode(HexEncode(bytes));
      ASSERT_TRUE(decoded_hex.ok());
      ASSERT_EQ(*decoded_hex, bytes);
    }
  }
}

TEST(Base64Test, StrictDecodeRejects) {
  for (std::string_view bad : {
           "Zg=",       // length not a multiple of 4
           "Zg",        // padding required
           "Z===",      // too much padding
           "====",      // padding only
           "=Zg=",      // padding in front
           "Zg=A",      // padding in the middle
           "Zm9v====",  // padding after a full group
           "Zh==",      // non-zero trailing bits ("Zg==" is the only spelling of "f")
           "Zm9=",      // non-zero trailing bits
           "Zm9v!A==",  // outside the alphabet
           "Zm 9v",     // whitespace
           "Zm9v\n",    // newline
           "-_-_",      // url alphabet
       }) {
    auto decoded = Base64Decode(bad);
    EXPECT_FALSE(decoded.ok()) << "'" << bad << "' decoded";
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), ErrorCode::kInvalidArgument);
    }
  }
}

TEST(Base64UrlTest, StrictDecodeRejects) {
  for (std::string_view bad : {
           "Z",       // a lone character carries fewer than 8 bits
           "Zm9vY",   // same after a full group
           "Zg==",    // padding is not used
           "Zm8=",    // padding is not used
           "Zh",      // non-zero trailing bits
           "+/+/",    // standard alphabet
           "Zm9v.A",  // outside the alphabet
       }) {
    auto decoded = Base64UrlDecode(bad);
    EXPECT_FALSE(decoded.ok()) << "'" << bad << "' decoded";
  }
}

TEST(Base64Test, EveryByteStringHasOneEncoding) {
  // Flipping any character of a valid encoding changes the decoded bytes or
  // makes it invalid; it never decodes to the same bytes.
  std::mt19937_64 rng(7);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int i = 0; i < 500; ++i) {
    std::string bytes = RandomBytes(rng, 1 + rng() % 40);
    std::string url = Base64UrlEncode(bytes);
    size_t at = rng() % url.size();
    char replacement = alphabet[rng() % 64];
    if (replacement == url[at]) continue;
    url[at] = replacement;
    auto decoded = Base64UrlDecode(url);
    if (decoded.ok()) {
      ASSERT_NE(*decoded, bytes) << url;
    }
  }
}

TEST(Utf8Test, AcceptsWellFormed) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii / keys"));
  EXPECT_TRUE(IsValidUtf8(std::string("nul\0inside", 10)));
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9llo"));      // é
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac"));      // €
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));  // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF, the last code point
  EXPECT_TRUE(IsValidUtf8("\xed\x9f\xbf"));      // U+D7FF, just below surrogates
  EXPECT_TRUE(IsValidUtf8("\xee\x80\x80"));      // U+E000, just above surrogates
}

TEST(Utf8Test, RejectsMalformed) {
  for (std::string_view bad : {
           "\x80",              // lone continuation byte
           "\xbf",              // lone continuation byte
           "\xc3",              // truncated 2-byte sequence
           "\xe2\x82",          // truncated 3-byte sequence
           "\xf0\x9f\x98",      // truncated 4-byte sequence
           "\xc3\x28",          // bad continuation
           "\xc0\xaf",          // overlong '/'
           "\xc1\xbf",          // overlong
           "\xe0\x80\xaf",      // overlong
           "\xf0\x80\x80\xaf",  // overlong
           "\xed\xa0\x80",      // U+D800, a surrogate
           "\xed\xbf\xbf",      // U+DFFF, a surrogate
           "\xf4\x90\x80\x80",  // above U+10FFFF
           "\xf8\x88\x80\x80\x80",
           "\xfe",
           "\xff",
           "ok\xffok",
       }) {
    EXPECT_FALSE(IsValidUtf8(bad)) << HexEncode(bad);
  }
}

TEST(FixedTest, LittleEndianRoundTrip) {
  std::string out;
  PutFixed64(out, 0x0102030405060708ull);
  ASSERT_EQ(out.size(), 8u);
  EXPECT_EQ(HexEncode(out), "0807060504030201");
  EXPECT_EQ(GetFixed64(out.data()), 0x0102030405060708ull);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = rng();
    std::string buf = "x";  // unaligned on purpose
    PutFixed64(buf, v);
    ASSERT_EQ(GetFixed64(buf.data() + 1), v);
  }
  std::string max;
  PutFixed64(max, ~uint64_t{0});
  EXPECT_EQ(GetFixed64(max.data()), ~uint64_t{0});
}

}  // namespace
}  // namespace meshkv
