#pragma once

// Internal helpers shared by the kinds' .cc files: the top-level fields and the checks every
// kind makes (apiVersion/kind, metadata, status.conditions, status.observedGeneration).
#include <string>

#include "api/condition.h"
#include "api/field_error.h"
#include "api/object_meta.h"
#include "api/validation.h"

namespace lifeboat::api {

template <typename C, typename T>
void KindFields(C& c, T& v) {
  c.Required("apiVersion", v.api_version);
  c.Required("kind", v.kind);
  c.Required("metadata", v.metadata);
  c.Required("spec", v.spec);
  c.OmitEmpty("status", v.status);
}

template <typename C, typename T>
void StatusCommonFields(C& c, T& v) {
  c.Optional("observedGeneration", v.observed_generation);
  c.OmitEmpty("conditions", v.conditions);
}

template <typename T>
void ValidateKindHeader(const T& object, FieldErrors* errors) {
  T defaults;
  if (object.api_version != defaults.api_version) {
    errors->push_back({"apiVersion", "must be " + defaults.api_version + ", got " +
                                         Quote(object.api_version)});
  }
  if (object.kind != defaults.kind) {
    errors->push_back({"kind", "must be " + defaults.kind + ", got " + Quote(object.kind)});
  }
  ValidateObjectMeta(object.metadata, /*namespaced=*/true, "metadata", errors);
}

template <typename S>
void ValidateStatusCommon(const S& status, FieldErrors* errors) {
  ValidateMin(status.observed_generation, 0, "status.observedGeneration", errors);
  ValidateConditions(status.conditions, "status.conditions", errors);
}

}  // namespace lifeboat::api
