// End-to-end tests of the vault operations on real files in temp dirs and a real LocalBlobStore.
#include "engines/vault/immutability.h"
#include "engines/vault/vault.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "engines/storage/faulty_blob_store.h"
#include "engines/storage/local_blob_store.h"
#include "engines/storage/memory_blob_store.h"
#include "engines/vault/lock.h"
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

class VaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::LocalBlobStore::Open(dir_.path() / "vault", true);
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    ASSERT_TRUE(Repository::Init(*store_, testing::SmallVaultOptions()).ok());
    auto repo = Repository::Open(*store_, {"correct horse", ""});
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = std::move(repo).value();
    src_ = dir_.path() / "src";
    MakeSource();
  }

  void MakeSource() {
    WriteFile(src_ / "text/a.txt", TextBytes(300 << 10, 1));
    WriteFile(src_ / "text/b.txt", TextBytes(10, 2));
    WriteFile(src_ / "text/empty", "");
    WriteFile(src_ / "media/random.bin", RandomBytes(700 << 10, 3));
    WriteFile(src_ / "deep/x/y/z.txt", "deep file\n");
    fs::create_symlink("../text/a.txt", src_ / "deep/link");
    fs::create_hard_link(src_ / "text/b.txt", src_ / "deep/hardlink");
    ::mkfifo((src_ / "deep/fifo").c_str(), 0640);
    ::chmod((src_ / "text/b.txt").c_str(), 0600);
    // A sparse file: 4 MiB with two data islands and holes around them.
    int fd = ::open((src_ / "disk.img").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    std::string island = RandomBytes(100 << 10, 7);
    ASSERT_EQ(::pwrite(fd, island.data(), island.size(), 1 << 20), (ssize_t)island.size());
    ASSERT_EQ(::pwrite(fd, island.data(), island.size(), 3 << 20), (ssize_t)island.size());
    ASSERT_EQ(::ftruncate(fd, 4 << 20), 0);
    ::close(fd);
  }

  StatusOr<BackupResult> DoBackup() {
    BackupOptions o;
    o.paths = {src_.string()};
    return Backup(*repo_, o);
  }

  StatusOr<RestoreResult> DoRestore(const std::string& point, const fs::path& target,
                                    std::vector<std::string> include = {}) {
    RestoreOptions o;
    o.point = point;
    o.target = target.string();
    o.include = std::move(include);
    return Restore(*repo_, o);
  }

  storage::LocalBlobStore& local() { return *store_; }

  TempDir dir_;
  std::unique_ptr<storage::LocalBlobStore> store_;
  std::unique_ptr<Repository> repo_;
  fs::path src_;
};

// A vault opened before another process pruned it must not deduplicate against blobs the prune
// removed: a backup re-reads the index once it holds its lock. (Seen as "chunk ... is not in any
// index file" on restore when a RecoveryPoint ran right after a deleted point's prune.)
TEST_F(VaultTest, BackupAfterAnotherProcessPrunedDoesNotReuseRemovedBlobs) {
  auto first = DoBackup();
  ASSERT_TRUE(first.ok()) << first.status();
  auto other = Repository::Open(*store_, {"correct horse", ""});
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(ForgetPoint(**other, first->manifest.id, SystemClock()).ok());
  auto pruned = Prune(**other, {}, SystemClock());
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  ASSERT_GT(pruned->blobs_removed, 0u);
  // repo_ still holds the index from before the prune.
  auto second = DoBackup();
  ASSERT_TRUE(second.ok()) << second.status();
  auto r = DoRestore(second->manifest.id, dir_.path() / "after-prune");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->errors.empty()) << (r->errors.empty() ? "" : r->errors[0].path + ": " + r->errors[0].error);
  EXPECT_EQ(ReadFile(dir_.path() / "after-prune/src/text/a.txt"), ReadFile(src_ / "text/a.txt"));
  auto check = Check(*repo_, {.read_data = true});
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->ok());
}

