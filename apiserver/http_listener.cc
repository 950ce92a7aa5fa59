#include "apiserver/http_listener.h"

// HTTP/1.1 on epoll and OpenSSL, written for the API server's request mix: many small requests on
// keep-alive connections and long chunked watch streams fed from the store's commit path.
//
// Threads. `io_threads` threads wait on one epoll set in which every connection is registered
// EPOLLONESHOT, so a connection is served by one thread at a time (its owner: Conn::busy) and a
// free thread takes whichever connection is ready; a handler that waits (a write waiting for its
// group commit) holds only its own connection. The owner reads, parses, calls the handler on its
// own thread (no hand-off), writes the response and re-arms the connection.
//
// Streams. StreamWriter::Write runs on the store's commit path under the store's lock: it only
// appends a chunk to the connection's pending bytes under a short lock. A connection with
// pending bytes and no owner goes on a flush list, and the first entry wakes one I/O thread
// through an eventfd; that thread flushes every listed connection (many events in one TLS write
// when they come faster than they are sent).
//
// Lifetimes. Connections live in a map by id (the epoll data); an event whose id is gone is
// ignored. Only the owner touches a connection's socket and SSL object; Destroy (by the owner)
// marks it closed under its lock before closing the socket, so writers and the idle sweep never
// see a reused descriptor.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pplx/threadpool.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/openssl_errors.h"
#include "spdlog/spdlog.h"

namespace lifeboat::apiserver {
namespace {

constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr uint64_t kFirstConnId = 2;
constexpr size_t kReadSlice = 16u << 10;
// Bytes read from one connection before its owner lets other connections have a turn.
constexpr size_t kReadPerTurn = 1u << 20;
// Response bodies up to this size are copied behind their head (one TLS write); larger ones are
// sent from the handler's string.
constexpr size_t kCoalesceBody = 16u << 10;
constexpr size_t kWriteSlice = 256u << 10;
// Close waits this long for replies in progress before cutting connections.
constexpr std::chrono::seconds kCloseDrain{5};
// After an error reply that closes the connection, what the client still sends is read and
// dropped (so the reply is not lost to a reset) for at most this long.
constexpr std::chrono::seconds kLinger{2};
constexpr size_t kMaxLingerBytes = 64u << 20;

// Connections that stream writes made on an I/O thread (by the handler it runs: the store
// publishes a committed group's events on the committing writer's thread) scheduled for
// flushing. The thread flushes them itself once it is done with its own connection: no wake-up
// of another thread, and each watcher gets the whole group's events in one write.
thread_local std::vector<std::shared_ptr<struct Conn>>* t_deferred = nullptr;
thread_local const void* t_core = nullptr;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Whether a comma-separated header value holds `token` (case-insensitive).
bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
      item.remove_prefix(1);
    }
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
      item.remove_suffix(1);
    }
    if (IEquals(item, token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
  return false;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// '+' is a space, then %XX escapes are decoded; text with a malformed escape is kept as it is
// (with its '+' replaced), as the cpprestsdk adapter did.
std::string Decode(std::string_view raw) {
  std::string text(raw);
  std::replace(text.begin(), text.end(), '+', ' ');
  if (text.find('%') == std::string::npos) {
    return text;
  }
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size() || HexValue(text[i + 1]) < 0 || HexValue(text[i + 2]) < 0) {
      return text;
    }
    int hi = HexValue(text[i + 1]);
    int lo = HexValue(text[i + 2]);
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

const char* Reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return status < 300   ? "OK"
             : status < 400 ? "Redirect"
             : status < 500 ? "Client Error"
                            : "Server Error";
  }
}

// A request as parsed, before the handler sees it.
struct Parsed {
  HttpRequest request;
  bool keep_alive = true;
  bool head = false;  // HEAD: the response has no body
};

struct Conn;

// What the owner thread keeps between turns while a request arrives.
struct ParseState {
  enum class Phase { kHead, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailer };
  Phase phase = Phase::kHead;
  size_t scanned = 0;  // bytes of the head already searched for its end
  size_t body_left = 0;
  bool chunked = false;
  Parsed parsed;
};

struct Conn : std::enable_shared_from_this<Conn> {
  uint64_t id = 0;
  int fd = -1;
  SSL* ssl = nullptr;  // null for plain HTTP

  // The owner's (busy) state: nobody else touches it.
  bool handshaken = false;
  bool read_wants_write = false;  // TLS: a read needs the socket writable first
  bool write_blocked = false;     // the last write stopped short (EAGAIN)
  bool peer_eof = false;
  bool failed = false;              // a socket or TLS error: close
  bool close_when_flushed = false;  // Connection: close, or an error reply
  bool linger = false;              // after an error reply: read and drop until EOF
  bool lingering = false;
  size_t lingered = 0;
  std::string in;
  size_t in_pos = 0;
  ParseState parse;
  std::deque<std::string> sending;
  size_t send_off = 0;  // into sending.front()
  bool stream_keep_alive = true;
  bool stream_finished = false;  // the last chunk went out in this turn

  // Shared, under mu.
  std::mutex mu;
  bool busy = false;
  bool armed = false;
  uint32_t armed_events = 0;
  uint32_t pending_events = 0;  // events that arrived while another thread owned it
  bool closed = false;
  bool closing = false;  // the listener is closing: no new request
  bool in_flush_list = false;
  bool streaming = false;     // a chunked response is in progress
  bool stream_ended = false;  // its writer closed it (the last chunk is queued)
  bool abort = false;         // close at once, without finishing (a lagging stream)
  std::string pending;        // stream chunks not yet taken by the owner
  std::atomic<size_t> sending_bytes{0};
  std::atomic<int64_t> last_activity_ms{0};

