// Test-only: runs `meshkv` verbs in process, with stdin/stdout/stderr as temp
// files, and returns the exit code and both outputs. Shared by the CLI tests.
#pragma once

#include <gtest/gtest.h>

#include <CLI/App.hpp>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/client_commands.h"

namespace meshkv::testing {

struct CliOutcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadBack(std::FILE* file) {
  std::rewind(file);
  std::string data;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) data.append(buffer, n);
  std::fclose(file);
  return data;
}

// `add` registers the verbs under test (AddClientCommands, AddRecordCommands).
using AddCommands = std::function<void(CLI::App&, ClientCommandResult&, ClientStreams)>;

inline CliOutcome RunCliWith(const AddCommands& add, std::vector<std::string> args,
                             std::string_view stdin_bytes = {}) {
  std::FILE* in = std::tmpfile();
  std::fwrite(stdin_bytes.data(), 1, stdin_bytes.size(), in);
  std::rewind(in);
  ClientStreams streams{in, std::tmpfile(), std::tmpfile()};
  CLI::App app{"meshkv"};
  app.require_subcommand(1);
  ClientCommandResult result;
  add(app, result, streams);
  args.insert(args.begin(), "meshkv");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  CliOutcome outcome;
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
    EXPECT_TRUE(result.ran);
    outcome.exit_code = result.exit_code;
  } catch (const CLI::ParseError& e) {
    outcome.exit_code = ExitCodeForParseError(app, e);
  }
  std::fclose(in);
  outcome.out = ReadBack(streams.out);
  outcome.err = ReadBack(streams.err);
  return outcome;
}

}  // namespace meshkv::testing
