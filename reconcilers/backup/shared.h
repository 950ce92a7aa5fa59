#pragma once

// State the four backup reconcilers share inside one controller process.
#include <mutex>
#include <set>
#include <string>

#include "api/condition.h"
#include "common/clock.h"
#include "controller/event_recorder.h"
#include "controller/kube_client.h"
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

  void Enqueue(const std::string& controller, const std::string& ns, const std::string& name) {
    if (env_.enqueue) env_.enqueue(controller, controller::ObjectKey{ns, name});
  }

 private:
  EngineEnv env_;
  std::mutex mu_;
  std::set<std::string> prune_;
};

// A condition with the given fields (lastTransitionTime is set by SetStatusCondition).
api::Condition MakeCondition(std::string_view type, bool ok, std::string reason, std::string message,
                             int64_t generation);

}  // namespace lifeboat::reconcilers::backup
