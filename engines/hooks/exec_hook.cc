#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "engines/hooks/hooks_internal.h"

extern char** environ;

namespace lifeboat::hooks {
namespace {

using Clock = std::chrono::steady_clock;

// How long a timed-out hook gets between SIGTERM and SIGKILL.
constexpr std::chrono::milliseconds kTerminateGrace{2000};

std::string LastLine(const std::string& output) {
  size_t end = output.find_last_not_of("\n\r ");
  if (end == std::string::npos) {
    return "";
  }
  size_t start = output.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return output.substr(start, end - start + 1);
}

// Keeps the last kMaxHookOutput bytes: the end of the output explains failures.
void Append(HookResult& result, const char* data, size_t n) {
  result.output.append(data, n);
  if (result.output.size() > kMaxHookOutput) {
    result.output.erase(0, result.output.size() - kMaxHookOutput);
    result.output_truncated = true;
  }
}

// Waits for `pid` until `deadline` (or `cancel`); true when it exited (status stored).
bool WaitFor(pid_t pid, Clock::time_point deadline, int* status,
             const std::atomic<bool>* cancel = nullptr) {
  while (true) {
    pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid) {
      return true;
    }
    if (r < 0 && errno != EINTR) {
      return true;
    }
    if (Clock::now() >= deadline || (cancel != nullptr && cancel->load())) {
      return false;
    }
    ::usleep(10'000);
  }
}

}  // namespace

StatusOr<HookResult> RunExec(const HookSpec& spec, const ExecAction& exec,
                             const std::map<std::string, std::string>& extra_env) {
  if (exec.command.empty() || exec.command[0].empty()) {
    return InvalidArgumentError(spec.name + ": exec.command is empty");
  }
  std::vector<std::string> env_storage;
  std::map<std::string, std::string> overrides = exec.env;
  for (const auto& [k, v] : extra_env) {
    overrides[k] = v;
  }
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string key = entry.substr(0, entry.find('='));
    if (overrides.count(key) == 0) {
      env_storage.push_back(std::move(entry));
    }
  }
  for (const auto& [k, v] : overrides) {
    env_storage.push_back(k + "=" + v);
  }
  std::vector<char*> envp;
  for (std::string& e : env_storage) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  std::vector<std::string> argv_storage = exec.command;
  std::vector<char*> argv;
  for (std::string& a : argv_storage) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return ResourceExhaustedError(spec.name + ": cannot create a pipe: " + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  if (!exec.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, exec.working_dir.c_str());
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);

  HookResult result;
  const auto start = Clock::now();
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    result.message = spec.name + ": cannot run \"" + exec.command[0] + "\"" +
                     (exec.working_dir.empty() ? "" : " in " + exec.working_dir) + ": " +
                     std::strerror(rc);
    return result;
  }

  const auto deadline = start + spec.timeout;
  char buf[16 * 1024];
  bool open = true;
  while (open) {
    auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (remaining <= 0) {
      result.timed_out = true;
      break;
    }
    if (spec.cancel != nullptr && spec.cancel->load()) {
      result.cancelled = true;
      break;
    }
    pollfd pfd{pipe_fds[0], POLLIN, 0};
    // With a cancel flag, look at it at least every 100 ms.
    int wait_ms = spec.cancel != nullptr ? static_cast<int>(std::min<long long>(remaining, 100))
                                         : static_cast<int>(remaining);
    int n = ::poll(&pfd, 1, wait_ms);
    if (n < 0 && errno != EINTR) {
      break;
    }
    if (n <= 0) {
      continue;
    }
    ssize_t got = ::read(pipe_fds[0], buf, sizeof(buf));
    if (got > 0) {
      Append(result, buf, static_cast<size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      open = false;
    }
  }
  ::close(pipe_fds[0]);

  int status = 0;
  if (result.timed_out || result.cancelled) {
    ::kill(-pid, SIGTERM);
    if (!WaitFor(pid, Clock::now() + kTerminateGrace, &status)) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  } else if (!WaitFor(pid, deadline, &status, spec.cancel)) {
    // The output closed but the process lives on (it closed its stdout): enforce the timeout.
    result.cancelled = spec.cancel != nullptr && spec.cancel->load();
    result.timed_out = !result.cancelled;
    ::kill(-pid, SIGTERM);
    if (!WaitFor(pid, Clock::now() + kTerminateGrace, &status)) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  std::string tail = LastLine(result.output);
  if (result.cancelled) {
    result.message = spec.name + ": cancelled and killed" + (tail.empty() ? "" : ": " + tail);
  } else if (result.timed_out) {
    result.message = spec.name + ": timed out after " + std::to_string(spec.timeout.count()) +
                     "ms and was killed" + (tail.empty() ? "" : ": " + tail);
  } else if (result.exit_code != 0) {
    result.message = spec.name + ": exited with code " + std::to_string(result.exit_code) +
                     (tail.empty() ? "" : ": " + tail);
  } else {
    result.succeeded = true;
    result.message = spec.name + ": succeeded in " + std::to_string(result.duration.count()) + "ms";
  }
  return result;
}

}  // namespace lifeboat::hooks
