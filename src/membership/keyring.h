// Keyring: the symmetric keys that seal gossip packets, and the sealing itself.
//
// A packet on the wire is
//   magic "MKG1" (4) | key id (4, first bytes of BLAKE2b(key)) | nonce (24) |
//   XChaCha20-Poly1305-IETF ciphertext of ( sent_at_ms (8, big endian) | payload )
// with the cluster name (and the 8 header bytes) as associated data, so packets
// of another cluster (or sealed with another key) never open and no byte of a
// packet can be changed unnoticed. Seal() uses the primary key; Open()
// tries the key whose id matches, then every other installed key.
// Replay protection: Open() refuses packets whose sent_at is more than
// `replay_window_ms` away from the local wall clock, and packets whose nonce
// was already seen inside the window (bounded memory: nonces older than the
// window are forgotten; at most kMaxRememberedNonces are kept).
//
// Keys are 32 random bytes, written as base64 (`meshkv keygen`). Rotation:
// Install(k) on every node, Use(k) on every node, Remove(old).
//
// Thread-safety: all methods are safe from any thread (one mutex; Seal and
// Open copy nothing but the key under it).
// Persistence: Save()/Load() keep the keys in a file (mode 0600), primary first.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace meshkv::membership {

inline constexpr size_t kGossipKeyBytes = 32;
inline constexpr size_t kSealOverheadBytes = 4 + 4 + 24 + 8 + 16;
inline constexpr size_t kMaxRememberedNonces = 1 << 16;

// A new random key, base64.
std::string GenerateGossipKey();
// Decodes a base64 key; kInvalidArgument saying what is wrong (not base64,
// not 32 bytes) without echoing the key.
Result<std::string> DecodeGossipKey(std::string_view base64);
// Hex of the first 8 bytes of BLAKE2b(key): names a raw key without revealing it.
std::string GossipKeyFingerprint(std::string_view key);

enum class OpenError : uint8_t {
  kNone,
  kMalformed,  // too short or wrong magic
  kNoKey,      // no installed key opens it (wrong key or other cluster)
  kStale,      // sent_at outside the replay window
  kReplayed,   // nonce already seen
};
std::string_view OpenErrorName(OpenError e);

struct KeyInfo {
  std::string fingerprint;  // hex of the first 8 bytes of BLAKE2b(key): safe to show
  bool primary = false;
};

class Keyring {
 public:
  // `keys` are raw 32-byte keys, the first is primary. kInvalidArgument if
  // empty or any key has the wrong size.
  static Result<std::unique_ptr<Keyring>> Create(std::vector<std::string> keys,
                                                 std::string cluster_name, const Clock& wall_clock,
                                                 int64_t replay_window_ms = 30'000);
  // Reads keys (one base64 key per line, primary first) from `path`.
  static Result<std::unique_ptr<Keyring>> Load(const std::string& path, std::string cluster_name,
                                               const Clock& wall_clock,
                                               int64_t replay_window_ms = 30'000);
  // Wipes the keys from memory.
  ~Keyring();
  Keyring(const Keyring&) = delete;
  Keyring& operator=(const Keyring&) = delete;

  // Writes the keys to `path` atomically (temp file + rename), mode 0600.
  Status Save(const std::string& path) const;

  std::string Seal(std::string_view payload) const;
  struct Opened {
    OpenError error = OpenError::kNone;  // kNone: payload is valid
    std::string payload;
  };
  // Not const: remembers the nonce for replay detection.
  Opened Open(std::string_view packet);

  // Rotation. Keys are raw bytes. Install of a present key is a no-op;
  // Use of a key not installed is kNotFound; Remove of the primary is
  // kFailedPrecondition ("use another key first").
  Status Install(std::string_view key);
  Status Use(std::string_view key);
  Status Remove(std::string_view key);
  std::vector<KeyInfo> List() const;

 private:
  using Nonce = std::array<unsigned char, 24>;
  struct NonceHash {
    size_t operator()(const Nonce& nonce) const noexcept;
  };

  Keyring() = default;
  // Forgets nonces whose packets would now be refused as stale anyway.
  void ForgetExpiredNoncesLocked(int64_t now_ms);

  std::string cluster_name_;
  const Clock* wall_clock_ = nullptr;
  int64_t replay_window_ms_ = 0;

  mutable std::mutex mu_;
  std::vector<std::string> keys_;  // guarded by mu_; raw keys, primary first
  // Nonces of opened packets, by the time after which their packet is stale.
  std::multimap<int64_t, Nonce> nonces_by_expiry_;    // guarded by mu_
  std::unordered_set<Nonce, NonceHash> seen_nonces_;  // guarded by mu_
};

}  // namespace meshkv::membership
