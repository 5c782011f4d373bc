#include "frontend/dns/wire/name.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

namespace meshkv::dns {
namespace {

Name N(std::string_view text) {
  auto name = Name::FromText(text);
  EXPECT_TRUE(name.ok()) << text << ": " << name.status().ToString();
  return name.ok() ? *name : Name();
}

TEST(NameTest, RootByDefault) {
  Name root;
  EXPECT_EQ(root.wire(), std::string(1, '\0'));
  EXPECT_EQ(root.label_count(), 0u);
  EXPECT_TRUE(root.IsRoot());
  EXPECT_EQ(root.ToText(), ".");
  EXPECT_EQ(N("."), root);
}

TEST(NameTest, FromTextWireForm) {
  const Name name = N("www.Example.com.");
  EXPECT_EQ(name.wire(), std::string("\3www\7Example\3com\0", 17));
  EXPECT_EQ(name.label_count(), 3u);
  EXPECT_EQ(name.label(0), "www");
  EXPECT_EQ(name.label(1), "Example");
  EXPECT_EQ(name.label(2), "com");
  // Without the trailing dot: still absolute.
  EXPECT_EQ(N("www.Example.com").wire(), name.wire());
}

TEST(NameTest, CasePreservedButComparedInsensitively) {
  const Name mixed = N("WwW.ExAmPlE.CoM");
  EXPECT_EQ(mixed.ToText(), "WwW.ExAmPlE.CoM.");
  EXPECT_EQ(mixed, N("www.example.com"));
  EXPECT_NE(mixed.wire(), N("www.example.com").wire());
  EXPECT_EQ(mixed.Lower().ToText(), "www.example.com.");
  EXPECT_EQ(NameHash()(mixed), NameHash()(N("www.example.com")));
  std::unordered_set<Name, NameHash> set = {mixed};
  EXPECT_TRUE(set.contains(N("WWW.EXAMPLE.COM")));
  EXPECT_NE(N("a.example.com"), N("b.example.com"));
  EXPECT_NE(N("example.com"), N("www.example.com"));
}

TEST(NameTest, Escapes) {
  const Name dotted = N("a\\.b.example.");
  EXPECT_EQ(dotted.label_count(), 2u);
  EXPECT_EQ(dotted.label(0), "a.b");
  EXPECT_EQ(dotted.ToText(), "a\\.b.example.");

  const Name decimal = N("\\000\\255x\\032y.example");
  EXPECT_EQ(decimal.label(0), std::string("\0\xffx y", 5));
  EXPECT_EQ(decimal.ToText(), "\\000\\255x\\032y.example.");
  EXPECT_EQ(N(decimal.ToText()).wire(), decimal.wire());

  EXPECT_EQ(N("back\\\\slash").label(0), "back\\slash");
  EXPECT_EQ(N("back\\\\slash").ToText(), "back\\\\slash.");
  EXPECT_EQ(N("\\a\\b").label(0), "ab");  // \X is X
  EXPECT_EQ(N("q\\\"(;@$)").ToText(), "q\\\"\\(\\;\\@\\$\\).");

  EXPECT_FALSE(Name::FromText("a\\").ok());
  EXPECT_FALSE(Name::FromText("a\\25").ok());
  EXPECT_FALSE(Name::FromText("a\\256").ok());
  EXPECT_FALSE(Name::FromText("a\\2x5").ok());
}

TEST(NameTest, RejectsEmptyAndEmptyLabels) {
  for (std::string_view bad : {"", "..", "a..b", ".a", "a.b..", ".."}) {
    auto name = Name::FromText(bad);
    EXPECT_FALSE(name.ok()) << bad;
    EXPECT_EQ(name.status().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_NE(Name::FromText("a..b").status().message().find("empty label"), std::string::npos);
}

TEST(NameTest, LabelLimit63) {
  const std::string label63(63, 'a');
  EXPECT_TRUE(Name::FromText(label63 + ".com").ok());
  auto too_long = Name::FromText(std::string(64, 'a') + ".com");
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("63"), std::string::npos);
  // An escape counts as one octet.
  std::string escaped;
  for (int i = 0; i < 63; ++i) escaped += "\\065";
  EXPECT_TRUE(Name::FromText(escaped).ok());
  EXPECT_FALSE(Name::FromText(escaped + "A").ok());
}

TEST(NameTest, NameLimit255) {
  // 4 labels of 63 = 4 * 64 = 256 wire octets + root = 257: too long.
  const std::string l63(63, 'x');
  const std::string l61(61, 'x');
  // 3*64 + 62 + 1 = 255: the longest name.
  auto longest = Name::FromText(l63 + "." + l63 + "." + l63 + "." + l61);
  ASSERT_TRUE(longest.ok()) << longest.status().ToString();
  EXPECT_EQ(longest->wire().size(), 255u);
  EXPECT_FALSE(Name::FromText(l63 + "." + l63 + "." + l63 + "." + l61 + "x").ok());
  EXPECT_FALSE(Name::FromText(l63 + "." + l63 + "." + l63 + "." + l61 + ".a").ok());
  EXPECT_FALSE(longest->Prepend("a").ok());
  // 127 one-octet labels: 254 + 1.
  std::string many;
  for (int i = 0; i < 127; ++i) many += "a.";
  auto most_labels = Name::FromText(many);
  ASSERT_TRUE(most_labels.ok());
  EXPECT_EQ(most_labels->label_count(), 127u);
  EXPECT_FALSE(Name::FromText("b." + many).ok());
}

TEST(NameTest, RelativeToOrigin) {
  const Name origin = N("example.com.");
  auto www = Name::FromText("www", origin);
  ASSERT_TRUE(www.ok());
  EXPECT_EQ(www->ToText(), "www.example.com.");
  EXPECT_EQ(www->label_count(), 3u);
  auto absolute = Name::FromText("www.other.", origin);
  ASSERT_TRUE(absolute.ok());
  EXPECT_EQ(absolute->ToText(), "www.other.");
  auto at = Name::FromText("@", origin);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, origin);
  auto literal_at = Name::FromText("\\@", origin);
  ASSERT_TRUE(literal_at.ok());
  EXPECT_EQ(literal_at->label(0), "@");
  EXPECT_FALSE(Name::FromText("", origin).ok());
  const std::string l63(63, 'x');
  auto long_origin = Name::FromText(l63 + "." + l63 + "." + l63);
  ASSERT_TRUE(long_origin.ok());
  EXPECT_TRUE(Name::FromText(std::string(61, 'y'), *long_origin).ok());
  EXPECT_FALSE(Name::FromText(std::string(62, 'y'), *long_origin).ok());
}

TEST(NameTest, FromLabels) {
  auto name = Name::FromLabels({"www", "example", "com"});
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, N("www.example.com"));
  auto dotted = Name::FromLabels({"a.b", "c"});
  ASSERT_TRUE(dotted.ok());
  EXPECT_EQ(dotted->ToText(), "a\\.b.c.");
  auto root = Name::FromLabels({});
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->IsRoot());
  EXPECT_FALSE(Name::FromLabels({"a", ""}).ok());
  EXPECT_FALSE(Name::FromLabels({std::string(64, 'a')}).ok());
  EXPECT_FALSE(Name::FromLabels(std::vector<std::string>(5, std::string(63, 'a'))).ok());
}

