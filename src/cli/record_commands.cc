#include "cli/record_commands.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "cli/client_common.h"
#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"
#include "records/record.h"

namespace meshkv {
namespace {

namespace RrType = dns::RrType;
using cli::Call;
using cli::CallForSuccess;
using cli::CommonArgs;
using cli::Fail;
using cli::Invocation;
using cli::IsSuccess;
using cli::OneLine;
using cli::OnRun;
using cli::WriteJsonBody;
using cli::WriteOutput;
using Json = nlohmann::json;

// The types the records API stores (RecordService::MakeRecord).
constexpr uint16_t kStorableTypes[] = {RrType::kA,   RrType::kAaaa, RrType::kCname, RrType::kMx,
                                       RrType::kNs,  RrType::kTxt,  RrType::kSrv,   RrType::kPtr,
                                       RrType::kCaa, RrType::kSoa};

bool IsStorable(uint16_t type) {
  for (uint16_t storable : kStorableTypes) {
    if (storable == type) return true;
  }
  return false;
}

std::string RecordsPath(const std::string& name) {
  return "/v1/records/" + PercentEncodeQueryComponent(name);
}

// "www.example.test. A 192.0.2.1", for messages.
std::string Describe(const dns::ZoneRecord& record) {
  auto value = dns::RdataToText(record.type, record.rdata);
  return record.owner.ToText() + " " + dns::TypeToText(record.type) + " " +
         (value.ok() ? *value : std::string("(bad rdata)"));
}

// The POST /v1/records/{name} body for `record`.
std::string AddBody(const dns::ZoneRecord& record) {
  return cli::DumpJson(Json{{"type", dns::TypeToText(record.type)},
                            {"value", *dns::RdataToText(record.type, record.rdata)},
                            {"ttl", record.ttl}});
}

// A name from the command line (presentation format, always absolute).
CLI::Validator DomainNameCheck() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto name = dns::Name::FromText(text);
        return name.ok() ? "" : name.status().message();
      },
      "", "NAME");
}

CLI::Validator TtlCheck() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto ttl = dns::ParseTtl(text);
        return ttl.ok() ? "" : ttl.status().message();
      },
      "", "TTL");
}

std::string JoinWords(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& word : words) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

// Parses a records API response body; nullopt (after printing why) when it
// is not the expected JSON.
std::optional<std::vector<dns::ZoneRecord>> ReadRecords(const Invocation& run,
                                                        const HttpResponse& response,
                                                        int& exit_code) {
  const Json body = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  auto records = RecordsFromResponse(body);
  if (!records.ok()) {
    exit_code =
        Fail(run, kExitFailure,
             "unexpected answer from " + run.options.addr + ": " + records.status().message());
    return std::nullopt;
  }
  return std::move(*records);
}

// ---- record add / ls / rm ---------------------------------------------------

struct RecordAddArgs {
  CommonArgs common;
  std::string name;
  std::string type;
  std::vector<std::string> value;
  std::string ttl;
  bool json = false;
};

int RunRecordAdd(const RecordAddArgs& args, const Invocation& run) {
  Json body = {{"type", args.type}, {"value", JoinWords(args.value)}};
  if (!args.ttl.empty()) {
    auto ttl = dns::ParseTtl(args.ttl);
    if (!ttl.ok()) return Fail(run, kExitUsage, "--ttl: " + ttl.status().message());
    body["ttl"] = *ttl;
  }
  int exit_code = kExitOk;
  std::optional<HttpResponse> response = CallForSuccess(
      run, exit_code, /*not_found_is_distinct=*/false, HttpMethod::kPost, RecordsPath(args.name),
      cli::DumpJson(body), {{"Content-Type", "application/json"}});
  if (!response) return exit_code;
  return args.json ? WriteJsonBody(run, response->body) : kExitOk;
}

struct RecordLsArgs {
  CommonArgs common;
  std::string name;
  std::string type;
  bool json = false;
};

