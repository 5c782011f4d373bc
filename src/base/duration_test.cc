#include "base/duration.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

namespace meshkv {
namespace {

TEST(ParseDurationTest, Units) {
  EXPECT_EQ(*ParseDurationMillis("500ms"), 500);
  EXPECT_EQ(*ParseDurationMillis("30s"), 30'000);
  EXPECT_EQ(*ParseDurationMillis("5m"), 300'000);
  EXPECT_EQ(*ParseDurationMillis("2h"), 7'200'000);
  EXPECT_EQ(*ParseDurationMillis("1d"), 86'400'000);
  EXPECT_EQ(*ParseDurationMillis("1ms"), 1);
}

TEST(ParseDurationTest, SumsAndZero) {
  EXPECT_EQ(*ParseDurationMillis("1h30m"), 5'400'000);
  EXPECT_EQ(*ParseDurationMillis("1s500ms"), 1'500);
  EXPECT_EQ(*ParseDurationMillis("1d2h3m4s5ms"), 86'400'000 + 7'200'000 + 180'000 + 4'000 + 5);
  EXPECT_EQ(*ParseDurationMillis("0"), 0);
  EXPECT_EQ(*ParseDurationMillis("0s"), 0);
  EXPECT_EQ(*ParseDurationMillis("0ms"), 0);
  EXPECT_EQ(*ParseDurationMillis("007s"), 7'000);
}

void ExpectRejected(std::string_view text, std::string_view fragment) {
  auto parsed = ParseDurationMillis(text);
  ASSERT_FALSE(parsed.ok()) << "'" << text << "' parsed as " << *parsed;
  EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find(fragment), std::string::npos)
      << "'" << text << "': " << parsed.status().message();
}

TEST(ParseDurationTest, RejectsMistakes) {
  ExpectRejected("", "empty duration");
  ExpectRejected("5", "missing a unit");
  ExpectRejected("1s5", "missing a unit");
  ExpectRejected("5x", "unknown unit 'x'");
  ExpectRejected("5sec", "unknown unit 'sec'");
  ExpectRejected("5S", "unknown unit 'S'");
  ExpectRejected("5us", "unknown unit 'us'");
  ExpectRejected("s", "must be a number followed by a unit");
  ExpectRejected("-5s", "must be a number followed by a unit");
  ExpectRejected("+5s", "must be a number followed by a unit");
  ExpectRejected(" 5s", "must be a number followed by a unit");
  ExpectRejected("5s ", "unknown unit 's '");
  ExpectRejected("5 s", "unknown unit ' s'");
  ExpectRejected("1.5s", "unknown unit '.'");
  ExpectRejected("00", "missing a unit");
}

TEST(ParseDurationTest, RejectsOverflow) {
  ExpectRejected("99999999999999999999ms", "too large");
  ExpectRejected("9223372036854775807d", "too large");
  ExpectRejected("106751991168d", "too large");  // just above int64 max in ms
  ExpectRejected("9223372036854775000ms1s", "too large");
  EXPECT_EQ(*ParseDurationMillis("106751991167d"), int64_t{106751991167} * 86'400'000);
}

TEST(ParseDurationTest, ErrorMessagesAreBounded) {
  std::string huge(10'000, 'x');
  auto parsed = ParseDurationMillis("5" + huge);
  ASSERT_FALSE(parsed.ok());
  EXPECT_LT(parsed.status().message().size(), 300u);
}

TEST(FormatDurationTest, ShortestExactSpelling) {
  EXPECT_EQ(FormatDurationMillis(0), "0s");
  EXPECT_EQ(FormatDurationMillis(1), "1ms");
  EXPECT_EQ(FormatDurationMillis(500), "500ms");
  EXPECT_EQ(FormatDurationMillis(1'500), "1s500ms");
  EXPECT_EQ(FormatDurationMillis(30'000), "30s");
  EXPECT_EQ(FormatDurationMillis(90'000), "1m30s");
  EXPECT_EQ(FormatDurationMillis(3'600'000), "1h");
  EXPECT_EQ(FormatDurationMillis(86'400'000), "1d");
  EXPECT_EQ(FormatDurationMillis(90'061'001), "1d1h1m1s1ms");
  EXPECT_EQ(FormatDurationMillis(-1'500), "-1s500ms");
}

TEST(FormatDurationTest, RoundTripsThroughParse) {
  std::mt19937_64 rng(20240601);
  std::uniform_int_distribution<int64_t> small(0, 10'000'000);
  std::uniform_int_distribution<int64_t> large(0, std::numeric_limits<int64_t>::max());
  for (int i = 0; i < 5000; ++i) {
    int64_t millis = i % 2 == 0 ? small(rng) : large(rng);
    auto parsed = ParseDurationMillis(FormatDurationMillis(millis));
    ASSERT_TRUE(parsed.ok()) << millis << ": " << parsed.status().ToString();
    ASSERT_EQ(*parsed, millis);
  }
  int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(*ParseDurationMillis(FormatDurationMillis(max)), max);
}

}  // namespace
}  // namespace meshkv
