#pragma once

// Kubernetes TypeMeta / ObjectMeta (the fields Lifeboat objects and their clients use).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/codec.h"

namespace lifeboat::api {

// The API group/version of every Lifeboat kind.
inline constexpr std::string_view kGroup = "lifeboat.dev";
inline constexpr std::string_view kApiVersion = "lifeboat.dev/v1alpha1";
// Finalizer guarding external state (STYLE.md §3.4).
inline constexpr std::string_view kCleanupFinalizer = "lifeboat.dev/cleanup";

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  std::optional<bool> controller;
  std::optional<bool> block_owner_deletion;
  friend bool operator==(const OwnerReference&, const OwnerReference&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(OwnerReference);

struct ObjectMeta {
  std::string name;
  std::string generate_name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  std::optional<int64_t> generation;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> finalizers;
  std::vector<OwnerReference> owner_references;
  std::optional<Time> creation_timestamp;
  std::optional<Time> deletion_timestamp;
  std::optional<int64_t> deletion_grace_period_seconds;
  // Server-side apply bookkeeping, kept verbatim so objects read from an API server decode.
  Json managed_fields;

  bool HasFinalizer(std::string_view finalizer) const;
  friend bool operator==(const ObjectMeta&, const ObjectMeta&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ObjectMeta);

// Checks name/generateName (DNS-1123 subdomain), namespace (DNS-1123 label), labels and
// annotations as Kubernetes does. `namespaced` = false for cluster-scoped kinds.
void ValidateObjectMeta(const ObjectMeta& meta, bool namespaced, const std::string& path,
                        FieldErrors* errors);

}  // namespace lifeboat::api
