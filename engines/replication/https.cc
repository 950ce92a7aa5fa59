#include "engines/replication/https.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include "common/openssl_errors.h"

namespace lifeboat::replication {
namespace {

constexpr size_t kMaxHeaderBytes = 64 << 10;
constexpr size_t kIoSlice = 64 << 10;

void IgnoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

void SetTimeouts(int fd, std::chrono::milliseconds timeout) {
  struct timeval tv;
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Buffered blocking I/O over one SSL object; errors are plain strings (the caller adds context).
class SslStream {
 public:
  explicit SslStream(SSL* ssl) : ssl_(ssl) {}

  bool Fill(std::string* error) {
    char buf[kIoSlice];
    int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n > 0) {
      buf_.append(buf, static_cast<size_t>(n));
      return true;
    }
    *error = Describe(n, "read");
    return false;
  }
  // Reads through the blank line ending the head; returns the head without it.
  bool ReadHead(std::string* head, std::string* error) {
    while (true) {
      size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        *head = buf_.substr(0, end);
        buf_.erase(0, end + 4);
        return true;
      }
      if (buf_.size() > kMaxHeaderBytes) {
        *error = "header too large";
        return false;
      }
      if (!Fill(error)) {
        return false;
      }
    }
  }
  bool ReadBody(size_t size, std::string* body, std::string* error) {
    body->clear();
    body->reserve(size);
    size_t take = std::min(size, buf_.size());
    body->append(buf_, 0, take);
    buf_.erase(0, take);
    while (body->size() < size) {
      size_t want = std::min(size - body->size(), kIoSlice * 4);
      size_t old = body->size();
      body->resize(old + want);
      int n = SSL_read(ssl_, body->data() + old, static_cast<int>(want));
      if (n <= 0) {
        *error = Describe(n, "read");
        return false;
      }
      body->resize(old + static_cast<size_t>(n));
    }
    return true;
  }
  bool Write(std::string_view data, std::string* error) {
    while (!data.empty()) {
      size_t want = std::min(data.size(), kIoSlice * 4);
      int n = SSL_write(ssl_, data.data(), static_cast<int>(want));
      if (n <= 0) {
        *error = Describe(n, "write");
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool buffered() const { return !buf_.empty(); }

 private:
  std::string Describe(int ret, const char* op) {
    int err = SSL_get_error(ssl_, ret);
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && errno == 0)) {
      return std::string("connection closed by peer during ") + op;
    }
    if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return std::string(op) + " timed out";
      }
      return std::string(op) + " failed: " + std::strerror(errno);
    }
    return std::string(op) + " failed: " + OpensslErrors();
  }
  SSL* ssl_;
  std::string buf_;
};

bool ParseHeaders(std::string_view head, std::string* first_line,
                  std::map<std::string, std::string>* headers) {
  size_t eol = head.find("\r\n");
  *first_line = std::string(head.substr(0, eol));
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
      value.remove_suffix(1);
    }
    (*headers)[Lower(std::string(line.substr(0, colon)))] = std::string(value);
  }
  return true;
}

std::string StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    default:
      return status >= 500 ? "Server Error" : "Status";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------- server

struct HttpsServer::Impl {
  HttpsServerOptions options;
  SSL_CTX* ctx = nullptr;
  int listen_fd = -1;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::thread acceptor;
  struct Conn {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::mutex mu;
  std::list<std::unique_ptr<Conn>> conns;

  ~Impl() {
    if (ctx != nullptr) {
      SSL_CTX_free(ctx);
    }
  }

