// hello_server: the HTTP ceiling for this machine, for bench/http_bench.sh.
//
// Same architecture as meshkv's HttpServer (src/frontend/http/server.cc): one
// io_context per thread, each with its own SO_REUSEPORT acceptor on the same
// port; one C++20 coroutine per connection on a beast::tcp_stream; errors as
// values via as_tuple; request_parser<string_body> reading header then body;
// keep-alive. It does no work per request: every request, whatever its
// method and target, gets 200 with a fixed 100-byte body. meshkv's GET cannot
// be faster than this, so GET throughput / hello throughput says how much of
// the HTTP budget meshkv's own work (routing, auth, storage, metrics) uses.
//
// usage: hello_server PORT [THREADS]   (listens on 127.0.0.1; THREADS
// defaults to one per core). Stops on SIGINT / SIGTERM.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// Same limits and timeouts as meshkv's ServerOptions defaults.
constexpr uint32_t kMaxHeaderBytes = 16 * 1024;
constexpr uint64_t kMaxBodyBytes = (1 << 20) + 64 * 1024;
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kRequestTimeout = std::chrono::seconds(30);
const std::string kBody(100, 'x');

asio::awaitable<void> Serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBodyBytes);
    stream.expires_after(buffer.size() == 0 ? kIdleTimeout : kRequestTimeout);
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kUseTuple);
    if (ec) break;
    if (!parser.is_done()) {
      stream.expires_after(kRequestTimeout);
      auto [body_ec, body_n] = co_await bhttp::async_read(stream, buffer, parser, kUseTuple);
      if (body_ec) break;
    }
    const bhttp::request<bhttp::string_body> request = parser.release();
    bhttp::response<bhttp::string_body> response{bhttp::status::ok, request.version()};
    response.set(bhttp::field::server, "hello");
    response.set(bhttp::field::content_type, "application/octet-stream");
    response.body() = kBody;
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    stream.expires_after(kRequestTimeout);
    auto [write_ec, write_n] = co_await bhttp::async_write(stream, response, kUseTuple);
    if (write_ec || !response.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.socket().close(ignored);
}

asio::awaitable<void> Accept(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kUseTuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) continue;
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    asio::co_spawn(acceptor.get_executor(), Serve(std::move(socket)), asio::detached);
  }
}

struct Worker {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  int threads = argc == 3 ? std::atoi(argv[2]) : 0;
  if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "hello_server: bad port '%s'\n", argv[1]);
    return 2;
  }
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port));

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>();
    beast::error_code ec;
    worker->acceptor.open(endpoint.protocol(), ec);
    if (!ec) worker->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) worker->acceptor.set_option(ReusePort(true), ec);
    if (!ec) worker->acceptor.bind(endpoint, ec);
    if (!ec) worker->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      std::fprintf(stderr, "hello_server: cannot listen on 127.0.0.1:%d: %s\n", port,
                   ec.message().c_str());
      return 1;
    }
    asio::co_spawn(worker->io, Accept(worker->acceptor), asio::detached);
    workers.push_back(std::move(worker));
  }

  asio::signal_set signals(workers.front()->io, SIGINT, SIGTERM);
  signals.async_wait([&workers](const beast::error_code&, int) {
    for (auto& worker : workers) worker->io.stop();
  });

  std::vector<std::thread> io_threads;
  for (auto& worker : workers) {
    io_threads.emplace_back([w = worker.get()] {
      auto guard = asio::make_work_guard(w->io);
      w->io.run();
    });
  }
  std::fprintf(stderr, "hello_server: listening on 127.0.0.1:%d with %d threads\n", port, threads);
  for (auto& thread : io_threads) thread.join();
  return 0;
}
