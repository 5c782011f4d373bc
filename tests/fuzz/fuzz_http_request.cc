// Fuzzes the server's request path from raw connection bytes: a
// boost::beast::http::request_parser<string_body> with the server's default
// limits (Config::Http in src/server/config.h), the header checks of
// src/frontend/http/server.cc, then the parsers the API runs on the request
// (src/frontend/http/api.cc): ParseRequestTarget, PercentDecode of the key,
// the query values (ttl, consistency, cursor) and ParseBatchRequest. Pipelined
// requests on one keep-alive connection are parsed in turn, as the server does.
//
// The target is parsed for every route (the API skips unknown routes), so this
// covers a superset of what the server parses.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/duration.h"
#include "base/encoding.h"
#include "frontend/http/batch.h"
#include "frontend/http/request_target.h"
#include "fuzz_check.h"
#include "model/entry.h"
#include "model/namespace_spec.h"

namespace {

namespace bhttp = boost::beast::http;
using Parser = bhttp::request_parser<bhttp::string_body>;

// Defaults of http.max_header_bytes and http.max_body_bytes (Config::Http).
constexpr uint32_t kMaxHeaderBytes = 16 * 1024;
constexpr uint64_t kMaxBodyBytes = (1 << 20) + 64 * 1024;
// The API's limit on the request target (kMaxTargetBytes in api.cc).
constexpr size_t kMaxTargetBytes = 8192;
constexpr std::string_view kKvPrefix = "/v1/kv/";
// Bounds the work per input; the server has no such bound but reads slowly.
constexpr int kMaxPipelinedRequests = 64;

// Feeds the unread part of `input` to `parser` until `enough()` holds, the
// parser fails, or the bytes run out (then signals EOF, as a peer closing the
// connection does). Advances `offset` past the bytes consumed.
template <typename Enough>
boost::beast::error_code Feed(Parser& parser, std::string_view input, size_t& offset,
                              Enough enough) {
  boost::beast::error_code ec;
  while (!enough()) {
    const size_t used =
        parser.put(boost::asio::const_buffer(input.data() + offset, input.size() - offset), ec);
    offset += used;
    if (ec == bhttp::error::need_more) {
      if (parser.got_some()) {
        parser.put_eof(ec);
      } else {
        ec = bhttp::error::end_of_stream;
      }
      return ec;
    }
    if (ec) return ec;
    if (used == 0) return bhttp::error::partial_message;
  }
  return ec;
}

// What Api::Handle parses, without authentication or storage.
void ParseLikeApi(const bhttp::request<bhttp::string_body>& request) {
  const std::string_view target = request.target();
  if (target.size() > kMaxTargetBytes) return;  // 414 before anything is parsed
  const std::string_view path = target.substr(0, target.find('?'));
  auto parsed = meshkv::http::ParseRequestTarget(target);
  if (!parsed.ok()) return;
  FUZZ_CHECK(parsed->path == path);
  for (const auto& [name, value] : parsed->query) {
    if (name == "ttl") {
      auto ttl = meshkv::ParseDurationMillis(value);
      if (ttl.ok()) FUZZ_CHECK(*ttl >= 0);
    } else if (name == "consistency") {
      (void)meshkv::ParseConsistency(value);
    } else if (name == "cursor") {
      (void)meshkv::Base64UrlDecode(value);
    }
  }
  if (path == "/v1/kv/batch" && request.method() == bhttp::verb::post) {
    (void)meshkv::http::ParseBatchRequest(request.body());
  } else if (path.starts_with(kKvPrefix)) {
    auto key = meshkv::http::PercentDecode(path.substr(kKvPrefix.size()));
    if (key.ok()) meshkv::ValidateKey(*key).IgnoreError();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t offset = 0;
  for (int i = 0; i < kMaxPipelinedRequests && offset < input.size(); ++i) {
    Parser parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBodyBytes);
    if (Feed(parser, input, offset, [&] { return parser.is_header_done(); })) return 0;

    // server.cc: header checks answered before the body is read; the
    // connection is closed after them.
    const auto& head = parser.get();
    const bool has_body_method =
        head.method() == bhttp::verb::put || head.method() == bhttp::verb::post;
    if (has_body_method && !parser.content_length() && !parser.chunked()) return 0;
    if (parser.content_length() && *parser.content_length() > kMaxBodyBytes) return 0;

    if (Feed(parser, input, offset, [&] { return parser.is_done(); })) return 0;
    FUZZ_CHECK(parser.get().body().size() <= kMaxBodyBytes);
    ParseLikeApi(parser.get());
    if (!parser.get().keep_alive()) return 0;
  }
  return 0;
}