  void AcceptLoop() {
    while (!stopping) {
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping) {
          return;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
          continue;
        }
        spdlog::warn("Replication endpoint stopped accepting: {}", std::strerror(errno));
        return;
      }
      SetTimeouts(fd, options.io_timeout);
      std::lock_guard<std::mutex> lock(mu);
      for (auto it = conns.begin(); it != conns.end();) {
        if ((*it)->done) {
          (*it)->thread.join();
          it = conns.erase(it);
        } else {
          ++it;
        }
      }
      auto conn = std::make_unique<Conn>();
      conn->fd = fd;
      Conn* raw = conn.get();
      conn->thread = std::thread([this, raw] {
        Serve(raw->fd);
        raw->done = true;
      });
      conns.push_back(std::move(conn));
    }
  }

  void Serve(int fd) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) {
      spdlog::debug("Rejected a replication TLS handshake: {}", OpensslErrors());
      SSL_free(ssl);
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
    std::string subject;
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      char buf[512];
      X509_NAME_oneline(X509_get_subject_name(peer), buf, sizeof(buf));
      subject = buf;
      X509_free(peer);
    }
    SslStream stream(ssl);
    while (!stopping) {
      std::string head, error, line;
      HttpRequest req;
      if (!stream.ReadHead(&head, &error) || !ParseHeaders(head, &line, &req.headers)) {
        break;
      }
      size_t sp1 = line.find(' ');
      size_t sp2 = line.rfind(' ');
      if (sp1 == std::string::npos || sp2 == sp1) {
        break;
      }
      req.method = line.substr(0, sp1);
      req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      req.peer_subject = subject;
      size_t length = 0;
      auto cl = req.headers.find("content-length");
      if (cl != req.headers.end()) {
        length = std::strtoull(cl->second.c_str(), nullptr, 10);
      }
      HttpResponse resp;
      bool keep = true;
      if (length > options.max_body_bytes) {
        resp = {413, "text/plain", "body exceeds " + std::to_string(options.max_body_bytes)};
        keep = false;
      } else if (!stream.ReadBody(length, &req.body, &error)) {
        break;
      } else {
        resp = options.handler(req);
      }
      std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + StatusText(resp.status) +
                        "\r\nContent-Type: " + resp.content_type +
                        "\r\nContent-Length: " + std::to_string(resp.body.size()) +
                        (keep ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
      out += resp.body;
      if (!stream.Write(out, &error) || !keep) {
        break;
      }
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
};

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpsServer::~HttpsServer() { Stop(); }

int HttpsServer::port() const { return impl_->port; }

void HttpsServer::Stop() {
  if (impl_->stopping.exchange(true)) {
    return;
  }
  ::shutdown(impl_->listen_fd, SHUT_RDWR);
  if (impl_->acceptor.joinable()) {
    impl_->acceptor.join();
  }
  ::close(impl_->listen_fd);
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto& c : impl_->conns) {
    if (!c->done) {
      ::shutdown(c->fd, SHUT_RDWR);
    }
  }
  for (auto& c : impl_->conns) {
    c->thread.join();
  }
  impl_->conns.clear();
}

StatusOr<std::unique_ptr<HttpsServer>> HttpsServer::Start(HttpsServerOptions options) {
  IgnoreSigpipe();
  if (!options.handler) {
    return InvalidArgumentError("replication endpoint: no request handler");
  }
  auto impl = std::make_unique<Impl>();
  impl->ctx = SSL_CTX_new(TLS_server_method());
  if (impl->ctx == nullptr) {
    return InternalError("SSL_CTX_new: " + OpensslErrors());
  }
  SSL_CTX_set_min_proto_version(impl->ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(impl->ctx, options.tls.cert.c_str()) != 1) {
    return InvalidArgumentError("tls certificate " + options.tls.cert.string() +
                                " cannot be loaded: " + OpensslErrors());
  }
  if (SSL_CTX_use_PrivateKey_file(impl->ctx, options.tls.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(impl->ctx) != 1) {
    return InvalidArgumentError(
        "tls key " + options.tls.key.string() +
        " cannot be loaded or does not match the certificate: " + OpensslErrors());
  }
  if (!options.tls.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(impl->ctx, options.tls.client_ca.c_str(), nullptr) != 1) {
      return InvalidArgumentError("client CA " + options.tls.client_ca.string() +
                                  " cannot be loaded: " + OpensslErrors());
    }
    SSL_CTX_set_verify(impl->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  struct addrinfo hints {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  struct addrinfo* res = nullptr;
  std::string port_text = std::to_string(options.port);
  int rc = ::getaddrinfo(options.host.empty() ? nullptr : options.host.c_str(), port_text.c_str(),
                         &hints, &res);
  if (rc != 0) {
    return InvalidArgumentError("replication endpoint address " + options.host + ": " +
                                gai_strerror(rc));
  }
  int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
    std::string err = std::strerror(errno);
    ::freeaddrinfo(res);
    if (fd >= 0) {
      ::close(fd);
    }
    return UnavailableError("replication endpoint cannot listen on " + options.host + ":" +
                            port_text + ": " + err);
  }
  ::freeaddrinfo(res);
  struct sockaddr_storage addr {};
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl->port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  impl->listen_fd = fd;
  impl->options = std::move(options);
  Impl* raw = impl.get();
  impl->acceptor = std::thread([raw] { raw->AcceptLoop(); });
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(impl)));
}

