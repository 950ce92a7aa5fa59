#include "reconcilers/backup/vault_reconciler.h"

#include <spdlog/spdlog.h>

#include "api/codec.h"
#include "api/cron.h"
#include "api/manifest.h"
#include "engines/vault/secondary.h"
#include "engines/vault/vault.h"
#include "reconcilers/backup/common.h"
#include "reconcilers/conditions.h"
#include "reconcilers/finalizer.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers::backup {
namespace {

constexpr auto kRefreshEvery = std::chrono::seconds(60);
constexpr auto kRetryUnready = std::chrono::seconds(15);

std::vector<std::string> PoliciesUsing(controller::KubeClient& client, const ObjectKey& vault) {
  std::vector<std::string> names;
  auto list = client.List(kBackupPolicies, vault.ns, {});
  if (!list.ok()) {
    return names;
  }
  for (const Json& p : list->items) {
    if (p.value("/spec/vaultRef/name"_json_pointer, "") == vault.name && !IsBeingDeleted(p)) {
      names.push_back(p.value("/metadata/name"_json_pointer, ""));
    }
  }
  return names;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

VaultReconciler::VaultReconciler(const controller::ControllerContext& ctx,
                                 std::shared_ptr<Shared> shared)
    : client_(ctx.client),
      store_(ctx.store),
      recorder_(ctx.recorder),
      clock_(ctx.clock),
      shared_(std::move(shared)) {}

StatusOr<Result> VaultReconciler::Reconcile(const ObjectKey& key) {
  metrics::Metrics* metrics = shared_->env().metrics;
  controller::ObjectPtr cached = store_.Get(key.ToString());
  if (cached == nullptr) {
    if (metrics) metrics->backup().RemoveVault(key.ns, key.name);
    return Result{};
  }
  const Json& object = *cached;
  const int64_t generation = GenerationOf(object);
  const Json old_status = object.value("status", Json::object());
  Json status = old_status;
  Result result{kRefreshEvery};

  auto write = [&](const api::Condition& ready, bool ok) -> StatusOr<Result> {
    bool was_ok = true;
    std::string old_reason;
    if (auto old = GetStatusCondition(old_status, api::kConditionReady)) {
      was_ok = old->status == api::ConditionStatus::kTrue;
      old_reason = old->reason;
    }
    SetStatusCondition(status, ready, clock_.Now());
    SetObservedGeneration(status, generation);
    if (metrics) {
      metrics->backup().SetVaultFigures(key.ns, key.name, status.value("logicalBytes", 0.0),
                                        status.value("storedBytes", 0.0),
                                        status.value("dedupRatio", 0.0), ok);
    }
    if (status != old_status) {
      Json patch = status;
      patch.erase("lastCheckTime");  // owned by the check job
      patch.erase("lastCheckResult");
      Status s = PatchStatus(client_, kVaults, key, patch);
      if (!s.ok() && !IsNotFound(s)) return s;
    }
    if (ok != was_ok || old_reason != ready.reason) {
      // The policies using this vault start (or stop) their runs now, not at their next pass.
      for (const std::string& policy : PoliciesUsing(client_, key)) {
        shared_->Enqueue(kBackupPolicyController, key.ns, policy);
      }
    }
    if (!ok && (was_ok || old_reason != ready.reason)) {
      recorder_.Record(object, controller::EventType::kWarning, ready.reason, ready.message);
      spdlog::warn("Vault ns={} name={} not ready: reason={} {}", key.ns, key.name, ready.reason,
                   ready.message);
    }
    return result;
  };

  if (IsBeingDeleted(object)) {
    if (!HasFinalizer(object, kCleanupFinalizer)) {
      return Result{};
    }
    std::vector<std::string> users = PoliciesUsing(client_, key);
    if (!users.empty()) {
      result.requeue_after = kRetryUnready;
      return write(MakeCondition(api::kConditionReady, false, "InUse",
                                 "deletion waits: still used by BackupPolicy " + JoinNames(users) +
                                     " (delete or repoint them first; the vault's data is kept)",
                                 generation),
                   false);
    }
    if (metrics) metrics->backup().RemoveVault(key.ns, key.name);
    RETURN_IF_ERROR(ReleaseFinalizer(client_, kVaults, object, kCleanupFinalizer));
    spdlog::info("Vault ns={} name={} released (its storage keeps the data)", key.ns, key.name);
    return Result{};
  }

  if (api::FieldErrors errors = api::ValidateObject(object); !errors.empty()) {
    result.requeue_after = {};
    return write(MakeCondition(api::kConditionReady, false, kReasonInvalidSpec,
                               JoinFieldErrors(errors), generation),
                 false);
  }
  if (!HasFinalizer(object, kCleanupFinalizer)) {
    auto updated = EnsureFinalizer(client_, kVaults, object, kCleanupFinalizer);
    if (!updated.ok()) return updated.status();
  }

  VaultProblem problem;
  auto opened = OpenVault(client_, key.ns, key.name, OpenVaultOptions{.initialise = true},
                          &problem);
  if (!opened.has_value()) {
    result.requeue_after = kRetryUnready;
    return write(MakeCondition(api::kConditionReady, false, problem.reason, problem.message,
                               generation),
                 false);
  }
  const std::string vault_id = opened->repo->config().id;
  Json annotations = object.value("/metadata/annotations"_json_pointer, Json::object());
  if (annotations.value(kVaultIdAnnotation, "") != vault_id) {
    auto patched = client_.Patch(
        kVaults, key, controller::PatchType::kMerge,
        Json{{"metadata", {{"annotations", {{kVaultIdAnnotation, vault_id}}}}}});
    if (!patched.ok()) return patched.status();
  }
  if (opened->initialised_now) {
    recorder_.Record(object, controller::EventType::kNormal, "Initialized",
                     "initialised vault " + vault_id + " at " + opened->store->Describe());
    spdlog::info("Vault ns={} name={} initialised id={} at={}", key.ns, key.name, vault_id,
                 opened->store->Describe());
  }

  auto stats = vault::Stats(*opened->repo);
  if (!stats.ok()) {
    result.requeue_after = kRetryUnready;
    return write(MakeCondition(api::kConditionReady, false, "VaultDamaged",
                               opened->store->Describe() + ": " + stats.status().message(),
                               generation),
                 false);
  }
  status["logicalBytes"] = static_cast<int64_t>(stats->logical_bytes);
  status["storedBytes"] = static_cast<int64_t>(stats->stored_bytes);
  status["dedupRatio"] = std::round(stats->dedup_ratio * 100) / 100;
  status["recoveryPointCount"] = static_cast<int64_t>(stats->points);

  // The scheduled check.
  const api::VaultSpec& spec = opened->vault.spec;
  if (spec.check.has_value() && spec.check->schedule.has_value()) {
    auto cron = api::CronSchedule::Parse(*spec.check->schedule);
    Clock::TimePoint last{};
    std::string last_text = old_status.value("lastCheckTime", "");
    if (last_text.empty() || !ParseRfc3339(last_text, &last)) {
      last = opened->vault.metadata.creation_timestamp.value_or(clock_.Now());
    }
    if (cron.ok()) {
      auto next = cron->Next(last, api::TimeZone::Utc());
      if (next.ok()) {
        if (*next <= clock_.Now()) {
          RunCheck(key, spec.check->read_data_percent.value_or(0));
        } else {
          result.requeue_after = std::min<std::chrono::milliseconds>(
              result.requeue_after,
              std::chrono::duration_cast<std::chrono::milliseconds>(*next - clock_.Now()) +
                  std::chrono::milliseconds(5));
        }
      }
    }
  }
  if (shared_->TakePruneRequest(key.ToString())) {
    RunPrune(key);
  }
  // The geo-redundant copy: its lag, and a sync when new points are not there yet.
  std::string secondary_note;
  if (spec.secondary.has_value()) {
    if (opened->secondary == nullptr) {
      secondary_note = "; secondary storage unreachable";
      status.erase("secondaryLagSeconds");
    } else {
      auto lag = vault::SecondaryLagSeconds(*opened->repo, *opened->secondary, clock_);
      if (lag.ok()) {
        status["secondaryLagSeconds"] = std::round(*lag);
        if (metrics) metrics->backup().SetVaultSecondaryLag(key.ns, key.name, *lag);
        if (*lag > 0) shared_->RequestSync(key.ToString());
      } else {
        secondary_note = "; secondary: " + lag.status().message();
      }
      if (shared_->TakeSyncRequest(key.ToString())) RunSync(key);
    }
  }
  return write(MakeCondition(api::kConditionReady, true, "Ready",
                             "vault " + vault_id.substr(0, 12) + " at " +
                                 opened->store->Describe() + ": " +
                                 std::to_string(stats->points) + " recovery points" +
                                 secondary_note,
                             generation),
               true);
}

void VaultReconciler::RunCheck(const ObjectKey& key, int64_t read_data_percent) {
  JobRunner* jobs = shared_->env().jobs;
  std::string job = "vault-check/" + key.ToString();
  if (jobs == nullptr || jobs->Active(job)) return;
  jobs->Submit(job, [this, key, read_data_percent](std::stop_token) {
    VaultProblem problem;
    auto opened = OpenVault(client_, key.ns, key.name, {}, &problem);
    if (!opened.has_value()) return;  // the reconciler reports it
    vault::CheckOptions options;
    options.read_data = read_data_percent > 0;
    auto checked = vault::Check(*opened->repo, options);
    if (checked.ok() && opened->store != nullptr && opened->secondary != nullptr) {
      // The geo-redundant copy must hold the same vault.
      auto differences = vault::CompareStores(*opened->store, *opened->secondary,
                                              vault::CompareOptions{options.read_data});
      if (!differences.ok()) {
        checked->errors.push_back("secondary: " + differences.status().message());
      } else {
        for (const vault::StoreDifference& d : *differences) {
          // Points not synced yet are lag, not damage.
          if (d.problem.find("missing on the secondary") != std::string::npos) continue;
          checked->errors.push_back("secondary: " + d.name + ": " + d.problem);
        }
      }
    }
    bool passed = checked.ok() && checked->ok();
    std::string message =
        !checked.ok() ? checked.status().message()
        : passed      ? "check passed: " + std::to_string(checked->points) + " points, " +
                       std::to_string(checked->packs) + " packs" +
                       (options.read_data ? ", all data read back" : "")
                      : "check found " + std::to_string(checked->errors.size()) +
                       " problems; first: " + checked->errors.front();
    Status s = PatchStatus(client_, kVaults, key,
                           Json{{"lastCheckTime", FormatRfc3339(clock_.Now())},
                                {"lastCheckResult", passed ? "Passed" : "Failed"}});
    if (!s.ok()) spdlog::warn("Vault ns={} name={} check status: {}", key.ns, key.name, s.ToString());
    recorder_.Record(opened->object,
                     passed ? controller::EventType::kNormal : controller::EventType::kWarning,
                     passed ? "CheckPassed" : "CheckFailed", message);
    spdlog::info("Vault ns={} name={} {}", key.ns, key.name, message);
  });
}

void VaultReconciler::RunSync(const ObjectKey& key) {
  JobRunner* jobs = shared_->env().jobs;
  std::string job = "vault-sync/" + key.ToString();
  if (jobs == nullptr || !jobs->Submit(job, [this, key](std::stop_token) {
        VaultProblem problem;
        auto opened = OpenVault(client_, key.ns, key.name, {}, &problem);
        if (!opened.has_value() || opened->secondary == nullptr) {
          shared_->RequestSync(key.ToString());
          return;
        }
        auto synced = vault::SyncSecondary(*opened->repo, *opened->secondary, nullptr);
        if (!synced.ok()) {
          shared_->RequestSync(key.ToString());
          spdlog::warn("Vault ns={} name={} secondary sync: {}", key.ns, key.name,
                       synced.status().ToString());
          recorder_.Record(opened->object, controller::EventType::kWarning, "SecondarySyncFailed",
                           synced.status().message());
          return;
        }
        spdlog::info("Vault ns={} name={} secondary synced packs={} bytes={}", key.ns, key.name,
                     synced->copied.packs_copied, synced->copied.bytes_copied);
        shared_->Enqueue(kVaultController, key.ns, key.name);
      })) {
    shared_->RequestSync(key.ToString());
  }
}

void VaultReconciler::RunPrune(const ObjectKey& key) {
  JobRunner* jobs = shared_->env().jobs;
  std::string job = "vault-prune/" + key.ToString();
  if (jobs == nullptr || !jobs->Submit(job, [this, key](std::stop_token) {
        VaultProblem problem;
        auto opened = OpenVault(client_, key.ns, key.name, {}, &problem);
        if (!opened.has_value()) {
          shared_->RequestPrune(key.ToString());
          return;
        }
        auto pruned = vault::Prune(*opened->repo, vault::PruneOptions{}, clock_);
        if (!pruned.ok()) {
          // Typically a backup holds the vault: try again on the next pass.
          shared_->RequestPrune(key.ToString());
          spdlog::info("Vault ns={} name={} prune postponed: {}", key.ns, key.name,
                       pruned.status().ToString());
          return;
        }
        spdlog::info("Vault ns={} name={} pruned packs_deleted={} bytes_freed={}", key.ns,
                     key.name, pruned->packs_deleted, pruned->bytes_freed);
        shared_->Enqueue(kVaultController, key.ns, key.name);
      })) {
    shared_->RequestPrune(key.ToString());
  }
}

}  // namespace lifeboat::reconcilers::backup
