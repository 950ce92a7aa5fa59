#include "reconcilers/replication/shared.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "api/site.h"
#include "engines/replication/fs_util.h"
#include "engines/vault/crypto.h"
#include "reconcilers/backup/common.h"

namespace lifeboat::reconcilers::replication {
namespace fs = std::filesystem;

const controller::ResourceRef kSites{"lifeboat.dev", "v1alpha1", "sites", "Site", true};
const controller::ResourceRef kReplicationPolicies{
    "lifeboat.dev", "v1alpha1", "replicationpolicies", "ReplicationPolicy", true};

namespace {

std::optional<lifeboat::replication::TargetEndpoint> Fail(SiteProblem* problem, std::string reason,
                                                          std::string message) {
  problem->reason = std::move(reason);
  problem->message = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<lifeboat::replication::TargetEndpoint> ResolveSite(controller::KubeClient& client,
                                                                 const EngineEnv& env,
                                                                 const std::string& ns,
                                                                 const std::string& name,
                                                                 SiteProblem* problem) {
  auto object = client.Get(kSites, {ns, name});
  if (!object.ok()) {
    if (IsNotFound(object.status())) {
      return Fail(problem, "SiteNotFound", "Site " + ns + "/" + name + " does not exist");
    }
    return Fail(problem, "SiteUnavailable",
                "reading Site " + ns + "/" + name + ": " + object.status().message());
  }
  api::Site site;
  if (api::FieldErrors errors = api::FromJson(*object, &site); !errors.empty()) {
    return Fail(problem, "InvalidSpec", "Site " + ns + "/" + name + " is invalid");
  }
  lifeboat::replication::TargetEndpoint t;
  t.endpoint = site.spec.endpoint;
  t.connect_timeout = std::chrono::seconds(5);
  t.io_timeout = std::chrono::seconds(60);
  if (site.spec.credentials_secret_ref) {
    const api::SecretKeySelector& ref = *site.spec.credentials_secret_ref;
    auto token = backup::ReadSecretValue(client, ns, ref.name, ref.key);
    if (!token.ok()) {
      return Fail(problem, "SecretNotFound",
                  "credentialsSecretRef of Site " + name + ": " + token.status().message());
    }
    t.token = *token;
    while (!t.token.empty() && (t.token.back() == '\n' || t.token.back() == '\r')) {
      t.token.pop_back();
    }
  }
  if (site.spec.tls) {
    const api::SiteTls& tls = *site.spec.tls;
    t.insecure_skip_verify = tls.insecure_skip_verify.value_or(false);
    if (tls.ca_secret_ref) {
      auto ca =
          backup::ReadSecretValue(client, ns, tls.ca_secret_ref->name, tls.ca_secret_ref->key);
      if (!ca.ok()) {
        return Fail(problem, "SecretNotFound",
                    "tls.caSecretRef of Site " + name + ": " + ca.status().message());
      }
      t.ca_pem = *ca;
    }
    if (tls.client_cert_secret_ref) {
      const std::string& secret = tls.client_cert_secret_ref->name;
      auto cert = backup::ReadSecretValue(client, ns, secret, "tls.crt");
      auto key = cert.ok() ? backup::ReadSecretValue(client, ns, secret, "tls.key")
                           : StatusOr<std::string>(cert.status());
      if (!key.ok()) {
        return Fail(problem, "SecretNotFound",
                    "tls.clientCertSecretRef of Site " + name + ": " + key.status().message());
      }
      fs::path dir = env.data_dir / "replication" / "tls" / ns / name;
      std::error_code ec;
      fs::create_directories(dir, ec);
      Status written = ec ? UnavailableError("cannot create " + dir.string() + ": " + ec.message())
                          : lifeboat::replication::WriteFileAtomic(dir, "tls.crt", *cert);
      if (written.ok()) {
        written = lifeboat::replication::WriteFileAtomic(dir, "tls.key", *key);
      }
      if (!written.ok()) {
        return Fail(problem, "StorageUnavailable", written.message());
      }
      t.client_cert = dir / "tls.crt";
      t.client_key = dir / "tls.key";
    }
  }
  return t;
}

std::string CycleJobKey(const std::string& policy_key) {
  return std::string(kReplicationPolicyController) + "/" + policy_key;
}

std::string ReasonFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kUnauthenticated:
      return "Unauthenticated";
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return "Unreachable";
    case StatusCode::kCancelled:
      return "Cancelled";
    default:
      return "EndpointRejected";
  }
}

std::string LocalSiteId(const EngineEnv& env) {
  // The first cycles of several policies ask at once: one of them makes the id, the others
  // must read it (two ids would split the replicas at the target into two sites).
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  fs::path file = env.data_dir / "replication" / "site-id";
  auto existing = lifeboat::replication::ReadWholeFile(file);
  if (existing.ok() && !existing->empty()) {
    std::string id = *existing;
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) {
      id.pop_back();
    }
    return id;
  }
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  std::string id;
  for (char c : std::string(host)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    id += ok ? c : (c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : '-');
  }
  if (id.empty()) {
    id = "site";
  }
  uint8_t random[3];
  vault::RandomBytes(random, sizeof(random));
  id += "-" + vault::ToHex(random, sizeof(random));
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  lifeboat::replication::WriteFileAtomic(file.parent_path(), "site-id", id + "\n").IgnoreError();
  return id;
}

