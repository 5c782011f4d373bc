// /v1/cluster/members, /v1/cluster/join, /v1/cluster/leave,
// /v1/cluster/keyring and the cluster fields of /v1/cluster/status
// (docs/api.md, "Cluster").
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/encoding.h"
#include "frontend/http/api.h"
#include "frontend/http/api_internal.h"
#include "frontend/http/request_target.h"
#include "replication/anti_entropy.h"
#include "replication/coordinator.h"

namespace meshkv::http {
namespace {

using nlohmann::json;

json OptionalString(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

json MemberJson(const membership::Member& m, int64_t now_ms) {
  json tags = json::object();
  for (const auto& [k, v] : m.meta.tags) tags[k] = v;
  return json{
      {"id", m.meta.id.ToString()},
      {"state", membership::MemberStateName(m.state)},
      {"incarnation", m.incarnation},
      {"addresses",
       {{"cluster", m.meta.cluster_addr}, {"http", m.meta.http_addr}, {"dns", m.meta.dns_addr}}},
      {"version", m.meta.version},
      {"tags", std::move(tags)},
      {"last_rtt_ms", m.last_rtt_micros < 0 ? json(nullptr) : json(m.last_rtt_micros / 1000.0)},
      {"state_age_ms", std::max<int64_t>(0, now_ms - m.state_change_millis)},
  };
}

json KeysJson(const std::vector<membership::KeyInfo>& keys) {
  json out = json::array();
  for (const membership::KeyInfo& k : keys) {
    out.push_back(json{{"fingerprint", k.fingerprint}, {"primary", k.primary}});
  }
  return out;
}

// Body {"addresses": ["host:port", ...]} of POST /v1/cluster/join.
Result<std::vector<std::string>> ParseJoinBody(const std::string& body) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgument("body must be a JSON object like {\"addresses\": [\"10.0.0.1:7946\"]}");
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "addresses")
      return InvalidArgument("unknown field \"" + key + "\"; expected addresses");
  }
  auto it = doc.find("addresses");
  if (it == doc.end() || !it->is_array() || it->empty()) {
    return InvalidArgument("\"addresses\" must be a non-empty array of \"host:port\" strings");
  }
  if (it->size() > 64) return InvalidArgument("at most 64 addresses per join request");
  std::vector<std::string> addresses;
  for (const json& a : *it) {
    if (!a.is_string() || a.get<std::string>().empty() || a.get<std::string>().size() > 300) {
      return InvalidArgument("every address must be a \"host:port\" or \"id@host:port\" string");
    }
    addresses.push_back(a.get<std::string>());
  }
  return addresses;
}

struct KeyringRequest {
  KeyringOp op;
  std::string key;  // raw bytes
};

// Body {"op": "install"|"use"|"remove", "key": "<base64>"}.
Result<KeyringRequest> ParseKeyringBody(const std::string& body) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgument(
        "body must be a JSON object like {\"op\": \"install\", \"key\": \"<base64 from "
        "meshkv keygen>\"}");
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "op" && key != "key") {
      return InvalidArgument("unknown field \"" + key + "\"; expected op and key");
    }
  }
  auto op = doc.find("op");
  auto key = doc.find("key");
  if (op == doc.end() || !op->is_string()) {
    return InvalidArgument("\"op\" must be \"install\", \"use\" or \"remove\"");
  }
  KeyringRequest request;
  const std::string op_text = op->get<std::string>();
  if (op_text == "install") {
    request.op = KeyringOp::kInstall;
  } else if (op_text == "use") {
    request.op = KeyringOp::kUse;
  } else if (op_text == "remove") {
    request.op = KeyringOp::kRemove;
  } else {
    return InvalidArgument("\"op\" must be \"install\", \"use\" or \"remove\"");
  }
  if (key == doc.end() || !key->is_string()) {
    return InvalidArgument("\"key\" must be a base64 gossip key (`meshkv keygen`)");
  }
  auto raw = membership::DecodeGossipKey(key->get<std::string>());
  if (!raw.ok()) return InvalidArgument("\"key\": " + raw.status().message());
  request.key = std::move(*raw);
  return request;
}

}  // namespace

