#include "frontend/http/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <unordered_set>

namespace meshkv::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

bool IsDisconnect(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::operation_aborted ||
         ec == asio::error::not_connected || ec == asio::error::bad_descriptor;
}

}  // namespace

Result<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view address) {
  std::string_view host, port;
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return InvalidArgument("address '" + std::string(address) + "' must be [ipv6]:port");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      return InvalidArgument("address '" + std::string(address) + "' must be host:port");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (host.empty()) return InvalidArgument("address '" + std::string(address) + "' has no host");
  uint32_t value = 0;
  if (port.empty() || port.size() > 5) {
    return InvalidArgument("address '" + std::string(address) + "' has a bad port");
  }
  for (char c : port) {
    if (c < '0' || c > '9')
      return InvalidArgument("address '" + std::string(address) + "' has a bad port");
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535)
    return InvalidArgument("port in '" + std::string(address) + "' is above 65535");
  return std::make_pair(std::string(host), static_cast<uint16_t>(value));
}

struct HttpServer::Worker {
  asio::io_context io{1};
  std::optional<tcp::acceptor> acceptor;
  std::unordered_set<Connection*> connections;  // touched only on this worker's thread
};

struct HttpServer::Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  bool idle = true;  // waiting for the first byte of a request
};

// The coroutines of the server; a friend so they can reach its state.
class HttpServer::Session {
 public:
  static asio::awaitable<void> Accept(HttpServer& server, Worker& worker);
  static asio::awaitable<void> Serve(HttpServer& server, Worker& worker, tcp::socket socket);
  static asio::awaitable<void> Reject(HttpServer& server, tcp::socket socket);
};

asio::awaitable<void> HttpServer::Session::Accept(HttpServer& server, Worker& worker) {
  for (;;) {
    auto [ec, socket] = co_await worker.acceptor->async_accept(kUseTuple);
    if (ec == asio::error::operation_aborted || !worker.acceptor->is_open()) co_return;
    if (ec) {
      spdlog::warn("http accept failed: {}", ec.message());
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
        asio::steady_timer pause(worker.io, std::chrono::milliseconds(50));
        co_await pause.async_wait(kUseTuple);
      }
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (server.connections_.load(std::memory_order_relaxed) >= server.options_.max_connections) {
      server.metrics_.connections_rejected().Increment();
      asio::co_spawn(worker.io, Reject(server, std::move(socket)), asio::detached);
      continue;
    }
    asio::co_spawn(worker.io, Serve(server, worker, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> HttpServer::Session::Reject(HttpServer& server, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(2));
  Response res =
      ErrorResponse(11, bhttp::status::service_unavailable, "unavailable",
                    "too many connections (http.max_connections = " +
                        std::to_string(server.options_.max_connections) + "); retry later");
  res.keep_alive(false);
  res.set(bhttp::field::retry_after, "1");
  co_await bhttp::async_write(stream, res, kUseTuple);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  // Drain what the client sent so closing does not reset the connection
  // before it has read the response.
  char sink[4096];
  for (int i = 0; i < 16; ++i) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), kUseTuple);
    if (ec) break;
  }
  stream.socket().close(ignored);
}