int RunRecordLs(const RecordLsArgs& args, const Invocation& run) {
  int exit_code = kExitOk;
  std::optional<HttpResponse> response =
      CallForSuccess(run, exit_code, /*not_found_is_distinct=*/true, HttpMethod::kGet,
                     BuildTarget(RecordsPath(args.name), {{"type", args.type}}));
  if (!response) return exit_code;
  if (args.json) return WriteJsonBody(run, response->body);
  std::optional<std::vector<dns::ZoneRecord>> records = ReadRecords(run, *response, exit_code);
  if (!records) return exit_code;
  std::string lines;
  for (const dns::ZoneRecord& record : *records) {
    lines += *dns::RecordToText(record);  // rdata came from RdataFromText: valid
    lines += '\n';
  }
  return WriteOutput(run, lines);
}

struct RecordRmArgs {
  CommonArgs common;
  std::string name;
  std::string type;
  std::vector<std::string> value;
  bool json = false;
};

int RunRecordRm(const RecordRmArgs& args, const Invocation& run) {
  Json body = Json::object();
  if (!args.type.empty()) body["type"] = args.type;
  if (!args.value.empty()) body["value"] = JoinWords(args.value);
  int exit_code = kExitOk;
  std::optional<HttpResponse> response =
      body.empty() ? CallForSuccess(run, exit_code, /*not_found_is_distinct=*/true,
                                    HttpMethod::kDelete, RecordsPath(args.name))
                   : CallForSuccess(run, exit_code, /*not_found_is_distinct=*/true,
                                    HttpMethod::kDelete, RecordsPath(args.name),
                                    cli::DumpJson(body), {{"Content-Type", "application/json"}});
  if (!response) return exit_code;
  return args.json ? WriteJsonBody(run, response->body) : kExitOk;
}

// ---- zone import / export -----------------------------------------------------

struct ZoneImportArgs {
  CommonArgs common;
  std::string file;
  std::string origin;
};

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return InvalidArgument("cannot read " + path + ": " + std::strerror(errno));
  std::string data;
  char buffer[64 * 1024];
  while (file.read(buffer, sizeof(buffer)) || file.gcount() > 0) {
    data.append(buffer, static_cast<size_t>(file.gcount()));
    if (data.size() > max_bytes) {
      return InvalidArgument(path + " is larger than " + std::to_string(max_bytes >> 20) + " MiB");
    }
  }
  if (file.bad()) return InvalidArgument("cannot read " + path + ": " + std::strerror(errno));
  return data;
}

// Deletes the zone's SOA when the node has one that differs from `soa`, so
// that posting `soa` replaces it. False (after printing why) on failure.
bool MakeRoomForSoa(const Invocation& run, const dns::ZoneRecord& soa, int& exit_code) {
  const std::string path = RecordsPath(soa.owner.ToText());
  std::optional<HttpResponse> response =
      Call(run, exit_code, HttpMethod::kGet, BuildTarget(path, {{"type", "SOA"}}));
  if (!response) return false;
  if (response->status == 404) return true;
  if (!IsSuccess(*response)) {
    exit_code = Fail(
        run, kExitFailure,
        "nothing imported: reading the current SOA: " + cli::DescribeHttpError(run, *response));
    return false;
  }
  std::optional<std::vector<dns::ZoneRecord>> existing = ReadRecords(run, *response, exit_code);
  if (!existing) return false;
  const std::string wanted = dns::CanonicalRdata(RrType::kSoa, soa.rdata);
  bool differs = false;
  for (const dns::ZoneRecord& record : *existing) {
    differs |= dns::CanonicalRdata(RrType::kSoa, record.rdata) != wanted;
  }
  if (!differs) return true;  // the same SOA: posting it updates its TTL
  response = Call(run, exit_code, HttpMethod::kDelete, path, R"({"type":"SOA"})",
                  {{"Content-Type", "application/json"}});
  if (!response) return false;
  if (!IsSuccess(*response) && response->status != 404) {
    exit_code =
        Fail(run, kExitFailure,
             "nothing imported: replacing the SOA: " + cli::DescribeHttpError(run, *response));
    return false;
  }
  return true;
}

