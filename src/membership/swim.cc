#include "membership/swim.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <unordered_map>
#include <utility>
#include <variant>

#include "membership/awareness.h"
#include "membership/broadcast_queue.h"
#include "membership/messages.h"
#include "membership/suspicion.h"

namespace meshkv::membership {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// Push-pull runs every interval up to this many members, then the interval
// grows with log2(n) (memberlist util.go pushPullScale).
constexpr size_t kPushPullScaleThreshold = 32;
// Indirect probes run for others at once; more requests are dropped (each
// lives for one probe timeout, so this bounds memory, not normal traffic).
constexpr size_t kMaxRelays = 1024;

bool IsLive(MemberState state) {
  return state == MemberState::kAlive || state == MemberState::kSuspect;
}

bool IsGone(MemberState state) {
  return state == MemberState::kDead || state == MemberState::kLeft;
}

}  // namespace

class Swim::Impl {
 public:
  Impl(MembershipConfig config, NodeMeta self, uint64_t incarnation, const Clock& clock,
       uint64_t seed, SwimEnvironment& env)
      : config_(std::move(config)),
        clock_(clock),
        env_(env),
        rng_(seed),
        awareness_(config_.awareness_max_multiplier) {
    Record record;
    record.member.meta = std::move(self);
    record.member.incarnation = incarnation;
    record.member.state = MemberState::kAlive;
    record.member.state_change_millis = clock_.NowMillis();
    index_.emplace(record.member.meta.id, 0);
    members_.push_back(std::move(record));
    next_seq_ = static_cast<uint32_t>(rng_());
  }

  // ---- lifecycle -------------------------------------------------------

  void Start() {
    if (started_) return;
    started_ = true;
    const int64_t now = clock_.NowMillis();
    num_live_ = 1;
    Member& self = SelfMember();
    self.state = MemberState::kAlive;
    self.state_change_millis = now;
    env_.OnMemberChanged(self, std::nullopt);
    QueueAliveOfSelf();
    // Random phases so that nodes started together do not act in lockstep.
    next_probe_ms_ = now + RandomBelow(config_.probe_interval_ms);
    next_gossip_ms_ = now + RandomBelow(config_.gossip_interval_ms);
    next_push_pull_ms_ =
        config_.push_pull_interval_ms > 0 ? now + RandomBelow(PushPullIntervalMillis()) : kNever;
    next_reclaim_ms_ = now + config_.probe_interval_ms;
  }

  void Leave() {
    if (left_ || !started_) return;
    left_ = true;
    probe_.reset();
    Record& self = members_[0];
    const uint64_t incarnation = self.member.incarnation + 1;
    SetState(self, MemberState::kLeft, incarnation);
    Broadcast(self.member.meta.id, wire::Dead{incarnation, SelfId(), SelfId()});
  }

  // ---- inputs ------------------------------------------------------------

  void HandlePacket(const std::string& from, std::string_view packet) {
    ++stats_.packets_received;
    stats_.bytes_received += packet.size();
    if (!started_) return;
    auto decoded = wire::DecodePacket(packet);
    if (!decoded.ok()) {
      ++stats_.bad_packets;
      return;
    }
    for (wire::Message& message : *decoded) {
      std::visit([&](auto& m) { Handle(from, std::move(m)); }, message);
    }
  }

