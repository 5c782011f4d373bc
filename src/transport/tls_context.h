// Internal to src/transport: the OpenSSL side of a TlsIdentity, shared by the
// RPC server and client (and by tests that speak raw TLS to a server).
//
// A TlsMaterial is immutable after Load(); its two contexts are used only to
// create SSL objects, which OpenSSL allows from any thread.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <string>

#include "transport/rpc.h"

namespace meshkv::transport {

class TlsMaterial : public TlsIdentity {
 public:
  ~TlsMaterial() override;
  NodeId node_id() const override { return node_id_; }
  int64_t days_until_expiry() const override;

  // TLS 1.3 only, this node's certificate and key, the cluster CA as the only
  // trust anchor, and a certificate required from the peer.
  boost::asio::ssl::context& server_context() { return server_context_; }
  boost::asio::ssl::context& client_context() { return client_context_; }

 private:
  friend class TlsIdentity;
  TlsMaterial();

  NodeId node_id_;
  X509* cert_ = nullptr;  // owned
  boost::asio::ssl::context server_context_;
  boost::asio::ssl::context client_context_;
};

// The node id in the peer's certificate of a completed handshake (OpenSSL has
// verified it against the CA); kPermissionDenied if it carries none.
Result<NodeId> PeerNodeId(SSL* ssl);

// An error from an ssl::stream (handshake, read, write) as one line with
// OpenSSL's reason, the certificate verify result when there is one, and a
// hint when the peer refused our certificate.
std::string DescribeTlsError(const boost::system::error_code& ec, SSL* ssl);

}  // namespace meshkv::transport
