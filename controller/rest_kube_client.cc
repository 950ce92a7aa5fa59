#include "controller/rest_kube_client.h"

#include <cpprest/http_client.h>
#include <cpprest/uri.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

namespace lifeboat::controller {
namespace {

namespace http = web::http;
using http::client::http_client;
using http::client::http_client_config;

constexpr std::chrono::seconds kTokenFileRefresh{60};
constexpr std::chrono::seconds kWatchIdleMargin{30};
// Longest server-side timeout asked for one watch request.
constexpr std::chrono::seconds kMaxWatchRequest{300};
constexpr std::chrono::milliseconds kWatchBackoffInitial{100};
constexpr std::chrono::milliseconds kWatchBackoffMax{5'000};
constexpr size_t kReadChunk = 64 * 1024;
constexpr int kHttpOk = 200;
constexpr int kHttpCreated = 201;
constexpr int kHttpAccepted = 202;

std::string Encode(const std::string& value) { return web::uri::encode_data_string(value); }

// /api/v1/namespaces/ns/events/name or /apis/g/v/namespaces/ns/res/name
std::string ResourcePath(const ResourceRef& ref, const std::string& ns, const std::string& name,
                         const std::string& subresource = "") {
  std::string path =
      ref.group.empty() ? "/api/" + ref.version : "/apis/" + ref.group + "/" + ref.version;
  if (ref.namespaced && !ns.empty()) {
    path += "/namespaces/" + Encode(ns);
  }
  path += "/" + ref.resource;
  if (!name.empty()) {
    path += "/" + Encode(name);
  }
  if (!subresource.empty()) {
    path += "/" + subresource;
  }
  return path;
}

std::string Describe(const std::string& verb, const ResourceRef& ref, const std::string& ns,
                     const std::string& name) {
  std::string target = ns.empty() ? name : (name.empty() ? ns : ns + "/" + name);
  return verb + " " + ref.GroupResource() + (target.empty() ? "" : " " + target);
}

void AddQuery(std::string& query, const std::string& name, const std::string& value) {
  if (value.empty()) {
    return;
  }
  query += query.empty() ? "?" : "&";
  query += name + "=" + Encode(value);
}

const char* PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJsonPatch:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

bool ParseEventType(const std::string& text, WatchEventType* type) {
  if (text == "ADDED") {
    *type = WatchEventType::kAdded;
  } else if (text == "MODIFIED") {
    *type = WatchEventType::kModified;
  } else if (text == "DELETED") {
    *type = WatchEventType::kDeleted;
  } else if (text == "BOOKMARK") {
    *type = WatchEventType::kBookmark;
  } else {
    return false;
  }
  return true;
}

class RestKubeClient final : public KubeClient {
 public:
  RestKubeClient(ClientConfig config, const http_client_config& request_config,
                 const http_client_config& watch_config)
      : config_(std::move(config)),
        client_(web::uri(config_.server), request_config),
        watch_client_(web::uri(config_.server), watch_config) {}

  StatusOr<Json> Get(const ResourceRef& ref, const ObjectKey& key) override {
    return Do(http::methods::GET, ResourcePath(ref, key.ns, key.name), nullptr, "",
              Describe("get", ref, key.ns, key.name));
  }

  StatusOr<ObjectList> List(const ResourceRef& ref, const std::string& ns,
                            const ListOptions& options) override {
    std::string query;
    AddQuery(query, "labelSelector", options.label_selector);
    AddQuery(query, "fieldSelector", options.field_selector);
    if (options.limit > 0) {
      AddQuery(query, "limit", std::to_string(options.limit));
    }
    AddQuery(query, "continue", options.continue_token);
    AddQuery(query, "resourceVersion", options.resource_version);
    ASSIGN_OR_RETURN(Json list, Do(http::methods::GET, ResourcePath(ref, ns, "") + query, nullptr,
                                   "", Describe("list", ref, ns, "")));
    ObjectList result;
    if (auto meta = list.find("metadata"); meta != list.end() && meta->is_object()) {
      result.resource_version = meta->value("resourceVersion", "");
      result.continue_token = meta->value("continue", "");
    }
    if (auto items = list.find("items"); items != list.end() && items->is_array()) {
      result.items.reserve(items->size());
      for (Json& item : *items) {
        // Lists omit apiVersion/kind on items; put them back so items look like gets.
        if (item.is_object()) {
          item["apiVersion"] = ref.ApiVersion();
          item["kind"] = ref.kind;
        }
        result.items.push_back(std::move(item));
      }
    }
    return result;
  }

  Status Watch(const ResourceRef& ref, const WatchOptions& options, std::stop_token stop,
               const WatchCallback& on_event) override {
    std::string resource_version = options.resource_version;
    std::chrono::milliseconds backoff = kWatchBackoffInitial;
    std::string what = Describe("watch", ref, options.ns, "");
    while (!stop.stop_requested()) {
      bool progressed = false;
      Status s =
          WatchOnce(ref, options, resource_version, stop, on_event, &resource_version, &progressed);
      if (stop.stop_requested()) {
        break;
      }
      if (s.ok()) {
        backoff = kWatchBackoffInitial;  // the server ended the stream (timeout): reopen
        continue;
      }
      if (s.code() != StatusCode::kUnavailable) {
        return s;
      }
      if (progressed) {
        backoff = kWatchBackoffInitial;
      }
      spdlog::debug("Reopening watch {} rv={} after={}ms error={}", what, resource_version,
                    backoff.count(), s.message());
      std::mutex mu;
      std::condition_variable_any cv;
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, stop, backoff, [] { return false; });
      backoff = std::min(backoff * 2, kWatchBackoffMax);
    }
    return CancelledError(what + ": stopped");
  }

  StatusOr<Json> Create(const ResourceRef& ref, const Json& object) override {
    ObjectKey key = ObjectKey::Of(object);
    return Do(http::methods::POST, ResourcePath(ref, key.ns, ""), &object, "application/json",
              Describe("create", ref, key.ns, key.name));
  }

  StatusOr<Json> Update(const ResourceRef& ref, const Json& object) override {
    ObjectKey key = ObjectKey::Of(object);
    RETURN_IF_ERROR(RequireName(key, "update", ref));
    return Do(http::methods::PUT, ResourcePath(ref, key.ns, key.name), &object, "application/json",
              Describe("update", ref, key.ns, key.name));
  }

  StatusOr<Json> UpdateStatus(const ResourceRef& ref, const Json& object) override {
    ObjectKey key = ObjectKey::Of(object);
    RETURN_IF_ERROR(RequireName(key, "update status of", ref));
    return Do(http::methods::PUT, ResourcePath(ref, key.ns, key.name, "status"), &object,
              "application/json", Describe("update status of", ref, key.ns, key.name));
  }

  StatusOr<Json> Patch(const ResourceRef& ref, const ObjectKey& key, PatchType type,
                       const Json& patch, const std::string& subresource) override {
    return Do(http::methods::PATCH, ResourcePath(ref, key.ns, key.name, subresource), &patch,
              PatchContentType(type), Describe("patch", ref, key.ns, key.name));
  }

  Status Delete(const ResourceRef& ref, const ObjectKey& key,
                const DeleteOptions& options) override {
    Json body = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
    if (!options.propagation_policy.empty()) {
      body["propagationPolicy"] = options.propagation_policy;
    }
    if (options.precondition_uid) {
      body["preconditions"]["uid"] = *options.precondition_uid;
    }
    if (options.precondition_resource_version) {
      body["preconditions"]["resourceVersion"] = *options.precondition_resource_version;
    }
    auto result = Do(http::methods::DEL, ResourcePath(ref, key.ns, key.name), &body,
                     "application/json", Describe("delete", ref, key.ns, key.name));
    return result.status();
  }

 private:
  static Status RequireName(const ObjectKey& key, const std::string& verb, const ResourceRef& ref) {
    if (key.name.empty()) {
      return InvalidArgumentError(verb + " " + ref.GroupResource() + ": metadata.name is empty");
    }
    return OkStatus();
  }

  std::string Token() {
    if (config_.token_file.empty()) {
      return config_.bearer_token;
    }
    std::lock_guard<std::mutex> lock(token_mu_);
    auto now = std::chrono::steady_clock::now();
    if (token_.empty() || now - token_read_ >= kTokenFileRefresh) {
      std::ifstream in(config_.token_file);
      std::ostringstream text;
      text << in.rdbuf();
      std::string token = text.str();
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) {
        token.pop_back();
      }
      token_ = token.empty() ? config_.bearer_token : token;
      token_read_ = now;
    }
    return token_;
  }

