// Cluster CA and node certificates (`meshkv tls ca create`, `meshkv tls cert
// create`), made with OpenSSL: ECDSA P-256 keys, SHA-256 signatures, X.509 v3.
//
// CA: CN "meshkv <cluster> CA", basicConstraints CA:TRUE, keyUsage
// keyCertSign|cRLSign. Node certificate: CN = node id (16 hex), SAN URI
// meshkv://node/<id> plus the given DNS names and IPs, extendedKeyUsage
// serverAuth + clientAuth, signed by the CA.
// Files are PEM; private keys are written with mode 0600 and never overwrite
// an existing file (kFailedPrecondition naming it).
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/node_id.h"
#include "base/status.h"

namespace meshkv {

struct CaFiles {
  std::string cert_path;  // <dir>/ca.crt
  std::string key_path;   // <dir>/ca.key
};

// Writes ca.crt and ca.key into `dir` (created if missing).
Result<CaFiles> CreateClusterCa(const std::string& dir, const std::string& cluster_name,
                                int64_t valid_days = 3650);

struct NodeCertRequest {
  NodeId node_id;
  std::vector<std::string> dns_names;
  std::vector<std::string> ips;  // IPv4 or IPv6 literals; kInvalidArgument otherwise
  int64_t valid_days = 825;
};

struct NodeCertFiles {
  std::string cert_path;  // <out_dir>/node.crt
  std::string key_path;   // <out_dir>/node.key
};

// Signs a new node certificate with the CA in `ca`; writes into `out_dir`.
Result<NodeCertFiles> CreateNodeCert(const CaFiles& ca, const NodeCertRequest& request,
                                     const std::string& out_dir);

// The node id a PEM certificate carries (SAN URI, else CN); kInvalidArgument
// if none.
Result<NodeId> NodeIdFromCertificatePem(const std::string& pem);

}  // namespace meshkv
