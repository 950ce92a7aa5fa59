#include "apiserver/http_listener.h"

#include <arpa/inet.h>
#include <cpprest/http_listener.h>
#include <cpprest/producerconsumerstream.h>
#include <cpprest/uri.h>
#include <netinet/in.h>
#include <pplx/threadpool.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "spdlog/spdlog.h"

namespace lifeboat::apiserver {
namespace {

namespace http = web::http;
using http::experimental::listener::http_listener;
using http::experimental::listener::http_listener_config;

// A watch client that has not read this much is considered gone.
constexpr size_t kMaxStreamBacklog = 64u << 20;
constexpr size_t kPoolThreads = 4;
constexpr size_t kStreamBlockSize = 64u << 10;

// The body of a streaming response. Appending copies the bytes and makes them readable at once;
// both steps are synchronous in cpprestsdk's producer/consumer buffer, so this calls them directly
// instead of through its task API, whose continuations would need a free thread of the pool
// (a writer waiting for one while holding the store's lock could stall every request).
class StreamBuffer final
    : public concurrency::streams::details::basic_producer_consumer_buffer<uint8_t> {
 public:
  StreamBuffer() : basic_producer_consumer_buffer<uint8_t>(kStreamBlockSize) {}
  bool Append(const std::string& data) {
    if (!this->can_write()) {
      return false;
    }
    this->_putn(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    this->_sync();
    return true;
  }
};

class BufferWriter final : public StreamWriter {
 public:
  BufferWriter() : buffer_(std::make_shared<StreamBuffer>()) {}
  concurrency::streams::istream istream() {
    return concurrency::streams::streambuf<uint8_t>(buffer_).create_istream();
  }

  bool Write(const std::string& data) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || buffer_->in_avail() > kMaxStreamBacklog) {
      return false;
    }
    try {
      return buffer_->Append(data);
    } catch (const std::exception&) {
      return false;
    }
  }

  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      return;
    }
    closed_ = true;
    try {
      // Closing the write side is synchronous; the returned task only reports it.
      buffer_->close(std::ios_base::out);
    } catch (const std::exception&) {
    }
  }

 private:
  std::mutex mu_;
  bool closed_ = false;
  std::shared_ptr<StreamBuffer> buffer_;
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

void ReplyBadRequest(http::http_request& request, const std::string& error) {
  request.reply(http::status_codes::BadRequest, "cannot read request: " + error)
      .then([](pplx::task<void> t) {
        try {
          t.get();
        } catch (const std::exception&) {
        }
      });
}

std::string Header(const http::http_headers& headers, const char* name) {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

// Replies still being sent. Closing cpprestsdk's listener while asio starts a write (or the next
// read of a keep-alive connection) on one of its connections can crash the process (seen in
// tests ~1 run in 50 when watch streams ended just before the close), so Close waits for them.
class InFlight {
 public:
  void Add() {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_;
  }
  void Done() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--count_ == 0) {
      idle_.notify_all();
    }
  }
  // True once nothing is in flight; false after `timeout`.
  bool WaitIdle(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return idle_.wait_for(lock, timeout, [this] { return count_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  int count_ = 0;
};

void Reply(const RequestHandler& handler, http::http_request request, const HttpRequest& req,
           const std::shared_ptr<InFlight>& in_flight);

void Serve(const std::shared_ptr<RequestHandler>& handler,
           const std::shared_ptr<InFlight>& in_flight, http::http_request request) {
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
    req.user_agent = Header(request.headers(), "User-Agent");
    req.accept = Header(request.headers(), "Accept");
  } catch (const std::exception& e) {
    ReplyBadRequest(request, e.what());
    return;
  }
  // The body arrives after the headers: handle the request once it is read, never blocking a
  // thread of the pool that reads it.
  request.extract_utf8string(true).then(
      [handler, in_flight, request, req = std::move(req)](pplx::task<std::string> body) mutable {
        try {
          req.body = body.get();
        } catch (const std::exception& e) {
          ReplyBadRequest(request, e.what());
          return;
        }
        Reply(*handler, std::move(request), req, in_flight);
      });
}

void Reply(const RequestHandler& handler, http::http_request request, const HttpRequest& req,
           const std::shared_ptr<InFlight>& in_flight) {
  HttpResponse resp = handler(req);
  http::http_response response(static_cast<http::status_code>(resp.status));
  for (const auto& [name, value] : resp.headers) {
    response.headers().add(name, value);
  }
  in_flight->Add();
  auto done = [in_flight](pplx::task<void> t) {
    try {
      t.get();
    } catch (const std::exception&) {
      // The client went away; nothing to do.
    }
    in_flight->Done();
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
  CppRestListener(std::unique_ptr<http_listener> listener, std::shared_ptr<InFlight> in_flight)
      : listener_(std::move(listener)), in_flight_(std::move(in_flight)) {}
  ~CppRestListener() override { Close(); }
  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!listener_) {
      return;
    }
    if (!in_flight_->WaitIdle(kCloseDrain)) {
      spdlog::warn("Closing HTTP listener with replies still being sent");
    }
    try {
      listener_->close().wait();
    } catch (const std::exception& e) {
      spdlog::warn("Failed closing HTTP listener error={}", e.what());
    }
    listener_.reset();
  }

 private:
  static constexpr std::chrono::seconds kCloseDrain{5};
  std::mutex mu_;
  std::unique_ptr<http_listener> listener_;
  std::shared_ptr<InFlight> in_flight_;
};

// cpprestsdk's shared pool (listener, clients and task continuations of the process) starts 40
// threads, and every handler handed over wakes an idle one: on two cores most of a request's CPU
// went to context switches (perf). A few threads are enough since nothing on them waits for
// another task of the pool (request bodies are read with continuations, streams are appended to
// synchronously). Kept as is when the process used the pool before the first listener.
void SizeThreadPool() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      crossplat::threadpool::initialize_with_threads(kPoolThreads);
    } catch (const std::exception& e) {
      spdlog::debug("Kept cpprestsdk thread pool error={}", e.what());
    }
  });
}

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
  SizeThreadPool();
  try {
    auto listener = std::make_unique<http_listener>(web::uri(url), config);
    auto shared = std::make_shared<RequestHandler>(std::move(handler));
    auto in_flight = std::make_shared<InFlight>();
    listener->support([shared, in_flight](http::http_request request) {
      Serve(shared, in_flight, std::move(request));
    });
    listener->open().wait();
    return std::unique_ptr<HttpListener>(
        new CppRestListener(std::move(listener), std::move(in_flight)));
  } catch (const std::exception& e) {
    return UnavailableError("cannot listen on " + url + ": " + e.what());
  }
}

}  // namespace lifeboat::apiserver
