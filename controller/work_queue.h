#pragma once

// The controller work queue (client-go's rate-limited delaying queue, STYLE.md §3.5):
//  - a key is queued at most once however often it is added (dedup);
//  - a key handed out by Get() is never handed out again until Done() — no two workers ever
//    process the same key; adding it meanwhile marks it dirty and it is re-queued on Done();
//  - AddAfter() delays a key, driven by the injected Clock (a FakeClock in tests);
//  - AddRateLimited() delays by the RateLimiter (per-key exponential backoff, global bucket);
//    Forget() resets the key's backoff after a success;
//  - ShutDown() wakes every Get(), which then returns nullopt.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "controller/rate_limiter.h"

namespace lifeboat::controller {

struct WorkQueueOptions {
  std::string name;  // the controller's name, for logs
  RateLimiterOptions rate_limits;
};

class WorkQueue {
 public:
  explicit WorkQueue(const Clock& clock, WorkQueueOptions options = {});
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& key);
  void AddAfter(const std::string& key, Clock::Duration delay);
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;

  // Blocks until a key is ready (then it is "processing" until Done) or the queue shuts down.
  std::optional<std::string> Get();
  void Done(const std::string& key);

  void ShutDown();
  bool ShuttingDown() const;

  // Keys ready to be handed out (due delayed keys are promoted first).
  size_t Len();
  // Keys waiting for their AddAfter time.
  size_t NumWaiting() const;
  const std::string& name() const { return options_.name; }

 private:
  void AddLocked(const std::string& key);
  void PromoteDueLocked();

  const Clock& clock_;
  const WorkQueueOptions options_;
  RateLimiter limiter_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;
  std::set<std::string> processing_;
  std::map<std::string, Clock::TimePoint> waiting_by_key_;
  std::multimap<Clock::TimePoint, std::string> waiting_;
  uint64_t waiting_generation_ = 0;  // bumped when the earliest deadline may have moved
  bool shutting_down_ = false;
};

}  // namespace lifeboat::controller
