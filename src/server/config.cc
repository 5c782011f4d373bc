#include "server/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <set>
#include <string_view>
#include <variant>

#include "base/duration.h"
#include "base/encoding.h"
#include "base/node_id.h"

extern char** environ;

namespace meshkv {
namespace {

// ---------------------------------------------------------------------------
// Scalar settings: the keys that file, environment and flags can all set.

enum class Kind { kString, kInteger, kDuration, kBoolean, kStringList };
using ScalarValue = std::variant<std::string, int64_t, bool, std::vector<std::string>>;

struct Setting {
  std::string_view key;  // dotted, e.g. "http.max_body_bytes"
  Kind kind;
  bool flag_only;  // dev_insecure: never from file or environment
  // Checks the value and stores it; the message says what is wrong with the
  // value, without saying where it came from.
  std::function<Status(Config&, const ScalarValue&)> apply;
};

constexpr std::string_view kEnvPrefix = "MESHKV_";
// Client-side variables of the `meshkv` command, not node settings.
// Also the knobs of our own scripts and tests (scripts/run.sh, the test
// harness, scripts/setup.sh), which end up in the node's environment.
constexpr std::string_view kClientEnvironment[] = {"MESHKV_TOKEN",   "MESHKV_ADDR",
                                                   "MESHKV_BIN",     "MESHKV_LISTEN",
                                                   "MESHKV_RUN_DIR", "MESHKV_SETUP_BENCH"};
constexpr size_t kMaxProblemsShown = 20;
constexpr size_t kMaxConfigFileBytes = 16 << 20;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kGiB = 1024 * kMiB;
constexpr int64_t kTiB = 1024 * kGiB;

std::string Quote(std::string_view text) {
  return QuoteForMessage(text, '"');
}

// A TOML basic string holding `text`.
std::string TomlString(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + '"';
}

std::string ReplicasToml(int replicas) {
  return replicas == NamespaceSpec::kReplicasAll ? "\"all\"" : std::to_string(replicas);
}

std::string_view StorageKindName(StorageKind kind) {
  return kind == StorageKind::kDisk ? "disk" : "memory";
}

const std::string& StringOf(const ScalarValue& v) {
  return std::get<std::string>(v);
}
const std::vector<std::string>& ListOf(const ScalarValue& v) {
  return std::get<std::vector<std::string>>(v);
}
int64_t IntegerOf(const ScalarValue& v) {
  return std::get<int64_t>(v);
}

Status CheckRange(int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    return InvalidArgument(fmt::format("must be {}..{}, got {}", min, max, value));
  }
  return Status::Ok();
}

Status CheckDurationRange(int64_t millis, int64_t min, int64_t max) {
  if (millis < min || millis > max) {
    return InvalidArgument(fmt::format("must be between {} and {}, got {}",
                                       FormatDurationMillis(min), FormatDurationMillis(max),
                                       FormatDurationMillis(millis)));
  }
  return Status::Ok();
}

Status CheckOneOf(std::string_view value, std::initializer_list<std::string_view> allowed) {
  for (std::string_view a : allowed) {
    if (value == a) return Status::Ok();
  }
  std::string list;
  for (std::string_view a : allowed) {
    if (!list.empty()) list += ", ";
    list += Quote(a);
  }
  return InvalidArgument(fmt::format("{} is not one of: {}", Quote(value), list));
}

// Letters, digits, '-', '.' and '_' (container names such as node_1 resolve).
bool IsHostnameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool IsIpv6Char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
         c == '.';
}

// host:port, with IPv6 hosts in brackets ("[::1]:7070"); port 0..65535.
Status ValidateListen(std::string_view listen) {
  const std::string not_host_port =
      Quote(listen) + " is not host:port (e.g. 127.0.0.1:7070, 0.0.0.0:7070, [::1]:7070)";
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) return InvalidArgument(not_host_port);
  std::string_view host = listen.substr(0, colon);
  std::string_view port = listen.substr(colon + 1);
  if (host.empty()) {
    return InvalidArgument(not_host_port + "; to listen on every interface use 0.0.0.0:PORT");
  }
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']' ||
        !std::all_of(host.begin() + 1, host.end() - 1, IsIpv6Char)) {
      return InvalidArgument(not_host_port);
    }
  } else if (host.find(':') != std::string_view::npos) {
    return InvalidArgument(not_host_port + "; write IPv6 addresses in brackets, as [::1]:7070");
  } else if (!std::all_of(host.begin(), host.end(), IsHostnameChar)) {
    return InvalidArgument(not_host_port);
  }
  int port_number = -1;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidArgument(not_host_port);
  }
  std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (port_number > 65535) {
    return InvalidArgument(
        fmt::format("port {} in {} is out of range 0..65535", port_number, Quote(listen)));
  }
  return Status::Ok();
}

// A domain name as config accepts it: ASCII letters, digits, '-' and '_'
// labels of 1..63 characters separated by dots, optional trailing dot, at most
// 253 characters (the DNS server re-parses it with the wire library).
Status ValidateDnsName(std::string_view name) {
  std::string_view n = name;
  if (!n.empty() && n.back() == '.') n.remove_suffix(1);
  if (n.empty() || n.size() > 253) return InvalidArgument(Quote(name) + " is not a domain name");
  size_t label = 0;
  for (char c : n) {
    if (c == '.') {
      if (label == 0) return InvalidArgument(Quote(name) + " has an empty label");
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok)
      return InvalidArgument(Quote(name) + " may contain only letters, digits, '-', '_' and dots");
    if (++label > 63)
      return InvalidArgument(Quote(name) + " has a label longer than 63 characters");
  }
  if (label == 0) return InvalidArgument(Quote(name) + " has an empty label");
  return Status::Ok();
}

// A seed: "host:port" or "<node id>@host:port".
Status ValidateSeed(std::string_view seed) {
  const size_t at = seed.find('@');
  if (at != std::string_view::npos) {
    if (!NodeId::Parse(seed.substr(0, at)).ok()) {
      return InvalidArgument(Quote(seed) +
                             " has no valid node id before '@' (16 hex digits, e.g. "
                             "1f2e3d4c5b6a7988@10.0.0.1:7946)");
    }
    seed.remove_prefix(at + 1);
  }
  return ValidateListen(seed);
}