asio::awaitable<void> HttpServer::Session::Serve(HttpServer& server, Worker& worker,
                                                 tcp::socket socket) {
  const ServerOptions& options = server.options_;
  Connection conn(std::move(socket));
  worker.connections.insert(&conn);
  server.connections_.fetch_add(1, std::memory_order_relaxed);
  server.metrics_.connections_open().Add(1);
  beast::flat_buffer buffer;
  const auto idle_timeout = std::chrono::milliseconds(options.idle_timeout_ms);
  const auto request_timeout = std::chrono::milliseconds(options.request_timeout_ms);

  // Sends `res` and reports whether the connection may carry another request.
  auto send = [&](Response& res, bool keep_alive) -> asio::awaitable<bool> {
    keep_alive = keep_alive && !server.draining_.load(std::memory_order_relaxed);
    res.keep_alive(keep_alive);
    res.set(bhttp::field::server, "meshkv");
    conn.stream.expires_after(request_timeout);
    auto [ec, n] = co_await bhttp::async_write(conn.stream, res, kUseTuple);
    co_return !ec && keep_alive;
  };
  auto fail = [&](bhttp::status status, std::string_view code, std::string message,
                  Route route) -> asio::awaitable<void> {
    Response res = ErrorResponse(11, status, code, message);
    server.metrics_.RecordRequest(route, static_cast<unsigned>(status), 0);
    co_await send(res, false);
  };

  for (;;) {
    if (server.draining_.load(std::memory_order_relaxed) && buffer.size() == 0) break;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
    parser.body_limit(static_cast<uint64_t>(options.max_body_bytes));
    conn.idle = buffer.size() == 0;
    conn.stream.expires_after(conn.idle ? idle_timeout : request_timeout);
    auto [ec, n] = co_await bhttp::async_read_header(conn.stream, buffer, parser, kUseTuple);
    const bool was_idle = conn.idle;
    conn.idle = false;
    if (ec) {
      if (ec == beast::error::timeout) {
        if (!was_idle || buffer.size() > 0) {
          co_await fail(bhttp::status::request_timeout, "request_timeout",
                        "the request did not arrive within http.request_timeout", Route::kUnknown);
        }
      } else if (ec == bhttp::error::body_limit) {
        // Beast checks Content-Length against the limit while parsing the header.
        co_await fail(
            bhttp::status::payload_too_large, "payload_too_large",
            "body exceeds http.max_body_bytes (" + std::to_string(options.max_body_bytes) + ")",
            Route::kUnknown);
      } else if (ec == bhttp::error::partial_message) {
        // The client stopped sending mid-request (it may still read).
        co_await fail(bhttp::status::bad_request, "bad_request",
                      "the request ended before its headers were complete", Route::kUnknown);
      } else if (ec == bhttp::error::header_limit) {
        co_await fail(bhttp::status::request_header_fields_too_large, "headers_too_large",
                      "request line and headers exceed http.max_header_bytes (" +
                          std::to_string(options.max_header_bytes) + ")",
                      Route::kUnknown);
      } else if (!IsDisconnect(ec)) {
        co_await fail(bhttp::status::bad_request, "bad_request",
                      "malformed HTTP request: " + ec.message(), Route::kUnknown);
      }
      break;
    }
    // Header-level checks, answered before the body is read (the connection
    // is then closed, since the body stays unread).
    const Request& head = parser.get();
    const bool has_body_method =
        head.method() == bhttp::verb::put || head.method() == bhttp::verb::post;
    if (has_body_method && !parser.content_length() && !parser.chunked()) {
      co_await fail(bhttp::status::length_required, "length_required",
                    "PUT and POST need a Content-Length header (or chunked encoding)",
                    Route::kUnknown);
      break;
    }
    if (!parser.is_done()) {
      auto expect = head.find(bhttp::field::expect);
      if (expect != head.end() && beast::iequals(expect->value(), "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [wec, wn] = co_await asio::async_write(
            conn.stream, asio::buffer(kContinue.data(), kContinue.size()), kUseTuple);
        if (wec) break;
      }
      conn.stream.expires_after(request_timeout);
      auto [bec, bn] = co_await bhttp::async_read(conn.stream, buffer, parser, kUseTuple);
      if (bec) {
        if (bec == bhttp::error::body_limit) {
          co_await fail(
              bhttp::status::payload_too_large, "payload_too_large",
              "body exceeds http.max_body_bytes (" + std::to_string(options.max_body_bytes) + ")",
              Route::kUnknown);
        } else if (bec == bhttp::error::partial_message) {
          co_await fail(bhttp::status::bad_request, "bad_request",
                        "the request ended before its body was complete (Content-Length " +
                            std::to_string(parser.content_length().value_or(0)) + ")",
                        Route::kUnknown);
        } else if (bec == beast::error::timeout) {
          co_await fail(bhttp::status::request_timeout, "request_timeout",
                        "the request body did not arrive within http.request_timeout",
                        Route::kUnknown);
        } else if (!IsDisconnect(bec)) {
          co_await fail(bhttp::status::bad_request, "bad_request",
                        "malformed HTTP request body: " + bec.message(), Route::kUnknown);
        }
        break;
      }
    }
    Request request = parser.release();
    const bool keep_alive = request.keep_alive();
    const auto started = std::chrono::steady_clock::now();
    Route route = Route::kUnknown;
    Response res;
    if (server.inflight_.fetch_add(1, std::memory_order_relaxed) >= options.max_inflight_requests) {
      server.metrics_.requests_rejected_overload().Increment();
      res = ErrorResponse(request.version(), bhttp::status::too_many_requests, "too_many_requests",
                          "node is overloaded (http.max_inflight_requests = " +
                              std::to_string(options.max_inflight_requests) + "); retry shortly");
      res.set(bhttp::field::retry_after, "1");
    } else {
      server.metrics_.inflight_requests().Add(1);
      res = co_await server.api_.Handle(request, route);
      server.metrics_.inflight_requests().Add(-1);
    }
    server.inflight_.fetch_sub(1, std::memory_order_relaxed);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    server.metrics_.RecordRequest(route, res.result_int(), seconds);
    if (!co_await send(res, keep_alive)) break;
  }
  beast::error_code ignored;
  conn.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  conn.stream.socket().close(ignored);
  worker.connections.erase(&conn);
  server.connections_.fetch_sub(1, std::memory_order_relaxed);
  server.metrics_.connections_open().Add(-1);
}

