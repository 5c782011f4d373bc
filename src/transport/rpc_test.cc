// Peer RPC over real TLS on loopback, with certificates made by
// CreateClusterCa/CreateNodeCert in a temporary directory.
#include "transport/rpc.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "transport/frame.h"
#include "transport/tls_context.h"
#include "trust/tls_files.h"

namespace meshkv::transport {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr NodeId kServerId(0x5e5e000000000001ULL);
constexpr NodeId kClientId(0xc1c1000000000002ULL);
constexpr NodeId kStrangerId(0x0707000000000003ULL);

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "meshkv-rpc-XXXXXX").string();
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

// Certificates shared by every test: two nodes of the cluster CA and one node
// of another CA.
class Certs {
 public:
  Certs() {
    ca_ = Must(CreateClusterCa(dir_.Sub("ca"), "test"));
    other_ca_ = Must(CreateClusterCa(dir_.Sub("other-ca"), "other"));
    server_ = Node(ca_, kServerId, "server");
    client_ = Node(ca_, kClientId, "client");
    stranger_ = Node(other_ca_, kStrangerId, "stranger");
  }
  const TempDir& dir() const { return dir_; }
  TlsFiles server() const { return server_; }
  TlsFiles client() const { return client_; }
  TlsFiles stranger() const { return stranger_; }
  const CaFiles& ca() const { return ca_; }

 private:
  template <typename T>
  static T Must(Result<T> result) {
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return std::move(result).value();
  }
  TlsFiles Node(const CaFiles& ca, NodeId id, const std::string& name) {
    NodeCertRequest request;
    request.node_id = id;
    request.ips = {"127.0.0.1"};
    NodeCertFiles files = Must(CreateNodeCert(ca, request, dir_.Sub(name)));
    return TlsFiles{ca.cert_path, files.cert_path, files.key_path};
  }

  TempDir dir_;
  CaFiles ca_, other_ca_;
  TlsFiles server_, client_, stranger_;
};

const Certs& SharedCerts() {
  static Certs* certs = new Certs();
  return *certs;
}

std::shared_ptr<TlsIdentity> Identity(const TlsFiles& files) {
  Result<std::shared_ptr<TlsIdentity>> identity = TlsIdentity::Load(files);
  EXPECT_TRUE(identity.ok()) << identity.status().ToString();
  return identity.ok() ? *identity : nullptr;
}

// Handlers that keep their responders so a test can answer later.
class HeldCalls {
 public:
  Handler MakeHandler() {
    return [this](const PeerInfo& from, std::string payload, Responder respond) {
      std::lock_guard lock(mutex_);
      calls_.push_back({from, std::move(payload), std::move(respond)});
      changed_.notify_all();
    };
  }
  bool WaitFor(size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return calls_.size() >= count; });
  }
  struct Held {
    PeerInfo from;
    std::string payload;
    Responder respond;
  };
  std::vector<Held> Take() {
    std::lock_guard lock(mutex_);
    return std::exchange(calls_, {});
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Held> calls_;
};

