#include "reconcilers/backup/recovery_point_reconciler.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "api/backup_policy.h"
#include "api/codec.h"
#include "api/manifest.h"
#include "api/recovery_point.h"
#include "engines/hooks/from_api.h"
#include "engines/snapshot/snapshot.h"
#include "engines/vault/cli_support.h"
#include "engines/vault/immutability.h"
#include "engines/vault/vault.h"
#include "reconcilers/backup/common.h"
#include "reconcilers/backup/instant_restore.h"
#include "reconcilers/backup/progress.h"
#include "reconcilers/conditions.h"
#include "reconcilers/finalizer.h"
#include "reconcilers/snapshot/snapshot_reconciler.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers::backup {
namespace {

constexpr auto kWaitForVaultLock = std::chrono::minutes(10);
constexpr auto kWaitForVaultOpen = std::chrono::minutes(1);

std::string JobKey(const ObjectKey& key) { return "recoverypoint/" + key.ToString(); }

bool Terminal(const std::string& phase) {
  return phase == "Completed" || phase == "PartiallyFailed" || phase == "Failed";
}

std::string LastLine(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

}  // namespace

RecoveryPointReconciler::RecoveryPointReconciler(const controller::ControllerContext& ctx,
                                                 std::shared_ptr<Shared> shared)
    : client_(ctx.client),
      store_(ctx.store),
      recorder_(ctx.recorder),
      clock_(ctx.clock),
      shared_(std::move(shared)),
      hooks_(hooks::NewHookRunner()) {}

StatusOr<Result> RecoveryPointReconciler::Reconcile(const ObjectKey& key) {
  JobRunner& jobs = *shared_->env().jobs;
  controller::ObjectPtr cached = store_.Get(key.ToString());
  if (cached == nullptr) {
    jobs.Cancel(JobKey(key));
    return Result{};
  }
  const Json& object = *cached;
  if (IsBeingDeleted(object)) {
    return Finalize(key, object);
  }
  const std::string phase = object.value("/status/phase"_json_pointer, "");
  if (Terminal(phase) || jobs.Active(JobKey(key))) {
    return Result{};
  }
  if (api::FieldErrors errors = api::ValidateObject(object); !errors.empty()) {
    return FailInvalidSpec(client_, recorder_, clock_, kRecoveryPoints, key, object, errors);
  }
  if (!HasFinalizer(object, kCleanupFinalizer)) {
    auto updated = EnsureFinalizer(client_, kRecoveryPoints, object, kCleanupFinalizer);
    if (!updated.ok()) return updated.status();
  }
  // Running without a job in this process: the controller restarted mid-run.
  const bool resumed = phase == "Running";
  jobs.Submit(
      JobKey(key), [this, key, resumed](std::stop_token stop) { Run(key, resumed, stop); },
      // A deletion that arrived during the run waited for it: go on at once.
      [this, key] { shared_->Enqueue(kRecoveryPointController, key.ns, key.name); });
  return Result{};
}

StatusOr<Result> RecoveryPointReconciler::Finalize(const ObjectKey& key, const Json& object) {
  JobRunner& jobs = *shared_->env().jobs;
  if (!HasFinalizer(object, kCleanupFinalizer) || jobs.Active(JobKey(key))) {
    // A running backup cannot be abandoned half-way: the deletion job starts when it ends.
    return HasFinalizer(object, kCleanupFinalizer) ? Result{std::chrono::seconds(2)} : Result{};
  }
  if (auto until = shared_->DeferredUntil(key.ToString()); until && *until > clock_.Now()) {
    // Immutable: the deletion goes through when the lock expires.
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*until - clock_.Now());
    return Result{
        std::min<std::chrono::milliseconds>(wait + std::chrono::seconds(1), std::chrono::hours(1))};
  }
  jobs.Submit(JobKey(key), [this, key](std::stop_token stop) { Delete(key, stop); });
  return Result{};
}

