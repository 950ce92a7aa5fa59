#include "api/cron.h"

#include <array>
#include <cctype>
#include <optional>
#include <vector>

#include "api/codec.h"

namespace lifeboat::api {
namespace {

constexpr int64_t kSecondsPerDay = 86400;
// Far enough to reach any Feb 29 (at most 8 years apart) from any start.
constexpr int64_t kSearchDays = 366 * 9;

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};
constexpr std::array<std::string_view, 12> kMonthLongNames = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};
constexpr int kMaxDaysInMonth[] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

struct FieldSpec {
  const char* name;
  int min;
  int max;
  const std::string_view* names;  // nullptr when the field has no names
  size_t name_count;
  int name_base;  // value of names[0]
};

constexpr FieldSpec kFields[5] = {
    {"minute", 0, 59, nullptr, 0, 0},
    {"hour", 0, 23, nullptr, 0, 0},
    {"day-of-month", 1, 31, nullptr, 0, 0},
    {"month", 1, 12, kMonthNames.data(), kMonthNames.size(), 1},
    {"day-of-week", 0, 7, kDayNames.data(), kDayNames.size(), 0},
};

class FieldParser {
 public:
  FieldParser(std::string_view expression, const FieldSpec& spec)
      : expression_(expression), spec_(spec) {}

  // Sets bits min..max of `bits` (index = value).
  Status Parse(std::string_view field, std::vector<bool>* bits) {
    bits->assign(static_cast<size_t>(spec_.max) + 1, false);
    size_t start = 0;
    while (true) {
      size_t comma = field.find(',', start);
      std::string_view item =
          field.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                               : comma - start);
      RETURN_IF_ERROR(ParseItem(item, bits));
      if (comma == std::string_view::npos) {
        return OkStatus();
      }
      start = comma + 1;
    }
  }

 private:
  Status Error(const std::string& why) const {
    return InvalidArgumentError("invalid cron " + Quote(expression_) + ": " + spec_.name + ": " +
                                why);
  }

  StatusOr<int> Value(std::string_view text) const {
    if (text.empty()) {
      return Error("empty value");
    }
    if (std::isdigit(static_cast<unsigned char>(text[0]))) {
      int v = 0;
      for (char c : text) {
        if (!std::isdigit(static_cast<unsigned char>(c))) {
          return Error("cannot parse " + Quote(text));
        }
        v = v * 10 + (c - '0');
        if (v > 1000) {
          break;
        }
      }
      if (v < spec_.min || v > spec_.max) {
        return Error(std::to_string(v) + " is out of range " + std::to_string(spec_.min) + "-" +
                     std::to_string(spec_.max));
      }
      return v;
    }
    if (spec_.names != nullptr && text.size() == 3) {
      std::string upper;
      for (char c : text) {
        upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      }
      for (size_t i = 0; i < spec_.name_count; ++i) {
        if (spec_.names[i] == upper) {
          return spec_.name_base + static_cast<int>(i);
        }
      }
    }
    return Error("cannot parse " + Quote(text));
  }

  Status ParseItem(std::string_view item, std::vector<bool>* bits) {
    if (item.empty()) {
      return Error("empty list item");
    }
    int step = 1;
    size_t slash = item.find('/');
    std::string_view range = item;
    if (slash != std::string_view::npos) {
      std::string_view step_text = item.substr(slash + 1);
      range = item.substr(0, slash);
      if (step_text.empty()) {
        return Error("missing step after '/'");
      }
      step = 0;
      for (char c : step_text) {
        if (!std::isdigit(static_cast<unsigned char>(c))) {
          return Error("cannot parse step " + Quote(step_text));
        }
        step = step * 10 + (c - '0');
        if (step > 1000) {
          break;
        }
      }
      if (step == 0) {
        return Error("step must be at least 1");
      }
      if (step > spec_.max) {
        return Error("step " + std::to_string(step) + " is larger than the range " +
                     std::to_string(spec_.min) + "-" + std::to_string(spec_.max));
      }
    }
    int low = spec_.min;
    int high = spec_.max;
    if (range == "*") {
      if (spec_.max == 7) {
        high = 6;  // day-of-week: 7 is Sunday again
      }
    } else {
      size_t dash = range.find('-');
      if (dash == std::string_view::npos) {
        ASSIGN_OR_RETURN(low, Value(range));
        // "5/15" means 5-max/15, as most crons read it.
        high = slash != std::string_view::npos ? spec_.max : low;
      } else {
        ASSIGN_OR_RETURN(low, Value(range.substr(0, dash)));
        ASSIGN_OR_RETURN(high, Value(range.substr(dash + 1)));
        if (low > high) {
          return Error("range " + Quote(range) + " goes backwards");
        }
      }
    }
    for (int v = low; v <= high; v += step) {
      (*bits)[static_cast<size_t>(v)] = true;
    }
    return OkStatus();
  }

  std::string_view expression_;
  const FieldSpec& spec_;
};

std::optional<std::string_view> ExpandMacro(std::string_view text) {
  if (text == "@yearly" || text == "@annually") {
    return "0 0 1 1 *";
  }
  if (text == "@monthly") {
    return "0 0 1 * *";
  }
  if (text == "@weekly") {
    return "0 0 * * 0";
  }
  if (text == "@daily" || text == "@midnight") {
    return "0 0 * * *";
  }
  if (text == "@hourly") {
    return "0 * * * *";
  }
  return std::nullopt;
}

}  // namespace

