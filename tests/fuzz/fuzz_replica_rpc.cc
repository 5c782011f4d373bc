// Fuzzes the replica side of the replication peer RPCs (src/replication):
// Coordinator::HandleWrite/HandleWriteBatch/HandleRead/HandleScan,
// AntiEntropy::HandleSummary/HandleLeaves/HandleKeys and
// OwnershipState::Decode + Merge, fed payloads as another node (or a
// stranger) would send them.
//
// One 3-node in-process cluster is built on first use and kept across inputs
// (rebuilt every kResetEvery inputs so memory stays bounded): memory stores,
// an Hlc and KvService per node (no GroupCommitter, so every apply is
// inline), a HintStore, a peer channel that calls the other nodes' handlers
// in process, a Coordinator with every node `normal`, a DigestIndex fed by
// the KvService and an AntiEntropy engine (not started). Namespaces: RF3
// `default`, replicas=all `everywhere`, RF2 `two`, and RF2 `primary`
// (sync_policy primary_writer, only node 0 writes, values up to 64 bytes).
// A FakeClock moves 1 ms per input, so HLC skew checks are deterministic.
// Because the cluster carries state from earlier inputs, a crash found in a
// run may need the inputs before it; the crash input alone usually does.
//
// Input: byte 0 picks the operation (mod 17), byte 1 the sender (low 2 bits:
// node 0..2, or 3 for a stranger) and the receiving node (one of the other
// nodes), the rest is the payload. Operations 0..7 hand the payload as is to
// HandleWrite, HandleWriteBatch, HandleRead, HandleScan, HandleSummary,
// HandleLeaves, HandleKeys, OwnershipState::Decode; operations 8..15 build a
// well-formed request for the same handler from it (FuzzedDataProvider):
// valid keys and entries, timestamps around the clock, partitions and leaves
// the two nodes share, ownership digests and combined roots that match, so
// the fuzzer gets past the first checks. Operation 16 issues client writes
// through a coordinator with the replica writes held back, so that they are
// coalesced into kReplicaWriteBatch requests. Seeds in
// seeds/fuzz_replica_rpc/ are protobuf payloads for operations 0..7.
//
// Properties checked beyond "does not crash":
// - every reply callback runs exactly once (handlers, channel, client writes);
// - each handler accepts exactly the requests its contract allows (parses,
//   namespace configured, within the request limits, keys and entries valid,
//   values within max_value_bytes, timestamps within max_clock_skew,
//   partitions/leaves shared with the sender in the receiver's view), and
//   refuses the others with the code of the first failed check;
// - a refused write changes nothing: writes_applied, the stored entries and
//   the DigestIndex roots of their partitions are unchanged; an accepted one
//   applies exactly the entries the sync policy lets through, each stored at
//   its version or a later one; a write batch answers one result per part,
//   applies the good parts and leaves keys only bad parts carry alone;
// - OK replies parse as their reply message and agree with the receiver's
//   store and DigestIndex: a read returns the raw entry of every requested
//   key held, in order; a scan page is ascending, within the prefix, after
//   start_after, at most `limit` entries, each the stored one, and `more`
//   says whether the range goes on; a summary says ownership_differs / match
//   exactly when the harness's view and hash over the receiver's roots say
//   so, and otherwise labels each requested namespace with its own roots;
//   leaves are the index's; keys are sorted, in their leaf and partition,
//   each with the digest of the stored entry;
// - a decoded ownership state round-trips through Encode, and merging it
//   into a copy of the receiver's state is idempotent and commutative (the
//   live coordinators are never changed: placement stays put);
// - every kCheckEvery inputs, each node's DigestIndex has the same partition
//   roots and sizes as one rebuilt from its store.
#include <fuzzer/FuzzedDataProvider.h>
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/hlc.h"
#include "fuzz_check.h"
#include "replication/anti_entropy.h"
#include "replication/coordinator.h"
#include "replication/digest_index.h"
#include "replication/hash_tree.h"
#include "replication/hints.h"
#include "replication/kv_service.h"
#include "replication/ownership.h"
#include "replication/placement.h"
#include "replication/replication.pb.h"
#include "storage/store.h"

