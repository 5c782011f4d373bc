#include "model/entry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "base/clock.h"

namespace meshkv {
namespace {

// Random entries drawn from small pools, so equal versions (and entirely
// equal entries) come up often and the tie-breaking rules are exercised.
class EntryGenerator {
 public:
  explicit EntryGenerator(uint64_t seed) : rng_(seed) {}

  Entry Next() {
    Entry e;
    e.version.timestamp = HlcTimestamp::FromParts(1'700'000'000'000 + Pick(3), Pick(2));
    e.version.origin = NodeId(1 + Pick(2));
    e.tombstone = Pick(3) == 0;
    if (!e.tombstone) e.value = std::string(kValues[Pick(std::size(kValues))]);
    e.expires_at_ms = kExpiries[Pick(std::size(kExpiries))];
    return e;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  static constexpr std::string_view kValues[] = {"", "a", "b", "ab"};
  static constexpr int64_t kExpiries[] = {0, 1'700'000'000'100, 1'700'000'000'200};

  size_t Pick(size_t n) { return static_cast<size_t>(rng_() % n); }

  std::mt19937_64 rng_;
};

constexpr int kTriples = 20'000;

TEST(MergeTest, Commutative) {
  EntryGenerator gen(1);
  for (int i = 0; i < kTriples; ++i) {
    Entry a = gen.Next(), b = gen.Next();
    ASSERT_EQ(Merge(a, b), Merge(b, a)) << i;
  }
}

TEST(MergeTest, Associative) {
  EntryGenerator gen(2);
  for (int i = 0; i < kTriples; ++i) {
    Entry a = gen.Next(), b = gen.Next(), c = gen.Next();
    ASSERT_EQ(Merge(Merge(a, b), c), Merge(a, Merge(b, c))) << i;
  }
}

TEST(MergeTest, Idempotent) {
  EntryGenerator gen(3);
  for (int i = 0; i < kTriples; ++i) {
    Entry a = gen.Next(), b = gen.Next();
    ASSERT_EQ(Merge(a, a), a);
    const Entry& ab = Merge(a, b);
    ASSERT_EQ(Merge(ab, b), ab);
    ASSERT_EQ(Merge(ab, a), ab);
  }
}

TEST(MergeTest, ReturnsAnArgumentWithTheHighestVersion) {
  EntryGenerator gen(4);
  for (int i = 0; i < kTriples; ++i) {
    Entry a = gen.Next(), b = gen.Next();
    const Entry& winner = Merge(a, b);
    ASSERT_TRUE(&winner == &a || &winner == &b);
    ASSERT_EQ(winner.version, std::max(a.version, b.version));
  }
}

TEST(MergeTest, AnyDeliveryOrderConverges) {
  EntryGenerator gen(5);
  for (int round = 0; round < 500; ++round) {
    std::vector<Entry> writes;
    for (int i = 0; i < 8; ++i) writes.push_back(gen.Next());
    auto fold = [](const std::vector<Entry>& in) {
      Entry state = in.front();
      for (const Entry& e : in) state = Merge(state, e);
      return state;
    };
    const Entry expected = fold(writes);
    for (int shuffle = 0; shuffle < 10; ++shuffle) {
      std::vector<Entry> reordered = writes;
      // Duplicated delivery too.
      reordered.push_back(writes[gen.rng()() % writes.size()]);
      std::shuffle(reordered.begin(), reordered.end(), gen.rng());
      ASSERT_EQ(fold(reordered), expected);
    }
  }
}

TEST(MergeTest, HigherVersionWinsEvenAgainstATombstone) {
  Entry put{"v", Version{HlcTimestamp::FromParts(100, 0), NodeId(1)}, 0, false};
  Entry del{"", Version{HlcTimestamp::FromParts(99, 0), NodeId(2)}, 0, true};
  EXPECT_EQ(Merge(put, del), put);
  del.version.timestamp = HlcTimestamp::FromParts(100, 1);
  EXPECT_EQ(Merge(put, del), del);
  // Same timestamp: the origin breaks the tie.
  del.version.timestamp = put.version.timestamp;
  EXPECT_EQ(Merge(put, del), del);  // origin 2 > 1
  del.version.origin = NodeId(0);
  EXPECT_EQ(Merge(put, del), put);
}

TEST(MergeTest, SameVersionTombstoneWins) {
  Version v{HlcTimestamp::FromParts(100, 0), NodeId(1)};
  Entry put{"v", v, 0, false};
  Entry del{"", v, 0, true};
  EXPECT_EQ(Merge(put, del), del);
  EXPECT_EQ(Merge(del, put), del);
}

TEST(MergeEncodedTest, AgreesWithMerge) {
  EntryGenerator gen(6);
  for (int i = 0; i < kTriples; ++i) {
    Entry a = gen.Next(), b = gen.Next();
    const std::string ea = EncodeEntry(a), eb = EncodeEntry(b);
    ASSERT_EQ(std::string(MergeEncoded(ea, eb)), EncodeEntry(Merge(a, b)));
    ASSERT_EQ(std::string(MergeEncoded(eb, ea)), EncodeEntry(Merge(a, b)));
  }
}

TEST(MergeEncodedTest, UndecodableSideLoses) {
  const std::string good = EncodeEntry(Entry{"v", Version{HlcTimestamp(5), NodeId(1)}, 0, false});
  EXPECT_EQ(MergeEncoded(good, "garbage"), good);
  EXPECT_EQ(MergeEncoded("garbage", good), good);
  EXPECT_EQ(MergeEncoded("", good), good);
}

Entry RandomEntry(std::mt19937_64& rng) {
  Entry e;
  e.version.timestamp = HlcTimestamp(rng());
  e.version.origin = NodeId(rng() | 1);
  e.tombstone = rng() % 4 == 0;
  if (!e.tombstone) {
    e.value.resize(rng() % 300);
    for (char& c : e.value) c = static_cast<char>(rng() & 0xff);
  }
  e.expires_at_ms = rng() % 2 == 0 ? 0 : static_cast<int64_t>(rng() >> 1);
  return e;
}

TEST(EntryEncodingTest, RoundTrip) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 5000; ++i) {
    Entry e = RandomEntry(rng);
    const std::string bytes = EncodeEntry(e);
    ASSERT_EQ(bytes.size(), 26 + e.value.size());
    auto decoded = DecodeEntry(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    ASSERT_EQ(*decoded, e);
    auto version = DecodeEntryVersion(bytes);
    ASSERT_TRUE(version.ok());
    ASSERT_EQ(*version, e.version);
  }
}

TEST(EntryEncodingTest, LayoutIsAsDocumented) {
  Entry e{"xy", Version{HlcTimestamp(0x0102030405060708), NodeId(0x1112131415161718)}, 0x21, false};
  const std::string bytes = EncodeEntry(e);
  ASSERT_EQ(bytes.size(), 28u);
  EXPECT_EQ(bytes[0], 1);  // format
  EXPECT_EQ(bytes[1], 0);  // flags
  EXPECT_EQ(bytes[2], 0x08);
  EXPECT_EQ(bytes[9], 0x01);
  EXPECT_EQ(bytes[10], 0x18);
  EXPECT_EQ(bytes[18], 0x21);
  EXPECT_EQ(bytes.substr(26), "xy");
  Entry del{"", e.version, 0, true};
  EXPECT_EQ(EncodeEntry(del)[1], 1);
}

void ExpectCorrupt(std::string_view bytes) {
  auto decoded = DecodeEntry(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), ErrorCode::kDataLoss);
}

TEST(EntryEncodingTest, RejectsTruncatedAndGarbage) {
  const std::string good =
      EncodeEntry(Entry{"value", Version{HlcTimestamp(99), NodeId(3)}, 1234, false});
  for (size_t n = 0; n < 26; ++n) {
    ExpectCorrupt(good.substr(0, n));
    EXPECT_FALSE(DecodeEntryVersion(good.substr(0, n)).ok());
  }
  std::string bad_format = good;
  bad_format[0] = 2;
  ExpectCorrupt(bad_format);
  EXPECT_FALSE(DecodeEntryVersion(bad_format).ok());
  std::string bad_flags = good;
  bad_flags[1] = 2;
  ExpectCorrupt(bad_flags);
  std::string tombstone_with_value = good;
  tombstone_with_value[1] = 1;
  ExpectCorrupt(tombstone_with_value);

  // Random bytes never crash the decoder; with a wrong format byte they are refused.
  std::mt19937_64 rng(8);
  for (int i = 0; i < 10'000; ++i) {
    std::string garbage(rng() % 64, '\0');
    for (char& c : garbage) c = static_cast<char>(rng() & 0xff);
    auto decoded = DecodeEntry(garbage);
    if (garbage.empty() || garbage[0] != 1) {
      ASSERT_FALSE(decoded.ok());
    }
    if (decoded.ok()) {
      ASSERT_EQ(EncodeEntry(*decoded), garbage);
    }
  }
}

TEST(VersionTest, ToStringParseRoundTrip) {
  Version v{HlcTimestamp(111604172800000000), NodeId(0x1f2e3d4c5b6a7988)};
  EXPECT_EQ(v.ToString(), "111604172800000000-1f2e3d4c5b6a7988");
  std::mt19937_64 rng(9);
  for (int i = 0; i < 5000; ++i) {
    Version random{HlcTimestamp(i == 0 ? ~uint64_t{0} : rng() >> (rng() % 64)), NodeId(rng() | 1)};
    auto parsed = Version::Parse(random.ToString());
    ASSERT_TRUE(parsed.ok()) << random.ToString() << ": " << parsed.status().ToString();
    ASSERT_EQ(*parsed, random);
  }
}

TEST(VersionTest, ParseRejectsMalformed) {
  for (std::string_view bad : {
           "",
           "-",
           "123",
           "123-",
           "-1f2e3d4c5b6a7988",
           "12a-1f2e3d4c5b6a7988",
           "+12-1f2e3d4c5b6a7988",
           " 12-1f2e3d4c5b6a7988",
           "18446744073709551616-1f2e3d4c5b6a7988",   // 2^64
           "99999999999999999999-1f2e3d4c5b6a7988",   // 20 digits, overflows
           "123456789012345678901-1f2e3d4c5b6a7988",  // 21 digits
           "12-1f2e3d4c5b6a798",                      // short node id
           "12-1f2e3d4c5b6a79888",                    // long node id
           "12-0000000000000000",                     // zero node id
           "12-1f2e3d4c5b6a798g",
           "12-1f2e3d4c-5b6a7988",
       }) {
    auto parsed = Version::Parse(bad);
    EXPECT_FALSE(parsed.ok()) << "'" << bad << "' parsed";
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
    }
  }
  EXPECT_TRUE(Version::Parse("18446744073709551615-1f2e3d4c5b6a7988").ok());
}

