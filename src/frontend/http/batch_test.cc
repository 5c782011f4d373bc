#include "frontend/http/batch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "model/entry.h"

namespace meshkv::http {
namespace {

using ::testing::HasSubstr;

// Expects kInvalidArgument whose message contains `fragment`.
void ExpectRejected(std::string_view body, std::string_view fragment) {
  auto parsed = ParseBatchRequest(body);
  ASSERT_FALSE(parsed.ok()) << body;
  EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument) << body;
  EXPECT_THAT(parsed.status().message(), HasSubstr(std::string(fragment))) << body;
}

// A body whose only op is `op` (a JSON object).
std::string OneOp(std::string_view op) {
  return "{\"ops\":[" + std::string(op) + "]}";
}

// A body with `count` get ops.
std::string ManyGets(size_t count) {
  std::string body = "{\"ops\":[";
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) body += ',';
    body += "{\"op\":\"get\",\"key\":\"k" + std::to_string(i) + "\"}";
  }
  return body + "]}";
}

TEST(ParseBatchRequestTest, DocumentedExample) {
  auto parsed = ParseBatchRequest(R"({"ns":"default","consistency":"quorum","ops":[
      {"op":"put","key":"a","value":"aGVsbG8=","ttl":"30s"},
      {"op":"get","key":"b"},
      {"op":"delete","key_b64":"Yw=="}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->ns, "default");
  EXPECT_EQ(parsed->consistency, Consistency::kQuorum);
  ASSERT_EQ(parsed->ops.size(), 3u);
  EXPECT_EQ(parsed->ops[0].kind, BatchOp::Kind::kPut);
  EXPECT_EQ(parsed->ops[0].key, "a");
  EXPECT_EQ(parsed->ops[0].value, "hello");
  EXPECT_EQ(parsed->ops[0].ttl_ms, 30'000);
  EXPECT_EQ(parsed->ops[1].kind, BatchOp::Kind::kGet);
  EXPECT_EQ(parsed->ops[1].key, "b");
  EXPECT_EQ(parsed->ops[1].ttl_ms, std::nullopt);
  EXPECT_EQ(parsed->ops[2].kind, BatchOp::Kind::kDelete);
  EXPECT_EQ(parsed->ops[2].key, "c");
}

TEST(ParseBatchRequestTest, Defaults) {
  auto parsed = ParseBatchRequest(OneOp(R"({"op":"get","key":"k"})"));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->ns, "default");
  EXPECT_EQ(parsed->consistency, std::nullopt);
}

TEST(ParseBatchRequestTest, BatchOpNames) {
  EXPECT_EQ(BatchOpName(BatchOp::Kind::kGet), "get");
  EXPECT_EQ(BatchOpName(BatchOp::Kind::kPut), "put");
  EXPECT_EQ(BatchOpName(BatchOp::Kind::kDelete), "delete");
}

TEST(ParseBatchRequestTest, NotJson) {
  for (std::string_view body : {"", "{", "nope", "{\"ops\":[]", "{'ops':[]}",
                                "{\"ops\":[{\"op\":\"get\",\"key\":\"a\"}]} trailing"}) {
    ExpectRejected(body, "not valid JSON");
  }
  // Invalid UTF-8 inside a JSON string is not JSON either.
  ExpectRejected("{\"ops\":[{\"op\":\"get\",\"key\":\"\xff\"}]}", "not valid JSON");
}

TEST(ParseBatchRequestTest, NotAnObject) {
  for (std::string_view body : {"[]", "1", "\"ops\"", "null", "true"}) {
    ExpectRejected(body, "must be a JSON object with \"ops\"");
  }
}

TEST(ParseBatchRequestTest, Namespace) {
  auto parsed = ParseBatchRequest(R"({"ns":"cache","ops":[{"op":"get","key":"k"}]})");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->ns, "cache");
  for (std::string_view ns : {"1", "null", "[]", "{}", "true"}) {
    ExpectRejected(R"({"ns":)" + std::string(ns) + R"(,"ops":[{"op":"get","key":"k"}]})",
                   "\"ns\" must be a string");
  }
}

TEST(ParseBatchRequestTest, Consistency) {
  for (auto [name, expected] :
       {std::pair{"one", Consistency::kOne}, std::pair{"quorum", Consistency::kQuorum},
        std::pair{"all", Consistency::kAll}}) {
    auto parsed = ParseBatchRequest(R"({"consistency":")" + std::string(name) +
                                    R"(","ops":[{"op":"get","key":"k"}]})");
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(parsed->consistency, expected);
  }
  ExpectRejected(R"({"consistency":1,"ops":[{"op":"get","key":"k"}]})",
                 "\"consistency\" must be a string");
  ExpectRejected(R"({"consistency":null,"ops":[{"op":"get","key":"k"}]})",
                 "\"consistency\" must be a string");
  auto bad = ParseBatchRequest(R"({"consistency":"strong","ops":[{"op":"get","key":"k"}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
}

