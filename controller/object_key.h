#pragma once

// The identity of an object in the cache and the work queue: "namespace/name", or "name" for
// cluster-scoped objects (as client-go's MetaNamespaceKeyFunc).
#include <string>
#include <string_view>

#include "api/json.h"

namespace lifeboat::controller {

struct ObjectKey {
  std::string ns;  // empty for cluster-scoped objects
  std::string name;

  std::string ToString() const { return ns.empty() ? name : ns + "/" + name; }
  // "ns/name" → {ns, name}; "name" → {"", name}.
  static ObjectKey Parse(std::string_view key) {
    size_t slash = key.find('/');
    if (slash == std::string_view::npos) {
      return {"", std::string(key)};
    }
    return {std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
  }
  // Reads metadata.namespace / metadata.name (missing fields read as empty).
  static ObjectKey Of(const Json& object) {
    ObjectKey key;
    if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) {
      key.ns = meta->value("namespace", "");
      key.name = meta->value("name", "");
    }
    return key;
  }
  friend bool operator==(const ObjectKey&, const ObjectKey&) = default;
};

// The cache key of an object: ObjectKey::Of(object).ToString().
inline std::string KeyOf(const Json& object) { return ObjectKey::Of(object).ToString(); }

}  // namespace lifeboat::controller