namespace {

using namespace meshkv;
using namespace meshkv::replication;
using transport::MessageType;
using Reply = std::function<void(Result<std::string>)>;

constexpr int kNodes = 3;
constexpr NodeId kIds[kNodes] = {NodeId(0x1000), NodeId(0x1001), NodeId(0x1002)};
constexpr NodeId kStranger(0x5eed'0000'0000'0001);
constexpr int64_t kStartMillis = 1'700'000'000'000;
constexpr int64_t kMaxSkewMillis = 500;
constexpr uint32_t kPartitions = kDefaultPartitions;
constexpr uint64_t kCheckEvery = 256;   // inputs between index-vs-store checks
constexpr uint64_t kResetEvery = 8192;  // inputs between cluster rebuilds

// The handlers' request limits (private constants of coordinator.cc and
// anti_entropy.cc; a change there shows up here as a failed check).
constexpr int kMaxEntriesPerRequest = 10'000;  // also per write batch, all parts together
constexpr int kMaxPartsPerBatch = 10'000;
constexpr int kMaxKeysPerRead = 10'000;
constexpr uint32_t kMaxScanLimit = 10'000;
constexpr int kMaxNamespacesPerRequest = 64;
constexpr int kMaxPartitionsPerRequest = 1'024;
constexpr int kMaxLeafRefsPerRequest = 1'024;

std::vector<NamespaceSpec> Namespaces() {
  NamespaceSpec rf3;
  rf3.name = "default";
  rf3.replicas = 3;
  NamespaceSpec all;
  all.name = "everywhere";
  all.replicas = NamespaceSpec::kReplicasAll;
  NamespaceSpec rf2;
  rf2.name = "two";
  rf2.replicas = 2;
  NamespaceSpec primary;
  primary.name = "primary";
  primary.replicas = 2;
  primary.sync_policy = SyncPolicy::kPrimaryWriter;
  primary.writers = {kIds[0]};
  primary.max_value_bytes = 64;
  return {rf3, all, rf2, primary};
}

std::vector<std::string> NamespaceNames() {
  std::vector<std::string> names;
  for (const NamespaceSpec& spec : Namespaces()) names.push_back(spec.name);
  return names;
}

// Runs `handler` with a reply callback and checks it was called exactly once
// (every handler here answers inline: no GroupCommitter, synchronous peers).
Result<std::string> CallOnce(const std::function<void(Reply)>& handler) {
  auto calls = std::make_shared<int>(0);
  auto out = std::make_shared<std::optional<Result<std::string>>>();
  handler([calls, out](Result<std::string> reply) {
    ++*calls;
    if (!out->has_value()) *out = std::move(reply);
  });
  FUZZ_CHECK(*calls == 1);
  return std::move(**out);
}

bool HasCode(const Status& status, std::initializer_list<ErrorCode> codes) {
  return std::find(codes.begin(), codes.end(), status.code()) != codes.end();
}

// ---- the cluster ---------------------------------------------------------------

struct Cluster;

// Delivers peer RPCs to the other nodes' handlers: at once, or (while the
// cluster is `queued`) when Pump() gets to them, so that a coordinator sees
// its writes in flight and coalesces the next ones into a kReplicaWriteBatch.
class SyncChannel final : public PeerChannel {
 public:
  SyncChannel(Cluster& cluster, NodeId self) : cluster_(cluster), self_(self) {}
  bool IsLive(NodeId node) const override;
  void Call(NodeId node, MessageType type, std::string payload, int64_t deadline_ms,
            Reply done) override;

 private:
  Cluster& cluster_;
  NodeId self_;
};

struct Pending {
  NodeId from, to;
  MessageType type;
  std::string payload;
  Reply done;
};

struct Node {
  NodeId id;
  std::unique_ptr<Store> store;
  std::unique_ptr<Hlc> hlc;
  std::unique_ptr<KvService> kv;
  std::unique_ptr<HintStore> hints;
  std::unique_ptr<SyncChannel> channel;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<DigestIndex> index;
  std::unique_ptr<AntiEntropy> ae;
};

struct Cluster {
  FakeClock clock{kStartMillis};
  bool queued = false;
  std::deque<Pending> queue;
  std::vector<std::unique_ptr<Node>> nodes;  // after the clock: destroyed first

  Cluster() {
    OwnershipState ownership;
    for (NodeId id : kIds) ownership.Set(id, OwnerState::kNormal);
    for (NodeId id : kIds) {
      auto node = std::make_unique<Node>();
      node->id = id;
      node->store = NewMemoryStore(Namespaces());
      node->hlc = std::make_unique<Hlc>(clock, kMaxSkewMillis);
      node->kv =
          std::make_unique<KvService>(*node->store, nullptr, *node->hlc, clock, id, Namespaces());
      node->hints = std::make_unique<HintStore>(node->store->local(), clock, HintLimits{}, nullptr);
      FUZZ_CHECK(node->hints->Load().ok());
      node->channel = std::make_unique<SyncChannel>(*this, id);
      CoordinatorOptions options;
      options.partitions = kPartitions;
      node->coordinator = std::make_unique<Coordinator>(*node->kv, *node->channel,
                                                        node->hints.get(), options, nullptr);
      node->kv->SetRouter(node->coordinator.get());
      node->index = std::make_unique<DigestIndex>(NamespaceNames(), kPartitions, clock);
      node->kv->SetDigestIndex(node->index.get());
      AntiEntropyOptions ae_options;
      ae_options.interval_ms = 0;
      ae_options.bytes_per_second = 0;
      node->ae = std::make_unique<AntiEntropy>(*node->kv, *node->coordinator, *node->channel,
                                               *node->index, ae_options, nullptr);
      node->coordinator->MergeOwnership(ownership);
      nodes.push_back(std::move(node));
    }
  }

  Node* Find(NodeId id) {
    for (auto& node : nodes) {
      if (node->id == id) return node.get();
    }
    return nullptr;
  }

  void Deliver(Pending call);
  // Delivers queued calls in order (and those they cause) until none is left.
  void Pump() {
    while (!queue.empty()) {
      Pending call = std::move(queue.front());
      queue.pop_front();
      Deliver(std::move(call));
    }
  }
};

// Delivers a peer RPC to `to`'s handler, as the node's RPC server does.
void Dispatch(Node& to, NodeId from, MessageType type, std::string payload, Reply done) {
  switch (type) {
    case MessageType::kReplicaWrite:
      return to.coordinator->HandleWrite(from, std::move(payload), std::move(done));
    case MessageType::kReplicaRead:
      return to.coordinator->HandleRead(from, std::move(payload), std::move(done));
    case MessageType::kReplicaScan:
      return to.coordinator->HandleScan(from, std::move(payload), std::move(done));
    case MessageType::kAeSummary:
      return to.ae->HandleSummary(from, std::move(payload), std::move(done));
    case MessageType::kAeLeaves:
      return to.ae->HandleLeaves(from, std::move(payload), std::move(done));
    case MessageType::kAeKeys:
      return to.ae->HandleKeys(from, std::move(payload), std::move(done));
    case MessageType::kReplicaWriteBatch:
      return to.coordinator->HandleWriteBatch(from, std::move(payload), std::move(done));
    default:
      return done(InvalidArgument("unexpected message type"));
  }
}

bool SyncChannel::IsLive(NodeId node) const {
  return node != self_ && cluster_.Find(node) != nullptr;
}

void SyncChannel::Call(NodeId node, MessageType type, std::string payload, int64_t, Reply done) {
  if (node == self_ || cluster_.Find(node) == nullptr) return done(Unavailable("no such peer"));
  Pending call{self_, node, type, std::move(payload), std::move(done)};
  if (cluster_.queued) {
    cluster_.queue.push_back(std::move(call));
    return;
  }
  cluster_.Deliver(std::move(call));
}

void Cluster::Deliver(Pending call) {
  Node* to = Find(call.to);
  Result<std::string> reply = CallOnce([to, &call](Reply r) {
    Dispatch(*to, call.from, call.type, std::move(call.payload), std::move(r));
  });
  call.done(std::move(reply));
}

// Every node's DigestIndex equals one rebuilt from its store.
void CheckIndexes(Cluster& cluster) {
  const std::vector<std::string> names = NamespaceNames();
  for (auto& node : cluster.nodes) {
    DigestIndex fresh(names, kPartitions, cluster.clock);
    FUZZ_CHECK(fresh.Rebuild(*node->store).ok());
    for (size_t ns = 0; ns < names.size(); ++ns) {
      FUZZ_CHECK(fresh.Size(ns) == node->index->Size(ns));
      for (uint32_t p = 0; p < kPartitions; ++p) {
        FUZZ_CHECK(fresh.PartitionRoot(ns, PartitionId(p)) ==
                   node->index->PartitionRoot(ns, PartitionId(p)));
      }
    }
  }
}

// ---- the handlers and their properties ------------------------------------------------

// What HandleWrite answers for `request`, and what HandleWriteBatch answers
// for it as one part (`part`: no per-request entry limit): OK, or the code of
// the first check it fails (namespace, entry count, keys and encodings, then
// value size and HLC skew entry by entry, as Coordinator::CheckIncoming).
ErrorCode ExpectedWriteCode(Node& to, const wire::WriteRequest& request, int64_t now_ms,
                            bool part) {
  const NamespaceSpec* spec = to.kv->FindNamespace(request.ns());
  if (spec == nullptr) return ErrorCode::kNotFound;
  if (!part && request.entries_size() > kMaxEntriesPerRequest) return ErrorCode::kInvalidArgument;
  for (const wire::KeyEntry& e : request.entries()) {
    if (!ValidateKey(e.key()).ok() || !DecodeEntry(e.entry()).ok()) {
      return ErrorCode::kInvalidArgument;
    }
  }
  for (const wire::KeyEntry& e : request.entries()) {
    const Entry entry = *DecodeEntry(e.entry());
    if (static_cast<int64_t>(entry.value.size()) > spec->max_value_bytes) {
      return ErrorCode::kResourceExhausted;
    }
    if (entry.version.timestamp.wall_millis() - now_ms > kMaxSkewMillis) {
      return ErrorCode::kInvalidArgument;
    }
  }
  return ErrorCode::kOk;
}

// Entries of an accepted request the sync policy lets through.
std::vector<KeyEntry> AllowedEntries(Node& to, const wire::WriteRequest& request) {
  const NamespaceSpec* spec = to.kv->FindNamespace(request.ns());
  std::vector<KeyEntry> out;
  for (const wire::KeyEntry& e : request.entries()) {
    Entry entry = *DecodeEntry(e.entry());
    if (spec->sync_policy == SyncPolicy::kPrimaryWriter &&
        std::find(spec->writers.begin(), spec->writers.end(), entry.version.origin) ==
            spec->writers.end()) {
      continue;
    }
    out.push_back(KeyEntry{e.key(), std::move(entry)});
  }
  return out;
}

// The stored entries (and their partitions' roots) of the valid keys of
// some write requests, to tell what a write changed.
struct Snapshot {
  struct Key {
    std::string ns;
    std::string key;
    std::optional<Entry> stored;
    size_t ns_index = 0;
    PartitionId partition;
    uint64_t root = 0;
  };
  uint64_t writes_applied = 0;
  std::vector<Key> keys;

  Snapshot(Node& node, const std::vector<const wire::WriteRequest*>& requests) {
    writes_applied = node.store->Stats().writes_applied;
    for (const wire::WriteRequest* request : requests) {
      const auto ns_index = node.index->NamespaceIndex(request->ns());
      if (!ns_index) continue;
      for (const wire::KeyEntry& e : request->entries()) {
        if (!ValidateKey(e.key()).ok() || keys.size() >= 64) continue;
        Key k;
        k.ns = request->ns();
        k.key = e.key();
        auto stored = node.kv->GetRaw(k.ns, k.key);
        FUZZ_CHECK(stored.ok());
        k.stored = *stored;
        k.ns_index = *ns_index;
        k.partition = PartitionOf(k.ns, k.key, kPartitions);
        k.root = node.index->PartitionRoot(k.ns_index, k.partition);
        keys.push_back(std::move(k));
      }
    }
  }

  // Nothing of `node` changed: writes, entries, index roots.
  void CheckUnchanged(Node& node) const {
    FUZZ_CHECK(node.store->Stats().writes_applied == writes_applied);
    for (const Key& k : keys) {
      auto stored = node.kv->GetRaw(k.ns, k.key);
      FUZZ_CHECK(stored.ok() && *stored == k.stored);
      FUZZ_CHECK(node.index->PartitionRoot(k.ns_index, k.partition) == k.root);
    }
  }
};

// Every entry of `applied` is stored at its version or a later one.
void CheckApplied(Node& to, const std::string& ns, const std::vector<KeyEntry>& applied) {
  for (const KeyEntry& e : applied) {
    auto stored = to.kv->GetRaw(ns, e.key);
    FUZZ_CHECK(stored.ok() && stored->has_value());
    FUZZ_CHECK((*stored)->version >= e.entry.version);
  }
}

void CheckWrite(Cluster& cluster, Node& to, NodeId from, std::string payload) {
  wire::WriteRequest request;
  const bool parsed = request.ParseFromString(payload);
  const int64_t now_ms = cluster.clock.NowMillis();
  const ErrorCode expected =
      parsed ? ExpectedWriteCode(to, request, now_ms, /*part=*/false) : ErrorCode::kInvalidArgument;
  const Snapshot before(to, {&request});

  Result<std::string> reply = CallOnce([&to, from, &payload](Reply r) {
    to.coordinator->HandleWrite(from, std::move(payload), std::move(r));
  });
  FUZZ_CHECK(reply.status().code() == expected);
  if (!reply.ok()) {
    before.CheckUnchanged(to);
    return;
  }
  wire::WriteReply decoded_reply;
  FUZZ_CHECK(decoded_reply.ParseFromString(*reply));
  const std::vector<KeyEntry> allowed = AllowedEntries(to, request);
  FUZZ_CHECK(to.store->Stats().writes_applied - before.writes_applied == allowed.size());
  CheckApplied(to, request.ns(), allowed);
}

void CheckWriteBatch(Cluster& cluster, Node& to, NodeId from, std::string payload) {
  wire::WriteBatchRequest request;
  const bool parsed = request.ParseFromString(payload);
  int64_t total = 0;
  for (const wire::WriteRequest& part : request.parts()) total += part.entries_size();
  const bool refused =
      !parsed || request.parts_size() > kMaxPartsPerBatch || total > kMaxEntriesPerRequest;
  const int64_t now_ms = cluster.clock.NowMillis();
  std::vector<const wire::WriteRequest*> parts;
  for (const wire::WriteRequest& part : request.parts()) parts.push_back(&part);
  const Snapshot before(to, parts);

  Result<std::string> reply = CallOnce([&to, from, &payload](Reply r) {
    to.coordinator->HandleWriteBatch(from, std::move(payload), std::move(r));
  });
  if (refused) {
    FUZZ_CHECK(!reply.ok() && reply.status().code() == ErrorCode::kInvalidArgument);
    before.CheckUnchanged(to);
    return;
  }
  FUZZ_CHECK(reply.ok());
  wire::WriteBatchReply out;
  FUZZ_CHECK(out.ParseFromString(*reply));
  FUZZ_CHECK(out.results_size() == request.parts_size());
  // Each part answered on its own; the good ones applied together.
  uint64_t applied = 0;
  std::set<std::pair<std::string, std::string>> written;  // (ns, key) of good parts
  for (int i = 0; i < request.parts_size(); ++i) {
    const wire::WriteRequest& part = request.parts(i);
    const ErrorCode code = ExpectedWriteCode(to, part, now_ms, /*part=*/true);
    FUZZ_CHECK(out.results(i).code() == static_cast<uint32_t>(code));
    FUZZ_CHECK(out.results(i).message().empty() == (code == ErrorCode::kOk));
    if (code != ErrorCode::kOk) continue;
    const std::vector<KeyEntry> allowed = AllowedEntries(to, part);
    applied += allowed.size();
    CheckApplied(to, part.ns(), allowed);
    for (const wire::KeyEntry& e : part.entries()) written.emplace(part.ns(), e.key());
  }
  FUZZ_CHECK(to.store->Stats().writes_applied - before.writes_applied == applied);
  // Keys only refused parts carried are as they were.
  for (const Snapshot::Key& k : before.keys) {
    if (written.count({k.ns, k.key})) continue;
    auto stored = to.kv->GetRaw(k.ns, k.key);
    FUZZ_CHECK(stored.ok() && *stored == k.stored);
  }
}

void CheckRead(Node& to, NodeId from, std::string payload) {
  wire::ReadRequest request;
  const bool parsed = request.ParseFromString(payload);
  const bool known = parsed && to.kv->FindNamespace(request.ns()) != nullptr;
  bool valid = known && request.keys_size() <= kMaxKeysPerRead;
  if (valid) {
    for (const std::string& key : request.keys()) valid = valid && ValidateKey(key).ok();
  }

  Result<std::string> reply = CallOnce([&to, from, &payload](Reply r) {
    to.coordinator->HandleRead(from, std::move(payload), std::move(r));
  });
  if (!reply.ok()) {
    FUZZ_CHECK(!valid);
    FUZZ_CHECK(HasCode(reply.status(), {ErrorCode::kInvalidArgument, ErrorCode::kNotFound}));
    FUZZ_CHECK((reply.status().code() == ErrorCode::kNotFound) == (parsed && !known));
    return;
  }
  FUZZ_CHECK(valid);
  wire::ReadReply out;
  FUZZ_CHECK(out.ParseFromString(*reply));
  // The raw entry of every requested key the replica holds, in request order.
  int next = 0;
  for (const std::string& key : request.keys()) {
    auto stored = to.kv->GetRaw(request.ns(), key);
    FUZZ_CHECK(stored.ok());
    if (!stored->has_value()) continue;
    FUZZ_CHECK(next < out.entries_size());
    const wire::KeyEntry& e = out.entries(next++);
    FUZZ_CHECK(e.key() == key);
    auto entry = DecodeEntry(e.entry());
    FUZZ_CHECK(entry.ok() && *entry == **stored);
  }
  FUZZ_CHECK(next == out.entries_size());
}

void CheckScan(Node& to, NodeId from, std::string payload) {
  wire::ScanRequest request;
  const bool parsed = request.ParseFromString(payload);
  const bool known = parsed && to.kv->FindNamespace(request.ns()) != nullptr;

  Result<std::string> reply = CallOnce([&to, from, &payload](Reply r) {
    to.coordinator->HandleScan(from, std::move(payload), std::move(r));
  });
  if (!reply.ok()) {
    FUZZ_CHECK(!known);
    FUZZ_CHECK(reply.status().code() ==
               (parsed ? ErrorCode::kNotFound : ErrorCode::kInvalidArgument));
    return;
  }
  FUZZ_CHECK(known);
  wire::ScanReply out;
  FUZZ_CHECK(out.ParseFromString(*reply));
  const uint32_t limit = std::clamp<uint32_t>(request.limit(), 1, kMaxScanLimit);
  FUZZ_CHECK(static_cast<uint32_t>(out.entries_size()) <= limit);
  const std::string* previous = nullptr;
  for (const wire::KeyEntry& e : out.entries()) {
    FUZZ_CHECK(ValidateKey(e.key()).ok());
    FUZZ_CHECK(e.key().compare(0, request.prefix().size(), request.prefix()) == 0);
    FUZZ_CHECK(e.key() > request.start_after());
    if (previous != nullptr) FUZZ_CHECK(*previous < e.key());
    previous = &e.key();
    auto entry = DecodeEntry(e.entry());
    FUZZ_CHECK(entry.ok());
    auto stored = to.kv->GetRaw(request.ns(), e.key());
    FUZZ_CHECK(stored.ok() && stored->has_value());
    Entry expected = **stored;
    if (request.keys_only()) expected.value.clear();
    FUZZ_CHECK(*entry == expected);
  }
  // `more` says exactly whether the range goes on (dead entries included).
  ScanOptions rest;
  rest.prefix = request.prefix();
  rest.start_after = previous != nullptr ? *previous : request.start_after();
  rest.limit = 1;
  rest.include_dead = true;
  auto page = to.store->Scan(request.ns(), rest);
  FUZZ_CHECK(page.ok());
  FUZZ_CHECK(page->items.empty() == !out.more());
}

// anti_entropy.cc's CombineRoots: one hash over (namespace, partition, root)
// of every shared partition, in order.
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

// The partitions `node` shares with `peer` for each of `names`, and their
// roots in `node`'s index.
struct SharedView {
  uint64_t owners_digest = 0;
  std::vector<std::vector<PartitionId>> partitions;
  std::vector<std::vector<uint64_t>> roots;
};
SharedView ViewOf(Node& node, NodeId peer, const std::vector<std::string>& names) {
  SharedView view;
  for (const std::string& name : names) {
    const NamespaceSpec* spec = node.kv->FindNamespace(name);
    FUZZ_CHECK(spec != nullptr);
    const size_t ns_index = *node.index->NamespaceIndex(name);
    std::vector<PartitionId> parts =
        node.coordinator->SharedPartitions(*spec, peer, &view.owners_digest);
    std::vector<uint64_t> roots;
    for (PartitionId p : parts) roots.push_back(node.index->PartitionRoot(ns_index, p));
    view.partitions.push_back(std::move(parts));
    view.roots.push_back(std::move(roots));
  }
  return view;
}

void CheckSummary(Node& to, NodeId from, std::string payload) {
  wire::AeSummaryRequest request;
  const bool parsed = request.ParseFromString(payload);
  const std::vector<std::string> names(request.namespaces().begin(), request.namespaces().end());
  bool known = true;
  for (const std::string& name : names) known = known && to.kv->FindNamespace(name) != nullptr;

  const std::set<std::string> distinct(names.begin(), names.end());

  Result<std::string> reply = CallOnce([&to, from, &payload](Reply r) {
    to.ae->HandleSummary(from, std::move(payload), std::move(r));
  });
  if (!parsed || names.empty() || names.size() > static_cast<size_t>(kMaxNamespacesPerRequest)) {
    FUZZ_CHECK(!reply.ok() && reply.status().code() == ErrorCode::kInvalidArgument);
    return;
  }
  if (!known) {
    FUZZ_CHECK(!reply.ok() && reply.status().code() == ErrorCode::kNotFound);
    return;
  }
  if (distinct.size() != names.size()) {  // a namespace listed twice
    FUZZ_CHECK(!reply.ok() && reply.status().code() == ErrorCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(reply.ok());
  wire::AeSummaryReply out;
  FUZZ_CHECK(out.ParseFromString(*reply));
  FUZZ_CHECK(!(out.ownership_differs() && out.match()));

  // The receiver's view of what it shares with `from`: both sides must have
  // decided placement from the same owner set; namespaces are answered in
  // the order the request lists them, each labelled with its name.
  uint64_t owners_digest = 0;
  to.coordinator->SharedPartitions(*to.kv->FindNamespace("default"), from, &owners_digest);
  const bool must_differ = owners_digest != request.ownership_digest();
  FUZZ_CHECK(out.ownership_differs() == must_differ);
  if (out.ownership_differs()) {
    FUZZ_CHECK(out.namespaces_size() == 0);
    return;
  }
  const SharedView view = ViewOf(to, from, names);
  const bool match = CombineRoots(names, view.partitions, view.roots) == request.combined();
  FUZZ_CHECK(out.match() == match);
  if (match) {
    FUZZ_CHECK(out.namespaces_size() == 0);
    return;
  }
  // The receiver's roots, each list labelled with its namespace.
  FUZZ_CHECK(out.namespaces_size() == static_cast<int>(names.size()));
  for (size_t i = 0; i < names.size(); ++i) {
    const wire::AeNamespaceRoots& roots = out.namespaces(static_cast<int>(i));
    FUZZ_CHECK(roots.ns() == names[i]);
    FUZZ_CHECK(std::vector<uint64_t>(roots.roots().begin(), roots.roots().end()) == view.roots[i]);
  }
}

void CheckLeaves(Node& to, NodeId from, std::string payload) {
  wire::AeLeavesRequest request;
  const bool parsed = request.ParseFromString(payload);
  const NamespaceSpec* spec = parsed ? to.kv->FindNamespace(request.ns()) : nullptr;
  std::set<PartitionId> shared;
  if (spec != nullptr) {
    for (PartitionId p : to.coordinator->SharedPartitions(*spec, from, nullptr)) shared.insert(p);
  }
  bool all_shared = true;
  for (uint32_t p : request.partitions()) all_shared = all_shared && shared.count(PartitionId(p));

  Result<std::string> reply = CallOnce([&to, from, &payload](Reply r) {
    to.ae->HandleLeaves(from, std::move(payload), std::move(r));
  });
  if (!parsed || spec == nullptr || request.partitions_size() > kMaxPartitionsPerRequest ||
      !all_shared) {
    FUZZ_CHECK(!reply.ok());
    FUZZ_CHECK(HasCode(reply.status(), {ErrorCode::kInvalidArgument, ErrorCode::kNotFound,
                                        ErrorCode::kFailedPrecondition}));
    return;
  }
  FUZZ_CHECK(reply.ok());
  wire::AeLeavesReply out;
  FUZZ_CHECK(out.ParseFromString(*reply));
  FUZZ_CHECK(out.partitions_size() == request.partitions_size());
  const size_t ns_index = *to.index->NamespaceIndex(spec->name);
  for (int i = 0; i < out.partitions_size(); ++i) {
    const wire::AePartitionLeaves& leaves = out.partitions(i);
    FUZZ_CHECK(leaves.partition() == request.partitions(i));
    FUZZ_CHECK(leaves.leaves_size() == static_cast<int>(DigestIndex::kLeaves));
    FUZZ_CHECK(std::vector<uint64_t>(leaves.leaves().begin(), leaves.leaves().end()) ==
               to.index->Leaves(ns_index, PartitionId(leaves.partition())));
  }
}

void CheckKeys(Node& to, NodeId from, std::string payload) {
  wire::AeKeysRequest request;
  const bool parsed = request.ParseFromString(payload);
  const NamespaceSpec* spec = parsed ? to.kv->FindNamespace(request.ns()) : nullptr;
  std::set<PartitionId> shared;
  if (spec != nullptr) {
    for (PartitionId p : to.coordinator->SharedPartitions(*spec, from, nullptr)) shared.insert(p);
  }
  bool all_shared = true;
  for (const wire::AeLeafRef& ref : request.leaves()) {
    all_shared = all_shared && shared.count(PartitionId(ref.partition())) &&
                 ref.leaf() < DigestIndex::kLeaves;
  }

  Result<std::string> reply = CallOnce([&to, from, &payload](Reply r) {
    to.ae->HandleKeys(from, std::move(payload), std::move(r));
  });
  if (!parsed || spec == nullptr || request.leaves_size() > kMaxLeafRefsPerRequest || !all_shared) {
    FUZZ_CHECK(!reply.ok());
    FUZZ_CHECK(HasCode(reply.status(), {ErrorCode::kInvalidArgument, ErrorCode::kNotFound,
                                        ErrorCode::kFailedPrecondition}));
    return;
  }
  FUZZ_CHECK(reply.ok());
  wire::AeKeysReply out;
  FUZZ_CHECK(out.ParseFromString(*reply));
  // Complete leaves, in request order (some may be left out).
  int next_ref = 0;
  for (const wire::AeLeafKeys& leaf : out.leaves()) {
    while (next_ref < request.leaves_size() &&
           (request.leaves(next_ref).partition() != leaf.partition() ||
            request.leaves(next_ref).leaf() != leaf.leaf())) {
      ++next_ref;
    }
    FUZZ_CHECK(next_ref < request.leaves_size());
    ++next_ref;
    FUZZ_CHECK(leaf.keys_size() == leaf.digests_size());
    for (int i = 0; i < leaf.keys_size(); ++i) {
      const std::string& key = leaf.keys(i);
      if (i > 0) FUZZ_CHECK(leaf.keys(i - 1) < key);
      FUZZ_CHECK(PartitionOf(spec->name, key, kPartitions).value() == leaf.partition());
      FUZZ_CHECK(to.index->LeafOf(key) == leaf.leaf());
      // The index agrees with the store on this key.
      auto stored = to.kv->GetRaw(spec->name, key);
      FUZZ_CHECK(stored.ok() && stored->has_value());
      FUZZ_CHECK(EntryDigest(key, **stored) == leaf.digests(i));
    }
  }
}

void CheckOwnership(Node& to, std::string_view payload) {
  auto decoded = OwnershipState::Decode(payload);
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().code() == ErrorCode::kInvalidArgument);
    return;
  }
  for (const auto& record : decoded->records()) {
    FUZZ_CHECK(record.first.valid());
    FUZZ_CHECK(record.second.state <= OwnerState::kRemoved);
  }
  auto again = OwnershipState::Decode(decoded->Encode());
  FUZZ_CHECK(again.ok() && *again == *decoded);

  // Merge into a copy of the receiver's state (the live one stays as is).
  const OwnershipState live = to.coordinator->Ownership();
  OwnershipState ours = live;
  ours.Merge(*decoded);
  FUZZ_CHECK(!ours.Merge(*decoded));  // idempotent
  OwnershipState theirs = *decoded;
  theirs.Merge(live);
  FUZZ_CHECK(theirs == ours);  // commutative
  for (const auto& record : ours.records()) {
    auto before = live.Find(record.first);
    if (before) FUZZ_CHECK(record.second.version >= before->version);
  }
  FUZZ_CHECK(to.coordinator->Ownership() == live);
}

// ---- well-formed requests from fuzz bytes -------------------------------------------

// Keys that collide across inputs, so reads, scans and anti-entropy find
// what earlier writes stored; sometimes an arbitrary (or invalid) one.
std::string PickKey(FuzzedDataProvider& fdp) {
  static const std::string kPool[] = {
      "a", "b", "key-1", "key-2", "key-3", "zone/x", "zone/y", std::string("\x00\xff", 2), "k"};
  switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
    case 0:
      return fdp.ConsumeRandomLengthString(64);
    case 1:
      return std::string(fdp.ConsumeBool() ? kMaxKeyBytes : kMaxKeyBytes + 1, 'x');
    case 2:
      return "";
    default: {
      std::string key = kPool[fdp.ConsumeIntegralInRange<size_t>(0, std::size(kPool) - 1)];
      if (fdp.ConsumeBool()) key += static_cast<char>('0' + fdp.ConsumeIntegralInRange<int>(0, 9));
      return key;
    }
  }
}

std::string PickNamespace(FuzzedDataProvider& fdp) {
  const std::vector<std::string> names = NamespaceNames();
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0) return fdp.ConsumeRandomLengthString(16);
  return names[fdp.ConsumeIntegralInRange<size_t>(0, names.size() - 1)];
}