std::vector<Setting> BuildSettings() {
  std::vector<Setting> s;
  auto add = [&s](std::string_view key, Kind kind,
                  std::function<Status(Config&, const ScalarValue&)> apply) {
    s.push_back(Setting{key, kind, false, std::move(apply)});
  };
  add("node.data_dir", Kind::kString, [](Config& c, const ScalarValue& v) {
    const std::string& dir = StringOf(v);
    if (dir.empty()) return InvalidArgument("must not be empty");
    if (dir.find('\0') != std::string::npos) return InvalidArgument("must not contain NUL");
    c.node.data_dir = dir;
    return Status::Ok();
  });
  add("node.role", Kind::kString, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(
        CheckOneOf(StringOf(v), {"normal", "replica_only", "reject_local_writes"}));
    c.node.role = StringOf(v);
    return Status::Ok();
  });
  add("http.listen", Kind::kString, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(ValidateListen(StringOf(v)));
    c.http.listen = StringOf(v);
    return Status::Ok();
  });
  add("http.threads", Kind::kInteger, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckRange(IntegerOf(v), 0, 256));
    c.http.threads = static_cast<int>(IntegerOf(v));
    return Status::Ok();
  });
  add("http.max_header_bytes", Kind::kInteger, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckRange(IntegerOf(v), kKiB, kMiB));
    c.http.max_header_bytes = IntegerOf(v);
    return Status::Ok();
  });
  add("http.max_body_bytes", Kind::kInteger, [](Config& c, const ScalarValue& v) {
    // A request's writes go to each replica in one message (at most
    // kMaxValueBytesLimit of entries), so a body may not be larger.
    if (Status range = CheckRange(IntegerOf(v), 1, kMaxValueBytesLimit); !range.ok()) {
      return InvalidArgument(range.message() +
                             " (a request's writes reach each replica in one message of at most "
                             "8 MiB; send larger batches in several requests)");
    }
    c.http.max_body_bytes = IntegerOf(v);
    return Status::Ok();
  });
  add("http.request_timeout", Kind::kDuration, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckDurationRange(IntegerOf(v), 10, 3'600'000));
    c.http.request_timeout_ms = IntegerOf(v);
    return Status::Ok();
  });
  add("http.idle_timeout", Kind::kDuration, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckDurationRange(IntegerOf(v), 10, 86'400'000));
    c.http.idle_timeout_ms = IntegerOf(v);
    return Status::Ok();
  });
  add("http.max_connections", Kind::kInteger, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckRange(IntegerOf(v), 1, 1'000'000));
    c.http.max_connections = static_cast<int>(IntegerOf(v));
    return Status::Ok();
  });
  add("http.max_inflight_requests", Kind::kInteger, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckRange(IntegerOf(v), 1, 1'000'000));
    c.http.max_inflight_requests = static_cast<int>(IntegerOf(v));
    return Status::Ok();
  });
  add("storage.engine", Kind::kString, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckOneOf(StringOf(v), {"rocksdb", "memory"}));
    c.storage.engine = StringOf(v);
    return Status::Ok();
  });
  add("storage.sync", Kind::kString, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckOneOf(StringOf(v), {"none", "always"}));
    c.storage.sync_always = StringOf(v) == "always";
    return Status::Ok();
  });
  add("storage.block_cache_bytes", Kind::kInteger, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckRange(IntegerOf(v), 64 * kKiB, kTiB));
    c.storage.block_cache_bytes = IntegerOf(v);
    return Status::Ok();
  });
  add("storage.write_buffer_bytes", Kind::kInteger, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckRange(IntegerOf(v), 64 * kKiB, 16 * kGiB));
    c.storage.write_buffer_bytes = IntegerOf(v);
    return Status::Ok();
  });
  add("clock.max_clock_skew", Kind::kDuration, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckDurationRange(IntegerOf(v), 1, 3'600'000));
    c.clock.max_clock_skew_ms = IntegerOf(v);
    return Status::Ok();
  });
  add("dns.listen", Kind::kString, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(ValidateListen(StringOf(v)));
    c.dns.listen = StringOf(v);
    return Status::Ok();
  });
  add("dns.zones", Kind::kStringList, [](Config& c, const ScalarValue& v) {
    for (const std::string& zone : ListOf(v)) MESHKV_RETURN_IF_ERROR(ValidateDnsName(zone));
    c.dns.zones = ListOf(v);
    return Status::Ok();
  });
  add("dns.nameservers", Kind::kStringList, [](Config& c, const ScalarValue& v) {
    for (const std::string& name : ListOf(v)) MESHKV_RETURN_IF_ERROR(ValidateDnsName(name));
    c.dns.nameservers = ListOf(v);
    return Status::Ok();
  });
  add("dns.soa_rname", Kind::kString, [](Config& c, const ScalarValue& v) {
    if (!StringOf(v).empty()) MESHKV_RETURN_IF_ERROR(ValidateDnsName(StringOf(v)));
    c.dns.soa_rname = StringOf(v);
    return Status::Ok();
  });
  auto add_seconds = [&add](std::string_view key, int64_t Config::Dns::*field) {
    add(key, Kind::kDuration, [field](Config& c, const ScalarValue& v) {
      // DNS times are 32-bit seconds (RFC 1035 3.3.13); at least one second.
      MESHKV_RETURN_IF_ERROR(CheckDurationRange(IntegerOf(v), 1000, int64_t{INT32_MAX} * 1000));
      c.dns.*field = IntegerOf(v) / 1000;
      return Status::Ok();
    });
  };
  add_seconds("dns.soa_refresh", &Config::Dns::soa_refresh_s);
  add_seconds("dns.soa_retry", &Config::Dns::soa_retry_s);
  add_seconds("dns.soa_expire", &Config::Dns::soa_expire_s);
  add_seconds("dns.soa_minimum", &Config::Dns::soa_minimum_s);
  add_seconds("dns.default_ttl", &Config::Dns::default_ttl_s);
  add("dns.axfr_allow", Kind::kStringList, [](Config& c, const ScalarValue& v) {
    for (const std::string& ip : ListOf(v)) {
      boost::system::error_code ec;
      boost::asio::ip::make_address(ip, ec);
      if (ec) return InvalidArgument(Quote(ip) + " is not an IP address");
    }
    c.dns.axfr_allow = ListOf(v);
    return Status::Ok();
  });
  add("dns.max_udp_payload", Kind::kInteger, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckRange(IntegerOf(v), 512, 4096));
    c.dns.max_udp_payload = static_cast<int>(IntegerOf(v));
    return Status::Ok();
  });
  add("cluster.name", Kind::kString, [](Config& c, const ScalarValue& v) {
    const std::string& name = StringOf(v);
    if (name.empty() || name.size() > 64) return InvalidArgument("must be 1..64 characters");
    for (char ch : name) {
      if (!IsHostnameChar(ch)) {
        return InvalidArgument(Quote(name) + " may contain only letters, digits, '-', '.', '_'");
      }
    }
    c.cluster.name = name;
    return Status::Ok();
  });
  add("cluster.listen", Kind::kString, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(ValidateListen(StringOf(v)));
    c.cluster.listen = StringOf(v);
    return Status::Ok();
  });
  add("cluster.advertise", Kind::kString, [](Config& c, const ScalarValue& v) {
    if (!StringOf(v).empty()) MESHKV_RETURN_IF_ERROR(ValidateListen(StringOf(v)));
    c.cluster.advertise = StringOf(v);
    return Status::Ok();
  });
  add("cluster.seeds", Kind::kStringList, [](Config& c, const ScalarValue& v) {
    for (const std::string& seed : ListOf(v)) MESHKV_RETURN_IF_ERROR(ValidateSeed(seed));
    c.cluster.seeds = ListOf(v);
    return Status::Ok();
  });
  add("cluster.preset", Kind::kString, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckOneOf(StringOf(v), {"lan", "wan", "local"}));
    c.cluster.preset = StringOf(v);
    return Status::Ok();
  });
  add("cluster.gossip_key", Kind::kString, [](Config& c, const ScalarValue& v) {
    if (!StringOf(v).empty()) {
      auto key = Base64Decode(StringOf(v));
      if (!key.ok() || key->size() != 32) {
        // Never echo the key: it is a secret.
        return InvalidArgument(
            "must be 32 bytes in base64 (44 characters); make one with `meshkv keygen`");
      }
    }
    c.cluster.gossip_key = StringOf(v);
    return Status::Ok();
  });
  auto add_path = [&add](std::string_view key, std::string Config::Cluster::*field) {
    add(key, Kind::kString, [field](Config& c, const ScalarValue& v) {
      if (StringOf(v).find('\0') != std::string::npos)
        return InvalidArgument("must not contain NUL");
      c.cluster.*field = StringOf(v);
      return Status::Ok();
    });
  };
  add_path("cluster.tls_ca", &Config::Cluster::tls_ca);
  add_path("cluster.tls_cert", &Config::Cluster::tls_cert);
  add_path("cluster.tls_key", &Config::Cluster::tls_key);
  add("cluster.srv_domain", Kind::kString, [](Config& c, const ScalarValue& v) {
    if (!StringOf(v).empty()) MESHKV_RETURN_IF_ERROR(ValidateDnsName(StringOf(v)));
    c.cluster.srv_domain = StringOf(v);
    return Status::Ok();
  });
  add("cluster.srv_resolver", Kind::kString, [](Config& c, const ScalarValue& v) {
    if (!StringOf(v).empty()) MESHKV_RETURN_IF_ERROR(ValidateListen(StringOf(v)));
    c.cluster.srv_resolver = StringOf(v);
    return Status::Ok();
  });
  add("cluster.srv_refresh", Kind::kDuration, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckDurationRange(IntegerOf(v), 1000, 86'400'000));
    c.cluster.srv_refresh_ms = IntegerOf(v);
    return Status::Ok();
  });
  add("cluster.rejoin_interval", Kind::kDuration, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckDurationRange(IntegerOf(v), 100, 86'400'000));
    c.cluster.rejoin_interval_ms = IntegerOf(v);
    return Status::Ok();
  });
  add("cluster.tags", Kind::kStringList, [](Config& c, const ScalarValue& v) {
    for (const std::string& tag : ListOf(v)) {
      const size_t eq = tag.find('=');
      if (eq == 0 || eq == std::string::npos || tag.size() > 256) {
        return InvalidArgument(Quote(tag) + " is not key=value (e.g. \"rack=r1\")");
      }
    }
    c.cluster.tags = ListOf(v);
    return Status::Ok();
  });
  add("replication.anti_entropy_interval", Kind::kDuration, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckDurationRange(IntegerOf(v), 0, 3'600'000));
    c.replication.anti_entropy_interval_ms = IntegerOf(v);
    return Status::Ok();
  });
  add("replication.anti_entropy_bytes_per_second", Kind::kInteger,
      [](Config& c, const ScalarValue& v) {
        if (IntegerOf(v) < 65'536) {
          return InvalidArgument("must be at least 65536 (64 KiB/s); got " +
                                 std::to_string(IntegerOf(v)));
        }
        c.replication.anti_entropy_bytes_per_second = IntegerOf(v);
        return Status::Ok();
      });
  add("replication.gc_grace", Kind::kDuration, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckDurationRange(IntegerOf(v), 1'000, int64_t{365} * 86'400'000));
    c.replication.gc_grace_ms = IntegerOf(v);
    return Status::Ok();
  });
  add("replication.hinted_handoff", Kind::kBoolean, [](Config& c, const ScalarValue& v) {
    c.replication.hinted_handoff = std::get<bool>(v);
    return Status::Ok();
  });
  add("log.level", Kind::kString, [](Config& c, const ScalarValue& v) {
    MESHKV_RETURN_IF_ERROR(CheckOneOf(StringOf(v), {"trace", "debug", "info", "warn", "error"}));
    c.log.level = StringOf(v);
    return Status::Ok();
  });
  s.push_back(Setting{"dev_insecure", Kind::kBoolean, true, [](Config& c, const ScalarValue& v) {
                        c.dev_insecure = std::get<bool>(v);
                        return Status::Ok();
                      }});
  return s;
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> settings = BuildSettings();
  return settings;
}