// ---------------------------------------------------------------------------------- client

struct HttpsClient::Impl {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  int fd = -1;
  std::unique_ptr<SslStream> stream;
  std::string host;
  std::string port;

  ~Impl() {
    Close();
    if (ctx != nullptr) {
      SSL_CTX_free(ctx);
    }
  }
  void Close() {
    stream.reset();
    if (ssl != nullptr) {
      SSL_free(ssl);
      ssl = nullptr;
    }
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
  }
};

HttpsClient::HttpsClient(HttpsClientOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

HttpsClient::~HttpsClient() = default;

StatusOr<std::unique_ptr<HttpsClient>> HttpsClient::Create(HttpsClientOptions options) {
  IgnoreSigpipe();
  const std::string& ep = options.endpoint;
  if (!ep.starts_with("https://")) {
    return InvalidArgumentError("replication endpoint \"" + ep + "\" must start with https://");
  }
  std::string hostport = ep.substr(8);
  while (!hostport.empty() && hostport.back() == '/') {
    hostport.pop_back();
  }
  std::string host, port = "443";
  if (hostport.starts_with("[")) {
    size_t close = hostport.find(']');
    if (close == std::string::npos) {
      return InvalidArgumentError("replication endpoint \"" + ep + "\" has a bad IPv6 address");
    }
    host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') {
      port = hostport.substr(close + 2);
    }
  } else {
    size_t colon = hostport.rfind(':');
    host = hostport.substr(0, colon);
    if (colon != std::string::npos) {
      port = hostport.substr(colon + 1);
    }
  }
  if (host.empty() || port.empty() || hostport.find('/') != std::string::npos) {
    return InvalidArgumentError("replication endpoint \"" + ep + "\" must be https://HOST[:PORT]");
  }
  std::unique_ptr<HttpsClient> client(new HttpsClient(std::move(options)));
  Impl& impl = *client->impl_;
  impl.host = host;
  impl.port = port;
  impl.ctx = SSL_CTX_new(TLS_client_method());
  if (impl.ctx == nullptr) {
    return InternalError("SSL_CTX_new: " + OpensslErrors());
  }
  SSL_CTX_set_min_proto_version(impl.ctx, TLS1_2_VERSION);
  const HttpsClientOptions& o = client->options_;
  SSL_CTX_set_verify(impl.ctx, o.insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  if (!o.insecure_skip_verify && o.ca_pem.empty()) {
    SSL_CTX_set_default_verify_paths(impl.ctx);
  } else if (!o.insecure_skip_verify) {
    BIO* bio = BIO_new_mem_buf(o.ca_pem.data(), static_cast<int>(o.ca_pem.size()));
    X509_STORE* store = SSL_CTX_get_cert_store(impl.ctx);
    int added = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);
      X509_free(cert);
      ++added;
    }
    BIO_free(bio);
    ERR_clear_error();
    if (added == 0) {
      return InvalidArgumentError("trusted CA for " + ep + " holds no PEM certificate");
    }
  }
  if (!o.client_cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(impl.ctx, o.client_cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(impl.ctx, o.client_key.c_str(), SSL_FILETYPE_PEM) != 1) {
      return InvalidArgumentError("client certificate " + o.client_cert.string() + " / key " +
                                  o.client_key.string() + " cannot be loaded: " + OpensslErrors());
    }
  }
  return client;
}

