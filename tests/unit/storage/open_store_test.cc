#include "engines/storage/open_store.h"

#include <gtest/gtest.h>

#include "engines/storage/s3_blob_store.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::storage {
namespace {

TEST(ParseStorageUrlTest, AbsolutePathsAreLocal) {
  auto loc = ParseStorageUrl("/srv/vault");
  ASSERT_TRUE(loc.ok()) << loc.status();
  EXPECT_EQ(loc->path, "/srv/vault");
  EXPECT_FALSE(loc->s3.has_value());
  auto local = ParseStorageUrl("local:/srv/vault");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->path, "/srv/vault");
}

TEST(ParseStorageUrlTest, S3UrlsNameEndpointBucketAndPrefix) {
  auto loc = ParseStorageUrl("s3:http://127.0.0.1:9000/backups/site-a/prod/");
  ASSERT_TRUE(loc.ok()) << loc.status();
  ASSERT_TRUE(loc->s3.has_value());
  EXPECT_EQ(loc->s3->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(loc->s3->bucket, "backups");
  EXPECT_EQ(loc->s3->prefix, "site-a/prod");
  EXPECT_EQ(loc->s3->region, "us-east-1");
  EXPECT_TRUE(loc->s3->force_path_style);
  EXPECT_EQ(DescribeLocation(*loc), "s3:http://127.0.0.1:9000/backups/site-a/prod");

  auto v =
      ParseStorageUrl("s3:https://s3.eu-west-1.amazonaws.com/b1?region=eu-west-1&style=virtual");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->s3->bucket, "b1");
  EXPECT_EQ(v->s3->prefix, "");
  EXPECT_EQ(v->s3->region, "eu-west-1");
  EXPECT_FALSE(v->s3->force_path_style);
}

TEST(ParseStorageUrlTest, BadUrlsAreRejectedNamingTheUrl) {
  for (const char* url :
       {"relative/path", "", "s3:127.0.0.1/b", "s3:http://host", "s3:http://host/",
        "s3:http://key:secret@host/b", "s3:http://host/b?colour=red"}) {
    auto loc = ParseStorageUrl(url);
    EXPECT_EQ(loc.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(loc.status().message().find("storage URL \"" + std::string(url) + "\""),
              std::string::npos)
        << loc.status();
  }
}

TEST(ParseStorageUrlTest, CredentialsComeFromTheEnvironment) {
  ::setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env", 1);
  auto loc = ParseStorageUrl("s3:http://127.0.0.1:9/bucket");
  ASSERT_TRUE(loc.ok());
  S3CredentialsFromEnvironment(*loc);
  EXPECT_EQ(loc->s3->access_key_id, "AKIDENV");
  EXPECT_EQ(loc->s3->secret_access_key, "secret-from-env");
  EXPECT_EQ(DescribeLocation(*loc).find("secret"), std::string::npos);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
}

TEST(OpenStoreTest, OpensLocalDirectories) {
  lifeboat::testing::TempDir dir;
  StorageLocation loc;
  loc.path = (dir / "v").string();
  EXPECT_EQ(OpenStore(loc).status().code(), StatusCode::kNotFound);
  auto store = OpenStore(loc, OpenStoreOptions{.create = true});
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Put("config", "x").ok());
}

TEST(OpenStoreTest, S3OptionsAreCheckedBeforeAnyRequest) {
  StorageLocation loc;
  loc.s3 = S3Location{};
  loc.s3->endpoint = "ftp://host";
  loc.s3->bucket = "bucket";
  loc.s3->access_key_id = "a";
  loc.s3->secret_access_key = "b";
  EXPECT_EQ(OpenStore(loc).status().code(), StatusCode::kInvalidArgument);
  loc.s3->endpoint = "http://127.0.0.1:9";
  loc.s3->bucket = "Bad_Bucket";
  auto bad_bucket = OpenStore(loc);
  EXPECT_EQ(bad_bucket.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_bucket.status().message().find("Bad_Bucket"), std::string::npos);
  loc.s3->bucket = "bucket";
  loc.s3->secret_access_key = "";
  auto no_secret = OpenStore(loc);
  EXPECT_EQ(no_secret.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_secret.status().message().find("secretAccessKey"), std::string::npos);
}

TEST(S3TargetTest, PathAndVirtualHostStyle) {
  S3Options o;
  o.endpoint = "http://127.0.0.1:9000";
  o.bucket = "b1";
  auto path = ResolveS3Target(o, "vault/data/ab cd");
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path->base_url, "http://127.0.0.1:9000");
  EXPECT_EQ(path->host, "127.0.0.1:9000");
  EXPECT_EQ(path->path, "/b1/vault/data/ab%20cd");
  o.endpoint = "https://s3.eu-west-1.amazonaws.com";
  o.force_path_style = false;
  auto vhost = ResolveS3Target(o, "k");
  ASSERT_TRUE(vhost.ok());
  EXPECT_EQ(vhost->base_url, "https://b1.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(vhost->host, "b1.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(vhost->path, "/k");
  o.connect_to = "127.0.0.1:4443";
  EXPECT_EQ(ResolveS3Target(o, "k")->base_url, "https://127.0.0.1:4443");
  EXPECT_EQ(ResolveS3Target(o, "")->path, "/");
}

TEST(S3BlobStoreTest, UnreachableEndpointIsUnavailableAfterBoundedRetries) {
  S3Options o;
  o.endpoint = "http://127.0.0.1:1";  // nothing listens on port 1
  o.bucket = "bucket";
  o.credentials = AwsCredentials{"id", "secret-never-shown"};
  o.max_attempts = 3;
  o.backoff_base = std::chrono::milliseconds(1);
  auto store = S3BlobStore::Open(o);
  ASSERT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status();
  EXPECT_NE(store.status().message().find("after 3 attempts"), std::string::npos);
  EXPECT_EQ(store.status().message().find("secret-never-shown"), std::string::npos);
}

}  // namespace
}  // namespace lifeboat::storage
