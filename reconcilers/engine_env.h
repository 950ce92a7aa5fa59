#pragma once

// What the engine-backed reconcilers (backup, snapshot, replication, recovery plans) get beyond
// their ControllerContext: where engine state lives, the metrics, the worker pool for long work
// and a way to poke another controller. Built once by operator/operator.cc; outlives every
// reconciler.
#include <filesystem>
#include <functional>
#include <string>

#include "controller/object_key.h"
#include "metrics/metrics.h"
#include "reconcilers/job_runner.h"

namespace lifeboat::replication {
class Receiver;
}

namespace lifeboat::reconcilers {

struct EngineEnv {
  // Engine state of this controller process: snapshot stores, replica roots, caches.
  std::filesystem::path data_dir;
  metrics::Metrics* metrics = nullptr;  // nullptr: nothing recorded
  JobRunner* jobs = nullptr;            // never nullptr once the operator runs
  // Adds `key` to the work queue of `controller` ("backuppolicy", "vault", ...): e.g. a finished
  // RecoveryPoint pokes its policy. A no-op for unknown controllers or before Start().
  std::function<void(const std::string& controller, const controller::ObjectKey& key)> enqueue;
  // This site's replication endpoint when it serves one in-process (`lifeboat up
  // --replication-port`): the replicas other sites send here (failover reads them) and the
  // control channel the protected side answers on. nullptr otherwise.
  lifeboat::replication::Receiver* receiver = nullptr;
};

}  // namespace lifeboat::reconcilers
