#include "reconcilers/backup/backup_policy_reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <ctime>

#include "api/backup_policy.h"
#include "api/codec.h"
#include "api/cron.h"
#include "api/duration.h"
#include "api/manifest.h"
#include "api/time_zone.h"
#include "engines/vault/vault.h"
#include "reconcilers/backup/common.h"
#include "reconcilers/conditions.h"
#include "reconcilers/finalizer.h"
#include "reconcilers/kinds.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers::backup {
namespace {

// The longest a policy goes without a pass.
constexpr auto kRefreshEvery = std::chrono::minutes(10);
// currentRPOSeconds is refreshed once it moved by a tenth of the objective, at least this much.
constexpr double kMinRpoRefresh = 60;
constexpr size_t kFailedPointsKept = 5;
// Bound on the schedule times walked to find the latest missed one (a year of minutes).
constexpr int kMaxMissedRuns = 600'000;

struct PointInfo {
  std::string name;
  std::string phase;
  Clock::TimePoint start{};
  Clock::TimePoint completion{};
  bool deleting = false;
};

Clock::TimePoint TimeField(const Json& object, const Json::json_pointer& ptr) {
  Clock::TimePoint t{};
  std::string text = object.value(ptr, "");
  if (!text.empty()) ParseRfc3339(text, &t);
  return t;
}

double UnixSeconds(Clock::TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

std::string ScheduledPointName(const std::string& policy, Clock::TimePoint t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char suffix[32];
  std::strftime(suffix, sizeof(suffix), "-%Y%m%d-%H%M%S", &tm);
  std::string base = policy.substr(0, 253 - std::string(suffix).size());
  while (!base.empty() && (base.back() == '-' || base.back() == '.')) base.pop_back();
  return base + suffix;
}

BackupPolicyReconciler::BackupPolicyReconciler(const controller::ControllerContext& ctx,
                                               std::shared_ptr<Shared> shared)
    : client_(ctx.client),
      store_(ctx.store),
      recorder_(ctx.recorder),
      clock_(ctx.clock),
      cache_(ctx.cache),
      shared_(std::move(shared)) {}

StatusOr<Result> BackupPolicyReconciler::Reconcile(const ObjectKey& key) {
  metrics::Metrics* metrics = shared_->env().metrics;
  const metrics::PolicyLabels labels{"BackupPolicy", key.ns, key.name};
  controller::ObjectPtr cached = store_.Get(key.ToString());
  if (cached == nullptr || IsBeingDeleted(*cached)) {
    if (metrics) {
      metrics->rpo().Remove(labels);
      metrics->backup().RemovePolicy(key.ns, key.name);
    }
    return Result{};
  }
  const Json& object = *cached;
  const int64_t generation = GenerationOf(object);
  const Json old_status = object.value("status", Json::object());
  Json status = old_status;
  const Clock::TimePoint now = clock_.Now();

  auto write = [&]() -> Status {
    SetObservedGeneration(status, generation);
    if (status == old_status) return OkStatus();
    Status s = PatchStatus(client_, kBackupPolicies, key, status);
    return IsNotFound(s) ? OkStatus() : s;
  };

  api::BackupPolicy policy;
  api::FieldErrors errors = api::FromJson(object, &policy);
  if (errors.empty()) errors = api::ValidateObject(object);
  if (!errors.empty()) {
    bool was_invalid = false;
    if (auto ready = GetStatusCondition(old_status, api::kConditionReady)) {
      was_invalid = ready->reason == kReasonInvalidSpec;
    }
    std::string message = JoinFieldErrors(errors);
    SetStatusCondition(status,
                       MakeCondition(api::kConditionReady, false, kReasonInvalidSpec, message,
                                     generation),
                       now);
    status.erase("nextBackupTime");
    if (metrics) metrics->rpo().Remove(labels);
    RETURN_IF_ERROR(write());
    if (!was_invalid) {
      recorder_.Record(object, controller::EventType::kWarning, kReasonInvalidSpec, message);
    }
    return Result{};
  }
  const api::BackupPolicySpec& spec = policy.spec;
  const Clock::TimePoint created = policy.metadata.creation_timestamp.value_or(now);
  auto rpo = api::ParseDuration(spec.rpo.value_or(std::string(api::kDefaultBackupRpo)));
  if (!rpo.ok()) return rpo.status();  // validated above; unreachable
  const double rpo_seconds = std::chrono::duration<double>(*rpo).count();

  // The policy's recovery points, from the RecoveryPoint cache (any change of a point enqueues
  // its policy, see reconcilers/kinds.cc). Before deleting any point for retention they are
  // listed again from the API server: a cache a moment behind a deletion could otherwise keep
  // a point that is already gone and expire the one after it.
  const controller::Store* point_cache = cache_ ? cache_(kRecoveryPoints) : nullptr;
  bool points_live = point_cache == nullptr;
  std::vector<Json> points;
  if (points_live) {
    ASSIGN_OR_RETURN(points, PointsOfPolicy(client_, key.ns, key.name));
  } else {
    for (const controller::ObjectPtr& p : point_cache->ByIndex(kPointsByPolicy, key.ToString())) {
      points.push_back(*p);
    }
  }
  std::vector<PointInfo> successes, failures;
  std::string active;
  auto classify = [&] {
    successes.clear();
    failures.clear();
    active.clear();
    for (const Json& p : points) {
      PointInfo info;
      info.name = p.value("/metadata/name"_json_pointer, "");
      info.phase = p.value("/status/phase"_json_pointer, "");
      info.start = TimeField(p, "/status/startTime"_json_pointer);
      info.completion = TimeField(p, "/status/completionTime"_json_pointer);
      info.deleting = IsBeingDeleted(p);
      if (info.deleting) continue;
      if (info.phase.empty() || info.phase == "Pending" || info.phase == "Running") {
        active = info.name;
      } else if (info.phase == "Completed" || info.phase == "PartiallyFailed") {
        successes.push_back(info);
      } else {
        failures.push_back(info);
      }
    }
    auto newest_first = [](const PointInfo& a, const PointInfo& b) { return a.start > b.start; };
    std::sort(successes.begin(), successes.end(), newest_first);
    std::sort(failures.begin(), failures.end(), newest_first);
  };
  classify();

  // The vault must be usable for a run to start (the Vault reconciler enqueues its policies
  // when its readiness changes).
  std::optional<std::pair<std::string, std::string>> vault_problem;
  StatusOr<Json> vault = NotFoundError("");
  if (const controller::Store* vaults = cache_ ? cache_(kVaults) : nullptr) {
    if (controller::ObjectPtr v = vaults->Get(key.ns + "/" + spec.vault_ref.name)) vault = *v;
  } else {
    vault = client_.Get(kVaults, ObjectKey{key.ns, spec.vault_ref.name});
  }
  if (!vault.ok()) {
    if (!IsNotFound(vault.status())) return vault.status();
    vault_problem = {"VaultNotFound", "vaultRef: Vault " + key.ns + "/" + spec.vault_ref.name +
                                          " not found"};
  } else if (auto ready = GetStatusCondition(vault->value("status", Json::object()),
                                             api::kConditionReady);
             !ready) {
    vault_problem = {"VaultPending", "waiting for Vault " + spec.vault_ref.name +
                                         " to be opened"};
  } else if (ready->status != api::ConditionStatus::kTrue) {
    vault_problem = {"VaultNotReady",
                     "Vault " + spec.vault_ref.name + " is not ready" +
                         (ready ? ": " + ready->reason + ": " + ready->message : "")};
  }

  // The schedule.
  const bool suspended = spec.suspend.value_or(false);
  ASSIGN_OR_RETURN(api::CronSchedule cron, api::CronSchedule::Parse(spec.schedule.cron));
  ASSIGN_OR_RETURN(api::TimeZone zone,
                   api::TimeZone::Load(spec.schedule.time_zone.value_or(
                       std::string(api::kDefaultTimeZone))));
  Clock::TimePoint base = TimeField(old_status, "/lastBackupTime"_json_pointer);
  if (base == Clock::TimePoint{}) base = created;
  ASSIGN_OR_RETURN(Clock::TimePoint next, cron.Next(base, zone));
  if (!suspended && !vault_problem && active.empty() && next <= now) {
    Clock::TimePoint latest = next;
    for (int i = 0; i < kMaxMissedRuns; ++i) {
      auto after = cron.Next(latest, zone);
      if (!after.ok() || *after > now) break;
      latest = *after;
    }
    std::string name = ScheduledPointName(key.name, latest);
    Json point = {
        {"apiVersion", "lifeboat.dev/v1alpha1"},
        {"kind", "RecoveryPoint"},
        {"metadata",
         {{"name", name}, {"namespace", key.ns}, {"labels", {{kPolicyLabel, key.name}}}}},
        {"spec",
         {{"policyRef", {{"name", key.name}}},
          {"vaultRef", {{"name", spec.vault_ref.name}}},
          {"volumes", object["spec"]["volumes"]},
          {"consistency", object.value("/spec/consistency/type"_json_pointer, "Crash")},
          {"scheduledTime", FormatRfc3339(latest)}}}};
    auto made = client_.Create(kRecoveryPoints, point);
    if (!made.ok() && !IsAlreadyExists(made.status())) {
      return made.status().WithPrefix("creating RecoveryPoint " + name);
    }
    if (made.ok()) {
      std::string missed = latest != next ? " (catching up: runs since " +
                                                FormatRfc3339(next) + " were missed)"
                                          : "";
      recorder_.Record(object, controller::EventType::kNormal, "BackupScheduled",
                       "created RecoveryPoint " + name + " for the run scheduled at " +
                           FormatRfc3339(latest) + missed);
      spdlog::info("BackupPolicy ns={} name={} scheduled point={} at={}", key.ns, key.name,
                   name, FormatRfc3339(latest));
    }
    active = name;
    status["lastBackupTime"] = FormatRfc3339(latest);
    ASSIGN_OR_RETURN(next, cron.Next(latest, zone));
  }

  // Retention, applied over the successful points (a point is kept if any rule keeps it).
  vault::RetentionPolicy keep;
  if (spec.retention.has_value()) {
    keep.keep_last = static_cast<int>(spec.retention->keep_last.value_or(0));
    keep.keep_hourly = static_cast<int>(spec.retention->hourly.value_or(0));
    keep.keep_daily = static_cast<int>(spec.retention->daily.value_or(0));
    keep.keep_weekly = static_cast<int>(spec.retention->weekly.value_or(0));
    keep.keep_monthly = static_cast<int>(spec.retention->monthly.value_or(0));
    keep.keep_yearly = static_cast<int>(spec.retention->yearly.value_or(0));
  }
  // The points to delete (never the newest success).
  auto expiring = [&]() -> std::vector<std::string> {
    std::vector<std::string> out;
    if (keep.empty() || successes.size() <= 1) return out;
    std::vector<vault::Manifest> as_manifests;
    for (const PointInfo& p : successes) {
      vault::Manifest m;
      m.id = p.name;
      m.time = p.start;
      as_manifests.push_back(std::move(m));
    }
    for (const vault::Manifest& m : vault::ApplyRetention(std::move(as_manifests), keep).remove) {
      if (m.id != successes.front().name) out.push_back(m.id);
    }
    return out;
  };
  std::vector<std::string> expire = expiring();
  if (!points_live && (!expire.empty() || failures.size() > kFailedPointsKept)) {
    // Something expires: decide on the API server's list, not on the cache.
    std::string scheduled = active;
    ASSIGN_OR_RETURN(points, PointsOfPolicy(client_, key.ns, key.name));
    points_live = true;
    classify();
    if (active.empty()) active = scheduled;  // created above, maybe not listed yet
    expire = expiring();
  }
  for (const std::string& name : expire) {
    Status s = client_.Delete(kRecoveryPoints, ObjectKey{key.ns, name});
    if (!s.ok() && !IsNotFound(s)) return s;
  }
  if (!expire.empty()) {
    recorder_.Record(object, controller::EventType::kNormal, "RetentionApplied",
                     "deleted " + std::to_string(expire.size()) +
                         " expired recovery points; their data is pruned from the vault");
    std::erase_if(successes, [&](const PointInfo& p) {
      return std::find(expire.begin(), expire.end(), p.name) != expire.end();
    });
  }
  for (size_t i = kFailedPointsKept; i < failures.size(); ++i) {
    Status s = client_.Delete(kRecoveryPoints, ObjectKey{key.ns, failures[i].name});
    if (!s.ok() && !IsNotFound(s)) return s;
  }

  // Status and objective.
  const PointInfo* newest = successes.empty() ? nullptr : &successes.front();
  double age = std::chrono::duration<double>(now - (newest ? newest->start : created)).count();
  age = std::max(0.0, std::floor(age));
  if (newest) {
    status["lastRecoveryPoint"] = newest->name;
    status["lastSuccessfulBackupTime"] = FormatRfc3339(newest->completion);
  }
  status["recoveryPointCount"] = static_cast<int64_t>(successes.size());
  // currentRPOSeconds moves every second; rewriting it at every pass cost every policy a
  // status write (and a watch event to every watcher) per pass: ~330 writes/s at 10,000
  // policies. It is written with any other status change and otherwise refreshed once it has
  // moved by a tenth of the objective (at least a minute); the exact age is the metric's
  // `time() - lifeboat_last_recovery_point_timestamp_seconds`. RPOMet flips on time: the pass
  // is requeued for the moment the objective is missed.
  const double refresh_step = std::max(kMinRpoRefresh, rpo_seconds / 10);
  const double old_age = old_status.value("currentRPOSeconds", -1.0);
  status["currentRPOSeconds"] = old_age >= 0 ? old_age : age;
  if (active.empty()) {
    status.erase("activeRecoveryPoint");
  } else {
    status["activeRecoveryPoint"] = active;
  }
  if (suspended) {
    status.erase("nextBackupTime");
  } else {
    status["nextBackupTime"] = FormatRfc3339(next);
  }

  if (vault_problem) {
    SetStatusCondition(status,
                       MakeCondition(api::kConditionReady, false, vault_problem->first,
                                     vault_problem->second, generation),
                       now);
  } else if (suspended) {
    SetStatusCondition(status,
                       MakeCondition(api::kConditionReady, true, "Suspended",
                                     "suspended: no new backups are scheduled", generation),
                       now);
  } else {
    SetStatusCondition(status,
                       MakeCondition(api::kConditionReady, true, "Scheduled",
                                     "next backup at " + FormatRfc3339(next), generation),
                       now);
  }
  // Condition messages name times, not ages, so that they stay the same from pass to pass;
  // the Event of a miss says how old.
  const std::string objective = HumanDuration(rpo_seconds);
  api::Condition rpo_met;
  std::string missed_event;
  if (newest) {
    bool met = age <= rpo_seconds;
    rpo_met = MakeCondition(
        api::kConditionRpoMet, met, met ? "WithinObjective" : "ObjectiveMissed",
        "newest recovery point " + newest->name + " started at " + FormatRfc3339(newest->start) +
            (met ? ", within the objective of " : ", longer ago than the objective of ") +
            objective,
        generation);
    missed_event = "newest recovery point " + newest->name + " is " + HumanDuration(age) +
                   " old; objective " + objective;
  } else if (age <= rpo_seconds) {
    rpo_met = MakeCondition(api::kConditionRpoMet, false, "NoRecoveryPointYet",
                            "no recovery point yet; objective " + objective, generation);
    rpo_met.status = api::ConditionStatus::kUnknown;
  } else {
    rpo_met = MakeCondition(api::kConditionRpoMet, false, "NoRecoveryPoint",
                            "no recovery point since the policy was created at " +
                                FormatRfc3339(created) + ", longer ago than the objective of " +
                                objective,
                            generation);
    missed_event = "no recovery point for " + HumanDuration(age) + "; objective " + objective;
  }
  bool was_met = true;
  if (auto old = GetStatusCondition(old_status, api::kConditionRpoMet)) {
    was_met = old->status != api::ConditionStatus::kFalse;
  }
  if (rpo_met.status == api::ConditionStatus::kFalse && was_met) {
    recorder_.Record(object, controller::EventType::kWarning, "RPOMissed", missed_event);
  }
  SetStatusCondition(status, rpo_met, now);
  if (vault_problem) {
    bool was_ready = true;
    if (auto old = GetStatusCondition(old_status, api::kConditionReady)) {
      was_ready = old->status == api::ConditionStatus::kTrue || old->reason != vault_problem->first;
    }
    if (was_ready && vault_problem->first != "VaultPending") {
      recorder_.Record(object, controller::EventType::kWarning, vault_problem->first,
                       vault_problem->second);
    }
  }

  if (metrics) {
    metrics->backup().InitPolicy(key.ns, key.name);
    metrics->rpo().SetTarget(labels, rpo_seconds);
    if (newest) metrics->rpo().SetLastRecoveryPoint(labels, UnixSeconds(newest->start));
    for (const api::Volume& v : spec.volumes) {
      metrics->rpo().SetVolumeProtected(labels, v.name, newest != nullptr && !vault_problem);
    }
  }
  SetObservedGeneration(status, generation);
  if (status != old_status || old_age < 0 || std::abs(age - old_age) >= refresh_step) {
    status["currentRPOSeconds"] = age;
  }
  RETURN_IF_ERROR(write());

  // The next pass: the next scheduled run, the moment the objective is missed, or the next
  // refresh of currentRPOSeconds, whichever comes first.
  using Ms = std::chrono::milliseconds;
  auto until = [&](double seconds_from_now) {
    return Ms(static_cast<int64_t>(std::max(0.0, seconds_from_now) * 1000));
  };
  Ms wait = std::chrono::duration_cast<Ms>(next - now);
  if (age <= rpo_seconds) wait = std::min(wait, until(rpo_seconds - age + 1));
  wait = std::min(wait, until(refresh_step - (age - status.value("currentRPOSeconds", age))));
  Result result;
  result.requeue_after =
      std::clamp<Ms>(wait + Ms(10), Ms(200), std::chrono::duration_cast<Ms>(kRefreshEvery));
  return result;
}

}  // namespace lifeboat::reconcilers::backup
