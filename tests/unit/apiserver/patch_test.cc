#include "apiserver/patch.h"

#include <gtest/gtest.h>

namespace lifeboat::apiserver {
namespace {

const Json kOriginal = Json::parse(R"({
  "metadata": {"name": "s", "labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]},
  "data": {"k1": "djE=", "k2": "djI="},
  "spec": {"list": [1, 2, 3], "keep": true}
})");

TEST(PatchTest, MergePatch) {
  auto r = ApplyPatch(kOriginal, PatchType::kMerge,
                      R"({"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"list":[9]}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["metadata"]["labels"], Json::parse(R"({"b":"2","c":"3"})"));
  EXPECT_EQ((*r)["spec"]["list"], Json::parse("[9]"));
  EXPECT_EQ((*r)["spec"]["keep"], true);
}

TEST(PatchTest, JsonPatch) {
  auto r = ApplyPatch(kOriginal, PatchType::kJson,
                      R"([{"op":"test","path":"/spec/keep","value":true},
                          {"op":"remove","path":"/metadata/finalizers/0"},
                          {"op":"add","path":"/spec/list/-","value":4}])");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["metadata"]["finalizers"], Json::parse(R"(["y"])"));
  EXPECT_EQ((*r)["spec"]["list"], Json::parse("[1,2,3,4]"));
  auto failed = ApplyPatch(kOriginal, PatchType::kJson,
                           R"([{"op":"test","path":"/spec/keep","value":false}])");
  EXPECT_FALSE(failed.ok());
  EXPECT_FALSE(ApplyPatch(kOriginal, PatchType::kJson, R"({"op":"add"})").ok());
}

TEST(PatchTest, StrategicMergeDirectives) {
  auto r = ApplyPatch(kOriginal, PatchType::kStrategicMerge,
                      R"({"$setElementOrder/finalizers":["y"],
                          "metadata":{"$deleteFromPrimitiveList/finalizers":["x"],
                                      "labels":{"a":null}},
                          "data":{"k3":"djM="},
                          "spec":{"$patch":"replace","list":[7]}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["metadata"]["finalizers"], Json::parse(R"(["y"])"));
  EXPECT_EQ((*r)["metadata"]["labels"], Json::parse(R"({"b":"2"})"));
  EXPECT_EQ((*r)["data"].size(), 3u);
  EXPECT_EQ((*r)["spec"], Json::parse(R"({"list":[7]})"));
  EXPECT_FALSE(r->contains("$setElementOrder/finalizers"));
}

TEST(PatchTest, ContentTypesAndErrors) {
  EXPECT_EQ(*PatchTypeFromContentType("application/merge-patch+json; charset=utf-8"),
            PatchType::kMerge);
  EXPECT_EQ(*PatchTypeFromContentType("application/json-patch+json"), PatchType::kJson);
  EXPECT_EQ(*PatchTypeFromContentType("application/strategic-merge-patch+json"),
            PatchType::kStrategicMerge);
  EXPECT_FALSE(PatchTypeFromContentType("text/plain").ok());
  EXPECT_FALSE(ApplyPatch(kOriginal, PatchType::kMerge, "{not json").ok());
}

}  // namespace
}  // namespace lifeboat::apiserver