  ~Conn() {
    if (ssl != nullptr) {
      SSL_free(ssl);
    }
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

class Core;

class ChunkWriter final : public StreamWriter {
 public:
  ChunkWriter(std::shared_ptr<Core> core, std::shared_ptr<Conn> conn)
      : core_(std::move(core)), conn_(std::move(conn)) {}
  ~ChunkWriter() override { Close(); }
  bool Write(const std::string& data) override;
  void Close() override;

 private:
  std::shared_ptr<Core> core_;
  std::shared_ptr<Conn> conn_;
};

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(ListenerOptions options, RequestHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}

  ~Core() {
    if (ctx_ != nullptr) {
      SSL_CTX_free(ctx_);
    }
    if (listen_fd_ >= 0) {
      ::close(listen_fd_);
    }
    if (wake_fd_ >= 0) {
      ::close(wake_fd_);
    }
    if (epoll_fd_ >= 0) {
      ::close(epoll_fd_);
    }
  }

  Status Open();
  void Close();
  ListenerStats Stats();

  bool StreamWrite(Conn& c, const std::string& data);
  void StreamEnd(Conn& c);

 private:
  void Loop(int index);
  void Accept();
  void OnEvent(uint64_t id, uint32_t events);
  void FlushListed();
  void RunDeferred(std::vector<std::shared_ptr<Conn>>& deferred);
  // Runs the owner's work on `c` (the caller set c->busy) until nothing is left, then re-arms it
  // or destroys it.
  void Process(const std::shared_ptr<Conn>& c, uint32_t events);
  bool Handshake(Conn& c);
  void ReadSome(Conn& c);
  // Handles the complete requests buffered on `c`; false when the connection must close.
  void ServeBuffered(Conn& c);
  // One step of parsing: 1 = a request is complete (in c.parse.parsed), 0 = more bytes needed,
  // -1 = an error reply was queued.
  int ParseNext(Conn& c);
  void Dispatch(Conn& c, Parsed parsed);
  void QueueError(Conn& c, int status, const std::string& reason, const std::string& message);
  void QueueResponse(Conn& c, HttpResponse& resp, bool keep_alive, bool head);
  void Flush(Conn& c);
  void Destroy(const std::shared_ptr<Conn>& c);
  // Puts an unowned connection with work on the flush list (c.mu held).
  void ScheduleLocked(Conn& c);
  void Sweep();
  void Rearm(Conn& c, uint32_t events);

  ListenerOptions options_;
  RequestHandler handler_;
  SSL_CTX* ctx_ = nullptr;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex accept_mu_;
  int listen_fd_ = -1;
  bool accept_paused_ = false;

  std::mutex conns_mu_;
  std::condition_variable conns_cv_;
  std::unordered_map<uint64_t, std::shared_ptr<Conn>> conns_;
  uint64_t next_id_ = kFirstConnId;

  std::mutex flush_mu_;
  std::vector<std::shared_ptr<Conn>> flush_list_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> exit_{false};
  std::atomic<int64_t> next_sweep_ms_{0};
  std::vector<std::thread> threads_;
  std::mutex close_mu_;
  bool closed_ = false;
};

bool ChunkWriter::Write(const std::string& data) { return core_->StreamWrite(*conn_, data); }
void ChunkWriter::Close() { core_->StreamEnd(*conn_); }

int AlpnSelect(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  // Only HTTP/1.1: a client offering h2 (Go, kubectl) must not pick it.
  for (unsigned int i = 0; i < inlen;) {
    unsigned int len = in[i];
    if (i + 1 + len > inlen) {
      break;
    }
    if (len == 8 && std::memcmp(in + i + 1, "http/1.1", 8) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

Status Core::Open() {
  std::string where = options_.host + ":" + std::to_string(options_.port);
  if (options_.tls) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (ctx_ == nullptr) {
      return InternalError("SSL_CTX_new: " + OpensslErrors());
    }
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx_, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx_, options_.cert_file.c_str()) != 1) {
      return UnavailableError("cannot listen on " + where + ": certificate " +
                              options_.cert_file.string() + ": " + OpensslErrors());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx_, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx_) != 1) {
      return UnavailableError("cannot listen on " + where + ": key " + options_.key_file.string() +
                              ": " + OpensslErrors());
    }
    SSL_CTX_set_alpn_select_cb(ctx_, AlpnSelect, nullptr);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
  std::string port = std::to_string(options_.port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return InvalidArgumentError("cannot listen on " + where + ": " + ::gai_strerror(rc));
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  }
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
    std::string err = std::strerror(errno);
    ::freeaddrinfo(res);
    if (fd >= 0) {
      ::close(fd);
    }
    return UnavailableError("cannot listen on " + where + ": " + err);
  }
  ::freeaddrinfo(res);
  listen_fd_ = fd;
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return InternalError(std::string("epoll/eventfd: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = kListenId;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = kWakeId;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  int n = std::clamp(options_.io_threads, 1, 64);
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this, i] { Loop(i); });
  }
  return OkStatus();
}