StatusOr<HttpResponse> HttpsClient::Do(const std::string& method, const std::string& target,
                                       const std::string& body, const std::string& content_type) {
  Impl& impl = *impl_;
  const std::string& ep = options_.endpoint;
  auto unavailable = [&](const std::string& what) {
    impl.Close();
    // With TLS 1.3 the server judges our certificate after the client's handshake finished: its
    // alert arrives on the first read.
    if (what.find("alert certificate required") != std::string::npos ||
        what.find("alert bad certificate") != std::string::npos ||
        what.find("alert unknown ca") != std::string::npos) {
      return UnauthenticatedError("replication endpoint " + ep +
                                  ": the endpoint rejected our client certificate (" + what + ")");
    }
    return UnavailableError("replication endpoint " + ep + ": " + what);
  };
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = impl.ssl != nullptr;
    if (!reused) {
      struct addrinfo hints {};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      struct addrinfo* res = nullptr;
      int rc = ::getaddrinfo(impl.host.c_str(), impl.port.c_str(), &hints, &res);
      if (rc != 0) {
        return unavailable(std::string("cannot resolve host: ") + gai_strerror(rc));
      }
      int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        res->ai_protocol);
      int crc = fd < 0 ? -1 : ::connect(fd, res->ai_addr, res->ai_addrlen);
      int err = crc == 0 ? 0 : errno;
      ::freeaddrinfo(res);
      if (fd < 0) {
        return unavailable(std::string("socket: ") + std::strerror(err));
      }
      impl.fd = fd;
      if (crc != 0 && err == EINPROGRESS) {
        struct pollfd p {
          fd, POLLOUT, 0
        };
        int pr = ::poll(&p, 1, static_cast<int>(options_.connect_timeout.count()));
        if (pr == 0) {
          return unavailable("connect timed out after " +
                             std::to_string(options_.connect_timeout.count()) + " ms");
        }
        socklen_t len = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
      if (err != 0) {
        return unavailable(std::string("connect failed: ") + std::strerror(err));
      }
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      SetTimeouts(fd, options_.io_timeout);
      impl.ssl = SSL_new(impl.ctx);
      SSL_set_fd(impl.ssl, fd);
      unsigned char ip[16];
      bool is_ip = inet_pton(AF_INET, impl.host.c_str(), ip) == 1 ||
                   inet_pton(AF_INET6, impl.host.c_str(), ip) == 1;
      if (options_.insecure_skip_verify) {
        if (!is_ip) {
          SSL_set_tlsext_host_name(impl.ssl, impl.host.c_str());
        }
      } else if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(impl.ssl), impl.host.c_str());
      } else {
        SSL_set_tlsext_host_name(impl.ssl, impl.host.c_str());
        SSL_set1_host(impl.ssl, impl.host.c_str());
      }
      if (SSL_connect(impl.ssl) != 1) {
        long verify = SSL_get_verify_result(impl.ssl);
        std::string errors = OpensslErrors();
        if (verify != X509_V_OK) {
          impl.Close();
          return UnauthenticatedError("replication endpoint " + ep +
                                      ": TLS handshake failed: certificate verify failed (" +
                                      X509_verify_cert_error_string(verify) + ")");
        }
        if (errors.find("alert") != std::string::npos) {
          impl.Close();
          return UnauthenticatedError("replication endpoint " + ep +
                                      ": TLS handshake rejected by the endpoint (" + errors +
                                      "); is a client certificate required?");
        }
        return unavailable("TLS handshake failed: " + errors);
      }
      impl.stream = std::make_unique<SslStream>(impl.ssl);
    }
    std::string head = method + " " + target + " HTTP/1.1\r\nHost: " + impl.host + ":" + impl.port +
                       "\r\nContent-Type: " + content_type +
                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    if (!options_.bearer_token.empty()) {
      head += "Authorization: Bearer " + options_.bearer_token + "\r\n";
    }
    head += "\r\n";
    std::string error;
    bool wrote = impl.stream->Write(head, &error);
    if (wrote) {
      bytes_sent_ += head.size();
    }
    size_t sent = 0;
    while (wrote && sent < body.size()) {
      size_t slice = std::min(body.size() - sent, kIoSlice);
      if (options_.pacer) {
        options_.pacer->Take(slice);
      }
      wrote = impl.stream->Write(std::string_view(body).substr(sent, slice), &error);
      if (wrote) {
        sent += slice;
        bytes_sent_ += slice;
      }
    }
    std::string resp_head;
    if (wrote && impl.stream->ReadHead(&resp_head, &error)) {
      std::string line;
      std::map<std::string, std::string> headers;
      if (!ParseHeaders(resp_head, &line, &headers) || line.size() < 12) {
        return unavailable("malformed response");
      }
      HttpResponse resp;
      resp.status = std::atoi(line.c_str() + 9);
      size_t length = 0;
      if (auto it = headers.find("content-length"); it != headers.end()) {
        length = std::strtoull(it->second.c_str(), nullptr, 10);
      }
      if (auto it = headers.find("content-type"); it != headers.end()) {
        resp.content_type = it->second;
      }
      if (!impl.stream->ReadBody(length, &resp.body, &error)) {
        return unavailable(error);
      }
      bytes_received_ += resp_head.size() + 4 + resp.body.size();
      if (auto it = headers.find("connection");
          it != headers.end() && Lower(it->second) == "close") {
        impl.Close();
      }
      return resp;
    }
    impl.Close();
    // A kept-alive connection the peer closed meanwhile: reconnect once, before any response.
    bool idempotent = method == "GET" || target.find("/missing") != std::string::npos ||
                      target.find("/chunks") != std::string::npos;
    if (!reused || !idempotent) {
      return unavailable(error);
    }
  }
  return unavailable("connection failed twice");
}