void Shared::PutPing(const std::string& key, PingOutcome o) {
  std::lock_guard<std::mutex> lock(mu_);
  pings_.insert_or_assign(key, std::move(o));
}

std::optional<PingOutcome> Shared::TakePing(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pings_.find(key);
  if (it == pings_.end()) {
    return std::nullopt;
  }
  PingOutcome o = std::move(it->second);
  pings_.erase(it);
  return o;
}

void Shared::PutCycle(const std::string& key, CycleOutcome o) {
  std::lock_guard<std::mutex> lock(mu_);
  cycles_.insert_or_assign(key, std::move(o));
}

std::optional<CycleOutcome> Shared::TakeCycle(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cycles_.find(key);
  if (it == cycles_.end()) {
    return std::nullopt;
  }
  CycleOutcome o = std::move(it->second);
  cycles_.erase(it);
  return o;
}

std::optional<CycleOutcome> Shared::PeekCycle(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cycles_.find(key);
  if (it == cycles_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void Shared::ForgetCycle(const std::string& key, Clock::TimePoint finished) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cycles_.find(key);
  if (it != cycles_.end() && it->second.finished == finished) {
    cycles_.erase(it);
  }
}

void Shared::PutProgress(const std::string& key, Json progress) {
  std::lock_guard<std::mutex> lock(mu_);
  progress_.insert_or_assign(key, std::move(progress));
}

std::optional<Json> Shared::Progress(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = progress_.find(key);
  if (it == progress_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void Shared::ClearProgress(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  progress_.erase(key);
}

void Shared::SetRetryAt(const std::string& key, Clock::TimePoint at) {
  std::lock_guard<std::mutex> lock(mu_);
  retry_at_.insert_or_assign(key, at);
}

std::optional<Clock::TimePoint> Shared::RetryAt(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = retry_at_.find(key);
  if (it == retry_at_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void Shared::SetAppAttempt(const std::string& key, Clock::TimePoint at) {
  std::lock_guard<std::mutex> lock(mu_);
  app_attempt_.insert_or_assign(key, at);
}

std::optional<Clock::TimePoint> Shared::AppAttempt(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = app_attempt_.find(key);
  if (it == app_attempt_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void Shared::SetLastPoint(const std::string& key, lifeboat::replication::PointInfo point) {
  std::lock_guard<std::mutex> lock(mu_);
  last_point_.insert_or_assign(key, std::move(point));
}

std::optional<lifeboat::replication::PointInfo> Shared::LastPoint(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = last_point_.find(key);
  if (it == last_point_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void Shared::Fence(const std::string& key, const std::string& site) {
  std::lock_guard<std::mutex> lock(fence_mu_);
  fenced_.insert_or_assign(key, site);
}

void Shared::Unfence(const std::string& key) {
  std::lock_guard<std::mutex> lock(fence_mu_);
  fenced_.erase(key);
}

std::optional<std::string> Shared::FencedTo(const std::string& key) {
  std::lock_guard<std::mutex> lock(fence_mu_);
  auto it = fenced_.find(key);
  if (it == fenced_.end()) {
    return std::nullopt;
  }
  return it->second;
}

bool Shared::SubmitCycle(const std::string& key, JobRunner::Job job) {
  std::lock_guard<std::mutex> lock(fence_mu_);
  if (fenced_.contains(key)) {
    return false;
  }
  return env_.jobs->Submit(CycleJobKey(key), std::move(job));
}

}  // namespace lifeboat::reconcilers::replication