void Core::Loop(int index) {
  // Writes to a socket the peer closed raise SIGPIPE in the writing thread (OpenSSL writes with
  // write(2)); here it stays blocked and the write fails with EPIPE instead.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  std::string name = "lb-http-" + std::to_string(index);
  pthread_setname_np(pthread_self(), name.c_str());
  int timeout_ms =
      static_cast<int>(std::clamp<int64_t>(options_.idle_timeout.count() / 4, 10, 1000));
  std::vector<std::shared_ptr<Conn>> deferred;
  t_core = this;
  t_deferred = &deferred;
  while (true) {
    epoll_event ev;
    int n = ::epoll_wait(epoll_fd_, &ev, 1, timeout_ms);
    if (exit_.load()) {
      t_core = nullptr;
      t_deferred = nullptr;
      // Pass the wake-up on to the next thread still waiting.
      uint64_t one = 1;
      [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof(one));
      return;
    }
    if (n == 1) {
      if (ev.data.u64 == kListenId) {
        Accept();
      } else if (ev.data.u64 == kWakeId) {
        FlushListed();
      } else {
        OnEvent(ev.data.u64, ev.events);
      }
      RunDeferred(deferred);
    }
    int64_t now = NowMs();
    int64_t due = next_sweep_ms_.load();
    if (now >= due && next_sweep_ms_.compare_exchange_strong(due, now + timeout_ms)) {
      Sweep();
    }
  }
}

void Core::Accept() {
  std::lock_guard<std::mutex> lock(accept_mu_);
  if (listen_fd_ < 0) {
    return;
  }
  for (int i = 0; i < 64; ++i) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: leave the listener unarmed until the next sweep rather than spin.
        spdlog::warn("HTTP listener cannot accept error={}", std::strerror(errno));
        accept_paused_ = true;
        return;
      }
      break;  // EAGAIN, or an aborted connection
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_shared<Conn>();
    c->fd = fd;
    c->last_activity_ms = NowMs();
    if (ctx_ != nullptr) {
      c->ssl = SSL_new(ctx_);
      if (c->ssl == nullptr || SSL_set_fd(c->ssl, fd) != 1) {
        spdlog::warn("HTTP listener cannot start TLS error={}", OpensslErrors());
        continue;  // ~Conn closes fd
      }
      SSL_set_accept_state(c->ssl);
    } else {
      c->handshaken = true;
    }
    {
      std::lock_guard<std::mutex> conns(conns_mu_);
      c->id = next_id_++;
      conns_.emplace(c->id, c);
    }
    std::lock_guard<std::mutex> conn_lock(c->mu);
    c->armed = true;
    c->armed_events = EPOLLIN;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = c->id;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = kListenId;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
}

void Core::OnEvent(uint64_t id, uint32_t events) {
  std::shared_ptr<Conn> c;
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    auto it = conns_.find(id);
    if (it == conns_.end()) {
      return;
    }
    c = it->second;
  }
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->armed = false;
    if (c->closed) {
      return;
    }
    if (c->busy) {
      c->pending_events |= events;
      return;
    }
    c->busy = true;
  }
  Process(c, events);
}

void Core::RunDeferred(std::vector<std::shared_ptr<Conn>>& deferred) {
  // Flushing may run handlers (requests buffered behind a finished stream) that defer more.
  while (!deferred.empty()) {
    std::vector<std::shared_ptr<Conn>> list;
    list.swap(deferred);
    for (const auto& c : list) {
      uint32_t events;
      {
        std::lock_guard<std::mutex> lock(c->mu);
        c->in_flush_list = false;
        if (c->closed || c->busy) {
          continue;
        }
        c->busy = true;
        events = std::exchange(c->pending_events, 0u);
      }
      Process(c, events);
    }
  }
}

void Core::FlushListed() {
  uint64_t count;
  [[maybe_unused]] ssize_t r = ::read(wake_fd_, &count, sizeof(count));
  std::vector<std::shared_ptr<Conn>> list;
  {
    std::lock_guard<std::mutex> lock(flush_mu_);
    list.swap(flush_list_);
  }
  for (const auto& c : list) {
    uint32_t events;
    {
      std::lock_guard<std::mutex> lock(c->mu);
      c->in_flush_list = false;
      if (c->closed || c->busy) {
        continue;  // the owner flushes what is pending before it lets go
      }
      c->busy = true;
      events = std::exchange(c->pending_events, 0u);
    }
    Process(c, events);
  }
}

void Core::ScheduleLocked(Conn& c) {
  if (c.busy || c.in_flush_list || c.closed) {
    return;
  }
  c.in_flush_list = true;
  if (t_core == this) {
    t_deferred->push_back(c.shared_from_this());
    return;
  }
  bool first;
  {
    std::lock_guard<std::mutex> lock(flush_mu_);
    first = flush_list_.empty();
    flush_list_.push_back(c.shared_from_this());
  }
  if (first) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof(one));
  }
}

bool Core::StreamWrite(Conn& c, const std::string& data) {
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.closed || c.abort || c.stream_ended || !c.streaming) {
    return false;
  }
  if (data.empty()) {
    return true;  // an empty chunk would end the stream
  }
  if (c.pending.size() + c.sending_bytes.load(std::memory_order_relaxed) >
      options_.max_stream_backlog) {
    c.abort = true;
    ScheduleLocked(c);
    return false;
  }
  char size[24];
  int n = std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  c.pending.append(size, static_cast<size_t>(n));
  c.pending.append(data);
  c.pending.append("\r\n", 2);
  ScheduleLocked(c);
  return true;
}

void Core::StreamEnd(Conn& c) {
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.closed || !c.streaming || c.stream_ended) {
    return;
  }
  c.stream_ended = true;
  c.pending.append("0\r\n\r\n", 5);
  ScheduleLocked(c);
}

bool Core::Handshake(Conn& c) {
  ERR_clear_error();
  int rc = SSL_accept(c.ssl);
  if (rc == 1) {
    c.handshaken = true;
    c.read_wants_write = false;
    return true;
  }
  int err = SSL_get_error(c.ssl, rc);
  if (err == SSL_ERROR_WANT_READ) {
    c.read_wants_write = false;
  } else if (err == SSL_ERROR_WANT_WRITE) {
    c.read_wants_write = true;
  } else {
    spdlog::debug("Rejected a TLS handshake error={}", OpensslErrors());
    c.failed = true;
  }
  return false;
}

