#pragma once

// The protected site's side of failover (engines/replication/control.h), attached to this
// process's replication endpoint while the ReplicationPolicy controller exists:
//   Handover  fences the policy (in memory at once, then the lifeboat.dev/failed-over-to
//             annotation, so a restart does not resume it), stops a queued or running cycle and
//             waits for it to end; with finalSync runs one more cycle (the reconciler's own cycle
//             code) and records its point in lifeboat.dev/handover-point (+ -time-ms); without,
//             records the last point replicated. A failed final sync lifts the fence again.
//   Seed      replicates the policy's volumes into this site's own endpoint, as the recovery
//             site's replica <root>/<site>/<ns>/<policy> (loopback, Receiver::LoopbackEndpoint):
//             the recovery site's reverse replication then sends only what it changed.
//   Failback  materialises each volume of a point of that replica beside the volume, swaps it
//             in (rename exchange), lifts the handover and deletes the replica.
// Each operation runs on the job runner under "replicationcontrol/<ns>/<policy>"; its state is
// kept in memory and answers repeated calls: Running and Succeeded every time (until a different
// request replaces it), Failed once (AwaitControl stops there), so the next identical call — a
// retry — starts the operation again.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "controller/kube_client.h"
#include "engines/replication/control.h"
#include "reconcilers/replication/shared.h"

namespace lifeboat::replication {
class Receiver;
}

namespace lifeboat::reconcilers::replication {

class PolicyControlHandler final : public lifeboat::replication::ControlHandler {
 public:
  // Attaches itself to `receiver` (not owned; must outlive this object).
  PolicyControlHandler(controller::KubeClient& client, std::shared_ptr<Shared> shared,
                       const Clock& clock, lifeboat::replication::Receiver& receiver);
  // Detaches, cancels its running operation jobs and waits for them to return.
  ~PolicyControlHandler() override;
  PolicyControlHandler(const PolicyControlHandler&) = delete;
  PolicyControlHandler& operator=(const PolicyControlHandler&) = delete;

  StatusOr<lifeboat::replication::ControlState> Handover(
      const lifeboat::replication::HandoverRequest& request) override;
  StatusOr<lifeboat::replication::ControlState> Seed(
      const lifeboat::replication::SeedRequest& request) override;
  StatusOr<lifeboat::replication::ControlState> Failback(
      const lifeboat::replication::FailbackRequest& request) override;

  // The operations' state, shared with their jobs.
  struct Ops;

 private:
  // Answers with the state of `request` on `key`, or starts `job` for it.
  StatusOr<lifeboat::replication::ControlState> StartOrAnswer(
      const std::string& key, const std::string& request,
      std::function<lifeboat::replication::ControlState(std::stop_token)> job);

  controller::KubeClient& client_;
  std::shared_ptr<Shared> shared_;
  const Clock& clock_;
  lifeboat::replication::Receiver& receiver_;
  std::shared_ptr<Ops> ops_;
};

}  // namespace lifeboat::reconcilers::replication
