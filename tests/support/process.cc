#include "tests/support/process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"

namespace lifeboat::testing {

StatusOr<HttpResponse> HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return UnavailableError("socket failed");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return UnavailableError("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return UnavailableError("send failed");
  }
  std::string raw;
  char buf[8192];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  HttpResponse response;
  if (std::sscanf(raw.c_str(), "HTTP/%*s %d", &response.status) != 1) {
    return InternalError("malformed HTTP response: " + raw.substr(0, 80));
  }
  auto body = raw.find("\r\n\r\n");
  response.body = body == std::string::npos ? "" : raw.substr(body + 4);
  return response;
}

CommandResult RunCommand(const std::string& command, const std::string& input) {
  TempDir dir;
  std::filesystem::path in = dir.WriteFile("stdin", input);
  std::filesystem::path out = dir / "output";
  std::string full = "(" + command + ") <" + in.string() + " >" + out.string() + " 2>&1";
  int rc = std::system(full.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  result.output = ss.str();
  return result;
}

}  // namespace lifeboat::testing
