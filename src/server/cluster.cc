#include "server/cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/random.h"
#include "frontend/dns/wire/message.h"
#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"
#include "frontend/http/server.h"
#include "membership/keyring.h"
#include "membership/swim.h"
#include "transport/rpc.h"

namespace meshkv {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using membership::Member;
using membership::MemberState;

constexpr int64_t kPushPullDeadlineMs = 10'000;
constexpr int64_t kKeyringDeadlineMs = 5'000;
constexpr int64_t kDropLogIntervalMs = 10'000;
constexpr int64_t kSrvTimeoutMs = 2'000;
constexpr int64_t kFirstJoinBackoffMs = 500;

struct Seed {
  std::optional<NodeId> id;
  std::string address;  // host:port
};

// "host:port" or "id@host:port" (config validated the form already).
Result<Seed> ParseSeed(std::string_view text) {
  Seed seed;
  const size_t at = text.find('@');
  if (at != std::string_view::npos) {
    auto id = NodeId::Parse(text.substr(0, at));
    if (!id.ok()) {
      return InvalidArgument("'" + std::string(text) +
                             "': bad node id before '@': " + id.status().message());
    }
    seed.id = *id;
    text.remove_prefix(at + 1);
  }
  if (!http::SplitHostPort(text).ok()) {
    return InvalidArgument("'" + std::string(text) + "' is not host:port");
  }
  seed.address = std::string(text);
  return seed;
}

std::string EndpointText(const udp::endpoint& endpoint) {
  const asio::ip::address address = endpoint.address();
  if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(endpoint.port());
  return address.to_string() + ":" + std::to_string(endpoint.port());
}

std::optional<udp::endpoint> ParseEndpoint(std::string_view host_port) {
  auto split = http::SplitHostPort(host_port);
  if (!split.ok()) return std::nullopt;
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(split->first, ec);
  if (ec) return std::nullopt;
  return udp::endpoint(address, split->second);
}

Status WriteFileAtomically(const std::string& path, const std::string& contents, mode_t mode) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return FailedPrecondition("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return FailedPrecondition("cannot write " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// The incarnation to start with: one above the last one this data dir used.
Result<uint64_t> NextIncarnation(const std::string& path) {
  uint64_t last = 0;
  std::ifstream in(path);
  if (in) {
    std::string text;
    std::getline(in, text);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), last);
    if (ec != std::errc()) {
      return DataLoss(path +
                      " does not hold a number; delete it (the node then starts at "
                      "incarnation 1 and refutes any older state)");
    }
  }
  const uint64_t next = last + 1;
  MESHKV_RETURN_IF_ERROR(WriteFileAtomically(path, std::to_string(next) + "\n", 0600));
  return next;
}

std::string_view KeyringOpName(http::KeyringOp op) {
  switch (op) {
    case http::KeyringOp::kInstall:
      return "install";
    case http::KeyringOp::kUse:
      return "use";
    case http::KeyringOp::kRemove:
      return "remove";
  }
  return "?";
}

// First "nameserver" of /etc/resolv.conf, port 53.
std::string SystemResolver() {
  std::ifstream in("/etc/resolv.conf");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string keyword, address;
    if (words >> keyword >> address && keyword == "nameserver") {
      return address.find(':') != std::string::npos ? "[" + address + "]:53" : address + ":53";
    }
  }
  return "127.0.0.1:53";
}

}  // namespace

