// Micro benchmarks (Google Benchmark) of the pure functions on meshkv's request
// path: entry encoding and merge (every read and write), request-target parsing
// (every HTTP request), and the hybrid logical clock (every write).
//
// run: build/bench/micro_bench [--benchmark_repetitions=5 --benchmark_report_aggregates_only=true]
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/hlc.h"
#include "base/node_id.h"
#include "frontend/http/request_target.h"
#include "model/entry.h"

namespace meshkv {
namespace {

// The HTTP benchmark's value: 100 bytes.
constexpr size_t kValueBytes = 100;

Entry MakeEntry(uint64_t timestamp, uint64_t origin) {
  Entry entry;
  entry.value = std::string(kValueBytes, 'v');
  entry.version = Version{HlcTimestamp(timestamp), NodeId(origin)};
  return entry;
}

void BM_EncodeEntry(benchmark::State& state) {
  const Entry entry = MakeEntry(111604172800000000, 0x1f2e3d4c5b6a7988);
  for (auto _ : state) {
    std::string bytes = EncodeEntry(entry);
    benchmark::DoNotOptimize(bytes);
  }
}
BENCHMARK(BM_EncodeEntry);

void BM_DecodeEntry(benchmark::State& state) {
  const std::string bytes = EncodeEntry(MakeEntry(111604172800000000, 0x1f2e3d4c5b6a7988));
  for (auto _ : state) {
    Result<Entry> entry = DecodeEntry(bytes);
    benchmark::DoNotOptimize(entry);
  }
}
BENCHMARK(BM_DecodeEntry);

void BM_DecodeEntryVersion(benchmark::State& state) {
  const std::string bytes = EncodeEntry(MakeEntry(111604172800000000, 0x1f2e3d4c5b6a7988));
  for (auto _ : state) {
    Result<Version> version = DecodeEntryVersion(bytes);
    benchmark::DoNotOptimize(version);
  }
}
BENCHMARK(BM_DecodeEntryVersion);

void BM_Merge(benchmark::State& state) {
  const Entry older = MakeEntry(111604172800000000, 0x1f2e3d4c5b6a7988);
  const Entry newer = MakeEntry(111604172800000001, 0x0000000000000001);
  for (auto _ : state) {
    benchmark::DoNotOptimize(&Merge(older, newer));
    benchmark::DoNotOptimize(&Merge(newer, older));
  }
  state.SetItemsProcessed(2 * state.iterations());
}
BENCHMARK(BM_Merge);

void BM_MergeEncoded(benchmark::State& state) {
  const std::string older = EncodeEntry(MakeEntry(111604172800000000, 0x1f2e3d4c5b6a7988));
  const std::string newer = EncodeEntry(MakeEntry(111604172800000001, 0x0000000000000001));
  for (auto _ : state) {
    benchmark::DoNotOptimize(MergeEncoded(older, newer));
  }
}
BENCHMARK(BM_MergeEncoded);

void BM_ParseRequestTarget(benchmark::State& state, std::string_view target) {
  for (auto _ : state) {
    Result<http::RequestTarget> parsed = http::ParseRequestTarget(target);
    benchmark::DoNotOptimize(parsed);
  }
}
// The benchmark's own target, then one with every query parameter the API takes.
BENCHMARK_CAPTURE(BM_ParseRequestTarget, plain, "/v1/kv/bench/00001234");
BENCHMARK_CAPTURE(BM_ParseRequestTarget, query,
                  "/v1/kv/bench/00001234?ns=default&ttl=1h30m&consistency=quorum");

void BM_PercentDecode(benchmark::State& state, std::string_view text) {
  for (auto _ : state) {
    Result<std::string> decoded = http::PercentDecode(text);
    benchmark::DoNotOptimize(decoded);
  }
}
BENCHMARK_CAPTURE(BM_PercentDecode, plain, "bench/00001234");
BENCHMARK_CAPTURE(BM_PercentDecode, escaped, "bench/a%20b%2Fc%00d/%E2%82%AC/00001234");

// One Hlc shared by all benchmark threads, as in a node (one clock, many io threads).
void BM_HlcNow(benchmark::State& state) {
  static const SystemClock clock;
  static Hlc hlc(clock, /*max_skew_millis=*/500);
  for (auto _ : state) {
    benchmark::DoNotOptimize(hlc.Now());
  }
}
BENCHMARK(BM_HlcNow);
BENCHMARK(BM_HlcNow)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace meshkv

BENCHMARK_MAIN();
