#include "server/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "base/node_id.h"

namespace meshkv {
namespace {

// A fresh directory under the system temp dir, removed when the test ends
// (also when an assertion fails).
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "meshkv_config_XXXXXX");
    char* made = mkdtemp(pattern.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string Write(const std::string& name, std::string_view content) const {
    std::string file = (path_ / name).string();
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << content;
    return file;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

void ExpectSameNamespaces(const std::vector<NamespaceSpec>& a,
                          const std::vector<NamespaceSpec>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(a[i].name);
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].replicas, b[i].replicas);
    EXPECT_EQ(a[i].consistency, b[i].consistency);
    EXPECT_EQ(a[i].sync_policy, b[i].sync_policy);
    EXPECT_EQ(a[i].writers, b[i].writers);
    EXPECT_EQ(a[i].default_ttl_ms, b[i].default_ttl_ms);
    EXPECT_EQ(a[i].max_value_bytes, b[i].max_value_bytes);
    EXPECT_EQ(a[i].storage, b[i].storage);
  }
}

// Everything except config_path.
void ExpectSameSettings(const Config& a, const Config& b) {
  EXPECT_EQ(a.node.data_dir, b.node.data_dir);
  EXPECT_EQ(a.http.listen, b.http.listen);
  EXPECT_EQ(a.http.threads, b.http.threads);
  EXPECT_EQ(a.http.max_header_bytes, b.http.max_header_bytes);
  EXPECT_EQ(a.http.max_body_bytes, b.http.max_body_bytes);
  EXPECT_EQ(a.http.request_timeout_ms, b.http.request_timeout_ms);
  EXPECT_EQ(a.http.idle_timeout_ms, b.http.idle_timeout_ms);
  EXPECT_EQ(a.http.max_connections, b.http.max_connections);
  EXPECT_EQ(a.http.max_inflight_requests, b.http.max_inflight_requests);
  EXPECT_EQ(a.storage.engine, b.storage.engine);
  EXPECT_EQ(a.storage.sync_always, b.storage.sync_always);
  EXPECT_EQ(a.storage.block_cache_bytes, b.storage.block_cache_bytes);
  EXPECT_EQ(a.storage.write_buffer_bytes, b.storage.write_buffer_bytes);
  EXPECT_EQ(a.clock.max_clock_skew_ms, b.clock.max_clock_skew_ms);
  EXPECT_EQ(a.log.level, b.log.level);
  EXPECT_EQ(a.dev_insecure, b.dev_insecure);
  ASSERT_EQ(a.tokens.size(), b.tokens.size());
  for (size_t i = 0; i < a.tokens.size(); ++i) {
    EXPECT_EQ(a.tokens[i].name, b.tokens[i].name);
    EXPECT_EQ(a.tokens[i].sha256_hex, b.tokens[i].sha256_hex);
    EXPECT_EQ(a.tokens[i].scopes, b.tokens[i].scopes);
    EXPECT_EQ(a.tokens[i].ns, b.tokens[i].ns);
    EXPECT_EQ(a.tokens[i].key_prefix, b.tokens[i].key_prefix);
  }
  ExpectSameNamespaces(a.namespaces, b.namespaces);
}

Config Defaults() {
  Config config;
  config.namespaces = BuiltinNamespaces();
  return config;
}

class ConfigTest : public ::testing::Test {
 protected:
  // Loads `toml` (when non-empty) as config.toml plus env and flags.
  Result<Config> Load(std::string_view toml, std::map<std::string, std::string> env = {},
                      std::vector<std::pair<std::string, std::string>> flags = {}) {
    ConfigSources sources;
    if (!toml.empty()) sources.file = dir_.Write("config.toml", toml);
    sources.env = std::move(env);
    sources.flags = std::move(flags);
    return LoadConfig(sources);
  }

  Config LoadOk(std::string_view toml, std::map<std::string, std::string> env = {},
                std::vector<std::pair<std::string, std::string>> flags = {}) {
    auto config = Load(toml, std::move(env), std::move(flags));
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    return config.ok() ? *config : Config{};
  }

  // Expects an InvalidArgument whose message contains `fragment`, where
  // "FILE" in the fragment stands for the config file's path.
  void ExpectError(std::string_view toml, std::string fragment,
                   std::map<std::string, std::string> env = {},
                   std::vector<std::pair<std::string, std::string>> flags = {}) {
    auto config = Load(toml, std::move(env), std::move(flags));
    ASSERT_FALSE(config.ok()) << "expected an error containing: " << fragment;
    EXPECT_EQ(config.status().code(), ErrorCode::kInvalidArgument);
    const std::string file = File();
    for (size_t at = fragment.find("FILE"); at != std::string::npos; at = fragment.find("FILE")) {
      fragment.replace(at, 4, file);
    }
    EXPECT_TRUE(Contains(config.status().message(), fragment))
        << "message: " << config.status().message() << "\nexpected: " << fragment;
  }

  std::string File() const { return (dir_.path() / "config.toml").string(); }

  TempDir dir_;
};

// Valid SHA-256 hex digests for tests.
const std::string kHashA = Sha256Hex("secret-a");
const std::string kHashB = Sha256Hex("secret-b");

