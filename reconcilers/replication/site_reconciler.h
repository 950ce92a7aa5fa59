#pragma once

// Site: pings the replication endpoint (on the job runner, every 30 s) with the Site's trust and
// credentials and publishes status.reachable, latencyMilliseconds, lastContactTime, version,
// message and Ready (reasons Reachable, Unreachable, Unauthenticated, SecretNotFound,
// InvalidSpec). lifeboat_site_reachable follows.
#include <memory>

#include "controller/manager.h"
#include "reconcilers/reconciler.h"
#include "reconcilers/replication/shared.h"

namespace lifeboat::reconcilers::replication {

inline constexpr auto kPingEvery = std::chrono::seconds(30);

class SiteReconciler final : public Reconciler {
 public:
  SiteReconciler(const controller::ControllerContext& ctx, std::shared_ptr<Shared> shared);
  StatusOr<Result> Reconcile(const ObjectKey& key) override;

 private:
  controller::KubeClient& client_;
  const controller::Store& store_;
  controller::EventRecorder& recorder_;
  const Clock& clock_;
  controller::ResourceRef resource_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace lifeboat::reconcilers::replication
