#pragma once

// Where a vault lives, and opening it: a filesystem path or an S3 bucket. The CLI's --vault
// takes a URL (ParseStorageUrl); the Vault reconciler fills StorageLocation from the spec and
// the credentials Secret (keys accessKeyID / secretAccessKey).
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "engines/storage/blob_store.h"

namespace lifeboat::storage {

struct S3Location {
  std::string endpoint;  // "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000"
  std::string bucket;
  std::string prefix;  // key prefix inside the bucket, may be empty
  std::string region = "us-east-1";
  bool force_path_style = true;
  std::string access_key_id;
  std::string secret_access_key;
  int object_lock_days = 0;  // Object Lock retention for new objects, where the bucket has it
};

// Exactly one of `path` (an absolute directory) and `s3` is set.
struct StorageLocation {
  std::string path;
  std::optional<S3Location> s3;
};

// "/srv/vault" (or "local:/srv/vault") -> a path;
// "s3:http://127.0.0.1:9000/bucket/some/prefix" -> S3, path style;
// query parameters: region=eu-west-1, style=virtual|path.
// Credentials are never part of the URL. kInvalidArgument naming the URL otherwise.
StatusOr<StorageLocation> ParseStorageUrl(std::string_view url);

// Fills missing S3 credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the CLI).
void S3CredentialsFromEnvironment(StorageLocation& location);

// The URL form without secrets ("s3:http://127.0.0.1:9000/bucket/prefix", "/srv/vault").
std::string DescribeLocation(const StorageLocation& location);

struct OpenStoreOptions {
  bool create = false;           // create a missing local directory
  const Clock* clock = nullptr;  // S3 request signing time (tests inject skew)
};

StatusOr<std::unique_ptr<BlobStore>> OpenStore(const StorageLocation& location,
                                               const OpenStoreOptions& options = {});

}  // namespace lifeboat::storage
