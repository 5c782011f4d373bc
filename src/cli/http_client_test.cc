#include "cli/http_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_test_runner.h"
#include "cli/client_commands.h"

namespace meshkv {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------------------
// Percent-encoding.

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The server's view of a path or query component (docs/api.md "Keys").
std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = HexValue(text[i + 1]);
    const int low = HexValue(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

bool IsUnreservedForTest(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

TEST(PercentEncodePathKey, EveryByteRoundTrips) {
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  const std::string encoded = PercentEncodePathKey(all_bytes);
  for (char c : encoded) {
    EXPECT_TRUE(IsUnreservedForTest(c) || c == '/' || c == '%') << "raw byte " << int(c);
  }
  EXPECT_EQ(PercentDecode(encoded), all_bytes);

  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    const std::string encoded_one = PercentEncodePathKey(one);
    EXPECT_EQ(PercentDecode(encoded_one), one) << b;
    if (IsUnreservedForTest(one[0]) || one[0] == '/') {
      EXPECT_EQ(encoded_one, one) << b;
    } else {
      EXPECT_EQ(encoded_one.size(), 3u) << b;
    }
  }
}

TEST(PercentEncodePathKey, KeepsSlashesAndEscapesTheRest) {
  EXPECT_EQ(PercentEncodePathKey("a/b c"), "a/b%20c");
  EXPECT_EQ(PercentEncodePathKey("/lead/trail/"), "/lead/trail/");
  EXPECT_EQ(PercentEncodePathKey("100%?#&=+"), "100%25%3F%23%26%3D%2B");
  EXPECT_EQ(PercentEncodePathKey(std::string("\0\xff", 2)), "%00%FF");
  EXPECT_EQ(PercentEncodePathKey("AZaz09-._~"), "AZaz09-._~");
}

TEST(PercentEncodeQueryComponent, EscapesSlashToo) {
  EXPECT_EQ(PercentEncodeQueryComponent("a/b c&d=e"), "a%2Fb%20c%26d%3De");
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  const std::string encoded = PercentEncodeQueryComponent(all_bytes);
  EXPECT_EQ(encoded.find('/'), std::string::npos);
  EXPECT_EQ(PercentDecode(encoded), all_bytes);
}

TEST(BuildTarget, SkipsEmptyValuesAndEncodes) {
  EXPECT_EQ(BuildTarget("/v1/kv", {}), "/v1/kv");
  EXPECT_EQ(BuildTarget("/v1/kv", {{"ns", ""}, {"prefix", ""}}), "/v1/kv");
  EXPECT_EQ(BuildTarget("/v1/kv/a%20b", {{"ns", "n s"}, {"ttl", ""}, {"cursor", "x/y+"}}),
            "/v1/kv/a%20b?ns=n%20s&cursor=x%2Fy%2B");
}

// ---------------------------------------------------------------------------
// Address parsing.

TEST(ParseClientAddr, AcceptsHttpUrlsAndHostPort) {
  struct Case {
    const char* addr;
    const char* host;
    uint16_t port;
  };
  for (const Case& c :
       {Case{"http://127.0.0.1:7070", "127.0.0.1", 7070},
        Case{"HTTP://node-1.example:80/", "node-1.example", 80},
        Case{"localhost:1", "localhost", 1}, Case{"10.0.0.5:65535", "10.0.0.5", 65535},
        Case{"http://[::1]:7070", "::1", 7070}, Case{"[fe80::1]:9000", "fe80::1", 9000}}) {
    Result<ClientEndpoint> endpoint = ParseClientAddr(c.addr);
    ASSERT_TRUE(endpoint.ok()) << c.addr << ": " << endpoint.status().ToString();
    EXPECT_EQ(endpoint->host, c.host) << c.addr;
    EXPECT_EQ(endpoint->port, c.port) << c.addr;
  }
  EXPECT_EQ(ParseClientAddr("http://[::1]:7070")->HostPort(), "[::1]:7070");
  EXPECT_EQ(ParseClientAddr("h:1")->Url(), "http://h:1");
}

TEST(ParseClientAddr, RefusesHttpsWithAClearMessage) {
  for (const char* addr : {"https://127.0.0.1:7443", "HTTPS://node:7070"}) {
    Result<ClientEndpoint> endpoint = ParseClientAddr(addr);
    ASSERT_FALSE(endpoint.ok()) << addr;
    EXPECT_EQ(endpoint.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(endpoint.status().message(),
                HasSubstr("TLS on the client API is not supported yet"));
  }
}

TEST(ParseClientAddr, RejectsGarbage) {
  for (const char* addr : {"",
                           "http://",
                           "localhost",
                           "http://localhost",
                           "host:",
                           ":7070",
                           "host:0",
                           "host:65536",
                           "host:99999999",
                           "host:80a",
                           "host:-1",
                           "::1:7070",
                           "[::1]",
                           "[::1]7070",
                           "[zz]:1",
                           "ftp://host:21",
                           "http://host:7070/v1/kv",
                           "user@host:1",
                           "ho st:1",
                           "host:7070 ",
                           "http:/host:1",
                           "[::1:7070"}) {
    Result<ClientEndpoint> endpoint = ParseClientAddr(addr);
    EXPECT_FALSE(endpoint.ok()) << "accepted '" << addr << "'";
    if (!endpoint.ok()) {
      EXPECT_EQ(endpoint.status().code(), ErrorCode::kInvalidArgument) << addr;
      EXPECT_THAT(endpoint.status().message(), HasSubstr("host:port")) << addr;
    }
  }
}

// ---------------------------------------------------------------------------
// An in-process HTTP server: answers each connection with `handler`, one
// request per connection, on its own thread. A handler returning nullopt
// leaves the request unanswered (the connection stays open until the server
// is destroyed).
class FakeServer {
 public:
  using Handler = std::function<std::optional<Response>(const Request&)>;

  explicit FakeServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(io_context_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_context_, Serve(), asio::detached);
    thread_ = std::thread([this] { io_context_.run(); });
  }
  ~FakeServer() {
    io_context_.stop();
    thread_.join();
  }

  std::string Addr() const { return "http://127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  std::vector<Request> Requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  asio::awaitable<void> Serve() {
    while (true) {
      auto [accept_error, socket] = co_await acceptor_.async_accept(kNoThrow);
      if (accept_error) co_return;
      beast::flat_buffer buffer;
      Request request;
      auto [read_error, read] = co_await http::async_read(socket, buffer, request, kNoThrow);
      if (read_error) continue;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back(request);
      }
      std::optional<Response> response = handler_(request);
      if (!response) {
        unanswered_.push_back(std::move(socket));
        continue;
      }
      response->version(11);
      response->keep_alive(false);
      if (request.method() != http::verb::head) response->prepare_payload();
      co_await http::async_write(socket, *response, kNoThrow);  // a failed write: client's problem
      beast::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
    }
  }

  Handler handler_;
  asio::io_context io_context_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::vector<tcp::socket> unanswered_;  // only touched on thread_
  std::mutex mutex_;
  std::vector<Request> requests_;  // guarded by mutex_
  std::thread thread_;
};

Response MakeResponse(int status, std::string body,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
  Response response{static_cast<http::status>(status), 11};
  for (auto& [name, value] : headers) response.insert(name, value);
  response.body() = std::move(body);
  return response;
}

// A port with nothing listening on it (bound, then released).
uint16_t UnusedPort() {
  asio::io_context io_context;
  tcp::acceptor acceptor(io_context, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

ClientOptions OptionsFor(const std::string& addr) {
  ClientOptions options;
  options.addr = addr;
  options.timeout = std::chrono::seconds(5);
  return options;
}

TEST(SendRequest, RoundTripsACannedResponse) {
  const std::string binary_body("hello\0\xff world", 13);
  FakeServer server([&](const Request&) {
    return MakeResponse(200, binary_body,
                        {{"X-Meshkv-Version", "111-1f2e"},
                         {"X-Repeated", "a"},
                         {"X-Repeated", "b"},
                         {"Content-Type", "application/octet-stream"}});
  });
  ClientOptions options = OptionsFor(server.Addr());
  options.token = "s3cret-token";
  Result<HttpResponse> response =
      SendRequest(options, HttpMethod::kPut, "/v1/kv/a/b%20c?ns=x", "the value",
                  {{"Content-Type", "application/octet-stream"}});
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->reason, "OK");
  EXPECT_EQ(response->body, binary_body);
  ASSERT_NE(response->Header("x-meshkv-version"), nullptr);
  EXPECT_EQ(*response->Header("x-meshkv-version"), "111-1f2e");
  EXPECT_EQ(response->headers.at("x-repeated"), "a, b");
  EXPECT_EQ(response->headers.at("content-type"), "application/octet-stream");
  EXPECT_EQ(response->Header("X-Meshkv-Version"), nullptr);  // names are lowercased

  std::vector<Request> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  const Request& request = requests[0];
  EXPECT_EQ(request.method(), http::verb::put);
  EXPECT_EQ(request.target(), "/v1/kv/a/b%20c?ns=x");
  EXPECT_EQ(request[http::field::authorization], "Bearer s3cret-token");
  EXPECT_EQ(request[http::field::host], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(request[http::field::content_length], "9");
  EXPECT_EQ(request[http::field::content_type], "application/octet-stream");
  EXPECT_THAT(std::string(request[http::field::user_agent]), StartsWith("meshkv-cli/"));
  EXPECT_EQ(request.body(), "the value");
}

TEST(SendRequest, NoTokenNoAuthorizationAndEmptyPutHasContentLength) {
  FakeServer server([](const Request&) { return MakeResponse(200, "{}"); });
  Result<HttpResponse> response =
      SendRequest(OptionsFor(server.Addr()), HttpMethod::kPut, "/v1/kv/k", "");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  std::vector<Request> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].count(http::field::authorization), 0u);
  EXPECT_EQ(requests[0][http::field::content_length], "0");  // the server answers 411 without
}

TEST(SendRequest, ErrorStatusIsAResponseNotAFailure) {
  FakeServer server([](const Request&) {
    return MakeResponse(404, R"({"code":"not_found","message":"no key 'k'"})",
                        {{"Content-Type", "application/json"}});
  });
  Result<HttpResponse> response =
      SendRequest(OptionsFor(server.Addr()), HttpMethod::kGet, "/v1/kv/k");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 404);
  EXPECT_THAT(response->body, HasSubstr("not_found"));
}

