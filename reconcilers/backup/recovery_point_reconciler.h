#pragma once

// RecoveryPoint: one backup run. The backup itself runs on the job runner (never inside
// Reconcile): it resolves the policy (volumes, vault, hooks), runs the preHook, backs every
// volume up into the vault under the volume's name, always runs the postHook once the preHook
// ran, and records the result — phase Completed / PartiallyFailed / Failed with a message a
// person can act on, progress (written at most every few seconds), sizes and the vault's point
// ID. A point created by hand is an on-demand backup. After a controller restart a point left
// Running is run again from the start (the vault is never half-written: an interrupted run
// leaves only unreferenced packs, which the next prune removes). Deleting a point deletes its
// manifest from the vault (finalizer) and asks the Vault to prune the data only it used.
#include <memory>
#include <stop_token>

#include "controller/manager.h"
#include "engines/hooks/hooks.h"
#include "reconcilers/backup/shared.h"
#include "reconcilers/reconciler.h"

namespace lifeboat::reconcilers::backup {

class RecoveryPointReconciler final : public Reconciler {
 public:
  RecoveryPointReconciler(const controller::ControllerContext& ctx,
                          std::shared_ptr<Shared> shared);
  StatusOr<Result> Reconcile(const ObjectKey& key) override;

 private:
  StatusOr<Result> Finalize(const ObjectKey& key, const Json& object);
  void Run(const ObjectKey& key, bool resumed, std::stop_token stop);
  void Delete(const ObjectKey& key, std::stop_token stop);

  controller::KubeClient& client_;
  const controller::Store& store_;
  controller::EventRecorder& recorder_;
  const Clock& clock_;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<hooks::HookRunner> hooks_;
};

}  // namespace lifeboat::reconcilers::backup