int RunZoneImport(const ZoneImportArgs& args, const Invocation& run) {
  std::optional<dns::Name> origin;
  if (!args.origin.empty()) {
    auto name = dns::Name::FromText(args.origin);
    if (!name.ok()) return Fail(run, kExitUsage, "--origin: " + name.status().message());
    origin = std::move(*name);
  }
  auto text = ReadFile(args.file, dns::ZoneParseOptions().max_file_bytes);
  if (!text.ok()) return Fail(run, kExitFailure, text.status().message());
  auto plan = PlanZoneImport(*text, args.file, origin);
  if (!plan.ok()) {
    return Fail(run, kExitFailure, plan.status().message() + " (nothing imported)");
  }
  const std::string zone = plan->zone.ToText();
  int exit_code = kExitOk;
  if (!plan->records.empty() && plan->records.front().type == RrType::kSoa &&
      !MakeRoomForSoa(run, plan->records.front(), exit_code)) {
    return exit_code;
  }
  size_t imported = 0;
  for (const dns::ZoneRecord& record : plan->records) {
    std::optional<HttpResponse> response =
        Call(run, exit_code, HttpMethod::kPost, RecordsPath(record.owner.ToText()), AddBody(record),
             {{"Content-Type", "application/json"}});
    std::string failure;
    if (!response) {
      failure = "not sent";
    } else if (!IsSuccess(*response)) {
      failure = cli::DescribeHttpError(run, *response);
    }
    if (!failure.empty()) {
      return Fail(run, kExitFailure,
                  args.file + ":" + std::to_string(record.line) + ": " + Describe(record) + ": " +
                      failure + "; " + std::to_string(imported) + " of " +
                      std::to_string(plan->records.size()) + " records were imported into " + zone +
                      " before it, the rest were not sent");
    }
    ++imported;
  }
  return WriteOutput(run, "imported " + std::to_string(imported) + " records into " + zone + "\n");
}

struct ZoneExportArgs {
  CommonArgs common;
  std::string zone;
};

int RunZoneExport(const ZoneExportArgs& args, const Invocation& run) {
  auto zone = dns::Name::FromText(args.zone);
  if (!zone.ok()) return Fail(run, kExitUsage, "ZONE: " + zone.status().message());
  int exit_code = kExitOk;
  std::optional<HttpResponse> response =
      CallForSuccess(run, exit_code, /*not_found_is_distinct=*/true, HttpMethod::kGet,
                     BuildTarget("/v1/records", {{"zone", zone->ToText()}}));
  if (!response) return exit_code;
  std::optional<std::vector<dns::ZoneRecord>> records = ReadRecords(run, *response, exit_code);
  if (!records) return exit_code;
  auto text = dns::WriteZoneFile(*zone, std::move(*records));
  if (!text.ok()) return Fail(run, kExitFailure, text.status().message());
  return WriteOutput(run, *text);
}

}  // namespace

