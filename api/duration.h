#pragma once

// Durations as written in manifests: a sequence of <number><unit> with units ms, s, m, h, d
// ("90s", "15m", "24h", "7d", "1h30m", "500ms"), the pattern ^([0-9]+(ms|s|m|h|d))+$.
#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace lifeboat::api {

// kInvalidArgument with a message naming the problem, e.g.
//   invalid duration "5x": unknown unit "x" (use ms, s, m, h or d)
StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The shortest canonical text of a duration ("1h30m", "500ms", "0s").
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace lifeboat::api
