#pragma once

// Injected time (STYLE.md §3.11): production code asks a Clock, tests advance a FakeClock.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

namespace lifeboat {

class Clock {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  using Duration = std::chrono::system_clock::duration;

  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;

  // Waits on `cv` (with `lock` held) until `done()` is true or Now() >= deadline.
  // Returns done(). A FakeClock wakes such waits when it is advanced.
  virtual bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         TimePoint deadline, const std::function<bool()>& done) const = 0;
};

class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline, const std::function<bool()>& done) const override;
};

// The process-wide real clock (stateless, so sharing it is not global state).
const Clock& SystemClock();

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::seconds(1'700'000'000)))
      : now_(start) {}
  TimePoint Now() const override;
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline, const std::function<bool()>& done) const override;

  void Advance(Duration d);
  void Set(TimePoint t);

 private:
  mutable std::mutex mu_;
  TimePoint now_;
};

// RFC 3339 in UTC with second precision ("2026-11-21T10:04:05Z"), as Kubernetes writes times.
std::string FormatRfc3339(Clock::TimePoint t);
// Parses "2026-11-21T10:04:05Z", "…T10:04:05.123Z" and "…T10:04:05+02:00". False on error.
bool ParseRfc3339(const std::string& text, Clock::TimePoint* out);

}  // namespace lifeboat