  http::http_request MakeRequest(const http::method& method, const std::string& path_and_query) {
    http::http_request request(method);
    request.set_request_uri(path_and_query);
    request.headers().add("Accept", "application/json");
    request.headers().add("User-Agent", "lifeboat-controller");
    if (std::string token = Token(); !token.empty()) {
      request.headers().add("Authorization", "Bearer " + token);
    }
    return request;
  }

  StatusOr<Json> Do(const http::method& method, const std::string& path_and_query, const Json* body,
                    const std::string& content_type, const std::string& what) {
    http::http_request request = MakeRequest(method, path_and_query);
    if (body != nullptr) {
      request.set_body(body->dump(), content_type);
    }
    try {
      http::http_response response = client_.request(request).get();
      std::string text = response.extract_utf8string(true).get();
      int code = response.status_code();
      if (code != kHttpOk && code != kHttpCreated && code != kHttpAccepted) {
        return StatusFromHttp(code, text, what);
      }
      Json decoded = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (decoded.is_discarded()) {
        return InternalError(what + ": the server answered with invalid JSON");
      }
      return decoded;
    } catch (const pplx::task_canceled&) {
      return CancelledError(what + ": cancelled");
    } catch (const std::exception& e) {
      return UnavailableError(what + ": " + e.what());
    }
  }

