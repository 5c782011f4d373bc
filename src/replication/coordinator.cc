#include "replication/coordinator.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <map>
#include <set>

#include "replication/entry_codec.h"
#include "replication/replication.pb.h"

namespace meshkv::replication {
namespace {

using transport::MessageType;

constexpr size_t kMaxEntriesPerRequest = 10'000;
constexpr size_t kMaxPartsPerBatch = 10'000;
constexpr int kMaxWritesInFlight = 2;  // replica-write RPCs per peer before coalescing
constexpr size_t kMaxKeysPerRead = 10'000;
constexpr uint32_t kMaxScanLimit = 10'000;

std::string NodeList(const std::vector<NodeId>& nodes) {
  std::string out;
  for (NodeId n : nodes) out += (out.empty() ? "" : ", ") + n.ToString();
  return out;
}

}  // namespace

// OK when `nodes` hold, for every partition, the replicas `consistency` needs.
Status CheckCoverage(const PartitionTable& table, uint32_t partitions,
                     const std::vector<NodeId>& nodes, Consistency consistency) {
  const std::set<NodeId> up(nodes.begin(), nodes.end());
  for (uint32_t i = 0; i < partitions; ++i) {
    const auto& replicas = table.Replicas(PartitionId(i));
    size_t present = 0;
    for (NodeId n : replicas) present += up.count(n);
    const size_t needed = RequiredReplies(consistency, replicas.size());
    if (present < needed) {
      return Unavailable("listing needs " + std::to_string(needed) +
                         " reachable replicas of every partition; partition " + std::to_string(i) +
                         " has " + std::to_string(present) + " of [" + NodeList(replicas) + "]");
    }
  }
  return Status::Ok();
}

size_t RequiredReplies(Consistency consistency, size_t replicas) {
  if (replicas == 0) return 1;  // nothing can answer: always unreachable
  switch (consistency) {
    case Consistency::kOne:
      return 1;
    case Consistency::kQuorum:
      return replicas / 2 + 1;
    case Consistency::kAll:
      return replicas;
  }
  return replicas;
}

// Placement for one ownership state: the partition tables of every
// replication factor in use, for the current and the future owner sets.
struct Coordinator::View {
  OwnershipState ownership;
  std::map<int, PartitionTable> current;  // replicas -> table over Owners()
  std::map<int, PartitionTable> future;   // replicas -> table over FutureOwners()
  // The current tables of the view this one replaced, while other nodes may
  // still route by them (until previous_until_ms, local clock); else empty.
  std::map<int, PartitionTable> previous;
  int64_t previous_until_ms = 0;
  uint32_t partitions = kDefaultPartitions;

  const std::vector<NodeId>& Replicas(const NamespaceSpec& ns, PartitionId p) const {
    return current.at(ns.replicas).Replicas(p);
  }
  const std::vector<NodeId>& FutureReplicas(const NamespaceSpec& ns, PartitionId p) const {
    return future.at(ns.replicas).Replicas(p);
  }
};

Coordinator::Coordinator(KvService& local, PeerChannel& peers, HintStore* hints,
                         CoordinatorOptions options, MetricsRegistry* metrics)
    : local_(local),
      peers_(peers),
      hints_(hints),
      options_(options),
      self_(local.node_id()),
      replay_limiter_(local.clock(), options.hint_replay_bytes_per_second,
                      options.hint_replay_bytes_per_second) {
  if (metrics != nullptr) {
    writes_ = metrics->GetCounter("meshkv_coordinator_writes_total", "Writes coordinated here");
    write_failures_ = metrics->GetCounter("meshkv_coordinator_write_unavailable_total",
                                          "Coordinated writes that missed their consistency level");
    reads_ = metrics->GetCounter("meshkv_coordinator_reads_total", "Reads coordinated here");
    read_failures_ = metrics->GetCounter("meshkv_coordinator_read_unavailable_total",
                                         "Coordinated reads that missed their consistency level");
    read_repairs_ = metrics->GetCounter("meshkv_read_repairs_total",
                                        "Replicas repaired by quorum reads (entries sent)");
    hinted_ = metrics->GetCounter("meshkv_coordinator_hinted_entries_total",
                                  "Entries stored as hints for replicas that did not acknowledge");
    rebalanced_entries_ = metrics->GetCounter(
        "meshkv_rebalance_entries_total",
        "Entries streamed in (catch-up of a pending owner) or out (decommission)");
    refused_entries_ = metrics->GetCounter(
        "meshkv_replica_refused_requests_total",
        "Replication requests refused by this replica (bad input, skew, policy)");
  }
  Rebuild();
}

// ---- ownership ------------------------------------------------------------------

void Coordinator::Rebuild() {
  auto view = std::make_shared<View>();
  {
    std::lock_guard lock(mu_);
    view->ownership = ownership_;
  }
  view->partitions = options_.partitions;
  const std::vector<NodeId> owners = view->ownership.Owners();
  const std::vector<NodeId> future = view->ownership.FutureOwners();
  for (const NamespaceSpec& ns : local_.namespaces()) {
    if (view->current.count(ns.replicas)) continue;
    view->current.emplace(ns.replicas,
                          PartitionTable::Build(owners, ns.replicas, options_.partitions));
    view->future.emplace(ns.replicas,
                         PartitionTable::Build(future, ns.replicas, options_.partitions));
  }
  std::lock_guard lock(mu_);
  if (!(view->ownership == ownership_)) return;
  if (view_ && view_->ownership.Owners() != owners) {
    view->previous = view_->current;
    view->previous_until_ms = local_.clock().NowMillis() + options_.transition_grace_ms;
    confirmed_.clear();
    transition_closed_ = false;
  } else if (view_) {
    view->previous = view_->previous;
    view->previous_until_ms = view_->previous_until_ms;
  }
  view_ = std::move(view);
}

std::shared_ptr<const Coordinator::View> Coordinator::CurrentView() const {
  std::lock_guard lock(mu_);
  return view_;
}

OwnershipState Coordinator::Ownership() const {
  std::lock_guard lock(mu_);
  return ownership_;
}

bool Coordinator::MergeOwnership(const OwnershipState& other, std::optional<NodeId> from) {
  OwnershipState after;
  std::vector<std::function<void(const OwnershipState&)>> listeners;
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    changed = ownership_.Merge(other);
    after = ownership_;
    listeners = listeners_;
  }
  if (changed) {
    Rebuild();
    for (auto& listener : listeners) listener(after);
  }
  if (from && other.Owners() == after.Owners()) NoteSameOwners(*from);
  return changed;
}

