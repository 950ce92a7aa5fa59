#include "apiserver/apply.h"

#include <gtest/gtest.h>

namespace lifeboat::apiserver {
namespace {

// A kind with a map-list (volumes keyed by name), an atomic list (tags), a set (zones) and an
// atomic map (selector), plus a status subresource.
const Json kSchema = Json::parse(R"({
  "type": "object",
  "properties": {
    "spec": {"type": "object", "properties": {
      "rpo": {"type": "string"},
      "suspend": {"type": "boolean"},
      "tags": {"type": "array", "items": {"type": "string"}},
      "zones": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
      "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                   "additionalProperties": {"type": "string"}},
      "volumes": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "path": {"type": "string"},
                    "readOnly": {"type": "boolean"}}}}}},
    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
  }
})");

FieldManagerOptions As(const std::string& manager, bool force = false) {
  FieldManagerOptions o;
  o.manager = manager;
  o.api_version = "example.dev/v1";
  o.now = "2026-12-04T18:00:00Z";
  o.force = force;
  o.status_subresource = true;
  return o;
}

Json Object(const Json& spec) {
  return {{"apiVersion", "example.dev/v1"},
          {"kind", "Policy"},
          {"metadata", {{"name", "db"}, {"namespace", "prod"}}},
          {"spec", spec}};
}

Json Apply(const Json* live, const Json& config, const FieldManagerOptions& o) {
  auto r = ServerSideApply(live, config, &kSchema, o);
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->conflicts.empty()) << ConflictMessage(r->conflicts);
  return r->object;
}

const Json& Entry(const Json& object, const std::string& manager, const std::string& op) {
  static const Json kNone;
  for (const Json& e : object["metadata"]["managedFields"]) {
    if (e["manager"] == manager && e["operation"] == op) {
      return e;
    }
  }
  ADD_FAILURE() << "no " << op << " entry for " << manager << " in " << object.dump();
  return kNone;
}

TEST(ServerSideApplyTest, CreateRecordsTheAppliedFieldsInFieldsV1) {
  Json config = Object(
      {{"rpo", "1h"}, {"volumes", {{{"name", "data"}, {"path", "/srv/data"}}}}, {"zones", {"a"}}});
  config["metadata"]["labels"] = {{"app", "db"}};
  config["status"] = {{"ignored", true}};  // status goes through the status subresource
  Json created = Apply(nullptr, config, As("gitops"));
  EXPECT_FALSE(created.contains("status"));
  EXPECT_EQ(created["spec"], config["spec"]);
  const Json& e = Entry(created, "gitops", "Apply");
  EXPECT_EQ(e["apiVersion"], "example.dev/v1");
  EXPECT_EQ(e["fieldsType"], "FieldsV1");
  EXPECT_EQ(e["time"], "2026-12-04T18:00:00Z");
  EXPECT_EQ(e["fieldsV1"], Json::parse(R"({
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {"f:rpo": {}, "f:zones": {"v:\"a\"": {}},
               "f:volumes": {"k:{\"name\":\"data\"}": {".": {}, "f:name": {}, "f:path": {}}}}
  })"));
}

TEST(ServerSideApplyTest, ReapplyingRemovesWhatTheManagerNoLongerSets) {
  Json first = Object(
      {{"rpo", "1h"},
       {"suspend", false},
       {"volumes", {{{"name", "data"}, {"path", "/a"}}, {{"name", "logs"}, {"path", "/b"}}}}});
  Json live = Apply(nullptr, first, As("gitops"));
  Json second = Object({{"rpo", "2h"}, {"volumes", {{{"name", "data"}, {"path", "/a"}}}}});
  Json next = Apply(&live, second, As("gitops"));
  EXPECT_EQ(next["spec"],
            Json::parse(R"({"rpo": "2h", "volumes": [{"name": "data", "path": "/a"}]})"));
  EXPECT_EQ(next["metadata"]["managedFields"].size(), 1u);
}

