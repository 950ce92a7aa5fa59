#pragma once

// A real Prometheus server (Debian's `prometheus`) on loopback for end-to-end tests: scrapes the
// given targets every second, evaluates the given rule files every second, and answers PromQL
// through its HTTP API.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/json.h"
#include "tests/e2e/subprocess.h"

namespace lifeboat::testing {

// A loopback port that was free a moment ago (Prometheus does not report a port 0 choice).
int FreeLoopbackPort();
std::string UrlEncode(const std::string& text);
// Polls `done` every 100 ms until it holds or `timeout` passes: Prometheus' state (targets
// scraped, rules evaluated, alerts firing) offers nothing to block on.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout);

class PrometheusServer {
 public:
  // Whether `prometheus` is on PATH (tests skip with a clear message otherwise).
  static bool Installed();

  // Starts Prometheus with its data in `dir`; fails the test (ADD_FAILURE) if it never becomes
  // ready. `targets` are "127.0.0.1:PORT" of /metrics endpoints (job "lifeboat").
  PrometheusServer(const std::filesystem::path& dir, const std::vector<std::string>& targets,
                   const std::vector<std::filesystem::path>& rule_files);
  bool ready() const { return ready_; }
  std::string output() const { return process_ ? process_->output() : ""; }

  // GET /api/v1/<path>; the parsed body (null when unreachable).
  Json Api(const std::string& path) const;
  // An instant query, at `time` (unix seconds) when given.
  Json Query(const std::string& expr, std::optional<double> time = std::nullopt) const;
  // The single value of an instant query's first sample, if any.
  std::optional<double> Value(const std::string& expr,
                              std::optional<double> time = std::nullopt) const;
  static bool HasData(const Json& answer);
  // Whether alert `name` is firing (ALERTS{alertstate="firing"}).
  bool Firing(const std::string& name) const;

 private:
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
  bool ready_ = false;
};

}  // namespace lifeboat::testing
