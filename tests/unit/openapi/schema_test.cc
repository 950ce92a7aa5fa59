#include "api/openapi/schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lifeboat::api::openapi {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Schema MustCompile(const Json& raw) {
  auto schema = Schema::Compile(raw);
  EXPECT_TRUE(schema.ok()) << schema.status();
  return std::move(schema).value();
}

std::vector<std::string> Messages(const FieldErrors& errors) {
  std::vector<std::string> out;
  for (const FieldError& e : errors) {
    out.push_back(e.ToString());
  }
  return out;
}

// A small BackupPolicy-like schema exercising most keywords.
Json PolicySchema() {
  return Json::parse(R"({
    "type": "object",
    "properties": {
      "metadata": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 20, "pattern": "^[a-z0-9-]+$"}}},
      "spec": {
        "type": "object",
        "required": ["vaultRef", "volumes"],
        "properties": {
          "vaultRef": {"type": "object", "required": ["name"],
                       "properties": {"name": {"type": "string", "minLength": 1}}},
          "volumes": {"type": "array", "minItems": 1, "maxItems": 3,
                      "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "required": ["name", "path"],
                                "properties": {"name": {"type": "string"},
                                               "path": {"type": "string", "pattern": "^/"}}}},
          "retention": {"type": "object", "properties": {
            "daily": {"type": "integer", "minimum": 0},
            "percent": {"type": "number", "minimum": 0, "maximum": 100, "exclusiveMaximum": true}}},
          "rpo": {"type": "string", "default": "24h", "pattern": "^([0-9]+(ms|s|m|h|d))+$"},
          "suspend": {"type": "boolean", "default": false},
          "mode": {"type": "string", "enum": ["A", "B"], "default": "A"},
          "when": {"type": "string", "format": "date-time"},
          "size": {"x-kubernetes-int-or-string": true},
          "labels": {"type": "object", "additionalProperties": {"type": "string"}},
          "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
          "note": {"type": "string", "nullable": true},
          "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
          "hook": {"type": "object",
                   "properties": {"exec": {"type": "object", "properties": {
                                    "command": {"type": "array", "items": {"type": "string"}}}},
                                  "http": {"type": "object", "properties": {
                                    "url": {"type": "string"},
                                    "method": {"type": "string", "default": "GET"}}}},
                   "oneOf": [{"required": ["exec"]}, {"required": ["http"]}]},
          "consistency": {"type": "object", "default": {},
                          "properties": {"type": {"type": "string", "default": "Crash"},
                                         "preHook": {"type": "string"}},
                          "anyOf": [{"properties": {"type": {"enum": ["Crash"]}}},
                                    {"required": ["preHook"]}]},
          "embedded": {"type": "object", "x-kubernetes-embedded-resource": true,
                       "properties": {"spec": {"type": "object"}}}
        }
      },
      "status": {"type": "object", "properties": {"count": {"type": "integer"}}}
    }
  })");
}

Json GoodPolicy() {
  return Json::parse(R"({
    "apiVersion": "lifeboat.dev/v1alpha1", "kind": "BackupPolicy",
    "metadata": {"name": "db", "namespace": "default", "labels": {"a": "b"}},
    "spec": {"vaultRef": {"name": "main"}, "volumes": [{"name": "app", "path": "/data"}]}
  })");
}

TEST(SchemaTest, AcceptsValidObject) {
  Schema schema = MustCompile(PolicySchema());
  EXPECT_THAT(Messages(schema.Validate(GoodPolicy())), IsEmpty());
}

TEST(SchemaTest, ReportsMinimumInKubernetesWording) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["retention"]["daily"] = -1;
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre("spec.retention.daily: Invalid value: -1: spec.retention.daily in body "
                          "should be greater than or equal to 0"));
}

TEST(SchemaTest, ReportsExclusiveMaximum) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["retention"]["percent"] = 100;
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre("spec.retention.percent: Invalid value: 100: spec.retention.percent in "
                          "body should be less than 100"));
  obj["spec"]["retention"]["percent"] = 99.5;
  EXPECT_THAT(schema.Validate(obj), IsEmpty());
}

