#include "engines/hooks/hooks.h"

#include <cpprest/http_listener.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/temp_dir.h"

namespace lifeboat::hooks {
namespace {

using namespace std::chrono_literals;

HookSpec Exec(std::vector<std::string> command, std::chrono::milliseconds timeout = 10s) {
  HookSpec spec;
  spec.name = "preHook";
  spec.exec = ExecAction{std::move(command), "", {}};
  spec.timeout = timeout;
  return spec;
}

TEST(ExecHookTest, CapturesOutputAndExitCode) {
  auto runner = NewHookRunner();
  auto ok = runner->Run(Exec({"sh", "-c", "echo hello; echo oops >&2"}), {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->succeeded);
  EXPECT_EQ(ok->exit_code, 0);
  EXPECT_EQ(ok->output, "hello\noops\n");

  auto failed = runner->Run(Exec({"sh", "-c", "echo first; echo database is locked; exit 3"}), {});
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed->succeeded);
  EXPECT_EQ(failed->exit_code, 3);
  EXPECT_EQ(failed->message, "preHook: exited with code 3: database is locked");
}

TEST(ExecHookTest, EnvironmentAndWorkingDirectory) {
  testing::TempDir dir;
  HookSpec spec = Exec({"sh", "-c", "pwd; echo $APP_MODE $LIFEBOAT_FAILOVER_TYPE"});
  spec.exec->working_dir = dir.path().string();
  spec.exec->env = {{"APP_MODE", "quiesce"}};
  auto result = NewHookRunner()->Run(spec, {{"LIFEBOAT_FAILOVER_TYPE", "Test"}});
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->succeeded) << result->message;
  EXPECT_EQ(result->output,
            std::filesystem::canonical(dir.path()).string() + "\nquiesce Test\n");
}

TEST(ExecHookTest, TimeoutKillsTheWholeProcessGroup) {
  testing::TempDir dir;
  std::string marker = (dir / "survived").string();
  // The child shell starts a grandchild that would write the marker after 2 s.
  auto result = NewHookRunner()->Run(
      Exec({"sh", "-c", "(sleep 2; touch " + marker + ") & echo started; sleep 30"}, 300ms), {});
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->succeeded);
  EXPECT_TRUE(result->timed_out);
  EXPECT_LT(result->duration, 5s);
  EXPECT_EQ(result->message, "preHook: timed out after 300ms and was killed: started");
  // The grandchild was in the same process group and was killed too: the marker never appears.
  // Its would-be write time has passed once a 3 s wait of our own is over.
  auto check = NewHookRunner()->Run(Exec({"sh", "-c", "sleep 3; test ! -e " + marker}), {});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->succeeded) << "the hook's background process outlived the timeout";
}

TEST(ExecHookTest, CancelStopsTheCommandAtOnce) {
  std::atomic<bool> cancel{false};
  HookSpec spec = Exec({"sh", "-c", "echo working; sleep 30"}, 60s);
  spec.cancel = &cancel;
  std::thread canceller([&cancel] {
    std::this_thread::sleep_for(300ms);
    cancel = true;
  });
  auto result = NewHookRunner()->Run(spec, {});
  canceller.join();
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->succeeded);
  EXPECT_TRUE(result->cancelled);
  EXPECT_FALSE(result->timed_out);
  EXPECT_LT(result->duration, 10s);
  EXPECT_EQ(result->message, "preHook: cancelled and killed: working");
  // A flag that stays false changes nothing.
  std::atomic<bool> never{false};
  HookSpec quick = Exec({"true"});
  quick.cancel = &never;
  auto ok = NewHookRunner()->Run(quick, {});
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->succeeded) << ok->message;
}

TEST(ExecHookTest, MissingCommandIsAClearFailure) {
  auto result = NewHookRunner()->Run(Exec({"no-such-command-lifeboat"}), {});
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->succeeded);
  EXPECT_EQ(result->message,
            "preHook: cannot run \"no-such-command-lifeboat\": No such file or directory");
}

TEST(ExecHookTest, OutputIsBoundedKeepingTheEnd) {
  auto result = NewHookRunner()->Run(
      Exec({"sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; echo; echo the end"}), {});
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->output_truncated);
  EXPECT_EQ(result->output.size(), kMaxHookOutput);
  EXPECT_EQ(result->output.substr(result->output.size() - 8), "the end\n");
}

TEST(HookSpecTest, InvalidSpecsAreErrors) {
  HookSpec neither;
  neither.name = "postHook";
  auto r = NewHookRunner()->Run(neither, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "postHook: exactly one of exec or http must be set");
  auto empty = NewHookRunner()->Run(Exec({}), {});
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
}

// A real HTTP server on loopback: /ok answers 200, /fail 503, /slow after 2 s.
class HttpHookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int port = 20000 + (::getpid() % 20000);; ++port) {
      try {
        listener_ = std::make_unique<web::http::experimental::listener::http_listener>(
            "http://127.0.0.1:" + std::to_string(port));
        listener_->support([this](web::http::http_request req) {
          std::string path = req.relative_uri().path();
          last_method_ = req.method();
          if (path == "/slow") {
            std::this_thread::sleep_for(2s);
          }
          req.reply(path == "/fail" ? 503 : 200, path == "/fail" ? "unavailable" : "fine");
        });
        listener_->open().wait();
        port_ = port;
        return;
      } catch (const std::exception&) {
        continue;  // port in use: try the next
      }
    }
  }
  void TearDown() override { listener_->close().wait(); }

  HookSpec Http(const std::string& path, std::chrono::milliseconds timeout = 10s) {
    HookSpec spec;
    spec.name = "notify";
    spec.http = HttpAction{"http://127.0.0.1:" + std::to_string(port_) + path, "POST", {}, "{}", 200};
    spec.timeout = timeout;
    return spec;
  }

  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
  int port_ = 0;
  std::string last_method_;
};

TEST_F(HttpHookTest, StatusDecidesSuccess) {
  auto ok = NewHookRunner()->Run(Http("/ok"), {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->succeeded) << ok->message;
  EXPECT_EQ(ok->output, "fine");
  EXPECT_EQ(last_method_, "POST");
  auto failed = NewHookRunner()->Run(Http("/fail"), {});
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed->succeeded);
  EXPECT_EQ(failed->exit_code, 503);
  EXPECT_NE(failed->message.find("returned 503, expected 200"), std::string::npos);
}

TEST_F(HttpHookTest, TimeoutAndRefusedConnection) {
  auto slow = NewHookRunner()->Run(Http("/slow", 300ms), {});
  ASSERT_TRUE(slow.ok());
  EXPECT_FALSE(slow->succeeded);
  EXPECT_TRUE(slow->timed_out) << slow->message;
  HookSpec refused = Http("/ok");
  refused.http->url = "http://127.0.0.1:1/";
  auto r = NewHookRunner()->Run(refused, {});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);
  EXPECT_NE(r->message.find("notify: POST http://127.0.0.1:1/ failed"), std::string::npos)
      << r->message;
}

}  // namespace
}  // namespace lifeboat::hooks