void Core::ReadSome(Conn& c) {
  char buf[kReadSlice];
  size_t total = 0;
  // Bytes not parsed yet stay below kReadPerTurn: the parser takes them before more are read.
  while (total < kReadPerTurn && c.in.size() - c.in_pos < kReadPerTurn && !c.failed &&
         !c.peer_eof) {
    ssize_t n;
    if (c.ssl != nullptr) {
      ERR_clear_error();
      int rc = SSL_read(c.ssl, buf, sizeof(buf));
      if (rc <= 0) {
        int err = SSL_get_error(c.ssl, rc);
        if (err == SSL_ERROR_WANT_READ) {
          c.read_wants_write = false;
        } else if (err == SSL_ERROR_WANT_WRITE) {
          c.read_wants_write = true;
        } else if (err == SSL_ERROR_ZERO_RETURN ||
                   (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
          c.peer_eof = true;
        } else {
          spdlog::debug("HTTP connection TLS read failed error={}", OpensslErrors());
          c.failed = true;
        }
        break;
      }
      c.read_wants_write = false;
      n = rc;
    } else {
      n = ::recv(c.fd, buf, sizeof(buf), 0);
      if (n == 0) {
        c.peer_eof = true;
        break;
      }
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          c.failed = true;
        }
        break;
      }
    }
    total += static_cast<size_t>(n);
    if (c.lingering) {
      c.lingered += static_cast<size_t>(n);
      if (c.lingered > kMaxLingerBytes) {
        c.failed = true;
      }
      continue;
    }
    if (c.in_pos > 0 && (c.in_pos == c.in.size() || c.in_pos >= kReadSlice)) {
      c.in.erase(0, c.in_pos);  // the parse state counts from in_pos
      c.in_pos = 0;
    }
    c.in.append(buf, static_cast<size_t>(n));
  }
  if (total > 0) {
    c.last_activity_ms.store(NowMs(), std::memory_order_relaxed);
  }
}

void Core::QueueError(Conn& c, int status, const std::string& reason, const std::string& message) {
  HttpResponse resp = StatusResponse(status, reason, message);
  QueueResponse(c, resp, /*keep_alive=*/false, false);
  c.linger = true;
  c.in.clear();  // the rest of this connection's input is dropped
  c.in_pos = 0;
}

void Core::QueueResponse(Conn& c, HttpResponse& resp, bool keep_alive, bool head) {
  std::string out;
  out.reserve(256 + (resp.body.size() <= kCoalesceBody ? resp.body.size() : 0));
  out += "HTTP/1.1 ";
  out += std::to_string(resp.status);
  out += ' ';
  out += Reason(resp.status);
  out += "\r\n";
  for (const auto& [name, value] : resp.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!resp.content_type.empty()) {
    out += "Content-Type: ";
    out += resp.content_type;
    out += "\r\n";
  }
  bool no_body = resp.status < 200 || resp.status == 204 || resp.status == 304;
  if (resp.stream) {
    out += "Cache-Control: no-cache, private\r\nTransfer-Encoding: chunked\r\n";
  } else if (!no_body) {
    out += "Content-Length: ";
    out += std::to_string(resp.body.size());
    out += "\r\n";
  }
  if (!keep_alive) {
    out += "Connection: close\r\n";
    c.close_when_flushed = true;
  }
  out += "\r\n";
  size_t added = out.size();
  if (!resp.stream && !no_body && !head) {
    if (resp.body.size() <= kCoalesceBody) {
      out += resp.body;
      added += resp.body.size();
    } else {
      c.sending_bytes.fetch_add(added + resp.body.size(), std::memory_order_relaxed);
      c.sending.push_back(std::move(out));
      c.sending.push_back(std::move(resp.body));
      return;
    }
  } else {
    added = out.size();
  }
  c.sending.push_back(std::move(out));
  c.sending_bytes.fetch_add(added, std::memory_order_relaxed);
}

