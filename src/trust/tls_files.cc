#include "trust/tls_files.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace meshkv {
namespace {

struct OpenSslFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(X509_NAME* p) const { X509_NAME_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree>;
using CertPtr = std::unique_ptr<X509, OpenSslFree>;
using BioPtr = std::unique_ptr<BIO, OpenSslFree>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslFree>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslFree>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpenSslFree>;

constexpr std::string_view kNodeUriPrefix = "meshkv://node/";

// The OpenSSL error queue as one line (and clears it).
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Status OpenSslFailure(std::string_view what) {
  return Internal(std::string(what) + ": " + OpenSslErrors());
}

Result<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return FailedPrecondition("cannot read " + std::string(what) + " " + path + ": " +
                              std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Status RefuseExisting(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) || std::filesystem::is_symlink(path, ec)) {
    return FailedPrecondition(path +
                              " already exists; refusing to overwrite it (move it away "
                              "or choose another directory)");
  }
  return Status::Ok();
}

// Writes `contents` to `path` with `mode` through a temporary file in the same
// directory, then links it into place, which fails if `path` appeared in the
// meantime (no overwrite, no partially written file under the final name).
Status WriteNewFile(const std::string& path, std::string_view contents, mode_t mode) {
  std::string temp = path + ".tmp.XXXXXX";
  int fd = mkstemp(temp.data());
  if (fd < 0)
    return FailedPrecondition("cannot create a file next to " + path + ": " + std::strerror(errno));
  auto fail = [&](std::string what) {
    int saved = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return FailedPrecondition(what + " " + path + ": " + std::strerror(saved));
  };
  if (fchmod(fd, mode) != 0) return fail("cannot set the mode of");
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("cannot sync");
  if (::close(fd) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    return FailedPrecondition("cannot write " + path + ": " + std::strerror(saved));
  }
  if (::link(temp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    if (saved == EEXIST) return RefuseExisting(path);
    return FailedPrecondition("cannot create " + path + ": " + std::strerror(saved));
  }
  ::unlink(temp.c_str());
  return Status::Ok();
}

Status MakeDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return FailedPrecondition("cannot create directory " + dir + ": " + ec.message());
  return Status::Ok();
}

Result<KeyPtr> NewP256Key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslFailure("cannot generate a P-256 key");
  return key;
}

Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return OpenSslFailure("cannot draw a serial");
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x40;  // and exactly 127 significant bits, never zero
  BignumPtr number(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (!number || !BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert))) {
    return OpenSslFailure("cannot set the serial");
  }
  return Status::Ok();
}

Status SetValidity(X509* cert, int64_t valid_days) {
  if (valid_days <= 0 || valid_days > 36500) {
    return InvalidArgument("validity of " + std::to_string(valid_days) +
                           " days is out of range (1..36500)");
  }
  // Backdated an hour so that small clock differences between nodes do not
  // make a fresh certificate "not yet valid".
  if (!X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert), static_cast<int>(valid_days), 0, nullptr)) {
    return OpenSslFailure("cannot set the validity");
  }
  return Status::Ok();
}

Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value));
  if (!extension || !X509_add_ext(cert, extension.get(), -1)) {
    return OpenSslFailure(std::string("cannot add extension ") + OBJ_nid2sn(nid));
  }
  return Status::Ok();
}

Status SetCommonName(X509_NAME* name, const std::string& common_name) {
  if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                  -1, 0)) {
    return OpenSslFailure("cannot set the subject");
  }
  return Status::Ok();
}

Result<std::string> CertificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_X509(bio.get(), cert)) return OpenSslFailure("cannot encode PEM");
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Result<std::string> PrivateKeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return OpenSslFailure("cannot encode the key");
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Status WriteKeyAndCert(const std::string& key_path, EVP_PKEY* key, const std::string& cert_path,
                       X509* cert) {
  Result<std::string> key_pem = PrivateKeyPem(key);
  if (!key_pem.ok()) return key_pem.status();
  Result<std::string> cert_pem = CertificatePem(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  MESHKV_RETURN_IF_ERROR(WriteNewFile(key_path, *key_pem, 0600));
  Status cert_written = WriteNewFile(cert_path, *cert_pem, 0644);
  if (!cert_written.ok()) {
    ::unlink(key_path.c_str());  // do not leave a key without its certificate
    return cert_written;
  }
  return Status::Ok();
}

Result<CertPtr> ParseCertificate(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslFailure("cannot read PEM");
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return InvalidArgument("not a PEM certificate");
  }
  return cert;
}

