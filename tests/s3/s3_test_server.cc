#include "tests/s3/s3_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

namespace lifeboat::testing {

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(30);

std::filesystem::path ServerScript() {
  if (const char* env = std::getenv("LIFEBOAT_S3_SERVER"); env != nullptr && *env != '\0') {
    return env;
  }
  return SourceDir() / "tests" / "s3" / "server.js";
}

bool NodeOnPath() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) {
    return false;
  }
  std::string p(path);
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    std::string dir = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && ::access((std::filesystem::path(dir) / "node").c_str(), X_OK) == 0) {
      return true;
    }
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return false;
}

}  // namespace

StatusOr<std::unique_ptr<S3TestServer>> S3TestServer::Start() {
  std::filesystem::path script = ServerScript();
  if (!std::filesystem::exists(script.parent_path() / "node_modules" / "s3rver")) {
    return UnavailableError("s3rver is not installed in " + script.parent_path().string() +
                            " (run `make test-deps`, or npm ci there)");
  }
  if (!NodeOnPath()) {
    return UnavailableError("node is not on PATH (Debian package nodejs)");
  }
  std::unique_ptr<S3TestServer> server(new S3TestServer());
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe(in_pipe) != 0 || ::pipe(out_pipe) != 0) {
    return UnavailableError("pipe failed");
  }
  std::string data_dir = (server->dir_.path() / "data").string();
  std::filesystem::create_directories(data_dir);
  pid_t pid = ::fork();
  if (pid < 0) {
    return UnavailableError("fork failed");
  }
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    std::string script_path = script.string();
    // s3rver's ListObjectsV2 continuation tokens use DES, which OpenSSL 3 keeps in its
    // legacy provider.
    ::execlp("node", "node", "--openssl-legacy-provider", script_path.c_str(), "--address",
             "127.0.0.1", "--port", "0", "--directory", data_dir.c_str(), "--access-key-id",
             kAccessKeyId, "--secret-access-key", kSecretAccessKey, "--bucket", kBucket, "--bucket",
             kLockedBucket, "--object-lock-bucket", kLockedBucket, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  server->pid_ = pid;
  server->stdin_fd_ = in_pipe[1];
  // Reads "listening 127.0.0.1:PORT\n" with a deadline.
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::close(out_pipe[0]);
      return UnavailableError("the S3 test server did not start within 30 s");
    }
    pollfd pfd{out_pipe[0], POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    char buf[256];
    ssize_t n = ::read(out_pipe[0], buf, sizeof(buf));
    if (n <= 0) {
      ::close(out_pipe[0]);
      return UnavailableError("the S3 test server exited before listening (output: " + line + ")");
    }
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(out_pipe[0]);
  size_t colon = line.rfind(':');
  if (line.rfind("listening ", 0) != 0 || colon == std::string::npos) {
    return UnavailableError("the S3 test server said: " + line);
  }
  server->port_ = std::atoi(line.c_str() + colon + 1);
  return server;
}

S3TestServer::~S3TestServer() {
  if (stdin_fd_ >= 0) {
    ::close(stdin_fd_);
  }
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

Status S3TestServer::InjectSlowDowns(int n) const {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return UnavailableError("connect to the S3 test server failed");
  }
  std::string request = "PUT /_faults?slowdown=" + std::to_string(n) +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
                        "Connection: close\r\n\r\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[512];
  ssize_t got;
  while ((got = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
    answer.append(buf, static_cast<size_t>(got));
  }
  ::close(fd);
  if (answer.rfind("HTTP/1.1 204", 0) != 0) {
    return UnavailableError("the S3 test server refused the fault: " + answer.substr(0, 80));
  }
  return OkStatus();
}

storage::S3Options S3TestServer::StoreOptions(const std::string& prefix) const {
  storage::S3Options o;
  o.endpoint = endpoint();
  o.bucket = kBucket;
  o.prefix = prefix;
  o.credentials = storage::AwsCredentials{kAccessKeyId, kSecretAccessKey};
  o.backoff_base = std::chrono::milliseconds(5);
  o.backoff_max = std::chrono::milliseconds(50);
  return o;
}

CuttingProxy::CuttingProxy(int upstream_port, uint64_t cut_after_bytes, int cuts, Mode mode)
    : upstream_port_(upstream_port),
      cut_after_bytes_(cut_after_bytes),
      mode_(mode),
      cuts_left_(cuts) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::listen(listen_fd_, 64);
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

CuttingProxy::~CuttingProxy() {
  stop_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& t : workers_) {
    t.join();
  }
}

void CuttingProxy::AcceptLoop() {
  while (!stop_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) {
      continue;
    }
    int client = ::accept(listen_fd_, nullptr, nullptr);
    if (client < 0) {
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    workers_.emplace_back([this, client] { Serve(client); });
  }
}

void CuttingProxy::Serve(int client) {
  int upstream = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
  if (::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(upstream);
    ::close(client);
    return;
  }
  auto take_cut = [this] {
    int left = cuts_left_.load();
    while (left > 0) {
      if (cuts_left_.compare_exchange_weak(left, left - 1)) {
        ++cuts_done_;
        return true;
      }
    }
    return false;
  };
  uint64_t from_client = 0;
  char buf[16384];
  bool open = true;
  while (open && !stop_) {
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    if (::poll(fds, 2, 100) <= 0) {
      continue;
    }
    for (int i = 0; i < 2 && open; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
        continue;
      }
      int from = i == 0 ? client : upstream;
      int to = i == 0 ? upstream : client;
      size_t want = sizeof(buf);
      if (i == 1 && mode_ == Mode::kOnFirstResponse && take_cut()) {
        open = false;
        break;
      }
      if (i == 0 && mode_ == Mode::kAfterClientBytes && cuts_left_.load() > 0) {
        want = static_cast<size_t>(std::min<uint64_t>(want, cut_after_bytes_ - from_client));
      }
      ssize_t n = want == 0 ? 0 : ::recv(from, buf, want, 0);
      if (n <= 0) {
        open = false;
        break;
      }
      if (::send(to, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) {
        open = false;
        break;
      }
      if (i == 0) {
        from_client += static_cast<uint64_t>(n);
        if (mode_ == Mode::kAfterClientBytes && from_client >= cut_after_bytes_ && take_cut()) {
          open = false;
        }
      }
    }
  }
  // SO_LINGER 0: close with RST, as a crashed peer or a middlebox does.
  linger hard{1, 0};
  ::setsockopt(client, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
  ::setsockopt(upstream, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
  ::close(client);
  ::close(upstream);
}

}  // namespace lifeboat::testing
