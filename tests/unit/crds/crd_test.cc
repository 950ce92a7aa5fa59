// The CRDs under crds/ are well-formed, structural and consistent with each other, and every
// example under examples/ passes them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "api/openapi/schema.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/crds/crd_loader.h"

namespace lifeboat::crdtest {
namespace {

using api::openapi::Schema;
using ::testing::Contains;
using ::testing::IsEmpty;

const std::map<std::string, Crd>& Crds() {
  static const std::map<std::string, Crd> kCrds = [] {
    auto crds = LoadCrds(testing::SourceDir() / "crds");
    if (!crds.ok()) {
      ADD_FAILURE() << crds.status();
      return std::map<std::string, Crd>();
    }
    return std::move(crds).value();
  }();
  return kCrds;
}

const std::map<std::string, Schema>& Schemas() {
  static const std::map<std::string, Schema> kSchemas = [] {
    std::map<std::string, Schema> schemas;
    for (const auto& [kind, crd] : Crds()) {
      auto schema = Schema::Compile(crd.schema);
      if (schema.ok()) {
        schemas.emplace(kind, std::move(schema).value());
      }
    }
    return schemas;
  }();
  return kSchemas;
}

// Resolves a printer column's JSONPath (.a.b, .a[*].b, .a[?(@.type=="Ready")].b) in a schema.
// Returns an error naming the first segment the schema does not declare.
Status ResolveJsonPath(const Json& schema, const std::string& json_path) {
  if (json_path.rfind(".metadata.", 0) == 0) {
    static const std::set<std::string> kMeta = {".metadata.creationTimestamp", ".metadata.name",
                                                ".metadata.namespace"};
    return kMeta.contains(json_path) ? OkStatus()
                                     : InvalidArgumentError("unsupported metadata path");
  }
  const Json* node = &schema;
  size_t i = 0;
  while (i < json_path.size()) {
    if (json_path[i] == '.') {
      size_t end = json_path.find_first_of(".[", i + 1);
      std::string name = json_path.substr(i + 1, end == std::string::npos ? end : end - i - 1);
      if (!node->contains("properties") || !(*node)["properties"].contains(name)) {
        return InvalidArgumentError("\"" + name + "\" is not declared in the schema");
      }
      node = &(*node)["properties"][name];
      i = end == std::string::npos ? json_path.size() : end;
    } else if (json_path[i] == '[') {
      size_t end = json_path.find(']', i);
      if (end == std::string::npos || node->value("type", "") != "array") {
        return InvalidArgumentError("index into something that is not an array");
      }
      std::string filter = json_path.substr(i + 1, end - i - 1);
      node = &(*node)["items"];
      if (filter.rfind("?(@.", 0) == 0) {
        std::string field = filter.substr(4, filter.find_first_of("=!<>)") - 4);
        if (!node->contains("properties") || !(*node)["properties"].contains(field)) {
          return InvalidArgumentError("filter field \"" + field + "\" is not declared");
        }
      } else if (filter != "*" && filter.find_first_not_of("0123456789") != std::string::npos) {
        return InvalidArgumentError("unsupported subscript [" + filter + "]");
      }
      i = end + 1;
    } else {
      return InvalidArgumentError("unexpected character at " + std::to_string(i));
    }
  }
  return OkStatus();
}

std::string ToLower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

TEST(CrdsTest, OneCrdPerKindAndNothingElse) {
  ASSERT_EQ(Crds().size(), LifeboatKinds().size());
  for (const std::string& kind : LifeboatKinds()) {
    EXPECT_TRUE(Crds().contains(kind)) << "no CRD for " << kind;
  }
}

class CrdTest : public ::testing::TestWithParam<std::string> {
 protected:
  const Crd& crd() const { return Crds().at(GetParam()); }
  const Json& spec() const { return crd().object["spec"]; }
  const Json& version() const { return spec()["versions"][0]; }
};

TEST_P(CrdTest, IsWellFormed) {
  ASSERT_TRUE(Crds().contains(GetParam()));
  const Json& object = crd().object;
  const std::string& kind = GetParam();
  EXPECT_EQ(object["apiVersion"], "apiextensions.k8s.io/v1");
  EXPECT_EQ(object["kind"], "CustomResourceDefinition");
  const Json& names = spec()["names"];
  std::string plural = names.value("plural", "");
  EXPECT_EQ(crd().file.filename().string(), "lifeboat.dev_" + plural + ".yaml");
  EXPECT_EQ(object["metadata"]["name"], plural + ".lifeboat.dev");
  EXPECT_EQ(spec()["group"], "lifeboat.dev");
  EXPECT_EQ(spec()["scope"], "Namespaced");
  EXPECT_EQ(names["kind"], kind);
  EXPECT_EQ(names["listKind"], kind + "List");
  EXPECT_EQ(names["singular"], ToLower(kind));
  EXPECT_THAT(names["categories"], Contains("lifeboat"));
  ASSERT_EQ(spec()["versions"].size(), 1u);
  EXPECT_EQ(version()["name"], "v1alpha1");
  EXPECT_EQ(version()["served"], true);
  EXPECT_EQ(version()["storage"], true);
  EXPECT_EQ(version()["subresources"], Json::parse(R"({"status": {}})"));
}

TEST_P(CrdTest, ShortNamesAsTypesMdLists) {
  static const std::map<std::string, std::string> kShortNames = {
      {"BackupPolicy", "bp"},        {"RecoveryPoint", "rp"},   {"Snapshot", "snap"},
      {"ReplicationPolicy", "rpol"}, {"RecoveryPlan", "rplan"}, {"Failover", "fo"}};
  auto it = kShortNames.find(GetParam());
  if (it == kShortNames.end()) {
    EXPECT_FALSE(spec()["names"].contains("shortNames"));
  } else {
    EXPECT_EQ(spec()["names"]["shortNames"], Json::array({it->second}));
  }
}

TEST_P(CrdTest, SchemaIsStructuralWithSpecAndStatus) {
  auto schema = Schema::Compile(crd().schema);
  ASSERT_TRUE(schema.ok()) << crd().file << ": " << schema.status();
  const Json& props = crd().schema["properties"];
  ASSERT_TRUE(props.contains("spec"));
  EXPECT_EQ(props["spec"]["type"], "object");
  EXPECT_FALSE(crd().schema.value("description", "").empty());
  const Json& status = props["status"]["properties"];
  EXPECT_EQ(status["observedGeneration"]["type"], "integer");
  EXPECT_EQ(status["conditions"]["type"], "array");
  // Every top-level spec field carries a description, so `kubectl explain` helps.
  for (const auto& [name, field] : props["spec"]["properties"].items()) {
    EXPECT_FALSE(field.value("description", "").empty()) << GetParam() << " spec." << name;
  }
}

TEST_P(CrdTest, PrinterColumnsPointAtDeclaredFields) {
  const Json& columns = version()["additionalPrinterColumns"];
  ASSERT_TRUE(columns.is_array());
  static const std::set<std::string> kTypes = {"integer", "number", "string", "boolean", "date"};
  std::set<std::string> names;
  for (const Json& column : columns) {
    std::string name = column.value("name", "");
    EXPECT_TRUE(names.insert(name).second) << "duplicate column " << name;
    EXPECT_TRUE(kTypes.contains(column.value("type", ""))) << name;
    Status resolved = ResolveJsonPath(crd().schema, column.value("jsonPath", ""));
    EXPECT_TRUE(resolved.ok()) << GetParam() << " column " << name << " ("
                               << column.value("jsonPath", "") << "): " << resolved;
  }
  EXPECT_TRUE(names.contains("Age"));
  EXPECT_EQ(columns.back()["jsonPath"], ".metadata.creationTimestamp");
}

TEST_P(CrdTest, OpenApiV2FormHasNoV3OnlyKeywords) {
  std::string v2 = api::openapi::ToOpenApiV2(crd().schema).dump();
  for (const char* keyword : {"\"oneOf\"", "\"anyOf\"", "\"nullable\"", "\"not\""}) {
    EXPECT_EQ(v2.find(keyword), std::string::npos) << keyword;
  }
}

INSTANTIATE_TEST_SUITE_P(AllKinds, CrdTest, ::testing::ValuesIn(LifeboatKinds()),
                         [](const auto& info) { return info.param; });

TEST(CrdsTest, PrinterColumnsAsTypesMdLists) {
  const std::map<std::string, std::vector<std::string>> kColumns = {
      {"Vault", {"Storage", "Stored", "Dedup", "Ready", "Age"}},
      {"BackupPolicy", {"Schedule", "Last Backup", "RPO", "Ready", "Age"}},
      {"RecoveryPoint", {"Policy", "Phase", "Progress", "Age"}},
      {"Restore", {"Source", "Phase", "Tier", "Age"}},
      {"Snapshot", {"Source", "Ready To Use", "Used", "Provisioned", "Age"}},
      {"Site", {"Endpoint", "Reachable", "Latency", "Age"}},
      {"ReplicationPolicy", {"Target", "Phase", "RPO", "Ready", "Age"}},
      {"RecoveryPlan", {"Groups", "Active Site", "Last Operation", "Ready", "Age"}},
      {"Failover", {"Plan", "Type", "Phase", "RTO", "Age"}}};
  for (const auto& [kind, expected] : kColumns) {
    ASSERT_TRUE(Crds().contains(kind)) << kind;
    std::vector<std::string> shown;  // priority 0: what `kubectl get` shows without -o wide
    for (const Json& column :
         Crds().at(kind).object["spec"]["versions"][0]["additionalPrinterColumns"]) {
      if (column.value("priority", 0) == 0) {
        shown.push_back(column.value("name", ""));
      }
    }
    EXPECT_EQ(shown, expected) << kind;
  }
}

// The shared shapes are the same text in every CRD: compare them, descriptions aside.
Json WithoutTopDescription(Json node) {
  node.erase("description");
  return node;
}

TEST(CrdsTest, SharedBlocksAreIdentical) {
  const Json& bp = Crds().at("BackupPolicy").schema["properties"];
  Json condition = bp["status"]["properties"]["conditions"];
  Json volumes = WithoutTopDescription(bp["spec"]["properties"]["volumes"]);
  Json hook =
      WithoutTopDescription(bp["spec"]["properties"]["consistency"]["properties"]["preHook"]);
  for (const auto& [kind, crd] : Crds()) {
    const Json& props = crd.schema["properties"];
    EXPECT_EQ(props["status"]["properties"]["conditions"], condition) << kind;
    EXPECT_EQ(props["metadata"], bp["metadata"]) << kind;
  }
  const Json& rp = Crds().at("ReplicationPolicy").schema["properties"]["spec"]["properties"];
  EXPECT_EQ(WithoutTopDescription(rp["volumes"]), volumes);
  EXPECT_EQ(WithoutTopDescription(rp["hooks"]["properties"]["preHook"]), hook);
  EXPECT_EQ(WithoutTopDescription(rp["hooks"]["properties"]["postHook"]), hook);
  EXPECT_EQ(
      WithoutTopDescription(bp["spec"]["properties"]["consistency"]["properties"]["postHook"]),
      hook);
  const Json& vault = Crds().at("Vault").schema["properties"]["spec"]["properties"];
  EXPECT_EQ(WithoutTopDescription(vault["secondary"]), WithoutTopDescription(vault["storage"]));
  Json hook_exec = hook["properties"]["exec"];
  Json hook_http = hook["properties"]["http"];
  const Json& action = Crds()
                           .at("RecoveryPlan")
                           .schema["properties"]["spec"]["properties"]["groups"]["items"]
                                  ["properties"]["preActions"]["items"];
  EXPECT_EQ(action["properties"]["exec"], hook_exec);
  EXPECT_EQ(action["properties"]["http"], hook_http);
  const Json& groups =
      Crds()
          .at("RecoveryPlan")
          .schema["properties"]["spec"]["properties"]["groups"]["items"]["properties"];
  EXPECT_EQ(groups["postActions"]["items"], action);
  const Json& snapshot = Crds().at("Snapshot").schema["properties"]["spec"]["properties"];
  EXPECT_EQ(WithoutTopDescription(snapshot["source"]), WithoutTopDescription(volumes["items"]));
}

TEST(ExamplesTest, EveryExamplePassesItsCrdAndEveryKindIsUsed) {
  ASSERT_EQ(Schemas().size(), LifeboatKinds().size());
  auto files = YamlFiles(testing::SourceDir() / "examples");
  ASSERT_FALSE(files.empty());
  std::set<std::string> kinds;
  for (const auto& file : files) {
    auto docs = LoadYamlFile(file);
    ASSERT_TRUE(docs.ok()) << docs.status();
    for (const Json& doc : *docs) {
      std::string kind = StringField(doc, "kind");
      std::string name = doc.contains("metadata") ? StringField(doc.at("metadata"), "name") : "";
      if (StringField(doc, "apiVersion") == "v1") {
        continue;  // Namespace, Secret: core kinds, not ours
      }
      kinds.insert(kind);
      for (const api::FieldError& e : ValidateWithCrd(Schemas(), doc)) {
        ADD_FAILURE() << file.filename() << ": " << kind << "/" << name << ": " << e.ToString();
      }
    }
  }
  for (const std::string& kind : LifeboatKinds()) {
    EXPECT_TRUE(kinds.contains(kind)) << "no example uses " << kind;
  }
}

// Every path to a value inside `j` ("" is the root), as JSON pointers.
void CollectPointers(const Json& j, const std::string& prefix, std::vector<std::string>& out) {
  out.push_back(prefix);
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      CollectPointers(value, prefix + "/" + key, out);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      CollectPointers(j[i], prefix + "/" + std::to_string(i), out);
    }
  }
}

