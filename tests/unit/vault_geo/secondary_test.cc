#include "engines/vault/secondary.h"

#include <gtest/gtest.h>

#include <fstream>

#include "engines/storage/faulty_blob_store.h"
#include "engines/storage/local_blob_store.h"
#include "engines/storage/s3_blob_store.h"
#include "engines/vault/format.h"
#include "tests/s3/s3_test_server.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/vault/vault_test_util.h"

namespace lifeboat::vault {
namespace {
namespace fs = std::filesystem;
using lifeboat::testing::TempDir;
using testing::CompareTrees;
using testing::RandomBytes;
using testing::TextBytes;
using testing::WriteFile;

class SecondaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    primary_ = Local("primary");
    secondary_ = Local("secondary");
    ASSERT_TRUE(Repository::Init(*primary_, testing::SmallVaultOptions()).ok());
    repo_ = OpenRepo(*primary_);
    WriteFile(dir_ / "src/a.txt", TextBytes(200 << 10, 1));
    WriteFile(dir_ / "src/b.bin", RandomBytes(900 << 10, 2));
  }
  std::unique_ptr<storage::LocalBlobStore> Local(const std::string& name) {
    auto store = storage::LocalBlobStore::Open(dir_ / name, true);
    EXPECT_TRUE(store.ok());
    return std::move(store).value();
  }
  static std::unique_ptr<Repository> OpenRepo(storage::BlobStore& store) {
    auto repo = Repository::Open(store, {"correct horse", ""});
    EXPECT_TRUE(repo.ok()) << repo.status();
    return repo.ok() ? std::move(repo).value() : nullptr;
  }
  Manifest BackupNow() {
    BackupOptions o;
    o.paths = {(dir_ / "src").string()};
    o.clock = &clock_;
    auto r = Backup(*repo_, o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r->manifest;
  }
  // The first pack file of a store (sorted by name).
  static std::string FirstPack(storage::BlobStore& store) {
    auto packs = store.List(kDataPrefix);
    EXPECT_TRUE(packs.ok() && !packs->empty());
    return packs->front().name;
  }

  TempDir dir_;
  FakeClock clock_{std::chrono::system_clock::now()};
  std::unique_ptr<storage::LocalBlobStore> primary_;
  std::unique_ptr<storage::LocalBlobStore> secondary_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(SecondaryTest, SyncCopiesEverythingAndTheLagFollowsThePoints) {
  BackupNow();
  clock_.Advance(std::chrono::seconds(30));
  auto lag = SecondaryLagSeconds(*repo_, *secondary_, clock_);
  ASSERT_TRUE(lag.ok()) << lag.status();
  EXPECT_DOUBLE_EQ(*lag, 30.0);

  auto synced = SyncSecondary(*repo_, *secondary_, nullptr);
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_GE(synced->copied.packs_copied, 1u);
  EXPECT_EQ(*SecondaryLagSeconds(*repo_, *secondary_, clock_), 0.0);
  auto diff = CompareStores(*primary_, *secondary_, CompareOptions{.read_data = true});
  ASSERT_TRUE(diff.ok()) << diff.status();
  EXPECT_TRUE(diff->empty()) << diff->front().name << ": " << diff->front().problem;

  // Only what is new crosses the second time; the secondary is a vault that opens and checks.
  WriteFile(dir_ / "src/c.txt", TextBytes(50 << 10, 3));
  clock_.Advance(std::chrono::seconds(60));
  BackupNow();
  clock_.Advance(std::chrono::seconds(5));
  EXPECT_DOUBLE_EQ(*SecondaryLagSeconds(*repo_, *secondary_, clock_), 5.0);
  auto again = SyncSecondary(*repo_, *secondary_, nullptr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_LT(again->copied.bytes_copied, synced->copied.bytes_copied);
  auto replica = OpenRepo(*secondary_);
  ASSERT_NE(replica, nullptr);
  auto check = Check(*replica, CheckOptions{.read_data = true});
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->ok());
  EXPECT_EQ(check->points, 2u);
}

TEST_F(SecondaryTest, RestoreReadsADamagedPackFromTheSecondaryAndRepairsThePrimary) {
  BackupNow();
  ASSERT_TRUE(SyncSecondary(*repo_, *secondary_, nullptr).ok());
  std::string pack = FirstPack(*primary_);
  fs::path file = primary_->PathOf(pack);
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.write("garbage", 7);
  }
  FallbackBlobStore store(*primary_, *secondary_);
  auto repo = OpenRepo(store);
  ASSERT_NE(repo, nullptr);
  auto restored =
      Restore(*repo, RestoreOptions{.point = "latest", .target = (dir_ / "out").string()});
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(restored->errors.empty());
  EXPECT_EQ(CompareTrees(dir_ / "src", dir_ / "out/src"), "");
  EXPECT_GE(store.fallbacks(), 1u);
  EXPECT_EQ(store.repairs(), 1u);
  // The primary alone is whole again.
  auto check = Check(*repo_, CheckOptions{.read_data = true});
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->ok()) << check->errors.front();
}