  Status MergeState(std::string_view bytes, NodeId sender) {
    auto decoded = wire::DecodeState(bytes);
    if (!decoded.ok()) {
      ++stats_.bad_packets;
      return InvalidArgument("push-pull state: " + decoded.status().message());
    }
    wire::State& state = *decoded;
    if (state.sender != sender) {
      return InvalidArgument("push-pull state says it is from " + state.sender.ToString() +
                             " but the peer is " + sender.ToString());
    }
    const wire::StateEntry* own = nullptr;
    for (const wire::StateEntry& entry : state.members) {
      if (entry.meta.id == sender) own = &entry;
    }
    if (own == nullptr) {
      return InvalidArgument("push-pull state from " + sender.ToString() +
                             " does not describe its sender");
    }
    if (const Record* known = Find(sender);
        known != nullptr && IsLive(known->member.state) &&
        known->member.meta.cluster_addr != own->meta.cluster_addr) {
      ++stats_.address_conflicts;
      std::string message = "node id " + sender.ToString() + " is already alive at " +
                            known->member.meta.cluster_addr + "; refused push-pull from " +
                            own->meta.cluster_addr;
      env_.OnWarning(message);
      return FailedPrecondition(std::move(message));
    }
    // memberlist state.go mergeState: a remote `dead` only makes the member
    // suspect here (our own timer decides); `left` is taken as is.
    for (wire::StateEntry& entry : state.members) {
      switch (entry.state) {
        case MemberState::kAlive:
          HandleAlive(wire::Alive{entry.incarnation, std::move(entry.meta)});
          break;
        case MemberState::kSuspect:
        case MemberState::kDead:
          HandleSuspect(wire::Suspect{entry.incarnation, entry.meta.id, sender});
          break;
        case MemberState::kLeft:
          HandleDead(wire::Dead{entry.incarnation, entry.meta.id, entry.meta.id});
          break;
      }
    }
    return Status::Ok();
  }

  // ---- timers ------------------------------------------------------------

  void Tick() {
    if (!started_) return;
    const int64_t now = clock_.NowMillis();
    TickRelays(now);
    if (!left_) TickProbe(now);
    TickSuspicions(now);
    if (now >= next_gossip_ms_) {
      Gossip(now);
      next_gossip_ms_ = NextPeriod(next_gossip_ms_, config_.gossip_interval_ms, now);
    }
    if (now >= next_push_pull_ms_) {
      if (!left_) PushPull();
      next_push_pull_ms_ = now + PushPullIntervalMillis();
    }
    if (now >= next_reclaim_ms_) {
      Reclaim(now);
      next_reclaim_ms_ = now + config_.probe_interval_ms;
    }
  }

  int64_t NextDeadlineMillis() const {
    if (!started_) return kNever;
    int64_t next = std::min({next_gossip_ms_, next_push_pull_ms_, next_reclaim_ms_});
    if (!left_) {
      if (probe_) {
        if (!probe_->indirect_sent) next = std::min(next, probe_->indirect_at);
        next = std::min(next, probe_->end_at);
      } else {
        next = std::min(next, next_probe_ms_);
      }
    }
    for (const auto& [seq, relay] : relays_) {
      next = std::min(next, relay.nack_sent ? relay.expire_at : relay.nack_at);
    }
    for (NodeId id : suspects_) {
      const Record* record = Find(id);
      if (record != nullptr && record->suspicion) {
        next = std::min(next, record->suspicion->deadline_millis());
      }
    }
    return next;
  }

  // ---- queries -----------------------------------------------------------

  std::string EncodeState() const {
    wire::State state;
    state.sender = SelfId();
    state.members.reserve(members_.size());
    for (const Record& record : members_) {
      state.members.push_back({record.member.meta, record.member.state, record.member.incarnation});
    }
    return wire::EncodeState(state);
  }

  std::vector<Member> Members() const {
    std::vector<Member> out;
    out.reserve(members_.size());
    for (const Record& record : members_) out.push_back(record.member);
    return out;
  }

  const Member& Self() const { return members_[0].member; }
  bool left() const { return left_; }
  int HealthScore() const { return awareness_.score(); }
  size_t NumLive() const { return num_live_; }
  const SwimStats& stats() const { return stats_; }
  const MembershipConfig& config() const { return config_; }

 private:
  struct Record {
    Member member;
    std::optional<Suspicion> suspicion;
  };

  // The probe round in progress (SWIM §3.1, memberlist state.go probeNode).
  struct Probe {
    NodeId target;
    std::string target_addr;
    uint64_t target_incarnation = 0;
    uint32_t seq = 0;
    int64_t start = 0;
    int64_t indirect_at = 0;
    int64_t end_at = 0;
    bool indirect_sent = false;
    int expected_nacks = 0;
    int nacks = 0;
  };

