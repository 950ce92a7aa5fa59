// The vault's data path at sizes the small-file tests do not reach: large files cut into parts
// at split points and restored in O_DIRECT windows, extended attributes, and `repair`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "engines/storage/local_blob_store.h"
#include "engines/vault/blob_saver.h"
#include "engines/vault/repair.h"
#include "engines/vault/vault.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/vault/vault_test_util.h"

namespace lifeboat::vault {
namespace {
namespace fs = std::filesystem;
using lifeboat::testing::TempDir;
using testing::CompareTrees;
using testing::RandomBytes;
using testing::ReadFile;
using testing::TextBytes;
using testing::WriteFile;

class DataPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::LocalBlobStore::Open(dir_.path() / "vault", true);
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    ASSERT_TRUE(Repository::Init(*store_, testing::SmallVaultOptions()).ok());
    Reopen();
    src_ = dir_.path() / "src";
    fs::create_directories(src_);
  }

  void Reopen() {
    auto repo = Repository::Open(*store_, {"correct horse", ""});
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = std::move(repo).value();
  }

  StatusOr<BackupResult> DoBackup() {
    BackupOptions o;
    o.paths = {src_.string()};
    return Backup(*repo_, o);
  }

  StatusOr<RestoreResult> DoRestore(const fs::path& target) {
    RestoreOptions o;
    o.point = "latest";
    o.target = target.string();
    return Restore(*repo_, o);
  }

  // Backs up src_ (no errors), restores it to out/, and compares the trees byte for byte.
  void BackupAndRestoreByteForByte() {
    auto b = DoBackup();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_FALSE(b->manifest.partial);
    auto r = DoRestore(dir_.path() / "out");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->errors.empty()) << r->errors[0].path << ": " << r->errors[0].error;
    EXPECT_EQ(CompareTrees(src_, dir_.path() / "out/src"), "");
  }

  // 20 MiB of text and random runs (several backup parts, several restore windows), a sparse
  // file with a 17 MiB data segment at an unaligned offset, and a file of an odd size above the
  // O_DIRECT threshold.
  void MakeLargeFiles() {
    std::string big;
    for (int i = 0; big.size() < (20u << 20); ++i) {
      big += i % 2 == 0 ? TextBytes(1 << 20, i) : RandomBytes((1 << 20) + 4097, i);
    }
    WriteFile(src_ / "big.bin", big);
    int fd = ::open((src_ / "sparse.img").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    std::string island = RandomBytes(17 << 20, 5);
    ASSERT_EQ(::pwrite(fd, island.data(), island.size(), 12345), (ssize_t)island.size());
    std::string small_island = TextBytes(5000, 6);
    ASSERT_EQ(::pwrite(fd, small_island.data(), small_island.size(), 40 << 20),
              (ssize_t)small_island.size());
    ASSERT_EQ(::ftruncate(fd, (48 << 20) + 3), 0);
    ::close(fd);
    WriteFile(src_ / "odd.bin", RandomBytes((3 << 20) + 77, 8));
  }

  TempDir dir_;
  std::unique_ptr<storage::LocalBlobStore> store_;
  std::unique_ptr<Repository> repo_;
  fs::path src_;
};

TEST_F(DataPathTest, LargeFilesAreSplitAndRestoredByteForByte) {
  MakeLargeFiles();
  ASSERT_NO_FATAL_FAILURE(BackupAndRestoreByteForByte());
  // Holes stay holes: the 48 MiB sparse file takes about its 17 MiB of data.
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() / "out/src/sparse.img").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, (48 << 20) + 3);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 20ull << 20);
}