bool Coordinator::TransitionInProgress() const {
  auto view = CurrentView();
  return local_.clock().NowMillis() < view->previous_until_ms && !transition_closed_.load();
}

void Coordinator::NoteSameOwners(NodeId member) {
  auto view = CurrentView();
  if (view->previous_until_ms == 0 || transition_closed_.load()) return;
  std::lock_guard lock(mu_);
  if (view != view_) return;  // changed meanwhile: its own transition
  confirmed_.insert(member);
  // Every live node that owns (or owned) data has the new owner set: nobody
  // reads by the previous replica sets any more.
  std::set<NodeId> involved;
  for (NodeId n : view->ownership.Owners()) involved.insert(n);
  for (const auto& [replicas, table] : view->previous) {
    for (NodeId n : table.owners()) involved.insert(n);
  }
  for (NodeId n : involved) {
    if (n != self_ && !confirmed_.count(n) && peers_.IsLive(n)) return;
  }
  transition_closed_ = true;
}

void Coordinator::SetSelfState(OwnerState state) {
  OwnershipState after;
  std::vector<std::function<void(const OwnershipState&)>> listeners;
  {
    std::lock_guard lock(mu_);
    ownership_.Set(self_, state);
    after = ownership_;
    listeners = listeners_;
  }
  spdlog::info("replication: this node is now {} (ownership digest {:016x})", OwnerStateName(state),
               after.Digest());
  Rebuild();
  for (auto& listener : listeners) listener(after);
}

void Coordinator::OnOwnershipChange(std::function<void(const OwnershipState&)> listener) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(listener));
}

KeyPlacement Coordinator::PlacementOf(const NamespaceSpec& ns, std::string_view key) const {
  auto view = CurrentView();
  KeyPlacement placement;
  placement.partition = PartitionOf(ns.name, key, view->partitions);
  placement.replicas = view->Replicas(ns, placement.partition);
  for (NodeId n : view->FutureReplicas(ns, placement.partition)) {
    if (std::find(placement.replicas.begin(), placement.replicas.end(), n) ==
        placement.replicas.end()) {
      placement.pending_replicas.push_back(n);
    }
  }
  return placement;
}

std::vector<PartitionId> Coordinator::SharedPartitions(const NamespaceSpec& ns, NodeId peer,
                                                       uint64_t* owners_digest) const {
  auto view = CurrentView();
  if (owners_digest != nullptr) *owners_digest = OwnersDigest(view->ownership.Owners());
  std::vector<PartitionId> shared;
  const PartitionTable& table = view->current.at(ns.replicas);
  for (PartitionId p : table.PartitionsOf(self_)) {
    const auto& replicas = table.Replicas(p);
    if (std::find(replicas.begin(), replicas.end(), peer) != replicas.end()) shared.push_back(p);
  }
  return shared;
}

std::vector<NodeId> Coordinator::CoReplicas() const {
  auto view = CurrentView();
  std::set<NodeId> peers;
  for (const auto& [replicas, table] : view->current) {
    for (PartitionId p : table.PartitionsOf(self_)) {
      for (NodeId n : table.Replicas(p)) {
        if (n != self_) peers.insert(n);
      }
    }
  }
  return {peers.begin(), peers.end()};
}

std::vector<NodeId> Coordinator::ReplicasOf(const NamespaceSpec& ns, PartitionId p) const {
  return CurrentView()->Replicas(ns, p);
}