class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.connect_timeout_ms = 2'000;
    options_.reconnect_initial_backoff_ms = 50;
    options_.reconnect_max_backoff_ms = 200;
    options_.max_frame_bytes = 1 << 20;
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    OnIo([this] {
      if (client_) client_->Stop();
      if (server_) server_->Stop();
    });
    work_.reset();
    // Let the closes run, then stop.
    std::this_thread::sleep_for(20ms);
    io_.stop();
    thread_.join();
    for (std::thread& extra : extra_threads_) extra.join();
    client_.reset();
    server_.reset();
  }

  // Runs `f` on the io thread and waits for it.
  void OnIo(std::function<void()> f) {
    std::promise<void> done;
    asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  void StartServer(const TlsFiles& files = SharedCerts().server(),
                   std::string address = "127.0.0.1:0") {
    server_ = std::make_unique<RpcServer>(io_, Identity(files), options_, &metrics_);
    server_->Register(MessageType::kPing,
                      [this](const PeerInfo& from, std::string payload, Responder respond) {
                        {
                          std::lock_guard lock(mutex_);
                          last_peer_ = from;
                        }
                        respond("pong:" + payload);
                      });
    server_->Register(MessageType::kReplicaRead,
                      [](const PeerInfo&, std::string, Responder respond) {
                        respond(NotFound("no member named 'x'; check the seed list"));
                      });
    server_->Register(MessageType::kKeyring, held_.MakeHandler());
    Status listening = server_->Listen(address);
    // A restarted server may race the old acceptor's close for the port.
    for (int i = 0; i < 100 && !listening.ok() && address != "127.0.0.1:0"; ++i) {
      std::this_thread::sleep_for(10ms);
      listening = server_->Listen(address);
    }
    ASSERT_TRUE(listening.ok()) << listening.ToString();
    address_ = server_->local_address();
  }

  void StartClient(const TlsFiles& files = SharedCerts().client()) {
    client_ = std::make_unique<RpcClient>(io_, Identity(files), options_, &metrics_);
  }

  std::future<Result<RpcReply>> CallAsync(MessageType type, std::string payload,
                                          std::optional<NodeId> expected = std::nullopt,
                                          int64_t deadline_ms = 5'000) {
    auto promise = std::make_shared<std::promise<Result<RpcReply>>>();
    auto future = promise->get_future();
    client_->Call(address_, expected, type, std::move(payload), deadline_ms,
                  [promise](Result<RpcReply> reply) { promise->set_value(std::move(reply)); });
    return future;
  }

  Result<RpcReply> Call(MessageType type, std::string payload,
                        std::optional<NodeId> expected = std::nullopt,
                        int64_t deadline_ms = 5'000) {
    auto future = CallAsync(type, std::move(payload), expected, deadline_ms);
    if (future.wait_for(10s) != std::future_status::ready) {
      ADD_FAILURE() << "call did not complete";
      return Internal("call did not complete");
    }
    return future.get();
  }

  uint64_t CounterValue(const std::string& name, const Labels& labels = {}) {
    return metrics_.GetCounter(name, "", labels)->value();
  }

  // Waits until `condition` holds or 5 s pass.
  static bool Eventually(const std::function<bool()>& condition) {
    for (int i = 0; i < 500; ++i) {
      if (condition()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return condition();
  }

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(io_)};
  std::thread thread_;
  std::vector<std::thread> extra_threads_;  // more threads running io_
  RpcOptions options_;
  MetricsRegistry metrics_;
  std::unique_ptr<RpcServer> server_;
  std::unique_ptr<RpcClient> client_;
  std::string address_;
  HeldCalls held_;
  std::mutex mutex_;
  PeerInfo last_peer_;
};

TEST_F(RpcTest, RoundTrip) {
  StartServer();
  StartClient();
  Result<RpcReply> reply = Call(MessageType::kPing, "hello", kServerId);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->payload, "pong:hello");
  EXPECT_EQ(reply->node_id, kServerId);
  {
    std::lock_guard lock(mutex_);
    EXPECT_EQ(last_peer_.node_id, kClientId);
    EXPECT_TRUE(last_peer_.remote_addr.starts_with("127.0.0.1:")) << last_peer_.remote_addr;
  }
  // Binary and empty payloads.
  std::string binary("\0\x01\xff", 3);
  reply = Call(MessageType::kPing, binary);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->payload, "pong:" + binary);
  EXPECT_EQ(CounterValue("meshkv_rpc_requests_total", {{"type", "ping"}, {"result", "ok"}}), 2u);
  EXPECT_EQ(CounterValue("meshkv_rpc_handled_total", {{"type", "ping"}, {"result", "ok"}}), 2u);
  EXPECT_GT(CounterValue("meshkv_rpc_bytes_sent_total"), 0u);
  EXPECT_EQ(metrics_.GetGauge("meshkv_rpc_connections", "", {{"direction", "outbound"}})->value(),
            1);
}

TEST_F(RpcTest, ManyConcurrentCallsAnsweredOutOfOrder) {
  StartServer();
  StartClient();
  constexpr int kCalls = 200;
  std::vector<std::future<Result<RpcReply>>> futures;
  for (int i = 0; i < kCalls; ++i) {
    futures.push_back(CallAsync(MessageType::kKeyring, "call-" + std::to_string(i)));
  }
  ASSERT_TRUE(held_.WaitFor(kCalls));
  std::vector<HeldCalls::Held> calls = held_.Take();
  // Answer in reverse order, from two threads other than the io thread.
  std::thread odd([&] {
    for (int i = kCalls - 1; i >= 0; i -= 2) calls[i].respond(calls[i].payload + "!");
  });
  for (int i = kCalls - 2; i >= 0; i -= 2) calls[i].respond(calls[i].payload + "!");
  odd.join();
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(futures[i].wait_for(5s), std::future_status::ready);
    Result<RpcReply> reply = futures[i].get();
    ASSERT_TRUE(reply.ok()) << reply.status().ToString();
    EXPECT_EQ(reply->payload, "call-" + std::to_string(i) + "!");
  }
  // One connection carried them all.
  EXPECT_EQ(metrics_.GetGauge("meshkv_rpc_connections", "", {{"direction", "inbound"}})->value(),
            1);
}

