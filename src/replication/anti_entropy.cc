#include "replication/anti_entropy.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>

#include "base/random.h"
#include "replication/entry_codec.h"
#include "replication/replication.pb.h"

namespace meshkv::replication {
namespace {

using transport::MessageType;

constexpr size_t kPartitionsPerLeavesRequest = 32;
constexpr size_t kLeavesPerKeysRequest = 128;
constexpr size_t kMaxKeysPerLeaf = 10'000;
constexpr size_t kMaxKeysPerKeysReply = 50'000;
constexpr size_t kKeysPerTransfer = 1'000;  // per pull (kReplicaRead) or push (kReplicaWrite)
constexpr size_t kMaxNamespacesPerRequest = 64;
constexpr size_t kMaxPartitionsPerRequest = 1'024;
constexpr size_t kMaxLeafRefsPerRequest = 1'024;
constexpr int kRepairRoundsPerPeer = 4;

// Hash over (namespace, partition, root) of every shared partition, in order.
uint64_t CombineRoots(const std::vector<std::string>& names,
                      const std::vector<std::vector<PartitionId>>& partitions,
                      const std::vector<std::vector<uint64_t>>& roots) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (size_t i = 0; i < names.size(); ++i) {
    const uint32_t length = static_cast<uint32_t>(names[i].size());
    XXH3_64bits_update(state, &length, sizeof(length));
    XXH3_64bits_update(state, names[i].data(), names[i].size());
    for (size_t j = 0; j < partitions[i].size(); ++j) {
      const uint32_t p = partitions[i][j].value();
      XXH3_64bits_update(state, &p, sizeof(p));
      XXH3_64bits_update(state, &roots[i][j], sizeof(uint64_t));
    }
  }
  const uint64_t combined = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return combined;
}

template <typename T>
std::vector<std::vector<T>> Chunks(const std::vector<T>& all, size_t size) {
  std::vector<std::vector<T>> out;
  for (size_t i = 0; i < all.size(); i += size) {
    out.emplace_back(all.begin() + i, all.begin() + std::min(all.size(), i + size));
  }
  return out;
}

}  // namespace

void AeReport::Add(const AeReport& other) {
  rounds += other.rounds;
  peers += other.peers;
  partitions_compared += other.partitions_compared;
  partitions_differing += other.partitions_differing;
  leaves_differing += other.leaves_differing;
  keys_pushed += other.keys_pushed;
  keys_pulled += other.keys_pulled;
  bytes += other.bytes;
  converged = converged && other.converged;
  errors.insert(errors.end(), other.errors.begin(), other.errors.end());
}

struct AntiEntropy::Shared {
  const NamespaceSpec* spec = nullptr;
  size_t ns_index = 0;
  std::vector<PartitionId> partitions;
};

AntiEntropy::AntiEntropy(KvService& local, Coordinator& coordinator, PeerChannel& peers,
                         DigestIndex& index, AntiEntropyOptions options, MetricsRegistry* metrics)
    : local_(local),
      coordinator_(coordinator),
      peers_(peers),
      index_(index),
      options_(options),
      self_(local.node_id()),
      limiter_(local.clock(), options.bytes_per_second, options.bytes_per_second),
      rng_(SecureRandomU64()) {
  if (metrics != nullptr) {
    rounds_ = metrics->GetCounter("meshkv_ae_rounds_total", "Anti-entropy rounds started here");
    rounds_matched_ = metrics->GetCounter(
        "meshkv_ae_rounds_matched_total", "Anti-entropy rounds whose first summary already matched");
    partitions_differing_ = metrics->GetCounter(
        "meshkv_ae_partitions_differing_total", "Shared partitions whose roots differed in a round");
    keys_pushed_ = metrics->GetCounter("meshkv_ae_keys_pushed_total",
                                       "Entries sent to a co-replica by anti-entropy");
    keys_pulled_ = metrics->GetCounter("meshkv_ae_keys_pulled_total",
                                       "Entries merged here from a co-replica by anti-entropy");
    bytes_ = metrics->GetCounter("meshkv_ae_bytes_total",
                                 "Anti-entropy payload bytes sent and received by rounds started here");
    errors_ = metrics->GetCounter("meshkv_ae_errors_total", "Anti-entropy requests that failed");
    purged_ = metrics->GetCounter("meshkv_tombstones_purged_total",
                                  "Tombstones collected after gc_grace and a full pass");
  }
}