uint64_t OwnersDigest(const std::vector<NodeId>& owners) {
  std::vector<NodeId> sorted = owners;
  std::sort(sorted.begin(), sorted.end());
  std::string bytes;
  for (NodeId n : sorted) {
    const uint64_t v = n.value();
    bytes.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  return XXH3_64bits(bytes.data(), bytes.size());
}

// ---- writes -----------------------------------------------------------------------

void Coordinator::ApplyLocalEntries(const std::string& ns, std::vector<KeyEntry> entries,
                                    std::function<void(Status)> done) {
  WriteBatch batch;
  batch.reserve(entries.size());
  for (KeyEntry& e : entries) batch.push_back(WriteOp{ns, std::move(e.key), std::move(e.entry)});
  local_.ApplyLocal(std::move(batch), std::move(done));
}

void Coordinator::SendWrite(NodeId node, const std::string& ns, std::vector<KeyEntry> entries,
                            std::function<void(Status)> done) {
  if (node == self_) return ApplyLocalEntries(ns, std::move(entries), std::move(done));
  if (!peers_.IsLive(node)) {
    return done(Unavailable("node " + node.ToString() + " is down"));
  }
  Outbox& box = OutboxOf(node);
  std::vector<QueuedWrite> batch;
  {
    std::lock_guard lock(box.mu);
    box.queue.push_back(QueuedWrite{ns, std::move(entries), std::move(done)});
    if (box.in_flight >= kMaxWritesInFlight) return;  // goes with the next batch
    batch = TakeBatch(box);
    ++box.in_flight;
  }
  SendQueued(node, box, std::move(batch));
}

Coordinator::Outbox& Coordinator::OutboxOf(NodeId node) {
  std::lock_guard lock(outboxes_mu_);
  std::unique_ptr<Outbox>& box = outboxes_[node];
  if (!box) box = std::make_unique<Outbox>();
  return *box;
}

std::vector<Coordinator::QueuedWrite> Coordinator::TakeBatch(Outbox& box) {
  size_t entries = 0;
  size_t bytes = 0;
  size_t take = 0;
  while (take < box.queue.size()) {
    const QueuedWrite& next = box.queue[take];
    size_t next_bytes = 0;
    for (const KeyEntry& e : next.entries) next_bytes += EntryBytes(e.key, e.entry);
    if (take > 0 && (entries + next.entries.size() > kMaxEntriesPerRequest ||
                     bytes + next_bytes > kMessageBudgetBytes)) {
      break;
    }
    entries += next.entries.size();
    bytes += next_bytes;
    ++take;
  }
  std::vector<QueuedWrite> batch(std::make_move_iterator(box.queue.begin()),
                                 std::make_move_iterator(box.queue.begin() + take));
  box.queue.erase(box.queue.begin(), box.queue.begin() + take);
  return batch;
}

void Coordinator::SendQueued(NodeId node, Outbox& box, std::vector<QueuedWrite> batch) {
  auto parts = std::make_shared<std::vector<QueuedWrite>>(std::move(batch));
  auto finished = [this, node, &box, parts](std::vector<Status> results) {
    for (size_t i = 0; i < parts->size(); ++i) (*parts)[i].done(results[i]);
    std::vector<QueuedWrite> next;
    {
      std::lock_guard lock(box.mu);
      --box.in_flight;
      if (box.queue.empty()) return;
      next = TakeBatch(box);
      ++box.in_flight;
    }
    SendQueued(node, box, std::move(next));
  };
  if (parts->size() == 1) {
    const QueuedWrite& only = parts->front();
    peers_.Call(node, MessageType::kReplicaWrite, EncodeWrite(only.ns, only.entries),
                options_.request_deadline_ms,
                [finished](Result<std::string> reply) { finished({reply.status()}); });
    return;
  }
  wire::WriteBatchRequest request;
  for (const QueuedWrite& part : *parts) {
    wire::WriteRequest* out = request.add_parts();
    out->set_ns(part.ns);
    for (const KeyEntry& e : part.entries) {
      wire::KeyEntry* entry = out->add_entries();
      entry->set_key(e.key);
      entry->set_entry(EncodeEntry(e.entry));
    }
  }
  const size_t count = parts->size();
  peers_.Call(node, MessageType::kReplicaWriteBatch, request.SerializeAsString(),
              options_.request_deadline_ms, [finished, count](Result<std::string> reply) {
                std::vector<Status> results(count, reply.status());
                wire::WriteBatchReply decoded;
                if (reply.ok() && (!decoded.ParseFromString(*reply) ||
                                   static_cast<size_t>(decoded.results_size()) != count)) {
                  results.assign(count, Internal("replica answered a write batch with garbage"));
                } else if (reply.ok()) {
                  for (size_t i = 0; i < count; ++i) {
                    const wire::PartResult& r = decoded.results(static_cast<int>(i));
                    if (r.code() != 0) {
                      const uint32_t code =
                          std::min<uint32_t>(r.code(), static_cast<uint32_t>(ErrorCode::kInternal));
                      results[i] = Status(static_cast<ErrorCode>(code), r.message());
                    }
                  }
                }
                finished(std::move(results));
              });
}

void Coordinator::Hint(NodeId node, const WriteBatch& batch, const std::vector<size_t>& indexes) {
  if (hints_ == nullptr || node == self_) return;
  for (size_t i : indexes) {
    const WriteOp& op = batch[i];
    Status added = hints_->Add(node, op.ns, op.key, EncodeEntry(op.entry));
    if (!added.ok()) {
      spdlog::warn("replication: cannot store a hint for {}: {}", node.ToString(), added.message());
      return;
    }
    if (hinted_) hinted_->Increment();
  }
}

void Coordinator::Write(const NamespaceSpec& ns, WriteBatch batch, Consistency consistency,
                        std::function<void(Status)> done) {
  if (writes_) writes_->Increment();
  auto view = CurrentView();
  // A key's write must reach W of every replica set that some node may read
  // it from: the current set; while ownership moves, also the future set
  // (a pending owner counts there) and, for a grace period after a change,
  // the previous set (nodes that have not heard of the change read there).
  // Any read quorum then overlaps any acknowledged write.
  struct Group {
    std::vector<NodeId> members;
    size_t needed = 0;
    size_t acks = 0;
  };
  struct KeyState {
    std::vector<Group> groups;  // groups[0] is the current set
    bool satisfied = false;
  };
  struct Pending {
    std::mutex mu;
    std::vector<KeyState> keys;
    size_t keys_short;  // keys below their W
    size_t calls_left = 0;
    bool answered = false;
    std::vector<std::string> failures;
    std::function<void(Status)> done;
  };
  auto pending = std::make_shared<Pending>();
  pending->keys.resize(batch.size());
  // Per target node, the indexes of its keys (few nodes: a flat list).
  std::vector<std::pair<NodeId, std::vector<size_t>>> by_node;
  auto keys_of = [&by_node](NodeId n) -> std::vector<size_t>& {
    for (auto& [node, list] : by_node) {
      if (node == n) return list;
    }
    return by_node.emplace_back(n, std::vector<size_t>()).second;
  };
  const bool in_transition = local_.clock().NowMillis() < view->previous_until_ms &&
                             !transition_closed_.load() && view->previous.count(ns.replicas) > 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const PartitionId p = PartitionOf(ns.name, batch[i].key, view->partitions);
    KeyState& key = pending->keys[i];
    auto add_group = [&](const std::vector<NodeId>& members, bool live_only = false) {
      // The same set twice counts once (the usual case: no move in
      // progress, future == current). No allocation on this path.
      for (const Group& g : key.groups) {
        if (g.members.size() == members.size() &&
            std::is_permutation(members.begin(), members.end(), g.members.begin())) {
          return;
        }
      }
      size_t needed = RequiredReplies(consistency, members.size());
      if (live_only) {
        // Readers by the previous sets read only live replicas too.
        const size_t live =
            static_cast<size_t>(std::count_if(members.begin(), members.end(), [this](NodeId n) {
              return n == self_ || peers_.IsLive(n);
            }));
        needed = std::min(needed, live);
        if (needed == 0) return;
      }
      key.groups.push_back(Group{members, needed, 0});
      for (NodeId n : members) {
        auto& list = keys_of(n);
        if (list.empty() || list.back() != i) list.push_back(i);
      }
    };
    const std::vector<NodeId>& current = view->Replicas(ns, p);
    if (current.empty()) {
      return done(Unavailable("no node owns namespace '" + ns.name +
                              "' yet (the cluster has no owners); wait for the node to join, see "
                              "GET /v1/cluster/status"));
    }
    add_group(current);
    const std::vector<NodeId>& future = view->FutureReplicas(ns, p);
    if (!future.empty()) add_group(future);
    if (in_transition) {
      const std::vector<NodeId>& previous = view->previous.at(ns.replicas).Replicas(p);
      if (!previous.empty()) add_group(previous, /*live_only=*/true);
    }
  }
  pending->keys_short = batch.size();
  pending->calls_left = by_node.size();
  pending->done = std::move(done);
  const std::string ns_name = ns.name;
  const auto describe_failure = [](Pending& p) {
    size_t short_keys = 0;
    std::string example;
    for (const KeyState& k : p.keys) {
      if (k.satisfied) continue;
      if (short_keys++ > 0) continue;
      for (const Group& g : k.groups) {
        if (g.acks >= g.needed) continue;
        example = "got " + std::to_string(g.acks) + " of " + std::to_string(g.needed) +
                  " required acknowledgements from replicas [" + NodeList(g.members) + "]";
        if (&g != &k.groups.front()) {
          example += ", a replica set of the ownership change in progress";
        }
        break;
      }
    }
    std::string message = "consistency level not reached for " + std::to_string(short_keys) +
                          " of " + std::to_string(p.keys.size()) + " keys (" + example + ")";
    if (!p.failures.empty()) {
      message += "; failures:";
      for (const std::string& f : p.failures) message += " [" + f + "]";
    }
    return message +
           "; the write may be applied on some replicas and will spread when they recover";
  };
  // The batch stays shared by the targets' callbacks, for hints on failure.
  auto written = std::make_shared<const WriteBatch>(std::move(batch));
  // (Named copies, not structured bindings: clang 14 cannot capture those.)
  for (auto& target : by_node) {
    const NodeId node = target.first;
    std::vector<size_t>& indexes = target.second;
    std::vector<KeyEntry> entries;
    entries.reserve(indexes.size());
    for (size_t i : indexes) entries.push_back(KeyEntry{(*written)[i].key, (*written)[i].entry});
    SendWrite(
        node, ns_name, std::move(entries),
        [this, pending, node, indexes = std::move(indexes), written,
         describe_failure](Status status) {
          std::function<void(Status)> answer;
          Status result;
          {
            std::lock_guard lock(pending->mu);
            if (status.ok()) {
              for (size_t i : indexes) {
                KeyState& k = pending->keys[i];
                bool all = true;
                for (Group& g : k.groups) {
                  if (std::find(g.members.begin(), g.members.end(), node) != g.members.end()) {
                    ++g.acks;
                  }
                  all = all && g.acks >= g.needed;
                }
                if (all && !k.satisfied) {
                  k.satisfied = true;
                  --pending->keys_short;
                }
              }
            } else {
              pending->failures.push_back(node.ToString() + ": " + status.message());
            }
            --pending->calls_left;
            if (!pending->answered && pending->keys_short == 0) {
              pending->answered = true;
              answer = std::move(pending->done);
              result = Status::Ok();
            } else if (!pending->answered && pending->calls_left == 0) {
              pending->answered = true;
              answer = std::move(pending->done);
              result = Unavailable(describe_failure(*pending));
            }
          }
          if (!status.ok()) Hint(node, *written, indexes);
          if (answer) {
            if (!result.ok() && write_failures_) write_failures_->Increment();
            answer(result);
          }
        });
  }
}

