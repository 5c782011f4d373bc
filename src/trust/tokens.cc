#include "trust/tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <set>

#include "base/encoding.h"
#include "base/random.h"

namespace meshkv {
namespace {

constexpr size_t kDigestBytes = 32;
constexpr size_t kMaxTokenNameBytes = 64;
constexpr ScopeSet kAllScopes = static_cast<ScopeSet>(Scope::kRead) |
                                static_cast<ScopeSet>(Scope::kWrite) |
                                static_cast<ScopeSet>(Scope::kAdmin);

std::array<unsigned char, kDigestBytes> Sha256(std::string_view data) {
  std::array<unsigned char, kDigestBytes> digest{};
  unsigned int length = 0;
  // EVP_Digest with SHA-256 cannot fail short of memory exhaustion or a broken
  // OpenSSL install; neither is something a caller could handle.
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != kDigestBytes) {
    std::abort();
  }
  return digest;
}

std::string_view ScopeName(Scope scope) {
  switch (scope) {
    case Scope::kRead:
      return "read";
    case Scope::kWrite:
      return "write";
    case Scope::kAdmin:
      return "admin";
  }
  return "unknown";
}

bool HasScope(ScopeSet scopes, Scope scope) {
  if ((scopes & static_cast<ScopeSet>(Scope::kAdmin)) != 0) return true;
  return (scopes & static_cast<ScopeSet>(scope)) != 0;
}

std::string TokenLabel(const TokenSpec& token) {
  return "token " + QuoteForMessage(token.name);
}

// Fails closed: a namespace-limited token must name the namespace it asks for.
Status CheckNamespace(const TokenSpec& token, std::string_view ns) {
  if (token.ns.has_value() && *token.ns != ns) {
    return PermissionDenied(TokenLabel(token) + " is limited to namespace " +
                            QuoteForMessage(*token.ns));
  }
  return Status::Ok();
}

Status PrefixDenied(const TokenSpec& token) {
  return PermissionDenied(TokenLabel(token) + " is limited to keys starting with " +
                          QuoteForMessage(token.key_prefix));
}

}  // namespace

Result<Scope> ParseScope(std::string_view text) {
  for (Scope scope : {Scope::kRead, Scope::kWrite, Scope::kAdmin}) {
    if (text == ScopeName(scope)) return scope;
  }
  return InvalidArgument("scope " + QuoteForMessage(text) + " is not one of: read, write, admin");
}

std::string ScopeSetToString(ScopeSet scopes) {
  std::string out;
  for (Scope scope : {Scope::kRead, Scope::kWrite, Scope::kAdmin}) {
    if ((scopes & static_cast<ScopeSet>(scope)) == 0) continue;
    if (!out.empty()) out += ',';
    out += ScopeName(scope);
  }
  return out;
}

Status ValidateTokenName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxTokenNameBytes;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.');
  }
  if (ok) return Status::Ok();
  return InvalidArgument("token name " + QuoteForMessage(name) +
                         " must be 1..64 characters of A-Z, a-z, 0-9, '_', '-' and '.'");
}

Result<std::string> NormalizeSha256Hex(std::string_view hex) {
  if (hex.size() != 2 * kDigestBytes) {
    return InvalidArgument(
        "must be 64 hex digits (the SHA-256 of the secret, e.g. from "
        "`printf %s \"$SECRET\" | sha256sum`), got " +
        std::to_string(hex.size()) + " characters");
  }
  auto raw = HexDecode(hex);
  if (!raw.ok()) return InvalidArgument("must be 64 hex digits, found a non-hex character");
  return HexEncode(*raw);
}

Result<TokenSet> TokenSet::Build(std::vector<TokenSpec> specs) {
  TokenSet set;
  std::set<std::string> names;
  std::set<std::string> hashes;
  for (TokenSpec& spec : specs) {
    MESHKV_RETURN_IF_ERROR(ValidateTokenName(spec.name));
    if (!names.insert(spec.name).second) {
      return InvalidArgument("token name " + QuoteForMessage(spec.name) +
                             " is used twice; every token needs its own name");
    }
    const std::string label = TokenLabel(spec);
    auto normalized = NormalizeSha256Hex(spec.sha256_hex);
    if (!normalized.ok()) {
      return InvalidArgument(label + ": sha256 " + normalized.status().message());
    }
    spec.sha256_hex = *std::move(normalized);
    std::string raw = HexDecode(spec.sha256_hex).value();  // valid: normalised above
    if (!hashes.insert(raw).second) {
      return InvalidArgument(label + ": sha256 is the same as another token's; " +
                             "every token needs its own secret");
    }
    if (spec.scopes == 0) {
      return InvalidArgument(label + ": scopes must not be empty (read, write, admin)");
    }
    if ((spec.scopes & ~kAllScopes) != 0) {
      return InvalidArgument(label + ": scopes hold an unknown bit");
    }
    if (spec.ns.has_value() && spec.ns->empty()) {
      return InvalidArgument(label + ": namespace must not be empty when set");
    }
    set.raw_hashes_.push_back(std::move(raw));
  }
  set.specs_ = std::move(specs);
  return set;
}

const TokenSpec* TokenSet::Authenticate(std::string_view token) const {
  if (token.empty()) return nullptr;
  const auto digest = Sha256(token);
  const TokenSpec* found = nullptr;
  // Compare against every hash, without stopping at a match, so the time
  // taken says nothing about which entry (if any) matched.
  for (size_t i = 0; i < raw_hashes_.size(); ++i) {
    const bool equal = CRYPTO_memcmp(digest.data(), raw_hashes_[i].data(), kDigestBytes) == 0;
    if (equal && found == nullptr) found = &specs_[i];
  }
  return found;
}

Status Authorize(const TokenSpec& token, Scope scope, std::string_view ns, std::string_view key) {
  if (!HasScope(token.scopes, scope)) {
    return PermissionDenied(TokenLabel(token) + " lacks the " + std::string(ScopeName(scope)) +
                            " scope");
  }
  if (ns.empty() && key.empty()) return Status::Ok();  // not about a key
  MESHKV_RETURN_IF_ERROR(CheckNamespace(token, ns));
  if (!token.key_prefix.empty() && !key.starts_with(token.key_prefix)) return PrefixDenied(token);
  return Status::Ok();
}

Status AuthorizeList(const TokenSpec& token, std::string_view ns, std::string_view prefix) {
  if (!HasScope(token.scopes, Scope::kRead)) {
    return PermissionDenied(TokenLabel(token) + " lacks the read scope");
  }
  MESHKV_RETURN_IF_ERROR(CheckNamespace(token, ns));
  if (!prefix.starts_with(token.key_prefix)) return PrefixDenied(token);
  return Status::Ok();
}

std::string Sha256Hex(std::string_view data) {
  const auto digest = Sha256(data);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string GenerateTokenSecret() {
  return "mkv_" + Base64UrlEncode(SecureRandomBytes(32));
}

}  // namespace meshkv