Json RandomValue(std::mt19937& random) {
  switch (random() % 9) {
    case 0:
      return nullptr;
    case 1:
      return -1;
    case 2:
      return 1.5;
    case 3:
      return "x";
    case 4:
      return true;
    case 5:
      return Json::object({{"unexpected", 1}});
    case 6:
      return Json::array({1, "a", nullptr});
    case 7:
      return std::string(5000, '9');
    default: {
      Json deep = "leaf";
      for (int i = 0; i < 200; ++i) {
        deep = Json::object({{"d", deep}});
      }
      return deep;
    }
  }
}

// Seeded mutations of every example (a value replaced by one of another type, a deep tree, a
// long string, or removed): defaulting, validation and pruning never throw, pruning leaves no
// undeclared field behind, and defaulting twice changes nothing more.
TEST(ExamplesTest, MutatedExamplesNeverBreakTheValidator) {
  std::mt19937 random(7);
  int mutated = 0;
  for (const auto& file : YamlFiles(testing::SourceDir() / "examples")) {
    auto docs = LoadYamlFile(file);
    ASSERT_TRUE(docs.ok()) << docs.status();
    for (const Json& doc : *docs) {
      auto schema = Schemas().find(StringField(doc, "kind"));
      if (schema == Schemas().end()) {
        continue;
      }
      std::vector<std::string> pointers;
      CollectPointers(doc, "", pointers);
      for (int round = 0; round < 200; ++round) {
        Json object = doc;
        for (int edits = 1 + static_cast<int>(random() % 3); edits > 0; --edits) {
          std::vector<std::string> now;
          CollectPointers(object, "", now);
          const std::string& where = now[random() % now.size()];
          if (where.empty()) {
            continue;
          }
          Json::json_pointer pointer(where);
          Json& parent = object[pointer.parent_pointer()];
          if (random() % 4 == 0 && parent.is_object()) {
            parent.erase(pointer.back());
          } else if (random() % 4 == 0 && parent.is_array()) {
            parent.erase(static_cast<size_t>(std::stoul(pointer.back())));
          } else {
            object[pointer] = RandomValue(random);
          }
        }
        ++mutated;
        ASSERT_NO_THROW({
          Json defaulted = object;
          schema->second.ApplyDefaults(defaulted);
          Json twice = defaulted;
          schema->second.ApplyDefaults(twice);
          EXPECT_EQ(twice, defaulted);
          (void)schema->second.Validate(defaulted);
          schema->second.Prune(defaulted);
          for (const api::FieldError& e : schema->second.Validate(defaulted)) {
            EXPECT_NE(e.message, "field not declared in schema") << e.ToString();
          }
          (void)api::openapi::ToOpenApiV2(object);
        }) << file.filename()
           << " mutated: " << object.dump().substr(0, 300);
      }
    }
  }
  EXPECT_GT(mutated, 1000);
}

}  // namespace
}  // namespace lifeboat::crdtest
