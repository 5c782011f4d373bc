#include "cli/client_commands.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/duration.h"
#include "base/status.h"
#include "cli/client_common.h"
#include "cli/http_client.h"

namespace meshkv {
namespace {

using cli::CallForSuccess;
using cli::CommonArgs;
using cli::DumpJson;
using cli::DurationCheck;
using cli::Fail;
using cli::Invocation;
using cli::OneLine;
using cli::OnRun;
using cli::WriteAll;
using cli::WriteJsonBody;
using cli::WriteOutput;
using Json = nlohmann::json;

// `put` refuses a value from stdin above this, instead of buffering without
// bound (the server's own limit, max_value_bytes, defaults to 1 MiB).
constexpr size_t kMaxStdinValueBytes = size_t{256} << 20;
// The API's largest page (docs/api.md, GET /v1/kv).
constexpr int64_t kMaxPageSize = 1000;

std::string KeyPath(const std::string& key) {
  return "/v1/kv/" + PercentEncodePathKey(key);
}

CLI::Validator PositiveCountCheck() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        int64_t count = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
        const bool whole = error == std::errc() && end == text.data() + text.size();
        return whole && count >= 1 ? "" : "must be a whole number of at least 1";
      },
      "", "N");
}

void AddKeyArgument(CLI::App& command, std::string& key) {
  command.add_option("KEY", key, "The key (any bytes; slashes are part of the key)")
      ->required()
      ->check(cli::NonEmptyCheck());
}

void AddNamespaceOption(CLI::App& command, std::string& ns) {
  command.add_option("--ns", ns, "Namespace (default: the node's `default`)")->type_name("NS");
}

void AddConsistencyOption(CLI::App& command, std::string& consistency) {
  command.add_option("--consistency", consistency, "one | quorum | all (default: the namespace's)")
      ->check(CLI::IsMember({"one", "quorum", "all"}));
}

// ---------------------------------------------------------------------------
// The verbs.

struct PutArgs {
  CommonArgs common;
  std::string key;
  std::optional<std::string> value;  // nullopt or "-": read stdin
  std::string ttl;
  std::string ns;
  std::string consistency;
  bool json = false;
};

Result<std::string> ReadAll(std::FILE* in) {
  std::string data;
  char buffer[64 * 1024];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), in)) > 0) {
    if (data.size() + n > kMaxStdinValueBytes) {
      return ResourceExhausted("the value on stdin is larger than " +
                               std::to_string(kMaxStdinValueBytes >> 20) + " MiB");
    }
    data.append(buffer, n);
  }
  if (std::ferror(in))
    return Unavailable(std::string("cannot read stdin: ") + std::strerror(errno));
  return data;
}

int RunPut(const PutArgs& args, const Invocation& run) {
  std::string value;
  if (!args.value.has_value() || *args.value == "-") {
    const int fd = fileno(run.streams.in);
    if (fd >= 0 && isatty(fd)) {
      const std::string hint = "meshkv: reading the value from stdin; end it with Ctrl-D\n";
      WriteAll(run.streams.err, hint);
    }
    Result<std::string> from_stdin = ReadAll(run.streams.in);
    if (!from_stdin.ok()) return Fail(run, kExitFailure, from_stdin.status().message());
    value = std::move(from_stdin).value();
  } else {
    value = *args.value;
  }
  std::string ttl;
  if (!args.ttl.empty()) {
    Result<int64_t> millis = ParseDurationMillis(args.ttl);
    if (!millis.ok()) return Fail(run, kExitUsage, "--ttl: " + millis.status().message());
    ttl = FormatDurationMillis(*millis);
  }
  const std::string target = BuildTarget(
      KeyPath(args.key), {{"ns", args.ns}, {"ttl", ttl}, {"consistency", args.consistency}});
  int exit_code = kExitOk;
  std::optional<HttpResponse> response =
      CallForSuccess(run, exit_code, /*not_found_is_distinct=*/false, HttpMethod::kPut, target,
                     value, {{"Content-Type", "application/octet-stream"}});
  if (!response) return exit_code;
  return args.json ? WriteJsonBody(run, response->body) : kExitOk;
}

struct GetArgs {
  CommonArgs common;
  std::string key;
  std::string ns;
  std::string consistency;
  bool json = false;
};

