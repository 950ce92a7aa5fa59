#include "reconcilers/snapshot/snapshot_reconciler.h"

#include <spdlog/spdlog.h>

#include "api/manifest.h"
#include "reconcilers/conditions.h"
#include "reconcilers/finalizer.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers::snapshot {
namespace {

constexpr char kController[] = "snapshot";
constexpr char kReasonReady[] = "SnapshotReady";
constexpr char kReasonCreating[] = "Creating";
constexpr char kReasonFailed[] = "SnapshotFailed";
constexpr char kReasonMissing[] = "SnapshotMissing";
constexpr char kReasonDeleteFailed[] = "DeleteFailed";
constexpr char kReasonNoDataDir[] = "NoDataDir";
// Figures are refreshed this often (exclusiveBytes changes when other snapshots are deleted).
constexpr auto kRefreshEvery = std::chrono::minutes(5);
constexpr auto kRetryFailed = std::chrono::seconds(30);

std::string JobKey(const ObjectKey& key) { return "snapshot/" + key.ToString(); }


void SetFigures(Json& status, const lifeboat::snapshot::SnapshotInfo& info) {
  status["snapshotID"] = info.id;
  status["creationTime"] = FormatRfc3339(info.creation_time);
  status["provisionedBytes"] = static_cast<int64_t>(info.provisioned_bytes);
  status["usedBytes"] = static_cast<int64_t>(info.used_bytes);
  status["exclusiveBytes"] = static_cast<int64_t>(info.exclusive_bytes);
}

}  // namespace

std::filesystem::path SnapshotStoreDir(const EngineEnv& env) { return env.data_dir / "snapshots"; }

void SnapshotJobs::PutCreated(const std::string& key, Created created) {
  std::lock_guard<std::mutex> lock(mu_);
  created_.insert_or_assign(key, std::move(created));
}
std::optional<SnapshotJobs::Created> SnapshotJobs::TakeCreated(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = created_.find(key);
  if (it == created_.end()) {
    return std::nullopt;
  }
  Created out = std::move(it->second);
  created_.erase(it);
  return out;
}
void SnapshotJobs::PutDeleted(const std::string& key, Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  deleted_.insert_or_assign(key, std::move(status));
}
std::optional<Status> SnapshotJobs::TakeDeleted(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = deleted_.find(key);
  if (it == deleted_.end()) {
    return std::nullopt;
  }
  Status out = std::move(it->second);
  deleted_.erase(it);
  return out;
}

SnapshotReconciler::SnapshotReconciler(const controller::ControllerContext& ctx,
                                       std::shared_ptr<SnapshotJobs> jobs)
    : client_(ctx.client),
      store_(ctx.store),
      recorder_(ctx.recorder),
      clock_(ctx.clock),
      resource_(ctx.resource),
      jobs_(std::move(jobs)) {}

void SnapshotReconciler::SubmitCreate(const ObjectKey& key, const std::string& volume,
                                      const std::string& path) {
  std::shared_ptr<SnapshotJobs> jobs = jobs_;
  jobs->env().jobs->Submit(JobKey(key), [jobs, key, volume, path](std::stop_token) {
    SnapshotJobs::Created created;
    auto store = lifeboat::snapshot::SnapshotStore::Open(SnapshotStoreDir(jobs->env()));
    if (!store.ok()) {
      created.status = store.status();
    } else {
      auto result = (*store)->Create({.volume = volume, .source = path});
      if (result.ok()) {
        created.info = result->snapshot;
      } else {
        created.status = result.status();
      }
    }
    jobs->PutCreated(key.ToString(), std::move(created));
    if (jobs->env().enqueue) {
      jobs->env().enqueue(kController, key);
    }
  });
}

