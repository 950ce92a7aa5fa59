#pragma once

// BackupPolicy: what to back up, when, where, and how long to keep it (api/TYPES.md).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/common_types.h"
#include "api/condition.h"
#include "api/object_meta.h"

namespace lifeboat::api {

inline constexpr std::string_view kDefaultTimeZone = "UTC";
inline constexpr std::string_view kDefaultBackupRpo = "24h";

struct ScheduleSpec {
  std::string cron;
  std::optional<std::string> time_zone;  // IANA, = UTC
  friend bool operator==(const ScheduleSpec&, const ScheduleSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ScheduleSpec);

struct RetentionSpec {
  std::optional<int64_t> keep_last;
  std::optional<int64_t> hourly;
  std::optional<int64_t> daily;
  std::optional<int64_t> weekly;
  std::optional<int64_t> monthly;
  std::optional<int64_t> yearly;
  friend bool operator==(const RetentionSpec&, const RetentionSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RetentionSpec);

enum class ConsistencyType { kApplication, kCrash };
template <>
struct EnumNames<ConsistencyType> {
  static constexpr std::array<std::string_view, 2> kNames = {"Application", "Crash"};
};

enum class OnError { kFail, kContinue };
template <>
struct EnumNames<OnError> {
  static constexpr std::array<std::string_view, 2> kNames = {"Fail", "Continue"};
};

struct ConsistencySpec {
  std::optional<ConsistencyType> type;  // = Crash
  std::optional<Hook> pre_hook;
  std::optional<Hook> post_hook;
  std::optional<OnError> on_error;  // = Fail
  friend bool operator==(const ConsistencySpec&, const ConsistencySpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ConsistencySpec);

struct InstantRestoreSpec {
  std::optional<int64_t> snapshot_retention;  // = 0
  friend bool operator==(const InstantRestoreSpec&, const InstantRestoreSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(InstantRestoreSpec);

struct BackupPolicySpec {
  LocalObjectReference vault_ref;
  std::vector<Volume> volumes;
  ScheduleSpec schedule;
  std::optional<RetentionSpec> retention;
  std::optional<std::string> rpo;  // duration, = 24h
  std::optional<ConsistencySpec> consistency;
  std::optional<InstantRestoreSpec> instant_restore;
  std::optional<bool> suspend;  // = false
  friend bool operator==(const BackupPolicySpec&, const BackupPolicySpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(BackupPolicySpec);

struct BackupPolicyStatus {
  std::optional<int64_t> observed_generation;
  std::vector<Condition> conditions;
  std::optional<Time> last_backup_time;
  std::optional<Time> last_successful_backup_time;
  std::optional<Time> next_backup_time;
  std::optional<std::string> last_recovery_point;
  std::optional<std::string> active_recovery_point;
  std::optional<int64_t> recovery_point_count;
  std::optional<double> current_rpo_seconds;
  friend bool operator==(const BackupPolicyStatus&, const BackupPolicyStatus&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(BackupPolicyStatus);

struct BackupPolicy {
  std::string api_version = std::string(kApiVersion);
  std::string kind = "BackupPolicy";
  ObjectMeta metadata;
  BackupPolicySpec spec;
  BackupPolicyStatus status;
  friend bool operator==(const BackupPolicy&, const BackupPolicy&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(BackupPolicy);
FieldErrors Validate(const BackupPolicy& policy);

}  // namespace lifeboat::api
