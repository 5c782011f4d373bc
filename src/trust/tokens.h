// Client bearer tokens: scopes, optional namespace / key-prefix limits.
//
// Tokens are configured by their SHA-256 (hex); the secret itself is never
// stored or logged. Authenticate() hashes the presented token and compares it
// with every configured hash in constant time (CRYPTO_memcmp), so timing does
// not reveal how much of a guess was right or which entry it was near.
//
// Scopes: read (GET/HEAD/list, status, metrics), write (PUT/DELETE/batch
// writes; implies nothing else), admin (everything, including cluster
// operations; implies read and write).
//
// Thread-safety: a TokenSet is immutable after Build(); share it by
// std::shared_ptr<const TokenSet> and swap the pointer to reload.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace meshkv {

enum class Scope : uint8_t { kRead = 1, kWrite = 2, kAdmin = 4 };
using ScopeSet = uint8_t;  // bitwise OR of Scope values

Result<Scope> ParseScope(std::string_view text);  // "read" | "write" | "admin"
std::string ScopeSetToString(ScopeSet scopes);    // "read,write"

struct TokenSpec {
  std::string name;        // for logs and errors (not secret); 1..64 of [A-Za-z0-9_.-]
  std::string sha256_hex;  // 64 hex digits; Build() stores them lower case
  ScopeSet scopes = 0;
  std::optional<std::string> ns;  // limited to this namespace when set
  std::string key_prefix;         // limited to keys with this prefix when non-empty
};

class TokenSet {
 public:
  // Validates every spec (name, hash format, non-empty known scopes, unique
  // names, unique hashes, namespace non-empty when set) and normalises the
  // hashes to lower case. Errors are kInvalidArgument naming the token, never
  // echoing its hash.
  static Result<TokenSet> Build(std::vector<TokenSpec> specs);

  // The spec whose hash matches `token`, or nullptr (always for an empty
  // token). The pointer stays valid as long as this TokenSet.
  const TokenSpec* Authenticate(std::string_view token) const;
  size_t size() const { return specs_.size(); }
  const std::vector<TokenSpec>& specs() const { return specs_; }

 private:
  std::vector<TokenSpec> specs_;
  std::vector<std::string> raw_hashes_;  // 32-byte digests, parallel to specs_
};

// OK when `token` may use `scope` on (ns, key). For requests that are not
// about a key (status, metrics, ready) pass empty `ns` and `key`: only the
// scope is checked then. A non-empty key with an empty ns fails closed for a
// namespace-limited token. Errors are kPermissionDenied with a message saying
// which limit refused, checked in this order: "token 'ci' lacks the write
// scope", "token 'ci' is limited to namespace 'app'", "token 'ci' is limited
// to keys starting with 'app/'".
Status Authorize(const TokenSpec& token, Scope scope, std::string_view ns, std::string_view key);

// OK when `token` may list keys under `prefix` in `ns` (needs the read
// scope): a prefix-limited token may list only inside its prefix.
Status AuthorizeList(const TokenSpec& token, std::string_view ns, std::string_view prefix);

// The checks TokenSet::Build applies to single fields, for callers that want
// to report a problem at the field (config file lines):
//   a name is 1..64 of [A-Za-z0-9_.-];
//   a hash is 64 hex digits, returned in lower case. The message starts with
//   "must be", to follow the field's name.
Status ValidateTokenName(std::string_view name);
Result<std::string> NormalizeSha256Hex(std::string_view hex);

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// A new random secret: "mkv_" + base64url of 32 bytes from the OS CSPRNG.
std::string GenerateTokenSecret();

}  // namespace meshkv