TEST(ParseBatchRequestTest, UnknownTopLevelField) {
  ExpectRejected(R"({"namespace":"x","ops":[{"op":"get","key":"k"}]})",
                 "unknown field \"namespace\"; expected ns, consistency, ops");
}

TEST(ParseBatchRequestTest, OpsMustBeANonEmptyArray) {
  ExpectRejected("{}", "needs \"ops\": an array");
  ExpectRejected(R"({"ns":"default"})", "needs \"ops\": an array");
  ExpectRejected(R"({"ops":{}})", "needs \"ops\": an array");
  ExpectRejected(R"({"ops":"get"})", "needs \"ops\": an array");
  ExpectRejected(R"({"ops":null})", "needs \"ops\": an array");
  ExpectRejected(R"({"ops":[]})", "\"ops\" must not be empty");
}

TEST(ParseBatchRequestTest, OpCountLimit) {
  auto at_limit = ParseBatchRequest(ManyGets(kMaxBatchOps));
  ASSERT_TRUE(at_limit.ok()) << at_limit.status().ToString();
  EXPECT_EQ(at_limit->ops.size(), kMaxBatchOps);
  EXPECT_EQ(at_limit->ops.back().key, "k999");
  ExpectRejected(ManyGets(kMaxBatchOps + 1), "batch has 1001 ops; the limit is 1000");
}

TEST(ParseBatchRequestTest, OpMustBeAnObject) {
  ExpectRejected(R"({"ops":[{"op":"get","key":"a"},"get"]})", "ops[1]: must be an object");
  ExpectRejected(R"({"ops":[null]})", "ops[0]: must be an object");
  ExpectRejected(R"({"ops":[[]]})", "ops[0]: must be an object");
}

TEST(ParseBatchRequestTest, OpName) {
  ExpectRejected(OneOp(R"({"op":1,"key":"a"})"), "ops[0]: \"op\" must be a string");
  ExpectRejected(OneOp(R"({"op":null,"key":"a"})"), "ops[0]: \"op\" must be a string");
  ExpectRejected(OneOp(R"({"op":"frob","key":"a"})"),
                 "ops[0]: unknown op \"frob\"; use get, put or delete");
  ExpectRejected(OneOp(R"({"op":"GET","key":"a"})"), "unknown op \"GET\"");
  ExpectRejected(OneOp(R"({"key":"a"})"), "ops[0]: missing \"op\"");
}

TEST(ParseBatchRequestTest, ErrorsNameTheOpIndex) {
  ExpectRejected(R"({"ops":[{"op":"get","key":"a"},{"op":"get","key":"b"},{"op":"get"}]})",
                 "ops[2]: missing \"key\"");
  ExpectRejected(R"({"ops":[{"op":"get","key":"a"},{"op":"put","key":"b"}]})",
                 "ops[1]: put needs \"value\"");
}

TEST(ParseBatchRequestTest, KeyAsString) {
  auto parsed = ParseBatchRequest(OneOp(R"({"op":"get","key":"a/b c\u00e9\u0000"})"));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->ops[0].key, std::string("a/b c\xc3\xa9\0", 8));
}

TEST(ParseBatchRequestTest, KeyAsBase64) {
  auto parsed = ParseBatchRequest(OneOp(R"({"op":"get","key_b64":"AP8="})"));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->ops[0].key, std::string("\0\xff", 2));
  ExpectRejected(OneOp(R"({"op":"get","key_b64":"AP8"})"), "ops[0]: \"key_b64\": base64");
  ExpectRejected(OneOp(R"({"op":"get","key_b64":"A!8="})"), "ops[0]: \"key_b64\": base64");
  ExpectRejected(OneOp(R"({"op":"get","key_b64":"YR=="})"), "ops[0]: \"key_b64\": base64");
}

TEST(ParseBatchRequestTest, ExactlyOneOfKeyAndKeyBase64) {
  ExpectRejected(OneOp(R"({"op":"get","key":"a","key_b64":"YQ=="})"),
                 "ops[0]: give exactly one of \"key\" and \"key_b64\"");
  ExpectRejected(OneOp(R"({"key_b64":"YQ==","op":"get","key":"a"})"), "give exactly one");
  ExpectRejected(OneOp(R"({"op":"get"})"), "ops[0]: missing \"key\" (or \"key_b64\")");
}

