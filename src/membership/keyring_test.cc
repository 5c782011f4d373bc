#include "membership/keyring.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "base/encoding.h"

namespace meshkv::membership {
namespace {

constexpr int64_t kWindowMs = 30'000;

std::string RawKey() {
  Result<std::string> key = DecodeGossipKey(GenerateGossipKey());
  EXPECT_TRUE(key.ok());
  return key.ok() ? *key : std::string(kGossipKeyBytes, 'x');
}

std::unique_ptr<Keyring> MakeRing(std::vector<std::string> keys, const Clock& clock,
                                  std::string cluster = "meshkv") {
  auto ring = Keyring::Create(std::move(keys), std::move(cluster), clock, kWindowMs);
  EXPECT_TRUE(ring.ok()) << ring.status().ToString();
  return std::move(ring).value();
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "keyring_test.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(GossipKeyTest, GenerateDecodeRoundTrip) {
  std::string encoded = GenerateGossipKey();
  EXPECT_EQ(encoded.size(), 44u);
  Result<std::string> raw = DecodeGossipKey(encoded);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(raw->size(), kGossipKeyBytes);
  EXPECT_EQ(Base64Encode(*raw), encoded);
  EXPECT_NE(GenerateGossipKey(), encoded);
  // Surrounding whitespace (a newline from a file or `$(meshkv keygen)`) is fine.
  Result<std::string> padded = DecodeGossipKey("  " + encoded + "\n");
  ASSERT_TRUE(padded.ok());
  EXPECT_EQ(*padded, *raw);
}

TEST(GossipKeyTest, DecodeErrorsNeverEchoTheKey) {
  std::string good = GenerateGossipKey();
  std::string not_base64 = good;
  not_base64[5] = '!';
  std::string too_short = Base64Encode(std::string(16, 'k'));
  std::string too_long = Base64Encode(std::string(33, 'k'));
  for (const std::string& bad : {not_base64, too_short, too_long, std::string("   ")}) {
    Result<std::string> decoded = DecodeGossipKey(bad);
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(decoded.status().code(), ErrorCode::kInvalidArgument);
    const std::string& message = decoded.status().message();
    std::string_view trimmed = bad;
    if (trimmed.find_first_not_of(' ') != std::string_view::npos) {
      EXPECT_EQ(message.find(bad), std::string::npos) << message;
      EXPECT_EQ(message.find(bad.substr(0, 8)), std::string::npos) << message;
    }
    EXPECT_NE(message.find("gossip key"), std::string::npos) << message;
  }
  EXPECT_NE(DecodeGossipKey(too_short).status().message().find("16 bytes"), std::string::npos);
}

TEST(GossipKeyTest, FingerprintsAreStableAndDistinct) {
  std::string key(kGossipKeyBytes, '\0');
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<char>(i);
  // Pinned: BLAKE2b-256 of bytes 0..31, first 8 bytes. Changing it would
  // change what operators see in `meshkv keyring list` across versions.
  std::string fingerprint = GossipKeyFingerprint(key);
  EXPECT_EQ(fingerprint.size(), 16u);
  EXPECT_EQ(fingerprint, GossipKeyFingerprint(key));
  EXPECT_EQ(fingerprint, "cb2f5160fc1f7e05");
  std::string other = key;
  other[0] = 1;
  EXPECT_NE(GossipKeyFingerprint(other), fingerprint);
  // The fingerprint never contains the key.
  EXPECT_EQ(fingerprint.find(HexEncode(key).substr(0, 16)), std::string::npos);

  FakeClock clock;
  auto ring = MakeRing({key}, clock);
  auto again = MakeRing({key}, clock);
  ASSERT_EQ(ring->List().size(), 1u);
  EXPECT_EQ(ring->List()[0].fingerprint, fingerprint);
  EXPECT_EQ(again->List()[0].fingerprint, fingerprint);
  EXPECT_TRUE(ring->List()[0].primary);
}

TEST(KeyringTest, CreateValidatesKeys) {
  FakeClock clock;
  auto empty = Keyring::Create({}, "meshkv", clock);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), ErrorCode::kInvalidArgument);
  auto short_key = Keyring::Create({RawKey(), std::string(31, 'a')}, "meshkv", clock);
  ASSERT_FALSE(short_key.ok());
  EXPECT_EQ(short_key.status().code(), ErrorCode::kInvalidArgument);
  // Duplicates collapse to one entry; the first stays primary.
  std::string a = RawKey(), b = RawKey();
  auto ring = MakeRing({a, b, a}, clock);
  auto list = ring->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].fingerprint, GossipKeyFingerprint(a));
  EXPECT_TRUE(list[0].primary);
  EXPECT_FALSE(list[1].primary);
}

