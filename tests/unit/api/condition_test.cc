#include "api/condition.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lifeboat::api {
namespace {

using std::chrono::seconds;

Condition Ready(ConditionStatus status, std::string reason, std::string message = "") {
  Condition c;
  c.type = "Ready";
  c.status = status;
  c.reason = std::move(reason);
  c.message = std::move(message);
  c.observed_generation = 1;
  return c;
}

TEST(ConditionTest, AddsNewConditionStampedNow) {
  std::vector<Condition> conditions;
  Time t0{seconds(1000)};
  EXPECT_TRUE(SetCondition(conditions, Ready(ConditionStatus::kFalse, "Pending"), t0));
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0].last_transition_time, t0);
  EXPECT_EQ(FindCondition(conditions, "Ready"), &conditions[0]);
  EXPECT_EQ(FindCondition(conditions, "RPOMet"), nullptr);
}

TEST(ConditionTest, SameConditionIsNoChange) {
  std::vector<Condition> conditions;
  Time t0{seconds(1000)};
  ASSERT_TRUE(SetCondition(conditions, Ready(ConditionStatus::kFalse, "Pending"), t0));
  EXPECT_FALSE(SetCondition(conditions, Ready(ConditionStatus::kFalse, "Pending"), t0 + seconds(5)));
  EXPECT_EQ(conditions[0].last_transition_time, t0);
}

TEST(ConditionTest, ReasonChangeKeepsTransitionTime) {
  std::vector<Condition> conditions;
  Time t0{seconds(1000)};
  ASSERT_TRUE(SetCondition(conditions, Ready(ConditionStatus::kFalse, "Pending"), t0));
  EXPECT_TRUE(SetCondition(conditions, Ready(ConditionStatus::kFalse, "VaultUnreachable", "dial"),
                           t0 + seconds(5)));
  EXPECT_EQ(conditions[0].reason, "VaultUnreachable");
  EXPECT_EQ(conditions[0].message, "dial");
  EXPECT_EQ(conditions[0].last_transition_time, t0);
}

TEST(ConditionTest, StatusFlipMovesTransitionTime) {
  std::vector<Condition> conditions;
  Time t0{seconds(1000)};
  ASSERT_TRUE(SetCondition(conditions, Ready(ConditionStatus::kFalse, "Pending"), t0));
  EXPECT_TRUE(SetCondition(conditions, Ready(ConditionStatus::kTrue, "BackupSucceeded"),
                           t0 + seconds(60)));
  EXPECT_EQ(conditions[0].last_transition_time, t0 + seconds(60));
  EXPECT_TRUE(IsConditionTrue(conditions, "Ready"));
}

TEST(ConditionTest, ObservedGenerationChangeIsAChange) {
  std::vector<Condition> conditions;
  Time t0{seconds(1000)};
  ASSERT_TRUE(SetCondition(conditions, Ready(ConditionStatus::kTrue, "Ok"), t0));
  Condition next = Ready(ConditionStatus::kTrue, "Ok");
  next.observed_generation = 2;
  EXPECT_TRUE(SetCondition(conditions, next, t0 + seconds(1)));
  EXPECT_EQ(conditions[0].observed_generation, 2);
  EXPECT_EQ(conditions[0].last_transition_time, t0);
}

TEST(ConditionTest, KeepsOtherTypesAndRemoves) {
  std::vector<Condition> conditions;
  Time t0{seconds(1000)};
  Condition rpo = Ready(ConditionStatus::kTrue, "WithinTarget");
  rpo.type = "RPOMet";
  ASSERT_TRUE(SetCondition(conditions, Ready(ConditionStatus::kTrue, "Ok"), t0));
  ASSERT_TRUE(SetCondition(conditions, rpo, t0));
  EXPECT_EQ(conditions.size(), 2u);
  EXPECT_TRUE(RemoveCondition(conditions, "RPOMet"));
  EXPECT_FALSE(RemoveCondition(conditions, "RPOMet"));
  EXPECT_EQ(conditions.size(), 1u);
}

TEST(ConditionTest, ValidatesReasonsAndDuplicates) {
  std::vector<Condition> conditions = {Ready(ConditionStatus::kTrue, "not camel"),
                                       Ready(ConditionStatus::kTrue, "Ok")};
  FieldErrors errors;
  ValidateConditions(conditions, "status.conditions", &errors);
  EXPECT_THAT(errors, ::testing::ElementsAre(
                          FieldError{"status.conditions[0].reason",
                                     "must be CamelCase like WaitingForSchedule, got \"not camel\""},
                          FieldError{"status.conditions[1].type",
                                     "duplicate condition type \"Ready\""}));
}

TEST(ConditionTest, JsonShapeIsMetav1Condition) {
  Condition c = Ready(ConditionStatus::kUnknown, "Starting", "booting");
  c.last_transition_time = Time{seconds(1'700'000'000)};
  Json j = ToJson(c);
  EXPECT_EQ(j, Json::parse(R"({"type":"Ready","status":"Unknown","observedGeneration":1,
      "lastTransitionTime":"2023-11-14T22:13:20Z","reason":"Starting","message":"booting"})"));
}

}  // namespace
}  // namespace lifeboat::api
