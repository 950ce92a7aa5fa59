#pragma once

// status.conditions helpers over unstructured objects, on top of api/condition.h
// (STYLE.md §3.3): lastTransitionTime moves only when the status flips; the functions report
// whether anything changed so that an unchanged status is never written.
#include <string>
#include <string_view>

#include "api/condition.h"
#include "api/json.h"

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

}  // namespace lifeboat::reconcilers
