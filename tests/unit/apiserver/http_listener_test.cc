#include "apiserver/http_listener.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "apiserver/credentials.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::apiserver {
namespace {

// A blocking HTTP/1.1 client over a raw socket (optionally TLS) that sends exactly the bytes a
// test gives it and parses what comes back.
class RawClient {
 public:
  // rcvbuf > 0: a small receive buffer, so what the client does not read stays in the server.
  RawClient(int port, bool tls, const std::string& alpn = "\x08http/1.1", int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    timeval tv{10, 0};  // a broken server fails the test instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (connected_ && tls) {
      ctx_ = SSL_CTX_new(TLS_client_method());
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
      ssl_ = SSL_new(ctx_);
      if (!alpn.empty()) {
        SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(alpn.data()),
                            static_cast<unsigned int>(alpn.size()));
      }
      SSL_set_fd(ssl_, fd_);
      connected_ = SSL_connect(ssl_) == 1;
    }
  }
  ~RawClient() {
    if (ssl_ != nullptr) {
      SSL_free(ssl_);
    }
    if (ctx_ != nullptr) {
      SSL_CTX_free(ctx_);
    }
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  bool connected() const { return connected_; }
  std::string alpn() const {
    const unsigned char* p = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    return std::string(reinterpret_cast<const char*>(p), len);
  }

  bool Send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      int n =
          ssl_ != nullptr
              ? SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off))
              : static_cast<int>(::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL));
      if (n <= 0) {
        return false;
      }
      off += static_cast<size_t>(n);
    }
    return true;
  }

  struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    bool ok = false;  // a complete response was read
  };

  // Reads one response (Content-Length or chunked body; none for HEAD or 1xx).
  Response Read(bool head = false) {
    Response r;
    std::string line;
    if (!ReadLine(&line) || line.size() < 12) {
      return r;
    }
    r.status = std::stoi(line.substr(9, 3));
    while (ReadLine(&line) && !line.empty()) {
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& ch : name) {
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    if (head || r.status < 200) {
      r.ok = true;
      return r;
    }
    if (r.headers["transfer-encoding"] == "chunked") {
      std::string chunk;
      while (ReadChunk(&chunk)) {
        if (chunk.empty()) {
          r.ok = true;
          return r;
        }
        r.body += chunk;
      }
      return r;
    }
    size_t length = std::stoul(r.headers["content-length"]);
    r.ok = ReadExactly(length, &r.body);
    return r;
  }

  // One chunk of a chunked body; empty = the last chunk (its trailer read too).
  bool ReadChunk(std::string* chunk) {
    std::string line;
    if (!ReadLine(&line)) {
      return false;
    }
    size_t size = std::stoul(line, nullptr, 16);
    chunk->clear();
    if (size == 0) {
      return ReadLine(&line) && line.empty();
    }
    return ReadExactly(size, chunk) && ReadLine(&line) && line.empty();
  }

  // True when the server closed the connection (EOF or reset) with nothing more to read.
  bool ClosedByServer() {
    char c;
    return Recv(&c, 1) <= 0;
  }

  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

 private:
  int Recv(char* buf, size_t len) {
    if (ssl_ != nullptr) {
      return SSL_read(ssl_, buf, static_cast<int>(len));
    }
    return static_cast<int>(::recv(fd_, buf, len, 0));
  }
  bool Fill() {
    char buf[16384];
    int n = Recv(buf, sizeof(buf));
    if (n <= 0) {
      return false;
    }
    buf_.append(buf, static_cast<size_t>(n));
    return true;
  }
  bool ReadLine(std::string* line) {
    size_t eol;
    while ((eol = buf_.find("\r\n")) == std::string::npos) {
      if (!Fill()) {
        return false;
      }
    }
    *line = buf_.substr(0, eol);
    buf_.erase(0, eol + 2);
    return true;
  }
  bool ReadExactly(size_t n, std::string* out) {
    while (buf_.size() < n) {
      if (!Fill()) {
        return false;
      }
    }
    out->append(buf_, 0, n);
    buf_.erase(0, n);
    return true;
  }

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
  std::string buf_;
};

