#include "cli/cluster_launcher.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "base/node_id.h"
#include "base/status.h"
#include "cli/http_client.h"
#include "membership/keyring.h"
#include "trust/tls_files.h"
#include "trust/tokens.h"

extern char** environ;

namespace meshkv {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr int64_t kStopGraceMs = 20'000;
constexpr int kLogTailLines = 15;

struct LauncherArgs {
  int nodes = 3;
  std::string dir = "./cluster";
  int base_port = 7070;
  std::string preset = "local";
  std::string sync = "none";  // [storage] sync of every node
  std::string zone = "meshkv.test";
  std::string cluster_name = "local";
  int64_t timeout_s = 60;
  bool detach = false;
};

struct NodePlan {
  std::string name;  // node1 ..
  NodeId id;
  std::string dir, data_dir, config_path, log_path, pid_path;
  int http_port = 0, cluster_port = 0, dns_port = 0;
  pid_t pid = -1;
  std::string http() const { return "127.0.0.1:" + std::to_string(http_port); }
  std::string cluster() const { return "127.0.0.1:" + std::to_string(cluster_port); }
  std::string dns() const { return "127.0.0.1:" + std::to_string(dns_port); }
};

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

Status WriteText(const std::string& path, const std::string& text, mode_t mode) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return FailedPrecondition("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return FailedPrecondition("cannot write " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Status MakeDir(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return FailedPrecondition("cannot create " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0700);
  return Status::Ok();
}

// Reads `path` or writes `make()` there first.
Result<std::string> ReadOrCreate(const std::string& path, const std::function<std::string()>& make,
                                 mode_t mode) {
  auto existing = ReadText(path);
  if (existing.ok() && !existing->empty()) return existing;
  std::string value = make();
  MESHKV_RETURN_IF_ERROR(WriteText(path, value + "\n", mode));
  return value;
}

bool PortFree(int port, int type) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

bool ProcessAlive(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

// True when `pid` runs `meshkv serve --config <config_path>` (so a recycled
// pid is never signalled).
bool IsOurNode(pid_t pid, const std::string& config_path) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  if (!in) return false;
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return cmdline.find("serve") != std::string::npos &&
         cmdline.find(config_path) != std::string::npos;
}

std::string LogTail(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > static_cast<size_t>(kLogTailLines)) lines.erase(lines.begin());
  }
  std::string out;
  for (const std::string& l : lines) out += "    " + l + "\n";
  return out;
}

std::string TomlList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", \"" : "\"") + items[i] + "\"";
  return out + "]";
}

std::string NodeConfig(const LauncherArgs& args, const NodePlan& node, const NodePlan& first,
                       const std::string& dir, const std::string& gossip_key,
                       const std::string& token_sha256) {
  std::vector<std::string> seeds;
  if (node.name != first.name) seeds.push_back(first.cluster());
  return fmt::format(
      "# Written by `meshkv cluster up`; rewritten on every `up`.\n"
      "[node]\n"
      "data_dir = \"{data}\"\n\n"
      "[http]\n"
      "listen = \"{http}\"\n\n"
      "[storage]\n"
      "sync = \"{sync}\"\n\n"
      "[dns]\n"
      "listen = \"{dns}\"\n"
      "zones = [\"{zone}\"]\n\n"
      "[cluster]\n"
      "name = \"{name}\"\n"
      "listen = \"{cluster}\"\n"
      "seeds = {seeds}\n"
      "preset = \"{preset}\"\n"
      "rejoin_interval = \"5s\"\n"
      "gossip_key = \"{key}\"\n"
      "tls_ca = \"{dir}/ca.crt\"\n"
      "tls_cert = \"{node_dir}/node.crt\"\n"
      "tls_key = \"{node_dir}/node.key\"\n"
      "tags = [\"launcher=local\", \"name={node_name}\"]\n\n"
      "[[tokens]]\n"
      "name = \"admin\"\n"
      "sha256 = \"{sha}\"\n"
      "scopes = [\"admin\"]\n",
      fmt::arg("data", node.data_dir), fmt::arg("http", node.http()), fmt::arg("dns", node.dns()),
      fmt::arg("zone", args.zone), fmt::arg("name", args.cluster_name), fmt::arg("sync", args.sync),
      fmt::arg("cluster", node.cluster()), fmt::arg("seeds", TomlList(seeds)),
      fmt::arg("preset", args.preset), fmt::arg("key", gossip_key), fmt::arg("dir", dir),
      fmt::arg("node_dir", node.dir), fmt::arg("node_name", node.name),
      fmt::arg("sha", token_sha256));
}

