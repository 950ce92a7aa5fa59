#pragma once

// A small HTTP/1.1 server and client on OpenSSL TLS (blocking sockets, one thread per connection,
// keep-alive, Content-Length bodies only). Written for the replication protocol instead of using
// cpprestsdk: we need mutual TLS with a chosen CA, a timeout on every socket operation,
// token-bucket pacing of request bodies, and error messages that say "certificate verify failed"
// and name the endpoint — all of which cpprestsdk's asio listener/client hide or make awkward.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace lifeboat::replication {

struct HttpRequest {
  std::string method;
  std::string target;                          // path and query, e.g. "/v1/ping"
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string peer_subject;  // the verified client certificate's subject, with mutual TLS
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

struct TlsFiles {
  std::filesystem::path cert;       // PEM certificate (chain) presented by this side
  std::filesystem::path key;        // PEM private key
  std::filesystem::path client_ca;  // server: require client certificates signed by this CA
};

struct HttpsServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port
  TlsFiles tls;
  std::function<HttpResponse(const HttpRequest&)> handler;
  std::chrono::milliseconds io_timeout{60'000};
  size_t max_body_bytes = 256u << 20;
};

class HttpsServer {
 public:
  static StatusOr<std::unique_ptr<HttpsServer>> Start(HttpsServerOptions options);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;
  int port() const;
  // Stops accepting, closes open connections and joins their threads. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A token bucket shared by the connections of one transfer: each slice of a request body waits
// for its turn so that all of them together stay under `bytes_per_second`.
class BandwidthPacer {
 public:
  explicit BandwidthPacer(uint64_t bytes_per_second) : rate_(bytes_per_second) {}
  void Take(size_t bytes);

 private:
  std::mutex mu_;
  uint64_t rate_;
  std::chrono::steady_clock::time_point next_{};
};

struct HttpsClientOptions {
  std::string endpoint;  // "https://host:port"
  std::string ca_pem;    // trusted CA certificates (PEM text); empty = the system store
  std::filesystem::path client_cert;  // mutual TLS (optional)
  std::filesystem::path client_key;
  std::string bearer_token;
  bool insecure_skip_verify = false;  // accept any server certificate (test set-ups only)
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds io_timeout{60'000};
  std::shared_ptr<BandwidthPacer> pacer;  // paces request bodies; nullptr = unlimited
};

// One keep-alive connection, reopened when the peer closed it. Not thread-safe: one per thread.
class HttpsClient {
 public:
  static StatusOr<std::unique_ptr<HttpsClient>> Create(HttpsClientOptions options);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // Transport errors: kUnavailable (connect, timeout, reset) or kUnauthenticated (TLS
  // verification), each naming the endpoint. HTTP error statuses come back as responses.
  StatusOr<HttpResponse> Do(const std::string& method, const std::string& target,
                            const std::string& body,
                            const std::string& content_type = "application/octet-stream");
  const std::string& endpoint() const { return options_.endpoint; }
  // Bytes of request and response heads and bodies (TLS framing not counted).
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t bytes_received() const { return bytes_received_; }

  struct Impl;

 private:
  explicit HttpsClient(HttpsClientOptions options);
  HttpsClientOptions options_;
  std::unique_ptr<Impl> impl_;
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
};

// Creates a self-signed certificate and key (EC P-256, SAN localhost, 127.0.0.1, ::1 and the host
// name) for a receiver started without --tls-cert. Files are written with mode 0600.
Status GenerateSelfSignedCertificate(const std::filesystem::path& cert,
                                     const std::filesystem::path& key,
                                     const std::string& common_name);

}  // namespace lifeboat::replication