// The initial backup cuts and hashes chunks two at a time (Hmac::Sum2); zero runs between data
// make some neighbours holes (not hashed), and odd lengths leave unequal tails. Restore checks
// every chunk's bytes against its ID, so a wrong pairing fails here.
TEST_F(DataPathTest, ChunksHashedInPairsRestoreByteForByteAroundZeroRuns) {
  std::string data = RandomBytes(300'001, 21) + std::string(200'003, '\0') +
                     TextBytes(100'007, 22) + std::string(70'001, '\0') + RandomBytes(513'337, 23) +
                     std::string(64 << 10, '\0') + RandomBytes(17, 24);
  WriteFile(src_ / "mixed.bin", data);
  ASSERT_NO_FATAL_FAILURE(BackupAndRestoreByteForByte());
}

// A lane keeps two data packs open and hashes their bytes together as they grow; the rest is
// hashed at upload. Whatever the mix (three threads, tiny and compressible blobs, blobs larger
// than a pack that close a pack while its partner is still small, partial packs at Finish),
// every pack's name must be the SHA-256 of its bytes, and every blob must read back.
TEST_F(DataPathTest, PacksHashedInPairsAreNamedBySha256OfTheirBytes) {
  std::vector<std::pair<Digest, std::string>> saved[3];
  {
    BlobSaver saver(*repo_);
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 120; ++i) {
          size_t size = i % 40 == 7  ? (1 << 20) + 4099 * t  // more than a pack
                        : i % 3 == 0 ? 33 + i                // tiny, stored raw
                                     : 1000 + 977 * i + t;
          std::string blob =
              i % 2 == 0 ? RandomBytes(size, 1000 * t + i) : TextBytes(size, 1000 * t + i);
          auto id = saver.Save(BlobType::kData, blob);
          ASSERT_TRUE(id.ok()) << id.status();
          saved[t].emplace_back(*id, std::move(blob));
        }
      });
    }
    for (auto& th : threads) th.join();
    auto index = saver.Finish();
    ASSERT_TRUE(index.ok()) << index.status();
    EXPECT_GT(saver.stats().packs, 10u);
  }
  auto packs = store_->List(kDataPrefix);
  ASSERT_TRUE(packs.ok()) << packs.status();
  ASSERT_FALSE(packs->empty());
  for (const auto& p : *packs) {
    auto bytes = store_->Get(p.name, {});
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(std::string(kDataPrefix) + ToHex(Sha256(*bytes)), p.name);
  }
  Reopen();
  for (const auto& per_thread : saved) {
    for (const auto& [id, blob] : per_thread) {
      auto got = repo_->LoadBlob(id);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, blob);
    }
  }
}

// Small files (one chunk each) are read and hashed in batches (Hmac::SumMany): any mix of sizes
// around the padding limits, empty and all-zero files (holes, no chunk), and identical files in
// one batch must restore byte for byte with each file's own chunk.
TEST_F(DataPathTest, SmallFilesHashedInBatchesRestoreByteForByte) {
  std::mt19937_64 rng(5);
  const size_t sizes[] = {0, 1, 55, 56, 64, 119, 120, 4096, 4 << 10, 60 << 10};
  for (int i = 0; i < 300; ++i) {
    size_t size = i % 3 == 0 ? sizes[rng() % std::size(sizes)] : rng() % (4 << 10);
    std::string content = i % 11 == 0   ? std::string(size, '\0')
                          : i % 13 == 0 ? TextBytes(size, 99)  // identical to one another
                                        : RandomBytes(size, 1000 + i);
    WriteFile(src_ / ("d" + std::to_string(i % 7)) / ("f" + std::to_string(i)), content);
  }
  ASSERT_NO_FATAL_FAILURE(BackupAndRestoreByteForByte());
  CheckOptions check;
  check.read_data = true;
  auto c = Check(*repo_, check);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->errors.empty()) << c->errors[0];
}

