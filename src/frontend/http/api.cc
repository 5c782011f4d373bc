#include "frontend/http/api.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/duration.h"
#include "base/encoding.h"
#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"
#include "frontend/dns/wire/zone_file.h"
#include "frontend/http/api_internal.h"
#include "frontend/http/batch.h"
#include "frontend/http/request_target.h"

namespace meshkv::http {
namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr std::string_view kKvPrefix = "/v1/kv/";
constexpr std::string_view kRecordsPrefix = "/v1/records/";
constexpr size_t kMaxTargetBytes = 8192;
constexpr size_t kDefaultListLimit = 100;
constexpr size_t kMaxListLimit = 1000;

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json NullableMillis(int64_t ms) {
  return ms == 0 ? json(nullptr) : json(ms);
}

// Adds "key" (when UTF-8) and "key_b64" to a JSON object.
void PutKey(json& j, const std::string& key) {
  if (IsValidUtf8(key)) j["key"] = key;
  j["key_b64"] = Base64Encode(key);
}

asio::awaitable<Result<std::vector<WriteAck>>> AwaitWrite(KvService& kv, std::string ns,
                                                          std::vector<Mutation> mutations,
                                                          std::optional<Consistency> consistency) {
  using WriteResult = Result<std::vector<WriteAck>>;
  co_return co_await AwaitCompletion<WriteResult>([&](std::function<void(WriteResult)> done) {
    kv.Write(ns, mutations, consistency, std::move(done));
  });
}

asio::awaitable<Result<std::optional<Entry>>> AwaitRead(KvService& kv, std::string ns,
                                                        std::string key,
                                                        std::optional<Consistency> consistency) {
  using ReadResult = Result<std::optional<Entry>>;
  co_return co_await AwaitCompletion<ReadResult>([&](std::function<void(ReadResult)> done) {
    kv.Read(ns, key, consistency, std::move(done));
  });
}

// Writes to the `dns` namespace must go through the records API, which
// validates names, rdata and the CNAME/SOA rules; raw bytes there would make
// the zone unreadable.
Response DnsNamespaceIsReadOnly(unsigned version);

// The records API's JSON form of a record.
json RecordJson(const records::Record& record) {
  auto text = dns::RdataToText(record.type, record.rdata);
  return json{{"name", record.name.ToText()},
              {"type", dns::TypeToText(record.type)},
              {"value", text.ok() ? *text : std::string("(unprintable)")},
              {"ttl", record.ttl}};
}

}  // namespace

struct QueryParams {
  const std::vector<std::pair<std::string, std::string>>& items;
  const std::string* Find(std::string_view name) const {
    for (const auto& [k, v] : items) {
      if (k == name) return &v;
    }
    return nullptr;
  }
  // The first parameter not in `allowed`, or nullptr.
  const std::string* Unknown(std::initializer_list<std::string_view> allowed) const {
    for (const auto& [k, v] : items) {
      bool ok = false;
      for (auto a : allowed) ok = ok || a == k;
      if (!ok) return &k;
    }
    return nullptr;
  }
};

namespace {
Response DnsNamespaceIsReadOnly(unsigned version) {
  return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                       "the dns namespace holds DNS records and is read-only here; change records "
                       "with POST/DELETE /v1/records/{name}");
}
}  // namespace

bhttp::status HttpStatusFor(const Status& status, std::string_view* code) {
  switch (status.code()) {
    case ErrorCode::kOk:
      *code = "ok";
      return bhttp::status::ok;
    case ErrorCode::kInvalidArgument:
      *code = "bad_request";
      return bhttp::status::bad_request;
    case ErrorCode::kNotFound:
      *code = "not_found";
      return bhttp::status::not_found;
    case ErrorCode::kUnauthenticated:
      *code = "unauthorized";
      return bhttp::status::unauthorized;
    case ErrorCode::kPermissionDenied:
      *code = "forbidden";
      return bhttp::status::forbidden;
    case ErrorCode::kResourceExhausted:
      *code = "payload_too_large";
      return bhttp::status::payload_too_large;
    case ErrorCode::kFailedPrecondition:
      *code = "conflict";
      return bhttp::status::conflict;
    case ErrorCode::kUnavailable:
    case ErrorCode::kDeadlineExceeded:
      *code = "unavailable";
      return bhttp::status::service_unavailable;
    case ErrorCode::kDataLoss:
    case ErrorCode::kInternal:
      break;
  }
  *code = "internal";
  return bhttp::status::internal_server_error;
}

