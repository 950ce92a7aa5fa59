#include "engines/vault/format.h"

#include <gtest/gtest.h>

#include "engines/vault/tree.h"

namespace lifeboat::vault {
namespace {

PackEntry Entry(uint8_t tag, uint32_t offset, uint32_t len, BlobType type) {
  PackEntry e;
  e.id.fill(tag);
  e.type = type;
  e.compressed = tag % 2 == 0;
  e.offset = offset;
  e.length = len;
  e.raw_length = len * 2;
  return e;
}

TEST(Format, PackHeaderRoundTrip) {
  std::vector<PackEntry> entries = {Entry(1, 0, 100, BlobType::kData),
                                    Entry(2, 100, 50, BlobType::kTree)};
  auto decoded = DecodePackHeader(EncodePackHeader(entries));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[1].id, entries[1].id);
  EXPECT_EQ((*decoded)[1].offset, 100u);
  EXPECT_EQ((*decoded)[1].type, BlobType::kTree);
  EXPECT_TRUE((*decoded)[0].compressed == false);
  std::string truncated = EncodePackHeader(entries);
  truncated.pop_back();
  EXPECT_EQ(DecodePackHeader(truncated).status().code(), StatusCode::kDataLoss);
}

TEST(Format, IndexRoundTrip) {
  PackInfo p;
  p.id.fill(9);
  p.size = 12345;
  p.blobs = {Entry(3, 0, 10, BlobType::kData), Entry(4, 10, 20, BlobType::kData)};
  auto decoded = DecodeIndex(EncodeIndex({p, p}));
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].size, 12345u);
  EXPECT_EQ((*decoded)[1].blobs[1].offset, 10u);
  EXPECT_EQ(DecodeIndex("LBIX").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeIndex("garbage!").status().code(), StatusCode::kDataLoss);
}

TEST(Format, TreeRoundTripAndValidation) {
  Node f;
  f.name = "disk.img";
  f.type = NodeType::kFile;
  f.size = 100;
  f.mode = 0640;
  Extent chunk;
  chunk.id.fill(5);
  f.content = {chunk, Extent{Digest{}, 60}};
  Node l;
  l.name = "link";
  l.type = NodeType::kSymlink;
  l.target = "../x";
  auto decoded = DecodeTree(EncodeTree({f, l}));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].content.size(), 2u);
  EXPECT_EQ((*decoded)[0].content[1].hole, 60u);
  EXPECT_EQ((*decoded)[0].mode, 0640u);
  EXPECT_EQ((*decoded)[1].target, "../x");
  EXPECT_EQ(DecodeTree(R"({"nodes":[{"name":"../x","type":"file"}]})").status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DecodeTree(R"({"nodes":[{"name":"d","type":"dir"}]})").status().code(),
            StatusCode::kDataLoss);
}

TEST(Format, TreeChunkFingerprints) {
  Node f;
  f.name = "big";
  f.type = NodeType::kFile;
  Extent a;
  a.id.fill(1);
  Extent b;
  b.id.fill(2);
  f.content = {a, Extent{Digest{}, 4096}, b};
  f.fingerprints.resize(2);
  f.fingerprints[0].fill(0xab);
  f.fingerprints[1].fill(0x01);
  auto decoded = DecodeTree(EncodeTree({f}));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)[0].fingerprints, f.fingerprints);
  // No fingerprints: none decoded (trees of version 1 and 2, and one-chunk files).
  f.fingerprints.clear();
  decoded = DecodeTree(EncodeTree({f}));
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE((*decoded)[0].fingerprints.empty());
  // One per chunk, holes have none: any other count is damage.
  std::string id(64, '1');
  EXPECT_EQ(DecodeTree(R"({"nodes":[{"name":"f","type":"file","content":[")" + id +
                       R"(","z10"],"fp":")" + std::string(64, 'a') + R"("}]})")
                .status()
                .code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DecodeTree(R"({"nodes":[{"name":"f","type":"file","content":[")" + id + R"("],"fp":")" +
                       std::string(32, 'x') + R"("}]})")
                .status()
                .code(),
            StatusCode::kDataLoss);
  EXPECT_TRUE(DecodeTree(R"({"nodes":[{"name":"f","type":"file","content":[")" + id +
                         R"(","z10"],"fp":")" + std::string(32, 'a') + R"("}]})")
                  .ok());
}

}  // namespace
}  // namespace lifeboat::vault
