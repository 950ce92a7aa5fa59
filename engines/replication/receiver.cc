#include "engines/replication/receiver.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <vector>

#include "engines/replication/fs_util.h"
#include "engines/replication/protocol.h"
#include "engines/vault/crypto.h"

namespace lifeboat::replication {
namespace fs = std::filesystem;
namespace {

HttpResponse Error(const Status& status) {
  return {HttpStatusFor(status.code()), "application/json", ErrorBody(status)};
}

HttpResponse JsonReply(const Json& j) { return {200, "application/json", j.dump()}; }

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    if (end > start) {
      parts.emplace_back(path.substr(start, end - start));
    }
    start = end + 1;
  }
  return parts;
}

bool TokenMatches(const std::string& header, const std::string& token) {
  if (token.empty()) {
    return false;
  }
  std::string expected = "Bearer " + token;
  return header.size() == expected.size() &&
         CRYPTO_memcmp(header.data(), expected.data(), expected.size()) == 0;
}

constexpr size_t kLoopbackTokenBytes = 32;

}  // namespace

Receiver::~Receiver() { Stop(); }

void Receiver::SetControlHandler(ControlHandler* handler) {
  std::unique_lock<std::shared_mutex> lock(control_mu_);
  control_ = handler;
}

TargetEndpoint Receiver::LoopbackEndpoint() const {
  TargetEndpoint t;
  t.endpoint = endpoint();
  t.ca_pem = ca_pem_;
  t.token = loopback_token_;
  return t;
}

HttpResponse Receiver::HandleControl(const HttpRequest& req,
                                     const std::vector<std::string>& parts) {
  // parts: v1 control NS POLICY OPERATION
  if (parts.size() != 5 || req.method != "POST") {
    return Error(NotFoundError("no such endpoint: " + req.method + " " + req.target));
  }
  const std::string& ns = parts[2];
  const std::string& policy = parts[3];
  const std::string& op = parts[4];
  if (op != "handover" && op != "seed" && op != "failback") {
    return Error(
        NotFoundError("no such control operation \"" + op + "\" (handover, seed or failback)"));
  }
  Status names = ValidateRepoName("namespace", ns);
  if (names.ok()) {
    names = ValidateRepoName("policy", policy);
  }
  if (!names.ok()) {
    return Error(names);
  }
  Json body = Json::parse(req.body.empty() ? std::string("{}") : req.body, nullptr, false);
  if (!body.is_object()) {
    return Error(InvalidArgumentError(op + ": the body must be a JSON object"));
  }
  std::shared_lock<std::shared_mutex> lock(control_mu_);
  if (control_ == nullptr) {
    return Error(UnavailableError(
        "this site runs no controllers: nothing here can act on policy " + ns + "/" + policy +
        " (start `lifeboat up` with its controllers on this site's replication endpoint)"));
  }
  StatusOr<ControlState> state = InvalidArgumentError("unreachable");
  if (op == "handover") {
    auto request = HandoverRequestFromJson(ns, policy, body);
    state = request.ok() ? control_->Handover(*request) : StatusOr<ControlState>(request.status());
  } else if (op == "seed") {
    auto request = SeedRequestFromJson(ns, policy, body);
    state = request.ok() ? control_->Seed(*request) : StatusOr<ControlState>(request.status());
  } else {
    auto request = FailbackRequestFromJson(ns, policy, body);
    state = request.ok() ? control_->Failback(*request) : StatusOr<ControlState>(request.status());
  }
  if (!state.ok()) {
    return Error(state.status());
  }
  return JsonReply(ControlStateToJson(*state));
}

void Receiver::Stop() {
  if (server_) {
    server_->Stop();
  }
}

std::string Receiver::endpoint() const {
  std::string host =
      options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host;
  if (host == "0.0.0.0" || host.empty()) {
    host = "127.0.0.1";
  }
  return "https://" + host + ":" + std::to_string(port());
}

