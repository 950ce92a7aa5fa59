// S3BlobStore over cpprestsdk's http_client. cpprestsdk types stay in this file (STYLE.md §4):
// http_client gives HTTP/1.1 keep-alive pools, TLS and timeouts; what S3 needs on top (SigV4,
// the exact Host header, raw encoded paths) it lets us set, so raw sockets were not worth it.
#include "engines/storage/s3_blob_store.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace lifeboat::storage {

namespace {

using web::http::http_request;
using web::http::http_response;
using web::http::client::http_client;
using web::http::client::http_client_config;

constexpr uint64_t kMaxParts = 10000;
constexpr uint64_t kMaxPartSize = 5ULL << 30;
// User metadata naming the write that stored an object (see WrittenByUs).
const std::string kPutTagHeader = "x-amz-meta-lifeboat-put";
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Endpoint {
  std::string scheme;  // "http" or "https"
  std::string host;
  int port = 0;
  bool default_port = true;
};

StatusOr<Endpoint> ParseEndpoint(const std::string& endpoint) {
  Endpoint e;
  size_t scheme_end = endpoint.find("://");
  if (scheme_end == std::string::npos) {
    return InvalidArgumentError("s3 endpoint \"" + endpoint +
                                "\": needs a scheme (http:// or https://)");
  }
  e.scheme = endpoint.substr(0, scheme_end);
  if (e.scheme != "http" && e.scheme != "https") {
    return InvalidArgumentError("s3 endpoint \"" + endpoint + "\": scheme must be http or https");
  }
  std::string rest = endpoint.substr(scheme_end + 3);
  while (!rest.empty() && rest.back() == '/') {
    rest.pop_back();
  }
  if (rest.empty() || rest.find('/') != std::string::npos || rest.find('@') != std::string::npos) {
    return InvalidArgumentError("s3 endpoint \"" + endpoint +
                                "\": must be scheme://host[:port] without a path");
  }
  e.port = e.scheme == "https" ? 443 : 80;
  size_t colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']') == std::string::npos) {
    std::string port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); })) {
      return InvalidArgumentError("s3 endpoint \"" + endpoint + "\": bad port \"" + port + "\"");
    }
    int value = std::stoi(port);
    if (value <= 0 || value > 65535) {
      return InvalidArgumentError("s3 endpoint \"" + endpoint + "\": bad port " + port);
    }
    e.default_port = value == e.port;
    e.port = value;
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) {
    return InvalidArgumentError("s3 endpoint \"" + endpoint + "\": no host");
  }
  e.host = rest;
  return e;
}

// S3 bucket naming rules (3-63 of a-z 0-9 . -, starting and ending with a letter or digit).
Status ValidateBucket(const std::string& bucket) {
  auto ok_char = [](unsigned char c) {
    return std::islower(c) != 0 || std::isdigit(c) != 0 || c == '.' || c == '-';
  };
  if (bucket.size() < 3 || bucket.size() > 63 ||
      !std::all_of(bucket.begin(), bucket.end(), ok_char) || bucket.front() == '.' ||
      bucket.front() == '-' || bucket.back() == '.' || bucket.back() == '-') {
    return InvalidArgumentError("s3 bucket \"" + bucket +
                                "\": must be 3-63 characters of a-z, 0-9, '.' and '-'");
  }
  return OkStatus();
}

std::string NormalizePrefix(std::string prefix) {
  while (!prefix.empty() && prefix.front() == '/') {
    prefix.erase(prefix.begin());
  }
  while (!prefix.empty() && prefix.back() == '/') {
    prefix.pop_back();
  }
  return prefix;
}

