#include "engines/vault/immutability.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "engines/storage/local_blob_store.h"
#include "engines/vault/format.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/vault/vault_test_util.h"

namespace lifeboat::vault {
namespace {
namespace fs = std::filesystem;
using lifeboat::testing::TempDir;
using testing::CompareTrees;
using testing::RandomBytes;
using testing::WriteFile;

constexpr auto kDay = std::chrono::hours(24);

class ImmutabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::LocalBlobStore::Open(dir_ / "vault", true);
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    ASSERT_TRUE(Repository::Init(*store_, testing::SmallVaultOptions()).ok());
    auto repo = Repository::Open(*store_, {"correct horse", ""});
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = std::move(repo).value();
    WriteFile(dir_ / "src/a.bin", RandomBytes(700 << 10, 1));
    WriteFile(dir_ / "src/b.bin", RandomBytes(700 << 10, 2));
  }
  Manifest BackupNow() {
    BackupOptions o;
    o.paths = {(dir_ / "src").string()};
    o.clock = &clock_;
    // One worker: both files' chunks go to the same packs (two workers fill a pack each, and
    // which one takes which file is a race), so a prune has something to repack.
    o.threads = 1;
    auto r = Backup(*repo_, o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r->manifest;
  }

  TempDir dir_;
  FakeClock clock_{std::chrono::system_clock::now()};
  std::unique_ptr<storage::LocalBlobStore> store_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(ImmutabilityTest, ALockedPointCannotBeDeletedUntilItsLockExpires) {
  Manifest point = BackupNow();
  auto applied = ApplyImmutability(*repo_, 7, clock_);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->points_locked, 1u);
  // Idempotent: a second run locks nothing new.
  EXPECT_EQ(ApplyImmutability(*repo_, 7, clock_)->points_locked, 0u);

  clock_.Advance(6 * kDay);
  auto refused = ForgetPoint(*repo_, point.id, clock_);
  ASSERT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find(point.id), std::string::npos);
  auto expiries = LockExpiries(*store_);
  ASSERT_TRUE(expiries.ok());
  EXPECT_NE(
      refused.status().message().find("immutable until " + FormatRfc3339(expiries->at(point.id))),
      std::string::npos)
      << refused.status();
  EXPECT_EQ(ListPoints(*repo_)->size(), 1u);

  clock_.Advance(1 * kDay + std::chrono::seconds(1));
  auto forgotten = ForgetPoint(*repo_, point.id, clock_);
  ASSERT_TRUE(forgotten.ok()) << forgotten.status();
  EXPECT_TRUE(ListPoints(*repo_)->empty());
}

TEST_F(ImmutabilityTest, RetentionKeepsLockedPointsAndForgetsExpiredOnes) {
  Manifest old_point = BackupNow();
  ASSERT_TRUE(ApplyImmutability(*repo_, 1, clock_).ok());
  clock_.Advance(std::chrono::hours(1));
  Manifest mid_point = BackupNow();
  ASSERT_TRUE(ApplyImmutability(*repo_, 1, clock_).ok());
  clock_.Advance(std::chrono::hours(1));
  BackupNow();
  // Every point is locked: keep-last 1 removes nothing.
  auto kept = Forget(*repo_, RetentionPolicy{.keep_last = 1}, /*dry_run=*/false, clock_);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_TRUE(kept->remove.empty());
  EXPECT_EQ(kept->keep.size(), 3u);
  EXPECT_EQ(ListPoints(*repo_)->size(), 3u);
  // A day later the two older locks have expired (the newest point was never locked).
  clock_.Advance(kDay);
  auto forgot = Forget(*repo_, RetentionPolicy{.keep_last = 1}, /*dry_run=*/false, clock_);
  ASSERT_TRUE(forgot.ok()) << forgot.status();
  ASSERT_EQ(forgot->remove.size(), 2u);
  EXPECT_EQ(ListPoints(*repo_)->size(), 1u);
  (void)old_point;
  (void)mid_point;
}

