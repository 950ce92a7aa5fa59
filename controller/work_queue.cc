#include "controller/work_queue.h"

namespace lifeboat::controller {
namespace {
// Upper bound of one wait when nothing is delayed; the loop re-checks and waits again.
constexpr std::chrono::seconds kIdleWait{60};
}  // namespace

WorkQueue::WorkQueue(const Clock& clock, WorkQueueOptions options)
    : clock_(clock), options_(std::move(options)), limiter_(clock, options_.rate_limits) {}

void WorkQueue::AddLocked(const std::string& key) {
  if (shutting_down_ || dirty_.count(key) > 0) {
    return;
  }
  dirty_.insert(key);
  if (processing_.count(key) > 0) {
    return;  // re-queued by Done()
  }
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked(key);
}

void WorkQueue::AddAfter(const std::string& key, Clock::Duration delay) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) {
    return;
  }
  if (delay <= Clock::Duration::zero()) {
    AddLocked(key);
    return;
  }
  Clock::TimePoint ready = clock_.Now() + delay;
  auto existing = waiting_by_key_.find(key);
  if (existing != waiting_by_key_.end()) {
    if (existing->second <= ready) {
      return;  // already due earlier
    }
    auto range = waiting_.equal_range(existing->second);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == key) {
        waiting_.erase(it);
        break;
      }
    }
  }
  waiting_by_key_[key] = ready;
  waiting_.emplace(ready, key);
  ++waiting_generation_;
  cv_.notify_all();
}

void WorkQueue::AddRateLimited(const std::string& key) { AddAfter(key, limiter_.When(key)); }

void WorkQueue::Forget(const std::string& key) { limiter_.Forget(key); }

int WorkQueue::NumRequeues(const std::string& key) const { return limiter_.NumRequeues(key); }

void WorkQueue::PromoteDueLocked() {
  Clock::TimePoint now = clock_.Now();
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    std::string key = waiting_.begin()->second;
    waiting_.erase(waiting_.begin());
    waiting_by_key_.erase(key);
    AddLocked(key);
  }
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (shutting_down_) {
      return std::nullopt;
    }
    PromoteDueLocked();
    if (!queue_.empty()) {
      std::string key = std::move(queue_.front());
      queue_.pop_front();
      processing_.insert(key);
      dirty_.erase(key);
      return key;
    }
    Clock::TimePoint deadline =
        waiting_.empty() ? clock_.Now() + kIdleWait : waiting_.begin()->first;
    uint64_t generation = waiting_generation_;
    clock_.WaitUntil(lock, cv_, deadline, [&] {
      return shutting_down_ || !queue_.empty() || waiting_generation_ != generation;
    });
  }
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) > 0 && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::ShutDown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutting_down_ = true;
  cv_.notify_all();
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutting_down_;
}

size_t WorkQueue::Len() {
  std::lock_guard<std::mutex> lock(mu_);
  PromoteDueLocked();
  return queue_.size();
}

size_t WorkQueue::NumWaiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_.size();
}

}  // namespace lifeboat::controller