  // An indirect probe we run for another node.
  struct Relay {
    std::string requester;
    uint32_t requester_seq = 0;
    bool want_nack = false;
    bool nack_sent = false;
    int64_t nack_at = 0;
    int64_t expire_at = 0;
  };

  Member& SelfMember() { return members_[0].member; }
  NodeId SelfId() const { return members_[0].member.meta.id; }

  Record* Find(NodeId id) {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &members_[it->second];
  }
  const Record* Find(NodeId id) const {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &members_[it->second];
  }

  uint64_t RandomBelow(uint64_t bound) { return bound == 0 ? 0 : rng_() % bound; }

  static int64_t NextPeriod(int64_t previous, int64_t interval, int64_t now) {
    const int64_t next = previous + interval;
    return next > now ? next : now + interval;
  }

  int64_t PushPullIntervalMillis() const {
    const size_t n = num_live_;
    if (n <= kPushPullScaleThreshold) return config_.push_pull_interval_ms;
    const double multiplier =
        std::ceil(std::log2(static_cast<double>(n)) - std::log2(kPushPullScaleThreshold)) + 1.0;
    return static_cast<int64_t>(multiplier) * config_.push_pull_interval_ms;
  }

  // ---- member table --------------------------------------------------------

  void AddMember(NodeMeta meta, uint64_t incarnation) {
    Record record;
    record.member.meta = std::move(meta);
    record.member.incarnation = incarnation;
    record.member.state = MemberState::kAlive;
    record.member.state_change_millis = clock_.NowMillis();
    const NodeId id = record.member.meta.id;
    index_.emplace(id, members_.size());
    members_.push_back(std::move(record));
    ++num_live_;
    // memberlist inserts a new node at a random offset of the probe order.
    const size_t position = RandomBelow(probe_order_.size() + 1);
    probe_order_.push_back(id);
    std::swap(probe_order_[position], probe_order_.back());
    env_.OnMemberChanged(members_.back().member, std::nullopt);
  }

  // Moves `record` to `state` at `incarnation`, keeps the counters and the
  // suspicion bookkeeping right, and reports the change.
  void SetState(Record& record, MemberState state, uint64_t incarnation) {
    Member& member = record.member;
    const MemberState before = member.state;
    if (IsLive(before) != IsLive(state)) {
      if (IsLive(state)) {
        ++num_live_;
      } else {
        --num_live_;
      }
    }
    if (state != MemberState::kSuspect && record.suspicion) {
      record.suspicion.reset();
      std::erase(suspects_, member.meta.id);
    }
    if (before != state) member.state_change_millis = clock_.NowMillis();
    member.state = state;
    member.incarnation = incarnation;
    env_.OnMemberChanged(member, before);
  }

  void RemoveMember(NodeId id) {
    auto it = index_.find(id);
    if (it == index_.end() || it->second == 0) return;
    const size_t position = it->second;
    index_.erase(it);
    if (position != members_.size() - 1) {
      members_[position] = std::move(members_.back());
      index_[members_[position].member.meta.id] = position;
    }
    members_.pop_back();
    std::erase(suspects_, id);
  }

  // ---- broadcasting ------------------------------------------------------

  void Broadcast(NodeId subject, const wire::Message& message) {
    broadcasts_.Queue(subject, wire::EncodeMessage(message));
  }

  void QueueAliveOfSelf() {
    const Member& self = Self();
    Broadcast(self.meta.id, wire::Alive{self.incarnation, self.meta});
  }

  // Sends `framed` (already encoded messages) plus as many broadcasts as fit.
  void Send(const std::string& to, const std::string& framed) {
    std::string packet = wire::PacketHeader();
    packet += framed;
    const size_t budget = static_cast<size_t>(config_.max_packet_bytes);
    if (packet.size() < budget) {
      packet += broadcasts_.Take(budget - packet.size(), config_.RetransmitLimit(num_live_));
    }
    ++stats_.packets_sent;
    stats_.bytes_sent += packet.size();
    env_.SendPacket(to, std::move(packet));
  }