TEST_F(SecondaryTest, ReadsGoToTheSecondaryWhileThePrimaryIsUnreachable) {
  BackupNow();
  ASSERT_TRUE(SyncSecondary(*repo_, *secondary_, nullptr).ok());
  storage::FaultyBlobStore unreachable(*primary_);
  storage::FaultPlan plan;
  plan.fail_gets_with_prefix = "";
  unreachable.SetPlan(plan);
  FallbackBlobStore store(unreachable, *secondary_);
  auto repo = OpenRepo(store);
  ASSERT_NE(repo, nullptr);
  auto restored =
      Restore(*repo, RestoreOptions{.point = "latest", .target = (dir_ / "out").string()});
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(CompareTrees(dir_ / "src", dir_ / "out/src"), "");
  EXPECT_GE(store.fallbacks(), 1u);
  EXPECT_EQ(store.repairs(), 0u);  // an unreachable primary is not written to
}

TEST_F(SecondaryTest, AMissingPackIsRepairedAndADamagedOneWithoutGoodCopyIsDataLoss) {
  BackupNow();
  ASSERT_TRUE(SyncSecondary(*repo_, *secondary_, nullptr).ok());
  std::string pack = FirstPack(*primary_);
  ASSERT_TRUE(primary_->Delete(pack).ok());
  FallbackBlobStore store(*primary_, *secondary_);
  auto bytes = store.Get(pack);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE(primary_->Stat(pack).ok());
  EXPECT_EQ(store.repairs(), 1u);

  // Both copies damaged: kDataLoss naming the file, never wrong bytes.
  for (storage::LocalBlobStore* s : {primary_.get(), secondary_.get()}) {
    fs::path file = s->PathOf(pack);
    fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.write("XX", 2);
  }
  FallbackBlobStore fresh(*primary_, *secondary_);
  auto broken = fresh.Get(pack, storage::ByteRange{0, 16});
  EXPECT_EQ(broken.status().code(), StatusCode::kDataLoss) << broken.status();
  EXPECT_NE(broken.status().message().find(pack), std::string::npos);
}

TEST_F(SecondaryTest, CompareStoresNamesEachDifference) {
  BackupNow();
  ASSERT_TRUE(SyncSecondary(*repo_, *secondary_, nullptr).ok());
  ASSERT_TRUE(secondary_->Put("index/extra", "x").ok());
  std::string pack = FirstPack(*primary_);
  ASSERT_TRUE(secondary_->Delete(pack).ok());
  auto diff = CompareStores(*primary_, *secondary_, CompareOptions{});
  ASSERT_TRUE(diff.ok());
  ASSERT_EQ(diff->size(), 2u);
  EXPECT_EQ((*diff)[0].name, pack);
  EXPECT_NE((*diff)[0].problem.find("missing on the secondary"), std::string::npos);
  EXPECT_EQ((*diff)[1].name, "index/extra");
  EXPECT_NE((*diff)[1].problem.find("only on the secondary"), std::string::npos);
}

TEST_F(SecondaryTest, TheSecondaryCanBeAnS3Bucket) {
  auto server = lifeboat::testing::S3TestServer::Start();
  if (!server.ok()) {
    GTEST_SKIP() << server.status();
  }
  auto s3 = storage::S3BlobStore::Open((*server)->StoreOptions("geo-secondary"));
  ASSERT_TRUE(s3.ok()) << s3.status();
  BackupNow();
  auto synced = SyncSecondary(*repo_, **s3, nullptr);
  ASSERT_TRUE(synced.ok()) << synced.status();
  auto diff = CompareStores(*primary_, **s3, CompareOptions{.read_data = true});
  ASSERT_TRUE(diff.ok()) << diff.status();
  EXPECT_TRUE(diff->empty());
  ASSERT_TRUE(primary_->Delete(FirstPack(*primary_)).ok());
  FallbackBlobStore store(*primary_, **s3);
  auto repo = OpenRepo(store);
  ASSERT_NE(repo, nullptr);
  auto restored =
      Restore(*repo, RestoreOptions{.point = "latest", .target = (dir_ / "out").string()});
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(CompareTrees(dir_ / "src", dir_ / "out/src"), "");
  EXPECT_EQ(store.repairs(), 1u);
}

}  // namespace
}  // namespace lifeboat::vault
