// SimNetwork: a deterministic discrete-event simulation of many Swim nodes
// (the real membership code) over an in-memory network.
//
// Time is one FakeClock shared by every node and moved only by the event
// loop; all randomness (node ids, Swim seeds, loss, duplication, latency)
// comes from one std::mt19937_64 seeded by SimOptions::seed, and events at the
// same time run in the order they were scheduled. The same options and calls
// therefore give the same run, packet for packet.
//
// Faults:
//   - per-link latency: fixed per ordered pair, in [min_latency_ms, max_latency_ms];
//   - random loss and duplication of gossip (UDP) packets;
//   - partitions: nodes in different groups cannot exchange anything;
//   - Stall(): the node's event loop stops (like SIGSTOP): no Tick, and what
//     is sent to it waits and is handled, in order, when it resumes;
//   - Crash(): the node stops for good; what is sent to it is lost.
// Push-pull (StartPushPull and joins) goes through the simulated network as a
// reliable request/reply (TCP-like: never lost, delayed by latency, blocked
// by partitions and crashes, held by stalls).
//
// Other layers (replication) send request/reply traffic with Call(), which
// behaves like push-pull and fails with kDeadlineExceeded when no reply comes.
//
// Single-threaded. Callbacks run inside RunFor()/RunUntil().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "membership/config.h"
#include "membership/swim.h"

namespace meshkv::sim {

struct SimOptions {
  uint64_t seed = 1;
  double loss = 0.0;       // probability that a gossip packet is lost
  double duplicate = 0.0;  // probability that a gossip packet arrives twice
  int64_t min_latency_ms = 1;
  int64_t max_latency_ms = 5;
  membership::MembershipConfig config = membership::MembershipConfig::Lan();
};

class SimNetwork {
 public:
  // A member of `observer`'s table changed (see SwimEnvironment::OnMemberChanged).
  using ChangeCallback = std::function<void(size_t observer, const membership::Member& member,
                                            std::optional<membership::MemberState> before)>;

  explicit SimNetwork(SimOptions options);
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // Creates a node (not started yet); returns its index.
  size_t AddNode();
  // Swim::Start() on the node now.
  void Start(size_t node);
  // The driver's join: push-pull between `joiner` and `seed` over the network.
  void Join(size_t joiner, size_t seed);
  // Runs `action` when the clock reaches `at_millis` (absolute).
  void At(int64_t at_millis, std::function<void()> action);

  void Crash(size_t node);
  void Stall(size_t node, int64_t millis);
  // Each node goes into the group of the list it appears in; nodes not
  // listed form one more group. Heal() puts everyone back together.
  void Partition(const std::vector<std::vector<size_t>>& groups);
  void Heal();
  void set_loss(double loss) { options_.loss = loss; }

  void RunFor(int64_t millis);
  // Runs until `done()` (checked every `check_every_ms`) or `limit_ms`
  // passed. Returns true when done.
  bool RunUntil(const std::function<bool()>& done, int64_t limit_ms, int64_t check_every_ms = 100);

  void set_on_change(ChangeCallback callback) { on_change_ = std::move(callback); }

  // ---- request/reply traffic of other layers (replication) ----
  using RpcReply = std::function<void(Result<std::string>)>;
  using RpcHandler =
      std::function<void(size_t from, uint32_t type, std::string payload, RpcReply reply)>;
  void SetRpcHandler(size_t node, RpcHandler handler);
  // A request from `from` to `to`: delayed by the link latency each way,
  // refused across partitions and to a crashed node, held while `to` is
  // stalled, and answered with kDeadlineExceeded if no reply arrives within
  // `deadline_ms` (a reply lost to a partition or a crash of the caller).
  // `done` runs exactly once, inside the event loop.
  void Call(size_t from, size_t to, uint32_t type, std::string payload, int64_t deadline_ms,
            RpcReply done);
  // Runs `action` every `period_ms` from now on.
  void Every(int64_t period_ms, std::function<void()> action);
  const Clock& clock() const { return clock_; }
  bool stalled(size_t node) const;

