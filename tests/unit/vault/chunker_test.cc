#include "engines/vault/chunker.h"

#include <gtest/gtest.h>

#include <set>

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