TEST(KeyringTest, RoundTrip) {
  FakeClock clock;
  std::string key = RawKey();
  auto sender = MakeRing({key}, clock);
  auto receiver = MakeRing({key}, clock);
  for (std::string payload : {std::string(), std::string("ping"), std::string(1400, '\xab')}) {
    std::string packet = sender->Seal(payload);
    EXPECT_EQ(packet.size(), payload.size() + kSealOverheadBytes);
    EXPECT_EQ(packet.substr(0, 4), "MKG1");
    if (payload.size() > 8) {
      EXPECT_EQ(packet.find(payload.substr(0, 8)), std::string::npos);  // encrypted
    }
    Keyring::Opened opened = receiver->Open(packet);
    EXPECT_EQ(opened.error, OpenError::kNone) << OpenErrorName(opened.error);
    EXPECT_EQ(opened.payload, payload);
  }
  // Two seals of one payload differ (fresh nonce).
  EXPECT_NE(sender->Seal("same"), sender->Seal("same"));
}

TEST(KeyringTest, OtherKeyFails) {
  FakeClock clock;
  auto sender = MakeRing({RawKey()}, clock);
  auto receiver = MakeRing({RawKey(), RawKey()}, clock);
  Keyring::Opened opened = receiver->Open(sender->Seal("hello"));
  EXPECT_EQ(opened.error, OpenError::kNoKey);
  EXPECT_TRUE(opened.payload.empty());
}

TEST(KeyringTest, OtherClusterNameFails) {
  FakeClock clock;
  std::string key = RawKey();
  auto sender = MakeRing({key}, clock, "alpha");
  auto receiver = MakeRing({key}, clock, "beta");
  EXPECT_EQ(receiver->Open(sender->Seal("hello")).error, OpenError::kNoKey);
  auto same_cluster = MakeRing({key}, clock, "alpha");
  EXPECT_EQ(same_cluster->Open(sender->Seal("hello")).error, OpenError::kNone);
}

TEST(KeyringTest, EveryTamperedByteFails) {
  FakeClock clock;
  std::string key = RawKey();
  auto sender = MakeRing({key}, clock);
  auto receiver = MakeRing({key}, clock);
  std::string packet = sender->Seal("a payload of some length");
  for (size_t i = 0; i < packet.size(); ++i) {
    std::string tampered = packet;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    OpenError error = receiver->Open(tampered).error;
    if (i < 4) {
      EXPECT_EQ(error, OpenError::kMalformed) << "byte " << i;
    } else {
      EXPECT_EQ(error, OpenError::kNoKey) << "byte " << i;
    }
  }
  // Truncated and extended packets fail too; the untouched one still opens.
  EXPECT_EQ(receiver->Open(packet.substr(0, packet.size() - 1)).error, OpenError::kNoKey);
  EXPECT_EQ(receiver->Open(packet + "x").error, OpenError::kNoKey);
  EXPECT_EQ(receiver->Open(packet).error, OpenError::kNone);
}

