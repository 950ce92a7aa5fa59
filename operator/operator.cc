#include "operator/operator.h"

#include <system_error>

#include "reconcilers/backup/register.h"
#include "reconcilers/recovery/register.h"
#include "reconcilers/replication/register.h"
#include "reconcilers/snapshot/snapshot_reconciler.h"

namespace lifeboat {

reconcilers::ReconcilerOverrides EngineReconcilers(const reconcilers::EngineEnv& env) {
  // kind → factory; each area adds its kinds here (its header: reconcilers/<area>/register.h).
  reconcilers::ReconcilerOverrides table;
  auto add = [&table](reconcilers::ReconcilerOverrides area) {
    for (auto& [kind, factory] : area) {
      table.insert_or_assign(kind, std::move(factory));
    }
  };
  add(reconcilers::backup::BackupReconcilerFactories(env));
  add(reconcilers::snapshot::SnapshotReconcilerFactories(env));
  add(reconcilers::replication::ReplicationReconcilerFactories(env));
  add(reconcilers::recovery::RecoveryReconcilerFactories(env));
  return table;
}

StatusOr<std::unique_ptr<Operator>> Operator::New(controller::KubeClient& client,
                                                  OperatorOptions options) {
  std::unique_ptr<Operator> op(new Operator());
  if (!options.data_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.data_dir, ec);
    if (ec) {
      return FailedPreconditionError("data dir " + options.data_dir.string() + ": " +
                                     ec.message());
    }
  }
  if (options.metrics != nullptr && options.manager.reconcile_metrics == nullptr) {
    options.manager.reconcile_metrics = &options.metrics->reconcile();
  }
  op->jobs_ = std::make_unique<reconcilers::JobRunner>(options.job_threads);
  op->env_.data_dir = options.data_dir;
  op->env_.metrics = options.metrics;
  op->env_.jobs = op->jobs_.get();
  op->env_.receiver = options.receiver;
  Operator* self = op.get();
  op->env_.enqueue = [self](const std::string& controller, const controller::ObjectKey& key) {
    if (self->manager_ == nullptr) {
      return;
    }
    if (controller::WorkQueue* queue = self->manager_->QueueFor(controller)) {
      queue->Add(key.ToString());
    }
  };
  ASSIGN_OR_RETURN(op->manager_, reconcilers::NewLifeboatManager(
                                     client, std::move(options.manager), EngineReconcilers(op->env_)));
  return op;
}

Operator::~Operator() { Stop(); }

Status Operator::Start() { return manager_->Start(); }

void Operator::Stop() {
  if (manager_) {
    manager_->Stop();
  }
  if (jobs_) {
    jobs_->Stop();
  }
}

Status Operator::Wait() {
  Status s = manager_->Wait();
  if (jobs_) {
    jobs_->Stop();
  }
  return s;
}

}  // namespace lifeboat
