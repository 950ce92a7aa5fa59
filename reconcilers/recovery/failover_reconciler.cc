#include "reconcilers/recovery/failover_reconciler.h"

#include <spdlog/spdlog.h>

#include "api/codec.h"
#include "api/manifest.h"
#include "reconcilers/backup/common.h"
#include "reconcilers/conditions.h"
#include "reconcilers/recovery/failover_run.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers::recovery {
namespace {

constexpr auto kBusyRecheck = std::chrono::seconds(2);
constexpr auto kPlanMissingRecheck = std::chrono::seconds(5);

bool Finished(const std::string& phase) {
  return phase == api::EnumName(api::FailoverPhase::kSucceeded) ||
         phase == api::EnumName(api::FailoverPhase::kFailed);
}

}  // namespace

FailoverReconciler::FailoverReconciler(const controller::ControllerContext& ctx,
                                       std::shared_ptr<Shared> shared)
    : client_(ctx.client),
      store_(ctx.store),
      recorder_(ctx.recorder),
      clock_(ctx.clock),
      resource_(ctx.resource),
      shared_(std::move(shared)) {}

Status FailoverReconciler::SetPending(const Json& object, const std::string& reason,
                                      const std::string& message) {
  Json status = object.value("status", Json::object());
  status["phase"] = std::string(api::EnumName(api::FailoverPhase::kPending));
  status["message"] = message;
  SetObservedGeneration(status, GenerationOf(object));
  if (SetStatusCondition(status,
                         MakeCondition(api::kConditionReady, false, reason, message,
                                       GenerationOf(object)),
                         clock_.Now())) {
    recorder_.Record(object, controller::EventType::kNormal, reason, message);
  }
  return UpdateStatusIfChanged(client_, resource_, object, status);
}

StatusOr<Result> FailoverReconciler::Reconcile(const ObjectKey& key) {
  controller::ObjectPtr cached = store_.Get(key.ToString());
  if (cached == nullptr) {
    // Deleted: stop its run, if it holds one.
    if (std::optional<std::string> job_key = shared_->JobOwnedBy(key.ns, key.name)) {
      shared_->env().jobs->Cancel(*job_key);
    }
    return Result{};
  }
  const Json& object = *cached;
  const std::string phase = object.value("/status/phase"_json_pointer, "");
  if (Finished(phase)) {
    return Result{};
  }
  if (api::FieldErrors errors = api::ValidateObject(object); !errors.empty()) {
    RETURN_IF_ERROR(backup::FailInvalidSpec(client_, recorder_, clock_, resource_, key, object,
                                            errors));
    return Result{};
  }
  api::Failover failover;
  if (api::FieldErrors errors = api::FromJson(object, &failover); !errors.empty()) {
    RETURN_IF_ERROR(backup::FailInvalidSpec(client_, recorder_, clock_, resource_, key, object,
                                            errors));
    return Result{};
  }
  const std::string plan_name = failover.spec.plan_ref.name;
  const std::string job_key = PlanJobKey(key.ns, plan_name);
  JobRunner& jobs = *shared_->env().jobs;
  std::unique_lock<std::mutex> submit_lock(shared_->submit_mu());
  if (jobs.Active(job_key)) {
    std::optional<std::string> owner = shared_->Owner(job_key);
    if (owner && *owner == key.name) {
      return Result{};  // its end enqueues this key
    }
    RETURN_IF_ERROR(SetPending(
        object, "PlanBusy",
        owner ? "waiting for Failover " + *owner + " on RecoveryPlan " + plan_name + " to finish"
              : "waiting for RecoveryPlan " + plan_name +
                    "'s reverse replication cycle to finish"));
    return Result{kBusyRecheck};
  }
  // Another operation on the plan paused for an approval (or cut off by a restart) still holds
  // the plan.
  for (const controller::ObjectPtr& other : store_.List()) {
    if (other == nullptr || other->value("/metadata/namespace"_json_pointer, "") != key.ns ||
        other->value("/metadata/name"_json_pointer, "") == key.name ||
        other->value("/spec/planRef/name"_json_pointer, "") != plan_name) {
      continue;
    }
    std::string other_phase = other->value("/status/phase"_json_pointer, "");
    if (other_phase == api::EnumName(api::FailoverPhase::kRunning) ||
        other_phase == api::EnumName(api::FailoverPhase::kWaitingForApproval)) {
      std::string name = other->value("/metadata/name"_json_pointer, "");
      RETURN_IF_ERROR(SetPending(object, "PlanBusy",
                                 "Failover " + name + " on RecoveryPlan " + plan_name + " is " +
                                     other_phase + "; this one starts when it ends"));
      return Result{kBusyRecheck};
    }
  }
  auto plan_object = client_.Get(kRecoveryPlans, {key.ns, plan_name});
  if (!plan_object.ok()) {
    if (plan_object.status().code() != StatusCode::kNotFound) {
      return plan_object.status();
    }
    RETURN_IF_ERROR(SetPending(object, "PlanNotFound",
                               "RecoveryPlan " + plan_name + " does not exist in namespace " +
                                   key.ns + " (yet)"));
    return Result{kPlanMissingRecheck};
  }
  if (failover.status.phase == api::FailoverPhase::kWaitingForApproval) {
    api::RecoveryPlan plan;
    if (api::FromJson(*plan_object, &plan).empty()) {
      if (std::optional<PendingApproval> pending = WaitingApproval(failover, plan)) {
        const auto& approvals = failover.spec.approvals;
        bool approved =
            std::find(approvals.begin(), approvals.end(), pending->action) != approvals.end();
        auto now = clock_.Now();
        if (!approved && now < pending->deadline) {
          return Result{std::chrono::duration_cast<std::chrono::milliseconds>(
                            pending->deadline - now) +
                        std::chrono::milliseconds(100)};
        }
      }
    }
  }
  std::shared_ptr<Shared> shared = shared_;
  FailoverRunContext run{client_, recorder_, clock_, *shared_, key};
  shared->SetOwner(job_key, key.name);
  bool submitted = jobs.Submit(
      job_key, [run, shared](std::stop_token stop) { RunFailover(run, std::move(stop)); },
      [shared, job_key, key, plan_name] {
        shared->ClearOwner(job_key, key.name);
        if (shared->env().enqueue) {
          shared->env().enqueue(kFailoverController, key);
          shared->env().enqueue(kRecoveryPlanController, {key.ns, plan_name});
        }
      });
  if (!submitted) {
    shared->ClearOwner(job_key, key.name);
    return Result{kBusyRecheck};
  }
  spdlog::debug("Failover ns={} name={}: run submitted", key.ns, key.name);
  return Result{};
}

}  // namespace lifeboat::reconcilers::recovery
