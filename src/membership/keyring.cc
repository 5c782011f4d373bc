#include "membership/keyring.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/encoding.h"

namespace meshkv::membership {
namespace {

constexpr std::string_view kMagic = "MKG1";
constexpr size_t kMagicBytes = 4;
constexpr size_t kKeyIdBytes = 4;
constexpr size_t kHeaderBytes = kMagicBytes + kKeyIdBytes;
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kSentAtBytes = 8;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kFingerprintBytes = 8;
// A keyring file holds a handful of keys; anything much bigger is not one.
constexpr off_t kMaxKeyringFileBytes = 64 * 1024;

static_assert(kNonceBytes == 24 && kTagBytes == 16);
static_assert(kSealOverheadBytes == kHeaderBytes + kNonceBytes + kSentAtBytes + kTagBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kGossipKeyBytes);

void EnsureSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      std::fputs("meshkv: libsodium failed to initialise\n", stderr);
      std::abort();
    }
  });
}

// First `n` bytes of BLAKE2b-256(key).
std::string KeyDigestPrefix(std::string_view key, size_t n) {
  EnsureSodium();
  unsigned char digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof(digest), reinterpret_cast<const unsigned char*>(key.data()),
                     key.size(), nullptr, 0);
  return std::string(reinterpret_cast<const char*>(digest), n);
}