int Core::ParseNext(Conn& c) {
  ParseState& p = c.parse;
  using Phase = ParseState::Phase;
  // Moves what has arrived of the body (or of a chunk) into the request; true once complete.
  auto take_body = [&](std::string_view avail) {
    size_t take = std::min(p.body_left, avail.size());
    p.parsed.request.body.append(avail.data(), take);
    c.in_pos += take;
    p.body_left -= take;
    return p.body_left == 0;
  };
  while (true) {
    std::string_view avail(c.in.data() + c.in_pos, c.in.size() - c.in_pos);
    switch (p.phase) {
      case Phase::kHead: {
        // Empty lines before a request are allowed (RFC 9112 §2.2).
        while (avail.size() >= 2 && avail[0] == '\r' && avail[1] == '\n') {
          c.in_pos += 2;
          avail.remove_prefix(2);
          p.scanned = 0;
        }
        size_t from = p.scanned >= 3 ? p.scanned - 3 : 0;
        size_t end = avail.find("\r\n\r\n", from);
        if (end == std::string_view::npos) {
          p.scanned = avail.size();
          if (avail.size() > options_.max_header_bytes) {
            QueueError(c, 431, "RequestHeaderFieldsTooLarge",
                       "the request line and headers are larger than " +
                           std::to_string(options_.max_header_bytes) + " bytes");
            return -1;
          }
          return 0;
        }
        if (end + 4 > options_.max_header_bytes) {
          QueueError(c, 431, "RequestHeaderFieldsTooLarge",
                     "the request line and headers are larger than " +
                         std::to_string(options_.max_header_bytes) + " bytes");
          return -1;
        }
        std::string_view head = avail.substr(0, end + 2);
        c.in_pos += end + 4;
        p.scanned = 0;
        p.parsed = Parsed{};
        p.chunked = false;
        p.body_left = 0;
        HttpRequest& req = p.parsed.request;
        size_t eol = head.find("\r\n");
        std::string_view line = head.substr(0, eol);
        head.remove_prefix(eol + 2);
        size_t sp1 = line.find(' ');
        size_t sp2 = line.rfind(' ');
        if (sp1 == std::string_view::npos || sp2 == sp1 || sp1 == 0) {
          QueueError(c, 400, "BadRequest", "malformed request line");
          return -1;
        }
        std::string_view method = line.substr(0, sp1);
        std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        std::string_view version = line.substr(sp2 + 1);
        for (char ch : method) {
          if (ch <= ' ' || ch >= 127 || std::strchr("()<>@,;:\\\"/[]?={}", ch) != nullptr) {
            QueueError(c, 400, "BadRequest", "malformed request method");
            return -1;
          }
        }
        for (char ch : target) {
          if (static_cast<unsigned char>(ch) <= ' ' || ch == 127) {
            QueueError(c, 400, "BadRequest", "malformed request target");
            return -1;
          }
        }
        bool http11;
        if (version == "HTTP/1.1") {
          http11 = true;
        } else if (version == "HTTP/1.0") {
          http11 = false;
        } else if (version.substr(0, 5) == "HTTP/") {
          QueueError(c, 505, "HTTPVersionNotSupported",
                     "HTTP version " + std::string(version) + " is not supported");
          return -1;
        } else {
          QueueError(c, 400, "BadRequest", "malformed request line");
          return -1;
        }
        req.method = std::string(method);
        for (const char* known : {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}) {
          if (IEquals(req.method, known)) {
            req.method = known;
          }
        }
        p.parsed.head = req.method == "HEAD";
        // The target: origin form, or absolute form (its path and query).
        if (target.substr(0, 7) == "http://" || target.substr(0, 8) == "https://") {
          size_t slash = target.find('/', target.find("//") + 2);
          target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
        }
        size_t hash = target.find('#');
        target = target.substr(0, hash);
        size_t qmark = target.find('?');
        std::string_view path = target.substr(0, qmark);
        req.path = Decode(path.empty() ? std::string_view("/") : path);
        if (qmark != std::string_view::npos) {
          std::string_view query = target.substr(qmark + 1);
          while (!query.empty()) {
            size_t amp = query.find('&');
            std::string_view pair = query.substr(0, amp);
            if (!pair.empty()) {
              size_t eq = pair.find('=');
              req.query[Decode(pair.substr(0, eq))] =
                  eq == std::string_view::npos ? "" : Decode(pair.substr(eq + 1));
            }
            if (amp == std::string_view::npos) {
              break;
            }
            query.remove_prefix(amp + 1);
          }
        }
        std::string connection, transfer_encoding, expect, content_length;
        bool has_length = false;
        while (!head.empty()) {
          eol = head.find("\r\n");
          std::string_view h = head.substr(0, eol);
          head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
          size_t colon = h.find(':');
          if (colon == std::string_view::npos || colon == 0 || h[0] == ' ' || h[0] == '\t' ||
              h[colon - 1] == ' ' || h[colon - 1] == '\t') {
            QueueError(c, 400, "BadRequest", "malformed header line");
            return -1;
          }
          std::string_view name = h.substr(0, colon);
          std::string_view value = h.substr(colon + 1);
          while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
            value.remove_prefix(1);
          }
          while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
            value.remove_suffix(1);
          }
          // Repeated headers are joined with ", " (Content-Length must agree instead).
          auto add = [&](std::string& field) {
            if (field.empty()) {
              field = std::string(value);
            } else if (!value.empty()) {
              field += ", ";
              field += value;
            }
          };
          switch (std::tolower(static_cast<unsigned char>(name[0]))) {
            case 'a':
              if (IEquals(name, "Authorization")) {
                add(req.authorization);
              } else if (IEquals(name, "Accept")) {
                add(req.accept);
              }
              break;
            case 'c':
              if (IEquals(name, "Content-Type")) {
                add(req.content_type);
              } else if (IEquals(name, "Connection")) {
                add(connection);
              } else if (IEquals(name, "Content-Length")) {
                if (has_length && content_length != value) {
                  QueueError(c, 400, "BadRequest", "conflicting Content-Length headers");
                  return -1;
                }
                has_length = true;
                content_length = std::string(value);
              }
              break;
            case 'e':
              if (IEquals(name, "Expect")) {
                add(expect);
              }
              break;
            case 't':
              if (IEquals(name, "Transfer-Encoding")) {
                add(transfer_encoding);
              }
              break;
            case 'u':
              if (IEquals(name, "User-Agent")) {
                add(req.user_agent);
              }
              break;
            default:
              break;
          }
        }
        p.parsed.keep_alive =
            http11 ? !HasToken(connection, "close") : HasToken(connection, "keep-alive");
        if (!transfer_encoding.empty()) {
          if (has_length) {
            QueueError(c, 400, "BadRequest",
                       "a request must not have both Content-Length and Transfer-Encoding");
            return -1;
          }
          if (!IEquals(transfer_encoding, "chunked")) {
            QueueError(c, 501, "NotImplemented",
                       "Transfer-Encoding \"" + transfer_encoding + "\" is not supported");
            return -1;
          }
          p.chunked = true;
        } else if (has_length) {
          if (content_length.empty() || content_length.size() > 19 ||
              content_length.find_first_not_of("0123456789") != std::string::npos) {
            QueueError(c, 400, "BadRequest", "invalid Content-Length \"" + content_length + "\"");
            return -1;
          }
          p.body_left = std::stoull(content_length);
          if (p.body_left > options_.max_body_bytes) {
            QueueError(c, 413, "RequestEntityTooLarge",
                       "the request body (" + content_length + " bytes) is larger than " +
                           std::to_string(options_.max_body_bytes) + " bytes");
            return -1;
          }
        }
        bool body_expected = p.chunked || p.body_left > 0;
        if (body_expected && http11 && HasToken(expect, "100-continue") &&
            c.in_pos == c.in.size()) {
          std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
          c.sending_bytes.fetch_add(cont.size(), std::memory_order_relaxed);
          c.sending.push_back(std::move(cont));
        }
        if (p.chunked) {
          p.phase = Phase::kChunkSize;
        } else if (p.body_left > 0) {
          req.body.reserve(p.body_left);
          p.phase = Phase::kBody;
        } else {
          return 1;
        }
        break;
      }
      case Phase::kBody: {
        if (!take_body(avail)) {
          return 0;
        }
        p.phase = Phase::kHead;
        return 1;
      }
      case Phase::kChunkSize: {
        size_t eol = avail.find("\r\n");
        if (eol == std::string_view::npos) {
          if (avail.size() > 1024) {
            QueueError(c, 400, "BadRequest", "malformed chunk size line");
            return -1;
          }
          return 0;
        }
        std::string_view size_text = avail.substr(0, eol);
        size_text = size_text.substr(0, size_text.find(';'));  // chunk extensions
        while (!size_text.empty() && (size_text.back() == ' ' || size_text.back() == '\t')) {
          size_text.remove_suffix(1);
        }
        if (size_text.empty() || size_text.size() > 15) {
          QueueError(c, 400, "BadRequest", "malformed chunk size line");
          return -1;
        }
        size_t size = 0;
        for (char ch : size_text) {
          int v = HexValue(ch);
          if (v < 0) {
            QueueError(c, 400, "BadRequest", "malformed chunk size line");
            return -1;
          }
          size = size * 16 + static_cast<size_t>(v);
        }
        c.in_pos += eol + 2;
        if (size == 0) {
          p.phase = Phase::kTrailer;
          break;
        }
        if (p.parsed.request.body.size() + size > options_.max_body_bytes) {
          QueueError(c, 413, "RequestEntityTooLarge",
                     "the request body is larger than " + std::to_string(options_.max_body_bytes) +
                         " bytes");
          return -1;
        }
        p.body_left = size;
        p.phase = Phase::kChunkData;
        break;
      }
      case Phase::kChunkData: {
        if (!take_body(avail)) {
          return 0;
        }
        p.phase = Phase::kChunkEnd;
        break;
      }
      case Phase::kChunkEnd: {
        if (avail.size() < 2) {
          return 0;
        }
        if (avail[0] != '\r' || avail[1] != '\n') {
          QueueError(c, 400, "BadRequest", "malformed chunk: no CRLF after its data");
          return -1;
        }
        c.in_pos += 2;
        p.phase = Phase::kChunkSize;
        break;
      }
      case Phase::kTrailer: {
        // Trailer fields are read and dropped, up to the empty line.
        size_t eol = avail.find("\r\n");
        if (eol == std::string_view::npos) {
          if (avail.size() > options_.max_header_bytes) {
            QueueError(c, 431, "RequestHeaderFieldsTooLarge", "the request trailer is too large");
            return -1;
          }
          return 0;
        }
        c.in_pos += eol + 2;
        if (eol == 0) {
          p.phase = Phase::kHead;
          return 1;
        }
        break;
      }
    }
  }
}

