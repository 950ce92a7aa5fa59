#include "engines/vault/fingerprint.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tests/unit/vault/vault_test_util.h"

namespace lifeboat::vault {
namespace {

using U128 = Fingerprinter::U128;

// FORMAT.md §4 written out independently of fingerprint.cc: multiply by shifting one bit of `b`
// at a time, reducing by x^128 = x^7 + x^2 + x + 1 at every step.
U128 BitMul(U128 a, U128 b) {
  U128 r;
  for (int i = 0; i < 128; ++i) {
    bool bit = i < 64 ? (b.lo >> i) & 1 : (b.hi >> (i - 64)) & 1;
    if (bit) {
      r.lo ^= a.lo;
      r.hi ^= a.hi;
    }
    bool carry = (a.hi >> 63) & 1;
    a.hi = (a.hi << 1) | (a.lo >> 63);
    a.lo <<= 1;
    if (carry) a.lo ^= 0x87;
  }
  return r;
}

U128 Le128(const uint8_t* p) {
  U128 v;
  for (int i = 0; i < 8; ++i) {
    v.lo |= uint64_t{p[i]} << (8 * i);
    v.hi |= uint64_t{p[8 + i]} << (8 * i);
  }
  return v;
}

ChunkFingerprint Reference(const std::array<uint8_t, kKeySize>& key, const std::string& data) {
  Digest d = Hmac(key).Sum("lifeboat-v3/chunk-fingerprint");
  U128 h = Le128(d.data());
  U128 acc;
  for (size_t i = 0; i < data.size(); i += 16) {
    uint8_t block[16] = {};
    data.copy(reinterpret_cast<char*>(block), 16, i);
    U128 m = Le128(block);
    acc = BitMul(U128{acc.lo ^ m.lo, acc.hi ^ m.hi}, h);
  }
  acc = BitMul(U128{acc.lo ^ data.size(), acc.hi}, h);
  ChunkFingerprint out{};
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<uint8_t>(acc.lo >> (8 * i));
    out[8 + i] = static_cast<uint8_t>(acc.hi >> (8 * i));
  }
  return out;
}

std::array<uint8_t, kKeySize> Key(uint8_t seed) {
  std::array<uint8_t, kKeySize> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed * 31 + i);
  return key;
}

const uint8_t* Bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

TEST(ChunkFingerprintTest, EveryImplementationComputesTheDefinition) {
  auto key = Key(1);
  Fingerprinter fp(key);
  std::string data = testing::RandomBytes(70000, 3);
  // Every length around the 16-byte block, the 8-block and the 16-block groups, and a few
  // large ones (unaligned starts too: the data is read at offsets 0 and 1).
  std::vector<size_t> sizes;
  for (size_t n = 0; n <= 600; ++n) sizes.push_back(n);
  for (size_t n : {1023, 1024, 1025, 4096, 4111, 65536, 69999}) sizes.push_back(n);
  for (size_t offset : {0, 1}) {
    for (size_t n : sizes) {
      std::string m = data.substr(offset, n);
      ChunkFingerprint want = Reference(key, m);
      ASSERT_EQ(fp.OfWith(Fingerprinter::Impl::kPortable, Bytes(m), n), want) << n;
      ASSERT_EQ(fp.OfWith(Fingerprinter::Impl::kPclmul, Bytes(data) + offset, n), want) << n;
      ASSERT_EQ(fp.OfWith(Fingerprinter::Impl::kVpclmul, Bytes(data) + offset, n), want) << n;
      ASSERT_EQ(fp.Of(Bytes(data) + offset, n), want) << n;
    }
  }
}

TEST(ChunkFingerprintTest, EveryBitTheLengthAndTheKeyCount) {
  Fingerprinter fp(Key(2));
  std::string data = testing::RandomBytes(1000, 4);
  std::set<ChunkFingerprint> seen;
  seen.insert(fp.Of(Bytes(data), data.size()));
  for (size_t bit = 0; bit < data.size() * 8; bit += 7) {
    std::string flipped = data;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_TRUE(seen.insert(fp.Of(Bytes(flipped), flipped.size())).second) << bit;
  }
  // Trailing zeros are not padding: the length is part of the hash.
  std::string zeros(40, '\0');
  for (size_t n = 1; n <= zeros.size(); ++n) {
    EXPECT_TRUE(seen.insert(fp.Of(Bytes(zeros), n)).second) << n;
  }
  Fingerprinter other(Key(3));
  EXPECT_NE(other.Of(Bytes(data), data.size()), fp.Of(Bytes(data), data.size()));
}

}  // namespace
}  // namespace lifeboat::vault
