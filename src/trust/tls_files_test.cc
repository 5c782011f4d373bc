#include "trust/tls_files.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace meshkv {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "meshkv-tls-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

X509* ParsePem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

mode_t FileMode(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 0777;
}

TEST(TlsFilesTest, CaAndNodeCertificate) {
  TempDir dir;
  Result<CaFiles> ca = CreateClusterCa(dir.Sub("ca"), "prod");
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  EXPECT_EQ(FileMode(ca->key_path), 0600u);
  EXPECT_EQ(FileMode(ca->cert_path), 0644u);

  NodeCertRequest request;
  request.node_id = NodeId(0x0123456789abcdefULL);
  request.dns_names = {"node1.example", "localhost"};
  request.ips = {"127.0.0.1", "::1"};
  Result<NodeCertFiles> node = CreateNodeCert(*ca, request, dir.Sub("node1"));
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(FileMode(node->key_path), 0600u);

  std::string pem = ReadAll(node->cert_path);
  Result<NodeId> id = NodeIdFromCertificatePem(pem);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, request.node_id);

  // Signed by the CA, with the requested names and usages.
  X509* ca_cert = ParsePem(ReadAll(ca->cert_path));
  X509* cert = ParsePem(pem);
  ASSERT_TRUE(ca_cert && cert);
  EXPECT_EQ(X509_verify(cert, X509_get0_pubkey(ca_cert)), 1);
  EXPECT_EQ(X509_check_ca(ca_cert), 1);
  EXPECT_EQ(X509_check_ca(cert), 0);
  EXPECT_EQ(X509_check_host(cert, "node1.example", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert, "::1", 0), 1);
  EXPECT_EQ(X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_EQ(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(cert)), 0);
  EXPECT_GT(X509_cmp_current_time(X509_get0_notAfter(cert)), 0);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  EXPECT_GE(ASN1_STRING_length(serial), 15);
  X509_free(cert);
  X509_free(ca_cert);
}

TEST(TlsFilesTest, RefusesToOverwrite) {
  TempDir dir;
  ASSERT_TRUE(CreateClusterCa(dir.Sub("ca"), "prod").ok());
  Result<CaFiles> again = CreateClusterCa(dir.Sub("ca"), "prod");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("ca.crt"), std::string::npos) << again.status().message();

  Result<CaFiles> ca = CaFiles{dir.Sub("ca/ca.crt"), dir.Sub("ca/ca.key")};
  NodeCertRequest request;
  request.node_id = NodeId(7);
  ASSERT_TRUE(CreateNodeCert(*ca, request, dir.Sub("n")).ok());
  std::string before = ReadAll(dir.Sub("n/node.key"));
  Result<NodeCertFiles> second = CreateNodeCert(*ca, request, dir.Sub("n"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(ReadAll(dir.Sub("n/node.key")), before);

  // An existing key alone also blocks, and no temp files are left behind.
  std::filesystem::create_directories(dir.Sub("k"));
  std::ofstream(dir.Sub("k/node.key")) << "keep";
  Result<NodeCertFiles> third = CreateNodeCert(*ca, request, dir.Sub("k"));
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.status().message().find("node.key"), std::string::npos);
  EXPECT_EQ(ReadAll(dir.Sub("k/node.key")), "keep");
  int entries = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir.Sub("k"))) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(TlsFilesTest, BadInputsRejected) {
  TempDir dir;
  Result<CaFiles> ca = CreateClusterCa(dir.Sub("ca"), "prod");
  ASSERT_TRUE(ca.ok());
  NodeCertRequest request;
  request.node_id = NodeId(42);
  for (std::string bad : {"1.2.3", "256.1.1.1", "example.com", "::g", ""}) {
    request.ips = {bad};
    Result<NodeCertFiles> node = CreateNodeCert(*ca, request, dir.Sub("bad"));
    ASSERT_FALSE(node.ok()) << bad;
    EXPECT_EQ(node.status().code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("bad/node.key")));
  request.ips = {};
  request.dns_names = {"bad name"};
  EXPECT_EQ(CreateNodeCert(*ca, request, dir.Sub("bad")).status().code(),
            ErrorCode::kInvalidArgument);
  request.dns_names = {};
  request.node_id = NodeId();
  EXPECT_EQ(CreateNodeCert(*ca, request, dir.Sub("bad")).status().code(),
            ErrorCode::kInvalidArgument);

  request.node_id = NodeId(42);
  CaFiles missing{dir.Sub("nope/ca.crt"), dir.Sub("nope/ca.key")};
  Result<NodeCertFiles> no_ca = CreateNodeCert(missing, request, dir.Sub("x"));
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.status().message().find("nope/ca.crt"), std::string::npos);
}

TEST(TlsFilesTest, NodeIdExtraction) {
  EXPECT_EQ(NodeIdFromCertificatePem("garbage").status().code(), ErrorCode::kInvalidArgument);
  TempDir dir;
  Result<CaFiles> ca = CreateClusterCa(dir.Sub("ca"), "prod");
  ASSERT_TRUE(ca.ok());
  // The CA itself carries no node id.
  Result<NodeId> none = NodeIdFromCertificatePem(ReadAll(ca->cert_path));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace meshkv