NodeId PickOrigin(FuzzedDataProvider& fdp) {
  switch (fdp.ConsumeIntegralInRange<int>(0, 5)) {
    case 0:
      return kStranger;
    case 1:
      return NodeId(fdp.ConsumeIntegral<uint64_t>());
    default:
      return kIds[fdp.ConsumeIntegralInRange<int>(0, kNodes - 1)];
  }
}

std::string MakeEncodedEntry(FuzzedDataProvider& fdp, int64_t now_ms) {
  Entry entry;
  const int64_t wall = now_ms + fdp.ConsumeIntegralInRange<int64_t>(-10'000, 2 * kMaxSkewMillis);
  entry.version.timestamp = HlcTimestamp::FromParts(wall, fdp.ConsumeIntegral<uint16_t>());
  entry.version.origin = PickOrigin(fdp);
  entry.tombstone = fdp.ConsumeIntegralInRange<int>(0, 3) == 0;
  switch (fdp.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      entry.expires_at_ms = now_ms + fdp.ConsumeIntegralInRange<int64_t>(-1'000, 100'000);
      break;
    case 1:
      entry.expires_at_ms = fdp.ConsumeIntegral<int64_t>();
      break;
    default:
      break;
  }
  if (!entry.tombstone || fdp.ConsumeIntegralInRange<int>(0, 7) == 0) {
    entry.value = fdp.ConsumeRandomLengthString(fdp.ConsumeBool() ? 16 : 200);
  }
  std::string encoded = EncodeEntry(entry);
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0 && !encoded.empty()) {  // damaged
    const size_t at = fdp.ConsumeIntegralInRange<size_t>(0, encoded.size() - 1);
    if (fdp.ConsumeBool()) {
      encoded.resize(at);
    } else {
      encoded[at] = static_cast<char>(encoded[at] ^ fdp.ConsumeIntegralInRange<int>(1, 255));
    }
  }
  return encoded;
}

