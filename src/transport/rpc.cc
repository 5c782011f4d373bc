#include "transport/rpc.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>

#include "transport/frame.h"
#include "transport/tls_context.h"

namespace meshkv::transport {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Stream = asio::ssl::stream<tcp::socket>;
using Executor = asio::strand<asio::io_context::executor_type>;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kReadChunkBytes = 64 * 1024;
constexpr size_t kWriteCoalesceBytes = 64 * 1024;

int64_t MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

std::string TypeLabel(uint32_t type) {
  switch (static_cast<MessageType>(type)) {
    case MessageType::kPing:
      return "ping";
    case MessageType::kPushPull:
      return "push_pull";
    case MessageType::kKeyring:
      return "keyring";
    case MessageType::kReplicaWrite:
      return "replica_write";
    case MessageType::kReplicaRead:
      return "replica_read";
    case MessageType::kReplicaScan:
      return "replica_scan";
    case MessageType::kOwnership:
      return "ownership";
    case MessageType::kAeSummary:
      return "ae_summary";
    case MessageType::kAeLeaves:
      return "ae_leaves";
    case MessageType::kAeKeys:
      return "ae_keys";
    case MessageType::kReplicaWriteBatch:
      return "replica_write_batch";
  }
  return std::to_string(type);
}

// Logs exceptions that escape a coroutine (a bug: I/O errors are values).
void LogEscapedException(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("rpc: unexpected exception in a connection task: {}", e.what());
  } catch (...) {
    spdlog::error("rpc: unexpected non-standard exception in a connection task");
  }
}

