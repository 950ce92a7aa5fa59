#pragma once

// Restore: brings back whole volumes or listed paths of a recovery point (or of a policy's
// newest point) into a target directory, on the job runner. The point is restored into a
// staging directory inside the target first, then moved into place file by file following
// `overwrite` (Never keeps existing files, IfNewer replaces older ones, Always replaces), so an
// interrupted restore never leaves a half-written file at a final name. Every restored file is
// then read back and each chunk's keyed hash compared with the point's manifest
// (status.verified). Progress and the result are in status.
#include <memory>
#include <stop_token>

#include "controller/manager.h"
#include "reconcilers/backup/shared.h"
#include "reconcilers/reconciler.h"

namespace lifeboat::reconcilers::backup {

class RestoreReconciler final : public Reconciler {
 public:
  RestoreReconciler(const controller::ControllerContext& ctx, std::shared_ptr<Shared> shared);
  StatusOr<Result> Reconcile(const ObjectKey& key) override;

 private:
  void Run(const ObjectKey& key, std::stop_token stop);

  controller::KubeClient& client_;
  const controller::Store& store_;
  controller::EventRecorder& recorder_;
  const Clock& clock_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace lifeboat::reconcilers::backup
