#include <gtest/gtest.h>

#include <set>

#include "engines/vault/vault.h"

namespace lifeboat::vault {
namespace {

std::vector<Manifest> Hourly(int count) {
  std::vector<Manifest> out;
  FakeClock clock;  // 2023-11-14T22:13:20Z
  for (int i = 0; i < count; ++i) {
    Manifest m;
    m.id = "p" + std::to_string(i);
    m.time = clock.Now();
    out.push_back(m);
    clock.Advance(std::chrono::hours(6));
  }
  return out;
}

std::set<std::string> Ids(const std::vector<Manifest>& ms) {
  std::set<std::string> out;
  for (const auto& m : ms) out.insert(m.id);
  return out;
}

TEST(Retention, KeepLast) {
  auto r = ApplyRetention(Hourly(10), RetentionPolicy{.keep_last = 3});
  EXPECT_EQ(Ids(r.keep), (std::set<std::string>{"p9", "p8", "p7"}));
  EXPECT_EQ(r.remove.size(), 7u);
}

TEST(Retention, KeepDailyKeepsTheNewestPerDay) {
  // Points every 6 hours: 4 per day; keep-daily 2 keeps the newest of the last two days.
  auto r = ApplyRetention(Hourly(12), RetentionPolicy{.keep_daily = 2});
  ASSERT_EQ(r.keep.size(), 2u);
  EXPECT_EQ(r.keep[0].id, "p11");
}

TEST(Retention, RulesCombine) {
  auto r = ApplyRetention(Hourly(40), RetentionPolicy{.keep_last = 1, .keep_daily = 3,
                                                      .keep_weekly = 2, .keep_monthly = 1});
  EXPECT_TRUE(Ids(r.keep).contains("p39"));
  EXPECT_GE(r.keep.size(), 3u);
  EXPECT_LE(r.keep.size(), 6u);
  EXPECT_EQ(r.keep.size() + r.remove.size(), 40u);
}

TEST(Retention, EmptyPolicyKeepsEverything) {
  auto r = ApplyRetention(Hourly(5), RetentionPolicy{});
  EXPECT_EQ(r.keep.size(), 5u);
}

}  // namespace
}  // namespace lifeboat::vault
