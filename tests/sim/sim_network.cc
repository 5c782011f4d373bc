#include "sim_network.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <unordered_set>

namespace meshkv::sim {

using membership::Member;
using membership::MemberState;
using membership::Swim;

namespace {

constexpr int64_t kNoTick = std::numeric_limits<int64_t>::min();

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

class SimNetwork::Node final : public membership::SwimEnvironment {
 public:
  Node(SimNetwork& network, size_t index) : network_(network), index_(index) {}

  void SendPacket(const std::string& to, std::string packet) override {
    network_.SendPacket(index_, to, std::move(packet));
  }
  void StartPushPull(const Member& peer) override { network_.StartPushPull(index_, peer.meta.id); }
  void OnMemberChanged(const Member& member, std::optional<MemberState> before) override {
    const bool was_alive = before == MemberState::kAlive;
    const bool is_alive = member.state == MemberState::kAlive;
    if (was_alive != is_alive) alive_seen += is_alive ? 1 : -1;
    if (network_.on_change_) network_.on_change_(index_, member, before);
  }
  void OnWarning(const std::string& message) override {}

  std::unique_ptr<Swim> swim;
  std::string addr;
  bool started = false;
  bool crashed = false;
  int64_t stalled_until = kNoTick;
  int64_t scheduled_tick = kNoTick;
  std::vector<Event> held;  // arrived while stalled
  RpcHandler rpc_handler;
  int group = 0;
  int64_t alive_seen = 0;

 private:
  SimNetwork& network_;
  size_t index_;
};

SimNetwork::SimNetwork(SimOptions options)
    : options_(std::move(options)), clock_(1'700'000'000'000), rng_(options_.seed) {}

SimNetwork::~SimNetwork() = default;

size_t SimNetwork::AddNode() {
  const size_t index = nodes_.size();
  auto node = std::make_unique<Node>(*this, index);
  NodeId id;
  do {
    id = NodeId(rng_());
  } while (!id.valid() || by_id_.contains(id));
  membership::NodeMeta meta;
  meta.id = id;
  meta.cluster = "sim";
  meta.cluster_addr = "10." + std::to_string(index / 65536) + "." +
                      std::to_string(index / 256 % 256) + "." + std::to_string(index % 256) +
                      ":7946";
  meta.version = "sim";
  node->addr = meta.cluster_addr;
  node->swim = std::make_unique<Swim>(options_.config, meta, 1, clock_, rng_(), *node);
  by_addr_.emplace(node->addr, index);
  by_id_.emplace(id, index);
  nodes_.push_back(std::move(node));
  return index;
}

void SimNetwork::Start(size_t index) {
  Node& node = *nodes_[index];
  if (node.started || node.crashed) return;
  node.started = true;
  node.swim->Start();
  Reschedule(index);
}

void SimNetwork::Join(size_t joiner, size_t seed) {
  StartPushPull(joiner, nodes_[seed]->swim->Self().meta.id);
}

void SimNetwork::At(int64_t at_millis, std::function<void()> action) {
  Event event;
  event.time = std::max(at_millis, now());
  event.kind = EventKind::kAction;
  event.action = std::move(action);
  Push(std::move(event));
}

void SimNetwork::Crash(size_t index) {
  Node& node = *nodes_[index];
  node.crashed = true;
  node.held.clear();
}

void SimNetwork::Stall(size_t index, int64_t millis) {
  Node& node = *nodes_[index];
  if (node.crashed) return;
  node.stalled_until = std::max(node.stalled_until, now() + millis);
  Event event;
  event.time = node.stalled_until;
  event.kind = EventKind::kResume;
  event.to = index;
  Push(std::move(event));
}

void SimNetwork::Partition(const std::vector<std::vector<size_t>>& groups) {
  for (auto& node : nodes_) node->group = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t index : groups[g]) nodes_[index]->group = static_cast<int>(g) + 1;
  }
}

void SimNetwork::Heal() {
  for (auto& node : nodes_) node->group = 0;
}

Swim& SimNetwork::swim(size_t index) {
  return *nodes_[index]->swim;
}
NodeId SimNetwork::id(size_t index) const {
  return nodes_[index]->swim->Self().meta.id;
}
bool SimNetwork::crashed(size_t index) const {
  return nodes_[index]->crashed;
}
bool SimNetwork::running(size_t index) const {
  return nodes_[index]->started && !nodes_[index]->crashed;
}

size_t SimNetwork::NumRunning() const {
  size_t n = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) n += running(i) ? 1 : 0;
  return n;
}

size_t SimNetwork::AliveSeenBy(size_t index) const {
  return static_cast<size_t>(nodes_[index]->alive_seen);
}

bool SimNetwork::Converged() const {
  const size_t running_nodes = NumRunning();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]->crashed && !nodes_[i]->started) return false;
    if (running(i) && AliveSeenBy(i) != running_nodes) return false;
  }
  return true;
}

std::optional<size_t> SimNetwork::IndexOf(NodeId id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

bool SimNetwork::AllKnowAll() const {
  const size_t running_nodes = NumRunning();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]->crashed && !nodes_[i]->started) return false;
    if (running(i) && nodes_[i]->swim->NumLive() != running_nodes) return false;
  }
  return true;
}