const Setting* FindSetting(std::string_view key) {
  for (const Setting& s : Settings()) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

// "http.max_body_bytes" -> "MESHKV_HTTP_MAX_BODY_BYTES"
std::string EnvName(std::string_view key) {
  std::string out(kEnvPrefix);
  for (char c : key) {
    out += c == '.' ? '_' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  }
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "; did you mean X?" when a candidate is close to `word`, else "".
std::string Suggestion(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_distance = std::max<size_t>(2, word.size() / 4) + 1;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_distance) {
      best = &c;
      best_distance = d;
    }
  }
  return best == nullptr ? "" : "; did you mean " + *best + "?";
}

Result<int64_t> ParseInteger(std::string_view text) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return InvalidArgument("expected an integer, got " + Quote(text));
  }
  return value;
}

// Converts an environment or flag string to the setting's type.
Result<ScalarValue> FromString(const Setting& setting, const std::string& text) {
  switch (setting.kind) {
    case Kind::kString:
      return ScalarValue(text);
    case Kind::kInteger: {
      auto v = ParseInteger(text);
      if (!v.ok()) return v.status();
      return ScalarValue(*v);
    }
    case Kind::kDuration: {
      auto v = ParseDurationMillis(text);
      if (!v.ok()) return v.status();
      return ScalarValue(*v);
    }
    case Kind::kStringList: {
      // Environment and flags spell lists as "a,b,c".
      std::vector<std::string> items;
      size_t start = 0;
      while (start <= text.size() && !text.empty()) {
        size_t comma = text.find(',', start);
        std::string item =
            text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        while (!item.empty() && item.front() == ' ') item.erase(item.begin());
        while (!item.empty() && item.back() == ' ') item.pop_back();
        if (item.empty()) return InvalidArgument("empty item in list " + Quote(text));
        items.push_back(std::move(item));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      return ScalarValue(std::move(items));
    }
    case Kind::kBoolean:
      if (text == "true") return ScalarValue(true);
      if (text == "false") return ScalarValue(false);
      return InvalidArgument("expected true or false, got " + Quote(text));
  }
  return Internal("unknown setting kind");
}

std::string_view TomlTypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

Status WrongType(std::string_view expected, const toml::node& node) {
  return InvalidArgument(fmt::format("expected {}, got {}", expected, TomlTypeName(node)));
}

Result<std::string> TomlToString(const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  return WrongType("a string", node);
}

Result<int64_t> TomlToInteger(const toml::node& node) {
  if (const auto* i = node.as_integer()) return i->get();
  return WrongType("an integer", node);
}

Result<int64_t> TomlToDuration(const toml::node& node) {
  if (const auto* s = node.as_string()) return ParseDurationMillis(s->get());
  return WrongType("a duration string such as \"30s\"", node);
}

// Converts a TOML value to the setting's type.
Result<ScalarValue> FromToml(const Setting& setting, const toml::node& node) {
  switch (setting.kind) {
    case Kind::kString: {
      auto v = TomlToString(node);
      if (!v.ok()) return v.status();
      return ScalarValue(*std::move(v));
    }
    case Kind::kInteger: {
      auto v = TomlToInteger(node);
      if (!v.ok()) return v.status();
      return ScalarValue(*v);
    }
    case Kind::kDuration: {
      auto v = TomlToDuration(node);
      if (!v.ok()) return v.status();
      return ScalarValue(*v);
    }
    case Kind::kStringList: {
      const auto* array = node.as_array();
      if (array == nullptr) return WrongType("an array of strings", node);
      std::vector<std::string> items;
      for (const toml::node& item : *array) {
        const auto* text = item.as_string();
        if (text == nullptr) return WrongType("an array of strings", item);
        items.push_back(text->get());
      }
      return ScalarValue(std::move(items));
    }
    case Kind::kBoolean:
      if (const auto* b = node.as_boolean()) return ScalarValue(b->get());
      return WrongType("true or false", node);
  }
  return Internal("unknown setting kind");
}

// ---------------------------------------------------------------------------
// Collected problems: config check reports everything wrong at once.

class Problems {
 public:
  // `where` is "env NAME" or "flag key"; these are listed after the file's.
  void Add(const std::string& where, std::string_view message) {
    items_.push_back({kNotInFile, where + ": " + std::string(message)});
  }
  // A problem at `line` of the config file; `where` starts with "file:line".
  void AddAtLine(uint32_t line, const std::string& where, std::string_view message) {
    items_.push_back({line, where + ": " + std::string(message)});
  }
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }

  // All problems, the file's in line order, then the environment's and the
  // flags' in the order found.
  Status ToStatus() const {
    std::vector<Item> sorted = items_;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Item& a, const Item& b) { return a.line < b.line; });
    std::string message;
    for (size_t i = 0; i < sorted.size() && i < kMaxProblemsShown; ++i) {
      if (i > 0) message += '\n';
      message += sorted[i].text;
    }
    if (sorted.size() > kMaxProblemsShown) {
      message += fmt::format("\n... and {} more", sorted.size() - kMaxProblemsShown);
    }
    return InvalidArgument(std::move(message));
  }

 private:
  static constexpr uint32_t kNotInFile = UINT32_MAX;
  struct Item {
    uint32_t line;
    std::string text;
  };
  std::vector<Item> items_;
};

