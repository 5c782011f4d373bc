// DnsServer: the UDP and TCP sockets of the authoritative DNS server; all
// answering is the Responder's.
//
// One io_context per thread, each with its own UDP socket and TCP acceptor
// bound to the same address with SO_REUSEPORT (the kernel spreads datagrams
// and connections over them), so nothing on the request path is shared but
// the Responder, which is thread-safe without a global lock.
//   UDP: each thread waits for its socket to be readable, then drains it in
//        batches (recvmmsg) and sends each batch's answers at once
//        (sendmmsg), as Knot does; a datagram over 4 KiB is dropped.
//   TCP: RFC 1035 4.2.2 / RFC 7766 framing (2-octet length), any number of
//        queries per connection, answered in order; a connection idle for
//        tcp_idle_timeout_ms is closed (RFC 7766 6.2.3), as is one that sends
//        a message shorter than a DNS header or one the Responder drops;
//        beyond max_tcp_connections new connections are closed at once.
// Nothing a client sends can crash the server; errors from the sockets are
// values (as_tuple) and end at most the one connection.
//
// Lifecycle: Start() binds every socket (first probing the address without
// SO_REUSEPORT, so a port used by another process is an error rather than
// silently shared) and starts the threads; Stop() closes everything and
// joins the threads. Not restartable. The Responder and DnsMetrics must
// outlive the server.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "frontend/dns/query/dns_metrics.h"
#include "frontend/dns/query/responder.h"

namespace meshkv::dns {

struct DnsServerOptions {
  std::string host = "127.0.0.1";        // an IP address or a name resolved once at Start
  uint16_t port = 7053;                  // 0 = any port free for both UDP and TCP
  int threads = 1;                       // io threads, each with a UDP socket and an acceptor
  int64_t tcp_idle_timeout_ms = 10'000;  // between queries, and for a query to arrive whole
  int max_tcp_connections = 1'000;       // open at once, over all threads
};

class DnsServer {
 public:
  DnsServer(DnsServerOptions options, Responder& responder, DnsMetrics& metrics);
  ~DnsServer();

  // Binds (kInvalidArgument for a bad listen address, kUnavailable with the
  // address when it cannot be bound) and starts the threads.
  Status Start();
  // "host:port" actually bound (the real port when listen used port 0).
  const std::string& bound_address() const { return bound_address_; }
  // Closes the sockets and joins the threads. Idempotent.
  void Stop();

 private:
  struct Worker;
  class Session;

  DnsServerOptions options_;
  Responder& responder_;
  DnsMetrics& metrics_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::string bound_address_;
  std::atomic<int> tcp_connections_{0};
};

}  // namespace meshkv::dns