Response ErrorResponse(unsigned version, bhttp::status status, std::string_view code,
                       std::string_view message) {
  Response res = JsonResponse(version, status, json{{"code", code}, {"message", message}});
  if (status == bhttp::status::unauthorized) res.set(bhttp::field::www_authenticate, "Bearer");
  return res;
}

Response StatusResponse(unsigned version, const Status& status) {
  std::string_view code;
  bhttp::status http_status = HttpStatusFor(status, &code);
  return ErrorResponse(version, http_status, code, status.message());
}

Response JsonResponse(unsigned version, bhttp::status status, const json& body) {
  Response res{status, version};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = Dump(body);
  res.body() += '\n';
  res.prepare_payload();
  return res;
}

Api::Api(KvService& kv, records::RecordService* records, Hlc& hlc, MetricsRegistry& registry,
         HttpMetrics& metrics, NodeInfo info, bool insecure)
    : kv_(kv),
      records_(records),
      hlc_(hlc),
      registry_(registry),
      metrics_(metrics),
      info_(std::move(info)),
      insecure_(insecure) {
  RegisterStorageMetrics();
}

void Api::SetTokens(std::shared_ptr<const TokenSet> tokens) {
  tokens_.store(std::move(tokens));
}

void Api::RegisterStorageMetrics() {
  const int64_t started = info_.started_at_ms;
  const Clock& clock = kv_.clock();
  registry_.AddCallbackGauge("meshkv_uptime_seconds", "Seconds since the node started", {},
                             [started, &clock] { return (clock.NowMillis() - started) / 1000.0; });
  Hlc& hlc = hlc_;
  registry_.AddCallbackGauge("meshkv_hlc_skew_refusals_total",
                             "Remote timestamps refused for being too far ahead", {},
                             [&hlc] { return static_cast<double>(hlc.skew_refusals()); });
  Store& store = kv_.store();
  for (const NamespaceSpec& spec : kv_.namespaces()) {
    std::string name = spec.name;
    auto find = [&store, name](bool bytes) {
      for (const auto& ns : store.Stats().namespaces) {
        if (ns.ns == name)
          return static_cast<double>(bytes ? ns.estimated_bytes : ns.estimated_keys);
      }
      return 0.0;
    };
    registry_.AddCallbackGauge("meshkv_storage_estimated_keys",
                               "Estimated keys (tombstones included) per namespace", {{"ns", name}},
                               [find] { return find(false); });
    registry_.AddCallbackGauge("meshkv_storage_estimated_bytes",
                               "Estimated stored bytes per namespace", {{"ns", name}},
                               [find] { return find(true); });
  }
  registry_.AddCallbackGauge(
      "meshkv_storage_writes_applied_total", "Write operations applied to storage", {},
      [&store] { return static_cast<double>(store.Stats().writes_applied); });
  registry_.AddCallbackGauge(
      "meshkv_storage_synced_batches_total", "Storage batches made durable with fsync", {},
      [&store] { return static_cast<double>(store.Stats().synced_batches); });
}

