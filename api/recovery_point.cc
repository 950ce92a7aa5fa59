#include "api/recovery_point.h"

#include "api/kind_support.h"
#include "api/validation.h"

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  using V = std::remove_const_t<T>;
  if constexpr (std::is_same_v<V, RecoveryPointSpec>) {
    c.Optional("policyRef", v.policy_ref);
    c.Optional("vaultRef", v.vault_ref);
    c.OmitEmpty("volumes", v.volumes);
    c.Optional("consistency", v.consistency);
    c.Optional("scheduledTime", v.scheduled_time);
  } else if constexpr (std::is_same_v<V, RecoveryPointStatus>) {
    StatusCommonFields(c, v);
    c.Optional("phase", v.phase);
    c.Optional("startTime", v.start_time);
    c.Optional("completionTime", v.completion_time);
    c.Optional("progress", v.progress);
    c.Optional("consistencyAchieved", v.consistency_achieved);
    c.Optional("files", v.files);
    c.Optional("bytes", v.bytes);
    c.Optional("newBytes", v.new_bytes);
    c.Optional("storedBytes", v.stored_bytes);
    c.Optional("snapshotID", v.snapshot_id);
    c.Optional("expiresAt", v.expires_at);
    c.Optional("message", v.message);
  } else {
    static_assert(std::is_same_v<V, RecoveryPoint>);
    KindFields(c, v);
  }
}

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(RecoveryPointSpec)
LIFEBOAT_API_DEFINE_CODEC(RecoveryPointStatus)
LIFEBOAT_API_DEFINE_CODEC(RecoveryPoint)

FieldErrors Validate(const RecoveryPoint& point) {
  FieldErrors errors;
  ValidateKindHeader(point, &errors);
  const RecoveryPointSpec& spec = point.spec;
  if (spec.policy_ref) {
    ValidateLocalObjectReference(*spec.policy_ref, "spec.policyRef", &errors);
  }
  if (spec.vault_ref) {
    ValidateLocalObjectReference(*spec.vault_ref, "spec.vaultRef", &errors);
  }
  ValidateVolumes(spec.volumes, /*required=*/false, "spec.volumes", &errors);
  if (!spec.policy_ref && (!spec.vault_ref || spec.volumes.empty())) {
    errors.push_back({"spec", "must set policyRef, or both vaultRef and volumes (an on-demand "
                              "backup)"});
  }
  const RecoveryPointStatus& st = point.status;
  ValidateStatusCommon(st, &errors);
  if (st.progress) {
    ValidateProgress(*st.progress, "status.progress", &errors);
  }
  ValidateMin(st.files, 0, "status.files", &errors);
  ValidateMin(st.bytes, 0, "status.bytes", &errors);
  ValidateMin(st.new_bytes, 0, "status.newBytes", &errors);
  ValidateMin(st.stored_bytes, 0, "status.storedBytes", &errors);
  return errors;
}

}  // namespace lifeboat::api