  int64_t now() const { return clock_.NowMillis(); }
  size_t size() const { return nodes_.size(); }
  membership::Swim& swim(size_t node);
  NodeId id(size_t node) const;
  bool crashed(size_t node) const;
  bool running(size_t node) const;  // started and not crashed
  size_t NumRunning() const;
  // Members `node` has as alive (including itself).
  size_t AliveSeenBy(size_t node) const;
  // Every node that has not crashed has started, and has every running node
  // as alive and nothing else as alive.
  bool Converged() const;
  // Weaker: every node that has not crashed has started and counts every
  // running node as live (alive or suspect) in Swim::NumLive().
  bool AllKnowAll() const;
  std::optional<size_t> IndexOf(NodeId id) const;
  // Sum of stats().bytes_sent (gossip UDP payload bytes) over all nodes.
  uint64_t TotalGossipBytesSent() const;
  uint64_t packets_lost() const { return packets_lost_; }
  uint64_t events_processed() const { return events_processed_; }

 private:
  class Node;
  enum class EventKind {
    kPacket,
    kPushPullRequest,
    kPushPullReply,
    kTick,
    kResume,
    kAction,
    kRpcRequest,
    kRpcReply
  };
  struct RpcCall {
    RpcReply done;
    std::optional<Result<std::string>> reply;  // set when the reply is sent
    bool finished = false;
    void Finish(Result<std::string> result) {
      if (finished) return;
      finished = true;
      done(std::move(result));
    }
  };
  struct Event {
    int64_t time = 0;
    uint64_t sequence = 0;
    EventKind kind = EventKind::kTick;
    size_t to = 0;
    size_t from = 0;
    std::string payload;
    std::function<void()> action;
    uint32_t rpc_type = 0;
    std::shared_ptr<RpcCall> call;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.time != b.time ? a.time > b.time : a.sequence > b.sequence;
    }
  };

  void Push(Event event);
  void SendPacket(size_t from, const std::string& to, std::string packet);
  void StartPushPull(size_t from, NodeId peer);
  void Process(Event& event);
  void Deliver(Event& event);
  void Reschedule(size_t node);
  bool Linked(size_t from, size_t to) const;
  int64_t Latency(size_t from, size_t to) const;
  double Uniform();

  SimOptions options_;
  FakeClock clock_{0};
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unordered_map<std::string, size_t> by_addr_;
  std::unordered_map<NodeId, size_t> by_id_;
  std::vector<Event> queue_;  // a heap ordered by Later
  uint64_t next_sequence_ = 0;
  uint64_t packets_lost_ = 0;
  uint64_t events_processed_ = 0;
  ChangeCallback on_change_;
};

// Counts what the failure detectors conclude, through the change callback
// (one recorder per network; it installs itself).
class FailureRecorder {
 public:
  explicit FailureRecorder(SimNetwork& network);

  // Remember when each node declares `node` dead (call when crashing it).
  void Watch(size_t node);
  // Times a node that had not crashed was declared dead, by anyone.
  uint64_t false_positives() const { return false_positives_; }
  // Moves to suspect, summed over every observer.
  uint64_t suspicions() const { return suspicions_; }
  // When the last running node declared the watched node dead; nullopt
  // while some running node has not.
  std::optional<int64_t> AllDeclaredDeadAt() const;
  size_t NumDeclaredDead() const;

 private:
  SimNetwork& network_;
  uint64_t false_positives_ = 0;
  uint64_t suspicions_ = 0;
  std::optional<size_t> watched_;
  std::vector<int64_t> dead_at_;
};

// Starts nodes [0, seeds) joined to each other at once, then starts the
// others at random times over `spread_ms`, each joining through a random
// seed. Returns when the last join has been scheduled (run the network to
// make progress).
void BootstrapCluster(SimNetwork& network, size_t seeds, int64_t spread_ms, uint64_t seed);

}  // namespace meshkv::sim
