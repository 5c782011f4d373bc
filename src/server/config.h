// Node configuration: TOML file, then MESHKV_* environment, then flags (flags
// win). Every key is documented in `meshkv config default`, which prints the
// defaults as an annotated TOML file that LoadConfig accepts unchanged.
//
// Errors name the key, the source and (for files) the line:
//   config.toml:12: http.max_body_bytes: expected an integer, got a string
//   env MESHKV_HTTP_THREADS: expected an integer, got "two"
//   flag http.listen: "localhost" is not host:port
// and unknown keys are errors, never ignored. Every problem found is
// reported in one kInvalidArgument status, one problem per line.
//
// Keys: [node] [http] [storage] [clock] [dns] [cluster] [log] as in Config below; durations
// are strings ("30s") under the field's name without `_ms`
// (http.request_timeout -> request_timeout_ms); storage.sync is "none" or
// "always"; [[tokens]] has name, sha256, scopes, namespace, prefix;
// [namespaces.NAME] has replicas (1..16 or "all"), consistency, sync_policy,
// writers, default_ttl, max_value_bytes, storage ("disk" | "memory").
//
// Environment: MESHKV_<SECTION>_<KEY>, e.g. MESHKV_HTTP_MAX_BODY_BYTES,
// MESHKV_STORAGE_SYNC; values are converted to the key's type. The client's
// MESHKV_TOKEN, MESHKV_ADDR and our scripts' knobs (MESHKV_BIN, MESHKV_LISTEN,
// MESHKV_RUN_DIR, MESHKV_SETUP_BENCH) are ignored; any other unknown MESHKV_* is an
// error. Tokens and namespaces come only from the file; dev_insecure only
// from a flag.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "model/namespace_spec.h"
#include "trust/tokens.h"

namespace meshkv {

struct Config {
  struct Node {
    std::string data_dir = "./data";  // holds node_id, LOCK, db/, admin.token
    // "normal"; "replica_only": owns and serves data, refuses client writes;
    // "reject_local_writes": holds no data, coordinates requests to the owners.
    std::string role = "normal";
  } node;

  struct Http {
    std::string listen = "127.0.0.1:7070";           // host:port; port 0 = any free port
    int threads = 0;                                 // io threads; 0 = one per core
    int64_t max_header_bytes = 16 * 1024;            // request line + headers
    int64_t max_body_bytes = (1 << 20) + 64 * 1024;  // cap for any body (batch included)
    int64_t request_timeout_ms = 30'000;             // whole request must arrive within this
    int64_t idle_timeout_ms = 60'000;                // keep-alive connection idle limit
    int max_connections = 10'000;                    // beyond this: 503 and close
    int max_inflight_requests = 4'096;               // beyond this: 429 with Retry-After
  } http;

  struct Storage {
    std::string engine = "rocksdb";  // "rocksdb" | "memory" (all namespaces in memory)
    bool sync_always = false;        // sync = "always" (fsync each group commit) | "none"
    int64_t block_cache_bytes = 128ll << 20;
    int64_t write_buffer_bytes = 64ll << 20;
  } storage;

  struct Clock {
    int64_t max_clock_skew_ms = 500;
  } clock;

  // The authoritative DNS server (runs when `zones` is not empty).
  struct Dns {
    std::string listen = "127.0.0.1:7053";  // UDP and TCP host:port
    std::vector<std::string> zones;         // zone apexes we answer for, e.g. "example.test"
    std::vector<std::string> nameservers;   // NS names; empty: "ns1.<zone>" (glue = listen IP)
    std::string soa_rname;                  // SOA RNAME; empty: "hostmaster.<zone>"
    int64_t soa_refresh_s = 3600;
    int64_t soa_retry_s = 900;
    int64_t soa_expire_s = 604800;
    int64_t soa_minimum_s = 300;          // negative-caching TTL (RFC 2308)
    int64_t default_ttl_s = 300;          // TTL of records added without one
    std::vector<std::string> axfr_allow;  // client IPs allowed to AXFR; empty: nobody
    int max_udp_payload = 1232;           // our EDNS buffer size (RFC 6891, DNS flag day 2020)
  } dns;

  // Cluster membership and peer links (runs when tls_cert is set; then tls_ca,
  // tls_key and a gossip key are required).
  struct Cluster {
    std::string name = "meshkv";            // nodes of other clusters never mix with ours
    std::string listen = "127.0.0.1:7946";  // peer RPC (TCP) and gossip (UDP), same host:port
    std::string advertise;                  // host:port others reach us at; "" = listen
    std::vector<std::string> seeds;         // "host:port" or "id@host:port"
    std::string preset = "lan";             // failure detector timing: lan | wan | local
    std::string gossip_key;                 // base64 32 bytes; seeds <data_dir>/keyring
    std::string tls_ca;                     // PEM: the cluster CA
    std::string tls_cert;                   // PEM: this node's certificate (carries its id)
    std::string tls_key;                    // PEM: this node's private key
    std::string srv_domain;                 // "" = off; else SRV _meshkv._tcp.<srv_domain>
    std::string srv_resolver;               // DNS server host:port; "" = /etc/resolv.conf
    int64_t srv_refresh_ms = 30'000;        // SRV lookup period
    int64_t rejoin_interval_ms = 30'000;    // retry seeds / reconnect to dead members
    std::vector<std::string> tags;          // "key=value" metadata shown in members
    bool enabled() const { return !tls_cert.empty(); }
  } cluster;

  struct Replication {
    int64_t anti_entropy_interval_ms = 1'000;                // 0 = no periodic rounds
    int64_t anti_entropy_bytes_per_second = 16ll << 20;      // rate limit of repair traffic
    int64_t gc_grace_ms = 24ll * 3600 * 1000;                // tombstones live at least this long
    bool hinted_handoff = true;                              // keep hints for missed replicas
  } replication;

  struct Log {
    std::string level = "info";  // trace|debug|info|warn|error
  } log;

  // Auth disabled; flag only (--dev-insecure), never from file or env.
  bool dev_insecure = false;

  std::vector<TokenSpec> tokens;          // [[tokens]]
  std::vector<NamespaceSpec> namespaces;  // built-ins, then [namespaces.NAME]

  // Where the config came from, for `status` and reload ("" = no file).
  std::string config_path;
};

struct ConfigSources {
  std::optional<std::string> file;         // TOML path
  std::map<std::string, std::string> env;  // usually the process environment
  // dotted key -> value, converted like environment values; errors name the
  // dotted key ("flag http.listen: ..."), whatever the CLI calls the flag.
  std::vector<std::pair<std::string, std::string>> flags;
};

// Loads and validates. Flags use dotted keys ("http.listen", "node.data_dir",
// "storage.sync", "log.level", "http.request_timeout", "dev_insecure" =
// "true" | "false"). Errors: kInvalidArgument for anything wrong in the
// sources, kNotFound when the file does not exist, kFailedPrecondition when
// it cannot be read. Never throws.
Result<Config> LoadConfig(const ConfigSources& sources);

// Reads only [[tokens]] from `path` again (for SIGHUP reload), validated as
// LoadConfig does (token namespaces must be built-ins or [namespaces.NAME]
// of the same file); other sections are not looked at. Same error codes.
Result<std::vector<TokenSpec>> LoadTokens(const std::string& path);

// The annotated default config (`meshkv config default`).
std::string DefaultConfigToml();

// The process environment as a map (MESHKV_* entries only).
std::map<std::string, std::string> MeshkvEnvironment();

}  // namespace meshkv
