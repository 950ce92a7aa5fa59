#pragma once

// The recovery area's reconcilers for the operator's factory table: RecoveryPlan (can this site
// run the plan: replicas present, one protected site) and Failover (one operation on a plan, run
// on the job runner; see failover_run.h).
#include "reconcilers/engine_env.h"
#include "reconcilers/lifeboat_manager.h"

namespace lifeboat::reconcilers::recovery {

ReconcilerOverrides RecoveryReconcilerFactories(const EngineEnv& env);

}  // namespace lifeboat::reconcilers::recovery
