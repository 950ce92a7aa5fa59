#pragma once

// A minimal HTTP(S) client for the embedded API server: `lifeboat up -f` applies manifests
// through it, and the benchmark drives the server with it. (The controller's KubeClient is the
// full client; this one only sends requests and reads watch streams.)
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "api/json.h"
#include "common/status.h"

namespace lifeboat::apiserver {

struct ClientOptions {
  std::string url;     // https://127.0.0.1:6443
  std::string token;   // bearer token
  std::string ca_pem;  // trusted CA (PEM); empty for plain HTTP
  std::chrono::seconds timeout{30};
};

struct ClientResponse {
  int status = 0;
  std::string body;
};

class Client {
 public:
  virtual ~Client() = default;
  // One request; connections are kept alive and reused. kUnavailable on transport errors.
  virtual StatusOr<ClientResponse> Do(const std::string& method, const std::string& path_and_query,
                                      const std::string& body = "",
                                      const std::string& content_type = "application/json") = 0;
  // GETs a streaming response and calls on_line for every line until it returns false or the
  // stream ends. Returns the HTTP status (non-200 bodies are not streamed).
  virtual StatusOr<int> Stream(const std::string& path_and_query,
                               const std::function<bool(const std::string& line)>& on_line) = 0;
};

StatusOr<std::unique_ptr<Client>> NewClient(const ClientOptions& options);

// Applies one object as client-side `kubectl apply` does, finding its resource through discovery:
// created with the kubectl.kubernetes.io/last-applied-configuration annotation, or, when it
// exists, patched with ThreeWayMergePatch against its last-applied configuration. Returns a
// message such as `backuppolicy.lifeboat.dev/db created` (or `configured`, `unchanged`).
StatusOr<std::string> ApplyObject(Client& client, const Json& object);

// The JSON merge patch (RFC 7386) that takes `current` to `modified`: the values of `modified`
// that differ from `current`, and null for each field of `original` (what was applied last) that
// `modified` no longer has. Fields only `current` has (set by others) are left alone. An empty
// object when nothing would change.
Json ThreeWayMergePatch(const Json& original, const Json& modified, const Json& current);

}  // namespace lifeboat::apiserver