// ---- reads ------------------------------------------------------------------------

void Coordinator::Read(const NamespaceSpec& ns, std::string key, Consistency consistency,
                       std::function<void(Result<std::optional<Entry>>)> done) {
  if (reads_) reads_->Increment();
  auto view = CurrentView();
  const PartitionId p = PartitionOf(ns.name, key, view->partitions);
  const std::vector<NodeId> replicas = view->Replicas(ns, p);
  const size_t needed = RequiredReplies(consistency, replicas.size());
  std::vector<NodeId> live;
  for (NodeId n : replicas) {
    if (n == self_ || peers_.IsLive(n)) live.push_back(n);
  }
  if (replicas.empty() || live.size() < needed) {
    if (read_failures_) read_failures_->Increment();
    return done(Unavailable("consistency level needs " + std::to_string(needed) + " of the " +
                            std::to_string(replicas.size()) + " replicas [" + NodeList(replicas) +
                            "] but only " + std::to_string(live.size()) +
                            " are alive; retry, or read with consistency=one"));
  }
  // Ask only as many replicas as the level needs (this node first when it is
  // one, then by rank); each failure brings in the next live replica. The
  // others are left to anti-entropy, so a read costs R lookups, not N.
  std::stable_partition(live.begin(), live.end(), [this](NodeId n) { return n == self_; });
  auto read = std::make_shared<PendingRead>();
  read->ns = ns.name;
  read->key = std::move(key);
  read->needed = needed;
  read->outstanding = needed;
  read->spare.assign(live.rbegin(), live.rend() - static_cast<std::ptrdiff_t>(needed));
  read->done = std::move(done);
  wire::ReadRequest request;
  request.set_ns(read->ns);
  request.add_keys(read->key);
  read->payload = request.SerializeAsString();
  const std::vector<NodeId> first(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(needed));
  for (NodeId node : first) AskReplica(read, node);
}

