// Parsing of POST /v1/kv/batch bodies (docs/api.md). Pure: no server or
// storage dependencies, fuzzed on its own. Every error names the op index and
// field that was wrong.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/namespace_spec.h"

namespace meshkv::http {

inline constexpr size_t kMaxBatchOps = 1000;

struct BatchOp {
  enum class Kind { kGet, kPut, kDelete };
  Kind kind = Kind::kGet;
  std::string key;
  std::string value;              // decoded from base64 (puts only)
  std::optional<int64_t> ttl_ms;  // puts only
};

struct BatchRequest {
  std::string ns = "default";
  std::optional<Consistency> consistency;
  std::vector<BatchOp> ops;
};

std::string_view BatchOpName(BatchOp::Kind kind);

Result<BatchRequest> ParseBatchRequest(std::string_view body);

}  // namespace meshkv::http
