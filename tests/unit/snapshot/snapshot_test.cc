#include "engines/snapshot/snapshot.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include "engines/snapshot/blocks.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/snapshot/snapshot_test_util.h"

namespace lifeboat::snapshot {
namespace {

using ::lifeboat::testing::TempDir;
using namespace ::lifeboat::snapshot::testing;

constexpr uint32_t kBs = 4096;

StoreOptions Small() {
  StoreOptions o;
  o.block_size = kBs;
  return o;
}

std::unique_ptr<SnapshotStore> OpenStore(const std::filesystem::path& dir,
                                         const StoreOptions& o = Small()) {
  auto store = SnapshotStore::Open(dir, o);
  EXPECT_TRUE(store.ok()) << store.status();
  return std::move(store).value();
}

// ---- block layer ----

TEST(BlockLayerTest, HashFileSkipsHolesAndZeroBlocks) {
  TempDir tmp;
  std::mt19937_64 rng(1);
  auto img = tmp / "img";
  MakeSparse(img, 64 * kBs + 100);
  std::string a = RandomBytes(rng, kBs);
  WriteAt(img, 3 * kBs, a);
  WriteAt(img, 10 * kBs, std::string(kBs, '\0'));  // written zeros: allocated but zero
  WriteAt(img, 64 * kBs, std::string(100, 'x'));   // short last block
  ScanOptions opt;
  opt.block_size = kBs;
  opt.threads = 2;
  auto blocks = HashFile(img, opt);
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  ASSERT_EQ(blocks->size(), 65u);
  for (const BlockInfo& b : *blocks) {
    if (b.index == 3) {
      EXPECT_FALSE(b.zero);
      EXPECT_EQ(b.hash, HashBlock({reinterpret_cast<const uint8_t*>(a.data()), a.size()}));
    } else if (b.index == 64) {
      EXPECT_FALSE(b.zero);
      EXPECT_EQ(b.length, 100u);
    } else {
      EXPECT_TRUE(b.zero) << b.index;
    }
  }
}

TEST(BlockLayerTest, StoreDedupsSealsAndSweeps) {
  TempDir tmp;
  auto store = BlockStore::Open(tmp / "blocks", kBs);
  ASSERT_TRUE(store.ok());
  std::mt19937_64 rng(2);
  std::string a = RandomBytes(rng, kBs);
  std::string b = RandomBytes(rng, 1000);
  auto span = [](const std::string& s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  BlockAddress aa;
  BlockAddress ab;
  {
    auto w = (*store)->NewWriter();
    ASSERT_TRUE(w.ok());
    aa = *(*w)->Put(HashBlock(span(a)), span(a));
    ab = *(*w)->Put(HashBlock(span(b)), span(b));
    BlockAddress again = *(*w)->Put(HashBlock(span(a)), span(a));
    EXPECT_EQ(again, aa);
    EXPECT_EQ((*w)->new_blocks(), 2u);
    ASSERT_TRUE((*w)->Seal().ok());
  }
  std::vector<uint8_t> out;
  ASSERT_TRUE((*store)->Read(ab, out).ok());
  EXPECT_EQ(std::string(out.begin(), out.end()), b);
  // Only `a` stays live: `b` is punched out and never handed out again.
  auto swept = (*store)->Sweep({aa.Key()});
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(swept->blocks_freed, 1u);
  EXPECT_EQ(swept->bytes_freed, 1000u);
  EXPECT_EQ((*store)->Find(HashBlock(span(b))), nullptr);
  ASSERT_NE((*store)->Find(HashBlock(span(a))), nullptr);
  // Nothing live: the pack goes away.
  swept = (*store)->Sweep({});
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(swept->packs_removed, 1u);
  EXPECT_TRUE(std::filesystem::is_empty(tmp / "blocks"));
}

// ---- images ----

struct Image {
  std::filesystem::path path;
  std::string content;  // logical content (holes as zeros)
};

Image MakeImage(const std::filesystem::path& path, uint64_t blocks, uint64_t seed) {
  std::mt19937_64 rng(seed);
  MakeSparse(path, blocks * kBs);
  for (uint64_t b = 0; b < blocks; b += 3) {
    WriteAt(path, b * kBs + (b % 2 ? 100 : 0), RandomBytes(rng, kBs - 200));
  }
  return {path, ReadAll(path)};
}

TEST(SnapshotImageTest, RoundTripSparseAndIndependentOfSource) {
  TempDir tmp;
  auto store = OpenStore(tmp / "store");
  Image img = MakeImage(tmp / "disk.img", 300, 3);
  WriteAt(img.path, 300 * kBs, "tail");  // size not a multiple of the block size
  img.content = ReadAll(img.path);
  auto created = store->Create({.volume = "disk", .source = img.path});
  ASSERT_TRUE(created.ok()) << created.status();
  const SnapshotInfo& info = created->snapshot;
  EXPECT_EQ(info.kind, VolumeKind::kImage);
  EXPECT_EQ(info.provisioned_bytes, img.content.size());
  // Every third block has data, plus the 4-byte tail block.
  EXPECT_EQ(info.used_bytes, 100 * uint64_t{kBs} + 4);
  EXPECT_EQ(info.exclusive_bytes, info.used_bytes);

  // Change and then delete the source: the snapshot keeps the old bytes.
  WriteAt(img.path, 0, std::string(kBs * 10, 'z'));
  std::filesystem::remove(img.path);

  auto m = store->Materialize({.id = info.id, .target = tmp / "restored.img"});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ReadAll(tmp / "restored.img"), img.content);
  EXPECT_EQ(m->bytes_written, info.used_bytes);
  // Holes stay holes: about a third of the logical size is allocated.
  EXPECT_LT(Allocated(tmp / "restored.img"), img.content.size() / 2);
  auto v = store->Verify(info.id);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->bytes_checked, info.used_bytes);
}

TEST(SnapshotImageTest, IncrementalAccountingIsExact) {
  TempDir tmp;
  auto store = OpenStore(tmp / "store");
  std::mt19937_64 rng(4);
  auto img = tmp / "disk.img";
  MakeSparse(img, 64 * kBs);
  std::vector<std::string> blocks;
  for (int i = 0; i < 10; ++i) {
    blocks.push_back(RandomBytes(rng, kBs));
    WriteAt(img, static_cast<uint64_t>(i) * 4 * kBs, blocks.back());
  }
  WriteAt(img, 50 * kBs, blocks[0]);  // a duplicate inside the image costs nothing
  auto s1 = store->Create({.volume = "disk", .source = img});
  ASSERT_TRUE(s1.ok()) << s1.status();
  EXPECT_EQ(s1->snapshot.used_bytes, 10u * kBs);
  EXPECT_EQ(s1->bytes_stored, 10u * kBs);
  EXPECT_EQ(s1->snapshot.exclusive_bytes, 10u * kBs);

  // Rewrite block 4 (new data), zero block 8, leave the rest.
  WriteAt(img, 4 * kBs, RandomBytes(rng, kBs));
  WriteAt(img, 8 * kBs, std::string(kBs, '\0'));
  auto s2 = store->Create({.volume = "disk", .source = img});
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->bytes_stored, 1u * kBs);  // only the changed block
  EXPECT_EQ(s2->snapshot.parent, s1->snapshot.id);
  EXPECT_EQ(s2->snapshot.used_bytes, 9u * kBs);
  EXPECT_EQ(s2->snapshot.exclusive_bytes, 1u * kBs);