TEST_F(VaultTest, BackupAndRestoreIsByteForByteWithMetadata) {
  auto b = DoBackup();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(b->manifest.partial);
  EXPECT_EQ(b->manifest.summary.files, 7u);
  auto r = DoRestore(b->manifest.id, dir_.path() / "out");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->errors.empty()) << r->errors[0].path << ": " << r->errors[0].error;
  EXPECT_EQ(CompareTrees(src_, dir_.path() / "out/src"), "");
  struct stat a {}, c {};
  ::stat((src_ / "text/b.txt").c_str(), &a);
  ::stat((dir_.path() / "out/src/text/b.txt").c_str(), &c);
  EXPECT_EQ(c.st_mode & 07777, 0600u);
  // Hard links stay linked; holes stay holes.
  EXPECT_EQ(fs::hard_link_count(dir_.path() / "out/src/deep/hardlink"), 2u);
  struct stat img {};
  ::stat((dir_.path() / "out/src/disk.img").c_str(), &img);
  EXPECT_EQ(img.st_size, 4 << 20);
  EXPECT_LT(img.st_blocks * 512, 1 << 20) << "holes were filled in";
  // No temporary names left behind.
  for (auto& e : fs::recursive_directory_iterator(dir_.path() / "out")) {
    EXPECT_EQ(e.path().filename().string().find(".lifeboat-tmp"), std::string::npos);
  }
}

TEST_F(VaultTest, IncrementalBackupReadsOnlyChangedFilesAndDedups) {
  auto first = DoBackup();
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = DoBackup();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->manifest.parent, first->manifest.id);
  EXPECT_EQ(second->manifest.summary.bytes_read, 0u);
  EXPECT_EQ(second->manifest.summary.data_added, 0u);
  EXPECT_EQ(second->manifest.summary.files_unmodified, 7u);
  // Insert bytes into the middle of the big random file: CDC stores only a few new chunks.
  std::string media = ReadFile(src_ / "media/random.bin");
  media.insert(media.size() / 2, "twelve bytes");
  WriteFile(src_ / "media/random.bin", media);
  auto third = DoBackup();
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->manifest.summary.files_changed, 1u);
  EXPECT_EQ(third->manifest.summary.bytes_read, media.size());
  EXPECT_LT(third->manifest.summary.data_added, 200u << 10);
  auto diff = Diff(*repo_, first->manifest.id, third->manifest.id);
  ASSERT_TRUE(diff.ok());
  ASSERT_EQ(diff->size(), 1u);
  EXPECT_EQ((*diff)[0].kind, 'M');
  EXPECT_EQ((*diff)[0].path, "src/media/random.bin");
  // The older point still restores exactly as it was.
  WriteFile(src_ / "media/random.bin", ReadFile(src_ / "media/random.bin"));
  auto r = DoRestore(third->manifest.id, dir_.path() / "out3");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReadFile(dir_.path() / "out3/src/media/random.bin"), media);
}