Result<std::pair<std::string, std::string>> SplitHostPort(const std::string& address) {
  std::string host, port;
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return InvalidArgument("address '" + address + "' must be [ipv6]:port");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      return InvalidArgument("address '" + address + "' must be host:port");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  bool digits = !port.empty() && port.size() <= 5 &&
                port.find_first_not_of("0123456789") == std::string::npos;
  if (host.empty() || !digits || std::stoul(port) > 65535) {
    return InvalidArgument("address '" + address + "' must be host:port with a port 0..65535");
  }
  return std::make_pair(host, port);
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  asio::ip::address address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

// The transport's metrics; every member is null when there is no registry.
class RpcMetrics {
 public:
  RpcMetrics(MetricsRegistry* registry, std::string side) : registry_(registry) {
    if (!registry_) return;
    bytes_sent_ = registry_->GetCounter("meshkv_rpc_bytes_sent_total",
                                        "Peer RPC bytes written to TLS streams (frames).");
    bytes_received_ = registry_->GetCounter("meshkv_rpc_bytes_received_total",
                                            "Peer RPC bytes read from TLS streams (frames).");
    connections_ = registry_->GetGauge("meshkv_rpc_connections", "Open peer RPC connections.",
                                       {{"direction", side}});
    handshake_failures_ =
        registry_->GetCounter("meshkv_rpc_tls_handshake_failures_total",
                              "Peer RPC TLS handshakes that failed.", {{"direction", side}});
  }

  void BytesSent(size_t n) {
    if (bytes_sent_) bytes_sent_->Increment(n);
  }
  void BytesReceived(size_t n) {
    if (bytes_received_) bytes_received_->Increment(n);
  }
  void ConnectionOpened() {
    if (connections_) connections_->Add(1);
  }
  void ConnectionClosed() {
    if (connections_) connections_->Add(-1);
  }
  void HandshakeFailed() {
    if (handshake_failures_) handshake_failures_->Increment();
  }
  void FrameRejected(std::string_view reason) {
    if (!registry_) return;
    registry_
        ->GetCounter("meshkv_rpc_frames_rejected_total",
                     "Peer RPC connections closed for a bad frame, by reason.",
                     {{"reason", std::string(reason)}})
        ->Increment();
  }
  // Client: outcome of Call(); server: outcome of handlers.
  enum class Side { kCalled, kServed };
  void Request(Side side, uint32_t type, ErrorCode result) {
    if (!registry_) return;
    size_t type_index = type < kTypes ? type : 0;
    size_t result_index = static_cast<size_t>(result);
    bool called = side == Side::kCalled;
    std::atomic<Counter*>& slot = (called ? requests_ : handled_)[type_index][result_index];
    Counter* counter = slot.load(std::memory_order_acquire);
    if (!counter) {
      counter = registry_->GetCounter(
          called ? "meshkv_rpc_requests_total" : "meshkv_rpc_handled_total",
          called ? "Peer RPC calls made by this node, by type and result."
                 : "Peer RPC requests served by this node, by type and result.",
          {{"type", type_index == 0 ? "other" : TypeLabel(type)},
           {"result", std::string(ErrorCodeName(result))}});
      slot.store(counter, std::memory_order_release);
    }
    counter->Increment();
  }

 private:
  // MessageType values below this get their own counters (0 = other).
  static constexpr size_t kTypes = static_cast<size_t>(MessageType::kReplicaWriteBatch) + 1;
  static constexpr size_t kResults = static_cast<size_t>(ErrorCode::kInternal) + 1;
  using Table = std::array<std::array<std::atomic<Counter*>, kResults>, kTypes>;

  MetricsRegistry* registry_;
  Counter* bytes_sent_ = nullptr;
  Counter* bytes_received_ = nullptr;
  Gauge* connections_ = nullptr;
  Counter* handshake_failures_ = nullptr;
  Table requests_{};
  Table handled_{};
};

// One TLS connection carrying frames: a read loop feeding the decoder, a
// write queue drained by one writer, close-once semantics and an idle check.
// Everything runs on the connection's strand; other threads reach it through
// asio::dispatch/post on executor().
class FrameConnection : public std::enable_shared_from_this<FrameConnection> {
 public:
  FrameConnection(tcp::socket socket, std::shared_ptr<TlsMaterial> tls, asio::ssl::context& context,
                  const RpcOptions& options, RpcMetrics& metrics)
      : tls_(std::move(tls)),
        options_(options),
        metrics_(metrics),
        stream_(std::move(socket), context),
        decoder_(options.max_frame_bytes),
        idle_timer_(stream_.get_executor()) {}
  virtual ~FrameConnection() = default;

  asio::any_io_executor executor() { return stream_.get_executor(); }

  // Closes the socket (idempotent) and reports `why` to OnClosed once.
  void Close(const Status& why) {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
    idle_timer_.cancel();
    if (counted_open_) metrics_.ConnectionClosed();
    counted_open_ = false;
    writes_.clear();
    OnClosed(why);
  }

 protected:
  // A decoded frame; returns false after closing the connection.
  virtual bool OnFrame(Frame frame) = 0;
  virtual void OnClosed(const Status& why) = 0;
  // Requests awaiting an answer on this connection (blocks the idle close).
  virtual size_t Outstanding() const = 0;
  virtual std::string Describe() const = 0;  // "ADDR (node X)" for logs

  // TLS handshake bounded by `timeout_ms`; returns "" or what went wrong.
  asio::awaitable<std::string> Handshake(asio::ssl::stream_base::handshake_type type,
                                         int64_t timeout_ms) {
    asio::steady_timer timer(stream_.get_executor());
    auto timed_out = std::make_shared<bool>(false);
    timer.expires_after(std::chrono::milliseconds(timeout_ms));
    timer.async_wait([this, timed_out, self = shared_from_this()](boost::system::error_code ec) {
      if (ec || closed_) return;
      *timed_out = true;
      boost::system::error_code ignored;
      stream_.lowest_layer().close(ignored);
    });
    auto [ec] = co_await stream_.async_handshake(type, kUseTuple);
    timer.cancel();
    if (*timed_out) co_return "TLS handshake timed out after " + std::to_string(timeout_ms) + " ms";
    if (ec) co_return DescribeTlsError(ec, stream_.native_handle());
    co_return "";
  }

  void MarkOpen() {
    counted_open_ = true;
    metrics_.ConnectionOpened();
    last_activity_ = Clock::now();
    asio::co_spawn(stream_.get_executor(), IdleLoop(shared_from_this()), LogEscapedException);
  }

  asio::awaitable<void> ReadLoop(std::shared_ptr<FrameConnection> self) {
    std::vector<char> buffer(kReadChunkBytes);
    while (!closed_) {
      auto [ec, n] = co_await stream_.async_read_some(asio::buffer(buffer), kUseTuple);
      if (closed_) co_return;
      if (ec) {
        std::string reason = ec == asio::error::eof ? "closed by the peer"
                                                    : DescribeTlsError(ec, stream_.native_handle());
        Close(Unavailable("connection to " + Describe() + " lost: " + reason));
        co_return;
      }
      metrics_.BytesReceived(n);
      last_activity_ = Clock::now();
      decoder_.Append(std::string_view(buffer.data(), n));
      while (!closed_) {
        Result<std::optional<Frame>> next = decoder_.Next();
        if (!next.ok()) {
          Reject(FrameErrorName(*decoder_.error()), next.status().message());
          co_return;
        }
        if (!next->has_value()) break;
        if (!OnFrame(std::move(**next))) co_return;
      }
    }
  }

  // Logs one line naming the peer and the reason, counts it, closes.
  void Reject(std::string_view reason_label, const std::string& reason) {
    spdlog::warn("rpc: closing connection with {}: {}", Describe(), reason);
    metrics_.FrameRejected(reason_label);
    Close(Unavailable("connection to " + Describe() + " closed: " + reason));
  }

  void Send(std::string bytes) {
    if (closed_) return;
    writes_.push_back(std::move(bytes));
    if (!writing_) {
      writing_ = true;
      asio::co_spawn(stream_.get_executor(), WriteLoop(shared_from_this()), LogEscapedException);
    }
  }

  std::shared_ptr<TlsMaterial> tls_;
  const RpcOptions options_;
  RpcMetrics& metrics_;  // owned by the Impl, which this connection keeps alive
  Stream stream_;
  bool closed_ = false;

 private:
  asio::awaitable<void> WriteLoop(std::shared_ptr<FrameConnection> self) {
    std::string batch;
    while (!closed_ && !writes_.empty()) {
      batch.clear();
      // Coalesce queued frames into one TLS write.
      while (!writes_.empty() &&
             (batch.empty() || batch.size() + writes_.front().size() <= kWriteCoalesceBytes)) {
        if (batch.empty()) {
          batch = std::move(writes_.front());
        } else {
          batch += writes_.front();
        }
        writes_.pop_front();
      }
      auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(batch), kUseTuple);
      if (closed_) break;
      if (ec) {
        Close(Unavailable("connection to " + Describe() +
                          " lost while writing: " + DescribeTlsError(ec, stream_.native_handle())));
        break;
      }
      metrics_.BytesSent(n);
      last_activity_ = Clock::now();
    }
    writing_ = false;
  }

  asio::awaitable<void> IdleLoop(std::shared_ptr<FrameConnection> self) {
    if (options_.idle_timeout_ms <= 0) co_return;
    while (!closed_) {
      idle_timer_.expires_after(std::chrono::milliseconds(options_.idle_timeout_ms));
      co_await idle_timer_.async_wait(kUseTuple);  // cancelled by Close()
      if (closed_) co_return;
      if (Outstanding() == 0 && MillisSince(last_activity_) >= options_.idle_timeout_ms) {
        spdlog::debug("rpc: closing idle connection with {}", Describe());
        Close(Unavailable("connection to " + Describe() + " closed after " +
                          std::to_string(options_.idle_timeout_ms) + " ms idle"));
      }
    }
  }

  FrameDecoder decoder_;
  std::deque<std::string> writes_;  // encoded frames not yet handed to the stream
  bool writing_ = false;            // a WriteLoop is running
  bool counted_open_ = false;
  Clock::time_point last_activity_ = Clock::now();
  asio::steady_timer idle_timer_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Server

class RpcServer::Impl : public std::enable_shared_from_this<RpcServer::Impl> {
 public:
  Impl(std::vector<asio::io_context*> lanes, std::shared_ptr<TlsIdentity> tls, RpcOptions options,
       MetricsRegistry* metrics)
      : lanes_(std::move(lanes)),
        io_(*lanes_.front()),
        tls_(std::dynamic_pointer_cast<TlsMaterial>(tls)),
        options_(options),
        metrics_(metrics, "inbound") {}

  class Connection;

  const std::vector<asio::io_context*> lanes_;
  asio::io_context& io_;  // the acceptor's lane
  std::shared_ptr<TlsMaterial> tls_;
  const RpcOptions options_;
  RpcMetrics metrics_;
  std::unordered_map<uint32_t, Handler> handlers_;  // fixed once Listen() ran

  Executor acceptor_executor_{asio::make_strand(io_)};
  size_t next_lane_ = 0;  // used on acceptor_executor_
  std::mutex mutex_;
  std::optional<tcp::acceptor> acceptor_;  // used on acceptor_executor_; set under mutex_
  std::string local_address_;              // guarded by mutex_
  bool stopped_ = false;                   // guarded by mutex_
  std::map<FrameConnection*, std::weak_ptr<FrameConnection>> connections_;  // guarded by mutex_

  asio::awaitable<void> AcceptLoop(std::shared_ptr<Impl> self);
  void Forget(FrameConnection* connection) {
    std::lock_guard lock(mutex_);
    connections_.erase(connection);
  }
};

class RpcServer::Impl::Connection : public FrameConnection {
 public:
  Connection(std::shared_ptr<Impl> server, tcp::socket socket, std::string remote)
      : FrameConnection(std::move(socket), server->tls_, server->tls_->server_context(),
                        server->options_, server->metrics_),
        server_(std::move(server)),
        remote_(std::move(remote)) {}

  asio::awaitable<void> Run(std::shared_ptr<Connection> self) {
    std::string failure =
        co_await Handshake(asio::ssl::stream_base::server, options_.connect_timeout_ms);
    if (closed_) co_return;
    if (!failure.empty()) {
      metrics_.HandshakeFailed();
      spdlog::warn("rpc: TLS handshake from {} failed: {}", remote_, failure);
      Close(Unavailable(failure));
      co_return;
    }
    Result<NodeId> peer = PeerNodeId(stream_.native_handle());
    if (!peer.ok()) {
      spdlog::warn("rpc: refusing connection from {}: {}", remote_, peer.status().message());
      Close(peer.status());
      co_return;
    }
    peer_ = *peer;
    MarkOpen();
    co_await ReadLoop(self);
  }

 private:
  bool OnFrame(Frame frame) override {
    if (frame.is_response) {
      Reject("unexpected_response", "sent a response frame (request id " +
                                        std::to_string(frame.request_id) + ") to a server");
      return false;
    }
    auto handler = server_->handlers_.find(frame.type);
    if (handler == server_->handlers_.end()) {
      Reject("type", "unknown message type " + std::to_string(frame.type));
      return false;
    }
    ++outstanding_;
    auto answered = std::make_shared<std::atomic<bool>>(false);
    std::weak_ptr<FrameConnection> weak = shared_from_this();
    Responder respond = [weak, answered, executor = executor(), id = frame.request_id,
                         type = frame.type](Result<std::string> reply) {
      if (answered->exchange(true)) {
        spdlog::error("rpc: handler for message type {} answered request {} twice; ignored", type,
                      id);
        return;
      }
      asio::post(executor, [weak, id, type, reply = std::move(reply)]() mutable {
        if (auto connection = weak.lock()) {
          static_cast<Connection*>(connection.get())->Answer(id, type, std::move(reply));
        }
      });
    };
    handler->second(PeerInfo{peer_, remote_}, std::move(frame.payload), std::move(respond));
    return !closed_;
  }

  void Answer(uint64_t id, uint32_t type, Result<std::string> reply) {
    --outstanding_;
    server_->metrics_.Request(RpcMetrics::Side::kServed, type, reply.status().code());
    if (closed_) return;
    Frame frame;
    frame.request_id = id;
    frame.type = type;
    frame.is_response = true;
    if (reply.ok()) {
      frame.payload = std::move(reply).value();
    } else {
      frame.error_code = reply.status().code();
      frame.error_message = reply.status().message();
    }
    Result<std::string> bytes = EncodeFrame(frame, options_.max_frame_bytes);
    if (!bytes.ok()) {
      spdlog::warn("rpc: reply to {} for message type {} is too large: {}", Describe(),
                   TypeLabel(type), bytes.status().message());
      Frame error;
      error.request_id = id;
      error.type = type;
      error.is_response = true;
      error.error_code = ErrorCode::kResourceExhausted;
      error.error_message = "reply from node " + server_->tls_->node_id().ToString() +
                            " is too large: " + bytes.status().message();
      bytes = EncodeFrame(error, options_.max_frame_bytes);
      if (!bytes.ok()) return;
    }
    Send(std::move(bytes).value());
  }

  void OnClosed(const Status& why) override { server_->Forget(this); }
  size_t Outstanding() const override { return outstanding_; }
  std::string Describe() const override {
    return peer_.valid() ? remote_ + " (node " + peer_.ToString() + ")" : remote_;
  }

  std::shared_ptr<Impl> server_;
  std::string remote_;
  NodeId peer_;
  size_t outstanding_ = 0;  // requests handed to handlers and not yet answered
};

asio::awaitable<void> RpcServer::Impl::AcceptLoop(std::shared_ptr<Impl> self) {
  for (;;) {
    // Connections are spread over the lanes in turn.
    asio::io_context& lane = *lanes_[next_lane_++ % lanes_.size()];
    auto [ec, socket] = co_await acceptor_->async_accept(asio::make_strand(lane), kUseTuple);
    {
      std::lock_guard lock(mutex_);
      if (stopped_ || !acceptor_->is_open()) co_return;
    }
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      spdlog::warn("rpc: accept failed: {}", ec.message());
      asio::steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(kUseTuple);
      continue;
    }
    boost::system::error_code endpoint_error;
    tcp::endpoint remote = socket.remote_endpoint(endpoint_error);
    socket.set_option(tcp::no_delay(true), endpoint_error);
    auto connection = std::make_shared<Connection>(
        self, std::move(socket), endpoint_error ? "unknown peer" : FormatEndpoint(remote));
    {
      std::lock_guard lock(mutex_);
      connections_[connection.get()] = connection;
    }
    asio::co_spawn(connection->executor(), connection->Run(connection), LogEscapedException);
  }
}

