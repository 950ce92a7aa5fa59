// Change tracking between snapshots of a volume: the keyed per-block fingerprints of
// snapshots/<id>.fp let an incremental snapshot share unchanged blocks without their SHA-256.
// Every test checks the outcome that matters (the restored bytes, verify, the accounting), not
// only the counters.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <random>

#include "engines/snapshot/blocks.h"
#include "engines/snapshot/snapshot.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/snapshot/snapshot_test_util.h"

namespace lifeboat::snapshot {
namespace {

using ::lifeboat::testing::TempDir;
using namespace ::lifeboat::snapshot::testing;

constexpr uint32_t kBs = 4096;
// Larger than one 1 MiB read chunk, so the image goes through the threaded scan.
constexpr uint64_t kBlocks = 2048;
constexpr uint64_t kTail = 1000;  // a short last block

std::unique_ptr<SnapshotStore> OpenStore(const std::filesystem::path& dir) {
  StoreOptions o;
  o.block_size = kBs;
  auto store = SnapshotStore::Open(dir, o);
  EXPECT_TRUE(store.ok()) << store.status();
  return std::move(store).value();
}

void WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// Every third block a hole, the rest random, plus a random short tail. Returns the non-zero
// block count.
uint64_t MakeImage(const std::filesystem::path& img, std::mt19937_64& rng) {
  MakeSparse(img, kBlocks * kBs + kTail);
  uint64_t data = 0;
  for (uint64_t i = 0; i < kBlocks; ++i) {
    if (i % 3 != 2) {
      WriteAt(img, i * kBs, RandomBytes(rng, kBs));
      ++data;
    }
  }
  WriteAt(img, kBlocks * kBs, RandomBytes(rng, kTail));
  return data + 1;
}

void ExpectRestores(SnapshotStore& store, const std::string& id, const std::filesystem::path& src,
                    const std::filesystem::path& target) {
  auto v = store.Verify(id);
  ASSERT_TRUE(v.ok()) << v.status();
  auto m = store.Materialize({.id = id, .target = target});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ReadAll(target), ReadAll(src));
}

TEST(SnapshotChangeTrackingTest, IncrementalHashesOnlyChangedBlocks) {
  TempDir tmp;
  auto store = OpenStore(tmp / "store");
  std::mt19937_64 rng(11);
  auto img = tmp / "disk.img";
  const uint64_t data_blocks = MakeImage(img, rng);

  for (int threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    TempDir round;
    auto s1 = store->Create(
        {.volume = "disk" + std::to_string(threads), .source = img, .threads = threads});
    ASSERT_TRUE(s1.ok()) << s1.status();
    EXPECT_EQ(s1->blocks_unchanged, 0u);
    EXPECT_TRUE(std::filesystem::exists(tmp / "store" / "snapshots" / (s1->snapshot.id + ".fp")));

    // Nothing changed: every non-zero block is shared by its fingerprint, nothing is stored.
    auto same = store->Create(
        {.volume = "disk" + std::to_string(threads), .source = img, .threads = threads});
    ASSERT_TRUE(same.ok()) << same.status();
    EXPECT_EQ(same->blocks_unchanged, data_blocks);
    EXPECT_EQ(same->bytes_stored, 0u);
    EXPECT_EQ(same->snapshot.used_bytes, s1->snapshot.used_bytes);
    ExpectRestores(*store, same->snapshot.id, img, round / "same.img");
  }

  // New data in block 10 and in the hole at block 2, block 501 zeroed, a new tail.
  auto s_before = store->Create({.volume = "disk", .source = img});
  ASSERT_TRUE(s_before.ok()) << s_before.status();
  WriteAt(img, 10 * kBs, RandomBytes(rng, kBs));
  WriteAt(img, 2 * kBs, RandomBytes(rng, kBs));
  WriteAt(img, 501 * kBs, std::string(kBs, '\0'));
  WriteAt(img, kBlocks * kBs, RandomBytes(rng, kTail));
  auto s2 = store->Create({.volume = "disk", .source = img});
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->blocks_unchanged, data_blocks - 3);  // blocks 10, 501 and the tail changed
  EXPECT_EQ(s2->bytes_stored, 2 * kBs + kTail);
  EXPECT_EQ(s2->snapshot.exclusive_bytes, 2 * kBs + kTail);
  EXPECT_EQ(s2->snapshot.used_bytes, (data_blocks - 1) * kBs + kTail);
  TempDir out;
  ExpectRestores(*store, s2->snapshot.id, img, out / "s2.img");
}

