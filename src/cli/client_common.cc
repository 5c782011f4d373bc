#include "cli/client_common.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "base/duration.h"
#include "base/status.h"

namespace meshkv::cli {
namespace {

using Json = nlohmann::json;

CLI::Validator AddrCheck() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        Result<ClientEndpoint> endpoint = ParseClientAddr(text);
        return endpoint.ok() ? "" : endpoint.status().message();
      },
      "", "ADDR");
}

// A token for the Authorization header must be one visible word.
Status CheckToken(std::string_view token, std::string_view source) {
  for (char c : token) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) {
      return InvalidArgument("the token from " + std::string(source) +
                             " has a space or control character in it");
    }
  }
  return Status::Ok();
}

// --token, else the first line of --token-file, else env MESHKV_TOKEN, else
// none. Failures are usage errors.
Result<std::string> ResolveToken(const CommonArgs& args) {
  if (!args.token.empty()) {
    MESHKV_RETURN_IF_ERROR(CheckToken(args.token, "--token"));
    return args.token;
  }
  if (!args.token_file.empty()) {
    std::ifstream file(args.token_file, std::ios::binary);
    if (!file) {
      return InvalidArgument("cannot read --token-file " + args.token_file + ": " +
                             std::strerror(errno));
    }
    std::string line;
    std::getline(file, line);
    const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!line.empty() && is_space(line.back())) line.pop_back();
    const size_t first = line.find_first_not_of(" \t");
    line.erase(0, first == std::string::npos ? line.size() : first);
    if (line.empty()) {
      return InvalidArgument("--token-file " + args.token_file + " has no token on its first line");
    }
    MESHKV_RETURN_IF_ERROR(CheckToken(line, "--token-file " + args.token_file));
    return line;
  }
  const char* from_env = std::getenv("MESHKV_TOKEN");
  if (from_env != nullptr && *from_env != '\0') {
    MESHKV_RETURN_IF_ERROR(CheckToken(from_env, "env MESHKV_TOKEN"));
    return std::string(from_env);
  }
  return std::string();
}

}  // namespace

// ---------------------------------------------------------------------------
// Output helpers.

// Server-provided text may hold anything; keep diagnostics on one line and
// free of terminal control sequences.
std::string OneLine(std::string_view text, size_t max_bytes) {
  std::string out;
  for (char c : text.substr(0, max_bytes)) {
    const auto byte = static_cast<unsigned char>(c);
    out.push_back(byte < 0x20 || byte == 0x7f ? ' ' : c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (text.size() > max_bytes) out += "...";
  return out;
}

int Fail(const Invocation& run, int exit_code, std::string_view message) {
  const std::string line = "meshkv: " + OneLine(message, 2000) + "\n";
  std::fwrite(line.data(), 1, line.size(), run.streams.err);
  std::fflush(run.streams.err);
  return exit_code;
}

bool WriteAll(std::FILE* stream, std::string_view bytes) {
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), stream) != bytes.size()) {
    return false;
  }
  return std::fflush(stream) == 0;
}

int WriteOutput(const Invocation& run, std::string_view bytes) {
  if (WriteAll(run.streams.out, bytes)) return kExitOk;
  return Fail(run, kExitFailure, std::string("cannot write to stdout: ") + std::strerror(errno));
}

int WriteJsonBody(const Invocation& run, const std::string& body) {
  if (!body.empty() && body.back() == '\n') return WriteOutput(run, body);
  return WriteOutput(run, body + "\n");
}

std::string DumpJson(const Json& value, int indent) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------
// Requests and their failures.

std::string DescribeHttpError(const Invocation& run, const HttpResponse& response) {
  std::string text = std::to_string(response.status) + " ";
  const Json error = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  const auto code = error.is_object() ? error.find("code") : error.end();
  const auto message = error.is_object() ? error.find("message") : error.end();
  if (code != error.end() && code->is_string() && message != error.end() && message->is_string()) {
    text += code->get<std::string>() + ": " + message->get<std::string>();
  } else {
    text += response.reason.empty() ? "error" : response.reason;
    if (!response.body.empty()) text += ": " + OneLine(response.body, 200);
  }
  if (response.status == 401 && !run.token_given) {
    text += " (pass --token-file or --token, or set MESHKV_TOKEN)";
  }
  return text;
}