RpcServer::RpcServer(asio::io_context& io, std::shared_ptr<TlsIdentity> tls, RpcOptions options,
                     MetricsRegistry* metrics)
    : RpcServer(std::vector<asio::io_context*>{&io}, std::move(tls), options, metrics) {}

RpcServer::RpcServer(std::vector<asio::io_context*> lanes, std::shared_ptr<TlsIdentity> tls,
                     RpcOptions options, MetricsRegistry* metrics)
    : impl_(std::make_shared<Impl>(std::move(lanes), std::move(tls), options, metrics)) {}

RpcServer::~RpcServer() {
  Stop();
}

void RpcServer::Register(MessageType type, Handler handler) {
  impl_->handlers_[static_cast<uint32_t>(type)] = std::move(handler);
}

Status RpcServer::Listen(const std::string& host_port) {
  if (!impl_->tls_) {
    return FailedPrecondition("rpc server needs TLS material from TlsIdentity::Load");
  }
  Result<std::pair<std::string, std::string>> split = SplitHostPort(host_port);
  if (!split.ok()) return FailedPrecondition("rpc listen " + split.status().message());
  boost::system::error_code ec;
  tcp::resolver resolver(impl_->io_);
  auto endpoints = resolver.resolve(split->first, split->second,
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return FailedPrecondition("cannot resolve rpc listen address " + host_port + ": " +
                              ec.message());
  }
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  tcp::acceptor acceptor(impl_->acceptor_executor_);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return FailedPrecondition("cannot listen for peer RPC on " + host_port + ": " + ec.message() +
                              " (is another process using the port?)");
  }
  tcp::endpoint bound = acceptor.local_endpoint(ec);
  {
    std::lock_guard lock(impl_->mutex_);
    if (impl_->stopped_) return FailedPrecondition("rpc server is stopped");
    if (impl_->acceptor_) return FailedPrecondition("rpc server is already listening");
    impl_->acceptor_.emplace(std::move(acceptor));
    impl_->local_address_ = FormatEndpoint(bound);
  }
  asio::co_spawn(impl_->acceptor_executor_, impl_->AcceptLoop(impl_), LogEscapedException);
  return Status::Ok();
}