asio::awaitable<Response> Api::Handle(const Request& request, Route& route) {
  const unsigned version = request.version();
  const std::string_view target = request.target();
  const bhttp::verb method = request.method();
  const std::string_view path = target.substr(0, target.find('?'));

  // 1. Route and method.
  route = Route::kUnknown;
  std::string_view allow;
  if (path == "/health") {
    route = Route::kHealth;
    allow = "GET, HEAD";
  } else if (path == "/ready") {
    route = Route::kReady;
    allow = "GET, HEAD";
  } else if (path == "/metrics") {
    route = Route::kMetrics;
    allow = "GET";
  } else if (path == "/v1/cluster/status") {
    route = Route::kStatus;
    allow = "GET";
  } else if (path == "/v1/cluster/members") {
    route = Route::kCluster;
    allow = "GET";
  } else if (path == "/v1/cluster/join" || path == "/v1/cluster/leave" ||
             path == "/v1/cluster/decommission" || path == "/v1/cluster/repair") {
    route = Route::kCluster;
    allow = "POST";
  } else if (path == "/v1/cluster/keyring") {
    route = Route::kCluster;
    allow = "GET, POST";
  } else if (path.starts_with("/v1/owners/")) {
    route = Route::kCluster;
    allow = "GET";
  } else if (path == "/v1/kv") {
    route = Route::kKvList;
    allow = "GET";
  } else if (path == "/v1/kv/batch" && method == bhttp::verb::post) {
    route = Route::kKvBatch;
    allow = "POST";
  } else if (path == "/v1/records") {
    route = Route::kRecords;
    allow = "GET";
  } else if (path.starts_with(kRecordsPrefix)) {
    route = Route::kRecords;
    allow = "GET, POST, DELETE";
  } else if (path.starts_with(kKvPrefix)) {
    route = Route::kKvItem;
    allow = path == "/v1/kv/batch" ? "GET, HEAD, PUT, DELETE, POST" : "GET, HEAD, PUT, DELETE";
  } else {
    co_return ErrorResponse(
        version, bhttp::status::not_found, "not_found",
        "no route for " + std::string(path.substr(0, 200)) + "; see docs/api.md for the routes");
  }
  bool method_ok = false;
  switch (method) {
    case bhttp::verb::get:
      method_ok = allow.find("GET") != std::string_view::npos;
      break;
    case bhttp::verb::head:
      method_ok = allow.find("HEAD") != std::string_view::npos;
      break;
    case bhttp::verb::put:
      method_ok = route == Route::kKvItem;
      break;
    case bhttp::verb::delete_:
      method_ok = route == Route::kKvItem || (route == Route::kRecords && allow != "GET");
      break;
    case bhttp::verb::post:
      method_ok = route == Route::kKvBatch || (route == Route::kRecords && allow != "GET") ||
                  (route == Route::kCluster && allow.find("POST") != std::string_view::npos);
      break;
    default:
      break;
  }
  if (method == bhttp::verb::get && route == Route::kKvBatch) method_ok = false;
  if (!method_ok) {
    Response res =
        ErrorResponse(version, bhttp::status::method_not_allowed, "method_not_allowed",
                      std::string(request.method_string()) + " is not allowed on " +
                          std::string(path.substr(0, 200)) + "; allowed: " + std::string(allow));
    res.set(bhttp::field::allow, allow);
    co_return res;
  }
  if (target.size() > kMaxTargetBytes) {
    co_return ErrorResponse(version, bhttp::status::uri_too_long, "uri_too_long",
                            "request target is " + std::to_string(target.size()) +
                                " bytes; the limit is " + std::to_string(kMaxTargetBytes));
  }
  if (route == Route::kHealth) {
    co_return JsonResponse(version, bhttp::status::ok, json{{"status", "ok"}});
  }

  // 2. Authentication: everything but /health needs a token.
  Auth auth;
  if (!insecure_) {
    auto header = request.find(bhttp::field::authorization);
    if (header == request.end()) {
      co_return ErrorResponse(version, bhttp::status::unauthorized, "unauthorized",
                              "missing Authorization: Bearer <token> header");
    }
    std::string_view value = header->value();
    constexpr std::string_view kBearer = "Bearer ";
    if (value.size() <= kBearer.size() || !value.starts_with(kBearer)) {
      co_return ErrorResponse(version, bhttp::status::unauthorized, "unauthorized",
                              "Authorization header must be 'Bearer <token>'");
    }
    auth.tokens = tokens_.load();
    auth.token = auth.tokens ? auth.tokens->Authenticate(value.substr(kBearer.size())) : nullptr;
    if (auth.token == nullptr) {
      co_return ErrorResponse(version, bhttp::status::unauthorized, "unauthorized",
                              "the bearer token is not valid for this node");
    }
  }
  switch (route) {
    case Route::kKvItem:
      co_return co_await HandleKvItem(request, auth, path);
    case Route::kKvBatch:
      co_return co_await HandleBatch(request, auth);
    case Route::kKvList:
      co_return co_await HandleList(request, auth);
    case Route::kRecords:
      co_return co_await HandleRecords(request, auth, path);
    case Route::kCluster:
      co_return co_await HandleCluster(request, auth, path);
    default:
      break;
  }
  Status allowed = auth.Check(Scope::kRead, "", "");
  if (!allowed.ok()) co_return StatusResponse(version, allowed);
  switch (route) {
    case Route::kReady:
      if (draining_.load()) {
        co_return ErrorResponse(version, bhttp::status::service_unavailable, "unavailable",
                                "node is shutting down");
      }
      co_return JsonResponse(version, bhttp::status::ok, json{{"status", "ready"}});
    case Route::kStatus:
      co_return HandleStatus(request);
    case Route::kMetrics:
      co_return HandleMetrics(request);
    default:
      break;
  }
  co_return ErrorResponse(version, bhttp::status::not_found, "not_found", "no such route");
}

