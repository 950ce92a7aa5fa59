// The BlobStore contract (engines/storage/blob_store.h), run on every implementation.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <thread>

#include "engines/storage/faulty_blob_store.h"
#include "engines/storage/local_blob_store.h"
#include "engines/storage/memory_blob_store.h"
#include "engines/storage/s3_blob_store.h"
#include "tests/s3/s3_test_server.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::storage {
namespace {

struct LocalFactory {
  lifeboat::testing::TempDir dir;
  std::unique_ptr<BlobStore> Make() {
    auto store = LocalBlobStore::Open(dir.path() / "vault", /*create=*/true);
    EXPECT_TRUE(store.ok()) << store.status();
    return std::move(store).value();
  }
};

struct MemoryFactory {
  std::unique_ptr<BlobStore> Make() { return std::make_unique<MemoryBlobStore>(); }
};

// A FaultyBlobStore without faults must behave exactly like the store it wraps.
struct FaultyFactory {
  MemoryBlobStore inner;
  std::unique_ptr<BlobStore> Make() { return std::make_unique<FaultyBlobStore>(inner); }
};

// S3BlobStore against the S3 test server (one per process, a fresh prefix per test), with
// small multipart parts and listing pages so both paths run.
struct S3Factory {
  std::unique_ptr<BlobStore> Make() {
    // Stopped (and its directory removed) when the test binary exits.
    static StatusOr<std::unique_ptr<lifeboat::testing::S3TestServer>> server =
        lifeboat::testing::S3TestServer::Start();
    if (!server.ok()) {
      std::cerr << "S3 conformance skipped: " << server.status() << "\n";
      return nullptr;
    }
    static std::atomic<int> next{0};
    S3Options options = (*server)->StoreOptions("conformance-" + std::to_string(next++));
    options.multipart_threshold = 1 << 20;
    options.part_size = 1 << 20;
    options.list_page_size = 2;
    auto store = S3BlobStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::unique_ptr<BlobStore>(std::move(store).value()) : nullptr;
  }
};

template <typename Factory>
class BlobStoreConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = factory_.Make();
    if (store_ == nullptr) {
      GTEST_SKIP() << "this store is not available here (reason on stderr)";
    }
  }
  Factory factory_;
  std::unique_ptr<BlobStore> store_;
};

using Implementations = ::testing::Types<LocalFactory, MemoryFactory, FaultyFactory, S3Factory>;
TYPED_TEST_SUITE(BlobStoreConformance, Implementations);

TYPED_TEST(BlobStoreConformance, PutThenGetReturnsTheSameBytes) {
  std::string data("hello\0world", 11);
  ASSERT_TRUE(this->store_->Put("data/ab/abcdef", data).ok());
  auto got = this->store_->Get("data/ab/abcdef");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, data);
}

TYPED_TEST(BlobStoreConformance, EmptyBlobRoundTrips) {
  ASSERT_TRUE(this->store_->Put("empty", "").ok());
  auto got = this->store_->Get("empty");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "");
  auto info = this->store_->Stat("empty");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 0u);
}

TYPED_TEST(BlobStoreConformance, PutIsPutIfAbsent) {
  ASSERT_TRUE(this->store_->Put("config", "first").ok());
  Status again = this->store_->Put("config", "second");
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again;
  EXPECT_EQ(*this->store_->Get("config"), "first");
}

TYPED_TEST(BlobStoreConformance, ConcurrentPutsOfOneNameHaveExactlyOneWinner) {
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (this->store_->Put("locks/race", "writer-" + std::to_string(i)).ok()) {
        ++winners;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(winners.load(), 1);
  auto got = this->store_->Get("locks/race");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->rfind("writer-", 0), 0u);
}

