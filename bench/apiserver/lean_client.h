#pragma once

// A minimal HTTP/1.1 client over a blocking TLS (or plain) socket, for the benchmark's load
// generators only: one keep-alive connection, requests with Content-Length, responses with
// Content-Length or chunked bodies, and streamed (watch) responses cut into lines.
//
// The benchmark runs its clients on the same two cores as the server it measures. A real
// client (kubectl, a GitOps agent, another controller) runs elsewhere; what its library costs
// is not the server's. cpprestsdk's client spent ~1.3 ms of CPU per create across 4 writers
// and 10 watchers (task continuations, a thread hop per read); this one costs a syscall or two
// per request and per watch read, so the figure measures the server.
#include <openssl/ssl.h>

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace lifeboat::bench {

struct LeanResponse {
  int status = 0;
  std::string body;
};

class LeanClient {
 public:
  // `url` is https://host:port or http://host:port; `ca_pem` verifies the server for https.
  static StatusOr<std::unique_ptr<LeanClient>> Connect(const std::string& url,
                                                       const std::string& token,
                                                       const std::string& ca_pem);
  ~LeanClient();
  LeanClient(const LeanClient&) = delete;
  LeanClient& operator=(const LeanClient&) = delete;

  StatusOr<LeanResponse> Do(const std::string& method, const std::string& path,
                            const std::string& body = "",
                            const std::string& content_type = "application/json");
  // GET `path` and hand each line of the body to `on_line` until it returns false or the
  // stream ends. Returns the HTTP status.
  StatusOr<int> Stream(const std::string& path,
                       const std::function<bool(std::string_view line)>& on_line);

 private:
  LeanClient() = default;
  Status SendAll(const std::string& data);
  // Reads more bytes into buf_; false at end of stream or on error.
  bool Fill();
  StatusOr<std::string> ReadLine();  // up to CRLF, which is dropped
  Status ReadHead(int* status, long* content_length, bool* chunked);
  // Reads a body; calls `sink` with each piece as it arrives (false stops).
  Status ReadBody(long content_length, bool chunked,
                  const std::function<bool(std::string_view)>& sink);

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string host_;
  std::string token_;
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace lifeboat::bench
