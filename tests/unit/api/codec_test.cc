#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/kinds.h"
#include "api/manifest.h"
#include "tests/unit/api/test_files.h"

namespace lifeboat::api {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

template <typename T>
void ExpectRoundTrip(const Json& object, const std::string& where) {
  T typed;
  FieldErrors errors = FromJson(object, &typed);
  ASSERT_THAT(errors, IsEmpty()) << where;
  Json back = ToJson(typed);
  EXPECT_EQ(back, object) << where << "\n  in:  " << object.dump() << "\n  out: " << back.dump();
  T again;
  ASSERT_THAT(FromJson(back, &again), IsEmpty()) << where;
  EXPECT_EQ(again, typed) << where;
}

// Decodes then encodes every Lifeboat object of the good corpus and the examples.
TEST(CodecTest, RoundTripsEveryGoodManifestAndExample) {
  int objects = 0;
  std::vector<std::filesystem::path> files = ManifestFiles(CorpusDir("good"));
  for (const auto& f : ManifestFiles(testing::SourceDir() / "examples")) {
    files.push_back(f);
  }
  for (const auto& file : files) {
    auto docs = ParseManifests(ReadFile(file), file.string());
    ASSERT_TRUE(docs.ok()) << docs.status();
    for (const Document& doc : *docs) {
      const std::string kind = doc.object.value("kind", "");
      std::string where = file.filename().string() + ":" + std::to_string(doc.line);
      if (doc.object.value("apiVersion", "") != kApiVersion) {
        continue;
      }
      ++objects;
      if (kind == "Vault") {
        ExpectRoundTrip<Vault>(doc.object, where);
      } else if (kind == "BackupPolicy") {
        ExpectRoundTrip<BackupPolicy>(doc.object, where);
      } else if (kind == "RecoveryPoint") {
        ExpectRoundTrip<RecoveryPoint>(doc.object, where);
      } else if (kind == "Restore") {
        ExpectRoundTrip<Restore>(doc.object, where);
      } else if (kind == "Snapshot") {
        ExpectRoundTrip<Snapshot>(doc.object, where);
      } else if (kind == "Site") {
        ExpectRoundTrip<Site>(doc.object, where);
      } else if (kind == "ReplicationPolicy") {
        ExpectRoundTrip<ReplicationPolicy>(doc.object, where);
      } else if (kind == "RecoveryPlan") {
        ExpectRoundTrip<RecoveryPlan>(doc.object, where);
      } else if (kind == "Failover") {
        ExpectRoundTrip<Failover>(doc.object, where);
      } else {
        ADD_FAILURE() << where << ": unexpected kind " << kind;
      }
    }
  }
  EXPECT_GE(objects, 20);
}

Json MinimalPolicy() {
  return Json::parse(R"({
    "apiVersion": "lifeboat.dev/v1alpha1", "kind": "BackupPolicy",
    "metadata": {"name": "db", "namespace": "prod"},
    "spec": {"vaultRef": {"name": "main"},
             "volumes": [{"name": "data", "path": "/data"}],
             "schedule": {"cron": "@daily"}}})");
}

TEST(CodecTest, DecodesIntoTypedFieldsWithAbsentOptionals) {
  BackupPolicy policy;
  ASSERT_THAT(FromJson(MinimalPolicy(), &policy), IsEmpty());
  EXPECT_EQ(policy.metadata.name, "db");
  EXPECT_EQ(policy.metadata.namespace_, "prod");
  EXPECT_EQ(policy.spec.vault_ref.name, "main");
  ASSERT_EQ(policy.spec.volumes.size(), 1u);
  EXPECT_EQ(policy.spec.volumes[0].path, "/data");
  EXPECT_EQ(policy.spec.schedule.cron, "@daily");
  EXPECT_FALSE(policy.spec.schedule.time_zone.has_value());
  EXPECT_FALSE(policy.spec.rpo.has_value());
  EXPECT_FALSE(policy.spec.retention.has_value());
  EXPECT_EQ(policy.status, BackupPolicyStatus{});
  // Absent stays absent: no defaults are invented on the way out.
  EXPECT_EQ(ToJson(policy), MinimalPolicy());
}

TEST(CodecTest, NullOptionalFieldsReadAsAbsent) {
  Json j = MinimalPolicy();
  j["spec"]["rpo"] = nullptr;
  j["metadata"]["creationTimestamp"] = nullptr;  // as kubectl writes it
  BackupPolicy policy;
  ASSERT_THAT(FromJson(j, &policy), IsEmpty());
  EXPECT_FALSE(policy.spec.rpo.has_value());
  EXPECT_FALSE(policy.metadata.creation_timestamp.has_value());
}

