#pragma once

// Small real-I/O helpers for tests: plain HTTP GET on loopback and running commands.
#include <string>

#include "common/status.h"

namespace lifeboat::testing {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET http://127.0.0.1:<port><path> with a plain socket (HTTP/1.0, Connection: close).
StatusOr<HttpResponse> HttpGet(int port, const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr interleaved
};

// Runs `command` through /bin/sh with `input` on stdin; captures output.
CommandResult RunCommand(const std::string& command, const std::string& input = "");

}  // namespace lifeboat::testing