asio::awaitable<Response> Api::HandleKvItem(const Request& request, const Auth& auth,
                                            std::string_view path) {
  const unsigned version = request.version();
  auto target = ParseRequestTarget(request.target());
  if (!target.ok()) co_return StatusResponse(version, target.status());
  auto key = PercentDecode(path.substr(kKvPrefix.size()));
  if (!key.ok())
    co_return StatusResponse(version, InvalidArgument("key: " + key.status().message()));
  if (key->empty()) {
    co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                            "key must not be empty: use /v1/kv/{key}, or GET /v1/kv to list");
  }
  if (key->size() > kMaxKeyBytes) {
    co_return ErrorResponse(version, bhttp::status::uri_too_long, "uri_too_long",
                            "key is " + std::to_string(key->size()) + " bytes; the limit is " +
                                std::to_string(kMaxKeyBytes));
  }
  QueryParams query{target->query};
  const bhttp::verb method = request.method();
  const bool is_put = method == bhttp::verb::put;
  if (const std::string* unknown = is_put ? query.Unknown({"ns", "ttl", "consistency"})
                                          : query.Unknown({"ns", "consistency"})) {
    co_return ErrorResponse(
        version, bhttp::status::bad_request, "bad_request",
        "unknown query parameter '" + *unknown + "' for " + std::string(request.method_string()) +
            (is_put ? "; allowed: ns, ttl, consistency" : "; allowed: ns, consistency"));
  }
  std::string ns = "default";
  if (const std::string* v = query.Find("ns")) ns = *v;
  std::optional<Consistency> consistency;
  if (const std::string* v = query.Find("consistency")) {
    auto c = ParseConsistency(*v);
    if (!c.ok()) co_return StatusResponse(version, c.status());
    consistency = *c;
  }
  std::optional<int64_t> ttl;
  if (const std::string* v = query.Find("ttl")) {
    auto parsed = ParseDurationMillis(*v);
    if (!parsed.ok())
      co_return StatusResponse(version, InvalidArgument("ttl: " + parsed.status().message()));
    ttl = *parsed;
  }
  const bool is_read = method == bhttp::verb::get || method == bhttp::verb::head;
  if (!is_read && ns == records::kDnsNamespace) co_return DnsNamespaceIsReadOnly(version);
  Status allowed = auth.Check(is_read ? Scope::kRead : Scope::kWrite, ns, *key);
  if (!allowed.ok()) co_return StatusResponse(version, allowed);

  if (is_read) {
    auto entry = co_await AwaitRead(kv_, ns, *key, consistency);
    if (!entry.ok()) co_return StatusResponse(version, entry.status());
    if (!entry->has_value()) {
      Response res = ErrorResponse(version, bhttp::status::not_found, "not_found",
                                   "key not found in namespace '" + ns + "'");
      if (method == bhttp::verb::head) res.body().clear();
      co_return res;
    }
    const Entry& e = **entry;
    Response res{bhttp::status::ok, version};
    res.set("X-Meshkv-Version", e.version.ToString());
    res.set("X-Meshkv-Timestamp-Ms", std::to_string(e.version.timestamp.wall_millis()));
    res.set("X-Meshkv-Origin", e.version.origin.ToString());
    res.set("X-Meshkv-Namespace", ns);
    if (e.expires_at_ms != 0) res.set("X-Meshkv-Expires-At-Ms", std::to_string(e.expires_at_ms));
    auto accept = request.find(bhttp::field::accept);
    const bool want_json = accept != request.end() &&
                           accept->value().find("application/json") != std::string_view::npos;
    if (want_json) {
      json body{{"ns", ns},
                {"value", Base64Encode(e.value)},
                {"version", e.version.ToString()},
                {"origin", e.version.origin.ToString()},
                {"timestamp_ms", e.version.timestamp.wall_millis()},
                {"expires_at_ms", NullableMillis(e.expires_at_ms)}};
      PutKey(body, *key);
      res.set(bhttp::field::content_type, "application/json");
      res.body() = Dump(body);
      res.body() += '\n';
    } else {
      res.set(bhttp::field::content_type, "application/octet-stream");
      res.body() = e.value;
    }
    res.prepare_payload();
    if (method == bhttp::verb::head) {
      const size_t length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    co_return res;
  }

  Mutation mutation;
  mutation.kind = is_put ? Mutation::Kind::kPut : Mutation::Kind::kDelete;
  mutation.key = *key;
  mutation.ttl_ms = ttl;
  if (is_put) mutation.value = request.body();
  std::vector<Mutation> mutations;
  mutations.push_back(std::move(mutation));
  auto acks = co_await AwaitWrite(kv_, ns, std::move(mutations), consistency);
  if (!acks.ok()) co_return StatusResponse(version, acks.status());
  const WriteAck& ack = acks->front();
  json body{{"ns", ns}, {"version", ack.version.ToString()}};
  PutKey(body, *key);
  if (is_put) body["expires_at_ms"] = NullableMillis(ack.expires_at_ms);
  Response res = JsonResponse(version, bhttp::status::ok, body);
  res.set("X-Meshkv-Version", ack.version.ToString());
  if (ack.expires_at_ms != 0) res.set("X-Meshkv-Expires-At-Ms", std::to_string(ack.expires_at_ms));
  co_return res;
}