TEST_F(VaultTest, RestoresListedPathsAndGlobs) {
  auto b = DoBackup();
  ASSERT_TRUE(b.ok());
  auto r = DoRestore("latest", dir_.path() / "sel", {"src/text/a.txt", "src/deep/x"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(fs::exists(dir_.path() / "sel/src/text/a.txt"));
  EXPECT_TRUE(fs::exists(dir_.path() / "sel/src/deep/x/y/z.txt"));
  EXPECT_FALSE(fs::exists(dir_.path() / "sel/src/text/b.txt"));
  EXPECT_FALSE(fs::exists(dir_.path() / "sel/src/media"));
  auto g = DoRestore("latest", dir_.path() / "glob", {"src/*/*.txt"});
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(fs::exists(dir_.path() / "glob/src/text/b.txt"));
  EXPECT_FALSE(fs::exists(dir_.path() / "glob/src/disk.img"));
  EXPECT_EQ(g->files, 2u);
}

TEST_F(VaultTest, NamedPathsBecomeTheRootEntries) {
  // Two volumes whose directories share a basename, named as a BackupPolicy names them.
  WriteFile(dir_.path() / "a/data/one.txt", "first volume\n");
  WriteFile(dir_.path() / "b/data/two.txt", "second volume\n");
  BackupOptions o;
  o.paths = {(dir_.path() / "a/data").string(), (dir_.path() / "b/data").string()};
  EXPECT_EQ(Backup(*repo_, o).status().code(), StatusCode::kInvalidArgument);
  o.names = {"db", "logs"};
  auto b = Backup(*repo_, o);
  ASSERT_TRUE(b.ok()) << b.status();
  auto r = DoRestore(b->manifest.id, dir_.path() / "named", {"logs"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadFile(dir_.path() / "named/logs/two.txt"), "second volume\n");
  EXPECT_FALSE(fs::exists(dir_.path() / "named/db"));
  o.names = {"db", "../x"};
  auto bad = Backup(*repo_, o);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("../x"), std::string::npos) << bad.status();
}

TEST_F(VaultTest, LsListsEveryEntry) {
  ASSERT_TRUE(DoBackup().ok());
  std::vector<std::string> paths;
  ASSERT_TRUE(Ls(*repo_, "latest", "", [&](const Entry& e) { paths.push_back(e.path); }).ok());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "src/deep/x/y/z.txt"), paths.end());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "src/deep/link"), paths.end());
  std::vector<std::string> found;
  ASSERT_TRUE(Ls(*repo_, "latest", "*.img", [&](const Entry& e) { found.push_back(e.path); }).ok());
  EXPECT_EQ(found, std::vector<std::string>{"src/disk.img"});
}

TEST_F(VaultTest, WrongPassphraseIsUnauthenticated) {
  auto repo = Repository::Open(*store_, {"wrong", ""});
  ASSERT_FALSE(repo.ok());
  EXPECT_EQ(repo.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(repo.status().message().find("wrong passphrase"), std::string::npos);
  EXPECT_EQ(repo.status().message().find("correct horse"), std::string::npos);
}

TEST_F(VaultTest, RawKeyFileOpensTheSameVault) {
  ASSERT_TRUE(repo_->AddKey({"", "0123456789abcdef0123456789abcdef"}, {}).ok());
  ASSERT_TRUE(DoBackup().ok());
  auto repo = Repository::Open(*store_, {"", "0123456789abcdef0123456789abcdef"});
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_EQ((*repo)->config().id, repo_->config().id);
  EXPECT_TRUE(FindPoint(**repo, "latest").ok());
  EXPECT_EQ(Repository::Open(*store_, {"", "short"}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(VaultTest, CheckPassesAndReadDataVerifiesEveryBlob) {
  ASSERT_TRUE(DoBackup().ok());
  auto c = Check(*repo_, {.read_data = true});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->ok()) << c->errors[0];
  EXPECT_TRUE(c->warnings.empty());
  EXPECT_GT(c->blobs, 10u);
  EXPECT_EQ(c->points, 1u);
}

TEST_F(VaultTest, FlippedByteIsReportedByCheckAndRestoreNamingPackAndBlob) {
  ASSERT_TRUE(DoBackup().ok());
  // Damage the biggest pack (data) in the middle.
  auto packs = store_->List("data/");
  ASSERT_TRUE(packs.ok() && !packs->empty());
  auto biggest = *std::max_element(packs->begin(), packs->end(),
                                   [](auto& a, auto& b) { return a.size < b.size; });
  fs::path file = store_->PathOf(biggest.name);
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(biggest.size / 3));
    char c;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(biggest.size / 3));
    c ^= 0x20;
    f.write(&c, 1);
  }
  auto c = Check(*repo_, {.read_data = true});
  ASSERT_TRUE(c.ok());
  ASSERT_FALSE(c->ok());
  EXPECT_NE(c->errors[0].find(biggest.name), std::string::npos) << c->errors[0];
  EXPECT_NE(c->errors[0].find("blob "), std::string::npos) << c->errors[0];
  auto r = DoRestore("latest", dir_.path() / "out");
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->errors.empty());
  EXPECT_NE(r->errors[0].error.find(biggest.name), std::string::npos) << r->errors[0].error;
  // The damaged file is not at its final name; every other file is intact.
  fs::path bad = dir_.path() / "out" / r->errors[0].path;
  EXPECT_FALSE(fs::exists(bad)) << bad;
  for (auto& e : fs::recursive_directory_iterator(dir_.path() / "out")) {
    if (!e.is_regular_file()) continue;
    fs::path rel = fs::relative(e.path(), dir_.path() / "out");
    EXPECT_EQ(ReadFile(e.path()), ReadFile(dir_.path() / rel)) << rel;
  }
}

