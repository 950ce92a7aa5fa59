#pragma once

// status.conditions helpers over unstructured objects, on top of api/condition.h
// (STYLE.md §3.3): lastTransitionTime moves only when the status flips; the functions report
// whether anything changed so that an unchanged status is never written.
#include <string>
#include <string_view>

#include "api/condition.h"
#include "api/json.h"
#include "common/status.h"
#include "controller/kube_client.h"

namespace lifeboat::reconcilers {

// Sets `condition` in status["conditions"] (created if absent; unreadable entries are dropped).
// Returns whether the conditions changed.
bool SetStatusCondition(Json& status, api::Condition condition, api::Time now);

// The condition of `type` in status["conditions"], if present and well-formed.
std::optional<api::Condition> GetStatusCondition(const Json& status, std::string_view type);

// Sets status["observedGeneration"]; returns whether it changed.
bool SetObservedGeneration(Json& status, int64_t generation);

// metadata.generation (0 when absent).
int64_t GenerationOf(const Json& object);

// A True/False condition with the given fields (lastTransitionTime is set by
// SetStatusCondition).
api::Condition MakeCondition(std::string_view type, bool ok, std::string reason,
                             std::string message, int64_t generation);

// Writes `status` through the status subresource unless it equals the object's status. A stale
// resourceVersion comes back as kAborted (the runtime requeues); NotFound (deleted meanwhile)
// is success.
Status UpdateStatusIfChanged(controller::KubeClient& client,
                             const controller::ResourceRef& resource, const Json& object,
                             const Json& status);

}  // namespace lifeboat::reconcilers
