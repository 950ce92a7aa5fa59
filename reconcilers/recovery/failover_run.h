#pragma once

// One Failover operation, run on the JobRunner (one per plan at a time). The steps are the
// plan's groups in order: each group's preActions, then its workloads (one step per replication
// policy), then its postActions; CleanupTest, Commit and Reprotect have workload steps only.
// Every step is recorded in status.steps when it starts and when it ends, so a run cut off (a
// restart, a manual action waiting for approval) resumes at its first unfinished step, and a
// finished step never runs twice.
//
// What a workload step does, by type:
//   Test        materialise the chosen point into <root>/test/<failover>/<policy>
//   Planned     the protected site replicates once more and stops (handover), then that point
//               is materialised into <root>/live/<policy>
//   Unplanned   materialise the chosen point into <root>/live/<policy>
//   Commit      fence the protected site when it answers (it stops replicating for good)
//   CleanupTest remove the test copies
//   Reprotect   fence, seed the reverse replica at the protected site from the data it still
//               holds, then replicate <root>/live/<policy> back (only what changed travels)
//   Failback    replicate back once more, then the protected site writes that point over its
//               volumes and resumes replicating
#include <atomic>
#include <chrono>
#include <optional>
#include <stop_token>

#include "api/failover.h"
#include "api/recovery_plan.h"
#include "common/clock.h"
#include "controller/event_recorder.h"
#include "controller/kube_client.h"
#include "controller/object_key.h"
#include "engines/replication/sender.h"
#include "reconcilers/recovery/common.h"

namespace lifeboat::reconcilers::recovery {

struct FailoverRunContext {
  controller::KubeClient& client;
  controller::EventRecorder& recorder;
  const Clock& clock;
  Shared& shared;
  controller::ObjectKey key;  // the Failover
};

// Runs the Failover from its first unfinished step until it succeeds, fails, waits for an
// approval, or `stop` is requested (it then resumes on the next reconcile).
void RunFailover(const FailoverRunContext& ctx, std::stop_token stop);

// Replicates <targetRoot>/live/<policy> of `plan` back to its protected site (Reprotect,
// Failback, and the reverse cycles while the plan is Reprotected): only chunks the protected
// site lacks travel; points are kept there for 24 h.
StatusOr<lifeboat::replication::ReplicateResult> ReplicateBack(
    controller::KubeClient& client, const EngineEnv& env, const Clock& clock,
    const std::string& ns, const api::RecoveryPlan& plan, const std::string& policy,
    const std::atomic<bool>* cancel);

// The manual action a Failover waits on: its name and when its approval times out.
struct PendingApproval {
  std::string action;
  Clock::TimePoint deadline;
};
std::optional<PendingApproval> WaitingApproval(const api::Failover& failover,
                                               const api::RecoveryPlan& plan);

}  // namespace lifeboat::reconcilers::recovery