class Cluster::Impl : public membership::SwimEnvironment,
                      public std::enable_shared_from_this<Cluster::Impl> {
 public:
  Impl(const Config::Cluster& config, ClusterIdentity identity, MetricsRegistry& metrics)
      : config_(config), identity_(std::move(identity)), metrics_(metrics) {}

  // ---- set-up -------------------------------------------------------------
  Status Init() {
    std::map<std::string, std::string> tags;
    for (const std::string& tag : config_.tags) {
      const size_t eq = tag.find('=');
      tags[tag.substr(0, eq)] = tag.substr(eq + 1);
    }
    membership::NodeMeta self;
    self.id = identity_.id;
    self.cluster = config_.name;
    self.cluster_addr = config_.advertise.empty() ? config_.listen : config_.advertise;
    self.http_addr = identity_.http_addr;
    self.dns_addr = identity_.dns_addr;
    self.version = MESHKV_VERSION;
    self.tags = std::move(tags);
    auto preset = membership::MembershipConfig::Preset(config_.preset);
    if (!preset.ok()) return InvalidArgument("cluster.preset: " + preset.status().message());
    uint64_t incarnation = 1;
    if (config_.enabled()) {
      auto next = NextIncarnation(incarnation_path());
      if (!next.ok()) return next.status();
      incarnation = *next;
      persisted_incarnation_ = incarnation;
      MESHKV_RETURN_IF_ERROR(LoadTls());
      MESHKV_RETURN_IF_ERROR(LoadKeyring());
      for (const std::string& text : config_.seeds) {
        auto seed = ParseSeed(text);
        if (!seed.ok()) return InvalidArgument("cluster.seeds: " + seed.status().message());
        seeds_.push_back(std::move(*seed));
      }
    }
    swim_ = std::make_unique<membership::Swim>(*preset, std::move(self), incarnation, steady_,
                                               SecureRandomU64(), *this);
    RegisterMetrics();
    return Status::Ok();
  }

  Status LoadTls() {
    auto tls = transport::TlsIdentity::Load({config_.tls_ca, config_.tls_cert, config_.tls_key});
    if (!tls.ok()) return tls.status();
    if ((*tls)->node_id() != identity_.id) {
      return FailedPrecondition(fmt::format(
          "cluster.tls_cert {} is for node {} but this data dir ({}) is node {}; create a "
          "certificate for this node with `meshkv tls cert create --node-id {} ...`",
          config_.tls_cert, (*tls)->node_id().ToString(), identity_.data_dir,
          identity_.id.ToString(), identity_.id.ToString()));
    }
    tls_ = std::move(*tls);
    return Status::Ok();
  }

  Status LoadKeyring() {
    const std::string path = keyring_path();
    if (::access(path.c_str(), F_OK) == 0) {
      auto keyring = membership::Keyring::Load(path, config_.name, wall_);
      if (!keyring.ok()) return keyring.status();
      keyring_ = std::move(*keyring);
      spdlog::info("cluster: gossip keys from {} (rotate with `meshkv keyring`)", path);
      return Status::Ok();
    }
    if (config_.gossip_key.empty()) {
      return FailedPrecondition(
          "cluster: no gossip key: set cluster.gossip_key or MESHKV_CLUSTER_GOSSIP_KEY (make "
          "one with `meshkv keygen`; every node of the cluster needs the same key)");
    }
    auto key = membership::DecodeGossipKey(config_.gossip_key);
    if (!key.ok()) return InvalidArgument("cluster.gossip_key: " + key.status().message());
    auto keyring = membership::Keyring::Create({*key}, config_.name, wall_);
    if (!keyring.ok()) return keyring.status();
    keyring_ = std::move(*keyring);
    return keyring_->Save(path);
  }

  void RegisterMetrics() {
    for (MemberState state :
         {MemberState::kAlive, MemberState::kSuspect, MemberState::kDead, MemberState::kLeft}) {
      metrics_.AddCallbackGauge("meshkv_members", "Known members by state, self included",
                                {{"state", std::string(membership::MemberStateName(state))}},
                                [self = weak_from_this(), state] {
                                  auto impl = self.lock();
                                  return impl ? static_cast<double>(impl->CountInState(state))
                                              : 0.0;
                                });
    }
    auto stat = [this](const char* name, const char* help, uint64_t membership::SwimStats::*field) {
      metrics_.AddCallbackCounter(name, help, {}, [self = weak_from_this(), field] {
        auto impl = self.lock();
        if (!impl) return 0.0;
        std::lock_guard lock(impl->mu_);
        return static_cast<double>(impl->swim_->stats().*field);
      });
    };
    using S = membership::SwimStats;
    stat("meshkv_gossip_probes_total", "Direct probes sent", &S::probes);
    stat("meshkv_gossip_probe_failures_total", "Probe rounds without any ack", &S::probe_failures);
    stat("meshkv_gossip_indirect_probes_total", "Indirect probe requests sent",
         &S::indirect_probes);
    stat("meshkv_gossip_acks_total", "Acks received", &S::acks_received);
    stat("meshkv_gossip_nacks_total", "Nacks received", &S::nacks_received);
    stat("meshkv_gossip_suspicions_total", "Members this node moved to suspect", &S::suspicions);
    stat("meshkv_gossip_refutations_total", "Suspicions of this node it refuted", &S::refutations);
    stat("meshkv_gossip_deaths_total", "Members this node declared dead", &S::deaths);
    stat("meshkv_gossip_address_conflicts_total",
         "Alive messages refused: node id alive at another address", &S::address_conflicts);
    stat("meshkv_gossip_bad_messages_total", "Undecodable or invalid gossip messages",
         &S::bad_packets);
    stat("meshkv_gossip_packets_sent_total", "Gossip packets sent", &S::packets_sent);
    stat("meshkv_gossip_packets_received_total", "Gossip packets received (opened)",
         &S::packets_received);
    stat("meshkv_gossip_bytes_sent_total", "Gossip payload bytes sent", &S::bytes_sent);
    stat("meshkv_gossip_bytes_received_total", "Gossip payload bytes received", &S::bytes_received);
    metrics_.AddCallbackGauge("meshkv_gossip_health_score",
                              "Lifeguard local health score (0 = healthy)", {},
                              [self = weak_from_this()] {
                                auto impl = self.lock();
                                if (!impl) return 0.0;
                                std::lock_guard lock(impl->mu_);
                                return static_cast<double>(impl->swim_->HealthScore());
                              });
    for (membership::OpenError e :
         {membership::OpenError::kMalformed, membership::OpenError::kNoKey,
          membership::OpenError::kStale, membership::OpenError::kReplayed}) {
      dropped_[static_cast<int>(e)] =
          metrics_.GetCounter("meshkv_gossip_packets_dropped_total",
                              "Gossip packets dropped before decoding, by reason",
                              {{"reason", std::string(membership::OpenErrorName(e))}});
    }
  }

  Status Start(std::vector<asio::io_context*> rpc_lanes) {
    {
      std::lock_guard lock(mu_);
      swim_->Start();
    }
    if (!config_.enabled()) return Status::Ok();
    auto udp_endpoint = ParseEndpoint(config_.listen);
    if (!udp_endpoint) {
      return InvalidArgument("cluster.listen '" + config_.listen +
                             "' must be an IP address and port");
    }
    udp_.emplace(io_);
    boost::system::error_code ec;
    udp_->open(udp_endpoint->protocol(), ec);
    if (!ec) udp_->bind(*udp_endpoint, ec);
    if (ec) {
      return FailedPrecondition("cluster: cannot bind gossip UDP " + config_.listen + ": " +
                                ec.message());
    }
    transport::RpcOptions options;
    // Membership's own calls stay on the cluster thread; the server and the
    // replication traffic (CallMember) run on the given lanes, so a request
    // thread writes to its peers and gets their answers without a hand-off.
    if (rpc_lanes.empty()) {
      rpc_lanes.push_back(&io_);
    } else {
      data_client_ = std::make_unique<transport::RpcClient>(rpc_lanes, tls_, options, &metrics_);
    }
    rpc_server_ = std::make_unique<transport::RpcServer>(rpc_lanes, tls_, options, &metrics_);
    rpc_client_ = std::make_unique<transport::RpcClient>(io_, tls_, options, &metrics_);
    RegisterHandlers();
    MESHKV_RETURN_IF_ERROR(rpc_server_->Listen(config_.listen));
    tick_timer_.emplace(io_);
    seed_timer_.emplace(io_);
    srv_timer_.emplace(io_);
    auto self = shared_from_this();
    asio::co_spawn(io_, ReceiveLoop(self), asio::detached);
    asio::co_spawn(io_, TickLoop(self), asio::detached);
    asio::co_spawn(io_, SeedLoop(self), asio::detached);
    if (!config_.srv_domain.empty()) asio::co_spawn(io_, SrvLoop(self), asio::detached);
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "cluster");
      io_.run();
    });
    spdlog::info("cluster: '{}' peer RPC (tls) and gossip (udp) on {}, advertised as {}, preset {}",
                 config_.name, config_.listen, SelfMeta().cluster_addr, config_.preset);
    return Status::Ok();
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      if (rpc_server_) rpc_server_->Stop();
      if (rpc_client_) rpc_client_->Stop();
      if (data_client_) data_client_->Stop();
      boost::system::error_code ignored;
      if (udp_) udp_->close(ignored);
      for (auto* timer : {&tick_timer_, &seed_timer_, &srv_timer_}) {
        if (*timer) (*timer)->cancel();
      }
      for (auto& timer : task_timers_) timer->cancel();
    });
    // Give the handlers above and the completions they cause a moment, then
    // stop the loop whatever is still pending.
    asio::post(io_, [this] { asio::post(io_, [this] { io_.stop(); }); });
    thread_.join();
  }

  void LeaveAndStop() {
    if (config_.enabled() && thread_.joinable() && !stopped_) {
      int64_t wait_ms;
      {
        std::lock_guard lock(mu_);
        wait_ms = std::max<int64_t>(500, 5 * swim_->config().gossip_interval_ms);
      }
      asio::post(io_, [this] {
        {
          std::lock_guard lock(mu_);
          swim_->Leave();
        }
        Reschedule();
        // Gossip may lose the `left` broadcast (few retransmits in small
        // clusters); a push-pull over the reliable link tells everyone now.
        PushStateToLiveMembers();
      });
      spdlog::info("cluster: leaving; giving the `left` broadcast {} ms to spread", wait_ms);
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    }
    Stop();
  }

  // ---- SwimEnvironment (called on the cluster thread, under mu_) ---------
  void SendPacket(const std::string& to, std::string packet) override {
    if (!udp_) return;
    auto endpoint = ParseEndpoint(to);
    if (!endpoint) {
      LogRateLimited(warn_unroutable_ms_, "gossip: cannot send to '" + to +
                                              "': not an ip:port (advertise an IP address)");
      return;
    }
    auto sealed = std::make_shared<std::string>(keyring_->Seal(packet));
    udp_->async_send_to(asio::buffer(*sealed), *endpoint,
                        [sealed](const boost::system::error_code&, size_t) {});
  }

  void StartPushPull(const Member& peer) override {
    asio::post(io_, [self = shared_from_this(), address = peer.meta.cluster_addr,
                     id = peer.meta.id] { self->PushPullWith(address, id, [](Status) {}); });
  }

  void OnMemberChanged(const Member& member, std::optional<MemberState> before) override {
    generation_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(directory_mu_);
      directory_[member.meta.id] =
          DirectoryEntry{member.meta.cluster_addr, member.state == MemberState::kAlive ||
                                                       member.state == MemberState::kSuspect};
    }
    if (member.meta.id == identity_.id) {
      if (member.incarnation > persisted_incarnation_) {
        persisted_incarnation_ = member.incarnation;
        Status written = WriteFileAtomically(incarnation_path(),
                                             std::to_string(member.incarnation) + "\n", 0600);
        if (!written.ok()) spdlog::warn("cluster: {}", written.message());
        // A higher incarnation while alive is a refutation. Gossip carries it
        // only a few times (retransmit limit), so in a small cluster some
        // suspecter may miss it and declare us dead; push our state to every
        // live member over the reliable link as well (rare, cheap).
        if (member.state == MemberState::kAlive && udp_) {
          asio::post(io_, [self = shared_from_this()] { self->PushStateToLiveMembers(); });
        }
      }
      return;
    }
    if (member.state == MemberState::kAlive) {
      // Seen alive (again, or restarted with a new incarnation): calls to it
      // need not wait out a reconnect backoff from while it was away.
      if (rpc_client_) rpc_client_->ResetBackoff(member.meta.cluster_addr);
      if (data_client_) data_client_->ResetBackoff(member.meta.cluster_addr);
    }
    const std::string_view now = membership::MemberStateName(member.state);
    if (!before) {
      spdlog::info("cluster: member {} at {} is {} (incarnation {})", member.meta.id.ToString(),
                   member.meta.cluster_addr, now, member.incarnation);
    } else if (*before != member.state) {
      auto level = member.state == MemberState::kAlive ? spdlog::level::info : spdlog::level::warn;
      spdlog::log(level, "cluster: member {} at {} is {} (was {}, incarnation {})",
                  member.meta.id.ToString(), member.meta.cluster_addr, now,
                  membership::MemberStateName(*before), member.incarnation);
    }
  }

  void OnWarning(const std::string& message) override { spdlog::warn("cluster: {}", message); }

  // ---- loops (cluster thread) ---------------------------------------------
  static asio::awaitable<void> ReceiveLoop(std::shared_ptr<Impl> self) {
    std::vector<char> buffer(65536);
    for (;;) {
      udp::endpoint from;
      auto [ec, n] = co_await self->udp_->async_receive_from(asio::buffer(buffer), from,
                                                             asio::as_tuple(asio::use_awaitable));
      if (self->stopped_ || ec == asio::error::operation_aborted) co_return;
      if (ec) continue;
      auto opened = self->keyring_->Open(std::string_view(buffer.data(), n));
      if (opened.error != membership::OpenError::kNone) {
        self->CountDrop(opened.error, EndpointText(from));
        continue;
      }
      {
        std::lock_guard lock(self->mu_);
        self->swim_->HandlePacket(EndpointText(from), opened.payload);
      }
      self->Reschedule();
    }
  }

  static asio::awaitable<void> TickLoop(std::shared_ptr<Impl> self) {
    for (;;) {
      int64_t next;
      {
        std::lock_guard lock(self->mu_);
        next = self->swim_->NextDeadlineMillis();
      }
      self->tick_timer_->expires_at(
          asio::steady_timer::time_point(std::chrono::milliseconds(next)));
      co_await self->tick_timer_->async_wait(asio::as_tuple(asio::use_awaitable));
      if (self->stopped_) co_return;
      std::lock_guard lock(self->mu_);
      self->swim_->Tick();
    }
  }

  // Joins through seeds (and SRV-discovered addresses) until one answers,
  // backing off from 0.5 s to rejoin_interval; afterwards, every
  // rejoin_interval, re-joins seeds that are not live members and reconnects
  // to one dead member (so both sides of a healed partition merge again).
  static asio::awaitable<void> SeedLoop(std::shared_ptr<Impl> self) {
    int64_t backoff = kFirstJoinBackoffMs;
    for (;;) {
      if (self->stopped_) co_return;
      self->JoinRound();
      self->ReconnectToOneDeadMember();
      int64_t wait = self->config_.rejoin_interval_ms;
      if (!self->joined_) {
        wait = std::min(backoff, self->config_.rejoin_interval_ms);
        backoff = std::min(backoff * 2, self->config_.rejoin_interval_ms);
      }
      self->seed_timer_->expires_after(std::chrono::milliseconds(wait));
      co_await self->seed_timer_->async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  static asio::awaitable<void> SrvLoop(std::shared_ptr<Impl> self) {
    for (;;) {
      if (self->stopped_) co_return;
      co_await self->RefreshSrv();
      self->srv_timer_->expires_after(std::chrono::milliseconds(self->config_.srv_refresh_ms));
      co_await self->srv_timer_->async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  // ---- joining ------------------------------------------------------------
  std::vector<Seed> JoinTargets() {
    std::vector<Seed> targets;
    std::set<std::string> live_addresses;
    {
      std::lock_guard lock(mu_);
      for (const Member& m : swim_->Members()) {
        if (m.state == MemberState::kAlive || m.state == MemberState::kSuspect) {
          live_addresses.insert(m.meta.cluster_addr);
        }
      }
      for (const Seed& seed : seeds_) targets.push_back(seed);
      for (const std::string& found : srv_found_) targets.push_back(Seed{std::nullopt, found});
    }
    std::vector<Seed> out;
    std::set<std::string> seen;
    for (Seed& seed : targets) {
      if (live_addresses.count(seed.address) || !seen.insert(seed.address).second) continue;
      out.push_back(std::move(seed));
    }
    return out;
  }

  void JoinRound() {
    std::vector<Seed> targets = JoinTargets();
    for (const Seed& seed : targets) {
      PushPullWith(seed.address, seed.id,
                   [self = shared_from_this(), address = seed.address](Status status) {
                     std::lock_guard lock(self->mu_);
                     if (status.ok()) {
                       if (!self->joined_) spdlog::info("cluster: joined through {}", address);
                       self->joined_ = true;
                       self->last_join_error_.reset();
                     } else if (status.code() != ErrorCode::kNotFound) {
                       const std::string message =
                           "join through " + address + ": " + status.message();
                       if (self->last_join_error_ != message) spdlog::warn("cluster: {}", message);
                       self->last_join_error_ = message;
                     }
                   });
    }
  }

  void ReconnectToOneDeadMember() {
    std::vector<Member> dead;
    {
      std::lock_guard lock(mu_);
      for (const Member& m : swim_->Members()) {
        if (m.state == MemberState::kDead) dead.push_back(m);
      }
    }
    if (dead.empty()) return;
    const Member& pick = dead[std::uniform_int_distribution<size_t>(0, dead.size() - 1)(rng_)];
    PushPullWith(pick.meta.cluster_addr, pick.meta.id, [](Status) {});
  }

  // Push-pull with every other alive or suspect member (cluster thread).
  void PushStateToLiveMembers() {
    std::vector<Member> live;
    {
      std::lock_guard lock(mu_);
      for (const Member& m : swim_->Members()) {
        if (m.meta.id != identity_.id &&
            (m.state == MemberState::kAlive || m.state == MemberState::kSuspect)) {
          live.push_back(m);
        }
      }
    }
    for (const Member& m : live) PushPullWith(m.meta.cluster_addr, m.meta.id, [](Status) {});
  }

  // Exchanges full state with the node at `address`; `done` gets the result
  // (kNotFound when the address turns out to be this node).
  void PushPullWith(const std::string& address, std::optional<NodeId> expected,
                    std::function<void(Status)> done) {
    if (!rpc_client_ || stopped_) {
      done(Unavailable("cluster layer is not running"));
      return;
    }
    std::string state;
    {
      std::lock_guard lock(mu_);
      state = swim_->EncodeState();
    }
    // Sealed with the gossip keyring, so that a node holding a valid
    // certificate but the wrong gossip key cannot join by push-pull.
    rpc_client_->Call(
        address, expected, transport::MessageType::kPushPull, keyring_->Seal(state),
        kPushPullDeadlineMs,
        [self = shared_from_this(), address,
         done = std::move(done)](Result<transport::RpcReply> reply) {
          if (!reply.ok()) return done(reply.status());
          if (reply->node_id == self->identity_.id)
            return done(NotFound(address + " is this node"));
          auto opened = self->keyring_->Open(reply->payload);
          if (opened.error != membership::OpenError::kNone) {
            return done(FailedPrecondition("the state from " + address +
                                           " is not sealed with an installed gossip key (" +
                                           std::string(membership::OpenErrorName(opened.error)) +
                                           "): every node needs the same gossip key"));
          }
          Status merged;
          {
            std::lock_guard lock(self->mu_);
            merged = self->swim_->MergeState(opened.payload, reply->node_id);
          }
          self->Reschedule();
          done(merged);
        });
  }

  void RegisterHandlers() {
    for (auto& [type, handler] : extra_handlers_) rpc_server_->Register(type, std::move(handler));
    extra_handlers_.clear();
    std::weak_ptr<Impl> weak = weak_from_this();
    // Handlers run on the server's lanes; membership's move to its thread.
    auto on_cluster_thread = [weak](transport::Handler inner) -> transport::Handler {
      return [weak, inner = std::move(inner)](const transport::PeerInfo& from, std::string payload,
                                              transport::Responder respond) {
        auto self = weak.lock();
        if (!self) return respond(Unavailable("shutting down"));
        asio::post(self->io_, [inner, from, payload = std::move(payload),
                               respond = std::move(respond)]() mutable {
          inner(from, std::move(payload), std::move(respond));
        });
      };
    };
    rpc_server_->Register(transport::MessageType::kPing,
                          [](const transport::PeerInfo&, std::string,
                             transport::Responder respond) { respond(std::string()); });
    rpc_server_->Register(
        transport::MessageType::kPushPull,
        on_cluster_thread([weak](const transport::PeerInfo& from, std::string payload,
                                 transport::Responder respond) {
          auto self = weak.lock();
          if (!self) return respond(Unavailable("shutting down"));
          auto opened = self->keyring_->Open(payload);
          if (opened.error != membership::OpenError::kNone) {
            spdlog::warn(
                "cluster: refused push-pull from node {} at {}: not sealed with an "
                "installed gossip key ({})",
                from.node_id.ToString(), from.remote_addr, membership::OpenErrorName(opened.error));
            return respond(FailedPrecondition(
                "push-pull refused: the state is not sealed with a gossip key installed on node " +
                self->identity_.id.ToString() + " (" +
                std::string(membership::OpenErrorName(opened.error)) +
                "); every node needs the same gossip key"));
          }
          Status merged;
          std::string reply;
          {
            std::lock_guard lock(self->mu_);
            merged = self->swim_->MergeState(opened.payload, from.node_id);
            if (merged.ok()) reply = self->swim_->EncodeState();
          }
          self->Reschedule();
          if (!merged.ok()) {
            spdlog::warn("cluster: refused push-pull from node {} at {}: {}",
                         from.node_id.ToString(), from.remote_addr, merged.message());
            return respond(merged);
          }
          respond(self->keyring_->Seal(reply));
        }));
    rpc_server_->Register(
        transport::MessageType::kKeyring,
        on_cluster_thread([weak](const transport::PeerInfo& from, std::string payload,
                                 transport::Responder respond) {
          auto self = weak.lock();
          if (!self) return respond(Unavailable("shutting down"));
          if (payload.size() != 1 + membership::kGossipKeyBytes || payload[0] < 0 ||
              payload[0] > static_cast<char>(http::KeyringOp::kRemove)) {
            return respond(InvalidArgument("keyring request must be 1 op byte + 32 key bytes"));
          }
          auto op = static_cast<http::KeyringOp>(payload[0]);
          Status applied = self->ApplyKeyring(op, payload.substr(1));
          spdlog::info("cluster: keyring {} requested by node {}: {}", KeyringOpName(op),
                       from.node_id.ToString(), applied.ok() ? "done" : applied.message());
          if (!applied.ok()) return respond(applied);
          respond(std::string());
        }));
  }

  // ---- SRV discovery ------------------------------------------------------
  asio::awaitable<void> RefreshSrv() {
    const std::string resolver =
        config_.srv_resolver.empty() ? SystemResolver() : config_.srv_resolver;
    auto result = co_await QuerySrv(resolver);
    std::lock_guard lock(mu_);
    srv_last_refresh_ms_ = wall_.NowMillis();
    if (!result.ok()) {
      if (srv_last_error_ != result.status().message()) {
        spdlog::warn("cluster: SRV discovery: {}", result.status().message());
      }
      srv_last_error_ = result.status().message();
      co_return;
    }
    srv_last_error_.reset();
    if (*result != srv_found_) {
      spdlog::info("cluster: SRV discovery found {} seed address(es)", result->size());
    }
    srv_found_ = std::move(*result);
  }

  asio::awaitable<Result<std::vector<std::string>>> QuerySrv(const std::string& resolver) {
    const std::string qname = "_meshkv._tcp." + config_.srv_domain;
    auto name = dns::Name::FromText(qname);
    if (!name.ok()) co_return InvalidArgument(qname + ": " + name.status().message());
    auto server = ParseEndpoint(resolver);
    if (!server) co_return InvalidArgument("resolver '" + resolver + "' is not ip:port");
    dns::MessageWriter writer(512);
    dns::Header header;
    header.id = static_cast<uint16_t>(SecureRandomU64());
    header.rd = true;
    writer.SetHeader(header);
    writer.AddQuestion(dns::Question{*name, dns::RrType::kSrv, dns::RrClass::kIn});
    const std::string query = writer.Finish();

    udp::socket socket(io_);
    boost::system::error_code ec;
    socket.open(server->protocol(), ec);
    if (ec) co_return Unavailable("cannot open a UDP socket: " + ec.message());
    asio::steady_timer timeout(io_);
    timeout.expires_after(std::chrono::milliseconds(kSrvTimeoutMs));
    timeout.async_wait([&socket](const boost::system::error_code& e) {
      if (!e) socket.cancel();
    });
    co_await socket.async_send_to(asio::buffer(query), *server,
                                  asio::as_tuple(asio::use_awaitable));
    std::string buffer(dns::kMaxMessageSize, '\0');
    udp::endpoint from;
    auto [rec, n] = co_await socket.async_receive_from(asio::buffer(buffer), from,
                                                       asio::as_tuple(asio::use_awaitable));
    timeout.cancel();
    if (rec) {
      co_return Unavailable(
          fmt::format("no answer from {} for {} SRV within {} ms", resolver, qname, kSrvTimeoutMs));
    }
    auto message = dns::ParseMessage(std::string_view(buffer.data(), n));
    if (!message.ok()) co_return Unavailable("bad answer from " + resolver);
    if (message->header.id != header.id) co_return Unavailable("answer id mismatch");
    const uint16_t rcode = dns::FullRcode(*message);
    if (rcode != 0) {
      co_return Unavailable(fmt::format("{} SRV: rcode {} from {}", qname, rcode, resolver));
    }
    std::vector<std::string> found;
    for (const dns::ResourceRecord& rr : message->answers) {
      if (rr.type != dns::RrType::kSrv || rr.rdata.size() < 7) continue;
      const uint16_t port = static_cast<uint16_t>((static_cast<uint8_t>(rr.rdata[4]) << 8) |
                                                  static_cast<uint8_t>(rr.rdata[5]));
      auto target = dns::RdataTargetName(rr.type, rr.rdata);
      if (!target) continue;
      for (const dns::ResourceRecord& glue : message->additional) {
        if (!(glue.name == *target)) continue;
        if (glue.type != dns::RrType::kA && glue.type != dns::RrType::kAaaa) continue;
        auto text = dns::RdataToText(glue.type, glue.rdata);
        if (!text.ok()) continue;
        found.push_back(glue.type == dns::RrType::kAaaa ? "[" + *text + "]:" + std::to_string(port)
                                                        : *text + ":" + std::to_string(port));
      }
    }
    if (found.empty()) co_return NotFound(qname + " SRV has no targets with addresses");
    std::sort(found.begin(), found.end());
    co_return found;
  }

  // ---- keyring ------------------------------------------------------------
  Status ApplyKeyring(http::KeyringOp op, std::string_view key) {
    if (!keyring_) return FailedPrecondition("this node runs without [cluster]");
    Status applied;
    switch (op) {
      case http::KeyringOp::kInstall:
        applied = keyring_->Install(key);
        break;
      case http::KeyringOp::kUse:
        applied = keyring_->Use(key);
        break;
      case http::KeyringOp::kRemove:
        applied = keyring_->Remove(key);
        break;
    }
    if (!applied.ok()) return applied;
    return keyring_->Save(keyring_path());
  }

  void ChangeKeyring(http::KeyringOp op, std::string key,
                     std::function<void(Result<http::KeyringChange>)> done) {
    if (!config_.enabled()) {
      done(FailedPrecondition("this node runs without [cluster]: there is no gossip keyring"));
      return;
    }
    if (key.size() != membership::kGossipKeyBytes) {
      done(InvalidArgument("a gossip key is 32 bytes (base64 from `meshkv keygen`)"));
      return;
    }
    asio::post(io_, [self = shared_from_this(), op, key = std::move(key), done = std::move(done)] {
      Status local = self->ApplyKeyring(op, key);
      if (!local.ok()) return done(local);
      spdlog::info("cluster: keyring {} applied here; asking the other live members",
                   KeyringOpName(op));
      struct Fanout {
        http::KeyringChange change;
        size_t pending = 0;
        std::function<void(Result<http::KeyringChange>)> done;
      };
      auto fanout = std::make_shared<Fanout>();
      fanout->change.nodes = 1;
      fanout->change.ok = 1;
      fanout->done = std::move(done);
      std::vector<Member> peers;
      {
        std::lock_guard lock(self->mu_);
        for (const Member& m : self->swim_->Members()) {
          if (m.meta.id == self->identity_.id) continue;
          if (m.state == MemberState::kAlive || m.state == MemberState::kSuspect)
            peers.push_back(m);
        }
      }
      fanout->change.nodes += peers.size();
      fanout->pending = peers.size();
      if (peers.empty()) return fanout->done(fanout->change);
      std::string payload(1, static_cast<char>(op));
      payload += key;
      for (const Member& peer : peers) {
        self->rpc_client_->Call(peer.meta.cluster_addr, peer.meta.id,
                                transport::MessageType::kKeyring, payload, kKeyringDeadlineMs,
                                [fanout, id = peer.meta.id](Result<transport::RpcReply> reply) {
                                  if (reply.ok()) {
                                    ++fanout->change.ok;
                                  } else {
                                    fanout->change.errors[id.ToString()] = reply.status().message();
                                  }
                                  if (--fanout->pending == 0) fanout->done(fanout->change);
                                });
      }
    });
  }

  // ---- queries (any thread) -----------------------------------------------
  size_t CountInState(MemberState state) const {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const Member& m : swim_->Members()) n += m.state == state;
    return n;
  }

  membership::NodeMeta SelfMeta() const {
    std::lock_guard lock(mu_);
    return swim_->Self().meta;
  }

  // Rate-limited log line; `last_ms` is the time of the previous one.
  void LogRateLimited(int64_t& last_ms, const std::string& message) {
    const int64_t now = steady_.NowMillis();
    if (last_ms != 0 && now - last_ms < kDropLogIntervalMs) return;
    last_ms = now;
    spdlog::warn("{}", message);
  }

  void CountDrop(membership::OpenError error, const std::string& from) {
    const int index = static_cast<int>(error);
    if (dropped_[index]) dropped_[index]->Increment();
    std::string why;
    switch (error) {
      case membership::OpenError::kNoKey:
        why =
            "no installed gossip key opens it (the sender uses another gossip key, or belongs "
            "to another cluster than '" +
            config_.name + "')";
        break;
      case membership::OpenError::kStale:
        why = "its timestamp is outside the replay window (clock skew or a replayed packet)";
        break;
      case membership::OpenError::kReplayed:
        why = "it was already received (replayed)";
        break;
      default:
        why = "it is not a meshkv gossip packet";
        break;
    }
    LogRateLimited(last_drop_log_ms_[index], "gossip: dropped packet from " + from + ": " + why);
  }

  // Wakes the tick loop so a deadline that moved earlier is honoured.
  void Reschedule() {
    if (!tick_timer_) return;
    int64_t next;
    {
      std::lock_guard lock(mu_);
      next = swim_->NextDeadlineMillis();
    }
    const auto at = asio::steady_timer::time_point(std::chrono::milliseconds(next));
    if (at < tick_timer_->expiry()) tick_timer_->cancel();
  }

  std::string keyring_path() const { return identity_.data_dir + "/keyring"; }
  std::string incarnation_path() const { return identity_.data_dir + "/incarnation"; }

  const Config::Cluster config_;
  const ClusterIdentity identity_;
  MetricsRegistry& metrics_;
  SteadyClock steady_;
  SystemClock wall_;

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  std::shared_ptr<transport::TlsIdentity> tls_;
  std::unique_ptr<membership::Keyring> keyring_;  // thread-safe itself
  std::unique_ptr<transport::RpcServer> rpc_server_;
  std::unique_ptr<transport::RpcClient> rpc_client_;   // membership's calls, cluster thread
  std::unique_ptr<transport::RpcClient> data_client_;  // CallMember, on the rpc lanes (or null)
  // Used only on the cluster thread:
  std::optional<udp::socket> udp_;
  std::optional<asio::steady_timer> tick_timer_, seed_timer_, srv_timer_;
  std::mt19937_64 rng_{SecureRandomU64()};
  int64_t warn_unroutable_ms_ = 0;
  int64_t last_drop_log_ms_[8] = {};
  Counter* dropped_[8] = {};
  uint64_t persisted_incarnation_ = 0;  // under mu_ (written from OnMemberChanged)
  std::atomic<uint64_t> generation_{1};

  // Address and liveness by node id, for the replication layer's calls
  // (kept apart from mu_ so request paths never wait on the Swim).
  struct DirectoryEntry {
    std::string cluster_addr;
    bool live = false;
  };
  mutable std::mutex directory_mu_;
  std::unordered_map<NodeId, DirectoryEntry> directory_;
  std::vector<std::pair<transport::MessageType, transport::Handler>> extra_handlers_;
  std::vector<std::unique_ptr<asio::steady_timer>> task_timers_;  // cluster thread only

  mutable std::mutex mu_;
  std::unique_ptr<membership::Swim> swim_;  // guarded by mu_
  std::vector<Seed> seeds_;                 // immutable after Init
  bool joined_ = false;                     // guarded by mu_
  std::optional<std::string> last_join_error_;
  std::vector<std::string> srv_found_;
  std::optional<int64_t> srv_last_refresh_ms_;
  std::optional<std::string> srv_last_error_;
};

// ---- Cluster ----------------------------------------------------------------

Result<std::unique_ptr<Cluster>> Cluster::Create(const Config::Cluster& config,
                                                 ClusterIdentity identity,
                                                 MetricsRegistry& metrics) {
  auto impl = std::make_shared<Impl>(config, std::move(identity), metrics);
  MESHKV_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Cluster>(new Cluster(std::move(impl)));
}

Cluster::Cluster(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cluster::~Cluster() {
  impl_->Stop();
}

Status Cluster::Start(std::vector<boost::asio::io_context*> rpc_lanes) {
  return impl_->Start(std::move(rpc_lanes));
}
void Cluster::LeaveAndStop() {
  impl_->LeaveAndStop();
}
void Cluster::Stop() {
  impl_->Stop();
}

uint64_t Cluster::generation() const {
  return impl_->generation_.load(std::memory_order_relaxed);
}

std::vector<Member> Cluster::LiveMembers() const {
  std::vector<Member> live;
  for (Member& m : Members()) {
    if (m.state == MemberState::kAlive || m.state == MemberState::kSuspect) {
      live.push_back(std::move(m));
    }
  }
  return live;
}

std::vector<Member> Cluster::Members() const {
  std::lock_guard lock(impl_->mu_);
  return impl_->swim_->Members();
}

http::ClusterStatus Cluster::CurrentStatus() const {
  const Impl& i = *impl_;
  http::ClusterStatus status;
  status.enabled = i.config_.enabled();
  status.name = i.config_.name;
  status.self = i.identity_.id;
  for (MemberState state :
       {MemberState::kAlive, MemberState::kSuspect, MemberState::kDead, MemberState::kLeft}) {
    status.members_by_state[std::string(membership::MemberStateName(state))] = 0;
  }
  {
    std::lock_guard lock(i.mu_);
    status.incarnation = i.swim_->Self().incarnation;
    status.health_score = i.swim_->HealthScore();
    for (const Member& m : i.swim_->Members()) {
      ++status.members_by_state[std::string(membership::MemberStateName(m.state))];
    }
    status.joined = i.joined_;
    status.last_join_error = i.last_join_error_;
    status.srv_found = i.srv_found_;
    status.srv_last_refresh_ms = i.srv_last_refresh_ms_;
    status.srv_last_error = i.srv_last_error_;
  }
  for (const std::string& seed : i.config_.seeds) status.seeds.push_back(seed);
  status.srv_domain = i.config_.srv_domain;
  status.gossip_keys = Keys();
  return status;
}

void Cluster::Join(std::vector<std::string> addresses, std::function<void(Result<size_t>)> done) {
  if (!impl_->config_.enabled()) {
    done(FailedPrecondition(
        "this node runs without [cluster] (no cluster.tls_cert configured), so it cannot join; "
        "see `meshkv config default` and `meshkv cluster up`"));
    return;
  }
  std::vector<Seed> seeds;
  for (const std::string& address : addresses) {
    auto seed = ParseSeed(address);
    if (!seed.ok()) return done(seed.status());
    seeds.push_back(std::move(*seed));
  }
  if (seeds.empty()) return done(InvalidArgument("no addresses given"));
  asio::post(impl_->io_, [impl = impl_, seeds = std::move(seeds), done = std::move(done)] {
    struct Pending {
      size_t remaining;
      size_t joined = 0;
      std::vector<std::string> errors;
      std::function<void(Result<size_t>)> done;
    };
    auto pending = std::make_shared<Pending>();
    pending->remaining = seeds.size();
    pending->done = std::move(done);
    for (const Seed& seed : seeds) {
      impl->PushPullWith(seed.address, seed.id,
                         [impl, pending, address = seed.address](Status status) {
                           if (status.ok()) {
                             ++pending->joined;
                             std::lock_guard lock(impl->mu_);
                             impl->joined_ = true;
                             impl->last_join_error_.reset();
                           } else {
                             pending->errors.push_back(address + ": " + status.message());
                           }
                           if (--pending->remaining > 0) return;
                           if (pending->joined > 0) return pending->done(pending->joined);
                           std::string message = "could not join through any address:";
                           for (const std::string& e : pending->errors) message += " [" + e + "]";
                           pending->done(Unavailable(message));
                         });
    }
  });
}

void Cluster::RegisterHandler(transport::MessageType type, transport::Handler handler) {
  impl_->extra_handlers_.emplace_back(type, std::move(handler));
}

void Cluster::CallMember(NodeId node, transport::MessageType type, std::string payload,
                         int64_t deadline_ms, std::function<void(Result<std::string>)> done) {
  std::string address;
  {
    std::lock_guard lock(impl_->directory_mu_);
    auto it = impl_->directory_.find(node);
    if (it != impl_->directory_.end()) address = it->second.cluster_addr;
  }
  transport::RpcClient* client =
      impl_->data_client_ ? impl_->data_client_.get() : impl_->rpc_client_.get();
  if (address.empty() || client == nullptr || impl_->stopped_) {
    return done(Unavailable("node " + node.ToString() + " is not a known member"));
  }
  client->Call(address, node, type, std::move(payload), deadline_ms,
               [done = std::move(done)](Result<transport::RpcReply> reply) {
                 if (!reply.ok()) return done(reply.status());
                 done(std::move(reply->payload));
               });
}

bool Cluster::IsLive(NodeId node) const {
  if (node == impl_->identity_.id) return true;
  std::lock_guard lock(impl_->directory_mu_);
  auto it = impl_->directory_.find(node);
  return it != impl_->directory_.end() && it->second.live;
}

void Cluster::RunEvery(int64_t interval_ms, std::function<void()> task) {
  if (!impl_->thread_.joinable()) return;
  asio::post(impl_->io_, [impl = impl_, interval_ms, task = std::move(task)]() mutable {
    impl->task_timers_.push_back(std::make_unique<asio::steady_timer>(impl->io_));
    asio::steady_timer* timer = impl->task_timers_.back().get();
    asio::co_spawn(
        impl->io_,
        [impl, timer, interval_ms, task = std::move(task)]() -> asio::awaitable<void> {
          for (;;) {
            timer->expires_after(std::chrono::milliseconds(interval_ms));
            co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
            if (impl->stopped_) co_return;
            task();
          }
        },
        asio::detached);
  });
}

bool Cluster::joined() const {
  std::lock_guard lock(impl_->mu_);
  return impl_->joined_;
}

bool Cluster::enabled() const {
  return impl_->config_.enabled();
}

void Cluster::Leave() {
  spdlog::info("cluster: leave requested through the API; shutting down as on SIGTERM");
  ::kill(::getpid(), SIGTERM);
}

std::vector<membership::KeyInfo> Cluster::Keys() const {
  if (!impl_->keyring_) return {};
  return impl_->keyring_->List();
}

void Cluster::ChangeKeyring(http::KeyringOp op, std::string key,
                            std::function<void(Result<http::KeyringChange>)> done) {
  impl_->ChangeKeyring(op, std::move(key), std::move(done));
}

}  // namespace meshkv
