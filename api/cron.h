#pragma once

// Cron schedules: five fields (minute hour day-of-month month day-of-week) with lists, ranges,
// steps and names (JAN..DEC, SUN..SAT), or a macro (@hourly @daily @midnight @weekly @monthly
// @yearly @annually). Day-of-month and day-of-week combine as in Vixie cron: when both are
// restricted a day matching either fires.
#include <bitset>
#include <string>
#include <string_view>

#include "api/time_zone.h"
#include "common/clock.h"
#include "common/status.h"

namespace lifeboat::api {

class CronSchedule {
 public:
  // kInvalidArgument naming the field, e.g.
  //   invalid cron "61 * * * *": minute: 61 is out of range 0-59
  //   cron "0 0 31 2 *" never fires: day-of-month 31 does not occur in February
  static StatusOr<CronSchedule> Parse(std::string_view expression);

  // The first fire time strictly after `after`, reading the fields as wall-clock time in
  // `zone`. A wall time skipped by a DST jump fires at the jump; one repeated when clocks go
  // back fires once, at its first occurrence.
  StatusOr<Clock::TimePoint> Next(Clock::TimePoint after, const TimeZone& zone) const;
  // Same, loading `time_zone` (an IANA name) first.
  StatusOr<Clock::TimePoint> Next(Clock::TimePoint after, const std::string& time_zone) const;

  const std::string& expression() const { return expression_; }

 private:
  bool DayMatches(int64_t days) const;

  std::string expression_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // 1..31
  std::bitset<13> months_;         // 1..12
  std::bitset<7> days_of_week_;    // 0 = Sunday
  bool dom_restricted_ = false;
  bool dow_restricted_ = false;
};

}  // namespace lifeboat::api
