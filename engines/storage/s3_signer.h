#pragma once

// AWS Signature Version 4 for S3 requests (header-based: the Authorization header), with
// OpenSSL's SHA-256 and HMAC. Pure functions, checked against AWS's published examples in
// tests/unit/storage/s3_signer_test.cc.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lifeboat::storage {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
};

// One request as it goes on the wire, in the parts SigV4 signs.
struct SigningRequest {
  std::string method;         // "GET"
  std::string canonical_uri;  // the path as sent, already URI-encoded ("/bucket/data/ab")
  // Query parameters, not encoded ("prefix" -> "data/"); a parameter without a value ("uploads")
  // has an empty value.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign (names in any case); must include host and x-amz-date.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_hash;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct SigningScope {
  std::string amz_date;  // "20130524T000000Z"
  std::string region;    // "us-east-1"
  std::string service = "s3";
};

// S3's URI encoding: unreserved characters (A-Za-z0-9-._~) stay, everything else is %XX
// (upper-case hex); '/' stays when `keep_slash`.
std::string AwsUriEncode(std::string_view text, bool keep_slash);
// The canonical query string: encoded, sorted by name then value, "a=1&b=".
std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);
std::string CanonicalRequest(const SigningRequest& request);
std::string StringToSign(const SigningRequest& request, const SigningScope& scope);
// The value of the Authorization header.
std::string SignRequest(const SigningRequest& request, const SigningScope& scope,
                        const AwsCredentials& credentials);

// Lower-case hex of SHA-256 / of HMAC-SHA-256; raw HMAC bytes.
std::string Sha256Hex(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);
std::string HexEncode(std::string_view bytes);
// Base64 of the MD5 of `data` (the Content-MD5 header Object Lock writes require).
std::string Md5Base64(std::string_view data);

}  // namespace lifeboat::storage