  void Send(const std::string& to, const wire::Message& message) {
    Send(to, wire::EncodeMessage(message));
  }

  // ---- refutation --------------------------------------------------------

  void Refute(uint64_t accused_incarnation, std::string_view what) {
    Record& self = members_[0];
    const uint64_t incarnation = std::max(self.member.incarnation, accused_incarnation) + 1;
    ++stats_.refutations;
    awareness_.ApplyDelta(1);
    env_.OnWarning("refuting " + std::string(what) + " of this node at incarnation " +
                   std::to_string(accused_incarnation) + "; now at incarnation " +
                   std::to_string(incarnation));
    SetState(self, MemberState::kAlive, incarnation);
    QueueAliveOfSelf();
  }

  // ---- message handlers ----------------------------------------------------

  void Handle(const std::string& from, wire::Ping ping) {
    if (ping.target != SelfId()) return;  // address reused by another node
    Send(ping.source_addr, wire::Ack{ping.seq});
  }

  void Handle(const std::string& from, wire::IndirectPing request) {
    if (request.target == SelfId()) {
      Send(from, wire::Ack{request.seq});
      return;
    }
    if (relays_.size() >= kMaxRelays) return;
    const int64_t now = clock_.NowMillis();
    const uint32_t seq = next_seq_++;
    Relay relay;
    relay.requester = from;
    relay.requester_seq = request.seq;
    relay.want_nack = request.want_nack;
    relay.nack_sent = !request.want_nack;
    relay.nack_at = now + config_.probe_timeout_ms * 8 / 10;
    relay.expire_at = now + config_.probe_timeout_ms;
    relays_[seq] = std::move(relay);
    Send(request.target_addr, wire::Ping{seq, request.target, SelfId(), Self().meta.cluster_addr});
  }

  void Handle(const std::string& from, wire::Ack ack) {
    if (probe_ && ack.seq == probe_->seq) {
      ++stats_.acks_received;
      const int64_t now = clock_.NowMillis();
      if (Record* target = Find(probe_->target)) {
        target->member.last_rtt_micros = (now - probe_->start) * 1000;
      }
      awareness_.ApplyDelta(-1);
      probe_.reset();  // next round at next_probe_ms_
      return;
    }
    auto it = relays_.find(ack.seq);
    if (it == relays_.end()) return;
    Relay relay = std::move(it->second);
    relays_.erase(it);
    Send(relay.requester, wire::Ack{relay.requester_seq});
  }

  void Handle(const std::string& from, wire::Nack nack) {
    if (probe_ && nack.seq == probe_->seq) {
      ++stats_.nacks_received;
      ++probe_->nacks;
    }
  }

  void Handle(const std::string& from, wire::Alive alive) { HandleAlive(std::move(alive)); }
  void Handle(const std::string& from, wire::Suspect suspect) { HandleSuspect(suspect); }
  void Handle(const std::string& from, wire::Dead dead) { HandleDead(dead); }

  // memberlist state.go aliveNode.
  void HandleAlive(wire::Alive alive) {
    const NodeId id = alive.meta.id;
    const bool about_self = id == SelfId();
    if (about_self && left_) return;
    Record* record = Find(id);
    if (record == nullptr) {
      AddMember(alive.meta, alive.incarnation);
      Broadcast(id, alive);
      return;
    }
    Member& member = record->member;
    bool address_changed = false;
    if (member.meta.cluster_addr != alive.meta.cluster_addr) {
      if (about_self || IsLive(member.state)) {
        ++stats_.address_conflicts;
        env_.OnWarning("node id " + id.ToString() + " is already alive at " +
                       member.meta.cluster_addr + "; refused alive message claiming it at " +
                       alive.meta.cluster_addr);
        return;
      }
      address_changed = true;  // dead or left: the node came back elsewhere
    }
    if (about_self) {
      // Someone gossips an older or different view of us: assert ourselves.
      if (alive.incarnation > member.incarnation ||
          (alive.incarnation == member.incarnation && alive.meta != member.meta)) {
        Refute(alive.incarnation, "a stale alive message");
      }
      return;
    }
    if (alive.incarnation <= member.incarnation && !address_changed) return;
    Broadcast(id, alive);
    member.meta = std::move(alive.meta);
    SetState(*record, MemberState::kAlive, alive.incarnation);
  }

