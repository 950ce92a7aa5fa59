#include "apiserver/selector.h"

#include <gtest/gtest.h>

namespace lifeboat::apiserver {
namespace {

Labels L(std::initializer_list<std::pair<std::string, std::string>> l) {
  Labels labels(l);
  std::sort(labels.begin(), labels.end());
  return labels;
}

bool Match(const std::string& selector, const Labels& labels) {
  auto s = LabelSelector::Parse(selector);
  EXPECT_TRUE(s.ok()) << selector << ": " << s.status();
  return s.ok() && s->Matches(labels);
}

TEST(LabelSelectorTest, Operators) {
  Labels web = L({{"app", "web"}, {"tier", "front"}});
  EXPECT_TRUE(Match("", web));
  EXPECT_TRUE(Match("app=web", web));
  EXPECT_TRUE(Match("app==web", web));
  EXPECT_FALSE(Match("app!=web", web));
  EXPECT_TRUE(Match("app!=db", web));
  EXPECT_TRUE(Match("missing!=x", web));
  EXPECT_TRUE(Match("app in (db, web)", web));
  EXPECT_FALSE(Match("app notin (db,web)", web));
  EXPECT_TRUE(Match("tier", web));
  EXPECT_FALSE(Match("!tier", web));
  EXPECT_TRUE(Match("!legacy", web));
  EXPECT_TRUE(Match("app=web,tier in (front),!legacy", web));
  EXPECT_FALSE(Match("app=web,tier=back", web));
}

TEST(LabelSelectorTest, BadSelectorsNameTheTerm) {
  auto s = LabelSelector::Parse("app in (a,b");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("parentheses"), std::string::npos);
  auto t = LabelSelector::Parse("app between (a)");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("between"), std::string::npos);
  EXPECT_FALSE(LabelSelector::Parse("app=a b").ok());
}

TEST(FieldSelectorTest, NameAndNamespace) {
  auto s = FieldSelector::Parse("metadata.name=x,metadata.namespace!=kube-system");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Matches("default", "x"));
  EXPECT_FALSE(s->Matches("kube-system", "x"));
  EXPECT_FALSE(s->Matches("default", "y"));
  EXPECT_EQ(s->RequiredName(), "x");
  auto bad = FieldSelector::Parse("spec.foo=1");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("spec.foo"), std::string::npos);
}

TEST(FieldSelectorTest, AKindsSelectableFieldsReadTheObject) {
  const std::vector<std::string> selectable = {"involvedObject.name", "involvedObject.kind",
                                               "count"};
  auto s =
      FieldSelector::Parse("involvedObject.name=db,involvedObject.kind!=Pod,count=2", selectable);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->NeedsObject());
  Json event = {{"involvedObject", {{"name", "db"}, {"kind", "Vault"}}}, {"count", 2}};
  EXPECT_TRUE(s->Matches("prod", "db.1", &event));
  event["involvedObject"]["kind"] = "Pod";
  EXPECT_FALSE(s->Matches("prod", "db.1", &event));
  // A missing field reads as "": it matches "field=" and never "field=value".
  auto empty = FieldSelector::Parse("involvedObject.name=", selectable);
  ASSERT_TRUE(empty.ok());
  Json bare = Json::object();
  EXPECT_TRUE(empty->Matches("prod", "x", &bare));
  EXPECT_FALSE(s->Matches("prod", "x", &bare));
  EXPECT_FALSE(FieldSelector::Parse("metadata.name=x")->NeedsObject());
  auto unknown = FieldSelector::Parse("involvedObject.uid=1", selectable);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "field label not supported: involvedObject.uid");
}

}  // namespace
}  // namespace lifeboat::apiserver
