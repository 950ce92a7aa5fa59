#include "apiserver/http_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ssl.hpp>
#include <cpprest/http_listener.h>
#include <cpprest/producerconsumerstream.h>
#include <cpprest/uri.h>

#include <mutex>

#include "spdlog/spdlog.h"

namespace lifeboat::apiserver {
namespace {

namespace http = web::http;
using http::experimental::listener::http_listener;
using http::experimental::listener::http_listener_config;

// A watch client that has not read this much is considered gone.
constexpr size_t kMaxStreamBacklog = 64u << 20;

class BufferWriter final : public StreamWriter {
 public:
  BufferWriter() = default;
  concurrency::streams::istream istream() { return buffer_.create_istream(); }

  bool Write(const std::string& data) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      return false;
    }
    if (buffer_.in_avail() > kMaxStreamBacklog) {
      return false;
    }
    try {
      buffer_.putn_nocopy(reinterpret_cast<const uint8_t*>(data.data()), data.size()).get();
      buffer_.sync().get();
    } catch (const std::exception&) {
      return false;
    }
    return true;
  }

  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      return;
    }
    closed_ = true;
    try {
      buffer_.close(std::ios_base::out).get();
    } catch (const std::exception&) {
    }
  }

 private:
  std::mutex mu_;
  bool closed_ = false;
  concurrency::streams::producer_consumer_buffer<uint8_t> buffer_;
};

std::string Decode(std::string text) {
  for (char& c : text) {
    if (c == '+') {
      c = ' ';
    }
  }
  try {
    return web::uri::decode(text);
  } catch (const std::exception&) {
    return text;
  }
}

std::string Header(const http::http_headers& headers, const char* name) {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

void Serve(const RequestHandler& handler, http::http_request request) {
  HttpRequest req;
  try {
    req.method = request.method();
    const web::uri& uri = request.relative_uri();
    req.path = Decode(uri.path());
    std::string query = uri.query();
    size_t start = 0;
    while (start < query.size()) {
      size_t amp = query.find('&', start);
      std::string pair = query.substr(start, amp == std::string::npos ? amp : amp - start);
      size_t eq = pair.find('=');
      if (!pair.empty()) {
        req.query[Decode(pair.substr(0, eq))] =
            eq == std::string::npos ? "" : Decode(pair.substr(eq + 1));
      }
      if (amp == std::string::npos) {
        break;
      }
      start = amp + 1;
    }
    req.authorization = Header(request.headers(), "Authorization");
    req.content_type = Header(request.headers(), "Content-Type");
    req.accept = Header(request.headers(), "Accept");
    req.body = request.extract_utf8string(true).get();
  } catch (const std::exception& e) {
    request.reply(http::status_codes::BadRequest, std::string("cannot read request: ") + e.what())
        .then([](pplx::task<void> t) {
          try {
            t.get();
          } catch (const std::exception&) {
          }
        });
    return;
  }
  HttpResponse resp = handler(req);
  http::http_response response(static_cast<http::status_code>(resp.status));
  for (const auto& [name, value] : resp.headers) {
    response.headers().add(name, value);
  }
  auto done = [](pplx::task<void> t) {
    try {
      t.get();
    } catch (const std::exception&) {
      // The client went away; nothing to do.
    }
  };
  if (resp.stream) {
    auto writer = std::make_shared<BufferWriter>();
    response.headers().set_content_type(resp.content_type);
    response.headers().add("Cache-Control", "no-cache, private");
    response.set_body(writer->istream());
    request.reply(response).then(done);
    resp.stream(writer);
    return;
  }
  response.set_body(std::move(resp.body), resp.content_type);
  request.reply(response).then(done);
}

class CppRestListener final : public HttpListener {
 public:
  CppRestListener(std::unique_ptr<http_listener> listener) : listener_(std::move(listener)) {}
  ~CppRestListener() override { Close(); }
  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!listener_) {
      return;
    }
    try {
      listener_->close().wait();
    } catch (const std::exception& e) {
      spdlog::warn("Failed closing HTTP listener error={}", e.what());
    }
    listener_.reset();
  }

 private:
  std::mutex mu_;
  std::unique_ptr<http_listener> listener_;
};

}  // namespace

StatusOr<int> PickFreePort(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return UnavailableError("cannot create a socket");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &addr.sin_addr) !=
      1) {
    ::close(fd);
    return InvalidArgumentError("bind address \"" + host + "\" is not an IPv4 address");
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return UnavailableError("cannot bind " + host + ":0");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

StatusOr<std::unique_ptr<HttpListener>> OpenHttpListener(const ListenerOptions& options,
                                                         RequestHandler handler) {
  std::string url = std::string(options.tls ? "https://" : "http://") + options.host + ":" +
                    std::to_string(options.port) + "/";
  http_listener_config config;
  if (options.tls) {
    std::string cert = options.cert_file.string();
    std::string key = options.key_file.string();
    config.set_ssl_context_callback([cert, key](boost::asio::ssl::context& ctx) {
      ctx.set_options(boost::asio::ssl::context::default_workarounds |
                      boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                      boost::asio::ssl::context::no_tlsv1 |
                      boost::asio::ssl::context::no_tlsv1_1);
      ctx.use_certificate_chain_file(cert);
      ctx.use_private_key_file(key, boost::asio::ssl::context::pem);
    });
  }
  try {
    auto listener = std::make_unique<http_listener>(web::uri(url), config);
    auto shared = std::make_shared<RequestHandler>(std::move(handler));
    listener->support([shared](http::http_request request) { Serve(*shared, std::move(request)); });
    listener->open().wait();
    return std::unique_ptr<HttpListener>(new CppRestListener(std::move(listener)));
  } catch (const std::exception& e) {
    return UnavailableError("cannot listen on " + url + ": " + e.what());
  }
}

}  // namespace lifeboat::apiserver