  // memberlist state.go suspectNode.
  void HandleSuspect(const wire::Suspect& suspect) {
    Record* record = Find(suspect.node);
    if (record == nullptr) return;
    Member& member = record->member;
    if (suspect.incarnation < member.incarnation) return;
    if (record->suspicion) {
      if (suspect.incarnation == member.incarnation) {
        if (record->suspicion->Confirm(suspect.from)) Broadcast(suspect.node, suspect);
        return;
      }
      // A newer incarnation is suspected: the member refuted the suspicion
      // we hold (we missed its alive). Start over instead of confirming.
      Broadcast(suspect.node, suspect);
      member.incarnation = suspect.incarnation;
      record->suspicion = NewSuspicion(suspect.from);
      env_.OnMemberChanged(member, MemberState::kSuspect);
      return;
    }
    if (member.state != MemberState::kAlive) return;
    if (suspect.node == SelfId()) {
      if (!left_) Refute(suspect.incarnation, "suspicion");
      return;
    }
    Broadcast(suspect.node, suspect);
    ++stats_.suspicions;
    SetState(*record, MemberState::kSuspect, suspect.incarnation);
    record->suspicion = NewSuspicion(suspect.from);
    suspects_.push_back(suspect.node);
  }

  Suspicion NewSuspicion(NodeId from) const {
    const size_t n = num_live_;
    int expected = config_.suspicion_mult - 2;
    if (static_cast<int64_t>(n) - 2 < expected) expected = 0;
    return Suspicion(from, expected, config_.SuspicionMinMillis(n), config_.SuspicionMaxMillis(n),
                     clock_.NowMillis());
  }

  // memberlist state.go deadNode; from == node means the node left.
  void HandleDead(const wire::Dead& dead) {
    Record* record = Find(dead.node);
    if (record == nullptr) return;
    Member& member = record->member;
    if (dead.incarnation < member.incarnation) return;
    const bool left = dead.from == dead.node;
    if (dead.node == SelfId()) {
      if (!left_) Refute(dead.incarnation, left ? "a leave" : "death");
      return;
    }
    if (IsGone(member.state)) {
      // A node we declared dead may still tell us it left.
      if (!(member.state == MemberState::kDead && left && dead.incarnation > member.incarnation)) {
        return;
      }
    }
    Broadcast(dead.node, dead);
    if (!left) ++stats_.deaths;
    SetState(*record, left ? MemberState::kLeft : MemberState::kDead, dead.incarnation);
  }

  // ---- probing -----------------------------------------------------------

  // Next member of the shuffled round-robin order that can be probed.
  std::optional<NodeId> NextProbeTarget() {
    for (size_t attempts = 0; attempts <= probe_order_.size() + 1; ++attempts) {
      if (probe_index_ >= probe_order_.size()) {
        RebuildProbeOrder();
        if (probe_order_.empty()) return std::nullopt;
      }
      const NodeId id = probe_order_[probe_index_++];
      const Record* record = Find(id);
      if (record != nullptr && id != SelfId() && IsLive(record->member.state)) return id;
    }
    return std::nullopt;
  }

  void RebuildProbeOrder() {
    probe_order_.clear();
    probe_index_ = 0;
    for (size_t i = 1; i < members_.size(); ++i) {
      if (IsLive(members_[i].member.state)) probe_order_.push_back(members_[i].member.meta.id);
    }
    for (size_t i = probe_order_.size(); i > 1; --i) {
      std::swap(probe_order_[i - 1], probe_order_[RandomBelow(i)]);
    }
  }

  void TickProbe(int64_t now) {
    if (probe_) {
      if (!probe_->indirect_sent && now >= probe_->indirect_at) SendIndirectProbes();
      if (now >= probe_->end_at) FinishFailedProbe();
    }
    if (!probe_ && now >= next_probe_ms_) StartProbe(now);
  }