TEST(SchemaTest, ReportsRequiredFields) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"].erase("vaultRef");
  obj["spec"]["volumes"][0].erase("path");
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre("spec.vaultRef: Required value", "spec.volumes[0].path: Required value"));
}

TEST(SchemaTest, ReportsUnsupportedEnumValue) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["mode"] = "x";
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre(R"(spec.mode: Unsupported value: "x": supported values: "A", "B")"));
}

TEST(SchemaTest, ReportsUnknownFieldsButAllowsImplicitResourceFields) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["bogus"] = 1;
  obj["spec"]["volumes"][0]["extra"] = true;
  obj["metadata"]["annotations"] = {{"x", "y"}};
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre("spec.bogus: field not declared in schema",
                          "spec.volumes[0].extra: field not declared in schema"));
}

TEST(SchemaTest, ChecksDeclaredMetadataFields) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["metadata"]["name"] = "Not_Valid";
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre("metadata.name: Invalid value: \"Not_Valid\": metadata.name in body "
                          "should match '^[a-z0-9-]+$'"));
}

TEST(SchemaTest, ReportsWrongTypes) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["retention"]["daily"] = "seven";
  obj["spec"]["suspend"] = "yes";
  obj["spec"]["volumes"] = Json::object();
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre("spec.retention.daily: Invalid value: \"string\": spec.retention.daily "
                          "in body must be of type integer: \"string\"",
                          "spec.suspend: Invalid value: \"string\": spec.suspend in body must be "
                          "of type boolean: \"string\"",
                          "spec.volumes: Invalid value: \"object\": spec.volumes in body must be "
                          "of type array: \"object\""));
}

TEST(SchemaTest, IntegerAcceptsIntegralFloatsOnly) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["retention"]["daily"] = 3.0;
  EXPECT_THAT(schema.Validate(obj), IsEmpty());
  obj["spec"]["retention"]["daily"] = 3.5;
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre(HasSubstr("must be of type integer: \"number\"")));
  obj["spec"]["retention"]["daily"] = 1e20;  // beyond 2^53: not exactly an integer
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre(HasSubstr("must be of type integer: \"number\"")));
  obj["spec"]["retention"]["daily"] = Json::parse("18446744073709551615");  // > int64
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre(HasSubstr("must be of type integer: \"number\"")));
}

TEST(SchemaTest, PatternAndLengths) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["rpo"] = "2x";
  obj["spec"]["vaultRef"]["name"] = "";
  obj["metadata"]["name"] = std::string(21, 'a');
  EXPECT_THAT(
      Messages(schema.Validate(obj)),
      ElementsAre("metadata.name: Too long: may not be more than 20 bytes",
                  "spec.rpo: Invalid value: \"2x\": spec.rpo in body should match "
                  "'^([0-9]+(ms|s|m|h|d))+$'",
                  "spec.vaultRef.name: Invalid value: \"\": spec.vaultRef.name in body should be "
                  "at least 1 chars long"));
}

TEST(SchemaTest, ItemCountsAndDuplicates) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["volumes"] = Json::array();
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre("spec.volumes: Invalid value: 0: spec.volumes in body should have at "
                          "least 1 items"));
  obj["spec"]["volumes"] = Json::parse(
      R"([{"name":"a","path":"/a"},{"name":"b","path":"/b"},{"name":"a","path":"/c"},
          {"name":"d","path":"/d"}])");
  obj["spec"]["tags"] = {"x", "y", "x"};
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre("spec.tags[2]: Duplicate value: \"x\"",
                          "spec.volumes: Too many: 4: must have at most 3 items",
                          R"(spec.volumes[2]: Duplicate value: {"name":"a"})"));
}

TEST(SchemaTest, DuplicateDetectionScalesToLongLists) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  Json tags = Json::array();
  for (int i = 0; i < 50000; ++i) {
    tags.push_back("tag-" + std::to_string(i));
  }
  tags.push_back("tag-7");
  obj["spec"]["tags"] = tags;
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre("spec.tags[50000]: Duplicate value: \"tag-7\""));
}