std::string Get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

size_t OpenDescriptors() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (::readdir(d) != nullptr) {
    ++n;
  }
  ::closedir(d);
  return n;
}

// Echoes what the handler saw; "/stream" answers with a stream handed to the test.
class Fixture : public ::testing::TestWithParam<bool> {
 protected:
  void Start(ListenerOptions options = {}) {
    options.host = "127.0.0.1";
    options.tls = tls();
    if (tls()) {
      auto creds = EnsureCredentials(dir_.path(), true);
      ASSERT_TRUE(creds.ok()) << creds.status();
      options.cert_file = creds->server_cert;
      options.key_file = creds->server_key;
    }
    auto port = PickFreePort("127.0.0.1");
    ASSERT_TRUE(port.ok());
    options.port = *port;
    port_ = *port;
    auto listener =
        OpenHttpListener(options, [this](const HttpRequest& req) { return Handle(req); });
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = std::move(listener).value();
  }
  bool tls() const { return GetParam(); }

  HttpResponse Handle(const HttpRequest& req) {
    ++requests_;
    HttpResponse resp;
    if (req.path == "/stream") {
      resp.content_type = "application/json;stream=watch";
      resp.stream = [this](std::shared_ptr<StreamWriter> w) {
        std::lock_guard<std::mutex> lock(mu_);
        writers_.push_back(std::move(w));
        cv_.notify_all();
      };
      return resp;
    }
    if (req.path == "/block") {
      std::unique_lock<std::mutex> lock(mu_);
      ++blocked_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
      resp.body = "released";
      return resp;
    }
    if (req.path == "/big") {
      resp.body = std::string(3u << 20, 'b');
      return resp;
    }
    Json seen = {{"method", req.method},
                 {"path", req.path},
                 {"query", req.query},
                 {"body", req.body},
                 {"contentType", req.content_type},
                 {"accept", req.accept},
                 {"authorization", req.authorization},
                 {"userAgent", req.user_agent}};
    resp.status = req.path == "/created" ? 201 : 200;
    resp.body = seen.dump();
    resp.headers.emplace_back("Warning", "299 - \"careful\"");
    return resp;
  }

  std::shared_ptr<StreamWriter> WaitForWriter(size_t index) {
    std::unique_lock<std::mutex> lock(mu_);
    EXPECT_TRUE(
        cv_.wait_for(lock, std::chrono::seconds(10), [&] { return writers_.size() > index; }));
    return writers_.size() > index ? writers_[index] : nullptr;
  }

  testing::TempDir dir_;
  int port_ = 0;
  std::unique_ptr<HttpListener> listener_;
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<StreamWriter>> writers_;
  int blocked_ = 0;
  bool released_ = false;
};

using HttpListenerTest = Fixture;

TEST_P(HttpListenerTest, ManyRequestsOnOneKeepAliveConnection) {
  Start();
  RawClient client(port_, tls());
  ASSERT_TRUE(client.connected());
  if (tls()) {
    EXPECT_EQ(client.alpn(), "http/1.1");
  }
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(client.Send(Get("/n/" + std::to_string(i) + "?i=" + std::to_string(i))));
    auto r = client.Read();
    ASSERT_TRUE(r.ok) << i;
    EXPECT_EQ(r.status, 200);
    Json seen = Json::parse(r.body);
    EXPECT_EQ(seen["path"], "/n/" + std::to_string(i));
    EXPECT_EQ(seen["query"]["i"], std::to_string(i));
    EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));
  }
  // Pipelined: three requests in one write, three answers in order.
  ASSERT_TRUE(client.Send(Get("/p/1") + Get("/p/2") + Get("/p/3")));
  for (int i = 1; i <= 3; ++i) {
    auto r = client.Read();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(Json::parse(r.body)["path"], "/p/" + std::to_string(i));
  }
  EXPECT_EQ(requests_.load(), 303);
}

