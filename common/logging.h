#pragma once

// Logging set-up on spdlog. Logs are structured and quiet by default (level "info", text).
// Messages follow STYLE.md §3.12: capitalised, past tense, kind named, key=value pairs:
//   LOG_INFO("Reconciled BackupPolicy ns={} name={}", ns, name);
#include <string>

#include "common/status.h"

namespace lifeboat {

enum class LogFormat { kText, kJson };

struct LogOptions {
  std::string level = "info";  // trace|debug|info|warn|error|off
  LogFormat format = LogFormat::kText;
  bool to_stderr = true;
};

// Parses "--log-level" / "--log-format" values; errors name the flag and the accepted values.
Status ParseLogLevel(const std::string& text);
StatusOr<LogFormat> ParseLogFormat(const std::string& text);

// Installs the default logger. Safe to call again (tests, subcommands).
Status SetUpLogging(const LogOptions& options);

}  // namespace lifeboat
