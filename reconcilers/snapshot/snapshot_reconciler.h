#pragma once

// Snapshot: takes a point-in-time copy of spec.source into the controller's snapshot store
// (<data dir>/snapshots) on the job runner, then publishes status.readyToUse, snapshotID,
// creationTime, provisionedBytes, usedBytes and exclusiveBytes with the Ready condition. The
// figures are refreshed while the object lives (exclusiveBytes grows when other snapshots go).
// The lifeboat.dev/cleanup finalizer guards the data: deleting the object deletes the snapshot,
// which frees only the blocks no other snapshot uses.
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "controller/manager.h"
#include "engines/snapshot/snapshot.h"
#include "reconcilers/engine_env.h"
#include "reconcilers/lifeboat_manager.h"
#include "reconcilers/reconciler.h"

namespace lifeboat::reconcilers::snapshot {

// The controller's snapshot store: <data dir>/snapshots (what Restore and instant restore open).
std::filesystem::path SnapshotStoreDir(const EngineEnv& env);

// Results of finished jobs, kept until the reconciler has written them to status.
class SnapshotJobs {
 public:
  explicit SnapshotJobs(const EngineEnv& env) : env_(env) {}
  const EngineEnv& env() const { return env_; }

  struct Created {
    Status status;
    lifeboat::snapshot::SnapshotInfo info;
  };
  void PutCreated(const std::string& key, Created created);
  std::optional<Created> TakeCreated(const std::string& key);
  void PutDeleted(const std::string& key, Status status);
  std::optional<Status> TakeDeleted(const std::string& key);

 private:
  EngineEnv env_;
  std::mutex mu_;
  std::map<std::string, Created> created_;
  std::map<std::string, Status> deleted_;
};

class SnapshotReconciler final : public Reconciler {
 public:
  SnapshotReconciler(const controller::ControllerContext& ctx, std::shared_ptr<SnapshotJobs> jobs);
  StatusOr<Result> Reconcile(const ObjectKey& key) override;

 private:
  StatusOr<Result> ReconcileDeletion(const ObjectKey& key, const Json& object);
  void SubmitCreate(const ObjectKey& key, const std::string& volume, const std::string& path);
  void SubmitDelete(const ObjectKey& key, const std::string& id);
  // Writes `status` through the status subresource when it differs from the object's.

  controller::KubeClient& client_;
  const controller::Store& store_;
  controller::EventRecorder& recorder_;
  const Clock& clock_;
  controller::ResourceRef resource_;
  std::shared_ptr<SnapshotJobs> jobs_;
};

// The factory table entry for the operator: {"Snapshot": ...}.
ReconcilerOverrides SnapshotReconcilerFactories(const EngineEnv& env);

}  // namespace lifeboat::reconcilers::snapshot
