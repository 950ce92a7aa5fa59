#pragma once

// Failover: one operation on a RecoveryPlan (test, planned, unplanned, commit, cleanup,
// reprotect, failback).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/common_types.h"
#include "api/condition.h"
#include "api/object_meta.h"

namespace lifeboat::api {

enum class FailoverType { kTest, kPlanned, kUnplanned, kCommit, kCleanupTest, kReprotect,
                          kFailback };
template <>
struct EnumNames<FailoverType> {
  static constexpr std::array<std::string_view, 7> kNames = {
      "Test", "Planned", "Unplanned", "Commit", "CleanupTest", "Reprotect", "Failback"};
};

inline constexpr std::string_view kRecoveryPointLatest = "Latest";
inline constexpr std::string_view kRecoveryPointLatestAppConsistent = "LatestAppConsistent";

struct FailoverSpec {
  LocalObjectReference plan_ref;
  FailoverType type = FailoverType::kTest;
  // "Latest" (default), "LatestAppConsistent" or an RFC 3339 time.
  std::optional<std::string> recovery_point;
  std::vector<std::string> approvals;  // names of manual actions a person approved
  friend bool operator==(const FailoverSpec&, const FailoverSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(FailoverSpec);

enum class FailoverPhase { kPending, kRunning, kWaitingForApproval, kSucceeded, kFailed };
template <>
struct EnumNames<FailoverPhase> {
  static constexpr std::array<std::string_view, 5> kNames = {
      "Pending", "Running", "WaitingForApproval", "Succeeded", "Failed"};
};

enum class StepStage { kPre, kWorkloads, kPost };
template <>
struct EnumNames<StepStage> {
  static constexpr std::array<std::string_view, 3> kNames = {"Pre", "Workloads", "Post"};
};

struct FailoverStep {
  std::optional<std::string> group;
  std::optional<std::string> action;
  std::optional<StepStage> stage;
  std::optional<std::string> phase;
  std::optional<Time> start_time;
  std::optional<Time> end_time;
  std::optional<int64_t> exit_code;
  std::optional<std::string> output;
  std::optional<std::string> recovery_point;  // workload steps: the point brought up
  std::optional<Time> point_time;             // when that point's data was captured
  std::optional<int64_t> bytes_sent;          // Reprotect/Failback: chunk bytes sent back
  std::optional<double> duration_seconds;     // end - start, precisely
  std::optional<std::string> message;
  friend bool operator==(const FailoverStep&, const FailoverStep&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(FailoverStep);

struct FailoverStatus {
  std::optional<int64_t> observed_generation;
  std::vector<Condition> conditions;
  std::optional<FailoverPhase> phase;
  std::optional<Time> start_time;
  std::optional<Time> completion_time;
  std::optional<double> rto_seconds;
  std::optional<std::string> recovery_point_used;
  std::optional<std::string> target_dir;
  std::vector<FailoverStep> steps;
  std::optional<std::string> message;
  friend bool operator==(const FailoverStatus&, const FailoverStatus&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(FailoverStatus);

struct Failover {
  std::string api_version = std::string(kApiVersion);
  std::string kind = "Failover";
  ObjectMeta metadata;
  FailoverSpec spec;
  FailoverStatus status;
  friend bool operator==(const Failover&, const Failover&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(Failover);
FieldErrors Validate(const Failover& failover);

}  // namespace lifeboat::api
