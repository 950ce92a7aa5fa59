#include "engines/storage/open_store.h"

#include <cstdlib>

#include "engines/storage/local_blob_store.h"
#include "engines/storage/s3_blob_store.h"

namespace lifeboat::storage {

namespace {

constexpr std::string_view kS3Scheme = "s3:";
constexpr std::string_view kLocalScheme = "local:";

Status BadUrl(std::string_view url, const std::string& why) {
  return InvalidArgumentError("storage URL \"" + std::string(url) + "\": " + why);
}

}  // namespace

StatusOr<StorageLocation> ParseStorageUrl(std::string_view url) {
  StorageLocation location;
  if (url.substr(0, kLocalScheme.size()) == kLocalScheme) {
    url.remove_prefix(kLocalScheme.size());
  } else if (url.substr(0, kS3Scheme.size()) == kS3Scheme) {
    std::string_view rest = url.substr(kS3Scheme.size());
    std::string_view query;
    if (size_t q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    size_t scheme_end = rest.find("://");
    if (scheme_end == std::string_view::npos) {
      return BadUrl(url, "expected s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]");
    }
    size_t path_start = rest.find('/', scheme_end + 3);
    if (path_start == std::string_view::npos || path_start + 1 >= rest.size()) {
      return BadUrl(url, "no bucket: expected s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]");
    }
    S3Location s3;
    s3.endpoint = std::string(rest.substr(0, path_start));
    std::string_view path = rest.substr(path_start + 1);
    size_t slash = path.find('/');
    s3.bucket = std::string(path.substr(0, slash));
    if (slash != std::string_view::npos) {
      s3.prefix = std::string(path.substr(slash + 1));
      while (!s3.prefix.empty() && s3.prefix.back() == '/') {
        s3.prefix.pop_back();
      }
    }
    if (s3.endpoint.find('@') != std::string::npos) {
      return BadUrl(url,
                    "credentials do not belong in the URL: set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY (or the Vault's credentials Secret)");
    }
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view param = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      size_t eq = param.find('=');
      std::string_view name = param.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? "" : param.substr(eq + 1);
      if (name == "region" && !value.empty()) {
        s3.region = std::string(value);
      } else if (name == "style" && (value == "path" || value == "virtual")) {
        s3.force_path_style = value == "path";
      } else {
        return BadUrl(url, "unknown parameter \"" + std::string(param) +
                               "\" (known: region=NAME, style=path|virtual)");
      }
    }
    location.s3 = std::move(s3);
    return location;
  }
  if (url.empty() || url.front() != '/') {
    return BadUrl(url, "expected an absolute path or s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]");
  }
  location.path = std::string(url);
  return location;
}

void S3CredentialsFromEnvironment(StorageLocation& location) {
  if (!location.s3) {
    return;
  }
  if (location.s3->access_key_id.empty()) {
    if (const char* v = std::getenv("AWS_ACCESS_KEY_ID"); v != nullptr) {
      location.s3->access_key_id = v;
    }
  }
  if (location.s3->secret_access_key.empty()) {
    if (const char* v = std::getenv("AWS_SECRET_ACCESS_KEY"); v != nullptr) {
      location.s3->secret_access_key = v;
    }
  }
}

std::string DescribeLocation(const StorageLocation& location) {
  if (!location.s3) {
    return location.path;
  }
  const S3Location& s3 = *location.s3;
  return "s3:" + s3.endpoint + "/" + s3.bucket + (s3.prefix.empty() ? "" : "/" + s3.prefix);
}

StatusOr<std::unique_ptr<BlobStore>> OpenStore(const StorageLocation& location,
                                               const OpenStoreOptions& options) {
  if (!location.s3) {
    if (location.path.empty()) {
      return InvalidArgumentError("storage location: neither a path nor S3 is set");
    }
    ASSIGN_OR_RETURN(auto store, LocalBlobStore::Open(location.path, options.create));
    return std::unique_ptr<BlobStore>(std::move(store));
  }
  const S3Location& s3 = *location.s3;
  S3Options o;
  o.endpoint = s3.endpoint;
  o.bucket = s3.bucket;
  o.prefix = s3.prefix;
  o.region = s3.region;
  o.force_path_style = s3.force_path_style;
  o.credentials = AwsCredentials{s3.access_key_id, s3.secret_access_key};
  o.object_lock_days = s3.object_lock_days;
  o.clock = options.clock;
  ASSIGN_OR_RETURN(auto store, S3BlobStore::Open(o));
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace lifeboat::storage
