#pragma once

// IANA time zones read from the system tzdata (TZif files under $TZDIR or /usr/share/zoneinfo),
// including the POSIX TZ rule at the end of version 2+ files for times past the last listed
// transition. Immutable after Load, so one TimeZone may be shared by threads.
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace lifeboat::api {

class TimeZone {
 public:
  // "UTC" (and "Etc/UTC") work without tzdata. Unknown names → kInvalidArgument
  // `unknown time zone "Mars/Base"`.
  static StatusOr<TimeZone> Load(const std::string& name);
  static TimeZone Utc();

  const std::string& name() const { return name_; }

  // Offset from UTC (seconds east) in effect at `utc_seconds` (Unix time).
  int32_t OffsetAt(int64_t utc_seconds) const;
  // Wall-clock seconds (civil time counted as if it were UTC) of an instant.
  int64_t ToLocal(int64_t utc_seconds) const { return utc_seconds + OffsetAt(utc_seconds); }

  // The instant a wall-clock time denotes. A time that occurs twice (clocks set back) gives
  // its first occurrence; a time skipped by a forward jump gives the instant of the jump.
  int64_t FromLocal(int64_t local_seconds) const;

 private:
  TimeZone() = default;

  std::string name_;
  int32_t initial_offset_ = 0;
  std::vector<int64_t> transitions_;   // ascending UTC instants
  std::vector<int32_t> offsets_;       // offset in effect from transitions_[i]
};

// Proleptic Gregorian calendar helpers (days since 1970-01-01).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
void CivilFromDays(int64_t days, int64_t* year, unsigned* month, unsigned* day);

}  // namespace lifeboat::api
