#include "frontend/http/http_metrics.h"

#include <string>

namespace meshkv::http {
namespace {
constexpr const char* kRequestsName = "meshkv_http_requests_total";
constexpr const char* kRequestsHelp = "HTTP requests answered, by route template and status code";
}  // namespace

std::string_view RouteName(Route route) {
  switch (route) {
    case Route::kKvItem:
      return "kv_item";
    case Route::kKvList:
      return "kv_list";
    case Route::kKvBatch:
      return "kv_batch";
    case Route::kRecords:
      return "records";
    case Route::kHealth:
      return "health";
    case Route::kReady:
      return "ready";
    case Route::kStatus:
      return "status";
    case Route::kMetrics:
      return "metrics";
    case Route::kCluster:
      return "cluster";
    case Route::kUnknown:
    case Route::kCount:
      break;
  }
  return "unknown";
}

HttpMetrics::HttpMetrics(MetricsRegistry& registry) : registry_(registry) {
  for (size_t r = 0; r < static_cast<size_t>(Route::kCount); ++r) {
    std::string route(RouteName(static_cast<Route>(r)));
    latency_[r] = registry.GetHistogram("meshkv_http_request_duration_seconds",
                                        "HTTP request handling time, from full request to response",
                                        {{"route", route}});
  }
  connections_open_ = registry.GetGauge("meshkv_http_connections_open", "Open HTTP connections");
  inflight_ = registry.GetGauge("meshkv_http_inflight_requests", "HTTP requests being handled");
  connections_rejected_ = registry.GetCounter("meshkv_http_connections_rejected_total",
                                              "Connections refused with 503 (max_connections)");
  overload_rejections_ = registry.GetCounter("meshkv_http_overload_rejections_total",
                                             "Requests refused with 429 (max_inflight_requests)");
}

void HttpMetrics::RecordRequest(Route route, unsigned status, double seconds) {
  const size_t r = static_cast<size_t>(route);
  latency_[r]->Observe(seconds);
  size_t c = 0;
  while (c < kCodes.size() && kCodes[c] != status && kCodes[c] != 0) ++c;
  if (c < kCodes.size() && kCodes[c] == status) {
    Counter*& counter = requests_[r][c];
    // Created on first use; the registry lock is taken once per (route, code).
    Counter* existing = __atomic_load_n(&counter, __ATOMIC_ACQUIRE);
    if (existing == nullptr) {
      existing = registry_.GetCounter(
          kRequestsName, kRequestsHelp,
          {{"route", std::string(RouteName(route))}, {"code", std::to_string(status)}});
      __atomic_store_n(&counter, existing, __ATOMIC_RELEASE);
    }
    existing->Increment();
    return;
  }
  registry_
      .GetCounter(kRequestsName, kRequestsHelp,
                  {{"route", std::string(RouteName(route))}, {"code", std::to_string(status)}})
      ->Increment();
}

}  // namespace meshkv::http
