// Fuzzes ParseRequestTarget and PercentDecode (src/frontend/http/request_target.h)
// with arbitrary request targets, as they arrive in an HTTP request line.
//
// Properties checked beyond "does not crash":
// - a parsed target keeps the raw path and has unique, non-empty names;
// - re-encoding a parsed query and parsing it again gives the same query;
// - PercentDecode accepts exactly the same inputs with and without '+' as space;
// - PercentDecode(encode(x)) == x for every byte string x.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "frontend/http/request_target.h"
#include "fuzz_check.h"

namespace {

// Escapes every byte outside RFC 3986 "unreserved".
std::string PercentEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void CheckTarget(std::string_view input) {
  auto target = meshkv::http::ParseRequestTarget(input);
  if (!target.ok()) {
    FUZZ_CHECK(!target.status().message().empty());
    return;
  }
  FUZZ_CHECK(target->path == input.substr(0, input.find('?')));
  FUZZ_CHECK(!target->path.empty() && target->path[0] == '/');
  std::set<std::string> names;
  for (const auto& [name, value] : target->query) {
    FUZZ_CHECK(!name.empty());
    FUZZ_CHECK(names.insert(name).second);
  }

  std::string rebuilt = target->path;
  char separator = '?';
  for (const auto& [name, value] : target->query) {
    rebuilt += separator;
    rebuilt += PercentEncode(name);
    rebuilt += '=';
    rebuilt += PercentEncode(value);
    separator = '&';
  }
  auto reparsed = meshkv::http::ParseRequestTarget(rebuilt);
  FUZZ_CHECK(reparsed.ok());
  FUZZ_CHECK(reparsed->path == target->path);
  FUZZ_CHECK(reparsed->query == target->query);
}

void CheckPercentDecode(std::string_view input) {
  auto plain = meshkv::http::PercentDecode(input, /*plus_is_space=*/false);
  auto form = meshkv::http::PercentDecode(input, /*plus_is_space=*/true);
  FUZZ_CHECK(plain.ok() == form.ok());
  if (plain.ok()) {
    FUZZ_CHECK(plain->size() <= input.size());
    FUZZ_CHECK(form->size() == plain->size());
    if (input.find('+') == std::string_view::npos) FUZZ_CHECK(*form == *plain);
  }
  auto round_trip = meshkv::http::PercentDecode(PercentEncode(input));
  FUZZ_CHECK(round_trip.ok());
  FUZZ_CHECK(*round_trip == input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckTarget(input);
  CheckPercentDecode(input);
  return 0;
}