  void StartProbe(int64_t now) {
    const int64_t interval = awareness_.Scale(config_.probe_interval_ms);
    next_probe_ms_ = now + interval;
    std::optional<NodeId> target_id = NextProbeTarget();
    if (!target_id) return;
    const Record& target = *Find(*target_id);
    Probe probe;
    probe.target = *target_id;
    probe.target_addr = target.member.meta.cluster_addr;
    probe.target_incarnation = target.member.incarnation;
    probe.seq = next_seq_++;
    probe.start = now;
    probe.indirect_at = now + awareness_.Scale(config_.probe_timeout_ms);
    probe.end_at = now + interval;
    // Buddy system (Lifeguard §IV-C): tell a suspect it is suspected first,
    // so it can refute at once and piggyback the refutation on its ack.
    std::string framed;
    if (target.member.state == MemberState::kSuspect) {
      framed = wire::EncodeMessage(
          wire::Suspect{target.member.incarnation, target.member.meta.id, SelfId()});
    }
    framed += wire::EncodeMessage(
        wire::Ping{probe.seq, probe.target, SelfId(), Self().meta.cluster_addr});
    probe_ = std::move(probe);
    ++stats_.probes;
    Send(probe_->target_addr, framed);
  }

  void SendIndirectProbes() {
    probe_->indirect_sent = true;
    const NodeId target = probe_->target;
    std::vector<size_t> helpers = RandomMembers(config_.indirect_checks, [&](const Record& r) {
      return r.member.state == MemberState::kAlive && r.member.meta.id != target;
    });
    const wire::IndirectPing request{probe_->seq, target, probe_->target_addr, true};
    const std::string framed = wire::EncodeMessage(request);
    probe_->expected_nacks = static_cast<int>(helpers.size());
    for (size_t index : helpers) {
      ++stats_.indirect_probes;
      Send(members_[index].member.meta.cluster_addr, framed);
    }
  }

  void FinishFailedProbe() {
    Probe probe = std::move(*probe_);
    probe_.reset();
    ++stats_.probe_failures;
    // Lifeguard: missing nacks mean we may be the slow one.
    int delta = 1;
    if (probe.expected_nacks > 0) delta = std::max(0, probe.expected_nacks - probe.nacks);
    awareness_.ApplyDelta(delta);
    HandleSuspect(wire::Suspect{probe.target_incarnation, probe.target, SelfId()});
  }