TEST(ServerSideApplyTest, AnotherManagersChangeConflictsUntilForced) {
  Json live = Apply(nullptr, Object({{"rpo", "1h"}, {"suspend", false}}), As("gitops"));
  // Someone edits rpo by hand (kubectl edit): the field moves to them.
  Json edited = live;
  edited["spec"]["rpo"] = "4h";
  auto tracked = TrackUpdate(live, edited, &kSchema, As("kubectl-edit"));
  ASSERT_TRUE(tracked.ok()) << tracked.status();
  EXPECT_EQ(Entry(*tracked, "kubectl-edit", "Update")["fieldsV1"],
            Json::parse(R"({"f:spec": {"f:rpo": {}}})"));
  EXPECT_EQ(Entry(*tracked, "gitops", "Apply")["fieldsV1"],
            Json::parse(R"({"f:spec": {"f:suspend": {}}})"));

  // Applying the old value now conflicts, naming the field and its owner.
  auto refused = ServerSideApply(&*tracked, Object({{"rpo", "1h"}, {"suspend", false}}), &kSchema,
                                 As("gitops"));
  ASSERT_TRUE(refused.ok());
  ASSERT_EQ(refused->conflicts.size(), 1u);
  EXPECT_EQ(refused->conflicts[0].manager, "kubectl-edit");
  EXPECT_EQ(refused->conflicts[0].field, ".spec.rpo");
  EXPECT_EQ(ConflictMessage(refused->conflicts),
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using example.dev/v1: "
            ".spec.rpo");
  // The same value is no conflict: both own the field.
  Json agreed = Apply(&*tracked, Object({{"rpo", "4h"}, {"suspend", false}}), As("gitops"));
  EXPECT_EQ(Entry(agreed, "kubectl-edit", "Update")["fieldsV1"],
            Json::parse(R"({"f:spec": {"f:rpo": {}}})"));
  // Forcing takes the field over.
  Json forced = Apply(&*tracked, Object({{"rpo", "1h"}, {"suspend", false}}), As("gitops", true));
  EXPECT_EQ(forced["spec"]["rpo"], "1h");
  for (const Json& e : forced["metadata"]["managedFields"]) {
    EXPECT_NE(e["manager"], "kubectl-edit") << forced.dump();
  }
}

TEST(ServerSideApplyTest, SharedFieldsStayWhenOneManagerDropsThem) {
  Json live = Apply(nullptr, Object({{"rpo", "1h"}, {"suspend", true}}), As("a"));
  live = Apply(&live, Object({{"suspend", true}}), As("b"));
  Json next = Apply(&live, Object({{"rpo", "1h"}}), As("a"));  // a no longer sets suspend
  EXPECT_EQ(next["spec"]["suspend"], true) << "b still owns it";
  next = Apply(&next, Object(Json::object()), As("b"));
  EXPECT_FALSE(next["spec"].contains("suspend")) << next.dump();
  EXPECT_EQ(next["spec"]["rpo"], "1h");
}

TEST(ServerSideApplyTest, ObjectsWithoutManagedFieldsBelongToBeforeFirstApply) {
  Json live = Object({{"rpo", "1h"}, {"tags", {"x"}}});
  live["metadata"]["resourceVersion"] = "7";
  auto refused = ServerSideApply(&live, Object({{"rpo", "2h"}}), &kSchema, As("gitops"));
  ASSERT_TRUE(refused.ok());
  ASSERT_EQ(refused->conflicts.size(), 1u);
  EXPECT_EQ(refused->conflicts[0].manager, "before-first-apply");
  Json same = Apply(&live, Object({{"rpo", "1h"}}), As("gitops"));
  EXPECT_EQ(same["spec"]["tags"], Json::array({"x"}));
  EXPECT_EQ(Entry(same, "before-first-apply", "Update")["fieldsV1"],
            Json::parse(R"({"f:spec": {"f:rpo": {}, "f:tags": {}}})"));
}