void Coordinator::AskReplica(const std::shared_ptr<PendingRead>& read, NodeId node) {
  if (node == self_) return OnReadReply(read, node, local_.GetRaw(read->ns, read->key));
  peers_.Call(node, MessageType::kReplicaRead, read->payload, options_.request_deadline_ms,
              [this, read, node](Result<std::string> reply) {
                if (!reply.ok()) return OnReadReply(read, node, reply.status());
                wire::ReadReply decoded;
                if (!decoded.ParseFromString(*reply)) {
                  return OnReadReply(read, node, InvalidArgument("read reply does not parse"));
                }
                auto entries = DecodeEntries(decoded.entries());
                if (!entries.ok()) return OnReadReply(read, node, entries.status());
                if (entries->empty()) return OnReadReply(read, node, std::optional<Entry>());
                OnReadReply(read, node, std::optional<Entry>(std::move(entries->front().entry)));
              });
}

void Coordinator::OnReadReply(const std::shared_ptr<PendingRead>& read, NodeId node,
                              Result<std::optional<Entry>> entry) {
  std::function<void(Result<std::optional<Entry>>)> answer;
  Result<std::optional<Entry>> result = std::optional<Entry>();
  std::vector<NodeId> to_repair;
  std::optional<Entry> best;
  std::optional<NodeId> next;
  {
    std::lock_guard lock(read->mu);
    if (entry.ok()) {
      ++read->replies;
      if (entry->has_value()) read->best = read->best ? Merge(*read->best, **entry) : **entry;
      read->seen.emplace_back(node, std::move(*entry));
    } else {
      read->failures.push_back(node.ToString() + ": " + entry.status().message());
      if (!read->answered && !read->spare.empty()) {
        next = read->spare.back();
        read->spare.pop_back();
        ++read->outstanding;
      }
    }
    --read->outstanding;
    if (!read->answered && read->replies >= read->needed) {
      read->answered = true;
      answer = std::move(read->done);
      result = read->best;
    } else if (!read->answered && read->outstanding == 0) {
      read->answered = true;
      answer = std::move(read->done);
      std::string message = "got " + std::to_string(read->replies) + " of " +
                            std::to_string(read->needed) + " required replica answers;";
      for (const std::string& f : read->failures) message += " [" + f + "]";
      result = Unavailable(message);
    }
    if (read->outstanding == 0 && read->best) {
      // Read repair: every replica asked that answered with something older.
      best = read->best;
      for (auto& [n, e] : read->seen) {
        if (!e || e->version < best->version) to_repair.push_back(n);
      }
    }
  }
  if (next) AskReplica(read, *next);
  if (answer) {
    if (!result.ok() && read_failures_) read_failures_->Increment();
    answer(std::move(result));
  }
  for (NodeId n : to_repair) {
    if (read_repairs_) read_repairs_->Increment();
    SendWrite(n, read->ns, {KeyEntry{read->key, *best}}, [n](Status s) {
      if (!s.ok()) {
        spdlog::debug("replication: read repair of {} failed: {}", n.ToString(), s.message());
      }
    });
  }
}

// ---- scans ------------------------------------------------------------------------

void Coordinator::Scan(const NamespaceSpec& ns, ScanOptions options, Consistency consistency,
                       std::function<void(Result<ScanPage>)> done) {
  auto view = CurrentView();
  const std::vector<NodeId> owners = view->ownership.Owners();
  std::vector<NodeId> live;
  for (NodeId n : owners) {
    if (n == self_ || peers_.IsLive(n)) live.push_back(n);
  }
  if (owners.empty()) return done(Unavailable("no node owns namespace '" + ns.name + "' yet"));
  // Every partition must have enough live replicas for the consistency level.
  const PartitionTable& table = view->current.at(ns.replicas);
  if (live.size() < owners.size()) {
    if (Status covered = CheckCoverage(table, view->partitions, live, consistency); !covered.ok()) {
      return done(covered);
    }
  }
  options.include_dead = true;
  options.limit = std::min<size_t>(std::max<size_t>(options.limit, 1), kMaxScanLimit);
  struct Pending {
    std::mutex mu;
    size_t outstanding;
    std::map<std::string, Entry> merged;
    std::optional<std::string> cut;  // smallest last key among pages that had more
    std::vector<std::string> failures;
    std::vector<NodeId> answered;
    std::function<void(Result<ScanPage>)> done;
    size_t limit;
  };
  auto pending = std::make_shared<Pending>();
  pending->outstanding = live.size();
  pending->done = std::move(done);
  pending->limit = options.limit;
  auto on_reply = [pending, view, &table, partitions = view->partitions, consistency](
                      NodeId node, Result<ScanPage> page) {
    std::function<void(Result<ScanPage>)> answer;
    Result<ScanPage> result = ScanPage{};
    {
      std::lock_guard lock(pending->mu);
      if (page.ok()) {
        for (KeyEntry& item : page->items) {
          auto [it, inserted] = pending->merged.emplace(item.key, item.entry);
          if (!inserted) it->second = Merge(it->second, item.entry);
        }
        if (page->more && !page->items.empty()) {
          const std::string& last = page->items.back().key;
          if (!pending->cut || last < *pending->cut) pending->cut = last;
        }
        pending->answered.push_back(node);
      } else {
        pending->failures.push_back(node.ToString() + ": " + page.status().message());
      }
      if (--pending->outstanding > 0) return;
      answer = std::move(pending->done);
      // Owners that failed are fine as long as those that answered hold
      // enough replicas of every partition.
      Status covered = pending->failures.empty()
                           ? Status::Ok()
                           : CheckCoverage(table, partitions, pending->answered, consistency);
      if (!covered.ok()) {
        std::string message = covered.message() + "; failures:";
        for (const std::string& f : pending->failures) message += " [" + f + "]";
        result = Unavailable(message);
      } else {
        ScanPage out;
        for (auto& [key, entry] : pending->merged) {
          if (pending->cut && key > *pending->cut) break;
          if (out.items.size() == pending->limit) {
            out.more = true;
            break;
          }
          out.items.push_back(KeyEntry{key, std::move(entry)});
        }
        if (pending->cut) out.more = true;
        result = std::move(out);
      }
    }
    answer(std::move(result));
  };
  wire::ScanRequest request;
  request.set_ns(ns.name);
  request.set_prefix(options.prefix);
  request.set_start_after(options.start_after);
  request.set_limit(static_cast<uint32_t>(options.limit));
  request.set_keys_only(options.keys_only);
  const std::string payload = request.SerializeAsString();
  for (NodeId node : live) {
    if (node == self_) {
      on_reply(node, local_.store().Scan(ns.name, options));
      continue;
    }
    peers_.Call(node, MessageType::kReplicaScan, payload, options_.request_deadline_ms,
                [on_reply, node](Result<std::string> reply) {
                  if (!reply.ok()) return on_reply(node, reply.status());
                  wire::ScanReply decoded;
                  if (!decoded.ParseFromString(*reply)) {
                    return on_reply(node, InvalidArgument("scan reply does not parse"));
                  }
                  auto entries = DecodeEntries(decoded.entries());
                  if (!entries.ok()) return on_reply(node, entries.status());
                  ScanPage page;
                  page.items = std::move(*entries);
                  page.more = decoded.more();
                  on_reply(node, std::move(page));
                });
  }
}