Result<KeyPtr> ParsePrivateKey(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslFailure("cannot read PEM");
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return InvalidArgument("not a PEM private key");
  }
  return key;
}

bool IsDnsName(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '*' || c == '_';
    if (!ok) return false;
  }
  return true;
}

Status AddName(GENERAL_NAMES* names, int type, const std::string& value) {
  GENERAL_NAME* name = GENERAL_NAME_new();
  ASN1_IA5STRING* text = ASN1_IA5STRING_new();
  if (!name || !text || !ASN1_STRING_set(text, value.data(), static_cast<int>(value.size()))) {
    GENERAL_NAME_free(name);
    ASN1_IA5STRING_free(text);
    return OpenSslFailure("cannot build subjectAltName");
  }
  GENERAL_NAME_set0_value(name, type, text);
  sk_GENERAL_NAME_push(names, name);
  return Status::Ok();
}

Status AddIp(GENERAL_NAMES* names, const std::string& ip) {
  unsigned char bytes[16];
  int size = 0;
  if (inet_pton(AF_INET, ip.c_str(), bytes) == 1) {
    size = 4;
  } else if (inet_pton(AF_INET6, ip.c_str(), bytes) == 1) {
    size = 16;
  } else {
    return InvalidArgument("ip '" + ip + "' is not an IPv4 or IPv6 address");
  }
  GENERAL_NAME* name = GENERAL_NAME_new();
  ASN1_OCTET_STRING* octets = ASN1_OCTET_STRING_new();
  if (!name || !octets || !ASN1_OCTET_STRING_set(octets, bytes, size)) {
    GENERAL_NAME_free(name);
    ASN1_OCTET_STRING_free(octets);
    return OpenSslFailure("cannot build subjectAltName");
  }
  GENERAL_NAME_set0_value(name, GEN_IPADD, octets);
  sk_GENERAL_NAME_push(names, name);
  return Status::Ok();
}

}  // namespace

Result<CaFiles> CreateClusterCa(const std::string& dir, const std::string& cluster_name,
                                int64_t valid_days) {
  if (cluster_name.empty()) return InvalidArgument("the cluster name is empty");
  CaFiles files{(std::filesystem::path(dir) / "ca.crt").string(),
                (std::filesystem::path(dir) / "ca.key").string()};
  MESHKV_RETURN_IF_ERROR(MakeDirectory(dir));
  MESHKV_RETURN_IF_ERROR(RefuseExisting(files.cert_path));
  MESHKV_RETURN_IF_ERROR(RefuseExisting(files.key_path));

  Result<KeyPtr> key = NewP256Key();
  if (!key.ok()) return key.status();
  CertPtr cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), 2)) return OpenSslFailure("cannot build the CA");
  MESHKV_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  MESHKV_RETURN_IF_ERROR(SetValidity(cert.get(), valid_days));
  MESHKV_RETURN_IF_ERROR(
      SetCommonName(X509_get_subject_name(cert.get()), "meshkv " + cluster_name + " CA"));
  if (!X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) ||
      !X509_set_pubkey(cert.get(), key->get())) {
    return OpenSslFailure("cannot build the CA");
  }
  MESHKV_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
  MESHKV_RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  MESHKV_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key->get(), EVP_sha256()) <= 0) {
    return OpenSslFailure("cannot sign the CA");
  }
  MESHKV_RETURN_IF_ERROR(WriteKeyAndCert(files.key_path, key->get(), files.cert_path, cert.get()));
  return files;
}

