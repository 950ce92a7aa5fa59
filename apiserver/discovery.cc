#include "apiserver/discovery.h"

#include <algorithm>
#include <map>
#include <set>

#include "apiserver/openapi_proto.h"

namespace lifeboat::apiserver {
namespace {

constexpr const char* kGitVersion = "v1.32.0-lifeboat";

const std::vector<std::string>& Verbs() {
  static const std::vector<std::string> kVerbs = {"create", "delete", "deletecollection", "get",
                                                  "list",   "patch",  "update",           "watch"};
  return kVerbs;
}

// "v1" sorts before "v1beta1", "v1alpha1" after "v1beta1" (Kubernetes version priority).
int VersionRank(const std::string& v) {
  if (v.find("alpha") != std::string::npos) {
    return 2;
  }
  if (v.find("beta") != std::string::npos) {
    return 1;
  }
  return 0;
}

std::map<std::string, std::vector<std::string>> GroupVersions(const Registry& registry) {
  std::map<std::string, std::set<std::string>> sets;
  for (const auto& r : registry.All()) {
    sets[r->group].insert(r->version);
  }
  std::map<std::string, std::vector<std::string>> out;
  for (auto& [group, versions] : sets) {
    std::vector<std::string> list(versions.begin(), versions.end());
    std::stable_sort(list.begin(), list.end(), [](const std::string& a, const std::string& b) {
      return VersionRank(a) < VersionRank(b);
    });
    out[group] = list;
  }
  return out;
}

Json GroupDocument(const std::string& group, const std::vector<std::string>& versions) {
  Json doc = {{"name", group}, {"versions", Json::array()}};
  for (const std::string& v : versions) {
    doc["versions"].push_back({{"groupVersion", group + "/" + v}, {"version", v}});
  }
  doc["preferredVersion"] = doc["versions"][0];
  return doc;
}

Json Gvk(const Resource& r) {
  return {{"group", r.group}, {"version", r.version}, {"kind", r.kind}};
}

Json QueryParameter(const std::string& name, const std::string& description, bool v3) {
  Json p = {{"name", name}, {"in", "query"}, {"description", description}};
  if (v3) {
    p["schema"] = {{"type", "string"}, {"uniqueItems", true}};
  } else {
    p["type"] = "string";
    p["uniqueItems"] = true;
  }
  return p;
}

Json Operation(const Resource& r, const std::string& action, const std::string& ref, bool v3) {
  Json op = {{"operationId", action + r.kind},
             {"tags", {r.GroupVersion()}},
             {"x-kubernetes-action", action},
             {"x-kubernetes-group-version-kind", Gvk(r)},
             {"parameters", Json::array()}};
  if (action == "patch" || action == "put" || action == "post") {
    op["parameters"].push_back(QueryParameter(
        "fieldValidation", "Ignore, Warn or Strict handling of unknown or duplicate fields", v3));
    op["parameters"].push_back(
        QueryParameter("dryRun", "All: process the request without persisting it", v3));
  }
  Json ok = {{"description", "OK"}};
  if (v3) {
    ok["content"] = {{"application/json", {{"schema", {{"$ref", ref}}}}}};
  } else {
    ok["schema"] = {{"$ref", ref}};
  }
  op["responses"] = {{"200", ok}};
  return op;
}

// The paths of one resource (collection and item), as Kubernetes publishes them.
void AddPaths(const Resource& r, Json& paths, bool v3) {
  std::string base = r.group.empty() ? "/api/" + r.version : "/apis/" + r.GroupVersion();
  std::string collection =
      base + (r.namespaced ? "/namespaces/{namespace}/" : "/") + r.plural;
  std::string prefix = v3 ? "#/components/schemas/" : "#/definitions/";
  std::string ref = prefix + r.DefinitionName();
  std::string list_ref = prefix + r.DefinitionName() + "List";
  paths[collection] = {{"get", Operation(r, "list", list_ref, v3)},
                       {"post", Operation(r, "post", ref, v3)}};
  paths[collection + "/{name}"] = {{"get", Operation(r, "get", ref, v3)},
                                   {"put", Operation(r, "put", ref, v3)},
                                   {"patch", Operation(r, "patch", ref, v3)},
                                   {"delete", Operation(r, "delete", ref, v3)}};
  if (r.status_subresource) {
    paths[collection + "/{name}/status"] = {{"get", Operation(r, "get", ref, v3)},
                                            {"put", Operation(r, "put", ref, v3)},
                                            {"patch", Operation(r, "patch", ref, v3)}};
  }
}

Json ObjectMetaDefinition() {
  Json str = {{"type", "string"}};
  Json map = {{"type", "object"}, {"additionalProperties", str}};
  return {{"type", "object"},
          {"description", "Standard object metadata."},
          {"properties",
           {{"name", {{"type", "string"}, {"description", "Name must be unique within a namespace."}}},
            {"generateName", str},
            {"namespace", str},
            {"uid", str},
            {"resourceVersion", str},
            {"generation", {{"type", "integer"}, {"format", "int64"}}},
            {"creationTimestamp", {{"type", "string"}, {"format", "date-time"}}},
            {"deletionTimestamp", {{"type", "string"}, {"format", "date-time"}}},
            {"labels", map},
            {"annotations", map},
            {"finalizers", {{"type", "array"}, {"items", str}}},
            {"ownerReferences", {{"type", "array"}, {"items", {{"type", "object"}}}}}}}};
}

// The definition of a kind: its schema, with metadata described and the GVK extension.
Json Definition(const Resource& r, bool v3) {
  Json schema = v3 ? r.openapi_schema : api::openapi::ToOpenApiV2(r.openapi_schema);
  if (!schema.is_object()) {
    schema = Json::object();
  }
  schema["type"] = "object";
  std::string prefix = v3 ? "#/components/schemas/" : "#/definitions/";
  Json& props = schema["properties"];
  if (!props.is_object()) {
    props = Json::object();
  }
  props["apiVersion"] = {{"type", "string"}, {"description", "APIVersion defines the versioned "
                                                             "schema of this representation."}};
  props["kind"] = {{"type", "string"},
                   {"description", "Kind is a string value representing the REST resource."}};
  props["metadata"] = {{"description", "Standard object's metadata."},
                       {"allOf", {{{"$ref", prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}}}}};
  if (!v3) {
    props["metadata"] = {{"$ref", prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}};
  }
  schema["x-kubernetes-group-version-kind"] = Json::array({Gvk(r)});
  return schema;
}

Json ListDefinition(const Resource& r, bool v3) {
  std::string prefix = v3 ? "#/components/schemas/" : "#/definitions/";
  Json gvk = Gvk(r);
  gvk["kind"] = r.kind + "List";
  return {{"type", "object"},
          {"description", r.kind + "List is a list of " + r.kind},
          {"required", {"items"}},
          {"properties",
           {{"apiVersion", {{"type", "string"}}},
            {"kind", {{"type", "string"}}},
            {"metadata", {{"type", "object"}}},
            {"items", {{"type", "array"}, {"items", {{"$ref", prefix + r.DefinitionName()}}}}}}},
          {"x-kubernetes-group-version-kind", Json::array({gvk})}};
}

}  // namespace

Json VersionDocument() {
  return {{"major", "1"},
          {"minor", "32"},
          {"gitVersion", kGitVersion},
          {"gitCommit", "lifeboat"},
          {"gitTreeState", "clean"},
          {"buildDate", "2026-11-21T00:00:00Z"},
          {"goVersion", "c++20"},
          {"compiler", "gcc"},
          {"platform", "linux/amd64"}};
}

Json ApiVersionsDocument(const std::string& server_address) {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs",
           {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

Json ApiGroupListDocument(const Registry& registry) {
  Json doc = {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", Json::array()}};
  for (const auto& [group, versions] : GroupVersions(registry)) {
    if (!group.empty()) {
      doc["groups"].push_back(GroupDocument(group, versions));
    }
  }
  return doc;
}

StatusOr<Json> ApiGroupDocument(const Registry& registry, const std::string& group) {
  auto groups = GroupVersions(registry);
  auto it = groups.find(group);
  if (group.empty() || it == groups.end()) {
    return NotFoundError("the server could not find the requested resource");
  }
  Json doc = GroupDocument(group, it->second);
  doc["kind"] = "APIGroup";
  doc["apiVersion"] = "v1";
  return doc;
}

StatusOr<Json> ApiResourceListDocument(const Registry& registry, const std::string& group,
                                       const std::string& version) {
  Json resources = Json::array();
  for (const auto& r : registry.All()) {
    if (r->group != group || r->version != version) {
      continue;
    }
    Json entry = {{"name", r->plural},
                  {"singularName", r->singular},
                  {"namespaced", r->namespaced},
                  {"kind", r->kind},
                  {"verbs", Verbs()}};
    if (!r->short_names.empty()) {
      entry["shortNames"] = r->short_names;
    }
    if (!r->categories.empty()) {
      entry["categories"] = r->categories;
    }
    resources.push_back(entry);
    if (r->status_subresource) {
      resources.push_back({{"name", r->plural + "/status"},
                           {"singularName", ""},
                           {"namespaced", r->namespaced},
                           {"kind", r->kind},
                           {"verbs", {"get", "patch", "update"}}});
    }
  }
  if (resources.empty()) {
    return NotFoundError("the server could not find the requested resource");
  }
  return Json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", group.empty() ? version : group + "/" + version},
              {"resources", resources}};
}

Json OpenApiV2Document(const Registry& registry) {
  Json doc = {{"swagger", "2.0"},
              {"info", {{"title", "Kubernetes"}, {"version", kGitVersion}}},
              {"paths", Json::object()},
              {"definitions",
               {{"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", ObjectMetaDefinition()}}}};
  for (const auto& r : registry.All()) {
    AddPaths(*r, doc["paths"], false);
    doc["definitions"][r->DefinitionName()] = Definition(*r, false);
    doc["definitions"][r->DefinitionName() + "List"] = ListDefinition(*r, false);
  }
  return doc;
}

StatusOr<EncodedDocument> OpenApiV2Encoded(const Registry& registry, const std::string& accept) {
  Json doc = OpenApiV2Document(registry);
  if (!PrefersOpenApiV2Protobuf(accept)) {
    return EncodedDocument{"application/json", doc.dump()};
  }
  auto encoded = EncodeOpenApiV2Protobuf(doc);
  if (!encoded.ok()) {
    return encoded.status().WithPrefix("/openapi/v2 as protobuf");
  }
  return EncodedDocument{kOpenApiV2ProtobufContentType, std::move(*encoded)};
}

Json OpenApiV3RootDocument(const Registry& registry) {
  Json paths = Json::object();
  for (const auto& [group, versions] : GroupVersions(registry)) {
    for (const std::string& v : versions) {
      std::string path = group.empty() ? "api/" + v : "apis/" + group + "/" + v;
      paths[path] = {{"serverRelativeURL", "/openapi/v3/" + path}};
    }
  }
  return {{"paths", paths}};
}

StatusOr<Json> OpenApiV3Document(const Registry& registry, const std::string& gv_path) {
  Json doc = {{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", kGitVersion}}},
              {"paths", Json::object()},
              {"components",
               {{"schemas",
                 {{"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", ObjectMetaDefinition()}}}}}};
  bool found = false;
  for (const auto& r : registry.All()) {
    std::string path = r->group.empty() ? "api/" + r->version : "apis/" + r->GroupVersion();
    if (path != gv_path) {
      continue;
    }
    found = true;
    AddPaths(*r, doc["paths"], true);
    doc["components"]["schemas"][r->DefinitionName()] = Definition(*r, true);
    doc["components"]["schemas"][r->DefinitionName() + "List"] = ListDefinition(*r, true);
  }
  if (!found) {
    return NotFoundError("no OpenAPI document for " + gv_path);
  }
  return doc;
}

}  // namespace lifeboat::apiserver
