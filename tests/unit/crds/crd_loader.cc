#include "tests/unit/crds/crd_loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <regex>

namespace lifeboat::crdtest {
namespace {

// Plain (unquoted) scalars resolve as YAML 1.1 does in Kubernetes tooling: null, booleans,
// integers, floats, else strings. Quoted scalars are strings.
Json ScalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") {
    return text;
  }
  static const std::regex kNull("^(~|null|Null|NULL|)$");
  static const std::regex kTrue("^(true|True|TRUE|yes|Yes|YES|on|On|ON)$");
  static const std::regex kFalse("^(false|False|FALSE|no|No|NO|off|Off|OFF)$");
  static const std::regex kInt("^[-+]?[0-9]+$");
  static const std::regex kFloat("^[-+]?([0-9]+\\.[0-9]*|\\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?$");
  if (std::regex_match(text, kNull)) {
    return nullptr;
  }
  if (std::regex_match(text, kTrue)) {
    return true;
  }
  if (std::regex_match(text, kFalse)) {
    return false;
  }
  if (std::regex_match(text, kInt)) {
    return std::stoll(text);
  }
  if (std::regex_match(text, kFloat)) {
    return std::stod(text);
  }
  return text;
}

Json NodeToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        out[kv.first.Scalar()] = NodeToJson(kv.second);
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) {
        out.push_back(NodeToJson(item));
      }
      return out;
    }
    case YAML::NodeType::Scalar:
      return ScalarToJson(node);
    default:
      return nullptr;
  }
}

}  // namespace

StatusOr<std::vector<Json>> LoadYamlFile(const std::filesystem::path& file) {
  try {
    std::vector<Json> docs;
    for (const YAML::Node& node : YAML::LoadAllFromFile(file.string())) {
      if (node.IsNull()) {
        continue;
      }
      docs.push_back(NodeToJson(node));
    }
    return docs;
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(file.string() + ": " + e.what());
  }
}

std::vector<std::filesystem::path> YamlFiles(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  if (!std::filesystem::is_directory(dir)) {
    return files;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file() && (entry.path().extension() == ".yaml" || entry.path().extension() == ".yml" ||
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
      "Vault",    "BackupPolicy",      "RecoveryPoint", "Restore", "Snapshot",
      "Site",     "ReplicationPolicy", "RecoveryPlan",  "Failover"};
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
