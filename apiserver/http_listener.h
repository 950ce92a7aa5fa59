#pragma once

// The HTTP(S) transport of the embedded API server: a small HTTP/1.1 server on epoll and OpenSSL
// (http_listener.cc). A few I/O threads serve every connection; the request handler runs on the
// thread that read the request.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "apiserver/handler.h"
#include "common/status.h"

namespace lifeboat::apiserver {

struct ListenerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // must be a real port here (Server picks a free one for 0)
  bool tls = true;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  // Threads that read requests, run the handler and write responses.
  int io_threads = 4;
  // A keep-alive connection without a request (or a request that stopped arriving) for this long
  // is closed. Watch streams are not idle.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(120)};
  size_t max_body_bytes = 3u << 20;     // larger request bodies get 413 (as kube-apiserver)
  size_t max_header_bytes = 64u << 10;  // a larger request line + headers gets 431
  // A streaming response whose client has not read this much is ended (StreamWriter::Write
  // returns false and the connection is closed).
  size_t max_stream_backlog = 64u << 20;
};

// What the listener holds right now (for tests and diagnostics).
struct ListenerStats {
  size_t connections = 0;
  size_t streams = 0;  // streaming responses (watches) in progress
  // Bytes of those streams queued for their clients and not yet sent (taken by the socket).
  size_t stream_backlog_bytes = 0;
};

class HttpListener {
 public:
  virtual ~HttpListener() = default;
  virtual ListenerStats Stats() const = 0;
  // Stops accepting, ends streaming responses, lets replies in progress finish (waits for the
  // handler calls still running) and closes every connection. The handler is not called after.
  // Not to be called from the handler itself.
  virtual void Close() = 0;
};

using RequestHandler = std::function<HttpResponse(const HttpRequest&)>;

StatusOr<std::unique_ptr<HttpListener>> OpenHttpListener(const ListenerOptions& options,
                                                         RequestHandler handler);

// A port that was free a moment ago on `host` (bind to port 0, read it, close).
StatusOr<int> PickFreePort(const std::string& host);

}  // namespace lifeboat::apiserver
