#include "apiserver/resources.h"

#include <algorithm>
#include <cctype>

namespace lifeboat::apiserver {
namespace {

Json StringMap(const std::string& description, bool bytes) {
  Json value = {{"type", "string"}};
  if (bytes) {
    value["format"] = "byte";
  }
  return {{"type", "object"}, {"description", description}, {"additionalProperties", value}};
}

Json ObjectSchema(const std::string& description, Json properties) {
  return {{"type", "object"}, {"description", description}, {"properties", std::move(properties)}};
}

Json PreserveUnknown(const std::string& description) {
  return {{"type", "object"},
          {"description", description},
          {"x-kubernetes-preserve-unknown-fields", true}};
}

PrinterColumn Column(std::string name, std::string type, std::string path, bool count = false) {
  PrinterColumn c;
  c.name = std::move(name);
  c.type = std::move(type);
  c.json_path = std::move(path);
  c.path = std::make_shared<const JsonPath>(JsonPath::Parse(c.json_path).value());
  c.count = count;
  return c;
}

PrinterColumn AgeColumn() { return Column("Age", "date", ".metadata.creationTimestamp"); }

bool IsDnsLabel(const std::string& s) {
  if (s.empty() || s.size() > 63) {
    return false;
  }
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return false;
    }
  }
  return s.front() != '-' && s.back() != '-';
}

std::vector<std::string> StringList(const Json& parent, const char* key) {
  std::vector<std::string> out;
  auto it = parent.find(key);
  if (it != parent.end() && it->is_array()) {
    for (const Json& v : *it) {
      if (v.is_string()) {
        out.push_back(v.get<std::string>());
      }
    }
  }
  return out;
}

Resource Builtin(std::string group, std::string version, std::string plural, std::string singular,
                 std::string kind, bool namespaced, std::vector<std::string> short_names,
                 Json schema, std::vector<PrinterColumn> columns) {
  Resource r;
  r.group = std::move(group);
  r.version = std::move(version);
  r.plural = std::move(plural);
  r.singular = std::move(singular);
  r.kind = std::move(kind);
  r.namespaced = namespaced;
  r.short_names = std::move(short_names);
  r.openapi_schema = schema;
  r.columns = std::move(columns);
  auto compiled = api::openapi::Schema::Compile(schema);
  if (compiled.ok()) {
    r.schema = std::make_shared<const api::openapi::Schema>(std::move(compiled).value());
  }
  return r;
}

}  // namespace

std::string Resource::DefinitionName() const {
  std::string prefix;
  if (group.empty()) {
    prefix = "io.k8s.api.core";
  } else {
    // "lifeboat.dev" → "dev.lifeboat"; "coordination.k8s.io" → "io.k8s.api.coordination".
    if (group.size() > 7 && group.compare(group.size() - 7, 7, ".k8s.io") == 0) {
      prefix = "io.k8s.api." + group.substr(0, group.size() - 7);
    } else {
      std::vector<std::string> parts;
      size_t start = 0;
      while (true) {
        size_t dot = group.find('.', start);
        parts.push_back(group.substr(start, dot == std::string::npos ? dot : dot - start));
        if (dot == std::string::npos) {
          break;
        }
        start = dot + 1;
      }
      std::reverse(parts.begin(), parts.end());
      for (const std::string& p : parts) {
        prefix += (prefix.empty() ? "" : ".") + p;
      }
    }
  }
  return prefix + "." + version + "." + kind;
}

