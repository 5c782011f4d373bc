#include "trust/tokens.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "base/encoding.h"

namespace meshkv {
namespace {

constexpr ScopeSet kRead = static_cast<ScopeSet>(Scope::kRead);
constexpr ScopeSet kWrite = static_cast<ScopeSet>(Scope::kWrite);
constexpr ScopeSet kAdmin = static_cast<ScopeSet>(Scope::kAdmin);

TokenSpec Spec(std::string name, std::string_view secret, ScopeSet scopes) {
  TokenSpec spec;
  spec.name = std::move(name);
  spec.sha256_hex = Sha256Hex(secret);
  spec.scopes = scopes;
  return spec;
}

TEST(Sha256HexTest, KnownVectors) {
  // FIPS 180-2 examples.
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ScopeTest, ParseAndFormat) {
  EXPECT_EQ(*ParseScope("read"), Scope::kRead);
  EXPECT_EQ(*ParseScope("write"), Scope::kWrite);
  EXPECT_EQ(*ParseScope("admin"), Scope::kAdmin);
  for (std::string_view bad : {"", "Read", "root", "read "}) {
    auto parsed = ParseScope(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("read, write, admin"), std::string::npos);
  }
  EXPECT_EQ(ScopeSetToString(kRead | kWrite), "read,write");
  EXPECT_EQ(ScopeSetToString(kAdmin), "admin");
  EXPECT_EQ(ScopeSetToString(kRead | kWrite | kAdmin), "read,write,admin");
  EXPECT_EQ(ScopeSetToString(0), "");
}

TEST(TokenSetTest, AuthenticatesEveryTokenAndRejectsOthers) {
  auto set = TokenSet::Build(
      {Spec("a", "secret-a", kRead), Spec("b", "secret-b", kWrite), Spec("c", "secret-c", kAdmin)});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->size(), 3u);
  ASSERT_NE(set->Authenticate("secret-a"), nullptr);
  EXPECT_EQ(set->Authenticate("secret-a")->name, "a");
  EXPECT_EQ(set->Authenticate("secret-b")->name, "b");
  EXPECT_EQ(set->Authenticate("secret-c")->name, "c");
  EXPECT_EQ(set->Authenticate("secret-d"), nullptr);
  EXPECT_EQ(set->Authenticate("secret-"), nullptr);
  EXPECT_EQ(set->Authenticate("secret-aa"), nullptr);
  EXPECT_EQ(set->Authenticate(""), nullptr);
  // The hash itself is not a credential.
  EXPECT_EQ(set->Authenticate(Sha256Hex("secret-a")), nullptr);
}

TEST(TokenSetTest, EmptySetAuthenticatesNothing) {
  auto set = TokenSet::Build({});
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->size(), 0u);
  EXPECT_EQ(set->Authenticate("anything"), nullptr);
}

TEST(TokenSetTest, EmptySecretNeverAuthenticates) {
  auto set = TokenSet::Build({Spec("empty", "", kAdmin)});
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->Authenticate(""), nullptr);
}

TEST(TokenSetTest, UpperCaseHashIsNormalised) {
  TokenSpec spec = Spec("ci", "s3cret", kRead);
  std::string upper = spec.sha256_hex;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  spec.sha256_hex = upper;
  auto set = TokenSet::Build({spec});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->specs()[0].sha256_hex, Sha256Hex("s3cret"));
  EXPECT_EQ(set->Authenticate("s3cret"), &set->specs()[0]);
}

