#include "api/cron.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/clock.h"

namespace lifeboat::api {
namespace {

using ::testing::HasSubstr;

Clock::TimePoint T(const std::string& rfc3339) {
  Clock::TimePoint t;
  EXPECT_TRUE(ParseRfc3339(rfc3339, &t)) << rfc3339;
  return t;
}

std::string NextAfter(const std::string& cron, const std::string& after,
                      const std::string& zone = "UTC") {
  auto schedule = CronSchedule::Parse(cron);
  EXPECT_TRUE(schedule.ok()) << schedule.status();
  if (!schedule.ok()) {
    return "";
  }
  auto next = schedule->Next(T(after), zone);
  EXPECT_TRUE(next.ok()) << next.status();
  return next.ok() ? FormatRfc3339(*next) : "";
}

std::string ParseError(const std::string& cron) {
  auto schedule = CronSchedule::Parse(cron);
  EXPECT_FALSE(schedule.ok()) << cron;
  return schedule.ok() ? "" : schedule.status().message();
}

TEST(CronTest, FieldsListsRangesStepsAndNames) {
  EXPECT_EQ(NextAfter("*/15 * * * *", "2026-11-21T10:07:00Z"), "2026-11-21T10:15:00Z");
  EXPECT_EQ(NextAfter("*/15 * * * *", "2026-11-21T10:15:00Z"), "2026-11-21T10:30:00Z");
  EXPECT_EQ(NextAfter("0 2 * * *", "2026-11-21T02:00:00Z"), "2026-11-22T02:00:00Z");
  EXPECT_EQ(NextAfter("5,10 3-4 * * *", "2026-11-21T03:10:00Z"), "2026-11-21T04:05:00Z");
  EXPECT_EQ(NextAfter("0 9 * * MON-FRI", "2026-11-21T10:00:00Z"), "2026-11-23T09:00:00Z");
  EXPECT_EQ(NextAfter("0 0 1 jan,Jul *", "2026-02-01T00:00:00Z"), "2026-07-01T00:00:00Z");
  EXPECT_EQ(NextAfter("0 0 * * 7", "2026-11-21T10:00:00Z"), "2026-11-22T00:00:00Z");  // Sunday
  EXPECT_EQ(NextAfter("10/20 * * * *", "2026-11-21T10:31:00Z"), "2026-11-21T10:50:00Z");
  EXPECT_EQ(NextAfter("0 0 1-10/3 * *", "2026-11-05T00:00:00Z"), "2026-11-07T00:00:00Z");
  // Sub-minute start: strictly after.
  EXPECT_EQ(NextAfter("* * * * *", "2026-11-21T10:07:30.5Z"), "2026-11-21T10:08:00Z");
}

TEST(CronTest, Macros) {
  EXPECT_EQ(NextAfter("@hourly", "2026-11-21T10:07:00Z"), "2026-11-21T11:00:00Z");
  EXPECT_EQ(NextAfter("@daily", "2026-11-21T10:07:00Z"), "2026-11-22T00:00:00Z");
  EXPECT_EQ(NextAfter("@midnight", "2026-11-21T10:07:00Z"), "2026-11-22T00:00:00Z");
  EXPECT_EQ(NextAfter("@weekly", "2026-11-21T10:07:00Z"), "2026-11-22T00:00:00Z");
  EXPECT_EQ(NextAfter("@monthly", "2026-11-21T10:07:00Z"), "2026-12-01T00:00:00Z");
  EXPECT_EQ(NextAfter("@yearly", "2026-11-21T10:07:00Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(NextAfter("@annually", "2026-11-21T10:07:00Z"), "2027-01-01T00:00:00Z");
}

TEST(CronTest, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // The 13th, or any Friday (Vixie cron): 2026-11-27 is a Friday, 2026-12-13 comes later.
  EXPECT_EQ(NextAfter("0 0 13 * FRI", "2026-11-21T00:00:00Z"), "2026-11-27T00:00:00Z");
  // Only the day of month: Feb 29 of the next leap year.
  EXPECT_EQ(NextAfter("0 0 29 2 *", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00Z");
}

TEST(CronTest, TimeZoneShiftsTheWallClock) {
  EXPECT_EQ(NextAfter("0 2 * * *", "2026-11-21T00:00:00Z", "Europe/Paris"),
            "2026-11-21T01:00:00Z");
  EXPECT_EQ(NextAfter("0 2 * * *", "2026-07-20T23:00:00Z", "Europe/Paris"),
            "2026-07-21T00:00:00Z");
  EXPECT_EQ(NextAfter("30 9 * * *", "2026-11-21T00:00:00Z", "America/New_York"),
            "2026-11-21T14:30:00Z");
}

TEST(CronTest, ParisSpringForwardFiresSkippedTimesAtTheJump) {
  // 2026-03-29: 02:00 CET → 03:00 CEST at 01:00 UTC. 02:30 does not exist that day.
  EXPECT_EQ(NextAfter("30 2 * * *", "2026-03-28T12:00:00Z", "Europe/Paris"),
            "2026-03-29T01:00:00Z");
  EXPECT_EQ(NextAfter("30 2 * * *", "2026-03-29T01:00:00Z", "Europe/Paris"),
            "2026-03-30T00:30:00Z");
  // Hourly jobs: 01:00 CET (00:00Z), then 03:00 CEST (01:00Z) - 02:00 is skipped, not doubled.
  EXPECT_EQ(NextAfter("0 * * * *", "2026-03-28T23:30:00Z", "Europe/Paris"),
            "2026-03-29T00:00:00Z");
  EXPECT_EQ(NextAfter("0 * * * *", "2026-03-29T00:00:00Z", "Europe/Paris"),
            "2026-03-29T01:00:00Z");
  EXPECT_EQ(NextAfter("0 * * * *", "2026-03-29T01:00:00Z", "Europe/Paris"),
            "2026-03-29T02:00:00Z");
}

TEST(CronTest, ParisFallBackFiresRepeatedTimesOnce) {
  // 2026-10-25: 03:00 CEST → 02:00 CET at 01:00 UTC; 02:30 happens at 00:30Z and 01:30Z.
  EXPECT_EQ(NextAfter("30 2 * * *", "2026-10-24T12:00:00Z", "Europe/Paris"),
            "2026-10-25T00:30:00Z");
  // Between the two occurrences: the next one is the following day, not the repeat.
  EXPECT_EQ(NextAfter("30 2 * * *", "2026-10-25T00:30:00Z", "Europe/Paris"),
            "2026-10-26T01:30:00Z");
  EXPECT_EQ(NextAfter("30 2 * * *", "2026-10-25T01:00:00Z", "Europe/Paris"),
            "2026-10-26T01:30:00Z");
}

TEST(CronTest, NewYorkDaylightSavingTime) {
  // 2026-03-08: 02:00 EST → 03:00 EDT at 07:00 UTC.
  EXPECT_EQ(NextAfter("30 2 * * *", "2026-03-07T12:00:00Z", "America/New_York"),
            "2026-03-08T07:00:00Z");
  EXPECT_EQ(NextAfter("0 9 * * *", "2026-03-07T15:00:00Z", "America/New_York"),
            "2026-03-08T13:00:00Z");
  // 2026-11-01: 02:00 EDT → 01:00 EST at 06:00 UTC; 01:30 happens at 05:30Z and 06:30Z.
  EXPECT_EQ(NextAfter("30 1 * * *", "2026-10-31T12:00:00Z", "America/New_York"),
            "2026-11-01T05:30:00Z");
  EXPECT_EQ(NextAfter("30 1 * * *", "2026-11-01T05:30:00Z", "America/New_York"),
            "2026-11-02T06:30:00Z");
}

TEST(CronTest, RejectsWithPreciseMessages) {
  EXPECT_EQ(ParseError("0 0 31 2 *"),
            "cron \"0 0 31 2 *\" never fires: day-of-month 31 does not occur in February");
  EXPECT_EQ(ParseError("0 0 31 2,4,6 *"),
            "cron \"0 0 31 2,4,6 *\" never fires: day-of-month 31 does not occur in any of its "
            "months");
  EXPECT_TRUE(CronSchedule::Parse("0 0 30,31 2,4 *").ok());  // April 30 exists
  EXPECT_EQ(ParseError("61 * * * *"), "invalid cron \"61 * * * *\": minute: 61 is out of range 0-59");
  EXPECT_THAT(ParseError("0 24 * * *"), HasSubstr("hour: 24 is out of range 0-23"));
  EXPECT_THAT(ParseError("0 0 0 * *"), HasSubstr("day-of-month: 0 is out of range 1-31"));
  EXPECT_THAT(ParseError("0 0 * 13 *"), HasSubstr("month: 13 is out of range 1-12"));
  EXPECT_THAT(ParseError("0 0 * * 8"), HasSubstr("day-of-week: 8 is out of range 0-7"));
  EXPECT_THAT(ParseError("0 0 * * *  *"), HasSubstr("expected 5 fields"));
  EXPECT_THAT(ParseError("0 0 * *"), HasSubstr("got 4"));
  EXPECT_THAT(ParseError(""), HasSubstr("empty"));
  EXPECT_THAT(ParseError("@every 5m"), HasSubstr("unknown macro"));
  EXPECT_THAT(ParseError("*/0 * * * *"), HasSubstr("step must be at least 1"));
  EXPECT_THAT(ParseError("*/61 * * * *"), HasSubstr("step 61 is larger than the range"));
  EXPECT_THAT(ParseError("5-1 * * * *"), HasSubstr("range \"5-1\" goes backwards"));
  EXPECT_THAT(ParseError("a * * * *"), HasSubstr("minute: cannot parse \"a\""));
  EXPECT_THAT(ParseError("0 0 * FOO *"), HasSubstr("month: cannot parse \"FOO\""));
  EXPECT_THAT(ParseError("1,,2 * * * *"), HasSubstr("empty list item"));
  EXPECT_THAT(ParseError("1- * * * *"), HasSubstr("empty value"));
  EXPECT_THAT(ParseError("*/ * * * *"), HasSubstr("missing step"));
}

TEST(CronTest, KeepsTheExpression) {
  auto s = CronSchedule::Parse("@daily");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->expression(), "@daily");
  EXPECT_FALSE(s->Next(T("2026-01-01T00:00:00Z"), std::string("Nowhere/City")).ok());
}

}  // namespace
}  // namespace lifeboat::api
