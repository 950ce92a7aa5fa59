#pragma once

// What the RecoveryPlan and Failover reconcilers share. Both run at the RECOVERY site: the site
// whose replication endpoint (`lifeboat up --replication-port`) holds the replicas of the plan's
// ReplicationPolicies. A plan's volumes come up under its target root:
//   <root>/live/<policy>/<volume>             after a Planned or Unplanned failover
//   <root>/test/<failover>/<policy>/<volume>  for a Test failover (removed by CleanupTest)
// with <root> = spec.targetRoot, default <engine data dir>/failover/<namespace>/<plan>.
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "api/failover.h"
#include "api/recovery_plan.h"
#include "common/clock.h"
#include "common/status.h"
#include "controller/kube_client.h"
#include "engines/hooks/hooks.h"
#include "engines/replication/store.h"
#include "reconcilers/engine_env.h"

namespace lifeboat::reconcilers::recovery {

extern const controller::ResourceRef kRecoveryPlans;
extern const controller::ResourceRef kFailovers;
// What scale actions patch (in a cluster).
extern const controller::ResourceRef kDeployments;
extern const controller::ResourceRef kStatefulSets;
inline constexpr char kRecoveryPlanController[] = "recoveryplan";
inline constexpr char kFailoverController[] = "failover";

// RecoveryPlan status.state.
inline constexpr char kStateProtected[] = "Protected";
inline constexpr char kStateFailedOver[] = "FailedOver";
inline constexpr char kStateCommitted[] = "Committed";
inline constexpr char kStateReprotected[] = "Reprotected";

std::filesystem::path PlanRoot(const EngineEnv& env, const std::string& ns,
                               const api::RecoveryPlan& plan);
std::filesystem::path LiveDir(const std::filesystem::path& root, const std::string& policy);
std::filesystem::path TestDir(const std::filesystem::path& root, const std::string& failover);

// The replica of ReplicationPolicy `ns/policy` this site holds.
struct Replica {
  std::string source_site;  // the protected site's id (the directory under the replica root)
  lifeboat::replication::Repo* repo = nullptr;
};
// kFailedPrecondition when this site serves no replication endpoint; kNotFound when no site
// replicates the policy here; kFailedPrecondition when two sites do (ambiguous).
StatusOr<Replica> FindReplica(const EngineEnv& env, const std::string& ns,
                              const std::string& policy);

// The point `selector` names among `points` (oldest first): "Latest" (or empty),
// "LatestAppConsistent", or an RFC 3339 time (the newest point captured at or before it).
// kNotFound with a message naming the policy and what is there.
StatusOr<lifeboat::replication::PointInfo> ChoosePoint(
    const std::vector<lifeboat::replication::PointInfo>& points, const std::string& selector,
    const std::string& policy);

// Writes `point` into `dir` with no half-written result: materialised beside it under a
// ".partial" name, then renamed into place (an existing `dir` is replaced).
StatusOr<lifeboat::replication::MaterializeStats> MaterializeInto(
    const lifeboat::replication::Repo& repo, const std::string& point,
    const std::filesystem::path& dir);

// The JobRunner key of a plan: its Failovers and its reverse replication cycles run under it,
// so no two of them ever run at once.
std::string PlanJobKey(const std::string& ns, const std::string& plan);

// How often a Reprotected plan replicates its live volumes back to the protected site.
inline constexpr auto kReverseEvery = std::chrono::seconds(60);

struct ReverseOutcome {
  Clock::TimePoint at;
  Status status;
  uint64_t bytes_sent = 0;
};

// State shared by the two reconcilers of one operator.
class Shared {
 public:
  explicit Shared(const EngineEnv& env) : env_(env), hooks_(hooks::NewHookRunner()) {}
  const EngineEnv& env() const { return env_; }
  hooks::HookRunner& hooks() { return *hooks_; }
  // Which Failover holds a plan's job (PlanJobKey → failover name).
  void SetOwner(const std::string& job_key, const std::string& failover);
  std::optional<std::string> Owner(const std::string& job_key);
  // Only when `failover` still owns it (a newer owner may have started meanwhile).
  void ClearOwner(const std::string& job_key, const std::string& failover);
  // The plan job Failover `ns/failover` holds.
  std::optional<std::string> JobOwnedBy(const std::string& ns, const std::string& failover);
  // Held while checking a plan's job and submitting one.
  std::mutex& submit_mu() { return submit_mu_; }
  // The last reverse replication cycle of a Reprotected plan (by PlanJobKey).
  void PutReverse(const std::string& job_key, ReverseOutcome outcome);
  std::optional<ReverseOutcome> Reverse(const std::string& job_key);

 private:
  EngineEnv env_;
  std::unique_ptr<hooks::HookRunner> hooks_;
  std::mutex mu_;
  std::mutex submit_mu_;
  std::map<std::string, std::string> owners_;
  std::map<std::string, ReverseOutcome> reverse_;
};

}  // namespace lifeboat::reconcilers::recovery