void RecoveryPointReconciler::Delete(const ObjectKey& key, std::stop_token stop) {
  auto fresh = client_.Get(kRecoveryPoints, key);
  if (!fresh.ok() || !HasFinalizer(*fresh, kCleanupFinalizer)) return;
  const Json& object = *fresh;
  const std::string id = object.value("/status/snapshotID"_json_pointer, "");
  std::string vault_name = object.value("/spec/vaultRef/name"_json_pointer, "");
  if (vault_name.empty()) {
    vault_name = object.value("/metadata/annotations"_json_pointer, Json::object())
                     .value(kVaultAnnotation, "");
  }
  if (!id.empty() && !vault_name.empty()) {
    VaultProblem problem;
    auto opened = OpenVault(client_, key.ns, vault_name, {}, &problem);
    if (!opened.has_value()) {
      if (problem.reason != "VaultNotFound") {
        // The data cannot be deleted now: the point stays (with its finalizer) until it can.
        spdlog::warn("RecoveryPoint ns={} name={} deletion waits for vault {}: {}", key.ns,
                     key.name, vault_name, problem.message);
        recorder_.Record(
            object, controller::EventType::kWarning, "DeletionBlocked",
            "point " + id + " cannot be deleted from vault " + vault_name + ": " + problem.message);
        return;
      }
      recorder_.Record(
          object, controller::EventType::kWarning, "VaultGone",
          "Vault " + vault_name + " no longer exists: point " + id + " stays in its storage");
    } else {
      // A backup holds the vault (shared lock) for a while: wait for it.
      Status forgot = vault::ForgetPoint(*opened->repo, id, clock_).status();
      spdlog::debug("RecoveryPoint ns={} name={} forget point={}: {}", key.ns, key.name, id,
                    forgot.ToString());
      for (auto waited = std::chrono::steady_clock::now();
           forgot.code() == StatusCode::kUnavailable && !stop.stop_requested() &&
           std::chrono::steady_clock::now() - waited < kWaitForVaultLock;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        forgot = vault::ForgetPoint(*opened->repo, id, clock_).status();
      }
      if (IsNotFound(forgot)) forgot = OkStatus();  // already gone
      if (forgot.code() == StatusCode::kFailedPrecondition) {
        // Immutable (Vault.spec.immutability): the object stays, Terminating, until the lock
        // expires; then the deletion goes through by itself.
        auto expiries = vault::LockExpiries(opened->repo->store());
        Clock::TimePoint until = clock_.Now() + std::chrono::hours(1);
        if (expiries.ok()) {
          if (auto it = expiries->find(id); it != expiries->end()) until = it->second;
        }
        shared_->DeferDeletion(key.ToString(), until);
        recorder_.Record(object, controller::EventType::kWarning, "DeletionDeferred",
                         forgot.message() + ": the RecoveryPoint is deleted when the lock expires");
        Status s = PatchStatus(client_, kRecoveryPoints, key,
                               {{"message", "deletion deferred: " + forgot.message()}});
        (void)s;
        shared_->Enqueue(kRecoveryPointController, key.ns, key.name);
        return;
      }
      if (!forgot.ok()) {
        spdlog::warn("RecoveryPoint ns={} name={} deleting point={}: {}", key.ns, key.name, id,
                     forgot.ToString());
        recorder_.Record(object, controller::EventType::kWarning, "DeletionBlocked",
                         "point " + id + " in vault " + vault_name + ": " + forgot.message());
        return;
      }
      shared_->RequestPrune(ObjectKey{key.ns, vault_name}.ToString());
      shared_->Enqueue(kVaultController, key.ns, vault_name);
      spdlog::info("RecoveryPoint ns={} name={} deleted point={} from vault={}", key.ns, key.name,
                   id, vault_name);
    }
  }
  // Instant restore: the point's local snapshots go with it.
  if (Status s = DeleteSnapshots(shared_->env(), PointSnapshots(object)); !s.ok()) {
    recorder_.Record(object, controller::EventType::kWarning, "SnapshotDeletionFailed",
                     "the point's local snapshots: " + s.message());
  }
  shared_->ClearDeferral(key.ToString());
  Status released = ReleaseFinalizer(client_, kRecoveryPoints, object, kCleanupFinalizer);
  if (!released.ok()) {
    spdlog::warn("RecoveryPoint ns={} name={} finalizer: {}", key.ns, key.name,
                 released.ToString());
    return;
  }
  if (std::string policy = object.value("/spec/policyRef/name"_json_pointer, ""); !policy.empty()) {
    shared_->Enqueue(kBackupPolicyController, key.ns, policy);
  }
}

