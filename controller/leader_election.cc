#include "controller/leader_election.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace lifeboat::controller {
namespace {

// metav1.MicroTime: "2026-11-21T10:04:05.123456Z".
std::string FormatMicroTime(Clock::TimePoint t) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch());
  std::time_t secs = static_cast<std::time_t>(micros.count() / 1'000'000);
  long frac = static_cast<long>(micros.count() % 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

int64_t WholeSeconds(Clock::Duration d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  return s < 1 ? 1 : s;
}

}  // namespace

ResourceRef LeaseResource() {
  return ResourceRef{"coordination.k8s.io", "v1", "leases", "Lease", true};
}

std::string DefaultIdentity() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) {
    std::snprintf(host, sizeof(host), "lifeboat");
  }
  return std::string(host) + "_" + std::to_string(getpid());
}

LeaderElector::LeaderElector(KubeClient& client, const Clock& clock, LeaderElectionOptions options,
                             LeaderCallbacks callbacks)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)) {}

LeaderElector::~LeaderElector() { Stop(); }

Status LeaderElector::ValidateOptions(const LeaderElectionOptions& o) {
  if (o.lease_name.empty() || o.lease_namespace.empty()) {
    return InvalidArgumentError("leader election: lease name and namespace must be set");
  }
  if (o.identity.empty()) {
    return InvalidArgumentError("leader election: identity must be set");
  }
  if (o.retry_period <= Clock::Duration::zero() || o.retry_period >= o.renew_deadline ||
      o.renew_deadline >= o.lease_duration) {
    return InvalidArgumentError(
        "leader election: need 0 < retry period < renew deadline < lease duration");
  }
  return OkStatus();
}

void LeaderElector::Start() {
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
}

void LeaderElector::Stop() {
  // The campaign thread starts the watchdog, so it is joined first.
  if (thread_.joinable()) {
    thread_.request_stop();
    {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    thread_.join();
  }
  if (watchdog_.joinable()) {
    watchdog_.request_stop();
    watchdog_.join();
  }
  bool was_leader = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    was_leader = leader_;
    leader_ = false;
  }
  if (was_leader) {
    Release();
  }
}

bool LeaderElector::IsLeader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leader_;
}

std::string LeaderElector::observed_leader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observed_holder_;
}

