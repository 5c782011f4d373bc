// What every client verb of the `meshkv` command line shares (the verbs are
// in client_commands.cc and record_commands.cc): the common options, turning
// them into request options, sending a request, and printing results and
// errors with the exit codes of client_commands.h.
//
// Threading: like the verbs, everything here runs on the thread that calls
// CLI::App::parse.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cli/client_commands.h"
#include "cli/http_client.h"

namespace meshkv::cli {

// What the user typed for the options every verb takes.
struct CommonArgs {
  std::string addr = std::string(kDefaultClientAddr);
  std::string token;
  std::string token_file;
  std::string timeout = "10s";
};

// A verb's view of the world while it runs.
struct Invocation {
  ClientStreams streams;
  ClientOptions options;
  bool token_given = false;
};

// Adds --addr (env MESHKV_ADDR), --token, --token-file and --timeout.
void AddCommonOptions(CLI::App& command, CommonArgs& args);

// A CLI11 validator for DURATION options (base/duration.h spellings).
CLI::Validator DurationCheck(bool allow_zero);

// A CLI11 validator refusing empty arguments.
CLI::Validator NonEmptyCheck();

// Server text reduced to one printable line of at most `max_bytes`.
std::string OneLine(std::string_view text, size_t max_bytes = 500);

// Prints "meshkv: <message>" on the error stream and returns `exit_code`.
int Fail(const Invocation& run, int exit_code, std::string_view message);

// Writes all of `bytes` and flushes; false (with errno set) when the stream
// failed.
bool WriteAll(std::FILE* stream, std::string_view bytes);
// Writes `bytes` to the output stream: kExitOk, or kExitFailure after
// printing why the write failed.
int WriteOutput(const Invocation& run, std::string_view bytes);
// Prints a JSON response body as received, on its own line.
int WriteJsonBody(const Invocation& run, const std::string& body);

// JSON text that never throws (invalid UTF-8 is replaced).
std::string DumpJson(const nlohmann::json& value, int indent = -1);

// "<status> <code>: <message>" from the API's JSON error body, falling back to
// the reason phrase and the start of the body for anything else; a hint about
// tokens for a 401 sent without one.
std::string DescribeHttpError(const Invocation& run, const HttpResponse& response);

// Sends the request; on a transport error prints it and returns nullopt with
// `exit_code` set.
std::optional<HttpResponse> Call(const Invocation& run, int& exit_code, HttpMethod method,
                                 const std::string& target, std::string_view body = {},
                                 const HttpHeaderList& headers = {});

bool IsSuccess(const HttpResponse& response);

// For a non-2xx response: prints it, returns the exit code (kExitNotFound for
// a 404 when `not_found_is_distinct`, else kExitFailure).
int FailHttp(const Invocation& run, const HttpResponse& response, bool not_found_is_distinct);

// Call, then FailHttp for a non-2xx response: returns the 2xx response, or
// nullopt (after printing why) with `exit_code` set.
std::optional<HttpResponse> CallForSuccess(const Invocation& run, int& exit_code,
                                           bool not_found_is_distinct, HttpMethod method,
                                           const std::string& target, std::string_view body = {},
                                           const HttpHeaderList& headers = {});

// Turns the common options into an Invocation, or prints a usage error and
// returns nullopt with `exit_code` set to kExitUsage.
std::optional<Invocation> Prepare(const CommonArgs& args, const ClientStreams& streams,
                                  int& exit_code);

// Registers `command` to run `verb` with its parsed `args` (shared with the
// option bindings), storing the exit code in `result`. Args must have a
// `CommonArgs common` member.
template <typename Args>
void OnRun(CLI::App& command, std::shared_ptr<Args> args, ClientCommandResult& result,
           ClientStreams streams, int (*verb)(const Args&, const Invocation&)) {
  command.callback([args, &result, streams, verb] {
    result.ran = true;
    int exit_code = kExitOk;
    std::optional<Invocation> run = Prepare(args->common, streams, exit_code);
    if (!run) {
      result.exit_code = exit_code;
      return;
    }
    try {
      result.exit_code = verb(*args, *run);
    } catch (const std::exception& e) {
      result.exit_code = Fail(*run, kExitFailure, std::string("unexpected error: ") + e.what());
    }
  });
}

}  // namespace meshkv::cli