TEST(CodecTest, ReportsUnknownFieldsWrongTypesAndMissingRequiredFields) {
  Json j = MinimalPolicy();
  j["spec"]["foo"] = 1;
  j["spec"]["retention"] = {{"daily", "7"}, {"weekly", 1.5}};
  j["spec"]["schedule"].erase("cron");
  j["spec"]["volumes"][0]["size"] = "1Gi";
  j["spec"]["suspend"] = "false";
  j["metadata"]["labels"] = {{"a", 1}};
  BackupPolicy policy;
  std::vector<std::string> messages;
  for (const FieldError& e : FromJson(j, &policy)) {
    messages.push_back(e.ToString());
  }
  EXPECT_THAT(messages, ::testing::UnorderedElementsAre(
                            "metadata.labels[a]: must be a string, got integer",
                            "spec.volumes[0].size: unknown field \"size\"",
                            "spec.schedule.cron: required",
                            "spec.retention.daily: must be an integer, got string",
                            "spec.retention.weekly: must be an integer, got number",
                            "spec.suspend: must be a boolean (true or false), got string",
                            "spec.foo: unknown field \"foo\""));
}

TEST(CodecTest, EnumsAndTimesAreTyped) {
  Json j = MinimalPolicy();
  j["spec"]["consistency"] = {{"type", "Application"}, {"onError", "Continue"}};
  j["status"] = {{"lastBackupTime", "2026-11-21T05:45:00Z"},
                 {"conditions",
                  {{{"type", "Ready"},
                    {"status", "True"},
                    {"lastTransitionTime", "2026-11-21T05:00:00Z"},
                    {"reason", "BackupSucceeded"}}}}};
  BackupPolicy policy;
  ASSERT_THAT(FromJson(j, &policy), IsEmpty());
  EXPECT_EQ(policy.spec.consistency->type, ConsistencyType::kApplication);
  EXPECT_EQ(policy.spec.consistency->on_error, OnError::kContinue);
  EXPECT_EQ(FormatRfc3339(*policy.status.last_backup_time), "2026-11-21T05:45:00Z");
  ASSERT_EQ(policy.status.conditions.size(), 1u);
  EXPECT_EQ(policy.status.conditions[0].status, ConditionStatus::kTrue);
  EXPECT_EQ(ToJson(policy), j);

  j["spec"]["consistency"]["type"] = "Sometimes";
  j["status"]["lastBackupTime"] = "yesterday";
  std::vector<std::string> messages;
  for (const FieldError& e : FromJson(j, &policy)) {
    messages.push_back(e.ToString());
  }
  EXPECT_THAT(messages,
              ::testing::UnorderedElementsAre(
                  "spec.consistency.type: must be one of Application or Crash, got \"Sometimes\"",
                  "status.lastBackupTime: must be an RFC 3339 time like 2026-01-02T15:04:05Z, got "
                  "\"yesterday\""));
}

TEST(CodecTest, BuildsObjectsInCode) {
  Failover failover;
  failover.metadata.name = "drill";
  failover.metadata.namespace_ = "default";
  failover.spec.plan_ref.name = "shop";
  failover.spec.type = FailoverType::kTest;
  failover.status.phase = FailoverPhase::kRunning;
  Json j = ToJson(failover);
  EXPECT_EQ(j["apiVersion"], "lifeboat.dev/v1alpha1");
  EXPECT_EQ(j["kind"], "Failover");
  EXPECT_EQ(j["spec"]["type"], "Test");
  EXPECT_EQ(j["status"]["phase"], "Running");
  EXPECT_THAT(ValidateObject(j), IsEmpty());
}

TEST(CodecTest, RejectsNonObjects) {
  Vault vault;
  FieldErrors errors = FromJson(Json::array(), &vault);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].ToString(), "must be an object, got list");
  errors = FromJson(Json{{"apiVersion", "x"}, {"kind", "Vault"}, {"metadata", "x"}, {"spec", 3}},
                    &vault);
  EXPECT_THAT(errors, ElementsAre(FieldError{"metadata", "must be an object, got string"},
                                  FieldError{"spec", "must be an object, got integer"}));
}

TEST(CodecTest, IntegersBeyondInt64AreRejected) {
  Json j = MinimalPolicy();
  j["spec"]["retention"] = {{"daily", Json(uint64_t{18446744073709551615u})}};
  BackupPolicy policy;
  FieldErrors errors = FromJson(j, &policy);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].ToString(),
            "spec.retention.daily: integer 18446744073709551615 is too large");
}

}  // namespace
}  // namespace lifeboat::api

namespace lifeboat::api {
namespace {

TEST(CodecTest, TimesAreStrictRfc3339WithSecondPrecision) {
  Time t;
  ASSERT_TRUE(ParseTime("2026-11-21T05:45:00Z", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-21T05:45:00Z");
  ASSERT_TRUE(ParseTime("2026-11-21T07:45:00.987+02:00", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-21T05:45:00Z");
  EXPECT_TRUE(ParseTime("2028-02-29T00:00:00Z", &t));
  for (const char* bad : {"2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-21T24:00:00Z",
                          "2026-11-21T05:45:60Z", "2026-11-21 05:45:00Z", "2026-11-21T05:45:00",
                          "4052-11-20T08:00:00Z", "0001-01-01T00:00:00Z", "2026-11-21T05:45:00.Z",
                          "2026-11-21T05:45:00+2:00", " 2026-11-21T05:45:00Z", "yesterday", ""}) {
    EXPECT_FALSE(ParseTime(bad, &t)) << bad;
  }
}

}  // namespace
}  // namespace lifeboat::api