std::string RpcServer::local_address() const {
  std::lock_guard lock(impl_->mutex_);
  return impl_->local_address_;
}

void RpcServer::Stop() {
  std::vector<std::shared_ptr<FrameConnection>> connections;
  {
    std::lock_guard lock(impl_->mutex_);
    if (impl_->stopped_) return;
    impl_->stopped_ = true;
    for (auto& [key, weak] : impl_->connections_) {
      if (auto connection = weak.lock()) connections.push_back(std::move(connection));
    }
    impl_->connections_.clear();
  }
  // Sockets are touched only on their own executors.
  asio::dispatch(impl_->acceptor_executor_, [impl = impl_] {
    std::lock_guard lock(impl->mutex_);
    boost::system::error_code ignored;
    if (impl->acceptor_) impl->acceptor_->close(ignored);
  });
  for (auto& connection : connections) {
    asio::dispatch(connection->executor(),
                   [connection] { connection->Close(Unavailable("rpc server stopped")); });
  }
}

// ---------------------------------------------------------------------------
// Client

class RpcClient::Impl : public std::enable_shared_from_this<RpcClient::Impl> {
 public:
  Impl(std::vector<asio::io_context*> lanes, std::shared_ptr<TlsIdentity> tls, RpcOptions options,
       MetricsRegistry* metrics)
      : lanes_(std::move(lanes)),
        tls_(std::dynamic_pointer_cast<TlsMaterial>(tls)),
        options_(options),
        metrics_(metrics, "outbound") {}