  // One watch request; returns OK when the server ended the stream cleanly.
  Status WatchOnce(const ResourceRef& ref, const WatchOptions& options,
                   const std::string& from_version, std::stop_token stop,
                   const WatchCallback& on_event, std::string* last_version, bool* progressed) {
    std::string query;
    AddQuery(query, "watch", "1");
    AddQuery(query, "resourceVersion", from_version);
    AddQuery(query, "labelSelector", options.label_selector);
    AddQuery(query, "fieldSelector", options.field_selector);
    if (options.allow_bookmarks) {
      AddQuery(query, "allowWatchBookmarks", "true");
    }
    AddQuery(query, "timeoutSeconds",
             std::to_string(std::min(options.request_timeout, kMaxWatchRequest).count()));
    std::string what = Describe("watch", ref, options.ns, "");
    http::http_request request =
        MakeRequest(http::methods::GET, ResourcePath(ref, options.ns, "") + query);
    pplx::cancellation_token_source cancel;
    std::stop_callback on_stop(stop, [&cancel] { cancel.cancel(); });
    try {
      http::http_response response = watch_client_.request(request, cancel.get_token()).get();
      if (response.status_code() != kHttpOk) {
        std::string text = response.extract_utf8string(true).get();
        return StatusFromHttp(response.status_code(), text, what);
      }
      auto buffer = response.body().streambuf();
      std::vector<uint8_t> chunk(kReadChunk);
      std::string pending;
      while (!stop.stop_requested()) {
        size_t available = static_cast<size_t>(std::max<std::streamsize>(buffer.in_avail(), 0));
        size_t want = available > 0 ? std::min(available, chunk.size()) : 1;
        size_t n = buffer.getn(chunk.data(), want).get();
        if (n == 0) {
          break;  // end of stream
        }
        pending.append(reinterpret_cast<const char*>(chunk.data()), n);
        size_t start = 0;
        for (size_t nl = pending.find('\n', start); nl != std::string::npos;
             nl = pending.find('\n', start)) {
          std::string_view line(pending.data() + start, nl - start);
          start = nl + 1;
          if (line.empty() || line == "\r") {
            continue;
          }
          RETURN_IF_ERROR(DeliverLine(line, what, on_event, last_version));
          *progressed = true;
        }
        pending.erase(0, start);
      }
      return OkStatus();
    } catch (const pplx::task_canceled&) {
      return CancelledError(what + ": cancelled");
    } catch (const std::exception& e) {
      if (stop.stop_requested()) {
        return CancelledError(what + ": cancelled");
      }
      return UnavailableError(what + ": " + e.what());
    }
  }

