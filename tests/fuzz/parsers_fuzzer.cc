// Fuzzes the duration, quantity and cron parsers and cron's Next in a DST zone.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/cron.h"
#include "api/duration.h"
#include "api/quantity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)lifeboat::api::ParseDuration(text);
  (void)lifeboat::api::ParseQuantity(text);
  static const lifeboat::api::TimeZone kParis = [] {
    auto zone = lifeboat::api::TimeZone::Load("Europe/Paris");
    return zone.ok() ? *zone : lifeboat::api::TimeZone::Utc();
  }();
  auto schedule = lifeboat::api::CronSchedule::Parse(text);
  if (schedule.ok()) {
    // 2026-03-29T00:30:00Z, half an hour before Paris springs forward.
    lifeboat::Clock::TimePoint start{std::chrono::seconds(1774744200)};
    auto next = schedule->Next(start, kParis);
    if (next.ok() && !(*next > start)) {
      __builtin_trap();  // Next must be strictly after its start
    }
  }
  return 0;
}
