#pragma once

// RecoveryPoint: one backup run, made by the controller per schedule or by a person on demand.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/backup_policy.h"
#include "api/common_types.h"
#include "api/condition.h"
#include "api/object_meta.h"

namespace lifeboat::api {

struct RecoveryPointSpec {
  std::optional<LocalObjectReference> policy_ref;
  std::optional<LocalObjectReference> vault_ref;
  std::vector<Volume> volumes;
  std::optional<ConsistencyType> consistency;  // = Crash
  std::optional<Time> scheduled_time;
  friend bool operator==(const RecoveryPointSpec&, const RecoveryPointSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RecoveryPointSpec);

enum class RecoveryPointPhase { kPending, kRunning, kCompleted, kPartiallyFailed, kFailed };
template <>
struct EnumNames<RecoveryPointPhase> {
  static constexpr std::array<std::string_view, 5> kNames = {"Pending", "Running", "Completed",
                                                             "PartiallyFailed", "Failed"};
};

struct RecoveryPointStatus {
  std::optional<int64_t> observed_generation;
  std::vector<Condition> conditions;
  std::optional<RecoveryPointPhase> phase;
  std::optional<Time> start_time;
  std::optional<Time> completion_time;
  std::optional<Progress> progress;
  std::optional<ConsistencyType> consistency_achieved;
  std::optional<int64_t> files;
  std::optional<int64_t> bytes;
  std::optional<int64_t> new_bytes;
  std::optional<int64_t> stored_bytes;
  std::optional<std::string> snapshot_id;
  std::optional<Time> expires_at;
  std::optional<std::string> message;
  friend bool operator==(const RecoveryPointStatus&, const RecoveryPointStatus&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RecoveryPointStatus);

struct RecoveryPoint {
  std::string api_version = std::string(kApiVersion);
  std::string kind = "RecoveryPoint";
  ObjectMeta metadata;
  RecoveryPointSpec spec;
  RecoveryPointStatus status;
  friend bool operator==(const RecoveryPoint&, const RecoveryPoint&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RecoveryPoint);
FieldErrors Validate(const RecoveryPoint& point);

}  // namespace lifeboat::api
