#include "replication/kv_service.h"

#include <algorithm>
#include <memory>

#include "replication/digest_index.h"

namespace meshkv {

KvService::KvService(Store& store, GroupCommitter* committer, Hlc& hlc, const Clock& clock,
                     NodeId self, std::vector<NamespaceSpec> namespaces)
    : store_(store),
      committer_(committer),
      hlc_(hlc),
      clock_(clock),
      self_(self),
      namespaces_(std::move(namespaces)),
      generations_(new std::atomic<uint64_t>[namespaces_.size()]) {
  for (size_t i = 0; i < namespaces_.size(); ++i) generations_[i].store(1);
}

uint64_t KvService::generation(std::string_view ns) const {
  for (size_t i = 0; i < namespaces_.size(); ++i) {
    if (namespaces_[i].name == ns) return generations_[i].load(std::memory_order_acquire);
  }
  return 0;
}

void KvService::BumpGeneration(const WriteBatch& batch) {
  for (size_t i = 0; i < namespaces_.size(); ++i) {
    for (const WriteOp& op : batch) {
      if (op.ns == namespaces_[i].name) {
        generations_[i].fetch_add(1, std::memory_order_acq_rel);
        break;
      }
    }
  }
}

void KvService::AfterApply(const WriteBatch& batch, const Status& applied) {
  if (index_ != nullptr) {
    if (applied.ok()) {
      index_->Applied(batch);
    } else {
      index_->Withdraw(batch);
    }
  }
  if (applied.ok()) BumpGeneration(batch);
}

void KvService::ApplyLocal(WriteBatch batch, std::function<void(Status)> done) {
  if (index_ != nullptr) index_->Announce(batch);
  if (committer_ == nullptr) {
    Status applied = store_.Apply(batch, /*sync=*/false);
    AfterApply(batch, applied);
    done(applied);
    return;
  }
  committer_->Submit(std::move(batch),
                     [this, done = std::move(done)](Status s, const WriteBatch& applied) {
                       AfterApply(applied, s);
                       done(s);
                     });
}

Result<std::optional<Entry>> KvService::GetRaw(std::string_view ns, std::string_view key) {
  return store_.Get(ns, key);
}

void KvService::Read(std::string_view ns, std::string_view key,
                     std::optional<Consistency> consistency, ReadCallback done) {
  const NamespaceSpec* spec = FindNamespace(ns);
  if (spec == nullptr) {
    return done(NotFound("namespace '" + std::string(ns) + "' is not configured"));
  }
  if (Status valid = ValidateKey(key); !valid.ok()) return done(valid);
  if (router_ == nullptr) return done(GetLive(store_, ns, key, clock_.NowMillis()));
  router_->Read(*spec, std::string(key), consistency.value_or(spec->consistency),
                [this, done = std::move(done)](Result<std::optional<Entry>> entry) {
                  if (entry.ok() && entry->has_value() && !(*entry)->IsLive(clock_.NowMillis())) {
                    return done(std::optional<Entry>());
                  }
                  done(std::move(entry));
                });
}

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
  if (refuse_client_writes_ && !mutations.empty()) {
    return FailedPrecondition("this node (" + self_.ToString() +
                              ") is replica_only: it holds data but does not accept client "
                              "writes; send the write to another node");
  }
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
                      std::optional<Consistency> consistency, WriteCallback done) {
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
  auto finish = [acks = std::move(acks), done = std::move(done)](Status s) mutable {
    if (s.ok()) {
      done(std::move(acks));
    } else {
      done(s);
    }
  };
  if (router_ != nullptr) {
    router_->Write(spec, std::move(batch), consistency.value_or(spec.consistency),
                   std::move(finish));
    return;
  }
  ApplyLocal(std::move(batch), std::move(finish));
}

void KvService::ListAcross(std::string_view ns, std::string prefix, std::string start_after,
                           size_t limit, bool keys_only, std::optional<Consistency> consistency,
                           ScanCallback done) {
  const NamespaceSpec* spec = FindNamespace(ns);
  if (spec == nullptr) {
    return done(NotFound("namespace '" + std::string(ns) + "' is not configured"));
  }
  if (router_ == nullptr) return done(List(ns, prefix, start_after, limit, keys_only));
  ScanOptions options;
  options.prefix = std::move(prefix);
  options.start_after = std::move(start_after);
  options.limit = limit;
  options.include_dead = true;
  options.keys_only = keys_only;
  ListRounds(*spec, std::move(options), consistency.value_or(spec->consistency), limit,
             /*rounds_left=*/8, ScanPage{}, std::move(done));
}

// Asks the router for pages until `want` live items are collected, the scan
// ends, or the rounds run out (then `more` stays true and the caller pages on).
void KvService::ListRounds(const NamespaceSpec& spec, ScanOptions options, Consistency consistency,
                           size_t want, int rounds_left, ScanPage collected, ScanCallback done) {
  ScanOptions request = options;
  router_->Scan(
      spec, std::move(request), consistency,
      [this, &spec, options = std::move(options), consistency, want, rounds_left,
       collected = std::move(collected), done = std::move(done)](Result<ScanPage> page) mutable {
        if (!page.ok()) return done(page.status());
        const int64_t now = clock_.NowMillis();
        std::string last_key;
        for (KeyEntry& item : page->items) {
          last_key = item.key;
          if (!item.entry.IsLive(now)) continue;
          if (collected.items.size() < want) collected.items.push_back(std::move(item));
        }
        const bool full = collected.items.size() >= want;
        if (full || !page->more || last_key.empty() || rounds_left <= 1) {
          collected.more = page->more ||
                           (full && !page->items.empty() && collected.items.back().key != last_key);
          return done(std::move(collected));
        }
        options.start_after = last_key;
        ListRounds(spec, std::move(options), consistency, want, rounds_left - 1,
                   std::move(collected), std::move(done));
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