  auto list = store->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, s1->snapshot.id);
  EXPECT_EQ((*list)[0].exclusive_bytes, 2u * kBs);  // old block 4 and block 8

  uint64_t before = AllocatedTree(tmp / "store" / "blocks");
  auto d = store->Delete(s1->snapshot.id.substr(0, 5));  // a unique prefix works
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->bytes_freed, 2u * kBs);
  EXPECT_EQ(before - AllocatedTree(tmp / "store" / "blocks"), 2u * kBs);
  auto left = store->Get(s2->snapshot.id);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->exclusive_bytes, 9u * kBs);
  ASSERT_TRUE(store->Verify(s2->snapshot.id).ok());
  ASSERT_TRUE(store->Materialize({.id = s2->snapshot.id, .target = tmp / "r.img"}).ok());
  EXPECT_EQ(ReadAll(tmp / "r.img"), ReadAll(img));
}

// ---- directory trees ----

TEST(SnapshotTreeTest, RoundTripAndReuseOfUnchangedFiles) {
  TempDir tmp;
  auto store = OpenStore(tmp / "store");
  std::mt19937_64 rng(5);
  auto src = tmp / "src";
  tmp.WriteFile("src/a.txt", "hello");
  tmp.WriteFile("src/empty", "");
  tmp.WriteFile("src/sub/deep/big.bin", RandomBytes(rng, 5 * kBs + 17));
  tmp.WriteFile("src/sub/copy.bin", ReadAll(src / "sub/deep/big.bin"));
  std::filesystem::create_directories(src / "emptydir");
  std::filesystem::create_symlink("sub/deep/big.bin", src / "link");
  std::filesystem::create_symlink("/nonexistent/target", src / "dangling");
  MakeSparse(src / "sparse.img", 40 * kBs);
  WriteAt(src / "sparse.img", 20 * kBs, "middle");
  ::chmod((src / "a.txt").c_str(), 0600);
  ::chmod((src / "sub").c_str(), 0750);
  struct timespec times[2] = {{0, UTIME_OMIT}, {1000000000, 123456789}};
  ::utimensat(AT_FDCWD, (src / "a.txt").c_str(), times, 0);

  auto s1 = store->Create({.volume = "tree", .source = src});
  ASSERT_TRUE(s1.ok()) << s1.status();
  EXPECT_EQ(s1->snapshot.kind, VolumeKind::kDirectory);
  EXPECT_EQ(s1->snapshot.files, 5u);
  EXPECT_EQ(s1->snapshot.symlinks, 2u);
  EXPECT_EQ(s1->snapshot.directories, 3u);
  // big.bin and copy.bin share their blocks; the sparse file costs its one non-zero block.
  EXPECT_EQ(s1->snapshot.used_bytes, 5 + (5u * kBs + 17) + kBs);

  auto m = store->Materialize({.id = s1->snapshot.id, .target = tmp / "out"});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(CompareTrees(src, tmp / "out"), "");
  EXPECT_LE(Allocated(tmp / "out/sparse.img"), 2u * kBs);

  // Touch one file: the next snapshot rereads only that one.
  tmp.WriteFile("src/a.txt", "hello, world");
  auto s2 = store->Create({.volume = "tree", .source = src});
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->files_reused, 4u);
  EXPECT_EQ(s2->bytes_read, 12u);
  EXPECT_EQ(s2->snapshot.exclusive_bytes, 12u);
  ASSERT_TRUE(store->Materialize({.id = s2->snapshot.id, .target = tmp / "out2"}).ok());
  EXPECT_EQ(CompareTrees(src, tmp / "out2"), "");
  // The first snapshot still has the old content.
  EXPECT_EQ(ReadAll(tmp / "out/a.txt"), "hello");

  // An empty existing directory is an acceptable target.
  std::filesystem::create_directories(tmp / "empty-target");
  ASSERT_TRUE(store->Materialize({.id = s2->snapshot.id, .target = tmp / "empty-target"}).ok());
  EXPECT_EQ(CompareTrees(src, tmp / "empty-target"), "");
}

