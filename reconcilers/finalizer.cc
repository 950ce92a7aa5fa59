#include "reconcilers/finalizer.h"

namespace lifeboat::reconcilers {

bool HasFinalizer(const Json& object, std::string_view finalizer) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) {
    return false;
  }
  auto list = meta->find("finalizers");
  if (list == meta->end() || !list->is_array()) {
    return false;
  }
  for (const Json& f : *list) {
    if (f.is_string() && f.get_ref<const std::string&>() == finalizer) {
      return true;
    }
  }
  return false;
}

bool AddFinalizer(Json& object, std::string_view finalizer) {
  if (HasFinalizer(object, finalizer)) {
    return false;
  }
  Json& list = object["metadata"]["finalizers"];
  if (!list.is_array()) {
    list = Json::array();
  }
  list.push_back(std::string(finalizer));
  return true;
}

bool RemoveFinalizer(Json& object, std::string_view finalizer) {
  if (!HasFinalizer(object, finalizer)) {
    return false;
  }
  Json& list = object["metadata"]["finalizers"];
  Json kept = Json::array();
  for (const Json& f : list) {
    if (!(f.is_string() && f.get_ref<const std::string&>() == finalizer)) {
      kept.push_back(f);
    }
  }
  list = std::move(kept);
  return true;
}

bool IsBeingDeleted(const Json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) {
    return false;
  }
  auto ts = meta->find("deletionTimestamp");
  return ts != meta->end() && ts->is_string() && !ts->get_ref<const std::string&>().empty();
}

StatusOr<Json> EnsureFinalizer(controller::KubeClient& client,
                               const controller::ResourceRef& resource, const Json& object,
                               std::string_view finalizer) {
  Json copy = object;
  if (!AddFinalizer(copy, finalizer)) {
    return copy;
  }
  return client.Update(resource, copy);
}

Status ReleaseFinalizer(controller::KubeClient& client, const controller::ResourceRef& resource,
                        const Json& object, std::string_view finalizer) {
  Json copy = object;
  if (!RemoveFinalizer(copy, finalizer)) {
    return OkStatus();
  }
  auto updated = client.Update(resource, copy);
  if (!updated.ok() && !IsNotFound(updated.status())) {
    return updated.status();
  }
  return OkStatus();
}

}  // namespace lifeboat::reconcilers