void SnapshotReconciler::SubmitDelete(const ObjectKey& key, const std::string& id) {
  std::shared_ptr<SnapshotJobs> jobs = jobs_;
  jobs->env().jobs->Submit(JobKey(key), [jobs, key, id](std::stop_token) {
    Status status;
    auto store = lifeboat::snapshot::SnapshotStore::Open(SnapshotStoreDir(jobs->env()));
    if (!store.ok()) {
      status = store.status();
    } else {
      auto deleted = (*store)->Delete(id);
      if (deleted.ok()) {
        spdlog::info("Deleted snapshot ns={} name={} id={} freed_bytes={}", key.ns, key.name, id,
                     deleted->bytes_freed);
      } else if (!IsNotFound(deleted.status())) {
        status = deleted.status();
      }
    }
    jobs->PutDeleted(key.ToString(), std::move(status));
    if (jobs->env().enqueue) {
      jobs->env().enqueue(kController, key);
    }
  });
}

StatusOr<Result> SnapshotReconciler::ReconcileDeletion(const ObjectKey& key, const Json& object) {
  if (!HasFinalizer(object, kCleanupFinalizer)) {
    return Result{};
  }
  std::string id = object.value("/status/snapshotID"_json_pointer, "");
  // Outcomes first: a job hands its result over (and enqueues this key) before it ends.
  if (std::optional<Status> deleted = jobs_->TakeDeleted(key.ToString())) {
    if (!deleted->ok()) {
      Json status = object.value("status", Json::object());
      SetStatusCondition(
          status,
          MakeCondition(api::kConditionReady, false, kReasonDeleteFailed, "deleting snapshot " + id + ": " + deleted->message(),
                GenerationOf(object)),
          clock_.Now());
      RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
      recorder_.Record(object, controller::EventType::kWarning, kReasonDeleteFailed,
                       deleted->message());
      return Result{kRetryFailed};
    }
    RETURN_IF_ERROR(ReleaseFinalizer(client_, resource_, object, kCleanupFinalizer));
    spdlog::info("Released Snapshot ns={} name={} id={}", key.ns, key.name, id);
    return Result{};
  }
  if (jobs_->env().jobs->Active(JobKey(key))) {
    return Result{};  // a create or delete is running; its end enqueues this key again
  }
  if (auto created = jobs_->TakeCreated(key.ToString()); created && created->status.ok()) {
    id = created->info.id;  // finished after the deletion began, before status was written
  }
  if (id.empty()) {
    RETURN_IF_ERROR(ReleaseFinalizer(client_, resource_, object, kCleanupFinalizer));
    spdlog::info("Released Snapshot ns={} name={} (no snapshot was taken)", key.ns, key.name);
    return Result{};
  }
  SubmitDelete(key, id);
  return Result{};
}

