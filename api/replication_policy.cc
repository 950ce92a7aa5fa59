#include "api/replication_policy.h"

#include "api/kind_support.h"
#include "api/validation.h"

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  using V = std::remove_const_t<T>;
  if constexpr (std::is_same_v<V, ReplicationHooks>) {
    c.Optional("preHook", v.pre_hook);
    c.Optional("postHook", v.post_hook);
  } else if constexpr (std::is_same_v<V, ReplicationPolicySpec>) {
    c.Required("volumes", v.volumes);
    c.Required("targetSiteRef", v.target_site_ref);
    c.Required("rpo", v.rpo);
    c.Optional("appConsistentFrequency", v.app_consistent_frequency);
    c.Optional("recoveryPointRetention", v.recovery_point_retention);
    c.Optional("hooks", v.hooks);
    c.Optional("bandwidthLimit", v.bandwidth_limit);
    c.Optional("suspend", v.suspend);
  } else if constexpr (std::is_same_v<V, TargetRecoveryPoints>) {
    c.Optional("latest", v.latest);
    c.Optional("latestAppConsistent", v.latest_app_consistent);
    c.Optional("oldest", v.oldest);
    c.Optional("count", v.count);
  } else if constexpr (std::is_same_v<V, ReplicationPolicyStatus>) {
    StatusCommonFields(c, v);
    c.Optional("phase", v.phase);
    c.Optional("initialProgress", v.initial_progress);
    c.Optional("lastReplicatedTime", v.last_replicated_time);
    c.Optional("lastReplicatedPoint", v.last_replicated_point);
    c.Optional("currentRPOSeconds", v.current_rpo_seconds);
    c.Optional("recoveryPoints", v.recovery_points);
    c.Optional("bytesSent", v.bytes_sent);
    c.Optional("activeSite", v.active_site);
    c.Optional("message", v.message);
  } else {
    static_assert(std::is_same_v<V, ReplicationPolicy>);
    KindFields(c, v);
  }
}

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(ReplicationHooks)
LIFEBOAT_API_DEFINE_CODEC(ReplicationPolicySpec)
LIFEBOAT_API_DEFINE_CODEC(TargetRecoveryPoints)
LIFEBOAT_API_DEFINE_CODEC(ReplicationPolicyStatus)
LIFEBOAT_API_DEFINE_CODEC(ReplicationPolicy)

FieldErrors Validate(const ReplicationPolicy& policy) {
  FieldErrors errors;
  ValidateKindHeader(policy, &errors);
  const ReplicationPolicySpec& spec = policy.spec;
  ValidateVolumes(spec.volumes, /*required=*/true, "spec.volumes", &errors);
  ValidateLocalObjectReference(spec.target_site_ref, "spec.targetSiteRef", &errors);
  ValidateDuration(spec.rpo, DurationRule::kPositive, "spec.rpo", &errors);
  ValidateDuration(spec.app_consistent_frequency, DurationRule::kPositive,
                   "spec.appConsistentFrequency", &errors);
  ValidateDuration(spec.recovery_point_retention, DurationRule::kPositive,
                   "spec.recoveryPointRetention", &errors);
  bool has_hook = false;
  if (spec.hooks) {
    if (spec.hooks->pre_hook) {
      ValidateHook(*spec.hooks->pre_hook, "spec.hooks.preHook", &errors);
      has_hook = true;
    }
    if (spec.hooks->post_hook) {
      ValidateHook(*spec.hooks->post_hook, "spec.hooks.postHook", &errors);
      has_hook = true;
    }
  }
  if (spec.app_consistent_frequency && !has_hook) {
    errors.push_back({"spec.appConsistentFrequency",
                      "requires spec.hooks.preHook or spec.hooks.postHook (application-"
                      "consistent points need a hook)"});
  }
  ValidateQuantity(spec.bandwidth_limit, /*positive=*/true, "spec.bandwidthLimit", &errors);
  const ReplicationPolicyStatus& st = policy.status;
  ValidateStatusCommon(st, &errors);
  if (st.initial_progress) {
    ValidateProgress(*st.initial_progress, "status.initialProgress", &errors);
  }
  if (st.recovery_points) {
    ValidateMin(st.recovery_points->count, 0, "status.recoveryPoints.count", &errors);
  }
  ValidateMin(st.bytes_sent, 0, "status.bytesSent", &errors);
  return errors;
}

}  // namespace lifeboat::api