// Trees hold names as JSON strings (UTF-8). A name that is not UTF-8 is listed as an error and
// left out, with everything else backed up and restorable; it used to fail the whole point.
TEST_F(DataPathTest, NamesThatAreNotUtf8AreReportedAndTheRestIsBackedUp) {
  WriteFile(src_ / "ok.txt", "fine");
  WriteFile(src_ / "caf\xc3\xa9.txt", "valid UTF-8 is kept");
  WriteFile(src_ / "bad\xffname", "latin-1 name");
  fs::create_directories(src_ / "dir\xe9");
  WriteFile(src_ / "dir\xe9" / "inside", "skipped with its directory");
  ASSERT_EQ(::symlink("target\xfe", (src_ / "link").c_str()), 0);
  auto b = DoBackup();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->manifest.partial);
  ASSERT_EQ(b->manifest.errors.size(), 3u);
  std::string all;
  for (const auto& e : b->manifest.errors) all += e.path + ": " + e.error + "\n";
  EXPECT_NE(all.find("bad\\xffname: the name is not valid UTF-8"), std::string::npos) << all;
  EXPECT_NE(all.find("dir\\xe9: the name is not valid UTF-8"), std::string::npos) << all;
  EXPECT_NE(all.find("link: the symlink's target is not valid UTF-8"), std::string::npos) << all;
  auto r = DoRestore(dir_.path() / "out");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(dir_.path() / "out/src/ok.txt"), "fine");
  EXPECT_EQ(ReadFile(dir_.path() / "out/src/caf\xc3\xa9.txt"), "valid UTF-8 is kept");
  EXPECT_FALSE(fs::exists(dir_.path() / "out/src/bad\xffname"));
  // A backup path that is not UTF-8 is refused up front, naming it.
  BackupOptions o;
  o.paths = {(src_ / "dir\xe9").string()};
  auto refused = Backup(*repo_, o);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("dir\\xe9"), std::string::npos) << refused.status();
}

TEST_F(DataPathTest, InsertionInALargeFileStoresOnlyNearbyChunks) {
  MakeLargeFiles();
  ASSERT_TRUE(DoBackup().ok());
  // 100 bytes inserted early in big.bin shift every later byte, across all its part edges.
  std::string big = ReadFile(src_ / "big.bin");
  big.insert(1000, TextBytes(100, 42));
  WriteFile(src_ / "big.bin", big);
  auto b = DoBackup();
  ASSERT_TRUE(b.ok()) << b.status();
  // Content-defined chunks and split points: a few 16 KiB chunks are new, not 20 MiB.
  EXPECT_LT(b->manifest.summary.data_added, 512u << 10) << b->manifest.summary.data_added;
  auto r = DoRestore(dir_.path() / "out");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(dir_.path() / "out/src/big.bin"), big);
}

