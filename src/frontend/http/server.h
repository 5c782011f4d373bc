// HttpServer: HTTP/1.1 connections for the Api.
//
// One io_context per thread, each with its own acceptor on the same port
// (SO_REUSEPORT, the kernel spreads connections); a connection lives on one
// thread for its whole life, so nothing on the request path is shared but
// atomics. Each connection is a coroutine: read header (idle timeout while
// nothing is buffered, request timeout once a request has started), check
// limits, read body, answer, repeat while keep-alive. Pipelined requests are
// answered in order because a connection handles one request at a time and
// the read buffer keeps what follows.
//
// Limits: max_header_bytes (431), max_body_bytes (413), target length (414),
// missing length on PUT/POST (411), max_connections (503 then close),
// max_inflight_requests (429 with Retry-After). Malformed requests get 400 and
// the connection is closed; a peer that vanishes mid-request changes nothing.
//
// Lifecycle: Start() binds and spawns the threads; Drain() stops accepting,
// closes idle keep-alive connections, lets in-flight requests finish (their
// responses carry Connection: close) and returns when all connections are
// gone or the deadline passes; Stop() joins the threads. Not restartable.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "frontend/http/api.h"
#include "frontend/http/http_metrics.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace meshkv::http {

struct ServerOptions {
  std::string listen = "127.0.0.1:7070";
  int threads = 1;
  int64_t max_header_bytes = 16 * 1024;
  int64_t max_body_bytes = (1 << 20) + 64 * 1024;
  int64_t request_timeout_ms = 30'000;
  int64_t idle_timeout_ms = 60'000;
  int max_connections = 10'000;
  int max_inflight_requests = 4'096;
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Api& api, HttpMetrics& metrics);
  ~HttpServer();

  // Binds every acceptor (kUnavailable with the address on failure) and starts
  // the io threads.
  Status Start();
  // The io_contexts of the io threads (after Start; valid until destroyed,
  // run until Stop), for other work that should share them: the peer RPC.
  std::vector<boost::asio::io_context*> io_contexts() const;
  // The bound address, "host:port" (the real port when listen used port 0).
  std::string bound_address() const { return bound_address_; }
  // See the class comment. Returns true when every connection closed in time.
  bool Drain(int64_t deadline_ms);
  void Stop();

 private:
  struct Worker;
  struct Connection;
  class Session;

  ServerOptions options_;
  Api& api_;
  HttpMetrics& metrics_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::string bound_address_;
  std::atomic<int> connections_{0};
  std::atomic<int> inflight_{0};
  std::atomic<bool> draining_{false};
};

// Splits "host:port" (IPv6 as "[::1]:7070"). Fails with a message naming the
// value.
Result<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view address);

}  // namespace meshkv::http
