#pragma once

// Structural OpenAPI v3 schemas as CustomResourceDefinitions carry them (openAPIV3Schema):
// validation (types, required, enum, pattern, minimum/maximum, minLength/maxLength,
// minItems/maxItems, format, additionalProperties, x-kubernetes-preserve-unknown-fields,
// x-kubernetes-int-or-string) and defaulting. Used by the embedded API server to admit objects
// of any applied CRD, and by the test proving that crds/ and the C++ validation agree.
//
// Also understood: nullable, uniqueItems, minProperties/maxProperties, multipleOf,
// exclusiveMinimum/exclusiveMaximum, allOf/anyOf/oneOf/not (value validations only, as in
// Kubernetes), x-kubernetes-embedded-resource and x-kubernetes-list-type (set, and map with
// x-kubernetes-list-map-keys: duplicate keys are rejected). x-kubernetes-validations (CEL) is
// accepted in a schema but not evaluated.
//
// At the root (and in embedded resources) apiVersion, kind and metadata are implicitly allowed;
// metadata is checked only against what the schema declares for it (name, generateName).
#include <memory>
#include <string>

#include "api/field_error.h"
#include "api/json.h"
#include "common/status.h"

namespace lifeboat::api::openapi {

struct SchemaNode;  // the compiled form (schema.cc)

class Schema {
 public:
  // Compiles a schema (the value of spec.versions[].schema.openAPIV3Schema).
  // Rejects schemas that are not structural, with the path of the offending node, e.g.
  //   openAPIV3Schema.properties[spec].properties[rpo].type: Required value: must not be empty
  // Patterns are compiled once here.
  static StatusOr<Schema> Compile(const Json& open_api_v3_schema);

  // Every violation in `object`, with Kubernetes-style paths and messages, e.g.
  //   spec.retention.daily: Invalid value: -1: spec.retention.daily in body should be greater than or equal to 0
  //   spec.vaultRef: Required value
  //   spec.consistency.type: Unsupported value: "x": supported values: "Application", "Crash"
  //   spec.bogus: field not declared in schema
  // (Kubernetes prints the last one as `.spec.bogus: ...`; FieldError::path stays "spec.bogus".)
  // Unknown fields are reported as errors (strict), as `kubectl apply --validate=strict` does.
  FieldErrors Validate(const Json& object) const;

  // Applies `default` values for absent fields, recursively, in place. Like Kubernetes, a null
  // in a field that is not nullable is replaced by the field's default, or removed.
  void ApplyDefaults(Json& object) const;

  // Removes unknown fields (what the real API server does when not strict), in place.
  void Prune(Json& object) const;

  const Json& raw() const { return raw_; }

 private:
  Json raw_;
  std::shared_ptr<const SchemaNode> root_;
};

// The OpenAPI v2 (swagger 2.0) `definitions` entry for a structural v3 schema, as Kubernetes
// publishes CRDs on /openapi/v2 for `kubectl explain` and client-side validation: oneOf, anyOf,
// not and nullable are dropped (v2 has no equivalent); a nullable field loses its type and
// sub-schemas; an int-or-string field keeps only the x-kubernetes-int-or-string marker;
// descriptions, required, enums, patterns, bounds, defaults and x-kubernetes-* extensions stay.
Json ToOpenApiV2(const Json& v3_schema);

}  // namespace lifeboat::api::openapi
