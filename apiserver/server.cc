#include "apiserver/server.h"

#include <sys/stat.h>

#include <mutex>

#include "apiserver/credentials.h"
#include "apiserver/handler.h"
#include "apiserver/http_listener.h"
#include "apiserver/store.h"
#include "spdlog/spdlog.h"

namespace lifeboat::apiserver {
namespace {

constexpr int kPortAttempts = 10;

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::string Base64(const std::string& in) {
  static const char* kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) {
      out += kChars[(v >> s) & 0x3f];
    }
  }
  if (i < in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) {
      v |= static_cast<uint8_t>(in[i + 1]) << 8;
    }
    out += kChars[(v >> 18) & 0x3f];
    out += kChars[(v >> 12) & 0x3f];
    out += i + 1 < in.size() ? kChars[(v >> 6) & 0x3f] : '=';
    out += '=';
  }
  return out;
}

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(ServerOptions options) : options_(std::move(options)) {
    if (!options_.clock) {
      options_.clock = &SystemClock();
    }
  }
  ~ServerImpl() override { Stop(); }

  Status Start() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (listener_) {
      return FailedPreconditionError("the API server is already started");
    }
    if (options_.data_dir.empty()) {
      return InvalidArgumentError("--data-dir: a data directory is required");
    }
    if (options_.plain_http && !IsLoopback(options_.bind_address)) {
      return InvalidArgumentError("plain HTTP is only allowed on a loopback address, not on " +
                                  options_.bind_address);
    }
    if (options_.port < 0 || options_.port > 65535) {
      return InvalidArgumentError("--port: " + std::to_string(options_.port) +
                                  " is not a TCP port");
    }
    std::error_code ec;
    std::filesystem::create_directories(options_.data_dir, ec);
    if (ec) {
      return InternalError("cannot create data directory " + options_.data_dir.string() + ": " +
                           ec.message());
    }
    ::chmod(options_.data_dir.c_str(), 0700);
    ASSIGN_OR_RETURN(credentials_, EnsureCredentials(options_.data_dir, !options_.plain_http));
    ASSIGN_OR_RETURN(store_, Store::Open(StoreOptions{options_.data_dir / "state.db"}));
    HandlerOptions handler_options;
    handler_options.bearer_token = credentials_.token;
    handler_options.on_request = options_.on_request;
    handler_ = std::make_unique<Handler>(*store_, *options_.clock, handler_options);
    RETURN_IF_ERROR(handler_->Start(options_.crd_dir));
    ListenerOptions listen;
    listen.host = options_.bind_address == "localhost" ? "127.0.0.1" : options_.bind_address;
    listen.tls = !options_.plain_http;
    listen.cert_file = credentials_.server_cert;
    listen.key_file = credentials_.server_key;
    Handler* handler = handler_.get();
    Status last = OkStatus();
    for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
      listen.port = options_.port;
      if (listen.port == 0) {
        ASSIGN_OR_RETURN(listen.port, PickFreePort(listen.host));
      }
      handler_->set_server_address(listen.host + ":" + std::to_string(listen.port));
      auto opened = OpenHttpListener(
          listen, [handler](const HttpRequest& req) { return handler->Handle(req); });
      if (opened.ok()) {
        listener_ = std::move(opened).value();
        port_ = listen.port;
        host_ = listen.host;
        break;
      }
      last = opened.status();
      if (options_.port != 0) {
        break;  // a fixed port that is taken: report it
      }
    }
    if (!listener_) {
      handler_->Stop();
      return last;
    }
    RETURN_IF_ERROR(WriteKubeconfig());
    spdlog::info("Started API server url={} data_dir={}", UrlLocked(),
                 options_.data_dir.string());
    return OkStatus();
  }

  void Stop() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (handler_) {
      handler_->Stop();  // ends watches first so the listener can drain
    }
    if (listener_) {
      listener_->Close();
      listener_.reset();
    }
    handler_.reset();
    store_.reset();
  }

  int port() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return port_;
  }
  std::string url() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return UrlLocked();
  }
  std::filesystem::path kubeconfig_path() const override {
    return options_.data_dir / "kubeconfig";
  }
  std::string bearer_token() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return credentials_.token;
  }
  ServerStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    ServerStats stats;
    if (handler_) {
      stats.watches = handler_->active_watches();
    }
    if (listener_) {
      ListenerStats l = listener_->Stats();
      stats.connections = l.connections;
      stats.streams = l.streams;
      stats.stream_backlog_bytes = l.stream_backlog_bytes;
    }
    return stats;
  }

 private:
  std::string UrlLocked() const {
    std::string host = host_ == "0.0.0.0" ? "127.0.0.1" : host_;
    return std::string(options_.plain_http ? "http://" : "https://") + host + ":" +
           std::to_string(port_);
  }

  Status WriteKubeconfig() {
    std::string cluster = "    server: " + UrlLocked() + "\n";
    if (!options_.plain_http) {
      cluster += "    certificate-authority-data: " + Base64(credentials_.ca_pem) + "\n";
    }
    std::string text =
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "- name: lifeboat\n"
        "  cluster:\n" +
        cluster +
        "users:\n"
        "- name: lifeboat\n"
        "  user:\n"
        "    token: " +
        credentials_.token +
        "\n"
        "contexts:\n"
        "- name: lifeboat\n"
        "  context:\n"
        "    cluster: lifeboat\n"
        "    user: lifeboat\n"
        "    namespace: default\n"
        "current-context: lifeboat\n";
    return WritePrivateFile(kubeconfig_path(), text);
  }

  ServerOptions options_;
  mutable std::mutex mu_;
  Credentials credentials_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<HttpListener> listener_;
  int port_ = 0;
  std::string host_;
};

}  // namespace

StatusOr<std::unique_ptr<Server>> NewServer(ServerOptions options) {
  return std::unique_ptr<Server>(new ServerImpl(std::move(options)));
}

}  // namespace lifeboat::apiserver
