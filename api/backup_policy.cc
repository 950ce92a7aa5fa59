#include "api/backup_policy.h"

#include "api/kind_support.h"
#include "api/validation.h"

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  using V = std::remove_const_t<T>;
  if constexpr (std::is_same_v<V, ScheduleSpec>) {
    c.Required("cron", v.cron);
    c.Optional("timeZone", v.time_zone);
  } else if constexpr (std::is_same_v<V, RetentionSpec>) {
    c.Optional("keepLast", v.keep_last);
    c.Optional("hourly", v.hourly);
    c.Optional("daily", v.daily);
    c.Optional("weekly", v.weekly);
    c.Optional("monthly", v.monthly);
    c.Optional("yearly", v.yearly);
  } else if constexpr (std::is_same_v<V, ConsistencySpec>) {
    c.Optional("type", v.type);
    c.Optional("preHook", v.pre_hook);
    c.Optional("postHook", v.post_hook);
    c.Optional("onError", v.on_error);
  } else if constexpr (std::is_same_v<V, InstantRestoreSpec>) {
    c.Optional("snapshotRetention", v.snapshot_retention);
  } else if constexpr (std::is_same_v<V, BackupPolicySpec>) {
    c.Required("vaultRef", v.vault_ref);
    c.Required("volumes", v.volumes);
    c.Required("schedule", v.schedule);
    c.Optional("retention", v.retention);
    c.Optional("rpo", v.rpo);
    c.Optional("consistency", v.consistency);
    c.Optional("instantRestore", v.instant_restore);
    c.Optional("suspend", v.suspend);
  } else if constexpr (std::is_same_v<V, BackupPolicyStatus>) {
    StatusCommonFields(c, v);
    c.Optional("lastBackupTime", v.last_backup_time);
    c.Optional("lastSuccessfulBackupTime", v.last_successful_backup_time);
    c.Optional("nextBackupTime", v.next_backup_time);
    c.Optional("lastRecoveryPoint", v.last_recovery_point);
    c.Optional("activeRecoveryPoint", v.active_recovery_point);
    c.Optional("recoveryPointCount", v.recovery_point_count);
    c.Optional("currentRPOSeconds", v.current_rpo_seconds);
  } else {
    static_assert(std::is_same_v<V, BackupPolicy>);
    KindFields(c, v);
  }
}

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(ScheduleSpec)
LIFEBOAT_API_DEFINE_CODEC(RetentionSpec)
LIFEBOAT_API_DEFINE_CODEC(ConsistencySpec)
LIFEBOAT_API_DEFINE_CODEC(InstantRestoreSpec)
LIFEBOAT_API_DEFINE_CODEC(BackupPolicySpec)
LIFEBOAT_API_DEFINE_CODEC(BackupPolicyStatus)
LIFEBOAT_API_DEFINE_CODEC(BackupPolicy)

FieldErrors Validate(const BackupPolicy& policy) {
  FieldErrors errors;
  ValidateKindHeader(policy, &errors);
  const BackupPolicySpec& spec = policy.spec;
  ValidateLocalObjectReference(spec.vault_ref, "spec.vaultRef", &errors);
  ValidateVolumes(spec.volumes, /*required=*/true, "spec.volumes", &errors);
  ValidateCron(spec.schedule.cron, "spec.schedule.cron", &errors);
  if (spec.schedule.time_zone) {
    ValidateTimeZone(*spec.schedule.time_zone, "spec.schedule.timeZone", &errors);
  }
  if (spec.retention) {
    const RetentionSpec& r = *spec.retention;
    ValidateMin(r.keep_last, 0, "spec.retention.keepLast", &errors);
    ValidateMin(r.hourly, 0, "spec.retention.hourly", &errors);
    ValidateMin(r.daily, 0, "spec.retention.daily", &errors);
    ValidateMin(r.weekly, 0, "spec.retention.weekly", &errors);
    ValidateMin(r.monthly, 0, "spec.retention.monthly", &errors);
    ValidateMin(r.yearly, 0, "spec.retention.yearly", &errors);
  }
  ValidateDuration(spec.rpo, DurationRule::kPositive, "spec.rpo", &errors);
  if (spec.consistency) {
    const ConsistencySpec& c = *spec.consistency;
    if (c.pre_hook) {
      ValidateHook(*c.pre_hook, "spec.consistency.preHook", &errors);
    }
    if (c.post_hook) {
      ValidateHook(*c.post_hook, "spec.consistency.postHook", &errors);
    }
    if (c.type == ConsistencyType::kApplication && !c.pre_hook && !c.post_hook) {
      errors.push_back({"spec.consistency",
                        "type Application requires a preHook or a postHook"});
    }
  }
  if (spec.instant_restore) {
    ValidateMin(spec.instant_restore->snapshot_retention, 0,
                "spec.instantRestore.snapshotRetention", &errors);
  }
  const BackupPolicyStatus& st = policy.status;
  ValidateStatusCommon(st, &errors);
  ValidateMin(st.recovery_point_count, 0, "status.recoveryPointCount", &errors);
  return errors;
}

}  // namespace lifeboat::api
