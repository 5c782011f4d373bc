#include "frontend/dns/server/dns_server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/hlc.h"
#include "base/metrics.h"
#include "frontend/dns/query/responder.h"
#include "frontend/dns/query/zone_view.h"
#include "frontend/dns/wire/message.h"
#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"
#include "records/record_service.h"
#include "replication/kv_service.h"
#include "storage/store.h"

namespace meshkv::dns {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;

Name N(std::string_view text) {
  return *Name::FromText(text);
}

std::vector<NamespaceSpec> Namespaces() {
  std::vector<NamespaceSpec> namespaces = BuiltinNamespaces();
  for (NamespaceSpec& ns : namespaces) ns.storage = StorageKind::kMemory;
  return namespaces;
}

std::string MakeQuery(std::string_view name, uint16_t type, uint16_t id = 1) {
  MessageWriter writer(kMaxMessageSize);
  Header header;
  header.id = id;
  writer.SetHeader(header);
  writer.AddQuestion(Question{N(name), type, RrClass::kIn});
  return writer.Finish();
}

std::string Framed(const std::string& message) {
  std::string out;
  out += static_cast<char>(message.size() >> 8);
  out += static_cast<char>(message.size() & 0xff);
  return out + message;
}

class DnsServerTest : public ::testing::Test {
 protected:
  DnsServerTest()
      : store_(NewMemoryStore(Namespaces())),
        hlc_(clock_, 500),
        kv_(*store_, nullptr, hlc_, clock_, NodeId(9), Namespaces()),
        records_(kv_, {N("example.test")}, 300),
        view_(records_, nullptr, ZoneViewOptions{}),
        metrics_(registry_),
        responder_(view_, metrics_, ResponderOptions{}) {
    auto record = records_.MakeRecord(N("www.example.test"), "A", "192.0.2.1", 60);
    records_.Add(*record, [](Status s) { ASSERT_TRUE(s.ok()); });
  }

  std::unique_ptr<DnsServer> StartServer(DnsServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    auto server = std::make_unique<DnsServer>(options, responder_, metrics_);
    Status started = server->Start();
    EXPECT_TRUE(started.ok()) << started.ToString();
    return server;
  }

  static uint16_t PortOf(const DnsServer& server) {
    const std::string& address = server.bound_address();
    return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  }

  // Reads one framed message; nullopt on EOF or error.
  static std::optional<Message> ReadFramed(tcp::socket& socket) {
    std::array<uint8_t, 2> prefix;
    boost::system::error_code ec;
    asio::read(socket, asio::buffer(prefix), ec);
    if (ec) return std::nullopt;
    std::string body(size_t{prefix[0]} << 8 | prefix[1], '\0');
    asio::read(socket, asio::buffer(body), ec);
    if (ec) return std::nullopt;
    auto parsed = ParseMessage(body);
    EXPECT_TRUE(parsed.ok());
    if (!parsed.ok()) return std::nullopt;
    return *parsed;
  }

  // True when the server closes the connection within a few seconds.
  static bool ClosedByServer(tcp::socket& socket) {
    char byte;
    boost::system::error_code ec;
    socket.read_some(asio::buffer(&byte, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

  FakeClock clock_;
  std::unique_ptr<Store> store_;
  Hlc hlc_;
  KvService kv_;
  records::RecordService records_;
  ZoneView view_;
  MetricsRegistry registry_;
  DnsMetrics metrics_;
  Responder responder_;
  asio::io_context io_;
};

TEST_F(DnsServerTest, AnswersOverUdp) {
  auto server = StartServer();
  udp::socket socket(io_, udp::v4());
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), PortOf(*server));
  for (uint16_t id = 1; id <= 20; ++id) {
    socket.send_to(asio::buffer(MakeQuery("www.example.test", RrType::kA, id)), to);
    std::array<char, 2048> buffer;
    udp::endpoint from;
    const size_t n = socket.receive_from(asio::buffer(buffer), from);
    auto message = ParseMessage(std::string_view(buffer.data(), n));
    ASSERT_TRUE(message.ok());
    EXPECT_EQ(message->header.id, id);
    EXPECT_EQ(message->answers.size(), 1u);
  }
}

TEST_F(DnsServerTest, AnswersABurstOfDatagrams) {
  auto server = StartServer();
  udp::socket socket(io_, udp::v4());
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), PortOf(*server));
  constexpr int kQueries = 100;
  for (uint16_t id = 0; id < kQueries; ++id) {
    socket.send_to(
        asio::buffer(MakeQuery(id % 2 ? "www.example.test" : "nope.example.test", RrType::kA, id)),
        to);
  }
  std::vector<bool> seen(kQueries, false);
  for (int i = 0; i < kQueries; ++i) {
    std::array<char, 2048> buffer;
    udp::endpoint from;
    const size_t n = socket.receive_from(asio::buffer(buffer), from);
    auto message = ParseMessage(std::string_view(buffer.data(), n));
    ASSERT_TRUE(message.ok());
    ASSERT_LT(message->header.id, kQueries);
    seen[message->header.id] = true;
    EXPECT_EQ(FullRcode(*message), message->header.id % 2 ? 0 : 3);
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), kQueries);
  // An oversized datagram is dropped; the server goes on.
  socket.send_to(asio::buffer(std::string(6000, '\0')), to);
  socket.send_to(asio::buffer(MakeQuery("www.example.test", RrType::kA, 7)), to);
  std::array<char, 2048> buffer;
  udp::endpoint from;
  const size_t n = socket.receive_from(asio::buffer(buffer), from);
  ASSERT_TRUE(ParseMessage(std::string_view(buffer.data(), n)).ok());
}

