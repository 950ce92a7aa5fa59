#pragma once

// The replication endpoint of a site: an HTTPS server (engines/replication/https.h) in front of a
// RepoSet under `root` (store.h). Serves `lifeboat receiver` and, in-process, `lifeboat up`.
// POST /v1/control/... (control.h) goes to the ControlHandler attached by this process's
// ReplicationPolicy controllers; without one it answers 503.
#include <filesystem>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "engines/replication/control.h"
#include "engines/replication/https.h"
#include "engines/replication/store.h"

namespace lifeboat::replication {

struct ReceiverOptions {
  std::filesystem::path root;  // <root>/<source site>/<namespace>/<policy>/
  std::string host = "127.0.0.1";
  int port = 0;
  // Bearer token every request must carry. Empty = mutual TLS only (tls.client_ca required).
  std::string token;
  // Server certificate and key; when empty a self-signed pair is created (once) under
  // <root>/.tls/ and its certificate is what senders must trust (ca_pem()).
  TlsFiles tls;
  RepoOptions repo;
  const Clock* clock = nullptr;  // default: the system clock
};

class Receiver {
 public:
  ~Receiver();
  int port() const { return server_->port(); }
  std::string endpoint() const;                          // "https://<host>:<port>"
  const std::string& ca_pem() const { return ca_pem_; }  // the server certificate (PEM)
  RepoSet& repos() { return *repos_; }
  void Stop();
  // Routes control calls to `handler` (not owned); nullptr detaches. Thread-safe: once it
  // returns, no call into the previous handler is running or will start.
  void SetControlHandler(ControlHandler* handler);
  // This receiver as a target for this process itself (the protected site seeding a reverse
  // replica from its own volumes): its address, its certificate and a bearer token made at start
  // that is valid only here, for this process's lifetime. Needs a bearer-token receiver (with
  // mutual TLS only, the TLS handshake asks for a client certificate this process lacks).
  TargetEndpoint LoopbackEndpoint() const;

 private:
  friend StatusOr<std::unique_ptr<Receiver>> StartReceiver(ReceiverOptions options);
  Receiver() = default;
  HttpResponse Handle(const HttpRequest& req);
  HttpResponse HandleControl(const HttpRequest& req, const std::vector<std::string>& parts);

  ReceiverOptions options_;
  std::string loopback_token_;
  std::shared_mutex control_mu_;
  ControlHandler* control_ = nullptr;
  std::string ca_pem_;
  std::unique_ptr<RepoSet> repos_;
  std::unique_ptr<HttpsServer> server_;
};

StatusOr<std::unique_ptr<Receiver>> StartReceiver(ReceiverOptions options);

}  // namespace lifeboat::replication