std::string AmzDate(Clock::TimePoint t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string XmlUnescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out.push_back(text[i]);
      continue;
    }
    size_t semi = text.find(';', i);
    if (semi == std::string_view::npos) {
      out.push_back('&');
      continue;
    }
    std::string_view entity = text.substr(i + 1, semi - i - 1);
    if (entity == "amp") {
      out.push_back('&');
    } else if (entity == "lt") {
      out.push_back('<');
    } else if (entity == "gt") {
      out.push_back('>');
    } else if (entity == "quot") {
      out.push_back('"');
    } else if (entity == "apos") {
      out.push_back('\'');
    } else if (entity.size() > 1 && entity[0] == '#') {
      bool hex = entity.size() > 2 && (entity[1] == 'x' || entity[1] == 'X');
      unsigned long code =
          std::strtoul(std::string(entity.substr(hex ? 2 : 1)).c_str(), nullptr, hex ? 16 : 10);
      if (code < 0x80) {
        out.push_back(static_cast<char>(code));
      } else if (code < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (code >> 6)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
      } else if (code < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (code >> 12)));
        out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
      } else {
        out.push_back(static_cast<char>(0xF0 | (code >> 18)));
        out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
      }
    } else {
      out.append(text.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

// The text of the first <tag>...</tag> in `xml` at or after `from`; nullopt if absent.
std::optional<std::string> XmlTag(std::string_view xml, std::string_view tag, size_t from = 0) {
  std::string open = "<" + std::string(tag) + ">";
  std::string close = "</" + std::string(tag) + ">";
  size_t begin = xml.find(open, from);
  if (begin == std::string_view::npos) {
    return std::nullopt;
  }
  begin += open.size();
  size_t end = xml.find(close, begin);
  if (end == std::string_view::npos) {
    return std::nullopt;
  }
  return XmlUnescape(xml.substr(begin, end - begin));
}

struct Response {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  int attempts = 0;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Request {
  std::string method;
  std::string key;  // full object key; empty for the bucket itself
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;  // signed, besides host/x-amz-*
  std::string_view body;
  std::string body_sha256;  // hex; computed when empty
  std::string what;         // for messages: "PUT data/ab" (never a secret)
};

bool Retryable(int status, const std::string& code) {
  return status == 500 || status == 502 || status == 503 || status == 504 || status == 429 ||
         code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
         code == "ConditionalRequestConflict" || code == "OperationAborted";
}

}  // namespace

class S3BlobStore::Impl {
 public:
  Impl(S3Options options, Endpoint endpoint, S3Target bucket_target)
      : options_(std::move(options)),
        endpoint_(std::move(endpoint)),
        prefix_(NormalizePrefix(options_.prefix)),
        clock_(options_.clock != nullptr ? *options_.clock : SystemClock()),
        client_(utility::conversions::to_string_t(bucket_target.base_url), MakeConfig()),
        rng_(std::random_device{}()) {}

  http_client_config MakeConfig() const {
    http_client_config config;
    config.set_timeout(
        std::chrono::duration_cast<std::chrono::microseconds>(options_.request_timeout));
    config.set_chunksize(1 << 20);
    return config;
  }

  std::string Key(std::string_view name) const {
    return prefix_.empty() ? std::string(name) : prefix_ + "/" + std::string(name);
  }
  std::string Where() const {
    return "s3:" + options_.endpoint + "/" + options_.bucket + (prefix_.empty() ? "" : "/") +
           prefix_;
  }

  // Maps an S3 error response to a Status carrying the S3 code and message.
  Status ErrorStatus(const Request& req, const Response& resp) const {
    std::string code = XmlTag(resp.body, "Code").value_or("");
    std::string message = XmlTag(resp.body, "Message").value_or("");
    std::string text = Where() + ": " + req.what + ": HTTP " + std::to_string(resp.status);
    if (!code.empty()) {
      text += " " + code;
    }
    if (!message.empty()) {
      text += ": " + message;
    }
    if (code == "NoSuchBucket") {
      return NotFoundError("s3 bucket \"" + options_.bucket + "\" does not exist (" + text + ")");
    }
    if (code == "RequestTimeTooSkewed") {
      return FailedPreconditionError(
          "clock skew: this host's clock differs from the S3 server's "
          "by more than it allows; fix the time (NTP) (" +
          text + ")");
    }
    if (code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "InvalidToken" ||
        code == "ExpiredToken" || resp.status == 401) {
      return UnauthenticatedError(
          "s3 credentials rejected, check accessKeyID and "
          "secretAccessKey (" +
          text + ")");
    }
    if (code == "AccessDenied" || code == "AllAccessDisabled" || code == "AccountProblem" ||
        resp.status == 403) {
      return PermissionDeniedError("s3 access denied (" + text + ")");
    }
    if (code == "NoSuchKey" || code == "NoSuchUpload" || resp.status == 404) {
      return NotFoundError(text);
    }
    if (code == "InvalidRange" || resp.status == 416) {
      return OutOfRangeError(text);
    }
    if (code == "PreconditionFailed" || resp.status == 412) {
      return AlreadyExistsError(text);
    }
    if (Retryable(resp.status, code)) {
      return UnavailableError(text);
    }
    if (code == "EntityTooLarge" || code == "QuotaExceeded") {
      return ResourceExhaustedError(text);
    }
    if (code == "NotImplemented" || resp.status == 501) {
      return UnimplementedError(text);
    }
    if (resp.status >= 400 && resp.status < 500) {
      return InvalidArgumentError(text);
    }
    return UnknownError(text);
  }

  // One attempt. Connection failures and time-outs are kUnavailable.
  StatusOr<Response> SendOnce(const Request& req, const std::string& payload_hash) {
    ASSIGN_OR_RETURN(S3Target target, ResolveS3Target(options_, req.key));
    std::string amz_date = AmzDate(clock_.Now());
    SigningRequest signing;
    signing.method = req.method;
    signing.canonical_uri = target.path;
    signing.query = req.query;
    signing.payload_hash = payload_hash;
    signing.headers = req.headers;
    signing.headers.emplace_back("host", target.host);
    signing.headers.emplace_back("x-amz-date", amz_date);
    signing.headers.emplace_back("x-amz-content-sha256", payload_hash);
    std::string authorization =
        SignRequest(signing, SigningScope{amz_date, options_.region, "s3"}, options_.credentials);

    std::string uri = target.path;
    std::string query = CanonicalQueryString(req.query);
    if (!query.empty()) {
      uri += "?" + query;
    }
    requests_.fetch_add(1, std::memory_order_relaxed);
    try {
      http_request request(utility::conversions::to_string_t(req.method));
      request.set_request_uri(utility::conversions::to_string_t(uri));
      auto& headers = request.headers();
      for (const auto& [name, value] : signing.headers) {
        headers.add(utility::conversions::to_string_t(name),
                    utility::conversions::to_string_t(value));
      }
      headers.add("Authorization", utility::conversions::to_string_t(authorization));
      if (req.method == "PUT" || req.method == "POST") {
        request.set_body(std::string(req.body), "application/octet-stream");
        bytes_sent_.fetch_add(req.body.size(), std::memory_order_relaxed);
      }
      http_response response = client_.request(request).get();
      Response out;
      out.status = response.status_code();
      for (const auto& [name, value] : response.headers()) {
        out.headers[Lower(utility::conversions::to_utf8string(name))] =
            utility::conversions::to_utf8string(value);
      }
      if (req.method != "HEAD") {
        concurrency::streams::container_buffer<std::string> buffer;
        response.body().read_to_end(buffer).get();
        out.body = std::move(buffer.collection());
        bytes_received_.fetch_add(out.body.size(), std::memory_order_relaxed);
      }
      return out;
    } catch (const std::exception& e) {
      return UnavailableError(Where() + ": " + req.what + ": connection failed: " + e.what());
    }
  }

  // Sends with retries on connection errors, 5xx, 429 and SlowDown. Returns the last response
  // (any status) or the last connection error.
  StatusOr<Response> Execute(const Request& req) {
    std::string payload_hash =
        !req.body_sha256.empty()
            ? req.body_sha256
            : (req.body.empty() ? std::string(kEmptySha256) : Sha256Hex(req.body));
    int attempts = std::max(1, options_.max_attempts);
    Status last = OkStatus();
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      if (attempt > 1) {
        retries_.fetch_add(1, std::memory_order_relaxed);
        Backoff(attempt - 1);
      }
      StatusOr<Response> resp = SendOnce(req, payload_hash);
      if (!resp.ok()) {
        last = resp.status();
        spdlog::debug("Retrying S3 request what=\"{}\" attempt={} error=\"{}\"", req.what, attempt,
                      last.message());
        continue;
      }
      resp->attempts = attempt;
      std::string code;
      if (resp->status >= 400) {
        code = XmlTag(resp->body, "Code").value_or("");
      }
      if (!Retryable(resp->status, code)) {
        return resp;
      }
      last = ErrorStatus(req, *resp);
      spdlog::debug("Retrying S3 request what=\"{}\" attempt={} status={}", req.what, attempt,
                    resp->status);
    }
    return Status(last.code(),
                  last.message() + " (after " + std::to_string(attempts) + " attempts)");
  }

  void Backoff(int retry) {
    auto cap = options_.backoff_base * (1LL << std::min(retry, 20));
    cap = std::min<std::chrono::milliseconds>(cap, options_.backoff_max);
    int64_t wait = 0;
    {
      std::lock_guard<std::mutex> lock(rng_mu_);
      wait = std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(0, cap.count()))(rng_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait));
  }

  StatusOr<Response> Checked(const Request& req, std::initializer_list<int> ok) {
    ASSIGN_OR_RETURN(Response resp, Execute(req));
    if (std::find(ok.begin(), ok.end(), resp.status) == ok.end()) {
      return ErrorStatus(req, resp);
    }
    // CompleteMultipartUpload may answer 200 with an error document.
    if (resp.body.find("<Error>") != std::string::npos) {
      return ErrorStatus(req, resp);
    }
    return resp;
  }

  std::vector<std::pair<std::string, std::string>> LockHeaders() const {
    std::vector<std::pair<std::string, std::string>> headers;
    if (options_.object_lock_days > 0 && object_lock_supported_) {
      auto until = clock_.Now() + std::chrono::hours(24) * options_.object_lock_days;
      headers.emplace_back("x-amz-object-lock-mode", "COMPLIANCE");
      headers.emplace_back("x-amz-object-lock-retain-until-date", FormatRfc3339(until));
    }
    return headers;
  }

  // A random tag stored with each write (user metadata), so a write that meets "exists" (412)
  // or "no such upload" (404) can tell its own earlier attempt from another writer's: requests
  // are resent after lost answers by our retries and also inside cpprestsdk (a reused
  // keep-alive connection that fails is retried once), so attempt counts cannot tell.
  std::string NewPutTag() {
    std::lock_guard<std::mutex> lock(rng_mu_);
    return HexEncode(std::to_string(rng_()) + std::to_string(rng_())).substr(0, 32);
  }

  StatusOr<bool> WrittenByUs(std::string_view name, const std::string& tag) {
    Request req;
    req.method = "HEAD";
    req.key = Key(name);
    req.what = "HEAD " + std::string(name);
    ASSIGN_OR_RETURN(Response resp, Execute(req));
    if (resp.status == 404) {
      return false;
    }
    if (resp.status != 200) {
      return ErrorStatus(req, resp);
    }
    return resp.Header(kPutTagHeader) == tag;
  }

  Status AlreadyExists(std::string_view name) const {
    return AlreadyExistsError("blob " + std::string(name) + " already exists in " + Where());
  }

  Status Put(std::string_view name, std::string_view data) {
    RETURN_IF_ERROR(ValidateBlobName(name));
    if (options_.put_if_absent == PutIfAbsent::kHeadThenPut) {
      StatusOr<BlobInfo> info = Stat(name);
      if (info.ok()) {
        return AlreadyExists(name);
      }
      if (info.status().code() != StatusCode::kNotFound) {
        return info.status();
      }
    }
    if (data.size() > options_.multipart_threshold) {
      return PutMultipart(name, data);
    }
    Request req;
    req.method = "PUT";
    req.key = Key(name);
    req.what = "PUT " + std::string(name);
    req.body = data;
    req.headers = LockHeaders();
    if (!req.headers.empty()) {
      req.headers.emplace_back("content-md5", Md5Base64(data));
    }
    if (options_.put_if_absent == PutIfAbsent::kConditionalHeader) {
      req.headers.emplace_back("if-none-match", "*");
    }
    std::string tag = NewPutTag();
    req.headers.emplace_back(kPutTagHeader, tag);
    ASSIGN_OR_RETURN(Response resp, Execute(req));
    if (resp.status == 200) {
      return OkStatus();
    }
    if (resp.status == 412) {
      ASSIGN_OR_RETURN(bool ours, WrittenByUs(name, tag));
      return ours ? OkStatus() : AlreadyExists(name);
    }
    return ErrorStatus(req, resp);
  }

  Status PutMultipart(std::string_view name, std::string_view data) {
    uint64_t part_size =
        std::max<uint64_t>(options_.part_size, (data.size() + kMaxParts - 1) / kMaxParts);
    Request init;
    init.method = "POST";
    init.key = Key(name);
    init.query = {{"uploads", ""}};
    init.headers = LockHeaders();
    std::string tag = NewPutTag();
    init.headers.emplace_back(kPutTagHeader, tag);
    init.what = "CreateMultipartUpload " + std::string(name);
    ASSIGN_OR_RETURN(Response created, Checked(init, {200}));
    std::optional<std::string> upload_id = XmlTag(created.body, "UploadId");
    if (!upload_id || upload_id->empty()) {
      return UnknownError(Where() + ": " + init.what + ": no UploadId in the answer");
    }
    Status result = UploadPartsAndComplete(name, data, part_size, *upload_id, tag);
    if (!result.ok()) {
      // Abort so no parts linger; the object itself never became visible.
      Request abort;
      abort.method = "DELETE";
      abort.key = Key(name);
      abort.query = {{"uploadId", *upload_id}};
      abort.what = "AbortMultipartUpload " + std::string(name);
      StatusOr<Response> aborted = Execute(abort);
      if (!aborted.ok() ||
          (aborted->status != 204 && aborted->status != 200 && aborted->status != 404)) {
        spdlog::warn(
            "Failed to abort S3 multipart upload blob={} store={} error=\"{}\"", name, Where(),
            aborted.ok() ? ErrorStatus(abort, *aborted).message() : aborted.status().message());
      }
    }
    return result;
  }

  Status UploadPartsAndComplete(std::string_view name, std::string_view data, uint64_t part_size,
                                const std::string& upload_id, const std::string& tag) {
    std::string complete = "<CompleteMultipartUpload>";
    int part_number = 0;
    for (uint64_t offset = 0; offset < data.size(); offset += part_size) {
      ++part_number;
      Request part;
      part.method = "PUT";
      part.key = Key(name);
      part.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}};
      part.body = data.substr(offset, part_size);
      if (options_.object_lock_days > 0 && object_lock_supported_) {
        part.headers.emplace_back("content-md5", Md5Base64(part.body));
      }
      part.what = "UploadPart " + std::to_string(part_number) + " of " + std::string(name);
      ASSIGN_OR_RETURN(Response uploaded, Checked(part, {200}));
      std::string etag = uploaded.Header("etag");
      if (etag.empty()) {
        return UnknownError(Where() + ": " + part.what + ": no ETag in the answer");
      }
      complete += "<Part><PartNumber>" + std::to_string(part_number) + "</PartNumber><ETag>" +
                  etag + "</ETag></Part>";
    }
    complete += "</CompleteMultipartUpload>";
    Request done;
    done.method = "POST";
    done.key = Key(name);
    done.query = {{"uploadId", upload_id}};
    done.body = complete;
    if (options_.put_if_absent == PutIfAbsent::kConditionalHeader) {
      done.headers.emplace_back("if-none-match", "*");
    }
    done.what = "CompleteMultipartUpload " + std::string(name);
    ASSIGN_OR_RETURN(Response resp, Execute(done));
    bool error_body = resp.body.find("<Error>") != std::string::npos;
    if (resp.status == 200 && !error_body) {
      return OkStatus();
    }
    if (resp.status == 412 || resp.status == 404) {
      // A resent Complete meets either: the object exists (412) or the upload is gone (404).
      ASSIGN_OR_RETURN(bool ours, WrittenByUs(name, tag));
      if (ours) {
        return OkStatus();
      }
      if (resp.status == 412) {
        return AlreadyExists(name);
      }
    }
    return ErrorStatus(done, resp);
  }

  StatusOr<std::string> Get(std::string_view name, ByteRange range) {
    RETURN_IF_ERROR(ValidateBlobName(name));
    Request req;
    req.method = "GET";
    req.key = Key(name);
    req.what = "GET " + std::string(name);
    bool whole = range.offset == 0 && !range.length.has_value();
    if (!whole) {
      if (range.length.has_value() && *range.length == 0) {
        ASSIGN_OR_RETURN(BlobInfo info, Stat(name));
        RETURN_IF_ERROR(ResolveRange(name, info.size, range).status());
        return std::string();
      }
      std::string spec = "bytes=" + std::to_string(range.offset) + "-";
      if (range.length.has_value()) {
        spec += std::to_string(range.offset + *range.length - 1);
      }
      req.headers.emplace_back("range", spec);
    }
    ASSIGN_OR_RETURN(Response resp, Execute(req));
    if (resp.status == 404) {
      Status s = ErrorStatus(req, resp);
      if (s.code() == StatusCode::kNotFound && XmlTag(resp.body, "Code") != "NoSuchBucket") {
        return NotFoundError("blob " + std::string(name) + " not found in " + Where());
      }
      return s;
    }
    if (resp.status == 416) {
      // Past the end: an empty read at exactly the end is still valid.
      ASSIGN_OR_RETURN(BlobInfo info, Stat(name));
      RETURN_IF_ERROR(ResolveRange(name, info.size, range).status());
      return std::string();
    }
    if (resp.status == 200) {
      ASSIGN_OR_RETURN(auto span, ResolveRange(name, resp.body.size(), range));
      if (whole) {
        return std::move(resp.body);
      }
      return resp.body.substr(span.first, span.second - span.first);
    }
    if (resp.status == 206) {
      std::string content_range = resp.Header("content-range");
      size_t slash = content_range.rfind('/');
      if (slash == std::string::npos) {
        return DataLossError(Where() + ": " + req.what + ": 206 without Content-Range");
      }
      uint64_t total = std::strtoull(content_range.c_str() + slash + 1, nullptr, 10);
      ASSIGN_OR_RETURN(auto span, ResolveRange(name, total, range));
      if (resp.body.size() != span.second - span.first) {
        return UnavailableError(Where() + ": " + req.what + ": short read (" +
                                std::to_string(resp.body.size()) + " of " +
                                std::to_string(span.second - span.first) + " bytes)");
      }
      return std::move(resp.body);
    }
    return ErrorStatus(req, resp);
  }

  StatusOr<BlobInfo> Stat(std::string_view name) {
    RETURN_IF_ERROR(ValidateBlobName(name));
    Request req;
    req.method = "HEAD";
    req.key = Key(name);
    req.what = "HEAD " + std::string(name);
    ASSIGN_OR_RETURN(Response resp, Execute(req));
    if (resp.status == 404) {
      return NotFoundError("blob " + std::string(name) + " not found in " + Where());
    }
    if (resp.status != 200) {
      return ErrorStatus(req, resp);
    }
    BlobInfo info;
    info.name = std::string(name);
    info.size = std::strtoull(resp.Header("content-length").c_str(), nullptr, 10);
    return info;
  }

  Status Delete(std::string_view name) {
    // S3 answers 204 for absent keys too; HEAD first gives the contract's kNotFound. Two
    // concurrent deletes of one name may both succeed.
    RETURN_IF_ERROR(Stat(name).status());
    Request req;
    req.method = "DELETE";
    req.key = Key(name);
    req.what = "DELETE " + std::string(name);
    ASSIGN_OR_RETURN(Response resp, Checked(req, {200, 204}));
    return OkStatus();
  }

  StatusOr<std::vector<BlobInfo>> List(std::string_view prefix) {
    std::string key_prefix =
        prefix_.empty() ? std::string(prefix) : prefix_ + "/" + std::string(prefix);
    std::vector<BlobInfo> out;
    std::string token;
    while (true) {
      Request req;
      req.method = "GET";
      req.query = {{"list-type", "2"},
                   {"prefix", key_prefix},
                   {"max-keys", std::to_string(std::max(1, options_.list_page_size))}};
      if (!token.empty()) {
        req.query.emplace_back("continuation-token", token);
      }
      req.what = "ListObjectsV2 prefix=" + key_prefix;
      ASSIGN_OR_RETURN(Response resp, Checked(req, {200}));
      size_t pos = 0;
      while ((pos = resp.body.find("<Contents>", pos)) != std::string::npos) {
        size_t end = resp.body.find("</Contents>", pos);
        if (end == std::string::npos) {
          return UnknownError(Where() + ": " + req.what + ": truncated listing");
        }
        std::string_view entry(resp.body.data() + pos, end - pos);
        std::optional<std::string> key = XmlTag(entry, "Key");
        std::optional<std::string> size = XmlTag(entry, "Size");
        if (!key || !size) {
          return UnknownError(Where() + ": " + req.what + ": entry without Key or Size");
        }
        std::string name =
            prefix_.empty() ? *key : key->substr(std::min(key->size(), prefix_.size() + 1));
        if (ValidateBlobName(name).ok()) {
          out.push_back(BlobInfo{name, std::strtoull(size->c_str(), nullptr, 10)});
        }
        pos = end;
      }
      if (XmlTag(resp.body, "IsTruncated").value_or("false") != "true") {
        break;
      }
      token = XmlTag(resp.body, "NextContinuationToken").value_or("");
      if (token.empty()) {
        return UnknownError(Where() + ": " + req.what +
                            ": truncated listing without NextContinuationToken");
      }
    }
    std::sort(out.begin(), out.end(),
              [](const BlobInfo& a, const BlobInfo& b) { return a.name < b.name; });
    return out;
  }

  // The first request: lists one key under the prefix, so a bad key, a missing bucket or a
  // skewed clock fail at open; then asks whether the bucket has Object Lock.
  Status Probe() {
    Request req;
    req.method = "GET";
    req.query = {{"list-type", "2"}, {"prefix", prefix_}, {"max-keys", "1"}};
    req.what = "ListObjectsV2 (open)";
    RETURN_IF_ERROR(Checked(req, {200}).status());
    if (options_.object_lock_days > 0) {
      Request lock;
      lock.method = "GET";
      lock.query = {{"object-lock", ""}};
      lock.what = "GetObjectLockConfiguration";
      StatusOr<Response> resp = Execute(lock);
      object_lock_supported_ = resp.ok() && resp->status == 200 &&
                               XmlTag(resp->body, "ObjectLockEnabled").value_or("") == "Enabled";
      if (!object_lock_supported_) {
        spdlog::warn(
            "S3 bucket has no Object Lock; immutability relies on the vault's lock "
            "ledger only store={}",
            Where());
      }
    }
    return OkStatus();
  }

  S3Options options_;
  Endpoint endpoint_;
  std::string prefix_;
  const Clock& clock_;
  http_client client_;
  bool object_lock_supported_ = false;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<uint64_t> bytes_received_{0};
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