void ExpectBuildError(std::vector<TokenSpec> specs, std::string_view fragment) {
  auto set = TokenSet::Build(std::move(specs));
  ASSERT_FALSE(set.ok()) << "expected an error containing: " << fragment;
  EXPECT_EQ(set.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(set.status().message().find(fragment), std::string::npos) << set.status().message();
}

TEST(TokenSetTest, BuildValidates) {
  TokenSpec short_hash = Spec("ci", "x", kRead);
  short_hash.sha256_hex.pop_back();
  ExpectBuildError({short_hash}, "token 'ci': sha256 must be 64 hex digits");

  TokenSpec long_hash = Spec("ci", "x", kRead);
  long_hash.sha256_hex += "0";
  ExpectBuildError({long_hash}, "64 hex digits");

  TokenSpec non_hex = Spec("ci", "x", kRead);
  non_hex.sha256_hex[10] = 'g';
  ExpectBuildError({non_hex}, "non-hex character");

  ExpectBuildError({Spec("ci", "x", 0)}, "token 'ci': scopes must not be empty");
  ExpectBuildError({Spec("ci", "x", 0x80)}, "unknown bit");
  ExpectBuildError({Spec("", "x", kRead)}, "token name '' must be 1..64");
  ExpectBuildError({Spec(std::string(65, 'a'), "x", kRead)}, "must be 1..64");
  ExpectBuildError({Spec("has space", "x", kRead)}, "must be 1..64");
  ExpectBuildError({Spec("ci", "x", kRead), Spec("ci", "y", kWrite)},
                   "token name 'ci' is used twice");
  ExpectBuildError({Spec("a", "same", kRead), Spec("b", "same", kWrite)},
                   "token 'b': sha256 is the same as another token's");
  // Upper and lower case spellings of one hash are the same hash.
  TokenSpec upper = Spec("b", "same", kWrite);
  std::transform(upper.sha256_hex.begin(), upper.sha256_hex.end(), upper.sha256_hex.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  ExpectBuildError({Spec("a", "same", kRead), upper}, "same as another token's");

  TokenSpec empty_ns = Spec("ci", "x", kRead);
  empty_ns.ns = "";
  ExpectBuildError({empty_ns}, "namespace must not be empty");
}

TEST(TokenFieldTest, NameAndHashChecks) {
  EXPECT_TRUE(ValidateTokenName("ci").ok());
  EXPECT_TRUE(ValidateTokenName("generated-admin").ok());
  EXPECT_TRUE(ValidateTokenName("A.b_c-9").ok());
  EXPECT_TRUE(ValidateTokenName(std::string(64, 'x')).ok());
  for (std::string bad : {std::string(), std::string(65, 'x'), std::string("a b"),
                          std::string("a/b"), std::string("caf\xc3\xa9")}) {
    Status status = ValidateTokenName(bad);
    EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument) << bad;
  }
  const std::string hash = Sha256Hex("x");
  std::string upper = hash;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  EXPECT_EQ(*NormalizeSha256Hex(hash), hash);
  EXPECT_EQ(*NormalizeSha256Hex(upper), hash);
  auto short_hash = NormalizeSha256Hex(hash.substr(1));
  ASSERT_FALSE(short_hash.ok());
  EXPECT_TRUE(short_hash.status().message().starts_with("must be 64 hex digits"));
  EXPECT_NE(short_hash.status().message().find("got 63 characters"), std::string::npos);
  auto non_hex = NormalizeSha256Hex("g" + hash.substr(1));
  ASSERT_FALSE(non_hex.ok());
  EXPECT_EQ(non_hex.status().message(), "must be 64 hex digits, found a non-hex character");
}

TEST(TokenSetTest, ErrorsNeverContainTheHash) {
  TokenSpec spec = Spec("ci", "x", 0);
  auto set = TokenSet::Build({spec});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message().find(spec.sha256_hex), std::string::npos);
}

TEST(AuthorizeTest, ScopesAndAdminImpliesAll) {
  TokenSpec reader = Spec("reader", "r", kRead);
  TokenSpec writer = Spec("writer", "w", kWrite);
  TokenSpec admin = Spec("root", "a", kAdmin);
  TokenSpec both = Spec("both", "b", kRead | kWrite);

  EXPECT_TRUE(Authorize(reader, Scope::kRead, "default", "k").ok());
  Status s = Authorize(reader, Scope::kWrite, "default", "k");
  EXPECT_EQ(s.code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "token 'reader' lacks the write scope");
  EXPECT_EQ(Authorize(reader, Scope::kAdmin, "", "").message(),
            "token 'reader' lacks the admin scope");

  EXPECT_TRUE(Authorize(writer, Scope::kWrite, "default", "k").ok());
  EXPECT_EQ(Authorize(writer, Scope::kRead, "default", "k").message(),
            "token 'writer' lacks the read scope");

  for (Scope scope : {Scope::kRead, Scope::kWrite, Scope::kAdmin}) {
    EXPECT_TRUE(Authorize(admin, scope, "default", "k").ok());
    EXPECT_TRUE(Authorize(admin, scope, "", "").ok());
  }
  EXPECT_TRUE(Authorize(both, Scope::kRead, "dns", "k").ok());
  EXPECT_TRUE(Authorize(both, Scope::kWrite, "dns", "k").ok());
  EXPECT_FALSE(Authorize(both, Scope::kAdmin, "", "").ok());
}

TEST(AuthorizeTest, NamespaceLimit) {
  TokenSpec ci = Spec("ci", "x", kRead | kWrite);
  ci.ns = "app";
  EXPECT_TRUE(Authorize(ci, Scope::kWrite, "app", "k").ok());
  Status s = Authorize(ci, Scope::kWrite, "default", "k");
  EXPECT_EQ(s.code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "token 'ci' is limited to namespace 'app'");
  // Requests that are not about a key check only the scope.
  EXPECT_TRUE(Authorize(ci, Scope::kRead, "", "").ok());
  // A key without a namespace fails closed.
  EXPECT_FALSE(Authorize(ci, Scope::kRead, "", "k").ok());
  // The scope is checked first.
  EXPECT_EQ(Authorize(ci, Scope::kAdmin, "default", "k").message(),
            "token 'ci' lacks the admin scope");
  // Admin scope does not lift the namespace limit.
  TokenSpec limited_admin = Spec("ops", "y", kAdmin);
  limited_admin.ns = "app";
  EXPECT_FALSE(Authorize(limited_admin, Scope::kWrite, "dns", "k").ok());
}