TEST(SchemaTest, DateTimeFormat) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  for (const char* good : {"2026-11-21T05:55:00Z", "2024-02-29T23:59:59.123+02:00"}) {
    obj["spec"]["when"] = good;
    EXPECT_THAT(schema.Validate(obj), IsEmpty()) << good;
  }
  for (const char* bad : {"yesterday", "2026-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2026-11-21T25:00:00Z", "2026-11-21 05:55"}) {
    obj["spec"]["when"] = bad;
    EXPECT_THAT(Messages(schema.Validate(obj)),
                ElementsAre(HasSubstr("spec.when in body must be of type date-time")))
        << bad;
  }
}

TEST(SchemaTest, IntOrString) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["size"] = 10;
  EXPECT_THAT(schema.Validate(obj), IsEmpty());
  obj["spec"]["size"] = "10Gi";
  EXPECT_THAT(schema.Validate(obj), IsEmpty());
  obj["spec"]["size"] = true;
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre(HasSubstr("must be of type integer-or-string: \"boolean\"")));
}

TEST(SchemaTest, AdditionalPropertiesSchemaNullableAndPreserveUnknown) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["labels"] = {{"a", "b"}, {"c", "d"}};
  obj["spec"]["note"] = nullptr;
  obj["spec"]["free"] = {{"anything", {{"goes", 1}}}};
  EXPECT_THAT(schema.Validate(obj), IsEmpty());
  obj["spec"]["labels"]["e"] = 5;
  obj["spec"]["suspend"] = nullptr;
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre(HasSubstr("spec.labels.e in body must be of type string"),
                          HasSubstr("spec.suspend in body must be of type boolean: \"null\"")));
}

TEST(SchemaTest, EmbeddedResourceAllowsTypeMeta) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["embedded"] = {{"apiVersion", "v1"},
                             {"kind", "Pod"},
                             {"metadata", {{"name", "p"}}},
                             {"spec", Json::object()}};
  EXPECT_THAT(schema.Validate(obj), IsEmpty());
  obj["spec"]["embedded"]["other"] = 1;
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre("spec.embedded.other: field not declared in schema"));
}

TEST(SchemaTest, OneOfExactlyOne) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["hook"] = {{"exec", {{"command", {"sync"}}}}};
  EXPECT_THAT(schema.Validate(obj), IsEmpty());
  obj["spec"]["hook"]["http"] = {{"url", "http://x"}};
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre("spec.hook: Invalid value: \"object\": spec.hook in body must validate "
                          "one and only one schema (oneOf). Found 2 valid alternatives"));
  obj["spec"]["hook"] = Json::object();
  EXPECT_THAT(Messages(schema.Validate(obj)), ElementsAre(HasSubstr("Found none valid")));
}

TEST(SchemaTest, AnyOfWithPropertyConditionAfterDefaults) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  schema.ApplyDefaults(obj);
  EXPECT_EQ(obj["spec"]["consistency"]["type"], "Crash");
  EXPECT_THAT(schema.Validate(obj), IsEmpty());
  obj["spec"]["consistency"]["type"] = "Application";
  EXPECT_THAT(Messages(schema.Validate(obj)),
              ElementsAre(HasSubstr("spec.consistency in body must validate at least one schema "
                                    "(anyOf)")));
  obj["spec"]["consistency"]["preHook"] = "sync";
  EXPECT_THAT(schema.Validate(obj), IsEmpty());
}

TEST(SchemaTest, ApplyDefaultsFillsAbsentAndNullFields) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["suspend"] = nullptr;
  obj["spec"]["note"] = nullptr;
  obj["spec"]["hook"] = {{"http", {{"url", "http://x"}}}};
  schema.ApplyDefaults(obj);
  EXPECT_EQ(obj["spec"]["rpo"], "24h");
  EXPECT_EQ(obj["spec"]["suspend"], false);
  EXPECT_EQ(obj["spec"]["mode"], "A");
  EXPECT_TRUE(obj["spec"]["note"].is_null());
  EXPECT_EQ(obj["spec"]["hook"]["http"]["method"], "GET");
  EXPECT_EQ(obj["spec"]["consistency"], Json::parse(R"({"type":"Crash"})"));
  EXPECT_FALSE(obj["spec"].contains("retention"));
  Json again = obj;
  schema.ApplyDefaults(again);
  EXPECT_EQ(again, obj);
}

