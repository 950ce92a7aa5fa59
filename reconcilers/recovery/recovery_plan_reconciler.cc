#include "reconcilers/recovery/recovery_plan_reconciler.h"

#include <spdlog/spdlog.h>

#include <set>

#include "api/codec.h"
#include "api/manifest.h"
#include "reconcilers/conditions.h"
#include "reconcilers/recovery/failover_run.h"
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
  Result result{kPlanRecheck};
  if (state == kStateReprotected && plan.spec.protected_site_ref) {
    message += ReverseCycle(key, plan, &result);
  }
  if (status.contains("activeTest") && status["activeTest"].is_string()) {
    message += "; test copies of " + status["activeTest"].get<std::string>() +
               " exist (CleanupTest removes them)";
  }
  auto published = publish(true, "Ready", message);
  if (!published.ok()) {
    return published;
  }
  return result;
}

std::string RecoveryPlanReconciler::ReverseCycle(const ObjectKey& key,
                                                 const api::RecoveryPlan& plan, Result* result) {
  const std::string job_key = PlanJobKey(key.ns, key.name);
  std::optional<ReverseOutcome> last = shared_->Reverse(job_key);
  auto now = clock_.Now();
  std::string said;
  if (last) {
    said = last->status.ok()
               ? "; replicated back to the protected site at " + FormatRfc3339(last->at) + " (" +
                     std::to_string(last->bytes_sent) + " bytes sent)"
               : "; replicating back failed at " + FormatRfc3339(last->at) + ": " +
                     last->status.message();
  }
  if (last && now - last->at < kReverseEvery) {
    result->requeue_after = std::chrono::duration_cast<std::chrono::milliseconds>(
        kReverseEvery - (now - last->at)) + std::chrono::milliseconds(100);
    return said;
  }
  std::lock_guard<std::mutex> lock(shared_->submit_mu());
  JobRunner& jobs = *shared_->env().jobs;
  if (jobs.Active(job_key)) {
    result->requeue_after = std::chrono::seconds(5);
    return said;
  }
  std::shared_ptr<Shared> shared = shared_;
  controller::KubeClient& client = client_;
  controller::EventRecorder& recorder = recorder_;
  const Clock& clock = clock_;
  api::RecoveryPlan copy = plan;
  jobs.Submit(
      job_key,
      [shared, &client, &recorder, &clock, copy, key, job_key](std::stop_token stop) {
        std::atomic<bool> cancel{false};
        std::stop_callback on_stop(stop, [&cancel] { cancel = true; });
        ReverseOutcome outcome;
        for (const api::RecoveryGroup& g : copy.spec.groups) {
          for (const std::string& policy : g.replication_policies) {
            auto sent = ReplicateBack(client, shared->env(), clock, key.ns, copy, policy, &cancel);
            if (!sent.ok()) {
              outcome.status = Status(sent.status().code(), policy + ": " + sent.status().message());
              break;
            }
            outcome.bytes_sent += sent->data_bytes_sent;
          }
          if (!outcome.status.ok()) break;
        }
        if (stop.stop_requested()) {
          return;
        }
        outcome.at = clock.Now();
        if (!outcome.status.ok()) {
          Json object = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                         {"kind", "RecoveryPlan"},
                         {"metadata", {{"name", key.name}, {"namespace", key.ns}}}};
          if (auto got = client.Get(kRecoveryPlans, key); got.ok()) object = *got;
          recorder.Record(object, controller::EventType::kWarning, "ReverseReplicationFailed",
                          outcome.status.message());
        }
        shared->PutReverse(job_key, outcome);
      },
      [shared, key] {
        if (shared->env().enqueue) {
          shared->env().enqueue(kRecoveryPlanController, key);
        }
      });
  result->requeue_after = kReverseEvery;
  return said;
}

}  // namespace lifeboat::reconcilers::recovery