TEST(SnapshotChangeTrackingTest, MissingOrDamagedFingerprintsOnlyCostHashing) {
  TempDir tmp;
  auto store = OpenStore(tmp / "store");
  std::mt19937_64 rng(12);
  auto img = tmp / "disk.img";
  MakeImage(img, rng);
  auto snaps = tmp / "store" / "snapshots";

  auto s1 = store->Create({.volume = "disk", .source = img});
  ASSERT_TRUE(s1.ok()) << s1.status();
  FlipByte(snaps / (s1->snapshot.id + ".fp"), 100);
  WriteAt(img, 7 * kBs, RandomBytes(rng, kBs));
  auto s2 = store->Create({.volume = "disk", .source = img});
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->blocks_unchanged, 0u);         // the damaged table is not trusted
  EXPECT_EQ(s2->bytes_stored, uint64_t{kBs});  // SHA-256 dedup still stores only the change
  TempDir out;
  ExpectRestores(*store, s2->snapshot.id, img, out / "s2.img");

  std::filesystem::remove(snaps / (s2->snapshot.id + ".fp"));
  WriteAt(img, 8 * kBs, RandomBytes(rng, kBs));
  auto s3 = store->Create({.volume = "disk", .source = img});
  ASSERT_TRUE(s3.ok()) << s3.status();
  EXPECT_EQ(s3->blocks_unchanged, 0u);
  EXPECT_EQ(s3->bytes_stored, uint64_t{kBs});
  ExpectRestores(*store, s3->snapshot.id, img, out / "s3.img");

  // Deleting a snapshot removes its table; a table left by a killed run goes with the next one.
  auto d = store->Delete(s1->snapshot.id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(std::filesystem::exists(snaps / (s1->snapshot.id + ".fp")));
  std::filesystem::copy_file(snaps / (s3->snapshot.id + ".fp"), snaps / "0123456789ab.fp");
  auto s4 = store->Create({.volume = "disk", .source = img});
  ASSERT_TRUE(s4.ok()) << s4.status();
  EXPECT_FALSE(std::filesystem::exists(snaps / "0123456789ab.fp"));
  EXPECT_GT(s4->blocks_unchanged, 0u);
}

TEST(SnapshotChangeTrackingTest, StoreFromBeforeChangeTrackingGetsAKeyAndKeysAreNotMixed) {
  TempDir tmp;
  auto dir = tmp / "store";
  std::mt19937_64 rng(13);
  auto img = tmp / "disk.img";
  const uint64_t data_blocks = MakeImage(img, rng);
  std::string s1_id;
  {
    auto store = OpenStore(dir);
    auto s1 = store->Create({.volume = "disk", .source = img});
    ASSERT_TRUE(s1.ok()) << s1.status();
    s1_id = s1->snapshot.id;
  }
  // What a store written before change tracking looks like: no key, no tables.
  WriteText(dir / "store.json", "{\"blockSize\":4096,\"format\":1}\n");
  std::filesystem::remove(dir / "snapshots" / (s1_id + ".fp"));
  {
    auto store = OpenStore(dir);
    std::string config = ReadAll(dir / "store.json");
    EXPECT_NE(config.find("\"fingerprintKey\""), std::string::npos) << config;
    auto s2 = store->Create({.volume = "disk", .source = img});
    ASSERT_TRUE(s2.ok()) << s2.status();
    EXPECT_EQ(s2->snapshot.parent, s1_id);
    EXPECT_EQ(s2->blocks_unchanged, 0u);
    EXPECT_EQ(s2->bytes_stored, 0u);
    auto s3 = store->Create({.volume = "disk", .source = img});
    ASSERT_TRUE(s3.ok()) << s3.status();
    EXPECT_EQ(s3->blocks_unchanged, data_blocks);
    TempDir out;
    ExpectRestores(*store, s1_id, img, out / "s1.img");
  }
  // Another key (a store.json from elsewhere): the old tables never match, so nothing is shared
  // by mistake, and the snapshot is still exact.
  WriteText(dir / "store.json",
            "{\"blockSize\":4096,\"fingerprintKey\":\"00112233445566778899aabbccddeeff\","
            "\"format\":1}\n");
  {
    auto store = OpenStore(dir);
    WriteAt(img, 0, RandomBytes(rng, kBs));
    auto s4 = store->Create({.volume = "disk", .source = img});
    ASSERT_TRUE(s4.ok()) << s4.status();
    EXPECT_EQ(s4->blocks_unchanged, 0u);
    EXPECT_EQ(s4->bytes_stored, uint64_t{kBs});
    TempDir out;
    ExpectRestores(*store, s4->snapshot.id, img, out / "s4.img");
  }
  WriteText(dir / "store.json", "{\"blockSize\":4096,\"fingerprintKey\":\"xyz\",\"format\":1}\n");
  auto bad = SnapshotStore::Open(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("fingerprintKey"), std::string::npos) << bad.status();
}

TEST(SnapshotChangeTrackingTest, ChangedFileInATreeSharesItsUnchangedBlocks) {
  TempDir tmp;
  auto store = OpenStore(tmp / "store");
  std::mt19937_64 rng(14);
  auto vol = tmp / "vol";
  std::filesystem::create_directories(vol / "db");
  auto big = vol / "db" / "table.dat";
  WriteAt(big, 0, RandomBytes(rng, 300 * kBs));
  WriteText(vol / "notes.txt", "hello\n");
  auto s1 = store->Create({.volume = "tree", .source = vol});
  ASSERT_TRUE(s1.ok()) << s1.status();

  WriteAt(big, 17 * kBs + 5, "changed in place");  // same size
  // A new mtime even when the clock has not ticked since the first snapshot (the unchanged-file
  // shortcut goes by size and mtime).
  std::filesystem::last_write_time(big,
                                   std::filesystem::last_write_time(big) + std::chrono::seconds(1));
  WriteText(vol / "notes.txt", "hello again\n");
  auto s2 = store->Create({.volume = "tree", .source = vol});
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->blocks_unchanged, 299u);
  EXPECT_EQ(s2->bytes_stored, kBs + std::string("hello again\n").size());
  auto v = store->Verify(s2->snapshot.id);
  ASSERT_TRUE(v.ok()) << v.status();
  TempDir out;
  auto m = store->Materialize({.id = s2->snapshot.id, .target = out / "tree"});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(CompareTrees(vol, out / "tree"), "");
}

}  // namespace
}  // namespace lifeboat::snapshot
