#include "apiserver/jsonpath.h"

#include <gtest/gtest.h>

namespace lifeboat::apiserver {
namespace {

const Json kObject = Json::parse(R"({
  "metadata": {"name": "db", "labels": {"app.kubernetes.io/name": "x"}},
  "spec": {"volumes": [{"name": "a"}, {"name": "b"}], "rpo": "5m"},
  "status": {"conditions": [
    {"type": "Synced", "status": "False"},
    {"type": "Ready", "status": "True", "observedGeneration": 3}]}
})");

std::vector<Json> Eval(const std::string& expr) {
  auto path = JsonPath::Parse(expr);
  EXPECT_TRUE(path.ok()) << expr << ": " << path.status();
  std::vector<Json> out;
  if (path.ok()) {
    for (const Json* v : path->Evaluate(kObject)) {
      out.push_back(*v);
    }
  }
  return out;
}

TEST(JsonPathTest, FieldsIndexesWildcards) {
  EXPECT_EQ(Eval(".spec.rpo"), std::vector<Json>{"5m"});
  EXPECT_EQ(Eval("{.spec.rpo}"), std::vector<Json>{"5m"});
  EXPECT_EQ(Eval("$.metadata.name"), std::vector<Json>{"db"});
  EXPECT_EQ(Eval(".spec.volumes[1].name"), std::vector<Json>{"b"});
  EXPECT_EQ(Eval(".spec.volumes[-1].name"), std::vector<Json>{"b"});
  EXPECT_EQ(Eval(".spec.volumes[*].name"), (std::vector<Json>{"a", "b"}));
  EXPECT_EQ(Eval(".metadata.labels['app.kubernetes.io/name']"), std::vector<Json>{"x"});
  EXPECT_TRUE(Eval(".spec.missing.deeper").empty());
}

TEST(JsonPathTest, Filters) {
  EXPECT_EQ(Eval(".status.conditions[?(@.type==\"Ready\")].status"), std::vector<Json>{"True"});
  EXPECT_EQ(Eval(".status.conditions[?(@.type=='Synced')].status"), std::vector<Json>{"False"});
  EXPECT_EQ(Eval(".status.conditions[?(@.type!=\"Ready\")].type"), std::vector<Json>{"Synced"});
  EXPECT_EQ(Eval(".status.conditions[?(@.observedGeneration == 3)].type"),
            std::vector<Json>{"Ready"});
  EXPECT_EQ(Eval(".status.conditions[?(@.observedGeneration)].type"), std::vector<Json>{"Ready"});
}

TEST(JsonPathTest, RejectsWhatItDoesNotSupport) {
  auto bad = JsonPath::Parse(".status.conditions[?(@.type==\"Ready\"");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("position"), std::string::npos);
  EXPECT_FALSE(JsonPath::Parse(".spec..rpo").ok());
  EXPECT_FALSE(JsonPath::Parse("spec").ok());
}

}  // namespace
}  // namespace lifeboat::apiserver