// Creates (or reuses) everything under args.dir. Returns the node plans.
Result<std::vector<NodePlan>> Prepare(const LauncherArgs& args, std::string& token) {
  MESHKV_RETURN_IF_ERROR(MakeDir(args.dir));
  const std::string dir = fs::absolute(args.dir).lexically_normal().string();
  if (::access((dir + "/ca.crt").c_str(), F_OK) != 0) {
    auto ca = CreateClusterCa(dir, args.cluster_name);
    if (!ca.ok()) return ca.status();
  }
  auto key = ReadOrCreate(
      dir + "/gossip.key", [] { return membership::GenerateGossipKey(); }, 0600);
  if (!key.ok()) return key.status();
  auto secret = ReadOrCreate(
      dir + "/admin.token", [] { return GenerateTokenSecret(); }, 0600);
  if (!secret.ok()) return secret.status();
  token = *secret;

  std::vector<NodePlan> nodes;
  for (int i = 0; i < args.nodes; ++i) {
    NodePlan node;
    node.name = "node" + std::to_string(i + 1);
    node.dir = dir + "/" + node.name;
    node.data_dir = node.dir + "/data";
    node.config_path = node.dir + "/meshkv.toml";
    node.log_path = node.dir + "/node.log";
    node.pid_path = node.dir + "/pid";
    node.http_port = args.base_port + 10 * i;
    node.cluster_port = node.http_port + 1;
    node.dns_port = node.http_port + 2;
    MESHKV_RETURN_IF_ERROR(MakeDir(node.data_dir));
    auto id_text = ReadOrCreate(
        node.data_dir + "/node_id", [] { return NodeId::Generate().ToString(); }, 0600);
    if (!id_text.ok()) return id_text.status();
    auto id = NodeId::Parse(*id_text);
    if (!id.ok()) return DataLoss(node.data_dir + "/node_id: " + id.status().message());
    node.id = *id;
    if (::access((node.dir + "/node.crt").c_str(), F_OK) != 0) {
      auto cert =
          CreateNodeCert(CaFiles{dir + "/ca.crt", dir + "/ca.key"},
                         NodeCertRequest{node.id, {"localhost"}, {"127.0.0.1"}, 825}, node.dir);
      if (!cert.ok()) return cert.status();
    }
    nodes.push_back(std::move(node));
  }
  for (const NodePlan& node : nodes) {
    MESHKV_RETURN_IF_ERROR(WriteText(
        node.config_path, NodeConfig(args, node, nodes[0], dir, *key, Sha256Hex(token)), 0600));
  }
  return nodes;
}

std::string SelfExecutable() {
  char path[4096];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return "meshkv";
  return std::string(path, static_cast<size_t>(n));
}

// Starts `meshkv serve --config ...` in its own session with output appended
// to the node's log and no MESHKV_* variables (they would override the file).
Result<pid_t> StartNode(const std::string& exe, const NodePlan& node, const sigset_t& old_mask) {
  int log = ::open(node.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0)
    return FailedPrecondition("cannot open " + node.log_path + ": " + std::strerror(errno));
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "MESHKV_", 7) != 0) env_strings.emplace_back(*e);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    return FailedPrecondition(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    ::setsid();
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    std::vector<char*> env;
    for (std::string& s : env_strings) env.push_back(s.data());
    env.push_back(nullptr);
    std::string config = node.config_path;
    char serve[] = "serve";
    char flag[] = "--config";
    char* argv[] = {const_cast<char*>(exe.c_str()), serve, flag, config.data(), nullptr};
    ::execve(exe.c_str(), argv, env.data());
    std::fprintf(stderr, "meshkv cluster up: cannot run %s: %s\n", exe.c_str(),
                 std::strerror(errno));
    ::_exit(127);
  }
  ::close(log);
  return pid;
}

// What one node says about the cluster: alive members, its ownership state
// and the digest of the ownership state it holds.
struct NodeView {
  int alive = -1;  // -1: no answer
  std::string owner_state;
  std::string ownership_digest;
  bool settled = false;  // no ownership change still being spread
};

