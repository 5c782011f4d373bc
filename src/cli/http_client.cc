#include "cli/http_client.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <exception>
#include <optional>

#include "base/duration.h"

#ifndef MESHKV_VERSION
#define MESHKV_VERSION "dev"
#endif

namespace meshkv {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

char AsciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (AsciiLower(text[i]) != prefix[i]) return false;
  }
  return true;
}

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}
bool IsAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsHexDigit(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3986 section 2.3.
bool IsUnreserved(char c) {
  return IsAlpha(c) || IsDigit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// RFC 9110 section 5.6.2 tchar.
bool IsTokenChar(char c) {
  return IsAlpha(c) || IsDigit(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string PercentEncode(std::string_view bytes, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  return out;
}

Status ValidateTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return InvalidArgument("request target must start with '/'");
  }
  for (char c : target) {
    if (c <= 0x20 || c >= 0x7f) {
      return InvalidArgument("request target has a byte that is not percent-encoded");
    }
  }
  return Status::Ok();
}

Status ValidateHeader(std::string_view name, std::string_view value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) {
    return InvalidArgument("header name '" + std::string(name.substr(0, 64)) +
                           "' is not an HTTP token");
  }
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return InvalidArgument("header " + std::string(name) +
                             " has a CR, LF or NUL byte in its value (a token file with "
                             "Windows line endings?)");
    }
  }
  return Status::Ok();
}

http::verb ToBeastVerb(HttpMethod method) {
  switch (method) {
    case HttpMethod::kGet:
      return http::verb::get;
    case HttpMethod::kHead:
      return http::verb::head;
    case HttpMethod::kPut:
      return http::verb::put;
    case HttpMethod::kPost:
      return http::verb::post;
    case HttpMethod::kDelete:
      return http::verb::delete_;
  }
  return http::verb::get;
}

std::string FormatMillis(std::chrono::milliseconds ms) {
  return FormatDurationMillis(ms.count());
}

// Everything one exchange needs, owned by SendRequest's frame so it outlives
// every handler that io_context.run() executes.
struct Exchange {
  Exchange(const ClientOptions& options, const ClientEndpoint& endpoint,
           http::request<http::string_body>& request, bool is_head)
      : options(options), endpoint(endpoint), request(request), is_head(is_head) {}

  const ClientOptions& options;
  const ClientEndpoint& endpoint;
  http::request<http::string_body>& request;
  bool is_head;

  asio::io_context io_context;
  tcp::resolver resolver{io_context};
  asio::steady_timer resolve_timer{io_context};
  bool resolve_timed_out = false;  // set by resolve_timer's handler
  beast::tcp_stream stream{io_context};
  std::optional<Result<HttpResponse>> outcome;
};

Status CannotConnect(const Exchange& exchange, const std::string& reason) {
  return Unavailable("cannot connect to " + exchange.endpoint.Url() + ": " + reason +
                     " (is the node running? check --addr)");
}

Status ReadOrWriteFailure(const Exchange& exchange, const beast::error_code& error,
                          std::string_view while_doing) {
  const std::string url = exchange.endpoint.Url();
  if (error == beast::error::timeout) {
    return DeadlineExceeded("no response from " + url + " within " +
                            FormatMillis(exchange.options.timeout) +
                            "; the request may or may not have been applied (raise --timeout?)");
  }
  if (error == http::error::body_limit) {
    return ResourceExhausted("response from " + url + " is larger than " +
                             std::to_string(exchange.options.max_response_body_bytes) + " bytes");
  }
  if (error == http::error::end_of_stream || error == asio::error::eof ||
      error == asio::error::connection_reset || error == asio::error::broken_pipe) {
    return Unavailable("connection to " + url + " closed " + std::string(while_doing) + ": " +
                       error.message() + "; the request may or may not have been applied");
  }
  if (error.category() == http::make_error_code(http::error::bad_version).category()) {
    return Internal("invalid HTTP response from " + url + ": " + error.message() +
                    " (is --addr a meshkv node?)");
  }
  return Unavailable("connection to " + url + " failed " + std::string(while_doing) + ": " +
                     error.message());
}