void Core::ServeBuffered(Conn& c) {
  while (!c.failed && !c.close_when_flushed && !c.lingering) {
    {
      std::lock_guard<std::mutex> lock(c.mu);
      if (c.streaming || c.closing) {
        return;
      }
    }
    if (c.in_pos == c.in.size() && c.parse.phase == ParseState::Phase::kHead) {
      return;
    }
    int r = ParseNext(c);
    if (r <= 0) {
      return;
    }
    Parsed parsed = std::move(c.parse.parsed);
    c.parse.parsed = Parsed{};
    if (c.in_pos == c.in.size()) {
      c.in.clear();
      c.in_pos = 0;
      if (c.in.capacity() > (256u << 10)) {
        c.in.shrink_to_fit();  // after a large body: idle connections stay small
      }
    }
    Dispatch(c, std::move(parsed));
    Flush(c);
  }
}

void Core::Dispatch(Conn& c, Parsed parsed) {
  HttpResponse resp;
  try {
    resp = handler_(parsed.request);
  } catch (const std::exception& e) {
    spdlog::error("Failed request method={} path={} error={}", parsed.request.method,
                  parsed.request.path, e.what());
    resp = StatusResponse(500, "InternalError", std::string("internal error: ") + e.what());
  }
  c.last_activity_ms.store(NowMs(), std::memory_order_relaxed);
  if (!resp.stream) {
    QueueResponse(c, resp, parsed.keep_alive, parsed.head);
    return;
  }
  QueueResponse(c, resp, /*keep_alive=*/true, parsed.head);
  c.stream_keep_alive = parsed.keep_alive;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.streaming = true;
    c.stream_ended = false;
  }
  auto writer = std::make_shared<ChunkWriter>(shared_from_this(), c.shared_from_this());
  try {
    resp.stream(std::move(writer));
  } catch (const std::exception& e) {
    spdlog::error("Failed streaming response path={} error={}", parsed.request.path, e.what());
    std::lock_guard<std::mutex> lock(c.mu);
    c.abort = true;
  }
}