TEST(ServerSideApplyTest, ListsAndMapsFollowTheSchema) {
  Json live = Apply(nullptr,
                    Object({{"tags", {"a", "b"}},
                            {"zones", {"z1"}},
                            {"selector", {{"app", "db"}}},
                            {"volumes", {{{"name", "data"}, {"path", "/a"}}}}}),
                    As("one"));
  live["metadata"]["labels"] = {{"team", "x"}};
  Json next = Apply(&live,
                    Object({{"tags", {"c"}},
                            {"zones", {"z2"}},
                            {"selector", {{"tier", "1"}}},
                            {"volumes", {{{"name", "logs"}, {"path", "/b"}}}}}),
                    As("two", true));
  EXPECT_EQ(next["spec"]["tags"], Json::array({"c"})) << "atomic: replaced";
  EXPECT_EQ(next["spec"]["zones"], Json::array({"z1", "z2"})) << "set: merged";
  EXPECT_EQ(next["spec"]["selector"], Json({{"tier", "1"}})) << "atomic map: replaced";
  EXPECT_EQ(next["spec"]["volumes"],
            Json::parse(R"([{"name": "data", "path": "/a"}, {"name": "logs", "path": "/b"}])"))
      << "map-list: merged by key";
  EXPECT_EQ(next["metadata"]["labels"], Json({{"team", "x"}}));
  // A map-list item's own fields merge too.
  next = Apply(&next, Object({{"volumes", {{{"name", "data"}, {"readOnly", true}}}}}), As("three"));
  EXPECT_EQ(next["spec"]["volumes"][0],
            Json::parse(R"({"name": "data", "path": "/a", "readOnly": true})"));
}

TEST(ServerSideApplyTest, StatusIsTrackedApartFromTheMainResource) {
  Json live = Apply(nullptr, Object({{"rpo", "1h"}}), As("gitops"));
  FieldManagerOptions status = As("controller");
  status.to_status = true;
  Json config = Object(Json::object());
  config.erase("spec");
  config["status"] = {{"phase", "Ready"}};
  Json next = Apply(&live, config, status);
  EXPECT_EQ(next["status"]["phase"], "Ready");
  EXPECT_EQ(next["spec"]["rpo"], "1h") << "a status apply leaves the spec alone";
  const Json& e = Entry(next, "controller", "Apply");
  EXPECT_EQ(e["subresource"], "status");
  EXPECT_EQ(e["fieldsV1"], Json::parse(R"({"f:status": {"f:phase": {}}})"));
  EXPECT_FALSE(Entry(next, "gitops", "Apply").contains("subresource"));
}

TEST(ServerSideApplyTest, WritersMaySetOrClearManagedFieldsButNotBreakThem) {
  Json live = Apply(nullptr, Object({{"rpo", "1h"}}), As("gitops"));
  Json cleared = live;
  cleared["metadata"]["managedFields"] = Json::array();
  auto r = TrackUpdate(live, cleared, &kSchema, As("someone"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)["metadata"].contains("managedFields"));

  Json broken = live;
  broken["metadata"]["managedFields"] = {{{"manager", "x"}, {"operation", "Delete"}}};
  auto refused = TrackUpdate(live, broken, &kSchema, As("someone"));
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("metadata.managedFields[0].operation"),
            std::string::npos)
      << refused.status();

  // Without managedFields (never applied) an update stays untracked.
  Json plain = Object({{"rpo", "1h"}});
  Json changed = plain;
  changed["spec"]["rpo"] = "2h";
  auto untracked = TrackUpdate(plain, changed, &kSchema, As("someone"));
  ASSERT_TRUE(untracked.ok());
  EXPECT_FALSE((*untracked)["metadata"].contains("managedFields"));
}

}  // namespace
}  // namespace lifeboat::apiserver
