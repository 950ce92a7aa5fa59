#include "reconcilers/replication/site_reconciler.h"

#include <spdlog/spdlog.h>

#include "api/manifest.h"
#include "reconcilers/conditions.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers::replication {
namespace {

std::string JobKey(const ObjectKey& key) { return "site/" + key.ToString(); }

}  // namespace

SiteReconciler::SiteReconciler(const controller::ControllerContext& ctx,
                               std::shared_ptr<Shared> shared)
    : client_(ctx.client),
      store_(ctx.store),
      recorder_(ctx.recorder),
      clock_(ctx.clock),
      resource_(ctx.resource),
      shared_(std::move(shared)) {}

StatusOr<Result> SiteReconciler::Reconcile(const ObjectKey& key) {
  controller::ObjectPtr cached = store_.Get(key.ToString());
  metrics::Metrics* metrics = shared_->env().metrics;
  if (cached == nullptr) {
    shared_->env().jobs->Cancel(JobKey(key));
    return Result{};
  }
  const Json& object = *cached;
  const int64_t generation = GenerationOf(object);
  Json status = object.value("status", Json::object());
  SetObservedGeneration(status, generation);
  if (api::FieldErrors errors = api::ValidateObject(object); !errors.empty()) {
    std::string message = JoinFieldErrors(errors);
    status["reachable"] = false;
    status["message"] = message;
    if (SetStatusCondition(
            status,
            MakeCondition(api::kConditionReady, false, kReasonInvalidSpec, message, generation),
            clock_.Now())) {
      recorder_.Record(object, controller::EventType::kWarning, kReasonInvalidSpec, message);
    }
    RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
    return Result{};
  }
  const std::string endpoint = object.value("/spec/endpoint"_json_pointer, "");
  if (std::optional<PingOutcome> ping = shared_->TakePing(key.ToString())) {
    bool was_reachable = status.value("reachable", false);
    bool reachable = ping->status.ok();
    status["reachable"] = reachable;
    std::string reason, message;
    if (reachable) {
      status["latencyMilliseconds"] = static_cast<double>(ping->ping.latency.count());
      status["lastContactTime"] = FormatRfc3339(ping->at);
      status["version"] = ping->ping.version;
      reason = "Reachable";
      message = "endpoint " + endpoint + " answered in " +
                std::to_string(ping->ping.latency.count()) + " ms";
    } else {
      reason = ReasonFor(ping->status);
      message = ping->status.message();
    }
    status["message"] = message;
    SetStatusCondition(status,
                       MakeCondition(api::kConditionReady, reachable, reason, message, generation),
                       clock_.Now());
    Status written = UpdateStatusIfChanged(client_, resource_, object, status);
    if (!written.ok()) {
      shared_->PutPing(key.ToString(), std::move(*ping));  // published on the retry
      return written;
    }
    if (metrics != nullptr) {
      metrics->replication().SetSiteReachable(key.ns, key.name, reachable);
    }
    if (reachable != was_reachable || !object.contains("status")) {
      recorder_.Record(object,
                       reachable ? controller::EventType::kNormal : controller::EventType::kWarning,
                       reason, message);
      spdlog::info("Reconciled Site ns={} name={} reachable={} reason={}", key.ns, key.name,
                   reachable, reason);
    }
    return Result{kPingEvery};
  }
  if (shared_->env().jobs->Active(JobKey(key))) {
    return Result{};  // the ping's end enqueues this key
  }
  SiteProblem problem;
  auto target = ResolveSite(client_, shared_->env(), key.ns, key.name, &problem);
  if (!target) {
    status["reachable"] = false;
    status["message"] = problem.message;
    if (SetStatusCondition(
            status,
            MakeCondition(api::kConditionReady, false, problem.reason, problem.message, generation),
            clock_.Now())) {
      recorder_.Record(object, controller::EventType::kWarning, problem.reason, problem.message);
    }
    RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
    if (metrics != nullptr) {
      metrics->replication().SetSiteReachable(key.ns, key.name, false);
    }
    return Result{kPingEvery};
  }
  std::shared_ptr<Shared> shared = shared_;
  const Clock& clock = clock_;
  shared->env().jobs->Submit(JobKey(key), [shared, key, t = *target, &clock](std::stop_token) {
    PingOutcome outcome;
    auto ping = lifeboat::replication::Ping(t);
    outcome.at = clock.Now();
    if (ping.ok()) {
      outcome.ping = *ping;
    } else {
      outcome.status = ping.status();
    }
    shared->PutPing(key.ToString(), std::move(outcome));
    if (shared->env().enqueue) {
      shared->env().enqueue(kSiteController, key);
    }
  });
  if (!object.contains("status") || !status.contains("conditions")) {
    SetStatusCondition(status,
                       MakeCondition(api::kConditionReady, false, "Contacting",
                                     "contacting " + endpoint, generation),
                       clock_.Now());
    RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
  }
  return Result{};
}

}  // namespace lifeboat::reconcilers::replication
