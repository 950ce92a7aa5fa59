#include "engines/vault/chunker.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <set>
#include <string>

#include "tests/unit/vault/vault_test_util.h"

namespace lifeboat::vault {
namespace {

std::vector<std::string> Split(const Chunker& c, const std::string& data) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t rest = data.size() - pos;
    bool at_end = rest <= c.params().max_size;
    size_t n = c.Cut(reinterpret_cast<const uint8_t*>(data.data() + pos), rest, at_end);
    out.push_back(data.substr(pos, n));
    pos += n;
  }
  return out;
}

// FORMAT.md §4 one byte at a time: gear table from HMAC-SHA-256(mac, "lifeboat-gear-<i>"),
// h = (h << 1) + G[byte], no cut before min, 2 more mask bits before avg, 2 fewer after, forced
// cut at max. The chunker's faster loop must find exactly these cut points (stored vaults
// depend on them).
size_t ReferenceCut(const std::array<uint8_t, kKeySize>& key, const ChunkerParams& p,
                    const uint8_t* data, size_t size) {
  std::array<uint64_t, 256> gear{};
  Hmac hmac(key);
  for (size_t i = 0; i < gear.size(); i += 4) {
    Digest d = hmac.Sum("lifeboat-gear-" + std::to_string(i));
    std::memcpy(&gear[i], d.data(), 32);
  }
  if (size <= p.min_size) return size;
  int bits = std::countr_zero(p.avg_size);
  uint64_t small = ~uint64_t{0} << (64 - (bits + 2));
  uint64_t large = ~uint64_t{0} << (64 - (bits - 2));
  uint64_t h = 0;
  for (size_t i = p.min_size; i < std::min<size_t>(p.max_size, size); ++i) {
    h = (h << 1) + gear[data[i]];
    if ((h & (i < std::min<size_t>(p.avg_size, size) ? small : large)) == 0) return i + 1;
  }
  return std::min<size_t>(p.max_size, size);
}

TEST(Chunker, CutPointsMatchTheByteAtATimeDefinition) {
  std::array<uint8_t, kKeySize> key{};
  key[0] = 42;
  for (const ChunkerParams& p :
       {ChunkerParams{4 << 10, 16 << 10, 64 << 10}, ChunkerParams{128 << 10, 256 << 10, 2 << 20},
        ChunkerParams{5000, 8192, 20001}}) {
    Chunker c(p, key);
    std::string data = testing::RandomBytes(6 << 20, 11) + testing::TextBytes(3 << 20, 12);
    size_t pos = 0;
    size_t cuts = 0;
    while (pos < data.size()) {
      const auto* d = reinterpret_cast<const uint8_t*>(data.data() + pos);
      size_t rest = data.size() - pos;
      size_t want = ReferenceCut(key, p, d, rest);
      ASSERT_EQ(c.Cut(d, rest, rest <= p.max_size), want) << "at " << pos << ", min " << p.min_size;
      pos += want;
      ++cuts;
    }
    EXPECT_GT(cuts, data.size() / p.max_size);
  }
}

TEST(Chunker, RespectsMinAndMaxAndAverages) {
  ChunkerParams p{4 << 10, 16 << 10, 64 << 10};
  std::array<uint8_t, kKeySize> key{};
  Chunker c(p, key);
  std::string data = testing::RandomBytes(8 << 20, 3);
  auto chunks = Split(c, data);
  size_t total = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    total += chunks[i].size();
    if (i + 1 < chunks.size()) {
      EXPECT_GE(chunks[i].size(), p.min_size);
    }
    EXPECT_LE(chunks[i].size(), p.max_size);
  }
  EXPECT_EQ(total, data.size());
  double avg = static_cast<double>(data.size()) / static_cast<double>(chunks.size());
  EXPECT_GT(avg, p.avg_size * 0.6);
  EXPECT_LT(avg, p.avg_size * 1.6);
}

TEST(Chunker, BoundariesSurviveAnInsertion) {
  ChunkerParams p{4 << 10, 16 << 10, 64 << 10};
  std::array<uint8_t, kKeySize> key{};
  key[3] = 9;
  Chunker c(p, key);
  std::string data = testing::RandomBytes(4 << 20, 4);
  std::string shifted = data.substr(0, 2 << 20) + "inserted bytes" + data.substr(2 << 20);
  auto a = Split(c, data);
  auto b = Split(c, shifted);
  std::set<std::string> left(a.begin(), a.end());
  size_t shared = 0;
  for (const auto& chunk : b) shared += left.count(chunk);
  EXPECT_GE(shared + 3, a.size()) << "only the chunks around the insertion may differ";
}

TEST(Chunker, KeyChangesBoundaries) {
  ChunkerParams p{4 << 10, 16 << 10, 64 << 10};
  std::array<uint8_t, kKeySize> k1{}, k2{};
  k2[0] = 1;
  std::string data = testing::RandomBytes(1 << 20, 5);
  EXPECT_NE(Split(Chunker(p, k1), data).size() == Split(Chunker(p, k2), data).size() &&
                Split(Chunker(p, k1), data)[0] == Split(Chunker(p, k2), data)[0],
            true);
}

TEST(Chunker, ValidatesParams) {
  EXPECT_FALSE(ValidateChunkerParams({1024, 16 << 10, 64 << 10}).ok());
  EXPECT_FALSE(ValidateChunkerParams({4 << 10, 3 << 12, 64 << 10}).ok());
  EXPECT_FALSE(ValidateChunkerParams({64 << 10, 16 << 10, 8 << 20}).ok());
  EXPECT_FALSE(ValidateChunkerParams({4 << 10, 16 << 10, 128 << 20}).ok());
  EXPECT_TRUE(ValidateChunkerParams({512 << 10, 1 << 20, 8 << 20}).ok());
}

}  // namespace
}  // namespace lifeboat::vault
