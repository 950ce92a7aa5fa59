#pragma once

// Leader election on a coordination.k8s.io/v1 Lease (client-go's leaderelection, STYLE.md §3.5).
// A candidate acquires the Lease when it is free, released, or not renewed for lease_duration
// (measured on the local clock from when this candidate last saw it change, so clock skew
// between hosts does not matter). The leader renews every retry_period; if it cannot renew for
// renew_deadline it stops leading and on_stopped_leading runs (the process should exit).
// Stop() releases a held Lease so a successor takes over at once.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/status.h"
#include "controller/kube_client.h"

namespace lifeboat::controller {

struct LeaderElectionOptions {
  std::string lease_namespace = "default";
  std::string lease_name = "lifeboat-controller";
  std::string identity;  // unique per candidate; default "<hostname>_<pid>"
  Clock::Duration lease_duration = std::chrono::seconds(15);
  Clock::Duration renew_deadline = std::chrono::seconds(10);
  Clock::Duration retry_period = std::chrono::seconds(2);
};

struct LeaderCallbacks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
};

// The Lease resource.
ResourceRef LeaseResource();
// "<hostname>_<pid>"
std::string DefaultIdentity();

class LeaderElector {
 public:
  LeaderElector(KubeClient& client, const Clock& clock, LeaderElectionOptions options,
                LeaderCallbacks callbacks);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // kInvalidArgument unless 0 < retry_period < renew_deadline < lease_duration and names set.
  static Status ValidateOptions(const LeaderElectionOptions& options);

  // Campaigns on a background thread.
  void Start();
  // Stops campaigning; releases the Lease if held (best effort). Does not run
  // on_stopped_leading.
  void Stop();

  bool IsLeader() const;
  // The holder last observed ("" when none).
  std::string observed_leader() const;
  const LeaderElectionOptions& options() const { return options_; }

 private:
  void Run(std::stop_token stop);
  // One attempt; true when this candidate holds the Lease afterwards.
  bool TryAcquireOrRenew();
  void Release();
  bool Wait(std::stop_token stop, Clock::Duration delay);
  // While leading: declares the Lease lost when no renewal succeeded for renew_deadline, even
  // if a renewal request is still hanging.
  void Watchdog(std::stop_token stop);
  // Marks leadership lost once and runs on_stopped_leading.
  void LoseLeadership(const std::string& why);

  KubeClient& client_;
  const Clock& clock_;
  const LeaderElectionOptions options_;
  const LeaderCallbacks callbacks_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool leader_ = false;
  std::string observed_holder_;
  std::string observed_renew_time_;
  Clock::TimePoint observed_time_{};
  Json observed_lease_;  // last read or written Lease (for the resourceVersion)
  Clock::TimePoint last_renew_{};
  bool lost_ = false;
  std::jthread watchdog_;
  std::jthread thread_;
};

}  // namespace lifeboat::controller