TEST_F(RpcTest, CallsFromManyThreadsWithSeveralIoThreads) {
  extra_threads_.emplace_back([this] { io_.run(); });
  extra_threads_.emplace_back([this] { io_.run(); });
  StartServer();
  StartClient();
  std::atomic<int> ok{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string payload = std::to_string(t) + "/" + std::to_string(i);
        Result<RpcReply> reply = Call(MessageType::kPing, payload, kServerId);
        if (reply.ok() && reply->payload == "pong:" + payload) ++ok;
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(ok.load(), 200);
}

TEST_F(RpcTest, HandlerErrorPropagates) {
  StartServer();
  StartClient();
  Result<RpcReply> reply = Call(MessageType::kReplicaRead, "");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(reply.status().message(), "no member named 'x'; check the seed list");
  // The connection stays usable.
  EXPECT_TRUE(Call(MessageType::kPing, "").ok());
}

TEST_F(RpcTest, DeadlineExceeded) {
  StartServer();
  StartClient();
  Result<RpcReply> reply = Call(MessageType::kKeyring, "slow", std::nullopt, 100);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_NE(reply.status().message().find("100 ms"), std::string::npos);
  // A late answer is dropped and the connection keeps working.
  ASSERT_TRUE(held_.WaitFor(1));
  held_.Take()[0].respond(std::string("late"));
  Result<RpcReply> next = Call(MessageType::kPing, "again");
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->payload, "pong:again");
}

TEST_F(RpcTest, ExpectedIdMismatchRefused) {
  StartServer();
  StartClient();
  Result<RpcReply> reply = Call(MessageType::kPing, "", NodeId(0x1234));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(reply.status().message(), "node at " + address_ + " presents certificate for node " +
                                          kServerId.ToString() + ", expected 0000000000001234");
}

TEST_F(RpcTest, ClientFromAnotherCaRefusedAtHandshake) {
  StartServer();
  StartClient(SharedCerts().stranger());
  Result<RpcReply> reply = Call(MessageType::kPing, "");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("certificate"), std::string::npos)
      << reply.status().message();
  EXPECT_TRUE(Eventually([&] {
    return CounterValue("meshkv_rpc_tls_handshake_failures_total", {{"direction", "inbound"}}) >= 1;
  }));
  EXPECT_EQ(CounterValue("meshkv_rpc_handled_total", {{"type", "ping"}, {"result", "ok"}}), 0u);
}

TEST_F(RpcTest, ServerFromAnotherCaRefusedByClient) {
  StartServer(SharedCerts().stranger());
  StartClient();
  Result<RpcReply> reply = Call(MessageType::kPing, "");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("certificate verify failed"), std::string::npos)
      << reply.status().message();
  EXPECT_EQ(CounterValue("meshkv_rpc_tls_handshake_failures_total", {{"direction", "outbound"}}),
            1u);
}