// ---- tampering ----

std::vector<std::filesystem::path> FilesEndingWith(const std::filesystem::path& dir,
                                                   const std::string& ext) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().string().ends_with(ext)) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SnapshotVerifyTest, DetectsAFlippedByteInEveryStoredFile) {
  TempDir tmp;
  Image img = MakeImage(tmp / "disk.img", 30, 6);
  for (const std::string ext : {".data", ".idx", ".snap"}) {
    for (uint64_t where : {0ull, 1ull, 2ull}) {
      SCOPED_TRACE(ext + " #" + std::to_string(where));
      std::error_code ec;
      std::filesystem::remove_all(tmp / "store", ec);
      std::filesystem::remove_all(tmp / "r.img", ec);
      auto store = OpenStore(tmp / "store");
      auto s = store->Create({.volume = "disk", .source = img.path});
      ASSERT_TRUE(s.ok()) << s.status();
      ASSERT_TRUE(store->Verify(s->snapshot.id).ok());
      auto files = FilesEndingWith(tmp / "store", ext);
      ASSERT_EQ(files.size(), 1u);
      uint64_t size = std::filesystem::file_size(files[0]);
      // First byte, a middle byte and the last byte of stored data.
      uint64_t offset = where == 0 ? 0 : (where == 1 ? size / 2 : size - 1);
      if (ext == ".data") {
        offset = where == 0 ? 0 : (where == 1 ? 5 * kBs + 100 : 9 * kBs + 100);
      }
      FlipByte(files[0], offset);
      // A fresh store object (nothing cached) sees the damage.
      auto fresh = OpenStore(tmp / "store");
      auto v = fresh->Verify(s->snapshot.id);
      ASSERT_FALSE(v.ok());
      EXPECT_EQ(v.status().code(), StatusCode::kDataLoss) << v.status();
      auto m = fresh->Materialize({.id = s->snapshot.id, .target = tmp / "r.img"});
      EXPECT_FALSE(m.ok());
      EXPECT_FALSE(std::filesystem::exists(tmp / "r.img"));
    }
  }
}

