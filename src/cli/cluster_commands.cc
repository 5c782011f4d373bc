#include "cli/cluster_commands.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/encoding.h"
#include "base/node_id.h"
#include "cli/client_common.h"
#include "membership/keyring.h"
#include "storage/data_dir.h"
#include "trust/tls_files.h"

namespace meshkv {
namespace {

using cli::CommonArgs;
using cli::Invocation;
using Json = nlohmann::json;

// ---- members / join / leave / keyring (HTTP clients) ------------------------

struct MembersArgs {
  CommonArgs common;
  bool json = false;
};

std::string Cell(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

int RunMembers(const MembersArgs& args, const Invocation& run) {
  int exit_code = kExitOk;
  auto response = cli::CallForSuccess(run, exit_code, /*not_found_is_distinct=*/false,
                                      HttpMethod::kGet, "/v1/cluster/members");
  if (!response) return exit_code;
  if (args.json) return cli::WriteJsonBody(run, response->body);
  Json doc = Json::parse(response->body, nullptr, false);
  if (doc.is_discarded() || !doc.contains("members") || !doc["members"].is_array()) {
    return cli::Fail(run, kExitFailure, "unexpected response: " + cli::OneLine(response->body));
  }
  std::string out = fmt::format("{:<16}  {:<7}  {:>11}  {:<21}  {:<21}  {:>8}\n", "ID", "STATE",
                                "INCARNATION", "CLUSTER", "HTTP", "RTT");
  for (const Json& m : doc["members"]) {
    const Json& addresses = m.contains("addresses") ? m["addresses"] : Json::object();
    std::string rtt = "-";
    if (m.contains("last_rtt_ms") && m["last_rtt_ms"].is_number()) {
      const double ms = m["last_rtt_ms"].get<double>();
      rtt = ms < 1 ? "<1ms" : fmt::format("{:.0f}ms", ms);
    }
    out += fmt::format("{:<16}  {:<7}  {:>11}  {:<21}  {:<21}  {:>8}\n", Cell(m, "id"),
                       Cell(m, "state"), Cell(m, "incarnation"), Cell(addresses, "cluster"),
                       Cell(addresses, "http"), rtt);
  }
  return cli::WriteOutput(run, out);
}

struct JoinArgs {
  CommonArgs common;
  std::vector<std::string> addresses;
};

int RunJoin(const JoinArgs& args, const Invocation& run) {
  int exit_code = kExitOk;
  auto response = cli::CallForSuccess(run, exit_code, false, HttpMethod::kPost, "/v1/cluster/join",
                                      cli::DumpJson(Json{{"addresses", args.addresses}}),
                                      {{"Content-Type", "application/json"}});
  if (!response) return exit_code;
  Json doc = Json::parse(response->body, nullptr, false);
  const std::string joined = doc.is_object() ? Cell(doc, "joined") : "?";
  return cli::WriteOutput(run, "joined through " + joined + " address(es)\n");
}

struct LeaveArgs {
  CommonArgs common;
};

int RunLeave(const LeaveArgs&, const Invocation& run) {
  int exit_code = kExitOk;
  auto response =
      cli::CallForSuccess(run, exit_code, false, HttpMethod::kPost, "/v1/cluster/leave");
  if (!response) return exit_code;
  return cli::WriteOutput(run, "the node is leaving the cluster and will stop\n");
}

int RunDecommission(const LeaveArgs&, const Invocation& run) {
  int exit_code = kExitOk;
  auto response =
      cli::CallForSuccess(run, exit_code, false, HttpMethod::kPost, "/v1/cluster/decommission");
  if (!response) return exit_code;
  return cli::WriteOutput(run,
                          "the node is handing its data to the other owners and will then stop; "
                          "follow it with `meshkv status` (cluster.ownership.rebalance)\n");
}

struct RepairArgs {
  CommonArgs common;
  std::vector<std::string> namespaces;
  bool json = false;
};

int RunRepair(const RepairArgs& args, const Invocation& run) {
  std::string target = "/v1/cluster/repair";
  for (size_t i = 0; i < args.namespaces.size(); ++i) {
    target += (i == 0 ? "?ns=" : "&ns=") + PercentEncodeQueryComponent(args.namespaces[i]);
  }
  int exit_code = kExitOk;
  auto response = cli::CallForSuccess(run, exit_code, false, HttpMethod::kPost, target);
  if (!response) return exit_code;
  Json doc = Json::parse(response->body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return cli::Fail(run, kExitFailure, "unexpected response: " + cli::OneLine(response->body));
  }
  const bool converged = doc.value("converged", false);
  if (args.json) {
    const int written = cli::WriteJsonBody(run, response->body);
    return written != kExitOk ? written : (converged ? kExitOk : kExitFailure);
  }
  std::string out = fmt::format(
      "compared {} partitions with {} peer(s) in {} round(s): {} differed; {} keys pulled, {} "
      "pushed ({} bytes)\n",
      Cell(doc, "partitions_compared"), Cell(doc, "peers"), Cell(doc, "rounds"),
      Cell(doc, "partitions_differing"), Cell(doc, "keys_pulled"), Cell(doc, "keys_pushed"),
      Cell(doc, "bytes"));
  out += converged ? "every replica of this node's partitions now matches\n"
                   : "NOT converged: run it again, or check the errors below\n";
  if (doc.contains("errors") && doc["errors"].is_array()) {
    for (const Json& e : doc["errors"]) out += "  error: " + (e.is_string() ? e.get<std::string>() : e.dump()) + "\n";
  }
  int written = cli::WriteOutput(run, out);
  return written != kExitOk ? written : (converged ? kExitOk : kExitFailure);
}

struct KeyringArgs {
  CommonArgs common;
  std::string op;  // list | install | use | remove
  std::string key;
  bool json = false;
};

int RunKeyring(const KeyringArgs& args, const Invocation& run) {
  int exit_code = kExitOk;
  if (args.op == "list") {
    auto response =
        cli::CallForSuccess(run, exit_code, false, HttpMethod::kGet, "/v1/cluster/keyring");
    if (!response) return exit_code;
    if (args.json) return cli::WriteJsonBody(run, response->body);
    Json doc = Json::parse(response->body, nullptr, false);
    if (doc.is_discarded() || !doc.contains("keys") || !doc["keys"].is_array()) {
      return cli::Fail(run, kExitFailure, "unexpected response: " + cli::OneLine(response->body));
    }
    std::string out;
    for (const Json& k : doc["keys"]) {
      out += Cell(k, "fingerprint");
      if (k.value("primary", false)) out += "  primary";
      out += "\n";
    }
    return cli::WriteOutput(run, out);
  }
  auto key = membership::DecodeGossipKey(args.key);
  if (!key.ok()) return cli::Fail(run, kExitUsage, "KEY: " + key.status().message());
  auto response =
      cli::CallForSuccess(run, exit_code, false, HttpMethod::kPost, "/v1/cluster/keyring",
                          cli::DumpJson(Json{{"op", args.op}, {"key", args.key}}),
                          {{"Content-Type", "application/json"}});
  if (!response) return exit_code;
  if (args.json) cli::WriteJsonBody(run, response->body);
  Json doc = Json::parse(response->body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return cli::Fail(run, kExitFailure, "unexpected response: " + cli::OneLine(response->body));
  }
  const Json errors = doc.value("errors", Json::object());
  if (!args.json) {
    cli::WriteOutput(run, fmt::format("{}: done on {} of {} live nodes\n", args.op, Cell(doc, "ok"),
                                      Cell(doc, "nodes")));
  }
  if (!errors.empty()) {
    for (const auto& [id, message] : errors.items()) {
      cli::Fail(run, kExitFailure,
                "node " + id + ": " + (message.is_string() ? message.get<std::string>() : ""));
    }
    return kExitFailure;
  }
  return kExitOk;
}

// ---- local commands: keygen, tls ---------------------------------------------

int Keygen(std::FILE* out) {
  std::fprintf(out, "%s\n", membership::GenerateGossipKey().c_str());
  return kExitOk;
}

int PrintFailure(std::FILE* err, const Status& status) {
  std::fprintf(err, "meshkv: %s\n", status.message().c_str());
  return status.code() == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

}  // namespace

void AddClusterCommands(CLI::App& app, ClientCommandResult& result, ClientStreams streams) {
  {
    auto args = std::make_shared<MembersArgs>();
    CLI::App* members = app.add_subcommand(
        "members", "List the cluster members as one node sees them (id, state, addresses)");
    members->add_flag("--json", args->json, "Print the JSON response");
    cli::AddCommonOptions(*members, args->common);
    cli::OnRun(*members, args, result, streams, &RunMembers);
  }
  {
    auto args = std::make_shared<JoinArgs>();
    CLI::App* join = app.add_subcommand("join", "Ask a node to join a cluster through ADDR");
    join->add_option("ADDR", args->addresses,
                     "Cluster address of a member: host:port or <node id>@host:port")
        ->required()
        ->check(cli::NonEmptyCheck());
    cli::AddCommonOptions(*join, args->common);
    cli::OnRun(*join, args, result, streams, &RunJoin);
  }
  {
    auto args = std::make_shared<LeaveArgs>();
    CLI::App* leave = app.add_subcommand(
        "leave", "Make a node leave the cluster gracefully (state `left`) and stop");
    cli::AddCommonOptions(*leave, args->common);
    cli::OnRun(*leave, args, result, streams, &RunLeave);
  }
  {
    auto args = std::make_shared<LeaveArgs>();
    CLI::App* decommission = app.add_subcommand(
        "decommission",
        "Make a node stop owning data: it streams every entry to the new replicas, then stops");
    cli::AddCommonOptions(*decommission, args->common);
    cli::OnRun(*decommission, args, result, streams, &RunDecommission);
  }
  {
    auto args = std::make_shared<RepairArgs>();
    args->common.timeout = "30m";  // a repair of a node that missed much takes a while
    CLI::App* repair = app.add_subcommand(
        "repair",
        "Run anti-entropy now with every live co-replica of the node and report what it fixed");
    cli::AddCommonOptions(*repair, args->common);
    repair->add_option("--ns", args->namespaces, "Only these namespaces (repeatable)");
    repair->add_flag("--json", args->json, "Print the server's JSON answer");
    cli::OnRun(*repair, args, result, streams, &RunRepair);
  }
  {
    CLI::App* keyring = app.add_subcommand(
        "keyring", "Gossip encryption keys: list, install, use, remove (on every live member)");
    keyring->require_subcommand(1);
    struct Verb {
      const char* name;
      const char* help;
    };
    for (Verb verb : {Verb{"list", "Fingerprints of the installed keys; the primary is marked"},
                      Verb{"install", "Install KEY on every live member (still not used)"},
                      Verb{"use", "Make KEY (installed) the primary on every live member"},
                      Verb{"remove", "Remove KEY (not the primary) from every live member"}}) {
      auto args = std::make_shared<KeyringArgs>();
      args->op = verb.name;
      CLI::App* command = keyring->add_subcommand(verb.name, verb.help);
      if (args->op != "list") {
        command->add_option("KEY", args->key, "The key, base64 (from `meshkv keygen`)")
            ->required()
            ->check(cli::NonEmptyCheck());
      }
      command->add_flag("--json", args->json, "Print the JSON response");
      cli::AddCommonOptions(*command, args->common);
      cli::OnRun(*command, args, result, streams, &RunKeyring);
    }
  }

  app.add_subcommand("keygen", "Print a new random gossip key (base64 of 32 bytes)")
      ->callback([&result, streams] {
        result.ran = true;
        result.exit_code = Keygen(streams.out);
      });

  CLI::App* tls = app.add_subcommand("tls", "Cluster CA and node certificates for peer links");
  tls->require_subcommand(1);
  {
    CLI::App* ca = tls->add_subcommand("ca", "The cluster certificate authority");
    ca->require_subcommand(1);
    auto dir = std::make_shared<std::string>(".");
    auto cluster = std::make_shared<std::string>("meshkv");
    auto days = std::make_shared<int64_t>(3650);
    CLI::App* create =
        ca->add_subcommand("create", "Write ca.crt and ca.key (mode 0600) into --dir");
    create->add_option("--dir", *dir, "Directory for the files")->capture_default_str();
    create->add_option("--cluster", *cluster, "Cluster name (in the CA's subject)")
        ->capture_default_str();
    create->add_option("--days", *days, "Validity in days")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{36500}));
    create->callback([&result, streams, dir, cluster, days] {
      result.ran = true;
      auto files = CreateClusterCa(*dir, *cluster, *days);
      if (!files.ok()) {
        result.exit_code = PrintFailure(streams.err, files.status());
        return;
      }
      std::fprintf(streams.out, "wrote %s and %s (keep the key offline; it signs node certs)\n",
                   files->cert_path.c_str(), files->key_path.c_str());
      result.exit_code = kExitOk;
    });
  }
  {
    CLI::App* cert = tls->add_subcommand("cert", "Node certificates");
    cert->require_subcommand(1);
    struct CertArgs {
      std::string ca_dir = ".";
      std::string node_id;
      std::string data_dir;
      std::vector<std::string> dns;
      std::vector<std::string> ips;
      std::string out = ".";
      int64_t days = 825;
    };
    auto args = std::make_shared<CertArgs>();
    CLI::App* create = cert->add_subcommand(
        "create", "Sign a certificate for one node id (write node.crt and node.key into --out)");
    create->add_option("--ca-dir", args->ca_dir, "Directory with ca.crt and ca.key")
        ->capture_default_str();
    CLI::Option* node_id =
        create->add_option("--node-id", args->node_id,
                           "The node's id: 16 hex digits (the node_id file in its data dir)");
    CLI::Option* data_dir = create->add_option(
        "--data-dir", args->data_dir,
        "Take the id from this (stopped) node's data dir, creating the dir and id if new");
    node_id->excludes(data_dir);
    create->require_option(1, 0);
    create->add_option("--dns", args->dns, "DNS name of the node (repeatable)");
    create->add_option("--ip", args->ips, "IP address of the node (repeatable)");
    create->add_option("--out", args->out, "Directory for node.crt and node.key")
        ->capture_default_str();
    create->add_option("--days", args->days, "Validity in days")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{36500}));
    create->callback([&result, streams, args] {
      result.ran = true;
      Result<NodeId> id = InvalidArgument("give --node-id or --data-dir");
      if (!args->data_dir.empty()) {
        auto dir = DataDir::Open(args->data_dir);
        if (!dir.ok()) {
          result.exit_code = PrintFailure(streams.err, dir.status());
          return;
        }
        id = (*dir)->node_id();
      } else {
        id = NodeId::Parse(args->node_id);
      }
      if (!id.ok()) {
        result.exit_code =
            PrintFailure(streams.err, InvalidArgument("--node-id: " + id.status().message()));
        return;
      }
      CaFiles ca{args->ca_dir + "/ca.crt", args->ca_dir + "/ca.key"};
      NodeCertRequest request{*id, args->dns, args->ips, args->days};
      auto files = CreateNodeCert(ca, request, args->out);
      if (!files.ok()) {
        result.exit_code = PrintFailure(streams.err, files.status());
        return;
      }
      std::fprintf(streams.out, "wrote %s and %s for node %s\n", files->cert_path.c_str(),
                   files->key_path.c_str(), id->ToString().c_str());
      result.exit_code = kExitOk;
    });
  }
}

}  // namespace meshkv