void Core::Flush(Conn& c) {
  bool ended;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (!c.pending.empty()) {
      c.sending_bytes.fetch_add(c.pending.size(), std::memory_order_relaxed);
      c.sending.push_back(std::move(c.pending));
      c.pending.clear();
    }
    if (c.abort) {
      c.failed = true;
      return;
    }
    ended = c.streaming && c.stream_ended;
  }
  c.write_blocked = false;
  size_t written = 0;
  while (!c.sending.empty() && !c.failed) {
    const std::string& front = c.sending.front();
    if (c.send_off == front.size()) {
      c.sending.pop_front();
      c.send_off = 0;
      continue;
    }
    if (c.ssl != nullptr) {
      size_t len = std::min(front.size() - c.send_off, kWriteSlice);
      ERR_clear_error();
      int rc = SSL_write(c.ssl, front.data() + c.send_off, static_cast<int>(len));
      if (rc <= 0) {
        int err = SSL_get_error(c.ssl, rc);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
          c.write_blocked = true;
        } else {
          c.failed = true;
        }
        break;
      }
      c.send_off += static_cast<size_t>(rc);
      written += static_cast<size_t>(rc);
    } else {
      iovec iov[16];
      int count = 0;
      size_t off = c.send_off;
      for (auto it = c.sending.begin(); it != c.sending.end() && count < 16; ++it) {
        iov[count].iov_base = const_cast<char*>(it->data() + off);
        iov[count].iov_len = it->size() - off;
        off = 0;
        ++count;
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(count);
      ssize_t n = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          c.write_blocked = true;
        } else {
          c.failed = true;
        }
        break;
      }
      written += static_cast<size_t>(n);
      size_t left = static_cast<size_t>(n);
      while (left > 0) {
        size_t in_front = c.sending.front().size() - c.send_off;
        if (left >= in_front) {
          left -= in_front;
          c.sending.pop_front();
          c.send_off = 0;
        } else {
          c.send_off += left;
          left = 0;
        }
      }
    }
  }
  if (written > 0) {
    c.sending_bytes.fetch_sub(written, std::memory_order_relaxed);
    c.last_activity_ms.store(NowMs(), std::memory_order_relaxed);
  }
  if (ended && c.sending.empty() && !c.failed) {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.pending.empty()) {
      c.streaming = false;
      c.stream_ended = false;
      c.stream_finished = true;
      if (!c.stream_keep_alive) {
        c.close_when_flushed = true;
      }
    }
  }
}

void Core::Process(const std::shared_ptr<Conn>& conn, uint32_t events) {
  Conn& c = *conn;
  for (int round = 0;; ++round) {
    if (events & EPOLLERR) {
      c.failed = true;
    }
    if (!c.failed && !c.handshaken) {
      Handshake(c);
    }
    if (!c.failed && c.handshaken) {
      bool readable =
          (events & (EPOLLIN | EPOLLHUP)) != 0 || (c.read_wants_write && (events & EPOLLOUT) != 0);
      if (readable) {
        ReadSome(c);
      }
      ServeBuffered(c);
      Flush(c);
      if (c.in.size() - c.in_pos >= kReadPerTurn) {
        // Unparsed input piles up only behind a stream (a client sending while it watches).
        c.failed = true;
      }
    }
    bool again = c.stream_finished;  // requests sent behind a stream can be served now
    c.stream_finished = false;
    if (c.sending.empty() && c.close_when_flushed && !c.failed && !c.lingering) {
      if (c.linger && !c.peer_eof) {
        // The error reply is out: stop sending and drop what the client still sends, so the
        // reply is not lost to a reset of unread data.
        ::shutdown(c.fd, SHUT_WR);
        c.lingering = true;
        c.last_activity_ms.store(NowMs(), std::memory_order_relaxed);
        c.in.clear();
        c.in_pos = 0;
      } else {
        c.failed = true;
      }
    }
    std::unique_lock<std::mutex> lock(c.mu);
    bool nothing_to_send = c.sending.empty() && c.pending.empty();
    bool close = c.failed || c.abort;
    // After the client's EOF: finish sending the replies, but not a stream nobody reads (what
    // is left in the input is no complete request: ServeBuffered took those).
    close = close || (c.peer_eof && (c.streaming || c.lingering || nothing_to_send));
    close = close || (c.closing && !c.streaming && nothing_to_send);
    if (close) {
      c.closed = true;
      c.busy = false;
      lock.unlock();
      Destroy(conn);
      return;
    }
    if (round < 64) {
      if (c.pending_events != 0) {
        events = c.pending_events;
        c.pending_events = 0;
        continue;
      }
      if (again || (!c.pending.empty() && !c.write_blocked)) {
        events = 0;
        continue;
      }
    }
    if (c.ssl != nullptr && !c.peer_eof && SSL_pending(c.ssl) > 0) {
      // Decrypted input waits inside OpenSSL, where epoll does not see it: come back for it.
      c.pending_events |= EPOLLIN;
      c.busy = false;
      ScheduleLocked(c);
      return;
    }
    uint32_t interest = c.peer_eof ? 0u : static_cast<uint32_t>(EPOLLIN);
    if (c.write_blocked || c.read_wants_write || !c.pending.empty()) {
      interest |= EPOLLOUT;
    }
    if (!c.armed || c.armed_events != interest) {
      epoll_event ev{};
      ev.events = interest | EPOLLONESHOT;
      ev.data.u64 = c.id;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
      c.armed = true;
      c.armed_events = interest;
    }
    c.busy = false;
    return;
  }
}

