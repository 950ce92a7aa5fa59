#include "engines/storage/faulty_blob_store.h"

#include <gtest/gtest.h>

#include "engines/storage/memory_blob_store.h"

namespace lifeboat::storage {
namespace {

TEST(FaultyBlobStore, FailsWithNoSpaceOnceTheBudgetIsSpent) {
  MemoryBlobStore inner;
  FaultyBlobStore store(inner, FaultPlan{.fail_after_bytes = 10});
  ASSERT_TRUE(store.Put("a", "12345").ok());
  Status s = store.Put("b", "123456");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("no space left"), std::string::npos);
  EXPECT_NE(s.message().find("b"), std::string::npos);
  EXPECT_EQ(inner.Stat("b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.Put("c", "1").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(store.failed_puts(), 1 + 0 + 1);
}

TEST(FaultyBlobStore, TornWriteLeavesATruncatedBlob) {
  MemoryBlobStore inner;
  FaultyBlobStore store(inner, FaultPlan{.fail_after_bytes = 4, .torn_write = true});
  EXPECT_FALSE(store.Put("data/p", "0123456789").ok());
  auto got = inner.Get("data/p");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "0123");
}

TEST(FaultyBlobStore, FailsGetsByPrefix) {
  MemoryBlobStore inner;
  ASSERT_TRUE(inner.Put("index/1", "x").ok());
  FaultyBlobStore store(inner, FaultPlan{.fail_gets_with_prefix = "index/"});
  EXPECT_EQ(store.Get("index/1").status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace lifeboat::storage
