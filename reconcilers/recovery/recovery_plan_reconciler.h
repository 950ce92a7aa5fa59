#pragma once

// RecoveryPlan, at the recovery site: checks that this site can run the plan — it serves a
// replication endpoint, holds a replica of every policy the groups name, all from one protected
// site, and the protectedSiteRef (when set) exists — and publishes Ready (reasons Ready,
// InvalidSpec, NoReplicationEndpoint, ReplicaNotFound, ReplicaAmbiguous, MixedSites,
// ProtectedSiteNotFound), state (Protected until a Failover changes it), activeSite and the
// groups' states. Rechecks every 30 s: replicas appear with the first replication cycle. While
// Reprotected it replicates the live volumes back to the protected site every minute (so a
// failback has little left to send). The
// fields Failovers own (state after a run, activeTest, targetDir, lastOperation) are only
// initialised here, never overwritten.
#include <memory>

#include "controller/manager.h"
#include "reconcilers/reconciler.h"
#include "reconcilers/recovery/common.h"

namespace lifeboat::reconcilers::recovery {

inline constexpr auto kPlanRecheck = std::chrono::seconds(30);

class RecoveryPlanReconciler final : public Reconciler {
 public:
  RecoveryPlanReconciler(const controller::ControllerContext& ctx, std::shared_ptr<Shared> shared);
  StatusOr<Result> Reconcile(const ObjectKey& key) override;

 private:
  // While Reprotected: replicates the live volumes back every kReverseEvery on the plan's job
  // key; returns what the status message says about it and sets when to look again.
  std::string ReverseCycle(const ObjectKey& key, const api::RecoveryPlan& plan, Result* result);

  controller::KubeClient& client_;
  const controller::Store& store_;
  controller::EventRecorder& recorder_;
  const Clock& clock_;
  controller::ResourceRef resource_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace lifeboat::reconcilers::recovery