void PutBigEndian64(unsigned char* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetBigEndian64(const unsigned char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | in[i];
  return v;
}

Status CheckKeySize(std::string_view key) {
  if (key.size() != kGossipKeyBytes) {
    return InvalidArgument("a gossip key must be " + std::to_string(kGossipKeyBytes) +
                           " bytes, got " + std::to_string(key.size()));
  }
  return Status::Ok();
}

Status ErrnoStatus(std::string_view what, const std::string& path, int err) {
  std::string message = std::string(what) + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return NotFound(std::move(message));
  if (err == EACCES || err == EPERM || err == EROFS) return FailedPrecondition(std::move(message));
  return Unavailable(std::move(message));
}

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

// Wipes a string that held key material before it is freed.
void Wipe(std::string& secret) {
  if (!secret.empty()) sodium_memzero(secret.data(), secret.size());
  secret.clear();
}

Result<std::string> ReadSmallFile(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("open keyring file", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat keyring file", path, errno);
  if (st.st_size > kMaxKeyringFileBytes) {
    return InvalidArgument("keyring file " + path + " is " + std::to_string(st.st_size) +
                           " bytes; a keyring file is at most " +
                           std::to_string(kMaxKeyringFileBytes));
  }
  std::string content(static_cast<size_t>(st.st_size), '\0');
  size_t filled = 0;
  while (filled < content.size()) {
    ssize_t n = ::read(fd.get(), content.data() + filled, content.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      Wipe(content);
      return ErrnoStatus("read keyring file", path, err);
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  content.resize(filled);
  return content;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string GenerateGossipKey() {
  EnsureSodium();
  std::string key(kGossipKeyBytes, '\0');
  randombytes_buf(key.data(), key.size());
  std::string encoded = Base64Encode(key);
  Wipe(key);
  return encoded;
}

Result<std::string> DecodeGossipKey(std::string_view base64) {
  std::string_view text = Trim(base64);
  if (text.empty())
    return InvalidArgument("gossip key is empty (generate one with `meshkv keygen`)");
  Result<std::string> decoded = Base64Decode(text);
  // The messages never include the text: it is (or is close to) a secret.
  if (!decoded.ok()) {
    return InvalidArgument(
        "gossip key is not valid base64 (expected the 44 characters that `meshkv keygen` "
        "prints)");
  }
  if (decoded->size() != kGossipKeyBytes) {
    size_t size = decoded->size();
    Wipe(*decoded);
    return InvalidArgument("gossip key decodes to " + std::to_string(size) + " bytes; it must be " +
                           std::to_string(kGossipKeyBytes) +
                           " (generate one with `meshkv keygen`)");
  }
  return decoded;
}

std::string GossipKeyFingerprint(std::string_view key) {
  return HexEncode(KeyDigestPrefix(key, kFingerprintBytes));
}

std::string_view OpenErrorName(OpenError e) {
  switch (e) {
    case OpenError::kNone:
      return "none";
    case OpenError::kMalformed:
      return "malformed";
    case OpenError::kNoKey:
      return "no_key";
    case OpenError::kStale:
      return "stale";
    case OpenError::kReplayed:
      return "replayed";
  }
  return "unknown";
}

size_t Keyring::NonceHash::operator()(const Nonce& nonce) const noexcept {
  // Nonces are random and only remembered once authenticated, so any 8 of
  // their bytes are a good hash.
  uint64_t h;
  std::memcpy(&h, nonce.data(), sizeof(h));
  return static_cast<size_t>(h);
}

Result<std::unique_ptr<Keyring>> Keyring::Create(std::vector<std::string> keys,
                                                 std::string cluster_name, const Clock& wall_clock,
                                                 int64_t replay_window_ms) {
  EnsureSodium();
  if (keys.empty()) return InvalidArgument("a keyring needs at least one gossip key");
  if (replay_window_ms <= 0) {
    return InvalidArgument("replay window must be positive, got " +
                           std::to_string(replay_window_ms) + " ms");
  }
  std::unique_ptr<Keyring> ring(new Keyring());
  for (std::string& key : keys) {
    Status size = CheckKeySize(key);
    if (!size.ok()) {
      for (std::string& k : keys) Wipe(k);
      return size;
    }
    if (std::find(ring->keys_.begin(), ring->keys_.end(), key) == ring->keys_.end()) {
      ring->keys_.push_back(key);
    }
    Wipe(key);
  }
  ring->cluster_name_ = std::move(cluster_name);
  ring->wall_clock_ = &wall_clock;
  ring->replay_window_ms_ = replay_window_ms;
  return ring;
}

Result<std::unique_ptr<Keyring>> Keyring::Load(const std::string& path, std::string cluster_name,
                                               const Clock& wall_clock, int64_t replay_window_ms) {
  Result<std::string> content = ReadSmallFile(path);
  if (!content.ok()) return content.status();
  std::vector<std::string> keys;
  Status problem;
  std::string_view rest = *content;
  int line_number = 0;
  while (!rest.empty() && problem.ok()) {
    size_t end = rest.find('\n');
    std::string_view line = Trim(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    Result<std::string> key = DecodeGossipKey(line);
    if (!key.ok()) {
      problem = InvalidArgument("keyring file " + path + " line " + std::to_string(line_number) +
                                ": " + key.status().message());
      continue;
    }
    keys.push_back(std::move(*key));
  }
  Wipe(*content);
  if (problem.ok() && keys.empty()) {
    problem = InvalidArgument("keyring file " + path + " holds no keys");
  }
  if (!problem.ok()) {
    for (std::string& k : keys) Wipe(k);
    return problem;
  }
  return Create(std::move(keys), std::move(cluster_name), wall_clock, replay_window_ms);
}

Keyring::~Keyring() {
  for (std::string& key : keys_) Wipe(key);
}

Status Keyring::Save(const std::string& path) const {
  std::string content;
  {
    std::lock_guard lock(mu_);
    for (const std::string& key : keys_) {
      content += Base64Encode(key);
      content += '\n';
    }
  }
  std::string temp_path = path + ".tmp";
  Status status;
  {
    ScopedFd fd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
      status = ErrnoStatus("create", temp_path, errno);
    } else if (::fchmod(fd.get(), 0600) != 0) {  // an old temp file may have other bits
      status = ErrnoStatus("chmod", temp_path, errno);
    } else {
      status = WriteAll(fd.get(), content, temp_path);
      if (status.ok() && ::fsync(fd.get()) != 0) status = ErrnoStatus("fsync", temp_path, errno);
    }
  }
  Wipe(content);
  if (!status.ok()) {
    ::unlink(temp_path.c_str());
    return status;
  }
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp_path.c_str());
    return ErrnoStatus("rename " + temp_path + " to", path, err);
  }
  std::string dir = DirectoryOf(path);
  ScopedFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return ErrnoStatus("open directory", dir, errno);
  if (::fsync(dir_fd.get()) != 0) return ErrnoStatus("fsync directory", dir, errno);
  return Status::Ok();
}

std::string Keyring::Seal(std::string_view payload) const {
  std::string key;
  {
    std::lock_guard lock(mu_);
    key = keys_.front();
  }
  std::string packet(kSealOverheadBytes + payload.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(packet.data());
  std::memcpy(out, kMagic.data(), kMagicBytes);
  std::string key_id = KeyDigestPrefix(key, kKeyIdBytes);
  std::memcpy(out + kMagicBytes, key_id.data(), kKeyIdBytes);
  unsigned char* nonce = out + kHeaderBytes;
  randombytes_buf(nonce, kNonceBytes);

  std::string plain(kSentAtBytes + payload.size(), '\0');
  auto* plain_bytes = reinterpret_cast<unsigned char*>(plain.data());
  PutBigEndian64(plain_bytes, static_cast<uint64_t>(wall_clock_->NowMillis()));
  if (!payload.empty()) std::memcpy(plain_bytes + kSentAtBytes, payload.data(), payload.size());

  // Associated data: the header (magic and key id), then the cluster name.
  std::string associated(reinterpret_cast<const char*>(out), kHeaderBytes);
  associated += cluster_name_;
  unsigned long long cipher_size = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out + kHeaderBytes + kNonceBytes, &cipher_size, plain_bytes, plain.size(),
      reinterpret_cast<const unsigned char*>(associated.data()), associated.size(), nullptr, nonce,
      reinterpret_cast<const unsigned char*>(key.data()));
  Wipe(key);
  packet.resize(kHeaderBytes + kNonceBytes + cipher_size);
  return packet;
}

Keyring::Opened Keyring::Open(std::string_view packet) {
  Opened result;
  if (packet.size() < kSealOverheadBytes || packet.substr(0, kMagicBytes) != kMagic) {
    result.error = OpenError::kMalformed;
    return result;
  }
  std::vector<std::string> keys;
  {
    std::lock_guard lock(mu_);
    keys = keys_;
  }
  // Try the key the sender names first, then the others (the id is only a hint).
  std::string_view key_id = packet.substr(kMagicBytes, kKeyIdBytes);
  std::stable_partition(keys.begin(), keys.end(), [&](const std::string& key) {
    return KeyDigestPrefix(key, kKeyIdBytes) == key_id;
  });

  const auto* in = reinterpret_cast<const unsigned char*>(packet.data());
  const unsigned char* nonce = in + kHeaderBytes;
  const unsigned char* cipher = nonce + kNonceBytes;
  size_t cipher_size = packet.size() - kHeaderBytes - kNonceBytes;
  std::string associated(packet.substr(0, kHeaderBytes));
  associated += cluster_name_;
  std::string plain(cipher_size - kTagBytes, '\0');
  bool opened = false;
  for (const std::string& key : keys) {
    unsigned long long plain_size = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            reinterpret_cast<unsigned char*>(plain.data()), &plain_size, nullptr, cipher,
            cipher_size, reinterpret_cast<const unsigned char*>(associated.data()),
            associated.size(), nonce, reinterpret_cast<const unsigned char*>(key.data())) == 0) {
      opened = true;
      break;
    }
  }
  for (std::string& key : keys) Wipe(key);
  if (!opened) {
    result.error = OpenError::kNoKey;
    return result;
  }

  int64_t sent_at =
      static_cast<int64_t>(GetBigEndian64(reinterpret_cast<const unsigned char*>(plain.data())));
  int64_t now = wall_clock_->NowMillis();
  // Written so that no subtraction can overflow, whatever a sender put in sent_at.
  if (sent_at < now - replay_window_ms_ || sent_at > now + replay_window_ms_) {
    result.error = OpenError::kStale;
    return result;
  }

  Nonce remembered;
  std::memcpy(remembered.data(), nonce, remembered.size());
  {
    std::lock_guard lock(mu_);
    ForgetExpiredNoncesLocked(now);
    if (!seen_nonces_.insert(remembered).second) {
      result.error = OpenError::kReplayed;
      return result;
    }
    nonces_by_expiry_.emplace(sent_at + replay_window_ms_, remembered);
    if (nonces_by_expiry_.size() > kMaxRememberedNonces) {
      // Over the bound: forget the nonce that would expire first.
      seen_nonces_.erase(nonces_by_expiry_.begin()->second);
      nonces_by_expiry_.erase(nonces_by_expiry_.begin());
    }
  }
  result.payload = plain.substr(kSentAtBytes);
  return result;
}

void Keyring::ForgetExpiredNoncesLocked(int64_t now_ms) {
  // A nonce expires at sent_at + window; after that its packet is stale.
  while (!nonces_by_expiry_.empty() && nonces_by_expiry_.begin()->first < now_ms) {
    seen_nonces_.erase(nonces_by_expiry_.begin()->second);
    nonces_by_expiry_.erase(nonces_by_expiry_.begin());
  }
}

Status Keyring::Install(std::string_view key) {
  MESHKV_RETURN_IF_ERROR(CheckKeySize(key));
  std::lock_guard lock(mu_);
  if (std::find(keys_.begin(), keys_.end(), key) == keys_.end()) keys_.emplace_back(key);
  return Status::Ok();
}

Status Keyring::Use(std::string_view key) {
  MESHKV_RETURN_IF_ERROR(CheckKeySize(key));
  std::lock_guard lock(mu_);
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end()) {
    return NotFound("gossip key " + GossipKeyFingerprint(key) +
                    " is not installed; install it on every node first");
  }
  std::rotate(keys_.begin(), it, it + 1);
  return Status::Ok();
}

Status Keyring::Remove(std::string_view key) {
  MESHKV_RETURN_IF_ERROR(CheckKeySize(key));
  std::lock_guard lock(mu_);
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end()) {
    return NotFound("gossip key " + GossipKeyFingerprint(key) + " is not installed");
  }
  if (it == keys_.begin()) {
    return FailedPrecondition("gossip key " + GossipKeyFingerprint(key) +
                              " is the primary key; use another key first");
  }
  Wipe(*it);
  keys_.erase(it);
  return Status::Ok();
}

std::vector<KeyInfo> Keyring::List() const {
  std::lock_guard lock(mu_);
  std::vector<KeyInfo> infos;
  infos.reserve(keys_.size());
  for (size_t i = 0; i < keys_.size(); ++i) {
    infos.push_back(KeyInfo{GossipKeyFingerprint(keys_[i]), i == 0});
  }
  return infos;
}

}  // namespace meshkv::membership