// ---- replica side ---------------------------------------------------------------

Result<WriteBatch> Coordinator::CheckIncoming(const NamespaceSpec& spec,
                                              std::vector<KeyEntry> entries) {
  WriteBatch batch;
  batch.reserve(entries.size());
  for (KeyEntry& e : entries) {
    if (static_cast<int64_t>(e.entry.value.size()) > spec.max_value_bytes) {
      return ResourceExhausted("value of " + std::to_string(e.entry.value.size()) +
                               " bytes is above namespace '" + spec.name + "''s limit");
    }
    MESHKV_RETURN_IF_ERROR(local_.hlc().Observe(e.entry.version.timestamp));
    if (spec.sync_policy == SyncPolicy::kPrimaryWriter &&
        std::find(spec.writers.begin(), spec.writers.end(), e.entry.version.origin) ==
            spec.writers.end()) {
      continue;  // not from an allowed writer: dropped (DESIGN.md, sync policy)
    }
    batch.push_back(WriteOp{spec.name, std::move(e.key), std::move(e.entry)});
  }
  return batch;
}

void Coordinator::HandleWrite(NodeId from, std::string payload,
                              std::function<void(Result<std::string>)> reply) {
  auto refuse = [this, &reply, from](Status status) {
    if (refused_entries_) refused_entries_->Increment();
    spdlog::warn("replication: refused a write from {}: {}", from.ToString(), status.message());
    reply(status);
  };
  if (holds_no_data_) {
    return refuse(FailedPrecondition("node " + self_.ToString() +
                                     " has role reject_local_writes and stores no data"));
  }
  wire::WriteRequest request;
  if (!request.ParseFromString(payload)) return refuse(InvalidArgument("write does not parse"));
  const NamespaceSpec* spec = local_.FindNamespace(request.ns());
  if (spec == nullptr) {
    return refuse(NotFound("namespace '" + request.ns() + "' is not configured on this node"));
  }
  if (static_cast<size_t>(request.entries_size()) > kMaxEntriesPerRequest) {
    return refuse(InvalidArgument("more than " + std::to_string(kMaxEntriesPerRequest) +
                                  " entries in one write"));
  }
  auto entries = DecodeEntries(request.entries());
  if (!entries.ok()) return refuse(entries.status());
  auto batch = CheckIncoming(*spec, std::move(*entries));
  if (!batch.ok()) return refuse(batch.status());
  local_.ApplyLocal(std::move(*batch), [reply = std::move(reply)](Status s) {
    if (!s.ok()) return reply(s);
    reply(wire::WriteReply().SerializeAsString());
  });
}

void Coordinator::HandleWriteBatch(NodeId from, std::string payload,
                                   std::function<void(Result<std::string>)> reply) {
  auto refuse = [this, &reply, from](Status status) {
    if (refused_entries_) refused_entries_->Increment();
    spdlog::warn("replication: refused a write batch from {}: {}", from.ToString(),
                 status.message());
    reply(status);
  };
  if (holds_no_data_) {
    return refuse(FailedPrecondition("node " + self_.ToString() +
                                     " has role reject_local_writes and stores no data"));
  }
  wire::WriteBatchRequest request;
  if (!request.ParseFromString(payload)) {
    return refuse(InvalidArgument("write batch does not parse"));
  }
  if (static_cast<size_t>(request.parts_size()) > kMaxPartsPerBatch) {
    return refuse(InvalidArgument("more than " + std::to_string(kMaxPartsPerBatch) +
                                  " parts in one write batch"));
  }
  size_t total = 0;
  for (const wire::WriteRequest& part : request.parts()) total += part.entries_size();
  if (total > kMaxEntriesPerRequest) {
    return refuse(InvalidArgument("more than " + std::to_string(kMaxEntriesPerRequest) +
                                  " entries in one write batch"));
  }
  // Each part is checked on its own (one bad part fails only itself); the
  // good ones are applied together.
  auto results = std::make_shared<std::vector<Status>>(request.parts_size());
  WriteBatch combined;
  combined.reserve(total);
  for (int i = 0; i < request.parts_size(); ++i) {
    const wire::WriteRequest& part = request.parts(i);
    const NamespaceSpec* spec = local_.FindNamespace(part.ns());
    if (spec == nullptr) {
      (*results)[i] = NotFound("namespace '" + part.ns() + "' is not configured on this node");
      continue;
    }
    auto entries = DecodeEntries(part.entries());
    if (!entries.ok()) {
      (*results)[i] = entries.status();
      continue;
    }
    auto batch = CheckIncoming(*spec, std::move(*entries));
    if (!batch.ok()) {
      (*results)[i] = batch.status();
      continue;
    }
    for (WriteOp& op : *batch) combined.push_back(std::move(op));
  }
  for (const Status& s : *results) {
    if (!s.ok()) {
      if (refused_entries_) refused_entries_->Increment();
      spdlog::warn("replication: refused part of a write batch from {}: {}", from.ToString(),
                   s.message());
    }
  }
  auto answer = [results, reply = std::move(reply)](const Status& applied) {
    wire::WriteBatchReply out;
    for (const Status& s : *results) {
      const Status& final_status = s.ok() ? applied : s;
      wire::PartResult* r = out.add_results();
      r->set_code(static_cast<uint32_t>(final_status.code()));
      if (!final_status.ok()) r->set_message(final_status.message());
    }
    reply(out.SerializeAsString());
  };
  if (combined.empty()) return answer(Status::Ok());
  local_.ApplyLocal(std::move(combined), std::move(answer));
}

