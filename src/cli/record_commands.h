// The DNS record verbs of the `meshkv` command line, over the records API
// (docs/dns.md):
//   record add NAME TYPE VALUE... [--ttl 300|5m] [--json]
//   record ls NAME [--type T] [--json]
//   record rm NAME [TYPE [VALUE...]] [--json]
//   zone import FILE [--origin ZONE]
//   zone export ZONE
// VALUE words are joined with single spaces ("MX 10 mail.example.test."); quote
// a TXT value's strings for the shell ('"two words" more').
//
// Common options, stdout/stderr rules and exit codes are those of
// client_commands.h: 0 success; 3 when the node answers 404 to `record ls`,
// `record rm` (no such records) or `zone export` (a zone it does not serve);
// 2 usage errors (bad --ttl, --origin, ZONE, missing arguments); 1 anything
// else, including a zone file that does not pass the local checks.
//
// `zone import` reads the file, parses it (zone_file.h) and checks every
// record locally before sending anything: types meshkv stores, owners inside
// the zone and of [A-Za-z0-9_-] labels, at most one SOA and only at the apex,
// no CNAME at the apex or beside other data or another CNAME. On any error
// nothing is sent. Then an existing SOA that differs from the file's is
// deleted, and each record is POSTed, SOA first, then in file order. On an
// HTTP error (a 409 conflict with records already on the node, say) it stops
// and says which record, and how many were imported before it. On success it
// prints "imported N records into ZONE" on stdout.
//
// `zone export` prints the zone as a zone file (WriteZoneFile) that `zone
// import` reads back to the same records.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cli/client_commands.h"
#include "frontend/dns/wire/name.h"
#include "frontend/dns/wire/zone_file.h"

namespace meshkv {

// Registers the subcommands `record` (add, ls, rm) and `zone` (import,
// export) on `app`, with the same contract as AddClientCommands.
void AddRecordCommands(CLI::App& app, ClientCommandResult& result, ClientStreams streams = {});

// What `zone import` will send, after the local checks.
struct ZoneImportPlan {
  dns::Name zone;
  // The SOA first when there is one, then the file's order; a value given
  // twice (same owner, type and rdata) appears once, with its last TTL.
  std::vector<dns::ZoneRecord> records;
};

// Parses and checks a zone file as `zone import` does. The zone is `origin`
// when given (also the initial $ORIGIN), else the owner of the file's SOA.
// Errors are kInvalidArgument, "<file_name>:<line>: ..." when a line is at
// fault.
Result<ZoneImportPlan> PlanZoneImport(std::string_view text, std::string_view file_name,
                                      const std::optional<dns::Name>& origin);

// The records of a records API response ({"records":[{"name","type","value",
// "ttl"}]}), with values read as presentation text with absolute names.
// kInvalidArgument naming the record when one does not parse.
Result<std::vector<dns::ZoneRecord>> RecordsFromResponse(const nlohmann::json& response);

}  // namespace meshkv
