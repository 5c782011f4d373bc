#include "frontend/http/request_target.h"

namespace meshkv::http {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return InvalidArgument("bad percent escape at byte " + std::to_string(i) +
                               ": '%' must be followed by two hex digits");
      }
      int hi = HexDigit(text[i + 1]);
      int lo = HexDigit(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return InvalidArgument("bad percent escape at byte " + std::to_string(i) +
                               ": '%' must be followed by two hex digits");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

Result<RequestTarget> ParseRequestTarget(std::string_view target) {
  RequestTarget out;
  size_t q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (out.path.empty() || out.path[0] != '/') {
    return InvalidArgument("request target must start with '/'");
  }
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    auto name = PercentDecode(part.substr(0, eq), true);
    if (!name.ok())
      return Status(name.status().code(), "query parameter name: " + name.status().message());
    if (name->empty()) return InvalidArgument("query has a parameter with an empty name");
    std::string value;
    if (eq != std::string_view::npos) {
      auto v = PercentDecode(part.substr(eq + 1), true);
      if (!v.ok()) {
        return Status(v.status().code(),
                      "query parameter '" + *name + "': " + v.status().message());
      }
      value = std::move(*v);
    }
    for (const auto& [existing, unused] : out.query) {
      if (existing == *name) {
        return InvalidArgument("query parameter '" + *name + "' is given more than once");
      }
    }
    out.query.emplace_back(std::move(*name), std::move(value));
  }
  return out;
}

}  // namespace meshkv::http