TEST(VersionTest, OrderIsTimestampThenOrigin) {
  Version a{HlcTimestamp(1), NodeId(9)};
  Version b{HlcTimestamp(2), NodeId(1)};
  Version c{HlcTimestamp(2), NodeId(2)};
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(a, (Version{HlcTimestamp(1), NodeId(9)}));
}

TEST(ValidateKeyTest, Limits) {
  EXPECT_EQ(ValidateKey("").code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(ValidateKey("k").ok());
  EXPECT_TRUE(ValidateKey(std::string(kMaxKeyBytes, 'k')).ok());
  EXPECT_TRUE(ValidateKey(std::string("\0\xff/\n", 4)).ok());  // any bytes
  Status too_long = ValidateKey(std::string(kMaxKeyBytes + 1, 'k'));
  EXPECT_EQ(too_long.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(too_long.message(), "key is 1025 bytes; the limit is 1024");
}

TEST(EntryTest, TtlExpiryWithAFakeClock) {
  FakeClock clock;
  Entry e{"v", Version{HlcTimestamp(1), NodeId(1)}, clock.NowMillis() + 1000, false};
  EXPECT_TRUE(e.IsLive(clock.NowMillis()));
  clock.Advance(999);
  EXPECT_TRUE(e.IsLive(clock.NowMillis()));
  clock.Advance(1);
  EXPECT_FALSE(e.IsLive(clock.NowMillis()));  // dies exactly at expires_at_ms
  clock.Advance(1'000'000);
  EXPECT_FALSE(e.IsLive(clock.NowMillis()));

  Entry forever{"v", e.version, 0, false};
  EXPECT_TRUE(forever.IsLive(clock.NowMillis()));
  clock.Advance(int64_t{100} * 365 * 86'400'000);
  EXPECT_TRUE(forever.IsLive(clock.NowMillis()));

  Entry tombstone{"", e.version, 0, true};
  EXPECT_FALSE(tombstone.IsLive(clock.NowMillis()));
}

TEST(EntryTest, ExpiryIsAbsoluteSoReplicasAgree) {
  // Two replicas with different clocks agree on liveness at the same instant
  // because the expiry travels as an absolute time, not a remaining TTL.
  FakeClock a(1'700'000'000'000), b(1'700'000'000'000);
  Entry e{"v", Version{HlcTimestamp(1), NodeId(1)}, 1'700'000'005'000, false};
  auto copy = DecodeEntry(EncodeEntry(e));
  ASSERT_TRUE(copy.ok());
  for (int64_t t = 0; t <= 10'000; t += 250) {
    a.Set(1'700'000'000'000 + t);
    b.Set(1'700'000'000'000 + t);
    ASSERT_EQ(e.IsLive(a.NowMillis()), copy->IsLive(b.NowMillis()));
  }
}

}  // namespace
}  // namespace meshkv
