#include "bench/apiserver/lean_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common/openssl_errors.h"

namespace lifeboat::bench {

StatusOr<std::unique_ptr<LeanClient>> LeanClient::Connect(const std::string& url,
                                                          const std::string& token,
                                                          const std::string& ca_pem) {
  bool tls;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    tls = false;
    rest = url.substr(7);
  } else {
    return InvalidArgumentError("url must start with http:// or https://: " + url);
  }
  rest = rest.substr(0, rest.find('/'));
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos) return InvalidArgumentError("url has no port: " + url);
  std::string host = rest.substr(0, colon);
  std::string port = rest.substr(colon + 1);

  std::unique_ptr<LeanClient> client(new LeanClient());
  client->host_ = rest;
  client->token_ = token;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return UnavailableError("resolving " + host + ": " + gai_strerror(rc));
  }
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      client->fd_ = fd;
      break;
    }
    close(fd);
  }
  freeaddrinfo(found);
  if (client->fd_ < 0) return UnavailableError("cannot connect to " + rest);
  int one = 1;
  setsockopt(client->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (!tls) return client;

  client->ctx_ = SSL_CTX_new(TLS_client_method());
  if (client->ctx_ == nullptr) return InternalError("SSL_CTX_new: " + OpensslErrors());
  SSL_CTX_set_verify(client->ctx_, SSL_VERIFY_PEER, nullptr);
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  X509_STORE* store = SSL_CTX_get_cert_store(client->ctx_);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    added += X509_STORE_add_cert(store, cert);
    X509_free(cert);
  }
  BIO_free(bio);
  ERR_clear_error();
  if (added == 0) return InvalidArgumentError("no CA certificate in the CA bundle");
  client->ssl_ = SSL_new(client->ctx_);
  SSL_set_fd(client->ssl_, client->fd_);
  SSL_set_tlsext_host_name(client->ssl_, host.c_str());
  SSL_set1_host(client->ssl_, host.c_str());
  if (SSL_connect(client->ssl_) != 1) {
    return UnavailableError("TLS handshake with " + rest + ": " + OpensslErrors());
  }
  return client;
}

LeanClient::~LeanClient() {
  if (ssl_ != nullptr) {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) close(fd_);
}

Status LeanClient::SendAll(const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    long n;
    if (ssl_ != nullptr) {
      n = SSL_write(ssl_, data.data() + sent, static_cast<int>(data.size() - sent));
    } else {
      n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    }
    if (n <= 0) return UnavailableError("sending to " + host_ + " failed");
    sent += static_cast<size_t>(n);
  }
  return OkStatus();
}

bool LeanClient::Fill() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  char tmp[65536];
  long n = ssl_ != nullptr ? SSL_read(ssl_, tmp, sizeof(tmp)) : ::recv(fd_, tmp, sizeof(tmp), 0);
  if (n <= 0) return false;
  buf_.append(tmp, static_cast<size_t>(n));
  return true;
}

StatusOr<std::string> LeanClient::ReadLine() {
  for (;;) {
    size_t end = buf_.find("\r\n", pos_);
    if (end != std::string::npos) {
      std::string line = buf_.substr(pos_, end - pos_);
      pos_ = end + 2;
      return line;
    }
    if (!Fill()) return UnavailableError("connection to " + host_ + " closed mid-response");
  }
}

Status LeanClient::ReadHead(int* status, long* content_length, bool* chunked) {
  ASSIGN_OR_RETURN(std::string line, ReadLine());
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) {
    return DataLossError("bad status line from " + host_ + ": " + line);
  }
  *status = std::atoi(line.c_str() + 9);
  *content_length = -1;
  *chunked = false;
  for (;;) {
    ASSIGN_OR_RETURN(line, ReadLine());
    if (line.empty()) return OkStatus();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    if (name == "content-length") {
      *content_length = std::atol(value.c_str());
    } else if (name == "transfer-encoding" && value.find("chunked") != std::string::npos) {
      *chunked = true;
    }
  }
}

Status LeanClient::ReadBody(long content_length, bool chunked,
                            const std::function<bool(std::string_view)>& sink) {
  if (!chunked) {
    size_t want = content_length < 0 ? 0 : static_cast<size_t>(content_length);
    while (buf_.size() - pos_ < want) {
      if (!Fill()) return UnavailableError("connection to " + host_ + " closed mid-body");
    }
    sink(std::string_view(buf_).substr(pos_, want));
    pos_ += want;
    return OkStatus();
  }
  for (;;) {
    ASSIGN_OR_RETURN(std::string size_line, ReadLine());
    size_t size = std::strtoul(size_line.c_str(), nullptr, 16);
    if (size == 0) {
      ASSIGN_OR_RETURN(std::string trailer, ReadLine());
      return OkStatus();
    }
    // Hand over the chunk as it arrives rather than waiting for all of it.
    size_t left = size;
    while (left > 0) {
      if (pos_ == buf_.size() && !Fill()) {
        return UnavailableError("connection to " + host_ + " closed mid-chunk");
      }
      size_t take = std::min(left, buf_.size() - pos_);
      bool more = sink(std::string_view(buf_).substr(pos_, take));
      pos_ += take;
      left -= take;
      if (!more) return OkStatus();
    }
    ASSIGN_OR_RETURN(std::string crlf, ReadLine());
  }
}

StatusOr<LeanResponse> LeanClient::Do(const std::string& method, const std::string& path,
                                      const std::string& body, const std::string& content_type) {
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: " + host_ +
                        "\r\nAuthorization: Bearer " + token_ +
                        "\r\nAccept: application/json\r\nUser-Agent: apiserver_bench\r\n";
  if (!body.empty()) {
    request += "Content-Type: " + content_type + "\r\n";
  }
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  request += body;
  RETURN_IF_ERROR(SendAll(request));
  LeanResponse out;
  long length;
  bool chunked;
  RETURN_IF_ERROR(ReadHead(&out.status, &length, &chunked));
  RETURN_IF_ERROR(ReadBody(length, chunked, [&](std::string_view piece) {
    out.body.append(piece);
    return true;
  }));
  return out;
}

StatusOr<int> LeanClient::Stream(const std::string& path,
                                 const std::function<bool(std::string_view line)>& on_line) {
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host_ +
                        "\r\nAuthorization: Bearer " + token_ +
                        "\r\nAccept: application/json\r\nUser-Agent: apiserver_bench\r\n\r\n";
  RETURN_IF_ERROR(SendAll(request));
  int status;
  long length;
  bool chunked;
  RETURN_IF_ERROR(ReadHead(&status, &length, &chunked));
  std::string line;
  bool more = true;
  Status s = ReadBody(length, chunked, [&](std::string_view piece) {
    while (more && !piece.empty()) {
      size_t nl = piece.find('\n');
      if (nl == std::string_view::npos) {
        line.append(piece);
        return true;
      }
      if (line.empty()) {
        more = on_line(piece.substr(0, nl));
      } else {
        line.append(piece.substr(0, nl));
        more = on_line(line);
        line.clear();
      }
      piece.remove_prefix(nl + 1);
    }
    return more;
  });
  if (!s.ok() && more) return s;
  return status;
}

}  // namespace lifeboat::bench
