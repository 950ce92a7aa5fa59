#pragma once

// The kinds the embedded API server serves: the built-in ones (Namespace, Secret, ConfigMap,
// Event, Lease, CustomResourceDefinition) and every version of every applied CRD.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/field_error.h"
#include "api/json.h"
#include "api/openapi/schema.h"
#include "apiserver/jsonpath.h"
#include "common/status.h"

namespace lifeboat::apiserver {

struct PrinterColumn {
  std::string name;
  std::string type;  // string, integer, number, boolean, date
  std::string format;
  std::string description;
  int priority = 0;
  std::string json_path;
  std::shared_ptr<const JsonPath> path;
  bool count = false;  // the cell is the number of entries at `path` (Secret/ConfigMap "Data")
  bool object_ref = false;  // the cell is "kind/name" of the reference at `path` (Event "Object")
};

struct Resource {
  std::string group;  // "" = core
  std::string version;
  std::string plural;
  std::string singular;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool status_subresource = false;
  std::vector<PrinterColumn> columns;  // after Name; empty = Name, Age
  std::shared_ptr<const api::openapi::Schema> schema;  // CRD schema (validation, defaults)
  Json openapi_schema;                                 // what /openapi publishes (v3 form)
  bool custom = false;                                 // served from a CRD
  // Field selectors beyond metadata.name/namespace ("involvedObject.name"; a CRD's
  // spec.versions[].selectableFields).
  std::vector<std::string> selectable_fields;
  std::string crd_name;

  std::string GroupVersion() const { return group.empty() ? version : group + "/" + version; }
  // The store key: one storage per group and plural, shared by every version.
  std::string StoreKey() const { return group + "/" + plural; }
  // "backuppolicies.lifeboat.dev", "secrets": how Kubernetes names a resource in messages.
  std::string GroupResource() const { return group.empty() ? plural : plural + "." + group; }
  // "BackupPolicy.lifeboat.dev", "Secret"
  std::string GroupKind() const { return group.empty() ? kind : kind + "." + group; }
  // "dev.lifeboat.v1alpha1.BackupPolicy": the OpenAPI definition name.
  std::string DefinitionName() const;
};

// Reads a CustomResourceDefinition into the resources it serves (one per served version).
// Invalid definitions yield field errors ("spec.names.plural: Required value").
struct CrdResources {
  std::vector<Resource> resources;
  api::FieldErrors errors;
};
CrdResources ResourcesFromCrd(const Json& crd);

class Registry {
 public:
  Registry();  // the built-in kinds

  std::shared_ptr<const Resource> Find(const std::string& group, const std::string& version,
                                       const std::string& plural) const;
  // Any served version of group/plural (for garbage collection across versions).
  std::shared_ptr<const Resource> FindByStoreKey(const std::string& store_key) const;
  std::vector<std::shared_ptr<const Resource>> All() const;

  // Serves (or re-serves) the versions of a CRD; replaces what it served before.
  void SetCrd(const std::string& crd_name, std::vector<Resource> resources);
  void RemoveCrd(const std::string& crd_name);

 private:
  void AddLocked(Resource resource);
  mutable std::mutex mu_;
  // "group/version/plural" → resource
  std::map<std::string, std::shared_ptr<const Resource>> resources_;
};

}  // namespace lifeboat::apiserver
