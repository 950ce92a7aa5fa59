#pragma once

// Reading crds/, examples/ and tests/corpus/ for the CRD tests.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "api/json.h"
#include "api/openapi/schema.h"
#include "common/status.h"

namespace lifeboat::crdtest {

// The YAML (or JSON) documents of one file, read with api::ParseManifests.
StatusOr<std::vector<Json>> LoadYamlFile(const std::filesystem::path& file);

// The *.yaml, *.yml and *.json files directly in `dir`, sorted by name.
std::vector<std::filesystem::path> YamlFiles(const std::filesystem::path& dir);

struct Crd {
  std::filesystem::path file;
  Json object;  // the CustomResourceDefinition
  Json schema;  // spec.versions[0].schema.openAPIV3Schema
};

// Every CRD under crds/, keyed by kind (BackupPolicy, ...).
StatusOr<std::map<std::string, Crd>> LoadCrds(const std::filesystem::path& crds_dir);

// object[key] when `object` is an object and the value a string, else "".
std::string StringField(const Json& object, const std::string& key);

// The nine kinds of api/TYPES.md.
const std::vector<std::string>& LifeboatKinds();

// Runs the matching CRD's schema on `object` as the API server would: defaults, then strict
// validation. An object of another group, a kind without a CRD, or a version the CRD does not
// serve gets one error (the API server would answer 404).
api::FieldErrors ValidateWithCrd(const std::map<std::string, api::openapi::Schema>& schemas,
                                 const Json& object);

}  // namespace lifeboat::crdtest