// ---- source changes, full disk, bad input ----

TEST(SnapshotFaultTest, SourceChangingWhileReadIsRefusedOrReported) {
  TempDir tmp;
  auto store = OpenStore(tmp / "store");
  Image img = MakeImage(tmp / "disk.img", 4096, 7);  // 16 MiB: several scan chunks
  bool appended = false;
  auto change = [&](const Progress&) {
    if (!appended) {
      appended = true;
      WriteAt(img.path, 0, "changed!");
    }
  };
  auto refused = store->Create({.volume = "disk", .source = img.path, .progress = change});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kAborted);
  EXPECT_NE(refused.status().message().find("changed while being read"), std::string::npos);
  auto list = store->List();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  EXPECT_TRUE(FilesEndingWith(tmp / "store", ".data").empty());

  appended = false;
  auto reported = store->Create({.volume = "disk",
                                 .source = img.path,
                                 .on_source_change = SourceChangePolicy::kReport,
                                 .progress = change});
  ASSERT_TRUE(reported.ok()) << reported.status();
  ASSERT_EQ(reported->snapshot.changed_during_read.size(), 1u);
  EXPECT_EQ(reported->snapshot.changed_during_read[0], img.path.string());
}

TEST(SnapshotFaultTest, InjectedNoSpaceLeavesNoPartialSnapshot) {
  TempDir tmp;
  Image img = MakeImage(tmp / "disk.img", 300, 8);
  uint64_t budget = 0;
  StoreOptions o = Small();
  o.write_fault = [&](uint64_t n) -> Status {
    if (n > budget) {
      return ResourceExhaustedError("No space left on device (injected)");
    }
    budget -= n;
    return OkStatus();
  };
  auto store = OpenStore(tmp / "store", o);
  budget = 1ull << 30;
  auto first = store->Create({.volume = "disk", .source = img.path});
  ASSERT_TRUE(first.ok());
  std::mt19937_64 rng(11);
  WriteAt(img.path, 0, RandomBytes(rng, 50 * kBs));  // 50 new blocks: more than the budget
  // Fails in the pack data, in its index, in the manifest (50 blocks + a 1848-byte index fit).
  for (uint64_t b : {0ull, 10ull * kBs, 50ull * kBs + 100, 50ull * kBs + 1848 + 10}) {
    budget = b;
    auto failed = store->Create({.volume = "disk", .source = img.path});
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.status().code(), StatusCode::kResourceExhausted) << failed.status();
    auto list = store->List();
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 1u);
    EXPECT_TRUE(store->Verify(first->snapshot.id).ok());
    EXPECT_EQ(FilesEndingWith(tmp / "store", ".data").size(), 1u);
    EXPECT_TRUE(FilesEndingWith(tmp / "store", ".tmp").empty());
  }
}

