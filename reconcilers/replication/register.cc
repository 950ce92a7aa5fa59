#include "reconcilers/replication/register.h"

#include "reconcilers/replication/replication_policy_reconciler.h"
#include "reconcilers/replication/site_reconciler.h"

namespace lifeboat::reconcilers::replication {

ReconcilerOverrides ReplicationReconcilerFactories(const EngineEnv& env) {
  auto shared = std::make_shared<Shared>(env);
  ReconcilerOverrides table;
  table["Site"] = [shared](const controller::ControllerContext& ctx) {
    return std::make_unique<SiteReconciler>(ctx, shared);
  };
  table["ReplicationPolicy"] = [shared](const controller::ControllerContext& ctx) {
    return std::make_unique<ReplicationPolicyReconciler>(ctx, shared);
  };
  return table;
}

}  // namespace lifeboat::reconcilers::replication
