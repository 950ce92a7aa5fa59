#include "controller/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace lifeboat::controller {

RateLimiter::RateLimiter(const Clock& clock, RateLimiterOptions options)
    : clock_(clock),
      options_(options),
      tokens_(static_cast<double>(options.burst)),
      last_refill_(clock.Now()) {}

Clock::Duration RateLimiter::When(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  int failures = failures_[key]++;
  // Exponential part: base * 2^failures, capped (computed in double to avoid overflow).
  double exp_ms = static_cast<double>(options_.base_delay.count()) *
                  std::pow(2.0, static_cast<double>(std::min(failures, 62)));
  exp_ms = std::min(exp_ms, static_cast<double>(options_.max_delay.count()));
  auto exponential = std::chrono::duration_cast<Clock::Duration>(
      std::chrono::duration<double, std::milli>(exp_ms));

  // Token bucket part: reserve one token; a negative balance is paid back at `qps`.
  Clock::TimePoint now = clock_.Now();
  double elapsed = std::chrono::duration<double>(now - last_refill_).count();
  if (elapsed > 0) {
    tokens_ = std::min(static_cast<double>(options_.burst), tokens_ + elapsed * options_.qps);
    last_refill_ = now;
  }
  tokens_ -= 1.0;
  Clock::Duration bucket{0};
  if (tokens_ < 0 && options_.qps > 0) {
    bucket = std::chrono::duration_cast<Clock::Duration>(
        std::chrono::duration<double>(-tokens_ / options_.qps));
  }
  return std::max(exponential, bucket);
}

void RateLimiter::Forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.erase(key);
}

int RateLimiter::NumRequeues(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

}  // namespace lifeboat::controller
