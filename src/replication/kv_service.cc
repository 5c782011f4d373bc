#include "replication/kv_service.h"

#include <algorithm>
#include <memory>

namespace meshkv {

KvService::KvService(Store& store, GroupCommitter* committer, Hlc& hlc, const Clock& clock,
                     NodeId self, std::vector<NamespaceSpec> namespaces)
    : store_(store),
      committer_(committer),
      hlc_(hlc),
      clock_(clock),
      self_(self),
      namespaces_(std::move(namespaces)) {}

const NamespaceSpec* KvService::FindNamespace(std::string_view ns) const {
  for (const NamespaceSpec& spec : namespaces_) {
    if (spec.name == ns) return &spec;
  }
  return nullptr;
}

Result<std::optional<Entry>> KvService::Get(std::string_view ns, std::string_view key) {
  if (FindNamespace(ns) == nullptr) {
    return NotFound("namespace '" + std::string(ns) + "' is not configured");
  }
  MESHKV_RETURN_IF_ERROR(ValidateKey(key));
  return GetLive(store_, ns, key, clock_.NowMillis());
}

Status KvService::ValidateMutations(std::string_view ns,
                                    const std::vector<Mutation>& mutations) const {
  const NamespaceSpec* spec = FindNamespace(ns);
  if (spec == nullptr) return NotFound("namespace '" + std::string(ns) + "' is not configured");
  if (spec->sync_policy == SyncPolicy::kPrimaryWriter &&
      std::find(spec->writers.begin(), spec->writers.end(), self_) == spec->writers.end()) {
    return PermissionDenied("namespace '" + spec->name +
                            "' accepts writes only on its primary writers; this node (" +
                            self_.ToString() + ") is not one of them, send the write there");
  }
  for (size_t i = 0; i < mutations.size(); ++i) {
    const Mutation& m = mutations[i];
    Status key_status = ValidateKey(m.key);
    if (!key_status.ok()) return key_status;
    if (m.kind == Mutation::Kind::kPut &&
        static_cast<int64_t>(m.value.size()) > spec->max_value_bytes) {
      return ResourceExhausted("value is " + std::to_string(m.value.size()) +
                               " bytes; namespace '" + spec->name + "' allows at most " +
                               std::to_string(spec->max_value_bytes));
    }
    if (m.ttl_ms && *m.ttl_ms < 0) return InvalidArgument("ttl must not be negative");
    if (m.ttl_ms && *m.ttl_ms > kMaxTtlMillis) {
      return InvalidArgument("ttl is above the limit of 100 years; omit ttl for no expiry");
    }
  }
  return Status::Ok();
}

void KvService::Write(std::string_view ns, const std::vector<Mutation>& mutations,
                      WriteCallback done) {
  Status valid = ValidateMutations(ns, mutations);
  if (!valid.ok()) {
    done(valid);
    return;
  }
  const NamespaceSpec& spec = *FindNamespace(ns);
  const int64_t now = clock_.NowMillis();
  WriteBatch batch;
  batch.reserve(mutations.size());
  std::vector<WriteAck> acks;
  acks.reserve(mutations.size());
  for (const Mutation& m : mutations) {
    WriteOp op;
    op.ns = spec.name;
    op.key = m.key;
    op.entry.version = Version{hlc_.Now(), self_};
    if (m.kind == Mutation::Kind::kDelete) {
      op.entry.tombstone = true;
    } else {
      op.entry.value = m.value;
      int64_t ttl = m.ttl_ms.value_or(spec.default_ttl_ms);
      op.entry.expires_at_ms = ttl > 0 ? now + ttl : 0;
    }
    acks.push_back(WriteAck{op.entry.version, op.entry.expires_at_ms});
    batch.push_back(std::move(op));
  }
  if (committer_ == nullptr) {
    Status applied = store_.Apply(batch, /*sync=*/false);
    if (applied.ok())
      done(std::move(acks));
    else
      done(applied);
    return;
  }
  committer_->Submit(std::move(batch),
                     [acks = std::move(acks), done = std::move(done)](Status s) mutable {
                       if (s.ok())
                         done(std::move(acks));
                       else
                         done(s);
                     });
}

Result<ScanPage> KvService::List(std::string_view ns, std::string_view prefix,
                                 std::string_view start_after, size_t limit, bool keys_only) {
  if (FindNamespace(ns) == nullptr) {
    return NotFound("namespace '" + std::string(ns) + "' is not configured");
  }
  ScanOptions options;
  options.prefix = std::string(prefix);
  options.start_after = std::string(start_after);
  options.limit = limit;
  options.now_ms = clock_.NowMillis();
  options.keys_only = keys_only;
  return store_.Scan(ns, options);
}

}  // namespace meshkv
