#pragma once

// The embedded Kubernetes-compatible API server of `lifeboat up`.
#include <filesystem>
#include <memory>
#include <string>

#include "apiserver/request_observer.h"
#include "common/clock.h"
#include "common/status.h"

namespace lifeboat::apiserver {

struct ServerOptions {
  std::filesystem::path data_dir;           // SQLite state, CA, token, kubeconfig live here
  std::string bind_address = "127.0.0.1";   // plain HTTP is refused unless loopback
  int port = 6443;                          // 0 = pick a free port
  bool plain_http = false;                  // HTTPS (self-signed CA) unless asked
  std::filesystem::path crd_dir;            // CRDs pre-loaded at start (crds/); empty = none
  const Clock* clock = nullptr;             // defaults to SystemClock()
  RequestObserver on_request;               // every request served (metrics); may be empty
};

// What the server holds for its clients right now (tests, diagnostics).
struct ServerStats {
  size_t watches = 0;  // watches registered (one whose client left goes at its next event)
  size_t connections = 0;
  size_t streams = 0;               // watch responses being streamed
  size_t stream_backlog_bytes = 0;  // watch bytes queued for clients and not yet sent
};

class Server {
 public:
  virtual ~Server() = default;
  // Starts listening; returns when requests are served.
  virtual Status Start() = 0;
  virtual void Stop() = 0;
  virtual int port() const = 0;
  // https://127.0.0.1:<port> (or http://)
  virtual std::string url() const = 0;
  // <data-dir>/kubeconfig: server URL, CA data, bearer token.
  virtual std::filesystem::path kubeconfig_path() const = 0;
  virtual std::string bearer_token() const = 0;
  virtual ServerStats stats() const = 0;
};

StatusOr<std::unique_ptr<Server>> NewServer(ServerOptions options);

}  // namespace lifeboat::apiserver
