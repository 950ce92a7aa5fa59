#pragma once

// ReplicationPolicy: continuous replication of volumes to another Site with an RPO target.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/common_types.h"
#include "api/condition.h"
#include "api/object_meta.h"
#include "api/quantity.h"

namespace lifeboat::api {

inline constexpr std::string_view kDefaultRecoveryPointRetention = "24h";

struct ReplicationHooks {
  std::optional<Hook> pre_hook;
  std::optional<Hook> post_hook;
  friend bool operator==(const ReplicationHooks&, const ReplicationHooks&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ReplicationHooks);

struct ReplicationPolicySpec {
  std::vector<Volume> volumes;
  LocalObjectReference target_site_ref;
  std::string rpo;                                   // duration
  std::optional<std::string> app_consistent_frequency;  // duration; requires a hook
  std::optional<std::string> recovery_point_retention;  // duration, = 24h
  std::optional<ReplicationHooks> hooks;
  std::optional<Quantity> bandwidth_limit;  // bytes per second
  std::optional<bool> suspend;              // = false
  friend bool operator==(const ReplicationPolicySpec&, const ReplicationPolicySpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ReplicationPolicySpec);

enum class ReplicationPhase { kInitialReplication, kProtected, kDegraded, kFailedOver,
                              kReprotecting };
template <>
struct EnumNames<ReplicationPhase> {
  static constexpr std::array<std::string_view, 5> kNames = {
      "InitialReplication", "Protected", "Degraded", "FailedOver", "Reprotecting"};
};

struct TargetRecoveryPoints {
  std::optional<Time> latest;
  std::optional<Time> latest_app_consistent;
  std::optional<Time> oldest;
  std::optional<int64_t> count;
  friend bool operator==(const TargetRecoveryPoints&, const TargetRecoveryPoints&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(TargetRecoveryPoints);

struct ReplicationPolicyStatus {
  std::optional<int64_t> observed_generation;
  std::vector<Condition> conditions;
  std::optional<ReplicationPhase> phase;
  std::optional<Progress> initial_progress;
  std::optional<Time> last_replicated_time;
  std::optional<std::string> last_replicated_point;
  std::optional<double> current_rpo_seconds;
  std::optional<TargetRecoveryPoints> recovery_points;
  std::optional<int64_t> bytes_sent;
  std::optional<std::string> active_site;
  std::optional<std::string> message;
  friend bool operator==(const ReplicationPolicyStatus&, const ReplicationPolicyStatus&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ReplicationPolicyStatus);

struct ReplicationPolicy {
  std::string api_version = std::string(kApiVersion);
  std::string kind = "ReplicationPolicy";
  ObjectMeta metadata;
  ReplicationPolicySpec spec;
  ReplicationPolicyStatus status;
  friend bool operator==(const ReplicationPolicy&, const ReplicationPolicy&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ReplicationPolicy);
FieldErrors Validate(const ReplicationPolicy& policy);

}  // namespace lifeboat::api
