#include "engines/vault/format.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

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

// A tree's ID is the keyed hash of its encoding, so EncodeTree must write exactly the bytes the
// nlohmann DOM wrote (internal::EncodeTreeGeneric): every type, optional member, escape, and
// extreme number, over many random trees. DecodeTree must give back every field.
TEST(Format, TreeEncodingIsTheGenericEncodingByteForByteAndRoundTrips) {
  std::mt19937_64 rng(7);
  const std::string odd_names[] = {"a\"q", "back\\slash", "tab\there",
                                   "nl\n", "cr\r",        std::string("ctl\x01\x1f\x7f", 6),
                                   "\b\f", "sp ace"};
  for (int round = 0; round < 200; ++round) {
    std::vector<Node> nodes;
    int count = static_cast<int>(rng() % 12);
    for (int i = 0; i < count; ++i) {
      Node n;
      n.type = static_cast<NodeType>(rng() % 6);
      n.name = (rng() % 4 == 0 ? odd_names[rng() % 8] : "n") + std::to_string(i);
      n.mode = static_cast<uint32_t>(rng());
      n.uid = static_cast<uint32_t>(rng() % 3 == 0 ? 0xffffffffu : rng() % 70000);
      n.gid = static_cast<uint32_t>(rng() % 70000);
      n.mtime_ns =
          rng() % 5 == 0 ? std::numeric_limits<int64_t>::min() : static_cast<int64_t>(rng());
      n.ctime_ns = -static_cast<int64_t>(rng() % 1000000);
      n.inode = rng();
      n.device = rng() % 2 == 0 ? std::numeric_limits<uint64_t>::max() : rng() % 100;
      n.nlink = 1 + rng() % 3;
      n.size = rng();
      n.rdev = rng() % 3 == 0 ? rng() : 0;
      if (n.type == NodeType::kSymlink) n.target = rng() % 2 ? "../t\"x" : "";
      if (n.type == NodeType::kDir) {
        Digest d;
        for (auto& b : d) b = static_cast<uint8_t>(rng());
        n.subtree = d;
      }
      if (n.type == NodeType::kFile) {
        size_t chunks = 0;
        for (int k = static_cast<int>(rng() % 5); k > 0; --k) {
          Extent e;
          if (rng() % 3 == 0) {
            e.hole = 1 + rng() % 100000;
          } else {
            for (auto& b : e.id) b = static_cast<uint8_t>(rng());
            chunks++;
          }
          n.content.push_back(e);
        }
        if (chunks > 0 && rng() % 2 == 0) {
          n.fingerprints.resize(chunks);
          for (auto& f : n.fingerprints)
            for (auto& b : f) b = static_cast<uint8_t>(rng());
        }
      }
      if (rng() % 4 == 0) {
        n.xattrs = {{"user.a", std::string("\0\xff", 2)}, {"user.q\"", ""}};
      }
      nodes.push_back(std::move(n));
    }
    const std::string encoded = EncodeTree(nodes);
    ASSERT_EQ(encoded, internal::EncodeTreeGeneric(nodes)) << "round " << round;
    auto decoded = DecodeTree(encoded);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ASSERT_EQ(decoded->size(), nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& a = nodes[i];
      const Node& b = (*decoded)[i];
      EXPECT_EQ(a.name, b.name);
      EXPECT_EQ(a.type, b.type);
      EXPECT_EQ(a.mode, b.mode);
      EXPECT_EQ(a.uid, b.uid);
      EXPECT_EQ(a.gid, b.gid);
      EXPECT_EQ(a.mtime_ns, b.mtime_ns);
      EXPECT_EQ(a.ctime_ns, b.ctime_ns);
      EXPECT_EQ(a.inode, b.inode);
      EXPECT_EQ(a.device, b.device);
      EXPECT_EQ(a.nlink, b.nlink);
      EXPECT_EQ(a.size, b.size);
      EXPECT_EQ(a.rdev, b.rdev);
      EXPECT_EQ(a.target, b.target);
      EXPECT_EQ(a.subtree, b.subtree);
      ASSERT_EQ(a.content.size(), b.content.size());
      for (size_t k = 0; k < a.content.size(); ++k) {
        EXPECT_EQ(a.content[k].hole, b.content[k].hole);
        EXPECT_EQ(a.content[k].id, b.content[k].id);
      }
      EXPECT_EQ(a.fingerprints, b.fingerprints);
      EXPECT_EQ(a.xattrs, b.xattrs);
    }
  }
  // Non-ASCII names take the generic path (the same bytes, UTF-8 checked by nlohmann).
  Node u;
  u.name = "caf\xc3\xa9";
  u.type = NodeType::kFifo;
  EXPECT_EQ(EncodeTree({u}), internal::EncodeTreeGeneric({u}));
  auto decoded = DecodeTree(EncodeTree({u}));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)[0].name, u.name);
}

TEST(Format, MalformedTreesAreDataLossNamingTheEntry) {
  const std::string id(64, '1');
  const std::string bad[] = {
      "",
      "[]",
      R"({"nodes":{}})",
      R"({"nodes":[1]})",
      R"({"nodes":[{"type":"file"}]})",
      R"({"nodes":[{"name":"f","type":"socket"}]})",
      R"({"nodes":[{"name":"f","type":"file","mode":-1}]})",
      R"({"nodes":[{"name":"f","type":"file","uid":4294967296}]})",
      R"({"nodes":[{"name":"f","type":"file","size":"1"}]})",
      R"({"nodes":[{"name":"f","type":"file","mtime_ns":1.5}]})",
      R"({"nodes":[{"name":"f","type":"file","content":["z0"]}]})",
      R"({"nodes":[{"name":"f","type":"file","content":["z12x"]}]})",
      R"({"nodes":[{"name":"f","type":"file","content":["abc"]}]})",
      R"({"nodes":[{"name":"f","type":"file","content":[7]}]})",
      R"({"nodes":[{"name":"d","type":"dir","subtree":"xyz"}]})",
      R"({"nodes":[{"name":"f","type":"file","xattrs":[{"name":"","value":""}]}]})",
      R"({"nodes":[{"name":"f","type":"file","xattrs":[{"name":"a","value":"zz"}]}]})",
      "{\"nodes\":[{\"name\":\"\xff\",\"type\":\"file\"}]}",
      R"({"nodes":[{"name":"f","type":"file"}]} trailing)",
  };
  for (const std::string& text : bad) {
    auto decoded = DecodeTree(text);
    EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss) << text;
  }
  auto decoded = DecodeTree(R"({"nodes":[{"name":"f","type":"file","content":["z12x"]}]})");
  EXPECT_NE(decoded.status().message().find("\"f\""), std::string::npos) << decoded.status();
  EXPECT_TRUE(
      DecodeTree(R"( {"nodes":[{"name":"f","type":"file","content":["z12",")" + id + R"("]}]} )")
          .ok());
}

}  // namespace
}  // namespace lifeboat::vault