wire::WriteRequest MakeWrite(FuzzedDataProvider& fdp, int64_t now_ms) {
  wire::WriteRequest request;
  request.set_ns(PickNamespace(fdp));
  const int n = fdp.ConsumeIntegralInRange<int>(0, 8);
  for (int i = 0; i < n; ++i) {
    wire::KeyEntry* e = request.add_entries();
    e->set_key(PickKey(fdp));
    e->set_entry(MakeEncodedEntry(fdp, now_ms));
  }
  return request;
}

std::string BuildWrite(FuzzedDataProvider& fdp, int64_t now_ms) {
  return MakeWrite(fdp, now_ms).SerializeAsString();
}

std::string BuildWriteBatch(FuzzedDataProvider& fdp, int64_t now_ms) {
  wire::WriteBatchRequest request;
  const int n = fdp.ConsumeIntegralInRange<int>(0, 5);
  for (int i = 0; i < n; ++i) *request.add_parts() = MakeWrite(fdp, now_ms);
  return request.SerializeAsString();
}

std::string BuildRead(FuzzedDataProvider& fdp) {
  wire::ReadRequest request;
  request.set_ns(PickNamespace(fdp));
  const int n = fdp.ConsumeIntegralInRange<int>(0, 8);
  for (int i = 0; i < n; ++i) request.add_keys(PickKey(fdp));
  return request.SerializeAsString();
}