  void TickRelays(int64_t now) {
    for (auto it = relays_.begin(); it != relays_.end();) {
      Relay& relay = it->second;
      if (!relay.nack_sent && now >= relay.nack_at) {
        relay.nack_sent = true;
        Send(relay.requester, wire::Nack{relay.requester_seq});
      }
      if (now >= relay.expire_at) {
        it = relays_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void TickSuspicions(int64_t now) {
    std::vector<NodeId> expired;
    for (NodeId id : suspects_) {
      const Record* record = Find(id);
      if (record != nullptr && record->suspicion && now >= record->suspicion->deadline_millis()) {
        expired.push_back(id);
      }
    }
    for (NodeId id : expired) {
      Record* record = Find(id);
      if (record == nullptr || record->member.state != MemberState::kSuspect) continue;
      HandleDead(wire::Dead{record->member.incarnation, id, SelfId()});
    }
  }

  // ---- gossip, push-pull, reclaim ----------------------------------------

  // Indexes of up to `k` distinct random members (never self) matching
  // `eligible` (memberlist util.go kRandomNodes: bounded random tries).
  template <typename Predicate>
  std::vector<size_t> RandomMembers(int k, Predicate eligible) {
    std::vector<size_t> chosen;
    const size_t n = members_.size();
    if (n <= 1 || k <= 0) return chosen;
    for (size_t tries = 0; tries < 3 * n && chosen.size() < static_cast<size_t>(k); ++tries) {
      const size_t index = 1 + RandomBelow(n - 1);
      if (!eligible(members_[index])) continue;
      if (std::find(chosen.begin(), chosen.end(), index) != chosen.end()) continue;
      chosen.push_back(index);
    }
    return chosen;
  }

  void Gossip(int64_t now) {
    if (broadcasts_.empty()) return;
    std::vector<size_t> targets = RandomMembers(config_.gossip_nodes, [&](const Record& r) {
      if (IsLive(r.member.state)) return true;
      return now - r.member.state_change_millis < config_.gossip_to_dead_ms;
    });
    const size_t budget = static_cast<size_t>(config_.max_packet_bytes);
    for (size_t index : targets) {
      std::string messages = broadcasts_.Take(budget - wire::PacketHeader().size(),
                                              config_.RetransmitLimit(num_live_));
      if (messages.empty()) return;
      std::string packet = wire::PacketHeader() + messages;
      ++stats_.packets_sent;
      stats_.bytes_sent += packet.size();
      env_.SendPacket(members_[index].member.meta.cluster_addr, std::move(packet));
    }
  }

  void PushPull() {
    std::vector<size_t> peer =
        RandomMembers(1, [](const Record& r) { return r.member.state == MemberState::kAlive; });
    if (!peer.empty()) env_.StartPushPull(members_[peer[0]].member);
  }

  void Reclaim(int64_t now) {
    std::vector<NodeId> forget;
    for (size_t i = 1; i < members_.size(); ++i) {
      const Member& member = members_[i].member;
      if (IsGone(member.state) &&
          now - member.state_change_millis >= config_.dead_node_reclaim_ms) {
        forget.push_back(member.meta.id);
      }
    }
    for (NodeId id : forget) RemoveMember(id);
  }

  // ---- state -------------------------------------------------------------

  MembershipConfig config_;
  const Clock& clock_;
  SwimEnvironment& env_;
  std::mt19937_64 rng_;
  Awareness awareness_;
  BroadcastQueue broadcasts_;
  SwimStats stats_;

  std::vector<Record> members_;  // [0] is self
  std::unordered_map<NodeId, size_t> index_;
  size_t num_live_ = 0;
  std::vector<NodeId> suspects_;  // members with a running Suspicion

  bool started_ = false;
  bool left_ = false;
  uint32_t next_seq_ = 0;

  std::vector<NodeId> probe_order_;
  size_t probe_index_ = 0;
  std::optional<Probe> probe_;
  std::map<uint32_t, Relay> relays_;

  int64_t next_probe_ms_ = kNever;
  int64_t next_gossip_ms_ = kNever;
  int64_t next_push_pull_ms_ = kNever;
  int64_t next_reclaim_ms_ = kNever;
};

Swim::Swim(MembershipConfig config, NodeMeta self, uint64_t incarnation, const Clock& clock,
           uint64_t seed, SwimEnvironment& env)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(self), incarnation, clock, seed,
                                   env)) {}
Swim::~Swim() = default;

void Swim::Start() {
  impl_->Start();
}
void Swim::HandlePacket(const std::string& from, std::string_view packet) {
  impl_->HandlePacket(from, packet);
}
void Swim::Tick() {
  impl_->Tick();
}
int64_t Swim::NextDeadlineMillis() const {
  return impl_->NextDeadlineMillis();
}
std::string Swim::EncodeState() const {
  return impl_->EncodeState();
}
Status Swim::MergeState(std::string_view state, NodeId sender) {
  return impl_->MergeState(state, sender);
}
void Swim::Leave() {
  impl_->Leave();
}
bool Swim::left() const {
  return impl_->left();
}
std::vector<Member> Swim::Members() const {
  return impl_->Members();
}
const Member& Swim::Self() const {
  return impl_->Self();
}
int Swim::HealthScore() const {
  return impl_->HealthScore();
}
size_t Swim::NumLive() const {
  return impl_->NumLive();
}
const SwimStats& Swim::stats() const {
  return impl_->stats();
}
const MembershipConfig& Swim::config() const {
  return impl_->config();
}

}  // namespace meshkv::membership
