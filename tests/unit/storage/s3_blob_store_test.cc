// S3BlobStore against the S3 test server on loopback: credentials, buckets, clock skew,
// connections cut mid-upload (a loopback proxy), retries that must not duplicate, and
// virtual-host style addressing.
#include "engines/storage/s3_blob_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/s3/s3_test_server.h"

namespace lifeboat::storage {
namespace {

using lifeboat::testing::CuttingProxy;
using lifeboat::testing::S3TestServer;

class S3BlobStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = S3TestServer::Start();
    if (started.ok()) {
      server_ = std::move(started).value();
    } else {
      skip_reason_ = started.status().ToString();
    }
  }
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override {
    if (server_ == nullptr) {
      GTEST_SKIP() << "S3 test server unavailable: " << skip_reason_;
    }
  }
  S3Options Options() const {
    static int next = 0;
    return server_->StoreOptions("unit-" + std::to_string(next++));
  }
  static std::string Blob(size_t size, uint32_t seed) {
    std::string data(size, '\0');
    for (size_t i = 0; i < size; ++i) {
      data[i] = static_cast<char>(((i + seed) * 2654435761u) >> 13);
    }
    return data;
  }

  static std::unique_ptr<S3TestServer> server_;
  static std::string skip_reason_;
};
std::unique_ptr<S3TestServer> S3BlobStoreTest::server_;
std::string S3BlobStoreTest::skip_reason_;

TEST_F(S3BlobStoreTest, WrongSecretIsUnauthenticatedWithTheS3Code) {
  S3Options o = Options();
  o.credentials.secret_access_key = "not-the-secret-0123";
  auto store = S3BlobStore::Open(o);
  ASSERT_EQ(store.status().code(), StatusCode::kUnauthenticated) << store.status();
  EXPECT_NE(store.status().message().find("SignatureDoesNotMatch"), std::string::npos);
  EXPECT_EQ(store.status().message().find("not-the-secret-0123"), std::string::npos);
}

TEST_F(S3BlobStoreTest, UnknownAccessKeyIsUnauthenticated) {
  S3Options o = Options();
  o.credentials.access_key_id = "nobody";
  auto store = S3BlobStore::Open(o);
  ASSERT_EQ(store.status().code(), StatusCode::kUnauthenticated) << store.status();
  EXPECT_NE(store.status().message().find("InvalidAccessKeyId"), std::string::npos);
}

TEST_F(S3BlobStoreTest, MissingBucketIsNotFoundNamingTheBucket) {
  S3Options o = Options();
  o.bucket = "no-such-bucket";
  auto store = S3BlobStore::Open(o);
  ASSERT_EQ(store.status().code(), StatusCode::kNotFound) << store.status();
  EXPECT_NE(store.status().message().find("\"no-such-bucket\""), std::string::npos);
  EXPECT_NE(store.status().message().find("NoSuchBucket"), std::string::npos);
}

TEST_F(S3BlobStoreTest, SkewedClockIsAFailedPreconditionSayingClockSkew) {
  FakeClock skewed(std::chrono::system_clock::now() - std::chrono::hours(1));
  S3Options o = Options();
  o.clock = &skewed;
  auto store = S3BlobStore::Open(o);
  ASSERT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status();
  EXPECT_NE(store.status().message().find("clock skew"), std::string::npos);
  EXPECT_NE(store.status().message().find("RequestTimeTooSkewed"), std::string::npos);
}

TEST_F(S3BlobStoreTest, UploadCutMidwayIsRetriedAndStoredOnce) {
  CuttingProxy proxy(server_->port(), 64 << 10, /*cuts=*/2);
  S3Options o = Options();
  o.endpoint = "http://127.0.0.1:" + std::to_string(proxy.port());
  auto store = S3BlobStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string data = Blob(1 << 20, 1);
  ASSERT_TRUE((*store)->Put("data/cut", data).ok());
  EXPECT_GE(proxy.cuts_done(), 1);
  EXPECT_GE((*store)->counters().retries, 1u);
  EXPECT_EQ(*(*store)->Get("data/cut"), data);
  auto listed = (*store)->List("");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].size, data.size());
}

