#include "reconcilers/backup/register.h"

#include "reconcilers/backup/backup_policy_reconciler.h"
#include "reconcilers/backup/recovery_point_reconciler.h"
#include "reconcilers/backup/restore_reconciler.h"
#include "reconcilers/backup/vault_reconciler.h"

namespace lifeboat::reconcilers::backup {

ReconcilerOverrides BackupReconcilerFactories(const EngineEnv& env) {
  auto shared = std::make_shared<Shared>(env);
  ReconcilerOverrides table;
  table["Vault"] = [shared](const controller::ControllerContext& ctx) {
    return std::make_unique<VaultReconciler>(ctx, shared);
  };
  table["BackupPolicy"] = [shared](const controller::ControllerContext& ctx) {
    return std::make_unique<BackupPolicyReconciler>(ctx, shared);
  };
  table["RecoveryPoint"] = [shared](const controller::ControllerContext& ctx) {
    return std::make_unique<RecoveryPointReconciler>(ctx, shared);
  };
  table["Restore"] = [shared](const controller::ControllerContext& ctx) {
    return std::make_unique<RestoreReconciler>(ctx, shared);
  };
  return table;
}

}  // namespace lifeboat::reconcilers::backup
