// AwaitCompletion: the three ways a callback can come back (api_internal.h).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include "frontend/http/api_internal.h"

namespace meshkv::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Runs `make()` as a coroutine on a one-thread io_context; returns its value.
template <typename Make>
std::optional<int> RunCoroutine(asio::io_context& io, Make make) {
  std::optional<int> out;
  asio::co_spawn(io, make(), [&](std::exception_ptr e, int value) {
    if (!e) out = value;
  });
  std::thread runner([&] { io.run_for(5s); });
  runner.join();
  return out;
}

TEST(AwaitCompletionTest, CallbackInsideStart) {
  asio::io_context io{1};
  auto value = RunCoroutine(io, [&]() -> asio::awaitable<int> {
    co_return co_await AwaitCompletion<int>([](std::function<void(int)> done) { done(1); });
  });
  EXPECT_EQ(value, 1);
}

// As a peer reply on the connection's own io thread: later, from another
// handler of the same io_context. Before the fix this never woke up.
TEST(AwaitCompletionTest, CallbackLaterOnTheSameThread) {
  asio::io_context io{1};
  auto value = RunCoroutine(io, [&]() -> asio::awaitable<int> {
    co_return co_await AwaitCompletion<int>(
        [&io](std::function<void(int)> done) { asio::post(io, [done] { done(2); }); });
  });
  EXPECT_EQ(value, 2);
}

TEST(AwaitCompletionTest, CallbackOnAnotherThread) {
  asio::io_context io{1};
  std::thread other;
  auto value = RunCoroutine(io, [&]() -> asio::awaitable<int> {
    co_return co_await AwaitCompletion<int>([&other](std::function<void(int)> done) {
      other = std::thread([done] {
        std::this_thread::sleep_for(10ms);
        done(3);
      });
    });
  });
  other.join();
  EXPECT_EQ(value, 3);
}

}  // namespace
}  // namespace meshkv::http
