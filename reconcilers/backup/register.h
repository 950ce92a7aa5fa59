#pragma once

// The backup area's reconcilers for the operator's factory table: Vault, BackupPolicy,
// RecoveryPoint and Restore, sharing one Shared state.
#include "reconcilers/engine_env.h"
#include "reconcilers/lifeboat_manager.h"

namespace lifeboat::reconcilers::backup {

ReconcilerOverrides BackupReconcilerFactories(const EngineEnv& env);

}  // namespace lifeboat::reconcilers::backup
