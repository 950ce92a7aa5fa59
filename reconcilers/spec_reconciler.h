#pragma once

// The minimal reconciler every Lifeboat kind starts with: validate the object
// (api::ValidateObject) and publish the verdict through the status subresource —
// status.observedGeneration and the Ready condition (True/Valid, or False/InvalidSpec with the
// field errors as message) — writing only when something changed. A 409 comes back as
// kAborted and the runtime requeues the key.
//
// Seam for the engines: a kind's real reconciler replaces this one in the factory table
// (NewLifeboatManager's overrides) and can reuse the same helpers (conditions.h, finalizer.h).
#include <functional>
#include <string>

#include "api/field_error.h"
#include "common/clock.h"
#include "controller/event_recorder.h"
#include "controller/kube_client.h"
#include "controller/store.h"
#include "reconcilers/reconciler.h"

namespace lifeboat::reconcilers {

inline constexpr char kReasonValid[] = "Valid";
inline constexpr char kReasonInvalidSpec[] = "InvalidSpec";

using Validator = std::function<api::FieldErrors(const Json& object)>;

class SpecReconciler final : public Reconciler {
 public:
  // `validate` defaults to api::ValidateObject.
  SpecReconciler(controller::KubeClient& client, const controller::Store& store,
                 controller::EventRecorder& recorder, const Clock& clock,
                 controller::ResourceRef resource, Validator validate = nullptr);

  StatusOr<Result> Reconcile(const ObjectKey& key) override;

 private:
  controller::KubeClient& client_;
  const controller::Store& store_;
  controller::EventRecorder& recorder_;
  const Clock& clock_;
  const controller::ResourceRef resource_;
  const Validator validate_;
};

// "a: must be set; b: must be >= 0" (at most a few, then "… and N more").
std::string JoinFieldErrors(const api::FieldErrors& errors);

}  // namespace lifeboat::reconcilers
