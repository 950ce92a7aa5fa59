#pragma once

// One replication cycle of a ReplicationPolicy, shared by the reconciler's scheduled cycles and a
// handover's final sync (control_handler.h): what to send where (PlanCycle), and running it with
// the policy's hooks around it, publishing progress and the last point (RunCycle).
#include <chrono>
#include <optional>
#include <stop_token>
#include <vector>

#include "api/replication_policy.h"
#include "controller/object_key.h"
#include "engines/replication/sender.h"
#include "reconcilers/replication/shared.h"

namespace lifeboat::reconcilers::replication {

struct CyclePlan {
  std::vector<lifeboat::replication::Volume> volumes;
  lifeboat::replication::TargetEndpoint target;
  lifeboat::replication::ReplicateOptions options;  // no progress/cancel: RunCycle sets them
  std::optional<api::ReplicationHooks> hooks;       // set for an application-consistent cycle
};

// nullopt with `problem` set when the target Site cannot be used.
std::optional<CyclePlan> PlanCycle(controller::KubeClient& client, const EngineEnv& env,
                                   const controller::ObjectKey& key,
                                   const api::ReplicationPolicy& policy,
                                   std::chrono::seconds retention, bool app_consistent,
                                   const Clock& clock, SiteProblem* problem);

// Runs the cycle on the calling thread (a job): pre-hook, Replicate, journal, post-hook.
// Progress goes to shared.PutProgress (and pokes the policy); a committed point to
// shared.SetLastPoint. The outcome is returned, not published.
CycleOutcome RunCycle(Shared& shared, const controller::ObjectKey& key, CyclePlan plan,
                      const Clock& clock, std::stop_token stop);

// The policy's volumes as the sender names them.
std::vector<lifeboat::replication::Volume> PolicyVolumes(const api::ReplicationPolicy& policy);

}  // namespace lifeboat::reconcilers::replication
