#pragma once

// What the Site and ReplicationPolicy reconcilers share: resources, resolving a Site into an
// endpoint with its credentials, the local site id, and the results of finished jobs.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "api/json.h"
#include "common/clock.h"
#include "controller/kube_client.h"
#include "engines/hooks/hooks.h"
#include "engines/replication/sender.h"
#include "reconcilers/engine_env.h"

namespace lifeboat::reconcilers::replication {

extern const controller::ResourceRef kSites;
extern const controller::ResourceRef kReplicationPolicies;
inline constexpr char kSiteController[] = "site";
inline constexpr char kReplicationPolicyController[] = "replicationpolicy";
// On a ReplicationPolicy handed over to another site (control.h Handover): that site's id. No
// cycle runs while it is set (phase FailedOver); Failback removes it.
inline constexpr char kFailedOverToAnnotation[] = "lifeboat.dev/failed-over-to";
// The point the handover ended with (its final sync, or the last one replicated before).
inline constexpr char kHandoverPointAnnotation[] = "lifeboat.dev/handover-point";
// When that point's data was captured, in milliseconds since the epoch.
inline constexpr char kHandoverPointTimeAnnotation[] = "lifeboat.dev/handover-point-time-ms";

// The job runner key of a policy's replication cycles (normal ones and a handover's final sync).
std::string CycleJobKey(const std::string& policy_key);

// Why a Site cannot be used: CamelCase reason and a message saying what to fix.
struct SiteProblem {
  std::string reason;
  std::string message;
};

// Reads Site `name` in `ns` and its Secrets into an endpoint (token, trusted CA, client
// certificate written under <data dir>/replication/tls/). nullopt with `problem` set otherwise.
std::optional<lifeboat::replication::TargetEndpoint> ResolveSite(controller::KubeClient& client,
                                                                 const EngineEnv& env,
                                                                 const std::string& ns,
                                                                 const std::string& name,
                                                                 SiteProblem* problem);
// "Unreachable" / "Unauthenticated" / "EndpointRejected" for a failed call to an endpoint.
std::string ReasonFor(const Status& status);

// This instance's id at the sites it replicates to: <data dir>/replication/site-id, made once
// from the host name and a random suffix. Targets keep replicas under <root>/<site id>/.
std::string LocalSiteId(const EngineEnv& env);

struct PingOutcome {
  Status status;
  lifeboat::replication::PingResult ping;
  Clock::TimePoint at;
};

struct CycleOutcome {
  Status status;
  lifeboat::replication::ReplicateResult result;
  std::optional<lifeboat::replication::RemoteJournal> journal;
  std::string hook_message;  // what an application-consistency hook said when it failed
  Clock::TimePoint finished;
};

class Shared {
 public:
  explicit Shared(const EngineEnv& env) : env_(env), hooks_(hooks::NewHookRunner()) {}
  const EngineEnv& env() const { return env_; }
  hooks::HookRunner& hooks() { return *hooks_; }

  void PutPing(const std::string& key, PingOutcome o);
  std::optional<PingOutcome> TakePing(const std::string& key);
  void PutCycle(const std::string& key, CycleOutcome o);
  std::optional<CycleOutcome> TakeCycle(const std::string& key);
  // The finished cycle without removing it; ForgetCycle removes it once its status is written
  // (a status update lost to a conflict must not lose the outcome), unless a newer one replaced it.
  std::optional<CycleOutcome> PeekCycle(const std::string& key);
  void ForgetCycle(const std::string& key, Clock::TimePoint finished);
  void PutProgress(const std::string& key, Json progress);
  std::optional<Json> Progress(const std::string& key);
  void ClearProgress(const std::string& key);
  // When a failed policy may try again.
  void SetRetryAt(const std::string& key, Clock::TimePoint at);
  std::optional<Clock::TimePoint> RetryAt(const std::string& key);
  // When a policy last tried an application-consistent cycle (a failing hook is not retried
  // before appConsistentFrequency passes again: crash-consistent cycles go on meanwhile).
  void SetAppAttempt(const std::string& key, Clock::TimePoint at);
  std::optional<Clock::TimePoint> AppAttempt(const std::string& key);
  // The last point a cycle of the policy committed (this process's lifetime).
  void SetLastPoint(const std::string& key, lifeboat::replication::PointInfo point);
  std::optional<lifeboat::replication::PointInfo> LastPoint(const std::string& key);

  // Handover fencing in memory, ahead of the annotation (a reconcile reading a cache that lags
  // behind it must not start a cycle): once Fence returns, SubmitCycle refuses for `key`.
  void Fence(const std::string& key, const std::string& site);
  void Unfence(const std::string& key);
  std::optional<std::string> FencedTo(const std::string& key);
  // Submits a cycle job under CycleJobKey(key) unless the policy is fenced; false when fenced or
  // a cycle is already queued or running.
  bool SubmitCycle(const std::string& key, JobRunner::Job job);

 private:
  EngineEnv env_;
  std::unique_ptr<hooks::HookRunner> hooks_;
  std::mutex mu_;
  std::map<std::string, PingOutcome> pings_;
  std::map<std::string, CycleOutcome> cycles_;
  std::map<std::string, Json> progress_;
  std::map<std::string, Clock::TimePoint> retry_at_;
  std::map<std::string, Clock::TimePoint> app_attempt_;
  std::map<std::string, lifeboat::replication::PointInfo> last_point_;
  std::mutex fence_mu_;  // held across the fence check and the submit
  std::map<std::string, std::string> fenced_;
};

}  // namespace lifeboat::reconcilers::replication
