#pragma once

// JobRunner: the engines' worker pool. Long work (a backup, a snapshot, a replication cycle)
// runs here, never inside Reconcile, so a reconcile worker is never blocked for more than an
// API round trip (STYLE.md §3.1). Jobs are keyed (usually "<kind>/<namespace>/<name>"): at most
// one job per key is queued or running, so a second Submit for the same object is a no-op, which
// makes "submit if not running" idempotent across repeated reconciles.
//
//   if (!env.jobs->Active(key)) env.jobs->Submit(key, [=](std::stop_token stop) { ... });
//
// Stop() (also the destructor) drops queued jobs, requests stop of running ones through their
// stop_token and joins the threads; a job must return soon after its token is stopped.
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

namespace lifeboat::reconcilers {

class JobRunner {
 public:
  using Job = std::function<void(std::stop_token)>;

  explicit JobRunner(int threads);
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Queues `job` under `key`; false (and nothing queued) when a job with that key is already
  // queued or running, or the runner is stopped.
  bool Submit(const std::string& key, Job job);
  // Same, and `after` runs once the key is free again (e.g. to re-enqueue the object, whose
  // reconcile then sees no active job).
  bool Submit(const std::string& key, Job job, std::function<void()> after);
  // A job with `key` is queued or running.
  bool Active(const std::string& key) const;
  // A queued job is dropped; a running one has its stop_token stopped. Returns at once.
  void Cancel(const std::string& key);
  // Queued + running jobs.
  size_t Size() const;
  void Stop();

 private:
  struct Running {
    std::stop_source stop;
  };
  void Work();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Queued {
    std::string key;
    Job job;
    std::function<void()> after;
  };
  std::deque<Queued> queue_;
  std::map<std::string, Running> running_;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace lifeboat::reconcilers