// Speaks raw TLS to the server as a valid cluster node and sends `bytes`;
// returns true when the server closes the connection within 5 s.
bool ServerClosesAfter(const std::string& address, const std::string& bytes,
                       asio::ssl::context* context = nullptr) {
  auto identity = std::static_pointer_cast<TlsMaterial>(Identity(SharedCerts().client()));
  asio::io_context io;
  asio::ssl::stream<tcp::socket> stream(io, context ? *context : identity->client_context());
  size_t colon = address.rfind(':');
  tcp::endpoint endpoint(asio::ip::make_address(address.substr(0, colon)),
                         static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  boost::system::error_code ec;
  stream.lowest_layer().connect(endpoint, ec);
  if (ec) return false;
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return false;
  asio::write(stream, asio::buffer(bytes), ec);
  if (ec) return false;
  bool closed = false;
  char sink[1024];
  std::function<void(boost::system::error_code, size_t)> on_read =
      [&](boost::system::error_code read_error, size_t) {
        if (read_error) {
          closed = true;
          return;
        }
        stream.async_read_some(asio::buffer(sink), on_read);
      };
  stream.async_read_some(asio::buffer(sink), on_read);
  io.run_for(5s);
  return closed;
}

std::string Prefixed(uint32_t length, const std::string& body) {
  std::string out = {static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                     static_cast<char>(length >> 8), static_cast<char>(length)};
  return out + body;
}

// A client that trusts the cluster CA but presents a certificate from another
// CA: its TLS 1.3 handshake completes, then the server refuses it.
TEST_F(RpcTest, ClientCertificateFromAnotherCaRefusedByServer) {
  StartServer();
  asio::ssl::context context(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_3_VERSION);
  context.set_verify_mode(asio::ssl::verify_peer);
  context.load_verify_file(SharedCerts().ca().cert_path);
  context.use_certificate_chain_file(SharedCerts().stranger().cert);
  context.use_private_key_file(SharedCerts().stranger().key, asio::ssl::context::pem);
  Frame frame;
  frame.request_id = 1;
  frame.type = static_cast<uint32_t>(MessageType::kPing);
  Result<std::string> bytes = EncodeFrame(frame, 1024);
  ASSERT_TRUE(bytes.ok());
  EXPECT_TRUE(ServerClosesAfter(address_, *bytes, &context));
  EXPECT_TRUE(Eventually([&] {
    return CounterValue("meshkv_rpc_tls_handshake_failures_total", {{"direction", "inbound"}}) == 1;
  }));
  EXPECT_EQ(CounterValue("meshkv_rpc_handled_total", {{"type", "ping"}, {"result", "ok"}}), 0u);
}

TEST_F(RpcTest, OversizedFrameClosesConnection) {
  StartServer();
  EXPECT_TRUE(ServerClosesAfter(address_, Prefixed(0x7fffffff, "")));
  EXPECT_TRUE(Eventually([&] {
    return CounterValue("meshkv_rpc_frames_rejected_total", {{"reason", "oversized"}});
  }));
}

TEST_F(RpcTest, GarbageFrameClosesConnection) {
  StartServer();
  EXPECT_TRUE(ServerClosesAfter(address_, Prefixed(6, "\xff\xff\xff\xff\xff\xff")));
  EXPECT_TRUE(Eventually([&] {
    return CounterValue("meshkv_rpc_frames_rejected_total", {{"reason", "malformed"}});
  }));
}

TEST_F(RpcTest, UnknownTypeClosesConnection) {
  StartServer();
  Frame frame;
  frame.request_id = 1;
  frame.type = 99;
  Result<std::string> bytes = EncodeFrame(frame, 1024);
  ASSERT_TRUE(bytes.ok());
  EXPECT_TRUE(ServerClosesAfter(address_, *bytes));
  EXPECT_TRUE(Eventually([&] {
    return CounterValue("meshkv_rpc_frames_rejected_total", {{"reason", "type"}});
  }));
  // A registered type on a fresh connection is still served.
  StartClient();
  EXPECT_TRUE(Call(MessageType::kPing, "").ok());
}

TEST_F(RpcTest, ServerRestartClientReconnectsAfterBackoff) {
  StartServer();
  StartClient();
  ASSERT_TRUE(Call(MessageType::kPing, "").ok());
  std::string address = address_;
  OnIo([this] { server_->Stop(); });

  // The dropped connection, then refused connects, then backoff.
  bool saw_backoff = false;
  for (int i = 0; i < 100 && !saw_backoff; ++i) {
    Result<RpcReply> reply = Call(MessageType::kPing, "");
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.status().code(), ErrorCode::kUnavailable) << reply.status().ToString();
    saw_backoff = reply.status().message().find("in backoff for") != std::string::npos;
    if (saw_backoff) {
      EXPECT_NE(reply.status().message().find("cannot connect"), std::string::npos)
          << reply.status().message();
    }
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(saw_backoff);

  OnIo([this] { server_.reset(); });
  StartServer(SharedCerts().server(), address);
  bool reconnected = Eventually([&] { return Call(MessageType::kPing, "back").ok(); });
  EXPECT_TRUE(reconnected);
}

// A node the failure detector sees back is called at once, not after the
// rest of its backoff (that gap was ~100 ms of 503s at consistency=all).
TEST_F(RpcTest, ResetBackoffConnectsAtOnce) {
  options_.reconnect_initial_backoff_ms = 60'000;
  options_.reconnect_max_backoff_ms = 60'000;
  StartServer();
  StartClient();
  ASSERT_TRUE(Call(MessageType::kPing, "").ok());
  const std::string address = address_;
  OnIo([this] { server_->Stop(); });
  bool saw_backoff = false;
  for (int i = 0; i < 100 && !saw_backoff; ++i) {
    Result<RpcReply> reply = Call(MessageType::kPing, "");
    ASSERT_FALSE(reply.ok());
    saw_backoff = reply.status().message().find("in backoff for") != std::string::npos;
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(saw_backoff);
  OnIo([this] { server_.reset(); });
  StartServer(SharedCerts().server(), address);
  // Still in a one-minute backoff...
  Result<RpcReply> before = Call(MessageType::kPing, "");
  ASSERT_FALSE(before.ok());
  EXPECT_NE(before.status().message().find("in backoff for"), std::string::npos);
  // ...until it is reset.
  client_->ResetBackoff(address);
  Result<RpcReply> after = Call(MessageType::kPing, "back");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->payload, "pong:back");
}

TEST_F(RpcTest, InflightBytesBounded) {
  options_.max_inflight_bytes_per_peer = 1000;
  StartServer();
  StartClient();
  auto first = CallAsync(MessageType::kKeyring, std::string(600, 'a'));
  ASSERT_TRUE(held_.WaitFor(1));
  Result<RpcReply> second = Call(MessageType::kKeyring, std::string(600, 'b'));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(second.status().message().find("max_inflight_bytes_per_peer"), std::string::npos);
  held_.Take()[0].respond(std::string("done"));
  ASSERT_TRUE(first.get().ok());
  // The bytes were released.
  auto third = CallAsync(MessageType::kKeyring, std::string(600, 'c'));
  ASSERT_TRUE(held_.WaitFor(1));
  held_.Take()[0].respond(std::string("done"));
  EXPECT_TRUE(third.get().ok());

  // Larger than a frame: refused before sending.
  Result<RpcReply> huge = Call(MessageType::kPing, std::string(options_.max_frame_bytes + 1, 'x'));
  EXPECT_EQ(huge.status().code(), ErrorCode::kResourceExhausted);
}

TEST_F(RpcTest, StopFailsPendingCalls) {
  StartServer();
  StartClient();
  std::vector<std::future<Result<RpcReply>>> futures;
  for (int i = 0; i < 5; ++i) futures.push_back(CallAsync(MessageType::kKeyring, "x"));
  ASSERT_TRUE(held_.WaitFor(5));
  client_->Stop();  // from a thread other than the io thread
  for (auto& future : futures) {
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    Result<RpcReply> reply = future.get();
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.status().code(), ErrorCode::kUnavailable);
  }
  Result<RpcReply> after = Call(MessageType::kPing, "");
  EXPECT_EQ(after.status().code(), ErrorCode::kUnavailable);
  // Answers to a closed connection are dropped harmlessly.
  for (auto& held : held_.Take()) held.respond(std::string("late"));
}

