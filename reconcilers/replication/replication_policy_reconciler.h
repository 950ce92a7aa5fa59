#pragma once

// ReplicationPolicy: replicates spec.volumes to the target Site. Cycles run on the job runner
// (never inside Reconcile): the first one is the initial replication (phase InitialReplication
// with status.initialProgress), then one every rpo/2 so the achieved RPO stays under the target
// (phase Protected). Every appConsistentFrequency a cycle runs between the pre- and post-hook and
// its point is marked Application; when a hook fails, that cycle is Degraded/HookFailed and
// crash-consistent cycles go on until the next app-consistent attempt. A failed cycle sets phase
// Degraded with the reason (Unreachable, Unauthenticated, HookFailed, ...) and is retried; the
// next good cycle returns to Protected by itself. Status: lastReplicatedPoint/Time,
// currentRPOSeconds, recoveryPoints at the target (latest, latestAppConsistent, oldest, count),
// bytesSent; conditions Ready, Synchronizing, RPOMet. Metrics: lifeboat_rpo_target_seconds and
// lifeboat_last_recovery_point_timestamp_seconds (kind="ReplicationPolicy"),
// lifeboat_replication_lag_seconds, bytes sent, lifeboat_volume_protected. Phases FailedOver and
// Reprotecting belong to the failover controller: no cycles run then.
#include <memory>

#include "controller/manager.h"
#include "reconcilers/reconciler.h"
#include "reconcilers/replication/shared.h"

namespace lifeboat::reconcilers::replication {

// The source-side state of a policy's cycles: <data dir>/replication/state/<ns>/<policy>.
std::filesystem::path PolicyStateDir(const EngineEnv& env, const std::string& ns,
                                     const std::string& policy);

class ReplicationPolicyReconciler final : public Reconciler {
 public:
  ReplicationPolicyReconciler(const controller::ControllerContext& ctx,
                              std::shared_ptr<Shared> shared);
  StatusOr<Result> Reconcile(const ObjectKey& key) override;

 private:
  controller::KubeClient& client_;
  const controller::Store& store_;
  controller::EventRecorder& recorder_;
  const Clock& clock_;
  controller::ResourceRef resource_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace lifeboat::reconcilers::replication