// ---------------------------------------------------------------------------
// The TOML file.

Result<std::string> ReadWholeFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int error = errno;
    std::string message = "cannot read config file " + Quote(path) + ": " + std::strerror(error);
    if (error == ENOENT) return NotFound(std::move(message));
    return FailedPrecondition(std::move(message));
  }
  std::string content;
  char buffer[64 * 1024];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
    content.append(buffer, n);
    if (content.size() > kMaxConfigFileBytes) {
      std::fclose(file);
      return InvalidArgument("config file " + Quote(path) + " is larger than 16 MiB");
    }
  }
  const bool failed = std::ferror(file) != 0;
  const int error = errno;
  std::fclose(file);
  if (failed) {
    return FailedPrecondition("cannot read config file " + Quote(path) + ": " +
                              std::strerror(error));
  }
  return content;
}

// The one place toml++ exceptions are caught and turned into a Status.
Result<toml::table> ParseTomlFile(const std::string& path) {
  auto content = ReadWholeFile(path);
  if (!content.ok()) return content.status();
  try {
    return toml::parse(*content, path);
  } catch (const toml::parse_error& error) {
    const toml::source_position& at = error.source().begin;
    return InvalidArgument(
        fmt::format("{}:{}:{}: invalid TOML: {}", path, at.line, at.column, error.description()));
  }
}

constexpr std::string_view kSections[] = {"node", "http",    "storage",     "clock",
                                          "dns",  "cluster", "replication", "log"};
constexpr std::string_view kNamespaceKeys[] = {"replicas", "consistency", "sync_policy",
                                               "writers",  "default_ttl", "max_value_bytes",
                                               "storage"};
constexpr std::string_view kTokenKeys[] = {"name", "sha256", "scopes", "namespace", "prefix"};

struct ParsedToken {
  TokenSpec spec;
  uint32_t line;
};

// Walks a parsed file, applying what it finds to a Config and reporting
// problems with file:line and the full dotted key.
class FileReader {
 public:
  FileReader(std::string path, Problems& problems) : path_(std::move(path)), problems_(problems) {}

  void ReadAll(const toml::table& root, Config& config) {
    for (auto&& [key, node] : root) {
      const std::string name(key.str());
      if (name == "tokens" || name == "namespaces") continue;  // below, in that order
      if (std::find(std::begin(kSections), std::end(kSections), name) != std::end(kSections)) {
        ReadSection(name, node, config);
      } else if (name == "dev_insecure") {
        Report(key, node, name, "can only be set with the --dev-insecure flag, not in a file");
      } else {
        ReportUnknown(key, node, name);
      }
    }
    if (const toml::node* namespaces = root.get("namespaces")) ReadNamespaces(*namespaces, config);
    if (const toml::node* tokens = root.get("tokens")) {
      config.tokens = ReadTokens(*tokens, NamespaceNames(root));
    }
  }

  // Only [[tokens]] (for reloads), checked against the namespaces the file names.
  std::vector<TokenSpec> ReadTokensOnly(const toml::table& root) {
    const toml::node* tokens = root.get("tokens");
    if (tokens == nullptr) return {};
    return ReadTokens(*tokens, NamespaceNames(root));
  }

 private:
  // The built-ins and every [namespaces.NAME] in the file (also those with
  // problems of their own, so a token naming one gets no second complaint).
  static std::set<std::string> NamespaceNames(const toml::table& root) {
    std::set<std::string> names;
    for (const NamespaceSpec& ns : BuiltinNamespaces()) names.insert(ns.name);
    if (const toml::table* namespaces = root["namespaces"].as_table()) {
      for (auto&& [key, node] : *namespaces) names.insert(std::string(key.str()));
    }
    return names;
  }

  static uint32_t LineOf(const toml::node& node) { return node.source().begin.line; }
  static uint32_t LineOf(const toml::key& key, const toml::node& node) {
    return key.source().begin.line != 0 ? key.source().begin.line : LineOf(node);
  }

  std::string Where(uint32_t line, std::string_view dotted) const {
    return fmt::format("{}:{}: {}", path_, line, dotted);
  }
  void Report(uint32_t line, std::string_view dotted, std::string_view message) {
    problems_.AddAtLine(line, Where(line, dotted), message);
  }
  void Report(const toml::node& node, std::string_view dotted, std::string_view message) {
    Report(LineOf(node), dotted, message);
  }
  void Report(const toml::key& key, const toml::node& node, std::string_view dotted,
              std::string_view message) {
    Report(LineOf(key, node), dotted, message);
  }
  // An unknown key in [node], [http], [storage], [clock], [log] or at the top.
  void ReportUnknown(const toml::key& key, const toml::node& node, const std::string& dotted) {
    Report(key, node, dotted, "unknown key" + Suggestion(dotted, AllFileKeys()));
  }

  // An unknown key inside a table whose keys are `known`.
  template <size_t N>
  void ReportUnknownIn(const toml::key& key, const toml::node& node, const std::string& dotted,
                       const std::string& parent, const std::string_view (&known)[N]) {
    std::vector<std::string> candidates;
    std::string list;
    for (std::string_view k : known) {
      candidates.push_back(parent + "." + std::string(k));
      list += list.empty() ? "" : ", ";
      list += k;
    }
    Report(key, node, dotted,
           "unknown key" + Suggestion(dotted, candidates) + " (known: " + list + ")");
  }

  static std::vector<std::string> AllFileKeys() {
    std::vector<std::string> keys;
    for (const Setting& s : Settings()) {
      if (!s.flag_only) keys.emplace_back(s.key);
    }
    for (std::string_view section : kSections) keys.emplace_back(section);
    keys.emplace_back("tokens");
    keys.emplace_back("namespaces");
    return keys;
  }