StatusOr<CronSchedule> CronSchedule::Parse(std::string_view expression) {
  std::string_view text = expression;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (text.empty()) {
    return InvalidArgumentError("invalid cron \"\": empty (write e.g. \"0 2 * * *\" or @daily)");
  }
  if (text[0] == '@') {
    std::optional<std::string_view> expanded = ExpandMacro(text);
    if (!expanded) {
      return InvalidArgumentError("invalid cron " + Quote(expression) + ": unknown macro " +
                                  Quote(text) +
                                  " (use @hourly, @daily, @midnight, @weekly, @monthly, @yearly "
                                  "or @annually)");
    }
    ASSIGN_OR_RETURN(CronSchedule schedule, Parse(*expanded));
    schedule.expression_ = std::string(expression);
    return schedule;
  }
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
    }
    size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
    }
    if (i > start) {
      fields.push_back(text.substr(start, i - start));
    }
  }
  if (fields.size() != 5) {
    return InvalidArgumentError(
        "invalid cron " + Quote(expression) + ": expected 5 fields (minute hour day-of-month " +
        "month day-of-week) or a macro like @daily, got " + std::to_string(fields.size()));
  }
  CronSchedule s;
  s.expression_ = std::string(expression);
  std::vector<bool> bits;
  for (size_t f = 0; f < 5; ++f) {
    RETURN_IF_ERROR(FieldParser(expression, kFields[f]).Parse(fields[f], &bits));
    for (size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) {
        continue;
      }
      switch (f) {
        case 0:
          s.minutes_.set(v);
          break;
        case 1:
          s.hours_.set(v);
          break;
        case 2:
          s.days_of_month_.set(v);
          break;
        case 3:
          s.months_.set(v);
          break;
        default:
          s.days_of_week_.set(v % 7);
          break;
      }
    }
  }
  s.dom_restricted_ = fields[2][0] != '*';
  s.dow_restricted_ = fields[4][0] != '*';

  // A day-of-month-only schedule must name a day that exists in one of its months.
  if (s.dom_restricted_ && !s.dow_restricted_) {
    int first_day = 0;
    for (int d = 1; d <= 31; ++d) {
      if (s.days_of_month_.test(static_cast<size_t>(d))) {
        first_day = d;
        break;
      }
    }
    bool fires = false;
    std::string months;
    int month_count = 0;
    for (int m = 1; m <= 12; ++m) {
      if (!s.months_.test(static_cast<size_t>(m))) {
        continue;
      }
      ++month_count;
      months = kMonthLongNames[static_cast<size_t>(m - 1)];
      if (first_day <= kMaxDaysInMonth[m]) {
        fires = true;
      }
    }
    if (!fires) {
      return InvalidArgumentError("cron " + Quote(expression) + " never fires: day-of-month " +
                                  std::to_string(first_day) + " does not occur in " +
                                  (month_count == 1 ? months : "any of its months"));
    }
  }
  return s;
}

bool CronSchedule::DayMatches(int64_t days) const {
  int64_t year;
  unsigned month, day;
  CivilFromDays(days, &year, &month, &day);
  if (!months_.test(month)) {
    return false;
  }
  size_t weekday = static_cast<size_t>(((days % 7) + 11) % 7);
  bool dom = days_of_month_.test(day);
  bool dow = days_of_week_.test(weekday);
  if (dom_restricted_ && dow_restricted_) {
    return dom || dow;
  }
  if (dom_restricted_) {
    return dom;
  }
  if (dow_restricted_) {
    return dow;
  }
  return true;
}

StatusOr<Clock::TimePoint> CronSchedule::Next(Clock::TimePoint after, const TimeZone& zone) const {
  using std::chrono::seconds;
  int64_t after_s =
      std::chrono::floor<seconds>(after.time_since_epoch()).count();
  int64_t local = zone.ToLocal(after_s);
  int64_t first_day = local >= 0 ? local / kSecondsPerDay : (local - kSecondsPerDay + 1) / kSecondsPerDay;
  for (int64_t day = first_day; day < first_day + kSearchDays; ++day) {
    if (!DayMatches(day)) {
      continue;
    }
    for (size_t h = 0; h < 24; ++h) {
      if (!hours_.test(h)) {
        continue;
      }
      for (size_t m = 0; m < 60; ++m) {
        if (!minutes_.test(m)) {
          continue;
        }
        int64_t wall = day * kSecondsPerDay + static_cast<int64_t>(h) * 3600 +
                       static_cast<int64_t>(m) * 60;
        int64_t instant = zone.FromLocal(wall);
        Clock::TimePoint t{seconds(instant)};
        if (t > after) {
          return t;
        }
      }
    }
  }
  return FailedPreconditionError("cron " + Quote(expression_) + " does not fire within " +
                                 std::to_string(kSearchDays / 366) + " years of " +
                                 FormatRfc3339(after));
}

StatusOr<Clock::TimePoint> CronSchedule::Next(Clock::TimePoint after,
                                              const std::string& time_zone) const {
  ASSIGN_OR_RETURN(TimeZone zone, TimeZone::Load(time_zone));
  return Next(after, zone);
}

}  // namespace lifeboat::api