int RunGet(const GetArgs& args, const Invocation& run) {
  const std::string target =
      BuildTarget(KeyPath(args.key), {{"ns", args.ns}, {"consistency", args.consistency}});
  HttpHeaderList headers;
  if (args.json) headers.emplace_back("Accept", "application/json");
  int exit_code = kExitOk;
  std::optional<HttpResponse> response = CallForSuccess(
      run, exit_code, /*not_found_is_distinct=*/true, HttpMethod::kGet, target, {}, headers);
  if (!response) return exit_code;
  return args.json ? WriteJsonBody(run, response->body) : WriteOutput(run, response->body);
}

struct DelArgs {
  CommonArgs common;
  std::string key;
  std::string ns;
  std::string consistency;
  bool json = false;
};

int RunDel(const DelArgs& args, const Invocation& run) {
  const std::string target =
      BuildTarget(KeyPath(args.key), {{"ns", args.ns}, {"consistency", args.consistency}});
  int exit_code = kExitOk;
  std::optional<HttpResponse> response =
      CallForSuccess(run, exit_code, /*not_found_is_distinct=*/true, HttpMethod::kDelete, target);
  if (!response) return exit_code;
  return args.json ? WriteJsonBody(run, response->body) : kExitOk;
}

struct LsArgs {
  CommonArgs common;
  std::string prefix;
  std::optional<int64_t> limit;  // nullopt: every key
  std::string cursor;
  std::string ns;
  bool json = false;
};

// The line `ls` prints for one item: the key, or "b64:<key_b64>" when the key
// is not UTF-8 or holds control characters (which would break the one key per
// line format).
std::optional<std::string> ListingLine(const Json& item) {
  if (!item.is_object()) return std::nullopt;
  const auto key = item.find("key");
  if (key != item.end() && key->is_string()) {
    const std::string& text = key->get_ref<const std::string&>();
    const bool printable = std::none_of(text.begin(), text.end(), [](char c) {
      const auto byte = static_cast<unsigned char>(c);
      return byte < 0x20 || byte == 0x7f;
    });
    if (printable) return text;
  }
  const auto key_b64 = item.find("key_b64");
  if (key_b64 != item.end() && key_b64->is_string()) {
    return "b64:" + key_b64->get<std::string>();
  }
  if (key != item.end() && key->is_string()) return key->get<std::string>();
  return std::nullopt;
}

int RunLs(const LsArgs& args, const Invocation& run) {
  std::string cursor = args.cursor;
  std::optional<int64_t> remaining = args.limit;
  Json merged = {{"ns", nullptr}, {"items", Json::array()}, {"next_cursor", nullptr}};
  // Where a listing cut short by --limit can go on; nullopt once it is complete.
  std::optional<std::string> resume_cursor;
  while (true) {
    const int64_t page_size = remaining ? std::min(*remaining, kMaxPageSize) : kMaxPageSize;
    const std::string target = BuildTarget("/v1/kv", {{"ns", args.ns},
                                                      {"prefix", args.prefix},
                                                      {"limit", std::to_string(page_size)},
                                                      {"cursor", cursor},
                                                      {"keys_only", "true"}});
    int exit_code = kExitOk;
    std::optional<HttpResponse> response =
        CallForSuccess(run, exit_code, /*not_found_is_distinct=*/false, HttpMethod::kGet, target);
    if (!response) return exit_code;

    const Json page = Json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    const auto items = page.is_object() ? page.find("items") : page.end();
    if (items == page.end() || !items->is_array()) {
      return Fail(run, kExitFailure,
                  "the listing from " + run.options.addr +
                      " is not the expected JSON: " + OneLine(response->body, 200));
    }
    if (merged["ns"].is_null() && page.contains("ns")) merged["ns"] = page["ns"];
    std::string lines;
    for (const Json& item : *items) {
      if (remaining && *remaining == 0) break;
      if (args.json) {
        merged["items"].push_back(item);
      } else {
        std::optional<std::string> line = ListingLine(item);
        if (!line) {
          return Fail(run, kExitFailure, "a listing item has no key: " + DumpJson(item));
        }
        lines += *line;
        lines += '\n';
      }
      if (remaining) --*remaining;
    }
    if (!lines.empty()) {
      const int written = WriteOutput(run, lines);
      if (written != kExitOk) return written;
    }

    const auto next = page.find("next_cursor");
    if (next == page.end() || next->is_null()) {
      resume_cursor.reset();
      break;
    }
    if (!next->is_string()) {
      return Fail(run, kExitFailure, "the listing's next_cursor is not a string");
    }
    if (next->get_ref<const std::string&>() == cursor) {
      return Fail(run, kExitFailure, "the node returned the same cursor twice; stopping");
    }
    cursor = next->get<std::string>();
    resume_cursor = cursor;
    if (remaining && *remaining == 0) break;
  }
  if (!args.json) return kExitOk;
  if (resume_cursor) merged["next_cursor"] = *resume_cursor;
  return WriteOutput(run, DumpJson(merged) + "\n");
}

