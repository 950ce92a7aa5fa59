#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace lifeboat {
namespace {
// How often a wait against a FakeClock re-reads the fake time.
constexpr std::chrono::milliseconds kFakeClockPoll{2};
}  // namespace

bool RealClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          TimePoint deadline, const std::function<bool()>& done) const {
  return cv.wait_until(lock, deadline, done);
}

const Clock& SystemClock() {
  static const RealClock clock;
  return clock;
}

Clock::TimePoint FakeClock::Now() const {
  std::lock_guard<std::mutex> l(mu_);
  return now_;
}

bool FakeClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          TimePoint deadline, const std::function<bool()>& done) const {
  while (!done()) {
    if (Now() >= deadline) {
      return done();
    }
    cv.wait_for(lock, kFakeClockPoll);
  }
  return true;
}

void FakeClock::Advance(Duration d) {
  std::lock_guard<std::mutex> l(mu_);
  now_ += d;
}

void FakeClock::Set(TimePoint t) {
  std::lock_guard<std::mutex> l(mu_);
  now_ = t;
}

std::string FormatRfc3339(Clock::TimePoint t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool ParseRfc3339(const std::string& text, Clock::TimePoint* out) {
  int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &mon, &day, &hour, &min, &sec,
                  &consumed) != 6 ||
      consumed != 19) {
    return false;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return false;
  }
  size_t pos = 19;
  long nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    long scale = 100'000'000;
    size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      nanos += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++digits;
    }
    if (digits == 0) {
      return false;
    }
  }
  long offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos + 6 == text.size() && (text[pos] == '+' || text[pos] == '-') &&
             text[pos + 3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) {
      return false;
    }
    offset_seconds = (oh * 3600L + om * 60L) * (text[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != text.size()) {
    return false;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  std::time_t secs = timegm(&tm);
  *out = std::chrono::system_clock::from_time_t(secs - offset_seconds) +
         std::chrono::duration_cast<Clock::Duration>(std::chrono::nanoseconds(nanos));
  return true;
}

}  // namespace lifeboat
