#include "reconcilers/spec_reconciler.h"

#include <spdlog/spdlog.h>

#include "api/manifest.h"
#include "reconcilers/conditions.h"
#include "reconcilers/finalizer.h"

namespace lifeboat::reconcilers {
namespace {
constexpr size_t kMaxErrorsInMessage = 8;
}  // namespace

std::string JoinFieldErrors(const api::FieldErrors& errors) {
  std::string out;
  for (size_t i = 0; i < errors.size() && i < kMaxErrorsInMessage; ++i) {
    if (!out.empty()) {
      out += "; ";
    }
    out += errors[i].ToString();
  }
  if (errors.size() > kMaxErrorsInMessage) {
    out += "; and " + std::to_string(errors.size() - kMaxErrorsInMessage) + " more";
  }
  return out;
}

SpecReconciler::SpecReconciler(controller::KubeClient& client, const controller::Store& store,
                               controller::EventRecorder& recorder, const Clock& clock,
                               controller::ResourceRef resource, Validator validate)
    : client_(client),
      store_(store),
      recorder_(recorder),
      clock_(clock),
      resource_(std::move(resource)),
      validate_(validate ? std::move(validate) : Validator(api::ValidateObject)) {}

StatusOr<Result> SpecReconciler::Reconcile(const ObjectKey& key) {
  controller::ObjectPtr cached = store_.Get(key.ToString());
  if (cached == nullptr || IsBeingDeleted(*cached)) {
    return Result{};  // gone (or going): nothing of ours to clean up yet
  }
  const Json& object = *cached;
  api::FieldErrors errors = validate_(object);
  int64_t generation = GenerationOf(object);

  Json status = object.value("status", Json::object());
  bool was_invalid = false;
  if (auto ready = GetStatusCondition(status, api::kConditionReady)) {
    was_invalid = ready->reason == kReasonInvalidSpec;
  }
  api::Condition ready;
  ready.type = std::string(api::kConditionReady);
  ready.observed_generation = generation;
  if (errors.empty()) {
    ready.status = api::ConditionStatus::kTrue;
    ready.reason = kReasonValid;
    ready.message = resource_.kind + " spec is valid";
  } else {
    ready.status = api::ConditionStatus::kFalse;
    ready.reason = kReasonInvalidSpec;
    ready.message = JoinFieldErrors(errors);
  }
  std::string message = ready.message;
  bool changed = SetStatusCondition(status, std::move(ready), clock_.Now());
  changed = SetObservedGeneration(status, generation) || changed;
  if (!changed) {
    return Result{};
  }
  Json updated = object;
  updated["status"] = std::move(status);
  auto written = client_.UpdateStatus(resource_, updated);
  if (!written.ok()) {
    if (IsNotFound(written.status())) {
      return Result{};
    }
    return written.status();  // kAborted on a stale resourceVersion: requeued with backoff
  }
  spdlog::info("Reconciled {} ns={} name={} generation={} ready={}", resource_.kind, key.ns,
               key.name, generation, errors.empty() ? "True" : "False");
  if (!errors.empty() && !was_invalid) {
    recorder_.Record(object, controller::EventType::kWarning, kReasonInvalidSpec, message);
  }
  return Result{};
}

}  // namespace lifeboat::reconcilers