TEST(NameTest, FromWire) {
  auto name = Name::FromWire(std::string("\3www\7example\3com\0", 17));
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->ToText(), "www.example.com.");
  EXPECT_FALSE(Name::FromWire("").ok());
  EXPECT_FALSE(Name::FromWire(std::string("\3www", 4)).ok());
  EXPECT_FALSE(Name::FromWire(std::string("\3www\0\0", 6)).ok());  // trailing
  EXPECT_FALSE(Name::FromWire(std::string("\xc0\x0c", 2)).ok());   // pointer
  EXPECT_FALSE(Name::FromWire(std::string("\x40"
                                          "a\0",
                                          3))
                   .ok());  // label type 01
  EXPECT_TRUE(Name::FromWire(std::string(1, '\0')).ok());
}

TEST(NameTest, SubdomainParentPrepend) {
  const Name zone = N("Example.com");
  EXPECT_TRUE(N("www.example.COM").IsSubdomainOf(zone));
  EXPECT_TRUE(zone.IsSubdomainOf(zone));
  EXPECT_TRUE(zone.IsSubdomainOf(Name()));
  EXPECT_FALSE(N("example.org").IsSubdomainOf(zone));
  EXPECT_FALSE(N("badexample.com").IsSubdomainOf(zone));
  EXPECT_FALSE(N("com").IsSubdomainOf(zone));
  // Label boundaries matter: "b.c" is not a subdomain of "a\.b.c" or vice versa.
  EXPECT_FALSE(N("x.a\\.b.c").IsSubdomainOf(N("b.c")));
  EXPECT_FALSE(N("b.c").IsSubdomainOf(N("a\\.b.c")));

  EXPECT_EQ(N("www.example.com").Parent(), zone);
  EXPECT_TRUE(N("com").Parent().IsRoot());
  auto www = zone.Prepend("www");
  ASSERT_TRUE(www.ok());
  EXPECT_EQ(www->ToText(), "www.Example.com.");
  EXPECT_FALSE(zone.Prepend("").ok());
  EXPECT_FALSE(zone.Prepend(std::string(64, 'a')).ok());
  auto dotted = zone.Prepend("a.b");
  ASSERT_TRUE(dotted.ok());
  EXPECT_EQ(dotted->label_count(), 3u);
}

TEST(NameTest, CanonicalOrderRfc4034Example) {
  // RFC 4034 6.1, the example list in order.
  const std::vector<std::string> sorted_text = {
      "example.",   "a.example.",       "yljkjljk.a.example.", "Z.a.example.",    "zABC.a.EXAMPLE.",
      "z.example.", "\\001.z.example.", "*.z.example.",        "\\200.z.example."};
  std::vector<Name> names;
  for (const auto& text : sorted_text) names.push_back(N(text));
  std::vector<Name> shuffled(names.rbegin(), names.rend());
  std::sort(shuffled.begin(), shuffled.end(), CanonicalLess());
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(shuffled[i].ToText(), names[i].ToText());
  EXPECT_FALSE(CanonicalLess()(N("A.example"), N("a.example")));
  EXPECT_FALSE(CanonicalLess()(N("a.example"), N("A.example")));
  EXPECT_TRUE(CanonicalLess()(Name(), N("com")));
}

}  // namespace
}  // namespace meshkv::dns