TEST(KeyringTest, MalformedPackets) {
  FakeClock clock;
  auto ring = MakeRing({RawKey()}, clock);
  EXPECT_EQ(ring->Open("").error, OpenError::kMalformed);
  EXPECT_EQ(ring->Open("MKG1").error, OpenError::kMalformed);
  EXPECT_EQ(ring->Open(std::string(kSealOverheadBytes - 1, 'M')).error, OpenError::kMalformed);
  std::string wrong_magic = ring->Seal("x");
  wrong_magic.replace(0, 4, "MKG2");
  EXPECT_EQ(ring->Open(wrong_magic).error, OpenError::kMalformed);
  std::string garbage = "MKG1" + std::string(200, '\0');
  EXPECT_EQ(ring->Open(garbage).error, OpenError::kNoKey);
}

TEST(KeyringTest, StaleAndFutureTimestampsFail) {
  FakeClock sender_clock, receiver_clock;
  std::string key = RawKey();
  auto sender = MakeRing({key}, sender_clock);
  auto receiver = MakeRing({key}, receiver_clock);

  // Exactly at the window edge is still accepted, one millisecond past is not.
  sender_clock.Set(receiver_clock.NowMillis() - kWindowMs);
  EXPECT_EQ(receiver->Open(sender->Seal("edge")).error, OpenError::kNone);
  sender_clock.Set(receiver_clock.NowMillis() - kWindowMs - 1);
  EXPECT_EQ(receiver->Open(sender->Seal("old")).error, OpenError::kStale);
  sender_clock.Set(receiver_clock.NowMillis() + kWindowMs);
  EXPECT_EQ(receiver->Open(sender->Seal("edge")).error, OpenError::kNone);
  sender_clock.Set(receiver_clock.NowMillis() + kWindowMs + 1);
  EXPECT_EQ(receiver->Open(sender->Seal("future")).error, OpenError::kStale);

  // A packet that was fresh when sealed goes stale while it waits.
  sender_clock.Set(receiver_clock.NowMillis());
  std::string delayed = sender->Seal("delayed");
  receiver_clock.Advance(kWindowMs + 1);
  EXPECT_EQ(receiver->Open(delayed).error, OpenError::kStale);

  // Extreme sent_at values do not overflow into acceptance.
  sender_clock.Set(0);
  EXPECT_EQ(receiver->Open(sender->Seal("epoch")).error, OpenError::kStale);
  sender_clock.Set(INT64_MAX);
  EXPECT_EQ(receiver->Open(sender->Seal("max")).error, OpenError::kStale);
  sender_clock.Set(INT64_MIN);
  EXPECT_EQ(receiver->Open(sender->Seal("min")).error, OpenError::kStale);
}

TEST(KeyringTest, ExactReplayIsRefused) {
  FakeClock clock;
  std::string key = RawKey();
  auto sender = MakeRing({key}, clock);
  auto receiver = MakeRing({key}, clock);
  std::string packet = sender->Seal("once");
  EXPECT_EQ(receiver->Open(packet).error, OpenError::kNone);
  Keyring::Opened again = receiver->Open(packet);
  EXPECT_EQ(again.error, OpenError::kReplayed);
  EXPECT_TRUE(again.payload.empty());
  clock.Advance(kWindowMs / 2);
  EXPECT_EQ(receiver->Open(packet).error, OpenError::kReplayed);
  // After the window the replay is refused as stale (and its nonce forgotten).
  clock.Advance(kWindowMs);
  EXPECT_EQ(receiver->Open(packet).error, OpenError::kStale);
  // A failed open does not poison the nonce memory: a tampered copy is refused
  // without remembering its nonce, so the genuine packet still opens.
  std::string fresh = sender->Seal("fresh");
  std::string tampered = fresh;
  tampered.back() = static_cast<char>(tampered.back() ^ 0x80);
  EXPECT_EQ(receiver->Open(tampered).error, OpenError::kNoKey);
  EXPECT_EQ(receiver->Open(fresh).error, OpenError::kNone);
}

