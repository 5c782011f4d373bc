#include "base/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>

namespace meshkv {
namespace {

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string FormatLabels(const Labels& labels, const std::string& extra_key = "",
                         const std::string& extra_value = "") {
  if (labels.empty() && extra_key.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k + "=\"" + EscapeLabelValue(v) + "\"";
  }
  if (!extra_key.empty()) {
    if (!first) out += ',';
    out += extra_key + "=\"" + extra_value + "\"";
  }
  out += '}';
  return out;
}

std::string FormatDouble(double v) {
  return fmt::format("{}", v);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::Observe(double value) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (value > 0)
    sum_nanos_.fetch_add(static_cast<uint64_t>(value * 1e9), std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

double Histogram::sum() const {
  return static_cast<double>(sum_nanos_.load()) / 1e9;
}

std::vector<double> LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

MetricsRegistry::Child* MetricsRegistry::FindOrAdd(const std::string& name, const std::string& help,
                                                   Type type, const Labels& labels, bool* created) {
  auto [it, inserted] = families_.try_emplace(name);
  Family& family = it->second;
  if (inserted) {
    family.help = help;
    family.type = type;
  }
  assert(family.type == type && "metric registered twice with different types");
  for (auto& child : family.children) {
    if (child->labels == labels) {
      *created = false;
      return child.get();
    }
  }
  family.children.push_back(std::make_unique<Child>());
  family.children.back()->labels = labels;
  *created = true;
  return family.children.back().get();
}

Counter* MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const Labels& labels) {
  std::lock_guard lock(mutex_);
  bool created;
  Child* child = FindOrAdd(name, help, Type::kCounter, labels, &created);
  if (created) child->counter = std::make_unique<Counter>();
  return child->counter.get();
}

Gauge* MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const Labels& labels) {
  std::lock_guard lock(mutex_);
  bool created;
  Child* child = FindOrAdd(name, help, Type::kGauge, labels, &created);
  if (created) child->gauge = std::make_unique<Gauge>();
  return child->gauge.get();
}

Histogram* MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const Labels& labels, std::vector<double> bounds) {
  std::lock_guard lock(mutex_);
  bool created;
  Child* child = FindOrAdd(name, help, Type::kHistogram, labels, &created);
  if (created) child->histogram = std::make_unique<Histogram>(std::move(bounds));
  return child->histogram.get();
}

void MetricsRegistry::AddCallbackGauge(const std::string& name, const std::string& help,
                                       const Labels& labels, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  bool created;
  Child* child = FindOrAdd(name, help, Type::kCallback, labels, &created);
  child->callback = std::move(read);
}

void MetricsRegistry::AddCallbackCounter(const std::string& name, const std::string& help,
                                         const Labels& labels, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  bool created;
  Child* child = FindOrAdd(name, help, Type::kCallbackCounter, labels, &created);
  child->callback = std::move(read);
}

std::string MetricsRegistry::Render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family.type == Type::kCounter || family.type == Type::kCallbackCounter
                           ? "counter"
                       : family.type == Type::kHistogram ? "histogram"
                                                         : "gauge";
    std::string help;
    for (char c : family.help) {
      if (c == '\\')
        help += "\\\\";
      else if (c == '\n')
        help += "\\n";
      else
        help += c;
    }
    out += "# HELP " + name + " " + help + "\n";
    out += "# TYPE " + name + " " + type + "\n";
    for (const auto& child : family.children) {
      switch (family.type) {
        case Type::kCounter:
          out += name + FormatLabels(child->labels) + " " +
                 std::to_string(child->counter->value()) + "\n";
          break;
        case Type::kGauge:
          out += name + FormatLabels(child->labels) + " " + std::to_string(child->gauge->value()) +
                 "\n";
          break;
        case Type::kCallback:
        case Type::kCallbackCounter:
          out += name + FormatLabels(child->labels) + " " + FormatDouble(child->callback()) + "\n";
          break;
        case Type::kHistogram: {
          const Histogram& h = *child->histogram;
          auto counts = h.BucketCounts();
          uint64_t cumulative = 0;
          for (size_t i = 0; i < counts.size(); ++i) {
            cumulative += counts[i];
            std::string le = i < h.bounds().size() ? FormatDouble(h.bounds()[i]) : "+Inf";
            out += name + "_bucket" + FormatLabels(child->labels, "le", le) + " " +
                   std::to_string(cumulative) + "\n";
          }
          out += name + "_sum" + FormatLabels(child->labels) + " " + FormatDouble(h.sum()) + "\n";
          out += name + "_count" + FormatLabels(child->labels) + " " + std::to_string(cumulative) +
                 "\n";
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace meshkv
