#pragma once

// Failover control between sites, carried by the replication endpoint (same TLS and token as the
// data path). The recovery site's Failover controller asks the protected site to hand a policy
// over, to seed a reverse replica from the data it still holds, and to take the data back
// (failback). The protected site's ReplicationPolicy controllers implement ControlHandler and
// attach it to their Receiver.
//
//   POST /v1/control/NS/POLICY/handover   {"toSite": ID, "finalSync": true}
//   POST /v1/control/NS/POLICY/seed       {"site": ID}
//   POST /v1/control/NS/POLICY/failback   {"site": ID, "point": ID}
//
// Every call is idempotent: it starts the operation when it is neither running nor finished and
// answers at once with its state; the caller repeats the same call until the phase is no longer
// Running. A finished operation keeps answering with its outcome until a different request for
// the same policy replaces it.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "api/json.h"
#include "common/status.h"
#include "engines/replication/sender.h"

namespace lifeboat::replication {

enum class ControlPhase { kRunning, kSucceeded, kFailed };
std::string_view ControlPhaseName(ControlPhase phase);  // "Running" / "Succeeded" / "Failed"

struct ControlState {
  ControlPhase phase = ControlPhase::kRunning;
  std::string point;  // handover: the final (or last) point replicated; seed: the seed point
  int64_t point_time_ms = 0;  // when that point's data was captured
  std::string site_id;        // the answering site's id (its LocalSiteId)
  std::string message;        // what is happening, or why it failed (a person can act on it)
};

// The protected site stops replicating `policy` to `to_site` (persisted: a restart does not
// resume it) and, with final_sync, first replicates once more so the target holds everything.
// final_sync=false only fences the policy (the target failed over without it).
struct HandoverRequest {
  std::string ns;
  std::string policy;
  std::string to_site;  // the id of the site taking over (its LocalSiteId)
  bool final_sync = true;
};

// Reprotect: the protected site fills the replica <its root>/<site>/<ns>/<policy> with a point of
// the volumes it still holds (local copies only), so the reverse replication that follows sends
// only what changed since. Requires the policy to be handed over.
struct SeedRequest {
  std::string ns;
  std::string policy;
  std::string site;  // the recovery site's id: the directory its reverse replication writes to
};

// Failback: the protected site writes `point` of the reverse replica (<root>/<site>/<ns>/<policy>)
// over its volumes (each volume replaced atomically), lifts the handover and resumes replicating.
struct FailbackRequest {
  std::string ns;
  std::string policy;
  std::string site;
  std::string point;
};

class ControlHandler {
 public:
  virtual ~ControlHandler() = default;
  // kNotFound: no such policy here; kFailedPrecondition: the request does not fit the policy's
  // state (the message says what to do). Other failures are a kFailed state with a message.
  virtual StatusOr<ControlState> Handover(const HandoverRequest& request) = 0;
  virtual StatusOr<ControlState> Seed(const SeedRequest& request) = 0;
  virtual StatusOr<ControlState> Failback(const FailbackRequest& request) = 0;
};

// Client side: one request each (the state as the protected site answers it).
StatusOr<ControlState> RequestHandover(const TargetEndpoint& site, const HandoverRequest& request);
StatusOr<ControlState> RequestSeed(const TargetEndpoint& site, const SeedRequest& request);
StatusOr<ControlState> RequestFailback(const TargetEndpoint& site, const FailbackRequest& request);

// Repeats `call` every `interval` until the phase is not Running; kDeadlineExceeded after
// `timeout`, kCancelled once `cancel` is set. A kFailed state is returned as is (not an error).
StatusOr<ControlState> AwaitControl(const std::function<StatusOr<ControlState>()>& call,
                                    std::chrono::milliseconds interval,
                                    std::chrono::milliseconds timeout,
                                    const std::atomic<bool>* cancel);

// The wire form of the calls above (control.cc; the receiver routes with them). Requests name
// their fields in errors ("handover: toSite ..."); names are checked with ValidateRepoName.
Json ControlStateToJson(const ControlState& state);
StatusOr<ControlState> ControlStateFromJson(const Json& j);
StatusOr<HandoverRequest> HandoverRequestFromJson(const std::string& ns, const std::string& policy,
                                                  const Json& body);
StatusOr<SeedRequest> SeedRequestFromJson(const std::string& ns, const std::string& policy,
                                          const Json& body);
StatusOr<FailbackRequest> FailbackRequestFromJson(const std::string& ns, const std::string& policy,
                                                  const Json& body);

}  // namespace lifeboat::replication