std::string BuildScan(FuzzedDataProvider& fdp) {
  static const char* const kPrefixes[] = {"", "k", "key-", "zone/", "a", "\xff"};
  wire::ScanRequest request;
  request.set_ns(PickNamespace(fdp));
  const auto pick = [&fdp]() -> std::string {
    if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) return fdp.ConsumeRandomLengthString(8);
    return kPrefixes[fdp.ConsumeIntegralInRange<size_t>(0, std::size(kPrefixes) - 1)];
  };
  request.set_prefix(pick());
  request.set_start_after(fdp.ConsumeBool() ? std::string()
                                            : pick() + fdp.ConsumeRandomLengthString(4));
  request.set_limit(fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<uint32_t>(0, 5)
                                      : fdp.ConsumeIntegral<uint32_t>());
  request.set_keys_only(fdp.ConsumeBool());
  return request.SerializeAsString();
}

// A summary as the initiator `from` sends it (anti_entropy.cc RunRound),
// with the roots of the receiver (so it matches) or of the sender, or
// damaged: namespaces reordered, repeated, missing or unknown, another
// ownership digest, another hash.
std::string BuildSummary(FuzzedDataProvider& fdp, Cluster& cluster, Node& to, NodeId from) {
  std::vector<std::string> names;
  for (const std::string& name : NamespaceNames()) {
    if (fdp.ConsumeIntegralInRange<int>(0, 3) != 0) names.push_back(name);
  }
  switch (fdp.ConsumeIntegralInRange<int>(0, 7)) {
    case 0:
      if (names.size() > 1) std::swap(names.front(), names.back());
      break;
    case 1:
      if (!names.empty()) names.push_back(names.front());
      break;
    case 2:
      names.push_back(fdp.ConsumeRandomLengthString(8));
      break;
    default:
      break;
  }
  // Whose view decides the partitions and roots: the receiver's own, or the
  // sender's when it is a node of the cluster.
  Node* sender = cluster.Find(from);
  const bool own_view = sender == nullptr || fdp.ConsumeBool();
  std::vector<std::string> known;
  for (const std::string& name : names) {
    if (to.kv->FindNamespace(name) != nullptr) known.push_back(name);
  }
  SharedView view = own_view ? ViewOf(to, from, known) : ViewOf(*sender, to.id, known);
  uint64_t combined = CombineRoots(known, view.partitions, view.roots);
  if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) combined = fdp.ConsumeIntegral<uint64_t>();
  uint64_t digest = view.owners_digest;
  if (known.empty()) {
    to.coordinator->SharedPartitions(*to.kv->FindNamespace("default"), from, &digest);
  }
  if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) digest = fdp.ConsumeIntegral<uint64_t>();

  wire::AeSummaryRequest request;
  request.set_ownership_digest(digest);
  request.set_combined(combined);
  for (const std::string& name : names) request.add_namespaces(name);
  return request.SerializeAsString();
}

