// Fuzzes the gossip packet decoder (src/membership/messages.h) and the SWIM
// core fed with untrusted bytes: Swim::HandlePacket and Swim::MergeState.
//
// Properties checked beyond "does not crash":
// - a packet that decodes re-encodes to a packet that decodes to the same
//   number of messages, and re-encoding that gives the same bytes;
// - a state that decodes re-encodes and decodes to the same members;
// - HandlePacket counts the input as received, and as bad exactly when the
//   decoder refuses it; whatever it accepts, Swim keeps its invariants: self
//   first and alive, NumLive() equal to the alive + suspect members, and
//   every packet it sends within max_packet_bytes and decodable;
// - MergeState returns OK, kInvalidArgument or kFailedPrecondition only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "fuzz_check.h"
#include "membership/messages.h"
#include "membership/swim.h"

namespace {

using namespace meshkv;
using namespace meshkv::membership;

class CheckingEnvironment final : public SwimEnvironment {
 public:
  explicit CheckingEnvironment(size_t max_packet_bytes) : max_packet_bytes_(max_packet_bytes) {}
  void SendPacket(const std::string& to, std::string packet) override {
    FUZZ_CHECK(!to.empty());
    FUZZ_CHECK(packet.size() <= max_packet_bytes_);
    FUZZ_CHECK(wire::DecodePacket(packet).ok());
  }
  void StartPushPull(const Member& peer) override {}
  void OnMemberChanged(const Member& member, std::optional<MemberState> before) override {}
  void OnWarning(const std::string& message) override {}

 private:
  size_t max_packet_bytes_;
};

void CheckInvariants(const Swim& swim) {
  const std::vector<Member> members = swim.Members();
  FUZZ_CHECK(!members.empty());
  FUZZ_CHECK(members[0].meta.id == swim.Self().meta.id);
  FUZZ_CHECK(members[0].state == MemberState::kAlive);
  size_t live = 0;
  for (const Member& m : members) {
    live += m.state == MemberState::kAlive || m.state == MemberState::kSuspect ? 1 : 0;
  }
  FUZZ_CHECK(live == swim.NumLive());
}

void CheckDecoders(std::string_view input) {
  if (auto packet = wire::DecodePacket(input); packet.ok()) {
    const std::string encoded = wire::EncodePacket(*packet);
    auto again = wire::DecodePacket(encoded);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->size() == packet->size());
    FUZZ_CHECK(wire::EncodePacket(*again) == encoded);
  }
  if (auto state = wire::DecodeState(input); state.ok()) {
    const std::string encoded = wire::EncodeState(*state);
    auto again = wire::DecodeState(encoded);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->sender == state->sender);
    FUZZ_CHECK(again->members.size() == state->members.size());
    for (size_t i = 0; i < state->members.size(); ++i) {
      FUZZ_CHECK(again->members[i].meta == state->members[i].meta);
      FUZZ_CHECK(again->members[i].state == state->members[i].state);
      FUZZ_CHECK(again->members[i].incarnation == state->members[i].incarnation);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckDecoders(input);

  FakeClock clock(1'000'000);
  const MembershipConfig config = MembershipConfig::Lan();
  CheckingEnvironment env(static_cast<size_t>(config.max_packet_bytes));
  NodeMeta self;
  self.id = NodeId(1);
  self.cluster = "fuzz";
  self.cluster_addr = "10.0.0.1:7946";
  Swim swim(config, self, 1, clock, 42, env);
  swim.Start();

  // A known peer, so messages about it take the interesting paths.
  NodeMeta peer = self;
  peer.id = NodeId(2);
  peer.cluster_addr = "10.0.0.2:7946";
  swim.HandlePacket(peer.cluster_addr, wire::EncodePacket({wire::Alive{1, peer}}));

  const uint64_t bad_before = swim.stats().bad_packets;
  swim.HandlePacket("10.0.0.3:7946", input);
  FUZZ_CHECK(swim.stats().packets_received == 2);
  FUZZ_CHECK((swim.stats().bad_packets > bad_before) == !wire::DecodePacket(input).ok());
  CheckInvariants(swim);

  // Let timers run over what the packet did (probes, suspicion expiry).
  for (int i = 0; i < 8; ++i) {
    clock.Set(std::max(clock.NowMillis(), swim.NextDeadlineMillis()));
    swim.Tick();
    CheckInvariants(swim);
  }

  for (NodeId sender : {NodeId(2), NodeId(3)}) {
    const Status status = swim.MergeState(input, sender);
    FUZZ_CHECK(status.ok() || status.code() == ErrorCode::kInvalidArgument ||
               status.code() == ErrorCode::kFailedPrecondition);
    CheckInvariants(swim);
  }
  return 0;
}
