#pragma once

// Failover: one operation on a RecoveryPlan, like a Job. The reconciler decides when it runs —
// at once, unless another operation on the same plan is running or waiting for an approval
// (Pending, reason PlanBusy), the plan does not exist yet (Pending, PlanNotFound) or the run
// waits for a person (WaitingForApproval: resumed when spec.approvals names the action, or when
// the action's timeout passes) — and runs it on the job runner keyed by plan, so two operations
// on one plan never run at once. A finished Failover (Succeeded or Failed) never runs again:
// re-applying it is safe; retrying means a new Failover.
#include <memory>

#include "controller/manager.h"
#include "reconcilers/reconciler.h"
#include "reconcilers/recovery/common.h"

namespace lifeboat::reconcilers::recovery {

class FailoverReconciler final : public Reconciler {
 public:
  FailoverReconciler(const controller::ControllerContext& ctx, std::shared_ptr<Shared> shared);
  StatusOr<Result> Reconcile(const ObjectKey& key) override;

 private:
  Status SetPending(const Json& object, const std::string& reason, const std::string& message);

  controller::KubeClient& client_;
  const controller::Store& store_;
  controller::EventRecorder& recorder_;
  const Clock& clock_;
  controller::ResourceRef resource_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace lifeboat::reconcilers::recovery
