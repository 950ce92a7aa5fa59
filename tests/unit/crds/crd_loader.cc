#include "tests/unit/crds/crd_loader.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "api/manifest.h"

namespace lifeboat::crdtest {

StatusOr<std::vector<Json>> LoadYamlFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return NotFoundError(file.string() + ": cannot open");
  }
  std::stringstream text;
  text << in.rdbuf();
  ASSIGN_OR_RETURN(std::vector<api::Document> docs,
                   api::ParseManifests(text.str(), file.filename().string()));
  std::vector<Json> objects;
  objects.reserve(docs.size());
  for (api::Document& doc : docs) {
    objects.push_back(std::move(doc.object));
  }
  return objects;
}

std::vector<std::filesystem::path> YamlFiles(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  if (!std::filesystem::is_directory(dir)) {
    return files;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file() &&
        (entry.path().extension() == ".yaml" || entry.path().extension() == ".yml" ||
         entry.path().extension() == ".json")) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

StatusOr<std::map<std::string, Crd>> LoadCrds(const std::filesystem::path& crds_dir) {
  std::map<std::string, Crd> crds;
  for (const auto& file : YamlFiles(crds_dir)) {
    ASSIGN_OR_RETURN(std::vector<Json> docs, LoadYamlFile(file));
    if (docs.size() != 1) {
      return InvalidArgumentError(file.string() + ": expected exactly one document, found " +
                                  std::to_string(docs.size()));
    }
    const Json& crd = docs.front();
    const Json* kind = &crd["spec"]["names"]["kind"];
    const Json* schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    if (!kind->is_string() || !schema->is_object()) {
      return InvalidArgumentError(file.string() +
                                  ": spec.names.kind or the first version's schema is missing");
    }
    crds[kind->get<std::string>()] = Crd{file, crd, *schema};
  }
  return crds;
}

std::string StringField(const Json& object, const std::string& key) {
  if (!object.is_object()) {
    return "";
  }
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

const std::vector<std::string>& LifeboatKinds() {
  static const std::vector<std::string> kKinds = {
      "Vault", "BackupPolicy",      "RecoveryPoint", "Restore", "Snapshot",
      "Site",  "ReplicationPolicy", "RecoveryPlan",  "Failover"};
  return kKinds;
}

api::FieldErrors ValidateWithCrd(const std::map<std::string, api::openapi::Schema>& schemas,
                                 const Json& object) {
  if (!object.is_object()) {
    return {{"", "a manifest must be an object, not " + std::string(object.type_name())}};
  }
  std::string api_version = StringField(object, "apiVersion");
  std::string kind = StringField(object, "kind");
  if (api_version.rfind("lifeboat.dev/", 0) != 0) {
    return {{"apiVersion", "not served by a Lifeboat CRD: \"" + api_version + "\""}};
  }
  auto it = schemas.find(kind);
  if (it == schemas.end()) {
    return {{"kind", "no CustomResourceDefinition serves kind " + kind}};
  }
  if (api_version != "lifeboat.dev/v1alpha1") {
    return {{"apiVersion", "version not served: " + api_version}};
  }
  Json defaulted = object;
  it->second.ApplyDefaults(defaulted);
  return it->second.Validate(defaulted);
}

}  // namespace lifeboat::crdtest