  static Status DeliverLine(std::string_view line, const std::string& what,
                            const WatchCallback& on_event, std::string* last_version) {
    Json frame = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!frame.is_object() || !frame.contains("type") || !frame["type"].is_string()) {
      return UnavailableError(what + ": malformed watch frame");
    }
    std::string type_name = frame["type"].get<std::string>();
    Json object = frame.contains("object") ? std::move(frame["object"]) : Json::object();
    if (type_name == "ERROR") {
      return StatusFromKubeStatus(object, what);
    }
    WatchEvent event;
    if (!ParseEventType(type_name, &event.type)) {
      return UnavailableError(what + ": unknown watch event type \"" + type_name + "\"");
    }
    if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) {
      std::string rv = meta->value("resourceVersion", "");
      if (!rv.empty()) {
        *last_version = rv;
      }
    }
    event.object = std::move(object);
    on_event(std::move(event));
    return OkStatus();
  }

  ClientConfig config_;
  http_client client_;
  http_client watch_client_;
  std::mutex token_mu_;
  std::string token_;
  std::chrono::steady_clock::time_point token_read_;
};

http_client_config MakeConfig(const ClientConfig& config, std::chrono::seconds timeout) {
  http_client_config http_config;
  http_config.set_timeout(timeout);
  http_config.set_validate_certificates(!config.insecure_skip_tls_verify);
  std::string ca = config.ca_pem;
  std::string cert = config.client_cert_pem;
  std::string key = config.client_key_pem;
  if (!ca.empty() || !cert.empty()) {
    http_config.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
      boost::system::error_code ignored;
      if (!ca.empty()) {
        ctx.add_certificate_authority(boost::asio::buffer(ca.data(), ca.size()), ignored);
      }
      if (!cert.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(cert.data(), cert.size()), ignored);
        ctx.use_private_key(boost::asio::buffer(key.data(), key.size()),
                            boost::asio::ssl::context::pem, ignored);
      }
    });
  }
  return http_config;
}

// Checks the TLS material once up front so a bad CA or key fails with a clear error at start
// rather than as an opaque handshake failure on every request.
Status CheckTlsMaterial(const ClientConfig& config) {
  boost::asio::ssl::context ctx(boost::asio::ssl::context::sslv23);
  boost::system::error_code error;
  if (!config.ca_pem.empty()) {
    ctx.add_certificate_authority(boost::asio::buffer(config.ca_pem), error);
    if (error) {
      return InvalidArgumentError("certificate-authority: not a usable PEM certificate: " +
                                  error.message());
    }
  }
  if (!config.client_cert_pem.empty()) {
    ctx.use_certificate_chain(boost::asio::buffer(config.client_cert_pem), error);
    if (error) {
      return InvalidArgumentError("client-certificate: not a usable PEM certificate: " +
                                  error.message());
    }
    ctx.use_private_key(boost::asio::buffer(config.client_key_pem), boost::asio::ssl::context::pem,
                        error);
    if (error) {
      return InvalidArgumentError("client-key: not a usable PEM private key: " + error.message());
    }
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<KubeClient>> NewRestKubeClient(ClientConfig config) {
  const std::string& server = config.server;
  if (server.rfind("http://", 0) != 0 && server.rfind("https://", 0) != 0) {
    return InvalidArgumentError("server \"" + server + "\": must start with http:// or https://");
  }
  try {
    web::uri uri(server);
    if (uri.host().empty()) {
      return InvalidArgumentError("server \"" + server + "\": has no host");
    }
  } catch (const std::exception& e) {
    return InvalidArgumentError("server \"" + server + "\": " + e.what());
  }
  RETURN_IF_ERROR(CheckTlsMaterial(config));
  auto request_timeout = std::chrono::duration_cast<std::chrono::seconds>(config.request_timeout);
  if (request_timeout.count() < 1) {
    request_timeout = std::chrono::seconds(1);
  }
  // Watches: the idle timeout must outlast the server-side watch timeout.
  http_client_config request_config = MakeConfig(config, request_timeout);
  http_client_config watch_config = MakeConfig(config, kMaxWatchRequest + kWatchIdleMargin);
  try {
    return std::unique_ptr<KubeClient>(
        std::make_unique<RestKubeClient>(std::move(config), request_config, watch_config));
  } catch (const std::exception& e) {
    return InvalidArgumentError("server \"" + server + "\": " + e.what());
  }
}

}  // namespace lifeboat::controller
