#include "api/recovery_plan.h"

#include <map>
#include <set>

#include "api/kind_support.h"
#include "api/validation.h"

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  using V = std::remove_const_t<T>;
  if constexpr (std::is_same_v<V, ScaleAction>) {
    c.Required("kind", v.kind);
    c.Required("name", v.name);
    c.Optional("namespace", v.namespace_);
    c.Required("replicas", v.replicas);
  } else if constexpr (std::is_same_v<V, ManualAction>) {
    c.Required("message", v.message);
  } else if constexpr (std::is_same_v<V, Action>) {
    c.Required("name", v.name);
    c.Optional("exec", v.exec);
    c.Optional("http", v.http);
    c.Optional("scale", v.scale);
    c.Optional("manual", v.manual);
    c.Optional("timeout", v.timeout);
    c.Optional("continueOnError", v.continue_on_error);
  } else if constexpr (std::is_same_v<V, RecoveryGroup>) {
    c.Required("name", v.name);
    c.Required("replicationPolicies", v.replication_policies);
    c.OmitEmpty("preActions", v.pre_actions);
    c.OmitEmpty("postActions", v.post_actions);
  } else if constexpr (std::is_same_v<V, RecoveryPlanSpec>) {
    c.Required("groups", v.groups);
    c.Optional("protectedSiteRef", v.protected_site_ref);
    c.Optional("targetRoot", v.target_root);
  } else if constexpr (std::is_same_v<V, PlanOperation>) {
    c.Optional("name", v.name);
    c.Optional("type", v.type);
    c.Optional("phase", v.phase);
    c.Optional("time", v.time);
  } else if constexpr (std::is_same_v<V, GroupState>) {
    c.Required("name", v.name);
    c.Optional("state", v.state);
  } else if constexpr (std::is_same_v<V, RecoveryPlanStatus>) {
    StatusCommonFields(c, v);
    c.Optional("activeSite", v.active_site);
    c.Optional("state", v.state);
    c.Optional("activeTest", v.active_test);
    c.Optional("targetDir", v.target_dir);
    c.Optional("lastOperation", v.last_operation);
    c.OmitEmpty("groups", v.groups);
    c.Optional("message", v.message);
  } else {
    static_assert(std::is_same_v<V, RecoveryPlan>);
    KindFields(c, v);
  }
}

void ValidateAction(const Action& action, const std::string& path, FieldErrors* errors) {
  ValidateRequiredString(action.name, Child(path, "name"), errors);
  int set = int{action.exec.has_value()} + int{action.http.has_value()} +
            int{action.scale.has_value()} + int{action.manual.has_value()};
  if (set != 1) {
    errors->push_back({path, "must set exactly one of exec, http, scale or manual"});
  }
  if (action.exec) {
    ValidateExecAction(*action.exec, Child(path, "exec"), errors);
  }
  if (action.http) {
    ValidateHttpAction(*action.http, Child(path, "http"), errors);
  }
  if (action.scale) {
    std::string scale = Child(path, "scale");
    if (action.scale->name.empty()) {
      errors->push_back({Child(scale, "name"), "required"});
    } else {
      ValidateDns1123Subdomain(action.scale->name, Child(scale, "name"), errors);
    }
    if (action.scale->namespace_) {
      ValidateDns1123Label(*action.scale->namespace_, Child(scale, "namespace"), errors);
    }
    ValidateMin(action.scale->replicas, 0, Child(scale, "replicas"), errors);
  }
  if (action.manual) {
    ValidateRequiredString(action.manual->message, Child(Child(path, "manual"), "message"),
                           errors);
  }
  ValidateDuration(action.timeout, DurationRule::kPositive, Child(path, "timeout"), errors);
}

void ValidateActions(const std::vector<Action>& actions, const std::string& path,
                     FieldErrors* errors) {
  std::set<std::string> names;
  for (size_t i = 0; i < actions.size(); ++i) {
    ValidateAction(actions[i], Index(path, i), errors);
    if (!actions[i].name.empty() && !names.insert(actions[i].name).second) {
      errors->push_back({Child(Index(path, i), "name"),
                         "duplicate action name " + Quote(actions[i].name)});
    }
  }
}

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(ScaleAction)
LIFEBOAT_API_DEFINE_CODEC(ManualAction)
LIFEBOAT_API_DEFINE_CODEC(Action)
LIFEBOAT_API_DEFINE_CODEC(RecoveryGroup)
LIFEBOAT_API_DEFINE_CODEC(RecoveryPlanSpec)
LIFEBOAT_API_DEFINE_CODEC(PlanOperation)
LIFEBOAT_API_DEFINE_CODEC(GroupState)
LIFEBOAT_API_DEFINE_CODEC(RecoveryPlanStatus)
LIFEBOAT_API_DEFINE_CODEC(RecoveryPlan)

FieldErrors Validate(const RecoveryPlan& plan) {
  FieldErrors errors;
  ValidateKindHeader(plan, &errors);
  const auto& groups = plan.spec.groups;
  if (groups.empty()) {
    errors.push_back({"spec.groups", "must list at least 1 group"});
  }
  if (plan.spec.target_root && (plan.spec.target_root->empty() ||
                                plan.spec.target_root->front() != '/')) {
    errors.push_back({"spec.targetRoot", "must be an absolute path"});
  }
  if (plan.spec.protected_site_ref && plan.spec.protected_site_ref->name.empty()) {
    errors.push_back({"spec.protectedSiteRef.name", "required"});
  }
  std::set<std::string> group_names;
  std::map<std::string, std::string> policy_group;  // policy → first group naming it
  for (size_t i = 0; i < groups.size(); ++i) {
    const RecoveryGroup& g = groups[i];
    std::string path = Index("spec.groups", i);
    if (g.name.empty()) {
      errors.push_back({Child(path, "name"), "required"});
    } else {
      ValidateDns1123Label(g.name, Child(path, "name"), &errors);
      if (!group_names.insert(g.name).second) {
        errors.push_back({Child(path, "name"), "duplicate group name " + Quote(g.name)});
      }
    }
    if (g.replication_policies.empty()) {
      errors.push_back({Child(path, "replicationPolicies"), "must list at least 1 policy"});
    }
    for (size_t j = 0; j < g.replication_policies.size(); ++j) {
      const std::string& policy = g.replication_policies[j];
      std::string field = Index(Child(path, "replicationPolicies"), j);
      ValidateDns1123Subdomain(policy, field, &errors);
      auto [it, inserted] = policy_group.emplace(policy, g.name);
      if (!inserted) {
        errors.push_back({field, "policy " + Quote(policy) + " is already in group " +
                                     Quote(it->second) + ": a policy may be in one group only"});
      }
    }
    ValidateActions(g.pre_actions, Child(path, "preActions"), &errors);
    ValidateActions(g.post_actions, Child(path, "postActions"), &errors);
  }
  ValidateStatusCommon(plan.status, &errors);
  return errors;
}

}  // namespace lifeboat::api
