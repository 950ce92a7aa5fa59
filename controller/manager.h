#pragma once

// Manager: owns the informers, work queues and workers of every registered controller and
// wires them together (controller-runtime's manager, STYLE.md §3.5).
//  - Start(): starts one informer per resource, waits until every cache has synced, then
//    (after winning the Lease when leader election is on) starts N workers per controller.
//  - A worker takes a key, runs the reconciler, then: OK → Forget (+ AddAfter requeue_after);
//    kInvalidArgument / kFailedPrecondition → Forget (terminal until the object changes);
//    any other error (kAborted on a 409 included) → AddRateLimited; then Done.
//  - Stop(): graceful; stops the queues, the workers (each finishes its current reconcile),
//    leader election (releasing the Lease) and the informers. Safe to call from any thread;
//    a concurrent second call returns when the first has finished.
//  - Wait(): blocks until stopped; returns kAborted if the Lease was lost (exit non-zero).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "controller/event_recorder.h"
#include "controller/informer.h"
#include "controller/kube_client.h"
#include "controller/leader_election.h"
#include "controller/rate_limiter.h"
#include "controller/store.h"
#include "controller/work_queue.h"
#include "metrics/metrics.h"
#include "reconcilers/reconciler.h"

namespace lifeboat::controller {

struct ManagerOptions {
  std::string ns;   // watch only this namespace; "" = all namespaces
  int workers = 2;  // per controller, unless the controller says otherwise
  bool leader_elect = false;
  LeaderElectionOptions leader_election;  // identity defaults to DefaultIdentity()
  Clock::Duration resync_period = std::chrono::minutes(10);
  Clock::Duration cache_sync_timeout = std::chrono::minutes(2);
  RateLimiterOptions rate_limits;
  const Clock* clock = nullptr;                   // defaults to SystemClock()
  std::string component = "lifeboat-controller";  // Event source
  // lifeboat_reconcile_* and work-queue depth per controller; nullptr = not recorded.
  metrics::ReconcileRecorder* reconcile_metrics = nullptr;
};

// What a reconciler factory gets: the client to write with, the cache of its kind to read
// from, the event recorder and the clock. All outlive the reconciler.
struct ControllerContext {
  KubeClient& client;
  const Store& store;
  EventRecorder& recorder;
  const Clock& clock;
  const ResourceRef& resource;
  // The cache of another resource the manager informs on (one a controller reconciles or
  // watches, see ControllerSpec::watches); nullptr otherwise. Synced before any Reconcile.
  std::function<const Store*(const ResourceRef&)> cache;
};

using ReconcilerFactory =
    std::function<std::unique_ptr<reconcilers::Reconciler>(const ControllerContext& context)>;

struct ControllerSpec {
  std::string name;  // "backuppolicy"
  ResourceRef resource;
  int workers = 0;  // 0 = ManagerOptions::workers
  // Updates that change only `status` (and metadata.resourceVersion / managedFields) do not
  // enqueue the object: its reconciler's own status write then costs no second reconcile
  // (controller-runtime's GenerationChangedPredicate, except that metadata changes such as
  // labels, annotations, finalizers and deletionTimestamp still enqueue). For kinds whose
  // status only their own reconciler writes. Resyncs (same resourceVersion) still enqueue.
  bool ignore_status_only_updates = false;
  // Indexes on this resource's cache (Store::AddIndex), e.g. RecoveryPoints by policy.
  std::map<std::string, Store::IndexFunc> indexes;
  // Other resources whose changes enqueue objects of this controller (controller-runtime's
  // Watches with a map function): the keys ("ns/name") `map` returns for the changed object
  // (its new version on add and update, its last known one on delete). With `through_index`,
  // `map` returns values of that index of this controller's own cache instead, and the objects
  // filed under them are enqueued (e.g. a Vault's change enqueues the policies using it). The
  // handlers run once the watched resource's cache holds the change, so a reconciler reading
  // that cache sees it.
  struct Watch {
    ResourceRef resource;
    std::function<std::vector<std::string>(const Json& object)> map;
    std::string through_index;
  };
  std::vector<Watch> watches;
};

// Whether `updated` differs from `old` in nothing but status, metadata.resourceVersion and
// metadata.managedFields (false when both carry the same resourceVersion: a resync).
bool OnlyStatusChanged(const Json& old, const Json& updated);

struct ControllerStats {
  uint64_t reconciles = 0;
  uint64_t errors = 0;
};

class Manager {
 public:
  Manager(KubeClient& client, ManagerOptions options);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Before Start(). kAlreadyExists for a duplicate name, kInvalidArgument for a bad spec.
  Status AddController(ControllerSpec spec, ReconcilerFactory factory);

  // Returns once the caches have synced (kDeadlineExceeded naming the resource otherwise);
  // workers start now, or when the Lease is won.
  Status Start();
  void Stop();
  Status Wait();

  bool IsLeader() const;
  bool WorkersStarted() const;
  StatusOr<ControllerStats> Stats(const std::string& controller) const;
  // The cache of a resource (nullptr if no controller watches it).
  const Store* StoreFor(const ResourceRef& resource) const;
  // The queue of a controller (nullptr if unknown), e.g. to enqueue from other events.
  WorkQueue* QueueFor(const std::string& controller);
  const ManagerOptions& options() const { return options_; }

 private:
  struct Controller {
    ControllerSpec spec;
    ReconcilerFactory factory;
    std::unique_ptr<WorkQueue> queue;
    std::unique_ptr<reconcilers::Reconciler> reconciler;
    std::vector<std::jthread> workers;
    std::atomic<uint64_t> reconciles{0};
    std::atomic<uint64_t> errors{0};
  };

  void StartWorkers();
  void Work(Controller& controller);
  void OnLostLeadership();
  // Under mu_, before Start(): the informer of `resource`, made on first use.
  Informer& InformerFor(const ResourceRef& resource);

  KubeClient& client_;
  ManagerOptions options_;
  const Clock& clock_;
  EventRecorder recorder_;
  std::map<std::string, std::unique_ptr<Informer>> informers_;  // by GroupResource
  std::vector<std::unique_ptr<Controller>> controllers_;
  std::unique_ptr<LeaderElector> elector_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool workers_started_ = false;
  bool stopped_ = false;
  bool lost_lease_ = false;
  std::mutex stop_mu_;  // held for the whole of Stop(): a second caller waits for the first
};

}  // namespace lifeboat::controller