Result<NodeCertFiles> CreateNodeCert(const CaFiles& ca, const NodeCertRequest& request,
                                     const std::string& out_dir) {
  if (!request.node_id.valid()) return InvalidArgument("the node id is zero");
  for (const std::string& dns : request.dns_names) {
    if (!IsDnsName(dns)) return InvalidArgument("dns name '" + dns + "' is not a valid host name");
  }
  NamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return OpenSslFailure("cannot build subjectAltName");
  std::string id = request.node_id.ToString();
  MESHKV_RETURN_IF_ERROR(AddName(names.get(), GEN_URI, std::string(kNodeUriPrefix) + id));
  for (const std::string& dns : request.dns_names) {
    MESHKV_RETURN_IF_ERROR(AddName(names.get(), GEN_DNS, dns));
  }
  for (const std::string& ip : request.ips) MESHKV_RETURN_IF_ERROR(AddIp(names.get(), ip));

  const std::string create_ca = "; create a CA with `meshkv tls ca create`";
  Result<std::string> ca_cert_pem = ReadFile(ca.cert_path, "CA certificate");
  if (!ca_cert_pem.ok())
    return Status(ca_cert_pem.status().code(), ca_cert_pem.status().message() + create_ca);
  Result<std::string> ca_key_pem = ReadFile(ca.key_path, "CA key");
  if (!ca_key_pem.ok())
    return Status(ca_key_pem.status().code(), ca_key_pem.status().message() + create_ca);
  Result<CertPtr> ca_cert = ParseCertificate(*ca_cert_pem);
  if (!ca_cert.ok()) return InvalidArgument(ca.cert_path + " is not a PEM certificate");
  Result<KeyPtr> ca_key = ParsePrivateKey(*ca_key_pem);
  if (!ca_key.ok()) return InvalidArgument(ca.key_path + " is not a PEM private key");
  if (X509_check_private_key(ca_cert->get(), ca_key->get()) != 1) {
    ERR_clear_error();
    return InvalidArgument(ca.key_path + " is not the key of " + ca.cert_path);
  }
  if (X509_check_ca(ca_cert->get()) == 0) {
    return InvalidArgument(ca.cert_path + " is not a CA certificate");
  }

  NodeCertFiles files{(std::filesystem::path(out_dir) / "node.crt").string(),
                      (std::filesystem::path(out_dir) / "node.key").string()};
  MESHKV_RETURN_IF_ERROR(MakeDirectory(out_dir));
  MESHKV_RETURN_IF_ERROR(RefuseExisting(files.cert_path));
  MESHKV_RETURN_IF_ERROR(RefuseExisting(files.key_path));

  Result<KeyPtr> key = NewP256Key();
  if (!key.ok()) return key.status();
  CertPtr cert(X509_new());
  if (!cert || !X509_set_version(cert.get(), 2)) return OpenSslFailure("cannot build the cert");
  MESHKV_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  MESHKV_RETURN_IF_ERROR(SetValidity(cert.get(), request.valid_days));
  MESHKV_RETURN_IF_ERROR(SetCommonName(X509_get_subject_name(cert.get()), id));
  if (!X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert->get())) ||
      !X509_set_pubkey(cert.get(), key->get())) {
    return OpenSslFailure("cannot build the cert");
  }
  MESHKV_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca_cert->get(), NID_basic_constraints, "critical,CA:FALSE"));
  MESHKV_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca_cert->get(), NID_key_usage, "critical,digitalSignature"));
  MESHKV_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca_cert->get(), NID_ext_key_usage, "serverAuth,clientAuth"));
  MESHKV_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca_cert->get(), NID_subject_key_identifier, "hash"));
  MESHKV_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca_cert->get(), NID_authority_key_identifier, "keyid:always"));
  if (!X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, 0)) {
    return OpenSslFailure("cannot add subjectAltName");
  }
  if (X509_sign(cert.get(), ca_key->get(), EVP_sha256()) <= 0) {
    return OpenSslFailure("cannot sign the node certificate");
  }
  MESHKV_RETURN_IF_ERROR(WriteKeyAndCert(files.key_path, key->get(), files.cert_path, cert.get()));
  return files;
}

Result<NodeId> NodeIdFromCertificatePem(const std::string& pem) {
  Result<CertPtr> cert = ParseCertificate(pem);
  if (!cert.ok()) return cert.status();
  NamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert->get(), NID_subject_alt_name, nullptr, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
      if (name->type != GEN_URI) continue;
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      std::string_view text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                            static_cast<size_t>(ASN1_STRING_length(uri)));
      if (!text.starts_with(kNodeUriPrefix)) continue;
      Result<NodeId> id = NodeId::Parse(text.substr(kNodeUriPrefix.size()));
      if (!id.ok()) {
        return InvalidArgument("certificate SAN URI '" + std::string(text) +
                               "' does not end in a 16-hex-digit node id");
      }
      return id;
    }
  }
  X509_NAME* subject = X509_get_subject_name(cert->get());
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index >= 0) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    std::string_view text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                          static_cast<size_t>(ASN1_STRING_length(cn)));
    Result<NodeId> id = NodeId::Parse(text);
    if (id.ok()) return id;
  }
  return InvalidArgument(
      "certificate carries no node id (no SAN URI meshkv://node/<id> and the CN is not a node "
      "id); create one with `meshkv tls cert create --node-id ID`");
}

}  // namespace meshkv
