#pragma once

// S3BlobStore: a BlobStore on an S3-compatible object store (AWS S3, MinIO, Ceph RGW, s3rver).
// HTTP(S) through cpprestsdk, kept inside s3_blob_store.cc; requests signed with SigV4
// (s3_signer.h).
//
// Put is put-if-absent with `If-None-Match: *` (AWS S3 since 2024, MinIO, the test server in
// tests/s3/): exactly one of several concurrent writers of a name wins. For servers without
// conditional writes, PutIfAbsent::kHeadThenPut checks with HEAD first; two writers racing
// between HEAD and PUT may then both succeed and the later one's content remains (the vault
// writes content-addressed files, so both carry the same bytes; only lock files would race).
//
// Blobs above `multipart_threshold` are sent as a multipart upload of `part_size` parts; any
// failure aborts the upload, so no partial object ever becomes visible. Requests are retried
// (exponential backoff with full jitter, at most `max_attempts`) on connection errors, 5xx,
// 429 and SlowDown; a PUT whose retry meets 412 compares the stored object with its data, so a
// retried upload neither fails spuriously nor stores anything twice.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/clock.h"
#include "engines/storage/blob_store.h"
#include "engines/storage/s3_signer.h"

namespace lifeboat::storage {

enum class PutIfAbsent { kConditionalHeader, kHeadThenPut };

struct S3Options {
  std::string endpoint = "https://s3.amazonaws.com";  // scheme://host[:port]
  std::string bucket;
  std::string prefix;  // key prefix inside the bucket ("" or "vaults/prod"), no leading '/'
  std::string region = "us-east-1";
  // Path style (endpoint/bucket/key) or virtual-host style (bucket.endpoint-host/key).
  bool force_path_style = true;
  // Connect here ("127.0.0.1:9000") instead of the URL's host while keeping the Host header,
  // like curl's --connect-to (private DNS, tests of virtual-host style on loopback).
  std::string connect_to;
  AwsCredentials credentials;
  PutIfAbsent put_if_absent = PutIfAbsent::kConditionalHeader;
  uint64_t multipart_threshold = 16 << 20;
  uint64_t part_size = 16 << 20;
  int list_page_size = 1000;  // ListObjectsV2 max-keys
  int max_attempts = 5;
  std::chrono::milliseconds backoff_base{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::seconds request_timeout{120};
  // Object Lock: when > 0 and the bucket has Object Lock enabled (Open asks), every Put carries
  // x-amz-object-lock-mode COMPLIANCE, a retain-until date this many days ahead and Content-MD5;
  // such objects cannot be deleted or overwritten before then, by anyone.
  int object_lock_days = 0;
  const Clock* clock = nullptr;  // signing time; default SystemClock()
};

// Counts of what the store sent (benchmarks report requests per GB).
struct S3Counters {
  uint64_t requests = 0;  // HTTP requests, retries included
  uint64_t retries = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

class S3BlobStore final : public BlobStore {
 public:
  // Checks the options, then lists the prefix once: a wrong key, a missing bucket or a skewed
  // clock fails here with the S3 error code and message. Detects Object Lock on the bucket.
  static StatusOr<std::unique_ptr<S3BlobStore>> Open(const S3Options& options);
  ~S3BlobStore() override;

  Status Put(std::string_view name, std::string_view data) override;
  using BlobStore::Get;
  StatusOr<std::string> Get(std::string_view name, ByteRange range) override;
  StatusOr<std::vector<BlobInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view name) override;
  StatusOr<BlobInfo> Stat(std::string_view name) override;
  std::string Describe() const override;

  // Whether the bucket has Object Lock enabled (Open detects it).
  bool object_lock_supported() const;
  S3Counters counters() const;

  class Impl;

 private:
  explicit S3BlobStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The "Host" and request path a request for `key` goes to ("" key: the bucket itself).
struct S3Target {
  std::string base_url;  // where to connect: scheme://host:port
  std::string host;      // Host header
  std::string path;      // URI-encoded path
};
StatusOr<S3Target> ResolveS3Target(const S3Options& options, std::string_view key);

}  // namespace lifeboat::storage