// A partition the receiver shares with `from` in `ns`, or sometimes any.
uint32_t PickPartition(FuzzedDataProvider& fdp, Node& to, NodeId from, const std::string& ns) {
  const NamespaceSpec* spec = to.kv->FindNamespace(ns);
  std::vector<PartitionId> shared;
  if (spec != nullptr) shared = to.coordinator->SharedPartitions(*spec, from, nullptr);
  if (shared.empty() || fdp.ConsumeIntegralInRange<int>(0, 15) == 0) {
    return fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<uint32_t>(0, kPartitions + 1)
                             : fdp.ConsumeIntegral<uint32_t>();
  }
  if (fdp.ConsumeBool()) {  // the partition of a pool key, where the data is
    const std::string key = PickKey(fdp);
    const PartitionId p = PartitionOf(ns, key, kPartitions);
    if (std::find(shared.begin(), shared.end(), p) != shared.end()) return p.value();
  }
  return shared[fdp.ConsumeIntegralInRange<size_t>(0, shared.size() - 1)].value();
}

std::string BuildLeaves(FuzzedDataProvider& fdp, Node& to, NodeId from) {
  wire::AeLeavesRequest request;
  request.set_ns(PickNamespace(fdp));
  const int n = fdp.ConsumeIntegralInRange<int>(0, 6);
  for (int i = 0; i < n; ++i) request.add_partitions(PickPartition(fdp, to, from, request.ns()));
  return request.SerializeAsString();
}