  void ReadSection(const std::string& section, const toml::node& node, Config& config) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      Report(node, section, WrongType("a table", node).message());
      return;
    }
    for (auto&& [key, value] : *table) {
      const std::string dotted = section + "." + std::string(key.str());
      const Setting* setting = FindSetting(dotted);
      if (setting == nullptr || setting->flag_only) {
        ReportUnknown(key, value, dotted);
        continue;
      }
      auto converted = FromToml(*setting, value);
      Status status = converted.ok() ? setting->apply(config, *converted) : converted.status();
      if (!status.ok()) Report(key, value, dotted, status.message());
    }
  }

  // [namespaces.NAME]: built-in names change the built-in spec, others add one.
  void ReadNamespaces(const toml::node& node, Config& config) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      Report(node, "namespaces", WrongType("a table of [namespaces.NAME] tables", node).message());
      return;
    }
    for (auto&& [key, value] : *table) {
      const std::string name(key.str());
      const std::string dotted = "namespaces." + name;
      Status name_status = ValidateNamespaceName(name);
      if (!name_status.ok()) {
        Report(key, value, dotted, name_status.message());
        continue;
      }
      const toml::table* fields = value.as_table();
      if (fields == nullptr) {
        Report(key, value, dotted, WrongType("a table", value).message());
        continue;
      }
      auto existing = std::find_if(config.namespaces.begin(), config.namespaces.end(),
                                   [&](const NamespaceSpec& ns) { return ns.name == name; });
      NamespaceSpec spec;
      spec.name = name;
      if (existing != config.namespaces.end()) spec = *existing;
      const size_t problems_before = problems_.size();
      for (auto&& [field_key, field_value] : *fields) {
        const std::string field(field_key.str());
        const std::string field_dotted = dotted + "." + field;
        if (std::find(std::begin(kNamespaceKeys), std::end(kNamespaceKeys), field) ==
            std::end(kNamespaceKeys)) {
          ReportUnknownIn(field_key, field_value, field_dotted, dotted, kNamespaceKeys);
          continue;
        }
        Status status = ReadNamespaceField(field, field_value, field_dotted, spec);
        if (!status.ok()) Report(field_key, field_value, field_dotted, status.message());
      }
      if (problems_.size() != problems_before) continue;
      Status valid = spec.Validate();
      if (!valid.ok()) {
        Report(key, value, dotted, valid.message());
        continue;
      }
      if (existing != config.namespaces.end()) {
        *existing = std::move(spec);
      } else {
        config.namespaces.push_back(std::move(spec));
      }
    }
  }

  // Sets one field of `spec`. Element-level problems (writers[i]) are
  // reported here; the returned status covers the field as a whole.
  Status ReadNamespaceField(const std::string& field, const toml::node& value,
                            const std::string& dotted, NamespaceSpec& spec) {
    if (field == "replicas") {
      if (const auto* text = value.as_string()) {
        if (text->get() == "all") {
          spec.replicas = NamespaceSpec::kReplicasAll;
          return Status::Ok();
        }
        return InvalidArgument("must be 1..16 or \"all\", got " + Quote(text->get()));
      }
      auto count = TomlToInteger(value);
      if (!count.ok()) return WrongType("an integer 1..16 or \"all\"", value);
      if (*count < 1 || *count > INT_MAX) {
        return InvalidArgument(fmt::format("must be 1..16 or \"all\", got {}", *count));
      }
      spec.replicas = static_cast<int>(*count);
      return Status::Ok();
    }
    if (field == "consistency") {
      auto text = TomlToString(value);
      if (!text.ok()) return text.status();
      auto consistency = ParseConsistency(*text);
      if (!consistency.ok()) return consistency.status();
      spec.consistency = *consistency;
      return Status::Ok();
    }
    if (field == "sync_policy") {
      auto text = TomlToString(value);
      if (!text.ok()) return text.status();
      MESHKV_RETURN_IF_ERROR(CheckOneOf(*text, {"lww", "primary_writer"}));
      spec.sync_policy = *text == "lww" ? SyncPolicy::kLastWriterWins : SyncPolicy::kPrimaryWriter;
      return Status::Ok();
    }
    if (field == "writers") {
      const toml::array* array = value.as_array();
      if (array == nullptr) return WrongType("an array of node ids", value);
      spec.writers.clear();
      for (size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const std::string element_key = fmt::format("{}[{}]", dotted, i);
        auto text = TomlToString(element);
        Result<NodeId> id = text.ok() ? NodeId::Parse(*text) : Result<NodeId>(text.status());
        if (!id.ok()) {
          Report(element, element_key, id.status().message());
        } else if (std::find(spec.writers.begin(), spec.writers.end(), *id) != spec.writers.end()) {
          Report(element, element_key, "node id " + id->ToString() + " is listed twice");
        } else {
          spec.writers.push_back(*id);
        }
      }
      return Status::Ok();  // element problems are reported above, each at its line
    }
    if (field == "default_ttl") {
      auto millis = TomlToDuration(value);
      if (!millis.ok()) return millis.status();
      spec.default_ttl_ms = *millis;
      return Status::Ok();
    }
    if (field == "max_value_bytes") {
      auto bytes = TomlToInteger(value);
      if (!bytes.ok()) return bytes.status();
      spec.max_value_bytes = *bytes;
      return Status::Ok();
    }
    if (field == "storage") {
      auto text = TomlToString(value);
      if (!text.ok()) return text.status();
      MESHKV_RETURN_IF_ERROR(CheckOneOf(*text, {"disk", "memory"}));
      spec.storage =
          *text == StorageKindName(StorageKind::kDisk) ? StorageKind::kDisk : StorageKind::kMemory;
      return Status::Ok();
    }
    return Internal("unhandled namespace key " + field);  // ReadNamespaces checks the name
  }

  // [[tokens]]. Each field is checked where it is written (so problems carry
  // its line), with the checks TokenSet::Build uses; Build then validates the
  // accepted tokens together, as the node will.
  std::vector<TokenSpec> ReadTokens(const toml::node& node,
                                    const std::set<std::string>& namespace_names) {
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      Report(node, "tokens", WrongType("an array of tables ([[tokens]])", node).message());
      return {};
    }
    TokensSeen seen;
    std::vector<TokenSpec> accepted;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      const std::string prefix = fmt::format("tokens[{}]", i);
      auto token = ReadToken(element, prefix, namespace_names, seen);
      if (!token.has_value()) continue;
      std::vector<TokenSpec> candidate = accepted;
      candidate.push_back(token->spec);
      auto built = TokenSet::Build(std::move(candidate));
      if (!built.ok()) {
        Report(token->line, prefix, built.status().message());
        continue;
      }
      accepted.push_back(built->specs().back());  // normalised
    }
    return accepted;
  }

  // Names and (lower-case) hashes of the tokens read so far.
  struct TokensSeen {
    std::set<std::string> names;
    std::set<std::string> hashes;
  };

  std::optional<ParsedToken> ReadToken(const toml::node& node, const std::string& prefix,
                                       const std::set<std::string>& namespace_names,
                                       TokensSeen& seen) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      Report(node, prefix, WrongType("a table", node).message());
      return std::nullopt;
    }
    ParsedToken token{TokenSpec{}, LineOf(node)};
    const size_t problems_before = problems_.size();
    bool has_name = false, has_hash = false, has_scopes = false;
    for (auto&& entry : *table) {
      const toml::key& key = entry.first;
      const toml::node& value = entry.second;
      const std::string field(key.str());
      const std::string dotted = prefix + "." + field;
      auto report = [&](const Status& s) { Report(key, value, dotted, s.message()); };
      if (field == "scopes") {
        has_scopes = true;
        ReadScopes(value, dotted, token.spec.scopes);
        continue;
      }
      if (std::find(std::begin(kTokenKeys), std::end(kTokenKeys), field) == std::end(kTokenKeys)) {
        ReportUnknownIn(key, value, dotted, prefix, kTokenKeys);
        continue;
      }
      auto text = TomlToString(value);
      if (!text.ok()) {
        report(text.status());
      } else if (field == "name") {
        has_name = true;
        if (Status valid = ValidateTokenName(*text); !valid.ok()) {
          report(valid);
        } else if (!seen.names.insert(*text).second) {
          report(InvalidArgument(Quote(*text) +
                                 " is the name of another token; every token needs its own"));
        }
        token.spec.name = *text;
      } else if (field == "sha256") {
        has_hash = true;
        auto hash = NormalizeSha256Hex(*text);
        if (!hash.ok()) {
          report(hash.status());
        } else if (!seen.hashes.insert(*hash).second) {
          report(
              InvalidArgument("is the same as another token's; every token needs its own secret"));
        } else {
          token.spec.sha256_hex = *hash;
        }
      } else if (field == "prefix") {
        token.spec.key_prefix = *text;
      } else if (Status valid = ValidateNamespaceName(*text); !valid.ok()) {
        report(valid);
      } else if (namespace_names.count(*text) == 0) {
        report(InvalidArgument("namespace " + Quote(*text) +
                               " is not configured; add [namespaces." + *text +
                               "] or fix the name"));
      } else {
        token.spec.ns = *text;
      }
    }
    for (auto [present, field] : {std::pair{has_name, "name"}, std::pair{has_hash, "sha256"},
                                  std::pair{has_scopes, "scopes"}}) {
      if (!present) Report(token.line, prefix, std::string("missing required key ") + field);
    }
    if (problems_.size() != problems_before) return std::nullopt;
    return token;
  }

  // scopes = ["read", ...]: a non-empty array of scope names.
  void ReadScopes(const toml::node& value, const std::string& dotted, ScopeSet& scopes) {
    const toml::array* array = value.as_array();
    if (array == nullptr) {
      Report(value, dotted,
             WrongType("an array of scopes such as [\"read\", \"write\"]", value).message());
      return;
    }
    if (array->empty()) {
      Report(value, dotted, "must not be empty; use one or more of \"read\", \"write\", \"admin\"");
      return;
    }
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      auto text = TomlToString(element);
      Result<Scope> scope = text.ok() ? ParseScope(*text) : Result<Scope>(text.status());
      if (!scope.ok()) {
        Report(element, fmt::format("{}[{}]", dotted, i), scope.status().message());
      } else {
        scopes |= static_cast<ScopeSet>(*scope);
      }
    }
  }

  std::string path_;
  Problems& problems_;
};

