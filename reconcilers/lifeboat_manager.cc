#include "reconcilers/lifeboat_manager.h"

#include "reconcilers/kinds.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers {

StatusOr<std::unique_ptr<controller::Manager>> NewLifeboatManager(
    controller::KubeClient& client, controller::ManagerOptions options,
    ReconcilerOverrides overrides) {
  auto manager = std::make_unique<controller::Manager>(client, std::move(options));
  for (const LifeboatKind& kind : LifeboatKinds()) {
    controller::ReconcilerFactory factory;
    if (auto it = overrides.find(kind.resource.kind); it != overrides.end()) {
      factory = std::move(it->second);
      overrides.erase(it);
    } else {
      factory = [](const controller::ControllerContext& ctx) -> std::unique_ptr<Reconciler> {
        return std::make_unique<SpecReconciler>(ctx.client, ctx.store, ctx.recorder, ctx.clock,
                                                ctx.resource);
      };
    }
    controller::ControllerSpec spec{kind.controller, kind.resource, 0};
    spec.ignore_status_only_updates = kind.ignore_status_only_updates;
    spec.indexes = kind.indexes;
    spec.watches = kind.watches;
    RETURN_IF_ERROR(manager->AddController(std::move(spec), std::move(factory)));
  }
  if (!overrides.empty()) {
    return InvalidArgumentError("reconciler override for unknown kind \"" +
                                overrides.begin()->first + "\"");
  }
  return manager;
}

}  // namespace lifeboat::reconcilers
