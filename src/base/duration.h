// Human durations: "500ms", "30s", "5m", "2h", "1d", and sums like "1h30m".
// Used by config, HTTP (?ttl=) and the CLI, so every surface accepts the same
// spellings and rejects the same mistakes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace meshkv {

// Parses a duration into milliseconds. Fails with kInvalidArgument naming the
// problem ("missing unit", "unknown unit 'x'", "overflow") for anything else.
// A bare "0" is accepted as zero.
Result<int64_t> ParseDurationMillis(std::string_view text);

// The shortest exact spelling: 90000 -> "1m30s", 1500 -> "1s500ms", 0 -> "0s".
std::string FormatDurationMillis(int64_t millis);

}  // namespace meshkv
