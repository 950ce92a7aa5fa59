#pragma once

// Progress in status: the engine's Progress as the API's `progress` object (bytes, files,
// percent, rate, ETA), written at most every few seconds.
#include <chrono>
#include <functional>
#include <mutex>

#include "api/json.h"
#include "engines/vault/vault.h"

namespace lifeboat::reconcilers::backup {

inline constexpr auto kProgressEvery = std::chrono::seconds(3);

Json ProgressJson(const vault::Progress& p, std::chrono::steady_clock::duration elapsed);

// Calls `publish` with the progress object at most every `every` (the first call publishes
// at once; Final() always publishes). Thread-safe: the engine reports from its workers.
class ProgressThrottle {
 public:
  ProgressThrottle(std::function<void(const Json&)> publish,
                   std::chrono::steady_clock::duration every = kProgressEvery);
  void operator()(const vault::Progress& p);
  // The final progress object: 100 %, from the last progress reported.
  Json Final();
  std::chrono::steady_clock::duration elapsed() const;

 private:
  std::function<void(const Json&)> publish_;
  std::chrono::steady_clock::duration every_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
  vault::Progress last_progress_;
  mutable std::mutex mu_;
};

}  // namespace lifeboat::reconcilers::backup