TEST_P(HttpListenerTest, PassesDecodedPathQueryAndHeaders) {
  Start();
  RawClient client(port_, tls());
  ASSERT_TRUE(client.Send(
      "post /a%20b+c/%7Bx%7D?x=1%2B1&y=a+b&z&&w=%zz HTTP/1.1\r\n"
      "Host: x\r\nauthorization: Bearer t0k\r\nContent-Type: application/json\r\n"
      "Accept: application/json\r\nACCEPT: text/plain\r\nUser-Agent: kubectl/v1.32.0\r\n"
      "Content-Length: 7\r\n\r\n{\"a\":1}"));
  auto r = client.Read();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(r.headers["warning"], "299 - \"careful\"");
  Json seen = Json::parse(r.body);
  EXPECT_EQ(seen["method"], "POST");
  EXPECT_EQ(seen["path"], "/a b c/{x}");
  EXPECT_EQ(seen["query"], Json::parse(R"({"x":"1+1","y":"a b","z":"","w":"%zz"})"));
  EXPECT_EQ(seen["body"], "{\"a\":1}");
  EXPECT_EQ(seen["authorization"], "Bearer t0k");
  EXPECT_EQ(seen["contentType"], "application/json");
  EXPECT_EQ(seen["accept"], "application/json, text/plain");
  EXPECT_EQ(seen["userAgent"], "kubectl/v1.32.0");

  ASSERT_TRUE(client.Send("HEAD /created HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto head = client.Read(/*head=*/true);
  ASSERT_TRUE(head.ok);
  EXPECT_EQ(head.status, 201);
  EXPECT_NE(head.headers["content-length"], "0");
  // No body followed the HEAD answer: the next answer parses.
  ASSERT_TRUE(client.Send(Get("/after-head")));
  auto next = client.Read();
  ASSERT_TRUE(next.ok);
  EXPECT_EQ(Json::parse(next.body)["path"], "/after-head");
}

TEST_P(HttpListenerTest, ChunkedBodyAndExpectContinue) {
  Start();
  RawClient client(port_, tls());
  ASSERT_TRUE(
      client.Send("PUT /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"));
  auto r = client.Read();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(Json::parse(r.body)["body"], "hello 0123456789");

  ASSERT_TRUE(client.Send(
      "POST /expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  auto cont = client.Read();
  ASSERT_TRUE(cont.ok);
  EXPECT_EQ(cont.status, 100);
  ASSERT_TRUE(client.Send("body"));
  auto done = client.Read();
  ASSERT_TRUE(done.ok);
  EXPECT_EQ(done.status, 200);
  EXPECT_EQ(Json::parse(done.body)["body"], "body");
}

TEST_P(HttpListenerTest, LimitsAndMalformedRequestsGetClearErrors) {
  ListenerOptions options;
  options.max_body_bytes = 1000;
  options.max_header_bytes = 2000;
  Start(options);
  {
    RawClient client(port_, tls());
    ASSERT_TRUE(client.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n" +
                            std::string(1001, 'a')));
    auto r = client.Read();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(Json::parse(r.body)["reason"], "RequestEntityTooLarge");
    EXPECT_NE(Json::parse(r.body)["message"].get<std::string>().find("1000"), std::string::npos);
    EXPECT_EQ(r.headers["connection"], "close");
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    // A body far larger than the socket buffers: the server answers once it read the headers
    // and drops the rest, so the client can finish sending and read the answer.
    RawClient client(port_, tls());
    ASSERT_TRUE(client.Send("PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 8000000\r\n\r\n" +
                            std::string(8000000, 'a')));
    auto r = client.Read();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.status, 413);
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    // With Expect: 100-continue the body is refused before it is sent.
    RawClient client(port_, tls());
    ASSERT_TRUE(client.Send(
        "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"));
    auto r = client.Read();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.status, 413);
  }
  {
    RawClient client(port_, tls());
    std::string chunks;
    for (int i = 0; i < 20; ++i) {
      chunks += "64\r\n" + std::string(100, 'c') + "\r\n";
    }
    ASSERT_TRUE(client.Send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                            chunks + "0\r\n\r\n"));
    auto r = client.Read();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.status, 413);
  }
  {
    RawClient client(port_, tls());
    ASSERT_TRUE(
        client.Send("GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(3000, 'h') + "\r\n\r\n"));
    auto r = client.Read();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.status, 431);
    EXPECT_TRUE(client.ClosedByServer());
  }
  for (const std::string& bad :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET /x HTTP/1.1\r\nNoColon\r\n\r\n"),
        std::string("POST /x HTTP/1.1\r\nContent-Length: 12x\r\n\r\n"),
        std::string("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
    RawClient client(port_, tls());
    ASSERT_TRUE(client.Send(bad));
    auto r = client.Read();
    ASSERT_TRUE(r.ok) << bad;
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    RawClient client(port_, tls());
    ASSERT_TRUE(client.Send("GET /x HTTP/2.0\r\n\r\n"));
    EXPECT_EQ(client.Read().status, 505);
  }
  EXPECT_EQ(requests_.load(), 0) << "no bad request reached the handler";
}

TEST_P(HttpListenerTest, Http10AndConnectionCloseEndTheConnection) {
  Start();
  {
    RawClient client(port_, tls());
    ASSERT_TRUE(client.Send("GET /old HTTP/1.0\r\n\r\n"));
    auto r = client.Read();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.headers["connection"], "close");
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    RawClient client(port_, tls());
    ASSERT_TRUE(client.Send(Get("/bye", "Connection: close\r\n")));
    auto r = client.Read();
    ASSERT_TRUE(r.ok);
    EXPECT_TRUE(client.ClosedByServer());
  }
  {
    // A client that half-closes after its request still gets the answer.
    RawClient client(port_, false);
    if (!tls()) {
      ASSERT_TRUE(client.Send(Get("/half")));
      client.ShutdownWrite();
      auto r = client.Read();
      ASSERT_TRUE(r.ok);
      EXPECT_EQ(Json::parse(r.body)["path"], "/half");
    }
  }
}