std::string BuildKeys(FuzzedDataProvider& fdp, Node& to, NodeId from) {
  wire::AeKeysRequest request;
  request.set_ns(PickNamespace(fdp));
  const int n = fdp.ConsumeIntegralInRange<int>(0, 6);
  for (int i = 0; i < n; ++i) {
    wire::AeLeafRef* ref = request.add_leaves();
    if (fdp.ConsumeBool()) {  // the leaf of a pool key, in its partition
      const std::string key = PickKey(fdp);
      ref->set_partition(PartitionOf(request.ns(), key, kPartitions).value());
      ref->set_leaf(to.index->LeafOf(key));
    } else {
      ref->set_partition(PickPartition(fdp, to, from, request.ns()));
      ref->set_leaf(fdp.ConsumeIntegralInRange<uint32_t>(0, DigestIndex::kLeaves + 1));
    }
  }
  return request.SerializeAsString();
}

std::string BuildOwnership(FuzzedDataProvider& fdp) {
  wire::Ownership message;
  const int n = fdp.ConsumeIntegralInRange<int>(0, 6);
  for (int i = 0; i < n; ++i) {
    wire::OwnerRecord* r = message.add_records();
    r->set_node(fdp.ConsumeIntegralInRange<int>(0, 7) == 0 ? 0 : PickOrigin(fdp).value());
    r->set_state(fdp.ConsumeIntegralInRange<uint32_t>(0, 4));
    r->set_version(fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<uint64_t>(0, 4)
                                     : fdp.ConsumeIntegral<uint64_t>());
  }
  return message.SerializeAsString();
}