void Coordinator::HandleRead(NodeId from, std::string payload,
                             std::function<void(Result<std::string>)> reply) {
  wire::ReadRequest request;
  if (!request.ParseFromString(payload)) return reply(InvalidArgument("read does not parse"));
  if (local_.FindNamespace(request.ns()) == nullptr) {
    return reply(NotFound("namespace '" + request.ns() + "' is not configured on this node"));
  }
  if (static_cast<size_t>(request.keys_size()) > kMaxKeysPerRead) {
    return reply(InvalidArgument("too many keys in one read"));
  }
  for (const std::string& key : request.keys()) {
    if (Status valid = ValidateKey(key); !valid.ok()) return reply(valid);
  }
  wire::ReadReply out;
  size_t bytes = 0;
  for (int i = 0; i < request.keys_size(); ++i) {
    const std::string& key = request.keys(i);
    auto entry = local_.GetRaw(request.ns(), key);
    if (!entry.ok()) return reply(entry.status());
    if (!entry->has_value()) continue;
    const size_t size = EntryBytes(key, **entry);
    if (out.entries_size() > 0 && bytes + size > kMessageBudgetBytes) {
      out.set_truncated(true);
      out.set_answered(static_cast<uint32_t>(i));
      break;
    }
    bytes += size;
    wire::KeyEntry* e = out.add_entries();
    e->set_key(key);
    e->set_entry(EncodeEntry(**entry));
  }
  reply(out.SerializeAsString());
}

void Coordinator::HandleScan(NodeId from, std::string payload,
                             std::function<void(Result<std::string>)> reply) {
  wire::ScanRequest request;
  if (!request.ParseFromString(payload)) return reply(InvalidArgument("scan does not parse"));
  if (local_.FindNamespace(request.ns()) == nullptr) {
    return reply(NotFound("namespace '" + request.ns() + "' is not configured on this node"));
  }
  ScanOptions options;
  options.prefix = request.prefix();
  options.start_after = request.start_after();
  options.limit = std::clamp<uint32_t>(request.limit(), 1, kMaxScanLimit);
  options.include_dead = true;
  options.keys_only = request.keys_only();
  auto page = local_.store().Scan(request.ns(), options);
  if (!page.ok()) return reply(page.status());
  wire::ScanReply out;
  size_t bytes = 0;
  bool cut = false;
  for (const KeyEntry& item : page->items) {
    const size_t size = EntryBytes(item.key, item.entry);
    if (out.entries_size() > 0 && bytes + size > kMessageBudgetBytes) {
      cut = true;  // the asker pages on from the last entry sent
      break;
    }
    bytes += size;
    wire::KeyEntry* e = out.add_entries();
    e->set_key(item.key);
    e->set_entry(EncodeEntry(item.entry));
  }
  out.set_more(page->more || cut);
  reply(out.SerializeAsString());
}

// ---- catching up ------------------------------------------------------------------

void Coordinator::SetProgress(std::string phase, uint64_t add_entries) {
  std::lock_guard lock(mu_);
  if (!phase.empty()) progress_.phase = std::move(phase);
  progress_.entries += add_entries;
  if (rebalanced_entries_ && add_entries) rebalanced_entries_->Increment(add_entries);
}

Coordinator::RebalanceProgress Coordinator::Progress() const {
  std::lock_guard lock(mu_);
  return progress_;
}

void Coordinator::CatchUp(std::function<void(Status)> done) {
  {
    std::lock_guard lock(mu_);
    progress_ = RebalanceProgress{"catching_up", 0};
  }
  CatchUpFrom(0, "", std::make_shared<uint64_t>(0), [this, done = std::move(done)](Status s) {
    SetProgress(s.ok() ? "done" : "failed: " + s.message(), 0);
    done(s);
  });
}

void Coordinator::StreamOut(std::function<void(Status)> done) {
  {
    std::lock_guard lock(mu_);
    progress_ = RebalanceProgress{"streaming_out", 0};
  }
  StreamOutFrom(0, "", [this, done = std::move(done)](Status s) {
    SetProgress(s.ok() ? "done" : "failed: " + s.message(), 0);
    done(s);
  });
}

