#include "frontend/dns/server/dns_server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <unordered_set>

#include "frontend/dns/wire/message.h"

namespace meshkv::dns {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
// Room for bursts while a thread is busy (the kernel caps it at rmem_max).
constexpr int kUdpReceiveBuffer = 4 << 20;
// UDP datagrams taken per recvmmsg, and batches handled before yielding to
// the thread's TCP connections.
constexpr int kUdpBatch = 32;
constexpr int kUdpRoundsPerWakeup = 16;
// Queries are small; a datagram larger than this is dropped (MSG_TRUNC).
constexpr size_t kUdpQueryBuffer = 4096;
// Port 0: tries to find a port free for both UDP and TCP.
constexpr int kAnyPortAttempts = 20;

IpAddress ToIpAddress(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(peer);
    std::array<uint8_t, 16> bytes;
    std::memcpy(bytes.data(), &v6.sin6_addr, 16);
    return IpAddress::V6(bytes);
  }
  const auto& v4 = reinterpret_cast<const sockaddr_in&>(peer);
  std::array<uint8_t, 4> bytes;
  std::memcpy(bytes.data(), &v4.sin_addr, 4);
  return IpAddress::V4(bytes);
}

IpAddress ToIpAddress(const asio::ip::address& address) {
  if (address.is_v4()) return IpAddress::V4(address.to_v4().to_bytes());
  return IpAddress::V6(address.to_v6().to_bytes());
}

std::string FormatEndpoint(const asio::ip::address& address, uint16_t port) {
  return (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" +
         std::to_string(port);
}

}  // namespace

namespace {

// Buffers for one recvmmsg/sendmmsg round trip.
struct UdpBatch {
  std::array<std::array<char, kUdpQueryBuffer>, kUdpBatch> buffers;
  std::array<sockaddr_storage, kUdpBatch> peers;
  std::array<iovec, kUdpBatch> in_iov;
  std::array<mmsghdr, kUdpBatch> in;
  std::array<std::string, kUdpBatch> replies;  // reused: each keeps its capacity
  std::array<iovec, kUdpBatch> out_iov;
  std::array<mmsghdr, kUdpBatch> out;
};

}  // namespace

struct DnsServer::Worker {
  asio::io_context io{1};
  std::optional<udp::socket> udp_socket;
  std::optional<tcp::acceptor> acceptor;
  std::unordered_set<beast::tcp_stream*> connections;  // touched only on this worker's thread
  std::unique_ptr<UdpBatch> udp_batch = std::make_unique<UdpBatch>();
};

// The coroutines of the server; a friend so they can reach its state.
class DnsServer::Session {
 public:
  static asio::awaitable<void> ServeUdp(DnsServer& server, Worker& worker);
  static asio::awaitable<void> Accept(DnsServer& server, Worker& worker);
  static asio::awaitable<void> ServeTcp(DnsServer& server, Worker& worker, tcp::socket socket);
};

