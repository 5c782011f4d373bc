// Unit tests of the record and zone verbs' local parts: the zone import plan
// (every check that runs before anything is sent), reading records API
// responses, and usage errors. The verbs against a live node are covered by
// tests/integration/test_records.py.
#include "cli/record_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli/cli_test_runner.h"
#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"

namespace meshkv {
namespace {

namespace RrType = dns::RrType;
using ::testing::HasSubstr;
using ::testing::StartsWith;

dns::Name N(std::string_view text) {
  return *dns::Name::FromText(text);
}

std::string Plan(std::string_view text, std::optional<std::string> origin = std::nullopt) {
  auto plan =
      PlanZoneImport(text, "db.x", origin ? std::optional<dns::Name>(N(*origin)) : std::nullopt);
  EXPECT_FALSE(plan.ok()) << "accepted:\n" << text;
  return plan.ok() ? "" : plan.status().message();
}

constexpr std::string_view kZone = R"($ORIGIN example.test.
$TTL 300
www     A     192.0.2.1
@       NS    ns1
@       SOA   ns1 hostmaster 1 1h 15m 1w 5m
ns1     A     192.0.2.53
www     A     192.0.2.1   ; the same value again
WWW 60  A     192.0.2.1   ; and again, with a new TTL
www     A     192.0.2.2
alias   CNAME www
)";

TEST(PlanZoneImport, SoaFirstThenFileOrderWithDuplicatesMerged) {
  auto plan = PlanZoneImport(kZone, "db.x", std::nullopt);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->zone, N("example.test"));
  std::vector<std::string> lines;
  for (const dns::ZoneRecord& r : plan->records) {
    lines.push_back(std::to_string(r.line) + " " + *dns::RecordToText(r));
  }
  EXPECT_THAT(lines,
              ::testing::ElementsAre(
                  "5 example.test.\t300\tIN\tSOA\tns1.example.test. hostmaster.example.test. "
                  "1 3600 900 604800 300",
                  "3 www.example.test.\t60\tIN\tA\t192.0.2.1",
                  "4 example.test.\t300\tIN\tNS\tns1.example.test.",
                  "6 ns1.example.test.\t300\tIN\tA\t192.0.2.53",
                  "9 www.example.test.\t300\tIN\tA\t192.0.2.2",
                  "10 alias.example.test.\t300\tIN\tCNAME\twww.example.test."));
}

TEST(PlanZoneImport, OriginOptionIsTheZoneAndTheInitialOrigin) {
  auto plan = PlanZoneImport("www 60 A 192.0.2.1\n", "db.x", N("Example.Test"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->zone.ToText(), "Example.Test.");
  ASSERT_EQ(plan->records.size(), 1u);
  EXPECT_EQ(plan->records[0].owner, N("www.example.test"));
}

TEST(PlanZoneImport, RefusesWhatTheNodeWouldRefuse) {
  // Parse errors come through with their line.
  EXPECT_EQ(Plan("$ORIGIN example.test.\n$INCLUDE x\n"),
            "db.x:2: $INCLUDE is not supported (a zone is read from one file; concatenate the "
            "files instead)");
  EXPECT_EQ(Plan("www.example.test. 60 A 192.0.2.1\n"),
            "db.x: no SOA record and no --origin, so the zone is unknown; pass --origin ZONE");
  EXPECT_EQ(Plan("$ORIGIN example.test.\n@ 60 SOA ns hm 1 2 3 4 5\n"
                 "sub 60 SOA ns hm 1 2 3 4 5\n"),
            "db.x:3: a second SOA record (the first is on line 2); a zone has one");
  EXPECT_EQ(Plan("$ORIGIN example.test.\nsub 60 SOA ns hm 1 2 3 4 5\n", "example.test"),
            "db.x:2: the SOA is at sub.example.test. but the zone is example.test.; an SOA "
            "belongs only at the zone apex");
  EXPECT_EQ(Plan("www 60 TYPE65280 \\# 1 00\n", "example.test"),
            "db.x:1: type TYPE65280 cannot be stored; meshkv stores A, AAAA, CNAME, MX, NS, TXT, "
            "SRV, PTR, CAA and SOA");
  EXPECT_EQ(Plan("www 60 A 192.0.2.1\nwww.other.test. 60 A 192.0.2.1\n", "example.test"),
            "db.x:2: www.other.test. is outside the zone example.test.");
  EXPECT_THAT(Plan("a\\032b 60 A 192.0.2.1\n", "example.test"),
              StartsWith("db.x:1: name 'a\\\\032b.example.test.': labels may contain only "
                         "ASCII letters, digits, '-' and '_'"));
  EXPECT_EQ(Plan("@ 60 CNAME www\n", "example.test"),
            "db.x:1: a CNAME at the zone apex example.test. (it has SOA and NS records)");
  EXPECT_EQ(Plan("www 60 A 192.0.2.1\nWWW 60 CNAME x\n", "example.test"),
            "db.x:2: WWW.example.test. has A data (line 1) and a CNAME; a CNAME cannot coexist "
            "with other data (RFC 1034 3.6.2)");
  EXPECT_EQ(Plan("www 60 CNAME x\n\nwww 60 TXT hi\n", "example.test"),
            "db.x:3: www.example.test. has a CNAME (line 1) and TXT data; a CNAME cannot coexist "
            "with other data (RFC 1034 3.6.2)");
  EXPECT_EQ(Plan("www 60 CNAME x\nwww 60 CNAME y\n", "example.test"),
            "db.x:2: www.example.test. has a second CNAME (the first is on line 1); a name has at "
            "most one (RFC 2181 10.1)");
  // The same CNAME twice (names compare case-insensitively) is one value.
  auto same = PlanZoneImport("www 60 CNAME x\nwww 90 CNAME X\n", "db.x", N("example.test"));
  ASSERT_TRUE(same.ok()) << same.status().message();
  ASSERT_EQ(same->records.size(), 1u);
  EXPECT_EQ(same->records[0].ttl, 90u);
}

TEST(RecordsFromResponse, ReadsTheApiForm) {
  auto body = nlohmann::json::parse(R"({"name":"www.example.test.","records":[
      {"name":"www.example.test.","type":"MX","value":"10 mail.example.test.","ttl":300},
      {"name":"www.example.test.","type":"TXT","value":"\"a b\" \"c\\\"d\"","ttl":0}]})");
  auto records = RecordsFromResponse(body);
  ASSERT_TRUE(records.ok()) << records.status().message();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].type, RrType::kMx);
  EXPECT_EQ((*records)[0].rdata, *dns::RdataFromText(RrType::kMx, "10 mail.example.test."));
  EXPECT_EQ((*records)[1].rdata, std::string("\x03"
                                             "a b"
                                             "\x03"
                                             "c\"d"));
  EXPECT_EQ((*records)[1].ttl, 0u);

  for (std::string_view bad : {
           R"([])",
           R"({"records":{}})",
           R"({"records":[{"name":"a.","type":"A","value":"192.0.2.1"}]})",
           R"({"records":[{"name":"a.","type":"A","value":"192.0.2.1","ttl":-1}]})",
           R"({"records":[{"name":"a.","type":"A","value":"192.0.2.1","ttl":4294967296}]})",
           R"({"records":[{"name":"a..b","type":"A","value":"192.0.2.1","ttl":1}]})",
           R"({"records":[{"name":"a.","type":"BOGUS","value":"x","ttl":1}]})",
           R"j({"records":[{"name":"a.","type":"A","value":"(unprintable)","ttl":1}]})j",
       }) {
    auto records = RecordsFromResponse(nlohmann::json::parse(bad));
    EXPECT_FALSE(records.ok()) << bad;
  }
}

