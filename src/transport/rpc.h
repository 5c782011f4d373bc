// Peer RPC: request/response messages between nodes over TCP + TLS 1.3 with
// mutual authentication by the cluster CA.
//
// Wire: each frame is a 4-byte big-endian length followed by a serialized
// `meshkv.peer.Frame` (peer.proto): protocol version, request id, message
// type, deadline, payload or error. Frames above `max_frame_bytes` (the length
// prefix is checked before anything is read), undecodable frames, unknown
// protocol versions and unknown message types close the connection with a
// logged reason naming the peer; they never crash the node. Many requests
// share one connection (request ids); replies may come in any order.
//
// Identity: every certificate carries the node id (subject CN and a SAN URI
// `meshkv://node/<id>`). Both sides require a certificate from the cluster
// CA; the server hands each handler the authenticated node id of the caller,
// and a client that expects a particular node id refuses a server whose
// certificate says otherwise.
//
// Threading: RpcServer and RpcClient run on the io_contexts they are given
// ("lanes"; one is enough for membership). Each connection lives on one lane
// (a strand there). The server spreads accepted connections over its lanes;
// handlers run on the connection's lane and may complete their Responder
// later from any thread. The client keeps one connection per (address, lane)
// and sends a call over the lane of the calling thread when that thread runs
// one of its io_contexts, so a request made on an io thread is written,
// answered and completed on that same thread with no hand-off (other threads
// take the lanes in turn). `done` runs on the connection's lane, exactly once.
// Lifecycle: construct, Listen()/Call(), Stop() (closes sockets, fails calls
// in flight with kUnavailable), destroy after the io_contexts stopped.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "base/node_id.h"
#include "base/status.h"
#include "transport/message_type.h"

namespace meshkv::transport {


struct TlsFiles {
  std::string ca_cert;  // PEM, the cluster CA
  std::string cert;     // PEM, this node's certificate (signed by the CA)
  std::string key;      // PEM, this node's private key
};

// Loaded TLS material. Load() checks that the certificate is signed by the CA,
// is not expired, matches the key and carries a node id; errors name the file
// and say what to do (`meshkv tls cert create ...`).
class TlsIdentity {
 public:
  static Result<std::shared_ptr<TlsIdentity>> Load(const TlsFiles& files);
  virtual ~TlsIdentity() = default;
  virtual NodeId node_id() const = 0;
  // Days until this node's certificate expires (for status).
  virtual int64_t days_until_expiry() const = 0;
};

struct RpcOptions {
  uint32_t max_frame_bytes = 16u << 20;              // hard limit per frame
  int64_t max_inflight_bytes_per_peer = 64ll << 20;  // request bytes awaiting replies
  int64_t connect_timeout_ms = 3'000;                // TCP connect + TLS handshake
  int64_t reconnect_initial_backoff_ms = 100;        // doubles per failure ...
  int64_t reconnect_max_backoff_ms = 5'000;          // ... up to this
  int64_t idle_timeout_ms = 120'000;                 // close idle connections
};

struct PeerInfo {
  NodeId node_id;           // from the peer's certificate
  std::string remote_addr;  // host:port of the socket
};

struct RpcReply {
  NodeId node_id;  // the server's node id, from its certificate
  std::string payload;
};

// The handler's way to answer; call exactly once, from any thread.
using Responder = std::function<void(Result<std::string> reply)>;
using Handler = std::function<void(const PeerInfo& from, std::string payload, Responder respond)>;

class RpcServer {
 public:
  RpcServer(boost::asio::io_context& io, std::shared_ptr<TlsIdentity> tls, RpcOptions options,
            MetricsRegistry* metrics);
  // `lanes` non-empty; they must outlive the server's connections.
  RpcServer(std::vector<boost::asio::io_context*> lanes, std::shared_ptr<TlsIdentity> tls,
            RpcOptions options, MetricsRegistry* metrics);
  ~RpcServer();
  // Register before Listen().
  void Register(MessageType type, Handler handler);
  // kFailedPrecondition naming the address if it cannot be bound.
  Status Listen(const std::string& host_port);
  std::string local_address() const;  // host:port actually bound
  void Stop();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

class RpcClient {
 public:
  RpcClient(boost::asio::io_context& io, std::shared_ptr<TlsIdentity> tls, RpcOptions options,
            MetricsRegistry* metrics);
  // `lanes` non-empty; they must outlive the client's connections.
  RpcClient(std::vector<boost::asio::io_context*> lanes, std::shared_ptr<TlsIdentity> tls,
            RpcOptions options, MetricsRegistry* metrics);
  ~RpcClient();
  // Sends `payload` as `type` to the node at `address` (host:port), reusing
  // the connection to that address. Errors: kUnavailable (cannot connect, TLS
  // refused, connection lost, in backoff), kPermissionDenied (the server's
  // certificate does not carry `expected_id`), kResourceExhausted (in-flight
  // bytes limit), kDeadlineExceeded (no reply within `deadline_ms`), or the
  // status the remote handler returned.
  void Call(const std::string& address, std::optional<NodeId> expected_id, MessageType type,
            std::string payload, int64_t deadline_ms, std::function<void(Result<RpcReply>)> done);
  // Forgets the reconnect backoff of `address`: the next call connects at
  // once. For when something else (the failure detector) saw the node back.
  void ResetBackoff(const std::string& address);
  void Stop();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace meshkv::transport