  class Connection;

  // The lane the calling thread runs, else the next one in turn.
  size_t LaneForThisThread() {
    for (size_t i = 0; i < lanes_.size(); ++i) {
      if (lanes_[i]->get_executor().running_in_this_thread()) return i;
    }
    return next_lane_.fetch_add(1, std::memory_order_relaxed) % lanes_.size();
  }

  // Runs `done` on `lane` with `status`, counting it.
  void FailSoon(size_t lane, MessageType type, std::function<void(Result<RpcReply>)> done,
                Status status) {
    metrics_.Request(RpcMetrics::Side::kCalled, static_cast<uint32_t>(type), status.code());
    asio::post(*lanes_[lane],
               [done = std::move(done), status = std::move(status)] { done(status); });
  }
  // A connection ended: forget it and, if it never got through, back off.
  void ConnectionEnded(const std::string& address, const Connection* connection, bool established,
                       const std::string& error);

  const std::vector<asio::io_context*> lanes_;
  std::atomic<size_t> next_lane_{0};
  std::shared_ptr<TlsMaterial> tls_;
  const RpcOptions options_;
  RpcMetrics metrics_;

  // One address: a connection per lane (null between connections) and one
  // backoff shared by all of them.
  struct Peer {
    std::vector<std::shared_ptr<Connection>> connections;  // [lane]
    int64_t backoff_ms = 0;                                // 0 after a successful handshake
    Clock::time_point retry_at{};                          // no connection attempt before this
    std::string last_error;
  };
  std::mutex mutex_;
  bool stopped_ = false;                         // guarded by mutex_
  std::unordered_map<std::string, Peer> peers_;  // by address; guarded by mutex_
};

