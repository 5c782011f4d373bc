#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "transport/tls_context.h"
#include "trust/tls_files.h"

namespace meshkv::transport {
namespace ssl = boost::asio::ssl;

namespace {

constexpr std::string_view kCreateCert =
    "create one with `meshkv tls cert create --node-id ID` from the cluster CA";

struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct StoreDeleter {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct StoreContextDeleter {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct BioDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
};
using CertPtr = std::unique_ptr<X509, X509Deleter>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

Result<std::string> ReadPem(const std::string& path, std::string_view setting,
                            std::string_view fix) {
  if (path.empty())
    return FailedPrecondition(std::string(setting) + " is not set; " + std::string(fix));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return FailedPrecondition("cannot read " + std::string(setting) + " " + path + ": " +
                              std::strerror(errno) + "; " + std::string(fix));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

CertPtr ParseCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  return cert;
}

KeyPtr ParseKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  KeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  return key;
}

std::string TimeText(const ASN1_TIME* time) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !ASN1_TIME_print(bio.get(), time)) return "?";
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string LastOpenSslError() {
  unsigned long code = ERR_peek_last_error();
  std::string text =
      code ? ERR_reason_error_string(code) ? ERR_reason_error_string(code) : "?" : "unknown error";
  ERR_clear_error();
  return text;
}

Status ConfigureContext(ssl::context& context, X509* ca, X509* cert, EVP_PKEY* key) {
  SSL_CTX* ctx = context.native_handle();
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return Internal("cannot restrict TLS to 1.3: " + LastOpenSslError());
  }
  // The cluster CA is the only trust anchor: a fresh store, no system roots.
  X509_STORE* store = X509_STORE_new();
  if (!store || X509_STORE_add_cert(store, ca) != 1) {
    X509_STORE_free(store);
    return Internal("cannot build the TLS trust store: " + LastOpenSslError());
  }
  SSL_CTX_set_cert_store(ctx, store);  // takes ownership
  if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return Internal("cannot load the node certificate into TLS: " + LastOpenSslError());
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_verify_depth(ctx, 2);
  static const unsigned char kSessionContext[] = "meshkv-peer";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  SSL_CTX_set_num_tickets(ctx, 0);  // connections are long-lived; no resumption
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  return Status::Ok();
}

}  // namespace

TlsMaterial::TlsMaterial()
    : server_context_(ssl::context::tls_server), client_context_(ssl::context::tls_client) {}

TlsMaterial::~TlsMaterial() {
  X509_free(cert_);
}

int64_t TlsMaterial::days_until_expiry() const {
  int days = 0, seconds = 0;
  if (!ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(cert_))) return 0;
  return days;
}

Result<std::shared_ptr<TlsIdentity>> TlsIdentity::Load(const TlsFiles& files) {
  Result<std::string> ca_pem =
      ReadPem(files.ca_cert, "tls.ca_cert", "create a CA with `meshkv tls ca create`");
  if (!ca_pem.ok()) return ca_pem.status();
  Result<std::string> cert_pem = ReadPem(files.cert, "tls.cert", kCreateCert);
  if (!cert_pem.ok()) return cert_pem.status();
  Result<std::string> key_pem = ReadPem(files.key, "tls.key", kCreateCert);
  if (!key_pem.ok()) return key_pem.status();

  CertPtr ca = ParseCert(*ca_pem);
  if (!ca) return InvalidArgument("tls.ca_cert " + files.ca_cert + " is not a PEM certificate");
  CertPtr cert = ParseCert(*cert_pem);
  if (!cert) {
    return InvalidArgument("tls.cert " + files.cert + " is not a PEM certificate; " +
                           std::string(kCreateCert));
  }
  KeyPtr key = ParseKey(*key_pem);
  if (!key) {
    return InvalidArgument("tls.key " + files.key + " is not a PEM private key; " +
                           std::string(kCreateCert));
  }

  // Signed by the CA, within its validity period, usable for TLS both ways.
  std::unique_ptr<X509_STORE, StoreDeleter> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, StoreContextDeleter> verify(X509_STORE_CTX_new());
  if (!store || !verify || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(verify.get(), store.get(), cert.get(), nullptr) != 1) {
    return Internal("cannot verify tls.cert: " + LastOpenSslError());
  }
  X509_STORE_CTX_set_purpose(verify.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(verify.get()) != 1) {
    int error = X509_STORE_CTX_get_error(verify.get());
    ERR_clear_error();
    std::string reason = X509_verify_cert_error_string(error);
    if (error == X509_V_ERR_CERT_HAS_EXPIRED) {
      return FailedPrecondition("tls.cert " + files.cert + " expired on " +
                                TimeText(X509_get0_notAfter(cert.get())) + "; " +
                                std::string(kCreateCert));
    }
    if (error == X509_V_ERR_CERT_NOT_YET_VALID) {
      return FailedPrecondition("tls.cert " + files.cert + " is not valid before " +
                                TimeText(X509_get0_notBefore(cert.get())) +
                                " (check this host's clock)");
    }
    return FailedPrecondition("tls.cert " + files.cert + " is not signed by the CA in " +
                              files.ca_cert + " (" + reason + "); " + std::string(kCreateCert));
  }
  if (X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) != 1) {
    return FailedPrecondition("tls.cert " + files.cert +
                              " is not allowed for TLS servers (extendedKeyUsage); " +
                              std::string(kCreateCert));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return FailedPrecondition("tls.key " + files.key + " is not the key of tls.cert " + files.cert +
                              "; use the node.key written with it");
  }
  Result<NodeId> id = NodeIdFromCertificatePem(*cert_pem);
  if (!id.ok()) {
    return FailedPrecondition("tls.cert " + files.cert + " carries no node id; " +
                              std::string(kCreateCert));
  }

  std::shared_ptr<TlsMaterial> material(new TlsMaterial());
  material->node_id_ = *id;
  MESHKV_RETURN_IF_ERROR(
      ConfigureContext(material->server_context_, ca.get(), cert.get(), key.get()));
  MESHKV_RETURN_IF_ERROR(
      ConfigureContext(material->client_context_, ca.get(), cert.get(), key.get()));
  material->cert_ = cert.release();
  return std::shared_ptr<TlsIdentity>(std::move(material));
}

Result<NodeId> PeerNodeId(SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) return PermissionDenied("the peer presented no certificate");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_X509(bio.get(), peer)) {
    ERR_clear_error();
    return Internal("cannot read the peer certificate");
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  Result<NodeId> id = NodeIdFromCertificatePem(std::string(data, static_cast<size_t>(size)));
  if (!id.ok()) return PermissionDenied("the peer certificate carries no node id");
  return id;
}

std::string DescribeTlsError(const boost::system::error_code& ec, SSL* ssl) {
  if (ec == ssl::error::stream_truncated)
    return "TLS stream truncated (peer closed without close_notify)";
  if (ec.category() != boost::asio::error::get_ssl_category()) return ec.message();
  const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
  std::string text = reason ? reason : ec.message();
  if (ssl != nullptr) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      text += std::string(": ") + X509_verify_cert_error_string(verify) +
              " (the peer's certificate is not from this cluster's CA)";
      return text;
    }
  }
  if (text.find("alert") != std::string::npos) {
    text +=
        " (the peer refused this node's certificate; are both certificates signed by the "
        "same cluster CA?)";
  }
  return text;
}

}  // namespace meshkv::transport
