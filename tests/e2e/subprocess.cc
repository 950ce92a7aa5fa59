#include "tests/e2e/subprocess.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

namespace lifeboat::testing {

Subprocess::Subprocess(std::vector<std::string> argv) {
  int fds[2];
  if (::pipe(fds) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::vector<char*> args;
  for (std::string& a : argv) {
    args.push_back(a.data());
  }
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  fd_ = fds[0];
  reader_ = std::thread([this] {
    char buf[4096];
    while (true) {
      ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) {
        break;
      }
      std::lock_guard<std::mutex> lock(mu_);
      output_.append(buf, static_cast<size_t>(n));
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    eof_ = true;
    cv_.notify_all();
  });
}

Subprocess::~Subprocess() {
  if (exit_code_ < 0 && pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (reader_.joinable()) {
    reader_.join();
  }
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool Subprocess::WaitForOutput(const std::function<bool(const std::string&)>& done,
                               std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return done(output_) || eof_; }) && done(output_);
}

bool Subprocess::WaitForText(const std::string& text, std::chrono::milliseconds timeout) {
  return WaitForOutput(
      [&](const std::string& out) { return out.find(text) != std::string::npos; }, timeout);
}

std::string Subprocess::output() const {
  std::lock_guard<std::mutex> lock(mu_);
  return output_;
}

int Subprocess::Stop(int signal, std::chrono::milliseconds timeout) {
  if (exit_code_ >= 0) {
    return exit_code_;
  }
  ::kill(pid_, signal);
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return eof_; })) {
      ::kill(-pid_, SIGKILL);
    }
  }
  int status = 0;
  ::waitpid(pid_, &status, 0);
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

}  // namespace lifeboat::testing