TEST_F(DnsServerTest, UdpAnswersAreWholeAndDroppedDatagramsGetNone) {
  for (int i = 0; i < 8; ++i) {
    auto record = records_.MakeRecord(N("big.example.test"), "TXT",
                                      std::string(40, 'x') + std::to_string(i), 60);
    records_.Add(*record, [](Status s) { ASSERT_TRUE(s.ok()); });
  }
  auto server = StartServer();
  udp::socket socket(io_, udp::v4());
  const udp::endpoint to(asio::ip::make_address("127.0.0.1"), PortOf(*server));
  // Large and small answers, misses then hits, with datagrams to drop in
  // between, so the server's reply buffers are reused for answers of other
  // sizes: each must come back whole, with its own id.
  constexpr uint16_t kQueries = 90;
  std::map<uint16_t, std::string> queries;
  for (uint16_t id = 0; id < kQueries; ++id) {
    if (id % 3 == 2) {
      std::string response = MakeQuery("www.example.test", RrType::kA, id);
      response[2] = static_cast<char>(response[2] | 0x80);  // QR=1: dropped
      socket.send_to(asio::buffer(id % 2 ? response : response.substr(0, 5)), to);
      continue;
    }
    queries[id] = MakeQuery(id % 3 ? "nope.example.test" : "big.example.test",
                            id % 3 ? RrType::kA : RrType::kTxt, id);
    socket.send_to(asio::buffer(queries[id]), to);
  }
  std::map<uint16_t, std::string> received;
  for (size_t i = 0; i < queries.size(); ++i) {
    std::array<char, 2048> buffer;
    udp::endpoint from;
    const size_t n = socket.receive_from(asio::buffer(buffer), from);
    ASSERT_GE(n, kHeaderSize);
    const uint16_t id = static_cast<uint16_t>(static_cast<uint8_t>(buffer[0]) << 8 |
                                              static_cast<uint8_t>(buffer[1]));
    ASSERT_TRUE(queries.contains(id)) << id;
    received[id] = std::string(buffer.data(), n);
  }
  ASSERT_EQ(received.size(), queries.size());
  const IpAddress client = *IpAddress::Parse("127.0.0.1");
  for (const auto& [id, query] : queries) {
    const std::vector<std::string> expected = responder_.Respond(query, Transport::kUdp, client);
    ASSERT_EQ(expected.size(), 1u);
    EXPECT_EQ(received[id], expected.front()) << id;
  }
  auto big = ParseMessage(received[0]);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->answers.size(), 8u);
  // Nothing was sent for the dropped datagrams: the next reply is this one's.
  socket.send_to(asio::buffer(MakeQuery("www.example.test", RrType::kA, 1000)), to);
  std::array<char, 2048> buffer;
  udp::endpoint from;
  const size_t n = socket.receive_from(asio::buffer(buffer), from);
  auto last = ParseMessage(std::string_view(buffer.data(), n));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->header.id, 1000);
  const std::string metrics = registry_.Render();
  EXPECT_NE(metrics.find("meshkv_dns_dropped_total{reason=\"response\"} 15"), std::string::npos);
  EXPECT_NE(metrics.find("meshkv_dns_dropped_total{reason=\"short\"} 15"), std::string::npos);
}