TEST_F(RpcTest, ServerStopFailsClientCalls) {
  StartServer();
  StartClient();
  auto pending = CallAsync(MessageType::kKeyring, "x");
  ASSERT_TRUE(held_.WaitFor(1));
  server_->Stop();
  ASSERT_EQ(pending.wait_for(5s), std::future_status::ready);
  Result<RpcReply> reply = pending.get();
  EXPECT_EQ(reply.status().code(), ErrorCode::kUnavailable);
  for (auto& held : held_.Take()) held.respond(std::string("late"));
}

TEST(TlsIdentityTest, LoadChecksFiles) {
  const Certs& certs = SharedCerts();
  Result<std::shared_ptr<TlsIdentity>> good = TlsIdentity::Load(certs.server());
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ((*good)->node_id(), kServerId);
  EXPECT_GE((*good)->days_until_expiry(), 820);

  TlsFiles wrong_ca = certs.stranger();
  wrong_ca.ca_cert = certs.ca().cert_path;
  Result<std::shared_ptr<TlsIdentity>> refused = TlsIdentity::Load(wrong_ca);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("is not signed by the CA in " + certs.ca().cert_path),
            std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("meshkv tls cert create"), std::string::npos);

  TlsFiles wrong_key = certs.server();
  wrong_key.key = certs.client().key;
  Result<std::shared_ptr<TlsIdentity>> mismatch = TlsIdentity::Load(wrong_key);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("is not the key of"), std::string::npos);

  TlsFiles missing = certs.server();
  missing.cert = certs.dir().Sub("nope.crt");
  Result<std::shared_ptr<TlsIdentity>> absent = TlsIdentity::Load(missing);
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.status().message().find("tls.cert " + missing.cert), std::string::npos);

  TlsFiles ca_as_cert = certs.server();
  ca_as_cert.cert = certs.ca().cert_path;
  EXPECT_FALSE(TlsIdentity::Load(ca_as_cert).ok());
}

