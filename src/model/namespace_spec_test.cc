#include "model/namespace_spec.h"

#include <gtest/gtest.h>

namespace meshkv {
namespace {

NamespaceSpec Named(std::string name) {
  NamespaceSpec spec;
  spec.name = std::move(name);
  return spec;
}

void ExpectInvalid(const NamespaceSpec& spec, std::string_view fragment) {
  Status status = spec.Validate();
  ASSERT_FALSE(status.ok()) << "expected: " << fragment;
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
}

TEST(ConsistencyTest, NamesRoundTrip) {
  for (Consistency c : {Consistency::kOne, Consistency::kQuorum, Consistency::kAll}) {
    auto parsed = ParseConsistency(ConsistencyName(c));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, c);
  }
  EXPECT_EQ(ConsistencyName(Consistency::kQuorum), "quorum");
  for (std::string_view bad : {"", "QUORUM", "two", "majority", "all "}) {
    auto parsed = ParseConsistency(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find("one, quorum, all"), std::string::npos);
  }
}

TEST(SyncPolicyTest, Names) {
  EXPECT_EQ(SyncPolicyName(SyncPolicy::kLastWriterWins), "lww");
  EXPECT_EQ(SyncPolicyName(SyncPolicy::kPrimaryWriter), "primary_writer");
}

TEST(NamespaceNameTest, Rules) {
  for (std::string_view good : {"a", "app", "dns", "a-b_c9", "x0"}) {
    EXPECT_TRUE(ValidateNamespaceName(good).ok()) << good;
  }
  EXPECT_TRUE(ValidateNamespaceName(std::string(64, 'a')).ok());
  EXPECT_FALSE(ValidateNamespaceName(std::string(65, 'a')).ok());
  for (std::string_view bad : {"", "1abc", "App", "aB", "a.b", "_a", "-a", "a b", "a/b", "ü"}) {
    Status status = ValidateNamespaceName(bad);
    EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ValidateNamespaceName("1abc").message().find("must start with a lowercase letter"),
            std::string::npos);
  EXPECT_NE(ValidateNamespaceName("a.b").message().find("a-z, 0-9, '_' and '-'"),
            std::string::npos);
}

TEST(NamespaceSpecTest, DefaultsAreValid) {
  NamespaceSpec spec = Named("app");
  EXPECT_EQ(spec.replicas, 3);
  EXPECT_EQ(spec.consistency, Consistency::kQuorum);
  EXPECT_EQ(spec.sync_policy, SyncPolicy::kLastWriterWins);
  EXPECT_EQ(spec.default_ttl_ms, 0);
  EXPECT_EQ(spec.max_value_bytes, 1 << 20);
  EXPECT_EQ(spec.storage, StorageKind::kDisk);
  EXPECT_TRUE(spec.Validate().ok());
}

TEST(NamespaceSpecTest, Replicas) {
  NamespaceSpec spec = Named("app");
  for (int ok : {1, 2, 16, NamespaceSpec::kReplicasAll}) {
    spec.replicas = ok;
    EXPECT_TRUE(spec.Validate().ok()) << ok;
  }
  for (int bad : {0, 17, -2, 1000}) {
    spec.replicas = bad;
    ExpectInvalid(spec, "replicas must be 1..16 or \"all\"");
  }
}

TEST(NamespaceSpecTest, PrimaryWriterNeedsWriters) {
  NamespaceSpec spec = Named("app");
  spec.sync_policy = SyncPolicy::kPrimaryWriter;
  ExpectInvalid(spec, "needs a non-empty writers list");
  spec.writers = {NodeId(1), NodeId(2)};
  EXPECT_TRUE(spec.Validate().ok());
  spec.sync_policy = SyncPolicy::kLastWriterWins;
  ExpectInvalid(spec, "writers is only meaningful with sync_policy = \"primary_writer\"");
}

TEST(NamespaceSpecTest, TtlAndValueSize) {
  NamespaceSpec spec = Named("app");
  spec.default_ttl_ms = -1;
  ExpectInvalid(spec, "default_ttl must not be negative");
  spec.default_ttl_ms = 86'400'000;
  EXPECT_TRUE(spec.Validate().ok());
  spec.max_value_bytes = -1;
  ExpectInvalid(spec, "max_value_bytes must be 0..8388608");
  spec.max_value_bytes = (8 << 20) + 1;
  ExpectInvalid(spec, "max_value_bytes must be 0..8388608");
  spec.max_value_bytes = 8 << 20;
  EXPECT_TRUE(spec.Validate().ok());
  spec.max_value_bytes = 0;
  EXPECT_TRUE(spec.Validate().ok());
}

TEST(NamespaceSpecTest, NameIsValidated) {
  ExpectInvalid(Named(""), "namespace name must be 1..64 characters");
  ExpectInvalid(Named("Bad"), "must start with a lowercase letter");
}

TEST(BuiltinNamespacesTest, DefaultAndDns) {
  auto builtins = BuiltinNamespaces();
  ASSERT_EQ(builtins.size(), 2u);
  EXPECT_EQ(builtins[0].name, "default");
  EXPECT_EQ(builtins[0].replicas, 3);
  EXPECT_EQ(builtins[1].name, "dns");
  EXPECT_EQ(builtins[1].replicas, NamespaceSpec::kReplicasAll);
  for (const NamespaceSpec& spec : builtins) {
    EXPECT_TRUE(spec.Validate().ok()) << spec.name << ": " << spec.Validate().ToString();
    EXPECT_EQ(spec.sync_policy, SyncPolicy::kLastWriterWins);
    EXPECT_EQ(spec.consistency, Consistency::kQuorum);
  }
}

}  // namespace
}  // namespace meshkv
