// The manifest corpus (tests/corpus): every good manifest is valid; every bad one produces its
// `# expect:` message on the line marked `# <-- here`, through the library and through the real
// `lifeboat validate` binary.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/manifest.h"
#include "tests/unit/api/test_files.h"

namespace lifeboat::api {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr std::string_view kExpectPrefix = "# expect: ";
constexpr std::string_view kMarker = "# <-- here";

struct Expectation {
  std::string message;
  int line = 0;
};

Expectation ReadExpectation(const std::string& text) {
  Expectation e;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (number == 1 && line.rfind(kExpectPrefix, 0) == 0) {
      e.message = line.substr(kExpectPrefix.size());
    }
    if (e.line == 0 && line.find(kMarker) != std::string::npos) {
      e.line = number;
    }
  }
  return e;
}

// "line: path: message" for every problem of `text`, as `lifeboat validate` reports them.
std::vector<std::pair<int, std::string>> Problems(const std::string& text,
                                                  const std::string& file) {
  std::vector<std::pair<int, std::string>> problems;
  auto docs = ParseManifests(text, file);
  if (!docs.ok()) {
    const std::string m = docs.status().message();
    // "<file>:<line>: what"
    size_t colon = m.find(':', file.size() + 1);
    int line = std::atoi(m.substr(file.size() + 1, colon - file.size() - 1).c_str());
    problems.emplace_back(line, m);
    return problems;
  }
  for (const Document& doc : *docs) {
    for (const FieldError& e : ValidateObject(doc.object)) {
      problems.emplace_back(doc.LineOf(e.path), e.ToString());
    }
  }
  return problems;
}

TEST(CorpusTest, EveryGoodManifestIsValid) {
  auto files = ManifestFiles(CorpusDir("good"));
  ASSERT_GE(files.size(), 9u);
  for (const auto& file : files) {
    auto docs = ParseManifests(ReadFile(file), file.filename().string());
    ASSERT_TRUE(docs.ok()) << docs.status();
    EXPECT_FALSE(docs->empty()) << file;
    for (const Document& doc : *docs) {
      EXPECT_THAT(ValidateObject(doc.object), IsEmpty()) << file.filename() << ":" << doc.line;
    }
  }
}

TEST(CorpusTest, EveryBadManifestGivesItsExpectedMessageOnItsLine) {
  auto files = ManifestFiles(CorpusDir("bad"));
  ASSERT_GE(files.size(), 40u);
  for (const auto& file : files) {
    std::string name = file.filename().string();
    std::string text = ReadFile(file);
    Expectation expect = ReadExpectation(text);
    ASSERT_FALSE(expect.message.empty()) << name << " does not start with '# expect: '";
    ASSERT_NE(expect.line, 0) << name << " has no '# <-- here' marker";
    auto problems = Problems(text, name);
    ASSERT_EQ(problems.size(), 1u) << name << ": one problem each, got " << problems.size()
                                   << (problems.empty() ? "" : ": " + problems[0].second);
    EXPECT_THAT(problems[0].second, HasSubstr(expect.message)) << name;
    EXPECT_EQ(problems[0].first, expect.line) << name << ": " << problems[0].second;
  }
}

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// LIFEBOAT_BINARY when the environment has it, else the binary of this build tree.
std::filesystem::path Binary() {
  if (std::getenv("LIFEBOAT_BINARY") != nullptr) {
    return testing::LifeboatBinary();
  }
  return LIFEBOAT_TEST_BINARY;
}

CommandResult RunLifeboat(const std::string& args) {
  testing::TempDir dir;
  std::string err_file = (dir / "stderr").string();
  std::string command = "'" + Binary().string() + "' " + args + " 2>'" +
                        err_file + "'";
  CommandResult run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen failed: " << command;
    return run;
  }
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    run.out.append(buffer, n);
  }
  int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = ReadFile(err_file);
  return run;
}

std::string Quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

TEST(ValidateCommandTest, CleanCorpusExitsZeroWithSummary) {
  CommandResult run = RunLifeboat("validate -f " + Quoted(CorpusDir("good")));
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_THAT(run.err, ::testing::MatchesRegex("validated [0-9]+ objects in [0-9]+ files: 0 errors\n"));
}

TEST(ValidateCommandTest, ExamplesAreClean) {
  CommandResult run = RunLifeboat("validate -f " + Quoted(testing::SourceDir() / "examples"));
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
}

TEST(ValidateCommandTest, OneLinePerProblemWithFileLineKindAndName) {
  auto file = CorpusDir("bad") / "bp-negative-retention.yaml";
  CommandResult run = RunLifeboat("validate -f " + Quoted(file));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out, file.string() +
                         ":16: BackupPolicy/db: spec.retention.daily: must be >= 0, got -1\n");
  EXPECT_EQ(run.err, "validated 1 object in 1 file: 1 error\n");
}

TEST(ValidateCommandTest, MalformedYamlIsOneClearLine) {
  auto file = CorpusDir("bad") / "malformed-indentation.yaml";
  CommandResult run = RunLifeboat("validate -f " + Quoted(file));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, ::testing::StartsWith(file.string() + ":6: malformed YAML: "));
  EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 1);
}

TEST(ValidateCommandTest, WholeBadCorpusGivesOneLinePerFile) {
  auto files = ManifestFiles(CorpusDir("bad"));
  CommandResult run = RunLifeboat("validate -f " + Quoted(CorpusDir("bad")));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'),
            static_cast<std::ptrdiff_t>(files.size()))
      << run.out;
  EXPECT_THAT(run.err, HasSubstr("in " + std::to_string(files.size()) + " files: " +
                                 std::to_string(files.size()) + " errors"));
  EXPECT_THAT(run.out, Not(HasSubstr("terminate")));
}

TEST(ValidateCommandTest, MissingFilesAndUsageErrors) {
  CommandResult missing = RunLifeboat("validate -f /nonexistent/lifeboat.yaml");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out, "/nonexistent/lifeboat.yaml: no such file or directory\n");
  CommandResult none = RunLifeboat("validate");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("give at least one -f FILE|DIR"));
  CommandResult help = RunLifeboat("validate --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("lifeboat validate -f FILE|DIR"));
}

TEST(ValidateCommandTest, ReadsStdin) {
  CommandResult run = RunLifeboat("validate -f - < " + Quoted(CorpusDir("bad") / "unknown-kind.yaml"));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, ::testing::StartsWith("<stdin>:3: BackupPlan/x: kind: unknown kind"));
}

}  // namespace
}  // namespace lifeboat::api
