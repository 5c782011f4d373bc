#include "server/node.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>  // DNS server (std::clamp)
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "base/clock.h"
#include "base/hlc.h"
#include "base/metrics.h"
#include "base/random.h"
#include "frontend/dns/query/dns_metrics.h"        // DNS server
#include "frontend/dns/query/responder.h"          // DNS server
#include "frontend/dns/query/synthetic_records.h"  // DNS server
#include "frontend/dns/query/zone_view.h"          // DNS server
#include "frontend/dns/server/dns_server.h"        // DNS server
#include "frontend/dns/wire/name.h"
#include "frontend/http/api.h"
#include "frontend/http/http_metrics.h"
#include "frontend/http/server.h"
#include "records/record_service.h"
#include "replication/anti_entropy.h"
#include "replication/coordinator.h"
#include "replication/digest_index.h"
#include "replication/hints.h"
#include "replication/kv_service.h"
#include "server/cluster.h"
#include "storage/data_dir.h"
#include "storage/group_commit.h"
#include "storage/store.h"

namespace meshkv {
namespace {

constexpr int64_t kDrainDeadlineMs = 10'000;

// Service discovery over the live member list: every alive or suspect member
// as _meshkv._tcp.<zone> SRV -> <id>.nodes.<zone> at its cluster address.
// Cached answers are dropped when the member list changes (generation).
class MemberDiscoverySource final : public dns::SyntheticRecordSource {
 public:
  MemberDiscoverySource(const Cluster& cluster, uint32_t ttl) : cluster_(cluster), ttl_(ttl) {}
  uint64_t generation() const override { return cluster_.generation(); }
  std::vector<records::Record> Records(const dns::Name& zone) const override {
    std::vector<records::Record> out;
    for (const membership::Member& m : cluster_.LiveMembers()) {
      auto host_port = http::SplitHostPort(m.meta.cluster_addr);
      if (!host_port.ok()) continue;
      auto ip = dns::IpAddress::Parse(host_port->first);
      if (!ip) continue;
      for (records::Record& r :
           dns::NodeDiscoveryRecords(zone, m.meta.id.ToString(), *ip, host_port->second, ttl_)) {
        out.push_back(std::move(r));
      }
    }
    return out;
  }

 private:
  const Cluster& cluster_;
  const uint32_t ttl_;
};

// The coordinator's way to other nodes: the cluster's member directory and
// peer RPC client.
class ClusterPeerChannel final : public replication::PeerChannel {
 public:
  explicit ClusterPeerChannel(Cluster& cluster) : cluster_(cluster) {}
  bool IsLive(NodeId node) const override { return cluster_.IsLive(node); }
  void Call(NodeId node, transport::MessageType type, std::string payload, int64_t deadline_ms,
            std::function<void(Result<std::string>)> done) override {
    cluster_.CallMember(node, type, std::move(payload), deadline_ms, std::move(done));
  }