asio::awaitable<Response> Api::HandleList(const Request& request, const Auth& auth) {
  const unsigned version = request.version();
  auto target = ParseRequestTarget(request.target());
  if (!target.ok()) co_return StatusResponse(version, target.status());
  QueryParams query{target->query};
  if (const std::string* unknown =
          query.Unknown({"ns", "prefix", "limit", "cursor", "keys_only", "consistency"})) {
    co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                            "unknown query parameter '" + *unknown +
                                "'; allowed: ns, prefix, limit, cursor, keys_only, consistency");
  }
  std::string ns = "default";
  if (const std::string* v = query.Find("ns")) ns = *v;
  std::string prefix;
  if (const std::string* v = query.Find("prefix")) prefix = *v;
  size_t limit = kDefaultListLimit;
  if (const std::string* v = query.Find("limit")) {
    size_t parsed = 0;
    bool ok = !v->empty() && v->size() <= 5;
    for (char c : *v) ok = ok && c >= '0' && c <= '9';
    if (ok) parsed = std::stoul(*v);
    if (!ok || parsed < 1 || parsed > kMaxListLimit) {
      co_return ErrorResponse(
          version, bhttp::status::bad_request, "bad_request",
          "limit must be an integer from 1 to " + std::to_string(kMaxListLimit));
    }
    limit = parsed;
  }
  bool keys_only = false;
  if (const std::string* v = query.Find("keys_only")) {
    if (*v == "true" || *v == "1" || v->empty())
      keys_only = true;
    else if (*v == "false" || *v == "0")
      keys_only = false;
    else
      co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                              "keys_only must be true or false");
  }
  std::optional<Consistency> consistency;
  if (const std::string* v = query.Find("consistency")) {
    auto c = ParseConsistency(*v);
    if (!c.ok()) co_return StatusResponse(version, c.status());
    consistency = *c;
  }
  std::string start_after;
  if (const std::string* v = query.Find("cursor")) {
    auto decoded = Base64UrlDecode(*v);
    if (!decoded.ok() || decoded->empty()) {
      co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                              "cursor is not one this server returned; pass next_cursor unchanged");
    }
    start_after = std::move(*decoded);
  }
  if (auth.token != nullptr) {
    Status allowed = AuthorizeList(*auth.token, ns, prefix);
    if (!allowed.ok()) co_return StatusResponse(version, allowed);
  }
  auto page =
      co_await AwaitCompletion<Result<ScanPage>>([&](std::function<void(Result<ScanPage>)> done) {
        kv_.ListAcross(ns, prefix, start_after, limit, keys_only, consistency, std::move(done));
      });
  if (!page.ok()) co_return StatusResponse(version, page.status());
  json items = json::array();
  for (const KeyEntry& item : page->items) {
    json j{{"version", item.entry.version.ToString()},
           {"expires_at_ms", NullableMillis(item.entry.expires_at_ms)}};
    PutKey(j, item.key);
    if (!keys_only) j["value"] = Base64Encode(item.entry.value);
    items.push_back(std::move(j));
  }
  json body{{"ns", ns}, {"items", std::move(items)}};
  body["next_cursor"] = page->more && !page->items.empty()
                            ? json(Base64UrlEncode(page->items.back().key))
                            : json(nullptr);
  co_return JsonResponse(version, bhttp::status::ok, body);
}