TEST_P(HttpListenerTest, LargeResponseBody) {
  Start();
  RawClient client(port_, tls());
  ASSERT_TRUE(client.Send(Get("/big") + Get("/after")));
  auto r = client.Read();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, std::string(3u << 20, 'b'));
  auto after = client.Read();
  ASSERT_TRUE(after.ok);
  EXPECT_EQ(Json::parse(after.body)["path"], "/after");
}

TEST_P(HttpListenerTest, StreamsChunksInOrderThenKeepsTheConnection) {
  Start();
  RawClient client(port_, tls());
  ASSERT_TRUE(client.Send(Get("/stream")));
  auto writer = WaitForWriter(0);
  ASSERT_NE(writer, nullptr);
  std::string line;
  // Headers first.
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) {
      ASSERT_TRUE(writer->Write("{\"n\":" + std::to_string(i) + "}\n"));
    }
    EXPECT_TRUE(writer->Write(""));  // nothing to send, not the end
    writer->Close();
    EXPECT_FALSE(writer->Write("late")) << "closed";
  });
  // Read the head by hand, then the chunks.
  auto r = client.Read();
  producer.join();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json;stream=watch");
  EXPECT_EQ(r.headers["transfer-encoding"], "chunked");
  EXPECT_EQ(r.headers["cache-control"], "no-cache, private");
  std::string expected;
  for (int i = 0; i < 1000; ++i) {
    expected += "{\"n\":" + std::to_string(i) + "}\n";
  }
  EXPECT_EQ(r.body, expected);
  // The stream ended with its last chunk: the connection serves the next request.
  ASSERT_TRUE(client.Send(Get("/next")));
  auto next = client.Read();
  ASSERT_TRUE(next.ok);
  EXPECT_EQ(Json::parse(next.body)["path"], "/next");
}