AntiEntropy::~AntiEntropy() { Stop(); }

// ---- rounds -------------------------------------------------------------------------

std::vector<AntiEntropy::Shared> AntiEntropy::SharedWith(NodeId peer,
                                                         const std::vector<std::string>& namespaces,
                                                         uint64_t* owners_digest) {
  // In the order given (the asker's order, which the responder must follow),
  // or in configuration order for all of them.
  std::vector<const NamespaceSpec*> specs;
  if (namespaces.empty()) {
    for (const NamespaceSpec& spec : local_.namespaces()) specs.push_back(&spec);
  } else {
    for (const std::string& name : namespaces) {
      if (const NamespaceSpec* spec = local_.FindNamespace(name)) specs.push_back(spec);
    }
  }
  std::vector<Shared> out;
  for (const NamespaceSpec* spec : specs) {
    auto ns_index = index_.NamespaceIndex(spec->name);
    if (!ns_index) continue;
    Shared shared;
    shared.spec = spec;
    shared.ns_index = *ns_index;
    shared.partitions = coordinator_.SharedPartitions(*spec, peer, owners_digest);
    out.push_back(std::move(shared));
  }
  return out;
}

Result<std::string> AntiEntropy::Call(NodeId peer, MessageType type, const std::string& payload,
                                      AeReport& report) {
  if (int64_t wait = limiter_.MillisUntil(static_cast<int64_t>(payload.size()) + 1); wait > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(wait, 5'000)));
  }
  auto promise = std::make_shared<std::promise<Result<std::string>>>();
  auto future = promise->get_future();
  peers_.Call(peer, type, payload, options_.request_deadline_ms,
              [promise](Result<std::string> reply) { promise->set_value(std::move(reply)); });
  // Wait in slices so that Stop() never waits for a slow peer.
  while (future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    if (halt_.load()) {
      report.errors.push_back("the node is stopping");
      return Unavailable("anti-entropy is stopping");
    }
  }
  Result<std::string> reply = future.get();
  const int64_t bytes = static_cast<int64_t>(payload.size() + (reply.ok() ? reply->size() : 0));
  limiter_.Consume(bytes);
  report.bytes += static_cast<uint64_t>(bytes);
  if (bytes_ != nullptr) bytes_->Increment(static_cast<uint64_t>(bytes));
  if (!reply.ok()) {
    if (errors_ != nullptr) errors_->Increment();
    report.errors.push_back(peer.ToString() + ": " + reply.status().message());
  }
  return reply;
}

AeReport AntiEntropy::RunRound(NodeId peer, const std::vector<std::string>& namespaces,
                               bool bounded) {
  AeReport report;
  report.rounds = 1;
  report.peers = 1;
  if (rounds_ != nullptr) rounds_->Increment();
  const int64_t started = local_.clock().NowMillis();
  uint64_t owners_digest = 0;
  std::vector<Shared> shared = SharedWith(peer, namespaces, &owners_digest);

  std::vector<std::string> names;
  std::vector<std::vector<PartitionId>> partitions;
  std::vector<std::vector<uint64_t>> roots;
  for (const Shared& s : shared) {
    names.push_back(s.spec->name);
    partitions.push_back(s.partitions);
    std::vector<uint64_t> ns_roots;
    ns_roots.reserve(s.partitions.size());
    for (PartitionId p : s.partitions) ns_roots.push_back(index_.PartitionRoot(s.ns_index, p));
    roots.push_back(std::move(ns_roots));
    report.partitions_compared += s.partitions.size();
  }
  if (report.partitions_compared == 0) return report;  // nothing in common

  wire::AeSummaryRequest request;
  request.set_ownership_digest(owners_digest);
  request.set_combined(CombineRoots(names, partitions, roots));
  for (const std::string& name : names) request.add_namespaces(name);
  auto reply = Call(peer, MessageType::kAeSummary, request.SerializeAsString(), report);
  if (!reply.ok()) {
    report.converged = false;
    return report;
  }
  wire::AeSummaryReply summary;
  if (!summary.ParseFromString(*reply)) {
    report.converged = false;
    report.errors.push_back(peer.ToString() + ": summary reply does not parse");
    return report;
  }
  if (summary.ownership_differs()) {
    report.converged = false;
    report.errors.push_back(peer.ToString() +
                            ": ownership views differ (still converging); retried next round");
    return report;
  }
  if (summary.match()) {
    if (rounds_matched_ != nullptr) rounds_matched_->Increment();
    for (const Shared& s : shared) {
      for (PartitionId p : s.partitions) MarkSynced(s.ns_index, p, peer, started);
    }
    return report;
  }
  report.converged = false;
  if (static_cast<size_t>(summary.namespaces_size()) != shared.size()) {
    report.errors.push_back(peer.ToString() + ": summary reply lists other namespaces");
    return report;
  }
  for (size_t i = 0; i < shared.size(); ++i) {
    const wire::AeNamespaceRoots& remote = summary.namespaces(static_cast<int>(i));
    if (remote.ns() != shared[i].spec->name ||
        static_cast<size_t>(remote.roots_size()) != roots[i].size()) {
      report.errors.push_back(peer.ToString() + ": summary roots of '" + shared[i].spec->name +
                              "' do not line up with ours");
      continue;
    }
    std::vector<PartitionId> differing;
    for (size_t j = 0; j < roots[i].size(); ++j) {
      if (remote.roots(static_cast<int>(j)) == roots[i][j]) {
        MarkSynced(shared[i].ns_index, shared[i].partitions[j], peer, started);
      } else {
        differing.push_back(shared[i].partitions[j]);
      }
    }
    report.partitions_differing += differing.size();
    if (partitions_differing_ != nullptr) partitions_differing_->Increment(differing.size());
    if (bounded && differing.size() > options_.max_partitions_per_round) {
      // A random window, so that no partition waits forever behind others.
      std::shuffle(differing.begin(), differing.end(), rng_);
      differing.resize(options_.max_partitions_per_round);
      std::sort(differing.begin(), differing.end());
    }
    RepairPartitions(peer, shared[i], differing, report);
  }
  return report;
}

void AntiEntropy::RepairPartitions(NodeId peer, const Shared& shared,
                                   const std::vector<PartitionId>& parts, AeReport& report) {
  const std::string& ns = shared.spec->name;
  for (const std::vector<PartitionId>& chunk : Chunks(parts, kPartitionsPerLeavesRequest)) {
    wire::AeLeavesRequest request;
    request.set_ns(ns);
    for (PartitionId p : chunk) request.add_partitions(p.value());
    auto reply = Call(peer, MessageType::kAeLeaves, request.SerializeAsString(), report);
    if (!reply.ok()) return;
    wire::AeLeavesReply leaves_reply;
    if (!leaves_reply.ParseFromString(*reply)) {
      report.errors.push_back(peer.ToString() + ": leaves reply does not parse");
      return;
    }
    const std::set<PartitionId> asked(chunk.begin(), chunk.end());
    std::vector<std::pair<PartitionId, uint32_t>> differing;
    for (const wire::AePartitionLeaves& remote : leaves_reply.partitions()) {
      const PartitionId p(remote.partition());
      if (!asked.count(p)) continue;  // not asked: ignored
      std::vector<uint64_t> remote_leaves(remote.leaves().begin(), remote.leaves().end());
      const std::vector<uint64_t> local_leaves = index_.Leaves(shared.ns_index, p);
      for (size_t leaf = 0; leaf < local_leaves.size(); ++leaf) {
        if (leaf >= remote_leaves.size() || local_leaves[leaf] != remote_leaves[leaf]) {
          differing.emplace_back(p, static_cast<uint32_t>(leaf));
        }
      }
    }
    report.leaves_differing += differing.size();
    // A partition counts as equal (for tombstone GC) only when every one of
    // its differing leaves was compared and found equivalent.
    std::map<PartitionId, size_t> to_confirm;
    for (const auto& [p, leaf] : differing) ++to_confirm[p];
    std::map<PartitionId, size_t> confirmed;
    const int64_t started = local_.clock().NowMillis();
    for (const auto& leaves : Chunks(differing, kLeavesPerKeysRequest)) {
      for (const auto& [p, leaf] : RepairLeaves(peer, *shared.spec, shared.ns_index, leaves,
                                                report)) {
        ++confirmed[p];
      }
    }
    for (const auto& [p, count] : confirmed) {
      if (count == to_confirm[p]) MarkSynced(shared.ns_index, p, peer, started);
    }
  }
}

std::vector<std::pair<PartitionId, uint32_t>> AntiEntropy::RepairLeaves(
    NodeId peer, const NamespaceSpec& spec, size_t ns_index,
    const std::vector<std::pair<PartitionId, uint32_t>>& leaves, AeReport& report) {
  const int64_t started = local_.clock().NowMillis();
  std::vector<std::pair<PartitionId, uint32_t>> equivalent;
  wire::AeKeysRequest request;
  request.set_ns(spec.name);
  for (const auto& [p, leaf] : leaves) {
    wire::AeLeafRef* ref = request.add_leaves();
    ref->set_partition(p.value());
    ref->set_leaf(leaf);
  }
  auto reply = Call(peer, MessageType::kAeKeys, request.SerializeAsString(), report);
  if (!reply.ok()) return equivalent;
  wire::AeKeysReply keys_reply;
  if (!keys_reply.ParseFromString(*reply)) {
    report.errors.push_back(peer.ToString() + ": keys reply does not parse");
    return equivalent;
  }
  const std::set<std::pair<PartitionId, uint32_t>> asked(leaves.begin(), leaves.end());
  const int64_t gc_before = started - options_.gc_grace_ms;
  std::vector<std::string> push, pull;
  // Leaves (among those answered) whose only differences were tombstones
  // past gc_grace on one side, i.e. equivalent to absence.
  std::vector<std::pair<PartitionId, uint32_t>> candidates;
  std::set<std::pair<PartitionId, uint32_t>> seen;
  for (const wire::AeLeafKeys& remote : keys_reply.leaves()) {
    const PartitionId p(remote.partition());
    const uint32_t leaf = remote.leaf();
    if (!asked.count({p, leaf}) || remote.keys_size() != remote.digests_size() ||
        !seen.insert({p, leaf}).second) {
      continue;
    }
    const bool with_versions = remote.version_timestamps_size() == remote.keys_size() &&
                               remote.version_origins_size() == remote.keys_size();
    std::vector<std::pair<std::string, uint64_t>> remote_list;
    std::map<std::string, Version, std::less<>> remote_versions;
    remote_list.reserve(remote.keys_size());
    for (int i = 0; i < remote.keys_size(); ++i) {
      const std::string& key = remote.keys(i);
      if (!ValidateKey(key).ok() || PartitionOf(spec.name, key, index_.partitions()) != p ||
          index_.LeafOf(key) != leaf) {
        continue;  // not a key of this leaf: ignored
      }
      remote_list.emplace_back(key, remote.digests(i));
      if (with_versions) {
        remote_versions[key] = Version{HlcTimestamp(remote.version_timestamps(i)),
                                       NodeId(remote.version_origins(i))};
      }
    }
    std::sort(remote_list.begin(), remote_list.end());
    bool truncated = false;
    std::vector<Version> local_versions;
    auto local_list =
        index_.LeafEntries(ns_index, p, leaf, kMaxKeysPerLeaf, &truncated, &local_versions);
    if (truncated) {
      spdlog::warn("anti-entropy: leaf {} of partition {} of '{}' holds over {} keys; skipped",
                   leaf, p.value(), spec.name, kMaxKeysPerLeaf);
      continue;
    }
    LeafDiff diff = DiffLeafEntries(local_list, remote_list);
    bool only_old_tombstones = diff.differing.empty();
    // A tombstone past gc_grace against nothing: the same as deleted; not
    // worth moving (and moving it back would undo the other side's GC).
    auto old_tombstone_here = [&](const std::string& key) {
      auto entry = local_.GetRaw(spec.name, key);
      return entry.ok() && entry->has_value() && (*entry)->tombstone &&
             (*entry)->version.timestamp.wall_millis() < gc_before;
    };
    for (std::string& key : diff.only_local) {
      if (old_tombstone_here(key)) continue;
      only_old_tombstones = false;
      push.push_back(std::move(key));
    }
    // A key both hold differently moves only towards the side with the
    // older version (both ways on a tie, or when the peer sent no versions).
    for (std::string& key : diff.differing) {
      auto remote_version = remote_versions.find(key);
      auto local_at = std::lower_bound(
          local_list.begin(), local_list.end(), key,
          [](const std::pair<std::string, uint64_t>& e, const std::string& k) { return e.first < k; });
      const Version& mine = local_versions[static_cast<size_t>(local_at - local_list.begin())];
      const bool pull_it = remote_version == remote_versions.end() || remote_version->second >= mine;
      const bool push_it = remote_version == remote_versions.end() || mine >= remote_version->second;
      if (push_it) push.push_back(key);
      if (pull_it) pull.push_back(std::move(key));
    }
    if (!diff.only_remote.empty()) only_old_tombstones = false;
    for (std::string& key : diff.only_remote) pull.push_back(std::move(key));
    if (only_old_tombstones) candidates.emplace_back(p, leaf);
  }
  const bool pulled = Pull(peer, spec, std::move(pull), report);
  const bool pushed = Push(peer, spec, push, report);
  if (pulled && pushed) equivalent = std::move(candidates);
  return equivalent;
}

bool AntiEntropy::Pull(NodeId peer, const NamespaceSpec& spec, std::vector<std::string> keys,
                       AeReport& report) {
  const int64_t gc_before = local_.clock().NowMillis() - options_.gc_grace_ms;
  size_t next = 0;
  while (next < keys.size()) {
    const std::vector<std::string> chunk(
        keys.begin() + static_cast<std::ptrdiff_t>(next),
        keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), next + kKeysPerTransfer)));
    wire::ReadRequest request;
    request.set_ns(spec.name);
    for (const std::string& key : chunk) request.add_keys(key);
    auto reply = Call(peer, MessageType::kReplicaRead, request.SerializeAsString(), report);
    if (!reply.ok()) return false;
    wire::ReadReply read_reply;
    if (!read_reply.ParseFromString(*reply)) {
      report.errors.push_back(peer.ToString() + ": read reply does not parse");
      return false;
    }
    // A reply at its size budget answered only the first keys: ask again
    // from there (at least one key per round trip, so this ends).
    if (read_reply.truncated()) {
      next += std::clamp<size_t>(read_reply.answered(), 1, chunk.size());
    } else {
      next += chunk.size();
    }
    auto entries = DecodeEntries(read_reply.entries());
    if (!entries.ok()) {
      report.errors.push_back(peer.ToString() + ": " + entries.status().message());
      return false;
    }
    const std::set<std::string> asked(chunk.begin(), chunk.end());
    std::vector<KeyEntry> wanted;
    for (KeyEntry& e : *entries) {
      if (!asked.count(e.key)) continue;  // not asked for: ignored
      if (e.entry.tombstone && e.entry.version.timestamp.wall_millis() < gc_before) {
        auto held = local_.GetRaw(spec.name, e.key);
        if (held.ok() && !held->has_value()) continue;  // collected here already
      }
      wanted.push_back(std::move(e));
    }
    const size_t count = wanted.size();
    auto batch = coordinator_.CheckIncoming(spec, std::move(wanted));
    if (!batch.ok()) {
      report.errors.push_back(peer.ToString() + ": refused pulled entries: " +
                              batch.status().message());
      return false;
    }
    auto applied = std::make_shared<std::promise<Status>>();
    auto future = applied->get_future();
    local_.ApplyLocal(std::move(*batch), [applied](Status s) { applied->set_value(s); });
    if (Status s = future.get(); !s.ok()) {
      report.errors.push_back("applying pulled entries: " + s.message());
      return false;
    }
    report.keys_pulled += count;
    if (keys_pulled_ != nullptr) keys_pulled_->Increment(count);
  }
  return true;
}