class RpcClient::Impl::Connection : public FrameConnection {
 public:
  Connection(std::shared_ptr<Impl> client, tcp::socket socket, std::string address)
      : FrameConnection(std::move(socket), client->tls_, client->tls_->client_context(),
                        client->options_, client->metrics_),
        client_(client),
        address_(std::move(address)),
        resolver_(stream_.get_executor()),
        connect_timer_(stream_.get_executor()) {}

  asio::awaitable<void> Run(std::shared_ptr<Connection> self) {
    std::string failure = co_await Connect();
    if (closed_) co_return;
    if (!failure.empty()) {
      Close(Unavailable(failure));
      co_return;
    }
    state_ = State::kReady;
    MarkOpen();
    if (auto client = client_.lock()) client->ConnectionEnded(address_, this, true, "");
    // Calls that arrived while connecting go out in the order they came.
    std::vector<uint64_t> waiting;
    for (auto& [id, call] : pending_) waiting.push_back(id);
    for (uint64_t id : waiting) Transmit(id);
    co_await ReadLoop(self);
  }

  void StartCall(std::optional<NodeId> expected, MessageType type, std::string payload,
                 int64_t deadline_ms, std::function<void(Result<RpcReply>)> done) {
    auto client = client_.lock();
    if (closed_ || !client) {
      Status status = closed_ ? close_status_ : Unavailable("rpc client stopped");
      if (client)
        client->metrics_.Request(RpcMetrics::Side::kCalled, static_cast<uint32_t>(type),
                                 status.code());
      done(status);
      return;
    }
    int64_t bytes = static_cast<int64_t>(payload.size());
    if (inflight_bytes_ + bytes > options_.max_inflight_bytes_per_peer) {
      client->metrics_.Request(RpcMetrics::Side::kCalled, static_cast<uint32_t>(type),
                               ErrorCode::kResourceExhausted);
      done(ResourceExhausted("request of " + std::to_string(bytes) + " bytes to " + address_ +
                             " would put " + std::to_string(inflight_bytes_ + bytes) +
                             " bytes in flight, above the limit of " +
                             std::to_string(options_.max_inflight_bytes_per_peer) +
                             " (rpc max_inflight_bytes_per_peer); retry later"));
      return;
    }
    uint64_t id = next_request_id_++;
    Call& call = pending_[id];
    call.done = std::move(done);
    call.type = type;
    call.expected = expected;
    call.payload = std::move(payload);
    call.bytes = bytes;
    call.deadline_ms = deadline_ms;
    call.started = Clock::now();
    inflight_bytes_ += bytes;
    if (deadline_ms > 0) {
      call.timer = std::make_unique<asio::steady_timer>(stream_.get_executor());
      call.timer->expires_after(std::chrono::milliseconds(deadline_ms));
      std::weak_ptr<FrameConnection> weak = shared_from_this();
      call.timer->async_wait([weak, id, deadline_ms, this](boost::system::error_code ec) {
        if (ec) return;
        auto self = weak.lock();
        if (!self) return;
        Complete(id, DeadlineExceeded("no reply from " + Describe() + " within " +
                                      std::to_string(deadline_ms) + " ms"));
      });
    }
    if (state_ == State::kReady) Transmit(id);
  }

 private:
  enum class State { kConnecting, kReady };
  struct Call {
    std::function<void(Result<RpcReply>)> done;
    MessageType type{};
    std::optional<NodeId> expected;
    std::string payload;  // until transmitted
    int64_t bytes = 0;
    int64_t deadline_ms = 0;
    Clock::time_point started;
    std::unique_ptr<asio::steady_timer> timer;
    bool sent = false;
  };