 private:
  Cluster& cluster_;
};

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

Status WriteWholeFile(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return FailedPrecondition("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return FailedPrecondition("cannot write " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// `listen` as other nodes and clients should dial it: a wildcard host
// (0.0.0.0, ::) is replaced by the host of `advertise` (the cluster address).
std::string DialableAddress(const std::string& listen, const std::string& advertise) {
  auto split = http::SplitHostPort(listen);
  auto cluster = http::SplitHostPort(advertise);
  if (!split.ok() || !cluster.ok()) return listen;
  auto ip = dns::IpAddress::Parse(split->first);
  if (!ip || !ip->IsUnspecified()) return listen;
  const std::string& host = cluster->first;
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(split->second);
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

void SetUpLogging(const std::string& level, NodeId id) {
  auto logger = spdlog::stderr_color_mt("meshkv");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ node=" + id.ToString() + " %v",
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

}  // namespace

Result<std::string> LoadOrCreateAdminToken(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    std::stringstream contents;
    contents << in.rdbuf();
    std::string token = Trim(contents.str());
    if (token.empty()) {
      return FailedPrecondition(path + " is empty; delete it to have a new admin token generated");
    }
    return token;
  }
  std::string token = GenerateTokenSecret();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return FailedPrecondition("cannot create " + path + ": " + std::strerror(errno));
  }
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) return FailedPrecondition("cannot write " + path + ": " + std::strerror(errno));
  return token;
}

struct Node::State {
  Config config;
  SystemClock clock;
  std::unique_ptr<DataDir> data_dir;
  std::unique_ptr<Hlc> hlc;
  std::unique_ptr<Store> store;
  std::unique_ptr<GroupCommitter> committer;
  std::unique_ptr<KvService> kv;
  std::unique_ptr<records::RecordService> records;
  MetricsRegistry registry;
  std::unique_ptr<http::HttpMetrics> http_metrics;
  std::unique_ptr<http::Api> api;
  std::unique_ptr<http::HttpServer> server;
  std::unique_ptr<Cluster> cluster;
  // ---- replication (runs when [cluster] is configured) ----
  std::unique_ptr<replication::HintStore> hints;
  std::unique_ptr<ClusterPeerChannel> peer_channel;
  std::unique_ptr<replication::Coordinator> coordinator;
  std::unique_ptr<replication::DigestIndex> digest_index;
  std::unique_ptr<replication::AntiEntropy> anti_entropy;
  std::mt19937_64 rng{SecureRandomU64()};  // cluster thread only
  int ticks_joined = 0;                    // cluster thread only
  std::atomic<bool> catching_up{false};    // set on the cluster thread
  std::atomic<bool> decommission_requested{false};
  std::atomic<bool> streaming_out{false};
  int ticks_leaving = 0;                     // cluster thread only
  std::mutex pending_seen_mu;
  std::set<NodeId> pending_seen_by;          // guarded by pending_seen_mu (see AdvanceJoin)
  int ticks_pending = 0;                     // cluster thread only
  int ticks_since_member_sync = 0;           // cluster thread only
  std::atomic<bool> cluster_started{false};
  static constexpr int kPendingConfirmTicks = 20;
  bool exit_requested = false;               // cluster thread only
  std::optional<TokenSpec> generated_admin;  // set when no tokens are configured
  // ---- DNS server (src/frontend/dns; runs when dns.zones is set) ----
  std::unique_ptr<dns::SyntheticRecordSource> dns_discovery;
  std::unique_ptr<dns::ZoneView> dns_zones;
  std::unique_ptr<dns::DnsMetrics> dns_metrics;
  std::unique_ptr<dns::Responder> dns_responder;
  std::unique_ptr<dns::DnsServer> dns_server;
  // ---- end DNS server ----
  sigset_t signals;

  // ---- replication ----
  std::string ownership_path() const { return data_dir->path() + "/ownership"; }

  // Hints, the coordinator (router of every read and write), the replica
  // and ownership RPC handlers, and this node's persisted ownership state.
  Status SetUpReplication() {
    // A hint must never outlive the tombstones it could race with: replayed
    // after a delete's tombstone was collected, it would bring the value
    // back. So hints expire at half gc_grace when that is under 3 h.
    replication::HintLimits hint_limits;
    hint_limits.max_age_ms = std::min(hint_limits.max_age_ms, config.replication.gc_grace_ms / 2);
    hints = std::make_unique<replication::HintStore>(store->local(), clock, hint_limits,
                                                     &registry);
    MESHKV_RETURN_IF_ERROR(hints->Load());
    peer_channel = std::make_unique<ClusterPeerChannel>(*cluster);
    coordinator = std::make_unique<replication::Coordinator>(
        *kv, *peer_channel, config.replication.hinted_handoff ? hints.get() : nullptr,
        replication::CoordinatorOptions{}, &registry);
    if (auto saved = ReadWholeFile(ownership_path()); saved.ok()) {
      auto state = replication::OwnershipState::Decode(*saved);
      if (!state.ok()) {
        return DataLoss(ownership_path() + ": " + state.status().message() +
                        "; delete it to rejoin as a new owner (the node then streams its data in)");
      }
      coordinator->MergeOwnership(*state);
    }
    coordinator->OnOwnershipChange([this](const replication::OwnershipState& state) {
      Status written = WriteWholeFile(ownership_path(), state.Encode());
      if (!written.ok()) spdlog::error("replication: {}", written.message());
      // Every change (ours or learned) goes to everyone at once, so all
      // nodes route the same way within a round trip and each learns that
      // the others do (which ends the write transition, coordinator.h).
      if (cluster_started) PushOwnershipToAll();
    });
    MESHKV_RETURN_IF_ERROR(ResyncIfAwayLongerThanGcGrace());
    MESHKV_RETURN_IF_ERROR(SetUpAntiEntropy());
    using transport::MessageType;
    auto route = [this](void (replication::Coordinator::*handler)(
                     NodeId, std::string, std::function<void(Result<std::string>)>)) {
      return [this, handler](const transport::PeerInfo& from, std::string payload,
                             transport::Responder respond) {
        (coordinator.get()->*handler)(from.node_id, std::move(payload), std::move(respond));
      };
    };
    cluster->RegisterHandler(MessageType::kReplicaWrite,
                             route(&replication::Coordinator::HandleWrite));
    cluster->RegisterHandler(MessageType::kReplicaWriteBatch,
                             route(&replication::Coordinator::HandleWriteBatch));
    cluster->RegisterHandler(MessageType::kReplicaRead,
                             route(&replication::Coordinator::HandleRead));
    cluster->RegisterHandler(MessageType::kReplicaScan,
                             route(&replication::Coordinator::HandleScan));
    cluster->RegisterHandler(
        MessageType::kOwnership,
        [this](const transport::PeerInfo& from, std::string payload, transport::Responder respond) {
          auto state = replication::OwnershipState::Decode(payload);
          if (!state.ok()) return respond(state.status());
          coordinator->MergeOwnership(*state, from.node_id);
          respond(coordinator->Ownership().Encode());
        });
    if (config.node.role == "reject_local_writes") coordinator->SetHoldsNoData();
    kv->SetRouter(coordinator.get());
    api->SetCoordinator(coordinator.get());
    api->SetDecommission([this] { return RequestDecommission(); });
    return Status::Ok();
  }

