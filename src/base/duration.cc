#include "base/duration.h"

#include <limits>

namespace meshkv {
namespace {

struct Unit {
  std::string_view name;
  int64_t millis;
};
// Longest names first so "ms" is not read as "m".
constexpr Unit kUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};

}  // namespace

Result<int64_t> ParseDurationMillis(std::string_view text) {
  const std::string quoted = "'" + std::string(text.substr(0, 64)) + "'";
  if (text.empty()) return InvalidArgument("empty duration; use e.g. 30s, 5m, 1h");
  if (text == "0") return int64_t{0};
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') {
      return InvalidArgument("duration " + quoted + " must be a number followed by a unit " +
                             "(ms, s, m, h, d), e.g. 30s");
    }
    int64_t number = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (number > (std::numeric_limits<int64_t>::max() - 9) / 10) {
        return InvalidArgument("duration " + quoted + " is too large");
      }
      number = number * 10 + (text[i] - '0');
      ++i;
    }
    size_t unit_end = i;
    while (unit_end < text.size() && (text[unit_end] < '0' || text[unit_end] > '9')) ++unit_end;
    std::string_view unit_name = text.substr(i, unit_end - i);
    if (unit_name.empty()) {
      return InvalidArgument("duration " + quoted + " is missing a unit (ms, s, m, h, d)");
    }
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (u.name == unit_name) unit = &u;
    }
    if (unit == nullptr) {
      return InvalidArgument("duration " + quoted + " has unknown unit '" +
                             std::string(unit_name.substr(0, 16)) + "'; use ms, s, m, h or d");
    }
    if (number > (std::numeric_limits<int64_t>::max() - total) / unit->millis) {
      return InvalidArgument("duration " + quoted + " is too large");
    }
    total += number * unit->millis;
    i = unit_end;
  }
  return total;
}

std::string FormatDurationMillis(int64_t millis) {
  if (millis == 0) return "0s";
  std::string out;
  if (millis < 0) {
    out = "-";
    millis = -millis;
  }
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it) {
    if (millis >= it->millis) {
      out += std::to_string(millis / it->millis);
      out += it->name;
      millis %= it->millis;
    }
  }
  return out;
}

}  // namespace meshkv
