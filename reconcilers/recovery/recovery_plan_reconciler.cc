#include "reconcilers/recovery/recovery_plan_reconciler.h"

#include <spdlog/spdlog.h>

#include <set>

#include "api/codec.h"
#include "api/manifest.h"
#include "reconcilers/conditions.h"
#include "reconcilers/replication/shared.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers::recovery {

RecoveryPlanReconciler::RecoveryPlanReconciler(const controller::ControllerContext& ctx,
                                               std::shared_ptr<Shared> shared)
    : client_(ctx.client),
      store_(ctx.store),
      recorder_(ctx.recorder),
      clock_(ctx.clock),
      resource_(ctx.resource),
      shared_(std::move(shared)) {}

StatusOr<Result> RecoveryPlanReconciler::Reconcile(const ObjectKey& key) {
  controller::ObjectPtr cached = store_.Get(key.ToString());
  if (cached == nullptr) {
    return Result{};
  }
  const Json& object = *cached;
  const int64_t generation = GenerationOf(object);
  Json status = object.value("status", Json::object());
  SetObservedGeneration(status, generation);
  auto publish = [&](bool ready, const std::string& reason,
                     const std::string& message) -> StatusOr<Result> {
    status["message"] = message;
    if (SetStatusCondition(status,
                           MakeCondition(api::kConditionReady, ready, reason, message, generation),
                           clock_.Now())) {
      recorder_.Record(object,
                       ready ? controller::EventType::kNormal : controller::EventType::kWarning,
                       reason, message);
      spdlog::info("Reconciled RecoveryPlan ns={} name={} ready={} reason={}", key.ns, key.name,
                   ready, reason);
    }
    RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
    return Result{kPlanRecheck};
  };
  if (api::FieldErrors errors = api::ValidateObject(object); !errors.empty()) {
    return publish(false, kReasonInvalidSpec, JoinFieldErrors(errors));
  }
  api::RecoveryPlan plan;
  if (api::FieldErrors errors = api::FromJson(object, &plan); !errors.empty()) {
    return publish(false, kReasonInvalidSpec, JoinFieldErrors(errors));
  }
  const std::string state = status.value("state", std::string(kStateProtected));
  if (!status.contains("state")) {
    status["state"] = state;
  }
  if (!status.contains("groups") || status["groups"].size() != plan.spec.groups.size()) {
    Json groups = Json::array();
    for (const api::RecoveryGroup& g : plan.spec.groups) {
      groups.push_back({{"name", g.name}, {"state", state}});
    }
    status["groups"] = groups;
  }

  // Can this site run the plan?
  std::vector<std::string> missing;
  std::map<std::string, std::vector<std::string>> by_site;  // source site → policies
  size_t policies = 0;
  for (const api::RecoveryGroup& g : plan.spec.groups) {
    for (const std::string& policy : g.replication_policies) {
      ++policies;
      auto replica = FindReplica(shared_->env(), key.ns, policy);
      if (replica.ok()) {
        by_site[replica->source_site].push_back(policy);
        continue;
      }
      if (replica.status().code() == StatusCode::kNotFound) {
        missing.push_back(policy);
        continue;
      }
      const bool no_endpoint = shared_->env().receiver == nullptr;
      return publish(false, no_endpoint ? "NoReplicationEndpoint" : "ReplicaAmbiguous",
                     replica.status().message());
    }
  }
  // After a failback the replicas are still here; while failed over the plan runs from them.
  if (by_site.size() > 1) {
    std::string list;
    for (const auto& [site, names] : by_site) {
      std::string joined;
      for (const std::string& n : names) joined += (joined.empty() ? "" : ", ") + n;
      list += (list.empty() ? "" : "; ") + site + ": " + joined;
    }
    return publish(false, "MixedSites",
                   "the plan's policies are replicated here from different sites (" + list +
                       "): one plan fails over the workloads of one protected site");
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& n : missing) list += (list.empty() ? "" : ", ") + n;
    return publish(false, "ReplicaNotFound",
                   "no replica at this site of ReplicationPolicy " + list + " in namespace " +
                       key.ns +
                       " (unknown policy, or its first replication cycle has not completed)");
  }
  if (plan.spec.protected_site_ref) {
    auto site = client_.Get(replication::kSites, {key.ns, plan.spec.protected_site_ref->name});
    if (!site.ok() && site.status().code() == StatusCode::kNotFound) {
      return publish(false, "ProtectedSiteNotFound",
                     "spec.protectedSiteRef: Site " + plan.spec.protected_site_ref->name +
                         " does not exist in namespace " + key.ns);
    }
  }
  const std::string source = by_site.begin()->first;
  if (!status.contains("activeSite")) {
    status["activeSite"] = source;
  }
  std::string message = std::to_string(plan.spec.groups.size()) + " groups, " +
                        std::to_string(policies) + " policies replicated here from site " +
                        source + "; " + state;
  if (status.contains("activeTest") && status["activeTest"].is_string()) {
    message += "; test copies of " + status["activeTest"].get<std::string>() +
               " exist (CleanupTest removes them)";
  }
  return publish(true, "Ready", message);
}

}  // namespace lifeboat::reconcilers::recovery