TEST_F(ConfigTest, NoSourcesGiveTheDefaults) {
  auto config = LoadConfig(ConfigSources{});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ExpectSameSettings(*config, Defaults());
  EXPECT_EQ(config->config_path, "");
  EXPECT_TRUE(config->tokens.empty());
  EXPECT_FALSE(config->dev_insecure);
  // The documented defaults.
  EXPECT_EQ(config->http.listen, "127.0.0.1:7070");
  EXPECT_EQ(config->http.request_timeout_ms, 30'000);
  EXPECT_EQ(config->clock.max_clock_skew_ms, 500);
  EXPECT_EQ(config->storage.engine, "rocksdb");
  EXPECT_FALSE(config->storage.sync_always);
  ASSERT_EQ(config->namespaces.size(), 2u);
  EXPECT_EQ(config->namespaces[0].name, "default");
  EXPECT_EQ(config->namespaces[1].name, "dns");
}

TEST_F(ConfigTest, EmptyFileGivesTheDefaults) {
  Config config = LoadOk("# nothing here\n");
  ExpectSameSettings(config, Defaults());
  EXPECT_EQ(config.config_path, File());
}

TEST_F(ConfigTest, FileSetsEveryKey) {
  Config config = LoadOk(
      "[node]\n"
      "data_dir = \"/var/lib/meshkv\"\n"
      "[http]\n"
      "listen = \"[::1]:0\"\n"
      "threads = 4\n"
      "max_header_bytes = 8192\n"
      "max_body_bytes = 2_000_000\n"
      "request_timeout = \"1m30s\"\n"
      "idle_timeout = \"500ms\"\n"
      "max_connections = 100\n"
      "max_inflight_requests = 10\n"
      "[storage]\n"
      "engine = \"memory\"\n"
      "sync = \"always\"\n"
      "block_cache_bytes = 1048576\n"
      "write_buffer_bytes = 2097152\n"
      "[clock]\n"
      "max_clock_skew = \"2s\"\n"
      "[log]\n"
      "level = \"debug\"\n");
  EXPECT_EQ(config.node.data_dir, "/var/lib/meshkv");
  EXPECT_EQ(config.http.listen, "[::1]:0");
  EXPECT_EQ(config.http.threads, 4);
  EXPECT_EQ(config.http.max_header_bytes, 8192);
  EXPECT_EQ(config.http.max_body_bytes, 2'000'000);
  EXPECT_EQ(config.http.request_timeout_ms, 90'000);
  EXPECT_EQ(config.http.idle_timeout_ms, 500);
  EXPECT_EQ(config.http.max_connections, 100);
  EXPECT_EQ(config.http.max_inflight_requests, 10);
  EXPECT_EQ(config.storage.engine, "memory");
  EXPECT_TRUE(config.storage.sync_always);
  EXPECT_EQ(config.storage.block_cache_bytes, 1 << 20);
  EXPECT_EQ(config.storage.write_buffer_bytes, 2 << 20);
  EXPECT_EQ(config.clock.max_clock_skew_ms, 2000);
  EXPECT_EQ(config.log.level, "debug");
}

TEST_F(ConfigTest, PrecedenceFileThenEnvThenFlags) {
  Config config = LoadOk(
      "[http]\n"
      "listen = \"127.0.0.1:1000\"\n"
      "threads = 2\n"
      "[log]\n"
      "level = \"debug\"\n",
      {{"MESHKV_HTTP_LISTEN", "127.0.0.1:2000"},
       {"MESHKV_LOG_LEVEL", "warn"},
       {"MESHKV_HTTP_MAX_BODY_BYTES", "3000000"},
       {"MESHKV_HTTP_REQUEST_TIMEOUT", "5s"},
       {"MESHKV_STORAGE_SYNC", "always"},
       {"MESHKV_CLOCK_MAX_CLOCK_SKEW", "1s"},
       {"MESHKV_NODE_DATA_DIR", "/srv/env"},
       {"MESHKV_TOKEN", "client side, ignored"},
       {"MESHKV_ADDR", "client side, ignored"},
       {"PATH", "/usr/bin"},
       {"HOME", "/root"}},
      {{"http.listen", "127.0.0.1:3000"},
       {"node.data_dir", "/srv/flag"},
       {"storage.sync", "none"},
       {"dev_insecure", "true"}});
  EXPECT_EQ(config.http.listen, "127.0.0.1:3000");  // flag over env over file
  EXPECT_EQ(config.http.threads, 2);                // file only
  EXPECT_EQ(config.log.level, "warn");              // env over file
  EXPECT_EQ(config.http.max_body_bytes, 3'000'000);
  EXPECT_EQ(config.http.request_timeout_ms, 5000);
  EXPECT_EQ(config.clock.max_clock_skew_ms, 1000);
  EXPECT_FALSE(config.storage.sync_always);  // flag over env
  EXPECT_EQ(config.node.data_dir, "/srv/flag");
  EXPECT_TRUE(config.dev_insecure);
}

TEST_F(ConfigTest, EnvAndFlagsWithoutAFile) {
  auto config = LoadConfig(ConfigSources{
      std::nullopt, {{"MESHKV_HTTP_THREADS", "8"}}, {{"http.max_connections", "50"}}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->http.threads, 8);
  EXPECT_EQ(config->http.max_connections, 50);
  EXPECT_EQ(config->config_path, "");
}

TEST_F(ConfigTest, DevInsecureFlagValues) {
  EXPECT_FALSE(LoadOk("", {}, {{"dev_insecure", "false"}}).dev_insecure);
  EXPECT_TRUE(LoadOk("", {}, {{"dev_insecure", "true"}}).dev_insecure);
  ExpectError("", "flag dev_insecure: expected true or false, got \"yes\"", {},
              {{"dev_insecure", "yes"}});
  ExpectError("dev_insecure = true\n",
              "FILE:1: dev_insecure: can only be set with the --dev-insecure flag");
  ExpectError("", "env MESHKV_DEV_INSECURE: dev_insecure can only be set with the --dev-insecure",
              {{"MESHKV_DEV_INSECURE", "true"}});
}

TEST_F(ConfigTest, UnknownKeysNameTheKeyAndLine) {
  ExpectError(
      "[http]\n"
      "listen = \"127.0.0.1:7070\"\n"
      "listn = \"127.0.0.1:7070\"\n",
      "FILE:3: http.listn: unknown key; did you mean http.listen?");
  ExpectError("\n\nfoo = 1\n", "FILE:3: foo: unknown key");
  ExpectError("[htp]\nlisten = \"x\"\n", "FILE:1: htp: unknown key; did you mean http?");
  ExpectError("[http.tls]\ncert = \"x\"\n", "FILE:1: http.tls: unknown key");
  ExpectError("[storage]\nsync_always = true\n", "FILE:2: storage.sync_always: unknown key");
  // A duration key spelled with the struct field's name.
  ExpectError("[http]\n\nrequest_timeout_ms = 5\n",
              "FILE:3: http.request_timeout_ms: unknown key; did you mean http.request_timeout?");
  ExpectError("[namespaces.app]\nreplica = 3\n",
              "FILE:2: namespaces.app.replica: unknown key; did you mean namespaces.app.replicas?");
  ExpectError(
      "[[tokens]]\n"
      "name = \"ci\"\n"
      "sha256 = \"" +
          kHashA +
          "\"\n"
          "scopes = [\"read\"]\n"
          "prefx = \"a/\"\n",
      "FILE:5: tokens[0].prefx: unknown key; did you mean tokens[0].prefix?");
}

TEST_F(ConfigTest, WrongTypesNameTheKeyAndLine) {
  ExpectError("[http]\nthreads = \"two\"\n",
              "FILE:2: http.threads: expected an integer, got a string");
  ExpectError("[http]\n\nlisten = 7070\n",
              "FILE:3: http.listen: expected a string, got an integer");
  ExpectError("[http]\nmax_body_bytes = 1.5e6\n",
              "FILE:2: http.max_body_bytes: expected an integer, got a float");
  ExpectError("[http]\nrequest_timeout = 30\n",
              "FILE:2: http.request_timeout: expected a duration string such as \"30s\", got an "
              "integer");
  ExpectError("[log]\nlevel = [\"info\"]\n", "FILE:2: log.level: expected a string, got an array");
  ExpectError("http = 5\n", "FILE:1: http: expected a table, got an integer");
  ExpectError("[namespaces]\napp = 1\n",
              "FILE:2: namespaces.app: expected a table, got an integer");
  ExpectError("[tokens]\nname = \"x\"\n", "FILE:1: tokens: expected an array of tables");
}

TEST_F(ConfigTest, BadValues) {
  ExpectError("[http]\nrequest_timeout = \"5x\"\n",
              "FILE:2: http.request_timeout: duration '5x' has unknown unit 'x'");
  ExpectError("[http]\nidle_timeout = \"30\"\n",
              "FILE:2: http.idle_timeout: duration '30' is missing a unit");
  ExpectError("[http]\nrequest_timeout = \"2h\"\n",
              "FILE:2: http.request_timeout: must be between 10ms and 1h, got 2h");
  ExpectError("[http]\nthreads = 300\n", "FILE:2: http.threads: must be 0..256, got 300");
  ExpectError("[http]\nthreads = -1\n", "FILE:2: http.threads: must be 0..256, got -1");
  ExpectError("[http]\nmax_body_bytes = 0\n", "FILE:2: http.max_body_bytes: must be 1..");
  ExpectError("[http]\nmax_body_bytes = 8388609\n",
              "FILE:2: http.max_body_bytes: must be 1..8388608, got 8388609 (a request's writes "
              "reach each replica in one message of at most 8 MiB; send larger batches in "
              "several requests)");
  ExpectError("[http]\nmax_connections = 0\n", "FILE:2: http.max_connections: must be 1..");
  ExpectError("[storage]\nengine = \"leveldb\"\n",
              "FILE:2: storage.engine: \"leveldb\" is not one of: \"rocksdb\", \"memory\"");
  ExpectError("[storage]\nsync = \"sometimes\"\n",
              "FILE:2: storage.sync: \"sometimes\" is not one of: \"none\", \"always\"");
  ExpectError("[storage]\nblock_cache_bytes = 0\n", "FILE:2: storage.block_cache_bytes: must be");
  ExpectError("[log]\nlevel = \"verbose\"\n",
              "FILE:2: log.level: \"verbose\" is not one of: \"trace\", \"debug\", \"info\", "
              "\"warn\", \"error\"");
  ExpectError("[clock]\nmax_clock_skew = \"0s\"\n",
              "FILE:2: clock.max_clock_skew: must be between 1ms and 1h, got 0s");
  ExpectError("[node]\ndata_dir = \"\"\n", "FILE:2: node.data_dir: must not be empty");
}

TEST_F(ConfigTest, ListenMustBeHostPort) {
  for (std::string_view good : {"127.0.0.1:7070", "0.0.0.0:0", "localhost:65535", "[::1]:7070",
                                "[::]:80", "node-1.lan:1", "meshkv_node_1:7070"}) {
    EXPECT_EQ(LoadOk("", {}, {{"http.listen", std::string(good)}}).http.listen, good);
  }
  ExpectError("[http]\nlisten = \"localhost\"\n",
              "FILE:2: http.listen: \"localhost\" is not host:port");
  ExpectError("", "flag http.listen: \"localhost\" is not host:port", {},
              {{"http.listen", "localhost"}});
  ExpectError("", "flag http.listen: port 70000 in \"127.0.0.1:70000\" is out of range 0..65535",
              {}, {{"http.listen", "127.0.0.1:70000"}});
  ExpectError("", "use 0.0.0.0:PORT", {}, {{"http.listen", ":7070"}});
  ExpectError("", "write IPv6 addresses in brackets", {}, {{"http.listen", "::1:7070"}});
  for (std::string bad : {"127.0.0.1:", "127.0.0.1:http", "127.0.0.1:-1", "127.0.0.1:123456",
                          "[::1:7070", "[]:7070", "bad host:7070", "127.0.0.1:70 "}) {
    ExpectError("", "is not host:port", {}, {{"http.listen", bad}});
  }
}

TEST_F(ConfigTest, ClusterSectionIsParsed) {
  const std::string key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";  // 32 bytes
  Config c = LoadOk(
      "[cluster]\nname = \"prod-eu\"\nlisten = \"10.0.0.5:7946\"\n"
      "seeds = [\"10.0.0.6:7946\", \"1f2e3d4c5b6a7988@10.0.0.7:7946\"]\n"
      "preset = \"wan\"\ngossip_key = \"" +
      key +
      "\"\n"
      "tls_ca = \"/etc/meshkv/ca.crt\"\ntls_cert = \"/etc/meshkv/node.crt\"\n"
      "tls_key = \"/etc/meshkv/node.key\"\nsrv_domain = \"example.com\"\n"
      "srv_resolver = \"10.0.0.2:53\"\nsrv_refresh = \"1m\"\n"
      "rejoin_interval = \"10s\"\ntags = [\"rack=r1\"]\n");
  EXPECT_TRUE(c.cluster.enabled());
  EXPECT_EQ(c.cluster.name, "prod-eu");
  EXPECT_EQ(c.cluster.listen, "10.0.0.5:7946");
  EXPECT_EQ(c.cluster.seeds.size(), 2u);
  EXPECT_EQ(c.cluster.preset, "wan");
  EXPECT_EQ(c.cluster.gossip_key, key);
  EXPECT_EQ(c.cluster.srv_refresh_ms, 60'000);
  EXPECT_EQ(c.cluster.rejoin_interval_ms, 10'000);
  EXPECT_EQ(c.cluster.tags, std::vector<std::string>{"rack=r1"});
  // Flags and environment reach the same keys.
  Config f = LoadOk("", {{"MESHKV_CLUSTER_NAME", "envname"}},
                    {{"cluster.seeds", "10.0.0.6:7946,10.0.0.8:7946"},
                     {"cluster.tls_cert", "n.crt"},
                     {"cluster.tls_ca", "ca.crt"},
                     {"cluster.tls_key", "n.key"}});
  EXPECT_EQ(f.cluster.name, "envname");
  EXPECT_EQ(f.cluster.seeds.size(), 2u);
  EXPECT_TRUE(f.cluster.enabled());
  EXPECT_FALSE(LoadOk("").cluster.enabled());
}

TEST_F(ConfigTest, ClusterErrors) {
  ExpectError("[cluster]\nseeds = [\"zz@10.0.0.1:7946\"]\n", "has no valid node id before '@'");
  ExpectError("[cluster]\nseeds = [\"10.0.0.1\"]\n", "is not host:port");
  ExpectError("[cluster]\npreset = \"fast\"\n",
              "\"fast\" is not one of: \"lan\", \"wan\", \"local\"");
  ExpectError("[cluster]\ntags = [\"rack\"]\n", "is not key=value");
  ExpectError("[cluster]\nname = \"a b\"\n", "may contain only letters");
  // A bad gossip key is refused without echoing it.
  auto bad = LoadConfig(ConfigSources{std::nullopt, {}, {{"cluster.gossip_key", "c2VjcmV0"}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.status().message(), "meshkv keygen"));
  EXPECT_FALSE(Contains(bad.status().message(), "c2VjcmV0"));
  // Settings that only work together.
  ExpectError("[cluster]\nseeds = [\"10.0.0.1:7946\"]\n", "tls_cert is not");
  ExpectError("[cluster]\ntls_cert = \"n.crt\"\n", "tls_cert is set but tls_ca is not");
  ExpectError(
      "[cluster]\ntls_cert = \"n.crt\"\ntls_ca = \"c\"\ntls_key = \"k\"\n"
      "listen = \"0.0.0.0:7946\"\n",
      "cannot be dialled by other nodes; set cluster.advertise");
}

TEST_F(ConfigTest, NodeRoles) {
  EXPECT_EQ(LoadOk("").node.role, "normal");
  EXPECT_EQ(LoadOk("[node]\nrole = \"replica_only\"\n").node.role, "replica_only");
  ExpectError("[node]\nrole = \"proxy\"\n", "\"proxy\" is not one of");
  ExpectError("[node]\nrole = \"reject_local_writes\"\n", "needs [cluster]");
  ExpectError("[node]\nrole = \"reject_local_writes\"\n[dns]\nzones = [\"a.test\"]\n",
              "cannot answer DNS");
}

TEST_F(ConfigTest, EnvironmentErrors) {
  ExpectError("", "env MESHKV_HTTP_LISTN: unknown variable; did you mean MESHKV_HTTP_LISTEN?",
              {{"MESHKV_HTTP_LISTN", "127.0.0.1:1"}});
  ExpectError("", "env MESHKV_FOO: unknown variable", {{"MESHKV_FOO", "1"}});
  ExpectError("", "env MESHKV_HTTP_THREADS: expected an integer, got \"two\"",
              {{"MESHKV_HTTP_THREADS", "two"}});
  ExpectError("", "env MESHKV_HTTP_THREADS: expected an integer, got \"\"",
              {{"MESHKV_HTTP_THREADS", ""}});
  ExpectError("", "env MESHKV_HTTP_THREADS: expected an integer, got \" 4\"",
              {{"MESHKV_HTTP_THREADS", " 4"}});
  ExpectError("",
              "env MESHKV_HTTP_MAX_BODY_BYTES: expected an integer, got \"99999999999999999999\"",
              {{"MESHKV_HTTP_MAX_BODY_BYTES", "99999999999999999999"}});
  ExpectError("", "env MESHKV_HTTP_IDLE_TIMEOUT: duration '10' is missing a unit",
              {{"MESHKV_HTTP_IDLE_TIMEOUT", "10"}});
  ExpectError("", "env MESHKV_STORAGE_SYNC: \"yes\" is not one of",
              {{"MESHKV_STORAGE_SYNC", "yes"}});
  ExpectError("", "env MESHKV_TOKENS: tokens cannot be set from the environment",
              {{"MESHKV_TOKENS", "x"}});
  ExpectError("",
              "env MESHKV_NAMESPACES_APP_REPLICAS: namespaces cannot be set from the environment",
              {{"MESHKV_NAMESPACES_APP_REPLICAS", "3"}});
}

TEST_F(ConfigTest, ValuesInMessagesAreEscapedAndCut) {
  ExpectError("", "env MESHKV_HTTP_THREADS: expected an integer, got \"\\xff\\xfe\\x0a\"",
              {{"MESHKV_HTTP_THREADS", "\xff\xfe\n"}});
  auto config = Load("", {{"MESHKV_LOG_LEVEL", std::string(1000, 'x')}});
  ASSERT_FALSE(config.ok());
  EXPECT_LT(config.status().message().size(), 200u);
  EXPECT_TRUE(Contains(config.status().message(), "xxx...\" is not one of"));
}

TEST_F(ConfigTest, FlagErrors) {
  ExpectError("", "flag http.threads: must be 0..256, got 300", {}, {{"http.threads", "300"}});
  ExpectError("", "flag http.threads: expected an integer, got \"many\"", {},
              {{"http.threads", "many"}});
  ExpectError("", "flag http.request_timeout: duration '1y' has unknown unit 'y'", {},
              {{"http.request_timeout", "1y"}});
  ExpectError("", "flag http.listn: unknown setting; did you mean http.listen?", {},
              {{"http.listn", "x"}});
  ExpectError("",
              "flag namespaces.app.replicas: namespaces can only be configured in the config file",
              {}, {{"namespaces.app.replicas", "3"}});
  ExpectError("", "flag tokens: tokens can only be configured", {}, {{"tokens", "x"}});
}

TEST_F(ConfigTest, SyntaxErrorsGiveLineAndColumn) {
  ExpectError("[http]\nlisten = \n", "FILE:2:");
  ExpectError("[http]\nlisten = \n", "invalid TOML");
  ExpectError("[http]\nthreads = 1\nthreads = 2\n", "FILE:3:");
  ExpectError("[http\n", "FILE:1:");
  ExpectError("a = \"\xff\"\n", "FILE:1:");  // not UTF-8
}

TEST_F(ConfigTest, MissingFileIsNotFound) {
  ConfigSources sources;
  sources.file = (dir_.path() / "missing.toml").string();
  auto config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(Contains(config.status().message(), "missing.toml"));
}

TEST_F(ConfigTest, EveryProblemIsReportedAtOnce) {
  auto config = Load("[http]\nthreads = \"x\"\nlistn = 1\n", {{"MESHKV_FOO", "1"}},
                     {{"http.max_connections", "0"}});
  ASSERT_FALSE(config.ok());
  const std::string message = config.status().message();
  EXPECT_TRUE(Contains(message, File() + ":2: http.threads")) << message;
  EXPECT_TRUE(Contains(message, File() + ":3: http.listn: unknown key")) << message;
  EXPECT_TRUE(Contains(message, "env MESHKV_FOO")) << message;
  EXPECT_TRUE(Contains(message, "flag http.max_connections")) << message;
  // The file's problems come first, in line order.
  EXPECT_LT(message.find(":2: http.threads"), message.find(":3: http.listn: unknown key"))
      << message;
  EXPECT_LT(message.find(":3: http.listn: unknown key"), message.find("env MESHKV_FOO")) << message;
  EXPECT_LT(message.find("env MESHKV_FOO"), message.find("flag http.max_connections")) << message;
}

TEST_F(ConfigTest, ALongListOfProblemsIsCut) {
  std::string toml = "[http]\n";
  for (int i = 0; i < 25; ++i) toml += "unknown_" + std::to_string(i) + " = 1\n";
  auto config = Load(toml);
  ASSERT_FALSE(config.ok());
  const std::string message = config.status().message();
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 20) << message;
  EXPECT_TRUE(message.ends_with("\n... and 5 more")) << message;
}

TEST_F(ConfigTest, NamespacesAreAddedAndBuiltinsOverridden) {
  const std::string writer_a = "00000000000000aa";
  const std::string writer_b = "00000000000000BB";
  Config config = LoadOk(
      "[namespaces.default]\n"
      "replicas = 1\n"
      "[namespaces.dns]\n"
      "max_value_bytes = 1000\n"
      "[namespaces.zeta]\n"
      "storage = \"memory\"\n"
      "[namespaces.app]\n"
      "replicas = \"all\"\n"
      "consistency = \"one\"\n"
      "sync_policy = \"primary_writer\"\n"
      "writers = [\"" +
      writer_a + "\", \"" + writer_b +
      "\"]\n"
      "default_ttl = \"1h\"\n"
      "max_value_bytes = 4096\n"
      "storage = \"disk\"\n");
  ASSERT_EQ(config.namespaces.size(), 4u);
  const auto builtins = BuiltinNamespaces();

  const NamespaceSpec& def = config.namespaces[0];
  EXPECT_EQ(def.name, "default");
  EXPECT_EQ(def.replicas, 1);
  EXPECT_EQ(def.max_value_bytes, builtins[0].max_value_bytes);  // untouched keys keep the built-in

  const NamespaceSpec& dns = config.namespaces[1];
  EXPECT_EQ(dns.name, "dns");
  EXPECT_EQ(dns.replicas, NamespaceSpec::kReplicasAll);
  EXPECT_EQ(dns.max_value_bytes, 1000);

  // Added namespaces follow, in name order.
  const NamespaceSpec& app = config.namespaces[2];
  EXPECT_EQ(app.name, "app");
  EXPECT_EQ(app.replicas, NamespaceSpec::kReplicasAll);
  EXPECT_EQ(app.consistency, Consistency::kOne);
  EXPECT_EQ(app.sync_policy, SyncPolicy::kPrimaryWriter);
  EXPECT_EQ(app.writers, (std::vector<NodeId>{NodeId(0xaa), NodeId(0xbb)}));
  EXPECT_EQ(app.default_ttl_ms, 3'600'000);
  EXPECT_EQ(app.max_value_bytes, 4096);
  EXPECT_EQ(app.storage, StorageKind::kDisk);

  const NamespaceSpec& zeta = config.namespaces[3];
  EXPECT_EQ(zeta.name, "zeta");
  EXPECT_EQ(zeta.storage, StorageKind::kMemory);
  EXPECT_EQ(zeta.replicas, 3);
}

TEST_F(ConfigTest, NamespaceErrors) {
  ExpectError("[namespaces.app]\nreplicas = 0\n",
              "FILE:2: namespaces.app.replicas: must be 1..16 or \"all\", got 0");
  ExpectError("[namespaces.app]\nreplicas = \"three\"\n",
              "FILE:2: namespaces.app.replicas: must be 1..16 or \"all\", got \"three\"");
  ExpectError("[namespaces.app]\nreplicas = 1.5\n",
              "FILE:2: namespaces.app.replicas: expected an integer 1..16 or \"all\", got a float");
  ExpectError("[namespaces.app]\nreplicas = 17\n",
              "FILE:1: namespaces.app: replicas must be 1..16 or \"all\", got 17");
  ExpectError(
      "[namespaces.app]\nsync_policy = \"primary_writer\"\n",
      "FILE:1: namespaces.app: sync_policy \"primary_writer\" needs a non-empty writers list");
  ExpectError("[namespaces.app]\nwriters = [\"00000000000000aa\"]\n",
              "FILE:1: namespaces.app: writers is only meaningful with sync_policy = "
              "\"primary_writer\"");
  ExpectError(
      "[namespaces.app]\n"
      "sync_policy = \"primary_writer\"\n"
      "writers = [\n"
      "  \"00000000000000aa\",\n"
      "  \"not-a-node-id\",\n"
      "  \"00000000000000AA\",\n"
      "]\n",
      "FILE:5: namespaces.app.writers[1]: node id must be 16 hex digits");
  ExpectError(
      "[namespaces.app]\n"
      "sync_policy = \"primary_writer\"\n"
      "writers = [\"00000000000000aa\", \"00000000000000AA\"]\n",
      "FILE:3: namespaces.app.writers[1]: node id 00000000000000aa is listed twice");
  ExpectError("[namespaces.app]\nsync_policy = \"raft\"\n",
              "FILE:2: namespaces.app.sync_policy: \"raft\" is not one of: \"lww\", "
              "\"primary_writer\"");
  ExpectError("[namespaces.app]\nconsistency = \"two\"\n",
              "FILE:2: namespaces.app.consistency: consistency 'two' is not one of: one, quorum, "
              "all");
  ExpectError("[namespaces.app]\ndefault_ttl = \"forever\"\n",
              "FILE:2: namespaces.app.default_ttl: duration 'forever'");
  ExpectError("[namespaces.app]\nmax_value_bytes = 100000000\n",
              "FILE:1: namespaces.app: max_value_bytes must be 0..8388608");
  ExpectError("[namespaces.app]\nstorage = \"tape\"\n",
              "FILE:2: namespaces.app.storage: \"tape\" is not one of: \"disk\", \"memory\"");
  ExpectError("[namespaces.App]\n", "FILE:1: namespaces.App: namespace name 'App' must start");
  ExpectError("[namespaces.\"a.b\"]\n", "namespaces.a.b: namespace name 'a.b' may contain only");
}

std::string TokenToml(std::string_view name, std::string_view hash, std::string_view scopes,
                      std::string_view extra = "") {
  return "[[tokens]]\nname = \"" + std::string(name) + "\"\nsha256 = \"" + std::string(hash) +
         "\"\nscopes = " + std::string(scopes) + "\n" + std::string(extra);
}

TEST_F(ConfigTest, TokensAreParsed) {
  std::string upper = kHashB;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Config config = LoadOk("[namespaces.app]\n" + TokenToml("ci", kHashA, "[\"read\", \"write\"]") +
                         "namespace = \"app\"\nprefix = \"builds/\"\n" +
                         TokenToml("ops", upper, "[\"admin\"]"));
  ASSERT_EQ(config.tokens.size(), 2u);
  const TokenSpec& ci = config.tokens[0];
  EXPECT_EQ(ci.name, "ci");
  EXPECT_EQ(ci.sha256_hex, kHashA);
  EXPECT_EQ(ci.scopes, static_cast<ScopeSet>(Scope::kRead) | static_cast<ScopeSet>(Scope::kWrite));
  EXPECT_EQ(ci.ns, "app");
  EXPECT_EQ(ci.key_prefix, "builds/");
  const TokenSpec& ops = config.tokens[1];
  EXPECT_EQ(ops.sha256_hex, kHashB);  // normalised to lower case
  EXPECT_EQ(ops.scopes, static_cast<ScopeSet>(Scope::kAdmin));
  EXPECT_FALSE(ops.ns.has_value());
  EXPECT_EQ(ops.key_prefix, "");

  // The parsed specs authenticate the secrets.
  auto set = TokenSet::Build(config.tokens);
  ASSERT_TRUE(set.ok());
  ASSERT_NE(set->Authenticate("secret-a"), nullptr);
  EXPECT_EQ(set->Authenticate("secret-a")->name, "ci");
  EXPECT_EQ(set->Authenticate("secret-b")->name, "ops");
}

TEST_F(ConfigTest, TokenErrors) {
  ExpectError(TokenToml("ci", "abc", "[\"read\"]"),
              "FILE:3: tokens[0].sha256: must be 64 hex digits (the SHA-256 of the secret");
  ExpectError(TokenToml("ci", std::string(63, 'a') + "z", "[\"read\"]"),
              "FILE:3: tokens[0].sha256: must be 64 hex digits, found a non-hex character");
  ExpectError(TokenToml("ci", kHashA, "[]"), "FILE:4: tokens[0].scopes: must not be empty");
  ExpectError(TokenToml("ci", kHashA, "[\"read\", \"root\"]"),
              "FILE:4: tokens[0].scopes[1]: scope 'root' is not one of: read, write, admin");
  ExpectError(TokenToml("ci", kHashA, "\"read\""),
              "FILE:4: tokens[0].scopes: expected an array of scopes");
  ExpectError("\n" + TokenToml("ci", kHashA, "[\"read\"]") + TokenToml("ci", kHashB, "[\"read\"]"),
              "FILE:7: tokens[1].name: \"ci\" is the name of another token");
  ExpectError(TokenToml("a", kHashA, "[\"read\"]") + TokenToml("b", kHashA, "[\"read\"]"),
              "FILE:7: tokens[1].sha256: is the same as another token's");
  ExpectError("[[tokens]]\nname = \"ci\"\nscopes = [\"read\"]\n",
              "FILE:1: tokens[0]: missing required key sha256");
  ExpectError("[[tokens]]\nsha256 = \"" + kHashA + "\"\nscopes = [\"read\"]\n",
              "FILE:1: tokens[0]: missing required key name");
  ExpectError(TokenToml("ci", kHashA, "[\"read\"]", "namespace = \"nope\"\n"),
              "FILE:5: tokens[0].namespace: namespace \"nope\" is not configured");
  ExpectError(TokenToml("ci", kHashA, "[\"read\"]", "namespace = \"\"\n"),
              "FILE:5: tokens[0].namespace: namespace name must be 1..64");
  ExpectError(TokenToml("c i", kHashA, "[\"read\"]"), "FILE:2: tokens[0].name: token name 'c i'");
  ExpectError(TokenToml("ci", kHashA, "[\"read\"]", "prefix = 5\n"),
              "FILE:5: tokens[0].prefix: expected a string, got an integer");
  ExpectError("tokens = [1]\n", "FILE:1: tokens[0]: expected a table, got an integer");
}

TEST_F(ConfigTest, ABrokenNamespaceIsReportedOnceNotAgainByItsTokens) {
  auto config = Load("[namespaces.app]\nreplicas = 0\n" +
                     TokenToml("ci", kHashA, "[\"read\"]", "namespace = \"app\"\n"));
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(Contains(config.status().message(), "namespaces.app.replicas"));
  EXPECT_FALSE(Contains(config.status().message(), "not configured")) << config.status().message();
}

TEST_F(ConfigTest, TokenErrorsNeverEchoTheHash) {
  auto config = Load(TokenToml("a", kHashA, "[\"read\"]") + TokenToml("b", kHashA, "[\"read\"]"));
  ASSERT_FALSE(config.ok());
  EXPECT_FALSE(Contains(config.status().message(), kHashA));
}

TEST_F(ConfigTest, TokenNamespacesMayBeBuiltins) {
  Config config = LoadOk(TokenToml("ci", kHashA, "[\"read\"]", "namespace = \"dns\"\n"));
  ASSERT_EQ(config.tokens.size(), 1u);
  EXPECT_EQ(config.tokens[0].ns, "dns");
}

TEST_F(ConfigTest, LoadTokensRereadsOnlyTokens) {
  const std::string path =
      dir_.Write("tokens.toml", "[http]\nthreads = 3\n[namespaces.app]\n" +
                                    TokenToml("ci", kHashA, "[\"read\"]", "namespace = \"app\"\n"));
  auto tokens = LoadTokens(path);
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ((*tokens)[0].name, "ci");
  EXPECT_EQ((*tokens)[0].ns, "app");

  // The operator edits the file: a new token, a removed one.
  dir_.Write("tokens.toml", TokenToml("ops", kHashB, "[\"admin\"]"));
  tokens = LoadTokens(path);
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ((*tokens)[0].name, "ops");

  // No tokens at all is a valid (empty) set.
  dir_.Write("tokens.toml", "[http]\nthreads = 1\n");
  tokens = LoadTokens(path);
  ASSERT_TRUE(tokens.ok());
  EXPECT_TRUE(tokens->empty());

  // Validation still applies, with lines.
  dir_.Write("tokens.toml", "\n" + TokenToml("ops", "beef", "[\"admin\"]"));
  tokens = LoadTokens(path);
  ASSERT_FALSE(tokens.ok());
  EXPECT_TRUE(Contains(tokens.status().message(), path + ":4: tokens[0].sha256: must be 64 hex"))
      << tokens.status().message();
  dir_.Write("tokens.toml", "[[tokens]\n");
  EXPECT_FALSE(LoadTokens(path).ok());
  EXPECT_EQ(LoadTokens((dir_.path() / "missing.toml").string()).status().code(),
            ErrorCode::kNotFound);
}

TEST_F(ConfigTest, DefaultConfigTomlLoadsUnchangedAndGivesTheDefaults) {
  const std::string text = DefaultConfigToml();
  Config config = LoadOk(text);
  ExpectSameSettings(config, Defaults());
  // Every key is in it, documented.
  for (std::string_view key : {"data_dir",
                               "listen",
                               "threads",
                               "max_header_bytes",
                               "max_body_bytes",
                               "request_timeout",
                               "idle_timeout",
                               "max_connections",
                               "max_inflight_requests",
                               "engine",
                               "sync",
                               "block_cache_bytes",
                               "write_buffer_bytes",
                               "max_clock_skew",
                               "level",
                               "[[tokens]]",
                               "name",
                               "sha256",
                               "scopes",
                               "namespace",
                               "prefix",
                               "[namespaces.app]",
                               "replicas",
                               "consistency",
                               "sync_policy",
                               "writers",
                               "default_ttl",
                               "max_value_bytes",
                               "storage",
                               "--dev-insecure",
                               "MESHKV_"}) {
    EXPECT_TRUE(Contains(text, key)) << key;
  }
}

// Removes one level of "# " from every line from `from` up to the next blank line.
std::string Uncomment(std::string text, std::string_view from) {
  size_t start = text.find(from);
  if (start == std::string::npos) return text;
  std::string out = text.substr(0, start);
  size_t at = start;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    if (line == "#" || line.empty()) break;
    if (line.starts_with("# ")) line = line.substr(2);
    out += line + "\n";
    at = end + 1;
  }
  if (at < text.size()) out += text.substr(at);
  return out;
}

TEST_F(ConfigTest, DefaultConfigTomlExamplesWorkWhenUncommented) {
  std::string text = DefaultConfigToml();
  text = Uncomment(text, "# [namespaces.app]");
  text = Uncomment(text, "# [[tokens]]");
  const std::string placeholder = "<64 hex digits>";
  size_t at = text.find(placeholder);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, placeholder.size(), kHashA);
  Config config = LoadOk(text);
  ASSERT_EQ(config.namespaces.size(), 3u);
  NamespaceSpec expected_app;
  expected_app.name = "app";
  ExpectSameNamespaces({config.namespaces[2]}, {expected_app});
  ASSERT_EQ(config.tokens.size(), 1u);
  EXPECT_EQ(config.tokens[0].name, "ci");
  EXPECT_EQ(config.tokens[0].ns, "app");
  EXPECT_EQ(config.tokens[0].key_prefix, "builds/");
}

TEST(MeshkvEnvironmentTest, ReadsOnlyMeshkvVariables) {
  ASSERT_EQ(setenv("MESHKV_CONFIG_TEST_VALUE", "a=b", 1), 0);
  ASSERT_EQ(setenv("NOT_MESHKV_CONFIG_TEST", "x", 1), 0);
  auto env = MeshkvEnvironment();
  unsetenv("MESHKV_CONFIG_TEST_VALUE");
  unsetenv("NOT_MESHKV_CONFIG_TEST");
  ASSERT_EQ(env.count("MESHKV_CONFIG_TEST_VALUE"), 1u);
  EXPECT_EQ(env["MESHKV_CONFIG_TEST_VALUE"], "a=b");
  for (const auto& [name, value] : env) EXPECT_TRUE(name.starts_with("MESHKV_")) << name;
}

}  // namespace
}  // namespace meshkv
