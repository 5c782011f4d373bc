#include "server/node.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/clock.h"
#include "base/hlc.h"
#include "base/metrics.h"
#include "frontend/http/api.h"
#include "frontend/http/http_metrics.h"
#include "frontend/http/server.h"
#include "replication/kv_service.h"
#include "storage/data_dir.h"
#include "storage/group_commit.h"
#include "storage/store.h"

namespace meshkv {
namespace {

constexpr int64_t kDrainDeadlineMs = 10'000;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

void SetUpLogging(const std::string& level, NodeId id) {
  auto logger = spdlog::stderr_color_mt("meshkv");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ node=" + id.ToString() + " %v",
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

}  // namespace

Result<std::string> LoadOrCreateAdminToken(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    std::stringstream contents;
    contents << in.rdbuf();
    std::string token = Trim(contents.str());
    if (token.empty()) {
      return FailedPrecondition(path + " is empty; delete it to have a new admin token generated");
    }
    return token;
  }
  std::string token = GenerateTokenSecret();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return FailedPrecondition("cannot create " + path + ": " + std::strerror(errno));
  }
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) return FailedPrecondition("cannot write " + path + ": " + std::strerror(errno));
  return token;
}

struct Node::State {
  Config config;
  SystemClock clock;
  std::unique_ptr<DataDir> data_dir;
  std::unique_ptr<Hlc> hlc;
  std::unique_ptr<Store> store;
  std::unique_ptr<GroupCommitter> committer;
  std::unique_ptr<KvService> kv;
  MetricsRegistry registry;
  std::unique_ptr<http::HttpMetrics> http_metrics;
  std::unique_ptr<http::Api> api;
  std::unique_ptr<http::HttpServer> server;
  std::optional<TokenSpec> generated_admin;  // set when no tokens are configured
  sigset_t signals;

  // Builds the token set from configured tokens, plus the generated admin
  // token when none are configured.
  Result<std::shared_ptr<const TokenSet>> BuildTokens(std::vector<TokenSpec> specs) {
    if (specs.empty() && generated_admin) specs.push_back(*generated_admin);
    auto set = TokenSet::Build(std::move(specs));
    if (!set.ok()) return set.status();
    return std::make_shared<const TokenSet>(std::move(*set));
  }
};

Node::Node(Config config) : state_(std::make_unique<State>()) {
  state_->config = std::move(config);
}

Node::~Node() {
  if (state_->server) state_->server->Stop();
  if (state_->committer) state_->committer->Stop();
}

