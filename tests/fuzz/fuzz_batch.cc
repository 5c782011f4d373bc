// Fuzzes ParseBatchRequest (src/frontend/http/batch.h) with arbitrary
// POST /v1/kv/batch bodies.
//
// Properties checked beyond "does not crash":
// - failures are kInvalidArgument with a message;
// - an accepted batch has 1..kMaxBatchOps ops, valid keys, values only on puts;
// - writing an accepted batch back out as JSON (keys as key_b64, ttl via
//   FormatDurationMillis) and parsing it again gives the same batch.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/duration.h"
#include "base/encoding.h"
#include "frontend/http/batch.h"
#include "fuzz_check.h"
#include "model/entry.h"

namespace {

using meshkv::http::BatchOp;
using meshkv::http::BatchRequest;

bool SameOp(const BatchOp& a, const BatchOp& b) {
  return a.kind == b.kind && a.key == b.key && a.value == b.value && a.ttl_ms == b.ttl_ms;
}

nlohmann::json ToJson(const BatchRequest& batch) {
  nlohmann::json ops = nlohmann::json::array();
  for (const BatchOp& op : batch.ops) {
    nlohmann::json item{{"op", std::string(meshkv::http::BatchOpName(op.kind))},
                        {"key_b64", meshkv::Base64Encode(op.key)}};
    if (op.kind == BatchOp::Kind::kPut) item["value"] = meshkv::Base64Encode(op.value);
    if (op.ttl_ms) item["ttl"] = meshkv::FormatDurationMillis(*op.ttl_ms);
    ops.push_back(std::move(item));
  }
  nlohmann::json doc{{"ns", batch.ns}, {"ops", std::move(ops)}};
  if (batch.consistency)
    doc["consistency"] = std::string(meshkv::ConsistencyName(*batch.consistency));
  return doc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto batch = meshkv::http::ParseBatchRequest(body);
  if (!batch.ok()) {
    FUZZ_CHECK(batch.status().code() == meshkv::ErrorCode::kInvalidArgument);
    FUZZ_CHECK(!batch.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(!batch->ops.empty() && batch->ops.size() <= meshkv::http::kMaxBatchOps);
  for (const BatchOp& op : batch->ops) {
    FUZZ_CHECK(meshkv::ValidateKey(op.key).ok());
    if (op.kind != BatchOp::Kind::kPut) FUZZ_CHECK(op.value.empty() && !op.ttl_ms);
    if (op.ttl_ms) FUZZ_CHECK(*op.ttl_ms >= 0);
  }

  const std::string rewritten = ToJson(*batch).dump();
  auto reparsed = meshkv::http::ParseBatchRequest(rewritten);
  FUZZ_CHECK(reparsed.ok());
  FUZZ_CHECK(reparsed->ns == batch->ns);
  FUZZ_CHECK(reparsed->consistency == batch->consistency);
  FUZZ_CHECK(reparsed->ops.size() == batch->ops.size());
  for (size_t i = 0; i < batch->ops.size(); ++i)
    FUZZ_CHECK(SameOp(reparsed->ops[i], batch->ops[i]));
  return 0;
}