CrdResources ResourcesFromCrd(const Json& crd) {
  CrdResources out;
  auto error = [&](const std::string& path, const std::string& message) {
    out.errors.push_back({path, message});
  };
  const Json spec = crd.value("spec", Json::object());
  if (!spec.is_object()) {
    error("spec", "Required value");
    return out;
  }
  std::string group = spec.value("group", "");
  Json names = spec.value("names", Json::object());
  std::string plural = names.is_object() ? names.value("plural", "") : "";
  std::string kind = names.is_object() ? names.value("kind", "") : "";
  std::string singular = names.is_object() ? names.value("singular", "") : "";
  std::string scope = spec.value("scope", "");
  if (group.empty()) {
    error("spec.group", "Required value");
  } else if (group.find('.') == std::string::npos) {
    error("spec.group", "Invalid value: \"" + group + "\": should be a domain with at least one dot");
  }
  if (plural.empty()) {
    error("spec.names.plural", "Required value");
  } else if (!IsDnsLabel(plural)) {
    error("spec.names.plural",
          "Invalid value: \"" + plural + "\": a lowercase RFC 1123 label must consist of lower "
          "case alphanumeric characters or '-'");
  }
  if (kind.empty()) {
    error("spec.names.kind", "Required value");
  }
  if (scope != "Namespaced" && scope != "Cluster") {
    error("spec.scope", "Unsupported value: \"" + scope +
                            "\": supported values: \"Cluster\", \"Namespaced\"");
  }
  std::string name = crd.value("metadata", Json::object()).value("name", "");
  if (!plural.empty() && !group.empty() && name != plural + "." + group) {
    error("metadata.name", "Invalid value: \"" + name + "\": must be spec.names.plural+\".\"+spec.group");
  }
  const Json versions = spec.value("versions", Json::array());
  if (!versions.is_array() || versions.empty()) {
    error("spec.versions", "Invalid value: must have exactly one version marked as storage version");
  }
  if (!out.errors.empty()) {
    return out;
  }
  if (singular.empty()) {
    singular = kind;
    std::transform(singular.begin(), singular.end(), singular.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  int storage_versions = 0;
  for (size_t i = 0; i < versions.size(); ++i) {
    const Json& v = versions[i];
    std::string path = "spec.versions[" + std::to_string(i) + "]";
    if (!v.is_object()) {
      error(path, "Invalid value: must be an object");
      continue;
    }
    if (v.value("storage", false)) {
      ++storage_versions;
    }
    Resource r;
    r.group = group;
    r.version = v.value("name", "");
    if (r.version.empty()) {
      error(path + ".name", "Required value");
      continue;
    }
    r.plural = plural;
    r.singular = singular;
    r.kind = kind;
    r.namespaced = scope == "Namespaced";
    r.short_names = StringList(names, "shortNames");
    r.categories = StringList(names, "categories");
    r.custom = true;
    r.crd_name = name;
    Json subresources = v.value("subresources", Json::object());
    r.status_subresource = subresources.is_object() && subresources.contains("status");
    Json schema = v.value("schema", Json::object());
    Json open_api = schema.is_object() ? schema.value("openAPIV3Schema", Json()) : Json();
    if (!open_api.is_object()) {
      // As kube-apiserver (apiextensions.k8s.io/v1): every version has a structural schema,
      // which validation, defaulting, pruning and kubectl's client-side checks all read.
      error(path + ".schema.openAPIV3Schema", "Required value: schemas are required");
      continue;
    }
    auto compiled = api::openapi::Schema::Compile(open_api);
    if (!compiled.ok()) {
      error(path + ".schema.openAPIV3Schema", compiled.status().message());
      continue;
    }
    r.schema = std::make_shared<const api::openapi::Schema>(std::move(compiled).value());
    r.openapi_schema = open_api;
    const Json columns = v.value("additionalPrinterColumns", Json::array());
    if (columns.is_array()) {
      for (size_t c = 0; c < columns.size(); ++c) {
        const Json& col = columns[c];
        std::string cpath = path + ".additionalPrinterColumns[" + std::to_string(c) + "]";
        PrinterColumn pc;
        pc.name = col.value("name", "");
        pc.type = col.value("type", "string");
        pc.format = col.value("format", "");
        pc.description = col.value("description", "");
        pc.priority = col.value("priority", 0);
        pc.json_path = col.value("jsonPath", "");
        if (pc.name.empty()) {
          error(cpath + ".name", "Required value");
          continue;
        }
        auto parsed = JsonPath::Parse(pc.json_path);
        if (!parsed.ok()) {
          error(cpath + ".jsonPath", "Invalid value: \"" + pc.json_path + "\": " +
                                         parsed.status().message());
          continue;
        }
        pc.path = std::make_shared<const JsonPath>(std::move(parsed).value());
        r.columns.push_back(std::move(pc));
      }
    }
    if (r.columns.empty()) {
      r.columns.push_back(AgeColumn());
    }
    const Json selectable = v.value("selectableFields", Json::array());
    if (selectable.is_array()) {
      for (size_t f = 0; f < selectable.size(); ++f) {
        std::string json_path =
            selectable[f].is_object() ? selectable[f].value("jsonPath", "") : std::string();
        if (json_path.size() < 2 || json_path[0] != '.') {
          error(path + ".selectableFields[" + std::to_string(f) + "].jsonPath",
                "Invalid value: \"" + json_path + "\": must be a simple path such as .spec.color");
          continue;
        }
        r.selectable_fields.push_back(json_path.substr(1));
      }
    }
    if (v.value("served", true)) {
      out.resources.push_back(std::move(r));
    }
  }
  if (storage_versions != 1 && out.errors.empty()) {
    error("spec.versions", "Invalid value: must have exactly one version marked as storage version");
  }
  if (!out.errors.empty()) {
    out.resources.clear();
  }
  return out;
}

Registry::Registry() {
  Json metadata = {{"type", "object"}};
  Resource ns = Builtin(
      "", "v1", "namespaces", "namespace", "Namespace", false, {"ns"},
      ObjectSchema(
          "Namespace provides a scope for Names.",
          {{"spec",
            ObjectSchema("Spec of the namespace.",
                         {{"finalizers", {{"type", "array"}, {"items", {{"type", "string"}}}}}})},
           {"status",
            ObjectSchema("Status of the namespace.", {{"phase", {{"type", "string"}}}})}}),
      {Column("Status", "string", ".status.phase"), AgeColumn()});
  ns.selectable_fields = {"status.phase"};
  AddLocked(std::move(ns));
  Resource secret = Builtin(
      "", "v1", "secrets", "secret", "Secret", true, {},
      ObjectSchema("Secret holds secret data of a certain type.",
                   {{"data", StringMap("base64-encoded values", true)},
                    {"stringData", StringMap("write-only plain-text values", false)},
                    {"type", {{"type", "string"}}},
                    {"immutable", {{"type", "boolean"}}}}),
      {Column("Type", "string", ".type"), Column("Data", "integer", ".data", true), AgeColumn()});
  secret.selectable_fields = {"type"};
  AddLocked(std::move(secret));
  AddLocked(Builtin(
      "", "v1", "configmaps", "configmap", "ConfigMap", true, {"cm"},
      ObjectSchema("ConfigMap holds configuration data for pods to consume.",
                   {{"data", StringMap("configuration values", false)},
                    {"binaryData", StringMap("binary values", true)},
                    {"immutable", {{"type", "boolean"}}}}),
      {Column("Data", "integer", ".data", true), AgeColumn()}));
  PrinterColumn object = Column("Object", "string", ".involvedObject");
  object.object_ref = true;
  // Event's fields as core/v1 has them: kubectl before 1.26 validates manifests on the client
  // against /openapi/v2 and refuses fields a kind with properties does not list. Unknown fields
  // are still kept by the server (preserve-unknown-fields).
  Json str = {{"type", "string"}};
  Json count = {{"type", "integer"}, {"format", "int32"}};
  Json reference = ObjectSchema(
      "ObjectReference contains enough information to let you inspect or modify the referred "
      "object.",
      {{"apiVersion", str},
       {"fieldPath", str},
       {"kind", str},
       {"name", str},
       {"namespace", str},
       {"resourceVersion", str},
       {"uid", str}});
  Json event_schema = ObjectSchema(
      "Event is a report of an event somewhere in the cluster.",
      {{"action", str},
       {"count", count},
       {"eventTime", str},
       {"firstTimestamp", str},
       {"involvedObject", reference},
       {"lastTimestamp", str},
       {"message", str},
       {"reason", str},
       {"related", reference},
       {"reportingComponent", str},
       {"reportingInstance", str},
       {"series", ObjectSchema("Data on the event series this event represents.",
                               {{"count", count}, {"lastObservedTime", str}})},
       {"source",
        ObjectSchema("The component reporting this event.", {{"component", str}, {"host", str}})},
       {"type", str}});
  event_schema["x-kubernetes-preserve-unknown-fields"] = true;
  Resource event =
      Builtin("", "v1", "events", "event", "Event", true, {"ev"}, std::move(event_schema),
              {Column("Last Seen", "date", ".lastTimestamp"), Column("Type", "string", ".type"),
               Column("Reason", "string", ".reason"), std::move(object),
               Column("Message", "string", ".message")});
  // What Kubernetes lets Events be selected by (kubectl describe asks for involvedObject.*).
  event.selectable_fields = {"involvedObject.kind",
                             "involvedObject.namespace",
                             "involvedObject.name",
                             "involvedObject.uid",
                             "involvedObject.apiVersion",
                             "involvedObject.resourceVersion",
                             "involvedObject.fieldPath",
                             "reason",
                             "reportingComponent",
                             "source",
                             "type"};
  AddLocked(std::move(event));
  AddLocked(Builtin(
      "coordination.k8s.io", "v1", "leases", "lease", "Lease", true, {},
      ObjectSchema("Lease defines a lease concept.",
                   {{"spec", ObjectSchema("Specification of the Lease.",
                                          {{"holderIdentity", {{"type", "string"}}},
                                           {"leaseDurationSeconds", {{"type", "integer"}}},
                                           {"acquireTime", {{"type", "string"}}},
                                           {"renewTime", {{"type", "string"}}},
                                           {"leaseTransitions", {{"type", "integer"}}}})}}),
      {Column("Holder", "string", ".spec.holderIdentity"), AgeColumn()}));
  Resource crd = Builtin(
      "apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
      "CustomResourceDefinition", false, {"crd", "crds"},
      ObjectSchema("CustomResourceDefinition represents a resource that should be exposed on the "
                   "API server.",
                   {{"spec", PreserveUnknown("Describes how the user wants the resources to "
                                             "appear")},
                    {"status", PreserveUnknown("Status of the CustomResourceDefinition")}}),
      {Column("Created At", "string", ".metadata.creationTimestamp")});
  crd.status_subresource = true;
  AddLocked(std::move(crd));
}

void Registry::AddLocked(Resource resource) {
  std::string key = resource.group + "/" + resource.version + "/" + resource.plural;
  resources_[key] = std::make_shared<const Resource>(std::move(resource));
}

std::shared_ptr<const Resource> Registry::Find(const std::string& group,
                                               const std::string& version,
                                               const std::string& plural) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = resources_.find(group + "/" + version + "/" + plural);
  return it == resources_.end() ? nullptr : it->second;
}

std::shared_ptr<const Resource> Registry::FindByStoreKey(const std::string& store_key) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, r] : resources_) {
    if (r->StoreKey() == store_key) {
      return r;
    }
  }
  return nullptr;
}

std::vector<std::shared_ptr<const Resource>> Registry::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<const Resource>> out;
  for (const auto& [key, r] : resources_) {
    out.push_back(r);
  }
  return out;
}

void Registry::SetCrd(const std::string& crd_name, std::vector<Resource> resources) {
  if (crd_name.empty()) {
    return;  // built-in kinds are not served from a CRD
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = resources_.begin(); it != resources_.end();) {
    if (it->second->crd_name == crd_name) {
      it = resources_.erase(it);
    } else {
      ++it;
    }
  }
  for (Resource& r : resources) {
    AddLocked(std::move(r));
  }
}

void Registry::RemoveCrd(const std::string& crd_name) { SetCrd(crd_name, {}); }

}  // namespace lifeboat::apiserver
