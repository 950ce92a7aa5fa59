#include "reconcilers/job_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

namespace lifeboat::reconcilers {

JobRunner::JobRunner(int threads) {
  threads = std::max(threads, 1);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { Work(); });
  }
}

JobRunner::~JobRunner() { Stop(); }

bool JobRunner::Submit(const std::string& key, Job job) {
  return Submit(key, std::move(job), nullptr);
}

bool JobRunner::Submit(const std::string& key, Job job, std::function<void()> after) {
  {
    std::lock_guard lock(mu_);
    if (stopped_ || running_.count(key) > 0 ||
        std::any_of(queue_.begin(), queue_.end(), [&](const auto& q) { return q.key == key; })) {
      return false;
    }
    queue_.push_back(Queued{key, std::move(job), std::move(after)});
  }
  cv_.notify_one();
  return true;
}

bool JobRunner::Active(const std::string& key) const {
  std::lock_guard lock(mu_);
  return running_.count(key) > 0 ||
         std::any_of(queue_.begin(), queue_.end(), [&](const auto& q) { return q.key == key; });
}

void JobRunner::Cancel(const std::string& key) {
  std::lock_guard lock(mu_);
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [&](const auto& q) { return q.key == key; }),
               queue_.end());
  if (auto it = running_.find(key); it != running_.end()) {
    it->second.stop.request_stop();
  }
}

size_t JobRunner::Size() const {
  std::lock_guard lock(mu_);
  return queue_.size() + running_.size();
}

void JobRunner::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_ && threads_.empty()) {
      return;
    }
    stopped_ = true;
    queue_.clear();
    for (auto& [key, running] : running_) {
      running.stop.request_stop();
    }
  }
  cv_.notify_all();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) {
    if (t.joinable()) {
      t.join();
    }
  }
}

void JobRunner::Work() {
  while (true) {
    std::string key;
    Job job;
    std::function<void()> after;
    std::stop_token token;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopped_ || !queue_.empty(); });
      if (stopped_) {
        return;
      }
      key = std::move(queue_.front().key);
      job = std::move(queue_.front().job);
      after = std::move(queue_.front().after);
      queue_.pop_front();
      token = running_[key].stop.get_token();
    }
    try {
      job(token);
    } catch (const std::exception& e) {
      spdlog::error("Job key={} threw: {}", key, e.what());
    }
    {
      std::lock_guard lock(mu_);
      running_.erase(key);
    }
    if (after) {
      try {
        after();
      } catch (const std::exception& e) {
        spdlog::error("Job key={} completion threw: {}", key, e.what());
      }
    }
  }
}

}  // namespace lifeboat::reconcilers