TYPED_TEST(BlobStoreConformance, GetReadsByteRanges) {
  ASSERT_TRUE(this->store_->Put("data/x1", "0123456789").ok());
  EXPECT_EQ(*this->store_->Get("data/x1", {3, 4}), "3456");
  EXPECT_EQ(*this->store_->Get("data/x1", {7, std::nullopt}), "789");
  EXPECT_EQ(*this->store_->Get("data/x1", {10, 0}), "");
  EXPECT_EQ(this->store_->Get("data/x1", {8, 5}).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(this->store_->Get("data/x1", {11, std::nullopt}).status().code(),
            StatusCode::kOutOfRange);
}

// GetInto: the same bytes and errors as Get, placed somewhere in the caller's aligned space.
TYPED_TEST(BlobStoreConformance, GetIntoReadsByteRanges) {
  std::string big((3 << 20) + 5, '\0');
  for (size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>((i * 2654435761u) >> 11);
  }
  ASSERT_TRUE(this->store_->Put("data/into", big).ok());
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  const size_t capacity = ReadSpace(big.size());
  std::unique_ptr<char, Free> space(static_cast<char*>(std::aligned_alloc(kReadAlign, capacity)));
  for (auto [offset, length] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, big.size()}, {3, 4}, {4097, (2 << 20) + 1}, {big.size() - 9, 9}, {17, 0}}) {
    auto at = this->store_->GetInto("data/into", offset, length, space.get());
    ASSERT_TRUE(at.ok()) << offset << ": " << at.status();
    ASSERT_GE(*at, space.get());
    ASSERT_LE(*at + length, space.get() + ReadSpace(length));
    EXPECT_TRUE(std::string_view(*at, length) == std::string_view(big).substr(offset, length))
        << "range at " << offset;
  }
  EXPECT_EQ(this->store_->GetInto("data/into", big.size() - 2, 5, space.get()).status().code(),
            StatusCode::kOutOfRange);
  EXPECT_EQ(this->store_->GetInto("data/none", 0, 1, space.get()).status().code(),
            StatusCode::kNotFound);
}

TYPED_TEST(BlobStoreConformance, MissingBlobsAreNotFound) {
  EXPECT_EQ(this->store_->Get("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->store_->Stat("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->store_->Delete("nope").code(), StatusCode::kNotFound);
}

TYPED_TEST(BlobStoreConformance, ListFiltersByPrefixAndSorts) {
  for (const char* name : {"snapshots/b2", "data/ff01", "data/0a02", "index/77", "snapshots/a1"}) {
    ASSERT_TRUE(this->store_->Put(name, name).ok());
  }
  auto data = this->store_->List("data/");
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->size(), 2u);
  EXPECT_EQ((*data)[0].name, "data/0a02");
  EXPECT_EQ((*data)[0].size, 9u);
  EXPECT_EQ((*data)[1].name, "data/ff01");
  auto snaps = this->store_->List("snapshots/a");
  ASSERT_TRUE(snaps.ok());
  ASSERT_EQ(snaps->size(), 1u);
  EXPECT_EQ((*snaps)[0].name, "snapshots/a1");
  auto all = this->store_->List("");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 5u);
  auto none = this->store_->List("keys/");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TYPED_TEST(BlobStoreConformance, DeleteRemovesAndFreesTheName) {
  ASSERT_TRUE(this->store_->Put("index/01", "a").ok());
  ASSERT_TRUE(this->store_->Delete("index/01").ok());
  EXPECT_EQ(this->store_->Get("index/01").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(this->store_->List("index/")->empty());
  ASSERT_TRUE(this->store_->Put("index/01", "b").ok());
  EXPECT_EQ(*this->store_->Get("index/01"), "b");
}

TYPED_TEST(BlobStoreConformance, StatReportsSize) {
  ASSERT_TRUE(this->store_->Put("keys/k1", std::string(1000, 'k')).ok());
  auto info = this->store_->Stat("keys/k1");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->name, "keys/k1");
  EXPECT_EQ(info->size, 1000u);
}

TYPED_TEST(BlobStoreConformance, RejectsBadNamesNamingThem) {
  for (const char* name : {"", "../escape", "data//x", "/abs", "data/.hidden", "a b", "x/"}) {
    Status s = this->store_->Put(name, "x");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "name=" << name;
    EXPECT_NE(s.message().find("invalid blob name"), std::string::npos) << s;
  }
  EXPECT_EQ(this->store_->Get("../x").status().code(), StatusCode::kInvalidArgument);
}

TYPED_TEST(BlobStoreConformance, LargeBlobRoundTrips) {
  std::string big(5 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  ASSERT_TRUE(this->store_->Put("data/big", big).ok());
  EXPECT_EQ(*this->store_->Get("data/big"), big);
  EXPECT_EQ(*this->store_->Get("data/big", {big.size() - 16, 16}), big.substr(big.size() - 16));
}

TYPED_TEST(BlobStoreConformance, ShortNamesWork) {
  ASSERT_TRUE(this->store_->Put("a", "1").ok());
  ASSERT_TRUE(this->store_->Put("d/b", "2").ok());
  auto all = this->store_->List("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "a");
  EXPECT_EQ((*all)[1].name, "d/b");
}

}  // namespace
}  // namespace lifeboat::storage
