#include "reconcilers/replication/register.h"

#include "engines/replication/receiver.h"
#include "reconcilers/replication/control_handler.h"
#include "reconcilers/replication/replication_policy_reconciler.h"
#include "reconcilers/replication/site_reconciler.h"

namespace lifeboat::reconcilers::replication {
namespace {

// The ReplicationPolicy reconciler together with the protected site's failover control handler,
// which answers on this process's replication endpoint for as long as the reconciler exists.
class WithControlHandler final : public Reconciler {
 public:
  WithControlHandler(std::unique_ptr<Reconciler> inner,
                     std::unique_ptr<PolicyControlHandler> control)
      : inner_(std::move(inner)), control_(std::move(control)) {}
  StatusOr<Result> Reconcile(const ObjectKey& key) override { return inner_->Reconcile(key); }

 private:
  std::unique_ptr<Reconciler> inner_;
  std::unique_ptr<PolicyControlHandler> control_;
};

}  // namespace

ReconcilerOverrides ReplicationReconcilerFactories(const EngineEnv& env) {
  auto shared = std::make_shared<Shared>(env);
  ReconcilerOverrides table;
  table["Site"] = [shared](const controller::ControllerContext& ctx) {
    return std::make_unique<SiteReconciler>(ctx, shared);
  };
  table["ReplicationPolicy"] =
      [shared](const controller::ControllerContext& ctx) -> std::unique_ptr<Reconciler> {
    auto reconciler = std::make_unique<ReplicationPolicyReconciler>(ctx, shared);
    if (shared->env().receiver == nullptr) {
      return reconciler;
    }
    return std::make_unique<WithControlHandler>(
        std::move(reconciler), std::make_unique<PolicyControlHandler>(ctx.client, shared, ctx.clock,
                                                                      *shared->env().receiver));
  };
  return table;
}

}  // namespace lifeboat::reconcilers::replication