// Small files are restored in batches that read each pack range once for many files: a pack
// that is gone fails exactly the files with a blob in it, names the pack and blob, leaves no
// temporary file behind, and every other file of the batch is restored byte for byte.
TEST_F(VaultTest, MissingPackFailsOnlyItsFilesWhenSmallFilesAreBatched) {
  fs::path many = dir_.path() / "many";
  for (int i = 0; i < 600; ++i) {
    WriteFile(many / ("d" + std::to_string(i % 6)) / ("f" + std::to_string(i) + ".bin"),
              RandomBytes(3000 + 37 * static_cast<size_t>(i), 1000 + static_cast<uint64_t>(i)));
  }
  BackupOptions o;
  o.paths = {many.string()};
  ASSERT_TRUE(Backup(*repo_, o).ok());
  // Drop the data pack holding the fewest blobs (a tree pack would fail whole directories).
  auto packs = store_->List("data/");
  ASSERT_TRUE(packs.ok());
  std::map<Digest, std::set<Digest>> blobs_of;
  repo_->ForEachBlob([&](const Digest& id, const BlobLocation& loc) {
    if (loc.entry.type == BlobType::kData) blobs_of[loc.pack].insert(id);
  });
  ASSERT_GE(blobs_of.size(), 2u) << "the files should span several data packs";
  auto victim = std::min_element(blobs_of.begin(), blobs_of.end(), [](auto& a, auto& b) {
    return a.second.size() < b.second.size();
  });
  ASSERT_TRUE(store_->Delete(PackName(victim->first)).ok());

  auto r = DoRestore("latest", dir_.path() / "out");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->errors.empty());
  EXPECT_EQ(r->files + r->errors.size(), 600u);
  for (const FileError& e : r->errors) {
    EXPECT_NE(e.error.find(PackName(victim->first)), std::string::npos) << e.error;
    EXPECT_NE(e.error.find("pack file is missing"), std::string::npos) << e.error;
    EXPECT_FALSE(fs::exists(dir_.path() / "out" / e.path)) << e.path;
  }
  size_t restored = 0;
  for (auto& e : fs::recursive_directory_iterator(dir_.path() / "out")) {
    EXPECT_EQ(e.path().filename().string().rfind(".lifeboat-tmp-", 0), std::string::npos)
        << e.path();
    if (!e.is_regular_file()) continue;
    fs::path rel = fs::relative(e.path(), dir_.path() / "out");
    EXPECT_EQ(ReadFile(e.path()), ReadFile(dir_.path() / rel)) << rel;
    ++restored;
  }
  EXPECT_EQ(restored, r->files);
  EXPECT_GT(restored, 0u);
}

TEST_F(VaultTest, TruncatedPackIsReportedByStructuralCheck) {
  ASSERT_TRUE(DoBackup().ok());
  auto packs = store_->List("data/");
  ASSERT_TRUE(packs.ok());
  fs::path file = store_->PathOf((*packs)[0].name);
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  fs::resize_file(file, (*packs)[0].size / 2);
  auto c = Check(*repo_, {});
  ASSERT_TRUE(c.ok());
  ASSERT_FALSE(c->ok());
  bool named = false;
  for (auto& e : c->errors) named |= e.find((*packs)[0].name) != std::string::npos;
  EXPECT_TRUE(named) << c->errors[0];
}