// ---------------------------------------------------------------------------
// Environment and flags.

void ApplyEnvironment(const std::map<std::string, std::string>& env, Config& config,
                      Problems& problems) {
  std::vector<std::string> known;
  for (const Setting& s : Settings()) {
    if (!s.flag_only) known.push_back(EnvName(s.key));
  }
  for (const auto& [name, value] : env) {
    if (!std::string_view(name).starts_with(kEnvPrefix)) continue;
    if (std::find(std::begin(kClientEnvironment), std::end(kClientEnvironment), name) !=
        std::end(kClientEnvironment)) {
      continue;
    }
    const std::string where = "env " + name;
    const Setting* setting = nullptr;
    for (const Setting& s : Settings()) {
      if (!s.flag_only && EnvName(s.key) == name) setting = &s;
    }
    if (setting == nullptr) {
      std::string_view rest = std::string_view(name).substr(kEnvPrefix.size());
      if (rest == "DEV_INSECURE") {
        problems.Add(where, "dev_insecure can only be set with the --dev-insecure flag");
      } else if (rest.starts_with("TOKENS")) {
        problems.Add(where,
                     "tokens cannot be set from the environment; use [[tokens]] in the "
                     "config file");
      } else if (rest.starts_with("NAMESPACES")) {
        problems.Add(where,
                     "namespaces cannot be set from the environment; use "
                     "[namespaces.NAME] in the config file");
      } else {
        problems.Add(where, "unknown variable" + Suggestion(name, known));
      }
      continue;
    }
    auto converted = FromString(*setting, value);
    Status status = converted.ok() ? setting->apply(config, *converted) : converted.status();
    if (!status.ok()) problems.Add(where, status.message());
  }
}

void ApplyFlags(const std::vector<std::pair<std::string, std::string>>& flags, Config& config,
                Problems& problems) {
  std::vector<std::string> known;
  for (const Setting& s : Settings()) known.emplace_back(s.key);
  for (const auto& [key, value] : flags) {
    const std::string where = "flag " + key;
    const Setting* setting = FindSetting(key);
    if (setting == nullptr) {
      if (key == "tokens" || key.starts_with("tokens.") || key.starts_with("tokens[")) {
        problems.Add(where, "tokens can only be configured with [[tokens]] in the config file");
      } else if (key == "namespaces" || key.starts_with("namespaces.")) {
        problems.Add(where, "namespaces can only be configured in the config file");
      } else {
        problems.Add(where, "unknown setting" + Suggestion(key, known));
      }
      continue;
    }
    auto converted = FromString(*setting, value);
    Status status = converted.ok() ? setting->apply(config, *converted) : converted.status();
    if (!status.ok()) problems.Add(where, status.message());
  }
}

// Settings of [cluster] that only make sense together.
void CheckClusterSettings(const Config& config, Problems& problems) {
  const Config::Cluster& c = config.cluster;
  if (config.node.role == "reject_local_writes") {
    if (!c.enabled()) {
      problems.Add("node",
                   "role \"reject_local_writes\" stores no data, so it needs [cluster] "
                   "(tls_cert, tls_ca, tls_key) to reach the nodes that do");
    }
    if (!config.dns.zones.empty()) {
      problems.Add("node",
                   "role \"reject_local_writes\" stores no data, so it cannot answer DNS "
                   "from a local replica: remove [dns] zones or pick another role");
    }
  }
  if (c.enabled()) {
    if (c.tls_ca.empty()) problems.Add("cluster", "tls_cert is set but tls_ca is not");
    if (c.tls_key.empty()) problems.Add("cluster", "tls_cert is set but tls_key is not");
    const std::string& addr = c.advertise.empty() ? c.listen : c.advertise;
    const size_t colon = addr.rfind(':');
    std::string host = addr.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    if (host == "0.0.0.0" || host == "::" || addr.substr(colon + 1) == "0") {
      problems.Add("cluster",
                   fmt::format("{} {} cannot be dialled by other nodes; set cluster.advertise to "
                               "this node's reachable ip:port",
                               c.advertise.empty() ? "listen" : "advertise", Quote(addr)));
    }
    return;
  }
  if (!c.seeds.empty() || !c.srv_domain.empty() || !c.tls_ca.empty() || !c.tls_key.empty()) {
    problems.Add("cluster",
                 "seeds, srv_domain, tls_ca or tls_key are set but tls_cert is not: the cluster "
                 "layer needs tls_ca, tls_cert and tls_key (see `meshkv tls --help`)");
  }
}

Result<Config> LoadConfigOrThrow(const ConfigSources& sources) {
  Config config;
  config.namespaces = BuiltinNamespaces();
  Problems problems;
  if (sources.file.has_value()) {
    config.config_path = *sources.file;
    auto root = ParseTomlFile(*sources.file);
    if (!root.ok()) return root.status();
    FileReader(*sources.file, problems).ReadAll(*root, config);
  }
  ApplyEnvironment(sources.env, config, problems);
  ApplyFlags(sources.flags, config, problems);
  CheckClusterSettings(config, problems);
  if (!problems.empty()) return problems.ToStatus();
  return config;
}

