#include "api/duration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lifeboat::api {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

TEST(DurationTest, ParsesEveryUnitAndSequences) {
  EXPECT_EQ(*ParseDuration("90s"), seconds(90));
  EXPECT_EQ(*ParseDuration("15m"), minutes(15));
  EXPECT_EQ(*ParseDuration("24h"), hours(24));
  EXPECT_EQ(*ParseDuration("7d"), hours(7 * 24));
  EXPECT_EQ(*ParseDuration("1h30m"), minutes(90));
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("1m5s250ms"), milliseconds(65250));
  EXPECT_EQ(*ParseDuration("0s"), milliseconds(0));
}

TEST(DurationTest, RejectsWithPreciseMessages) {
  auto message = [](std::string_view text) { return ParseDuration(text).status().message(); };
  EXPECT_EQ(message(""), "invalid duration \"\": empty (write e.g. 90s, 15m, 24h, 7d or 1h30m)");
  EXPECT_EQ(message("5x"), "invalid duration \"5x\": unknown unit \"x\" (use ms, s, m, h or d)");
  EXPECT_EQ(message("1w"), "invalid duration \"1w\": unknown unit \"w\" (use ms, s, m, h or d)");
  EXPECT_EQ(message("90"), "invalid duration \"90\": missing unit after 90 (use ms, s, m, h or d)");
  EXPECT_THAT(message("h"), HasSubstr("expected a number at \"h\""));
  EXPECT_THAT(message("-5s"), HasSubstr("expected a number"));
  EXPECT_THAT(message("1.5h"), HasSubstr("unknown unit \".\""));
  EXPECT_THAT(message("2 days"), HasSubstr("unknown unit \" days\""));
  EXPECT_THAT(message("99999999999999999999s"), HasSubstr("too large"));
  EXPECT_THAT(message("9999999999999999d"), HasSubstr("too large"));
  EXPECT_EQ(ParseDuration("5x").status().code(), StatusCode::kInvalidArgument);
}

TEST(DurationTest, FormatsCanonically) {
  EXPECT_EQ(FormatDuration(minutes(90)), "1h30m");
  EXPECT_EQ(FormatDuration(milliseconds(500)), "500ms");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(hours(48) + seconds(1)), "2d1s");
  EXPECT_EQ(*ParseDuration(FormatDuration(milliseconds(123456789))), milliseconds(123456789));
}

}  // namespace
}  // namespace lifeboat::api
