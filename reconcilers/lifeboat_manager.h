#pragma once

// The controller manager of Lifeboat: every kind registered as its own controller.
// Used by `lifeboat controller` and `lifeboat up`:
//
//   auto manager = reconcilers::NewLifeboatManager(client, options);
//   RETURN_IF_ERROR((*manager)->Start());   // caches synced; workers run (once leading)
//   ... (*manager)->Stop();  /  Status s = (*manager)->Wait();  // kAborted: Lease lost
#include <map>
#include <memory>
#include <string>

#include "controller/manager.h"

namespace lifeboat::reconcilers {

// Per-kind reconciler replacing the minimal SpecReconciler (keyed by kind: "BackupPolicy").
using ReconcilerOverrides = std::map<std::string, controller::ReconcilerFactory>;

StatusOr<std::unique_ptr<controller::Manager>> NewLifeboatManager(
    controller::KubeClient& client, controller::ManagerOptions options,
    ReconcilerOverrides overrides = {});

}  // namespace lifeboat::reconcilers