void BandwidthPacer::Take(size_t bytes) {
  std::chrono::steady_clock::time_point slot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (next_ < now) {
      next_ = now;
    }
    slot = next_;
    next_ += std::chrono::nanoseconds(
        static_cast<int64_t>(1e9 * static_cast<double>(bytes) / static_cast<double>(rate_)));
  }
  std::this_thread::sleep_until(slot);
}

// ---------------------------------------------------------------------------------- certs

Status GenerateSelfSignedCertificate(const std::filesystem::path& cert,
                                     const std::filesystem::path& key,
                                     const std::string& common_name) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  if (pkey == nullptr) {
    return InternalError("cannot generate an EC key: " + OpensslErrors());
  }
  X509* x = X509_new();
  X509_set_version(x, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(x, name);
  char hostname[256] = {0};
  ::gethostname(hostname, sizeof(hostname) - 1);
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  if (hostname[0] != '\0') {
    san += std::string(",DNS:") + hostname;
  }
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  const std::pair<int, std::string> exts[] = {
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,digitalSignature,keyCertSign"},
      {NID_subject_alt_name, san},
  };
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    if (ext == nullptr) {
      X509_free(x);
      EVP_PKEY_free(pkey);
      return InternalError("cannot build certificate extension: " + OpensslErrors());
    }
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, pkey, EVP_sha256());
  Status status = OkStatus();
  auto write = [&](const std::filesystem::path& path, bool is_key) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE* f = fd < 0 ? nullptr : ::fdopen(fd, "w");
    if (f == nullptr) {
      status = UnavailableError("cannot write " + path.string() + ": " + std::strerror(errno));
      return;
    }
    int ok = is_key ? PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr)
                    : PEM_write_X509(f, x);
    std::fclose(f);
    if (ok != 1) {
      status = InternalError("cannot encode " + path.string() + ": " + OpensslErrors());
    }
  };
  write(key, true);
  if (status.ok()) {
    write(cert, false);
  }
  X509_free(x);
  EVP_PKEY_free(pkey);
  return status;
}

}  // namespace lifeboat::replication