// Every file of the point, by path.
std::map<std::string, Node> FilesOf(Repository& repo, const std::string& point) {
  std::map<std::string, Node> out;
  Status s = Ls(repo, point, "", [&](const Entry& e) {
    if (e.node.type == NodeType::kFile) out[e.path] = e.node;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

void WriteAt(const fs::path& p, uint64_t offset, const std::string& bytes) {
  int fd = ::open(p.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

// A changed file's chunks found again by their fingerprints (FORMAT.md §4) must be exactly the
// chunks that reading and hashing the whole file gives: same extents, same fingerprints.
TEST_F(DataPathTest, ChunksReusedByFingerprintAreTheChunksAFullReadGives) {
  MakeLargeFiles();
  WriteFile(src_ / "log.txt", TextBytes(3 << 20, 9));
  auto first = DoBackup();
  ASSERT_TRUE(first.ok()) << first.status();
  auto before = FilesOf(*repo_, first->manifest.id);
  EXPECT_GT(before["src/big.bin"].fingerprints.size(), 100u);
  EXPECT_EQ(before["src/big.bin"].fingerprints.size(), before["src/big.bin"].content.size());

  // In place (same size): a few random ranges and a zeroed one in big.bin; data written into
  // sparse.img's hole and over its island's start; an insertion into odd.bin (every later
  // byte moves); an append to log.txt.
  WriteAt(src_ / "big.bin", 5 << 20, RandomBytes(3000, 11));
  WriteAt(src_ / "big.bin", (13 << 20) + 77, RandomBytes(100, 12));
  WriteAt(src_ / "big.bin", 17 << 20, std::string(200 << 10, '\0'));
  WriteAt(src_ / "sparse.img", 30 << 20, RandomBytes(50000, 13));
  WriteAt(src_ / "sparse.img", 12345, RandomBytes(10, 14));
  std::string odd = ReadFile(src_ / "odd.bin");
  odd.insert(1 << 20, TextBytes(333, 15));
  WriteFile(src_ / "odd.bin", odd);
  std::string log = ReadFile(src_ / "log.txt") + TextBytes(5000, 16);
  WriteFile(src_ / "log.txt", log);

  auto second = DoBackup();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->manifest.parent, first->manifest.id);
  // Most of the ~43 MiB read again was found by fingerprint.
  EXPECT_GT(second->manifest.summary.bytes_matched, 35u << 20)
      << second->manifest.summary.bytes_matched;
  BackupOptions o;
  o.paths = {src_.string()};
  o.no_parent = true;
  auto full = Backup(*repo_, o);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->manifest.summary.bytes_matched, 0u);

  auto fast = FilesOf(*repo_, second->manifest.id);
  auto slow = FilesOf(*repo_, full->manifest.id);
  ASSERT_EQ(fast.size(), slow.size());
  for (const auto& [path, node] : slow) {
    const Node& f = fast[path];
    ASSERT_EQ(f.content.size(), node.content.size()) << path;
    for (size_t i = 0; i < node.content.size(); ++i) {
      EXPECT_EQ(f.content[i].id, node.content[i].id) << path << " extent " << i;
      EXPECT_EQ(f.content[i].hole, node.content[i].hole) << path << " extent " << i;
    }
    EXPECT_EQ(f.fingerprints, node.fingerprints) << path;
  }
  auto r = DoRestore(dir_.path() / "out");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(CompareTrees(src_, dir_.path() / "out/src"), "");
}

// Version 2 vaults (written by older lifeboats) stay version 2: opened, backed up and restored,
// with no chunk fingerprints in their trees.
TEST(DataPathVersionTest, Version2VaultsAreReadAndWrittenWithoutFingerprints) {
  TempDir dir;
  auto store = storage::LocalBlobStore::Open(dir.path() / "vault", true);
  ASSERT_TRUE(store.ok());
  InitOptions init = testing::SmallVaultOptions();
  init.config.version = 2;
  ASSERT_TRUE(Repository::Init(**store, init).ok());
  auto other = storage::LocalBlobStore::Open(dir.path() / "other", true);
  ASSERT_TRUE(other.ok());
  InitOptions newer = init;
  newer.config.version = kConfigVersion + 1;
  EXPECT_EQ(Repository::Init(**other, newer).code(), StatusCode::kInvalidArgument);
  auto repo = Repository::Open(**store, {"correct horse", ""});
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_EQ((*repo)->config().version, 2u);
  EXPECT_FALSE((*repo)->use_fingerprints());
  fs::create_directories(dir.path() / "src");
  WriteFile(dir.path() / "src/a.bin", RandomBytes(1 << 20, 1));
  BackupOptions o;
  o.paths = {(dir.path() / "src").string()};
  auto b = Backup(**repo, o);
  ASSERT_TRUE(b.ok()) << b.status();
  auto files = FilesOf(**repo, b->manifest.id);
  EXPECT_GT(files["src/a.bin"].content.size(), 2u);
  EXPECT_TRUE(files["src/a.bin"].fingerprints.empty());
  RestoreOptions ro;
  ro.point = "latest";
  ro.target = (dir.path() / "out").string();
  ASSERT_TRUE(Restore(**repo, ro).ok());
  EXPECT_EQ(CompareTrees(dir.path() / "src", dir.path() / "out/src"), "");
}

// The content of dir/lines.txt in testdata/v2-vault (keep in step with make-v2-vault.sh).
std::string V2FixtureLines() {
  std::string out;
  for (uint64_t i = 0; i < 5000; ++i) {
    out += "line " + std::to_string(i) + ": " + std::to_string(i * i % 1000003) + "\n";
  }
  return out;
}

// A vault written by a version-2 lifeboat (main before chunk fingerprints; made by
// testdata/make-v2-vault.sh): this one reads it, verifies every byte, restores its point, backs
// a changed tree up into it with that point as parent (files without fingerprints), and it stays
// a version-2 vault that version-2 readers can open.
TEST(DataPathVersionTest, AVaultWrittenByAVersion2LifeboatIsReadAndBackedUpInto) {
  TempDir dir;
  fs::copy(fs::path(LIFEBOAT_VAULT_TESTDATA) / "v2-vault", dir.path() / "vault",
           fs::copy_options::recursive);
  auto store = storage::LocalBlobStore::Open(dir.path() / "vault", true);
  ASSERT_TRUE(store.ok()) << store.status();
  auto repo = Repository::Open(**store, {"version 2 passphrase", ""});
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_EQ((*repo)->config().version, 2u);
  EXPECT_FALSE((*repo)->use_fingerprints());
  CheckOptions co;
  co.read_data = true;
  auto checked = Check(**repo, co);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_TRUE(checked->ok()) << checked->errors.front();
  EXPECT_EQ(checked->points, 1u);

  const std::string lines = V2FixtureLines();
  RestoreOptions ro;
  ro.point = "latest";
  ro.target = (dir.path() / "old").string();
  auto restored = Restore(**repo, ro);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(restored->errors.empty());
  EXPECT_EQ(ReadFile(dir.path() / "old/src/hello.txt"), "hello from a version 2 vault\n");
  EXPECT_EQ(ReadFile(dir.path() / "old/src/dir/lines.txt"), lines);
  EXPECT_EQ(fs::read_symlink(dir.path() / "old/src/link"), "hello.txt");
  auto old_files = FilesOf(**repo, "latest");
  EXPECT_GT(old_files["src/dir/lines.txt"].content.size(), 2u);

  // The same tree, lines.txt changed near its end (after its first chunk: chunks are at most
  // 64 KiB) and appended to.
  const fs::path src = dir.path() / "src";
  fs::create_directories(src / "dir");
  WriteFile(src / "hello.txt", "hello from a version 2 vault\n");
  std::string changed = lines;
  ASSERT_GT(lines.size(), 80000u);
  changed.replace(lines.size() - 100, 5, "CHANGED");
  changed += TextBytes(20000, 3);
  WriteFile(src / "dir/lines.txt", changed);
  fs::create_symlink("hello.txt", src / "link");
  BackupOptions o;
  o.paths = {src.string()};
  o.parent = "latest";
  auto b = Backup(**repo, o);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(b->manifest.parent.empty());
  EXPECT_EQ(b->manifest.summary.bytes_matched, 0u);
  auto files = FilesOf(**repo, b->manifest.id);
  EXPECT_GT(files["src/dir/lines.txt"].content.size(), 2u);
  EXPECT_TRUE(files["src/dir/lines.txt"].fingerprints.empty());
  // Unchanged chunks before the change are deduplicated against the old point's.
  EXPECT_EQ(files["src/dir/lines.txt"].content[0].id, old_files["src/dir/lines.txt"].content[0].id);

  auto reopened = Repository::Open(**store, {"version 2 passphrase", ""});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->config().version, 2u);
  checked = Check(**reopened, co);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_TRUE(checked->ok()) << checked->errors.front();
  EXPECT_EQ(checked->points, 2u);
  ro.point = b->manifest.id;
  ro.target = (dir.path() / "new").string();
  restored = Restore(**reopened, ro);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(CompareTrees(src, dir.path() / "new/src"), "");
}

// Restore verifies the chunks of a fingerprinted file by their fingerprint (FORMAT.md §10),
// the others by their ID. A chunk whose bytes are not the chunk's, even sealed with the vault's
// key for its ID (so decryption passes), fails its file naming the pack and blob, and the file
// never appears at its final name.
TEST_F(DataPathTest, ChunksAreVerifiedByFingerprintAndWrongBytesAreNeverWritten) {
  WriteFile(src_ / "big.bin", RandomBytes(3 << 20, 21));
  WriteFile(src_ / "small.txt", TextBytes(3000, 22));
  ASSERT_TRUE(DoBackup().ok());
  Node big;
  ASSERT_TRUE(Ls(*repo_, "latest", "big.bin", [&](const Entry& e) { big = e.node; }).ok());
  ASSERT_GT(big.content.size(), 10u);
  auto r = DoRestore(dir_.path() / "out");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->errors.empty()) << r->errors[0].error;
  EXPECT_EQ(CompareTrees(src_, dir_.path() / "out/src"), "");
  if (repo_->fingerprinter().fast()) {
    ASSERT_EQ(big.fingerprints.size(), big.content.size());
    EXPECT_EQ(r->chunks_by_fingerprint, big.content.size());
    EXPECT_EQ(r->chunks_by_id, 1u);  // small.txt: one chunk, no fingerprint
  } else {
    EXPECT_EQ(r->chunks_by_fingerprint, 0u);
  }

  // Re-seal one chunk of big.bin (random bytes: stored raw) with a byte changed.
  const Digest id = big.content[big.content.size() / 2].id;
  auto loc = repo_->Lookup(id);
  ASSERT_TRUE(loc.has_value());
  ASSERT_FALSE(loc->entry.compressed);
  fs::path pack = store_->PathOf(PackName(loc->pack));
  std::string sealed = ReadFile(pack).substr(loc->entry.offset, loc->entry.length);
  const std::string_view aad(reinterpret_cast<const char*>(id.data()), id.size());
  auto plain = Open(repo_->key().encryption, sealed, aad);
  ASSERT_TRUE(plain.ok());
  (*plain)[100] ^= 1;
  std::string forged = Seal(repo_->key().encryption, *plain, aad);
  ASSERT_EQ(forged.size(), sealed.size());
  fs::permissions(pack, fs::perms::owner_write, fs::perm_options::add);
  {
    std::fstream f(pack, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(loc->entry.offset));
    f.write(forged.data(), static_cast<std::streamsize>(forged.size()));
  }
  r = DoRestore(dir_.path() / "out2");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->errors.size(), 1u);
  EXPECT_EQ(r->errors[0].path, "src/big.bin");
  EXPECT_NE(r->errors[0].error.find(PackName(loc->pack)), std::string::npos) << r->errors[0].error;
  EXPECT_NE(r->errors[0].error.find(ToHex(id)), std::string::npos) << r->errors[0].error;
  EXPECT_NE(r->errors[0].error.find("content does not match"), std::string::npos)
      << r->errors[0].error;
  EXPECT_FALSE(fs::exists(dir_.path() / "out2/src/big.bin"));
  EXPECT_EQ(ReadFile(dir_.path() / "out2/src/small.txt"), ReadFile(src_ / "small.txt"));
  for (auto& e : fs::directory_iterator(dir_.path() / "out2/src")) {
    EXPECT_EQ(e.path().filename().string().rfind(".lifeboat-tmp-", 0), std::string::npos)
        << e.path();
  }
}