  // ---- resync after a long absence (DESIGN.md, Anti-entropy) ----
  static constexpr std::string_view kLastContactKey = "replication/last_contact_ms";
  static constexpr int kLastContactEveryTicks = 20;  // 10 s of ownership ticks
  int ticks_since_contact_saved = kLastContactEveryTicks;  // cluster thread only

  // Records, while this node is an owner in touch with live members, when it
  // last was: a restart compares it with gc_grace.
  void SaveLastContact() {
    if (++ticks_since_contact_saved < kLastContactEveryTicks) return;
    ticks_since_contact_saved = 0;
    LocalBatch batch;
    batch.Put(kLastContactKey, std::to_string(clock.NowMillis()));
    if (Status s = store->local().Write(batch, false); !s.ok()) {
      spdlog::warn("replication: cannot record the last contact time: {}", s.message());
    }
  }

  // A node that was away longer than gc_grace may hold values whose
  // tombstones the others have already collected; pushing them back would
  // resurrect deletes. Such a node discards its replica and rejoins as a
  // pending owner, which streams everything in from the others before it
  // serves again. (Writes only it had acknowledged at `one` are lost with
  // it: the price of being away that long; the log says so.)
  Status ResyncIfAwayLongerThanGcGrace() {
    const NodeId self = data_dir->node_id();
    const auto record = coordinator->Ownership().Find(self);
    if (!record || record->state != replication::OwnerState::kNormal) return Status::Ok();
    std::vector<NodeId> others = coordinator->Ownership().Owners();
    std::erase(others, self);
    if (others.empty()) return Status::Ok();  // nobody to resync from
    auto saved = store->local().Get(kLastContactKey);
    if (!saved.ok()) return saved.status();
    if (!saved->has_value()) return Status::Ok();
    int64_t last = 0;
    try {
      last = std::stoll(**saved);
    } catch (const std::exception&) {
      return Status::Ok();  // unreadable: treated as unknown
    }
    const int64_t away = clock.NowMillis() - last;
    if (away <= config.replication.gc_grace_ms) return Status::Ok();
    spdlog::warn(
        "replication: this node was out of touch for {} s, longer than gc_grace ({} s): its data "
        "may contain deletes the cluster has already forgotten; discarding the local replica and "
        "resyncing from the other owners",
        away / 1000, config.replication.gc_grace_ms / 1000);
    for (const NamespaceSpec& spec : kv->namespaces()) {
      ScanOptions options;
      options.include_dead = true;
      options.keys_only = true;
      options.limit = 4096;
      for (;;) {
        auto page = store->Scan(spec.name, options);
        if (!page.ok()) return page.status();
        std::vector<std::string> keys;
        for (KeyEntry& item : page->items) keys.push_back(std::move(item.key));
        MESHKV_RETURN_IF_ERROR(store->Purge(spec.name, keys));
        if (!page->more || keys.empty()) break;
        options.start_after = keys.back();
      }
    }
    MESHKV_RETURN_IF_ERROR(store->Flush());
    coordinator->SetSelfState(replication::OwnerState::kPending);
    return Status::Ok();
  }

