// Helpers shared by the route files of the HTTP API (api.cc,
// cluster_routes.cc). Not part of the module's interface.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "frontend/http/api.h"

namespace meshkv::http {

// The authenticated caller of a request.
struct Api::Auth {
  std::shared_ptr<const TokenSet> tokens;  // keeps `token` alive across a reload
  const TokenSpec* token = nullptr;        // nullptr when insecure
  Status Check(Scope scope, std::string_view ns, std::string_view key) const {
    return token == nullptr ? Status::Ok() : Authorize(*token, scope, ns, key);
  }
};

// A JSON body (one line, invalid UTF-8 replaced) with the given status.
Response JsonResponse(unsigned version, bhttp::status status, const nlohmann::json& body);
// The error response for a Status from below (HttpStatusFor + ErrorResponse).
Response StatusResponse(unsigned version, const Status& status);

// Runs `start(callback)` and awaits the callback's value, resuming on the
// calling coroutine's executor. The callback may run:
//   - inside `start`, on this thread (sync = "none" local writes): the value
//     is simply kept;
//   - later on this thread, from another handler of the same io_context
//     (peer replies arrive on the connection's own io thread, the rpc lanes
//     of server/cluster.h): the value is kept and the waiting timer woken;
//   - on another thread (the commit thread, another lane): the value is
//     posted to this connection's executor, where it wakes the timer.
// Coroutine state never crosses threads. The connection's executor is its
// worker's io_context, run by one thread only.
template <typename T, typename Start>
boost::asio::awaitable<T> AwaitCompletion(Start start) {
  struct Wait {
    explicit Wait(boost::asio::any_io_executor executor) : wake(std::move(executor)) {}
    boost::asio::steady_timer wake;
    std::optional<T> result;  // touched only on the connection's executor thread
    std::thread::id owner = std::this_thread::get_id();
    bool waiting = false;  // past `start`, awaiting the timer; owner thread only
  };
  auto wait = std::make_shared<Wait>(co_await boost::asio::this_coro::executor);
  start([wait](T value) {
    if (std::this_thread::get_id() == wait->owner) {
      wait->result.emplace(std::move(value));
      if (wait->waiting) wait->wake.cancel();
      return;
    }
    boost::asio::post(wait->wake.get_executor(), [wait, value = std::move(value)]() mutable {
      wait->result.emplace(std::move(value));
      wait->wake.cancel();
    });
  });
  if (!wait->result) {
    wait->wake.expires_at(boost::asio::steady_timer::time_point::max());
    wait->waiting = true;
  }
  while (!wait->result) {
    co_await wait->wake.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  co_return std::move(*wait->result);
}

}  // namespace meshkv::http
