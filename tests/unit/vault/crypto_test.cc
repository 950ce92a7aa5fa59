#include "engines/vault/crypto.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <random>
#include <vector>

#include "common/sha256_ni.h"
#include "engines/vault/compress.h"
#include "engines/vault/scrypt.h"
#include "tests/unit/vault/vault_test_util.h"

namespace lifeboat::vault {
namespace {

TEST(Crypto, HmacMatchesRfc4231TestCase1) {
  std::array<uint8_t, kKeySize> key{};
  for (int i = 0; i < 20; ++i) key[i] = 0x0b;  // HMAC zero-pads the key: same as the 20-byte key
  Hmac hmac(key);
  EXPECT_EQ(ToHex(hmac.Sum("Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(Crypto, Sum2IsTwoSums) {
  std::array<uint8_t, kKeySize> key{};
  key[3] = 7;
  Hmac hmac(key);
  EXPECT_EQ(hmac.Sum2("Hi There", "").first, hmac.Sum("Hi There"));
  const std::string data = testing::RandomBytes(3 << 20, 5);
  // Lengths around the padding limits (55/56 bytes in the last block) and block multiples, in
  // every combination of which message is longer, and large ones of different block counts.
  const size_t lengths[] = {
      0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 4096, (1 << 20) + 13, (3 << 20) - 7};
  for (size_t la : lengths) {
    for (size_t lb : lengths) {
      std::string_view a(data.data(), la);
      std::string_view b(data.data() + 3, std::min(lb, data.size() - 3));
      auto [da, db] = hmac.Sum2(a, b);
      ASSERT_EQ(ToHex(da), ToHex(hmac.Sum(a))) << la << " / " << lb;
      ASSERT_EQ(ToHex(db), ToHex(hmac.Sum(b))) << la << " / " << lb;
    }
  }
}

TEST(Crypto, Sha256NiCompressesLikeSha256) {
  if (!sha256ni::Available()) {
    GTEST_SKIP() << "no SHA-NI on this CPU (Hmac::Sum2 falls back to two Sum calls)";
  }
  // SHA-256("abc"): one padded block from the initial state, as one stream and as both of two.
  uint8_t block[64] = {'a', 'b', 'c', 0x80};
  block[63] = 24;
  const uint32_t init[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                            0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const uint32_t want[8] = {0xba7816bf, 0x8f01cfea, 0x414140de, 0x5dae2223,
                            0xb00361a3, 0x96177a9c, 0xb410ff61, 0xf20015ad};
  uint32_t one[8];
  std::memcpy(one, init, sizeof(one));
  sha256ni::Compress(one, block, 1);
  EXPECT_EQ(std::memcmp(one, want, sizeof(want)), 0);
  uint32_t a[8];
  uint32_t b[8];
  std::memcpy(a, init, sizeof(a));
  std::memcpy(b, init, sizeof(b));
  sha256ni::Compress2(a, block, b, block, 1);
  EXPECT_EQ(std::memcmp(a, want, sizeof(want)), 0);
  EXPECT_EQ(std::memcmp(b, want, sizeof(want)), 0);
}

TEST(Crypto, Sha256OfEmpty) {
  EXPECT_EQ(ToHex(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Crypto, SealOpenRoundTripAndTamperDetection) {
  std::array<uint8_t, kKeySize> key{};
  key[0] = 7;
  std::string sealed = Seal(key, "secret data", "aad");
  EXPECT_EQ(sealed.size(), 11 + kSealOverhead);
  auto plain = Open(key, sealed, "aad");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, "secret data");
  EXPECT_EQ(Open(key, sealed, "other").status().code(), StatusCode::kDataLoss);
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 1;
    EXPECT_EQ(Open(key, bad, "aad").status().code(), StatusCode::kDataLoss) << "byte " << i;
  }
  EXPECT_EQ(Open(key, sealed.substr(0, 10), "aad").status().code(), StatusCode::kDataLoss);
  std::array<uint8_t, kKeySize> other{};
  EXPECT_EQ(Open(other, sealed, "aad").status().code(), StatusCode::kDataLoss);
}

TEST(Crypto, SealUsesFreshNonces) {
  std::array<uint8_t, kKeySize> key{};
  EXPECT_NE(Seal(key, "x", ""), Seal(key, "x", ""));
}

TEST(Crypto, ScryptIsDeterministicPerSalt) {
  ScryptParams p{1 << 10, 8, 1};
  auto a = Scrypt("pass", "salt1", p);
  auto b = Scrypt("pass", "salt1", p);
  auto c = Scrypt("pass", "salt2", p);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

TEST(Crypto, SumManyIsSumOfEach) {
  std::array<uint8_t, kKeySize> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(7 * i + 1);
  Hmac hmac(key);
  const size_t edges[] = {0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096, 70001};
  std::mt19937_64 rng(11);
  for (int round = 0; round < 300; ++round) {
    size_t n = rng() % 10;
    std::vector<std::string> msgs;
    for (size_t i = 0; i < n; ++i) {
      size_t len = rng() % 2 ? edges[rng() % std::size(edges)] : rng() % 3000;
      msgs.push_back(testing::RandomBytes(len, rng()));
    }
    std::vector<std::string_view> views(msgs.begin(), msgs.end());
    std::vector<Digest> got(n);
    hmac.SumMany(views.data(), n, got.data());
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(ToHex(got[i]), ToHex(hmac.Sum(msgs[i])))
          << "round " << round << " message " << i << " of " << n;
    }
  }
}

TEST(Crypto, ScryptSse2MatchesRfc7914AndOpenSsl) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the SSE2 scrypt runs on x86-64 only";
#endif
  auto hex = [](const uint8_t* p, size_t n) { return ToHex(p, n); };
  uint8_t out[64];
  // RFC 7914 §12, the vectors a test can afford (N=1048576 takes 1 GiB).
  ASSERT_TRUE(ScryptSse2("", "", 16, 1, 1, 256 << 20, out, 64));
  EXPECT_EQ(hex(out, 64),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
            "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
  ASSERT_TRUE(ScryptSse2("password", "NaCl", 1024, 8, 16, 256 << 20, out, 64));
  EXPECT_EQ(hex(out, 64),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
  ASSERT_TRUE(ScryptSse2("pleaseletmein", "SodiumChloride", 16384, 8, 1, 256 << 20, out, 64));
  EXPECT_EQ(hex(out, 64),
            "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
            "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887");
  // Random passphrases, salts and parameters (r odd and even, p > 1, short and long output).
  std::mt19937_64 rng(3);
  for (int i = 0; i < 24; ++i) {
    std::string pass = testing::RandomBytes(rng() % 40, rng());
    std::string salt = testing::RandomBytes(rng() % 40, rng());
    uint64_t n = uint64_t{2} << (rng() % 11);
    uint64_t r = 1 + rng() % 9;
    uint64_t p = 1 + rng() % 3;
    size_t len = 1 + rng() % 64;
    uint8_t want[64];
    ASSERT_EQ(EVP_PBE_scrypt(pass.data(), pass.size(),
                             reinterpret_cast<const unsigned char*>(salt.data()), salt.size(), n, r,
                             p, 256 << 20, want, len),
              1);
    ASSERT_TRUE(ScryptSse2(pass, salt, n, r, p, 256 << 20, out, len));
    EXPECT_EQ(hex(out, len), hex(want, len)) << "N=" << n << " r=" << r << " p=" << p;
  }
  // Parameters it leaves to OpenSSL: N not a power of two or < 2, r or p zero, over the memory.
  EXPECT_FALSE(ScryptSse2("a", "b", 1000, 8, 1, 256 << 20, out, 32));
  EXPECT_FALSE(ScryptSse2("a", "b", 1, 8, 1, 256 << 20, out, 32));
  EXPECT_FALSE(ScryptSse2("a", "b", 1024, 0, 1, 256 << 20, out, 32));
  EXPECT_FALSE(ScryptSse2("a", "b", 1024, 8, 0, 256 << 20, out, 32));
  EXPECT_FALSE(ScryptSse2("a", "b", 1 << 20, 8, 1, 256 << 20, out, 32));
}

TEST(Compress, SkipsIncompressibleAndRoundTripsText) {
  std::string random = testing::RandomBytes(512 << 10, 1);
  EXPECT_FALSE(MaybeCompress(random, 3).compressed);
  std::string text = testing::TextBytes(512 << 10, 2);
  Compressed c = MaybeCompress(text, 3);
  ASSERT_TRUE(c.compressed);
  EXPECT_LT(c.data.size(), text.size() / 3);
  auto back = Decompress(c.data, text.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
  EXPECT_EQ(Decompress(c.data, text.size() + 1).status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(MaybeCompress(text, 0).compressed);
}

// The probe samples three windows: a chunk that is random in its middle but text around it is
// still compressed (a single middle sample stored it raw); one random at every window is not,
// and neither is a blob whose whole result would not shrink by 3 %.
TEST(Compress, ProbeSeesMixedChunks) {
  const size_t quarter = 128 << 10;
  std::string mixed = testing::TextBytes(quarter, 3) + testing::TextBytes(quarter, 4) +
                      testing::RandomBytes(quarter, 5) + testing::TextBytes(quarter, 6);
  // The windows at 1/4 (128 KiB) and 3/4 (384 KiB) are text, the one at 1/2 (256 KiB) random.
  Compressed c = MaybeCompress(mixed, 1);
  ASSERT_TRUE(c.compressed);
  EXPECT_LT(c.data.size(), mixed.size() * 2 / 3);
  auto back = Decompress(c.data, mixed.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, mixed);
  // Random at every window: stored raw without compressing the whole.
  EXPECT_FALSE(MaybeCompress(testing::RandomBytes(512 << 10, 7), 1).compressed);
  // Small blobs are compressed without a probe, unless the result does not pay.
  EXPECT_TRUE(MaybeCompress(testing::TextBytes(100 << 10, 8), 1).compressed);
  EXPECT_FALSE(MaybeCompress(testing::RandomBytes(100 << 10, 9), 1).compressed);
}

}  // namespace
}  // namespace lifeboat::vault
