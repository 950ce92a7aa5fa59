#include "controller/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace lifeboat::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(WorkQueueTest, AddingAKeyTwiceQueuesItOnce) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.Add("ns/a");
  queue.Add("ns/b");
  queue.Add("ns/a");
  EXPECT_EQ(queue.Len(), 2u);
  EXPECT_EQ(queue.Get(), "ns/a");
  EXPECT_EQ(queue.Get(), "ns/b");
  EXPECT_EQ(queue.Len(), 0u);
}

TEST(WorkQueueTest, KeyAddedWhileProcessingIsRequeuedOnDoneOnly) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.Add("ns/a");
  ASSERT_EQ(queue.Get(), "ns/a");
  queue.Add("ns/a");  // dirtied while processing
  queue.Add("ns/a");
  EXPECT_EQ(queue.Len(), 0u) << "a processing key must not be handed to a second worker";
  queue.Done("ns/a");
  EXPECT_EQ(queue.Len(), 1u);
  ASSERT_EQ(queue.Get(), "ns/a");
  queue.Done("ns/a");
  EXPECT_EQ(queue.Len(), 0u) << "a clean key is not requeued on Done";
}

TEST(WorkQueueTest, SecondWorkerGetsAnotherKeyWhileFirstHoldsOne) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.Add("ns/a");
  ASSERT_EQ(queue.Get(), "ns/a");
  queue.Add("ns/a");
  queue.Add("ns/b");
  // A second worker only sees b; a stays with the first worker.
  std::optional<std::string> second;
  std::thread worker([&] { second = queue.Get(); });
  worker.join();
  EXPECT_EQ(second, "ns/b");
  queue.Done("ns/a");
  EXPECT_EQ(queue.Get(), "ns/a");
}

TEST(WorkQueueTest, ManyWorkersNeverProcessTheSameKeyConcurrently) {
  FakeClock clock;
  WorkQueue queue(clock);
  constexpr int kWorkers = 4;
  constexpr int kKeys = 8;
  constexpr int kRounds = 2000;
  std::mutex mu;
  std::set<std::string> in_flight;
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (auto key = queue.Get()) {
        {
          std::lock_guard<std::mutex> l(mu);
          if (!in_flight.insert(*key).second) {
            overlap = true;
          }
        }
        // Re-add the key while it is being processed (the dirty path).
        queue.Add(*key);
        {
          std::lock_guard<std::mutex> l(mu);
          in_flight.erase(*key);
        }
        processed.fetch_add(1);
        queue.Done(*key);
      }
    });
  }
  for (int r = 0; r < kRounds; ++r) {
    queue.Add("ns/k" + std::to_string(r % kKeys));
  }
  // Wait (on a condition, with a deadline) until the workers have churned through a good amount.
  auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (processed.load() < kRounds && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  queue.ShutDown();
  for (auto& t : workers) {
    t.join();
  }
  EXPECT_GE(processed.load(), kRounds);
  EXPECT_FALSE(overlap.load());
}

TEST(WorkQueueTest, AddAfterWaitsForTheClock) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.AddAfter("ns/a", seconds(10));
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.NumWaiting(), 1u);
  clock.Advance(seconds(9));
  EXPECT_EQ(queue.Len(), 0u);
  clock.Advance(seconds(1));
  EXPECT_EQ(queue.Len(), 1u);
  EXPECT_EQ(queue.NumWaiting(), 0u);
  EXPECT_EQ(queue.Get(), "ns/a");
}

TEST(WorkQueueTest, AddAfterKeepsTheEarliestTime) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.AddAfter("ns/a", seconds(10));
  queue.AddAfter("ns/a", seconds(5));
  queue.AddAfter("ns/a", seconds(20));
  EXPECT_EQ(queue.NumWaiting(), 1u);
  clock.Advance(seconds(5));
  EXPECT_EQ(queue.Len(), 1u);
}

TEST(WorkQueueTest, AddAfterZeroIsAnAdd) {
  FakeClock clock;
  WorkQueue queue(clock);
  queue.AddAfter("ns/a", seconds(0));
  EXPECT_EQ(queue.Len(), 1u);
}