  // The digest index (rebuilt from storage before anything is served) and
  // the anti-entropy engine with its peer RPC handlers.
  Status SetUpAntiEntropy() {
    std::vector<std::string> names;
    for (const NamespaceSpec& spec : kv->namespaces()) names.push_back(spec.name);
    digest_index = std::make_unique<replication::DigestIndex>(
        std::move(names), replication::kDefaultPartitions, clock);
    kv->SetDigestIndex(digest_index.get());
    const int64_t started = SteadyClock().NowMillis();
    MESHKV_RETURN_IF_ERROR(digest_index->Rebuild(*store));
    size_t entries = 0;
    for (size_t i = 0; i < kv->namespaces().size(); ++i) entries += digest_index->Size(i);
    spdlog::info("anti-entropy: digest index of {} entries built in {} ms", entries,
                 SteadyClock().NowMillis() - started);
    replication::AntiEntropyOptions options;
    options.interval_ms = config.replication.anti_entropy_interval_ms;
    options.bytes_per_second = config.replication.anti_entropy_bytes_per_second;
    options.gc_grace_ms = config.replication.gc_grace_ms;
    anti_entropy = std::make_unique<replication::AntiEntropy>(*kv, *coordinator, *peer_channel,
                                                              *digest_index, options, &registry);
    using transport::MessageType;
    auto route = [this](void (replication::AntiEntropy::*handler)(
                     NodeId, std::string, std::function<void(Result<std::string>)>)) {
      return [this, handler](const transport::PeerInfo& from, std::string payload,
                             transport::Responder respond) {
        (anti_entropy.get()->*handler)(from.node_id, std::move(payload), std::move(respond));
      };
    };
    cluster->RegisterHandler(MessageType::kAeSummary,
                             route(&replication::AntiEntropy::HandleSummary));
    cluster->RegisterHandler(MessageType::kAeLeaves, route(&replication::AntiEntropy::HandleLeaves));
    cluster->RegisterHandler(MessageType::kAeKeys, route(&replication::AntiEntropy::HandleKeys));
    api->SetAntiEntropy(anti_entropy.get());
    return Status::Ok();
  }

  // Sends our ownership state to every live member (and merges their
  // answers), so an explicit change is known everywhere within one RTT.
  void PushOwnershipToAll() {
    for (const membership::Member& m : cluster->LiveMembers()) {
      if (m.meta.id == data_dir->node_id()) continue;
      const NodeId member = m.meta.id;
      cluster->CallMember(member, transport::MessageType::kOwnership,
                          coordinator->Ownership().Encode(), 2'000,
                          [this, member](Result<std::string> reply) {
                            if (!reply.ok()) return;
                            auto state = replication::OwnershipState::Decode(*reply);
                            if (state.ok()) coordinator->MergeOwnership(*state, member);
                          });
    }
  }

  // POST /v1/cluster/decommission (any HTTP thread): checked here, carried
  // out by OwnershipTick.
  Status RequestDecommission() {
    const NodeId self = data_dir->node_id();
    replication::OwnershipState ownership = coordinator->Ownership();
    auto record = ownership.Find(self);
    if (!record || record->state == replication::OwnerState::kPending) {
      return FailedPrecondition(
          "this node does not own data yet (it is still joining); stop it instead");
    }
    if (record->state == replication::OwnerState::kRemoved) {
      return FailedPrecondition("this node is already decommissioned");
    }
    std::vector<NodeId> remaining = ownership.FutureOwners();
    std::erase(remaining, self);
    if (remaining.empty()) {
      return FailedPrecondition(
          "this is the only owner: decommissioning it would leave the data with no node");
    }
    decommission_requested = true;
    spdlog::info("replication: decommission requested: leaving, streaming data out, then stopping");
    return Status::Ok();
  }

