#include "api/object_meta.h"

#include <algorithm>

#include "api/validation.h"

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  c.Required("apiVersion", v.api_version);
  c.Required("kind", v.kind);
  c.Required("name", v.name);
  c.Required("uid", v.uid);
  c.Optional("controller", v.controller);
  c.Optional("blockOwnerDeletion", v.block_owner_deletion);
}

template <typename C, typename T>
void MetaFields(C& c, T& v) {
  c.OmitEmpty("name", v.name);
  c.OmitEmpty("generateName", v.generate_name);
  c.OmitEmpty("namespace", v.namespace_);
  c.OmitEmpty("uid", v.uid);
  c.OmitEmpty("resourceVersion", v.resource_version);
  c.Optional("generation", v.generation);
  c.OmitEmpty("labels", v.labels);
  c.OmitEmpty("annotations", v.annotations);
  c.OmitEmpty("finalizers", v.finalizers);
  c.OmitEmpty("ownerReferences", v.owner_references);
  c.Optional("creationTimestamp", v.creation_timestamp);
  c.Optional("deletionTimestamp", v.deletion_timestamp);
  c.Optional("deletionGracePeriodSeconds", v.deletion_grace_period_seconds);
  c.OmitEmpty("managedFields", v.managed_fields);
}

constexpr size_t kMaxAnnotationsBytes = 256 * 1024;

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(OwnerReference)

Json ToJson(const ObjectMeta& value) {
  codec::ObjectEncoder encoder;
  MetaFields(encoder, value);
  return encoder.Take();
}

void Decode(const Json& json, const std::string& path, ObjectMeta* out, FieldErrors* errors) {
  codec::ObjectDecoder decoder(json, path, errors);
  if (!decoder.ok()) {
    return;
  }
  MetaFields(decoder, *out);
  decoder.Finish();
  if (!out->managed_fields.is_null() && !out->managed_fields.is_array()) {
    errors->push_back({Child(path, "managedFields"),
                       "must be a list, got " + JsonTypeName(out->managed_fields)});
  }
}

bool ObjectMeta::HasFinalizer(std::string_view finalizer) const {
  return std::find(finalizers.begin(), finalizers.end(), finalizer) != finalizers.end();
}

void ValidateObjectMeta(const ObjectMeta& meta, bool namespaced, const std::string& path,
                        FieldErrors* errors) {
  if (meta.name.empty() && meta.generate_name.empty()) {
    errors->push_back({Child(path, "name"), "required"});
  }
  if (!meta.name.empty()) {
    ValidateDns1123Subdomain(meta.name, Child(path, "name"), errors);
  }
  if (!meta.generate_name.empty()) {
    // generateName is a prefix: a suffix of random characters is appended.
    ValidateDns1123Subdomain(meta.generate_name + "x", Child(path, "generateName"), errors);
  }
  if (namespaced) {
    if (!meta.namespace_.empty()) {
      ValidateDns1123Label(meta.namespace_, Child(path, "namespace"), errors);
    }
  } else if (!meta.namespace_.empty()) {
    errors->push_back({Child(path, "namespace"), "must be empty: this kind is cluster-scoped"});
  }
  if (meta.generation && *meta.generation < 0) {
    errors->push_back({Child(path, "generation"), "must be >= 0"});
  }
  for (const auto& [key, value] : meta.labels) {
    std::string field = Child(path, "labels") + "[" + key + "]";
    ValidateQualifiedName(key, field, errors);
    ValidateLabelValue(value, field, errors);
  }
  size_t annotation_bytes = 0;
  for (const auto& [key, value] : meta.annotations) {
    ValidateQualifiedName(key, Child(path, "annotations") + "[" + key + "]", errors);
    annotation_bytes += key.size() + value.size();
  }
  if (annotation_bytes > kMaxAnnotationsBytes) {
    errors->push_back({Child(path, "annotations"),
                       "total size " + std::to_string(annotation_bytes) +
                           " bytes exceeds the limit of 262144 bytes"});
  }
  for (size_t i = 0; i < meta.owner_references.size(); ++i) {
    const OwnerReference& ref = meta.owner_references[i];
    std::string field = Index(Child(path, "ownerReferences"), i);
    if (ref.api_version.empty()) {
      errors->push_back({Child(field, "apiVersion"), "required"});
    }
    if (ref.kind.empty()) {
      errors->push_back({Child(field, "kind"), "required"});
    }
    if (ref.name.empty()) {
      errors->push_back({Child(field, "name"), "required"});
    }
    if (ref.uid.empty()) {
      errors->push_back({Child(field, "uid"), "required"});
    }
  }
  for (size_t i = 0; i < meta.finalizers.size(); ++i) {
    ValidateQualifiedName(meta.finalizers[i], Index(Child(path, "finalizers"), i), errors);
  }
}

}  // namespace lifeboat::api
