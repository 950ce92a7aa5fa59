#include "reconcilers/recovery/register.h"

#include "reconcilers/recovery/failover_reconciler.h"
#include "reconcilers/recovery/recovery_plan_reconciler.h"

namespace lifeboat::reconcilers::recovery {

ReconcilerOverrides RecoveryReconcilerFactories(const EngineEnv& env) {
  auto shared = std::make_shared<Shared>(env);
  ReconcilerOverrides table;
  table["RecoveryPlan"] = [shared](const controller::ControllerContext& ctx) {
    return std::make_unique<RecoveryPlanReconciler>(ctx, shared);
  };
  table["Failover"] = [shared](const controller::ControllerContext& ctx) {
    return std::make_unique<FailoverReconciler>(ctx, shared);
  };
  return table;
}

}  // namespace lifeboat::reconcilers::recovery