  // Resolve + connect + handshake within connect_timeout_ms; "" on success.
  asio::awaitable<std::string> Connect() {
    Result<std::pair<std::string, std::string>> split = SplitHostPort(address_);
    if (!split.ok()) co_return split.status().message();
    Clock::time_point start = Clock::now();
    auto timed_out = std::make_shared<bool>(false);
    connect_timer_.expires_after(std::chrono::milliseconds(options_.connect_timeout_ms));
    connect_timer_.async_wait(
        [this, timed_out, self = shared_from_this()](boost::system::error_code ec) {
          if (ec || closed_) return;
          *timed_out = true;
          resolver_.cancel();
          boost::system::error_code ignored;
          stream_.lowest_layer().close(ignored);
        });
    std::string failure;
    auto [resolve_error, endpoints] =
        co_await resolver_.async_resolve(split->first, split->second, kUseTuple);
    if (resolve_error) {
      failure = "cannot resolve " + address_ + ": " + resolve_error.message();
    } else {
      auto [connect_error, endpoint] =
          co_await asio::async_connect(stream_.lowest_layer(), endpoints, kUseTuple);
      if (connect_error) {
        failure = "cannot connect to " + address_ + ": " + connect_error.message();
      }
    }
    connect_timer_.cancel();
    if (*timed_out) {
      co_return "cannot connect to " + address_ + ": no connection within " +
          std::to_string(options_.connect_timeout_ms) + " ms";
    }
    if (!failure.empty()) co_return failure;
    boost::system::error_code ignored;
    stream_.lowest_layer().set_option(tcp::no_delay(true), ignored);
    int64_t remaining = options_.connect_timeout_ms - MillisSince(start);
    std::string handshake =
        co_await Handshake(asio::ssl::stream_base::client, std::max<int64_t>(remaining, 1));
    if (!handshake.empty()) {
      metrics_.HandshakeFailed();
      co_return "TLS handshake with " + address_ + " failed: " + handshake;
    }
    Result<NodeId> peer = PeerNodeId(stream_.native_handle());
    if (!peer.ok()) co_return "node at " + address_ + ": " + peer.status().message();
    peer_ = *peer;
    co_return "";
  }

  void Transmit(uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.sent) return;
    Call& call = it->second;
    if (call.expected && *call.expected != peer_) {
      Complete(id, PermissionDenied("node at " + address_ + " presents certificate for node " +
                                    peer_.ToString() + ", expected " + call.expected->ToString()));
      return;
    }
    Frame frame;
    frame.request_id = id;
    frame.type = static_cast<uint32_t>(call.type);
    frame.payload = std::move(call.payload);
    if (call.deadline_ms > 0) {
      int64_t left = std::max<int64_t>(call.deadline_ms - MillisSince(call.started), 1);
      frame.deadline_ms = static_cast<uint32_t>(std::min<int64_t>(left, UINT32_MAX));
    }
    Result<std::string> bytes = EncodeFrame(frame, options_.max_frame_bytes);
    if (!bytes.ok()) {
      Complete(id, bytes.status());
      return;
    }
    call.sent = true;
    Send(std::move(bytes).value());
  }

  void Complete(uint64_t id, Result<RpcReply> result) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Call call = std::move(it->second);
    pending_.erase(it);
    if (call.timer) call.timer->cancel();
    inflight_bytes_ -= call.bytes;
    metrics_.Request(RpcMetrics::Side::kCalled, static_cast<uint32_t>(call.type),
                     result.status().code());
    call.done(std::move(result));
  }

  bool OnFrame(Frame frame) override {
    if (!frame.is_response) {
      Reject("unexpected_request", "sent a request frame (type " + std::to_string(frame.type) +
                                       ") on a client connection");
      return false;
    }
    got_reply_ = true;
    // A reply to a call that already timed out is dropped.
    if (frame.error_code == ErrorCode::kOk) {
      Complete(frame.request_id, RpcReply{peer_, std::move(frame.payload)});
    } else {
      Complete(frame.request_id, Status(frame.error_code, std::move(frame.error_message)));
    }
    return true;
  }

  void OnClosed(const Status& why) override {
    close_status_ =
        why.code() == ErrorCode::kUnavailable || why.ok() ? why : Unavailable(why.message());
    if (close_status_.ok()) close_status_ = Unavailable("connection to " + address_ + " closed");
    resolver_.cancel();
    connect_timer_.cancel();
    // Forget this connection first, so a call made from a `done` below
    // starts a new one (or meets the backoff).
    if (auto client = client_.lock()) {
      // With TLS 1.3 a server that refuses our certificate does so after
      // our handshake completed: only a link that carried a reply counts as
      // having worked (and skips the backoff).
      client->ConnectionEnded(address_, this, state_ == State::kReady && got_reply_,
                              close_status_.message());
    }
    std::vector<uint64_t> ids;
    for (auto& [id, call] : pending_) ids.push_back(id);
    for (uint64_t id : ids) Complete(id, close_status_);
  }

  size_t Outstanding() const override { return pending_.size(); }
  std::string Describe() const override {
    return peer_.valid() ? address_ + " (node " + peer_.ToString() + ")" : address_;
  }

  std::weak_ptr<Impl> client_;
  std::string address_;
  tcp::resolver resolver_;
  asio::steady_timer connect_timer_;
  State state_ = State::kConnecting;
  bool got_reply_ = false;  // a response frame arrived on this connection
  NodeId peer_;
  Status close_status_;
  std::map<uint64_t, Call> pending_;  // by request id
  uint64_t next_request_id_ = 1;
  int64_t inflight_bytes_ = 0;  // payload bytes of pending_
};