bool LeaderElector::Wait(std::stop_token stop, Clock::Duration delay) {
  // Registered before taking the lock: it runs at once when stop was already requested.
  std::stop_callback wake(stop, [this] {
    std::lock_guard<std::mutex> l(mu_);
    cv_.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu_);
  clock_.WaitUntil(lock, cv_, clock_.Now() + delay, [&] { return stop.stop_requested(); });
  return !stop.stop_requested();
}

bool LeaderElector::TryAcquireOrRenew() {
  const ResourceRef lease_ref = LeaseResource();
  const ObjectKey key{options_.lease_namespace, options_.lease_name};
  Clock::TimePoint now = clock_.Now();
  std::string now_text = FormatMicroTime(now);
  int64_t duration_seconds = WholeSeconds(options_.lease_duration);

  auto current = client_.Get(lease_ref, key);
  if (!current.ok()) {
    if (!IsNotFound(current.status())) {
      spdlog::warn("Failed to read Lease ns={} name={}: {}", key.ns, key.name,
                   current.status().ToString());
      return false;
    }
    Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", key.name}, {"namespace", key.ns}}},
                  {"spec",
                   {{"holderIdentity", options_.identity},
                    {"leaseDurationSeconds", duration_seconds},
                    {"acquireTime", now_text},
                    {"renewTime", now_text},
                    {"leaseTransitions", 0}}}};
    auto created = client_.Create(lease_ref, lease);
    if (!created.ok()) {
      spdlog::debug("Failed to create Lease ns={} name={}: {}", key.ns, key.name,
                    created.status().ToString());
      return false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    observed_lease_ = std::move(*created);
    observed_holder_ = options_.identity;
    observed_renew_time_ = now_text;
    observed_time_ = now;
    return true;
  }

  Json lease = std::move(*current);
  Json spec = lease.value("spec", Json::object());
  std::string holder = spec.value("holderIdentity", "");
  std::string renew_time = spec.value("renewTime", "");
  int64_t lease_seconds = spec.value("leaseDurationSeconds", duration_seconds);
  bool i_hold_it = holder == options_.identity;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (holder != observed_holder_ || renew_time != observed_renew_time_) {
      if (holder != observed_holder_ && !holder.empty() && callbacks_.on_new_leader) {
        callbacks_.on_new_leader(holder);
      }
      observed_holder_ = holder;
      observed_renew_time_ = renew_time;
      observed_time_ = now;
    }
    bool valid = observed_time_ + std::chrono::seconds(lease_seconds) > now;
    if (!holder.empty() && valid && !i_hold_it) {
      return false;  // someone else leads
    }
  }
  Json new_spec = spec;
  new_spec["holderIdentity"] = options_.identity;
  new_spec["leaseDurationSeconds"] = duration_seconds;
  new_spec["renewTime"] = now_text;
  if (!i_hold_it) {
    new_spec["acquireTime"] = now_text;
    new_spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + (holder.empty() ? 0 : 1);
  }
  lease["spec"] = new_spec;
  auto updated = client_.Update(lease_ref, lease);
  if (!updated.ok()) {
    spdlog::debug("Failed to update Lease ns={} name={}: {}", key.ns, key.name,
                  updated.status().ToString());
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  observed_lease_ = std::move(*updated);
  observed_holder_ = options_.identity;
  observed_renew_time_ = now_text;
  observed_time_ = now;
  return true;
}

void LeaderElector::Release() {
  Json lease;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lease = observed_lease_;
  }
  if (!lease.is_object() || !lease.contains("spec")) {
    return;
  }
  std::string now_text = FormatMicroTime(clock_.Now());
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = now_text;
  lease["spec"]["acquireTime"] = now_text;
  auto released = client_.Update(LeaseResource(), lease);
  if (released.ok()) {
    spdlog::info("Released Lease ns={} name={} identity={}", options_.lease_namespace,
                 options_.lease_name, options_.identity);
  } else {
    spdlog::warn("Failed to release Lease ns={} name={}: {}", options_.lease_namespace,
                 options_.lease_name, released.status().ToString());
  }
}

void LeaderElector::LoseLeadership(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lost_) {
      return;
    }
    lost_ = true;
    leader_ = false;
  }
  spdlog::error("Lost Lease ns={} name={} identity={}: {}", options_.lease_namespace,
                options_.lease_name, options_.identity, why);
  if (callbacks_.on_stopped_leading) {
    callbacks_.on_stopped_leading();
  }
}

void LeaderElector::Watchdog(std::stop_token stop) {
  std::stop_callback wake(stop, [this] {
    std::lock_guard<std::mutex> l(mu_);
    cv_.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop.stop_requested() && !lost_) {
    Clock::TimePoint renewed = last_renew_;
    Clock::TimePoint deadline = renewed + options_.renew_deadline;
    clock_.WaitUntil(lock, cv_, deadline,
                     [&] { return stop.stop_requested() || last_renew_ != renewed || lost_; });
    if (stop.stop_requested() || lost_) {
      return;
    }
    if (last_renew_ == renewed && clock_.Now() >= deadline) {
      lock.unlock();
      LoseLeadership("not renewed within the renew deadline");
      return;
    }
  }
}

void LeaderElector::Run(std::stop_token stop) {
  // Acquire.
  while (!stop.stop_requested()) {
    if (TryAcquireOrRenew()) {
      break;
    }
    if (!Wait(stop, options_.retry_period)) {
      return;
    }
  }
  if (stop.stop_requested()) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    leader_ = true;
  }
  spdlog::info("Acquired Lease ns={} name={} identity={}", options_.lease_namespace,
               options_.lease_name, options_.identity);
  if (callbacks_.on_started_leading) {
    callbacks_.on_started_leading();
  }
  // Renew.
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_renew_ = clock_.Now();
  }
  watchdog_ = std::jthread([this](std::stop_token watchdog_stop) { Watchdog(watchdog_stop); });
  while (Wait(stop, options_.retry_period)) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (lost_) {
        return;
      }
    }
    if (TryAcquireOrRenew()) {
      std::lock_guard<std::mutex> lock(mu_);
      last_renew_ = clock_.Now();
      cv_.notify_all();
    }
  }
}

}  // namespace lifeboat::controller
