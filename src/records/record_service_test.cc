#include "records/record_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/hlc.h"
#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"
#include "model/namespace_spec.h"
#include "storage/store.h"

namespace meshkv::records {
namespace {

namespace RrType = dns::RrType;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr NodeId kSelf{0x1111};
constexpr uint32_t kDefaultTtl = 300;

dns::Name N(std::string_view text) {
  auto name = dns::Name::FromText(text);
  EXPECT_TRUE(name.ok()) << text << ": " << name.status().message();
  return name.ok() ? *name : dns::Name();
}

std::vector<NamespaceSpec> MemoryNamespaces() {
  std::vector<NamespaceSpec> namespaces = BuiltinNamespaces();
  for (NamespaceSpec& spec : namespaces) spec.storage = StorageKind::kMemory;
  return namespaces;
}

// RecordService over a KvService on an in-memory store, with the zones
// example.test, sub.example.test (delegated to itself: a more specific zone)
// and other.test.
class RecordServiceTest : public ::testing::Test {
 protected:
  RecordServiceTest()
      : store_(NewMemoryStore(MemoryNamespaces())),
        hlc_(clock_, /*max_skew_millis=*/500),
        kv_(*store_, /*committer=*/nullptr, hlc_, clock_, kSelf, MemoryNamespaces()),
        service_(kv_, {N("example.test."), N("sub.example.test."), N("other.test.")}, kDefaultTtl) {
  }

  Record Make(std::string_view name, std::string_view type, std::string_view value,
              std::optional<int64_t> ttl = std::nullopt) {
    auto record = service_.MakeRecord(N(name), type, value, ttl);
    EXPECT_TRUE(record.ok()) << record.status().message();
    return record.ok() ? *record : Record{};
  }

  // Add() with its inline completion as a return value.
  Status Add(const Record& record) {
    std::optional<Status> out;
    service_.Add(record, [&](Status status) { out = std::move(status); });
    EXPECT_TRUE(out.has_value()) << "Add did not complete inline";
    return out.value_or(Internal("no completion"));
  }
  Status Add(std::string_view name, std::string_view type, std::string_view value,
             std::optional<int64_t> ttl = std::nullopt) {
    return Add(Make(name, type, value, ttl));
  }

  Result<size_t> Remove(std::string_view name, std::optional<uint16_t> type = std::nullopt,
                        std::optional<std::string> value = std::nullopt) {
    std::optional<std::string> rdata;
    if (value) rdata = *dns::RdataFromText(*type, *value);
    std::optional<Result<size_t>> out;
    service_.Remove(N(name), type, rdata, [&](Result<size_t> result) { out = std::move(result); });
    EXPECT_TRUE(out.has_value()) << "Remove did not complete inline";
    if (!out) return Internal("no completion");
    return std::move(*out);
  }

  // "name TTL TYPE value" of every record at `name`, in key order.
  std::vector<std::string> At(std::string_view name, std::optional<uint16_t> type = std::nullopt) {
    auto records = service_.RecordsAt(N(name), type);
    EXPECT_TRUE(records.ok()) << records.status().message();
    return Describe(records.ok() ? *records : std::vector<Record>());
  }

  static std::vector<std::string> Describe(const std::vector<Record>& records) {
    std::vector<std::string> out;
    for (const Record& r : records) {
      out.push_back(r.name.ToText() + " " + std::to_string(r.ttl) + " " + dns::TypeToText(r.type) +
                    " " + *dns::RdataToText(r.type, r.rdata));
    }
    return out;
  }

  bool HasDescendants(std::string_view name) {
    auto has = service_.HasDescendants(N(name));
    EXPECT_TRUE(has.ok()) << has.status().message();
    return has.ok() && *has;
  }