TEST(SchemaTest, PruneRemovesUnknownFieldsOnly) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["bogus"] = 1;
  obj["spec"]["volumes"][0]["extra"] = true;
  obj["spec"]["free"] = {{"kept", 1}};
  obj["spec"]["labels"] = {{"kept", "too"}};
  obj["status"] = {{"count", 1}, {"junk", 2}};
  obj["metadata"]["annotations"] = {{"x", "y"}};
  obj["topLevel"] = 1;
  schema.Prune(obj);
  EXPECT_FALSE(obj["spec"].contains("bogus"));
  EXPECT_FALSE(obj["spec"]["volumes"][0].contains("extra"));
  EXPECT_FALSE(obj["status"].contains("junk"));
  EXPECT_FALSE(obj.contains("topLevel"));
  EXPECT_EQ(obj["spec"]["free"]["kept"], 1);
  EXPECT_EQ(obj["spec"]["labels"]["kept"], "too");
  EXPECT_EQ(obj["metadata"]["annotations"]["x"], "y");
  EXPECT_EQ(obj["apiVersion"], "lifeboat.dev/v1alpha1");
  EXPECT_THAT(schema.Validate(obj), IsEmpty());
}

struct BadSchemaCase {
  const char* schema;
  const char* error;
};

TEST(SchemaTest, CompileRejectsNonStructuralSchemasWithPath) {
  const BadSchemaCase cases[] = {
      {R"({"type":"object","properties":{"spec":{"properties":{}}}})",
       "openAPIV3Schema.properties[spec].type: Required value"},
      {R"({"type":"object","properties":{"a":{"type":"array"}}})",
       "openAPIV3Schema.properties[a].items: Required value"},
      {R"({"type":"object","properties":{"a":{"type":"strin"}}})",
       "openAPIV3Schema.properties[a].type: Unsupported value: \"strin\""},
      {R"({"type":"object","properties":{"a":{"type":"string","minimun":1}}})",
       "openAPIV3Schema.properties[a].minimun: Forbidden: unknown schema keyword"},
      {R"({"type":"object","properties":{"a":{"$ref":"#/x"}}})",
       "openAPIV3Schema.properties[a].$ref: Forbidden"},
      {R"({"type":"object","properties":{"a":{"type":"string","pattern":"(["}}})",
       "openAPIV3Schema.properties[a].pattern: Invalid value: \"([\""},
      {R"({"type":"object","properties":{"a":{"type":"integer","minimum":0,"default":-1}}})",
       "openAPIV3Schema.properties[a].default: Invalid value: -1"},
      {R"({"type":"object","properties":{"a":{"type":"object","oneOf":[{"type":"object"}]}}})",
       "openAPIV3Schema.properties[a].oneOf[0].type: Forbidden"},
      {R"({"type":"object","properties":{"a":{"type":"string","x-kubernetes-int-or-string":true}}})",
       "openAPIV3Schema.properties[a].type: Forbidden"},
      {R"({"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}},
           "additionalProperties":{"type":"string"}}}})",
       "openAPIV3Schema.properties[a].additionalProperties: Forbidden"},
      {R"({"type":"object","properties":{"metadata":{"type":"object","properties":{
           "labels":{"type":"object"}}}}})",
       "openAPIV3Schema.properties[metadata].properties[labels]: Forbidden"},
      {R"({"type":"array","items":{"type":"string"}})",
       "openAPIV3Schema.type: Unsupported value: \"array\""},
      {R"({"type":"object","properties":{"l":{"type":"array","x-kubernetes-list-type":"map",
           "x-kubernetes-list-map-keys":["name"],"items":{"type":"object","properties":{
           "name":{"type":"string"}}}}}})",
       "openAPIV3Schema.properties[l].x-kubernetes-list-map-keys: Invalid value: \"name\": must be "
       "required"},
  };
  for (const BadSchemaCase& c : cases) {
    auto schema = Schema::Compile(Json::parse(c.schema));
    ASSERT_FALSE(schema.ok()) << c.schema;
    EXPECT_EQ(schema.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(schema.status().message(), HasSubstr(c.error)) << c.schema;
  }
}