json Api::ClusterStatusJson() const {
  ClusterStatus s = cluster_->CurrentStatus();
  json by_state = json::object();
  for (const auto& [state, n] : s.members_by_state) by_state[state] = n;
  json out{
      {"enabled", s.enabled},
      {"name", s.name},
      {"self", s.self.ToString()},
      {"incarnation", s.incarnation},
      {"health_score", s.health_score},
      {"members", std::move(by_state)},
      {"gossip_keys", KeysJson(s.gossip_keys)},
      {"seeds", s.seeds},
      {"joined", s.joined},
      {"last_join_error", OptionalString(s.last_join_error)},
  };
  json srv{
      {"domain", s.srv_domain},
      {"last_refresh_ms", s.srv_last_refresh_ms ? json(*s.srv_last_refresh_ms) : json(nullptr)},
      {"found", s.srv_found},
      {"last_error", OptionalString(s.srv_last_error)}};
  out["srv"] = std::move(srv);
  if (coordinator_ != nullptr) {
    replication::OwnershipState ownership = coordinator_->Ownership();
    json counts = json::object();
    for (auto state : {replication::OwnerState::kPending, replication::OwnerState::kNormal,
                       replication::OwnerState::kLeaving, replication::OwnerState::kRemoved}) {
      counts[replication::OwnerStateName(state)] = 0;
    }
    for (const auto& [node, record] : ownership.records()) {
      counts[replication::OwnerStateName(record.state)] =
          counts[replication::OwnerStateName(record.state)].get<int>() + 1;
    }
    auto self = ownership.Find(s.self);
    const replication::Coordinator::RebalanceProgress progress = coordinator_->Progress();
    out["ownership"] =
        json{{"self", self ? json(replication::OwnerStateName(self->state)) : json(nullptr)},
             {"nodes", std::move(counts)},
             {"digest", fmt::format("{:016x}", ownership.Digest())},
             {"settled", !coordinator_->TransitionInProgress()},
             {"rebalance", {{"phase", progress.phase}, {"entries", progress.entries}}}};
  }
  return out;
}

// GET /v1/owners/{key}?ns=: the key's partition, its replicas (highest rank
// first) with their liveness and ownership state, and pending replicas.
// POST /v1/cluster/repair[?ns=a&ns=b]: anti-entropy with every live
// co-replica until each matches; answers what it found and fixed.
boost::asio::awaitable<Response> Api::HandleRepair(const Request& request) {
  const unsigned version = request.version();
  if (anti_entropy_ == nullptr) {
    co_return StatusResponse(version, FailedPrecondition("this node runs without [cluster]: "
                                                         "there are no replicas to compare with"));
  }
  auto target = ParseRequestTarget(request.target());
  if (!target.ok()) co_return StatusResponse(version, target.status());
  std::vector<std::string> namespaces;
  for (const auto& [name, value] : target->query) {
    if (name != "ns") {
      co_return StatusResponse(
          version, InvalidArgument("unknown query parameter '" + name + "'; allowed: ns"));
    }
    if (kv_.FindNamespace(value) == nullptr) {
      co_return StatusResponse(version, NotFound("namespace '" + value + "' is not configured"));
    }
    namespaces.push_back(value);
  }
  replication::AeReport report = co_await AwaitCompletion<replication::AeReport>(
      [&](std::function<void(replication::AeReport)> done) {
        anti_entropy_->Repair(namespaces, std::move(done));
      });
  co_return JsonResponse(version, bhttp::status::ok,
                         json{{"converged", report.converged},
                              {"peers", report.peers},
                              {"rounds", report.rounds},
                              {"partitions_compared", report.partitions_compared},
                              {"partitions_differing", report.partitions_differing},
                              {"keys_pulled", report.keys_pulled},
                              {"keys_pushed", report.keys_pushed},
                              {"bytes", report.bytes},
                              {"errors", report.errors}});
}

Response Api::HandleOwners(const Request& request, std::string_view path) {
  const unsigned version = request.version();
  if (coordinator_ == nullptr) {
    return StatusResponse(version, FailedPrecondition("this node runs without [cluster]: every "
                                                      "key lives on this node alone"));
  }
  auto target = ParseRequestTarget(request.target());
  if (!target.ok()) return StatusResponse(version, target.status());
  auto key = PercentDecode(path.substr(std::string_view("/v1/owners/").size()));
  if (!key.ok()) return StatusResponse(version, key.status());
  if (key->empty()) return StatusResponse(version, InvalidArgument("key must not be empty"));
  std::string ns = "default";
  for (const auto& [name, value] : target->query) {
    if (name != "ns") {
      return StatusResponse(version,
                            InvalidArgument("unknown query parameter '" + name + "'; allowed: ns"));
    }
    ns = value;
  }
  const NamespaceSpec* spec = kv_.FindNamespace(ns);
  if (spec == nullptr) {
    return StatusResponse(version, NotFound("namespace '" + ns + "' is not configured"));
  }
  replication::KeyPlacement placement = coordinator_->PlacementOf(*spec, *key);
  replication::OwnershipState ownership = coordinator_->Ownership();
  std::map<NodeId, std::string> liveness;
  for (const membership::Member& m : cluster_->Members()) {
    liveness[m.meta.id] = std::string(membership::MemberStateName(m.state));
  }
  auto describe = [&](const std::vector<NodeId>& nodes) {
    json out = json::array();
    for (NodeId n : nodes) {
      auto record = ownership.Find(n);
      out.push_back(json{{"id", n.ToString()},
                         {"state", liveness.count(n) ? json(liveness[n]) : json("unknown")},
                         {"owner_state", record ? json(replication::OwnerStateName(record->state))
                                                : json(nullptr)}});
    }
    return out;
  };
  json body{{"ns", ns},
            {"partition", placement.partition.value()},
            {"replicas", describe(placement.replicas)},
            {"pending_replicas", describe(placement.pending_replicas)}};
  if (IsValidUtf8(*key)) body["key"] = *key;
  body["key_b64"] = Base64Encode(*key);
  return JsonResponse(version, bhttp::status::ok, body);
}

