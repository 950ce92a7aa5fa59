#include "api/time_zone.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lifeboat::api {
namespace {

using ::testing::HasSubstr;

int64_t Utc(int64_t y, unsigned mo, unsigned d, int h, int mi) {
  return DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

TEST(TimeZoneTest, CivilDaysRoundTrip) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  for (int64_t days : {-1000000, -1, 0, 59, 60, 11016, 20000, 3000000}) {
    int64_t y;
    unsigned m, d;
    CivilFromDays(days, &y, &m, &d);
    EXPECT_EQ(DaysFromCivil(y, m, d), days);
  }
}

TEST(TimeZoneTest, UtcNeedsNoTzdata) {
  TimeZone utc = TimeZone::Utc();
  EXPECT_EQ(utc.OffsetAt(0), 0);
  EXPECT_EQ(utc.FromLocal(12345), 12345);
  EXPECT_TRUE(TimeZone::Load("UTC").ok());
  EXPECT_TRUE(TimeZone::Load("Etc/UTC").ok());
}

TEST(TimeZoneTest, ParisOffsetsFollowDaylightSavingTime) {
  auto paris = TimeZone::Load("Europe/Paris");
  ASSERT_TRUE(paris.ok()) << paris.status();
  EXPECT_EQ(paris->OffsetAt(Utc(2026, 1, 15, 12, 0)), 3600);
  EXPECT_EQ(paris->OffsetAt(Utc(2026, 7, 15, 12, 0)), 7200);
  // 2026-03-29 01:00 UTC clocks jump from 02:00 to 03:00.
  EXPECT_EQ(paris->OffsetAt(Utc(2026, 3, 29, 0, 59)), 3600);
  EXPECT_EQ(paris->OffsetAt(Utc(2026, 3, 29, 1, 0)), 7200);
  // Far beyond the transitions listed in the file: the POSIX rule takes over.
  EXPECT_EQ(paris->OffsetAt(Utc(2100, 7, 1, 0, 0)), 7200);
  EXPECT_EQ(paris->OffsetAt(Utc(2100, 12, 1, 0, 0)), 3600);
}

TEST(TimeZoneTest, FromLocalResolvesGapsAndOverlaps) {
  auto paris = TimeZone::Load("Europe/Paris");
  ASSERT_TRUE(paris.ok()) << paris.status();
  // Ordinary time.
  EXPECT_EQ(paris->FromLocal(Utc(2026, 1, 15, 12, 0)), Utc(2026, 1, 15, 11, 0));
  // 02:30 does not exist on 2026-03-29: the jump instant (01:00 UTC = 03:00 CEST).
  EXPECT_EQ(paris->FromLocal(Utc(2026, 3, 29, 2, 30)), Utc(2026, 3, 29, 1, 0));
  // 02:30 happens twice on 2026-10-25: the first one (00:30 UTC, still CEST).
  EXPECT_EQ(paris->FromLocal(Utc(2026, 10, 25, 2, 30)), Utc(2026, 10, 25, 0, 30));
}

TEST(TimeZoneTest, SouthernHemisphereAndNegativeOffsets) {
  auto sydney = TimeZone::Load("Australia/Sydney");
  ASSERT_TRUE(sydney.ok()) << sydney.status();
  EXPECT_EQ(sydney->OffsetAt(Utc(2026, 1, 15, 0, 0)), 11 * 3600);
  EXPECT_EQ(sydney->OffsetAt(Utc(2026, 7, 15, 0, 0)), 10 * 3600);
  EXPECT_EQ(sydney->OffsetAt(Utc(2150, 1, 15, 0, 0)), 11 * 3600);
  auto ny = TimeZone::Load("America/New_York");
  ASSERT_TRUE(ny.ok()) << ny.status();
  EXPECT_EQ(ny->OffsetAt(Utc(2026, 1, 15, 0, 0)), -5 * 3600);
  EXPECT_EQ(ny->OffsetAt(Utc(2026, 7, 15, 0, 0)), -4 * 3600);
}

TEST(TimeZoneTest, RejectsUnknownAndUnsafeNames) {
  EXPECT_THAT(TimeZone::Load("Mars/Olympus_Mons").status().message(),
              HasSubstr("unknown time zone \"Mars/Olympus_Mons\""));
  EXPECT_THAT(TimeZone::Load("../../etc/passwd").status().message(),
              HasSubstr("not an IANA name"));
  EXPECT_THAT(TimeZone::Load("/etc/localtime").status().message(), HasSubstr("not an IANA name"));
  EXPECT_FALSE(TimeZone::Load("").ok());
  // A directory is not a zone.
  EXPECT_FALSE(TimeZone::Load("Europe").ok());
}

}  // namespace
}  // namespace lifeboat::api
