// Cluster: this node's place in the cluster. Owns the SWIM failure detector
// (membership/swim.h), the gossip UDP socket and keyring, the peer RPC server
// and client (transport/rpc.h) with their TLS identity, and the background
// work around them: joining through seeds (retried with backoff, then every
// rejoin_interval), SRV discovery of seeds, reconnecting to dead members
// after a partition heals, push-pull, keyring fan-out.
//
// Without [cluster] (no tls_cert) the node runs standalone: no sockets, the
// member list is this node alone, and join/keyring answer kFailedPrecondition.
//
// Threading: one dedicated "cluster" thread runs an io_context for gossip,
// membership's RPC and timers; every mutating Swim call happens there. The
// peer RPC server and replication's calls (CallMember) run on the "rpc lanes"
// given to Start() (the HTTP server's io threads), so the request path needs
// no hand-off to another thread; membership handlers are posted to the
// cluster thread. The public methods are safe from any thread (a mutex
// guards the Swim and the status fields).
// Lifecycle: Create(), Start(), then Leave() and/or Stop() once; destroy
// after Stop(). Files in the data dir: keyring (gossip keys, mode 0600) and
// incarnation (so a restart starts above the last incarnation).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/metrics.h"
#include "base/node_id.h"
#include "base/status.h"
#include "frontend/http/cluster_control.h"
#include "server/config.h"
#include "transport/rpc.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace meshkv {

struct ClusterIdentity {
  NodeId id;
  std::string data_dir;
  std::string http_addr;  // bound client API address (host:port)
  std::string dns_addr;   // bound DNS address, "" if none
};

class Cluster final : public http::ClusterControl {
 public:
  // Loads TLS files and the keyring (creating it from cluster.gossip_key on
  // first start) and checks that the certificate carries `identity.id`.
  // Errors name the file or setting and say what to do.
  static Result<std::unique_ptr<Cluster>> Create(const Config::Cluster& config,
                                                 ClusterIdentity identity,
                                                 MetricsRegistry& metrics);
  ~Cluster() override;

  // Binds the RPC (TCP) and gossip (UDP) listeners, starts the cluster thread
  // and begins joining. kFailedPrecondition naming the address if it cannot bind.
  // `rpc_lanes`: io_contexts, run by other threads until after Stop(), for
  // the RPC server and CallMember; empty = the cluster thread does it all.
  Status Start(std::vector<boost::asio::io_context*> rpc_lanes = {});
  // Announces `left`, gives the broadcast a few gossip rounds to spread
  // (blocking the caller meanwhile), then stops.
  void LeaveAndStop();
  void Stop();

  // ---- for the replication layer ----
  // Handlers for other message types (run on an rpc lane, concurrently with
  // each other); register before Start().
  void RegisterHandler(transport::MessageType type, transport::Handler handler);
  // Calls the member `node` at its cluster address, checking its certificate
  // carries `node`. kUnavailable when the node is unknown or the cluster
  // layer is not running. `done` runs on an rpc lane (any thread): callers
  // guard what it touches.
  void CallMember(NodeId node, transport::MessageType type, std::string payload,
                  int64_t deadline_ms, std::function<void(Result<std::string>)> done);
  // True when `node` is this node, or alive or suspect in the member list.
  bool IsLive(NodeId node) const;
  // Runs `task` on the cluster thread every `interval_ms` (first run after
  // one interval) until Stop(). Call after Start().
  void RunEvery(int64_t interval_ms, std::function<void()> task);
  // True once a join through a seed (or SRV address) succeeded.
  bool joined() const;
  bool enabled() const;

  // Changes whenever the set of live members or their addresses changes
  // (for cached DNS discovery answers).
  uint64_t generation() const;
  // Live (alive or suspect) members, self included.
  std::vector<membership::Member> LiveMembers() const;

  // http::ClusterControl
  std::vector<membership::Member> Members() const override;
  http::ClusterStatus CurrentStatus() const override;
  void Join(std::vector<std::string> addresses, std::function<void(Result<size_t>)> done) override;
  void Leave() override;
  std::vector<membership::KeyInfo> Keys() const override;
  void ChangeKeyring(http::KeyringOp op, std::string key,
                     std::function<void(Result<http::KeyringChange>)> done) override;

 private:
  class Impl;
  explicit Cluster(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace meshkv
