#include "frontend/http/request_target.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace meshkv::http {
namespace {

using Query = std::vector<std::pair<std::string, std::string>>;
using ::testing::HasSubstr;

Query QueryOf(std::string_view target) {
  auto parsed = ParseRequestTarget(target);
  EXPECT_TRUE(parsed.ok()) << target << ": " << parsed.status().ToString();
  return parsed.ok() ? parsed->query : Query{};
}

// Expects kInvalidArgument whose message contains `fragment`.
void ExpectRejected(std::string_view target, std::string_view fragment) {
  auto parsed = ParseRequestTarget(target);
  ASSERT_FALSE(parsed.ok()) << target;
  EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument) << target;
  EXPECT_THAT(parsed.status().message(), HasSubstr(std::string(fragment))) << target;
}

TEST(ParseRequestTargetTest, PathWithoutQuery) {
  auto parsed = ParseRequestTarget("/v1/kv/a");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->path, "/v1/kv/a");
  EXPECT_TRUE(parsed->query.empty());
}

TEST(ParseRequestTargetTest, PathStaysPercentEncoded) {
  auto parsed = ParseRequestTarget("/v1/kv/a%2Fb+c%20d?ns=x");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->path, "/v1/kv/a%2Fb+c%20d");
  // Escapes in the path are decoded by the route, not here.
  EXPECT_TRUE(ParseRequestTarget("/v1/kv/%zz").ok());
}

TEST(ParseRequestTargetTest, PathMustStartWithSlash) {
  ExpectRejected("", "must start with '/'");
  ExpectRejected("v1/kv", "must start with '/'");
  ExpectRejected("?a=b", "must start with '/'");
  ExpectRejected("*", "must start with '/'");
  ExpectRejected("http://host/v1/kv", "must start with '/'");
}

TEST(ParseRequestTargetTest, DecodesQueryInOrder) {
  EXPECT_EQ(QueryOf("/p?b=2&a=1&c=x%20y"), (Query{{"b", "2"}, {"a", "1"}, {"c", "x y"}}));
}

TEST(ParseRequestTargetTest, PlusIsSpaceInNamesAndValues) {
  EXPECT_EQ(QueryOf("/p?a+b=c+d"), (Query{{"a b", "c d"}}));
  EXPECT_EQ(QueryOf("/p?prefix=a%2Bb+c"), (Query{{"prefix", "a+b c"}}));
  EXPECT_EQ(QueryOf("/p?v=+"), (Query{{"v", " "}}));
}

TEST(ParseRequestTargetTest, EmptyValues) {
  EXPECT_EQ(QueryOf("/p?a=&b"), (Query{{"a", ""}, {"b", ""}}));
  EXPECT_EQ(QueryOf("/p?keys_only"), (Query{{"keys_only", ""}}));
}

TEST(ParseRequestTargetTest, EmptySegmentsAreSkipped) {
  EXPECT_EQ(QueryOf("/p?"), Query{});
  EXPECT_EQ(QueryOf("/p?&"), Query{});
  EXPECT_EQ(QueryOf("/p?&&a=1&&b=2&"), (Query{{"a", "1"}, {"b", "2"}}));
}

TEST(ParseRequestTargetTest, ValueKeepsLaterEqualsAndQuestionMarks) {
  EXPECT_EQ(QueryOf("/p?a=b=c"), (Query{{"a", "b=c"}}));
  EXPECT_EQ(QueryOf("/p?a=?b"), (Query{{"a", "?b"}}));
  EXPECT_EQ(QueryOf("/p?a=%26%3D"), (Query{{"a", "&="}}));
}

TEST(ParseRequestTargetTest, NulAndHighBytes) {
  EXPECT_EQ(QueryOf("/p?a=%00%FF%fe"), (Query{{"a", std::string("\0\xff\xfe", 3)}}));
  EXPECT_EQ(QueryOf("/p?%00=1"), (Query{{std::string(1, '\0'), "1"}}));
}

TEST(ParseRequestTargetTest, DuplicateNamesRejected) {
  ExpectRejected("/p?a=1&a=2", "'a' is given more than once");
  ExpectRejected("/p?a&a", "more than once");
  // Duplicates are found after decoding.
  ExpectRejected("/p?a=1&%61=2", "'a' is given more than once");
  ExpectRejected("/p?a+b=1&a%20b=2", "'a b' is given more than once");
  // Names differing only in case are different names.
  EXPECT_EQ(QueryOf("/p?a=1&A=2"), (Query{{"a", "1"}, {"A", "2"}}));
}

TEST(ParseRequestTargetTest, EmptyNamesRejected) {
  ExpectRejected("/p?=x", "empty name");
  ExpectRejected("/p?=", "empty name");
  ExpectRejected("/p?a=1&=2", "empty name");
}

TEST(ParseRequestTargetTest, BadEscapesRejected) {
  // At the end of a value or name.
  ExpectRejected("/p?a=%", "query parameter 'a': bad percent escape");
  ExpectRejected("/p?a=%4", "query parameter 'a': bad percent escape");
  ExpectRejected("/p?a=x%4", "query parameter 'a': bad percent escape at byte 1");
  ExpectRejected("/p?a%", "query parameter name: bad percent escape");
  // In the middle.
  ExpectRejected("/p?a=%zz1", "query parameter 'a': bad percent escape at byte 0");
  ExpectRejected("/p?a=1%4g2", "bad percent escape at byte 1");
  ExpectRejected("/p?a=%g41", "bad percent escape");
  ExpectRejected("/p?%zz=1", "query parameter name: bad percent escape");
  ExpectRejected("/p?ok=1&a=%4&b=2", "query parameter 'a'");
  // The '&' after a truncated escape is a separator, not a hex digit.
  ExpectRejected("/p?a=%4&b=1", "bad percent escape");
}

TEST(PercentDecodeTest, Decodes) {
  EXPECT_EQ(*PercentDecode(""), "");
  EXPECT_EQ(*PercentDecode("abc"), "abc");
  EXPECT_EQ(*PercentDecode("a%20b"), "a b");
  EXPECT_EQ(*PercentDecode("%41"), "A");
  EXPECT_EQ(*PercentDecode("x%41"), "xA");
  EXPECT_EQ(*PercentDecode("%2f%2F"), "//");
  EXPECT_EQ(*PercentDecode("%00"), std::string(1, '\0'));
  EXPECT_EQ(*PercentDecode("%FF%ff%Ff"), "\xff\xff\xff");
  EXPECT_EQ(*PercentDecode("%2525"), "%25");
}

TEST(PercentDecodeTest, PlusIsKeptUnlessAskedOtherwise) {
  EXPECT_EQ(*PercentDecode("a+b"), "a+b");
  EXPECT_EQ(*PercentDecode("a+b", /*plus_is_space=*/true), "a b");
  EXPECT_EQ(*PercentDecode("%2B", /*plus_is_space=*/true), "+");
}

TEST(PercentDecodeTest, BadEscapes) {
  for (std::string_view text :
       {"%", "%4", "a%", "a%4", "%zz", "%4g", "%g4", "a%zzb", "%%41", "%+1", "% 1", "%-1"}) {
    auto decoded = PercentDecode(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.status().code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_THAT(decoded.status().message(), HasSubstr("two hex digits")) << text;
  }
  EXPECT_THAT(PercentDecode("ab%zz").status().message(), HasSubstr("at byte 2"));
  EXPECT_THAT(PercentDecode("%41%4").status().message(), HasSubstr("at byte 3"));
}

}  // namespace
}  // namespace meshkv::http
