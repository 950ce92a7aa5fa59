#include "engines/vault/crypto.h"

#include <gtest/gtest.h>

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