void Core::Destroy(const std::shared_ptr<Conn>& c) {
  // c->closed is set: no writer or sweep touches the socket any more.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
  if (c->ssl != nullptr) {
    SSL_free(c->ssl);
    c->ssl = nullptr;
  }
  ::close(c->fd);
  c->fd = -1;
  c->in.clear();
  c->in.shrink_to_fit();
  c->sending.clear();
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->pending.clear();
    c->pending.shrink_to_fit();
  }
  std::lock_guard<std::mutex> lock(conns_mu_);
  conns_.erase(c->id);
  if (conns_.empty()) {
    conns_cv_.notify_all();
  }
}

void Core::Sweep() {
  int64_t now = NowMs();
  {
    std::lock_guard<std::mutex> lock(accept_mu_);
    if (accept_paused_ && listen_fd_ >= 0) {
      accept_paused_ = false;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLONESHOT;
      ev.data.u64 = kListenId;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
    }
  }
  std::vector<std::shared_ptr<Conn>> all;
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    all.reserve(conns_.size());
    for (const auto& [id, c] : conns_) {
      all.push_back(c);
    }
  }
  int64_t idle = options_.idle_timeout.count();
  int64_t linger = std::chrono::duration_cast<std::chrono::milliseconds>(kLinger).count();
  for (const auto& c : all) {
    std::lock_guard<std::mutex> lock(c->mu);
    if (c->closed || c->busy || c->streaming) {
      continue;
    }
    int64_t quiet = now - c->last_activity_ms.load(std::memory_order_relaxed);
    // `lingering` is the owner's, but the owner is not running (not busy) and set it before it
    // let go under this lock.
    if (quiet > idle || (c->lingering && quiet > std::min(idle, linger))) {
      // The socket reports EOF/HUP; the owner of that event closes the connection.
      ::shutdown(c->fd, SHUT_RDWR);
      c->abort = true;
      ScheduleLocked(*c);
    }
  }
}

void Core::Close() {
  {
    std::lock_guard<std::mutex> lock(close_mu_);
    if (closed_) {
      return;
    }
    closed_ = true;
  }
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(accept_mu_);
    if (listen_fd_ >= 0) {
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
      ::close(listen_fd_);
      listen_fd_ = -1;
    }
  }
  auto snapshot = [this] {
    std::vector<std::shared_ptr<Conn>> all;
    std::lock_guard<std::mutex> lock(conns_mu_);
    for (const auto& [id, c] : conns_) {
      all.push_back(c);
    }
    return all;
  };
  // End streams and idle connections; replies in progress finish, then their connection closes.
  for (const auto& c : snapshot()) {
    std::lock_guard<std::mutex> lock(c->mu);
    if (c->closed) {
      continue;
    }
    c->closing = true;
    if (c->streaming && !c->stream_ended) {
      c->stream_ended = true;
      c->pending.append("0\r\n\r\n", 5);
    }
    ScheduleLocked(*c);
  }
  {
    std::unique_lock<std::mutex> lock(conns_mu_);
    if (!conns_cv_.wait_for(lock, kCloseDrain, [this] { return conns_.empty(); })) {
      spdlog::warn("Closing HTTP listener with {} connections still answering", conns_.size());
    }
  }
  for (const auto& c : snapshot()) {
    std::lock_guard<std::mutex> lock(c->mu);
    if (!c->closed) {
      ::shutdown(c->fd, SHUT_RDWR);
      c->abort = true;
      ScheduleLocked(*c);
    }
  }
  {
    // Handlers still running return, then their connection is destroyed by its owner.
    std::unique_lock<std::mutex> lock(conns_mu_);
    conns_cv_.wait(lock, [this] { return conns_.empty(); });
  }
  exit_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof(one));
  for (auto& t : threads_) {
    t.join();
  }
  threads_.clear();
}

ListenerStats Core::Stats() {
  std::vector<std::shared_ptr<Conn>> all;
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    all.reserve(conns_.size());
    for (const auto& [id, c] : conns_) {
      all.push_back(c);
    }
  }
  ListenerStats stats;
  for (const auto& c : all) {
    std::lock_guard<std::mutex> lock(c->mu);
    if (c->closed) {
      continue;
    }
    ++stats.connections;
    if (c->streaming) {
      ++stats.streams;
      stats.stream_backlog_bytes +=
          c->pending.size() + c->sending_bytes.load(std::memory_order_relaxed);
    }
  }
  return stats;
}

class EpollListener final : public HttpListener {
 public:
  explicit EpollListener(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  ~EpollListener() override { Close(); }
  void Close() override { core_->Close(); }
  ListenerStats Stats() const override { return core_->Stats(); }

 private:
  std::shared_ptr<Core> core_;
};

// cpprestsdk's shared pool (the HTTP clients of the process: in `lifeboat up`, the controllers')
// starts 40 threads, and every task it posts wakes an idle one: on two cores most of a request's
// CPU went to context switches. The cpprestsdk listener this file used to be sized it to 4 when
// it opened; the clients still rely on that. Kept as is when the process used the pool before.
void SizeClientThreadPool() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      crossplat::threadpool::initialize_with_threads(4);
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
  if (::inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &addr.sin_addr) != 1) {
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
  SizeClientThreadPool();
  auto core = std::make_shared<Core>(options, std::move(handler));
  Status opened = core->Open();
  if (!opened.ok()) {
    core->Close();
    return opened;
  }
  return std::unique_ptr<HttpListener>(new EpollListener(std::move(core)));
}

}  // namespace lifeboat::apiserver