TEST_F(ImmutabilityTest, PruneNeverRepacksPacksHoldingLockedData) {
  // p1 holds a and b; p2 only a. With p1 forgotten, the pack mixing a and b is mostly unused
  // by p2 alone and would be repacked, unless p2 is locked.
  auto run = [&](bool lock_second) -> PruneResult {
    BackupNow();
    fs::remove(dir_ / "src/b.bin");
    clock_.Advance(std::chrono::hours(1));
    BackupNow();
    if (lock_second) {
      EXPECT_TRUE(ApplyImmutability(*repo_, 1, clock_).ok());
    }
    // Forget the older point: with the lock on, its own lock (same ledger run) expired first.
    clock_.Advance(std::chrono::hours(23) + std::chrono::minutes(30));
    auto forgot = Forget(*repo_, RetentionPolicy{.keep_last = 1}, false, clock_);
    EXPECT_TRUE(forgot.ok()) << forgot.status();
    EXPECT_EQ(forgot->remove.size(), 1u);
    auto pruned = Prune(*repo_, PruneOptions{}, clock_);
    EXPECT_TRUE(pruned.ok()) << pruned.status();
    auto restored =
        Restore(*repo_, RestoreOptions{.point = "latest", .target = (dir_ / "out").string()});
    EXPECT_TRUE(restored.ok()) << restored.status();
    EXPECT_EQ(CompareTrees(dir_ / "src", dir_ / "out/src"), "");
    return pruned.ok() ? *pruned : PruneResult{};
  };
  PruneResult locked = run(true);
  EXPECT_EQ(locked.packs_repacked, 0u);
  EXPECT_GE(locked.packs_deleted, 1u);  // packs only the forgotten point used still go
}

TEST_F(ImmutabilityTest, WithoutLocksTheSamePruneRepacks) {
  BackupNow();
  fs::remove(dir_ / "src/b.bin");
  clock_.Advance(std::chrono::hours(1));
  BackupNow();
  ASSERT_TRUE(Forget(*repo_, RetentionPolicy{.keep_last = 1}, false, clock_).ok());
  auto pruned = Prune(*repo_, PruneOptions{}, clock_);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_GE(pruned->packs_repacked, 1u);
}

TEST_F(ImmutabilityTest, FilesystemVaultFilesBecomeReadOnly) {
  BackupNow();
  auto applied = ApplyImmutability(*repo_, 3, clock_);
  ASSERT_TRUE(applied.ok()) << applied.status();
  // LocalBlobStore writes files 0444 already; one that regained write access loses it again.
  fs::path index = store_->PathOf(store_->List(kIndexPrefix)->front().name);
  fs::permissions(index, fs::perms::owner_write, fs::perm_options::add);
  applied = ApplyImmutability(*repo_, 3, clock_);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->files_made_read_only, 1u);
  auto files = store_->List("");
  ASSERT_TRUE(files.ok());
  size_t checked = 0;
  for (const auto& f : *files) {
    if (f.name.rfind(kLockPrefix, 0) == 0) continue;
    struct stat st {};
    ASSERT_EQ(::stat(store_->PathOf(f.name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH), 0u) << f.name;
    ++checked;
  }
  EXPECT_GT(checked, 3u);
  // The vault keeps working: the next backup, check and a second lock run.
  WriteFile(dir_ / "src/c.txt", "new\n");
  BackupNow();
  auto check = Check(*repo_, CheckOptions{.read_data = true});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->ok());
  EXPECT_EQ(ApplyImmutability(*repo_, 3, clock_)->points_locked, 1u);
}

TEST_F(ImmutabilityTest, DaysMustBePositive) {
  auto bad = ApplyImmutability(*repo_, 0, clock_);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("immutability.days"), std::string::npos);
}

}  // namespace
}  // namespace lifeboat::vault
