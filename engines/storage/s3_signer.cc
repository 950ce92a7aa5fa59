#include "engines/storage/s3_signer.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>

namespace lifeboat::storage {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Trims and collapses runs of spaces inside a header value, as SigV4 requires.
std::string CanonicalHeaderValue(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) {
      out.push_back(' ');
      space = false;
    }
    out.push_back(c);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> SortedHeaders(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::pair<std::string, std::string>> sorted;
  sorted.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    sorted.emplace_back(Lower(name), CanonicalHeaderValue(value));
  }
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

std::string SignedHeaderNames(const std::vector<std::pair<std::string, std::string>>& sorted) {
  std::string names;
  for (const auto& [name, value] : sorted) {
    if (!names.empty()) {
      names.push_back(';');
    }
    names += name;
  }
  return names;
}

std::string Scope(const SigningScope& scope) {
  return scope.amz_date.substr(0, 8) + "/" + scope.region + "/" + scope.service + "/aws4_request";
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  int ok = EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  assert(ok == 1);
  (void)ok;
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  unsigned char* result =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &length);
  assert(result != nullptr);
  (void)result;
  return std::string(reinterpret_cast<const char*>(mac.data()), length);
}

std::string Md5Base64(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  int ok = EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_md5(), nullptr);
  assert(ok == 1);
  (void)ok;
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> encoded{};
  int n = EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(length));
  return std::string(reinterpret_cast<const char*>(encoded.data()), static_cast<size_t>(n));
}

std::string AwsUriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(AwsUriEncode(name, false), AwsUriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) {
      out.push_back('&');
    }
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string CanonicalRequest(const SigningRequest& request) {
  auto headers = SortedHeaders(request.headers);
  std::string out = request.method + "\n" + request.canonical_uri + "\n" +
                    CanonicalQueryString(request.query) + "\n";
  for (const auto& [name, value] : headers) {
    out += name + ":" + value + "\n";
  }
  out += "\n" + SignedHeaderNames(headers) + "\n" + request.payload_hash;
  return out;
}

std::string StringToSign(const SigningRequest& request, const SigningScope& scope) {
  return std::string(kAlgorithm) + "\n" + scope.amz_date + "\n" + Scope(scope) + "\n" +
         Sha256Hex(CanonicalRequest(request));
}

std::string SignRequest(const SigningRequest& request, const SigningScope& scope,
                        const AwsCredentials& credentials) {
  std::string key = HmacSha256("AWS4" + credentials.secret_access_key, scope.amz_date.substr(0, 8));
  key = HmacSha256(key, scope.region);
  key = HmacSha256(key, scope.service);
  key = HmacSha256(key, "aws4_request");
  std::string signature = HexEncode(HmacSha256(key, StringToSign(request, scope)));
  return std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" + Scope(scope) +
         ",SignedHeaders=" + SignedHeaderNames(SortedHeaders(request.headers)) +
         ",Signature=" + signature;
}

}  // namespace lifeboat::storage
