#pragma once

// Hooks: exec a command or call a URL, with a timeout, captured output and the exit code.
// Used for application consistency (a policy's pre/post hooks) and as runbook actions in
// recovery plans.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace lifeboat::hooks {

struct ExecAction {
  std::vector<std::string> command;  // argv; command[0] is looked up in PATH
  std::string working_dir;           // empty = inherit
  std::map<std::string, std::string> env;  // added to the inherited environment
};

struct HttpAction {
  std::string url;  // http:// or https://
  std::string method = "GET";
  std::map<std::string, std::string> headers;
  std::string body;
  int expected_status = 200;
};

struct HookSpec {
  std::string name;  // for messages: "preHook", "quiesce-db"
  std::optional<ExecAction> exec;
  std::optional<HttpAction> http;
  std::chrono::milliseconds timeout{30'000};
  // Exec hooks: once set, the command's process group is stopped as on a timeout (the result
  // says "cancelled"). The flag must outlive Run().
  const std::atomic<bool>* cancel = nullptr;
};

struct HookResult {
  bool succeeded = false;
  int exit_code = -1;       // exec: the exit code (128+N when killed by signal N); http: status
  bool timed_out = false;
  bool cancelled = false;   // stopped through HookSpec::cancel
  std::string output;       // stdout+stderr (exec) or response body (http), at most kMaxOutput
  bool output_truncated = false;
  std::chrono::milliseconds duration{0};
  // One line a person can act on: "preHook: exited with code 3: <last output line>".
  std::string message;
};

// Output kept per hook run (the end of the output is what explains a failure).
inline constexpr size_t kMaxHookOutput = 64 * 1024;

class HookRunner {
 public:
  virtual ~HookRunner() = default;
  // Runs the hook with `extra_env` added (e.g. LIFEBOAT_FAILOVER_TYPE=Test). A hook that
  // fails or times out is a HookResult with succeeded=false, not an error Status; a Status
  // error means the spec itself is unusable (neither exec nor http, empty command).
  virtual StatusOr<HookResult> Run(const HookSpec& spec,
                                   const std::map<std::string, std::string>& extra_env) = 0;
};

// Runs exec hooks as child processes (own process group; SIGTERM then SIGKILL on timeout)
// and HTTP hooks with an HTTP client.
std::unique_ptr<HookRunner> NewHookRunner();

}  // namespace lifeboat::hooks
