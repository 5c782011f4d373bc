#include "frontend/http/batch.h"

#include <nlohmann/json.hpp>

#include "base/duration.h"
#include "base/encoding.h"
#include "model/entry.h"

namespace meshkv::http {
namespace {

using nlohmann::json;

Status OpError(size_t index, const std::string& message) {
  return InvalidArgument("ops[" + std::to_string(index) + "]: " + message);
}

}  // namespace

std::string_view BatchOpName(BatchOp::Kind kind) {
  switch (kind) {
    case BatchOp::Kind::kGet:
      return "get";
    case BatchOp::Kind::kPut:
      return "put";
    case BatchOp::Kind::kDelete:
      return "delete";
  }
  return "get";
}

Result<BatchRequest> ParseBatchRequest(std::string_view body) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("batch body is not valid JSON");
  if (!doc.is_object()) return InvalidArgument("batch body must be a JSON object with \"ops\"");
  BatchRequest out;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& field = it.key();
    if (field == "ns") {
      if (!it->is_string()) return InvalidArgument("\"ns\" must be a string");
      out.ns = it->get_ref<const std::string&>();
    } else if (field == "consistency") {
      if (!it->is_string()) return InvalidArgument("\"consistency\" must be a string");
      auto c = ParseConsistency(it->get_ref<const std::string&>());
      if (!c.ok()) return c.status();
      out.consistency = *c;
    } else if (field != "ops") {
      return InvalidArgument("unknown field \"" + field + "\"; expected ns, consistency, ops");
    }
  }
  auto ops = doc.find("ops");
  if (ops == doc.end() || !ops->is_array()) {
    return InvalidArgument("batch body needs \"ops\": an array of operations");
  }
  if (ops->empty()) return InvalidArgument("\"ops\" must not be empty");
  if (ops->size() > kMaxBatchOps) {
    return InvalidArgument("batch has " + std::to_string(ops->size()) + " ops; the limit is " +
                           std::to_string(kMaxBatchOps));
  }
  out.ops.reserve(ops->size());
  for (size_t i = 0; i < ops->size(); ++i) {
    const json& item = (*ops)[i];
    if (!item.is_object()) return OpError(i, "must be an object");
    BatchOp op;
    bool has_op = false, has_key = false, has_value = false;
    for (auto it = item.begin(); it != item.end(); ++it) {
      const std::string& field = it.key();
      if (field == "op") {
        if (!it->is_string()) return OpError(i, "\"op\" must be a string");
        const auto& name = it->get_ref<const std::string&>();
        if (name == "get")
          op.kind = BatchOp::Kind::kGet;
        else if (name == "put")
          op.kind = BatchOp::Kind::kPut;
        else if (name == "delete")
          op.kind = BatchOp::Kind::kDelete;
        else
          return OpError(i, "unknown op \"" + name + "\"; use get, put or delete");
        has_op = true;
      } else if (field == "key" || field == "key_b64") {
        if (has_key) return OpError(i, "give exactly one of \"key\" and \"key_b64\"");
        if (!it->is_string()) return OpError(i, "\"" + field + "\" must be a string");
        if (field == "key") {
          op.key = it->get_ref<const std::string&>();
        } else {
          auto decoded = Base64Decode(it->get_ref<const std::string&>());
          if (!decoded.ok()) return OpError(i, "\"key_b64\": " + decoded.status().message());
          op.key = std::move(*decoded);
        }
        has_key = true;
      } else if (field == "value") {
        if (!it->is_string()) return OpError(i, "\"value\" must be a base64 string");
        auto decoded = Base64Decode(it->get_ref<const std::string&>());
        if (!decoded.ok()) return OpError(i, "\"value\": " + decoded.status().message());
        op.value = std::move(*decoded);
        has_value = true;
      } else if (field == "ttl") {
        if (!it->is_string()) return OpError(i, "\"ttl\" must be a duration string like \"30s\"");
        auto ttl = ParseDurationMillis(it->get_ref<const std::string&>());
        if (!ttl.ok()) return OpError(i, "\"ttl\": " + ttl.status().message());
        op.ttl_ms = *ttl;
      } else {
        return OpError(i, "unknown field \"" + field + "\"");
      }
    }
    if (!has_op) return OpError(i, "missing \"op\"");
    if (!has_key) return OpError(i, "missing \"key\" (or \"key_b64\")");
    Status key_ok = ValidateKey(op.key);
    if (!key_ok.ok()) return OpError(i, key_ok.message());
    if (op.kind == BatchOp::Kind::kPut && !has_value) return OpError(i, "put needs \"value\"");
    if (op.kind != BatchOp::Kind::kPut && (has_value || op.ttl_ms)) {
      return OpError(i, "\"value\" and \"ttl\" apply only to put");
    }
    out.ops.push_back(std::move(op));
  }
  return out;
}

}  // namespace meshkv::http