bool AntiEntropy::Push(NodeId peer, const NamespaceSpec& spec,
                       const std::vector<std::string>& keys, AeReport& report) {
  std::vector<KeyEntry> entries;
  size_t bytes = 0;
  auto flush = [&]() {
    if (entries.empty()) return true;
    auto reply = Call(peer, MessageType::kReplicaWrite, EncodeWrite(spec.name, entries), report);
    if (!reply.ok()) return false;
    report.keys_pushed += entries.size();
    if (keys_pushed_ != nullptr) keys_pushed_->Increment(entries.size());
    entries.clear();
    bytes = 0;
    return true;
  };
  for (const std::string& key : keys) {
    auto entry = local_.GetRaw(spec.name, key);
    if (!entry.ok() || !entry->has_value()) continue;
    const size_t size = EntryBytes(key, **entry);
    if (!entries.empty() &&
        (bytes + size > kMessageBudgetBytes || entries.size() >= kKeysPerTransfer)) {
      if (!flush()) return false;
    }
    bytes += size;
    entries.push_back(KeyEntry{key, std::move(**entry)});
  }
  return flush();
}

void AntiEntropy::MarkSynced(size_t ns_index, PartitionId partition, NodeId peer, int64_t at_ms) {
  std::lock_guard lock(synced_mu_);
  int64_t& at = synced_at_[{ns_index, partition.value()}][peer];
  at = std::max(at, at_ms);
}

