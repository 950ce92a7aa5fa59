#pragma once

// The Lifeboat operator: the controller manager with every kind's reconciler, the engines'
// worker pool and the EngineEnv they share. `lifeboat up` and `lifeboat controller` build one:
//
//   auto op = Operator::New(client, options);
//   RETURN_IF_ERROR((*op)->Start());   // caches synced; workers run (once leading)
//   ... (*op)->Stop();  /  Status s = (*op)->Wait();  // kAborted: Lease lost
#include <filesystem>
#include <memory>

#include "controller/manager.h"
#include "metrics/metrics.h"
#include "reconcilers/engine_env.h"
#include "reconcilers/job_runner.h"
#include "reconcilers/lifeboat_manager.h"

namespace lifeboat {

struct OperatorOptions {
  controller::ManagerOptions manager;
  std::filesystem::path data_dir;       // EngineEnv::data_dir (created if missing)
  metrics::Metrics* metrics = nullptr;  // also sets manager.reconcile_metrics when unset
  int job_threads = 4;                  // concurrent long jobs (backups, snapshots, cycles)
  lifeboat::replication::Receiver* receiver = nullptr;  // EngineEnv::receiver
};

// The factory table: the reconciler of every engine-backed kind. Kinds not listed keep the
// minimal SpecReconciler. One line per area.
reconcilers::ReconcilerOverrides EngineReconcilers(const reconcilers::EngineEnv& env);

class Operator {
 public:
  static StatusOr<std::unique_ptr<Operator>> New(controller::KubeClient& client,
                                                 OperatorOptions options);
  ~Operator();
  Operator(const Operator&) = delete;
  Operator& operator=(const Operator&) = delete;

  Status Start();
  // Stops the reconcilers, then the jobs (running ones see their stop_token and end).
  void Stop();
  Status Wait();

  controller::Manager& manager() { return *manager_; }
  const reconcilers::EngineEnv& env() const { return env_; }

 private:
  Operator() = default;

  std::unique_ptr<reconcilers::JobRunner> jobs_;
  reconcilers::EngineEnv env_;
  std::unique_ptr<controller::Manager> manager_;
};

}  // namespace lifeboat