// Lanes: the server spreads connections over its io_contexts; the client
// sends a call made on a lane's thread over that lane's own connection, and
// its reply completes on the same thread (no hand-off); a call from any
// other thread takes a lane in turn.
TEST(RpcLanesTest, CallsStayOnTheCallingLane) {
  const Certs& certs = SharedCerts();
  constexpr size_t kLanes = 2;
  asio::io_context server_io[kLanes], client_io[kLanes];
  std::vector<asio::io_context*> server_lanes, client_lanes;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < kLanes; ++i) {
    server_lanes.push_back(&server_io[i]);
    client_lanes.push_back(&client_io[i]);
    for (asio::io_context* io : {&server_io[i], &client_io[i]}) {
      work.push_back(asio::make_work_guard(*io));
      threads.emplace_back([io] { io->run(); });
    }
  }
  RpcOptions options;
  MetricsRegistry metrics;
  RpcServer server(server_lanes, Identity(certs.server()), options, &metrics);
  std::mutex mutex;
  std::set<std::thread::id> handler_threads;
  server.Register(MessageType::kPing, [&](const PeerInfo&, std::string payload, Responder respond) {
    {
      std::lock_guard lock(mutex);
      handler_threads.insert(std::this_thread::get_id());
    }
    respond("pong:" + payload);
  });
  ASSERT_TRUE(server.Listen("127.0.0.1:0").ok());
  const std::string address = server.local_address();
  RpcClient client(client_lanes, Identity(certs.client()), options, &metrics);

  // From each lane's thread: the reply runs on that same thread.
  for (size_t lane = 0; lane < kLanes; ++lane) {
    for (int i = 0; i < 3; ++i) {
      std::promise<std::pair<bool, std::string>> done;
      asio::post(client_io[lane], [&, lane] {
        client.Call(
            address, std::nullopt, MessageType::kPing, "x", 5'000,
            [&, lane](Result<RpcReply> reply) {
              const bool same = client_io[lane].get_executor().running_in_this_thread();
              done.set_value({same, reply.ok() ? reply->payload : reply.status().message()});
            });
      });
      auto [same_thread, payload] = done.get_future().get();
      EXPECT_TRUE(same_thread) << "lane " << lane;
      EXPECT_EQ(payload, "pong:x");
    }
  }
  // From a thread that runs no lane: still answered, on some lane.
  for (int i = 0; i < 4; ++i) {
    std::promise<std::pair<bool, std::string>> done;
    client.Call(address, std::nullopt, MessageType::kPing, "y", 5'000, [&](Result<RpcReply> reply) {
      bool on_lane = false;
      for (auto& io : client_io) on_lane = on_lane || io.get_executor().running_in_this_thread();
      done.set_value({on_lane, reply.ok() ? reply->payload : reply.status().message()});
    });
    auto [on_lane, payload] = done.get_future().get();
    EXPECT_TRUE(on_lane);
    EXPECT_EQ(payload, "pong:y");
  }
  // One connection per lane, spread over both server lanes.
  EXPECT_EQ(metrics.GetGauge("meshkv_rpc_connections", "", {{"direction", "outbound"}})->value(),
            static_cast<int64_t>(kLanes));
  EXPECT_EQ(metrics.GetGauge("meshkv_rpc_connections", "", {{"direction", "inbound"}})->value(),
            static_cast<int64_t>(kLanes));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(handler_threads.size(), kLanes);
  }
  // Counted by type (10 calls made).
  EXPECT_EQ(
      metrics.GetCounter("meshkv_rpc_requests_total", "", {{"type", "ping"}, {"result", "ok"}})
          ->value(),
      10u);

  client.Stop();
  server.Stop();
  std::this_thread::sleep_for(20ms);
  work.clear();
  for (auto& io : server_io) io.stop();
  for (auto& io : client_io) io.stop();
  for (std::thread& t : threads) t.join();
}

}  // namespace
}  // namespace meshkv::transport