TEST(AuthorizeTest, PrefixLimit) {
  TokenSpec ci = Spec("ci", "x", kRead | kWrite);
  ci.key_prefix = "app/";
  EXPECT_TRUE(Authorize(ci, Scope::kWrite, "default", "app/x").ok());
  EXPECT_TRUE(Authorize(ci, Scope::kWrite, "default", "app/").ok());
  for (std::string_view key : {"app", "ap", "other/app/x", "App/x"}) {
    Status s = Authorize(ci, Scope::kWrite, "default", key);
    EXPECT_EQ(s.code(), ErrorCode::kPermissionDenied) << key;
    EXPECT_EQ(s.message(), "token 'ci' is limited to keys starting with 'app/'");
  }
  // Binary prefixes compare bytewise and are shown escaped.
  TokenSpec binary = Spec("bin", "y", kRead);
  binary.key_prefix = std::string("\x01\x00", 2);
  EXPECT_TRUE(Authorize(binary, Scope::kRead, "default", std::string("\x01\x00z", 3)).ok());
  Status s = Authorize(binary, Scope::kRead, "default", std::string("\x01\x01", 2));
  EXPECT_EQ(s.message(), "token 'bin' is limited to keys starting with '\\x01\\x00'");
}

TEST(AuthorizeTest, MessagesStayPrintableUtf8) {
  TokenSpec binary = Spec("bin", "y", kRead);
  binary.key_prefix = "\xff\xfe/";  // not UTF-8: every high byte is escaped
  EXPECT_EQ(Authorize(binary, Scope::kRead, "default", "k").message(),
            "token 'bin' is limited to keys starting with '\\xff\\xfe/'");
  TokenSpec accented = Spec("utf8", "z", kRead);
  accented.key_prefix = "caf\xc3\xa9/";  // UTF-8 is shown as is
  EXPECT_EQ(Authorize(accented, Scope::kRead, "default", "k").message(),
            "token 'utf8' is limited to keys starting with 'caf\xc3\xa9/'");
  TokenSpec long_prefix = Spec("long", "w", kRead);
  long_prefix.key_prefix = std::string(63, 'a') + "\xc3\xa9" + std::string(500, 'b');
  const std::string message = Authorize(long_prefix, Scope::kRead, "default", "k").message();
  // Cut before the two-byte character rather than through it.
  EXPECT_TRUE(message.ends_with(std::string(63, 'a') + "...'")) << message;
  EXPECT_TRUE(IsValidUtf8(message));
}

TEST(AuthorizeListTest, ScopeNamespaceAndPrefix) {
  TokenSpec writer = Spec("writer", "w", kWrite);
  EXPECT_EQ(AuthorizeList(writer, "default", "").message(), "token 'writer' lacks the read scope");
  TokenSpec admin = Spec("root", "a", kAdmin);
  EXPECT_TRUE(AuthorizeList(admin, "default", "").ok());

  TokenSpec ci = Spec("ci", "x", kRead);
  ci.ns = "app";
  ci.key_prefix = "app/";
  EXPECT_TRUE(AuthorizeList(ci, "app", "app/").ok());
  EXPECT_TRUE(AuthorizeList(ci, "app", "app/sub/").ok());
  EXPECT_EQ(AuthorizeList(ci, "app", "").message(),
            "token 'ci' is limited to keys starting with 'app/'");
  EXPECT_EQ(AuthorizeList(ci, "app", "ap").message(),
            "token 'ci' is limited to keys starting with 'app/'");
  EXPECT_EQ(AuthorizeList(ci, "default", "app/").message(),
            "token 'ci' is limited to namespace 'app'");
}

TEST(GenerateTokenSecretTest, FormatAndUniqueness) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string secret = GenerateTokenSecret();
    ASSERT_EQ(secret.substr(0, 4), "mkv_");
    ASSERT_EQ(secret.size(), 4u + 43u);  // 32 bytes -> 43 unpadded base64url chars
    auto raw = Base64UrlDecode(std::string_view(secret).substr(4));
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(raw->size(), 32u);
    EXPECT_TRUE(seen.insert(secret).second);
  }
  // A generated secret works end to end.
  std::string secret = GenerateTokenSecret();
  auto set = TokenSet::Build({Spec("admin", secret, kAdmin)});
  ASSERT_TRUE(set.ok());
  EXPECT_NE(set->Authenticate(secret), nullptr);
}

}  // namespace
}  // namespace meshkv
