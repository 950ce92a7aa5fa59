#include "reconcilers/conditions.h"

#include <vector>

namespace lifeboat::reconcilers {
namespace {

std::vector<api::Condition> DecodeConditions(const Json& status) {
  std::vector<api::Condition> out;
  if (!status.is_object()) {
    return out;
  }
  auto it = status.find("conditions");
  if (it == status.end() || !it->is_array()) {
    return out;
  }
  for (const Json& entry : *it) {
    api::Condition condition;
    api::FieldErrors errors;
    Decode(entry, "", &condition, &errors);
    if (errors.empty()) {
      out.push_back(std::move(condition));
    }
  }
  return out;
}

}  // namespace

bool SetStatusCondition(Json& status, api::Condition condition, api::Time now) {
  if (!status.is_object()) {
    status = Json::object();
  }
  std::vector<api::Condition> conditions = DecodeConditions(status);
  bool had_unreadable =
      status.contains("conditions") &&
      (!status["conditions"].is_array() || status["conditions"].size() != conditions.size());
  bool changed = api::SetCondition(conditions, std::move(condition), now);
  if (!changed && !had_unreadable && status.contains("conditions")) {
    return false;
  }
  Json encoded = Json::array();
  for (const api::Condition& c : conditions) {
    encoded.push_back(api::ToJson(c));
  }
  status["conditions"] = std::move(encoded);
  return true;
}

std::optional<api::Condition> GetStatusCondition(const Json& status, std::string_view type) {
  std::vector<api::Condition> conditions = DecodeConditions(status);
  const api::Condition* found = api::FindCondition(conditions, type);
  if (found == nullptr) {
    return std::nullopt;
  }
  return *found;
}

bool SetObservedGeneration(Json& status, int64_t generation) {
  if (!status.is_object()) {
    status = Json::object();
  }
  auto it = status.find("observedGeneration");
  if (it != status.end() && it->is_number_integer() && it->get<int64_t>() == generation) {
    return false;
  }
  status["observedGeneration"] = generation;
  return true;
}

int64_t GenerationOf(const Json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) {
    return 0;
  }
  auto generation = meta->find("generation");
  return generation != meta->end() && generation->is_number_integer() ? generation->get<int64_t>()
                                                                      : 0;
}

api::Condition MakeCondition(std::string_view type, bool ok, std::string reason,
                             std::string message, int64_t generation) {
  api::Condition c;
  c.type = std::string(type);
  c.status = ok ? api::ConditionStatus::kTrue : api::ConditionStatus::kFalse;
  c.reason = std::move(reason);
  c.message = std::move(message);
  c.observed_generation = generation;
  return c;
}

Status UpdateStatusIfChanged(controller::KubeClient& client,
                             const controller::ResourceRef& resource, const Json& object,
                             const Json& status) {
  if (object.value("status", Json::object()) == status) {
    return OkStatus();
  }
  Json updated = object;
  updated["status"] = status;
  auto written = client.UpdateStatus(resource, updated);
  if (!written.ok() && !IsNotFound(written.status())) {
    return written.status();
  }
  return OkStatus();
}

}  // namespace lifeboat::reconcilers
