#pragma once

// The HTTP(S) transport of the embedded API server (cpprestsdk inside http_listener.cc only).
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
};

class HttpListener {
 public:
  virtual ~HttpListener() = default;
  virtual void Close() = 0;
};

using RequestHandler = std::function<HttpResponse(const HttpRequest&)>;

StatusOr<std::unique_ptr<HttpListener>> OpenHttpListener(const ListenerOptions& options,
                                                         RequestHandler handler);

// A port that was free a moment ago on `host` (bind to port 0, read it, close).
StatusOr<int> PickFreePort(const std::string& host);

}  // namespace lifeboat::apiserver
