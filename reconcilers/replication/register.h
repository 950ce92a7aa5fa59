#pragma once

// The replication area's reconcilers for the operator's factory table: Site (reachability of a
// replication endpoint) and ReplicationPolicy (initial then differential replication cycles on
// the job runner, recovery-point journal, RPO).
#include "reconcilers/engine_env.h"
#include "reconcilers/lifeboat_manager.h"

namespace lifeboat::reconcilers::replication {

ReconcilerOverrides ReplicationReconcilerFactories(const EngineEnv& env);

}  // namespace lifeboat::reconcilers::replication
