#include "engines/vault/crypto.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/sha256_ni.h"
#include "engines/vault/compress.h"
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

}  // namespace
}  // namespace lifeboat::vault
