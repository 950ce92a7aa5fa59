#include "engines/storage/local_blob_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

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

// Large blobs and ranges go through O_DIRECT in whole blocks (with the partial last block, an
// unaligned source and ranges partly in the page cache handled around it): every byte must
// come back as written.
TEST(LocalBlobStore, LargeBlobsRoundTripAtAnyOffset) {
  lifeboat::testing::TempDir dir;
  auto store = LocalBlobStore::Open(dir.path(), false);
  ASSERT_TRUE(store.ok());
  std::mt19937_64 rng(7);
  std::string bytes((9 << 20) + 1235, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  // Written from an address one byte past a boundary, with a size that is not a block multiple.
  std::string_view blob = std::string_view(bytes).substr(1);
  ASSERT_TRUE((*store)->Put("data/ab01", blob).ok());
  EXPECT_EQ(std::filesystem::file_size((*store)->PathOf("data/ab01")), blob.size());
  auto whole = (*store)->Get("data/ab01");
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  EXPECT_TRUE(*whole == blob);
  // A small read first puts a few pages in the page cache; the large ranges then start in it.
  auto small = (*store)->Get("data/ab01", {4095, 10000});
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(*small, blob.substr(4095, 10000));
  for (auto [offset, length] :
       std::vector<std::pair<uint64_t, uint64_t>>{{4095, (5 << 20) + 3},
                                                  {1, 1 << 20},
                                                  {(1 << 20) - 1, (4 << 20) + 4097},
                                                  {blob.size() - (2 << 20) - 7, (2 << 20) + 7}}) {
    auto got = (*store)->Get("data/ab01", {offset, length});
    ASSERT_TRUE(got.ok()) << offset << ": " << got.status().message();
    EXPECT_TRUE(*got == blob.substr(offset, length)) << "range at " << offset;
  }
  auto past = (*store)->Get("data/ab01", {blob.size() - 10, 2 << 20});
  EXPECT_FALSE(past.ok());
}

}  // namespace
}  // namespace lifeboat::storage