asio::awaitable<Result<HttpResponse>> RunExchange(Exchange& exchange) {
  const SteadyClock::time_point start = SteadyClock::now();
  const SteadyClock::time_point deadline = start + exchange.options.timeout;
  const SteadyClock::time_point connect_deadline =
      std::min(deadline, start + exchange.options.connect_timeout);
  const std::string connect_limit =
      FormatMillis(std::min(exchange.options.timeout, exchange.options.connect_timeout));

  // The resolver has no deadline of its own: a timer cancels it.
  exchange.resolve_timer.expires_at(connect_deadline);
  exchange.resolve_timer.async_wait([&exchange](beast::error_code error) {
    if (error) return;  // cancelled: the resolve finished first
    exchange.resolve_timed_out = true;
    exchange.resolver.cancel();
  });
  auto [resolve_error, endpoints] = co_await exchange.resolver.async_resolve(
      exchange.endpoint.host, std::to_string(exchange.endpoint.port), kNoThrow);
  exchange.resolve_timer.cancel();
  if (exchange.resolve_timed_out) {
    co_return CannotConnect(
        exchange, "resolving '" + exchange.endpoint.host + "' took longer than " + connect_limit);
  }
  if (resolve_error) {
    co_return CannotConnect(
        exchange, "cannot resolve '" + exchange.endpoint.host + "': " + resolve_error.message());
  }

  exchange.stream.expires_at(connect_deadline);
  auto [connect_error, connected] = co_await exchange.stream.async_connect(endpoints, kNoThrow);
  if (connect_error == beast::error::timeout) {
    co_return CannotConnect(exchange, "no connection within " + connect_limit);
  }
  if (connect_error) co_return CannotConnect(exchange, connect_error.message());

  exchange.stream.expires_at(deadline);
  auto [write_error, written] =
      co_await http::async_write(exchange.stream, exchange.request, kNoThrow);
  if (write_error) {
    co_return ReadOrWriteFailure(exchange, write_error, "while sending the request");
  }

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(exchange.options.max_response_body_bytes);
  if (exchange.is_head) parser.skip(true);
  auto [read_error, read] = co_await http::async_read(exchange.stream, buffer, parser, kNoThrow);
  if (read_error) {
    co_return ReadOrWriteFailure(exchange, read_error, "before a full response arrived");
  }
  beast::error_code ignored;
  exchange.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  exchange.stream.close();

  http::response<http::string_body> message = parser.release();
  HttpResponse response;
  response.status = static_cast<int>(message.result_int());
  response.reason = std::string(message.reason());
  for (const auto& field : message) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), AsciiLower);
    auto [it, inserted] = response.headers.emplace(name, std::string(field.value()));
    if (!inserted) {
      it->second += ", ";
      it->second += field.value();
    }
  }
  response.body = std::move(message.body());
  co_return response;
}

}  // namespace

std::string ClientEndpoint::HostPort() const {
  const bool is_ipv6 = host.find(':') != std::string::npos;
  return (is_ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string ClientEndpoint::Url() const {
  return "http://" + HostPort();
}

Result<ClientEndpoint> ParseClientAddr(std::string_view addr) {
  const std::string quoted = "'" + std::string(addr.substr(0, 200)) + "'";
  auto bad = [&quoted](std::string_view why) {
    return InvalidArgument("address " + quoted + " " + std::string(why) +
                           "; use http://host:port or host:port");
  };
  std::string_view rest = addr;
  if (StartsWithNoCase(rest, "https://")) {
    return InvalidArgument("address " + quoted +
                           ": TLS on the client API is not supported yet; use http://host:port");
  }
  if (StartsWithNoCase(rest, "http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return bad("has an unsupported scheme");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty()) return bad("has no host");
  if (rest.find('/') != std::string_view::npos) return bad("must not have a path");
  if (rest.find('@') != std::string_view::npos) return bad("must not have user info");

  std::string_view host;
  std::string_view port_text;
  if (rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed '['");
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (after.empty() || after.front() != ':') return bad("is missing a port");
    port_text = after.substr(1);
    const bool ipv6_chars = std::all_of(
        host.begin(), host.end(), [](char c) { return IsHexDigit(c) || c == ':' || c == '.'; });
    if (host.find(':') == std::string_view::npos || !ipv6_chars) {
      return bad("has a bad IPv6 address in brackets");
    }
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad("is missing a port");
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return bad("has an IPv6 host without brackets (write e.g. [::1]:7070)");
    }
    if (host.empty()) return bad("has no host");
    const bool host_chars = std::all_of(host.begin(), host.end(), [](char c) {
      return IsAlpha(c) || IsDigit(c) || c == '-' || c == '.' || c == '_';
    });
    if (!host_chars) return bad("has a bad host name");
  }
  if (port_text.empty()) return bad("is missing a port");
  if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), IsDigit)) {
    return bad("has a bad port");
  }
  int port = 0;
  for (char c : port_text) port = port * 10 + (c - '0');
  if (port < 1 || port > 65535) return bad("has a port outside 1..65535");
  return ClientEndpoint{std::string(host), static_cast<uint16_t>(port)};
}