// ---- repair, GC and the background thread ---------------------------------------------

void AntiEntropy::Repair(std::vector<std::string> namespaces, std::function<void(AeReport)> done) {
  {
    std::lock_guard lock(mu_);
    if (thread_.joinable() && !stopping_) {
      repairs_.emplace_back(std::move(namespaces), std::move(done));
      wake_.notify_all();
      return;
    }
  }
  done(RepairNow(namespaces));
}

AeReport AntiEntropy::RepairNow(const std::vector<std::string>& namespaces) {
  AeReport total;
  for (NodeId peer : coordinator_.CoReplicas()) {
    if (!peers_.IsLive(peer)) {
      total.converged = false;
      total.errors.push_back(peer.ToString() + ": down; not compared");
      continue;
    }
    AeReport with_peer;
    for (int round = 0; round < kRepairRoundsPerPeer; ++round) {
      AeReport r = RunRound(peer, namespaces, /*bounded=*/false);
      const bool converged = r.converged;
      r.peers = 0;
      r.converged = true;
      with_peer.Add(r);
      if (converged) break;
      if (round + 1 == kRepairRoundsPerPeer) with_peer.converged = false;
    }
    with_peer.peers = 1;
    total.Add(with_peer);
  }
  return total;
}

size_t AntiEntropy::CollectGarbage() {
  const int64_t now = local_.clock().NowMillis();
  size_t purged = 0;
  for (const NamespaceSpec& spec : local_.namespaces()) {
    auto ns_index = index_.NamespaceIndex(spec.name);
    if (!ns_index) continue;
    for (uint32_t i = 0; i < index_.partitions(); ++i) {
      const PartitionId p(i);
      std::vector<NodeId> replicas = coordinator_.ReplicasOf(spec, p);
      if (std::find(replicas.begin(), replicas.end(), self_) == replicas.end()) continue;
      int64_t horizon = now;
      bool known = true;
      {
        std::lock_guard lock(synced_mu_);
        auto it = synced_at_.find({*ns_index, i});
        for (NodeId r : replicas) {
          if (r == self_) continue;
          if (it == synced_at_.end() || !it->second.count(r)) {
            known = false;
            break;
          }
          horizon = std::min(horizon, it->second.at(r));
        }
      }
      if (!known) continue;
      auto candidates =
          index_.OldTombstones(*ns_index, p, now - options_.gc_grace_ms, horizon, 1'000);
      if (candidates.empty()) continue;
      auto removed = index_.Purge(*ns_index, p, candidates,
                                  [this, &spec](const std::vector<std::string>& keys) {
                                    return local_.store().Purge(spec.name, keys);
                                  });
      if (!removed.ok()) {
        spdlog::warn("anti-entropy: tombstone GC in '{}' failed: {}", spec.name,
                     removed.status().message());
        continue;
      }
      purged += *removed;
    }
  }
  if (purged_ != nullptr && purged > 0) purged_->Increment(purged);
  return purged;
}

void AntiEntropy::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  halt_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void AntiEntropy::Stop() {
  halt_ = true;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  // Repairs still queued are answered, so no caller waits forever.
  std::deque<std::pair<std::vector<std::string>, std::function<void(AeReport)>>> left;
  {
    std::lock_guard lock(mu_);
    left.swap(repairs_);
  }
  for (auto& [namespaces, done] : left) {
    AeReport report;
    report.converged = false;
    report.errors.push_back("the node is stopping");
    done(std::move(report));
  }
}

void AntiEntropy::Loop() {
  using Clock = std::chrono::steady_clock;
  auto next_round = Clock::now();
  auto next_gc = Clock::now() + std::chrono::milliseconds(options_.gc_interval_ms);
  for (;;) {
    std::pair<std::vector<std::string>, std::function<void(AeReport)>> repair;
    bool have_repair = false;
    {
      std::unique_lock lock(mu_);
      const auto until = options_.interval_ms > 0 ? std::min(next_round, next_gc) : next_gc;
      wake_.wait_until(lock, until, [this] { return stopping_ || !repairs_.empty(); });
      if (stopping_) return;
      if (!repairs_.empty()) {
        repair = std::move(repairs_.front());
        repairs_.pop_front();
        have_repair = true;
      }
    }
    if (have_repair) {
      repair.second(RepairNow(repair.first));
      continue;
    }
    const auto now = Clock::now();
    if (options_.interval_ms > 0 && now >= next_round) {
      std::vector<NodeId> candidates = coordinator_.CoReplicas();
      std::erase_if(candidates, [this](NodeId n) { return !peers_.IsLive(n); });
      if (!candidates.empty()) {
        NodeId peer = candidates[std::uniform_int_distribution<size_t>(
            0, candidates.size() - 1)(rng_)];
        AeReport r = RunRound(peer, {}, /*bounded=*/true);
        if (r.keys_pulled + r.keys_pushed > 0) {
          spdlog::info("anti-entropy: with {}: {} partitions differed, {} keys pulled, {} pushed",
                       peer.ToString(), r.partitions_differing, r.keys_pulled, r.keys_pushed);
        }
      }
      const int64_t jitter = options_.interval_ms / 5;
      next_round = Clock::now() + std::chrono::milliseconds(
                                      options_.interval_ms +
                                      std::uniform_int_distribution<int64_t>(-jitter, jitter)(rng_));
    }
    if (now >= next_gc) {
      if (size_t purged = CollectGarbage(); purged > 0) {
        spdlog::info("anti-entropy: purged {} tombstones older than gc_grace", purged);
      }
      next_gc = Clock::now() + std::chrono::milliseconds(options_.gc_interval_ms);
    }
  }
}

// ---- responder ------------------------------------------------------------------------

void AntiEntropy::HandleSummary(NodeId from, std::string payload,
                                std::function<void(Result<std::string>)> reply) {
  wire::AeSummaryRequest request;
  if (!request.ParseFromString(payload)) return reply(InvalidArgument("summary does not parse"));
  if (static_cast<size_t>(request.namespaces_size()) > kMaxNamespacesPerRequest) {
    return reply(InvalidArgument("too many namespaces in one summary"));
  }
  if (request.namespaces_size() == 0) return reply(InvalidArgument("summary lists no namespace"));
  std::vector<std::string> names(request.namespaces().begin(), request.namespaces().end());
  std::set<std::string> distinct;
  for (const std::string& name : names) {
    if (local_.FindNamespace(name) == nullptr) {
      return reply(NotFound("namespace '" + name + "' is not configured on this node"));
    }
    if (!distinct.insert(name).second) {
      return reply(InvalidArgument("namespace '" + name + "' is listed twice"));
    }
  }
  const int64_t started = local_.clock().NowMillis();
  uint64_t owners_digest = 0;
  std::vector<Shared> shared = SharedWith(from, names, &owners_digest);
  wire::AeSummaryReply out;
  if (owners_digest != request.ownership_digest() || shared.size() != names.size()) {
    out.set_ownership_differs(true);
    return reply(out.SerializeAsString());
  }
  std::vector<std::vector<PartitionId>> partitions;
  std::vector<std::vector<uint64_t>> roots;
  for (const Shared& s : shared) {
    partitions.push_back(s.partitions);
    std::vector<uint64_t> ns_roots;
    for (PartitionId p : s.partitions) ns_roots.push_back(index_.PartitionRoot(s.ns_index, p));
    roots.push_back(std::move(ns_roots));
  }
  if (CombineRoots(names, partitions, roots) == request.combined()) {
    out.set_match(true);
    for (const Shared& s : shared) {
      for (PartitionId p : s.partitions) MarkSynced(s.ns_index, p, from, started);
    }
    return reply(out.SerializeAsString());
  }
  for (size_t i = 0; i < shared.size(); ++i) {
    wire::AeNamespaceRoots* ns_roots = out.add_namespaces();
    ns_roots->set_ns(names[i]);
    for (uint64_t root : roots[i]) ns_roots->add_roots(root);
  }
  reply(out.SerializeAsString());
}

void AntiEntropy::HandleLeaves(NodeId from, std::string payload,
                               std::function<void(Result<std::string>)> reply) {
  wire::AeLeavesRequest request;
  if (!request.ParseFromString(payload)) return reply(InvalidArgument("leaves does not parse"));
  const NamespaceSpec* spec = local_.FindNamespace(request.ns());
  auto ns_index = index_.NamespaceIndex(request.ns());
  if (spec == nullptr || !ns_index) {
    return reply(NotFound("namespace '" + request.ns() + "' is not configured on this node"));
  }
  if (static_cast<size_t>(request.partitions_size()) > kMaxPartitionsPerRequest) {
    return reply(InvalidArgument("too many partitions in one leaves request"));
  }
  const std::vector<PartitionId> shared_list = coordinator_.SharedPartitions(*spec, from, nullptr);
  const std::set<PartitionId> shared(shared_list.begin(), shared_list.end());
  wire::AeLeavesReply out;
  for (uint32_t raw : request.partitions()) {
    const PartitionId p(raw);
    if (!shared.count(p)) {
      return reply(FailedPrecondition("partition " + std::to_string(raw) + " of '" + spec->name +
                                      "' is not shared with " + from.ToString() +
                                      " in this node's view"));
    }
    wire::AePartitionLeaves* leaves = out.add_partitions();
    leaves->set_partition(raw);
    for (uint64_t leaf : index_.Leaves(*ns_index, p)) leaves->add_leaves(leaf);
  }
  reply(out.SerializeAsString());
}

void AntiEntropy::HandleKeys(NodeId from, std::string payload,
                             std::function<void(Result<std::string>)> reply) {
  wire::AeKeysRequest request;
  if (!request.ParseFromString(payload)) return reply(InvalidArgument("keys does not parse"));
  const NamespaceSpec* spec = local_.FindNamespace(request.ns());
  auto ns_index = index_.NamespaceIndex(request.ns());
  if (spec == nullptr || !ns_index) {
    return reply(NotFound("namespace '" + request.ns() + "' is not configured on this node"));
  }
  if (static_cast<size_t>(request.leaves_size()) > kMaxLeafRefsPerRequest) {
    return reply(InvalidArgument("too many leaves in one keys request"));
  }
  const std::vector<PartitionId> shared_list = coordinator_.SharedPartitions(*spec, from, nullptr);
  const std::set<PartitionId> shared(shared_list.begin(), shared_list.end());
  wire::AeKeysReply out;
  size_t total = 0;
  size_t total_bytes = 0;
  for (const wire::AeLeafRef& ref : request.leaves()) {
    const PartitionId p(ref.partition());
    if (!shared.count(p) || ref.leaf() >= DigestIndex::kLeaves) {
      return reply(FailedPrecondition("leaf " + std::to_string(ref.leaf()) + " of partition " +
                                      std::to_string(ref.partition()) +
                                      " is not shared with the asker in this node's view"));
    }
    bool truncated = false;
    std::vector<Version> versions;
    auto entries =
        index_.LeafEntries(*ns_index, p, ref.leaf(), kMaxKeysPerLeaf, &truncated, &versions);
    if (truncated) continue;  // the asker sees it missing and skips it
    size_t bytes = 0;
    for (const auto& [key, digest] : entries) bytes += key.size() + 16;
    if (out.leaves_size() > 0 && (total + entries.size() > kMaxKeysPerKeysReply ||
                                  total_bytes + bytes > kMessageBudgetBytes)) {
      break;  // the rest in a later round
    }
    total += entries.size();
    total_bytes += bytes;
    wire::AeLeafKeys* leaf = out.add_leaves();
    leaf->set_partition(ref.partition());
    leaf->set_leaf(ref.leaf());
    for (size_t i = 0; i < entries.size(); ++i) {
      leaf->add_keys(entries[i].first);
      leaf->add_digests(entries[i].second);
      leaf->add_version_timestamps(versions[i].timestamp.raw());
      leaf->add_version_origins(versions[i].origin.value());
    }
  }
  reply(out.SerializeAsString());
}

}  // namespace meshkv::replication