  // Decommission steps: normal -> leaving (pushed to everyone) -> stream
  // every entry to its new replicas -> removed (pushed) -> stop as on
  // SIGTERM. A node restarted while leaving resumes streaming. True when the
  // rest of the tick should be skipped.
  bool AdvanceDecommission(const replication::OwnerRecord& record) {
    using replication::OwnerState;
    if (record.state == OwnerState::kNormal && decommission_requested) {
      coordinator->SetSelfState(OwnerState::kLeaving);  // pushed to all by the listener
      ticks_leaving = 0;
      return true;
    }
    if (record.state == OwnerState::kLeaving) {
      // Give every node a moment to route new writes to the new replicas
      // before the stream starts, so nothing written meanwhile is missed.
      if (++ticks_leaving < 3 || streaming_out.exchange(true)) return true;
      coordinator->StreamOut([this](Status status) {
        if (!status.ok()) {
          spdlog::warn("replication: decommission stream failed, retrying: {}", status.message());
          streaming_out = false;
          return;
        }
        coordinator->SetSelfState(replication::OwnerState::kRemoved);
      });
      return true;
    }
    if (record.state == OwnerState::kRemoved && decommission_requested && !exit_requested) {
      exit_requested = true;
      spdlog::info("replication: decommissioned; stopping");
      ::kill(::getpid(), SIGTERM);
      return true;
    }
    return false;
  }

  // Every 500 ms on the cluster thread: exchange ownership with one live
  // member, and move this node through its join: a node with nobody to
  // stream from becomes an owner at once; otherwise it is pending until it
  // has streamed in what it will own.
  void OwnershipTick() {
    std::vector<membership::Member> live = cluster->LiveMembers();
    std::erase_if(live,
                  [this](const membership::Member& m) { return m.meta.id == data_dir->node_id(); });
    if (!live.empty()) {
      const auto& peer = live[std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng)];
      const NodeId member = peer.meta.id;
      cluster->CallMember(member, transport::MessageType::kOwnership,
                          coordinator->Ownership().Encode(), 2'000,
                          [this, member](Result<std::string> reply) {
                            if (!reply.ok()) return;
                            auto state = replication::OwnershipState::Decode(*reply);
                            if (state.ok()) coordinator->MergeOwnership(*state, member);
                          });
    }
    SyncMembersIfOwnersUnknown(live);
    if (config.node.role == "reject_local_writes") return;  // never an owner
    const NodeId self = data_dir->node_id();
    const auto record = coordinator->Ownership().Find(self);
    if (!live.empty() && record && record->state == replication::OwnerState::kNormal) {
      SaveLastContact();
    }
    if (record && AdvanceDecommission(*record)) return;
    if (!record) {
      const bool has_seeds = !config.cluster.seeds.empty() || !config.cluster.srv_domain.empty();
      if (has_seeds && !cluster->joined()) return;
      if (has_seeds && ++ticks_joined < 3) return;  // a few exchanges first
      std::vector<NodeId> owners = coordinator->Ownership().Owners();
      if (owners.empty()) {
        coordinator->SetSelfState(replication::OwnerState::kNormal);
      } else {
        coordinator->SetSelfState(replication::OwnerState::kPending);
        std::lock_guard lock(pending_seen_mu);
        pending_seen_by.clear();
        ticks_pending = 0;
      }
      return;
    }
    if (record->state == replication::OwnerState::kPending) AdvanceJoin(live);
  }

  // An owner this node's member list has never heard of (gossip about its
  // join missed us) would be treated as down: writes to it become hints and
  // quorums fail. Every 5 s while that is so, exchange full member state
  // with a random live member, which knows it.
  void SyncMembersIfOwnersUnknown(const std::vector<membership::Member>& live) {
    if (live.empty() || ++ticks_since_member_sync < 10) return;
    std::set<NodeId> known;
    for (const membership::Member& m : cluster->Members()) known.insert(m.meta.id);
    bool unknown = false;
    for (NodeId owner : coordinator->Ownership().FutureOwners()) {
      unknown = unknown || (owner != data_dir->node_id() && !known.count(owner));
    }
    if (!unknown) return;
    ticks_since_member_sync = 0;
    const auto& peer = live[std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng)];
    spdlog::info("cluster: an owner is missing from the member list; syncing members with {}",
                 peer.meta.id.ToString());
    cluster->Join({peer.meta.cluster_addr}, [](Result<size_t>) {});
  }

