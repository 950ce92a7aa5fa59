#include "api/condition.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  c.Required("type", v.type);
  c.Required("status", v.status);
  c.Optional("observedGeneration", v.observed_generation);
  c.Required("lastTransitionTime", v.last_transition_time);
  c.Required("reason", v.reason);
  c.OmitEmpty("message", v.message);
}

constexpr size_t kMaxReasonLength = 1024;
constexpr size_t kMaxTypeLength = 316;

bool IsCamelCaseReason(const std::string& reason) {
  // metav1.Condition: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$
  if (reason.empty() || !std::isalpha(static_cast<unsigned char>(reason[0]))) {
    return false;
  }
  for (char c : reason) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ',' && c != ':') {
      return false;
    }
  }
  char last = reason.back();
  return std::isalnum(static_cast<unsigned char>(last)) || last == '_';
}

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(Condition)

bool SetCondition(std::vector<Condition>& conditions, Condition condition, Time now) {
  auto it = std::find_if(conditions.begin(), conditions.end(),
                         [&](const Condition& c) { return c.type == condition.type; });
  if (it == conditions.end()) {
    condition.last_transition_time = now;
    conditions.push_back(std::move(condition));
    return true;
  }
  if (it->status != condition.status) {
    condition.last_transition_time = now;
  } else {
    condition.last_transition_time = it->last_transition_time;
  }
  if (*it == condition) {
    return false;
  }
  *it = std::move(condition);
  return true;
}

const Condition* FindCondition(const std::vector<Condition>& conditions, std::string_view type) {
  for (const Condition& c : conditions) {
    if (c.type == type) {
      return &c;
    }
  }
  return nullptr;
}

bool IsConditionTrue(const std::vector<Condition>& conditions, std::string_view type) {
  const Condition* c = FindCondition(conditions, type);
  return c != nullptr && c->status == ConditionStatus::kTrue;
}

bool RemoveCondition(std::vector<Condition>& conditions, std::string_view type) {
  auto it = std::remove_if(conditions.begin(), conditions.end(),
                           [&](const Condition& c) { return c.type == type; });
  bool removed = it != conditions.end();
  conditions.erase(it, conditions.end());
  return removed;
}

void ValidateConditions(const std::vector<Condition>& conditions, const std::string& path,
                        FieldErrors* errors) {
  std::set<std::string> seen;
  for (size_t i = 0; i < conditions.size(); ++i) {
    const Condition& c = conditions[i];
    std::string field = Index(path, i);
    if (c.type.empty() || c.type.size() > kMaxTypeLength) {
      errors->push_back({Child(field, "type"), "must be 1-316 characters"});
    } else if (!seen.insert(c.type).second) {
      errors->push_back({Child(field, "type"), "duplicate condition type " + Quote(c.type)});
    }
    if (!IsCamelCaseReason(c.reason) || c.reason.size() > kMaxReasonLength) {
      errors->push_back({Child(field, "reason"),
                         "must be CamelCase like WaitingForSchedule, got " + Quote(c.reason)});
    }
    if (c.observed_generation && *c.observed_generation < 0) {
      errors->push_back({Child(field, "observedGeneration"), "must be >= 0"});
    }
  }
}

}  // namespace lifeboat::api
