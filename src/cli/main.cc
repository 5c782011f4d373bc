// The `meshkv` command: `serve` runs a node; `config check|default` and
// `token create` help write its config; put/get/del/ls/status are HTTP
// clients (client_commands.h).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "cli/client_commands.h"
#include "cli/cluster_commands.h"
#include "cli/cluster_launcher.h"
#include "cli/record_commands.h"
#include "server/config.h"
#include "server/node.h"
#include "trust/tokens.h"

namespace meshkv {
namespace {

struct ServeFlags {
  std::string config_file;
  std::string data_dir;
  std::string listen;
  std::string sync;
  std::string engine;
  std::string log_level;
  std::string cluster_listen;
  std::vector<std::string> seeds;
  int threads = -1;
  bool dev_insecure = false;
};

int Serve(const ServeFlags& flags) {
  ConfigSources sources;
  if (!flags.config_file.empty()) sources.file = flags.config_file;
  sources.env = MeshkvEnvironment();
  auto flag = [&](const char* key, const std::string& value) {
    if (!value.empty()) sources.flags.emplace_back(key, value);
  };
  flag("node.data_dir", flags.data_dir);
  flag("http.listen", flags.listen);
  flag("storage.sync", flags.sync);
  flag("storage.engine", flags.engine);
  flag("log.level", flags.log_level);
  flag("cluster.listen", flags.cluster_listen);
  if (!flags.seeds.empty()) {
    std::string list;
    for (const std::string& seed : flags.seeds) list += (list.empty() ? "" : ",") + seed;
    flag("cluster.seeds", list);
  }
  if (flags.threads >= 0) flag("http.threads", std::to_string(flags.threads));
  if (flags.dev_insecure) flag("dev_insecure", "true");
  auto config = LoadConfig(sources);
  if (!config.ok()) {
    std::fprintf(stderr, "meshkv: invalid configuration: %s\n", config.status().message().c_str());
    return kExitUsage;
  }
  Node node(std::move(*config));
  Status started = node.Start();
  if (!started.ok()) {
    std::fprintf(stderr, "meshkv: cannot start: %s\n", started.message().c_str());
    return kExitFailure;
  }
  return node.Run();
}

}  // namespace
}  // namespace meshkv

int main(int argc, char** argv) {
  using namespace meshkv;
  CLI::App app{"meshkv: a clustered, replicated record store"};
  app.require_subcommand(1);
  app.set_version_flag("--version", MESHKV_VERSION);

  ServeFlags serve_flags;
  int exit_code = kExitOk;
  CLI::App* serve = app.add_subcommand("serve", "Run a node (storage + HTTP API)");
  serve->add_option("-c,--config", serve_flags.config_file, "TOML config file")
      ->check(CLI::ExistingFile);
  serve->add_option("--data-dir", serve_flags.data_dir, "Data directory (node.data_dir)");
  serve->add_option("--listen", serve_flags.listen, "HTTP host:port (http.listen)");
  serve->add_option("--threads", serve_flags.threads, "HTTP io threads, 0 = one per core")
      ->check(CLI::Range(0, 256));
  serve->add_option("--sync", serve_flags.sync, "Storage durability: none | always")
      ->check(CLI::IsMember({"none", "always"}));
  serve->add_option("--engine", serve_flags.engine, "Storage engine: rocksdb | memory")
      ->check(CLI::IsMember({"rocksdb", "memory"}));
  serve->add_option("--log-level", serve_flags.log_level, "trace|debug|info|warn|error");
  serve->add_option("--cluster-listen", serve_flags.cluster_listen,
                    "Peer RPC + gossip host:port (cluster.listen)");
  serve->add_option("--seed", serve_flags.seeds,
                    "Join through host:port or id@host:port (cluster.seeds; repeatable)");
  serve->add_flag("--dev-insecure", serve_flags.dev_insecure,
                  "Disable authentication (development only; logged loudly)");
  serve->callback([&] { exit_code = Serve(serve_flags); });

  CLI::App* config = app.add_subcommand("config", "Check or print configuration");
  config->require_subcommand(1);
  std::string check_file;
  CLI::App* check = config->add_subcommand("check", "Validate a config file; exit 0 if good");
  check->add_option("FILE", check_file, "TOML config file")->required();
  check->callback([&] {
    ConfigSources sources;
    sources.file = check_file;
    auto loaded = LoadConfig(sources);
    if (!loaded.ok()) {
      std::fprintf(stderr, "meshkv: %s\n", loaded.status().message().c_str());
      exit_code = kExitFailure;
      return;
    }
    std::fprintf(stderr, "%s: ok (%zu namespaces, %zu tokens)\n", check_file.c_str(),
                 loaded->namespaces.size(), loaded->tokens.size());
  });
  config->add_subcommand("default", "Print the annotated default config")->callback([] {
    std::cout << DefaultConfigToml();
  });

  CLI::App* token = app.add_subcommand("token", "Client tokens");
  token->require_subcommand(1);
  std::string token_name = "client";
  std::vector<std::string> token_scopes{"read"};
  std::string token_ns, token_prefix;
  CLI::App* create = token->add_subcommand(
      "create", "Generate a token: prints the secret and the [[tokens]] entry for the config");
  create->add_option("--name", token_name, "Name shown in logs and errors");
  create->add_option("--scope", token_scopes, "read, write, admin (repeatable)")
      ->check(CLI::IsMember({"read", "write", "admin"}));
  create->add_option("--namespace", token_ns, "Limit to one namespace");
  create->add_option("--prefix", token_prefix, "Limit to keys with this prefix");
  create->callback([&] {
    std::string secret = GenerateTokenSecret();
    std::string scopes;
    for (const auto& s : token_scopes) scopes += (scopes.empty() ? "\"" : ", \"") + s + "\"";
    std::printf("# secret (give it to the client; it is not stored anywhere):\n# %s\n",
                secret.c_str());
    std::printf("[[tokens]]\nname = \"%s\"\nsha256 = \"%s\"\nscopes = [%s]\n", token_name.c_str(),
                Sha256Hex(secret).c_str(), scopes.c_str());
    if (!token_ns.empty()) std::printf("namespace = \"%s\"\n", token_ns.c_str());
    if (!token_prefix.empty()) std::printf("prefix = \"%s\"\n", token_prefix.c_str());
  });

  ClientCommandResult client;
  AddClientCommands(app, client);
  AddRecordCommands(app, client);
  AddClusterCommands(app, client);
  AddClusterLauncherCommands(app, client);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return ExitCodeForParseError(app, e);
  }
  if (client.ran) return client.exit_code;
  return exit_code;
}
