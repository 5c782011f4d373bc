#include "base/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace meshkv {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(MetricsTest, EmptyRegistryRendersNothing) {
  MetricsRegistry registry;
  EXPECT_EQ(registry.Render(), "");
}

TEST(MetricsTest, CounterAndGaugeFormat) {
  MetricsRegistry registry;
  Counter* requests = registry.GetCounter("meshkv_requests_total", "Requests served.");
  requests->Increment();
  requests->Increment(2);
  Gauge* open = registry.GetGauge("meshkv_connections_open", "Open connections.");
  open->Set(5);
  open->Add(-2);
  EXPECT_EQ(registry.Render(),
            "# HELP meshkv_connections_open Open connections.\n"
            "# TYPE meshkv_connections_open gauge\n"
            "meshkv_connections_open 3\n"
            "# HELP meshkv_requests_total Requests served.\n"
            "# TYPE meshkv_requests_total counter\n"
            "meshkv_requests_total 3\n");
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameChild) {
  MetricsRegistry registry;
  Counter* a = registry.GetCounter("c_total", "help", {{"route", "kv"}});
  Counter* b = registry.GetCounter("c_total", "help", {{"route", "kv"}});
  Counter* c = registry.GetCounter("c_total", "help", {{"route", "health"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  a->Increment();
  b->Increment();
  c->Increment(5);
  EXPECT_EQ(a->value(), 2u);
  const std::string text = registry.Render();
  EXPECT_TRUE(Contains(text, "c_total{route=\"kv\"} 2\n")) << text;
  EXPECT_TRUE(Contains(text, "c_total{route=\"health\"} 5\n")) << text;
  // One HELP/TYPE header per family.
  EXPECT_EQ(text.find("# TYPE c_total counter"), text.rfind("# TYPE c_total counter"));
}

TEST(MetricsTest, LabelsAreEscaped) {
  MetricsRegistry registry;
  registry.GetCounter("x_total", "help", {{"route", "kv"}, {"path", "a\\b\"c\nd"}})->Increment();
  EXPECT_TRUE(Contains(registry.Render(), "x_total{route=\"kv\",path=\"a\\\\b\\\"c\\nd\"} 1\n"))
      << registry.Render();
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry registry;
  Histogram* h = registry.GetHistogram("lat_seconds", "Latency.", {{"route", "kv"}}, {1, 2, 5});
  for (double v : {0.5, 1.0, 3.0, 10.0}) h->Observe(v);
  EXPECT_EQ(h->count(), 4u);
  EXPECT_DOUBLE_EQ(h->sum(), 14.5);
  EXPECT_EQ(h->BucketCounts(), (std::vector<uint64_t>{2, 0, 1, 1}));
  EXPECT_EQ(registry.Render(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{route=\"kv\",le=\"1\"} 2\n"
            "lat_seconds_bucket{route=\"kv\",le=\"2\"} 2\n"
            "lat_seconds_bucket{route=\"kv\",le=\"5\"} 3\n"
            "lat_seconds_bucket{route=\"kv\",le=\"+Inf\"} 4\n"
            "lat_seconds_sum{route=\"kv\"} 14.5\n"
            "lat_seconds_count{route=\"kv\"} 4\n");
}

TEST(MetricsTest, HistogramWithoutLabelsAndDefaultBuckets) {
  MetricsRegistry registry;
  Histogram* h = registry.GetHistogram("d_seconds", "help");
  EXPECT_EQ(h->bounds(), LatencyBuckets());
  h->Observe(0.0003);
  const std::string text = registry.Render();
  EXPECT_TRUE(Contains(text, "d_seconds_bucket{le=\"0.00025\"} 0\n")) << text;
  EXPECT_TRUE(Contains(text, "d_seconds_bucket{le=\"0.0005\"} 1\n")) << text;
  EXPECT_TRUE(Contains(text, "d_seconds_bucket{le=\"10\"} 1\n")) << text;
  EXPECT_TRUE(Contains(text, "d_seconds_bucket{le=\"+Inf\"} 1\n")) << text;
  EXPECT_TRUE(Contains(text, "d_seconds_count 1\n")) << text;
}

TEST(MetricsTest, LatencyBucketsAreSortedAndSpanMicrosToSeconds) {
  auto buckets = LatencyBuckets();
  ASSERT_FALSE(buckets.empty());
  EXPECT_TRUE(std::is_sorted(buckets.begin(), buckets.end()));
  EXPECT_DOUBLE_EQ(buckets.front(), 0.00005);
  EXPECT_DOUBLE_EQ(buckets.back(), 10);
}

TEST(MetricsTest, CallbackGaugeReadsAtScrapeTime) {
  MetricsRegistry registry;
  double value = 1.5;
  registry.AddCallbackGauge("keys", "Keys.", {{"ns", "default"}}, [&] { return value; });
  EXPECT_TRUE(Contains(registry.Render(), "# TYPE keys gauge\nkeys{ns=\"default\"} 1.5\n"));
  value = 7;
  EXPECT_TRUE(Contains(registry.Render(), "keys{ns=\"default\"} 7\n"));
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry;
  constexpr int kThreads = 4, kPerThread = 50'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&registry] {
      Counter* counter = registry.GetCounter("n_total", "help");
      Histogram* histogram = registry.GetHistogram("h_seconds", "help", {}, {1});
      for (int i = 0; i < kPerThread; ++i) {
        counter->Increment();
        histogram->Observe(0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(registry.GetCounter("n_total", "help")->value(), uint64_t{kThreads * kPerThread});
  EXPECT_EQ(registry.GetHistogram("h_seconds", "help", {}, {1})->count(),
            uint64_t{kThreads * kPerThread});
}

}  // namespace
}  // namespace meshkv