Status Node::Start() {
  State& s = *state_;
  const Config& config = s.config;

  // Only Run() receives these; threads created from here on inherit the mask.
  sigemptyset(&s.signals);
  sigaddset(&s.signals, SIGTERM);
  sigaddset(&s.signals, SIGINT);
  sigaddset(&s.signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &s.signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto data_dir = DataDir::Open(config.node.data_dir);
  if (!data_dir.ok()) return data_dir.status();
  s.data_dir = std::move(*data_dir);
  SetUpLogging(config.log.level, s.data_dir->node_id());
  spdlog::info("meshkv {} starting; data dir {}", MESHKV_VERSION, s.data_dir->path());

  if (config.dev_insecure) {
    spdlog::warn("*** --dev-insecure: AUTHENTICATION IS DISABLED. Anyone who can reach {} can "
                 "read and write every key. Never use this outside a development machine. ***",
                 config.http.listen);
  } else if (config.tokens.empty()) {
    auto secret = LoadOrCreateAdminToken(s.data_dir->admin_token_path());
    if (!secret.ok()) return secret.status();
    s.generated_admin =
        TokenSpec{"generated-admin", Sha256Hex(*secret), static_cast<ScopeSet>(Scope::kAdmin),
                  std::nullopt, ""};
    spdlog::info("no [[tokens]] configured: admin token is in {} (mode 0600)",
                 s.data_dir->admin_token_path());
  }

  s.hlc = std::make_unique<Hlc>(s.clock, config.clock.max_clock_skew_ms);
  std::vector<NamespaceSpec> namespaces = config.namespaces;
  if (config.storage.engine == "memory") {
    for (NamespaceSpec& ns : namespaces) ns.storage = StorageKind::kMemory;
  }
  StoreOptions store_options;
  store_options.path = s.data_dir->db_path();
  store_options.namespaces = namespaces;
  store_options.block_cache_bytes = static_cast<uint64_t>(config.storage.block_cache_bytes);
  store_options.write_buffer_bytes = static_cast<uint64_t>(config.storage.write_buffer_bytes);
  auto store = OpenStore(store_options);
  if (!store.ok()) return store.status();
  s.store = std::move(*store);
  if (config.storage.sync_always) {
    s.committer = std::make_unique<GroupCommitter>(*s.store);
    s.committer->Start();
  }
  s.kv = std::make_unique<KvService>(*s.store, s.committer.get(), *s.hlc, s.clock,
                                     s.data_dir->node_id(), namespaces);

  http::NodeInfo info;
  info.version = MESHKV_VERSION;
  info.started_at_ms = s.clock.NowMillis();
  info.listen = config.http.listen;
  info.storage_engine = config.storage.engine;
  info.storage_sync = config.storage.sync_always ? "always" : "none";
  info.data_dir = s.data_dir->path();
  info.config_path = config.config_path;
  s.http_metrics = std::make_unique<http::HttpMetrics>(s.registry);
  s.api = std::make_unique<http::Api>(*s.kv, *s.hlc, s.registry, *s.http_metrics, info,
                                      config.dev_insecure);
  if (!config.dev_insecure) {
    auto tokens = s.BuildTokens(config.tokens);
    if (!tokens.ok()) return tokens.status();
    s.api->SetTokens(*tokens);
  }

  http::ServerOptions options;
  options.listen = config.http.listen;
  options.threads = config.http.threads > 0
                        ? config.http.threads
                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  options.max_header_bytes = config.http.max_header_bytes;
  options.max_body_bytes = config.http.max_body_bytes;
  options.request_timeout_ms = config.http.request_timeout_ms;
  options.idle_timeout_ms = config.http.idle_timeout_ms;
  options.max_connections = config.http.max_connections;
  options.max_inflight_requests = config.http.max_inflight_requests;
  s.server = std::make_unique<http::HttpServer>(options, *s.api, *s.http_metrics);
  MESHKV_RETURN_IF_ERROR(s.server->Start());
  spdlog::info("listening on http://{} ({} io threads, storage {} sync={}, {} namespaces)",
               s.server->bound_address(), options.threads, config.storage.engine,
               info.storage_sync, namespaces.size());
  return Status::Ok();
}

int Node::Run() {
  State& s = *state_;
  for (;;) {
    int signal_number = 0;
    if (sigwait(&s.signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      if (s.config.config_path.empty()) {
        spdlog::warn("SIGHUP: no config file was given, nothing to reload");
        continue;
      }
      if (s.config.dev_insecure) {
        spdlog::warn("SIGHUP: auth is disabled (--dev-insecure), tokens not reloaded");
        continue;
      }
      auto specs = LoadTokens(s.config.config_path);
      if (!specs.ok()) {
        spdlog::error("SIGHUP: token reload failed, keeping the current tokens: {}",
                      specs.status().message());
        continue;
      }
      auto tokens = s.BuildTokens(std::move(*specs));
      if (!tokens.ok()) {
        spdlog::error("SIGHUP: token reload failed, keeping the current tokens: {}",
                      tokens.status().message());
        continue;
      }
      spdlog::info("SIGHUP: reloaded {} tokens from {}", (*tokens)->size(), s.config.config_path);
      s.api->SetTokens(*tokens);
      continue;
    }
    spdlog::info("{}: draining in-flight requests", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  bool drained = s.server->Drain(kDrainDeadlineMs);
  if (!drained) spdlog::warn("drain deadline passed with connections still open; closing them");
  s.server->Stop();
  if (s.committer) s.committer->Stop();
  Status flushed = s.store->Flush();
  if (!flushed.ok()) {
    spdlog::error("flush on shutdown failed: {}", flushed.ToString());
    return 1;
  }
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace meshkv