TEST(SendRequest, HeadReadsNoBody) {
  FakeServer server([](const Request&) {
    Response response = MakeResponse(200, "");
    response.content_length(5);
    response.set("X-Meshkv-Namespace", "default");
    return response;
  });
  Result<HttpResponse> response =
      SendRequest(OptionsFor(server.Addr()), HttpMethod::kHead, "/v1/kv/k");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "");
  EXPECT_EQ(response->headers.at("x-meshkv-namespace"), "default");
}

TEST(SendRequest, ConnectionRefusedIsAClearError) {
  const std::string addr = "127.0.0.1:" + std::to_string(UnusedPort());
  Result<HttpResponse> response = SendRequest(OptionsFor(addr), HttpMethod::kGet, "/health");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(response.status().message(), StartsWith("cannot connect to http://" + addr + ": "));
  EXPECT_THAT(response.status().message(), HasSubstr("refused"));
  EXPECT_THAT(response.status().message(), HasSubstr("is the node running? check --addr"));
}

TEST(SendRequest, TimesOutWhenTheServerNeverAnswers) {
  FakeServer server([](const Request&) { return std::optional<Response>(); });
  ClientOptions options = OptionsFor(server.Addr());
  options.timeout = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  Result<HttpResponse> response = SendRequest(options, HttpMethod::kGet, "/v1/kv/k");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_THAT(response.status().message(), HasSubstr("no response from " + server.Addr()));
  EXPECT_THAT(response.status().message(), HasSubstr("300ms"));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST(SendRequest, NotHttpIsAnError) {
  asio::io_context io_context;
  tcp::acceptor acceptor(io_context, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  std::thread peer([&] {
    beast::error_code error;
    tcp::socket socket = acceptor.accept(error);
    if (error) return;
    char buffer[1024];
    socket.read_some(asio::buffer(buffer), error);
    asio::write(socket, asio::buffer(std::string_view("SSH-2.0-OpenSSH\r\n\r\n")), error);
    socket.shutdown(tcp::socket::shutdown_both, error);
  });
  Result<HttpResponse> response =
      SendRequest(OptionsFor("127.0.0.1:" + std::to_string(port)), HttpMethod::kGet, "/health");
  peer.join();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kInternal);
  EXPECT_THAT(response.status().message(), HasSubstr("invalid HTTP response"));
}

TEST(SendRequest, RefusesBadInputsBeforeConnecting) {
  ClientOptions https = OptionsFor("https://127.0.0.1:7070");
  Result<HttpResponse> response = SendRequest(https, HttpMethod::kGet, "/health");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(response.status().message(), HasSubstr("TLS"));

  ClientOptions crlf_token = OptionsFor("127.0.0.1:1");
  crlf_token.token = "abc\r\nX-Injected: 1";
  EXPECT_EQ(SendRequest(crlf_token, HttpMethod::kGet, "/health").status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(SendRequest(OptionsFor("127.0.0.1:1"), HttpMethod::kGet, "/v1/kv/a b").status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(SendRequest(OptionsFor("127.0.0.1:1"), HttpMethod::kGet, "/x", "", {{"Bad Name", "v"}})
                .status()
                .code(),
            ErrorCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// The verbs, end to end against FakeServer.

std::map<std::string, std::string> QueryOf(std::string_view target) {
  std::map<std::string, std::string> query;
  const size_t question = target.find('?');
  if (question == std::string_view::npos) return query;
  std::string_view rest = target.substr(question + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const size_t equals = pair.find('=');
    query[*PercentDecode(pair.substr(0, equals))] =
        equals == std::string_view::npos ? "" : *PercentDecode(pair.substr(equals + 1));
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  }
  return query;
}

std::string PathOf(std::string_view target) {
  return std::string(target.substr(0, target.find('?')));
}

using meshkv::testing::CliOutcome;

CliOutcome RunCli(std::vector<std::string> args, std::string_view stdin_bytes = {}) {
  return meshkv::testing::RunCliWith(
      [](CLI::App& app, ClientCommandResult& result, ClientStreams streams) {
        AddClientCommands(app, result, streams);
      },
      std::move(args), stdin_bytes);
}

TEST(ClientCommands, PutSendsStdinBytesAndOptions) {
  FakeServer server([](const Request&) { return MakeResponse(200, R"({"version":"v1"})"); });
  const std::string value("\0\x01binary\xff\n", 10);
  CliOutcome outcome = RunCli({"put", "dir/k x", "--ns", "n1", "--ttl", "90s", "--consistency",
                               "quorum", "--addr", server.Addr(), "--token", "t0k"},
                              value);
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(outcome.out, "");
  EXPECT_EQ(outcome.err, "");
  std::vector<Request> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method(), http::verb::put);
  EXPECT_EQ(requests[0].target(), "/v1/kv/dir/k%20x?ns=n1&ttl=1m30s&consistency=quorum");
  EXPECT_EQ(requests[0].body(), value);
  EXPECT_EQ(requests[0][http::field::authorization], "Bearer t0k");

  CliOutcome dash = RunCli({"put", "k", "-", "--addr", server.Addr(), "--json"}, "from stdin");
  EXPECT_EQ(dash.exit_code, kExitOk) << dash.err;
  EXPECT_EQ(dash.out, "{\"version\":\"v1\"}\n");
  CliOutcome literal = RunCli({"put", "k", "literal value", "--addr", server.Addr()});
  EXPECT_EQ(literal.exit_code, kExitOk) << literal.err;
  requests = server.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].body(), "from stdin");
  EXPECT_EQ(requests[2].body(), "literal value");
  EXPECT_EQ(requests[2].target(), "/v1/kv/k");
}

TEST(ClientCommands, GetWritesRawBytesAndMapsErrors) {
  const std::string value("raw\0\xfe", 5);
  FakeServer server([&](const Request& request) -> std::optional<Response> {
    const std::string path = PathOf(request.target());
    if (path == "/v1/kv/present") return MakeResponse(200, value);
    if (path == "/v1/kv/json") return MakeResponse(200, R"({"value":"cmF3"})");
    if (path == "/v1/kv/forbidden") {
      return MakeResponse(403, R"({"code":"forbidden","message":"token is limited to ns 'a'"})");
    }
    if (path == "/v1/kv/html") return MakeResponse(502, "<html>\nbad gateway</html>");
    if (request[http::field::authorization].empty()) {
      return MakeResponse(401, R"({"code":"unauthorized","message":"missing token"})");
    }
    return MakeResponse(404, R"({"code":"not_found","message":"key 'absent' not found"})");
  });
  const std::string addr = server.Addr();

  CliOutcome present = RunCli({"get", "present", "--addr", addr});
  EXPECT_EQ(present.exit_code, kExitOk) << present.err;
  EXPECT_EQ(present.out, value);  // no newline added

  CliOutcome json = RunCli({"get", "json", "--json", "--addr", addr});
  EXPECT_EQ(json.out, "{\"value\":\"cmF3\"}\n");
  EXPECT_EQ(server.Requests().back()[http::field::accept], "application/json");

  CliOutcome absent = RunCli({"get", "absent", "--addr", addr, "--token", "t"});
  EXPECT_EQ(absent.exit_code, kExitNotFound);
  EXPECT_EQ(absent.out, "");
  EXPECT_EQ(absent.err, "meshkv: 404 not_found: key 'absent' not found\n");

  CliOutcome deleted = RunCli({"del", "absent", "--addr", addr, "--token", "t"});
  EXPECT_EQ(deleted.exit_code, kExitNotFound);
  EXPECT_EQ(server.Requests().back().method(), http::verb::delete_);

  CliOutcome forbidden = RunCli({"get", "forbidden", "--addr", addr});
  EXPECT_EQ(forbidden.exit_code, kExitFailure);
  EXPECT_EQ(forbidden.err, "meshkv: 403 forbidden: token is limited to ns 'a'\n");

  CliOutcome unauthorized = RunCli({"get", "absent", "--addr", addr});
  EXPECT_EQ(unauthorized.exit_code, kExitFailure);
  EXPECT_THAT(unauthorized.err, StartsWith("meshkv: 401 unauthorized: missing token (pass"));

  CliOutcome html = RunCli({"get", "html", "--addr", addr});
  EXPECT_EQ(html.exit_code, kExitFailure);
  EXPECT_EQ(html.err, "meshkv: 502 Bad Gateway: <html> bad gateway</html>\n");
}

TEST(ClientCommands, LsFollowsCursorsAndStopsAtLimit) {
  // Keys k0..k4 plus one that is not UTF-8, paged by `limit` with the index
  // of the next key as cursor.
  const std::vector<nlohmann::json> keys = {{{"key", "k0"}, {"key_b64", "azA="}},
                                            {{"key", "k1"}, {"key_b64", "azE="}},
                                            {{"key_b64", "/w=="}},
                                            {{"key", "k3"}, {"key_b64", "azM="}},
                                            {{"key", "k\n4"}, {"key_b64", "awo0"}}};
  FakeServer server([&](const Request& request) {
    std::map<std::string, std::string> query = QueryOf(request.target());
    const size_t start = query.count("cursor") ? std::stoul(query["cursor"]) : 0;
    const size_t limit = std::stoul(query["limit"]);
    nlohmann::json page = {{"ns", "default"}, {"items", nlohmann::json::array()}};
    size_t i = start;
    for (; i < keys.size() && i < start + limit; ++i) page["items"].push_back(keys[i]);
    page["next_cursor"] = i < keys.size() ? nlohmann::json(std::to_string(i)) : nullptr;
    return MakeResponse(200, page.dump());
  });

  // Pages of 1000: all in one request.
  CliOutcome all = RunCli({"ls", "--addr", server.Addr(), "--prefix", "k"});
  EXPECT_EQ(all.exit_code, kExitOk) << all.err;
  EXPECT_EQ(all.out, "k0\nk1\nb64:/w==\nk3\nb64:awo0\n");
  std::vector<Request> requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(PathOf(requests[0].target()), "/v1/kv");
  EXPECT_EQ(QueryOf(requests[0].target()),
            (std::map<std::string, std::string>{
                {"prefix", "k"}, {"limit", "1000"}, {"keys_only", "true"}}));

  // --limit 3: one page of 3, and the cursor to go on from.
  CliOutcome limited = RunCli({"ls", "--addr", server.Addr(), "--limit", "3", "--json"});
  EXPECT_EQ(limited.exit_code, kExitOk) << limited.err;
  nlohmann::json listing = nlohmann::json::parse(limited.out);
  EXPECT_EQ(listing["items"].size(), 3u);
  EXPECT_EQ(listing["next_cursor"], "3");
  EXPECT_EQ(listing["ns"], "default");
  EXPECT_EQ(server.Requests().size(), 2u);

  CliOutcome rest = RunCli({"ls", "--addr", server.Addr(), "--cursor", "3", "--json"});
  listing = nlohmann::json::parse(rest.out);
  EXPECT_EQ(listing["items"].size(), 2u);
  EXPECT_TRUE(listing["next_cursor"].is_null());
}

TEST(ClientCommands, LsFollowsEveryPage) {
  // A server whose pages hold one key whatever the limit.
  FakeServer server([](const Request& request) {
    std::map<std::string, std::string> query = QueryOf(request.target());
    const int index = query.count("cursor") ? std::stoi(query["cursor"]) : 0;
    nlohmann::json page = {{"items", {{{"key", "key" + std::to_string(index)}}}}};
    page["next_cursor"] = index < 2 ? nlohmann::json(std::to_string(index + 1)) : nullptr;
    return MakeResponse(200, page.dump());
  });
  CliOutcome all = RunCli({"ls", "--addr", server.Addr()});
  EXPECT_EQ(all.exit_code, kExitOk) << all.err;
  EXPECT_EQ(all.out, "key0\nkey1\nkey2\n");
  EXPECT_EQ(server.Requests().size(), 3u);

  CliOutcome two = RunCli({"ls", "--addr", server.Addr(), "--limit", "2"});
  EXPECT_EQ(two.out, "key0\nkey1\n");
  std::vector<Request> requests = server.Requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_EQ(QueryOf(requests[3].target())["limit"], "2");
  EXPECT_EQ(QueryOf(requests[4].target())["limit"], "1");
}

TEST(ClientCommands, StatusPrettyPrints) {
  FakeServer server([](const Request&) { return MakeResponse(200, R"({"node_id":"ab","n":1})"); });
  CliOutcome status = RunCli({"status", "--addr", server.Addr()});
  EXPECT_EQ(status.exit_code, kExitOk) << status.err;
  EXPECT_EQ(status.out, "{\n  \"n\": 1,\n  \"node_id\": \"ab\"\n}\n");
  EXPECT_EQ(server.Requests().at(0).target(), "/v1/cluster/status");
}

TEST(ClientCommands, TokenFileFirstLineIsTrimmed) {
  FakeServer server([](const Request&) { return MakeResponse(200, "{}"); });
  const std::string path = ::testing::TempDir() + "/meshkv_cli_token";
  std::FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  std::fputs("tok-123\r\nsecond line\n", file);
  std::fclose(file);
  CliOutcome outcome = RunCli({"status", "--addr", server.Addr(), "--token-file", path});
  EXPECT_EQ(outcome.exit_code, kExitOk) << outcome.err;
  EXPECT_EQ(server.Requests().at(0)[http::field::authorization], "Bearer tok-123");

  CliOutcome both =
      RunCli({"status", "--addr", server.Addr(), "--token-file", path, "--token", "x"});
  EXPECT_EQ(both.exit_code, kExitUsage);
  std::remove(path.c_str());
}

TEST(ClientCommands, UsageErrorsExitTwoAndSendNothing) {
  FakeServer server([](const Request&) { return MakeResponse(200, "{}"); });
  const std::string addr = server.Addr();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"put", "k", "v", "--ttl", "30x", "--addr", addr},
        {"put", "k", "v", "--ttl", "soon", "--addr", addr},
        {"get", "k", "--timeout", "0s", "--addr", addr},
        {"get", "k", "--consistency", "most", "--addr", addr},
        {"get", "", "--addr", addr},
        {"get", "k", "--addr", "https://127.0.0.1:7443"},
        {"get", "k", "--addr", "nonsense"},
        {"ls", "--limit", "0", "--addr", addr},
        {"ls", "--limit", "-1", "--addr", addr},
        {"ls", "--limit", "ten", "--addr", addr},
        {"del", "--addr", addr},
        {"get", "k", "--token-file", "/nonexistent/token", "--addr", addr}}) {
    CliOutcome outcome = RunCli(args);
    EXPECT_EQ(outcome.exit_code, kExitUsage) << ::testing::PrintToString(args);
  }
  EXPECT_TRUE(server.Requests().empty());
}

TEST(ClientCommands, CannotConnectMessage) {
  const std::string addr = "http://127.0.0.1:" + std::to_string(UnusedPort());
  CliOutcome outcome = RunCli({"get", "k", "--addr", addr});
  EXPECT_EQ(outcome.exit_code, kExitFailure);
  EXPECT_THAT(outcome.err, StartsWith("meshkv: cannot connect to " + addr + ": "));
  EXPECT_THAT(outcome.err, HasSubstr("(is the node running? check --addr)\n"));
}

}  // namespace
}  // namespace meshkv