struct StatusArgs {
  CommonArgs common;
};

int RunStatus(const StatusArgs& args, const Invocation& run) {
  int exit_code = kExitOk;
  std::optional<HttpResponse> response = CallForSuccess(
      run, exit_code, /*not_found_is_distinct=*/false, HttpMethod::kGet, "/v1/cluster/status");
  if (!response) return exit_code;
  const Json status = Json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (status.is_discarded()) {
    return Fail(
        run, kExitFailure,
        "the status from " + run.options.addr + " is not JSON: " + OneLine(response->body, 200));
  }
  return WriteOutput(run, DumpJson(status, 2) + "\n");
}

}  // namespace

void AddClientCommands(CLI::App& app, ClientCommandResult& result, ClientStreams streams) {
  {
    auto args = std::make_shared<PutArgs>();
    CLI::App* put =
        app.add_subcommand("put", "Write a value (from VALUE, or stdin when - or omitted)");
    AddKeyArgument(*put, args->key);
    put->add_option("VALUE", args->value,
                    "The value; omit it or pass - to read stdin (binary-safe)");
    put->add_option("--ttl", args->ttl, "Expire after this long, e.g. 30s, 1h30m; 0s = never")
        ->type_name("DURATION")
        ->check(DurationCheck(/*allow_zero=*/true));
    AddNamespaceOption(*put, args->ns);
    AddConsistencyOption(*put, args->consistency);
    put->add_flag("--json", args->json, "Print the JSON response (version, expiry)");
    cli::AddCommonOptions(*put, args->common);
    OnRun(*put, args, result, streams, &RunPut);
  }
  {
    auto args = std::make_shared<GetArgs>();
    CLI::App* get =
        app.add_subcommand("get", "Print a value's raw bytes (exit 3 when the key does not exist)");
    AddKeyArgument(*get, args->key);
    AddNamespaceOption(*get, args->ns);
    AddConsistencyOption(*get, args->consistency);
    get->add_flag("--json", args->json,
                  "Print the JSON envelope (base64 value, version, origin, expiry)");
    cli::AddCommonOptions(*get, args->common);
    OnRun(*get, args, result, streams, &RunGet);
  }
  {
    auto args = std::make_shared<DelArgs>();
    CLI::App* del = app.add_subcommand("del", "Delete a key (succeeds when it is already absent)");
    AddKeyArgument(*del, args->key);
    AddNamespaceOption(*del, args->ns);
    AddConsistencyOption(*del, args->consistency);
    del->add_flag("--json", args->json, "Print the JSON response");
    cli::AddCommonOptions(*del, args->common);
    OnRun(*del, args, result, streams, &RunDel);
  }
  {
    auto args = std::make_shared<LsArgs>();
    CLI::App* ls = app.add_subcommand(
        "ls", "List keys, one a line (b64:<base64> for keys that are not printable UTF-8)");
    ls->add_option("--prefix", args->prefix, "Only keys starting with this")->type_name("PREFIX");
    ls->add_option("--limit", args->limit, "At most N keys (default: all, page by page)")
        ->type_name("N")
        ->check(PositiveCountCheck());
    ls->add_option("--cursor", args->cursor, "Start after a next_cursor printed by --json")
        ->type_name("CURSOR");
    AddNamespaceOption(*ls, args->ns);
    ls->add_flag("--json", args->json,
                 "Print one JSON object: ns, items, next_cursor (non-null when --limit cut "
                 "the listing short)");
    cli::AddCommonOptions(*ls, args->common);
    OnRun(*ls, args, result, streams, &RunLs);
  }
  {
    auto args = std::make_shared<StatusArgs>();
    CLI::App* status = app.add_subcommand("status", "Print the node's status as JSON");
    cli::AddCommonOptions(*status, args->common);
    OnRun(*status, args, result, streams, &RunStatus);
  }
}

int ExitCodeForParseError(const CLI::App& app, const CLI::ParseError& error) {
  const int cli11_code = app.exit(error);
  if (cli11_code == static_cast<int>(CLI::ExitCodes::Success)) return kExitOk;
  // A RuntimeError is a command's way to exit with its own code; keep it.
  if (error.get_name() == "RuntimeError") return cli11_code;
  return kExitUsage;
}

}  // namespace meshkv
