// Request metrics of the HTTP front end, labelled by route template (never by
// key) and status code. Children are created up front so the request path
// only bumps atomics.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "base/metrics.h"

namespace meshkv::http {

enum class Route : uint8_t {
  kKvItem,
  kKvList,
  kKvBatch,
  kRecords,
  kHealth,
  kReady,
  kStatus,
  kMetrics,
  kCluster,
  kUnknown,
  kCount
};
std::string_view RouteName(Route route);

class HttpMetrics {
 public:
  explicit HttpMetrics(MetricsRegistry& registry);

  void RecordRequest(Route route, unsigned status, double seconds);
  Gauge& connections_open() { return *connections_open_; }
  Gauge& inflight_requests() { return *inflight_; }
  Counter& connections_rejected() { return *connections_rejected_; }
  Counter& requests_rejected_overload() { return *overload_rejections_; }

 private:
  static constexpr std::array<unsigned, 16> kCodes = {200, 400, 401, 403, 404, 405, 408, 411,
                                                      413, 414, 429, 431, 500, 503, 100, 0};
  MetricsRegistry& registry_;
  Counter* requests_[static_cast<size_t>(Route::kCount)][kCodes.size()] = {};
  Histogram* latency_[static_cast<size_t>(Route::kCount)] = {};
  Gauge* connections_open_;
  Gauge* inflight_;
  Counter* connections_rejected_;
  Counter* overload_rejections_;
};

}  // namespace meshkv::http
