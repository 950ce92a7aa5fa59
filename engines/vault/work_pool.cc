#include "engines/vault/work_pool.h"

#include <malloc.h>

namespace lifeboat::vault {

void ByteBudget::Acquire(uint64_t n) {
  std::unique_lock lock(mu_);
  if (used_ != 0 && used_ + n > limit_) {
    ++waiters_;
    cv_.wait(lock, [&] { return used_ == 0 || used_ + n <= resume_at_; });
    --waiters_;
  }
  used_ += n;
}

void ByteBudget::Release(uint64_t n) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    used_ -= n;
    wake = waiters_ > 0 && used_ <= resume_at_;
  }
  if (wake) {
    cv_.notify_all();
  }
}

WorkPool::WorkPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    threads_.emplace_back([this] { Loop(); });
  }
}

WorkPool::~WorkPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    t.join();
  }
}

void WorkPool::Submit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void WorkPool::Drain() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return tasks_.empty() && running_ == 0; });
}

void WorkPool::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return !tasks_.empty() || stopping_; });
    if (tasks_.empty()) {
      return;
    }
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    ++running_;
    lock.unlock();
    task();
    lock.lock();
    --running_;
    if (tasks_.empty() && running_ == 0) {
      idle_cv_.notify_all();
    }
  }
}

void KeepLargeBuffersInHeap() {
  static std::once_flag once;
  std::call_once(once, [] {
    constexpr int kMmapThreshold = 32 << 20;  // glibc's maximum
    constexpr int kTrimThreshold = 256 << 20;
    ::mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
    ::mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
  });
}

int DefaultThreads(int requested) {
  if (requested > 0) {
    return requested;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : static_cast<int>(n);
}

int IoThreads(int requested) { return requested > 0 ? requested : 2 * DefaultThreads(0); }

}  // namespace lifeboat::vault
