#pragma once

// A fixed set of worker threads and a byte budget for work in flight: the producer blocks in
// Acquire() when the budget is spent, which bounds memory regardless of input size.
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lifeboat::vault {

class ByteBudget {
 public:
  // A producer that finds the budget spent waits until `n` more bytes fit under `resume_at`
  // (default: the limit). A lower `resume_at` makes it wake once per many releases, not at every
  // one: the backup's walker queues ~20,000 small-file parts, and woke (a futex wake and two
  // context switches) for each part a worker finished.
  explicit ByteBudget(uint64_t limit, uint64_t resume_at = 0)
      : limit_(limit), resume_at_(resume_at == 0 ? limit : std::min(resume_at, limit)) {}
  // Blocks until `n` more bytes fit (a single item larger than the budget is let through alone).
  void Acquire(uint64_t n);
  void Release(uint64_t n);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t limit_;
  uint64_t resume_at_;
  uint64_t used_ = 0;
  int waiters_ = 0;
};

class WorkPool {
 public:
  explicit WorkPool(int threads);
  // Runs every queued task, then joins.
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  void Submit(std::function<void()> task);
  // Blocks until the queue is empty and no task is running.
  void Drain();

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<std::function<void()>> tasks_;
  int running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

int DefaultThreads(int requested);
// Threads for work that waits on the disk as well as computing (restore, check --read-data):
// `requested` when positive, else two per core, so that while some threads wait for a pack read
// or an O_DIRECT write the others decode. Packs are written with O_DIRECT, so right after a
// backup they are read from the disk, not the page cache: the benchmark restore took 6.2-6.4 s
// with 2 threads and 3.7-3.8 s with 4 (2 cores; 6 threads: ~155 MiB RSS).
int IoThreads(int requested);

// Keeps glibc from returning the data path's large buffers (pack reads of a few MiB) to the
// kernel after each use and faulting fresh zeroed pages in for the next: blocks up to 32 MiB
// come from the heap and freed memory stays there up to 256 MiB. Measured on the benchmark
// restore: page faults and zeroing were a quarter of its CPU time. Process-wide; idempotent.
// For the one-shot CLI commands only (cli/main.cc): a long-running server (`lifeboat up`) keeps
// its own setting, where up to 256 MiB of freed memory staying resident would undo its RSS bound.
void KeepLargeBuffersInHeap();

}  // namespace lifeboat::vault