Json GetJson(const NodePlan& node, const std::string& token, const std::string& path) {
  ClientOptions options;
  options.addr = "http://" + node.http();
  options.token = token;
  options.timeout = std::chrono::milliseconds(2000);
  options.connect_timeout = std::chrono::milliseconds(500);
  auto response = SendRequest(options, HttpMethod::kGet, path);
  if (!response.ok() || response->status != 200) return Json();
  return Json::parse(response->body, nullptr, false);
}

NodeView ViewOf(const NodePlan& node, const std::string& token) {
  NodeView view;
  Json members = GetJson(node, token, "/v1/cluster/members");
  if (!members.is_object() || !members.contains("members")) return view;
  view.alive = 0;
  for (const Json& m : members["members"]) view.alive += m.value("state", "") == "alive";
  Json status = GetJson(node, token, "/v1/cluster/status");
  if (status.is_object() && status.contains("cluster") && status["cluster"].contains("ownership")) {
    const Json& ownership = status["cluster"]["ownership"];
    if (ownership["self"].is_string()) view.owner_state = ownership["self"].get<std::string>();
    view.ownership_digest = ownership.value("digest", "");
    view.settled = ownership.value("settled", false);
  }
  return view;
}

// Every node sees every member alive, owns data (normal), holds the same
// ownership state and knows every other node does (settled): the cluster
// routes every key the same way everywhere.
bool ClusterReady(const std::vector<NodePlan>& nodes, const std::string& token, int n) {
  std::string digest;
  for (const NodePlan& node : nodes) {
    NodeView view = ViewOf(node, token);
    if (view.alive != n || view.owner_state != "normal" || !view.settled) return false;
    if (!digest.empty() && view.ownership_digest != digest) return false;
    digest = view.ownership_digest;
  }
  return true;
}

