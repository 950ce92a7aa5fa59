#pragma once

// Vault: initialises or opens the vault (key from a Secret) and keeps its status true —
// logical/stored bytes, dedup ratio, recovery-point count, the last check — with Ready=False and
// a reason when the storage is unreachable or the key is wrong. Runs the scheduled `check` and
// the prunes that deleted RecoveryPoints asked for on the job runner. A finalizer keeps the
// Vault while BackupPolicies still use it (the data itself always stays in the storage).
#include <memory>

#include "controller/manager.h"
#include "reconcilers/backup/shared.h"
#include "reconcilers/reconciler.h"

namespace lifeboat::reconcilers::backup {

class VaultReconciler final : public Reconciler {
 public:
  VaultReconciler(const controller::ControllerContext& ctx, std::shared_ptr<Shared> shared);
  StatusOr<Result> Reconcile(const ObjectKey& key) override;

 private:
  void RunCheck(const ObjectKey& key, int64_t read_data_percent);
  void RunPrune(const ObjectKey& key);
  void RunSync(const ObjectKey& key);

  controller::KubeClient& client_;
  const controller::Store& store_;
  controller::EventRecorder& recorder_;
  const Clock& clock_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace lifeboat::reconcilers::backup