asio::awaitable<Response> Api::HandleBatch(const Request& request, const Auth& auth) {
  const unsigned version = request.version();
  auto target = ParseRequestTarget(request.target());
  if (!target.ok()) co_return StatusResponse(version, target.status());
  if (!target->query.empty()) {
    co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                            "batch takes no query parameters; put ns and consistency in the body");
  }
  auto batch = ParseBatchRequest(request.body());
  if (!batch.ok()) co_return StatusResponse(version, batch.status());
  if (kv_.FindNamespace(batch->ns) == nullptr) {
    co_return StatusResponse(version, NotFound("namespace '" + batch->ns + "' is not configured"));
  }
  if (batch->ns == records::kDnsNamespace) {
    for (const BatchOp& op : batch->ops) {
      if (op.kind != BatchOp::Kind::kGet) co_return DnsNamespaceIsReadOnly(version);
    }
  }
  // Authorize every op before touching anything.
  for (size_t i = 0; i < batch->ops.size(); ++i) {
    const BatchOp& op = batch->ops[i];
    Status allowed = auth.Check(op.kind == BatchOp::Kind::kGet ? Scope::kRead : Scope::kWrite,
                                batch->ns, op.key);
    if (!allowed.ok()) {
      co_return StatusResponse(
          version, Status(allowed.code(), "ops[" + std::to_string(i) + "]: " + allowed.message()));
    }
  }
  std::vector<Mutation> mutations;
  for (const BatchOp& op : batch->ops) {
    if (op.kind == BatchOp::Kind::kGet) continue;
    Mutation m;
    m.kind = op.kind == BatchOp::Kind::kPut ? Mutation::Kind::kPut : Mutation::Kind::kDelete;
    m.key = op.key;
    m.value = op.value;
    m.ttl_ms = op.ttl_ms;
    mutations.push_back(std::move(m));
  }
  Status valid = kv_.ValidateMutations(batch->ns, mutations);
  if (!valid.ok()) co_return StatusResponse(version, valid);

  // Gets read the state before the batch's writes.
  json results = json::array();
  for (const BatchOp& op : batch->ops) {
    json r{{"op", BatchOpName(op.kind)}};
    PutKey(r, op.key);
    if (op.kind == BatchOp::Kind::kGet) {
      auto entry = co_await AwaitRead(kv_, batch->ns, op.key, batch->consistency);
      if (!entry.ok()) co_return StatusResponse(version, entry.status());
      if (entry->has_value()) {
        const Entry& e = **entry;
        r["status"] = 200;
        r["value"] = Base64Encode(e.value);
        r["version"] = e.version.ToString();
        r["expires_at_ms"] = NullableMillis(e.expires_at_ms);
      } else {
        r["status"] = 404;
      }
    }
    results.push_back(std::move(r));
  }
  if (!mutations.empty()) {
    auto acks = co_await AwaitWrite(kv_, batch->ns, std::move(mutations), batch->consistency);
    if (!acks.ok()) co_return StatusResponse(version, acks.status());
    size_t next = 0;
    for (size_t i = 0; i < batch->ops.size(); ++i) {
      if (batch->ops[i].kind == BatchOp::Kind::kGet) continue;
      const WriteAck& ack = (*acks)[next++];
      results[i]["status"] = 200;
      results[i]["version"] = ack.version.ToString();
      if (batch->ops[i].kind == BatchOp::Kind::kPut) {
        results[i]["expires_at_ms"] = NullableMillis(ack.expires_at_ms);
      }
    }
  }
  co_return JsonResponse(version, bhttp::status::ok, json{{"results", std::move(results)}});
}