TEST_F(S3BlobStoreTest, UploadThatNeverGetsThroughFailsAndLeavesNothing) {
  CuttingProxy proxy(server_->port(), 64 << 10, /*cuts=*/1000);
  S3Options o = Options();
  o.endpoint = "http://127.0.0.1:" + std::to_string(proxy.port());
  o.max_attempts = 3;
  auto store = S3BlobStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  Status s = (*store)->Put("data/never", Blob(1 << 20, 2));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("after 3 attempts"), std::string::npos) << s;
  EXPECT_EQ((*store)->Stat("data/never").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE((*store)->List("")->empty());
}

TEST_F(S3BlobStoreTest, MultipartUploadCutMidwayCompletesOnceAndAbortsFailures) {
  S3Options o = Options();
  o.multipart_threshold = 256 << 10;
  o.part_size = 256 << 10;
  CuttingProxy flaky(server_->port(), 300 << 10, /*cuts=*/2);
  o.endpoint = "http://127.0.0.1:" + std::to_string(flaky.port());
  auto store = S3BlobStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string data = Blob((1 << 20) + 12345, 3);
  ASSERT_TRUE((*store)->Put("data/multi", data).ok());
  EXPECT_GE(flaky.cuts_done(), 1);
  EXPECT_EQ(*(*store)->Get("data/multi"), data);
  EXPECT_EQ((*store)->List("")->size(), 1u);

  CuttingProxy broken(server_->port(), 100 << 10, /*cuts=*/1000);  // less than a part
  S3Options b = o;
  b.endpoint = "http://127.0.0.1:" + std::to_string(broken.port());
  b.max_attempts = 2;
  auto store2 = S3BlobStore::Open(b);
  ASSERT_TRUE(store2.ok()) << store2.status();
  Status s = (*store2)->Put("data/broken", data);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
  EXPECT_EQ((*store2)->Stat("data/broken").status().code(), StatusCode::kNotFound);
  // The aborted upload left no parts behind in the server's upload area.
  size_t leftover_parts = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(server_->directory())) {
    if (entry.is_regular_file() && entry.path().string().find("uploads") != std::string::npos) {
      ++leftover_parts;
    }
  }
  EXPECT_EQ(leftover_parts, 0u);
}

TEST_F(S3BlobStoreTest, RetryAfterALostAnswerIsNotMistakenForAnExistingBlob) {
  CuttingProxy proxy(server_->port(), 0, /*cuts=*/0, CuttingProxy::Mode::kOnFirstResponse);
  S3Options o = Options();
  o.endpoint = "http://127.0.0.1:" + std::to_string(proxy.port());
  auto store = S3BlobStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string data = Blob(100 << 10, 4);
  proxy.Arm(1);  // the PUT is stored, its answer is lost; the retry meets 412
  Status put = (*store)->Put("data/lost-answer", data);
  ASSERT_TRUE(put.ok()) << put;
  EXPECT_EQ(proxy.cuts_done(), 1);  // resent by our retry or by cpprestsdk's own on reuse
  EXPECT_EQ(*(*store)->Get("data/lost-answer"), data);
  EXPECT_EQ((*store)->List("")->size(), 1u);
  // A different blob under the same name is still refused after a lost answer.
  proxy.Arm(1);
  EXPECT_EQ((*store)->Put("data/lost-answer", Blob(100 << 10, 5)).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(*(*store)->Get("data/lost-answer"), data);
}

TEST_F(S3BlobStoreTest, VirtualHostStyleAddressesTheBucketByHost) {
  S3Options o = Options();
  o.force_path_style = false;
  o.endpoint = "http://s3.amazonaws.com:" + std::to_string(server_->port());
  o.connect_to = "127.0.0.1:" + std::to_string(server_->port());
  auto store = S3BlobStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Put("index/v1", "virtual").ok());
  EXPECT_EQ(*(*store)->Get("index/v1"), "virtual");
  EXPECT_EQ((*store)->Put("index/v1", "again").code(), StatusCode::kAlreadyExists);
  auto listed = (*store)->List("index/");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  // The same object through path style: both address the same bucket and key.
  S3Options p = o;
  p.force_path_style = true;
  p.endpoint = server_->endpoint();
  p.connect_to.clear();
  auto path_store = S3BlobStore::Open(p);
  ASSERT_TRUE(path_store.ok());
  EXPECT_EQ(*(*path_store)->Get("index/v1"), "virtual");
}