asio::awaitable<void> DnsServer::Session::ServeUdp(DnsServer& server, Worker& worker) {
  // Waits for the socket to be readable, then drains it in batches with
  // recvmmsg and answers each batch with one sendmmsg (as Knot does): one
  // wake-up and two system calls for up to kUdpBatch queries.
  udp::socket& socket = *worker.udp_socket;
  UdpBatch& batch = *worker.udp_batch;
  const int fd = socket.native_handle();
  for (;;) {
    auto [ec] = co_await socket.async_wait(udp::socket::wait_read, kUseTuple);
    if (ec == asio::error::operation_aborted || !socket.is_open()) co_return;
    if (ec) {
      spdlog::warn("dns udp wait failed: {}", ec.message());
      asio::steady_timer pause(worker.io, std::chrono::milliseconds(50));
      co_await pause.async_wait(kUseTuple);
      continue;
    }
    for (int round = 0; round < kUdpRoundsPerWakeup; ++round) {
      for (int i = 0; i < kUdpBatch; ++i) {
        batch.in_iov[i] = {batch.buffers[i].data(), batch.buffers[i].size()};
        batch.in[i] = {};
        batch.in[i].msg_hdr.msg_name = &batch.peers[i];
        batch.in[i].msg_hdr.msg_namelen = sizeof(batch.peers[i]);
        batch.in[i].msg_hdr.msg_iov = &batch.in_iov[i];
        batch.in[i].msg_hdr.msg_iovlen = 1;
      }
      const int received = ::recvmmsg(fd, batch.in.data(), kUdpBatch, MSG_DONTWAIT, nullptr);
      if (received < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        continue;  // e.g. an ICMP error for an earlier answer, now consumed
      }
      int replies = 0;
      for (int i = 0; i < received; ++i) {
        if ((batch.in[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
          server.metrics_.RecordDropped(DropReason::kTooLarge);
          continue;
        }
        // One datagram per query, written into this slot's buffer, which
        // keeps its capacity from batch to batch: a cached answer allocates
        // nothing.
        std::string& reply = batch.replies[replies];
        if (!server.responder_.RespondUdp(
                std::string_view(batch.buffers[i].data(), batch.in[i].msg_len),
                ToIpAddress(batch.peers[i]), reply)) {
          continue;
        }
        batch.out_iov[replies] = {reply.data(), reply.size()};
        batch.out[replies] = {};
        batch.out[replies].msg_hdr.msg_name = &batch.peers[i];
        batch.out[replies].msg_hdr.msg_namelen = batch.in[i].msg_hdr.msg_namelen;
        batch.out[replies].msg_hdr.msg_iov = &batch.out_iov[replies];
        batch.out[replies].msg_hdr.msg_iovlen = 1;
        ++replies;
      }
      for (int sent = 0; sent < replies;) {
        const int n = ::sendmmsg(fd, batch.out.data() + sent, replies - sent, MSG_DONTWAIT);
        if (n > 0) {
          sent += n;
        } else if (errno == EINTR) {
          continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
          // The socket buffer is full: UDP answers may be lost; the client retries.
          for (; sent < replies; ++sent) server.metrics_.RecordDropped(DropReason::kUdpSendFailed);
        } else {
          server.metrics_.RecordDropped(DropReason::kUdpSendFailed);  // this one peer
          ++sent;
        }
      }
      if (received < kUdpBatch) break;  // drained
    }
  }
}

asio::awaitable<void> DnsServer::Session::Accept(DnsServer& server, Worker& worker) {
  for (;;) {
    auto [ec, socket] = co_await worker.acceptor->async_accept(kUseTuple);
    if (ec == asio::error::operation_aborted || !worker.acceptor->is_open()) co_return;
    if (ec) {
      spdlog::warn("dns tcp accept failed: {}", ec.message());
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
        asio::steady_timer pause(worker.io, std::chrono::milliseconds(50));
        co_await pause.async_wait(kUseTuple);
      }
      continue;
    }
    if (server.tcp_connections_.load(std::memory_order_relaxed) >=
        server.options_.max_tcp_connections) {
      server.metrics_.RecordDropped(DropReason::kTcpLimit);
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(worker.io, ServeTcp(server, worker, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> DnsServer::Session::ServeTcp(DnsServer& server, Worker& worker,
                                                   tcp::socket socket) {
  boost::system::error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) co_return;  // already gone
  socket.set_option(tcp::no_delay(true), ec);
  const IpAddress client = ToIpAddress(peer.address());
  beast::tcp_stream stream(std::move(socket));
  worker.connections.insert(&stream);
  server.tcp_connections_.fetch_add(1, std::memory_order_relaxed);
  const auto timeout = std::chrono::milliseconds(server.options_.tcp_idle_timeout_ms);
  std::array<uint8_t, 2> length_prefix;
  std::string query;
  for (;;) {
    // RFC 1035 4.2.2: a two-octet length, then the message.
    stream.expires_after(timeout);
    auto [length_ec, length_read] =
        co_await asio::async_read(stream, asio::buffer(length_prefix), kUseTuple);
    if (length_ec) break;  // closed, reset, idle timeout or server stopping
    const size_t length = size_t{length_prefix[0]} << 8 | length_prefix[1];
    if (length < kHeaderSize) {
      server.metrics_.RecordDropped(DropReason::kTcpGarbage);
      break;
    }
    query.resize(length);
    auto [body_ec, body_read] = co_await asio::async_read(stream, asio::buffer(query), kUseTuple);
    if (body_ec) break;
    std::vector<std::string> messages = server.responder_.Respond(query, Transport::kTcp, client);
    if (messages.empty()) {
      // Dropped (a response, not a query): the stream cannot be trusted.
      server.metrics_.RecordDropped(DropReason::kTcpGarbage);
      break;
    }
    std::vector<std::array<uint8_t, 2>> prefixes(messages.size());
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(messages.size() * 2);
    for (size_t i = 0; i < messages.size(); ++i) {
      prefixes[i] = {static_cast<uint8_t>(messages[i].size() >> 8),
                     static_cast<uint8_t>(messages[i].size() & 0xff)};
      buffers.push_back(asio::buffer(prefixes[i]));
      buffers.push_back(asio::buffer(messages[i]));
    }
    stream.expires_after(timeout);
    auto [write_ec, written] = co_await asio::async_write(stream, buffers, kUseTuple);
    if (write_ec) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream.socket().close(ec);
  worker.connections.erase(&stream);
  server.tcp_connections_.fetch_sub(1, std::memory_order_relaxed);
}

DnsServer::DnsServer(DnsServerOptions options, Responder& responder, DnsMetrics& metrics)
    : options_(std::move(options)), responder_(responder), metrics_(metrics) {}

DnsServer::~DnsServer() {
  Stop();
}

Status DnsServer::Start() {
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(options_.host, ec);
  if (ec) {
    asio::io_context resolve_io;
    tcp::resolver resolver(resolve_io);
    auto results = resolver.resolve(options_.host, "", ec);
    if (ec || results.empty()) {
      return InvalidArgument("cannot resolve dns listen host '" + options_.host + "'");
    }
    address = results.begin()->endpoint().address();
  }
  const std::string wanted = FormatEndpoint(address, options_.port);
  // Probe both protocols without SO_REUSEPORT first: another process on the
  // port (even another meshkv, which sets SO_REUSEPORT) makes this fail
  // instead of silently sharing the port.
  uint16_t port = options_.port;
  for (int attempt = 0;; ++attempt) {
    asio::io_context probe_io;
    tcp::acceptor tcp_probe(probe_io);
    udp::socket udp_probe(probe_io);
    tcp_probe.open(address.is_v6() ? tcp::v6() : tcp::v4(), ec);
    if (!ec) tcp_probe.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) tcp_probe.bind(tcp::endpoint(address, options_.port), ec);
    if (!ec) port = tcp_probe.local_endpoint().port();
    if (!ec) udp_probe.open(address.is_v6() ? udp::v6() : udp::v4(), ec);
    if (!ec) udp_probe.bind(udp::endpoint(address, port), ec);
    if (!ec) break;
    if (options_.port != 0 || attempt + 1 >= kAnyPortAttempts) {
      return Unavailable("cannot listen for DNS on " + wanted + ": " + ec.message() +
                         " (is another process using the port? set dns.listen)");
    }
  }
  const int threads = std::max(1, options_.threads);
  for (int i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->udp_socket.emplace(worker->io);
    udp::socket& socket = *worker->udp_socket;
    socket.open(address.is_v6() ? udp::v6() : udp::v4(), ec);
    if (!ec) socket.set_option(ReusePort(true), ec);
    if (!ec) socket.bind(udp::endpoint(address, port), ec);
    if (ec) return Unavailable("cannot listen for DNS on UDP " + wanted + ": " + ec.message());
    boost::system::error_code ignored;
    socket.set_option(asio::socket_base::receive_buffer_size(kUdpReceiveBuffer), ignored);

    worker->acceptor.emplace(worker->io);
    tcp::acceptor& acceptor = *worker->acceptor;
    acceptor.open(address.is_v6() ? tcp::v6() : tcp::v4(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.set_option(ReusePort(true), ec);
    if (!ec) acceptor.bind(tcp::endpoint(address, port), ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable("cannot listen for DNS on TCP " + wanted + ": " + ec.message());
    workers_.push_back(std::move(worker));
  }
  bound_address_ = FormatEndpoint(address, port);
  for (auto& worker : workers_) {
    asio::co_spawn(worker->io, Session::ServeUdp(*this, *worker), asio::detached);
    asio::co_spawn(worker->io, Session::Accept(*this, *worker), asio::detached);
    threads_.emplace_back([w = worker.get()] {
      auto guard = asio::make_work_guard(w->io);
      w->io.run();
    });
  }
  return Status::Ok();
}

void DnsServer::Stop() {
  for (auto& worker : workers_) worker->io.stop();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
  // No thread runs the io_contexts any more: close from here, so the ports
  // are free once Stop returns. The coroutines' frames go with the Workers.
  for (auto& worker : workers_) {
    boost::system::error_code ignored;
    if (worker->udp_socket) worker->udp_socket->close(ignored);
    if (worker->acceptor) worker->acceptor->close(ignored);
    for (beast::tcp_stream* stream : worker->connections) stream->socket().close(ignored);
  }
}

}  // namespace meshkv::dns