asio::awaitable<Response> Api::HandleRecords(const Request& request, const Auth& auth,
                                             std::string_view path) {
  const unsigned version = request.version();
  if (records_ == nullptr) {
    co_return ErrorResponse(version, bhttp::status::not_found, "not_found",
                            "this node serves no DNS zones; set dns.zones in its config");
  }
  auto target = ParseRequestTarget(request.target());
  if (!target.ok()) co_return StatusResponse(version, target.status());
  QueryParams query{target->query};
  if (path == "/v1/records") co_return HandleZoneListing(request, auth, query);
  if (const std::string* unknown = query.Unknown({"type"})) {
    co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                            "unknown query parameter '" + *unknown + "'; allowed: type");
  }
  auto name_text = PercentDecode(path.substr(kRecordsPrefix.size()));
  if (!name_text.ok())
    co_return StatusResponse(version, InvalidArgument("name: " + name_text.status().message()));
  if (name_text->empty()) {
    co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                            "use /v1/records/{name}, e.g. /v1/records/www.example.test");
  }
  auto name = records_->ParseOwnerName(*name_text);
  if (!name.ok()) co_return StatusResponse(version, name.status());
  std::optional<uint16_t> type;
  if (const std::string* t = query.Find("type")) {
    type = dns::TypeFromText(*t);
    if (!type) {
      co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                              "type " + QuoteForMessage(*t) + " is not a DNS type");
    }
  }
  const bhttp::verb method = request.method();
  const std::string key_prefix = records::NameKeyPrefix(*name);
  Status allowed = auth.Check(method == bhttp::verb::get ? Scope::kRead : Scope::kWrite,
                              records::kDnsNamespace, key_prefix);
  if (!allowed.ok()) co_return StatusResponse(version, allowed);

  if (method == bhttp::verb::get) {
    auto found = records_->RecordsAt(*name, type);
    if (!found.ok()) co_return StatusResponse(version, found.status());
    if (found->empty()) {
      co_return ErrorResponse(version, bhttp::status::not_found, "not_found",
                              "no records at " + name->ToText() +
                                  (type ? " of type " + dns::TypeToText(*type) : std::string()));
    }
    json items = json::array();
    for (const records::Record& r : *found) items.push_back(RecordJson(r));
    co_return JsonResponse(version, bhttp::status::ok,
                           json{{"name", name->ToText()}, {"records", std::move(items)}});
  }

  // POST and DELETE take {"type","value"[,"ttl"]}; DELETE may have no body.
  json body;
  if (!request.body().empty()) {
    body = json::parse(request.body(), nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      co_return ErrorResponse(
          version, bhttp::status::bad_request, "bad_request",
          "body must be a JSON object like {\"type\":\"A\",\"value\":\"192.0.2.1\",\"ttl\":300}");
    }
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (it.key() != "type" && it.key() != "value" && it.key() != "ttl") {
        co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                                "unknown field \"" + it.key() + "\"; expected type, value, ttl");
      }
    }
  }
  auto string_field = [&body](const char* field) -> std::optional<std::string> {
    auto it = body.find(field);
    if (it == body.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  for (const char* field : {"type", "value"}) {
    if (body.contains(field) && !body[field].is_string()) {
      co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                              std::string("\"") + field + "\" must be a string");
    }
  }
  std::optional<std::string> body_type = string_field("type");
  std::optional<std::string> body_value = string_field("value");

  if (method == bhttp::verb::post) {
    if (!body_type || !body_value) {
      co_return ErrorResponse(
          version, bhttp::status::bad_request, "bad_request",
          "POST needs a JSON body with \"type\" and \"value\" (and optional \"ttl\" in seconds)");
    }
    std::optional<int64_t> ttl;
    if (auto it = body.find("ttl"); it != body.end()) {
      if (it->is_number_unsigned() || it->is_number_integer()) {
        ttl = it->get<int64_t>();
      } else if (it->is_string()) {
        // Zone-file TTL spellings: "300", "5m", "1h30m", "1w" (whole seconds).
        auto parsed = dns::ParseTtl(it->get<std::string>());
        if (!parsed.ok())
          co_return StatusResponse(version, InvalidArgument("ttl: " + parsed.status().message()));
        ttl = *parsed;
      } else {
        co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                                "\"ttl\" must be seconds (an integer) or a duration like \"5m\"");
      }
    }
    if (type && dns::TypeFromText(*body_type) != type) {
      co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                              "?type= and the body's \"type\" disagree");
    }
    auto record = records_->MakeRecord(*name, *body_type, *body_value, ttl);
    if (!record.ok()) co_return StatusResponse(version, record.status());
    Status added = co_await AwaitCompletion<Status>(
        [&](std::function<void(Status)> done) { records_->Add(*record, std::move(done)); });
    if (!added.ok()) co_return StatusResponse(version, added);
    co_return JsonResponse(version, bhttp::status::ok, RecordJson(*record));
  }

  // DELETE: everything at the name, one type (?type= or body type), or one value.
  if (body.contains("ttl")) {
    co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                            "DELETE takes \"type\" and \"value\", not \"ttl\"");
  }
  if (body_type) {
    auto t = dns::TypeFromText(*body_type);
    if (!t) {
      co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                              "type " + QuoteForMessage(*body_type) + " is not a DNS type");
    }
    if (type && *type != *t) {
      co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                              "?type= and the body's \"type\" disagree");
    }
    type = t;
  }
  std::optional<std::string> rdata;
  if (body_value) {
    if (!type) {
      co_return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                              "\"value\" needs \"type\" to say how to read it");
    }
    auto wire = dns::RdataFromText(*type, *body_value);
    if (!wire.ok())
      co_return StatusResponse(version, InvalidArgument("value: " + wire.status().message()));
    rdata = std::move(*wire);
  }
  auto removed =
      co_await AwaitCompletion<Result<size_t>>([&](std::function<void(Result<size_t>)> done) {
        records_->Remove(*name, type, rdata, std::move(done));
      });
  if (!removed.ok()) co_return StatusResponse(version, removed.status());
  if (*removed == 0) {
    co_return ErrorResponse(version, bhttp::status::not_found, "not_found",
                            "no matching records at " + name->ToText());
  }
  co_return JsonResponse(version, bhttp::status::ok,
                         json{{"name", name->ToText()}, {"removed", *removed}});
}