TEST_F(DataPathTest, ExtendedAttributesAreBackedUpAndRestored) {
  WriteFile(src_ / "dir/file.txt", "hello\n");
  const std::string binary("\x00\x01\xff value", 9);
  if (::setxattr((src_ / "dir/file.txt").c_str(), "user.lifeboat.test", binary.data(),
                 binary.size(), 0) != 0) {
    GTEST_SKIP() << "user extended attributes not supported here: " << std::strerror(errno);
  }
  ASSERT_EQ(::setxattr((src_ / "dir").c_str(), "user.dir.attr", "d", 1, 0), 0);
  ASSERT_TRUE(DoBackup().ok());
  // An unchanged file keeps its attributes through the metadata cache.
  auto second = DoBackup();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->manifest.summary.files_unmodified, 1u);
  auto r = DoRestore(dir_.path() / "out");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->errors.empty()) << r->errors[0].error;
  char buf[64];
  ssize_t n = ::getxattr((dir_.path() / "out/src/dir/file.txt").c_str(), "user.lifeboat.test", buf,
                         sizeof(buf));
  ASSERT_EQ(n, (ssize_t)binary.size());
  EXPECT_EQ(std::string(buf, n), binary);
  n = ::getxattr((dir_.path() / "out/src/dir").c_str(), "user.dir.attr", buf, sizeof(buf));
  ASSERT_EQ(n, 1);
  EXPECT_EQ(buf[0], 'd');
}

