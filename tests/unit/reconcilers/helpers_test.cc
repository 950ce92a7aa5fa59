#include <gtest/gtest.h>

#include "common/clock.h"
#include "reconcilers/conditions.h"
#include "reconcilers/finalizer.h"
#include "reconcilers/kinds.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers {
namespace {

api::Condition Ready(api::ConditionStatus status, const std::string& reason, int64_t generation) {
  api::Condition c;
  c.type = "Ready";
  c.status = status;
  c.reason = reason;
  c.message = reason + " message";
  c.observed_generation = generation;
  return c;
}

TEST(ConditionsTest, TransitionTimeMovesOnlyWhenTheStatusFlips) {
  FakeClock clock;
  Json status = Json::object();
  EXPECT_TRUE(
      SetStatusCondition(status, Ready(api::ConditionStatus::kTrue, "Valid", 1), clock.Now()));
  std::string first = status["conditions"][0]["lastTransitionTime"];
  clock.Advance(std::chrono::hours(1));
  EXPECT_FALSE(
      SetStatusCondition(status, Ready(api::ConditionStatus::kTrue, "Valid", 1), clock.Now()))
      << "no change, no write";
  EXPECT_TRUE(
      SetStatusCondition(status, Ready(api::ConditionStatus::kTrue, "Valid", 2), clock.Now()));
  EXPECT_EQ(status["conditions"][0]["lastTransitionTime"], first);
  EXPECT_TRUE(SetStatusCondition(status, Ready(api::ConditionStatus::kFalse, "InvalidSpec", 3),
                                 clock.Now()));
  EXPECT_NE(status["conditions"][0]["lastTransitionTime"], first);
  auto ready = GetStatusCondition(status, "Ready");
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->reason, "InvalidSpec");
  EXPECT_EQ(ready->observed_generation, 3);
  EXPECT_EQ(status["conditions"].size(), 1u);
}

TEST(ConditionsTest, UnreadableConditionsAreReplaced) {
  Json status = {{"conditions", "not a list"}};
  EXPECT_TRUE(SetStatusCondition(status, Ready(api::ConditionStatus::kTrue, "Valid", 1),
                                 FakeClock().Now()));
  ASSERT_TRUE(status["conditions"].is_array());
  EXPECT_EQ(status["conditions"].size(), 1u);
}

TEST(ConditionsTest, ObservedGenerationAndGeneration) {
  Json status;
  EXPECT_TRUE(SetObservedGeneration(status, 4));
  EXPECT_FALSE(SetObservedGeneration(status, 4));
  EXPECT_EQ(status["observedGeneration"], 4);
  EXPECT_EQ(GenerationOf(Json{{"metadata", {{"generation", 7}}}}), 7);
  EXPECT_EQ(GenerationOf(Json::object()), 0);
}

TEST(FinalizerTest, AddRemoveAndDeletion) {
  Json object = {{"metadata", {{"name", "db"}}}};
  EXPECT_FALSE(HasFinalizer(object, kCleanupFinalizer));
  EXPECT_TRUE(AddFinalizer(object, kCleanupFinalizer));
  EXPECT_FALSE(AddFinalizer(object, kCleanupFinalizer));
  EXPECT_TRUE(AddFinalizer(object, "other.io/keep"));
  EXPECT_TRUE(HasFinalizer(object, kCleanupFinalizer));
  EXPECT_TRUE(RemoveFinalizer(object, kCleanupFinalizer));
  EXPECT_FALSE(RemoveFinalizer(object, kCleanupFinalizer));
  EXPECT_EQ(object["metadata"]["finalizers"], Json::array({"other.io/keep"}));
  EXPECT_FALSE(IsBeingDeleted(object));
  object["metadata"]["deletionTimestamp"] = "2026-11-21T10:00:00Z";
  EXPECT_TRUE(IsBeingDeleted(object));
}

TEST(KindsTest, NineNamespacedKindsWithPlurals) {
  auto kinds = LifeboatKinds();
  EXPECT_EQ(kinds.size(), 9u);
  for (const LifeboatKind& k : kinds) {
    EXPECT_EQ(k.resource.group, "lifeboat.dev");
    EXPECT_EQ(k.resource.version, "v1alpha1");
    EXPECT_TRUE(k.resource.namespaced);
  }
  EXPECT_EQ(LifeboatResource("ReplicationPolicy")->resource, "replicationpolicies");
  EXPECT_EQ(LifeboatResource("BackupPolicy")->resource, "backuppolicies");
  EXPECT_EQ(LifeboatResource("Nope").status().code(), StatusCode::kNotFound);
}

TEST(SpecReconcilerTest, JoinFieldErrorsIsBounded) {
  api::FieldErrors errors;
  for (int i = 0; i < 10; ++i) {
    errors.push_back({"spec.f" + std::to_string(i), "bad"});
  }
  std::string joined = JoinFieldErrors(errors);
  EXPECT_EQ(joined.rfind("spec.f0: bad; spec.f1: bad", 0), 0u);
  EXPECT_NE(joined.find("and 2 more"), std::string::npos);
}

}  // namespace
}  // namespace lifeboat::reconcilers
