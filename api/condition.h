#pragma once

// metav1.Condition and the helpers every reconciler uses to maintain status.conditions.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/codec.h"

namespace lifeboat::api {

enum class ConditionStatus { kTrue, kFalse, kUnknown };
template <>
struct EnumNames<ConditionStatus> {
  static constexpr std::array<std::string_view, 3> kNames = {"True", "False", "Unknown"};
};

// Condition types used across kinds.
inline constexpr std::string_view kConditionReady = "Ready";
inline constexpr std::string_view kConditionRpoMet = "RPOMet";
inline constexpr std::string_view kConditionSynchronizing = "Synchronizing";

struct Condition {
  std::string type;
  ConditionStatus status = ConditionStatus::kUnknown;
  std::optional<int64_t> observed_generation;
  Time last_transition_time{};
  std::string reason;
  std::string message;
  friend bool operator==(const Condition&, const Condition&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(Condition);

// Sets `condition` in `conditions` (matched by type). lastTransitionTime becomes `now` when the
// condition is new or its status flips, and is kept otherwise (the one in `condition` is
// ignored). Returns whether anything changed: no change, no status write.
bool SetCondition(std::vector<Condition>& conditions, Condition condition, Time now);

// The condition of `type`, or nullptr.
const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type);
// True when the condition of `type` exists with status True.
bool IsConditionTrue(const std::vector<Condition>& conditions, std::string_view type);
// Removes the condition of `type`; returns whether it was there.
bool RemoveCondition(std::vector<Condition>& conditions, std::string_view type);

// Checks type/reason (CamelCase)/status of every condition and that types are unique.
void ValidateConditions(const std::vector<Condition>& conditions, const std::string& path,
                        FieldErrors* errors);

}  // namespace lifeboat::api
