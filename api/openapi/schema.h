#pragma once

// Structural OpenAPI v3 schemas as CustomResourceDefinitions carry them (openAPIV3Schema):
// validation (types, required, enum, pattern, minimum/maximum, minLength/maxLength,
// minItems/maxItems, format, additionalProperties, x-kubernetes-preserve-unknown-fields,
// x-kubernetes-int-or-string) and defaulting. Used by the embedded API server to admit objects
// of any applied CRD, and by the test proving that crds/ and the C++ validation agree.
#include <string>

#include "api/field_error.h"
#include "api/json.h"
#include "common/status.h"

namespace lifeboat::api::openapi {

class Schema {
 public:
  // Compiles a schema (the value of spec.versions[].schema.openAPIV3Schema).
  // Rejects schemas that are not structural, with the path of the offending node.
  static StatusOr<Schema> Compile(const Json& open_api_v3_schema);

  // Every violation in `object`, with Kubernetes-style paths and messages, e.g.
  //   spec.retention.daily: Invalid value: -1: spec.retention.daily in body should be greater than or equal to 0
  // Unknown fields are reported as errors (strict), as `kubectl apply --validate=strict` does.
  FieldErrors Validate(const Json& object) const;

  // Applies `default` values for absent fields, recursively, in place.
  void ApplyDefaults(Json& object) const;

  // Removes unknown fields (what the real API server does when not strict), in place.
  void Prune(Json& object) const;

  const Json& raw() const { return raw_; }

 private:
  Json raw_;
};

}  // namespace lifeboat::api::openapi
