// Metrics in the Prometheus text exposition format (version 0.0.4).
//
// A MetricsRegistry owns metric families; each family has a name, help text,
// a type and children distinguished by label values. Children are created
// once (registration takes a lock) and updated lock-free on hot paths: keep
// the Counter*/Histogram* you get back and bump it directly.
//
// Thread-safety: registration and Render() take the registry lock; updates to
// Counter, Gauge and Histogram are atomic and safe from any thread.
// Lifecycle: the registry owns every metric; pointers stay valid until it dies.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace meshkv {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t by) { value_.fetch_add(by, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Cumulative histogram with fixed upper bounds (seconds for latencies).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket (non-cumulative) counts; the last one is +Inf.
  std::vector<uint64_t> BucketCounts() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_nanos_{0};  // sum in units of 1e-9, to stay atomic
};

// Default latency buckets: 50us .. 10s.
std::vector<double> LatencyBuckets();

class MetricsRegistry {
 public:
  // Returns the child for (name, labels), creating family and child as needed.
  // The same name must always be used with the same type.
  Counter* GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram* GetHistogram(const std::string& name, const std::string& help,
                          const Labels& labels = {}, std::vector<double> bounds = LatencyBuckets());
  // A value computed at scrape time (e.g. storage sizes). `read` must be
  // cheap and thread-safe.
  void AddCallbackGauge(const std::string& name, const std::string& help, const Labels& labels,
                        std::function<double()> read);
  // A counter kept elsewhere (e.g. a single-threaded component's stats),
  // read at scrape time. `read` must be cheap, thread-safe and monotonic.
  void AddCallbackCounter(const std::string& name, const std::string& help, const Labels& labels,
                          std::function<double()> read);

  std::string Render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram, kCallback, kCallbackCounter };
  struct Child {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> callback;
  };
  struct Family {
    std::string help;
    Type type;
    std::vector<std::unique_ptr<Child>> children;
  };
  Child* FindOrAdd(const std::string& name, const std::string& help, Type type,
                   const Labels& labels, bool* created);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;  // guarded by mutex_
};

}  // namespace meshkv