Result<std::vector<TokenSpec>> LoadTokensOrThrow(const std::string& path) {
  auto root = ParseTomlFile(path);
  if (!root.ok()) return root.status();
  Problems problems;
  std::vector<TokenSpec> tokens = FileReader(path, problems).ReadTokensOnly(*root);
  if (!problems.empty()) return problems.ToStatus();
  return tokens;
}

// Prefixes every line of `text` with "# ".
std::string Comment(std::string_view text) {
  std::string out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    out += line.empty() ? "#\n" : "# " + std::string(line) + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace

Result<Config> LoadConfig(const ConfigSources& sources) {
  try {
    return LoadConfigOrThrow(sources);
  } catch (const std::exception& e) {
    return Internal(std::string("loading the config failed: ") + e.what());
  }
}

Result<std::vector<TokenSpec>> LoadTokens(const std::string& path) {
  try {
    return LoadTokensOrThrow(path);
  } catch (const std::exception& e) {
    return Internal(std::string("loading tokens failed: ") + e.what());
  }
}

std::map<std::string, std::string> MeshkvEnvironment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    if (!text.starts_with(kEnvPrefix)) continue;
    size_t equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    env.emplace(text.substr(0, equals), text.substr(equals + 1));
  }
  return env;
}

std::string DefaultConfigToml() {
  const Config d;
  const NamespaceSpec ns;
  std::string builtins;
  for (const NamespaceSpec& b : BuiltinNamespaces()) {
    builtins += fmt::format(
        "  {}: replicas = {}, consistency = \"{}\", sync_policy = \"{}\",\n"
        "    default_ttl = \"{}\", max_value_bytes = {}, storage = \"{}\"\n",
        b.name, ReplicasToml(b.replicas), ConsistencyName(b.consistency),
        SyncPolicyName(b.sync_policy), FormatDurationMillis(b.default_ttl_ms), b.max_value_bytes,
        StorageKindName(b.storage));
  }
  std::string out;
  out += Comment(
      "meshkv node configuration (`meshkv config default` prints this file).\n"
      "\n"
      "Every key below is set to its default; delete what you do not change.\n"
      "Precedence: this file, then MESHKV_<SECTION>_<KEY> environment variables\n"
      "(MESHKV_HTTP_LISTEN, MESHKV_STORAGE_SYNC, ...), then command-line flags.\n"
      "Unknown keys and bad values are errors naming the key and the line.\n"
      "Durations are strings: \"500ms\", \"30s\", \"5m\", \"2h\", \"1d\", \"1h30m\".\n"
      "Sizes are integers in bytes.\n"
      "Authentication can be turned off only with the --dev-insecure flag (never\n"
      "from this file or the environment); do not use it outside development.");
  out += "\n[node]\n";
  out += Comment(
      "Directory for this node's state: node_id, the LOCK file, the database (db/)\n"
      "and, when no tokens are configured, a generated admin.token (mode 0600).");
  out += fmt::format("data_dir = {}\n", TomlString(d.node.data_dir));
  out += Comment(
      "\"normal\"; \"replica_only\": owns and serves data but refuses client writes\n"
      "(409; send writes to another node); \"reject_local_writes\": stores no data and\n"
      "coordinates every request to the owners (needs [cluster], no [dns] zones).");
  out += fmt::format("role = {}\n", TomlString(d.node.role));

  out += "\n[http]\n";
  out += Comment(
      "Address of the HTTP API, host:port. Port 0 picks any free port; IPv6 as\n"
      "\"[::1]:7070\"; \"0.0.0.0:7070\" listens on every interface.");
  out += fmt::format("listen = {}\n", TomlString(d.http.listen));
  out += Comment("I/O threads, 0..256; 0 = one per CPU core.");
  out += fmt::format("threads = {}\n", d.http.threads);
  out += Comment(
      "Largest request line plus headers, in bytes (16 KiB), 1024..1048576.\n"
      "Bigger requests get 431.");
  out += fmt::format("max_header_bytes = {}\n", d.http.max_header_bytes);
  out += Comment(
      "Largest request body of any request (batches included), in bytes\n"
      "(1 MiB + 64 KiB), 1..8388608: a request's writes reach each replica in\n"
      "one message of at most 8 MiB. Bigger bodies get 413. Keep it above the\n"
      "largest max_value_bytes of any namespace.");
  out += fmt::format("max_body_bytes = {}\n", d.http.max_body_bytes);
  out += Comment("A whole request must arrive within this (10ms..1h).");
  out += fmt::format("request_timeout = \"{}\"\n", FormatDurationMillis(d.http.request_timeout_ms));
  out += Comment("A keep-alive connection with no request for this long is closed (10ms..1d).");
  out += fmt::format("idle_timeout = \"{}\"\n", FormatDurationMillis(d.http.idle_timeout_ms));
  out += Comment("Open connections, 1..1000000; beyond this new ones get 503 and are closed.");
  out += fmt::format("max_connections = {}\n", d.http.max_connections);
  out += Comment("Requests being served at once, 1..1000000; beyond this: 429 with Retry-After.");
  out += fmt::format("max_inflight_requests = {}\n", d.http.max_inflight_requests);

  out += "\n[storage]\n";
  out += Comment(
      "\"rocksdb\" (on disk in data_dir/db) or \"memory\" (every namespace in memory;\n"
      "lost on restart).");
  out += fmt::format("engine = {}\n", TomlString(d.storage.engine));
  out += Comment(
      "\"none\": writes reach the OS before they are acknowledged and survive a process\n"
      "crash; \"always\": each group commit is fsynced and survives power loss.");
  out += fmt::format("sync = \"{}\"\n", d.storage.sync_always ? "always" : "none");
  out += Comment("RocksDB block cache, in bytes (128 MiB), 65536..1099511627776.");
  out += fmt::format("block_cache_bytes = {}\n", d.storage.block_cache_bytes);
  out += Comment("RocksDB memtable size, in bytes (64 MiB), 65536..17179869184.");
  out += fmt::format("write_buffer_bytes = {}\n", d.storage.write_buffer_bytes);

  out += "\n[clock]\n";
  out += Comment(
      "A peer timestamp more than this ahead of the local clock is refused and\n"
      "counted, so one bad clock cannot win every last-writer-wins race (1ms..1h).");
  out += fmt::format("max_clock_skew = \"{}\"\n", FormatDurationMillis(d.clock.max_clock_skew_ms));

  out += "\n[dns]\n";
  out += Comment(
      "The authoritative DNS server: UDP and TCP on `listen`, answering for `zones`\n"
      "from the records in the `dns` namespace (POST /v1/records/{name}). It runs\n"
      "only when `zones` is not empty.");
  out += fmt::format("listen = {}\n", TomlString(d.dns.listen));
  out += Comment("Zone apexes, e.g. [\"example.test\"].");
  out += "zones = []\n";
  out += Comment(
      "NS names published for every zone when the zone has no NS records of its own;\n"
      "empty: \"ns1.<zone>\" with an A/AAAA glue record for the listen address.");
  out += "nameservers = []\n";
  out += Comment("SOA RNAME (mailbox of the zone's admin); empty: \"hostmaster.<zone>\".");
  out += "soa_rname = \"\"\n";
  out +=
      Comment("SOA timers (RFC 1035 3.3.13); soa_minimum is the negative-caching TTL (RFC 2308).");
  out += fmt::format("soa_refresh = \"{}\"\n", FormatDurationMillis(d.dns.soa_refresh_s * 1000));
  out += fmt::format("soa_retry = \"{}\"\n", FormatDurationMillis(d.dns.soa_retry_s * 1000));
  out += fmt::format("soa_expire = \"{}\"\n", FormatDurationMillis(d.dns.soa_expire_s * 1000));
  out += fmt::format("soa_minimum = \"{}\"\n", FormatDurationMillis(d.dns.soa_minimum_s * 1000));
  out += Comment("TTL of records added without one.");
  out += fmt::format("default_ttl = \"{}\"\n", FormatDurationMillis(d.dns.default_ttl_s * 1000));
  out += Comment("Client IP addresses allowed to transfer zones (AXFR); empty: nobody.");
  out += "axfr_allow = []\n";
  out += Comment("Largest UDP response we send to EDNS clients, 512..4096 (RFC 6891).");
  out += fmt::format("max_udp_payload = {}\n", d.dns.max_udp_payload);

  out += "\n[cluster]\n";
  out += Comment(
      "Membership (SWIM gossip over UDP) and peer RPC (TCP + TLS 1.3 with a cluster\n"
      "CA). Runs when tls_cert is set; then tls_ca, tls_key and a gossip key are needed.\n"
      "`meshkv cluster up -n 3` writes a working example for a local cluster.");
  out += Comment("Cluster name; nodes of another cluster never mix with this one.");
  out += fmt::format("name = {}\n", TomlString(d.cluster.name));
  out += Comment("host:port for peer RPC (TCP) and gossip (UDP).");
  out += fmt::format("listen = {}\n", TomlString(d.cluster.listen));
  out += Comment("host:port other nodes dial; empty: listen (must then be a specific IP).");
  out += "advertise = \"\"\n";
  out += Comment("Nodes to join through: \"host:port\" or \"<node id>@host:port\".");
  out += "seeds = []\n";
  out += Comment(
      "Failure detector timing: \"lan\" (probe 1s), \"wan\" (probe 5s) or \"local\"\n"
      "(probe 1s, faster suspicion; one machine).");
  out += fmt::format("preset = {}\n", TomlString(d.cluster.preset));
  out += Comment(
      "Gossip encryption key, base64 of 32 bytes (`meshkv keygen`). Used to create\n"
      "<data_dir>/keyring on first start; afterwards the keyring file (rotated with\n"
      "`meshkv keyring install|use|remove`) wins. Also MESHKV_CLUSTER_GOSSIP_KEY.");
  out += "gossip_key = \"\"\n";
  out += Comment("PEM files: cluster CA, this node's certificate and key (`meshkv tls --help`).");
  out += "tls_ca = \"\"\ntls_cert = \"\"\ntls_key = \"\"\n";
  out += Comment(
      "Seed discovery by DNS: SRV _meshkv._tcp.<srv_domain>, asked of srv_resolver\n"
      "(host:port; empty: the first nameserver in /etc/resolv.conf) every srv_refresh.");
  out += "srv_domain = \"\"\nsrv_resolver = \"\"\n";
  out += fmt::format("srv_refresh = \"{}\"\n", FormatDurationMillis(d.cluster.srv_refresh_ms));
  out +=
      Comment("Period of re-joining seeds and reconnecting to dead members (after a partition).");
  out +=
      fmt::format("rejoin_interval = \"{}\"\n", FormatDurationMillis(d.cluster.rejoin_interval_ms));
  out += Comment("Metadata shown in `meshkv members`, as \"key=value\".");
  out += "tags = []\n";

  out += "\n[replication]\n";
  out += Comment(
      "Anti-entropy: every anti_entropy_interval (\"0\" = only `meshkv repair`) this node\n"
      "compares its partitions with one co-replica and exchanges what differs,\n"
      "at most anti_entropy_bytes_per_second.");
  out += fmt::format("anti_entropy_interval = \"{}\"\n",
                     FormatDurationMillis(d.replication.anti_entropy_interval_ms));
  out += fmt::format("anti_entropy_bytes_per_second = {}\n",
                     d.replication.anti_entropy_bytes_per_second);
  out += Comment(
      "Deleted keys keep a tombstone at least gc_grace, and until every replica is known\n"
      "to have it. A node away longer than gc_grace resyncs from its peers as if empty.\n"
      "Hints expire after 3 h, or gc_grace / 2 when that is shorter.");
  out += fmt::format("gc_grace = \"{}\"\n", FormatDurationMillis(d.replication.gc_grace_ms));
  out += Comment("Keep hints (on this coordinator) for replicas that missed a write.");
  out += fmt::format("hinted_handoff = {}\n", d.replication.hinted_handoff ? "true" : "false");

  out += "\n[log]\n";
  out += Comment("\"trace\", \"debug\", \"info\", \"warn\" or \"error\".");
  out += fmt::format("level = {}\n", TomlString(d.log.level));

  out += "\n";
  out += Comment(
      "Client tokens. Requests need `Authorization: Bearer <secret>`; this file holds\n"
      "only the SHA-256 of each secret, e.g. from: printf %s \"$SECRET\" | sha256sum\n"
      "Scopes: \"read\", \"write\", \"admin\" (admin implies read and write). A token may\n"
      "be limited to one namespace and/or a key prefix. With no tokens configured,\n"
      "a node generates an admin token into data_dir and logs where. A reload\n"
      "re-reads only [[tokens]].\n"
      "\n"
      "[[tokens]]\n"
      "name = \"ci\"            # shown in logs and errors; 1..64 of A-Z a-z 0-9 _ - .\n"
      "sha256 = \"<64 hex digits>\"\n"
      "scopes = [\"read\", \"write\"]\n"
      "namespace = \"app\"      # optional: only this namespace (must be configured)\n"
      "prefix = \"builds/\"     # optional: only keys starting with this");

  out += "\n";
  out += Comment("Namespaces: keyspaces with their own replication spec. Built in:\n" + builtins +
                 "A [namespaces.default] or [namespaces.dns] block changes only the keys it\n"
                 "sets; any other name adds a namespace (1..64 of a-z 0-9 _ -, starting\n"
                 "with a letter). Every key, with the defaults of a new namespace:\n"
                 "\n"
                 "[namespaces.app]");
  out += Comment(fmt::format(
      "# Copies of each key: 1..16, or \"all\" (every owner node holds everything).\n"
      "replicas = {}\n"
      "# Default consistency of reads and writes: \"one\", \"quorum\" or \"all\".\n"
      "consistency = \"{}\"\n"
      "# \"lww\" (last writer wins) or \"primary_writer\" (only `writers` originate\n"
      "# writes; other nodes refuse client writes and drop replicated ones).\n"
      "sync_policy = \"{}\"\n"
      "# Node ids (16 hex digits) allowed to originate writes; only with primary_writer.\n"
      "# writers = [\"1f2e3d4c5b6a7988\"]\n"
      "# Expiry of entries written without ?ttl=; \"0s\" = never.\n"
      "default_ttl = \"{}\"\n"
      "# Largest value in bytes (1 MiB), 0..8388608.\n"
      "max_value_bytes = {}\n"
      "# Where the data lives on each node: \"disk\" or \"memory\".\n"
      "storage = \"{}\"",
      ReplicasToml(ns.replicas), ConsistencyName(ns.consistency), SyncPolicyName(ns.sync_policy),
      FormatDurationMillis(ns.default_ttl_ms), ns.max_value_bytes, StorageKindName(ns.storage)));
  return out;
}

}  // namespace meshkv
