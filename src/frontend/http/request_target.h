// Parsing of HTTP request targets (RFC 9112 section 3.2, origin-form):
// percent-decoding of the path and of query parameters. Pure functions with no
// server dependencies, so they are unit-tested and fuzzed on their own.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace meshkv::http {

struct RequestTarget {
  std::string path;                                        // still percent-encoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
};

// Splits "path?query" and decodes the query ('+' is a space in values and
// names). Fails on a bad escape, an empty parameter name or a duplicate name.
Result<RequestTarget> ParseRequestTarget(std::string_view target);

// Decodes %XX escapes. '+' is kept as '+' (paths are not form-encoded).
// Fails on '%' not followed by two hex digits.
Result<std::string> PercentDecode(std::string_view text, bool plus_is_space = false);

}  // namespace meshkv::http
