#include "apiserver/client.h"

#include <boost/asio/ssl.hpp>
#include <cpprest/http_client.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace lifeboat::apiserver {
namespace {

namespace http = web::http;

class CppRestClient final : public Client {
 public:
  explicit CppRestClient(const ClientOptions& options) : options_(options) {
    http::client::http_client_config config;
    config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(options.timeout));
    if (!options.ca_pem.empty()) {
      std::string ca = options.ca_pem;
      config.set_ssl_context_callback([ca](boost::asio::ssl::context& ctx) {
        ctx.add_certificate_authority(boost::asio::buffer(ca.data(), ca.size()));
      });
    }
    client_ = std::make_unique<http::client::http_client>(web::uri(options.url), config);
  }

  StatusOr<ClientResponse> Do(const std::string& method, const std::string& path_and_query,
                              const std::string& body, const std::string& content_type) override {
    try {
      http::http_request request(method);
      request.set_request_uri(path_and_query);
      request.headers().add("Authorization", "Bearer " + options_.token);
      request.headers().add("Accept", "application/json");
      if (!body.empty()) {
        request.set_body(body, content_type);
      }
      http::http_response response = client_->request(request).get();
      ClientResponse out;
      out.status = response.status_code();
      out.body = response.extract_utf8string(true).get();
      return out;
    } catch (const std::exception& e) {
      return UnavailableError(method + " " + path_and_query + ": " + e.what());
    }
  }

  StatusOr<int> Stream(const std::string& path_and_query,
                       const std::function<bool(const std::string& line)>& on_line) override {
    try {
      http::http_request request(http::methods::GET);
      request.set_request_uri(path_and_query);
      request.headers().add("Authorization", "Bearer " + options_.token);
      http::http_response response = client_->request(request).get();
      if (response.status_code() != http::status_codes::OK) {
        return static_cast<int>(response.status_code());
      }
      // Read whatever has arrived (at least one byte, which waits for data), not byte by byte.
      concurrency::streams::streambuf<uint8_t> body = response.body().streambuf();
      std::string line;
      std::vector<uint8_t> chunk;
      bool more = true;
      while (more) {
        size_t want = std::max<size_t>(1, body.in_avail());
        chunk.resize(want);
        size_t got = body.getn(chunk.data(), want).get();
        if (got == 0) {
          break;
        }
        for (size_t i = 0; i < got && more; ++i) {
          if (chunk[i] == '\n') {
            more = on_line(line);
            line.clear();
          } else {
            line += static_cast<char>(chunk[i]);
          }
        }
      }
      return static_cast<int>(response.status_code());
    } catch (const std::exception& e) {
      return UnavailableError("GET " + path_and_query + ": " + e.what());
    }
  }

