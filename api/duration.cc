#include "api/duration.h"

#include <cstdint>
#include <limits>

#include "api/codec.h"

namespace lifeboat::api {
namespace {

constexpr int64_t kMsPerSecond = 1000;
constexpr int64_t kMsPerMinute = 60 * kMsPerSecond;
constexpr int64_t kMsPerHour = 60 * kMsPerMinute;
constexpr int64_t kMsPerDay = 24 * kMsPerHour;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Status Invalid(std::string_view text, const std::string& why) {
  return InvalidArgumentError("invalid duration " + Quote(text) + ": " + why);
}

}  // namespace

StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) {
    return Invalid(text, "empty (write e.g. 90s, 15m, 24h, 7d or 1h30m)");
  }
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!IsDigit(text[i])) {
      return Invalid(text, "expected a number at " + Quote(text.substr(i)) +
                               " (write e.g. 90s, 15m, 24h, 7d or 1h30m)");
    }
    int64_t number = 0;
    size_t start = i;
    while (i < text.size() && IsDigit(text[i])) {
      if (number > (std::numeric_limits<int64_t>::max() - 9) / 10) {
        return Invalid(text, "too large");
      }
      number = number * 10 + (text[i] - '0');
      ++i;
    }
    if (i == text.size()) {
      return Invalid(text, "missing unit after " + std::string(text.substr(start)) +
                               " (use ms, s, m, h or d)");
    }
    int64_t unit = 0;
    if (text.substr(i, 2) == "ms") {
      unit = 1;
      i += 2;
    } else {
      switch (text[i]) {
        case 's':
          unit = kMsPerSecond;
          break;
        case 'm':
          unit = kMsPerMinute;
          break;
        case 'h':
          unit = kMsPerHour;
          break;
        case 'd':
          unit = kMsPerDay;
          break;
        default: {
          size_t end = i;
          while (end < text.size() && !IsDigit(text[end])) {
            ++end;
          }
          return Invalid(text, "unknown unit " + Quote(text.substr(i, end - i)) +
                                   " (use ms, s, m, h or d)");
        }
      }
      ++i;
    }
    if (number > std::numeric_limits<int64_t>::max() / unit ||
        total > std::numeric_limits<int64_t>::max() - number * unit) {
      return Invalid(text, "too large");
    }
    total += number * unit;
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) {
    return "0s";
  }
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  const std::pair<int64_t, const char*> units[] = {
      {kMsPerDay, "d"}, {kMsPerHour, "h"}, {kMsPerMinute, "m"}, {kMsPerSecond, "s"}, {1, "ms"}};
  for (const auto& [size, name] : units) {
    if (ms >= size) {
      out += std::to_string(ms / size) + name;
      ms %= size;
    }
  }
  return out;
}

}  // namespace lifeboat::api
