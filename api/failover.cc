#include "api/failover.h"

#include "api/kind_support.h"
#include "api/validation.h"

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  using V = std::remove_const_t<T>;
  if constexpr (std::is_same_v<V, FailoverSpec>) {
    c.Required("planRef", v.plan_ref);
    c.Required("type", v.type);
    c.Optional("recoveryPoint", v.recovery_point);
    c.OmitEmpty("approvals", v.approvals);
  } else if constexpr (std::is_same_v<V, FailoverStep>) {
    c.Optional("group", v.group);
    c.Optional("action", v.action);
    c.Optional("stage", v.stage);
    c.Optional("phase", v.phase);
    c.Optional("startTime", v.start_time);
    c.Optional("endTime", v.end_time);
    c.Optional("exitCode", v.exit_code);
    c.Optional("output", v.output);
    c.Optional("recoveryPoint", v.recovery_point);
    c.Optional("pointTime", v.point_time);
    c.Optional("bytesSent", v.bytes_sent);
    c.Optional("durationSeconds", v.duration_seconds);
    c.Optional("message", v.message);
  } else if constexpr (std::is_same_v<V, FailoverStatus>) {
    StatusCommonFields(c, v);
    c.Optional("phase", v.phase);
    c.Optional("startTime", v.start_time);
    c.Optional("completionTime", v.completion_time);
    c.Optional("rtoSeconds", v.rto_seconds);
    c.Optional("recoveryPointUsed", v.recovery_point_used);
    c.Optional("targetDir", v.target_dir);
    c.OmitEmpty("steps", v.steps);
    c.Optional("message", v.message);
  } else {
    static_assert(std::is_same_v<V, Failover>);
    KindFields(c, v);
  }
}

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(FailoverSpec)
LIFEBOAT_API_DEFINE_CODEC(FailoverStep)
LIFEBOAT_API_DEFINE_CODEC(FailoverStatus)
LIFEBOAT_API_DEFINE_CODEC(Failover)

FieldErrors Validate(const Failover& failover) {
  FieldErrors errors;
  ValidateKindHeader(failover, &errors);
  const FailoverSpec& spec = failover.spec;
  ValidateLocalObjectReference(spec.plan_ref, "spec.planRef", &errors);
  if (spec.recovery_point && *spec.recovery_point != kRecoveryPointLatest &&
      *spec.recovery_point != kRecoveryPointLatestAppConsistent) {
    Time t;
    if (!ParseTime(*spec.recovery_point, &t)) {
      errors.push_back({"spec.recoveryPoint",
                        "must be Latest, LatestAppConsistent or an RFC 3339 time like "
                        "2026-01-02T15:04:05Z, got " +
                            Quote(*spec.recovery_point)});
    }
  }
  for (size_t i = 0; i < spec.approvals.size(); ++i) {
    ValidateRequiredString(spec.approvals[i], Index("spec.approvals", i), &errors);
  }
  ValidateStatusCommon(failover.status, &errors);
  return errors;
}

}  // namespace lifeboat::api