TEST(ParseBatchRequestTest, KeyTypes) {
  for (std::string_view value : {"1", "null", "true", "[]", "{}"}) {
    ExpectRejected(OneOp(R"({"op":"get","key":)" + std::string(value) + "}"),
                   "ops[0]: \"key\" must be a string");
    ExpectRejected(OneOp(R"({"op":"get","key_b64":)" + std::string(value) + "}"),
                   "ops[0]: \"key_b64\" must be a string");
  }
}

TEST(ParseBatchRequestTest, KeyLength) {
  ExpectRejected(OneOp(R"({"op":"get","key":""})"), "ops[0]: key must not be empty");
  ExpectRejected(OneOp(R"({"op":"get","key_b64":""})"), "ops[0]: key must not be empty");
  const std::string longest(kMaxKeyBytes, 'k');
  EXPECT_TRUE(ParseBatchRequest(OneOp(R"({"op":"get","key":")" + longest + "\"}")).ok());
  ExpectRejected(OneOp(R"({"op":"get","key":")" + longest + "k\"}"),
                 "ops[0]: key is 1025 bytes; the limit is 1024");
}

TEST(ParseBatchRequestTest, Value) {
  auto parsed = ParseBatchRequest(OneOp(R"({"op":"put","key":"k","value":"AP8A"})"));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->ops[0].value, std::string("\0\xff\0", 3));
  EXPECT_EQ(parsed->ops[0].ttl_ms, std::nullopt);

  auto empty = ParseBatchRequest(OneOp(R"({"op":"put","key":"k","value":""})"));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->ops[0].value, "");

  for (std::string_view value : {"1", "null", "true", "[]", "{}"}) {
    ExpectRejected(OneOp(R"({"op":"put","key":"k","value":)" + std::string(value) + "}"),
                   "ops[0]: \"value\" must be a base64 string");
  }
}

TEST(ParseBatchRequestTest, ValueBase64IsStrict) {
  // Unpadded, base64url alphabet, whitespace, bad padding, non-zero trailing bits.
  for (std::string_view value : {"YQ", "YQ=", "-_8=", "_w==", "YQ== ", " YQ==", "Y Q==", "YQ\\n==",
                                 "====", "Y===", "YR==", "YWI=YQ==", "YWJ=", "aGVsbG8"}) {
    ExpectRejected(OneOp(R"({"op":"put","key":"k","value":")" + std::string(value) + "\"}"),
                   "ops[0]: \"value\": base64");
  }
}

TEST(ParseBatchRequestTest, Ttl) {
  auto parsed = ParseBatchRequest(OneOp(R"({"op":"put","key":"k","value":"","ttl":"1h30m"})"));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->ops[0].ttl_ms, 5'400'000);

  auto zero = ParseBatchRequest(OneOp(R"({"op":"put","key":"k","value":"","ttl":"0s"})"));
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->ops[0].ttl_ms, 0);

  ExpectRejected(OneOp(R"({"op":"put","key":"k","value":"","ttl":30})"),
                 "ops[0]: \"ttl\" must be a duration string like \"30s\"");
  ExpectRejected(OneOp(R"({"op":"put","key":"k","value":"","ttl":null})"),
                 "\"ttl\" must be a duration string");
  ExpectRejected(OneOp(R"({"op":"put","key":"k","value":"","ttl":"5y"})"),
                 "ops[0]: \"ttl\": duration '5y' has unknown unit");
  ExpectRejected(OneOp(R"({"op":"put","key":"k","value":"","ttl":""})"), "ops[0]: \"ttl\": ");
  ExpectRejected(OneOp(R"({"op":"put","key":"k","value":"","ttl":"-1s"})"), "ops[0]: \"ttl\": ");
}

TEST(ParseBatchRequestTest, ValueAndTtlOnlyOnPut) {
  ExpectRejected(OneOp(R"({"op":"get","key":"k","value":"YQ=="})"),
                 "ops[0]: \"value\" and \"ttl\" apply only to put");
  ExpectRejected(OneOp(R"({"op":"delete","key":"k","value":""})"), "apply only to put");
  ExpectRejected(OneOp(R"({"op":"get","key":"k","ttl":"1s"})"), "apply only to put");
  ExpectRejected(OneOp(R"({"op":"delete","key":"k","ttl":"0s"})"), "apply only to put");
  ExpectRejected(OneOp(R"({"op":"put","key":"k","ttl":"1s"})"), "ops[0]: put needs \"value\"");
}

TEST(ParseBatchRequestTest, UnknownOpField) {
  ExpectRejected(OneOp(R"({"op":"get","key":"k","consistency":"one"})"),
                 "ops[0]: unknown field \"consistency\"");
  ExpectRejected(OneOp(R"({"op":"get","key":"k","Key":"k"})"), "ops[0]: unknown field \"Key\"");
}

}  // namespace
}  // namespace meshkv::http