StatusOr<S3Target> ResolveS3Target(const S3Options& options, std::string_view key) {
  ASSIGN_OR_RETURN(Endpoint e, ParseEndpoint(options.endpoint));
  std::string host_port = e.default_port ? e.host : e.host + ":" + std::to_string(e.port);
  S3Target target;
  std::string encoded_key = AwsUriEncode(key, /*keep_slash=*/true);
  if (options.force_path_style) {
    target.host = host_port;
    target.path = "/" + options.bucket + (key.empty() ? "" : "/" + encoded_key);
  } else {
    target.host = options.bucket + "." + host_port;
    target.path = "/" + encoded_key;
  }
  target.base_url =
      e.scheme + "://" + (options.connect_to.empty() ? target.host : options.connect_to);
  return target;
}

S3BlobStore::S3BlobStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3BlobStore::~S3BlobStore() = default;

StatusOr<std::unique_ptr<S3BlobStore>> S3BlobStore::Open(const S3Options& options) {
  ASSIGN_OR_RETURN(Endpoint endpoint, ParseEndpoint(options.endpoint));
  RETURN_IF_ERROR(ValidateBucket(options.bucket));
  if (options.region.empty()) {
    return InvalidArgumentError("s3 region: must not be empty (e.g. us-east-1)");
  }
  if (options.credentials.access_key_id.empty() || options.credentials.secret_access_key.empty()) {
    return InvalidArgumentError(
        "s3 credentials: accessKeyID and secretAccessKey are required (a Secret's keys, or "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
  }
  if (options.part_size == 0 || options.part_size > kMaxPartSize) {
    return InvalidArgumentError("s3 part size " + std::to_string(options.part_size) +
                                ": must be between 1 byte and 5 GiB (AWS needs at least 5 MiB)");
  }
  if (options.object_lock_days < 0) {
    return InvalidArgumentError("s3 object lock days: must not be negative");
  }
  if (!options.prefix.empty()) {
    RETURN_IF_ERROR(ValidateBlobName(NormalizePrefix(options.prefix)));
  }
  ASSIGN_OR_RETURN(S3Target target, ResolveS3Target(options, ""));
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(options, std::move(endpoint), std::move(target));
  } catch (const std::exception& e) {
    return InvalidArgumentError("s3 endpoint \"" + options.endpoint + "\": " + e.what());
  }
  RETURN_IF_ERROR(impl->Probe());
  return std::unique_ptr<S3BlobStore>(new S3BlobStore(std::move(impl)));
}

Status S3BlobStore::Put(std::string_view name, std::string_view data) {
  return impl_->Put(name, data);
}
StatusOr<std::string> S3BlobStore::Get(std::string_view name, ByteRange range) {
  return impl_->Get(name, range);
}
StatusOr<std::vector<BlobInfo>> S3BlobStore::List(std::string_view prefix) {
  return impl_->List(prefix);
}
Status S3BlobStore::Delete(std::string_view name) { return impl_->Delete(name); }
StatusOr<BlobInfo> S3BlobStore::Stat(std::string_view name) { return impl_->Stat(name); }
std::string S3BlobStore::Describe() const { return impl_->Where(); }
bool S3BlobStore::object_lock_supported() const { return impl_->object_lock_supported_; }
S3Counters S3BlobStore::counters() const {
  return S3Counters{impl_->requests_.load(), impl_->retries_.load(), impl_->bytes_sent_.load(),
                    impl_->bytes_received_.load()};
}

}  // namespace lifeboat::storage