uint64_t SimNetwork::TotalGossipBytesSent() const {
  uint64_t total = 0;
  for (const auto& node : nodes_) total += node->swim->stats().bytes_sent;
  return total;
}

double SimNetwork::Uniform() {
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

bool SimNetwork::Linked(size_t from, size_t to) const {
  return nodes_[from]->group == nodes_[to]->group;
}

int64_t SimNetwork::Latency(size_t from, size_t to) const {
  const int64_t span = std::max<int64_t>(0, options_.max_latency_ms - options_.min_latency_ms);
  const uint64_t h = SplitMix64(options_.seed ^ (from * 0x100000001b3ULL) ^ (to << 32) ^ to);
  return options_.min_latency_ms + static_cast<int64_t>(h % static_cast<uint64_t>(span + 1));
}

void SimNetwork::Push(Event event) {
  event.sequence = next_sequence_++;
  queue_.push_back(std::move(event));
  std::push_heap(queue_.begin(), queue_.end(), Later{});
}

void SimNetwork::SendPacket(size_t from, const std::string& to_addr, std::string packet) {
  auto it = by_addr_.find(to_addr);
  if (it == by_addr_.end()) return;
  const size_t to = it->second;
  if (!Linked(from, to) || (options_.loss > 0 && Uniform() < options_.loss)) {
    ++packets_lost_;
    return;
  }
  const bool twice = options_.duplicate > 0 && Uniform() < options_.duplicate;
  Event event;
  event.time = now() + Latency(from, to);
  event.kind = EventKind::kPacket;
  event.to = to;
  event.from = from;
  if (twice) {
    Event copy = event;
    copy.payload = packet;
    copy.time += 1;
    Push(std::move(copy));
  }
  event.payload = std::move(packet);
  Push(std::move(event));
}

void SimNetwork::StartPushPull(size_t from, NodeId peer) {
  auto it = by_id_.find(peer);
  if (it == by_id_.end()) return;
  const size_t to = it->second;
  if (!Linked(from, to)) return;  // connect fails
  Event event;
  event.time = now() + Latency(from, to);
  event.kind = EventKind::kPushPullRequest;
  event.to = to;
  event.from = from;
  event.payload = nodes_[from]->swim->EncodeState();
  Push(std::move(event));
}

void SimNetwork::Reschedule(size_t index) {
  Node& node = *nodes_[index];
  if (!node.started || node.crashed || node.stalled_until > now()) return;
  int64_t deadline = node.swim->NextDeadlineMillis();
  if (deadline == std::numeric_limits<int64_t>::max()) return;
  deadline = std::max(deadline, now());
  if (deadline == node.scheduled_tick) return;
  node.scheduled_tick = deadline;
  Event event;
  event.time = deadline;
  event.kind = EventKind::kTick;
  event.to = index;
  Push(std::move(event));
}

// Hands a packet or push-pull message to a node that is running now.
void SimNetwork::Deliver(Event& event) {
  Node& node = *nodes_[event.to];
  Node& from = *nodes_[event.from];
  switch (event.kind) {
    case EventKind::kPacket:
      node.swim->HandlePacket(from.addr, event.payload);
      break;
    case EventKind::kPushPullRequest:
      if (node.swim->MergeState(event.payload, from.swim->Self().meta.id).ok() &&
          Linked(event.to, event.from)) {
        Event reply;
        reply.time = now() + Latency(event.to, event.from);
        reply.kind = EventKind::kPushPullReply;
        reply.to = event.from;
        reply.from = event.to;
        reply.payload = node.swim->EncodeState();
        Push(std::move(reply));
      }
      break;
    case EventKind::kPushPullReply:
      node.swim->MergeState(event.payload, from.swim->Self().meta.id).IgnoreError();
      break;
    case EventKind::kRpcRequest: {
      const size_t to = event.to;
      const size_t caller = event.from;
      std::shared_ptr<RpcCall> call = event.call;
      auto reply = [this, to, caller, call](Result<std::string> result) {
        if (!Linked(to, caller) || nodes_[caller]->crashed) return;  // lost: the caller times out
        call->reply = std::move(result);
        Event back;
        back.time = now() + Latency(to, caller);
        back.kind = EventKind::kRpcReply;
        back.to = caller;
        back.from = to;
        back.call = call;
        Push(std::move(back));
      };
      if (!node.rpc_handler) return reply(Unavailable("no handler"));
      node.rpc_handler(event.from, event.rpc_type, std::move(event.payload), std::move(reply));
      break;
    }
    case EventKind::kRpcReply:
      if (event.call->reply) event.call->Finish(std::move(*event.call->reply));
      break;
    default:
      break;
  }
}

void SimNetwork::Process(Event& event) {
  ++events_processed_;
  if (event.kind == EventKind::kAction) {
    event.action();
    return;
  }
  const size_t index = event.to;
  Node& node = *nodes_[index];
  if (node.crashed || !node.started) return;
  switch (event.kind) {
    case EventKind::kTick:
      if (event.time != node.scheduled_tick || node.stalled_until > now()) return;
      node.scheduled_tick = kNoTick;
      node.swim->Tick();
      break;
    case EventKind::kResume: {
      if (node.stalled_until > now()) return;  // extended by a later Stall()
      std::vector<Event> held = std::move(node.held);
      node.held.clear();
      for (Event& waiting : held) Deliver(waiting);
      node.scheduled_tick = kNoTick;
      if (node.swim->NextDeadlineMillis() <= now()) node.swim->Tick();
      break;
    }
    default:
      // A partition that formed while the message was in flight drops it.
      if (event.kind == EventKind::kPacket && !Linked(event.from, event.to)) return;
      if (node.stalled_until > now()) {
        node.held.push_back(std::move(event));
        return;
      }
      Deliver(event);
      break;
  }
  Reschedule(index);
}

void SimNetwork::RunFor(int64_t millis) {
  const int64_t end = now() + millis;
  while (!queue_.empty() && queue_.front().time <= end) {
    std::pop_heap(queue_.begin(), queue_.end(), Later{});
    Event event = std::move(queue_.back());
    queue_.pop_back();
    if (event.time > now()) clock_.Set(event.time);
    Process(event);
  }
  clock_.Set(end);
}

void SimNetwork::SetRpcHandler(size_t node, RpcHandler handler) {
  nodes_[node]->rpc_handler = std::move(handler);
}

void SimNetwork::Call(size_t from, size_t to, uint32_t type, std::string payload,
                      int64_t deadline_ms, RpcReply done) {
  auto call = std::make_shared<RpcCall>();
  call->done = std::move(done);
  At(now() + deadline_ms, [call] { call->Finish(DeadlineExceeded("no reply within the deadline")); });
  if (!Linked(from, to) || nodes_[to]->crashed || !nodes_[to]->started) {
    At(now() + Latency(from, to), [call] { call->Finish(Unavailable("connection refused")); });
    return;
  }
  Event event;
  event.time = now() + Latency(from, to);
  event.kind = EventKind::kRpcRequest;
  event.to = to;
  event.from = from;
  event.payload = std::move(payload);
  event.rpc_type = type;
  event.call = std::move(call);
  Push(std::move(event));
}

void SimNetwork::Every(int64_t period_ms, std::function<void()> action) {
  At(now() + period_ms, [this, period_ms, action = std::move(action)]() mutable {
    action();
    Every(period_ms, std::move(action));
  });
}

bool SimNetwork::stalled(size_t node) const {
  return nodes_[node]->stalled_until > now();
}

bool SimNetwork::RunUntil(const std::function<bool()>& done, int64_t limit_ms,
                          int64_t check_every_ms) {
  const int64_t end = now() + limit_ms;
  while (!done()) {
    if (now() >= end) return false;
    RunFor(std::min(check_every_ms, end - now()));
  }
  return true;
}

FailureRecorder::FailureRecorder(SimNetwork& network) : network_(network) {
  network.set_on_change(
      [this](size_t observer, const Member& member, std::optional<MemberState> before) {
        if (member.state == MemberState::kSuspect && before != MemberState::kSuspect) {
          ++suspicions_;
        }
        if (member.state != MemberState::kDead || before == MemberState::kDead) return;
        std::optional<size_t> index = network_.IndexOf(member.meta.id);
        if (index && !network_.crashed(*index)) ++false_positives_;
        if (index && watched_ && *index == *watched_ && observer < dead_at_.size() &&
            dead_at_[observer] < 0) {
          dead_at_[observer] = network_.now();
        }
      });
}

void FailureRecorder::Watch(size_t node) {
  watched_ = node;
  dead_at_.assign(network_.size(), -1);
}

std::optional<int64_t> FailureRecorder::AllDeclaredDeadAt() const {
  if (!watched_) return std::nullopt;
  int64_t latest = 0;
  for (size_t i = 0; i < network_.size(); ++i) {
    if (i == *watched_ || !network_.running(i)) continue;
    if (dead_at_[i] < 0) return std::nullopt;
    latest = std::max(latest, dead_at_[i]);
  }
  return latest;
}

size_t FailureRecorder::NumDeclaredDead() const {
  size_t n = 0;
  for (int64_t at : dead_at_) n += at >= 0 ? 1 : 0;
  return n;
}

void BootstrapCluster(SimNetwork& network, size_t seeds, int64_t spread_ms, uint64_t seed) {
  std::mt19937_64 rng(seed);
  seeds = std::max<size_t>(1, std::min(seeds, network.size()));
  for (size_t i = 0; i < seeds; ++i) network.Start(i);
  for (size_t i = 1; i < seeds; ++i) network.Join(i, 0);
  const int64_t start = network.now();
  for (size_t i = seeds; i < network.size(); ++i) {
    const int64_t at = start + (spread_ms > 0 ? static_cast<int64_t>(rng() % spread_ms) : 0);
    const size_t through = rng() % seeds;
    network.At(at, [&network, i, through] {
      network.Start(i);
      network.Join(i, through);
    });
  }
}

}  // namespace meshkv::sim