// SIGTERM to every running node, then SIGKILL to those still there after the
// grace period. `own_children` reaps with waitpid; otherwise polls kill(pid, 0).
void StopNodes(std::vector<NodePlan>& nodes, bool own_children) {
  for (NodePlan& node : nodes) {
    if (node.pid > 0) ::kill(node.pid, SIGTERM);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStopGraceMs);
  for (NodePlan& node : nodes) {
    if (node.pid <= 0) continue;
    for (;;) {
      bool gone = own_children ? ::waitpid(node.pid, nullptr, WNOHANG) == node.pid
                               : !ProcessAlive(node.pid);
      if (gone || (own_children && errno == ECHILD)) break;
      if (std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr, "meshkv: %s (pid %d) did not stop in %lld s; killing it\n",
                     node.name.c_str(), node.pid, static_cast<long long>(kStopGraceMs / 1000));
        ::kill(node.pid, SIGKILL);
        if (own_children) ::waitpid(node.pid, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::unlink(node.pid_path.c_str());
    node.pid = -1;
  }
}

Json ClusterJson(const std::vector<NodePlan>& nodes, const std::string& token) {
  Json list = Json::array();
  for (const NodePlan& n : nodes) {
    list.push_back(Json{{"name", n.name},
                        {"id", n.id.ToString()},
                        {"http", "http://" + n.http()},
                        {"cluster", n.cluster()},
                        {"dns", n.dns()},
                        {"pid", n.pid},
                        {"data_dir", n.data_dir},
                        {"config", n.config_path},
                        {"log", n.log_path}});
  }
  return Json{{"token", token}, {"nodes", std::move(list)}};
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "meshkv: %s\n", message.c_str());
  return kExitFailure;
}

int Up(const LauncherArgs& args) {
  if (args.nodes < 1 || args.nodes > 64) {
    std::fprintf(stderr, "meshkv: -n must be 1..64\n");
    return kExitUsage;
  }
  if (args.base_port < 1024 || args.base_port + 10 * (args.nodes - 1) + 2 > 65535) {
    std::fprintf(stderr, "meshkv: --base-port %d leaves no room for %d nodes (10 ports each)\n",
                 args.base_port, args.nodes);
    return kExitUsage;
  }
  std::string token;
  auto planned = Prepare(args, token);
  if (!planned.ok()) return Fail("cluster up: " + planned.status().message());
  std::vector<NodePlan>& nodes = *planned;

  for (const NodePlan& node : nodes) {
    auto pid_text = ReadText(node.pid_path);
    pid_t pid = pid_text.ok() ? std::atoi(pid_text->c_str()) : 0;
    if (pid > 0 && ProcessAlive(pid) && IsOurNode(pid, node.config_path)) {
      return Fail(
          fmt::format("cluster up: {} is already running from {} (pid {}); stop it with "
                      "`meshkv cluster down --dir {}`",
                      node.name, args.dir, pid, args.dir));
    }
    for (auto [port, type, what] : {std::tuple{node.http_port, SOCK_STREAM, "http"},
                                    std::tuple{node.cluster_port, SOCK_STREAM, "cluster (tcp)"},
                                    std::tuple{node.cluster_port, SOCK_DGRAM, "cluster (udp)"},
                                    std::tuple{node.dns_port, SOCK_DGRAM, "dns"}}) {
      if (!PortFree(port, type)) {
        return Fail(
            fmt::format("cluster up: port {} ({} of {}) is in use; choose another "
                        "--base-port",
                        port, what, node.name));
      }
    }
  }

  // Signals are handled by sigwait below; children get the old mask back.
  sigset_t handled, old_mask;
  sigemptyset(&handled);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &handled, &old_mask);

  const std::string exe = SelfExecutable();
  for (NodePlan& node : nodes) {
    auto pid = StartNode(exe, node, old_mask);
    if (!pid.ok()) {
      StopNodes(nodes, true);
      return Fail("cluster up: " + pid.status().message());
    }
    node.pid = *pid;
    (void)WriteText(node.pid_path, std::to_string(node.pid) + "\n", 0600);
  }

  // Wait until every node sees every member alive.
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + std::chrono::seconds(args.timeout_s);
  for (;;) {
    for (NodePlan& node : nodes) {
      int status = 0;
      if (::waitpid(node.pid, &status, WNOHANG) == node.pid) {
        node.pid = -1;
        std::string why = WIFEXITED(status)
                              ? fmt::format("exited with code {}", WEXITSTATUS(status))
                              : fmt::format("died of signal {}", WTERMSIG(status));
        StopNodes(nodes, true);
        return Fail(fmt::format("cluster up: {} {}; the end of {}:\n{}", node.name, why,
                                node.log_path, LogTail(node.log_path)));
      }
    }
    if (ClusterReady(nodes, token, args.nodes)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      std::string views;
      for (const NodePlan& node : nodes) {
        NodeView view = ViewOf(node, token);
        views += fmt::format("  {} sees {} alive; owner state '{}', ownership {}\n", node.name,
                             view.alive, view.owner_state, view.ownership_digest);
      }
      StopNodes(nodes, true);
      return Fail(fmt::format(
          "cluster up: not every node saw {} alive members and owned data within {} s:\n{}"
          "see the node logs in {}/node*/node.log",
          args.nodes, args.timeout_s, views, args.dir));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string dir = fs::absolute(args.dir).lexically_normal().string();
  Status written = WriteText(dir + "/cluster.json", ClusterJson(nodes, token).dump(2) + "\n", 0600);
  if (!written.ok()) std::fprintf(stderr, "meshkv: %s\n", written.message().c_str());

  std::printf(
      "meshkv: cluster '%s' is up: %d nodes, all alive and owning data (%.1f s); files in %s\n",
      args.cluster_name.c_str(), args.nodes, took, dir.c_str());
  for (const NodePlan& n : nodes) {
    std::printf("  %-6s %s  http://%s  cluster %s  dns %s  pid %d\n", n.name.c_str(),
                n.id.ToString().c_str(), n.http().c_str(), n.cluster().c_str(), n.dns().c_str(),
                n.pid);
  }
  std::printf("admin token: %s\n", token.c_str());
  std::printf("try:\n  export MESHKV_ADDR=http://%s MESHKV_TOKEN=$(cat %s/admin.token)\n",
              nodes[0].http().c_str(), dir.c_str());
  std::printf("  %s members\n  %s put hello world && %s get hello\n", exe.c_str(), exe.c_str(),
              exe.c_str());
  std::printf("  dig @127.0.0.1 -p %d _meshkv._tcp.%s SRV\n", nodes[0].dns_port, args.zone.c_str());
  if (args.detach) {
    std::printf("stop it with: %s cluster down --dir %s\n", exe.c_str(), dir.c_str());
    std::fflush(stdout);
    return kExitOk;
  }
  std::printf("Ctrl-C stops the cluster.\n");
  std::fflush(stdout);

  for (;;) {
    int signal_number = 0;
    if (::sigwait(&handled, &signal_number) != 0) continue;
    if (signal_number == SIGCHLD) {
      for (NodePlan& node : nodes) {
        int status = 0;
        if (node.pid > 0 && ::waitpid(node.pid, &status, WNOHANG) == node.pid) {
          std::fprintf(stderr, "meshkv: %s (pid %d) exited; stopping the cluster. End of %s:\n%s",
                       node.name.c_str(), node.pid, node.log_path.c_str(),
                       LogTail(node.log_path).c_str());
          node.pid = -1;
          ::unlink(node.pid_path.c_str());
          StopNodes(nodes, true);
          return kExitFailure;
        }
      }
      continue;
    }
    std::printf("\nmeshkv: stopping %d nodes...\n", args.nodes);
    std::fflush(stdout);
    StopNodes(nodes, true);
    std::printf("meshkv: cluster stopped (data kept in %s)\n", dir.c_str());
    return kExitOk;
  }
}

int Down(const std::string& dir_arg) {
  const std::string dir = fs::absolute(dir_arg).lexically_normal().string();
  std::vector<NodePlan> running;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Fail("cluster down: " + dir + " is not a directory");
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind("node", 0) != 0) continue;
    NodePlan node;
    node.name = name;
    node.dir = entry.path().string();
    node.pid_path = node.dir + "/pid";
    node.config_path = node.dir + "/meshkv.toml";
    auto pid_text = ReadText(node.pid_path);
    if (!pid_text.ok()) continue;
    pid_t pid = std::atoi(pid_text->c_str());
    if (pid > 0 && ProcessAlive(pid) && IsOurNode(pid, node.config_path)) {
      node.pid = pid;
      running.push_back(node);
    } else {
      ::unlink(node.pid_path.c_str());
    }
  }
  if (running.empty()) {
    std::printf("meshkv: no running nodes in %s\n", dir.c_str());
    return kExitOk;
  }
  StopNodes(running, false);
  std::printf("meshkv: stopped %zu nodes (data kept in %s)\n", running.size(), dir.c_str());
  return kExitOk;
}

}  // namespace

