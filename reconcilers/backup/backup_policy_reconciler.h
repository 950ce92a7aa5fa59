#pragma once

// BackupPolicy: runs the schedule and keeps the objective visible.
//  - Cron schedule in its time zone: when a scheduled time has passed, one RecoveryPoint named
//    `<policy>-<UTC yyyymmddhhmmss>` of the latest missed time is created (after downtime: one
//    catch-up run, never a storm); the name makes a retried create harmless.
//  - One run per policy at a time: while a point is Pending/Running nothing new starts.
//  - Retention after each success (GFS counts over the points' start times; expired
//    RecoveryPoints are deleted, and their finalizer frees the data); failed points beyond the
//    newest five are deleted too.
//  - `suspend` stops new runs. Deleting a policy keeps its recovery points (they are data).
//  - Status: last/last successful/next run, recovery-point count, current RPO, conditions Ready
//    and RPOMet; metrics lifeboat_rpo_target_seconds, lifeboat_last_recovery_point_timestamp_seconds
//    and lifeboat_volume_protected, rebuilt on every pass and removed with the policy.
#include <memory>

#include "controller/manager.h"
#include "reconcilers/backup/shared.h"
#include "reconcilers/reconciler.h"

namespace lifeboat::reconcilers::backup {

class BackupPolicyReconciler final : public Reconciler {
 public:
  BackupPolicyReconciler(const controller::ControllerContext& ctx,
                         std::shared_ptr<Shared> shared);
  StatusOr<Result> Reconcile(const ObjectKey& key) override;

 private:
  controller::KubeClient& client_;
  const controller::Store& store_;
  controller::EventRecorder& recorder_;
  const Clock& clock_;
  // Other kinds' caches (RecoveryPoints by policy, Vaults).
  std::function<const controller::Store*(const controller::ResourceRef&)> cache_;
  std::shared_ptr<Shared> shared_;
};

// The name of the RecoveryPoint for `policy`'s run scheduled at `t`: "<policy>-20261121-093000"
// (UTC), with the policy part shortened so the name stays within 253 characters.
std::string ScheduledPointName(const std::string& policy, Clock::TimePoint t);

}  // namespace lifeboat::reconcilers::backup