boost::asio::awaitable<Response> Api::HandleCluster(const Request& request, const Auth& auth,
                                                    std::string_view path) {
  const unsigned version = request.version();
  const bool is_get = request.method() == bhttp::verb::get;
  Status allowed = auth.Check(is_get ? Scope::kRead : Scope::kAdmin, "", "");
  if (!allowed.ok()) co_return StatusResponse(version, allowed);
  if (cluster_ == nullptr) {
    co_return StatusResponse(version, FailedPrecondition("no cluster layer in this process"));
  }
  if (path.starts_with("/v1/owners/")) co_return HandleOwners(request, path);
  if (path == "/v1/cluster/members") {
    // Member state times are on the membership's monotonic clock.
    const int64_t now = SteadyClock().NowMillis();
    json members = json::array();
    ClusterStatus status = cluster_->CurrentStatus();
    for (const membership::Member& m : cluster_->Members()) members.push_back(MemberJson(m, now));
    co_return JsonResponse(version, bhttp::status::ok,
                           json{{"self", status.self.ToString()},
                                {"health_score", status.health_score},
                                {"members", std::move(members)}});
  }
  if (path == "/v1/cluster/join") {
    auto addresses = ParseJoinBody(request.body());
    if (!addresses.ok()) co_return StatusResponse(version, addresses.status());
    auto joined =
        co_await AwaitCompletion<Result<size_t>>([&](std::function<void(Result<size_t>)> done) {
          cluster_->Join(std::move(*addresses), std::move(done));
        });
    if (!joined.ok()) co_return StatusResponse(version, joined.status());
    co_return JsonResponse(version, bhttp::status::ok, json{{"joined", *joined}});
  }
  if (path == "/v1/cluster/repair") co_return co_await HandleRepair(request);
  if (path == "/v1/cluster/decommission") {
    if (!decommission_) {
      co_return StatusResponse(
          version, FailedPrecondition("this node runs without [cluster]: nothing to hand over"));
    }
    Status started = decommission_();
    if (!started.ok()) co_return StatusResponse(version, started);
    co_return JsonResponse(version, bhttp::status::accepted, json{{"decommissioning", true}});
  }
  if (path == "/v1/cluster/leave") {
    if (!cluster_->CurrentStatus().enabled) {
      co_return StatusResponse(
          version, FailedPrecondition("this node runs without [cluster]; stop it with SIGTERM"));
    }
    cluster_->Leave();
    co_return JsonResponse(version, bhttp::status::ok, json{{"leaving", true}});
  }
  // /v1/cluster/keyring
  if (is_get) {
    co_return JsonResponse(version, bhttp::status::ok, json{{"keys", KeysJson(cluster_->Keys())}});
  }
  auto change = ParseKeyringBody(request.body());
  if (!change.ok()) co_return StatusResponse(version, change.status());
  auto result = co_await AwaitCompletion<Result<KeyringChange>>(
      [&](std::function<void(Result<KeyringChange>)> done) {
        cluster_->ChangeKeyring(change->op, std::move(change->key), std::move(done));
      });
  if (!result.ok()) co_return StatusResponse(version, result.status());
  json errors = json::object();
  for (const auto& [id, message] : result->errors) errors[id] = message;
  // 200 even when some members failed: `errors` names them (the CLI exits 1).
  co_return JsonResponse(
      version, bhttp::status::ok,
      json{{"nodes", result->nodes}, {"ok", result->ok}, {"errors", std::move(errors)}});
}

}  // namespace meshkv::http