// Client writes through the receiver's coordinator, their replica writes
// held in the channel until all are issued: the coordinator keeps two
// writes in flight per peer and coalesces the rest into kReplicaWriteBatch
// requests (coordinator.h). Fills the replicas with data the replica-side
// requests then find. Every write is answered exactly once.
void ClientWrites(FuzzedDataProvider& fdp, Cluster& cluster, Node& via) {
  const int writes = fdp.ConsumeIntegralInRange<int>(1, 6);
  std::vector<int> calls(static_cast<size_t>(writes), 0);
  cluster.queued = true;
  for (int w = 0; w < writes; ++w) {
    std::vector<Mutation> mutations;
    const int n = fdp.ConsumeIntegralInRange<int>(1, 3);
    for (int i = 0; i < n; ++i) {
      Mutation m;
      m.kind = fdp.ConsumeIntegralInRange<int>(0, 3) == 0 ? Mutation::Kind::kDelete
                                                          : Mutation::Kind::kPut;
      m.key = PickKey(fdp);
      if (m.kind == Mutation::Kind::kPut) m.value = fdp.ConsumeRandomLengthString(32);
      if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) {
        m.ttl_ms = fdp.ConsumeIntegralInRange<int64_t>(0, 100'000);
      }
      mutations.push_back(std::move(m));
    }
    const std::string ns = PickNamespace(fdp);
    std::optional<Consistency> consistency;
    if (fdp.ConsumeBool()) {
      consistency = static_cast<Consistency>(fdp.ConsumeIntegralInRange<int>(0, 2));
    }
    int* count = &calls[static_cast<size_t>(w)];
    via.kv->Write(ns, mutations, consistency, [count](Result<std::vector<WriteAck>>) { ++*count; });
  }
  cluster.queued = false;
  cluster.Pump();
  for (int count : calls) FUZZ_CHECK(count == 1);
}

// ---- the entry point ------------------------------------------------------------------

std::unique_ptr<Cluster>& TheCluster() {
  static std::unique_ptr<Cluster> cluster;
  return cluster;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // refused writes log a warning each
  for (const NamespaceSpec& spec : Namespaces()) FUZZ_CHECK(spec.Validate().ok());
  TheCluster() = std::make_unique<Cluster>();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint64_t inputs = 0;
  std::unique_ptr<Cluster>& cluster_ptr = TheCluster();
  if (!cluster_ptr) cluster_ptr = std::make_unique<Cluster>();
  ++inputs;
  if (inputs % kCheckEvery == 0) CheckIndexes(*cluster_ptr);
  if (inputs % kResetEvery == 0) cluster_ptr = std::make_unique<Cluster>();
  Cluster& cluster = *cluster_ptr;
  if (size < 2) return 0;
  cluster.clock.Advance(1);

  const uint8_t op = data[0];
  const uint8_t who = data[1];
  const int sender = who & 3;  // 3: a node outside the cluster
  const NodeId from = sender < kNodes ? kIds[sender] : kStranger;
  const int receiver =
      sender < kNodes ? (sender + 1 + ((who >> 2) & 1)) % kNodes : ((who >> 2) & 3) % kNodes;
  Node& to = *cluster.nodes[receiver];
  std::string payload(reinterpret_cast<const char*>(data) + 2, size - 2);
  FuzzedDataProvider fdp(data + 2, size - 2);

  switch (op % 17) {
    // The payload as is.
    case 0:
      CheckWrite(cluster, to, from, std::move(payload));
      break;
    case 1:
      CheckWriteBatch(cluster, to, from, std::move(payload));
      break;
    case 2:
      CheckRead(to, from, std::move(payload));
      break;
    case 3:
      CheckScan(to, from, std::move(payload));
      break;
    case 4:
      CheckSummary(to, from, std::move(payload));
      break;
    case 5:
      CheckLeaves(to, from, std::move(payload));
      break;
    case 6:
      CheckKeys(to, from, std::move(payload));
      break;
    case 7:
      CheckOwnership(to, payload);
      break;
    // Well-formed requests built from the payload.
    case 8:
      CheckWrite(cluster, to, from, BuildWrite(fdp, cluster.clock.NowMillis()));
      break;
    case 9:
      CheckWriteBatch(cluster, to, from, BuildWriteBatch(fdp, cluster.clock.NowMillis()));
      break;
    case 10:
      CheckRead(to, from, BuildRead(fdp));
      break;
    case 11:
      CheckScan(to, from, BuildScan(fdp));
      break;
    case 12:
      CheckSummary(to, from, BuildSummary(fdp, cluster, to, from));
      break;
    case 13:
      CheckLeaves(to, from, BuildLeaves(fdp, to, from));
      break;
    case 14:
      CheckKeys(to, from, BuildKeys(fdp, to, from));
      break;
    case 15:
      CheckOwnership(to, BuildOwnership(fdp));
      break;
    default:
      ClientWrites(fdp, cluster, to);
      break;
  }
  return 0;
}
