#pragma once

// How long a failed key waits before its next attempt: the maximum of a per-key exponential
// backoff (5 ms doubling to 1000 s) and a global token bucket shared by all keys (client-go's
// DefaultControllerRateLimiter, STYLE.md §3.5).
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"

namespace lifeboat::controller {

struct RateLimiterOptions {
  std::chrono::milliseconds base_delay{5};
  std::chrono::milliseconds max_delay{1'000'000};
  double qps = 10.0;  // global bucket refill rate
  int burst = 100;    // global bucket size
};

class RateLimiter {
 public:
  RateLimiter(const Clock& clock, RateLimiterOptions options);

  // The delay before `key`'s next attempt; counts one more failure for it.
  Clock::Duration When(const std::string& key);
  // Forgets `key`'s failures (call after a success).
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;

 private:
  const Clock& clock_;
  const RateLimiterOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, int> failures_;
  double tokens_;
  Clock::TimePoint last_refill_;
};

}  // namespace lifeboat::controller
