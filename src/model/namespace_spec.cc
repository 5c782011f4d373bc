#include "model/namespace_spec.h"

#include "model/entry.h"

namespace meshkv {

std::string_view ConsistencyName(Consistency c) {
  switch (c) {
    case Consistency::kOne:
      return "one";
    case Consistency::kQuorum:
      return "quorum";
    case Consistency::kAll:
      return "all";
  }
  return "quorum";
}

Result<Consistency> ParseConsistency(std::string_view text) {
  if (text == "one") return Consistency::kOne;
  if (text == "quorum") return Consistency::kQuorum;
  if (text == "all") return Consistency::kAll;
  return InvalidArgument("consistency '" + std::string(text.substr(0, 32)) +
                         "' is not one of: one, quorum, all");
}

std::string_view SyncPolicyName(SyncPolicy p) {
  return p == SyncPolicy::kLastWriterWins ? "lww" : "primary_writer";
}

Status ValidateNamespaceName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return InvalidArgument("namespace name must be 1..64 characters");
  }
  if (name[0] < 'a' || name[0] > 'z') {
    return InvalidArgument("namespace name '" + std::string(name) +
                           "' must start with a lowercase letter");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) {
      return InvalidArgument("namespace name '" + std::string(name) +
                             "' may contain only a-z, 0-9, '_' and '-'");
    }
  }
  return Status::Ok();
}

Status NamespaceSpec::Validate() const {
  MESHKV_RETURN_IF_ERROR(ValidateNamespaceName(name));
  if (replicas != kReplicasAll && (replicas < 1 || replicas > 16)) {
    return InvalidArgument("replicas must be 1..16 or \"all\", got " + std::to_string(replicas));
  }
  if (sync_policy == SyncPolicy::kPrimaryWriter && writers.empty()) {
    return InvalidArgument(
        "sync_policy \"primary_writer\" needs a non-empty writers list of node ids");
  }
  if (sync_policy == SyncPolicy::kLastWriterWins && !writers.empty()) {
    return InvalidArgument("writers is only meaningful with sync_policy = \"primary_writer\"");
  }
  if (default_ttl_ms < 0) return InvalidArgument("default_ttl must not be negative");
  if (default_ttl_ms > kMaxTtlMillis)
    return InvalidArgument("default_ttl must be at most 100 years");
  // A value must fit one peer RPC frame (16 MiB) with room for its key and
  // framing, or it could never be replicated.
  if (max_value_bytes < 0 || max_value_bytes > kMaxValueBytesLimit) {
    return InvalidArgument("max_value_bytes must be 0..8388608 (8 MiB: a value must fit one "
                           "replication message), got " +
                           std::to_string(max_value_bytes));
  }
  return Status::Ok();
}

std::vector<NamespaceSpec> BuiltinNamespaces() {
  NamespaceSpec def;
  def.name = "default";
  NamespaceSpec dns;
  dns.name = "dns";
  dns.replicas = NamespaceSpec::kReplicasAll;
  dns.max_value_bytes = 72 * 1024;  // the largest rdata (65535) plus owner and header
  return {def, dns};
}

}  // namespace meshkv
