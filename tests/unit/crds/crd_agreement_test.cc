// The CRD schemas (crds/) and the C++ validation (api::ValidateObject) agree on the corpus
// under tests/corpus/ and on the examples: both accept every good manifest, both reject every bad
// one - except the bad ones listed in SchemaGaps(), which break rules an OpenAPI schema cannot
// express. Those stay listed so the gap is visible (and the test fails if one is closed).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "api/manifest.h"
#include "api/openapi/schema.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/crds/crd_loader.h"

namespace lifeboat::crdtest {
namespace {

using api::openapi::Schema;

// Bad corpus files the schema accepts, and why only the C++ validation can reject them.
const std::map<std::string, std::string>& SchemaGaps() {
  static const std::map<std::string, std::string> kGaps = {
      {"bp-missing-name.yaml",
       "metadata.name (or generateName) is required by the API server's ObjectMeta validation"},
      {"bp-bad-namespace.yaml", "metadata.namespace is checked by ObjectMeta validation"},
      {"bp-bad-label-value.yaml", "labels are checked by ObjectMeta validation"},
      {"core-secret-bad-name.yaml", "a core Secret: built-in validation, no CRD involved"},
      {"bp-cron-backwards-range.yaml", "cron semantics (range order) need a cron parser"},
      {"bp-cron-never-fires.yaml", "whether a cron expression ever fires needs a calendar"},
      {"bp-unknown-time-zone.yaml", "IANA zone names need the time zone database"},
      {"rplan-policy-in-two-groups.yaml", "uniqueness across the items of different lists"},
      {"vault-chunking-order.yaml", "minSize <= avgSize <= maxSize compares parsed quantities"},
      {"vault-fractional-bytes.yaml",
       "whether a quantity is a whole number of bytes depends on "
       "its value (1.5Ki is, 0.5 is not)"},
  };
  return kGaps;
}

const std::map<std::string, Schema>& Schemas() {
  static const std::map<std::string, Schema> kSchemas = [] {
    std::map<std::string, Schema> schemas;
    auto crds = LoadCrds(testing::SourceDir() / "crds");
    if (!crds.ok()) {
      ADD_FAILURE() << crds.status();
      return schemas;
    }
    for (const auto& [kind, crd] : *crds) {
      auto schema = Schema::Compile(crd.schema);
      if (!schema.ok()) {
        ADD_FAILURE() << crd.file << ": " << schema.status();
        continue;
      }
      schemas.emplace(kind, std::move(schema).value());
    }
    return schemas;
  }();
  return kSchemas;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct Verdicts {
  std::vector<std::string> schema_errors;  // "Kind/name: path: message"
  std::vector<std::string> cpp_errors;
  std::vector<std::string> schema_paths;  // the field paths the schema complained about
};

// The field path of a bad file's first line, "# expect: spec.rpo: invalid duration ...", or ""
// when the expectation does not start with one.
std::string ExpectedPath(const std::string& text) {
  static const std::regex kExpect(
      R"(^# expect: ((spec|metadata|status|apiVersion|kind)[A-Za-z0-9_.\[\]-]*): )");
  std::smatch m;
  std::string first_line = text.substr(0, text.find('\n'));
  return std::regex_search(first_line, m, kExpect) ? m[1].str() : "";
}

// One path names the other or an ancestor of it: spec.volumes[1] and spec.volumes[1].name.
bool SameField(const std::string& a, const std::string& b) {
  const std::string& shorter = a.size() <= b.size() ? a : b;
  const std::string& longer = a.size() <= b.size() ? b : a;
  return longer.compare(0, shorter.size(), shorter) == 0 &&
         (longer.size() == shorter.size() || longer[shorter.size()] == '.' ||
          longer[shorter.size()] == '[');
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) {
    out += "\n    " + line;
  }
  return out.empty() ? " (none)" : out;
}

// Both validators over every document of `file`. Core objects (apiVersion v1) only go through
// the C++ validation: the API server validates them itself, not through a CRD.
StatusOr<Verdicts> Judge(const std::filesystem::path& file) {
  ASSIGN_OR_RETURN(std::vector<api::Document> docs,
                   api::ParseManifests(ReadFile(file), file.filename().string()));
  Verdicts verdicts;
  for (const api::Document& doc : docs) {
    const Json& object = doc.object;
    std::string who = StringField(object, "kind") + "/";
    if (object.is_object() && object.contains("metadata")) {
      who += StringField(object.at("metadata"), "name");
    }
    for (const api::FieldError& e : api::ValidateObject(object)) {
      verdicts.cpp_errors.push_back(who + ": " + e.ToString());
    }
    if (StringField(object, "apiVersion") == "v1") {
      continue;
    }
    for (const api::FieldError& e : ValidateWithCrd(Schemas(), object)) {
      verdicts.schema_errors.push_back(who + ": " + e.ToString());
      verdicts.schema_paths.push_back(e.path);
    }
  }
  if (docs.empty()) {
    verdicts.schema_errors.push_back("no document");
    verdicts.cpp_errors.push_back("no document");
  }
  return verdicts;
}

std::vector<std::filesystem::path> CorpusFiles(const std::string& which) {
  std::vector<std::filesystem::path> files;
  for (const auto& file : YamlFiles(testing::SourceDir() / "tests" / "corpus" / which)) {
    if (file.filename().string().rfind("malformed-", 0) != 0) {
      files.push_back(file);
    }
  }
  return files;
}

TEST(CrdAgreementTest, EveryCrdCompiles) { EXPECT_EQ(Schemas().size(), LifeboatKinds().size()); }

TEST(CrdAgreementTest, BothAcceptEveryGoodManifest) {
  auto files = CorpusFiles("good");
  ASSERT_FALSE(files.empty()) << "tests/corpus/good is empty";
  for (const auto& file : files) {
    auto verdicts = Judge(file);
    ASSERT_TRUE(verdicts.ok()) << verdicts.status();
    EXPECT_TRUE(verdicts->schema_errors.empty())
        << file.filename() << ": the CRD schema rejects it:" << Join(verdicts->schema_errors);
    EXPECT_TRUE(verdicts->cpp_errors.empty())
        << file.filename() << ": api::ValidateObject rejects it:" << Join(verdicts->cpp_errors);
  }
}

TEST(CrdAgreementTest, BothRejectEveryBadManifestExceptListedGaps) {
  auto files = CorpusFiles("bad");
  ASSERT_FALSE(files.empty()) << "tests/corpus/bad is empty";
  std::set<std::string> seen;
  int schema_rejected = 0;
  for (const auto& file : files) {
    std::string name = file.filename().string();
    seen.insert(name);
    auto verdicts = Judge(file);
    ASSERT_TRUE(verdicts.ok()) << verdicts.status();
    EXPECT_FALSE(verdicts->cpp_errors.empty()) << name << ": api::ValidateObject accepts it";
    auto gap = SchemaGaps().find(name);
    if (gap == SchemaGaps().end()) {
      EXPECT_FALSE(verdicts->schema_errors.empty())
          << name << ": the CRD schema accepts it; C++ says:" << Join(verdicts->cpp_errors)
          << "\n  Tighten crds/, or list it in SchemaGaps() with the reason.";
      schema_rejected += verdicts->schema_errors.empty() ? 0 : 1;
      // ... and for the reason the corpus names, not by accident elsewhere.
      std::string expected = ExpectedPath(ReadFile(file));
      if (!expected.empty() && !verdicts->schema_errors.empty()) {
        bool same = std::any_of(verdicts->schema_paths.begin(), verdicts->schema_paths.end(),
                                [&](const std::string& p) { return SameField(p, expected); });
        EXPECT_TRUE(same) << name << ": expected an error at " << expected
                          << ", the schema says:" << Join(verdicts->schema_errors);
      }
    } else {
      EXPECT_TRUE(verdicts->schema_errors.empty())
          << name << " is listed as a schema gap (" << gap->second
          << ") but the schema rejects it now:" << Join(verdicts->schema_errors)
          << "\n  Remove it from SchemaGaps().";
    }
  }
  for (const auto& [name, reason] : SchemaGaps()) {
    EXPECT_TRUE(seen.contains(name)) << "SchemaGaps() lists " << name << ", not in the corpus";
  }
  std::cout << "[ corpus   ] " << files.size() << " bad manifests: " << schema_rejected
            << " rejected by both, " << SchemaGaps().size() << " only by the C++ validation\n";
}

// An object with every field the schema declares, each with a value of the declared type.
Json Maximal(const Json& schema) {
  if (schema.contains("enum")) {
    return schema["enum"][0];
  }
  if (schema.value("x-kubernetes-int-or-string", false)) {
    return "1Mi";
  }
  std::string type = schema.value("type", "");
  if (type == "object") {
    Json out = Json::object();
    if (schema.contains("properties")) {
      for (const auto& [name, sub] : schema["properties"].items()) {
        out[name] = Maximal(sub);
      }
    } else if (schema.contains("additionalProperties") &&
               schema["additionalProperties"].is_object()) {
      out["key"] = Maximal(schema["additionalProperties"]);
    }
    return out;
  }
  if (type == "array") {
    return Json::array({Maximal(schema["items"])});
  }
  if (type == "integer") return 1;
  if (type == "number") return 1.5;
  if (type == "boolean") return true;
  if (schema.value("format", "") == "date-time") return "2026-01-02T15:04:05Z";
  return "x";
}

// Decoding errors (as opposed to semantic ones) mean the C++ type and the CRD disagree on shape.
bool IsShapeError(const api::FieldError& e) {
  for (const char* prefix :
       {"unknown field", "must be a string, got", "must be a boolean", "must be an integer, got",
        "must be a number, got", "must be an RFC 3339", "must be an object, got",
        "must be a list, got"}) {
    if (e.message.rfind(prefix, 0) == 0) {
      return true;
    }
  }
  return false;
}

TEST(CrdAgreementTest, EveryFieldOfEveryCrdDecodesInCpp) {
  auto crds = LoadCrds(testing::SourceDir() / "crds");
  ASSERT_TRUE(crds.ok()) << crds.status();
  for (const auto& [kind, crd] : *crds) {
    Json object = Maximal(crd.schema);
    object["apiVersion"] = "lifeboat.dev/v1alpha1";
    object["kind"] = kind;
    object["metadata"] = {{"name", "maximal"}, {"namespace", "default"}};
    for (const api::FieldError& e : api::ValidateObject(object)) {
      EXPECT_FALSE(IsShapeError(e)) << kind << ": the CRD declares a field the C++ type reads "
                                    << "differently: " << e.ToString();
    }
  }
}

// Where the two may disagree on a single-field change of an example, and why: the same rules
// SchemaGaps() lists for the corpus, matched on the changed field's JSON pointer.
struct KnownDisagreement {
  const char* pointer;  // regular expression over the JSON pointer of the changed field
  const char* reason;
};
const std::vector<KnownDisagreement>& KnownDisagreements() {
  static const std::vector<KnownDisagreement> kKnown = {
      {"^/metadata(/name)?$", "ObjectMeta validation (name required) is the API server's"},
      {"/timeZone$", "IANA zone names need the time zone database"},
      {"/(cron|schedule)$", "whether a cron expression ever fires needs a calendar"},
      {"/command/0$", "only the first item (the program) must be non-empty"},
      {"/bandwidthLimit$", "whether a quantity is a whole number of bytes depends on its value"},
      {"SecretRef/key$",
       "Secret keys are limited to 253 characters by Kubernetes; C++ does not "
       "check the length"},
  };
  return kKnown;
}

// Every field of every example set, one at a time, to values of every type and many shapes:
// the schema and the C++ validation accept or reject together, except for KnownDisagreements().
TEST(CrdAgreementTest, SingleFieldChangesOfExamplesAgree) {
  const std::vector<Json> values = {nullptr,
                                    -1,
                                    0,
                                    1,
                                    1.5,
                                    1e20,
                                    true,
                                    "",
                                    "x",
                                    "0s",
                                    "5m",
                                    "1Gi",
                                    "0.5",
                                    "/abs",
                                    "rel",
                                    "http://h",
                                    "https://h",
                                    "2026-01-02T15:04:05Z",
                                    "A B",
                                    "UPPER",
                                    "a.b",
                                    std::string(300, 'a'),
                                    "Latest",
                                    "* * * * *",
                                    "@daily",
                                    "0 0 31 2 *",
                                    "Application",
                                    Json::object(),
                                    Json::array(),
                                    Json::array({"a"}),
                                    100,
                                    600};
  int changes = 0;
  int known = 0;
  for (const auto& file : YamlFiles(testing::SourceDir() / "examples")) {
    auto docs = api::ParseManifests(ReadFile(file), file.filename().string());
    ASSERT_TRUE(docs.ok()) << docs.status();
    for (const api::Document& doc : *docs) {
      if (!Schemas().contains(StringField(doc.object, "kind"))) {
        continue;
      }
      std::vector<std::string> pointers;
      std::vector<std::pair<const Json*, std::string>> stack = {{&doc.object, ""}};
      while (!stack.empty()) {
        auto [node, prefix] = stack.back();
        stack.pop_back();
        pointers.push_back(prefix);
        if (node->is_object()) {
          for (const auto& [key, child] : node->items()) {
            stack.push_back({&child, prefix + "/" + key});
          }
        } else if (node->is_array()) {
          for (size_t i = 0; i < node->size(); ++i) {
            stack.push_back({&(*node)[i], prefix + "/" + std::to_string(i)});
          }
        }
      }
      for (const std::string& pointer : pointers) {
        if (pointer.empty() || pointer == "/apiVersion" || pointer == "/kind" ||
            pointer.rfind("/metadata/namespace", 0) == 0) {
          continue;
        }
        for (const Json& value : values) {
          Json object = doc.object;
          object[Json::json_pointer(pointer)] = value;
          ++changes;
          api::FieldErrors schema_errors = ValidateWithCrd(Schemas(), object);
          api::FieldErrors cpp_errors = api::ValidateObject(object);
          if (schema_errors.empty() == cpp_errors.empty()) {
            continue;
          }
          bool excused = std::any_of(KnownDisagreements().begin(), KnownDisagreements().end(),
                                     [&](const KnownDisagreement& k) {
                                       return std::regex_search(pointer, std::regex(k.pointer));
                                     });
          known += excused ? 1 : 0;
          EXPECT_TRUE(excused) << file.filename() << " " << pointer
                               << " := " << value.dump().substr(0, 60) << ": "
                               << (schema_errors.empty()
                                       ? "schema accepts, C++ says " + cpp_errors[0].ToString()
                                       : "C++ accepts, schema says " + schema_errors[0].ToString());
        }
      }
    }
  }
  EXPECT_GT(changes, 5000);
  std::cout << "[ changes  ] " << changes
            << " single-field changes of the examples: " << changes - known << " judged alike, "
            << known << " known disagreements\n";
}

TEST(CrdAgreementTest, BothAcceptEveryExample) {
  auto files = YamlFiles(testing::SourceDir() / "examples");
  ASSERT_FALSE(files.empty());
  for (const auto& file : files) {
    auto verdicts = Judge(file);
    ASSERT_TRUE(verdicts.ok()) << verdicts.status();
    EXPECT_TRUE(verdicts->schema_errors.empty())
        << file.filename() << ": the CRD schema rejects it:" << Join(verdicts->schema_errors);
    EXPECT_TRUE(verdicts->cpp_errors.empty())
        << file.filename() << ": api::ValidateObject rejects it:" << Join(verdicts->cpp_errors);
  }
}

}  // namespace
}  // namespace lifeboat::crdtest