  // A pending owner streams its data in only once every live member routes
  // writes to it (has seen it pending): a write coordinated by a node that
  // has not, to a key the stream already passed, would be missed. Members
  // that do not confirm within 10 s are not waited for (they are stuck or
  // about to be declared dead; anti-entropy covers what they send elsewhere).
  // Then it becomes normal and tells everyone at once.
  void AdvanceJoin(const std::vector<membership::Member>& live) {
    if (catching_up) return;
    const NodeId self = data_dir->node_id();
    size_t unconfirmed = 0;
    for (const membership::Member& m : live) {
      {
        std::lock_guard lock(pending_seen_mu);
        if (pending_seen_by.count(m.meta.id)) continue;
      }
      ++unconfirmed;
      const NodeId member = m.meta.id;
      cluster->CallMember(member, transport::MessageType::kOwnership,
                          coordinator->Ownership().Encode(), 2'000,
                          [this, member, self](Result<std::string> reply) {
                            if (!reply.ok()) return;
                            auto state = replication::OwnershipState::Decode(*reply);
                            if (!state.ok()) return;
                            coordinator->MergeOwnership(*state, member);
                            auto seen = state->Find(self);
                            if (seen && seen->state == replication::OwnerState::kPending) {
                              std::lock_guard lock(pending_seen_mu);
                              pending_seen_by.insert(member);
                            }
                          });
    }
    if (unconfirmed > 0 && ++ticks_pending < kPendingConfirmTicks) return;
    if (unconfirmed > 0) {
      spdlog::warn("replication: {} live member(s) did not confirm this node as pending within "
                   "10 s; streaming in anyway",
                   unconfirmed);
    }
    catching_up = true;
    spdlog::info("replication: pending owner; streaming in the data this node will own");
    coordinator->CatchUp([this](Status status) {
      catching_up = false;
      if (!status.ok()) {
        spdlog::warn("replication: catching up failed, retrying: {}", status.message());
        return;
      }
      coordinator->SetSelfState(replication::OwnerState::kNormal);
    });
  }

  // Builds the token set from configured tokens, plus the generated admin
  // token when none are configured.
  Result<std::shared_ptr<const TokenSet>> BuildTokens(std::vector<TokenSpec> specs) {
    if (specs.empty() && generated_admin) specs.push_back(*generated_admin);
    auto set = TokenSet::Build(std::move(specs));
    if (!set.ok()) return set.status();
    return std::make_shared<const TokenSet>(std::move(*set));
  }

  // ---- DNS server ----
  // Starts the authoritative DNS server over `records` on dns.listen, with
  // `threads` io threads. Publishes the live members for service discovery
  // as _meshkv._tcp.<zone> SRV -> <node-id>.nodes.<zone>, port = their
  // cluster port (MemberDiscoverySource).
  Status StartDns(int threads) {
    const Config::Dns& d = config.dns;
    auto listen = http::SplitHostPort(d.listen);
    if (!listen.ok()) return InvalidArgument("dns.listen: " + listen.status().message());
    auto to_seconds = [](int64_t s) {
      return static_cast<uint32_t>(std::clamp<int64_t>(s, 0, INT32_MAX));
    };
    dns::ZoneViewOptions zone_options;
    for (const std::string& text : d.nameservers) {
      auto name = dns::Name::FromText(text);
      if (!name.ok()) return InvalidArgument("dns.nameservers: " + name.status().message());
      zone_options.nameservers.push_back(std::move(*name));
    }
    if (!d.soa_rname.empty()) {
      auto name = dns::Name::FromText(d.soa_rname);
      if (!name.ok()) return InvalidArgument("dns.soa_rname: " + name.status().message());
      zone_options.soa_rname = std::move(*name);
    }
    zone_options.soa_refresh = to_seconds(d.soa_refresh_s);
    zone_options.soa_retry = to_seconds(d.soa_retry_s);
    zone_options.soa_expire = to_seconds(d.soa_expire_s);
    zone_options.soa_minimum = to_seconds(d.soa_minimum_s);
    zone_options.synthesized_ttl = to_seconds(d.default_ttl_s);
    zone_options.nameserver_address = dns::IpAddress::Parse(listen->first);
    dns::ResponderOptions responder_options;
    responder_options.max_udp_payload = static_cast<uint16_t>(d.max_udp_payload);
    for (const std::string& text : d.axfr_allow) {
      auto address = dns::IpAddress::Parse(text);
      if (!address) return InvalidArgument("dns.axfr_allow: '" + text + "' is not an IP address");
      responder_options.transfer_allow.push_back(*address);
    }
    // Discovery publishes cluster addresses: a node without [cluster] has none.
    if (cluster->enabled()) {
      dns_discovery =
          std::make_unique<MemberDiscoverySource>(*cluster, zone_options.synthesized_ttl);
    }
    dns_zones = std::make_unique<dns::ZoneView>(*records, dns_discovery.get(), zone_options);
    dns_metrics = std::make_unique<dns::DnsMetrics>(registry);
    dns_responder =
        std::make_unique<dns::Responder>(*dns_zones, *dns_metrics, std::move(responder_options));
    dns::DnsServerOptions server_options;
    server_options.host = listen->first;
    server_options.port = listen->second;
    server_options.threads = threads;
    dns_server = std::make_unique<dns::DnsServer>(server_options, *dns_responder, *dns_metrics);
    MESHKV_RETURN_IF_ERROR(dns_server->Start());
    std::string zones;
    for (const dns::Name& zone : records->zones()) {
      zones += (zones.empty() ? "" : " ") + zone.ToText();
    }
    spdlog::info("dns: listening on {} (udp+tcp, {} io threads), authoritative for {}",
                 dns_server->bound_address(), threads, zones);
    return Status::Ok();
  }
  // ---- end DNS server ----
};