TEST_P(HttpListenerTest, ClientClosingAWatchEndsTheStream) {
  Start();
  std::shared_ptr<StreamWriter> writer;
  {
    RawClient client(port_, tls());
    ASSERT_TRUE(client.Send(Get("/stream")));
    writer = WaitForWriter(0);
    ASSERT_NE(writer, nullptr);
    ASSERT_TRUE(writer->Write("first\n"));
    std::string chunk;
    auto head = client.Read(/*head=*/true);  // status and headers only
    ASSERT_TRUE(head.ok);
    ASSERT_TRUE(client.ReadChunk(&chunk));
    EXPECT_EQ(chunk, "first\n");
  }  // the client disconnects
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool ended = false;
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    ended = !writer->Write("more\n");
    std::this_thread::yield();
  }
  EXPECT_TRUE(ended) << "Write returns false once the client is gone";
}

// A watcher that disconnects is noticed from its socket, not at the next write, and what was
// queued for it is freed (cpprestsdk's listener kept queueing for a closed watch until its 64 MiB
// limit).
TEST_P(HttpListenerTest, AWatcherThatLeavesIsFreedWithoutAnotherWrite) {
  Start();
  auto wait_for_no_stream = [this] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    ListenerStats stats = listener_->Stats();
    while (stats.streams > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a counter, no event
      stats = listener_->Stats();
    }
    return stats;
  };
  std::shared_ptr<StreamWriter> lagging;
  {
    RawClient client(port_, tls(), "\x08http/1.1", /*rcvbuf=*/4096);
    ASSERT_TRUE(client.Send(Get("/stream")));
    lagging = WaitForWriter(0);
    ASSERT_NE(lagging, nullptr);
    ASSERT_TRUE(lagging->Write("first\n"));
    ASSERT_TRUE(client.Read(/*head=*/true).ok);
    // The client stops reading: 16 MiB of events, most of it queued in the server.
    std::string event(64u << 10, 'e');
    for (int i = 0; i < 256; ++i) {
      ASSERT_TRUE(lagging->Write(event));
    }
    ListenerStats stats = listener_->Stats();
    EXPECT_EQ(stats.connections, 1u);
    EXPECT_EQ(stats.streams, 1u);
    EXPECT_GT(stats.stream_backlog_bytes, 8u << 20);
  }  // closed with unread data: a reset
  auto start = std::chrono::steady_clock::now();
  ListenerStats stats = wait_for_no_stream();
  EXPECT_EQ(stats.streams, 0u);
  EXPECT_EQ(stats.stream_backlog_bytes, 0u);
  EXPECT_EQ(stats.connections, 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_FALSE(lagging->Write("late\n"));

  // A watcher that read everything and closes (FIN, nothing written after).
  std::shared_ptr<StreamWriter> reader;
  {
    RawClient client(port_, tls());
    ASSERT_TRUE(client.Send(Get("/stream")));
    reader = WaitForWriter(1);
    ASSERT_NE(reader, nullptr);
    ASSERT_TRUE(reader->Write("only\n"));
    ASSERT_TRUE(client.Read(/*head=*/true).ok);
    std::string chunk;
    ASSERT_TRUE(client.ReadChunk(&chunk));
    EXPECT_EQ(listener_->Stats().streams, 1u);
  }
  start = std::chrono::steady_clock::now();
  stats = wait_for_no_stream();
  EXPECT_EQ(stats.streams, 0u);
  EXPECT_EQ(stats.connections, 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_FALSE(reader->Write("late\n"));
}

TEST_P(HttpListenerTest, ALaggingStreamIsEnded) {
  ListenerOptions options;
  options.max_stream_backlog = 1u << 20;
  Start(options);
  RawClient client(port_, tls());
  ASSERT_TRUE(client.Send(Get("/stream")));
  auto writer = WaitForWriter(0);
  ASSERT_NE(writer, nullptr);
  // The client reads nothing: once the socket buffers are full the backlog grows to the limit.
  std::string event(64u << 10, 'e');
  bool refused = false;
  for (int i = 0; i < 100000 && !refused; ++i) {
    refused = !writer->Write(event);
  }
  EXPECT_TRUE(refused);
  EXPECT_FALSE(writer->Write("x"));
}

TEST_P(HttpListenerTest, CloseEndsStreamsAndWaitsForRepliesInProgress) {
  Start();
  RawClient watcher(port_, tls());
  ASSERT_TRUE(watcher.Send(Get("/stream")));
  auto writer = WaitForWriter(0);
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->Write("event\n"));
  auto head = watcher.Read(/*head=*/true);
  ASSERT_TRUE(head.ok);

  RawClient slow(port_, tls());
  ASSERT_TRUE(slow.Send(Get("/block")));
  {
    std::unique_lock<std::mutex> lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [this] { return blocked_ == 1; }));
  }
  RawClient idle(port_, tls());
  ASSERT_TRUE(idle.connected());

  auto closed = std::async(std::launch::async, [this] { listener_->Close(); });
  // The watch ends with its last chunk, the idle connection is closed.
  std::string chunk;
  ASSERT_TRUE(watcher.ReadChunk(&chunk));
  EXPECT_EQ(chunk, "event\n");
  ASSERT_TRUE(watcher.ReadChunk(&chunk));
  EXPECT_EQ(chunk, "") << "the last chunk";
  EXPECT_TRUE(watcher.ClosedByServer());
  EXPECT_TRUE(idle.ClosedByServer());
  EXPECT_FALSE(writer->Write("after close"));
  // Close waits for the handler still running, whose reply is still sent.
  EXPECT_EQ(closed.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  auto r = slow.Read();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, "released");
  closed.get();
  RawClient late(port_, tls());
  EXPECT_FALSE(late.connected()) << "no longer accepting";
  listener_->Close();  // idempotent
}