TEST_F(S3BlobStoreTest, HeadThenPutModeIsPutIfAbsentWithoutConditionalWrites) {
  S3Options o = Options();
  o.put_if_absent = PutIfAbsent::kHeadThenPut;
  auto store = S3BlobStore::Open(o);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Put("config", "one").ok());
  EXPECT_EQ((*store)->Put("config", "two").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(*(*store)->Get("config"), "one");
}

TEST_F(S3BlobStoreTest, ObjectLockIsDetectedAsUnsupportedOnS3rver) {
  S3Options o = Options();
  o.object_lock_days = 7;
  auto store = S3BlobStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_FALSE((*store)->object_lock_supported());
  ASSERT_TRUE((*store)->Put("snapshots/p1", "point").ok());
}

TEST_F(S3BlobStoreTest, SlowDownIsRetriedWithBackoffAndReportedWhenItPersists) {
  auto store = S3BlobStore::Open(Options());
  ASSERT_TRUE(store.ok());
  auto slow_down = [&](int n) { ASSERT_TRUE(server_->InjectSlowDowns(n).ok()); };
  slow_down(2);
  ASSERT_TRUE((*store)->Put("data/slow", "payload").ok());
  EXPECT_EQ((*store)->counters().retries, 2u);
  EXPECT_EQ(*(*store)->Get("data/slow"), "payload");

  slow_down(100);
  auto got = (*store)->Get("data/slow");
  slow_down(0);
  ASSERT_EQ(got.status().code(), StatusCode::kUnavailable) << got.status();
  EXPECT_NE(got.status().message().find("503 SlowDown"), std::string::npos) << got.status();
  EXPECT_NE(got.status().message().find("after 5 attempts"), std::string::npos) << got.status();
}

TEST_F(S3BlobStoreTest, ObjectLockHeadersProtectWritesWhereTheBucketHasObjectLock) {
  S3Options o = Options();
  o.bucket = S3TestServer::kLockedBucket;
  o.object_lock_days = 1;
  o.multipart_threshold = 256 << 10;
  o.part_size = 256 << 10;
  auto store = S3BlobStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->object_lock_supported());
  std::string big = Blob(600 << 10, 9);
  ASSERT_TRUE((*store)->Put("snapshots/locked", "point").ok());
  ASSERT_TRUE((*store)->Put("data/locked-multipart", big).ok());
  for (const char* name : {"snapshots/locked", "data/locked-multipart"}) {
    Status refused = (*store)->Delete(name);
    EXPECT_EQ(refused.code(), StatusCode::kPermissionDenied) << refused;
    EXPECT_NE(refused.message().find("AccessDenied"), std::string::npos) << refused;
  }
  EXPECT_EQ(*(*store)->Get("data/locked-multipart"), big);
  // Without object_lock_days the same bucket takes plain writes that can be deleted.
  o.object_lock_days = 0;
  auto plain = S3BlobStore::Open(o);
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE((*plain)->Put("snapshots/plain", "point").ok());
  EXPECT_TRUE((*plain)->Delete("snapshots/plain").ok());
}

TEST_F(S3BlobStoreTest, CountersCountRequestsAndBytes) {
  auto store = S3BlobStore::Open(Options());
  ASSERT_TRUE(store.ok());
  uint64_t before = (*store)->counters().requests;
  ASSERT_TRUE((*store)->Put("data/c", std::string(1000, 'c')).ok());
  ASSERT_TRUE((*store)->Get("data/c").ok());
  S3Counters c = (*store)->counters();
  EXPECT_EQ(c.requests, before + 2);
  EXPECT_GE(c.bytes_sent, 1000u);
  EXPECT_GE(c.bytes_received, 1000u);
}

}  // namespace
}  // namespace lifeboat::storage
