#include "reconcilers/job_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace lifeboat::reconcilers {
namespace {

bool WaitFor(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

TEST(JobRunnerTest, OneJobPerKeyAtATime) {
  JobRunner runner(2);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> runs{0};
  ASSERT_TRUE(runner.Submit("rp/ns/a", [&, released](std::stop_token) {
    runs++;
    released.wait();
  }));
  EXPECT_FALSE(runner.Submit("rp/ns/a", [&](std::stop_token) { runs++; }))
      << "a second submit for a running key is refused";
  EXPECT_TRUE(runner.Active("rp/ns/a"));
  std::atomic<bool> other{false};
  ASSERT_TRUE(runner.Submit("rp/ns/b", [&](std::stop_token) { other = true; }));
  EXPECT_TRUE(WaitFor([&] { return other.load(); })) << "other keys run alongside";
  release.set_value();
  EXPECT_TRUE(WaitFor([&] { return !runner.Active("rp/ns/a"); }));
  EXPECT_EQ(runs.load(), 1);
  EXPECT_TRUE(runner.Submit("rp/ns/a", [&](std::stop_token) { runs++; }))
      << "the key is free again once its job ended";
  EXPECT_TRUE(WaitFor([&] { return runs.load() == 2; }));
}

TEST(JobRunnerTest, CancelStopsARunningJobAndDropsAQueuedOne) {
  JobRunner runner(1);
  std::atomic<bool> started{false}, saw_stop{false}, queued_ran{false};
  ASSERT_TRUE(runner.Submit("long", [&](std::stop_token stop) {
    started = true;
    while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    saw_stop = true;
  }));
  ASSERT_TRUE(WaitFor([&] { return started.load(); }));
  ASSERT_TRUE(runner.Submit("queued", [&](std::stop_token) { queued_ran = true; }));
  runner.Cancel("queued");
  EXPECT_FALSE(runner.Active("queued"));
  runner.Cancel("long");
  EXPECT_TRUE(WaitFor([&] { return saw_stop.load() && runner.Size() == 0; }));
  EXPECT_FALSE(queued_ran.load());
}

TEST(JobRunnerTest, StopEndsRunningJobsAndRefusesNewOnes) {
  std::atomic<bool> saw_stop{false};
  std::atomic<bool> started{false};
  JobRunner runner(2);
  ASSERT_TRUE(runner.Submit("x", [&](std::stop_token stop) {
    started = true;
    while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    saw_stop = true;
  }));
  ASSERT_TRUE(WaitFor([&] { return started.load(); }));
  runner.Stop();
  EXPECT_TRUE(saw_stop.load());
  EXPECT_FALSE(runner.Submit("y", [](std::stop_token) {}));
  runner.Stop();  // twice is fine
}

TEST(JobRunnerTest, AThrowingJobFreesItsKey) {
  JobRunner runner(1);
  ASSERT_TRUE(runner.Submit("k", [](std::stop_token) { throw std::runtime_error("boom"); }));
  EXPECT_TRUE(WaitFor([&] { return !runner.Active("k"); }));
  std::atomic<bool> ran{false};
  ASSERT_TRUE(runner.Submit("k", [&](std::stop_token) { ran = true; }));
  EXPECT_TRUE(WaitFor([&] { return ran.load(); }));
}

}  // namespace
}  // namespace lifeboat::reconcilers