TEST_F(DataPathTest, RepairRebuildsALostIndexFromThePacks) {
  MakeLargeFiles();
  WriteFile(src_ / "small/a.txt", TextBytes(3000, 1));
  ASSERT_TRUE(DoBackup().ok());
  WriteFile(src_ / "small/b.txt", TextBytes(5000, 2));
  ASSERT_TRUE(DoBackup().ok());
  auto index = store_->List("index/");
  ASSERT_TRUE(index.ok());
  ASSERT_EQ(index->size(), 2u);
  for (const auto& f : *index) ASSERT_TRUE(store_->Delete(f.name).ok());
  Reopen();
  auto broken = Check(*repo_, {});
  ASSERT_TRUE(broken.ok());
  EXPECT_FALSE(broken->ok());

  auto repaired = Repair(*repo_, {.read_data = true}, SystemClock());
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_TRUE(repaired->damaged.empty()) << repaired->damaged[0];
  EXPECT_GT(repaired->packs, 0u);
  EXPECT_EQ(repaired->packs_not_indexed_before, repaired->packs);
  auto c = Check(*repo_, {.read_data = true});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->ok()) << c->errors[0];
  EXPECT_TRUE(c->warnings.empty()) << c->warnings[0];
  auto r = DoRestore(dir_.path() / "out");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->errors.empty());
  EXPECT_EQ(CompareTrees(src_, dir_.path() / "out/src"), "");
}