Result<ZoneImportPlan> PlanZoneImport(std::string_view text, std::string_view file_name,
                                      const std::optional<dns::Name>& origin) {
  dns::ZoneParseOptions options;
  options.file_name = std::string(file_name);
  options.origin = origin;
  auto parsed = dns::ParseZoneFile(text, options);
  if (!parsed.ok()) return parsed.status();
  const auto at = [&](size_t line) {
    return std::string(file_name) + ":" + std::to_string(line) + ": ";
  };

  const dns::ZoneRecord* soa = nullptr;
  for (const dns::ZoneRecord& record : *parsed) {
    if (record.type != RrType::kSoa) continue;
    if (soa != nullptr) {
      return InvalidArgument(at(record.line) + "a second SOA record (the first is on line " +
                             std::to_string(soa->line) + "); a zone has one");
    }
    soa = &record;
  }
  ZoneImportPlan plan;
  if (origin) {
    plan.zone = *origin;
  } else if (soa != nullptr) {
    plan.zone = soa->owner;
  } else {
    return InvalidArgument(std::string(file_name) +
                           ": no SOA record and no --origin, so the zone is unknown; pass "
                           "--origin ZONE");
  }
  if (soa != nullptr && !(soa->owner == plan.zone)) {
    return InvalidArgument(at(soa->line) + "the SOA is at " + soa->owner.ToText() +
                           " but the zone is " + plan.zone.ToText() +
                           "; an SOA belongs only at the zone apex");
  }

  // Per owner: where its first CNAME and first other data are.
  struct OwnerUse {
    const dns::ZoneRecord* cname = nullptr;
    const dns::ZoneRecord* other = nullptr;
  };
  std::unordered_map<dns::Name, OwnerUse, dns::NameHash> uses;
  // Position in plan.records of each distinct value.
  std::map<std::string, size_t> positions;
  if (soa != nullptr) plan.records.push_back(*soa);

  for (const dns::ZoneRecord& record : *parsed) {
    if (!IsStorable(record.type)) {
      return InvalidArgument(at(record.line) + "type " + dns::TypeToText(record.type) +
                             " cannot be stored; meshkv stores A, AAAA, CNAME, MX, NS, TXT, SRV, "
                             "PTR, CAA and SOA");
    }
    if (!record.owner.IsSubdomainOf(plan.zone)) {
      return InvalidArgument(at(record.line) + record.owner.ToText() + " is outside the zone " +
                             plan.zone.ToText());
    }
    Status labels = records::ValidateOwnerLabels(record.owner);
    if (!labels.ok()) return InvalidArgument(at(record.line) + labels.message());

    OwnerUse& use = uses[record.owner];
    const std::string canonical = dns::CanonicalRdata(record.type, record.rdata);
    if (record.type == RrType::kCname) {
      if (record.owner == plan.zone) {
        return InvalidArgument(at(record.line) + "a CNAME at the zone apex " + plan.zone.ToText() +
                               " (it has SOA and NS records)");
      }
      if (use.other != nullptr) {
        return InvalidArgument(at(record.line) + record.owner.ToText() + " has " +
                               dns::TypeToText(use.other->type) + " data (line " +
                               std::to_string(use.other->line) +
                               ") and a CNAME; a CNAME cannot coexist with other data (RFC 1034 "
                               "3.6.2)");
      }
      if (use.cname != nullptr &&
          dns::CanonicalRdata(RrType::kCname, use.cname->rdata) != canonical) {
        return InvalidArgument(
            at(record.line) + record.owner.ToText() + " has a second CNAME (the first is on line " +
            std::to_string(use.cname->line) + "); a name has at most one (RFC 2181 10.1)");
      }
      if (use.cname == nullptr) use.cname = &record;
    } else {
      if (use.cname != nullptr) {
        return InvalidArgument(at(record.line) + record.owner.ToText() + " has a CNAME (line " +
                               std::to_string(use.cname->line) + ") and " +
                               dns::TypeToText(record.type) +
                               " data; a CNAME cannot coexist with other data (RFC 1034 3.6.2)");
      }
      if (use.other == nullptr) use.other = &record;
    }
    if (record.type == RrType::kSoa) continue;  // already first

    const std::string key =
        records::NameKeyPrefix(record.owner) + dns::TypeToText(record.type) + "/" + canonical;
    auto [position, inserted] = positions.emplace(key, plan.records.size());
    if (inserted) {
      plan.records.push_back(record);
    } else {
      plan.records[position->second].ttl = record.ttl;  // as re-adding it would
    }
  }
  return plan;
}

Result<std::vector<dns::ZoneRecord>> RecordsFromResponse(const Json& response) {
  const auto list = response.is_object() ? response.find("records") : response.end();
  if (list == response.end() || !list->is_array()) {
    return InvalidArgument("expected a JSON object with a \"records\" array");
  }
  std::vector<dns::ZoneRecord> out;
  out.reserve(list->size());
  for (const Json& item : *list) {
    const auto field = [&](const char* name) -> const Json* {
      auto it = item.is_object() ? item.find(name) : item.end();
      return it == item.end() ? nullptr : &*it;
    };
    const Json* name = field("name");
    const Json* type = field("type");
    const Json* value = field("value");
    const Json* ttl = field("ttl");
    const std::string shown = OneLine(cli::DumpJson(item), 300);
    if (name == nullptr || !name->is_string() || type == nullptr || !type->is_string() ||
        value == nullptr || !value->is_string() || ttl == nullptr || !ttl->is_number_unsigned() ||
        ttl->get<uint64_t>() > UINT32_MAX) {
      return InvalidArgument("record " + shown + " lacks a string name, type, value or a ttl");
    }
    auto owner = dns::Name::FromText(name->get<std::string>());
    if (!owner.ok()) return InvalidArgument("record " + shown + ": " + owner.status().message());
    auto type_code = dns::TypeFromText(type->get<std::string>());
    if (!type_code) return InvalidArgument("record " + shown + ": unknown type");
    auto rdata = dns::RdataFromText(*type_code, value->get<std::string>());
    if (!rdata.ok()) return InvalidArgument("record " + shown + ": " + rdata.status().message());
    out.push_back(dns::ZoneRecord{std::move(*owner), *type_code,
                                  static_cast<uint32_t>(ttl->get<uint64_t>()), std::move(*rdata)});
  }
  return out;
}