  FakeClock clock_;
  std::unique_ptr<Store> store_;
  Hlc hlc_;
  KvService kv_;
  RecordService service_;
};

TEST_F(RecordServiceTest, AddListAndRemove) {
  ASSERT_TRUE(Add("www.example.test", "A", "192.0.2.1", 60).ok());
  ASSERT_TRUE(Add("www.example.test", "A", "192.0.2.2").ok());
  ASSERT_TRUE(Add("www.example.test", "TXT", "\"hello world\" second").ok());
  ASSERT_TRUE(Add("www.example.test", "AAAA", "2001:db8::1", 0).ok());
  EXPECT_THAT(At("www.example.test"),
              ::testing::UnorderedElementsAre(
                  "www.example.test. 60 A 192.0.2.1", "www.example.test. 300 A 192.0.2.2",
                  "www.example.test. 300 TXT \"hello world\" \"second\"",
                  "www.example.test. 0 AAAA 2001:db8::1"));
  EXPECT_THAT(At("www.example.test", RrType::kA),
              ::testing::UnorderedElementsAre("www.example.test. 60 A 192.0.2.1",
                                              "www.example.test. 300 A 192.0.2.2"));
  EXPECT_TRUE(At("www.example.test", RrType::kMx).empty());
  EXPECT_TRUE(At("absent.example.test").empty());

  // One value.
  EXPECT_EQ(*Remove("www.example.test", RrType::kA, "192.0.2.1"), 1u);
  EXPECT_THAT(At("www.example.test", RrType::kA),
              ::testing::ElementsAre("www.example.test. 300 A 192.0.2.2"));
  // A value that is not there, and a type that is not there: 0, not an error.
  EXPECT_EQ(*Remove("www.example.test", RrType::kA, "192.0.2.99"), 0u);
  EXPECT_EQ(*Remove("www.example.test", RrType::kMx), 0u);
  // One type.
  ASSERT_TRUE(Add("www.example.test", "A", "192.0.2.3").ok());
  EXPECT_EQ(*Remove("www.example.test", RrType::kA), 2u);
  EXPECT_EQ(At("www.example.test").size(), 2u);
  // Everything at the name.
  EXPECT_EQ(*Remove("www.example.test"), 2u);
  EXPECT_TRUE(At("www.example.test").empty());
  EXPECT_EQ(*Remove("www.example.test"), 0u);
}

TEST_F(RecordServiceTest, ReAddingTheSameValueUpdatesItsTtl) {
  ASSERT_TRUE(Add("www.example.test", "A", "192.0.2.1", 60).ok());
  ASSERT_TRUE(Add("www.example.test", "A", "192.0.2.1", 3600).ok());
  EXPECT_THAT(At("www.example.test"), ::testing::ElementsAre("www.example.test. 3600 A 192.0.2.1"));
  // Names inside rdata compare case-insensitively (RFC 4034 6.2): the same
  // CNAME spelled differently is the same value, not a second CNAME.
  ASSERT_TRUE(Add("alias.example.test", "CNAME", "Target.Example.Test.", 60).ok());
  ASSERT_TRUE(Add("alias.example.test", "CNAME", "target.example.test.", 120).ok());
  EXPECT_THAT(At("alias.example.test"),
              ::testing::ElementsAre("alias.example.test. 120 CNAME target.example.test."));
  // TXT is compared octet for octet: case matters there.
  ASSERT_TRUE(Add("t.example.test", "TXT", "abc").ok());
  ASSERT_TRUE(Add("t.example.test", "TXT", "ABC").ok());
  EXPECT_EQ(At("t.example.test").size(), 2u);
}

TEST_F(RecordServiceTest, NamesAreCaseInsensitiveAndMapToOneKey) {
  const Record upper = Make("WWW.Example.TEST.", "A", "192.0.2.1");
  const Record lower = Make("www.example.test", "A", "192.0.2.1");
  EXPECT_EQ(RecordKey(upper), RecordKey(lower));
  EXPECT_THAT(RecordKey(upper), MatchesRegex("test\\.example\\.www/A/[0-9a-f]{16}"));
  EXPECT_EQ(NameKeyPrefix(upper.name), "test.example.www/");
  EXPECT_EQ(DescendantKeyPrefix(upper.name), "test.example.www.");

  ASSERT_TRUE(Add(upper).ok());
  // The owner's case as written is kept.
  EXPECT_THAT(At("www.example.test"), ::testing::ElementsAre("WWW.Example.TEST. 300 A 192.0.2.1"));
  ASSERT_TRUE(Add(lower).ok());
  EXPECT_THAT(At("wWw.ExAmPlE.tEsT"), ::testing::ElementsAre("www.example.test. 300 A 192.0.2.1"));
  EXPECT_EQ(*Remove("WWW.EXAMPLE.TEST.", RrType::kA, "192.0.2.1"), 1u);
  EXPECT_TRUE(At("www.example.test").empty());
}

TEST_F(RecordServiceTest, CnameCannotCoexistWithOtherData) {
  ASSERT_TRUE(Add("host.example.test", "A", "192.0.2.1").ok());
  Status cname_on_data = Add("host.example.test", "CNAME", "other.example.test.");
  EXPECT_EQ(cname_on_data.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(cname_on_data.message(), HasSubstr("already has A records"));
  EXPECT_THAT(cname_on_data.message(), HasSubstr("RFC 1034 3.6.2"));

  ASSERT_TRUE(Add("alias.example.test", "CNAME", "host.example.test.").ok());
  for (auto [type, value] : std::vector<std::pair<std::string, std::string>>{
           {"A", "192.0.2.1"}, {"TXT", "x"}, {"MX", "10 host.example.test."}}) {
    Status data_on_cname = Add("alias.example.test", type, value);
    EXPECT_EQ(data_on_cname.code(), ErrorCode::kFailedPrecondition) << type;
    EXPECT_THAT(data_on_cname.message(), HasSubstr("is a CNAME")) << type;
  }
  Status second_cname = Add("alias.example.test", "CNAME", "other.example.test.");
  EXPECT_EQ(second_cname.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(second_cname.message(), HasSubstr("at most one (RFC 2181 10.1)"));

  Status at_apex = Add("example.test", "CNAME", "host.example.test.");
  EXPECT_EQ(at_apex.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(at_apex.message(), HasSubstr("apex"));
  Status at_sub_apex = Add("Sub.Example.Test", "CNAME", "host.example.test.");
  EXPECT_EQ(at_sub_apex.code(), ErrorCode::kFailedPrecondition);

  // Nothing of the refused adds was stored.
  EXPECT_THAT(At("host.example.test"),
              ::testing::ElementsAre("host.example.test. 300 A 192.0.2.1"));
  EXPECT_THAT(At("alias.example.test"),
              ::testing::ElementsAre("alias.example.test. 300 CNAME host.example.test."));
  EXPECT_TRUE(At("example.test").empty());
  EXPECT_TRUE(At("sub.example.test").empty());

  // Once the CNAME is gone, other data may be added.
  EXPECT_EQ(*Remove("alias.example.test", RrType::kCname), 1u);
  EXPECT_TRUE(Add("alias.example.test", "A", "192.0.2.2").ok());
}

TEST_F(RecordServiceTest, SoaOnlyAtAnApexAndOnlyOne) {
  constexpr std::string_view kSoa =
      "ns1.example.test. hostmaster.example.test. 1 3600 900 604800 300";
  Status below = Add("www.example.test", "SOA", kSoa);
  EXPECT_EQ(below.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(below.message(), HasSubstr("only at a zone apex (example.test.)"));

  ASSERT_TRUE(Add("example.test", "SOA", kSoa, 3600).ok());
  // The same SOA again: a TTL update, not a second SOA.
  ASSERT_TRUE(Add("example.test", "SOA", kSoa, 60).ok());
  EXPECT_THAT(
      At("example.test"),
      ::testing::ElementsAre("example.test. 60 SOA ns1.example.test. hostmaster.example.test. 1 "
                             "3600 900 604800 300"));
  Status second = Add("example.test", "SOA",
                      "ns1.example.test. hostmaster.example.test. 2 3600 900 604800 300");
  EXPECT_EQ(second.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(second.message(), HasSubstr("already has an SOA record"));

  // A more specific zone has its own apex.
  EXPECT_TRUE(Add("sub.example.test", "SOA", kSoa).ok());
  // Replacing: delete, then add.
  EXPECT_EQ(*Remove("example.test", RrType::kSoa), 1u);
  EXPECT_TRUE(
      Add("example.test", "SOA", "ns1.example.test. hostmaster.example.test. 2 3600 900 604800 300")
          .ok());
}

TEST_F(RecordServiceTest, HasDescendantsFindsEmptyNonTerminals) {
  ASSERT_TRUE(Add("a.b.c.example.test", "A", "192.0.2.1").ok());
  ASSERT_TRUE(Add("wwwx.example.test", "A", "192.0.2.1").ok());
  ASSERT_TRUE(Add("www-1.example.test", "A", "192.0.2.1").ok());
  EXPECT_TRUE(HasDescendants("b.c.example.test"));  // an empty non-terminal
  EXPECT_TRUE(HasDescendants("c.example.test"));
  EXPECT_TRUE(HasDescendants("C.EXAMPLE.TEST"));
  EXPECT_TRUE(HasDescendants("example.test"));
  EXPECT_FALSE(HasDescendants("a.b.c.example.test"));  // has records, nothing below
  EXPECT_FALSE(HasDescendants("x.example.test"));
  // Sibling names sharing a prefix are not descendants.
  EXPECT_FALSE(HasDescendants("www.example.test"));
  EXPECT_FALSE(HasDescendants("b.example.test"));
  EXPECT_TRUE(At("b.c.example.test").empty());

  ASSERT_EQ(*Remove("a.b.c.example.test"), 1u);
  EXPECT_FALSE(HasDescendants("b.c.example.test"));
  EXPECT_FALSE(HasDescendants("c.example.test"));
}

TEST_F(RecordServiceTest, ZoneRecordsExcludeMoreSpecificZonesAndOtherZones) {
  ASSERT_TRUE(Add("example.test", "NS", "ns1.example.test.").ok());
  ASSERT_TRUE(Add("www.example.test", "A", "192.0.2.1").ok());
  ASSERT_TRUE(Add("deep.name.example.test", "TXT", "x").ok());
  ASSERT_TRUE(Add("sub.example.test", "NS", "ns1.sub.example.test.").ok());
  ASSERT_TRUE(Add("host.sub.example.test", "A", "192.0.2.2").ok());
  ASSERT_TRUE(Add("other.test", "A", "192.0.2.3").ok());
  ASSERT_TRUE(Add("www.other.test", "A", "192.0.2.4").ok());

  auto example = service_.ZoneRecords(N("example.test"));
  ASSERT_TRUE(example.ok());
  EXPECT_THAT(Describe(*example),
              ::testing::UnorderedElementsAre("example.test. 300 NS ns1.example.test.",
                                              "www.example.test. 300 A 192.0.2.1",
                                              "deep.name.example.test. 300 TXT \"x\""));
  EXPECT_EQ(Describe(*example)[0], "example.test. 300 NS ns1.example.test.");  // apex first

  auto sub = service_.ZoneRecords(N("SUB.example.test"));
  ASSERT_TRUE(sub.ok());
  EXPECT_THAT(Describe(*sub),
              ::testing::UnorderedElementsAre("sub.example.test. 300 NS ns1.sub.example.test.",
                                              "host.sub.example.test. 300 A 192.0.2.2"));
  auto other = service_.ZoneRecords(N("other.test"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->size(), 2u);
}

TEST_F(RecordServiceTest, ZoneOfIsTheMostSpecificZone) {
  ASSERT_NE(service_.ZoneOf(N("a.sub.example.test")), nullptr);
  EXPECT_EQ(*service_.ZoneOf(N("a.sub.example.test")), N("sub.example.test"));
  EXPECT_EQ(*service_.ZoneOf(N("a.subx.example.test")), N("example.test"));
  EXPECT_EQ(*service_.ZoneOf(N("EXAMPLE.test")), N("example.test"));
  EXPECT_EQ(service_.ZoneOf(N("example.org")), nullptr);
  EXPECT_EQ(service_.ZoneOf(N("test")), nullptr);
  EXPECT_EQ(service_.ZoneOf(N("xexample.test")), nullptr);
}

TEST_F(RecordServiceTest, ParseOwnerNameRules) {
  for (std::string_view good :
       {"example.test", "example.test.", "WWW.Example.Test", "_sip._tcp.example.test",
        "-odd-.example.test", "a-b_c.sub.example.test", "1.2.3.example.test"}) {
    auto name = service_.ParseOwnerName(good);
    EXPECT_TRUE(name.ok()) << good << ": " << name.status().message();
  }
  EXPECT_EQ(service_.ParseOwnerName("WWW.Example.Test")->ToText(), "WWW.Example.Test.");

  auto outside = service_.ParseOwnerName("www.example.org");
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(outside.status().message(),
            "name 'www.example.org.' is not inside a zone this node serves (dns.zones: "
            "example.test., sub.example.test., other.test.)");

  struct Bad {
    std::string text;
    std::string message_part;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"", "empty domain name"},
           {"a..example.test", "empty label"},
           {".example.test", "empty label"},
           {std::string(64, 'a') + ".example.test", "longer than 63 octets"},
           {"a\\032b.example.test", "labels may contain only ASCII letters, digits, '-' and '_'"},
           {"a\\.b.example.test", "labels may contain only"},
           {"caf\xc3\xa9.example.test", "punycode"},
           {"a*b.example.test", "labels may contain only"},
           {"*.example.test", "labels may contain only"},
           {"a/b.example.test", "labels may contain only"},
       }) {
    auto name = service_.ParseOwnerName(bad.text);
    ASSERT_FALSE(name.ok()) << bad.text;
    EXPECT_EQ(name.status().code(), ErrorCode::kInvalidArgument) << bad.text;
    EXPECT_THAT(name.status().message(), HasSubstr(bad.message_part)) << bad.text;
  }
  // A name longer than 255 octets in wire form.
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'a') + ".";
  long_name += "example.test";
  auto too_long = service_.ParseOwnerName(long_name);
  ASSERT_FALSE(too_long.ok());
  EXPECT_THAT(too_long.status().message(), HasSubstr("255 octets"));
}

TEST_F(RecordServiceTest, MakeRecordValidatesTypeValueAndTtl) {
  const dns::Name www = N("www.example.test");
  auto unknown = service_.MakeRecord(www, "BOGUS", "x", std::nullopt);
  EXPECT_EQ(unknown.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("type 'BOGUS' is not known"));
  auto not_storable = service_.MakeRecord(www, "TYPE65280", "\\# 0", std::nullopt);
  EXPECT_THAT(not_storable.status().message(), HasSubstr("TYPE65280 cannot be stored"));
  auto opt = service_.MakeRecord(www, "OPT", "\\# 0", std::nullopt);
  EXPECT_THAT(opt.status().message(), HasSubstr("OPT cannot be stored"));

  for (auto [type, value] :
       std::vector<std::pair<std::string, std::string>>{{"A", "256.1.1.1"},
                                                        {"A", "192.0.2"},
                                                        {"A", "2001:db8::1"},
                                                        {"AAAA", "192.0.2.1"},
                                                        {"AAAA", "2001:db8::g"},
                                                        {"MX", "mail.example.test."},
                                                        {"MX", "70000 mail."},
                                                        {"SRV", "1 2 mail."},
                                                        {"CAA", "0 is-sue x"},
                                                        {"TXT", ""},
                                                        {"TXT", std::string(256, 'x')},
                                                        {"CNAME", "a..b."},
                                                        {"NS", "\"quoted.\""}}) {
    auto record = service_.MakeRecord(www, type, value, std::nullopt);
    ASSERT_FALSE(record.ok()) << type << " " << value;
    EXPECT_EQ(record.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(record.status().message(), HasSubstr("value for " + type)) << value;
  }

  EXPECT_EQ(service_.MakeRecord(www, "a", "192.0.2.1", std::nullopt)->ttl, kDefaultTtl);
  EXPECT_EQ(service_.MakeRecord(www, "A", "192.0.2.1", 0)->ttl, 0u);
  EXPECT_EQ(service_.MakeRecord(www, "A", "192.0.2.1", 2147483647)->ttl, 2147483647u);
  for (int64_t ttl : {int64_t{-1}, int64_t{2147483648}}) {
    auto record = service_.MakeRecord(www, "A", "192.0.2.1", ttl);
    ASSERT_FALSE(record.ok()) << ttl;
    EXPECT_THAT(record.status().message(), HasSubstr("ttl must be 0..2147483647"));
  }
}

TEST_F(RecordServiceTest, AddRefusesNamesOutsideEveryZone) {
  Record record = Make("www.example.test", "A", "192.0.2.1");
  record.name = N("www.example.org");
  Status status = Add(record);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not inside a zone"));
}

TEST_F(RecordServiceTest, GenerationMovesOnEveryChangeOnly) {
  const uint64_t start = service_.generation();
  ASSERT_TRUE(Add("www.example.test", "A", "192.0.2.1").ok());
  const uint64_t after_add = service_.generation();
  EXPECT_GT(after_add, start);
  EXPECT_EQ(Add("www.example.test", "CNAME", "x.example.test.").code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(service_.generation(), after_add);
  EXPECT_EQ(*Remove("nothing.example.test"), 0u);
  EXPECT_EQ(service_.generation(), after_add);
  EXPECT_EQ(*Remove("www.example.test"), 1u);
  EXPECT_GT(service_.generation(), after_add);
}

TEST_F(RecordServiceTest, StoredValuesRoundTrip) {
  const Record record = Make("Mixed.Example.Test", "MX", "10 Mail.Example.Test.", 1234);
  auto decoded = DecodeRecordValue(EncodeRecordValue(record));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->name.ToText(), "Mixed.Example.Test.");
  EXPECT_EQ(decoded->type, RrType::kMx);
  EXPECT_EQ(decoded->ttl, 1234u);
  EXPECT_EQ(decoded->rdata, record.rdata);
  EXPECT_EQ(DecodeRecordValue("").status().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(DecodeRecordValue(EncodeRecordValue(record).substr(0, 12)).status().code(),
            ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace meshkv::records