TEST(KeyringTest, NonceMemoryIsBounded) {
  FakeClock clock;
  std::string key = RawKey();
  auto sender = MakeRing({key}, clock);
  auto receiver = MakeRing({key}, clock);
  std::string first = sender->Seal("first");
  ASSERT_EQ(receiver->Open(first).error, OpenError::kNone);
  clock.Advance(1);
  std::string second = sender->Seal("second");
  ASSERT_EQ(receiver->Open(second).error, OpenError::kNone);
  clock.Advance(1);
  for (size_t i = 0; i < kMaxRememberedNonces - 1; ++i) {
    ASSERT_EQ(receiver->Open(sender->Seal("x")).error, OpenError::kNone);
  }
  // Memory is full: the oldest nonce was evicted, the next oldest is kept.
  EXPECT_EQ(receiver->Open(first).error, OpenError::kNone);
  EXPECT_EQ(receiver->Open(second).error, OpenError::kReplayed);
}

TEST(KeyringTest, RotationInstallUseRemove) {
  FakeClock clock;
  std::string old_key = RawKey(), new_key = RawKey();
  auto node_a = MakeRing({old_key}, clock);
  auto node_b = MakeRing({old_key}, clock);

  // Install everywhere: both keys present, old one still primary.
  ASSERT_TRUE(node_a->Install(new_key).ok());
  ASSERT_TRUE(node_a->Install(new_key).ok());  // no-op
  ASSERT_TRUE(node_b->Install(new_key).ok());
  auto list = node_a->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].fingerprint, GossipKeyFingerprint(old_key));
  EXPECT_TRUE(list[0].primary);
  EXPECT_EQ(list[1].fingerprint, GossipKeyFingerprint(new_key));
  EXPECT_FALSE(list[1].primary);

  // Use on one node first: the other still opens its packets, and vice versa.
  ASSERT_TRUE(node_a->Use(new_key).ok());
  list = node_a->List();
  EXPECT_EQ(list[0].fingerprint, GossipKeyFingerprint(new_key));
  EXPECT_TRUE(list[0].primary);
  EXPECT_FALSE(list[1].primary);
  EXPECT_EQ(node_b->Open(node_a->Seal("new")).error, OpenError::kNone);
  EXPECT_EQ(node_a->Open(node_b->Seal("old")).error, OpenError::kNone);

  // A node that only knows the old key still opens packets sealed with it
  // until the old key is removed.
  auto old_only = MakeRing({old_key}, clock);
  EXPECT_EQ(old_only->Open(node_b->Seal("old")).error, OpenError::kNone);
  EXPECT_EQ(old_only->Open(node_a->Seal("new")).error, OpenError::kNoKey);
  std::string sealed_with_old = node_b->Seal("in flight");
  ASSERT_TRUE(node_b->Use(new_key).ok());
  EXPECT_EQ(node_a->Open(sealed_with_old).error, OpenError::kNone);

  // Remove: the primary is refused, the old key goes, and its packets stop opening.
  Status remove_primary = node_a->Remove(new_key);
  EXPECT_EQ(remove_primary.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(remove_primary.message().find("use another key first"), std::string::npos);
  std::string late_old = old_only->Seal("late");
  ASSERT_TRUE(node_a->Remove(old_key).ok());
  ASSERT_EQ(node_a->List().size(), 1u);
  EXPECT_EQ(node_a->Open(late_old).error, OpenError::kNoKey);
  EXPECT_EQ(node_a->Open(node_b->Seal("new")).error, OpenError::kNone);
  EXPECT_EQ(node_a->Remove(old_key).code(), ErrorCode::kNotFound);
}