void RpcClient::Impl::ConnectionEnded(const std::string& address, const Connection* connection,
                                      bool established, const std::string& error) {
  std::lock_guard lock(mutex_);
  auto it = peers_.find(address);
  if (it == peers_.end()) return;
  Peer& peer = it->second;
  auto lane = std::find_if(peer.connections.begin(), peer.connections.end(),
                           [connection](const auto& c) { return c.get() == connection; });
  if (lane == peer.connections.end()) return;
  if (error.empty()) {  // handshake done: the link works
    peer.backoff_ms = 0;
    peer.last_error.clear();
    return;
  }
  lane->reset();
  if (established) {
    // The link worked; the next call reconnects at once.
    peer.retry_at = Clock::now();
    return;
  }
  peer.backoff_ms = peer.backoff_ms == 0
                        ? options_.reconnect_initial_backoff_ms
                        : std::min(peer.backoff_ms * 2, options_.reconnect_max_backoff_ms);
  peer.retry_at = Clock::now() + std::chrono::milliseconds(peer.backoff_ms);
  peer.last_error = error;
  spdlog::debug("rpc: {}; next attempt in {} ms", error, peer.backoff_ms);
}

RpcClient::RpcClient(asio::io_context& io, std::shared_ptr<TlsIdentity> tls, RpcOptions options,
                     MetricsRegistry* metrics)
    : RpcClient(std::vector<asio::io_context*>{&io}, std::move(tls), options, metrics) {}

RpcClient::RpcClient(std::vector<asio::io_context*> lanes, std::shared_ptr<TlsIdentity> tls,
                     RpcOptions options, MetricsRegistry* metrics)
    : impl_(std::make_shared<Impl>(std::move(lanes), std::move(tls), options, metrics)) {}

RpcClient::~RpcClient() {
  Stop();
}

void RpcClient::Call(const std::string& address, std::optional<NodeId> expected_id,
                     MessageType type, std::string payload, int64_t deadline_ms,
                     std::function<void(Result<RpcReply>)> done) {
  Impl& impl = *impl_;
  const size_t lane = impl.LaneForThisThread();
  if (!impl.tls_) {
    impl.FailSoon(lane, type, std::move(done),
                  FailedPrecondition("rpc client needs TLS material from TlsIdentity::Load"));
    return;
  }
  std::shared_ptr<Impl::Connection> connection;
  bool start = false;
  {
    std::lock_guard lock(impl.mutex_);
    if (impl.stopped_) {
      impl.FailSoon(lane, type, std::move(done), Unavailable("rpc client stopped"));
      return;
    }
    Impl::Peer& peer = impl.peers_[address];
    peer.connections.resize(impl.lanes_.size());
    std::shared_ptr<Impl::Connection>& slot = peer.connections[lane];
    if (!slot) {
      Clock::time_point now = Clock::now();
      if (now < peer.retry_at && !peer.last_error.empty()) {
        int64_t wait =
            std::chrono::duration_cast<std::chrono::milliseconds>(peer.retry_at - now).count();
        impl.FailSoon(lane, type, std::move(done),
                      Unavailable("node at " + address + " is in backoff for " +
                                  std::to_string(std::max<int64_t>(wait, 1)) +
                                  " ms after: " + peer.last_error));
        return;
      }
      slot = std::make_shared<Impl::Connection>(
          impl_, tcp::socket(asio::make_strand(*impl.lanes_[lane])), address);
      start = true;
    }
    connection = slot;
  }
  if (start) {
    asio::co_spawn(connection->executor(), connection->Run(connection), LogEscapedException);
  }
  asio::dispatch(
      connection->executor(), [connection, expected_id, type, payload = std::move(payload),
                               deadline_ms, done = std::move(done)]() mutable {
        connection->StartCall(expected_id, type, std::move(payload), deadline_ms, std::move(done));
      });
}

void RpcClient::ResetBackoff(const std::string& address) {
  std::lock_guard lock(impl_->mutex_);
  auto it = impl_->peers_.find(address);
  if (it == impl_->peers_.end()) return;
  it->second.backoff_ms = 0;
  it->second.retry_at = Clock::time_point{};
  it->second.last_error.clear();
}

void RpcClient::Stop() {
  std::vector<std::shared_ptr<Impl::Connection>> connections;
  {
    std::lock_guard lock(impl_->mutex_);
    if (impl_->stopped_) return;
    impl_->stopped_ = true;
    for (auto& [address, peer] : impl_->peers_) {
      for (auto& connection : peer.connections) {
        if (connection) connections.push_back(std::move(connection));
      }
    }
    impl_->peers_.clear();
  }
  for (auto& connection : connections) {
    asio::dispatch(connection->executor(),
                   [connection] { connection->Close(Unavailable("rpc client stopped")); });
  }
}

}  // namespace meshkv::transport