Node::Node(Config config) : state_(std::make_unique<State>()) {
  state_->config = std::move(config);
}

Node::~Node() {
  if (state_->anti_entropy) state_->anti_entropy->Stop();
  if (state_->cluster) state_->cluster->Stop();
  if (state_->server) state_->server->Stop();
  if (state_->dns_server) state_->dns_server->Stop();  // DNS server
  if (state_->committer) state_->committer->Stop();
}

Status Node::Start() {
  State& s = *state_;
  const Config& config = s.config;

  // Only Run() receives these; threads created from here on inherit the mask.
  sigemptyset(&s.signals);
  sigaddset(&s.signals, SIGTERM);
  sigaddset(&s.signals, SIGINT);
  sigaddset(&s.signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &s.signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto data_dir = DataDir::Open(config.node.data_dir);
  if (!data_dir.ok()) return data_dir.status();
  s.data_dir = std::move(*data_dir);
  SetUpLogging(config.log.level, s.data_dir->node_id());
  spdlog::info("meshkv {} starting; data dir {}", MESHKV_VERSION, s.data_dir->path());

  if (config.dev_insecure) {
    spdlog::warn(
        "*** --dev-insecure: AUTHENTICATION IS DISABLED. Anyone who can reach {} can "
        "read and write every key. Never use this outside a development machine. ***",
        config.http.listen);
  } else if (config.tokens.empty()) {
    auto secret = LoadOrCreateAdminToken(s.data_dir->admin_token_path());
    if (!secret.ok()) return secret.status();
    s.generated_admin = TokenSpec{"generated-admin", Sha256Hex(*secret),
                                  static_cast<ScopeSet>(Scope::kAdmin), std::nullopt, ""};
    spdlog::info("no [[tokens]] configured: admin token is in {} (mode 0600)",
                 s.data_dir->admin_token_path());
  }

  s.hlc = std::make_unique<Hlc>(s.clock, config.clock.max_clock_skew_ms);
  std::vector<NamespaceSpec> namespaces = config.namespaces;
  if (config.storage.engine == "memory") {
    for (NamespaceSpec& ns : namespaces) ns.storage = StorageKind::kMemory;
  }
  StoreOptions store_options;
  store_options.path = s.data_dir->db_path();
  store_options.namespaces = namespaces;
  store_options.block_cache_bytes = static_cast<uint64_t>(config.storage.block_cache_bytes);
  store_options.write_buffer_bytes = static_cast<uint64_t>(config.storage.write_buffer_bytes);
  auto store = OpenStore(store_options);
  if (!store.ok()) return store.status();
  s.store = std::move(*store);
  if (config.storage.sync_always) {
    s.committer = std::make_unique<GroupCommitter>(*s.store);
    s.committer->Start();
  }
  s.kv = std::make_unique<KvService>(*s.store, s.committer.get(), *s.hlc, s.clock,
                                     s.data_dir->node_id(), namespaces);
  if (config.node.role == "replica_only") s.kv->SetRefuseClientWrites(true);

  if (!config.dns.zones.empty()) {
    std::vector<dns::Name> zones;
    for (const std::string& text : config.dns.zones) {
      auto zone = dns::Name::FromText(text);
      if (!zone.ok()) return InvalidArgument("dns.zones: " + zone.status().message());
      zones.push_back(std::move(*zone));
    }
    s.records = std::make_unique<records::RecordService>(
        *s.kv, std::move(zones), static_cast<uint32_t>(config.dns.default_ttl_s));
  }

  http::NodeInfo info;
  info.version = MESHKV_VERSION;
  info.started_at_ms = s.clock.NowMillis();
  info.listen = config.http.listen;
  info.storage_engine = config.storage.engine;
  info.storage_sync = config.storage.sync_always ? "always" : "none";
  info.data_dir = s.data_dir->path();
  info.config_path = config.config_path;
  info.role = config.node.role;
  s.http_metrics = std::make_unique<http::HttpMetrics>(s.registry);
  s.api = std::make_unique<http::Api>(*s.kv, s.records.get(), *s.hlc, s.registry, *s.http_metrics,
                                      info, config.dev_insecure);
  if (!config.dev_insecure) {
    auto tokens = s.BuildTokens(config.tokens);
    if (!tokens.ok()) return tokens.status();
    s.api->SetTokens(*tokens);
  }

  const std::string cluster_addr =
      config.cluster.advertise.empty() ? config.cluster.listen : config.cluster.advertise;
  ClusterIdentity identity{s.data_dir->node_id(), s.data_dir->path(),
                           DialableAddress(config.http.listen, cluster_addr),
                           s.records ? DialableAddress(config.dns.listen, cluster_addr) : ""};
  auto cluster = Cluster::Create(config.cluster, std::move(identity), s.registry);
  if (!cluster.ok()) return cluster.status();
  s.cluster = std::move(*cluster);
  s.api->SetCluster(s.cluster.get());
  if (config.cluster.enabled()) MESHKV_RETURN_IF_ERROR(s.SetUpReplication());

  http::ServerOptions options;
  options.listen = config.http.listen;
  options.threads = config.http.threads > 0
                        ? config.http.threads
                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  options.max_header_bytes = config.http.max_header_bytes;
  options.max_body_bytes = config.http.max_body_bytes;
  options.request_timeout_ms = config.http.request_timeout_ms;
  options.idle_timeout_ms = config.http.idle_timeout_ms;
  options.max_connections = config.http.max_connections;
  options.max_inflight_requests = config.http.max_inflight_requests;
  s.server = std::make_unique<http::HttpServer>(options, *s.api, *s.http_metrics);
  MESHKV_RETURN_IF_ERROR(s.server->Start());
  spdlog::info("listening on http://{} ({} io threads, storage {} sync={}, {} namespaces)",
               s.server->bound_address(), options.threads, config.storage.engine, info.storage_sync,
               namespaces.size());
  if (s.records) MESHKV_RETURN_IF_ERROR(s.StartDns(options.threads));  // DNS server
  MESHKV_RETURN_IF_ERROR(s.cluster->Start(s.server->io_contexts()));
  s.cluster_started = true;
  if (s.coordinator) {
    s.cluster->RunEvery(1'000, [&s] { s.coordinator->ReplayHints(); });
    s.cluster->RunEvery(500, [&s] { s.OwnershipTick(); });
    s.anti_entropy->Start();
  }
  return Status::Ok();
}

int Node::Run() {
  State& s = *state_;
  for (;;) {
    int signal_number = 0;
    if (sigwait(&s.signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      if (s.config.config_path.empty()) {
        spdlog::warn("SIGHUP: no config file was given, nothing to reload");
        continue;
      }
      if (s.config.dev_insecure) {
        spdlog::warn("SIGHUP: auth is disabled (--dev-insecure), tokens not reloaded");
        continue;
      }
      auto specs = LoadTokens(s.config.config_path);
      if (!specs.ok()) {
        spdlog::error("SIGHUP: token reload failed, keeping the current tokens: {}",
                      specs.status().message());
        continue;
      }
      auto tokens = s.BuildTokens(std::move(*specs));
      if (!tokens.ok()) {
        spdlog::error("SIGHUP: token reload failed, keeping the current tokens: {}",
                      tokens.status().message());
        continue;
      }
      spdlog::info("SIGHUP: reloaded {} tokens from {}", (*tokens)->size(), s.config.config_path);
      s.api->SetTokens(*tokens);
      continue;
    }
    spdlog::info("{}: draining in-flight requests, then leaving the cluster",
                 signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  // In-flight requests may still need the other replicas, so the cluster
  // layer stays up until they are answered.
  bool drained = s.server->Drain(kDrainDeadlineMs);
  if (!drained) spdlog::warn("drain deadline passed with connections still open; closing them");
  s.cluster->LeaveAndStop();
  s.server->Stop();
  if (s.dns_server) s.dns_server->Stop();  // DNS server
  if (s.committer) s.committer->Stop();
  Status flushed = s.store->Flush();
  if (!flushed.ok()) {
    spdlog::error("flush on shutdown failed: {}", flushed.ToString());
    return 1;
  }
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace meshkv