// ---- Usage and local failures: nothing is sent --------------------------------------

using meshkv::testing::CliOutcome;

CliOutcome RunCli(std::vector<std::string> args) {
  return meshkv::testing::RunCliWith(
      [](CLI::App& app, ClientCommandResult& result, ClientStreams streams) {
        AddRecordCommands(app, result, streams);
      },
      std::move(args));
}

// Port 1 on loopback: nothing listens there, so a request would fail with
// "cannot connect"; the tests below must fail before that.
constexpr std::string_view kNowhere = "127.0.0.1:1";

TEST(RecordCommands, UsageErrorsExitTwo) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"record"},
           {"record", "add", "www.example.test", "A"},
           {"record", "add", "www.example.test", "A", "192.0.2.1", "--ttl", "5x"},
           {"record", "add", "www.example.test", "A", "192.0.2.1", "--ttl", "2147483648"},
           {"record", "add", "a..b", "A", "192.0.2.1"},
           {"record", "ls"},
           {"record", "rm"},
           {"zone", "import"},
           {"zone", "import", "/nonexistent/zone.file"},
           {"zone", "export"},
           {"zone", "export", "a..b"},
       }) {
    std::vector<std::string> full = args;
    full.push_back("--addr");
    full.push_back(std::string(kNowhere));
    CliOutcome outcome = RunCli(full);
    EXPECT_EQ(outcome.exit_code, kExitUsage) << ::testing::PrintToString(args) << outcome.err;
  }
}

TEST(RecordCommands, UnreachableNodeExitsOne) {
  CliOutcome outcome =
      RunCli({"record", "ls", "www.example.test", "--addr", std::string(kNowhere)});
  EXPECT_EQ(outcome.exit_code, kExitFailure);
  EXPECT_THAT(outcome.err, StartsWith("meshkv: "));
  EXPECT_EQ(outcome.out, "");
}

TEST(RecordCommands, ZoneImportRefusesABadFileBeforeSending) {
  const std::string path = ::testing::TempDir() + "/record_commands_test.zone";
  {
    std::ofstream file(path);
    file << "$ORIGIN example.test.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\nwww A 192.0.2.1\n"
            "bad A 192.0.2\n";
  }
  CliOutcome outcome = RunCli({"zone", "import", path, "--addr", std::string(kNowhere)});
  EXPECT_EQ(outcome.exit_code, kExitFailure);
  EXPECT_EQ(outcome.err, "meshkv: " + path +
                             ":5: bad A rdata: A address: '192.0.2' is not an IPv4 dotted quad "
                             "(nothing imported)\n");
  EXPECT_EQ(outcome.out, "");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace meshkv