TEST(SnapshotFaultTest, RealFullTmpfsFailsCleanly) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "mounting a tmpfs needs root";
  }
  TempDir tmp;
  auto mnt = tmp / "mnt";
  std::filesystem::create_directories(mnt);
  if (std::system(("mount -t tmpfs -o size=2m tmpfs " + mnt.string() + " 2>/dev/null").c_str()) !=
      0) {
    GTEST_SKIP() << "tmpfs mount not permitted here";
  }
  struct Unmount {
    std::filesystem::path p;
    ~Unmount() { (void)std::system(("umount " + p.string()).c_str()); }
  } unmount{mnt};
  Image small = MakeImage(tmp / "small.img", 30, 9);
  Image big = MakeImage(tmp / "big.img", 2048, 10);  // ~5.3 MiB of data
  auto store = OpenStore(mnt / "store");
  auto first = store->Create({.volume = "small", .source = small.path});
  ASSERT_TRUE(first.ok()) << first.status();
  auto failed = store->Create({.volume = "big", .source = big.path});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kResourceExhausted) << failed.status();
  auto list = store->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE(store->Verify(first->snapshot.id).ok());
  // The failed attempt's blocks are gone: space is back for a snapshot that fits.
  EXPECT_EQ(FilesEndingWith(mnt / "store", ".data").size(), 1u);
  auto again = store->Create({.volume = "small2", .source = small.path});
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST(SnapshotBadInputTest, ClearErrors) {
  TempDir tmp;
  auto store = OpenStore(tmp / "store");
  tmp.WriteFile("file", "x");
  auto code = [](const auto& r) { return r.status().code(); };
  EXPECT_EQ(code(store->Create({.volume = "", .source = tmp / "file"})),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(store->Create({.volume = "a/b", .source = tmp / "file"})),
            StatusCode::kInvalidArgument);
  auto missing = store->Create({.volume = "v", .source = tmp / "nope"});
  EXPECT_EQ(code(missing), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
  ASSERT_EQ(::mkfifo((tmp / "fifo").c_str(), 0644), 0);
  EXPECT_EQ(code(store->Create({.volume = "v", .source = tmp / "fifo"})),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(store->Verify("../../etc")), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(store->Verify("abc")), StatusCode::kNotFound);
  EXPECT_EQ(code(store->Delete("abc")), StatusCode::kNotFound);
  auto s = store->Create({.volume = "v", .source = tmp / "file"});
  ASSERT_TRUE(s.ok());
  // Same volume name, different kind.
  std::filesystem::create_directories(tmp / "dir");
  EXPECT_EQ(code(store->Create({.volume = "v", .source = tmp / "dir"})),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(store->Materialize({.id = s->snapshot.id, .target = tmp / "file"})),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(code(store->Materialize({.id = s->snapshot.id, .target = tmp / "no/such/dir/x"})),
            StatusCode::kNotFound);
  StoreOptions bad;
  bad.block_size = 1000;
  EXPECT_EQ(SnapshotStore::Open(tmp / "store2", bad).status().code(), StatusCode::kInvalidArgument);
  StoreOptions other = Small();
  other.block_size = 8192;
  other.block_size_set = true;
  EXPECT_EQ(SnapshotStore::Open(tmp / "store", other).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_FALSE(SnapshotStore::Open(tmp / "file").ok());
}

}  // namespace
}  // namespace lifeboat::snapshot