TEST(WorkQueueTest, BlockedGetWakesWhenTheFakeClockReachesADelayedKey) {
  FakeClock clock;
  WorkQueue queue(clock);
  std::optional<std::string> got;
  std::thread worker([&] { got = queue.Get(); });
  queue.AddAfter("ns/a", seconds(30));
  clock.Advance(seconds(30));
  worker.join();
  EXPECT_EQ(got, "ns/a");
}

TEST(WorkQueueTest, BlockedGetWakesOnAdd) {
  FakeClock clock;
  WorkQueue queue(clock);
  std::optional<std::string> got;
  std::thread worker([&] { got = queue.Get(); });
  queue.Add("ns/a");
  worker.join();
  EXPECT_EQ(got, "ns/a");
}

TEST(WorkQueueTest, ShutDownReleasesWaitingWorkers) {
  FakeClock clock;
  WorkQueue queue(clock);
  std::vector<std::thread> workers;
  std::atomic<int> released{0};
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      if (!queue.Get().has_value()) {
        released.fetch_add(1);
      }
    });
  }
  queue.ShutDown();
  for (auto& t : workers) {
    t.join();
  }
  EXPECT_EQ(released.load(), 3);
  EXPECT_TRUE(queue.ShuttingDown());
  queue.Add("ns/a");
  EXPECT_EQ(queue.Len(), 0u) << "adds after shut down are ignored";
}

TEST(WorkQueueTest, AddRateLimitedBacksOffExponentiallyUntilForget) {
  FakeClock clock;
  WorkQueue queue(clock);
  // 5 ms, 10 ms, 20 ms: each failure doubles the wait.
  for (milliseconds expected : {milliseconds(5), milliseconds(10), milliseconds(20)}) {
    queue.AddRateLimited("ns/a");
    clock.Advance(expected - milliseconds(1));
    EXPECT_EQ(queue.Len(), 0u) << "due after " << expected.count() << " ms";
    clock.Advance(milliseconds(1));
    ASSERT_EQ(queue.Len(), 1u) << "due after " << expected.count() << " ms";
    ASSERT_EQ(queue.Get(), "ns/a");
    queue.Done("ns/a");
  }
  EXPECT_EQ(queue.NumRequeues("ns/a"), 3);
  queue.Forget("ns/a");
  EXPECT_EQ(queue.NumRequeues("ns/a"), 0);
  queue.AddRateLimited("ns/a");
  clock.Advance(milliseconds(5));
  EXPECT_EQ(queue.Len(), 1u) << "after Forget the backoff starts again at 5 ms";
}

TEST(RateLimiterTest, PerKeyExponentialCappedAt1000Seconds) {
  FakeClock clock;
  RateLimiter limiter(clock, RateLimiterOptions{});
  EXPECT_EQ(limiter.When("a"), milliseconds(5));
  EXPECT_EQ(limiter.When("a"), milliseconds(10));
  EXPECT_EQ(limiter.When("b"), milliseconds(5)) << "keys back off independently";
  for (int i = 0; i < 40; ++i) {
    (void)limiter.When("a");
  }
  EXPECT_EQ(limiter.When("a"), seconds(1000));
  limiter.Forget("a");
  EXPECT_EQ(limiter.When("a"), milliseconds(5));
}

TEST(RateLimiterTest, GlobalTokenBucketLimitsBursts) {
  FakeClock clock;
  RateLimiterOptions options;
  options.qps = 1.0;
  options.burst = 2;
  RateLimiter limiter(clock, options);
  EXPECT_EQ(limiter.When("a"), milliseconds(5));
  EXPECT_EQ(limiter.When("b"), milliseconds(5));
  EXPECT_EQ(limiter.When("c"), seconds(1)) << "third failure in a burst of 2 waits for a token";
  EXPECT_EQ(limiter.When("d"), seconds(2));
  clock.Advance(seconds(10));
  EXPECT_EQ(limiter.When("e"), milliseconds(5)) << "the bucket refills with time";
}

}  // namespace
}  // namespace lifeboat::controller
