#include "common/logging.h"

#include <gtest/gtest.h>

namespace lifeboat {
namespace {

TEST(LoggingTest, ParsesFlags) {
  EXPECT_TRUE(ParseLogLevel("debug").ok());
  Status bad = ParseLogLevel("loud");
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("--log-level"), std::string::npos);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("xml").ok());
}

TEST(LoggingTest, SetUpTwiceReplacesLogger) {
  EXPECT_TRUE(SetUpLogging({.level = "debug", .format = LogFormat::kJson}).ok());
  EXPECT_TRUE(SetUpLogging({.level = "warn", .format = LogFormat::kText}).ok());
  EXPECT_FALSE(SetUpLogging({.level = "nope"}).ok());
}

}  // namespace
}  // namespace lifeboat
