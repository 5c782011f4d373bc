// Swim: the SWIM failure detector with the three Lifeguard extensions (local
// health multiplier, dogpile suspicion with independent confirmations, buddy
// refutation) and nacks, written without I/O so that the same code runs in
// the node and in the deterministic simulation.
//
// Inputs: HandlePacket() for every gossip packet received (already opened by
// the keyring; the bytes are still untrusted), Tick() whenever the clock
// reaches NextDeadlineMillis(), MergeState() with a push-pull reply.
// Outputs go to the SwimEnvironment: plaintext packets to send, push-pull
// exchanges to start, member changes and warnings.
//
// Thread-safety: none; one thread (or strand) owns a Swim and makes every
// call, including the const ones. The environment is called synchronously
// from inside those calls and must not call back into Swim.
// Lifecycle: construct, Start(), then the calls above; Leave() announces
// `left` and keeps gossiping until the owner stops calling Tick().
// Errors: garbage packets are dropped and counted (stats().bad_packets),
// never fatal.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/node_id.h"
#include "base/status.h"
#include "membership/config.h"
#include "membership/member.h"

namespace meshkv::membership {

class SwimEnvironment {
 public:
  virtual ~SwimEnvironment() = default;
  // Send one plaintext gossip packet (<= config.max_packet_bytes) over UDP to
  // `to` (host:port). Best effort; loss is expected.
  virtual void SendPacket(const std::string& to, std::string packet) = 0;
  // Exchange full state with `peer` over peer RPC: send EncodeState(), and
  // pass the reply to MergeState() when it arrives (later, same thread).
  virtual void StartPushPull(const Member& peer) = 0;
  // A member was added or changed state/incarnation/meta. `before` is empty
  // for a member seen for the first time.
  virtual void OnMemberChanged(const Member& member, std::optional<MemberState> before) = 0;
  // Something an operator should see in the log (address conflicts, refutations).
  virtual void OnWarning(const std::string& message) = 0;
};

// Counters since construction. Read with stats(); exported as metrics.
struct SwimStats {
  uint64_t probes = 0;           // direct probes sent
  uint64_t probe_failures = 0;   // probe rounds without any ack
  uint64_t indirect_probes = 0;  // ping-req sent
  uint64_t acks_received = 0;
  uint64_t nacks_received = 0;
  uint64_t suspicions = 0;   // members we moved to suspect
  uint64_t refutations = 0;  // times we refuted suspicion or death of ourselves
  uint64_t deaths = 0;       // members we moved to dead
  uint64_t address_conflicts = 0;  // alive messages refused: id alive at another address
  uint64_t bad_packets = 0;        // undecodable or invalid messages
  uint64_t packets_sent = 0;
  uint64_t packets_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

class Swim {
 public:
  // `clock` must be monotonic for the life of the Swim (the node passes a
  // steady clock, the simulation a FakeClock). `incarnation` is where self
  // starts; the node persists it so a restart starts above the last one.
  // `seed` seeds the probe order and gossip target choice.
  Swim(MembershipConfig config, NodeMeta self, uint64_t incarnation, const Clock& clock,
       uint64_t seed, SwimEnvironment& env);
  ~Swim();
  Swim(const Swim&) = delete;
  Swim& operator=(const Swim&) = delete;

  // Marks self alive and arms the probe, gossip and push-pull timers.
  void Start();

  // One gossip packet from `from` (host:port of the sender's socket).
  void HandlePacket(const std::string& from, std::string_view packet);

  // Runs everything due at clock.NowMillis().
  void Tick();
  // The next time Tick() has work to do (absolute ms on the clock).
  int64_t NextDeadlineMillis() const;

  // Full member table (including self), for push-pull. Bounded by the number
  // of members, not by packet size.
  std::string EncodeState() const;
  // Merges a peer's EncodeState(). `sender` is the node id the transport
  // authenticated (certificate); the state must describe that node as its
  // sender. Errors (nothing merged): kInvalidArgument for garbage or a
  // sender mismatch; kFailedPrecondition when the sender's id is alive here
  // at another address ("node id X is already alive at ADDR").
  Status MergeState(std::string_view state, NodeId sender);

  // Broadcasts that self left (dead message from self, seen as `left`).
  void Leave();
  bool left() const;

  // Snapshot of every known member, self first.
  std::vector<Member> Members() const;
  const Member& Self() const;
  // Lifeguard local health score, 0 = healthy.
  int HealthScore() const;
  // Members currently alive or suspect (including self).
  size_t NumLive() const;
  const SwimStats& stats() const;
  const MembershipConfig& config() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshkv::membership
