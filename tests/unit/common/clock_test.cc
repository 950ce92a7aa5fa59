#include "common/clock.h"

#include <gtest/gtest.h>

#include <thread>

namespace lifeboat {
namespace {

using namespace std::chrono_literals;

TEST(ClockTest, FakeClockAdvances) {
  FakeClock clock;
  Clock::TimePoint start = clock.Now();
  clock.Advance(90s);
  EXPECT_EQ(clock.Now() - start, 90s);
}

TEST(ClockTest, FakeClockWakesWaiterWhenAdvancedPastDeadline) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool woke = false;
  const Clock::TimePoint deadline = clock.Now() + 1h;
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(mu);
    bool done = clock.WaitUntil(lock, cv, deadline, [] { return false; });
    EXPECT_FALSE(done);
    woke = true;
  });
  clock.Advance(2h);
  waiter.join();
  EXPECT_TRUE(woke);
}

TEST(ClockTest, WaitReturnsWhenPredicateHolds) {
  const Clock& clock = SystemClock();
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  std::thread setter([&] {
    std::lock_guard<std::mutex> l(mu);
    ready = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  EXPECT_TRUE(clock.WaitUntil(lock, cv, clock.Now() + 1h, [&] { return ready; }));
  lock.unlock();
  setter.join();
}

TEST(ClockTest, Rfc3339RoundTrip) {
  Clock::TimePoint t;
  ASSERT_TRUE(ParseRfc3339("2026-11-21T10:04:05Z", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-21T10:04:05Z");
  ASSERT_TRUE(ParseRfc3339("2026-11-21T12:04:05+02:00", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-21T10:04:05Z");
  ASSERT_TRUE(ParseRfc3339("2026-11-21T10:04:05.250Z", &t));
  EXPECT_EQ(FormatRfc3339(t), "2026-11-21T10:04:05Z");
  EXPECT_FALSE(ParseRfc3339("2026-13-21T10:04:05Z", &t));
  EXPECT_FALSE(ParseRfc3339("yesterday", &t));
  EXPECT_FALSE(ParseRfc3339("2026-11-21T10:04:05", &t));
  EXPECT_FALSE(ParseRfc3339("2026-11-21T10:04:05Zjunk", &t));
}

}  // namespace
}  // namespace lifeboat
