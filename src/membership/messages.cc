#include "membership/messages.h"

#include <set>
#include <utility>

#include "membership/gossip.pb.h"

namespace meshkv::membership::wire {
namespace {

namespace pb = ::meshkv::gossip;

// Field 2 (messages) of gossip.Packet, wire type 2 (length-delimited).
constexpr uint8_t kMessagesTag = (2 << 3) | 2;
// Field 1 (version) of gossip.Packet, wire type 0 (varint).
constexpr uint8_t kVersionTag = (1 << 3) | 0;

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void ToProto(const NodeMeta& meta, pb::NodeMeta& out) {
  out.set_id(meta.id.value());
  out.set_cluster(meta.cluster);
  out.set_cluster_addr(meta.cluster_addr);
  out.set_http_addr(meta.http_addr);
  out.set_dns_addr(meta.dns_addr);
  out.set_version(meta.version);
  for (const auto& [key, value] : meta.tags) {
    pb::Tag* tag = out.add_tags();
    tag->set_key(key);
    tag->set_value(value);
  }
}

Status FromProto(const pb::NodeMeta& in, NodeMeta& out) {
  if (in.id() == 0) return InvalidArgument("meta: node id is zero");
  if (in.ByteSizeLong() > kMaxMetaBytes) {
    return InvalidArgument("meta: larger than " + std::to_string(kMaxMetaBytes) + " bytes");
  }
  if (in.cluster_addr().empty()) return InvalidArgument("meta: cluster_addr is empty");
  if (in.cluster_addr().size() > kMaxAddressBytes || in.http_addr().size() > kMaxAddressBytes ||
      in.dns_addr().size() > kMaxAddressBytes) {
    return InvalidArgument("meta: address too long");
  }
  out.id = NodeId(in.id());
  out.cluster = in.cluster();
  out.cluster_addr = in.cluster_addr();
  out.http_addr = in.http_addr();
  out.dns_addr = in.dns_addr();
  out.version = in.version();
  out.tags.clear();
  for (const pb::Tag& tag : in.tags()) {
    if (tag.key().empty()) return InvalidArgument("meta: empty tag key");
    if (!out.tags.emplace(tag.key(), tag.value()).second) {
      return InvalidArgument("meta: duplicate tag key");
    }
  }
  return Status::Ok();
}

void ToProto(const Message& message, pb::Message& out) {
  struct Visitor {
    pb::Message& out;
    void operator()(const Ping& m) {
      pb::Ping* p = out.mutable_ping();
      p->set_seq(m.seq);
      p->set_target(m.target.value());
      p->set_source(m.source.value());
      p->set_source_addr(m.source_addr);
    }
    void operator()(const IndirectPing& m) {
      pb::IndirectPing* p = out.mutable_indirect_ping();
      p->set_seq(m.seq);
      p->set_target(m.target.value());
      p->set_target_addr(m.target_addr);
      p->set_want_nack(m.want_nack);
    }
    void operator()(const Ack& m) { out.mutable_ack()->set_seq(m.seq); }
    void operator()(const Nack& m) { out.mutable_nack()->set_seq(m.seq); }
    void operator()(const Alive& m) {
      pb::Alive* p = out.mutable_alive();
      p->set_incarnation(m.incarnation);
      ToProto(m.meta, *p->mutable_meta());
    }
    void operator()(const Suspect& m) {
      pb::Suspect* p = out.mutable_suspect();
      p->set_incarnation(m.incarnation);
      p->set_node(m.node.value());
      p->set_from(m.from.value());
    }
    void operator()(const Dead& m) {
      pb::Dead* p = out.mutable_dead();
      p->set_incarnation(m.incarnation);
      p->set_node(m.node.value());
      p->set_from(m.from.value());
    }
  };
  std::visit(Visitor{out}, message);
}

// Returns false for a message of a kind this version does not know (skipped).
Result<bool> FromProto(const pb::Message& in, Message& out) {
  switch (in.kind_case()) {
    case pb::Message::kPing: {
      const pb::Ping& p = in.ping();
      if (p.target() == 0 || p.source() == 0) return InvalidArgument("ping: zero node id");
      if (p.source_addr().empty() || p.source_addr().size() > kMaxAddressBytes) {
        return InvalidArgument("ping: bad source address");
      }
      out = Ping{p.seq(), NodeId(p.target()), NodeId(p.source()), p.source_addr()};
      return true;
    }
    case pb::Message::kIndirectPing: {
      const pb::IndirectPing& p = in.indirect_ping();
      if (p.target() == 0) return InvalidArgument("indirect ping: zero node id");
      if (p.target_addr().empty() || p.target_addr().size() > kMaxAddressBytes) {
        return InvalidArgument("indirect ping: bad target address");
      }
      out = IndirectPing{p.seq(), NodeId(p.target()), p.target_addr(), p.want_nack()};
      return true;
    }
    case pb::Message::kAck:
      out = Ack{in.ack().seq()};
      return true;
    case pb::Message::kNack:
      out = Nack{in.nack().seq()};
      return true;
    case pb::Message::kAlive: {
      const pb::Alive& p = in.alive();
      if (!p.has_meta()) return InvalidArgument("alive: no meta");
      Alive alive;
      alive.incarnation = p.incarnation();
      MESHKV_RETURN_IF_ERROR(FromProto(p.meta(), alive.meta));
      out = std::move(alive);
      return true;
    }
    case pb::Message::kSuspect: {
      const pb::Suspect& p = in.suspect();
      if (p.node() == 0 || p.from() == 0) return InvalidArgument("suspect: zero node id");
      out = Suspect{p.incarnation(), NodeId(p.node()), NodeId(p.from())};
      return true;
    }
    case pb::Message::kDead: {
      const pb::Dead& p = in.dead();
      if (p.node() == 0 || p.from() == 0) return InvalidArgument("dead: zero node id");
      out = Dead{p.incarnation(), NodeId(p.node()), NodeId(p.from())};
      return true;
    }
    case pb::Message::KIND_NOT_SET:
      break;
  }
  return false;
}

}  // namespace

std::string EncodeMessage(const Message& message) {
  pb::Message proto;
  ToProto(message, proto);
  std::string body = proto.SerializeAsString();
  std::string out;
  out.reserve(body.size() + 6);
  out.push_back(static_cast<char>(kMessagesTag));
  AppendVarint(out, body.size());
  out += body;
  return out;
}

const std::string& PacketHeader() {
  static const std::string header = [] {
    std::string out;
    out.push_back(static_cast<char>(kVersionTag));
    AppendVarint(out, kProtocolVersion);
    return out;
  }();
  return header;
}

std::string EncodePacket(const std::vector<Message>& messages) {
  std::string out = PacketHeader();
  for (const Message& message : messages) out += EncodeMessage(message);
  return out;
}

Result<std::vector<Message>> DecodePacket(std::string_view bytes) {
  if (bytes.size() > kMaxPacketBytes) return InvalidArgument("packet too large");
  pb::Packet packet;
  if (!packet.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgument("packet does not parse");
  }
  if (packet.version() != kProtocolVersion) {
    return InvalidArgument("packet version " + std::to_string(packet.version()) + ", want " +
                           std::to_string(kProtocolVersion));
  }
  std::vector<Message> out;
  out.reserve(packet.messages_size());
  for (const pb::Message& proto : packet.messages()) {
    Message message;
    Result<bool> known = FromProto(proto, message);
    if (!known.ok()) return known.status();
    if (*known) out.push_back(std::move(message));
  }
  return out;
}

size_t EncodedMetaBytes(const NodeMeta& meta) {
  pb::NodeMeta proto;
  ToProto(meta, proto);
  return proto.ByteSizeLong();
}

Status ValidateMeta(const NodeMeta& meta) {
  pb::NodeMeta proto;
  ToProto(meta, proto);
  NodeMeta decoded;
  return FromProto(proto, decoded);
}

std::string EncodeState(const State& state) {
  pb::PushPullState proto;
  proto.set_version(kProtocolVersion);
  proto.set_sender(state.sender.value());
  for (const StateEntry& entry : state.members) {
    pb::StateEntry* out = proto.add_members();
    ToProto(entry.meta, *out->mutable_meta());
    out->set_state(static_cast<pb::MemberState>(entry.state));
    out->set_incarnation(entry.incarnation);
  }
  return proto.SerializeAsString();
}

Result<State> DecodeState(std::string_view bytes) {
  // A state holds at most kMaxStateMembers entries of bounded size.
  if (bytes.size() > kMaxStateMembers * (kMaxMetaBytes + 32)) {
    return InvalidArgument("state too large");
  }
  pb::PushPullState proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgument("state does not parse");
  }
  if (proto.version() != kProtocolVersion) {
    return InvalidArgument("state version " + std::to_string(proto.version()) + ", want " +
                           std::to_string(kProtocolVersion));
  }
  if (proto.sender() == 0) return InvalidArgument("state: zero sender id");
  if (static_cast<size_t>(proto.members_size()) > kMaxStateMembers) {
    return InvalidArgument("state: too many members");
  }
  State state;
  state.sender = NodeId(proto.sender());
  state.members.reserve(proto.members_size());
  std::set<uint64_t> seen;
  for (const pb::StateEntry& in : proto.members()) {
    if (!in.has_meta()) return InvalidArgument("state: entry without meta");
    const int raw_state = static_cast<int>(in.state());
    if (raw_state < 0 || raw_state > static_cast<int>(MemberState::kLeft)) {
      return InvalidArgument("state: invalid member state " + std::to_string(raw_state));
    }
    StateEntry entry;
    MESHKV_RETURN_IF_ERROR(FromProto(in.meta(), entry.meta));
    if (!seen.insert(entry.meta.id.value()).second) {
      return InvalidArgument("state: duplicate member " + entry.meta.id.ToString());
    }
    entry.state = static_cast<MemberState>(raw_state);
    entry.incarnation = in.incarnation();
    state.members.push_back(std::move(entry));
  }
  return state;
}

}  // namespace meshkv::membership::wire