StatusOr<Result> SnapshotReconciler::Reconcile(const ObjectKey& key) {
  controller::ObjectPtr cached = store_.Get(key.ToString());
  if (cached == nullptr) {
    return Result{};
  }
  Json object = *cached;
  if (IsBeingDeleted(object)) {
    return ReconcileDeletion(key, object);
  }
  const int64_t generation = GenerationOf(object);
  Json status = object.value("status", Json::object());
  SetObservedGeneration(status, generation);

  if (api::FieldErrors errors = api::ValidateObject(object); !errors.empty()) {
    std::string message = JoinFieldErrors(errors);
    bool changed = SetStatusCondition(status, MakeCondition(api::kConditionReady, false, kReasonInvalidSpec, message, generation),
                                      clock_.Now());
    RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
    if (changed) {
      recorder_.Record(object, controller::EventType::kWarning, kReasonInvalidSpec, message);
    }
    return Result{};  // terminal until the spec changes
  }
  if (jobs_->env().data_dir.empty()) {
    // Without a data directory there is nowhere to keep snapshots (never the working directory).
    std::string message = "the controller runs without a data directory (--data-dir)";
    bool changed = SetStatusCondition(status, MakeCondition(api::kConditionReady, false, kReasonNoDataDir, message, generation),
                                      clock_.Now());
    RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
    if (changed) {
      recorder_.Record(object, controller::EventType::kWarning, kReasonNoDataDir, message);
    }
    return Result{};
  }
  if (!HasFinalizer(object, kCleanupFinalizer)) {
    ASSIGN_OR_RETURN(object, EnsureFinalizer(client_, resource_, object, kCleanupFinalizer));
  }
  const std::string volume_name = object.value("/spec/source/name"_json_pointer, "");
  const std::string path = object.value("/spec/source/path"_json_pointer, "");
  const std::string id = status.value("snapshotID", "");

  if (status.value("readyToUse", false) && !id.empty()) {
    // Taken: keep the figures true.
    auto store = lifeboat::snapshot::SnapshotStore::Open(SnapshotStoreDir(jobs_->env()));
    if (!store.ok()) {
      return store.status();
    }
    auto info = (*store)->Get(id);
    if (!info.ok()) {
      if (!IsNotFound(info.status())) {
        return info.status();
      }
      status["readyToUse"] = false;
      std::string message =
          "snapshot " + id + " is no longer in the store " + (*store)->dir().string();
      if (SetStatusCondition(status, MakeCondition(api::kConditionReady, false, kReasonMissing, message, generation),
                             clock_.Now())) {
        recorder_.Record(object, controller::EventType::kWarning, kReasonMissing, message);
      }
      RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
      return Result{};
    }
    SetFigures(status, *info);
    SetStatusCondition(status,
                       MakeCondition(api::kConditionReady, true, kReasonReady, "snapshot " + id + " of " + path, generation),
                       clock_.Now());
    RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
    return Result{kRefreshEvery};
  }

  if (std::optional<SnapshotJobs::Created> created = jobs_->TakeCreated(key.ToString())) {
    if (created->status.ok()) {
      const auto& info = created->info;
      status["readyToUse"] = true;
      SetFigures(status, info);
      status.erase("message");
      SetStatusCondition(
          status, MakeCondition(api::kConditionReady, true, kReasonReady, "snapshot " + info.id + " of " + path, generation),
          clock_.Now());
      Status written = UpdateStatusIfChanged(client_, resource_, object, status);
      if (!written.ok()) {
        jobs_->PutCreated(key.ToString(), std::move(*created));  // written on the retry
        return written;
      }
      recorder_.Record(object, controller::EventType::kNormal, "Created",
                       "snapshot " + info.id + " of " + path + ": " +
                           std::to_string(info.used_bytes) + " bytes used");
      spdlog::info("Reconciled Snapshot ns={} name={} id={} used_bytes={} exclusive_bytes={}",
                   key.ns, key.name, info.id, info.used_bytes, info.exclusive_bytes);
      return Result{kRefreshEvery};
    }
    std::string message = created->status.message();
    status["readyToUse"] = false;
    status["message"] = message;
    bool changed =
        SetStatusCondition(status, MakeCondition(api::kConditionReady, false, kReasonFailed, message, generation), clock_.Now());
    RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
    if (changed) {
      recorder_.Record(object, controller::EventType::kWarning, kReasonFailed, message);
    }
    spdlog::warn("Snapshot ns={} name={} failed: {}", key.ns, key.name, message);
    return Result{kRetryFailed};  // the source may appear or stop changing: try again
  }

  if (jobs_->env().jobs->Active(JobKey(key))) {
    return Result{};  // its end enqueues this key
  }
  if (auto ready = GetStatusCondition(status, api::kConditionReady);
      ready.has_value() && ready->reason == kReasonFailed) {
    // Retry a failed snapshot after a pause, not on every event our own status writes cause.
    auto since = clock_.Now() - ready->last_transition_time;
    if (since < kRetryFailed) {
      return Result{std::chrono::duration_cast<std::chrono::milliseconds>(kRetryFailed - since)};
    }
  }
  SubmitCreate(key, key.ns + "." + volume_name, path);
  status["readyToUse"] = false;
  SetStatusCondition(status,
                     MakeCondition(api::kConditionReady, false, kReasonCreating, "taking a snapshot of " + path, generation),
                     clock_.Now());
  RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
  return Result{};
}

ReconcilerOverrides SnapshotReconcilerFactories(const EngineEnv& env) {
  auto jobs = std::make_shared<SnapshotJobs>(env);
  ReconcilerOverrides table;
  table["Snapshot"] = [jobs](const controller::ControllerContext& ctx) {
    return std::make_unique<SnapshotReconciler>(ctx, jobs);
  };
  return table;
}

}  // namespace lifeboat::reconcilers::snapshot
