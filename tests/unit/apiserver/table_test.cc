#include "apiserver/table.h"

#include <gtest/gtest.h>

namespace lifeboat::apiserver {
namespace {

const Json kCrd = Json::parse(R"({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.dev"},
  "spec": {"group": "example.dev", "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
              "shortNames": ["wd"], "categories": ["all"]},
    "versions": [{"name": "v1", "served": true, "storage": true,
      "subresources": {"status": {}},
      "additionalPrinterColumns": [
        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
})");

TEST(TableTest, HumanDurations) {
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  EXPECT_EQ(HumanDuration(seconds(45)), "45s");
  EXPECT_EQ(HumanDuration(seconds(310)), "5m10s");
  EXPECT_EQ(HumanDuration(minutes(42)), "42m");
  EXPECT_EQ(HumanDuration(hours(3)), "3h");
  EXPECT_EQ(HumanDuration(hours(3) + minutes(5)), "3h5m");
  EXPECT_EQ(HumanDuration(hours(50)), "2d2h");
  EXPECT_EQ(HumanDuration(hours(24 * 400)), "400d");
}

TEST(TableTest, RowsUsePrinterColumns) {
  CrdResources crd = ResourcesFromCrd(kCrd);
  ASSERT_TRUE(crd.errors.empty());
  ASSERT_EQ(crd.resources.size(), 1u);
  const Resource& r = crd.resources[0];
  EXPECT_TRUE(r.status_subresource);
  Json object = Json::parse(R"({"metadata": {"name": "w1", "creationTimestamp": "2026-01-01T00:00:00Z"},
      "spec": {"size": 3}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})");
  Clock::TimePoint now;
  ASSERT_TRUE(ParseRfc3339("2026-01-01T00:05:00Z", &now));
  Json row = TableRow(r, object, IncludeObject::kMetadata, now);
  EXPECT_EQ(row["cells"], Json::parse(R"(["w1", 3, "True", "5m"])"));
  EXPECT_EQ(row["object"]["kind"], "PartialObjectMetadata");
  Json table = MakeTable(r, Json::array({row}), "12", "");
  EXPECT_EQ(table["kind"], "Table");
  EXPECT_EQ(table["columnDefinitions"].size(), 4u);
  EXPECT_EQ(table["columnDefinitions"][1]["name"], "Size");
}

TEST(TableTest, InvalidCrdsNameTheField) {
  Json bad = kCrd;
  bad["spec"]["names"].erase("plural");
  CrdResources crd = ResourcesFromCrd(bad);
  ASSERT_FALSE(crd.errors.empty());
  EXPECT_EQ(crd.errors[0].path, "spec.names.plural");
  Json bad_path = kCrd;
  bad_path["spec"]["versions"][0]["additionalPrinterColumns"][0]["jsonPath"] = ".spec[";
  crd = ResourcesFromCrd(bad_path);
  ASSERT_FALSE(crd.errors.empty());
  EXPECT_EQ(crd.errors[0].path, "spec.versions[0].additionalPrinterColumns[0].jsonPath");
}

}  // namespace
}  // namespace lifeboat::apiserver
