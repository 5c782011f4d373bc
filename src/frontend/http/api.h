// Api: the routes of docs/api.md, from a parsed Beast request to a response.
// Connection handling (limits, timeouts, keep-alive, draining) lives in
// HttpServer; everything about what a request means lives here.
//
// Thread-safety: Handle() runs concurrently on every io thread. SetTokens()
// may be called from any thread (SIGHUP reload) and takes effect for the next
// request.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "base/hlc.h"
#include "base/metrics.h"
#include "frontend/http/cluster_control.h"
#include "frontend/http/http_metrics.h"
#include "records/record_service.h"
#include "replication/kv_service.h"
#include "trust/tokens.h"

namespace meshkv::replication {
class AntiEntropy;
class Coordinator;
}

namespace meshkv::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

// Facts about the node shown by /v1/cluster/status.
struct NodeInfo {
  std::string version;
  int64_t started_at_ms = 0;
  std::string listen;
  std::string storage_engine;
  std::string storage_sync;
  std::string data_dir;
  std::string config_path;
  std::string role = "normal";  // node.role
};

struct QueryParams;

class Api {
 public:
  // `insecure` disables authentication entirely (--dev-insecure). `records`
  // is null when the node serves no DNS zones (the records API then says so).
  Api(KvService& kv, records::RecordService* records, Hlc& hlc, MetricsRegistry& registry,
      HttpMetrics& metrics, NodeInfo info, bool insecure);

  void SetTokens(std::shared_ptr<const TokenSet> tokens);
  // While draining, /ready answers 503.
  void SetDraining(bool draining) { draining_.store(draining); }
  void SetListenAddress(std::string listen) { info_.listen = std::move(listen); }
  // The cluster layer behind /v1/cluster/*; set once before serving.
  void SetCluster(ClusterControl* cluster) { cluster_ = cluster; }
  // The replication coordinator behind /v1/owners/{key}; null on a node
  // without [cluster]. Set once before serving.
  void SetCoordinator(replication::Coordinator* coordinator) { coordinator_ = coordinator; }
  // Anti-entropy behind POST /v1/cluster/repair; null without [cluster].
  void SetAntiEntropy(replication::AntiEntropy* anti_entropy) { anti_entropy_ = anti_entropy; }
  // Starts this node's decommission (POST /v1/cluster/decommission).
  void SetDecommission(std::function<Status()> start) { decommission_ = std::move(start); }

  // Classifies the request (for metrics) and answers it.
  boost::asio::awaitable<Response> Handle(const Request& request, Route& route);

 private:
  struct Auth;
  boost::asio::awaitable<Response> HandleKvItem(const Request& request, const Auth& auth,
                                                std::string_view path);
  boost::asio::awaitable<Response> HandleBatch(const Request& request, const Auth& auth);
  boost::asio::awaitable<Response> HandleList(const Request& request, const Auth& auth);
  Response HandleZoneListing(const Request& request, const Auth& auth, const QueryParams& query);
  boost::asio::awaitable<Response> HandleRecords(const Request& request, const Auth& auth,
                                                 std::string_view path);
  Response HandleStatus(const Request& request);
  // /v1/cluster/members|join|leave|keyring (cluster_routes.cc).
  boost::asio::awaitable<Response> HandleCluster(const Request& request, const Auth& auth,
                                                 std::string_view path);
  nlohmann::json ClusterStatusJson() const;
  Response HandleOwners(const Request& request, std::string_view path);
  boost::asio::awaitable<Response> HandleRepair(const Request& request);
  Response HandleMetrics(const Request& request);
  void RegisterStorageMetrics();

  KvService& kv_;
  records::RecordService* records_;
  ClusterControl* cluster_ = nullptr;
  replication::Coordinator* coordinator_ = nullptr;
  replication::AntiEntropy* anti_entropy_ = nullptr;
  std::function<Status()> decommission_;
  Hlc& hlc_;
  MetricsRegistry& registry_;
  HttpMetrics& metrics_;
  NodeInfo info_;
  const bool insecure_;
  std::atomic<bool> draining_{false};
  std::atomic<std::shared_ptr<const TokenSet>> tokens_;
};

// A JSON error response {"code","message"} with the given status.
Response ErrorResponse(unsigned version, bhttp::status status, std::string_view code,
                       std::string_view message);
// The HTTP status and error code for a Status from below.
bhttp::status HttpStatusFor(const Status& status, std::string_view* code);

}  // namespace meshkv::http