void RecoveryPointReconciler::Run(const ObjectKey& key, bool resumed, std::stop_token stop) {
  metrics::Metrics* metrics = shared_->env().metrics;
  auto fresh = client_.Get(kRecoveryPoints, key);
  if (!fresh.ok()) {
    if (!IsNotFound(fresh.status())) {
      spdlog::warn("RecoveryPoint ns={} name={}: {}", key.ns, key.name, fresh.status().ToString());
      shared_->Enqueue(kRecoveryPointController, key.ns, key.name);
    }
    return;
  }
  const Json object = *fresh;
  // The informer's cache can lag behind the previous run's final status: never run twice.
  if (Terminal(object.value("/status/phase"_json_pointer, ""))) return;
  const int64_t generation = GenerationOf(object);
  api::RecoveryPoint point;
  api::FromJson(object, &point);
  const std::string policy_name = point.spec.policy_ref ? point.spec.policy_ref->name : "";
  Json policy_object;
  std::string vault_name = point.spec.vault_ref ? point.spec.vault_ref->name : "";
  double bytes_read = 0;
  auto started = std::chrono::steady_clock::now();
  const Clock::TimePoint start_time = clock_.Now();

  // Every write of this run goes through here; the conditions are rebuilt from what we know.
  Json status = object.value("status", Json::object());
  auto publish = [&](const Json& fields) {
    for (auto it = fields.begin(); it != fields.end(); ++it) status[it.key()] = it.value();
    Status s = PatchStatus(client_, kRecoveryPoints, key, fields);
    if (!s.ok() && !IsNotFound(s)) {
      spdlog::warn("RecoveryPoint ns={} name={} status: {}", key.ns, key.name, s.ToString());
    }
  };
  auto event = [&](controller::EventType type, const std::string& reason,
                   const std::string& message) {
    recorder_.Record(object, type, reason, message);
    if (!policy_object.is_null()) recorder_.Record(policy_object, type, reason, message);
  };
  auto finish = [&](const std::string& phase, const std::string& reason, const std::string& message,
                    Json extra) {
    extra["phase"] = phase;
    extra["message"] = resumed ? message + " (run again after a controller restart)" : message;
    extra["completionTime"] = FormatRfc3339(clock_.Now());
    extra["observedGeneration"] = generation;
    Json conditions = status.value("conditions", Json::array());
    Json holder = {{"conditions", conditions}};
    SetStatusCondition(
        holder, MakeCondition(api::kConditionReady, phase != "Failed", reason, message, generation),
        clock_.Now());
    extra["conditions"] = holder["conditions"];
    bool failed = phase == "Failed";
    event(failed ? controller::EventType::kWarning : controller::EventType::kNormal,
          failed ? "BackupFailed"
                 : (phase == "Completed" ? "BackupCompleted" : "BackupPartiallyFailed"),
          "RecoveryPoint " + key.name + ": " + message);
    spdlog::log(failed ? spdlog::level::warn : spdlog::level::info,
                "RecoveryPoint ns={} name={} phase={} {}", key.ns, key.name, phase, message);
    if (metrics) {
      metrics::BackupOutcome outcome;
      outcome.namespace_ = key.ns;
      outcome.policy = policy_name;
      outcome.result = phase == "Completed" ? "completed" : failed ? "failed" : "partially_failed";
      outcome.duration_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      outcome.bytes_read = bytes_read;
      outcome.bytes_uploaded = extra.value("storedBytes", 0.0);
      metrics->backup().ObserveBackup(outcome);
    }
    // Events and metrics first: whoever sees the final phase also finds them.
    publish(extra);
    if (!policy_name.empty()) shared_->Enqueue(kBackupPolicyController, key.ns, policy_name);
    if (!vault_name.empty()) {
      if (failed || resumed) {
        // A run that failed or was cut short by a restart may have left packs no index names:
        // the next prune removes them.
        shared_->RequestPrune(ObjectKey{key.ns, vault_name}.ToString());
      }
      shared_->Enqueue(kVaultController, key.ns, vault_name);
    }
  };

  // What to back up: the point's own spec, completed from its policy.
  std::vector<api::Volume> volumes = point.spec.volumes;
  std::optional<api::ConsistencySpec> consistency;
  int64_t snapshot_retention = 0;  // instant restore: keep this many points' snapshots
  if (!policy_name.empty()) {
    auto policy = client_.Get(kBackupPolicies, ObjectKey{key.ns, policy_name});
    if (!policy.ok()) {
      if (IsNotFound(policy.status()) && !volumes.empty() && !vault_name.empty()) {
        // The policy is gone; the point carries everything but the hooks.
      } else if (IsNotFound(policy.status())) {
        finish("Failed", "PolicyNotFound",
               "policyRef: BackupPolicy " + key.ns + "/" + policy_name + " not found", {});
        return;
      } else {
        spdlog::warn("RecoveryPoint ns={} name={} policy: {}", key.ns, key.name,
                     policy.status().ToString());
        shared_->Enqueue(kRecoveryPointController, key.ns, key.name);
        return;
      }
    } else {
      policy_object = *policy;
      api::BackupPolicy parsed;
      api::FromJson(*policy, &parsed);
      if (volumes.empty()) volumes = parsed.spec.volumes;
      if (vault_name.empty()) vault_name = parsed.spec.vault_ref.name;
      consistency = parsed.spec.consistency;
      if (parsed.spec.instant_restore) {
        snapshot_retention = parsed.spec.instant_restore->snapshot_retention.value_or(0);
      }
    }
  }
  const bool application = point.spec.consistency.value_or(consistency && consistency->type
                                                               ? *consistency->type
                                                               : api::ConsistencyType::kCrash) ==
                           api::ConsistencyType::kApplication;

  Json metadata = Json::object();
  if (!point.spec.vault_ref) {
    // Remember where the data went, for the deletion of this point.
    metadata["annotations"][kVaultAnnotation] = vault_name;
  }
  if (!policy_name.empty() && point.metadata.labels.count(kPolicyLabel) == 0) {
    // A point made by hand counts for its policy (status, RPO, retention) like a scheduled one.
    metadata["labels"][kPolicyLabel] = policy_name;
  }
  if (!metadata.empty()) {
    auto annotated = client_.Patch(kRecoveryPoints, key, controller::PatchType::kMerge,
                                   Json{{"metadata", metadata}});
    if (!annotated.ok()) {
      spdlog::warn("RecoveryPoint ns={} name={} annotate: {}", key.ns, key.name,
                   annotated.status().ToString());
    }
  }
  publish({{"phase", "Running"},
           {"startTime", FormatRfc3339(start_time)},
           {"message", std::string(resumed ? "resumed after a controller restart: " : "") +
                           "backing up " + std::to_string(volumes.size()) + " volumes to vault " +
                           vault_name}});
  event(controller::EventType::kNormal, "BackupStarted",
        "RecoveryPoint " + key.name + (resumed ? " resumed" : " started") + ": " +
            std::to_string(volumes.size()) + " volumes to vault " + vault_name);

  // A Vault not opened yet (everything applied at once): wait for it rather than fail.
  for (auto waited = std::chrono::steady_clock::now();
       std::chrono::steady_clock::now() - waited < kWaitForVaultOpen && !stop.stop_requested();) {
    auto vault = client_.Get(kVaults, ObjectKey{key.ns, vault_name});
    if (!vault.ok() ||
        GetStatusCondition(vault->value("status", Json::object()), api::kConditionReady)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  VaultProblem problem;
  auto opened = OpenVault(client_, key.ns, vault_name, {}, &problem);
  if (!opened.has_value()) {
    finish("Failed", problem.reason, "vault " + vault_name + ": " + problem.message, {});
    return;
  }
  for (const api::Volume& v : volumes) {
    struct stat st {};
    if (::stat(v.path.c_str(), &st) != 0) {
      finish("Failed", "VolumeUnreadable",
             "volume " + v.name + ": " + v.path + ": " + std::strerror(errno), {});
      return;
    }
  }

  // Application consistency: preHook, the copy, postHook (always, once the preHook ran).
  std::vector<std::string> problems;
  bool consistent = false;  // application-consistent: the preHook succeeded
  bool pre_ran = false;
  auto run_hook = [&](const std::optional<api::Hook>& hook, const std::string& name,
                      std::string* failure) -> bool {
    if (!hook.has_value()) return true;
    auto spec = hooks::HookSpecFromApi(*hook, name);
    if (!spec.ok()) {
      *failure = spec.status().message();
      return false;
    }
    std::map<std::string, std::string> env = {{"LIFEBOAT_RECOVERY_POINT", key.name},
                                              {"LIFEBOAT_NAMESPACE", key.ns},
                                              {"LIFEBOAT_POLICY", policy_name}};
    auto ran = hooks_->Run(*spec, env);
    if (!ran.ok()) {
      *failure = name + ": " + ran.status().message();
      return false;
    }
    if (!ran->succeeded) {
      *failure = ran->message.empty() ? name + ": failed: " + LastLine(ran->output) : ran->message;
      return false;
    }
    return true;
  };
  if (application && consistency) {
    std::string failure;
    pre_ran = consistency->pre_hook.has_value();
    if (!run_hook(consistency->pre_hook, "preHook", &failure)) {
      if (consistency->on_error.value_or(api::OnError::kFail) == api::OnError::kFail) {
        std::string post_failure;
        run_hook(consistency->post_hook, "postHook", &post_failure);
        finish("Failed", "PreHookFailed",
               failure + (post_failure.empty() ? "" : "; " + post_failure) +
                   " (onError: Fail, so no backup was taken)",
               {{"consistencyAchieved", "Crash"}});
        return;
      }
      problems.push_back(failure + " (onError: Continue: the point is crash-consistent)");
    } else {
      consistent = true;
    }
  } else if (application) {
    problems.push_back(
        "consistency Application needs the policy's hooks; the point is "
        "crash-consistent");
  }

  // The postHook runs once, as soon as the frozen state has been copied.
  bool post_ran = false;
  auto run_post_hook = [&] {
    if (post_ran) return;
    post_ran = true;
    if (pre_ran || (application && consistency && consistency->post_hook)) {
      std::string failure;
      if (application && consistency && !run_hook(consistency->post_hook, "postHook", &failure)) {
        problems.push_back(failure);
      }
    }
  };

  // Instant restore: a local snapshot of every volume, taken inside the freeze window (the
  // snapshot only copies changed blocks, so the application is frozen for that long rather
  // than for the whole vault upload), then the postHook.
  //
  // What the vault copies: when the point is application-consistent, the vault backs up the
  // snapshots materialised into a scratch dir under the data dir, so the vault copy is exactly
  // the frozen state too (the application already runs again meanwhile); otherwise (the copy is
  // crash-consistent anyway) it reads the live volumes and nothing extra is written. Measured
  // with the lifeboat CLI on 64 x 4 MiB random files, 2 shared cores (load ~12, so noisy):
  // incremental snapshot 0.06 s, materialising it 0.3-2.4 s, vault backup 1.96 s first and
  // 0.65 s incremental. Materialising costs about one more local write of the volumes per
  // application-consistent run, outside the freeze; holding the freeze through the vault
  // upload instead would cost the application that time on every run.
  std::map<std::string, std::string> snapshot_ids;
  std::vector<api::Volume> vault_sources = volumes;
  const std::filesystem::path scratch =
      shared_->env().data_dir / "instant-restore" / (key.ns + "." + key.name);
  std::error_code scratch_ec;
  if (snapshot_retention > 0 && !policy_name.empty() && shared_->env().data_dir.empty()) {
    problems.push_back(
        "instant restore: the controller runs without a data dir, so no local snapshot was taken");
  } else if (snapshot_retention > 0 && !policy_name.empty()) {
    auto store =
        lifeboat::snapshot::SnapshotStore::Open(snapshot::SnapshotStoreDir(shared_->env()));
    std::string failure;
    if (!store.ok()) failure = "snapshot store: " + store.status().message();
    for (size_t i = 0; failure.empty() && i < volumes.size(); ++i) {
      lifeboat::snapshot::CreateOptions create;
      create.volume = InstantVolumeName(key.ns, policy_name, volumes[i].name);
      create.source = volumes[i].path;
      auto made = (*store)->Create(create);
      if (!made.ok()) {
        failure = "volume " + volumes[i].name + ": " + made.status().message();
        break;
      }
      snapshot_ids[volumes[i].name] = made->snapshot.id;
    }
    run_post_hook();
    if (!failure.empty()) {
      Status s = DeleteSnapshots(shared_->env(), snapshot_ids);
      (void)s;
      snapshot_ids.clear();
      problems.push_back("instant restore: no snapshot taken: " + failure);
    } else {
      auto annotated = client_.Patch(
          kRecoveryPoints, key, controller::PatchType::kMerge,
          Json{{"metadata",
                {{"annotations",
                  {{kSnapshotsAnnotation, FormatSnapshotsAnnotation(snapshot_ids)}}}}}});
      if (!annotated.ok()) {
        Status s = DeleteSnapshots(shared_->env(), snapshot_ids);
        (void)s;
        snapshot_ids.clear();
        problems.push_back("instant restore: recording the snapshots: " +
                           annotated.status().message());
      }
    }
    if (consistent && !snapshot_ids.empty()) {
      std::filesystem::remove_all(scratch, scratch_ec);
      std::filesystem::create_directories(scratch, scratch_ec);
      std::vector<api::Volume> materialised;
      for (const api::Volume& v : volumes) {
        lifeboat::snapshot::MaterializeOptions m;
        m.id = snapshot_ids[v.name];
        m.target = scratch / v.name;
        auto made = (*store)->Materialize(m);
        if (!made.ok()) {
          problems.push_back("instant restore: the vault copy reads the live volumes: " +
                             made.status().message());
          materialised.clear();
          break;
        }
        materialised.push_back({v.name, m.target.string()});
      }
      if (!materialised.empty()) vault_sources = std::move(materialised);
    }
  }

  vault::BackupOptions options;
  for (const api::Volume& v : vault_sources) {
    options.paths.push_back(v.path);
    options.names.push_back(v.name);
  }
  options.tags = {"recoverypoint=" + key.ns + "/" + key.name};
  if (!policy_name.empty()) options.tags.push_back("policy=" + key.ns + "/" + policy_name);
  ProgressThrottle throttle([&](const Json& progress) { publish({{"progress", progress}}); });
  options.progress = [&throttle](const vault::Progress& p) { throttle(p); };
  options.clock = &clock_;
  // A prune or forget holds the vault exclusively for a short while: wait for it.
  auto backup = vault::Backup(*opened->repo, options);
  for (auto waited = std::chrono::steady_clock::now();
       !backup.ok() && backup.status().code() == StatusCode::kUnavailable &&
       !stop.stop_requested() && std::chrono::steady_clock::now() - waited < kWaitForVaultLock;) {
    publish({{"message", "waiting for the vault: " + backup.status().message()}});
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    backup = vault::Backup(*opened->repo, options);
  }
  run_post_hook();
  std::filesystem::remove_all(scratch, scratch_ec);
  if (!backup.ok()) {
    // A failed point is never restored from: its snapshots go now.
    Status s = DeleteSnapshots(shared_->env(), snapshot_ids);
    (void)s;
    std::string reason = backup.status().code() == StatusCode::kUnavailable ? "VaultBusy"
                         : backup.status().code() == StatusCode::kResourceExhausted
                             ? "StorageFull"
                             : "BackupFailed";
    finish("Failed", reason, backup.status().message(), {});
    return;
  }
  const vault::Manifest& m = backup->manifest;
  // Immutability: lock the new point (and the vault's files) before anyone can delete it.
  if (auto days =
          opened->vault.spec.immutability ? opened->vault.spec.immutability->days : std::nullopt;
      days && *days > 0) {
    auto locked = vault::ApplyImmutability(*opened->repo, static_cast<int>(*days), clock_);
    if (!locked.ok()) {
      problems.push_back("immutability lock not written: " + locked.status().message());
    } else if (auto expiries = vault::LockExpiries(opened->repo->store()); expiries.ok()) {
      // The API refuses to delete the point before then (the ledger guards the data anyway).
      if (auto it = expiries->find(m.id); it != expiries->end()) {
        auto annotated = client_.Patch(
            kRecoveryPoints, key, controller::PatchType::kMerge,
            Json{{"metadata",
                  {{"annotations", {{kImmutableUntilAnnotation, FormatRfc3339(it->second)}}}}}});
        if (!annotated.ok()) {
          problems.push_back("immutable-until annotation not written: " +
                             annotated.status().message());
        }
      }
    }
  }
  // The geo-redundant copy follows asynchronously (the Vault's sync job).
  if (opened->vault.spec.secondary.has_value()) {
    shared_->RequestSync(ObjectKey{key.ns, vault_name}.ToString());
  }
  for (const vault::FileError& e : m.errors) {
    if (problems.size() >= 5) break;
    problems.push_back(e.path + ": " + e.error);
  }
  if (m.errors.size() > 5)
    problems.push_back("and " + std::to_string(m.errors.size() - 5) + " more unreadable files");
  std::string summary = std::to_string(m.summary.files) + " files, " +
                        vault::HumanBytes(m.summary.bytes) + " (" +
                        vault::HumanBytes(m.summary.data_added) + " new, " +
                        vault::HumanBytes(m.summary.stored_added) + " stored)";
  Json extra = {{"snapshotID", m.id},
                {"files", static_cast<int64_t>(m.summary.files)},
                {"bytes", static_cast<int64_t>(m.summary.bytes)},
                {"newBytes", static_cast<int64_t>(m.summary.data_added)},
                {"storedBytes", static_cast<int64_t>(m.summary.stored_added)},
                {"consistencyAchieved", consistent ? "Application" : "Crash"},
                {"progress", throttle.Final()}};
  bytes_read = static_cast<double>(m.summary.bytes_read);
  if (!snapshot_ids.empty()) {
    Status kept = ApplySnapshotRetention(client_, shared_->env(), key.ns, policy_name, key.name,
                                         snapshot_retention);
    if (!kept.ok()) problems.push_back("instant restore retention: " + kept.message());
    summary += "; instant restore: " + std::to_string(snapshot_ids.size()) + " local snapshots";
  }
  if (problems.empty() && !m.partial) {
    finish("Completed", "Completed", "backed up " + summary, std::move(extra));
  } else {
    std::string joined;
    for (const std::string& p : problems) joined += (joined.empty() ? "" : "; ") + p;
    finish("PartiallyFailed", "PartiallyFailed", "backed up " + summary + "; " + joined,
           std::move(extra));
  }
}

}  // namespace lifeboat::reconcilers::backup
