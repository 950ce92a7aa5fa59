#include "api/openapi/regex.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <string>
#include <vector>

namespace lifeboat::api::openapi {
namespace {

using ::testing::HasSubstr;

Regex MustCompile(const std::string& pattern) {
  auto regex = Regex::Compile(pattern);
  EXPECT_TRUE(regex.ok()) << pattern << ": " << regex.status();
  return std::move(regex).value();
}

// The patterns the CRDs use, and a few more shapes.
const std::vector<std::string>& Patterns() {
  static const std::vector<std::string> kPatterns = {
      R"(^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)",
      R"(^[a-z0-9]([-a-z0-9]*[a-z0-9])?$)",
      R"(^([0-9]+(ms|s|m|h|d))*[0-9]*[1-9][0-9]*(ms|s|m|h|d)([0-9]+(ms|s|m|h|d))*$)",
      R"(^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[kMGTPE]|([eE][+]?[0-9]+))?$)",
      R"(^https?://[^\s/]+)",
      R"(^/)",
      R"(^[^=]+$)",
      R"(^[-._a-zA-Z0-9]+$)",
      R"(^(Latest|LatestAppConsistent|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))$)",
      R"(^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$)",
      R"(a|b|)",
      R"(x{2,3}y?)",
      R"(^(ab|a)*c$)",
      R"(^\d{1,2}\.\w+\D$)",
      R"([^a-c]{2}$)",
      R"(^.{3}$)",
      R"(^a{0}b{1,}c{2}$)",
      R"(1m+?s)",
      R"([\]\-x]+)",
      R"((?:ab)+)",
      R"(^$)",
  };
  return kPatterns;
}

TEST(RegexTest, AgreesWithStdRegexOnShortInputs) {
  std::vector<std::string> inputs = {
      "", "a", "b", "c", "ab", "abc", "aab", "ababc", "x", "xx", "xxy", "xxxxy", "db", "db-1",
      "-db", "db-", "a.b", "a..b", "DB", "my.app.example", "30s", "1h30m", "0s", "0s5m", "5ms",
      "1w", "10Gi", "1.5Ki", ".5", "1e3", "1e", "10GB", "http://x", "https://h/p", "https:///p",
      "ftp://x", "/tmp", "tmp", "a=b", "==", "key.name_1", "key/x", "Latest",
      "2026-01-02T15:04:05Z", "2026-01-02T15:04:05.5+02:00", "2026-01-02", "Ready", "WaitingFor",
      "a:b_", "_a", "12.ab!", "1.a1", "zzz", "ad", "abc\n", "a\nb", "mss", "1mmms", "]-x", "abab",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
  std::mt19937 random(42);  // deterministic: the same strings every run
  const std::string alphabet = "ab.-0159msxyz/=:Tc";
  for (int i = 0; i < 300; ++i) {
    std::string s;
    int length = static_cast<int>(random() % 12);
    for (int k = 0; k < length; ++k) {
      s += alphabet[random() % alphabet.size()];
    }
    inputs.push_back(s);
  }
  for (const std::string& pattern : Patterns()) {
    Regex ours = MustCompile(pattern);
    std::regex reference(pattern, std::regex::ECMAScript);
    for (const std::string& input : inputs) {
      EXPECT_EQ(ours.Search(input), std::regex_search(input, reference))
          << "pattern " << pattern << " on \"" << input << "\"";
    }
  }
}

TEST(RegexTest, LongInputsTakeLinearTimeWithoutRecursion) {
  // std::regex overflows the stack on these (about 250 bytes of stack per character).
  std::string long_name(1 << 20, 'a');
  EXPECT_TRUE(MustCompile(R"(^[a-z0-9]([-a-z0-9]*[a-z0-9])?$)").Search(long_name));
  EXPECT_TRUE(MustCompile(R"(^[^=]+$)").Search(long_name));
  long_name.back() = '=';
  EXPECT_FALSE(MustCompile(R"(^[^=]+$)").Search(long_name));
  // Exponential for backtracking engines, linear here.
  std::string as(5000, 'a');
  EXPECT_FALSE(MustCompile(R"(^(a|aa)*(a*)*b$)").Search(as));
  EXPECT_FALSE(MustCompile(R"((a*)*b)").Search(as));
  EXPECT_TRUE(MustCompile(R"((a*)*b)").Search(as + "b"));
}

TEST(RegexTest, MatchesCodePointsNotBytes) {
  EXPECT_TRUE(MustCompile(R"(^.{2}$)").Search("é€"));
  EXPECT_TRUE(MustCompile(R"(^[^a]$)").Search("€"));
  EXPECT_TRUE(MustCompile(R"(^\u20ac$)").Search("€"));
  EXPECT_TRUE(MustCompile(R"(^\x41$)").Search("A"));
}

TEST(RegexTest, RefusesWhatRe2Refuses) {
  const std::pair<const char*, const char*> cases[] = {
      {"(", "missing ')' at offset 1"},
      {"a)", "unmatched ')' at offset 1"},
      {"[a-", "missing ']'"},
      {"[z-a]", "end before start"},
      {"*a", "nothing to repeat at offset 0"},
      {"a**", "invalid nested repetition operator"},
      {"a{2,1}", "invalid repeat count {2,1}"},
      {"a{1001}", "repeat count larger than 1000"},
      {R"((a)\1)", "unsupported escape \\1"},
      {R"(\bword)", "unsupported escape \\b"},
      {"(?=a)", "unsupported group syntax"},
      {"[[:alpha:]]", "POSIX character classes"},
      {"\\", "trailing backslash"},
      {"((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))",
       "nested too deeply"},
      {"(a{1000}){1000}", "pattern too large"},
  };
  for (const auto& [pattern, error] : cases) {
    auto regex = Regex::Compile(pattern);
    ASSERT_FALSE(regex.ok()) << pattern;
    EXPECT_EQ(regex.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(regex.status().message(), HasSubstr(error)) << pattern;
  }
}

TEST(RegexTest, BraceWithoutCountIsALiteral) {
  EXPECT_TRUE(MustCompile("^a{x}$").Search("a{x}"));
  EXPECT_TRUE(MustCompile("^a{,2}$").Search("a{,2}"));
}

}  // namespace
}  // namespace lifeboat::api::openapi
