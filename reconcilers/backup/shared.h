#pragma once

// State the four backup reconcilers share inside one controller process.
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "controller/event_recorder.h"
#include "controller/kube_client.h"
#include "reconcilers/conditions.h"
#include "reconcilers/engine_env.h"

namespace lifeboat::reconcilers::backup {

class Shared {
 public:
  explicit Shared(EngineEnv env) : env_(std::move(env)) {}
  const EngineEnv& env() const { return env_; }

  // Vaults ("ns/name") that lost recovery points since their last prune.
  void RequestPrune(const std::string& vault_key) {
    std::lock_guard lock(mu_);
    prune_.insert(vault_key);
  }
  bool TakePruneRequest(const std::string& vault_key) {
    std::lock_guard lock(mu_);
    return prune_.erase(vault_key) > 0;
  }

  // Vaults ("ns/name") whose secondary should receive the new points.
  void RequestSync(const std::string& vault_key) {
    std::lock_guard lock(mu_);
    sync_.insert(vault_key);
  }
  bool TakeSyncRequest(const std::string& vault_key) {
    std::lock_guard lock(mu_);
    return sync_.erase(vault_key) > 0;
  }

  // RecoveryPoints ("ns/name") whose deletion waits for their immutability lock to expire.
  void DeferDeletion(const std::string& point_key, Clock::TimePoint until) {
    std::lock_guard lock(mu_);
    deferred_[point_key] = until;
  }
  std::optional<Clock::TimePoint> DeferredUntil(const std::string& point_key) {
    std::lock_guard lock(mu_);
    auto it = deferred_.find(point_key);
    if (it == deferred_.end()) return std::nullopt;
    return it->second;
  }
  void ClearDeferral(const std::string& point_key) {
    std::lock_guard lock(mu_);
    deferred_.erase(point_key);
  }

  void Enqueue(const std::string& controller, const std::string& ns, const std::string& name) {
    if (env_.enqueue) env_.enqueue(controller, controller::ObjectKey{ns, name});
  }

 private:
  EngineEnv env_;
  std::mutex mu_;
  std::set<std::string> prune_;
  std::set<std::string> sync_;
  std::map<std::string, Clock::TimePoint> deferred_;
};

}  // namespace lifeboat::reconcilers::backup