void AddRecordCommands(CLI::App& app, ClientCommandResult& result, ClientStreams streams) {
  CLI::App* record = app.add_subcommand("record", "DNS records: add, ls, rm");
  record->require_subcommand(1);
  {
    auto args = std::make_shared<RecordAddArgs>();
    CLI::App* add = record->add_subcommand(
        "add", "Add one value at a name (re-adding the same value updates its TTL)");
    add->add_option("NAME", args->name, "Owner name, e.g. www.example.test")
        ->required()
        ->check(DomainNameCheck());
    add->add_option("TYPE", args->type, "A, AAAA, CNAME, MX, NS, TXT, SRV, PTR, CAA or SOA")
        ->required()
        ->check(cli::NonEmptyCheck());
    add->add_option("VALUE", args->value,
                    "The value in zone file form; several words are joined with spaces")
        ->required();
    add->add_option("--ttl", args->ttl, "TTL: seconds or e.g. 5m, 1h (default: the node's)")
        ->type_name("TTL")
        ->check(TtlCheck());
    add->add_flag("--json", args->json, "Print the JSON response");
    cli::AddCommonOptions(*add, args->common);
    OnRun(*add, args, result, streams, &RunRecordAdd);
  }
  {
    auto args = std::make_shared<RecordLsArgs>();
    CLI::App* ls = record->add_subcommand(
        "ls", "List the records at a name, one a line: name ttl IN TYPE value (exit 3: none)");
    ls->add_option("NAME", args->name, "Owner name")->required()->check(DomainNameCheck());
    ls->add_option("--type", args->type, "Only this type")->type_name("TYPE");
    ls->add_flag("--json", args->json, "Print the JSON response");
    cli::AddCommonOptions(*ls, args->common);
    OnRun(*ls, args, result, streams, &RunRecordLs);
  }
  {
    auto args = std::make_shared<RecordRmArgs>();
    CLI::App* rm = record->add_subcommand(
        "rm", "Remove every record at a name, those of one TYPE, or one VALUE (exit 3: none)");
    rm->add_option("NAME", args->name, "Owner name")->required()->check(DomainNameCheck());
    rm->add_option("TYPE", args->type, "Only records of this type")->check(cli::NonEmptyCheck());
    rm->add_option("VALUE", args->value, "Only this value (needs TYPE)");
    rm->add_flag("--json", args->json, "Print the JSON response (the number removed)");
    cli::AddCommonOptions(*rm, args->common);
    OnRun(*rm, args, result, streams, &RunRecordRm);
  }

  CLI::App* zone = app.add_subcommand("zone", "DNS zones: import and export zone files");
  zone->require_subcommand(1);
  {
    auto args = std::make_shared<ZoneImportArgs>();
    CLI::App* import = zone->add_subcommand(
        "import", "Add every record of a zone file (all checked before any is sent)");
    import->add_option("FILE", args->file, "Zone file (RFC 1035 5; $INCLUDE is not supported)")
        ->required()
        ->check(CLI::ExistingFile);
    import
        ->add_option("--origin", args->origin,
                     "The zone, and the origin of relative names before any $ORIGIN "
                     "(default: the owner of the file's SOA)")
        ->type_name("ZONE")
        ->check(DomainNameCheck());
    cli::AddCommonOptions(*import, args->common);
    OnRun(*import, args, result, streams, &RunZoneImport);
  }
  {
    auto args = std::make_shared<ZoneExportArgs>();
    CLI::App* export_command = zone->add_subcommand(
        "export", "Print a zone's records as a zone file (exit 3: not served)");
    export_command->add_option("ZONE", args->zone, "Zone apex, e.g. example.test")
        ->required()
        ->check(DomainNameCheck());
    cli::AddCommonOptions(*export_command, args->common);
    OnRun(*export_command, args, result, streams, &RunZoneExport);
  }
}

}  // namespace meshkv