TEST_F(VaultTest, MissingIndexIsReportedAndRestoreNeverReturnsWrongBytes) {
  ASSERT_TRUE(DoBackup().ok());
  auto index = store_->List("index/");
  ASSERT_TRUE(index.ok() && index->size() == 1);
  ASSERT_TRUE(store_->Delete((*index)[0].name).ok());
  ASSERT_TRUE(repo_->LoadIndex().ok());
  auto c = Check(*repo_, {});
  ASSERT_TRUE(c.ok());
  ASSERT_FALSE(c->ok());
  EXPECT_NE(c->errors[0].find("not in any index"), std::string::npos) << c->errors[0];
  auto r = DoRestore("latest", dir_.path() / "out");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->errors.empty());
  EXPECT_NE(r->errors[0].error.find("index"), std::string::npos) << r->errors[0].error;
}

TEST_F(VaultTest, ForgetAndPruneFreeSpaceAndKeepTheRest) {
  ASSERT_TRUE(DoBackup().ok());
  WriteFile(src_ / "media/random.bin", RandomBytes(700 << 10, 99));
  ASSERT_TRUE(DoBackup().ok());
  auto before = Stats(*repo_);
  ASSERT_TRUE(before.ok());
  auto f = Forget(*repo_, {.keep_last = 1}, false, SystemClock());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->remove.size(), 1u);
  auto p = Prune(*repo_, {}, SystemClock());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GT(p->bytes_freed, 0u);
  EXPECT_GT(p->packs_repacked + p->packs_deleted, 0u);
  auto after = Stats(*repo_);
  ASSERT_TRUE(after.ok());
  EXPECT_LT(after->stored_bytes, before->stored_bytes);
  EXPECT_EQ(after->points, 1u);
  auto c = Check(*repo_, {.read_data = true});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->ok()) << c->errors[0];
  EXPECT_TRUE(c->warnings.empty());
  auto r = DoRestore("latest", dir_.path() / "out");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(CompareTrees(src_, dir_.path() / "out/src"), "");
}

TEST_F(VaultTest, FullDiskFailsCleanlyAndLeavesAValidVault) {
  ASSERT_TRUE(DoBackup().ok());
  WriteFile(src_ / "media/more.bin", RandomBytes(3 << 20, 11));
  storage::FaultyBlobStore faulty(*store_, {.fail_after_bytes = 1 << 20, .torn_write = true});
  auto repo = Repository::Open(faulty, {"correct horse", ""});
  ASSERT_TRUE(repo.ok());
  BackupOptions o;
  o.paths = {src_.string()};
  auto b = Backup(**repo, o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kResourceExhausted) << b.status();
  // What the full disk left behind (a torn pack, no index for it) does not break the vault.
  ASSERT_TRUE(repo_->LoadIndex().ok());
  auto c = Check(*repo_, {.read_data = true});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->ok()) << c->errors[0];
  auto points = ListPoints(*repo_);
  ASSERT_TRUE(points.ok());
  EXPECT_EQ(points->size(), 1u);
  auto p = Prune(*repo_, {}, SystemClock());
  ASSERT_TRUE(p.ok()) << p.status();
  auto c2 = Check(*repo_, {});
  ASSERT_TRUE(c2.ok());
  EXPECT_TRUE(c2->warnings.empty());
}

TEST_F(VaultTest, StatsReportDedupAndCompression) {
  ASSERT_TRUE(DoBackup().ok());
  ASSERT_TRUE(DoBackup().ok());
  auto s = Stats(*repo_);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->points, 2u);
  EXPECT_GT(s->dedup_ratio, 1.5);
  EXPECT_GT(s->compression_ratio, 1.0);
}