void AddClusterLauncherCommands(CLI::App& app, ClientCommandResult& result) {
  CLI::App* cluster = app.add_subcommand("cluster", "A local cluster on loopback: up, down");
  cluster->require_subcommand(1);
  auto args = std::make_shared<LauncherArgs>();
  CLI::App* up = cluster->add_subcommand(
      "up", "Start N nodes on 127.0.0.1 (CA, certs, gossip key and token generated)");
  up->add_option("-n,--nodes", args->nodes, "Number of nodes")->capture_default_str();
  up->add_option("--dir", args->dir, "Directory for certs, configs, data and logs (reused)")
      ->capture_default_str();
  up->add_option("--base-port", args->base_port,
                 "Node K uses HTTP P+10(K-1), cluster P+10(K-1)+1, DNS P+10(K-1)+2")
      ->capture_default_str();
  up->add_option("--preset", args->preset, "Failure detector timing: lan | wan | local")
      ->capture_default_str()
      ->check(CLI::IsMember({"lan", "wan", "local"}));
  up->add_option("--sync", args->sync,
                 "Storage durability of every node: none (survives a crash) | always (fsync)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "always"}));
  up->add_option("--zone", args->zone, "DNS zone the nodes serve (service discovery SRV too)")
      ->capture_default_str();
  up->add_option("--timeout", args->timeout_s, "Seconds to wait for all members to be alive")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  up->add_flag("--detach", args->detach, "Leave the nodes running and return");
  up->callback([args, &result] {
    result.ran = true;
    result.exit_code = Up(*args);
  });
  auto down_dir = std::make_shared<std::string>("./cluster");
  CLI::App* down =
      cluster->add_subcommand("down", "Stop the nodes started by `cluster up --detach`");
  down->add_option("--dir", *down_dir, "The directory given to `cluster up`")
      ->capture_default_str();
  down->callback([down_dir, &result] {
    result.ran = true;
    result.exit_code = Down(*down_dir);
  });
}

}  // namespace meshkv
