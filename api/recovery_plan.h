#pragma once

// RecoveryPlan: an ordered failover of a multi-machine application, group by group, with
// runbook actions before and after each group.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/common_types.h"
#include "api/condition.h"
#include "api/object_meta.h"

namespace lifeboat::api {

inline constexpr std::string_view kDefaultActionTimeout = "5m";

enum class ScaleKind { kDeployment, kStatefulSet };
template <>
struct EnumNames<ScaleKind> {
  static constexpr std::array<std::string_view, 2> kNames = {"Deployment", "StatefulSet"};
};

struct ScaleAction {
  ScaleKind kind = ScaleKind::kDeployment;
  std::string name;
  std::optional<std::string> namespace_;
  int64_t replicas = 0;
  friend bool operator==(const ScaleAction&, const ScaleAction&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ScaleAction);

struct ManualAction {
  std::string message;
  friend bool operator==(const ManualAction&, const ManualAction&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ManualAction);

// Exactly one of exec / http / scale / manual.
struct Action {
  std::string name;
  std::optional<ExecAction> exec;
  std::optional<HttpAction> http;
  std::optional<ScaleAction> scale;
  std::optional<ManualAction> manual;
  std::optional<std::string> timeout;       // duration, = 5m
  std::optional<bool> continue_on_error;    // = false
  friend bool operator==(const Action&, const Action&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(Action);

struct RecoveryGroup {
  std::string name;
  std::vector<std::string> replication_policies;
  std::vector<Action> pre_actions;
  std::vector<Action> post_actions;
  friend bool operator==(const RecoveryGroup&, const RecoveryGroup&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RecoveryGroup);

struct RecoveryPlanSpec {
  std::vector<RecoveryGroup> groups;
  // The Site (defined at this, the recovery, site) reaching the protected site's replication
  // endpoint: needed by Planned, Reprotect and Failback.
  std::optional<LocalObjectReference> protected_site_ref;
  // Where the volumes come up here: <targetRoot>/live/<policy>/, <targetRoot>/test/<failover>/.
  std::optional<std::string> target_root;
  friend bool operator==(const RecoveryPlanSpec&, const RecoveryPlanSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RecoveryPlanSpec);

struct PlanOperation {
  std::optional<std::string> name;
  std::optional<std::string> type;
  std::optional<std::string> phase;
  std::optional<Time> time;
  friend bool operator==(const PlanOperation&, const PlanOperation&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(PlanOperation);

struct GroupState {
  std::string name;
  std::optional<std::string> state;
  friend bool operator==(const GroupState&, const GroupState&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(GroupState);

struct RecoveryPlanStatus {
  std::optional<int64_t> observed_generation;
  std::vector<Condition> conditions;
  std::optional<std::string> active_site;
  std::optional<std::string> state;        // Protected | FailedOver | Committed | Reprotected
  std::optional<std::string> active_test;  // the Test failover whose copies exist
  std::optional<std::string> target_dir;   // where the volumes are live after a failover
  std::optional<PlanOperation> last_operation;
  std::vector<GroupState> groups;
  std::optional<std::string> message;
  friend bool operator==(const RecoveryPlanStatus&, const RecoveryPlanStatus&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RecoveryPlanStatus);

struct RecoveryPlan {
  std::string api_version = std::string(kApiVersion);
  std::string kind = "RecoveryPlan";
  ObjectMeta metadata;
  RecoveryPlanSpec spec;
  RecoveryPlanStatus status;
  friend bool operator==(const RecoveryPlan&, const RecoveryPlan&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(RecoveryPlan);
FieldErrors Validate(const RecoveryPlan& plan);

}  // namespace lifeboat::api