HttpResponse Receiver::Handle(const HttpRequest& req) {
  auto auth = req.headers.find("authorization");
  bool loopback = auth != req.headers.end() && TokenMatches(auth->second, loopback_token_);
  if (!options_.token.empty() && !loopback &&
      (auth == req.headers.end() || !TokenMatches(auth->second, options_.token))) {
    return Error(UnauthenticatedError("bearer token missing or not accepted"));
  }
  std::string path = req.target.substr(0, req.target.find('?'));
  std::string query =
      req.target.find('?') == std::string::npos ? "" : req.target.substr(req.target.find('?') + 1);
  std::vector<std::string> parts = SplitPath(path);
  if (parts.size() == 2 && parts[0] == "v1" && parts[1] == "ping" && req.method == "GET") {
    Json j;
    j["version"] = std::string(kProtocolVersion);
    j["timeMs"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                      options_.clock->Now().time_since_epoch())
                      .count();
    return JsonReply(j);
  }
  if (parts.size() >= 2 && parts[0] == "v1" && parts[1] == "control") {
    return HandleControl(req, parts);
  }
  if (parts.size() < 6 || parts[0] != "v1" || parts[1] != "repos") {
    return Error(NotFoundError("no such endpoint: " + req.method + " " + path));
  }
  auto repo_or = repos_->Share(parts[2], parts[3], parts[4]);
  if (!repo_or.ok()) {
    return Error(repo_or.status());
  }
  Repo& repo = **repo_or;
  const std::string& op = parts[5];
  if (op == "points" && parts.size() == 6 && req.method == "GET") {
    Json list = Json::array();
    for (const PointInfo& p : repo.Points()) {
      list.push_back(PointInfoToJson(p));
    }
    Json j;
    j["points"] = list;
    j["storedBytes"] = repo.stored_bytes();
    return JsonReply(j);
  }
  if (op == "missing" && parts.size() == 6 && req.method == "POST") {
    if (req.body.size() % 32 != 0) {
      return Error(InvalidArgumentError("missing: body must be a multiple of 32 bytes"));
    }
    std::vector<Hash> hashes(req.body.size() / 32);
    std::memcpy(hashes.data(), req.body.data(), req.body.size());
    std::vector<Hash> missing = repo.Missing(hashes);
    std::string out(missing.size() * 32, '\0');
    std::memcpy(out.data(), missing.data(), out.size());
    return {200, "application/octet-stream", std::move(out)};
  }
  if (op == "chunks" && parts.size() == 6 && req.method == "POST") {
    auto raw = UnframeBody(req.body);
    if (!raw.ok()) {
      return Error(raw.status());
    }
    Status s = repo.AddChunks(*raw);
    return s.ok() ? JsonReply(Json::object()) : Error(s);
  }
  if (op == "points" && parts.size() == 6 && req.method == "POST") {
    auto raw = UnframeBody(req.body);
    if (!raw.ok()) {
      return Error(raw.status());
    }
    auto manifest = DecodeManifest(*raw, "commit request");
    if (!manifest.ok()) {
      return Error(InvalidArgumentError(manifest.status().message()));
    }
    auto info = repo.Commit(std::move(*manifest));
    if (!info.ok()) {
      return Error(info.status());
    }
    spdlog::info("Committed replication point site={} ns={} policy={} point={} consistency={}",
                 parts[2], parts[3], parts[4], info->id, ConsistencyName(info->consistency));
    Json j = PointInfoToJson(*info);
    constexpr std::string_view kRetention = "retentionSeconds=";
    if (query.starts_with(kRetention)) {
      long long seconds = std::atoll(query.c_str() + kRetention.size());
      if (seconds > 0) {
        auto gc = repo.ApplyRetention(std::chrono::seconds(seconds));
        if (!gc.ok()) {
          // The point is committed; retention is retried at the next commit.
          spdlog::warn("Failed replication retention policy={} error={}", parts[4],
                       gc.status().ToString());
        } else if (gc->deferred) {
          spdlog::info(
              "Deferred replication retention site={} ns={} policy={}: a point is being "
              "materialised",
              parts[2], parts[3], parts[4]);
        } else {
          j["pointsExpired"] = gc->points_deleted;
          j["bytesFreed"] = gc->bytes_freed;
        }
      }
    }
    return JsonReply(j);
  }
  if (op == "points" && parts.size() == 7 && req.method == "DELETE") {
    auto gc = repo.DeletePoint(parts[6]);
    return gc.ok() ? JsonReply(Json::object()) : Error(gc.status());
  }
  return Error(NotFoundError("no such endpoint: " + req.method + " " + path));
}

StatusOr<std::unique_ptr<Receiver>> StartReceiver(ReceiverOptions options) {
  if (options.root.empty()) {
    return InvalidArgumentError("receiver: --root is required");
  }
  if (options.token.empty() && options.tls.client_ca.empty()) {
    return InvalidArgumentError(
        "receiver: set a bearer token (--token-file) or a client CA (--client-ca); an "
        "endpoint without authentication is refused");
  }
  if (options.clock == nullptr) {
    options.clock = &SystemClock();
  }
  std::error_code ec;
  fs::create_directories(options.root, ec);
  if (ec) {
    return UnavailableError("receiver: cannot create root " + options.root.string() + ": " +
                            ec.message());
  }
  if (options.tls.cert.empty()) {
    fs::path dir = options.root / ".tls";
    fs::create_directories(dir, ec);
    options.tls.cert = dir / "tls.crt";
    options.tls.key = dir / "tls.key";
    if (!fs::exists(options.tls.cert) || !fs::exists(options.tls.key)) {
      RETURN_IF_ERROR(GenerateSelfSignedCertificate(options.tls.cert, options.tls.key,
                                                    "lifeboat-replication-receiver"));
    }
  }
  std::unique_ptr<Receiver> r(new Receiver());
  ASSIGN_OR_RETURN(r->ca_pem_, ReadWholeFile(options.tls.cert));
  r->repos_ = std::make_unique<RepoSet>(options.root, *options.clock, options.repo);
  r->options_ = options;
  std::string random(kLoopbackTokenBytes, '\0');
  vault::RandomBytes(reinterpret_cast<uint8_t*>(random.data()), random.size());
  r->loopback_token_ = vault::ToHex(reinterpret_cast<const uint8_t*>(random.data()), random.size());
  HttpsServerOptions server;
  server.host = options.host;
  server.port = options.port;
  server.tls = options.tls;
  Receiver* raw = r.get();
  server.handler = [raw](const HttpRequest& req) { return raw->Handle(req); };
  ASSIGN_OR_RETURN(r->server_, HttpsServer::Start(std::move(server)));
  spdlog::info("Started replication endpoint endpoint={} root={}", r->endpoint(),
               options.root.string());
  return r;
}

}  // namespace lifeboat::replication