TEST_F(DataPathTest, RepairReplacesADamagedIndexAndReportsADamagedPack) {
  WriteFile(src_ / "a.txt", TextBytes(200 << 10, 1));
  WriteFile(src_ / "b.bin", RandomBytes(3 << 20, 2));
  ASSERT_TRUE(DoBackup().ok());
  auto index = store_->List("index/");
  ASSERT_TRUE(index.ok() && index->size() == 1);
  // Flip a byte of the index file and of one pack's header (its last bytes).
  auto flip = [&](const std::string& name, uint64_t from_end) {
    fs::path p = store_->PathOf(name);
    ASSERT_TRUE(fs::exists(p)) << p;
    fs::permissions(p, fs::perms::owner_write, fs::perm_options::add);
    std::string bytes = ReadFile(p);
    bytes[bytes.size() - from_end] ^= 0x40;
    WriteFile(p, bytes);
  };
  flip((*index)[0].name, 100);
  auto packs = store_->List("data/");
  ASSERT_TRUE(packs.ok() && packs->size() > 1);
  flip((*packs)[0].name, 10);
  Reopen();
  ASSERT_FALSE(repo_->IndexProblems().empty());

  auto repaired = Repair(*repo_, {}, SystemClock());
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_EQ(repaired->index_files_removed, 1u);
  ASSERT_EQ(repaired->damaged.size(), 1u);
  EXPECT_NE(repaired->damaged[0].find((*packs)[0].name), std::string::npos) << repaired->damaged[0];
  EXPECT_EQ(repaired->packs, packs->size() - 1);
  EXPECT_TRUE(repo_->IndexProblems().empty());
  // The damaged pack's blobs are unindexed, so check names what is missing; nothing else.
  auto c = Check(*repo_, {});
  ASSERT_TRUE(c.ok());
  for (const std::string& e : c->errors) {
    EXPECT_NE(e.find("not in any index"), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace lifeboat::vault
