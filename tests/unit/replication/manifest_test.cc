#include "engines/replication/manifest.h"

#include <gtest/gtest.h>

namespace lifeboat::replication {
namespace {

Hash H(uint8_t v) {
  Hash h{};
  h.fill(v);
  return h;
}

Manifest Sample() {
  Manifest m;
  m.info.id = "0000000000001-aaaa";
  m.info.time_ms = 1234;
  m.info.consistency = Consistency::kApplication;
  Entry dir;
  dir.type = EntryType::kDirectory;
  dir.path = "vol";
  dir.mode = 0755;
  Entry img;
  img.path = "vol/disk.img";
  img.chunking = ChunkingKind::kFixedBlocks;
  for (int i = 0; i < 16; ++i) {
    img.chunks.push_back({kImageBlockSize, i % 3 == 0 ? kHoleHash : H(static_cast<uint8_t>(i))});
  }
  img.size = 16 * kImageBlockSize;
  Entry link;
  link.type = EntryType::kSymlink;
  link.path = "vol/link";
  link.target = "disk.img";
  Entry text;
  text.path = "vol/text";
  text.chunks = {{10, H(100)}, {5, H(101)}};
  text.size = 15;
  m.entries = {dir, img, link, text};
  return m;
}

TEST(ManifestTest, RoundTripsThroughTheBinaryEncoding) {
  Manifest m = Sample();
  auto back = DecodeManifest(EncodeManifest(m), "test");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->info.id, m.info.id);
  EXPECT_EQ(back->info.consistency, Consistency::kApplication);
  ASSERT_EQ(back->entries.size(), 4u);
  EXPECT_EQ(back->entries[1].chunks, m.entries[1].chunks);
  EXPECT_EQ(back->entries[2].target, "disk.img");
  EXPECT_EQ(back->entries[3].chunks, m.entries[3].chunks);
}

TEST(ManifestTest, DeltaCarriesOnlyChangesAndRebuildsTheFullManifest) {
  Manifest base = Sample();
  Manifest next = Sample();
  next.info.id.clear();
  next.entries[1].chunks[5] = {kImageBlockSize, H(200)};  // one block of the image rewritten
  Manifest delta = MakeDelta(base, next);
  EXPECT_EQ(delta.info.base, base.info.id);
  EXPECT_EQ(delta.entries[1].encoding, FileEncoding::kPatch);
  EXPECT_EQ(delta.entries[1].patches.size(), 1u);
  EXPECT_EQ(delta.entries[3].encoding, FileEncoding::kUnchanged);
  std::string wire = EncodeManifest(delta);
  EXPECT_LT(wire.size(), EncodeManifest(next).size() / 2);
  auto decoded = DecodeManifest(wire, "delta");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  auto full = ApplyDelta(base, std::move(*decoded));
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->entries[1].chunks, next.entries[1].chunks);
  EXPECT_EQ(full->entries[3].chunks, next.entries[3].chunks);
}

TEST(ManifestTest, DeltaAgainstAMissingEntryIsRejected) {
  Manifest base = Sample();
  Manifest next = Sample();
  Manifest delta = MakeDelta(base, next);
  base.entries.pop_back();
  auto full = ApplyDelta(base, delta);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(full.status().message().find("vol/text"), std::string::npos);
}

TEST(ManifestTest, CorruptOrUnsafeManifestsGiveClearErrors) {
  std::string wire = EncodeManifest(Sample());
  auto truncated = DecodeManifest(wire.substr(0, wire.size() - 7), "points/x.point");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(truncated.status().message().find("points/x.point"), std::string::npos);
  Manifest bad = Sample();
  bad.entries[3].path = "vol/../../etc/passwd";
  auto unsafe = DecodeManifest(EncodeManifest(bad), "req");
  ASSERT_FALSE(unsafe.ok());
  EXPECT_NE(unsafe.status().message().find("unsafe path"), std::string::npos);
  EXPECT_FALSE(DecodeManifest("garbage", "req").ok());
}

TEST(ManifestTest, SafeRelativePath) {
  EXPECT_TRUE(SafeRelativePath("a/b.c"));
  EXPECT_FALSE(SafeRelativePath("/a"));
  EXPECT_FALSE(SafeRelativePath("a//b"));
  EXPECT_FALSE(SafeRelativePath("a/./b"));
  EXPECT_FALSE(SafeRelativePath("a/.."));
  EXPECT_FALSE(SafeRelativePath(""));
}

}  // namespace
}  // namespace lifeboat::replication
