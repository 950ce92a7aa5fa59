#pragma once

// A child process whose combined stdout/stderr is collected while it runs, for tests that
// drive long-running commands (`lifeboat up`, `kubectl get --watch`).
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lifeboat::testing {

class Subprocess {
 public:
  // Starts argv[0] (looked up on PATH) with argv; throws std::runtime_error if it cannot.
  explicit Subprocess(std::vector<std::string> argv);
  ~Subprocess();  // SIGKILLs a child still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Waits until `done(output)` holds or the deadline passes; returns whether it held.
  bool WaitForOutput(const std::function<bool(const std::string&)>& done,
                     std::chrono::milliseconds timeout);
  bool WaitForText(const std::string& text, std::chrono::milliseconds timeout);
  std::string output() const;
  // Sends `signal` and waits for the exit (SIGKILL after `timeout`); returns the exit code, or
  // 128 + signal when killed by a signal.
  int Stop(int signal, std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string output_;
  bool eof_ = false;
  int exit_code_ = -1;
};

}  // namespace lifeboat::testing
