#include "engines/storage/local_blob_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace lifeboat::storage {
namespace {

TEST(LocalBlobStore, FansOutByTheFirstTwoCharacters) {
  lifeboat::testing::TempDir dir;
  auto store = LocalBlobStore::Open(dir.path(), false);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Put("data/3f9a00", "x").ok());
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "data" / "3f" / "3f9a00"));
  EXPECT_EQ((*store)->PathOf("data/3f9a00"), dir.path() / "data" / "3f" / "3f9a00");
}

TEST(LocalBlobStore, IgnoresLeftoverTemporaryFiles) {
  lifeboat::testing::TempDir dir;
  auto store = LocalBlobStore::Open(dir.path(), false);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Put("data/aa11", "x").ok());
  // What a crash between write and link leaves behind.
  std::ofstream(dir.path() / "data" / "aa" / ".tmp-deadbeef") << "torn";
  auto list = (*store)->List("data/");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "data/aa11");
}

TEST(LocalBlobStore, OpenWithoutCreateNamesTheMissingDirectory) {
  lifeboat::testing::TempDir dir;
  auto store = LocalBlobStore::Open(dir.path() / "missing", false);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kNotFound);
  EXPECT_NE(store.status().message().find("missing"), std::string::npos);
}

TEST(LocalBlobStore, BlobFilesAreReadOnly) {
  lifeboat::testing::TempDir dir;
  auto store = LocalBlobStore::Open(dir.path(), false);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Put("snapshots/ab", "x").ok());
  auto perms = std::filesystem::status((*store)->PathOf("snapshots/ab")).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::owner_write, std::filesystem::perms::none);
}

}  // namespace
}  // namespace lifeboat::storage