TEST_F(DnsServerTest, AnswersSeveralQueriesPerTcpConnectionInOrder) {
  auto server = StartServer();
  tcp::socket socket(io_);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), PortOf(*server)));
  // Pipelined in one write, and one query split over two writes.
  std::string batch;
  for (uint16_t id = 1; id <= 5; ++id) batch += Framed(MakeQuery("www.example.test", 1, id));
  asio::write(socket, asio::buffer(batch));
  for (uint16_t id = 1; id <= 5; ++id) {
    auto message = ReadFramed(socket);
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->header.id, id);
  }
  const std::string split = Framed(MakeQuery("nope.example.test", 1, 99));
  asio::write(socket, asio::buffer(split.substr(0, 7)));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  asio::write(socket, asio::buffer(split.substr(7)));
  auto message = ReadFramed(socket);
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->header.id, 99);
  EXPECT_EQ(FullRcode(*message), static_cast<uint16_t>(Rcode::kNxDomain));
}

TEST_F(DnsServerTest, ClosesTcpConnectionsThatSendGarbage) {
  auto server = StartServer();
  const tcp::endpoint to(asio::ip::make_address("127.0.0.1"), PortOf(*server));
  {
    tcp::socket socket(io_);
    socket.connect(to);
    asio::write(socket, asio::buffer(std::string("\x00\x03xyz", 5)));  // shorter than a header
    EXPECT_TRUE(ClosedByServer(socket));
  }
  {
    // A malformed message of plausible size is answered (FORMERR); the
    // stream stays usable.
    tcp::socket socket(io_);
    socket.connect(to);
    asio::write(socket, asio::buffer(Framed(std::string(40, '\x01'))));
    auto formerr = ReadFramed(socket);
    ASSERT_TRUE(formerr.has_value());
    EXPECT_EQ(FullRcode(*formerr), static_cast<uint16_t>(Rcode::kFormErr));
    asio::write(socket, asio::buffer(Framed(MakeQuery("www.example.test", 1, 5))));
    EXPECT_TRUE(ReadFramed(socket).has_value());
  }
  // The server still answers.
  tcp::socket socket(io_);
  socket.connect(to);
  asio::write(socket, asio::buffer(Framed(MakeQuery("www.example.test", 1, 7))));
  EXPECT_TRUE(ReadFramed(socket).has_value());
}

TEST_F(DnsServerTest, ClosesIdleTcpConnections) {
  DnsServerOptions options;
  options.tcp_idle_timeout_ms = 200;
  auto server = StartServer(options);
  tcp::socket socket(io_);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), PortOf(*server)));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(ClosedByServer(socket));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST_F(DnsServerTest, RefusesConnectionsOverTheLimit) {
  DnsServerOptions options;
  options.max_tcp_connections = 1;
  auto server = StartServer(options);
  const tcp::endpoint to(asio::ip::make_address("127.0.0.1"), PortOf(*server));
  tcp::socket first(io_);
  first.connect(to);
  asio::write(first, asio::buffer(Framed(MakeQuery("www.example.test", 1, 1))));
  ASSERT_TRUE(ReadFramed(first).has_value());  // the first is being served
  tcp::socket second(io_);
  second.connect(to);
  EXPECT_TRUE(ClosedByServer(second));
  EXPECT_NE(registry_.Render().find("meshkv_dns_dropped_total{reason=\"tcp_limit\"} 1"),
            std::string::npos);
}

TEST_F(DnsServerTest, PortInUseIsAnErrorAndStopFreesIt) {
  auto server = StartServer();
  const uint16_t port = PortOf(*server);
  DnsServerOptions same;
  same.host = "127.0.0.1";
  same.port = port;
  DnsServer second(same, responder_, metrics_);
  Status status = second.Start();
  EXPECT_EQ(status.code(), ErrorCode::kUnavailable);
  EXPECT_NE(status.message().find(std::to_string(port)), std::string::npos);
  server->Stop();
  DnsServer third(same, responder_, metrics_);
  EXPECT_TRUE(third.Start().ok());
  third.Stop();
}

TEST_F(DnsServerTest, BadListenHostIsAnError) {
  DnsServerOptions options;
  options.host = "no-such-host.invalid";
  options.port = 0;
  DnsServer server(options, responder_, metrics_);
  EXPECT_EQ(server.Start().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace meshkv::dns