HttpServer::HttpServer(ServerOptions options, Api& api, HttpMetrics& metrics)
    : options_(std::move(options)), api_(api), metrics_(metrics) {}

HttpServer::~HttpServer() {
  Stop();
}

Status HttpServer::Start() {
  auto host_port = SplitHostPort(options_.listen);
  if (!host_port.ok()) return host_port.status();
  beast::error_code ec;
  asio::ip::address address = asio::ip::make_address(host_port->first, ec);
  if (ec) {
    asio::io_context resolve_io;
    tcp::resolver resolver(resolve_io);
    auto results = resolver.resolve(host_port->first, "", ec);
    if (ec || results.empty()) {
      return InvalidArgument("cannot resolve http listen host '" + host_port->first + "'");
    }
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, host_port->second);
  // Probe without SO_REUSEPORT first: another process already listening on
  // the port (even another meshkv with SO_REUSEPORT) makes this bind fail,
  // instead of silently sharing the port with it.
  {
    asio::io_context probe_io;
    tcp::acceptor probe(probe_io);
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec) {
      return Unavailable("cannot listen on " + options_.listen + ": " + ec.message() +
                         " (is another process using the port? pick another with --listen)");
    }
    endpoint.port(probe.local_endpoint().port());
  }
  const int threads = std::max(1, options_.threads);
  for (int i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->acceptor.emplace(worker->io);
    tcp::acceptor& acceptor = *worker->acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.set_option(ReusePort(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Unavailable("cannot listen on " + options_.listen + ": " + ec.message());
    }
    workers_.push_back(std::move(worker));
  }
  tcp::endpoint bound = workers_.front()->acceptor->local_endpoint();
  bound_address_ = (bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                            : bound.address().to_string()) +
                   ":" + std::to_string(bound.port());
  api_.SetListenAddress(bound_address_);
  for (auto& worker : workers_) {
    asio::co_spawn(worker->io, Session::Accept(*this, *worker), asio::detached);
    threads_.emplace_back([w = worker.get()] {
      auto guard = asio::make_work_guard(w->io);
      w->io.run();
    });
  }
  return Status::Ok();
}

bool HttpServer::Drain(int64_t deadline_ms) {
  draining_.store(true);
  api_.SetDraining(true);
  for (auto& worker : workers_) {
    asio::post(worker->io, [w = worker.get()] {
      beast::error_code ignored;
      if (w->acceptor) w->acceptor->close(ignored);
      for (Connection* c : w->connections) {
        if (c->idle) c->stream.cancel();
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  while (connections_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return connections_.load() == 0;
}

std::vector<asio::io_context*> HttpServer::io_contexts() const {
  std::vector<asio::io_context*> out;
  for (const auto& worker : workers_) out.push_back(&worker->io);
  return out;
}

void HttpServer::Stop() {
  for (auto& worker : workers_) worker->io.stop();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

}  // namespace meshkv::http
