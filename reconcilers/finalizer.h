#pragma once

// Finalizer helpers (STYLE.md §3.4): add `lifeboat.dev/cleanup` before the first external side
// effect, remove it only after cleanup succeeded. The Json helpers edit a copy; the KubeClient
// helpers write through the API with optimistic concurrency (a 409 comes back as kAborted).
#include <string>
#include <string_view>

#include "api/json.h"
#include "common/status.h"
#include "controller/kube_client.h"

namespace lifeboat::reconcilers {

inline constexpr std::string_view kCleanupFinalizer = "lifeboat.dev/cleanup";

bool HasFinalizer(const Json& object, std::string_view finalizer);
// Return whether the object changed.
bool AddFinalizer(Json& object, std::string_view finalizer);
bool RemoveFinalizer(Json& object, std::string_view finalizer);
// metadata.deletionTimestamp is set.
bool IsBeingDeleted(const Json& object);

// Adds the finalizer through an update unless present; returns the object as stored.
StatusOr<Json> EnsureFinalizer(controller::KubeClient& client,
                               const controller::ResourceRef& resource, const Json& object,
                               std::string_view finalizer);
// Removes the finalizer through an update if present; returns the object as stored (the
// server may delete it right after: NotFound is success).
Status ReleaseFinalizer(controller::KubeClient& client, const controller::ResourceRef& resource,
                        const Json& object, std::string_view finalizer);

}  // namespace lifeboat::reconcilers