std::optional<HttpResponse> Call(const Invocation& run, int& exit_code, HttpMethod method,
                                 const std::string& target, std::string_view body,
                                 const HttpHeaderList& headers) {
  Result<HttpResponse> response = SendRequest(run.options, method, target, body, headers);
  if (!response.ok()) {
    exit_code = Fail(run, kExitFailure, response.status().message());
    return std::nullopt;
  }
  return std::move(response).value();
}

bool IsSuccess(const HttpResponse& response) {
  return response.status >= 200 && response.status < 300;
}

int FailHttp(const Invocation& run, const HttpResponse& response, bool not_found_is_distinct) {
  const int exit_code =
      (not_found_is_distinct && response.status == 404) ? kExitNotFound : kExitFailure;
  return Fail(run, exit_code, DescribeHttpError(run, response));
}

std::optional<HttpResponse> CallForSuccess(const Invocation& run, int& exit_code,
                                           bool not_found_is_distinct, HttpMethod method,
                                           const std::string& target, std::string_view body,
                                           const HttpHeaderList& headers) {
  std::optional<HttpResponse> response = Call(run, exit_code, method, target, body, headers);
  if (response && !IsSuccess(*response)) {
    exit_code = FailHttp(run, *response, not_found_is_distinct);
    return std::nullopt;
  }
  return response;
}

// ---------------------------------------------------------------------------
// Options shared by every verb.

CLI::Validator DurationCheck(bool allow_zero) {
  return CLI::Validator(
      [allow_zero](std::string& text) -> std::string {
        Result<int64_t> millis = ParseDurationMillis(text);
        if (!millis.ok()) return millis.status().message();
        if (!allow_zero && *millis <= 0) return "must be more than 0, e.g. 10s";
        return "";
      },
      "", "DURATION");
}

CLI::Validator NonEmptyCheck() {
  return CLI::Validator(
      [](std::string& text) -> std::string { return text.empty() ? "must not be empty" : ""; }, "",
      "NONEMPTY");
}

void AddCommonOptions(CLI::App& command, CommonArgs& args) {
  command
      .add_option("--addr", args.addr,
                  "Node address: http://host:port or host:port (https: not yet)")
      ->envname("MESHKV_ADDR")
      ->capture_default_str()
      ->type_name("ADDR")
      ->check(AddrCheck());
  CLI::Option* token =
      command.add_option("--token", args.token,
                         "Bearer token (shows in `ps`; prefer --token-file or env MESHKV_TOKEN)");
  token->type_name("TOKEN");
  CLI::Option* token_file = command.add_option("--token-file", args.token_file,
                                               "Read the bearer token from the first line of PATH");
  token_file->type_name("PATH")->check(CLI::ExistingFile);
  token->excludes(token_file);
  command.add_option("--timeout", args.timeout, "Whole-request timeout, e.g. 500ms, 10s, 1m")
      ->capture_default_str()
      ->type_name("DURATION")
      ->check(DurationCheck(/*allow_zero=*/false));
}

std::optional<Invocation> Prepare(const CommonArgs& args, const ClientStreams& streams,
                                  int& exit_code) {
  Invocation run;
  run.streams = streams;
  run.options.addr = args.addr;
  Result<int64_t> timeout = ParseDurationMillis(args.timeout);
  if (!timeout.ok() || *timeout <= 0) {
    exit_code = Fail(run, kExitUsage,
                     "--timeout: " + (timeout.ok() ? "must be more than 0, e.g. 10s"
                                                   : timeout.status().message()));
    return std::nullopt;
  }
  run.options.timeout = std::chrono::milliseconds(*timeout);
  Result<std::string> token = ResolveToken(args);
  if (!token.ok()) {
    exit_code = Fail(run, kExitUsage, token.status().message());
    return std::nullopt;
  }
  run.options.token = std::move(token).value();
  run.token_given = !run.options.token.empty();
  return run;
}

}  // namespace meshkv::cli