// GET /v1/records?zone=Z: every record of a zone (export, backups).
Response Api::HandleZoneListing(const Request& request, const Auth& auth,
                                const QueryParams& query) {
  const unsigned version = request.version();
  if (const std::string* unknown = query.Unknown({"zone"})) {
    return ErrorResponse(version, bhttp::status::bad_request, "bad_request",
                         "unknown query parameter '" + *unknown + "'; allowed: zone");
  }
  const std::string* zone_text = query.Find("zone");
  if (zone_text == nullptr) {
    return ErrorResponse(
        version, bhttp::status::bad_request, "bad_request",
        "GET /v1/records needs ?zone=<zone apex>; for one name use /v1/records/{name}");
  }
  auto zone = dns::Name::FromText(*zone_text);
  if (!zone.ok())
    return StatusResponse(version, InvalidArgument("zone: " + zone.status().message()));
  const dns::Name* served = records_->ZoneOf(*zone);
  if (served == nullptr || !(*served == *zone)) {
    return ErrorResponse(version, bhttp::status::not_found, "not_found",
                         "this node serves no zone " + QuoteForMessage(*zone_text));
  }
  Status allowed = auth.Check(Scope::kRead, records::kDnsNamespace, "");
  if (auth.token != nullptr && !auth.token->key_prefix.empty()) {
    allowed = PermissionDenied("a prefix-limited token cannot list whole zones");
  }
  if (!allowed.ok()) return StatusResponse(version, allowed);
  auto all = records_->ZoneRecords(*served);
  if (!all.ok()) return StatusResponse(version, all.status());
  json items = json::array();
  for (const records::Record& r : *all) items.push_back(RecordJson(r));
  return JsonResponse(version, bhttp::status::ok,
                      json{{"zone", served->ToText()}, {"records", std::move(items)}});
}

Response Api::HandleStatus(const Request& request) {
  const int64_t now = kv_.clock().NowMillis();
  StoreStats stats = kv_.store().Stats();
  json namespaces = json::array();
  for (const NamespaceSpec& spec : kv_.namespaces()) {
    json j{{"name", spec.name},
           {"replicas",
            spec.replicas == NamespaceSpec::kReplicasAll ? json("all") : json(spec.replicas)},
           {"consistency", ConsistencyName(spec.consistency)},
           {"sync_policy", SyncPolicyName(spec.sync_policy)},
           {"default_ttl_ms", spec.default_ttl_ms},
           {"max_value_bytes", spec.max_value_bytes},
           {"storage", spec.storage == StorageKind::kDisk ? "disk" : "memory"}};
    for (const NamespaceStats& ns : stats.namespaces) {
      if (ns.ns == spec.name) {
        j["estimated_keys"] = ns.estimated_keys;
        j["estimated_bytes"] = ns.estimated_bytes;
        j["engine"] = ns.engine;
      }
    }
    namespaces.push_back(std::move(j));
  }
  json body{
      {"node_id", kv_.node_id().ToString()},
      {"role", info_.role},
      {"version", info_.version},
      {"uptime_s", (now - info_.started_at_ms) / 1000.0},
      {"started_at_ms", info_.started_at_ms},
      {"http", {{"listen", info_.listen}}},
      {"storage",
       {{"engine", info_.storage_engine},
        {"sync", info_.storage_sync},
        {"path", info_.data_dir},
        {"writes_applied", stats.writes_applied},
        {"write_batches", stats.write_batches},
        {"synced_batches", stats.synced_batches}}},
      {"namespaces", std::move(namespaces)},
      {"clock",
       {{"max_clock_skew_ms", hlc_.max_skew_millis()}, {"skew_refusals", hlc_.skew_refusals()}}},
      {"auth", insecure_ ? "disabled (--dev-insecure)" : "bearer tokens"},
  };
  if (cluster_ != nullptr) body["cluster"] = ClusterStatusJson();
  return JsonResponse(request.version(), bhttp::status::ok, body);
}

Response Api::HandleMetrics(const Request& request) {
  Response res{bhttp::status::ok, request.version()};
  res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.body() = registry_.Render();
  res.prepare_payload();
  return res;
}

}  // namespace meshkv::http
