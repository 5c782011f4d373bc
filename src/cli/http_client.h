// The CLI's HTTP/1.1 client for the meshkv client API (docs/api.md).
//
// One SendRequest call is one request on a fresh plain-TCP connection, run to
// completion on the calling thread: resolve, connect, write, read, close. It is
// synchronous, starts no threads of its own (Asio's resolver may use a private
// one for the duration of the call) and keeps no state between calls, so it may
// be called from any thread. Failures come back as Status values; no exception
// escapes.
//
// Transport errors map onto the canonical codes (base/status.h):
//   kInvalidArgument    bad --addr (https included), bad target or header bytes.
//   kUnavailable        could not resolve or connect (nothing was sent: safe to
//                       retry), or the connection broke mid-request.
//   kDeadlineExceeded   connected, but no full response within the timeout; the
//                       request may or may not have been applied.
//   kResourceExhausted  the response body is above max_response_body_bytes.
//   kInternal           the peer did not speak HTTP/1.1 (is --addr a meshkv node?).
// Every message names the address, so it can be shown to a user as is. An
// HTTP error status (4xx, 5xx) is not a transport error: it comes back as an
// HttpResponse for the caller to interpret.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace meshkv {

inline constexpr std::string_view kDefaultClientAddr = "http://127.0.0.1:7070";

struct ClientOptions {
  // The node: "http://host:port" or "host:port" (host may be a name, an IPv4
  // address or a bracketed IPv6 address). https is refused: TLS on the client
  // API is not supported yet.
  std::string addr = std::string(kDefaultClientAddr);
  // Sent as "Authorization: Bearer <token>"; empty sends no Authorization.
  std::string token;
  // Whole request, from resolve to the last response byte. Default 10 s.
  // A name lookup that hangs fails at the deadline, but the call returns only
  // once the system resolver gives up (Asio cannot abort getaddrinfo).
  std::chrono::milliseconds timeout{10'000};
  // Resolve + TCP connect; the effective limit is min(connect_timeout, timeout).
  // Default 5 s.
  std::chrono::milliseconds connect_timeout{5'000};
  // Larger response bodies fail with kResourceExhausted. Default 256 MiB.
  uint64_t max_response_body_bytes = uint64_t{256} << 20;
};

// Where to connect, as parsed from ClientOptions::addr.
struct ClientEndpoint {
  std::string host;  // without brackets for IPv6
  uint16_t port = 0;

  // "host:port", with brackets around an IPv6 host (the Host header value).
  std::string HostPort() const;
  // "http://host:port", for messages.
  std::string Url() const;
};

// Accepts "http://host:port", "host:port" and either with one trailing '/'.
// Fails with kInvalidArgument for https ("TLS on the client API is not
// supported yet"), other schemes, a missing or out-of-range port, a path,
// user info, or anything else; the message quotes the input.
Result<ClientEndpoint> ParseClientAddr(std::string_view addr);

enum class HttpMethod { kGet, kHead, kPut, kPost, kDelete };

// Header names are lowercased; repeated headers are joined with ", ".
using HttpHeaderMap = std::map<std::string, std::string>;
// Extra request headers, sent in order after the ones SendRequest sets.
using HttpHeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;      // e.g. 200, 404
  std::string reason;  // the reason phrase as sent, e.g. "Not Found"
  HttpHeaderMap headers;
  std::string body;  // empty for HEAD

  // The header's value, or nullptr. REQUIRES: `lowercase_name` is lowercase.
  const std::string* Header(const std::string& lowercase_name) const;
};

// Sends one request and reads the whole response. `target` is the
// origin-form request target ("/v1/kv/a%2Fb?ns=x"), already percent-encoded
// (see PercentEncodePathKey and BuildTarget). Sets Host, User-Agent,
// Connection: close, Content-Length for PUT/POST (also when `body` is empty),
// and Authorization when options.token is not empty. Headers with CR, LF or NUL
// in a name or value are refused with kInvalidArgument.
Result<HttpResponse> SendRequest(const ClientOptions& options, HttpMethod method,
                                 std::string_view target, std::string_view body = {},
                                 const HttpHeaderList& extra_headers = {});

// Percent-encodes a key for the path of /v1/kv/{key}: every byte except the
// RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~) and '/' becomes %XX
// (uppercase hex), so any byte string round-trips through the server's
// percent-decoding.
std::string PercentEncodePathKey(std::string_view key);

// Percent-encodes a query name or value: like PercentEncodePathKey, but '/'
// is escaped too.
std::string PercentEncodeQueryComponent(std::string_view text);

// Query parameters in the order they are sent; empty values are left out.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

// `path` + "?name=value&..." with both sides encoded by
// PercentEncodeQueryComponent; just `path` when no parameter has a value.
// `path` is used as given (already encoded).
std::string BuildTarget(std::string_view path, const QueryParams& params);

}  // namespace meshkv