const std::string* HttpResponse::Header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? nullptr : &it->second;
}

Result<HttpResponse> SendRequest(const ClientOptions& options, HttpMethod method,
                                 std::string_view target, std::string_view body,
                                 const HttpHeaderList& extra_headers) {
  Result<ClientEndpoint> endpoint = ParseClientAddr(options.addr);
  if (!endpoint.ok()) return endpoint.status();
  MESHKV_RETURN_IF_ERROR(ValidateTarget(target));
  if (!options.token.empty()) {
    MESHKV_RETURN_IF_ERROR(ValidateHeader("Authorization", options.token));
  }
  for (const auto& [name, value] : extra_headers) {
    MESHKV_RETURN_IF_ERROR(ValidateHeader(name, value));
  }
  if (options.timeout.count() <= 0 || options.connect_timeout.count() <= 0) {
    return InvalidArgument("timeouts must be positive");
  }

  try {
    http::request<http::string_body> request{ToBeastVerb(method), target, 11};
    request.set(http::field::host, endpoint->HostPort());
    request.set(http::field::user_agent, "meshkv-cli/" MESHKV_VERSION);
    if (!options.token.empty()) {
      request.set(http::field::authorization, "Bearer " + options.token);
    }
    request.keep_alive(false);
    for (const auto& [name, value] : extra_headers) request.insert(name, value);
    request.body() = std::string(body);
    request.prepare_payload();

    Exchange exchange{options, *endpoint, request, method == HttpMethod::kHead};
    asio::co_spawn(
        exchange.io_context,
        [&exchange]() -> asio::awaitable<void> {
          exchange.outcome = co_await RunExchange(exchange);
        },
        [&exchange](std::exception_ptr failure) {
          if (!failure) return;
          try {
            std::rethrow_exception(failure);
          } catch (const std::exception& e) {
            exchange.outcome = Internal("request to " + exchange.endpoint.Url() +
                                        " failed unexpectedly: " + e.what());
          } catch (...) {
            exchange.outcome =
                Internal("request to " + exchange.endpoint.Url() + " failed unexpectedly");
          }
        });
    exchange.io_context.run();
    if (!exchange.outcome.has_value()) {
      return Internal("request to " + exchange.endpoint.Url() + " did not complete");
    }
    return std::move(*exchange.outcome);
  } catch (const std::exception& e) {
    return Internal("request to " + endpoint->Url() + " failed unexpectedly: " + e.what());
  }
}

std::string PercentEncodePathKey(std::string_view key) {
  return PercentEncode(key, true);
}

std::string PercentEncodeQueryComponent(std::string_view text) {
  return PercentEncode(text, false);
}

std::string BuildTarget(std::string_view path, const QueryParams& params) {
  std::string target(path);
  char separator = '?';
  for (const auto& [name, value] : params) {
    if (value.empty()) continue;
    target += separator;
    target += PercentEncodeQueryComponent(name);
    target += '=';
    target += PercentEncodeQueryComponent(value);
    separator = '&';
  }
  return target;
}

}  // namespace meshkv