TEST(KeyringTest, RotationErrors) {
  FakeClock clock;
  std::string key = RawKey();
  auto ring = MakeRing({key}, clock);
  std::string unknown = RawKey();
  Status use_unknown = ring->Use(unknown);
  EXPECT_EQ(use_unknown.code(), ErrorCode::kNotFound);
  // The message names the key by fingerprint only.
  EXPECT_EQ(use_unknown.message().find(Base64Encode(unknown)), std::string::npos);
  EXPECT_NE(use_unknown.message().find(GossipKeyFingerprint(unknown)), std::string::npos);
  EXPECT_EQ(ring->Remove(unknown).code(), ErrorCode::kNotFound);
  EXPECT_EQ(ring->Remove(key).code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(ring->Install("short").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ring->Use("short").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ring->Remove("short").code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(ring->Use(key).ok());  // using the primary again is fine
  ASSERT_EQ(ring->List().size(), 1u);
}

TEST(KeyringTest, SaveLoadRoundTrip) {
  TempDir dir;
  std::string path = dir.path() + "/keyring";
  FakeClock clock;
  std::string a = RawKey(), b = RawKey(), c = RawKey();
  auto ring = MakeRing({a, b}, clock);
  ASSERT_TRUE(ring->Install(c).ok());
  ASSERT_TRUE(ring->Use(c).ok());
  ASSERT_TRUE(ring->Save(path).ok());

  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  auto loaded = Keyring::Load(path, "meshkv", clock, kWindowMs);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto before = ring->List(), after = (*loaded)->List();
  ASSERT_EQ(after.size(), 3u);
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].fingerprint, before[i].fingerprint);
    EXPECT_EQ(after[i].primary, before[i].primary);
  }
  EXPECT_EQ(after[0].fingerprint, GossipKeyFingerprint(c));
  EXPECT_EQ((*loaded)->Open(ring->Seal("saved")).error, OpenError::kNone);

  // Saving over an existing file keeps mode 0600 even if it was wider.
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  ASSERT_TRUE(ring->Remove(a).ok());
  ASSERT_TRUE(ring->Save(path).ok());
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto reloaded = Keyring::Load(path, "meshkv", clock, kWindowMs);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ((*reloaded)->List().size(), 2u);
}

TEST(KeyringTest, LoadErrors) {
  TempDir dir;
  FakeClock clock;
  auto missing = Keyring::Load(dir.path() + "/nope", "meshkv", clock);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);

  std::string empty_path = dir.path() + "/empty";
  std::ofstream(empty_path) << "\n# only a comment\n\n";
  auto empty = Keyring::Load(empty_path, "meshkv", clock);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), ErrorCode::kInvalidArgument);

  std::string good = GenerateGossipKey();
  std::string bad = Base64Encode(std::string(20, 'q'));
  std::string bad_path = dir.path() + "/bad";
  std::ofstream(bad_path) << good << "\n" << bad << "\n";
  auto bad_ring = Keyring::Load(bad_path, "meshkv", clock);
  ASSERT_FALSE(bad_ring.ok());
  EXPECT_EQ(bad_ring.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad_ring.status().message().find("line 2"), std::string::npos)
      << bad_ring.status().message();
  EXPECT_EQ(bad_ring.status().message().find(bad), std::string::npos);
  EXPECT_EQ(bad_ring.status().message().find(good), std::string::npos);

  // Comments, blank lines and CRLF are tolerated.
  std::string ok_path = dir.path() + "/ok";
  std::ofstream(ok_path) << "# keys\r\n\r\n" << good << "\r\n";
  auto ok_ring = Keyring::Load(ok_path, "meshkv", clock);
  ASSERT_TRUE(ok_ring.ok()) << ok_ring.status().ToString();
  EXPECT_EQ((*ok_ring)->List()[0].fingerprint, GossipKeyFingerprint(*DecodeGossipKey(good)));
}

TEST(KeyringTest, OpenErrorNames) {
  std::set<std::string_view> names;
  for (OpenError e : {OpenError::kNone, OpenError::kMalformed, OpenError::kNoKey, OpenError::kStale,
                      OpenError::kReplayed}) {
    names.insert(OpenErrorName(e));
  }
  EXPECT_EQ(names.size(), 5u);
  EXPECT_EQ(OpenErrorName(OpenError::kNoKey), "no_key");
}

}  // namespace
}  // namespace meshkv::membership