TEST_P(HttpListenerTest, IdleConnectionsAreClosed) {
  ListenerOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  Start(options);
  RawClient client(port_, tls());
  ASSERT_TRUE(client.Send(Get("/once")));
  ASSERT_TRUE(client.Read().ok);
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.ClosedByServer());  // blocks until the server closes it (10 s at most)
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // A watch stream is not idle.
  RawClient watcher(port_, tls());
  ASSERT_TRUE(watcher.Send(Get("/stream")));
  auto writer = WaitForWriter(0);
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(watcher.Read(true).ok);
  for (int i = 0; i < 5; ++i) {
    // Each chunk is written only after the previous one arrived, a second apart in all.
    ASSERT_TRUE(writer->Write("tick\n"));
    std::string chunk;
    ASSERT_TRUE(watcher.ReadChunk(&chunk));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // time passing is the test
  }
  EXPECT_TRUE(writer->Write("still open\n"));
}

TEST_P(HttpListenerTest, ThousandsOfConnectionsLeaveNothingBehind) {
  Start();
  // Warm up (TLS library state, threads), then count descriptors.
  {
    RawClient client(port_, tls());
    ASSERT_TRUE(client.Send(Get("/warm")));
    ASSERT_TRUE(client.Read().ok);
  }
  size_t before = OpenDescriptors();
  int total = tls() ? 500 : 3000;
  for (int i = 0; i < total; ++i) {
    RawClient client(port_, tls());
    ASSERT_TRUE(client.connected());
    if (i % 3 != 2) {  // every third one leaves without a request
      ASSERT_TRUE(client.Send(Get("/c")));
      ASSERT_TRUE(client.Read().ok);
    }
  }
  {
    // Many at once.
    std::vector<std::unique_ptr<RawClient>> open;
    for (int i = 0; i < 300; ++i) {
      open.push_back(std::make_unique<RawClient>(port_, tls()));
      ASSERT_TRUE(open.back()->connected());
    }
    for (auto& c : open) {
      ASSERT_TRUE(c->Send(Get("/many")));
    }
    for (auto& c : open) {
      ASSERT_TRUE(c->Read().ok);
    }
  }
  // The server notices each close on its own time: wait until its descriptors are gone.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (OpenDescriptors() > before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling /proc, no event
  }
  EXPECT_LE(OpenDescriptors(), before);
}

INSTANTIATE_TEST_SUITE_P(Transport, HttpListenerTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Tls" : "Plain";
                         });

}  // namespace
}  // namespace lifeboat::apiserver
