#include "api/restore.h"

#include "api/kind_support.h"
#include "api/validation.h"

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  using V = std::remove_const_t<T>;
  if constexpr (std::is_same_v<V, RestoreSource>) {
    c.Optional("recoveryPointRef", v.recovery_point_ref);
    c.Optional("policyRef", v.policy_ref);
    c.Optional("snapshotRef", v.snapshot_ref);
  } else if constexpr (std::is_same_v<V, RestoreTarget>) {
    c.Required("path", v.path);
  } else if constexpr (std::is_same_v<V, RestoreSpec>) {
    c.Required("source", v.source);
    c.OmitEmpty("volumes", v.volumes);
    c.OmitEmpty("paths", v.paths);
    c.Required("target", v.target);
    c.Optional("overwrite", v.overwrite);
  } else if constexpr (std::is_same_v<V, RestoreStatus>) {
    StatusCommonFields(c, v);
    c.Optional("phase", v.phase);
    c.Optional("tier", v.tier);
    c.Optional("progress", v.progress);
    c.Optional("restoredBytes", v.restored_bytes);
    c.Optional("restoredFiles", v.restored_files);
    c.Optional("verified", v.verified);
    c.Optional("startTime", v.start_time);
    c.Optional("completionTime", v.completion_time);
    c.Optional("message", v.message);
  } else {
    static_assert(std::is_same_v<V, Restore>);
    KindFields(c, v);
  }
}

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(RestoreSource)
LIFEBOAT_API_DEFINE_CODEC(RestoreTarget)
LIFEBOAT_API_DEFINE_CODEC(RestoreSpec)
LIFEBOAT_API_DEFINE_CODEC(RestoreStatus)
LIFEBOAT_API_DEFINE_CODEC(Restore)

FieldErrors Validate(const Restore& restore) {
  FieldErrors errors;
  ValidateKindHeader(restore, &errors);
  const RestoreSpec& spec = restore.spec;
  const RestoreSource& src = spec.source;
  int set = int{src.recovery_point_ref.has_value()} + int{src.policy_ref.has_value()} +
            int{src.snapshot_ref.has_value()};
  if (set != 1) {
    errors.push_back({"spec.source",
                      "must set exactly one of recoveryPointRef, policyRef or snapshotRef"});
  }
  if (src.recovery_point_ref) {
    ValidateLocalObjectReference(*src.recovery_point_ref, "spec.source.recoveryPointRef",
                                 &errors);
  }
  if (src.policy_ref) {
    ValidateLocalObjectReference(*src.policy_ref, "spec.source.policyRef", &errors);
  }
  if (src.snapshot_ref) {
    ValidateLocalObjectReference(*src.snapshot_ref, "spec.source.snapshotRef", &errors);
  }
  for (size_t i = 0; i < spec.volumes.size(); ++i) {
    ValidateDns1123Label(spec.volumes[i], Index("spec.volumes", i), &errors);
  }
  for (size_t i = 0; i < spec.paths.size(); ++i) {
    if (spec.paths[i].empty()) {
      errors.push_back({Index("spec.paths", i), "must not be empty"});
    }
  }
  ValidateAbsolutePath(spec.target.path, "spec.target.path", &errors);
  const RestoreStatus& st = restore.status;
  ValidateStatusCommon(st, &errors);
  if (st.progress) {
    ValidateProgress(*st.progress, "status.progress", &errors);
  }
  ValidateMin(st.restored_bytes, 0, "status.restoredBytes", &errors);
  ValidateMin(st.restored_files, 0, "status.restoredFiles", &errors);
  return errors;
}

}  // namespace lifeboat::api