void Coordinator::StreamOutFrom(size_t ns_index, std::string start_after,
                                std::function<void(Status)> done) {
  const std::vector<NamespaceSpec>& namespaces = local_.namespaces();
  if (ns_index >= namespaces.size()) {
    spdlog::info("replication: streamed out every entry this node held");
    return done(Status::Ok());
  }
  const NamespaceSpec& ns = namespaces[ns_index];
  ScanOptions options;
  options.start_after = start_after;
  options.limit = 1000;
  options.include_dead = true;
  auto page = local_.store().Scan(ns.name, options);
  if (!page.ok()) return done(page.status());
  auto view = CurrentView();
  // Entries by the node that gains them.
  std::map<NodeId, std::vector<KeyEntry>> gains;
  std::string last;
  for (KeyEntry& item : page->items) {
    last = item.key;
    const PartitionId p = PartitionOf(ns.name, item.key, view->partitions);
    const auto& current = view->Replicas(ns, p);
    for (NodeId n : view->FutureReplicas(ns, p)) {
      if (n == self_ || std::find(current.begin(), current.end(), n) != current.end()) continue;
      gains[n].push_back(item);
    }
  }
  const bool more = page->more && !last.empty();
  const size_t streamed = page->items.size();
  auto shared_done = std::make_shared<std::function<void(Status)>>(std::move(done));
  auto next = [this, ns_index, more, last, streamed, shared_done]() {
    SetProgress("", streamed);
    if (more) return StreamOutFrom(ns_index, last, std::move(*shared_done));
    StreamOutFrom(ns_index + 1, "", std::move(*shared_done));
  };
  if (gains.empty()) return next();
  struct Pending {
    std::mutex mu;
    size_t left;
    Status first_error;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = gains.size();
  for (auto& gain : gains) {
    const NodeId node = gain.first;
    std::vector<KeyEntry>& entries = gain.second;
    // Every gaining node must acknowledge: a decommission that skipped data
    // would lose it when this node stops. On failure the caller retries.
    SendWrite(node, ns.name, std::move(entries), [pending, next, shared_done, node](Status s) {
      Status error;
      {
        std::lock_guard lock(pending->mu);
        if (!s.ok() && pending->first_error.ok()) {
          pending->first_error =
              Unavailable("streaming to " + node.ToString() + " failed: " + s.message());
        }
        if (--pending->left > 0) return;
        error = pending->first_error;
      }
      if (!error.ok()) return (*shared_done)(error);
      next();
    });
  }
}

void Coordinator::CatchUpFrom(size_t ns_index, std::string start_after,
                              std::shared_ptr<uint64_t> merged, std::function<void(Status)> done) {
  const std::vector<NamespaceSpec>& namespaces = local_.namespaces();
  if (ns_index >= namespaces.size()) {
    spdlog::info("replication: caught up, {} entries streamed in", *merged);
    return done(Status::Ok());
  }
  const NamespaceSpec& ns = namespaces[ns_index];
  ScanOptions options;
  options.start_after = start_after;
  options.limit = 1000;
  Scan(ns, options, Consistency::kOne,
       [this, ns_index, merged, done = std::move(done), &ns](Result<ScanPage> page) mutable {
         if (!page.ok()) return done(page.status());
         auto view = CurrentView();
         WriteBatch batch;
         std::string last;
         for (KeyEntry& item : page->items) {
           last = item.key;
           const auto& future =
               view->FutureReplicas(ns, PartitionOf(ns.name, item.key, view->partitions));
           if (std::find(future.begin(), future.end(), self_) == future.end()) continue;
           batch.push_back(WriteOp{ns.name, std::move(item.key), std::move(item.entry)});
         }
         *merged += batch.size();
         SetProgress("", batch.size());
         const bool more = page->more && !last.empty();
         local_.ApplyLocal(std::move(batch), [this, ns_index, more, last, merged,
                                              done = std::move(done)](Status s) mutable {
           if (!s.ok()) return done(s);
           if (more) return CatchUpFrom(ns_index, last, merged, std::move(done));
           CatchUpFrom(ns_index + 1, "", merged, std::move(done));
         });
       });
}

// ---- hints ------------------------------------------------------------------------

void Coordinator::ReplayHints() {
  if (hints_ == nullptr) return;
  if (auto expired = hints_->DropExpired(); !expired.ok()) {
    spdlog::warn("replication: dropping expired hints failed: {}", expired.status().message());
  }
  for (NodeId target : hints_->Targets()) {
    if (!peers_.IsLive(target)) continue;
    if (replay_limiter_.Available() <= 0) return;  // rate limit: the rest next round
    {
      std::lock_guard lock(mu_);
      if (!replaying_.insert(target).second) continue;  // last batch still in flight
    }
    auto batch = hints_->Peek(target, options_.hint_replay_batch_bytes);
    if (!batch.ok() || batch->empty()) {
      std::lock_guard lock(mu_);
      replaying_.erase(target);
      continue;
    }
    std::map<std::string, std::vector<KeyEntry>> by_ns;
    std::map<std::string, std::vector<uint64_t>> seqs;
    std::vector<uint64_t> undecodable;
    int64_t bytes = 0;
    for (replication::Hint& hint : *batch) {
      bytes += static_cast<int64_t>(hint.key.size() + hint.entry.size());
      auto entry = DecodeEntry(hint.entry);
      if (!entry.ok()) {
        undecodable.push_back(hint.seq);
        continue;
      }
      seqs[hint.ns].push_back(hint.seq);
      by_ns[hint.ns].push_back(KeyEntry{std::move(hint.key), std::move(*entry)});
    }
    if (!undecodable.empty()) (void)hints_->Remove(target, undecodable);
    replay_limiter_.Consume(bytes);
    auto outstanding = std::make_shared<std::atomic<size_t>>(by_ns.size());
    if (by_ns.empty()) {
      std::lock_guard lock(mu_);
      replaying_.erase(target);
      continue;
    }
    for (auto& [ns, entries] : by_ns) {
      peers_.Call(target, MessageType::kReplicaWrite, EncodeWrite(ns, entries),
                  options_.request_deadline_ms,
                  [this, target, outstanding, done_seqs = seqs[ns]](Result<std::string> reply) {
                    if (reply.ok()) {
                      Status removed = hints_->Remove(target, done_seqs);
                      if (!removed.ok()) {
                        spdlog::warn("replication: cannot remove replayed hints: {}",
                                     removed.message());
                      }
                    }  // else: retried on a later round
                    if (outstanding->fetch_sub(1) == 1) {
                      std::lock_guard lock(mu_);
                      replaying_.erase(target);
                    }
                  });
    }
  }
}

}  // namespace meshkv::replication