 private:
  ClientOptions options_;
  std::unique_ptr<http::client::http_client> client_;
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

StatusOr<std::unique_ptr<Client>> NewClient(const ClientOptions& options) {
  try {
    return std::unique_ptr<Client>(new CppRestClient(options));
  } catch (const std::exception& e) {
    return InvalidArgumentError("cannot create a client for " + options.url + ": " + e.what());
  }
}

namespace {
constexpr char kLastApplied[] = "kubectl.kubernetes.io/last-applied-configuration";
}  // namespace

Json ThreeWayMergePatch(const Json& original, const Json& modified, const Json& current) {
  Json patch = Json::object();
  if (!modified.is_object()) {
    return patch;
  }
  for (const auto& [key, value] : modified.items()) {
    const Json* now = current.is_object() && current.contains(key) ? &current[key] : nullptr;
    if (value.is_object() && now != nullptr && now->is_object()) {
      const Json none;
      const Json& before = original.is_object() && original.contains(key) ? original[key] : none;
      Json nested = ThreeWayMergePatch(before, value, *now);
      if (!nested.empty()) {
        patch[key] = std::move(nested);
      }
    } else if (now == nullptr || *now != value) {
      patch[key] = value;
    }
  }
  if (original.is_object()) {
    for (const auto& [key, value] : original.items()) {
      if (!modified.contains(key) && current.is_object() && current.contains(key)) {
        patch[key] = nullptr;
      }
    }
  }
  return patch;
}

StatusOr<std::string> ApplyObject(Client& client, const Json& object) {
  if (!object.is_object()) {
    return InvalidArgumentError("a manifest document must be an object");
  }
  std::string api_version = object.value("apiVersion", "");
  std::string kind = object.value("kind", "");
  Json meta = object.value("metadata", Json::object());
  std::string name = meta.is_object() ? meta.value("name", "") : "";
  if (api_version.empty() || kind.empty()) {
    return InvalidArgumentError("apiVersion and kind are required (object \"" + name + "\")");
  }
  if (name.empty()) {
    return InvalidArgumentError(kind + ": metadata.name is required");
  }
  std::string base = api_version.find('/') == std::string::npos ? "/api/" + api_version
                                                                 : "/apis/" + api_version;
  ASSIGN_OR_RETURN(ClientResponse discovery, client.Do("GET", base));
  if (discovery.status != 200) {
    return NotFoundError("no resources are served for apiVersion " + api_version +
                         " (is the CRD installed?)");
  }
  Json list = Json::parse(discovery.body, nullptr, false);
  std::string plural;
  bool namespaced = false;
  for (const Json& r : list.value("resources", Json::array())) {
    if (r.value("kind", "") == kind && r.value("name", "").find('/') == std::string::npos) {
      plural = r.value("name", "");
      namespaced = r.value("namespaced", false);
    }
  }
  if (plural.empty()) {
    return NotFoundError("no resource of kind " + kind + " is served for apiVersion " +
                         api_version);
  }
  std::string ns = meta.value("namespace", "default");
  std::string collection = base + (namespaced ? "/namespaces/" + ns : "") + "/" + plural;
  std::string group = api_version.find('/') == std::string::npos
                          ? ""
                          : "." + api_version.substr(0, api_version.find('/'));
  std::string label = Lower(kind) + group + "/" + name;
  // As `kubectl apply` does: the object records what was applied in the last-applied annotation
  // (so a later `kubectl apply` of the same manifest works without a warning), and an existing
  // object gets a three-way JSON merge patch: changed values change, fields dropped from the
  // manifest since the last apply are removed, fields others set stay.
  // The recorded configuration is byte for byte what kubectl records: the manifest with an
  // `annotations` map (empty when it had none) that lacks the annotation itself.
  Json applied = object;
  Json& annotations = applied["metadata"]["annotations"];
  if (!annotations.is_object()) {
    annotations = Json::object();
  }
  annotations.erase(kLastApplied);
  Json modified = applied;
  modified["metadata"]["annotations"][kLastApplied] = applied.dump() + "\n";
  ASSIGN_OR_RETURN(ClientResponse created,
                   client.Do("POST", collection + "?fieldValidation=Strict", modified.dump()));
  if (created.status == 201 || created.status == 200) {
    return label + " created";
  }
  if (created.status == 409) {
    std::string path = collection + "/" + name;
    ASSIGN_OR_RETURN(ClientResponse got, client.Do("GET", path));
    if (got.status != 200) {
      created = got;
    } else {
      Json current = Json::parse(got.body, nullptr, false);
      Json original;
      if (current.is_object() && current["metadata"].contains("annotations")) {
        std::string last = current["metadata"]["annotations"].value(kLastApplied, "");
        original = Json::parse(last, nullptr, false);
        if (original.is_discarded()) {
          original = Json();
        }
      }
      Json patch = ThreeWayMergePatch(original, modified, current);
      if (patch.empty()) {
        return label + " unchanged";
      }
      ASSIGN_OR_RETURN(ClientResponse patched,
                       client.Do("PATCH", path + "?fieldValidation=Strict", patch.dump(),
                                 "application/merge-patch+json"));
      if (patched.status == 200) {
        return label + " configured";
      }
      created = patched;
    }
  }
  Json status = Json::parse(created.body, nullptr, false);
  std::string message = status.is_object() ? status.value("message", created.body) : created.body;
  return InvalidArgumentError(label + ": " + message);
}

}  // namespace lifeboat::apiserver
