#include "api/snapshot.h"

#include "api/kind_support.h"
#include "api/validation.h"

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  using V = std::remove_const_t<T>;
  if constexpr (std::is_same_v<V, SnapshotSpec>) {
    c.Required("source", v.source);
  } else if constexpr (std::is_same_v<V, SnapshotStatus>) {
    StatusCommonFields(c, v);
    c.Optional("readyToUse", v.ready_to_use);
    c.Optional("provisionedBytes", v.provisioned_bytes);
    c.Optional("usedBytes", v.used_bytes);
    c.Optional("exclusiveBytes", v.exclusive_bytes);
    c.Optional("creationTime", v.creation_time);
    c.Optional("snapshotID", v.snapshot_id);
    c.Optional("message", v.message);
  } else {
    static_assert(std::is_same_v<V, Snapshot>);
    KindFields(c, v);
  }
}

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(SnapshotSpec)
LIFEBOAT_API_DEFINE_CODEC(SnapshotStatus)
LIFEBOAT_API_DEFINE_CODEC(Snapshot)

FieldErrors Validate(const Snapshot& snapshot) {
  FieldErrors errors;
  ValidateKindHeader(snapshot, &errors);
  ValidateVolume(snapshot.spec.source, "spec.source", &errors);
  const SnapshotStatus& st = snapshot.status;
  ValidateStatusCommon(st, &errors);
  ValidateMin(st.provisioned_bytes, 0, "status.provisionedBytes", &errors);
  ValidateMin(st.used_bytes, 0, "status.usedBytes", &errors);
  ValidateMin(st.exclusive_bytes, 0, "status.exclusiveBytes", &errors);
  return errors;
}

}  // namespace lifeboat::api