TEST_F(VaultTest, CopyMakesAVerifiedReplica) {
  ASSERT_TRUE(DoBackup().ok());
  storage::MemoryBlobStore second;
  auto copied = Copy(*repo_, second, nullptr);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_GT(copied->packs_copied, 0u);
  auto again = Copy(*repo_, second, nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->packs_copied + again->files_copied, 0u);
  auto replica = Repository::Open(second, {"correct horse", ""});
  ASSERT_TRUE(replica.ok()) << replica.status();
  RestoreOptions o;
  o.point = "latest";
  o.target = (dir_.path() / "from-replica").string();
  auto r = Restore(**replica, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(CompareTrees(src_, dir_.path() / "from-replica/src"), "");
  storage::MemoryBlobStore other;
  ASSERT_TRUE(Repository::Init(other, testing::SmallVaultOptions()).ok());
  EXPECT_EQ(Copy(*repo_, other, nullptr).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(VaultTest, LocksExcludePruneDuringBackupAndStaleLocksAreCleared) {
  FakeClock clock;
  auto shared = VaultLock::Acquire(*store_, LockKind::kShared, clock);
  ASSERT_TRUE(shared.ok());
  auto shared2 = VaultLock::Acquire(*store_, LockKind::kShared, clock);
  EXPECT_TRUE(shared2.ok());
  auto excl = VaultLock::Acquire(*store_, LockKind::kExclusive, clock);
  ASSERT_FALSE(excl.ok());
  EXPECT_EQ(excl.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(excl.status().message().find("pid="), std::string::npos);
  shared2->reset();
  shared->reset();
  EXPECT_TRUE(store_->List("locks/")->empty());
  // A lock whose process is gone (pid 0 is never a live holder) does not block.
  ASSERT_TRUE(store_->Put("locks/deadbeef", R"({"host":"elsewhere","pid":0,"exclusive":true})")
                  .ok());
  auto after = VaultLock::Acquire(*store_, LockKind::kExclusive, clock);
  EXPECT_TRUE(after.ok()) << after.status();
  // An old heartbeat from another host is stale after 30 minutes.
  after->reset();
  auto t = std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
  ASSERT_TRUE(store_->Put("locks/cafe01", R"({"host":"other","pid":42,"exclusive":true,)"
                                          R"("heartbeat_unix":)" + std::to_string(t) + "}")
                  .ok());
  EXPECT_FALSE(VaultLock::Acquire(*store_, LockKind::kShared, clock).ok());
  clock.Advance(std::chrono::minutes(31));
  EXPECT_TRUE(VaultLock::Acquire(*store_, LockKind::kShared, clock).ok());
}

TEST_F(VaultTest, InitTwiceIsAlreadyExists) {
  EXPECT_EQ(Repository::Init(*store_, testing::SmallVaultOptions()).code(),
            StatusCode::kAlreadyExists);
}

TEST_F(VaultTest, BadPathsAndPointsAreClearErrors) {
  BackupOptions o;
  o.paths = {(dir_.path() / "nope").string()};
  auto b = Backup(*repo_, o);
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(b.status().message().find("nope"), std::string::npos);
  EXPECT_EQ(FindPoint(*repo_, "latest").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(FindPoint(*repo_, "ab").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FindPoint(*repo_, "abcdef12").status().code(), StatusCode::kNotFound);
}

TEST_F(VaultTest, BacksUpASingleDiskImage) {
  BackupOptions o;
  o.paths = {(src_ / "disk.img").string()};
  auto b = Backup(*repo_, o);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->manifest.summary.bytes, 4u << 20);
  // Two identical 100 KiB islands: the second is deduplicated, holes cost nothing.
  EXPECT_LT(b->manifest.summary.data_added, 160u << 10);
  auto r = DoRestore(b->manifest.id, dir_.path() / "img", {"disk.img"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReadFile(dir_.path() / "img/disk.img"), ReadFile(src_ / "disk.img"));
}

}  // namespace
}  // namespace lifeboat::vault