TEST(SchemaTest, CompileRefusesSchemasNestedTooDeeply) {
  Json schema = {{"type", "string"}};
  for (int i = 0; i < 150; ++i) {
    schema = {{"type", "object"}, {"properties", {{"a", schema}}}};
  }
  auto compiled = Schema::Compile(schema);
  ASSERT_FALSE(compiled.ok());
  EXPECT_THAT(compiled.status().message(), HasSubstr("Forbidden: schema nested deeper than 100"));
}

TEST(SchemaTest, LongStringsAgainstPatternsDoNotCrash) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["rpo"] = std::string(1 << 20, '1');
  obj["spec"]["volumes"][0]["path"] = "/" + std::string(1 << 20, 'x');
  FieldErrors errors = schema.Validate(obj);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].message,
              HasSubstr("spec.rpo in body should match '^([0-9]+(ms|s|m|h|d))+$'"));
  EXPECT_THAT(errors[0].message, HasSubstr("... (1048576 bytes)"));  // the value is cut
  EXPECT_LT(errors[0].message.size(), 400u);
}

TEST(SchemaTest, InvalidUtf8InValuesDoesNotThrow) {
  Schema schema = MustCompile(PolicySchema());
  Json obj = GoodPolicy();
  obj["spec"]["mode"] = std::string("\xff\xfe");
  obj["spec"]["when"] = std::string("\xc3");
  FieldErrors errors = schema.Validate(obj);
  EXPECT_EQ(errors.size(), 2u);
}

TEST(SchemaTest, CompileAcceptsPreserveUnknownWithoutType) {
  auto schema = Schema::Compile(Json::parse(
      R"({"type":"object","properties":{"x":{"x-kubernetes-preserve-unknown-fields":true}}})"));
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_THAT(schema->Validate(Json::parse(R"({"x":{"a":[1,"b",null]}})")), IsEmpty());
}

TEST(SchemaTest, AdditionalPropertiesFalse) {
  Schema schema = MustCompile(Json::parse(
      R"({"type":"object","properties":{"m":{"type":"object","additionalProperties":false}}})"));
  EXPECT_THAT(Messages(schema.Validate(Json::parse(R"({"m":{"k":1}})"))),
              ElementsAre("m.k: Forbidden: additional properties are not allowed"));
}

TEST(SchemaTest, CopiesShareTheCompiledForm) {
  Schema schema = MustCompile(PolicySchema());
  Schema copy = schema;
  Json obj = GoodPolicy();
  obj["spec"]["retention"]["daily"] = -1;
  EXPECT_EQ(copy.Validate(obj), schema.Validate(obj));
  EXPECT_EQ(copy.raw(), PolicySchema());
}

TEST(ToOpenApiV2Test, DropsWhatSwaggerCannotExpress) {
  Json v3 = Json::parse(R"({
    "type": "object", "description": "d", "required": ["spec"],
    "properties": {
      "spec": {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
               "properties": {
                 "a": {"type": "string", "nullable": true, "pattern": "^x"},
                 "b": {"type": "array", "items": {"type": "integer", "minimum": 0,
                       "anyOf": [{"maximum": 3}]}},
                 "q": {"x-kubernetes-int-or-string": true, "pattern": "^[0-9]+$"},
                 "m": {"type": "object", "additionalProperties": {"type": "string",
                       "not": {"enum": ["z"]}}},
                 "n": {"type": "object", "nullable": true, "properties": {"x": {"type": "string"}}}
               }}
    }
  })");
  Json v2 = ToOpenApiV2(v3);
  EXPECT_EQ(v2, Json::parse(R"({
    "type": "object", "description": "d", "required": ["spec"],
    "properties": {
      "spec": {"type": "object",
               "properties": {
                 "a": {"pattern": "^x"},
                 "b": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                 "q": {"x-kubernetes-int-or-string": true, "pattern": "^[0-9]+$"},
                 "m": {"type": "object", "additionalProperties": {"type": "string"}},
                 "n": {}
               }}
    }
  })"));
}

}  // namespace
}  // namespace lifeboat::api::openapi
